//! Jobs on the JSON API (`/v1/job`): job info, job history, the two job lists, the approver mail
//! resend, and a job rendered with its workflow event.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::queries::query;
use super::{body_json, handle, owner, parse_id, Sh};
use crate::simulator::engine::JobView;
use crate::simulator::model::json_date;

pub(super) async fn job_list(
    State(sh): Sh,
    h: HeaderMap,
    RawQuery(rq): RawQuery,
    body: Bytes,
) -> Response {
    handle(&sh, &h, "300115", |ctx| {
        let v = body_json("300115", &body, true)?;
        sh.engine
            .job_list(ctx, query("300115", &v, rq.as_deref())?, false)
    })
    .await
}

pub(super) async fn job_history_list(
    State(sh): Sh,
    h: HeaderMap,
    RawQuery(rq): RawQuery,
    body: Bytes,
) -> Response {
    handle(&sh, &h, "300135", |ctx| {
        let v = body_json("300135", &body, true)?;
        sh.engine
            .job_list(ctx, query("300135", &v, rq.as_deref())?, true)
    })
    .await
}

pub(super) async fn job_info(State(sh): Sh, h: HeaderMap, Path(id): Path<String>) -> Response {
    handle(&sh, &h, "300114", |ctx| {
        sh.engine
            .job_info(ctx, parse_id("300114", &id)?, "300114", "S300114")
    })
    .await
}

pub(super) async fn job_resend_approver_email(
    State(sh): Sh,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    handle(&sh, &h, "400118", |ctx| {
        sh.engine
            .resend_approver_email(ctx, parse_id("400118", &id)?)
    })
    .await
}

pub(super) async fn job_history(State(sh): Sh, h: HeaderMap, Path(id): Path<String>) -> Response {
    handle(&sh, &h, "300114", |ctx| {
        sh.engine.job_history(ctx, parse_id("300114", &id)?)
    })
    .await
}

pub(super) fn job(j: &JobView) -> Value {
    job_columns(j, None)
}

/// True when the `keys[]` name `asked` is the column `column` (the API spells them in camelCase,
/// snake_case or lower case alike).
fn same_key(asked: &str, column: &str) -> bool {
    let canon = |k: &str| -> String {
        k.chars()
            .filter(|c| *c != '_')
            .flat_map(char::to_lowercase)
            .collect()
    };
    canon(asked) == canon(column)
}

/// A job; `keys` is `Some` for a row of a job list, which carries the id, the owner and the
/// workflow events, and any other column only when `keys[]` asks for it (`autodns-api.md` §1.12,
/// §2.12: `created`, `updated`, `status`, `subStatus`, `execution`, `action`, ...). Job info
/// (`None`) carries everything.
pub(super) fn job_columns(j: &JobView, keys: Option<&[String]>) -> Value {
    let want = |k: &str| keys.is_none_or(|ks| ks.iter().any(|x| same_key(x, k)));
    let mut m = Map::new();
    if want("created") {
        m.insert("created".into(), json!(json_date(j.job.created)));
    }
    if want("updated") {
        m.insert("updated".into(), json!(json_date(j.updated)));
    }
    m.insert("owner".into(), owner(&j.job.owner));
    if want("status") {
        m.insert("status".into(), json!(j.status));
    }
    if j.status == "DEFERRED" && want("subStatus") {
        m.insert("subStatus".into(), json!("WF_EMAIL_AUTH"));
    }
    if want("execution") {
        m.insert("execution".into(), json!(json_date(j.updated)));
    }
    if want("type") {
        m.insert("subType".into(), json!(j.job.product));
    }
    if want("action") {
        m.insert("action".into(), json!(j.job.action.as_str()));
    }
    m.insert("id".into(), json!(j.job.id));
    // The spec's `Job` names the ctid of the request behind it only in its `WorkflowEvent`s
    // (`autodns-api.md` §2.14); the simulator records one event per job, the order itself.
    // `vertex` is an int32 in the OpenAPI file (`WorkflowEvent.vertex`): the first step, 1.
    // Inferred: list rows carry them too (no key names them, and a lost order is recognised by
    // its ctid).
    if let Some(c) = &j.job.ctid {
        m.insert(
            "events".into(),
            json!([{"jobId": j.job.id, "vertex": 1, "ctid": c, "object": j.job.name,
                    "type": j.job.action.as_str()}]),
        );
    }
    Value::Object(m)
}

/// `CertAuthenticationStatus` for a job: waiting for the mailbox owner, then done.
pub(crate) fn auth_status(status: &str) -> (&'static str, &'static str) {
    match status {
        "DEFERRED" => ("PENDING_CUSTOMER_APPROVAL", "VERIFICATION"),
        "RUNNING" => ("IN_PROGRESS", "CERTIFICATE"),
        "SUCCESS" => ("COMPLETED", "CERTIFICATE"),
        _ => ("COMPLETED_FAILED", "CERTIFICATE"),
    }
}
