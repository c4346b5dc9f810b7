//! Jobs: starting one for an order, finishing it when it is due (the outcome is decided by a
//! pure function, then applied), job info, job history and the job lists with their search
//! columns.

use std::time::Duration;

use rand::{Rng, RngCore};
use time::OffsetDateTime;

use super::queries::{check_keys, run_query};
use super::{
    ef, lock, mine, norm_addr, ApiError, Ctx, Engine, Item, JobView, ObjKind, ObjRef, Query, Reply,
    Transport,
};
use crate::simulator::ca::{add_months, MAX_VALIDITY_DAYS};
use crate::simulator::model::{
    xml_date, ApiMsg, ApprovalResend, CertSnapshot, Certificate, History, Job, JobAction,
    JobOutcome, Message, State,
};
use crate::simulator::Faults;

impl Engine {
    /// Finishes every job that is due at the clock's `now`, queues its poll messages and returns
    /// the queued job messages (for push). Called by the driver task and before every request,
    /// so a test with a manual clock sees the effect of moving the clock on its next request.
    pub fn advance(&self) -> Vec<Message> {
        let now = self.now();
        let mut st = lock(&self.state);
        // Copies: finishing a job writes the state the jobs are read from.
        let due: Vec<Job> = st
            .jobs
            .values()
            .filter(|j| j.outcome.is_none() && j.due_at <= now)
            .cloned()
            .collect();
        if due.is_empty() {
            return Vec::new();
        }
        let mut pushed = Vec::new();
        for job in due {
            pushed.extend(self.finish_job(&mut st, job, now));
        }
        self.save(&st);
        pushed
    }

    /// Finishes `job`: decides its outcome ([`decide`]), applies it to the certificate, records
    /// it on the job and the order log, and queues the job's poll messages.
    fn finish_job(&self, st: &mut State, job: Job, now: OffsetDateTime) -> Vec<Message> {
        let id = job.id;
        let verdict = decide(&job, &self.cfg.faults, || self.draw());
        let mut failure = (verdict == Verdict::Refuse).then(|| refusal(&job.name));
        let mut snapshot = CertSnapshot {
            id: job.cert_id,
            name: job.name.clone(),
            product: job.product.clone(),
            serial_number: None,
            expire: None,
        };
        if let Some(mut cert) = st.certificates.get(&job.cert_id).cloned() {
            cert.pending_job = None;
            cert.updated = now;
            if verdict == Verdict::Issue {
                failure = self.issue(&mut cert, &job, now).err();
                snapshot.serial_number = cert.serial_number.clone();
                snapshot.expire = cert.expire;
            }
            if certificate_stays(verdict, job.action, failure.is_none()) {
                st.certificates.insert(cert.id, cert);
            } else {
                st.certificates.remove(&job.cert_id);
            }
        }
        let job = finished(job, failure, now);
        let status = job.status(now).to_string();
        for o in st.orders.iter_mut().filter(|o| o.job_id == Some(id)) {
            o.status = status.clone();
        }
        st.jobs.insert(id, job.clone());
        self.queue_job_messages(st, &job, snapshot, now)
    }

    /// The CA's part of a successful job: a new order id, the old serial into the history (renew
    /// and reissue), and either a certificate signed from the CSR or, without our own CSR, only
    /// the new expiry. `Err` carries the message of a failed signing; the certificate keeps the
    /// changes made before it.
    fn issue(&self, cert: &mut Certificate, job: &Job, now: OffsetDateTime) -> Result<(), ApiMsg> {
        let order_id = self.order_id(now);
        if job.action != JobAction::Create {
            if let Some(serial) = cert.serial_number.take() {
                cert.histories.push(History {
                    serial_number: serial,
                    order_id: cert.order_id.clone(),
                    revoked: None,
                });
            }
        }
        cert.order_id = Some(order_id);
        cert.lifetime_months = job.lifetime_months;
        match (&job.csr, cert.has_csr) {
            (Some(csr), true) => {
                let mut serial = [0u8; 16];
                lock(&self.rng).fill_bytes(&mut serial);
                let issued = self
                    .ca
                    .issue(csr, &cert.name, job.lifetime_months, now, serial)
                    .map_err(|e| {
                        tracing::error!(error = %e, "simulator CA could not sign");
                        sign_failure(&job.name, &e)
                    })?;
                cert.csr = Some(csr.clone());
                cert.server = Some(issued.pem);
                cert.serial_number = Some(issued.serial_hex);
                cert.expire = Some(issued.not_after);
            }
            _ => {
                // has_csr false: GlobalSign generates the key and the user collects the
                // certificate there; AutoDNS has nothing to put into `server`.
                cert.server = None;
                cert.expire = Some(
                    add_months(now, job.lifetime_months)
                        .min(now + time::Duration::days(MAX_VALIDITY_DAYS)),
                );
            }
        }
        Ok(())
    }

