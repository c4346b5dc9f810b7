//! The transitions as sentences: one test per step outcome, request and notice, no runtime.

use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use super::certificate::{self, BundleSent};
use super::notice::{self, NoticeApplied};
use super::order::{self, JobChecked};
use super::request::{self, Applied, RedeliverCheck};
use super::*;
use crate::lifecycle::Request;
use crate::mailbox::Address;
use crate::pipeline::plan::Policy;
use crate::pipeline::ports::{
    CertificateFacts, FoundOrder, IssuedCertificate, JobState, Notice, NoticeOutcome, OrderPlaced,
    Revocation,
};
use crate::pipeline::settings::Settings;
use crate::secret::Secret;
use crate::store::Event;

const NOW: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);

fn no_jitter() -> f64 {
    0.5
}

fn rec(stage: Stage) -> MailboxRecord {
    let addr = Address::parse("alice@example.com").unwrap();
    let mut r = MailboxRecord::discovered(addr, NOW - Duration::days(1));
    r.stage = stage;
    r
}

fn ordering() -> MailboxRecord {
    let mut r = rec(Stage::Ordering);
    r.key_ref = Some("key-1".into());
    r.ctid = Some("smp-1".into());
    r.ordering_since = Some(NOW - Duration::minutes(1));
    r
}

fn kinds(t: &Transition) -> Vec<&'static str> {
    t.events.iter().map(|e| e.kind.as_str()).collect()
}

fn transient() -> PortError {
    PortError::transient("http-503", "unavailable")
}

fn facts() -> CertificateFacts {
    CertificateFacts {
        not_after: NOW + Duration::days(365),
        serial: "0a".into(),
        fingerprint_sha256: "ff".into(),
    }
}

fn issued() -> MailboxRecord {
    let mut r = rec(Stage::Issued);
    r.key_ref = Some("key-1".into());
    r.certificate_id = Some(7);
    r.certificate_pem = Some("CERT".into());
    r.not_after = Some(NOW + Duration::days(365));
    r.serial = Some("0a".into());
    r
}

#[test]
fn a_generated_key_makes_the_record_key_ready_and_a_failed_one_changes_nothing() {
    let done = certificate::key_generated(rec(Stage::Discovered), Ok("key-1".into()));
    assert_eq!(done.write.record.stage, Stage::KeyReady);
    assert_eq!(done.write.record.key_ref.as_deref(), Some("key-1"));
    assert_eq!(kinds(&done.write), ["key-generated"]);
    let failed = certificate::key_generated(rec(Stage::Discovered), Err(transient()));
    assert_eq!(failed.write.record.stage, Stage::Discovered);
    assert!(failed.error.is_some() && failed.write.events.is_empty());
}

#[test]
fn a_key_ready_record_without_a_key_id_goes_back_to_generate_one() {
    let t = order::key_missing(rec(Stage::KeyReady));
    assert_eq!(t.record.stage, Stage::Discovered);
    assert_eq!(kinds(&t), ["key-missing"]);
}

#[test]
fn the_order_intent_carries_the_ctid_the_claim_and_the_budget_count() {
    let mut r = rec(Stage::KeyReady);
    r.job_id = Some(99);
    let s = Settings::default();
    let t = order::intent(&r, "smp-1", 5, "me", NOW, &s);
    assert_eq!(t.record.stage, Stage::Ordering);
    assert_eq!(t.record.ctid.as_deref(), Some("smp-1"));
    assert_eq!(
        t.record.job_id, None,
        "an earlier failed job is not this order's"
    );
    assert_eq!(t.record.lease_owner.as_deref(), Some("me"));
    assert_eq!(t.record.ordering_since, Some(NOW));
    assert_eq!(t.counts_order, Some(s.daily_order_budget));
    assert_eq!(t.events[0].detail, "first order, ctid smp-1");
}

#[test]
fn a_spent_budget_is_a_budget_failure_that_waits_for_the_next_utc_day() {
    let e = order::budget_spent(3, NOW.date());
    assert_eq!(e.class, ErrorClass::Budget);
    let t = settle(
        Step::Order,
        StepResult::failed(rec(Stage::KeyReady), e),
        NOW,
        BackoffPolicy::default(),
        &no_jitter,
    );
    assert_eq!(
        t.record.next_attempt_at,
        Some(datetime!(2026-03-02 0:00 UTC))
    );
    assert_eq!(
        t.record.failure.attempts, 0,
        "a spent budget is not an attempt"
    );
}

