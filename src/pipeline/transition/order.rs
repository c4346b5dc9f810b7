//! Owns what the order's steps do to a record: the intent written before CertificateCreate is
//! sent, the order's answer, the lookup of an order whose outcome is unknown, and the job check.
//!
//! The exactly-once argument lives in these shapes: [`intent`] is the claim that carries the
//! ctid and counts against the day's budget, committed before the order is sent; an answer that
//! is not a certain refusal leaves the record in `ordering` ([`answered`]); only a lookup
//! ([`looked_up`]) leaves `ordering`, and a lookup finding nothing re-opens ordering only after
//! the listing grace. `tests/pipeline/lost_order.rs` and `tests/pipeline/crash_points.rs` check it.

use time::{Date, OffsetDateTime};

use super::{no_order, StepResult, Transition};
use crate::lifecycle::{ErrorClass, EventKind, Stage};
use crate::pipeline::plan::Policy;
use crate::pipeline::ports::{FoundOrder, JobState, OrderPlaced, PortError};
use crate::pipeline::settings::Settings;
use crate::pipeline::status::fmt_time;
use crate::store::MailboxRecord;

/// The kind of order `rec` is about to send, as metrics and the intent event name it.
pub fn order_kind(rec: &MailboxRecord) -> &'static str {
    if rec.renew_of.is_some() {
        "replacement"
    } else {
        "first"
    }
}

/// A `key-ready` record without a key id: back to `discovered` to generate one (nothing was
/// bought, so regenerating is safe).
pub fn key_missing(mut rec: MailboxRecord) -> Transition {
    rec.stage = Stage::Discovered;
    Transition::new(rec).event(EventKind::KeyMissing, "no key id; regenerating")
}

/// The order's intent: `ordering` with the new ctid and contact, claimed by `owner`, counted
/// against the day's budget. Committed before the order is sent.
pub fn intent(
    rec: &MailboxRecord,
    ctid: &str,
    contact: i64,
    owner: &str,
    now: OffsetDateTime,
    settings: &Settings,
) -> Transition {
    let mut r = rec.clone();
    r.stage = Stage::Ordering;
    r.ctid = Some(ctid.to_string());
    // A failed earlier order's job (kept by `no_order`) is not this order's.
    r.job_id = None;
    r.contact_id = Some(contact);
    r.ordering_since = Some(now);
    r.lease_owner = Some(owner.to_string());
    r.lease_until = Some(now + settings.lease);
    r.next_attempt_at = None;
    r.updated_at = now;
    let detail = format!("{} order, ctid {ctid}", order_kind(rec));
    let mut t = Transition::new(r).event(EventKind::OrderIntent, detail);
    t.counts_order = Some(settings.daily_order_budget);
    t
}

/// The failure recorded when the intent (or the claim to generate the key for it) could not be
/// written because the budget is spent, or is 0.
pub fn budget_spent(limit: u32, day: Date) -> PortError {
    PortError {
        class: ErrorClass::Budget,
        code: "budget-exhausted".into(),
        text: crate::store::StoreError::BudgetExhausted { limit, day }.to_string(),
        not_performed: true,
    }
}

/// The answer to CertificateCreate on the claimed intent: accepted → `ordered`; certainly
/// refused → back to `key-ready` with the budget count given back; anything else → stays in
/// `ordering`, which only a lookup may leave.
pub fn answered(
    claimed: MailboxRecord,
    answer: Result<OrderPlaced, PortError>,
    now: OffsetDateTime,
    policy: &Policy,
) -> StepResult {
    match answer {
        Ok(placed) => {
            let mut r = claimed;
            r.stage = Stage::Ordered;
            r.job_id = Some(placed.job_id);
            r.certificate_id = placed.certificate_id;
            r.next_attempt_at = match placed.certificate_id {
                Some(_) => None,
                None => Some(now + policy.job_check_after),
            };
            let detail = format!("job {}", placed.job_id);
            StepResult::done(Transition::new(r).event(EventKind::Ordered, detail))
        }
        Err(e) if e.not_performed => {
            let day = claimed.ordering_since.unwrap_or(now).date();
            let detail = format!("AutoDNS refused the order: {}", e.code);
            let mut t = Transition::new(no_order(claimed)).event(EventKind::OrderRefused, detail);
            t.refunds_order = Some(day);
            StepResult::failed_with(t, e)
        }
        Err(e) => StepResult::failed(claimed, e),
    }
}

