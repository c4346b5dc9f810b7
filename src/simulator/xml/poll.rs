//! Poll messages on the XML gateway: a `<message>` for a certificate job and for the unrelated
//! domain messages the fault settings add.

use time::OffsetDateTime;

use super::certificates::certificate;
use super::{msg, Out};
use crate::simulator::engine::CertView;
use crate::simulator::model::{xml_date, CertSnapshot, Job, Message, MessageBody};

pub(super) fn poll_message(o: &mut Out, m: &Message, cert: Option<&CertView>) {
    o.open("message");
    o.leaf("id", &m.id.to_string());
    o.owner("owner", &m.owner);
    o.leaf("created", &xml_date(m.created));
    match &m.body {
        MessageBody::CertificateJob {
            job: j,
            certificate: snap,
        } => {
            job_message(o, j, snap, cert, m.created);
        }
        MessageBody::ForeignDomainJob { job_id, domain } => {
            o.open("job");
            o.leaf("id", &job_id.to_string());
            o.open("status");
            o.leaf("code", "S0102");
            o.leaf("text", "The domain was updated successfully.");
            o.leaf("type", "success");
            o.close("status");
            o.leaf("sub_type", "VGRS-TEST_com");
            o.leaf("action", "update");
            o.close("job");
            o.open("object");
            o.leaf("type", "domain");
            o.leaf("value", domain);
            o.close("object");
        }
        MessageBody::ForeignNotify {
            notify_type,
            domain,
        } => {
            o.open("notify");
            o.leaf("type", notify_type);
            o.open("object");
            o.leaf("type", "domain");
            o.leaf("value", domain);
            o.close("object");
            o.close("notify");
        }
    }
    o.close("message");
}

/// The body of a certificate job's message: the job with its status, the certificate (as it
/// is now, or as the job left it if it is gone) and the job's error messages.
fn job_message(
    o: &mut Out,
    j: &Job,
    snap: &CertSnapshot,
    cert: Option<&CertView>,
    created: OffsetDateTime,
) {
    o.leaf("stid", &j.stid);
    o.opt("ctid", &j.ctid);
    let ok = j.outcome.as_ref().is_some_and(|x| x.success);
    o.open("job");
    o.leaf("id", &j.id.to_string());
    o.opt("ctid", &j.ctid);
    o.open("status");
    o.leaf(
        "code",
        &format!("{}{}", if ok { 'S' } else { 'E' }, j.action.task_code()),
    );
    o.leaf(
        "text",
        if ok {
            "The certificate job was completed successfully."
        } else {
            "The certificate job failed."
        },
    );
    o.leaf("type", if ok { "success" } else { "error" });
    o.close("status");
    o.leaf("sub_type", &j.product);
    o.leaf("action", j.action.as_str());
    o.leaf("created", &xml_date(j.created));
    o.leaf("updated", &xml_date(j.updated(created)));
    o.leaf("execution", &xml_date(j.updated(created)));
    o.close("job");
    o.open("object");
    o.leaf("type", "certificate");
    o.leaf("value", &snap.name);
    o.open("data");
    match cert {
        Some(c) => certificate(o, c),
        None => {
            o.open("certificate");
            o.leaf("id", &snap.id.to_string());
            o.leaf("name", &snap.name);
            o.leaf("product", &snap.product);
            o.leaf(
                "serial_number",
                snap.serial_number.as_deref().unwrap_or("NOT_SET"),
            );
            o.opt("expire", &snap.expire.map(xml_date));
            o.close("certificate");
        }
    }
    o.close("data");
    o.close("object");
    if let Some(out) = &j.outcome {
        for x in &out.messages {
            msg(o, x);
        }
    }
}