#[test]
fn an_accepted_order_is_ordered_and_waits_for_its_job_unless_it_names_the_certificate() {
    let p = Policy::default();
    let placed = OrderPlaced {
        job_id: 11,
        certificate_id: None,
    };
    let done = order::answered(ordering(), Ok(placed), NOW, &p);
    assert_eq!(done.write.record.stage, Stage::Ordered);
    assert_eq!(done.write.record.job_id, Some(11));
    assert_eq!(
        done.write.record.next_attempt_at,
        Some(NOW + p.job_check_after)
    );
    let named = OrderPlaced {
        job_id: 11,
        certificate_id: Some(7),
    };
    let done = order::answered(ordering(), Ok(named), NOW, &p);
    assert_eq!(done.write.record.next_attempt_at, None);
}

#[test]
fn a_certainly_refused_order_goes_back_to_key_ready_and_gives_the_budget_count_back() {
    let r = ordering();
    let day = r.ordering_since.unwrap().date();
    let refused = order::answered(r, Err(transient().refused()), NOW, &Policy::default());
    assert_eq!(refused.write.record.stage, Stage::KeyReady);
    assert_eq!(refused.write.record.ctid, None);
    assert_eq!(refused.write.refunds_order, Some(day));
    assert_eq!(kinds(&refused.write), ["order-refused"]);
    assert!(refused.error.is_some());
}

#[test]
fn an_order_of_unknown_outcome_stays_in_ordering() {
    let unknown = order::answered(ordering(), Err(transient()), NOW, &Policy::default());
    assert_eq!(unknown.write.record.stage, Stage::Ordering);
    assert_eq!(unknown.write.refunds_order, None);
    let t = settle(
        Step::Order,
        unknown,
        NOW,
        BackoffPolicy::default(),
        &no_jitter,
    );
    assert_eq!(t.record.stage, Stage::Ordering);
    assert!(
        t.record.next_attempt_at.is_some(),
        "it is looked up again later"
    );
}

#[test]
fn a_lookup_that_finds_the_order_makes_it_ordered() {
    let s = Settings::default();
    let found = FoundOrder {
        job_id: Some(11),
        certificate_id: Some(7),
        issued: true,
    };
    let done = order::looked_up(ordering(), Ok(Some(found)), NOW, &s);
    assert_eq!(done.write.record.stage, Stage::Ordered);
    assert_eq!(done.write.record.certificate_id, Some(7));
    assert_eq!(kinds(&done.write), ["order-found"]);
    let running = FoundOrder {
        issued: false,
        ..found
    };
    let done = order::looked_up(ordering(), Ok(Some(running)), NOW, &s);
    assert_eq!(done.write.record.certificate_id, None);
    assert_eq!(
        done.write.record.next_attempt_at,
        Some(NOW + s.policy.job_check_after)
    );
}

#[test]
fn an_order_not_listed_within_the_grace_is_looked_up_again_not_re_sent() {
    let s = Settings::default();
    let r = ordering();
    let since = r.ordering_since.unwrap();
    let done = order::looked_up(r, Ok(None), NOW, &s);
    assert_eq!(done.write.record.stage, Stage::Ordering);
    assert_eq!(
        done.write.record.next_attempt_at,
        Some(since + s.listing_grace())
    );
    assert_eq!(kinds(&done.write), ["order-not-listed-yet"]);
}

#[test]
fn an_order_not_listed_after_the_grace_was_never_placed_and_its_count_is_given_back() {
    let s = Settings::default();
    let r = ordering();
    let since = r.ordering_since.unwrap();
    let later = since + s.listing_grace();
    let done = order::looked_up(r, Ok(None), later, &s);
    assert_eq!(done.write.record.stage, Stage::KeyReady);
    assert_eq!(done.write.refunds_order, Some(since.date()));
    assert_eq!(kinds(&done.write), ["order-not-found"]);
}

#[test]
fn a_failed_lookup_leaves_the_order_unresolved() {
    let failed = order::looked_up(ordering(), Err(transient()), NOW, &Settings::default());
    assert_eq!(failed.write.record.stage, Stage::Ordering);
    assert!(failed.error.is_some());
}

fn ordered() -> MailboxRecord {
    let mut r = ordering();
    r.stage = Stage::Ordered;
    r.job_id = Some(11);
    r
}

