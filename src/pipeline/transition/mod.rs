//! Owns what every outcome does to a mailbox record: pure functions from (record, port outcome,
//! now, settings) to the [`Transition`] the reconciler commits. Nothing here awaits or touches
//! IO, so each outcome is tested as a sentence without a runtime, the way [`super::plan`](mod@super::plan) is.
//!
//! The reconciler (`super::reconcile`) only claims the record, calls the port, passes the answer
//! here and commits what comes back. The files follow the record's life:
//! - [`order`]: the order's intent, its answer (accepted, refused, unknown), lookups of an order
//!   whose outcome is unknown, and job checks;
//! - [`certificate`]: key generated, certificate fetched and checked, bundled, delivered,
//!   revoked, renewal started;
//! - [`request`]: the operator requests (`apply_request`) and the refusals that keep a request
//!   from buying twice;
//! - [`notice`]: completion notices (poll and push) and the admin notices owed after a give-up.
//!
//! Shared here: the failure overlay ([`overlay`]) and [`settle`], which finishes every claimed
//! step the same way (claim released, overlay cleared on success or grown on failure).
//!
//! Randomness (backoff jitter) comes in as a `jitter` function that is called only when a
//! backoff is computed, so a seeded generator draws the same numbers as before.

pub mod certificate;
pub mod notice;
pub mod order;
pub mod request;

#[cfg(test)]
mod tests;

use time::{OffsetDateTime, Time};

use super::backoff::BackoffPolicy;
use super::plan::Step;
use super::ports::PortError;
use crate::lifecycle::{ErrorClass, EventKind, Stage};
use crate::store::{Failure, MailboxRecord};

pub use crate::store::Transition;

/// A source of backoff jitter in `[0, 1)`, called only when a retry time is computed.
pub type Jitter<'a> = &'a dyn Fn() -> f64;

/// What a step with an outside effect produced, before [`settle`] finishes it: the write, and
/// the failure it records if the step failed.
#[derive(Debug, Clone)]
pub struct StepResult {
    /// The record's new contents and events.
    pub write: Transition,
    /// The failure, if the step failed.
    pub error: Option<PortError>,
}

impl StepResult {
    /// The step succeeded with `write`.
    pub fn done(write: Transition) -> Self {
        StepResult { write, error: None }
    }

    /// The step failed with `error`; the record is unchanged apart from the overlay.
    pub fn failed(rec: MailboxRecord, error: PortError) -> Self {
        Self::failed_with(Transition::new(rec), error)
    }

    /// The step failed with `error`, and still writes `write` (e.g. a failed job goes back to
    /// `key-ready`).
    pub fn failed_with(write: Transition, error: PortError) -> Self {
        StepResult {
            write,
            error: Some(error),
        }
    }
}

/// Finishes a claimed step: the claim is released; success clears the failure overlay, failure
/// grows it, schedules the retry and appends `gave-up` or `step-failed`. Stamped `now`.
pub fn settle(
    step: Step,
    result: StepResult,
    now: OffsetDateTime,
    backoff: BackoffPolicy,
    jitter: Jitter<'_>,
) -> Transition {
    let mut t = result.write;
    t.record.lease_owner = None;
    t.record.lease_until = None;
    if let Some(e) = &result.error {
        overlay(&mut t.record, e, now, backoff, jitter);
        let kind = if t.record.failure.gave_up {
            EventKind::GaveUp
        } else {
            EventKind::StepFailed
        };
        t = t.event(kind, format!("{}: {} [{}]", step.name(), e.text, e.code));
    } else {
        t.record = succeeded(t.record);
    }
    t.record.updated_at = now;
    t
}

/// Adds a failure to the record's overlay (cert-manager's backoff: attempts and time
/// persisted; bounded; jittered). A spent budget waits for the next UTC day without counting
/// an attempt.
pub fn overlay(
    r: &mut MailboxRecord,
    e: &PortError,
    now: OffsetDateTime,
    backoff: BackoffPolicy,
    jitter: Jitter<'_>,
) {
    r.failure.class = Some(e.class);
    r.failure.code = Some(e.code.clone());
    r.failure.text = Some(e.text.clone());
    if e.class == ErrorClass::Budget {
        r.next_attempt_at = Some(next_utc_day(now));
        return;
    }
    r.failure.attempts = r.failure.attempts.saturating_add(1);
    r.failure.gave_up = e.class == ErrorClass::Permanent || backoff.exhausted(r.failure.attempts);
    // An unresolved order is retried even after giving up (money may be spent), but never
    // faster than the backoff cap.
    r.next_attempt_at = if r.failure.gave_up && r.stage != Stage::Ordering {
        None
    } else {
        Some(backoff.next_attempt(r.failure.attempts, now, jitter()))
    };
}

/// The record with the failure overlay cleared (after a successful step). The attempt count
/// survives until the certificate is issued (and again until it is delivered): a job that fails
/// after a successful order must count towards the bound, or a CA that rejects every order
/// would be sent new orders forever.
pub fn succeeded(mut r: MailboxRecord) -> MailboxRecord {
    let attempts = r.failure.attempts;
    r.failure = Failure::default();
    if !matches!(r.stage, Stage::Issued | Stage::Delivered | Stage::Revoked) {
        r.failure.attempts = attempts;
    }
    r
}

/// The failure overlay cleared entirely (an operator asked to start over).
pub fn reset(mut r: MailboxRecord) -> MailboxRecord {
    r.failure = Failure::default();
    r
}

/// Moves a record to the next generation: a fresh key and a fresh order; the old certificate's
/// public facts stay visible to `status` until the new one replaces them.
pub fn next_generation(mut r: MailboxRecord, renew_of: Option<i64>) -> MailboxRecord {
    r.generation += 1;
    r.stage = Stage::Discovered;
    r.key_ref = None;
    r.ctid = None;
    r.job_id = None;
    r.certificate_id = None;
    r.renew_of = renew_of;
    r.ordering_since = None;
    r.bundle_password = None;
    r.bundle_sent_at = None;
    r.delivered_at = None;
    r.next_attempt_at = None;
    r.failure = Failure::default();
    r
}

/// Back to `key-ready` with no order: the order certainly does not exist (refused, not found,
/// or its job failed). The key is kept; the next order gets a new ctid. The job id of a failed
/// job stays on the record until the next order intent replaces it, so a repeat of that job's
/// completion message (AutoDNS sending it again, or a crash between the commit and
/// PollConfirm) is recognised as ours, a duplicate, instead of a foreign message that
/// `confirm_foreign_messages = false` would leave at the head of the poll queue for good.
pub fn no_order(mut r: MailboxRecord) -> MailboxRecord {
    r.stage = Stage::KeyReady;
    r.ctid = None;
    r.certificate_id = None;
    r.ordering_since = None;
    r
}

/// The next UTC midnight after `now` (when the daily budget resets).
pub fn next_utc_day(now: OffsetDateTime) -> OffsetDateTime {
    let day = now.date().next_day().unwrap_or(now.date());
    day.with_time(Time::MIDNIGHT).assume_utc()
}
