//! Owns the planner: the pure function that looks at one mailbox record and the time and says
//! what to do next. It never awaits and never touches IO, so its tests need no runtime
//! (cert-manager's `policies.go`: a chain of pure checks deciding whether and why to act).
//!
//! The order of the checks is the safety argument, top to bottom:
//! 1. a live claim by another worker wins (no two processes act on one record);
//! 2. an order whose outcome is unknown (`ordering`) is resolved by lookup before anything
//!    else — also for a removed mailbox and also after giving up, because money may be spent;
//! 3. a record that gave up waits for an operator;
//! 4. the backoff / next-check time is respected;
//! 5. then the stage decides, with removal policy and operator requests at the stable stages.

use time::{Duration, OffsetDateTime};

use super::backoff::BackoffPolicy;
use crate::lifecycle::{Request, Stage};
use crate::store::MailboxRecord;

pub use crate::lifecycle::RemovalPolicy;

/// The knobs the planner reads (from the validated config).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// Renew this long before expiry.
    pub renew_before: Duration,
    /// What to do with removed mailboxes.
    pub removal: RemovalPolicy,
    /// How long an order may stay silent (no poll message, no push) before its job is checked
    /// directly, and how often after that.
    pub job_check_after: Duration,
    /// Retry schedule of the failure overlay.
    pub backoff: BackoffPolicy,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            renew_before: Duration::days(30),
            removal: RemovalPolicy::Keep,
            job_check_after: Duration::minutes(10),
            backoff: BackoffPolicy::default(),
        }
    }
}

/// The next thing to do for one mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing to do until something changes (an event or an operator request).
    Idle,
    /// Nothing to do before this time (backoff, a claim, the next job check, renewal).
    WaitUntil(OffsetDateTime),
    /// Generate this generation's key and persist it (before any CSR leaves the host).
    GenerateKey,
    /// Write the order intent (ctid, budget) and send CertificateCreate / CertificateRenew.
    Order,
    /// The order's outcome is unknown: look it up at AutoDNS (by ctid, then certificate list
    /// by name) before anything may order again.
    ResolveOrder,
    /// The order has been silent for too long: ask for its job's state directly.
    CheckJob,
    /// The job succeeded: fetch certificate and chain, check them against the key, store them.
    FetchCertificate,
    /// Choose the PKCS#12 password and hold it on the record.
    Bundle,
    /// Send the bundle mail (unless already sent), then the password over its own channel.
    Deliver,
    /// The certificate is due: start the next generation (fresh key, CertificateRenew).
    StartRenewal,
    /// Carry out the operator request waiting on the record (no remote call).
    ApplyRequest(Request),
    /// Revoke the current certificate at AutoDNS.
    Revoke,
}

/// Which lane of the daemon's work queue a step waits in. Work already paid for (an order to
/// resolve or check, a certificate to fetch, bundle and deliver, a revocation) and operator
/// requests go ahead of work that leads to new spending (a key for a new order, the order, a
/// renewal), so a spent budget or a burst of new mailboxes never holds up a certificate that is
/// already bought.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lane {
    /// Work towards a new order: taken only when no paid work waits.
    New,
    /// Work already paid for, and operator requests: taken first.
    Paid,
}

impl Step {
    /// The queue lane this step waits in (see [`Lane`]).
    pub fn lane(&self) -> Lane {
        match self {
            Step::GenerateKey | Step::Order | Step::StartRenewal => Lane::New,
            Step::Idle
            | Step::WaitUntil(_)
            | Step::ResolveOrder
            | Step::CheckJob
            | Step::FetchCertificate
            | Step::Bundle
            | Step::Deliver
            | Step::ApplyRequest(_)
            | Step::Revoke => Lane::Paid,
        }
    }