fn done(c: JobChecked) -> StepResult {
    match c {
        JobChecked::Done(r) => r,
        JobChecked::LookUp(_) => panic!("expected a result, got a lookup"),
    }
}

#[test]
fn a_pending_job_is_checked_again_later() {
    let p = Policy::default();
    let r = done(order::job_checked(
        ordered(),
        JobState::Pending,
        false,
        NOW,
        &p,
    ));
    assert_eq!(
        r.write.record.next_attempt_at,
        Some(NOW + p.job_check_after)
    );
    assert!(r.write.events.is_empty() && r.error.is_none());
}

#[test]
fn a_job_waiting_for_approval_is_noted_once_and_checked_again_later() {
    let p = Policy::default();
    let first = done(order::job_checked(
        ordered(),
        JobState::AwaitingApproval,
        false,
        NOW,
        &p,
    ));
    assert_eq!(kinds(&first.write), ["approval-pending"]);
    assert!(first.write.events[0].detail.starts_with("job 11 "));
    assert_eq!(
        first.write.record.next_attempt_at,
        Some(NOW + p.job_check_after)
    );
    let again = done(order::job_checked(
        ordered(),
        JobState::AwaitingApproval,
        true,
        NOW,
        &p,
    ));
    assert!(again.write.events.is_empty() && again.error.is_none());
    assert_eq!(again.write.record.stage, Stage::Ordered);
}

#[test]
fn a_succeeded_job_naming_its_certificate_makes_it_ready_to_fetch() {
    let state = JobState::Succeeded {
        certificate_id: Some(7),
    };
    let r = done(order::job_checked(
        ordered(),
        state,
        false,
        NOW,
        &Policy::default(),
    ));
    assert_eq!(r.write.record.certificate_id, Some(7));
    assert_eq!(kinds(&r.write), ["job-succeeded"]);
}

#[test]
fn a_succeeded_job_without_a_certificate_or_a_gone_job_is_looked_up_by_name() {
    let p = Policy::default();
    let state = JobState::Succeeded {
        certificate_id: None,
    };
    assert!(matches!(
        order::job_checked(ordered(), state, false, NOW, &p),
        JobChecked::LookUp(_)
    ));
    assert!(matches!(
        order::job_checked(ordered(), JobState::Gone, false, NOW, &p),
        JobChecked::LookUp(_)
    ));
}

#[test]
fn a_failed_job_goes_back_to_key_ready_keeping_its_job_id() {
    let state = JobState::Failed {
        code: "X1".into(),
        text: "rejected".into(),
    };
    let r = done(order::job_checked(
        ordered(),
        state,
        false,
        NOW,
        &Policy::default(),
    ));
    assert_eq!(r.write.record.stage, Stage::KeyReady);
    assert_eq!(r.write.record.job_id, Some(11));
    assert_eq!(r.error.unwrap().code, "job-failed:X1");
}

#[test]
fn a_lookup_after_the_job_finds_the_certificate_or_waits_or_fails_for_good() {
    let p = Policy::default();
    let found = FoundOrder {
        job_id: None,
        certificate_id: Some(7),
        issued: true,
    };
    let r = order::found_after_job(ordered(), Ok(Some(found)), NOW, &p);
    assert_eq!(r.write.record.certificate_id, Some(7));
    let running = FoundOrder {
        issued: false,
        ..found
    };
    let r = order::found_after_job(ordered(), Ok(Some(running)), NOW, &p);
    assert_eq!(
        r.write.record.next_attempt_at,
        Some(NOW + p.job_check_after)
    );
    let r = order::found_after_job(ordered(), Ok(None), NOW, &p);
    let e = r.error.unwrap();
    assert_eq!(
        (e.code.as_str(), e.class),
        ("order-vanished", ErrorClass::Permanent)
    );
    assert_eq!(
        r.write.record.stage,
        Stage::Ordered,
        "never re-ordered from here"
    );
}

#[test]
fn a_checked_certificate_makes_the_record_issued_with_its_facts() {
    let mut r = ordered();
    r.bundle_password = Some(Secret::new("old".into()));
    let cert = IssuedCertificate {
        certificate_pem: "CERT".into(),
        chain_pem: "CHAIN".into(),
    };
    let t = certificate::certificate_checked(r, 7, cert, &facts());
    assert_eq!(t.record.stage, Stage::Issued);
    assert_eq!(t.record.serial.as_deref(), Some("0a"));
    assert!(t.record.bundle_password.is_none());
    assert_eq!(kinds(&t), ["issued"]);
}

