//! Owns what the operator requests do to a record: whether a request may be recorded now
//! ([`refusal`], [`redeliver_check`]), recording it ([`requested`]), carrying it out
//! ([`apply_request`]) and the retry `provision` asks for ([`retried`]).
//!
//! A request belongs to the generation it was made for: `reprovision`/`renew` start a new order
//! only when the current generation's money question is settled, and a request on a record
//! with an open order waits for that order instead of abandoning it (either would buy twice;
//! the request tests in `tests/pipeline/operator_requests.rs` check it).

use time::OffsetDateTime;

use super::{next_generation, reset, Jitter, Transition};
use crate::lifecycle::{ErrorClass, EventKind, Request, Stage};
use crate::pipeline::plan::Policy;
use crate::pipeline::ports::PortError;
use crate::store::{Failure, MailboxRecord};

/// Why `q` must not be recorded on `r` now, if it must not. `reprovision`/`renew` start a new
/// order only when the current generation's money question is settled (delivered, revoked, or
/// given up without an open order); otherwise a second run of the verb while the first order
/// is open would be applied after that order completes and buy another certificate.
pub fn refusal(r: &MailboxRecord, q: Request) -> Option<String> {
    if !matches!(q, Request::Reprovision | Request::Renew) {
        return None;
    }
    let address = &r.address;
    let progress = format!("`status {address}` shows progress; the daemon continues");
    match r.stage {
        // Renewing continues a certificate; a revoked one has nothing to continue, and the
        // planner never acts on a renew request there: it would wait for ever.
        Stage::Revoked if q == Request::Renew => Some(format!(
            "the certificate of generation {} was revoked, so there is nothing to renew; use \
             `reprovision {address}` for a new key and certificate",
            r.generation
        )),
        Stage::Delivered | Stage::Revoked => None,
        Stage::Ordering => Some(format!(
            "the order of generation {} is open and its outcome not yet known; {progress}",
            r.generation
        )),
        Stage::Ordered if settled_failure(r) => None,
        _ if r.failure.gave_up && r.stage != Stage::Ordered => None,
        Stage::Ordered => Some(format!(
            "the order of generation {} is open (waiting for the CA); {progress}",
            r.generation
        )),
        _ if r.generation > 1 => Some(format!(
            "a new certificate (generation {}) is already under way, at {}; {progress}",
            r.generation, r.stage
        )),
        _ => Some(format!(
            "the first certificate is still being obtained, at {}; {progress}",
            r.stage
        )),
    }
}

/// The record gave up on an order with a permanent error (vanished, refused by the key check,
/// incomplete): the order will not complete, so its money question is settled and a new
/// generation may be started.
pub fn settled_failure(r: &MailboxRecord) -> bool {
    r.stage == Stage::Ordered && r.failure.gave_up && r.failure.class == Some(ErrorClass::Permanent)
}

/// Whether `redeliver` can work for `r`, as far as the record alone tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedeliverCheck {
    /// Nothing stands in the way.
    Fine,
    /// It cannot work; why, and what to do instead.
    Refused(String),
    /// Only the key store can tell: is this key still archived? ([`key_store_answer`])
    AskKeyStore(String),
}

/// Whether `q` (if it is `redeliver`) can work for `r` at `now`: an expired certificate would
/// hand the user something every client rejects; a certificate whose key is gone cannot be
/// bundled again.
pub fn redeliver_check(r: &MailboxRecord, q: Request, now: OffsetDateTime) -> RedeliverCheck {
    if q != Request::Redeliver || r.certificate_pem.is_none() {
        return RedeliverCheck::Fine;
    }
    if let Some(expiry) = r.not_after.filter(|t| *t <= now) {
        return RedeliverCheck::Refused(format!(
            "the certificate of generation {} expired on {}; use `renew {}` for a new one",
            r.generation,
            expiry.date(),
            r.address
        ));
    }
    match r.key_ref.as_deref() {
        Some(key_ref) => RedeliverCheck::AskKeyStore(key_ref.to_string()),
        None => RedeliverCheck::Fine,
    }
}

/// Why `redeliver` cannot work for `r`, given the key store's answer to "is its key archived?":
/// `keys.archive = false` wipes the key after delivery, so bundling again would fail and leave
/// a delivered mailbox given up, with no renewal planned.
pub fn key_store_answer(r: &MailboxRecord, archived: Result<bool, PortError>) -> Option<String> {
    match archived {
        Ok(true) => None,
        Ok(false) => Some(format!(
            "the private key of generation {} is not archived (keys.archive = false), so its \
             certificate cannot be bundled again; use `reprovision {}` for a new key and \
             certificate",
            r.generation, r.address
        )),
        Err(e) => Some(format!(
            "cannot check the key store: {} [{}]; try again",
            e.text, e.code
        )),
    }
}

