//! Owns what a completion notice (a poll message or a push) does to the record it matches, and
//! which admin notices are owed after a give-up.
//!
//! A notice only completes an order that is still open; a repeat of one already applied is a
//! duplicate and changes nothing (`tests/pipeline/reconcile.rs`). An admin notice is owed by a
//! `gave-up` not told yet, or by a notice that failed fewer than [`MAX_NOTICE_ATTEMPTS`] times
//! in a row (`tests/pipeline/admin_notice.rs`).

use time::{Duration, OffsetDateTime};

use super::order::job_failed;
use super::{no_order, overlay, succeeded, Jitter, Transition};
use crate::lifecycle::{ErrorClass, EventKind, Stage};
use crate::pipeline::backoff::BackoffPolicy;
use crate::pipeline::ports::{Notice, NoticeOutcome, PortError};
use crate::store::{Event, MailboxRecord, NewEvent};

/// How long an owed admin notice waits before the daemon's sweep sends it (again): long enough
/// that a worker telling the admin right now is never doubled, short enough for an outage.
pub const NOTICE_RETRY_AFTER: Duration = Duration::minutes(5);

/// Tries of one admin notice before it is left to the log and `status` (an hour at
/// [`NOTICE_RETRY_AFTER`]).
pub const MAX_NOTICE_ATTEMPTS: usize = 12;

/// Whether `n` is about `r`'s order (by its job id, else by its ctid).
pub fn matches(r: &MailboxRecord, n: &Notice) -> bool {
    let by_job = n.job_id.is_some() && r.job_id == n.job_id;
    let by_ctid = n.ctid.is_some() && r.ctid == n.ctid;
    by_job || by_ctid
}

/// What a notice does to the record it matched.
#[derive(Debug, Clone)]
// A return value moved once to its caller, never stored: boxing the write buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum NoticeApplied {
    /// The order is already past that point, or the notice is not a completion: nothing changes.
    Duplicate,
    /// Write this; for a failed job, the error it records.
    Write(Transition, Option<PortError>),
}

/// A notice about `rec`'s order, at `now`: success → `ordered` with the certificate id (the job
/// check looks it up at once without one); failure → back to `key-ready` with the job's error
/// on the overlay (and `gave-up` when that bound is reached).
pub fn apply_notice(
    rec: MailboxRecord,
    n: &Notice,
    now: OffsetDateTime,
    backoff: BackoffPolicy,
    jitter: Jitter<'_>,
) -> NoticeApplied {
    let open =
        matches!(rec.stage, Stage::Ordering | Stage::Ordered) && rec.certificate_id.is_none();
    if !open {
        return NoticeApplied::Duplicate;
    }
    let (mut t, failure) = match &n.outcome {
        NoticeOutcome::Other => return NoticeApplied::Duplicate,
        NoticeOutcome::Success => {
            let mut r = succeeded(rec);
            r.stage = Stage::Ordered;
            r.job_id = n.job_id.or(r.job_id);
            r.certificate_id = n.certificate_id;
            // Without a certificate id the job check looks it up right away.
            r.next_attempt_at = None;
            let detail = format!("job {:?}, certificate {:?}", n.job_id, n.certificate_id);
            (
                Transition::new(r).event(EventKind::JobSucceeded, detail),
                None,
            )
        }
        NoticeOutcome::Failed { code, text } => {
            let mut r = no_order(rec);
            // Matched by ctid before the order's answer was stored: keep the failed job's id
            // all the same, so its repeats are duplicates (see `no_order`).
            r.job_id = n.job_id.or(r.job_id);
            let e = job_failed(code, text);
            overlay(&mut r, &e, now, backoff, jitter);
            let kind = if r.failure.gave_up {
                EventKind::GaveUp
            } else {
                EventKind::JobFailed
            };
            let t = Transition::new(r).event(kind, format!("{text} [{code}]"));
            (t, Some(e))
        }
    };
    t.record.updated_at = now;
    NoticeApplied::Write(t, failure)
}

/// The event that leaves the administrator owed a notice, if the trail (oldest first) ends with
/// one: a `gave-up` not told yet, or a notice that failed fewer than [`MAX_NOTICE_ATTEMPTS`]
/// times in a row.
pub fn owed_notice(events: &[Event]) -> Option<&Event> {
    let last = events.last()?;
    let failed_tries = events
        .iter()
        .rev()
        .take_while(|e| EventKind::AdminNoticeFailed.is(&e.kind))
        .count();
    let owed = EventKind::GaveUp.is(&last.kind)
        || (EventKind::AdminNoticeFailed.is(&last.kind) && failed_tries < MAX_NOTICE_ATTEMPTS);
    owed.then_some(last)
}

/// Whether the sweep sends the notice owed by `last` at `now`: only once it is `min_age` old,
/// which keeps the sweep clear of a worker telling the admin right now.
pub fn notice_due(last: &Event, now: OffsetDateTime, min_age: Duration) -> bool {
    now - last.at >= min_age
}

/// The error a notice about `r` names: the one stored on its failure overlay.
pub fn stored_error(r: &MailboxRecord) -> PortError {
    PortError {
        class: r.failure.class.unwrap_or(ErrorClass::Permanent),
        code: r.failure.code.clone().unwrap_or_else(|| "unknown".into()),
        text: r
            .failure
            .text
            .clone()
            .unwrap_or_else(|| "no error text stored".into()),
        not_performed: false,
    }
}

/// The event recording an admin notice about `step` failing with `error`: `admin-notified`
/// when it went out, `admin-notice-failed` when it could not; `None` when no admin address is
/// configured (`sent` is `Ok(false)`).
pub fn notice_event(
    step: &str,
    error: &PortError,
    sent: &Result<bool, PortError>,
) -> Option<NewEvent> {
    match sent {
        Ok(false) => None,
        Ok(true) => Some(NewEvent::new(
            EventKind::AdminNotified,
            format!("{step}: {}", error.code),
        )),
        Err(e) => Some(NewEvent::new(
            EventKind::AdminNoticeFailed,
            format!("{}: {} [{}]", step, e.text, e.code),
        )),
    }
}