    fn order_id(&self, now: OffsetDateTime) -> String {
        let n: u32 = lock(&self.rng).random_range(0..1_000_000);
        format!(
            "SIM{:04}{:02}{:02}{n:06}",
            now.year(),
            u8::from(now.month()),
            now.day()
        )
    }

    fn job_view(job: &Job, now: OffsetDateTime) -> JobView {
        JobView {
            job: job.clone(),
            status: job.status(now),
            updated: job.updated(now),
        }
    }
    pub(super) fn new_job(
        &self,
        st: &mut State,
        ctx: &Ctx,
        action: JobAction,
        cert: &Certificate,
        csr: Option<String>,
        months: i64,
    ) -> Job {
        let now = self.now();
        let (deferred_until, due_at) =
            schedule(now, self.cfg.faults.deferred_for, self.cfg.issuance_delay);
        let job = Job {
            id: st.take_job_id(),
            action,
            cert_id: cert.id,
            name: cert.name.clone(),
            product: cert.product.clone(),
            owner: self.owner(ctx),
            ctid: ctx.ctid.clone(),
            stid: ctx.stid.clone(),
            created: now,
            deferred_until,
            due_at,
            csr,
            lifetime_months: months,
            outcome: None,
        };
        st.jobs.insert(job.id, job.clone());
        job
    }

    pub(super) fn job_reply(
        code: &str,
        text: &str,
        name: &str,
        job: &Job,
        now: OffsetDateTime,
    ) -> Reply {
        let mut r = Reply::ok(code, text).object(ObjRef::new(ObjKind::Certificate, name));
        r.notify = true;
        // The create reply reports the job as RUNNING, as every sample does; a DEFERRED phase
        // shows in job info (`autodns-api.md` §2.4, §2.12).
        let mut view = Self::job_view(job, now);
        view.status = "RUNNING";
        r.item(Item::Job(view))
    }

    /// Job info (JSON `GET /job/{id}`, XML 400114). Only unfinished jobs are in the active queue;
    /// a finished one answers `EF300101` and is found with [`Engine::job_history`].
    pub fn job_info(
        &self,
        ctx: &Ctx,
        id: i64,
        task: &str,
        ok_code: &str,
    ) -> Result<Reply, ApiError> {
        let now = self.now();
        let st = lock(&self.state);
        let job = active_job(&st, ctx, id, task)?;
        Ok(self.object_job_reply(&st, job, ok_code, now))
    }

    /// Approver Email Resend (JSON `PUT /job/{id}/_resendApproverEmail`, 400118; the XML gateway
    /// has no such task, `autodns-api.md` §4.3): records that the approval mail of a job waiting
    /// for it (`DEFERRED`) was sent again and answers with no data, as the OpenAPI file's
    /// `JsonResponseDataJsonNoData`. A job that does not wait is refused (`EF4001181`); nothing
    /// is ordered either way.
    pub fn resend_approver_email(&self, ctx: &Ctx, id: i64) -> Result<Reply, ApiError> {
        const TASK: &str = "400118";
        let now = self.now();
        let mut st = lock(&self.state);
        let job = active_job(&st, ctx, id, TASK)?;
        let status = job.status(now);
        if status != "DEFERRED" {
            return Err(ApiError::new(
                400,
                TASK,
                "The job does not wait for an approval.",
                ef::NOT_AWAITING_APPROVAL,
                format!("Job {id} is {status}; there is no approval mail to send again."),
            )
            .with_object("Job", &id.to_string()));
        }
        let name = job.name.clone();
        st.approval_resends.push(ApprovalResend {
            job_id: id,
            name,
            at: now,
        });
        self.save(&st);
        Ok(Reply::ok("S400118", "The approver email was sent again.")
            .object(ObjRef::new(ObjKind::Job, id.to_string())))
    }