    /// The stable kebab-case name (logs, metrics).
    pub fn name(&self) -> &'static str {
        match self {
            Step::Idle => "idle",
            Step::WaitUntil(_) => "wait",
            Step::GenerateKey => "generate-key",
            Step::Order => "order",
            Step::ResolveOrder => "resolve-order",
            Step::CheckJob => "check-job",
            Step::FetchCertificate => "fetch-certificate",
            Step::Bundle => "bundle",
            Step::Deliver => "deliver",
            Step::StartRenewal => "start-renewal",
            Step::ApplyRequest(_) => "apply-request",
            Step::Revoke => "revoke",
        }
    }
}

/// Decides the next step for `r` at `now`. Pure.
pub fn plan(r: &MailboxRecord, now: OffsetDateTime, policy: &Policy) -> Step {
    if let (Some(_), Some(until)) = (&r.lease_owner, r.lease_until) {
        if until > now {
            return Step::WaitUntil(until);
        }
    }
    let due = r.next_attempt_at.is_none_or(|t| t <= now);
    if r.stage == Stage::Ordering {
        // Exactly-once: an order whose answer we never stored is looked up, never re-sent.
        return if due { Step::ResolveOrder } else { wait(r) };
    }
    if r.failure.gave_up {
        return match r.request {
            Some(q) => Step::ApplyRequest(q),
            None => Step::Idle,
        };
    }
    if !due {
        return wait(r);
    }
    match r.stage {
        Stage::Discovered if !r.present => Step::Idle,
        Stage::Discovered => match r.request {
            // Nothing bought yet: a revoke request just stops the work.
            Some(Request::Revoke) => Step::ApplyRequest(Request::Revoke),
            _ => Step::GenerateKey,
        },
        Stage::KeyReady if !r.present => Step::Idle,
        Stage::KeyReady => match r.request {
            Some(Request::Revoke) => Step::ApplyRequest(Request::Revoke),
            _ => Step::Order,
        },
        Stage::Ordering => Step::ResolveOrder,
        // Paid for: finish fetching even for a removed mailbox, so the removal policy has a
        // certificate id to act on.
        Stage::Ordered if r.certificate_id.is_some() => Step::FetchCertificate,
        Stage::Ordered => Step::CheckJob,
        Stage::Issued | Stage::Bundled | Stage::Delivered => stable(r, now, policy),
        Stage::Revoked => match r.request {
            Some(q @ Request::Reprovision) => Step::ApplyRequest(q),
            _ => Step::Idle,
        },
    }
}

fn wait(r: &MailboxRecord) -> Step {
    match r.next_attempt_at {
        Some(t) => Step::WaitUntil(t),
        None => Step::Idle,
    }
}

