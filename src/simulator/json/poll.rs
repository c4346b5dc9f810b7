//! The poll queue on the JSON API (`/v1/poll`): PollInfo, PollConfirm, and a poll message
//! rendered for a certificate job or an unrelated domain message.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::certificates::certificate;
use super::jobs::job;
use super::{handle, msg, owner, put_opt, Sh};
use crate::simulator::engine::{CertView, JobView};
use crate::simulator::model::{json_date, Message, MessageBody};

pub(super) async fn poll_info(State(sh): Sh, h: HeaderMap) -> Response {
    handle(&sh, &h, "0905", |ctx| Ok(sh.engine.poll_info(ctx))).await
}

pub(super) async fn poll_confirm(State(sh): Sh, h: HeaderMap, Path(id): Path<String>) -> Response {
    handle(&sh, &h, "0906", |ctx| sh.engine.poll_confirm(ctx, &id)).await
}

pub(super) fn poll_message(msg_: &Message, cert: Option<&CertView>) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(msg_.id));
    m.insert("owner".into(), owner(&msg_.owner));
    m.insert("created".into(), json!(json_date(msg_.created)));
    match &msg_.body {
        MessageBody::CertificateJob {
            job: j,
            certificate: snap,
        } => {
            let view = JobView {
                job: (**j).clone(),
                status: j.status(msg_.created),
                updated: j.updated(msg_.created),
            };
            m.insert("job".into(), job(&view));
            m.insert("stid".into(), json!(j.stid));
            put_opt(&mut m, "ctid", &j.ctid);
            let data = match cert {
                Some(c) => certificate(c),
                None => {
                    let mut d = json!({"id": snap.id, "name": snap.name, "product": snap.product,
                        "serialNumber": snap.serial_number.as_deref().unwrap_or("NOT_SET")});
                    if let (Some(e), Some(o)) = (snap.expire, d.as_object_mut()) {
                        o.insert("expire".into(), json!(json_date(e)));
                    }
                    d
                }
            };
            m.insert(
                "object".into(),
                json!({"type": "Certificate", "value": snap.name, "data": data}),
            );
            if let Some(o) = &j.outcome {
                if !o.messages.is_empty() {
                    m.insert(
                        "messages".into(),
                        Value::Array(o.messages.iter().map(msg).collect()),
                    );
                }
            }
        }
        MessageBody::ForeignDomainJob { job_id, domain } => {
            let t = json_date(msg_.created);
            m.insert(
                "job".into(),
                json!({"created": t, "updated": t, "status": "SUCCESS", "execution": t,
                       "subType": "VGRS-TEST_com", "action": "update", "id": job_id}),
            );
            m.insert(
                "object".into(),
                json!({"type": "Domain", "value": domain, "data": {"name": domain}}),
            );
        }
        MessageBody::ForeignNotify {
            notify_type,
            domain,
        } => {
            m.insert(
                "notify".into(),
                json!({"type": notify_type, "object": {"type": "Domain", "value": domain}}),
            );
        }
    }
    Value::Object(m)
}