    /// Every approval mail sent again.
    pub fn approval_resends(&self) -> Vec<ApprovalResend> {
        lock(&self.state).approval_resends.clone()
    }

    /// Finished (and running) jobs (JSON `GET /job/history/{id}`).
    pub fn job_history(&self, ctx: &Ctx, id: i64) -> Result<Reply, ApiError> {
        let now = self.now();
        let st = lock(&self.state);
        let job = own_job(&st, ctx, id, "300114")?;
        Ok(self.object_job_reply(&st, job, "S300114", now))
    }

    /// Certificate job list (JSON `POST /job/_search`, XML 400115) or job history list (JSON
    /// `POST /job/history/_search`, XML 400135), `autodns-api.md` §2.12: the context's jobs not
    /// finished yet, or the finished ones, filtered, sorted and paged by the `Query` (§1.12).
    /// The filter keys are the ones §2.12 lists; `object` is the certificate name. A ctid is not
    /// a documented key and is refused like any unknown key (`EF00022`).
    ///
    /// Inferred: the success code (`S300115` for JSON as the manual shows; the XML gateway
    /// answers with its task code, `S400115` / `S400135`); JSON items carry the certificate in
    /// `object.data` as job info does, XML items only the `<job>` the manual's example shows.
    pub fn job_list(&self, ctx: &Ctx, q: Query, history: bool) -> Result<Reply, ApiError> {
        const KEYS: &[&str] = &[
            "parent",
            "execution",
            "substatus",
            "type",
            "created",
            "id",
            "updated",
            "status",
            "object",
            "action",
        ];
        let (task, code) = match (history, ctx.transport) {
            (false, Transport::Json) => ("300115", "S300115"),
            (true, Transport::Json) => ("300135", "S300115"),
            (false, Transport::Xml) => ("400115", "S400115"),
            (true, Transport::Xml) => ("400135", "S400135"),
        };
        let now = self.now();
        let st = lock(&self.state);
        check_keys(task, &q, KEYS)?;
        let rows: Vec<&Job> = st
            .jobs
            .values()
            .filter(|j| mine(&j.owner, ctx) && j.outcome.is_some() == history)
            .collect();
        let (total, page) = run_query(task, &q, rows, KEYS, |j, k| job_field(j, k, now))?;
        let mut r = Reply::ok(code, "The job list was inquired successfully.");
        r.object = Some(ObjRef {
            kind: ObjKind::Job,
            value: None,
            cert_summary: None,
        });
        r.summary = Some(total);
        r.data = page
            .into_iter()
            .map(|j| Item::ObjectJob {
                job: Self::job_view(j, now),
                // A list row names its certificate sparsely (id, name), never in full: the full
                // certificate is what job info and certificate info are for.
                cert: match ctx.transport {
                    Transport::Json => st
                        .certificates
                        .get(&j.cert_id)
                        .map(|c| Box::new(self.cert_view(&st, c, Some(Vec::new())))),
                    Transport::Xml => None,
                },
                keys: Some(q.keys.clone()),
            })
            .collect();
        Ok(r)
    }

    fn object_job_reply(&self, st: &State, job: &Job, code: &str, now: OffsetDateTime) -> Reply {
        let cert = st
            .certificates
            .get(&job.cert_id)
            .map(|c| Box::new(self.cert_view(st, c, None)));
        Reply::ok(code, "The job data were inquired successfully.")
            .object(ObjRef::new(ObjKind::Job, job.id.to_string()))
            .item(Item::ObjectJob {
                job: Self::job_view(job, now),
                cert,
                keys: None,
            })
    }
}

/// Job `id` of the context, running or finished: `EF3001141` when there is no such job.
fn own_job<'a>(st: &'a State, ctx: &Ctx, id: i64, task: &str) -> Result<&'a Job, ApiError> {
    st.jobs
        .get(&id)
        .filter(|j| mine(&j.owner, ctx))
        .ok_or_else(|| {
            ApiError::new(
                404,
                task,
                "The job was not found.",
                ef::JOB_NOT_FOUND,
                format!("Job {id} does not exist."),
            )
            .with_object("Job", &id.to_string())
        })
}