/// A certificate exists: requests first, then removal, then the delivery or renewal path.
fn stable(r: &MailboxRecord, now: OffsetDateTime, policy: &Policy) -> Step {
    match r.request {
        Some(Request::Revoke) if r.certificate_id.is_some() => return Step::Revoke,
        // Redelivering while a delivery is under way would mix two passwords; let it finish.
        Some(Request::Redeliver) if r.stage == Stage::Bundled => {}
        Some(q) => return Step::ApplyRequest(q),
        None => {}
    }
    if !r.present {
        return match policy.removal {
            RemovalPolicy::Keep => Step::Idle,
            RemovalPolicy::Revoke { grace } => {
                let since = r.gone_since.unwrap_or(r.updated_at);
                if since + grace <= now {
                    Step::Revoke
                } else {
                    Step::WaitUntil(since + grace)
                }
            }
        };
    }
    match r.stage {
        Stage::Issued => Step::Bundle,
        Stage::Bundled => Step::Deliver,
        _ => match r.not_after {
            Some(exp) if exp - policy.renew_before <= now => Step::StartRenewal,
            Some(exp) => Step::WaitUntil(exp - policy.renew_before),
            None => Step::Idle,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailbox::Address;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);

    fn rec(stage: Stage) -> MailboxRecord {
        let addr = Address::parse("alice@example.com").unwrap();
        let mut r = MailboxRecord::discovered(addr, NOW - Duration::days(1));
        r.stage = stage;
        r
    }

    fn delivered(expires: OffsetDateTime) -> MailboxRecord {
        let mut r = rec(Stage::Delivered);
        r.certificate_id = Some(7);
        r.not_after = Some(expires);
        r
    }

    #[test]
    fn a_new_mailbox_gets_a_key_then_an_order() {
        let p = Policy::default();
        assert_eq!(plan(&rec(Stage::Discovered), NOW, &p), Step::GenerateKey);
        assert_eq!(plan(&rec(Stage::KeyReady), NOW, &p), Step::Order);
    }

    #[test]
    fn an_order_with_unknown_outcome_is_looked_up_never_resent() {
        let p = Policy::default();
        let mut r = rec(Stage::Ordering);
        r.ctid = Some("ctid-1".into());
        assert_eq!(plan(&r, NOW, &p), Step::ResolveOrder);
        r.present = false;
        assert_eq!(
            plan(&r, NOW, &p),
            Step::ResolveOrder,
            "even when the mailbox is gone"
        );
        r.failure.gave_up = true;
        assert_eq!(
            plan(&r, NOW, &p),
            Step::ResolveOrder,
            "even after giving up"
        );
    }

    #[test]
    fn a_live_claim_of_another_worker_is_waited_out_and_an_expired_one_ignored() {
        let p = Policy::default();
        let mut r = rec(Stage::Ordering);
        r.lease_owner = Some("123:456".into());
        r.lease_until = Some(NOW + Duration::minutes(2));
        assert_eq!(
            plan(&r, NOW, &p),
            Step::WaitUntil(NOW + Duration::minutes(2))
        );
        r.lease_until = Some(NOW - Duration::seconds(1));
        assert_eq!(plan(&r, NOW, &p), Step::ResolveOrder);
    }

    #[test]
    fn backoff_time_is_respected_before_any_step() {
        let p = Policy::default();
        let mut r = rec(Stage::KeyReady);
        r.failure.attempts = 2;
        r.next_attempt_at = Some(NOW + Duration::minutes(1));
        assert_eq!(
            plan(&r, NOW, &p),
            Step::WaitUntil(NOW + Duration::minutes(1))
        );
        assert_eq!(plan(&r, NOW + Duration::minutes(1), &p), Step::Order);
    }

    #[test]
    fn a_record_that_gave_up_waits_for_an_operator() {
        let p = Policy::default();
        let mut r = rec(Stage::KeyReady);
        r.failure.gave_up = true;
        assert_eq!(plan(&r, NOW, &p), Step::Idle);
        r.request = Some(Request::Reprovision);
        assert_eq!(plan(&r, NOW, &p), Step::ApplyRequest(Request::Reprovision));
    }

    #[test]
    fn an_ordered_certificate_is_checked_when_silent_and_fetched_once_known() {
        let p = Policy::default();
        let mut r = rec(Stage::Ordered);
        r.job_id = Some(99);
        r.next_attempt_at = Some(NOW + Duration::minutes(10));
        assert_eq!(
            plan(&r, NOW, &p),
            Step::WaitUntil(NOW + Duration::minutes(10))
        );
        assert_eq!(plan(&r, NOW + Duration::minutes(10), &p), Step::CheckJob);
        r.certificate_id = Some(5);
        r.next_attempt_at = None;
        assert_eq!(plan(&r, NOW, &p), Step::FetchCertificate);
    }

    #[test]
    fn an_issued_certificate_is_bundled_then_delivered() {
        let p = Policy::default();
        assert_eq!(plan(&rec(Stage::Issued), NOW, &p), Step::Bundle);
        assert_eq!(plan(&rec(Stage::Bundled), NOW, &p), Step::Deliver);
    }

    #[test]
    fn renewal_starts_at_the_margin_before_expiry() {
        let p = Policy::default();
        let expires = NOW + Duration::days(45);
        let r = delivered(expires);
        assert_eq!(
            plan(&r, NOW, &p),
            Step::WaitUntil(expires - Duration::days(30))
        );
        assert_eq!(plan(&r, NOW + Duration::days(15), &p), Step::StartRenewal);
    }

    #[test]
    fn a_removed_mailbox_is_never_ordered_for() {
        let p = Policy::default();
        for stage in [Stage::Discovered, Stage::KeyReady] {
            let mut r = rec(stage);
            r.present = false;
            assert_eq!(plan(&r, NOW, &p), Step::Idle, "{stage}");
        }
    }

    #[test]
    fn a_removed_mailbox_keeps_its_certificate_by_default_and_is_not_renewed() {
        let p = Policy::default();
        let mut r = delivered(NOW + Duration::days(1));
        r.present = false;
        r.gone_since = Some(NOW - Duration::days(400));
        assert_eq!(plan(&r, NOW, &p), Step::Idle);
    }

    #[test]
    fn revoke_policy_waits_out_the_grace_period() {
        let grace = Duration::days(14);
        let p = Policy {
            removal: RemovalPolicy::Revoke { grace },
            ..Policy::default()
        };
        let mut r = delivered(NOW + Duration::days(200));
        r.present = false;
        r.gone_since = Some(NOW);
        assert_eq!(plan(&r, NOW, &p), Step::WaitUntil(NOW + grace));
        assert_eq!(plan(&r, NOW + grace, &p), Step::Revoke);
    }

    #[test]
    fn operator_requests_are_honoured_at_stable_stages() {
        let p = Policy::default();
        let mut r = delivered(NOW + Duration::days(200));
        r.request = Some(Request::Redeliver);
        assert_eq!(plan(&r, NOW, &p), Step::ApplyRequest(Request::Redeliver));
        r.request = Some(Request::Revoke);
        assert_eq!(plan(&r, NOW, &p), Step::Revoke);
        r.request = Some(Request::Renew);
        assert_eq!(plan(&r, NOW, &p), Step::ApplyRequest(Request::Renew));
    }

    #[test]
    fn a_redeliver_request_waits_for_a_delivery_in_progress() {
        let p = Policy::default();
        let mut r = rec(Stage::Bundled);
        r.certificate_id = Some(7);
        r.request = Some(Request::Redeliver);
        assert_eq!(plan(&r, NOW, &p), Step::Deliver);
    }

    #[test]
    fn a_revoke_request_before_any_order_just_stops_the_work() {
        let p = Policy::default();
        let mut r = rec(Stage::KeyReady);
        r.request = Some(Request::Revoke);
        assert_eq!(plan(&r, NOW, &p), Step::ApplyRequest(Request::Revoke));
    }

    #[test]
    fn paid_work_is_in_the_paid_lane_and_new_spending_in_the_new_lane() {
        let p = Policy::default();
        let mut ordered = rec(Stage::Ordered);
        ordered.certificate_id = Some(5);
        for r in [ordered, rec(Stage::Issued), rec(Stage::Bundled)] {
            assert_eq!(plan(&r, NOW, &p).lane(), Lane::Paid, "{}", r.stage);
        }
        let mut unknown = rec(Stage::Ordering);
        unknown.ctid = Some("ctid-1".into());
        assert_eq!(plan(&unknown, NOW, &p).lane(), Lane::Paid);
        for r in [rec(Stage::Discovered), rec(Stage::KeyReady)] {
            assert_eq!(plan(&r, NOW, &p).lane(), Lane::New, "{}", r.stage);
        }
        let due = delivered(NOW + Duration::days(1));
        assert_eq!(plan(&due, NOW, &p), Step::StartRenewal);
        assert_eq!(plan(&due, NOW, &p).lane(), Lane::New);
    }

    #[test]
    fn a_revoked_record_is_idle_until_reprovisioned() {
        let p = Policy::default();
        let mut r = rec(Stage::Revoked);
        assert_eq!(plan(&r, NOW, &p), Step::Idle);
        r.request = Some(Request::Reprovision);
        assert_eq!(plan(&r, NOW, &p), Step::ApplyRequest(Request::Reprovision));
    }
}
