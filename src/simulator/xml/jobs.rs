//! Jobs on the XML gateway: a `<job>` written with its status block.

use super::Out;
use crate::simulator::engine::JobView;
use crate::simulator::model::xml_date;

pub(super) fn job(o: &mut Out, j: &JobView) {
    o.open("job");
    o.leaf("id", &j.job.id.to_string());
    o.owner("owner", &j.job.owner);
    o.leaf("object", &j.job.name);
    o.leaf("status", j.status);
    if j.status == "DEFERRED" {
        o.leaf("sub_status", "WF_EMAIL_AUTH");
    }
    o.leaf("created", &xml_date(j.job.created));
    o.leaf("updated", &xml_date(j.updated));
    o.leaf("type", "ssl");
    o.leaf("sub_type", &j.job.product);
    o.leaf("action", j.job.action.as_str());
    o.leaf("execution", &xml_date(j.updated));
    // The job of a poll message carries the ctid of the task that started it (`autodns-api.md`
    // §3.3); job info and the job list are taken to do the same (inferred).
    o.opt("ctid", &j.job.ctid);
    o.close("job");
}