/// Job `id` of the context while it is in the active queue: `EF3001141` when there is no such
/// job, `EF300101` once it has finished (it is in the job history then).
fn active_job<'a>(st: &'a State, ctx: &Ctx, id: i64, task: &str) -> Result<&'a Job, ApiError> {
    let job = own_job(st, ctx, id, task)?;
    if job.outcome.is_some() {
        return Err(ApiError::new(
            404,
            task,
            "The job is no longer active.",
            ef::JOB_NOT_ACTIVE,
            format!("Job {id} has finished; look it up in the job history."),
        )
        .with_object("Job", &id.to_string()));
    }
    Ok(job)
}

// ---- the job outcome, decided without touching the state ----------------------------------------

/// What finishing a due job does to its certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// CertificateDelete: the certificate goes. A cancellation never fails.
    Cancel,
    /// The CA refuses (a planned failure, `EF400139`).
    Refuse,
    /// The CA issues: it signs the CSR or, without our own CSR, sets the new lifetime.
    Issue,
}

/// Decides a due job's outcome from the order (`job`) and the fault settings: a delete is a
/// cancellation; an order for a name in `fail_names` is refused; otherwise `fail_job_share` of
/// the orders are refused by the random `draw`. `draw` is called only when the share is
/// consulted, so the seeded generator advances exactly as often as before this was a function
/// (`decide_draws_only_when_the_share_is_consulted`).
pub(super) fn decide(job: &Job, faults: &Faults, draw: impl FnOnce() -> f64) -> Verdict {
    if job.action == JobAction::Delete {
        return Verdict::Cancel;
    }
    let name = norm_addr(&job.name);
    let listed = faults
        .fail_names
        .iter()
        .any(|x| norm_addr(x).eq_ignore_ascii_case(&name));
    if listed || (faults.fail_job_share > 0.0 && draw() < faults.fail_job_share) {
        Verdict::Refuse
    } else {
        Verdict::Issue
    }
}

/// Whether the certificate record outlives the job: a cancelled one goes, and so does a first
/// order that did not succeed (a refused order leaves nothing behind to find or renew); a failed
/// renew or reissue leaves the certificate in place.
pub(super) fn certificate_stays(verdict: Verdict, action: JobAction, success: bool) -> bool {
    verdict != Verdict::Cancel && (success || action != JobAction::Create)
}

/// `deferred_until` and `due_at` of a job created at `now`: it waits `deferred` for the
/// mailbox owner's approval (shown as `DEFERRED` only when that is not zero), then runs for
/// `issuance_delay`.
pub(super) fn schedule(
    now: OffsetDateTime,
    deferred: Duration,
    issuance_delay: Duration,
) -> (Option<OffsetDateTime>, OffsetDateTime) {
    let deferred_until = (!deferred.is_zero()).then(|| now + deferred);
    (deferred_until, now + deferred + issuance_delay)
}

/// The job as it is kept once finished: its outcome recorded, and without the CSR (it lives on
/// in the certificate; finished jobs and their messages need no copy).
fn finished(mut job: Job, failure: Option<ApiMsg>, now: OffsetDateTime) -> Job {
    job.csr = None;
    job.outcome = Some(JobOutcome {
        success: failure.is_none(),
        finished: now,
        messages: failure.into_iter().collect(),
    });
    job
}

/// The message of a planned refusal.
fn refusal(name: &str) -> ApiMsg {
    ApiMsg {
        code: ef::CA_REJECTED.into(),
        text: "The CA rejected the order: the mailbox validation was not completed (simulated failure)."
            .into(),
        objects: vec![("Certificate".into(), name.to_string())],
    }
}

/// The message of a CSR the test CA could not sign.
fn sign_failure(name: &str, e: &dyn std::fmt::Display) -> ApiMsg {
    ApiMsg {
        code: ef::CA_REJECTED.into(),
        text: format!("The CA could not sign the certificate: {e}"),
        objects: vec![("Certificate".into(), name.to_string())],
    }
}

