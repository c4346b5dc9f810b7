//! Operator requests against the reconciler over port fakes: a request
//! belongs to the generation it was made for, so running `reprovision`/`renew` again while a
//! replacement order is open is refused instead of buying a third certificate; and a record
//! that gave up for good on an order (key check refused the certificate) can be reprovisioned
//! without re-running the failed check in a loop against AutoDNS.

use smime_provisioner::pipeline::{Outcome, ReconcileError, Request, Settings, Stage};
use smime_provisioner::testkit::*;
use support::rig::*;
use time::Duration;

async fn delivered(rig: &Rig, a: &smime_provisioner::mailbox::Address) {
    rig.add(a);
    rig.rec.reconcile(a).await.unwrap();
    rig.autodns.complete_all();
    rig.settle(a).await;
    assert_eq!(rig.record(a).stage, Stage::Delivered);
    assert_eq!(rig.autodns.order_count(), 1);
}

#[tokio::test]
async fn a_second_reprovision_while_the_first_replacement_is_open_is_refused_and_buys_once() {
    let rig = Rig::new(FakeAutodns::default(), Settings::default());
    let a = addr("rr@example.com");
    delivered(&rig, &a).await;

    rig.rec.request(&a, Request::Reprovision).unwrap();
    rig.settle(&a).await; // generation 2 ordered, job pending (CA approval)
    assert_eq!(rig.record(&a).stage, Stage::Ordered);
    assert_eq!(rig.autodns.order_count(), 2);

    // The operator runs the verb again while the order is open.
    let err = rig.rec.request(&a, Request::Reprovision).unwrap_err();
    assert!(
        matches!(err, ReconcileError::Refused { .. }),
        "expected a refusal, got {err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("generation 2"), "{text}");
    assert!(text.contains("status rr@example.com"), "{text}");
    assert_eq!(
        rig.record(&a).request,
        None,
        "the refused request was recorded"
    );

    rig.settle(&a).await;
    rig.autodns.complete_all();
    rig.settle(&a).await;
    rig.autodns.complete_all();
    rig.settle(&a).await;
    let r = rig.record(&a);
    assert_eq!(r.stage, Stage::Delivered);
    assert_eq!(
        r.generation, 2,
        "generation 2 (paid) must be the one delivered"
    );
    assert_eq!(
        rig.autodns.order_count(),
        2,
        "one reprovision intent bought two certificates"
    );
}

#[tokio::test]
async fn renew_while_an_automatic_renewal_is_in_flight_is_refused() {
    let rig = Rig::new(FakeAutodns::default(), Settings::default());
    let a = addr("auto@example.com");
    delivered(&rig, &a).await;
    // Move to the renewal window: the planner starts generation 2 by itself.
    let not_after = rig.record(&a).not_after.unwrap();
    rig.clock.set(not_after - Duration::days(10));
    rig.settle(&a).await;
    let r = rig.record(&a);
    assert_eq!((r.generation, r.stage), (2, Stage::Ordered));
    assert_eq!(rig.autodns.order_count(), 2);

    for q in [Request::Renew, Request::Reprovision] {
        let err = rig.rec.request(&a, q).unwrap_err();
        assert!(
            matches!(err, ReconcileError::Refused { .. }),
            "{q}: {err:?}"
        );
    }
    rig.autodns.complete_all();
    rig.settle(&a).await;
    assert_eq!(rig.record(&a).stage, Stage::Delivered);
    assert_eq!(rig.autodns.order_count(), 2);

    // Once delivered, the next reprovision is accepted again.
    rig.rec.request(&a, Request::Reprovision).unwrap();
    assert_eq!(rig.record(&a).request, Some(Request::Reprovision));
}

#[tokio::test]
async fn reprovision_while_the_first_certificate_is_being_obtained_is_refused() {
    let rig = Rig::new(FakeAutodns::default(), Settings::default());
    let a = addr("first@example.com");
    rig.add(&a);
    rig.rec.reconcile(&a).await.unwrap();
    assert_eq!(rig.record(&a).stage, Stage::Ordered);
    let err = rig.rec.request(&a, Request::Reprovision).unwrap_err();
    assert!(err.to_string().contains("generation 1 is open"), "{err}");
    assert_eq!(rig.record(&a).request, None);
    // Redeliver and revoke are not purchases and stay accepted.
    rig.rec.request(&a, Request::Revoke).unwrap();
}

#[tokio::test]
async fn reprovision_after_a_key_mismatch_starts_a_new_generation_instead_of_looping() {
    let rig = Rig::new(FakeAutodns::instant(), Settings::default());
    rig.autodns.s().wrong_key = true;
    let a = addr("mm@example.com");
    rig.add(&a);
    rig.settle(&a).await;
    let r = rig.record(&a);
    assert!(r.failure.gave_up);
    assert_eq!(r.stage, Stage::Ordered);
    assert_eq!(r.failure.code.as_deref(), Some("key-mismatch"));

    rig.autodns.s().wrong_key = false;
    rig.rec.request(&a, Request::Reprovision).unwrap();
    let before = rig.autodns.s().calls;
    rig.settle(&a).await;
    let r = rig.record(&a);
    assert_eq!(r.generation, 2);
    assert_eq!(r.stage, Stage::Delivered);
    assert_eq!(r.request, None);
    assert_eq!(rig.autodns.order_count(), 2);
    let calls = rig.autodns.s().calls - before;

    // The same work as a fresh mailbox and nothing more: no re-run of the failed check.
    let b = addr("fresh@example.com");
    rig.add(&b);
    let before = rig.autodns.s().calls;
    rig.settle(&b).await;
    assert_eq!(rig.record(&b).stage, Stage::Delivered);
    let fresh = rig.autodns.s().calls - before;
    assert_eq!(
        calls, fresh,
        "a reprovision after give-up cost more calls than a new mailbox"
    );
    assert!(!rig.event_kinds(&a).iter().any(|k| k == "retry"));
}

#[tokio::test]
async fn a_record_that_keeps_failing_with_a_pending_request_is_not_replanned_at_once() {
    let rig = Rig::new(FakeAutodns::instant(), Settings::default());
    rig.autodns.s().wrong_key = true;
    let a = addr("loop@example.com");
    rig.add(&a);
    rig.settle(&a).await;
    assert!(rig.record(&a).failure.gave_up);
    rig.rec.request(&a, Request::Reprovision).unwrap();
    // The new generation fails the key check again and gives up: the reprovision was applied,
    // so nothing is pending and nothing is due.
    rig.settle(&a).await;
    let before = rig.autodns.s().calls;
    for _ in 0..5 {
        assert_eq!(rig.rec.reconcile(&a).await.unwrap(), Outcome::Idle);
    }
    assert_eq!(rig.autodns.s().calls, before);
    let r = rig.record(&a);
    assert_eq!((r.generation, r.request), (2, None));
    assert!(rig.rec.due().unwrap().0.is_empty());
}

fn admin_notices(rig: &Rig) -> Vec<(String, String, String)> {
    rig.courier
        .sent()
        .into_iter()
        .filter_map(|s| match s {
            Sent::AdminNotice(a, step, code) => Some((a.to_string(), step, code)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn the_admin_is_told_once_when_a_mailbox_gives_up_for_good() {
    let rig = Rig::new(FakeAutodns::instant(), Settings::default());
    rig.autodns.s().wrong_key = true;
    let a = addr("bad@example.com");
    rig.add(&a);
    rig.settle(&a).await;
    assert!(rig.record(&a).failure.gave_up);
    // Later passes (the daemon's resync) change nothing and tell no one again.
    rig.settle(&a).await;
    rig.rec.reconcile(&a).await.unwrap();
    assert_eq!(
        admin_notices(&rig),
        vec![(
            "bad@example.com".to_string(),
            "fetch-certificate".to_string(),
            "key-mismatch".to_string()
        )]
    );
    let kinds = rig.event_kinds(&a);
    assert_eq!(
        kinds.iter().filter(|k| *k == "admin-notified").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(kinds.last().map(String::as_str), Some("admin-notified"));

    // A new failure after the operator's retry is a new notice.
    rig.rec.request(&a, Request::Reprovision).unwrap();
    rig.settle(&a).await;
    assert_eq!(admin_notices(&rig).len(), 2);
}

#[tokio::test]
async fn a_transient_failure_does_not_tell_the_admin() {
    let rig = Rig::new(FakeAutodns::instant(), Settings::default());
    *rig.courier.fail_passwords.lock().unwrap() = 1;
    let a = addr("blip@example.com");
    rig.add(&a);
    rig.settle(&a).await;
    rig.clock.advance(Duration::hours(1));
    rig.settle(&a).await;
    assert_eq!(rig.record(&a).stage, Stage::Delivered);
    assert!(admin_notices(&rig).is_empty());
}

#[tokio::test]
async fn addresses_that_differ_only_in_case_are_one_mailbox_and_one_order() {
    use smime_provisioner::clock::Clock;
    use smime_provisioner::store::Observed;
    let rig = Rig::new(FakeAutodns::instant(), Settings::default());
    let ldif = addr("Alice.Smith@example.com");
    let hook = addr("alice.smith@example.com");
    rig.add(&ldif);
    let now = rig.clock.now();
    assert_eq!(
        rig.store.observe_present(&hook, now).unwrap(),
        Observed::CaseVariant
    );
    assert_eq!(
        rig.store.observe_present(&hook, now).unwrap(),
        Observed::CaseVariant
    );
    assert!(rig.store.get(&hook).unwrap().is_none());
    assert_eq!(rig.store.list().unwrap().len(), 1);
    let kinds = rig.event_kinds(&ldif);
    assert_eq!(
        kinds.iter().filter(|k| *k == "case-variant").count(),
        1,
        "one event per spelling, not per rescan: {kinds:?}"
    );

    let err = rig.rec.provision(&hook).unwrap_err();
    assert!(
        matches!(&err, ReconcileError::CaseVariant { existing, .. } if existing == &ldif),
        "{err:?}"
    );
    rig.settle(&ldif).await;
    assert_eq!(rig.record(&ldif).stage, Stage::Delivered);
    assert_eq!(rig.autodns.order_count(), 1);
}

/// An order whose answer was lost and which AutoDNS does not list yet is not
/// re-sent after one empty lookup; it is looked up again a job-check interval later.
#[tokio::test]
async fn an_order_not_listed_yet_after_a_lost_answer_is_looked_up_again_not_reordered() {
    // Not `instant`: the job waits (CA approval), so no poll message resolves it meanwhile.
    let rig = Rig::new(FakeAutodns::default(), Settings::default());
    rig.autodns
        .s()
        .order_faults
        .push_back(OrderFault::LostAnswer);
    rig.autodns.s().unlisted_lookups = 1;
    let a = addr("late@example.com");
    rig.add(&a);
    rig.settle(&a).await;
    assert_eq!(rig.record(&a).stage, Stage::Ordering);
    // Past the backoff (30 s base), well before the job-check interval (10 min).
    rig.clock.advance(Duration::minutes(1));
    rig.settle(&a).await;
    let r = rig.record(&a);
    assert_eq!(
        r.stage,
        Stage::Ordering,
        "left ordering on one empty lookup"
    );
    assert_eq!(rig.autodns.order_count(), 1);
    assert!(rig
        .event_kinds(&a)
        .iter()
        .any(|k| k == "order-not-listed-yet"));

    rig.clock
        .advance(Settings::default().policy.job_check_after);
    rig.settle(&a).await;
    assert_eq!(rig.record(&a).stage, Stage::Ordered);
    rig.autodns.complete_all();
    rig.settle(&a).await;
    assert_eq!(rig.record(&a).stage, Stage::Delivered);
    assert_eq!(
        rig.autodns.order_count(),
        1,
        "the lost order was bought twice"
    );
}