/// The lookup of an order in `ordering` (its answer was lost): found → `ordered`; not listed
/// within the listing grace → look again when it ends; not listed after it → never placed, back
/// to `key-ready` with the budget count given back.
pub fn looked_up(
    rec: MailboxRecord,
    found: Result<Option<FoundOrder>, PortError>,
    now: OffsetDateTime,
    settings: &Settings,
) -> StepResult {
    let since = rec.ordering_since.unwrap_or(rec.created_at);
    let ctid = rec.ctid.clone().unwrap_or_default();
    match found {
        Ok(Some(found)) => {
            let mut r = rec;
            r.stage = Stage::Ordered;
            r.job_id = found.job_id.or(r.job_id);
            r.certificate_id = if found.issued {
                found.certificate_id
            } else {
                None
            };
            r.next_attempt_at = if found.issued {
                None
            } else {
                Some(now + settings.policy.job_check_after)
            };
            let detail = format!(
                "job {:?}, certificate {:?}, issued {}",
                found.job_id, found.certificate_id, found.issued
            );
            StepResult::done(Transition::new(r).event(EventKind::OrderFound, detail))
        }
        Ok(None) if now < since + settings.listing_grace() => {
            // Not listed (yet): AutoDNS may list a new order's certificate only when its job
            // runs, or with a delay. Re-ordering on one empty lookup right after sending could
            // buy twice, so the order stays unresolved until a lookup a job-check interval later
            // still finds nothing (`tests/pipeline/lost_order.rs`).
            let mut r = rec;
            r.next_attempt_at = Some(since + settings.listing_grace());
            let detail = format!(
                "no order with ctid {ctid} listed yet; looking again at {}",
                fmt_time(r.next_attempt_at)
            );
            StepResult::done(Transition::new(r).event(EventKind::OrderNotListedYet, detail))
        }
        Ok(None) => {
            let detail = format!("no order with ctid {ctid} at AutoDNS; a new order may be sent");
            // Never placed: the intent's budget count is given back.
            let mut t = Transition::new(no_order(rec)).event(EventKind::OrderNotFound, detail);
            t.refunds_order = Some(since.date());
            StepResult::done(t)
        }
        Err(e) => StepResult::failed(rec, e),
    }
}

/// What a job check found: a result, or a job done without naming its certificate (or gone
/// from the queue), which the order's lookup by name resolves ([`found_after_job`]).
#[derive(Debug, Clone)]
pub enum JobChecked {
    /// The step's result.
    Done(StepResult),
    /// Look the order up by name.
    LookUp(MailboxRecord),
}

/// The state of an `ordered` record's job: pending → check again later; waiting for the
/// mailbox owner's approval → the same, with an `approval-pending` event the first time
/// (`noted`: the trail already says so for this job, see
/// [`approval_pending_since`](crate::pipeline::status::approval_pending_since)); succeeded with
/// a certificate → ready to fetch; failed → back to `key-ready` with the job's error.
pub fn job_checked(
    rec: MailboxRecord,
    state: JobState,
    noted: bool,
    now: OffsetDateTime,
    policy: &Policy,
) -> JobChecked {
    match state {
        JobState::Pending | JobState::AwaitingApproval => {
            let mut r = rec;
            r.next_attempt_at = Some(now + policy.job_check_after);
            let mut t = Transition::new(r);
            if let (JobState::AwaitingApproval, false, Some(job)) = (&state, noted, t.record.job_id)
            {
                t = t.event(EventKind::ApprovalPending, approval_detail(job));
            }
            JobChecked::Done(StepResult::done(t))
        }
        JobState::Succeeded {
            certificate_id: Some(id),
        } => {
            let mut r = rec;
            r.certificate_id = Some(id);
            r.next_attempt_at = None;
            let t = Transition::new(r).event(EventKind::JobSucceeded, format!("certificate {id}"));
            JobChecked::Done(StepResult::done(t))
        }
        JobState::Succeeded {
            certificate_id: None,
        }
        | JobState::Gone => JobChecked::LookUp(rec),
        JobState::Failed { code, text } => {
            let e = job_failed(&code, &text);
            let t = Transition::new(no_order(rec))
                .event(EventKind::JobFailed, format!("{text} [{code}]"));
            JobChecked::Done(StepResult::failed_with(t, e))
        }
    }
}

/// The detail of an `approval-pending` event; [`crate::pipeline::status::approval_pending_since`]
/// reads the job id back from its start.
pub fn approval_detail(job: i64) -> String {
    format!(
        "job {job} waits for the mailbox owner to confirm GlobalSign's approval mail \
         (`resend-approval ADDRESS` sends it again)"
    )
}

/// The error a failed job records (by job check, poll or push).
pub fn job_failed(code: &str, text: &str) -> PortError {
    PortError::transient(
        &format!("job-failed:{code}"),
        format!("the order's job failed: {text}"),
    )
}

/// The lookup by name of an order known to exist whose job cannot be asked (no job id, or the
/// job left the queue): issued → ready to fetch; still running → check again later; not listed
/// → a permanent failure. It is never re-ordered from here: an order that was seen once and
/// then vanishes needs a person.
pub fn found_after_job(
    rec: MailboxRecord,
    found: Result<Option<FoundOrder>, PortError>,
    now: OffsetDateTime,
    policy: &Policy,
) -> StepResult {
    match found {
        Ok(Some(found)) if found.issued && found.certificate_id.is_some() => {
            let mut r = rec;
            r.certificate_id = found.certificate_id;
            r.next_attempt_at = None;
            let detail = format!("certificate {:?}", found.certificate_id);
            StepResult::done(Transition::new(r).event(EventKind::JobSucceeded, detail))
        }
        Ok(Some(_)) => {
            let mut r = rec;
            r.next_attempt_at = Some(now + policy.job_check_after);
            StepResult::done(Transition::new(r))
        }
        Ok(None) => {
            let ctid = rec.ctid.clone().unwrap_or_default();
            let e = PortError::permanent(
                "order-vanished",
                format!(
                    "the order with ctid {ctid} was accepted by AutoDNS but is no longer \
                     listed; check the AutoDNS account before `reprovision`"
                ),
            );
            StepResult::failed(rec, e)
        }
        Err(e) => StepResult::failed(rec, e),
    }
}