#[test]
fn a_record_missing_what_a_step_needs_fails_permanently() {
    let r = certificate::incomplete(rec(Stage::Ordered), "no certificate id");
    assert_eq!(r.error.unwrap().class, ErrorClass::Permanent);
}

#[test]
fn a_chosen_password_makes_the_record_bundled_and_holds_the_password() {
    let t = certificate::bundled(issued(), Secret::new("pw".into()));
    assert_eq!(t.record.stage, Stage::Bundled);
    assert!(t.record.bundle_password.is_some());
    let found = certificate::stored_certificate(&issued()).expect("all stored");
    assert_eq!(found.2, "key-1");
}

#[test]
fn a_bundled_record_without_a_password_goes_back_to_choose_one() {
    let t = certificate::rebundle(rec(Stage::Bundled));
    assert_eq!(t.record.stage, Stage::Issued);
    assert_eq!(kinds(&t), ["rebundle"]);
}

#[test]
fn a_sent_bundle_waits_for_the_password_delay_or_keeps_the_claim_for_the_password() {
    match certificate::bundle_sent(issued(), NOW, Duration::minutes(10)) {
        BundleSent::PasswordLater(t) => {
            assert_eq!(t.record.next_attempt_at, Some(NOW + Duration::minutes(10)));
            assert!(t.record.lease_owner.is_none());
        }
        BundleSent::PasswordNow(_) => panic!("a delay sends the password later"),
    }
    let mut claimed = issued();
    claimed.lease_owner = Some("me".into());
    match certificate::bundle_sent(claimed, NOW, Duration::ZERO) {
        BundleSent::PasswordNow(t) => {
            assert_eq!(t.record.bundle_sent_at, Some(NOW));
            assert_eq!(t.record.lease_owner.as_deref(), Some("me"));
        }
        BundleSent::PasswordLater(_) => panic!("no delay sends the password now"),
    }
}

#[test]
fn a_sent_password_makes_the_record_delivered_and_forgets_the_password() {
    let mut r = issued();
    r.bundle_password = Some(Secret::new("pw".into()));
    let t = certificate::delivered(r, NOW);
    assert_eq!(t.record.stage, Stage::Delivered);
    assert_eq!(t.record.delivered_at, Some(NOW));
    assert!(t.record.bundle_password.is_none());
}

#[test]
fn a_revocation_ends_in_revoked_whether_it_ran_now_or_earlier_or_had_nothing_to_revoke() {
    let mut r = issued();
    r.request = Some(Request::Revoke);
    let t = certificate::revoked(r.clone(), 7, Revocation::Revoked);
    assert_eq!((t.record.stage, t.record.request), (Stage::Revoked, None));
    let t = certificate::revoked(r.clone(), 7, Revocation::AlreadyGone);
    assert!(t.events[0].detail.contains("no longer exists"));
    let t = certificate::nothing_to_revoke(r);
    assert_eq!(t.events[0].detail, "no certificate to revoke");
}

#[test]
fn a_due_renewal_starts_the_next_generation_replacing_the_certificate() {
    let mut r = issued();
    r.stage = Stage::Delivered;
    let t = certificate::renewal_started(r);
    assert_eq!(
        (t.record.stage, t.record.generation),
        (Stage::Discovered, 2)
    );
    assert_eq!(t.record.renew_of, Some(7));
    assert_eq!(kinds(&t), ["renewal-due"]);
}

#[test]
fn a_settled_success_releases_the_claim_and_clears_the_failure() {
    let mut r = issued();
    r.lease_owner = Some("me".into());
    r.failure.attempts = 2;
    r.failure.code = Some("x".into());
    let t = settle(
        Step::Bundle,
        StepResult::done(Transition::new(r)),
        NOW,
        BackoffPolicy::default(),
        &no_jitter,
    );
    assert!(t.record.lease_owner.is_none());
    assert_eq!(
        t.record.failure,
        Failure::default(),
        "issued clears the attempts too"
    );
    assert_eq!(t.record.updated_at, NOW);
}