fn job_field(j: &Job, key: &str, now: OffsetDateTime) -> Option<String> {
    Some(match key {
        "id" => j.id.to_string(),
        "object" => j.name.clone(),
        "status" => j.status(now).to_string(),
        "substatus" => (j.status(now) == "DEFERRED").then(|| "WF_EMAIL_AUTH".to_string())?,
        "action" => j.action.as_str().to_string(),
        "type" => "ssl".to_string(),
        "created" => xml_date(j.created),
        "updated" | "execution" => xml_date(j.updated(now)),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::model::Owner;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-01-01 12:00 UTC);

    fn job(action: JobAction, name: &str) -> Job {
        Job {
            id: 1,
            action,
            cert_id: 7,
            name: name.to_string(),
            product: "GLOBALSIGN_PERSONALSIGN_1".into(),
            owner: Owner {
                user: "user".into(),
                context: 4,
            },
            ctid: None,
            stid: "stid".into(),
            created: NOW,
            deferred_until: None,
            due_at: NOW,
            csr: Some("csr".into()),
            lifetime_months: 12,
            outcome: None,
        }
    }

    fn faults(fail_names: &[&str], fail_job_share: f64) -> Faults {
        Faults {
            fail_names: fail_names.iter().map(|s| s.to_string()).collect(),
            fail_job_share,
            ..Faults::default()
        }
    }

    fn no_draw() -> f64 {
        panic!("the random draw was taken")
    }

    #[test]
    fn an_order_without_faults_is_issued_without_a_draw() {
        let j = job(JobAction::Create, "alice@example.com");
        assert_eq!(decide(&j, &faults(&[], 0.0), no_draw), Verdict::Issue);
    }

    #[test]
    fn a_delete_is_a_cancellation_even_for_a_failing_name() {
        let j = job(JobAction::Delete, "alice@example.com");
        let f = faults(&["alice@example.com"], 1.0);
        assert_eq!(decide(&j, &f, no_draw), Verdict::Cancel);
    }

    #[test]
    fn a_listed_name_is_refused_without_a_draw_whatever_its_case() {
        for action in [JobAction::Create, JobAction::Renew, JobAction::Reissue] {
            let j = job(action, "Alice@Example.COM");
            let f = faults(&["alice@example.com"], 0.5);
            assert_eq!(decide(&j, &f, no_draw), Verdict::Refuse);
        }
    }

    #[test]
    fn decide_draws_only_when_the_share_is_consulted() {
        let j = job(JobAction::Renew, "bob@example.com");
        let f = faults(&["alice@example.com"], 0.25);
        assert_eq!(decide(&j, &f, || 0.1), Verdict::Refuse);
        assert_eq!(decide(&j, &f, || 0.25), Verdict::Issue);
        assert_eq!(decide(&j, &f, || 0.9), Verdict::Issue);
    }

    #[test]
    fn only_a_failed_first_order_or_a_cancellation_removes_the_certificate() {
        use JobAction::*;
        assert!(!certificate_stays(Verdict::Cancel, Delete, true));
        assert!(!certificate_stays(Verdict::Refuse, Create, false));
        assert!(!certificate_stays(Verdict::Issue, Create, false));
        assert!(certificate_stays(Verdict::Issue, Create, true));
        assert!(certificate_stays(Verdict::Refuse, Renew, false));
        assert!(certificate_stays(Verdict::Issue, Reissue, false));
        assert!(certificate_stays(Verdict::Issue, Renew, true));
    }

    #[test]
    fn a_job_is_deferred_only_when_a_deferral_is_set() {
        let delay = Duration::from_secs(5);
        assert_eq!(schedule(NOW, Duration::ZERO, delay), (None, NOW + delay));
        let wait = Duration::from_secs(60);
        assert_eq!(
            schedule(NOW, wait, delay),
            (Some(NOW + wait), NOW + wait + delay)
        );
    }

    #[test]
    fn a_finished_job_keeps_its_failure_and_drops_its_csr() {
        let done = finished(job(JobAction::Create, "a@example.com"), None, NOW);
        let outcome = done.outcome.expect("finished");
        assert!(outcome.success && outcome.messages.is_empty() && done.csr.is_none());
        let failed = finished(
            job(JobAction::Create, "a@example.com"),
            Some(refusal("a@example.com")),
            NOW,
        );
        let outcome = failed.outcome.expect("finished");
        assert!(!outcome.success);
        assert_eq!(outcome.messages[0].code, ef::CA_REJECTED);
    }
}