/// `q` recorded on `r` at `now`, waiting for the reconciler.
pub fn requested(mut r: MailboxRecord, q: Request, now: OffsetDateTime) -> Transition {
    r.request = Some(q);
    r.updated_at = now;
    Transition::new(r).event(EventKind::Requested, q.as_str())
}

/// The retry `provision` asks for on a record that gave up (from where it stopped); `None`
/// when the record has not given up.
pub fn retried(r: MailboxRecord, now: OffsetDateTime) -> Option<Transition> {
    if !r.failure.gave_up {
        return None;
    }
    let mut r = reset(r);
    r.next_attempt_at = None;
    r.updated_at = now;
    Some(Transition::new(r).event(EventKind::Retry, "provision requested"))
}

/// What carrying out a request needs next.
#[derive(Debug, Clone)]
pub enum Applied {
    /// Write this.
    Write(Transition),
    /// A `redeliver` on a record that is not failed and has no open order: whether it can work
    /// decides ([`redeliver_check`], then [`redeliver_applied`]).
    CheckRedeliver(MailboxRecord),
}

/// Carries out the pending request `q` on `rec` at `now` (no remote call).
pub fn apply_request(
    rec: MailboxRecord,
    q: Request,
    now: OffsetDateTime,
    policy: &Policy,
    jitter: Jitter<'_>,
) -> Applied {
    if settled_failure(&rec) {
        return Applied::Write(apply_after_settled_failure(rec, q));
    }
    if matches!(rec.stage, Stage::Ordering | Stage::Ordered) {
        // An order is open: resume it instead of abandoning it (that could buy twice); the
        // request stays pending until the certificate is issued. The backoff is kept: a record
        // that keeps failing must not be re-planned in a tight loop.
        let mut r = rec;
        r.failure = Failure::default();
        if r.next_attempt_at.is_none() {
            r.next_attempt_at = Some(policy.backoff.next_attempt(1, now, jitter()));
        }
        let detail = format!("{q} requested; finishing the open order first");
        return Applied::Write(Transition::new(r).event(EventKind::Retry, detail));
    }
    let t = match q {
        Request::Reprovision | Request::Renew => {
            let of = rec.certificate_id;
            Transition::new(next_generation(rec, of))
        }
        Request::Redeliver => return Applied::CheckRedeliver(rec),
        Request::Revoke => {
            let mut r = reset(rec);
            r.stage = Stage::Revoked;
            Transition::new(r)
        }
    };
    Applied::Write(request_done(t, q))
}

/// The order gave up for good (vanished, refused by the key check): nothing more will come of
/// it, so the request is applied rather than re-running the failed check, which would fail
/// again at once and loop against AutoDNS.
fn apply_after_settled_failure(rec: MailboxRecord, q: Request) -> Transition {
    let t = match q {
        Request::Reprovision | Request::Renew => {
            // The certificate this generation replaces, not the failed order's.
            let of = rec.renew_of;
            Transition::new(next_generation(rec, of))
        }
        Request::Revoke => {
            let mut r = reset(rec);
            r.stage = Stage::Revoked;
            Transition::new(r)
        }
        Request::Redeliver => {
            // Nothing was delivered for this generation; keep the failure visible.
            let mut r = rec;
            r.request = None;
            return Transition::new(r).event(
                EventKind::RequestDropped,
                "redeliver: this generation's order failed; nothing to redeliver \
                 (use `reprovision`)",
            );
        }
    };
    request_done(t, q)
}

/// Carries out a `redeliver` given why it cannot work, if it cannot. A refused one recorded
/// before the key was wiped, or by an older version, is dropped: the mailbox stays delivered
/// (and renewing) instead of failing for good.
pub fn redeliver_applied(rec: MailboxRecord, refusal: Option<String>) -> Transition {
    if let Some(reason) = refusal {
        let mut r = rec;
        r.request = None;
        return Transition::new(r).event(EventKind::RequestDropped, format!("redeliver: {reason}"));
    }
    let mut r = reset(rec);
    if r.certificate_pem.is_some() {
        r.stage = Stage::Issued;
        r.bundle_password = None;
        r.bundle_sent_at = None;
        r.delivered_at = None;
    }
    r.next_attempt_at = None;
    request_done(Transition::new(r), Request::Redeliver)
}

fn request_done(t: Transition, q: Request) -> Transition {
    let mut t = t.event(EventKind::RequestApplied, q.as_str());
    t.record.request = None;
    t
}