#[test]
fn a_settled_failure_counts_an_attempt_and_gives_up_at_the_bound_or_on_a_permanent_error() {
    let b = BackoffPolicy::default();
    let t = settle(
        Step::GenerateKey,
        StepResult::failed(rec(Stage::Discovered), transient()),
        NOW,
        b,
        &no_jitter,
    );
    assert_eq!(t.record.failure.attempts, 1);
    assert_eq!(kinds(&t), ["step-failed"]);
    let perm = PortError::permanent("bad", "no");
    let t = settle(
        Step::GenerateKey,
        StepResult::failed(rec(Stage::Discovered), perm),
        NOW,
        b,
        &no_jitter,
    );
    assert!(t.record.failure.gave_up && t.record.next_attempt_at.is_none());
    assert_eq!(kinds(&t), ["gave-up"]);
}

#[test]
fn a_renew_or_reprovision_is_refused_while_an_order_is_open() {
    let r = ordering();
    assert!(request::refusal(&r, Request::Renew)
        .unwrap()
        .contains("outcome not yet known"));
    assert!(request::refusal(&ordered(), Request::Reprovision).is_some());
    assert!(request::refusal(&rec(Stage::Delivered), Request::Renew).is_none());
    assert!(request::refusal(&ordering(), Request::Redeliver).is_none());
}

#[test]
fn a_renew_of_a_revoked_certificate_is_refused_pointing_to_reprovision() {
    let r = rec(Stage::Revoked);
    let why = request::refusal(&r, Request::Renew).unwrap();
    assert!(why.contains(&format!("reprovision {}", r.address)), "{why}");
    assert!(request::refusal(&r, Request::Reprovision).is_none());
}

#[test]
fn a_redeliver_of_an_expired_certificate_is_refused_and_one_with_a_key_asks_the_key_store() {
    let mut r = issued();
    r.not_after = Some(NOW);
    assert!(matches!(
        request::redeliver_check(&r, Request::Redeliver, NOW),
        RedeliverCheck::Refused(_)
    ));
    assert_eq!(
        request::redeliver_check(&issued(), Request::Redeliver, NOW),
        RedeliverCheck::AskKeyStore("key-1".into())
    );
    assert!(request::key_store_answer(&issued(), Ok(false))
        .unwrap()
        .contains("not archived"));
    assert_eq!(request::key_store_answer(&issued(), Ok(true)), None);
}

#[test]
fn a_recorded_request_waits_on_the_record() {
    let t = request::requested(rec(Stage::Delivered), Request::Renew, NOW);
    assert_eq!(t.record.request, Some(Request::Renew));
    assert_eq!(kinds(&t), ["requested"]);
}

#[test]
fn provision_retries_only_a_record_that_gave_up() {
    assert!(request::retried(rec(Stage::KeyReady), NOW).is_none());
    let mut r = rec(Stage::KeyReady);
    r.failure.gave_up = true;
    let t = request::retried(r, NOW).unwrap();
    assert!(!t.record.failure.gave_up);
    assert_eq!(kinds(&t), ["retry"]);
}

fn apply(r: MailboxRecord, q: Request) -> Applied {
    request::apply_request(r, q, NOW, &Policy::default(), &no_jitter)
}

fn written(a: Applied) -> Transition {
    match a {
        Applied::Write(t) => t,
        Applied::CheckRedeliver(_) => panic!("expected a write"),
    }
}

#[test]
fn a_request_on_an_open_order_resumes_the_order_and_stays_pending() {
    let mut r = ordered();
    r.request = Some(Request::Renew);
    let t = written(apply(r, Request::Renew));
    assert_eq!(t.record.stage, Stage::Ordered);
    assert_eq!(t.record.request, Some(Request::Renew));
    assert!(t.record.next_attempt_at.is_some());
    assert_eq!(kinds(&t), ["retry"]);
}

#[test]
fn reprovision_renew_and_revoke_are_carried_out_on_a_settled_record() {
    let t = written(apply(issued(), Request::Reprovision));
    assert_eq!((t.record.generation, t.record.renew_of), (2, Some(7)));
    assert_eq!(kinds(&t), ["request-applied"]);
    let t = written(apply(issued(), Request::Revoke));
    assert_eq!((t.record.stage, t.record.request), (Stage::Revoked, None));
    assert!(matches!(
        apply(issued(), Request::Redeliver),
        Applied::CheckRedeliver(_)
    ));
}

#[test]
fn a_redeliver_sends_the_certificate_again_or_is_dropped_when_it_cannot_work() {
    let t = request::redeliver_applied(issued(), None);
    assert_eq!(t.record.stage, Stage::Issued);
    assert_eq!(kinds(&t), ["request-applied"]);
    let t = request::redeliver_applied(issued(), Some("key gone".into()));
    assert_eq!(t.events[0].detail, "redeliver: key gone");
    assert_eq!(kinds(&t), ["request-dropped"]);
}

#[test]
fn a_request_on_an_order_that_failed_for_good_starts_over_from_the_replaced_certificate() {
    let mut r = ordered();
    r.renew_of = Some(3);
    r.failure.gave_up = true;
    r.failure.class = Some(ErrorClass::Permanent);
    assert!(request::settled_failure(&r));
    let t = written(apply(r.clone(), Request::Renew));
    assert_eq!(t.record.renew_of, Some(3));
    let t = written(apply(r, Request::Redeliver));
    assert_eq!(kinds(&t), ["request-dropped"]);
}

fn notice(outcome: NoticeOutcome) -> Notice {
    Notice {
        message_id: Some(1),
        job_id: Some(11),
        ctid: None,
        certificate_id: Some(7),
        outcome,
    }
}

#[test]
fn a_success_notice_completes_the_open_order_and_a_repeat_is_a_duplicate() {
    let n = notice(NoticeOutcome::Success);
    assert!(notice::matches(&ordered(), &n));
    let NoticeApplied::Write(t, None) =
        notice::apply_notice(ordered(), &n, NOW, BackoffPolicy::default(), &no_jitter)
    else {
        panic!("expected a write");
    };
    assert_eq!(t.record.certificate_id, Some(7));
    assert!(matches!(
        notice::apply_notice(t.record, &n, NOW, BackoffPolicy::default(), &no_jitter),
        NoticeApplied::Duplicate
    ));
}

#[test]
fn a_failure_notice_sends_the_record_back_to_key_ready_with_the_jobs_error() {
    let n = notice(NoticeOutcome::Failed {
        code: "X1".into(),
        text: "rejected".into(),
    });
    let NoticeApplied::Write(t, Some(e)) =
        notice::apply_notice(ordered(), &n, NOW, BackoffPolicy::default(), &no_jitter)
    else {
        panic!("expected a write with an error");
    };
    assert_eq!(t.record.stage, Stage::KeyReady);
    assert_eq!(e.code, "job-failed:X1");
    assert_eq!(kinds(&t), ["job-failed"]);
}

#[test]
fn a_notice_that_is_not_a_completion_changes_nothing() {
    let n = notice(NoticeOutcome::Other);
    assert!(matches!(
        notice::apply_notice(ordered(), &n, NOW, BackoffPolicy::default(), &no_jitter),
        NoticeApplied::Duplicate
    ));
}

fn event(kind: &str, at: OffsetDateTime) -> Event {
    Event {
        id: 1,
        address: Address::parse("alice@example.com").unwrap(),
        at,
        generation: 1,
        kind: kind.into(),
        detail: String::new(),
    }
}

#[test]
fn a_give_up_not_told_or_a_failed_notice_owes_the_admin_a_notice_up_to_the_bound() {
    assert!(notice::owed_notice(&[event("gave-up", NOW)]).is_some());
    assert!(notice::owed_notice(&[event("gave-up", NOW), event("admin-notified", NOW)]).is_none());
    let failed: Vec<_> = (0..notice::MAX_NOTICE_ATTEMPTS)
        .map(|_| event("admin-notice-failed", NOW))
        .collect();
    assert!(notice::owed_notice(&failed[1..]).is_some());
    assert!(notice::owed_notice(&failed).is_none());
    let last = event("gave-up", NOW);
    assert!(!notice::notice_due(&last, NOW, notice::NOTICE_RETRY_AFTER));
    assert!(notice::notice_due(
        &last,
        NOW + notice::NOTICE_RETRY_AFTER,
        notice::NOTICE_RETRY_AFTER
    ));
}

#[test]
fn an_admin_notice_is_recorded_as_sent_or_failed_and_not_at_all_without_an_admin() {
    let e = transient();
    assert_eq!(notice::notice_event("job", &e, &Ok(false)), None);
    let sent = notice::notice_event("job", &e, &Ok(true)).unwrap();
    assert_eq!(
        (sent.kind, sent.detail.as_str()),
        (EventKind::AdminNotified, "job: http-503")
    );
    let failed = notice::notice_event("job", &e, &Err(transient())).unwrap();
    assert_eq!(failed.kind, EventKind::AdminNoticeFailed);
    assert_eq!(notice::stored_error(&rec(Stage::KeyReady)).code, "unknown");
}
