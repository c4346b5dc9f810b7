//! The reconciler against fakes of its ports: the happy path, exactly-once ordering through lost
//! answers, refusals, budget, failed jobs, duplicate and foreign poll messages, silent jobs,
//! renewal and removal with a controlled clock, operator requests, and two workers racing.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use smime_provisioner::pipeline::ports::{Notice, NoticeOutcome, PortError};
use smime_provisioner::pipeline::reconcile::NoticeHandled;
use smime_provisioner::pipeline::{
    ErrorClass, ForeignMessages, PollRound, RemovalPolicy, Request, Settings, Stage,
};
use smime_provisioner::store::Store;
use smime_provisioner::testkit::*;
use support::rig::*;
use time::Duration;

fn settings() -> Settings {
    Settings::default()
}

#[tokio::test]
async fn a_new_mailbox_is_ordered_once_and_delivered_with_the_password_apart() {
    let rig = Rig::new(FakeAutodns::instant(), settings());
    let a = addr("alice@example.com");
    rig.add(&a);
    rig.settle(&a).await;

    let r = rig.record(&a);
    assert_eq!(r.stage, Stage::Delivered);
    assert_eq!(rig.autodns.order_count(), 1);
    assert!(
        r.bundle_password.is_none(),
        "the password is forgotten once sent"
    );
    assert_eq!(
        rig.event_kinds(&a),
        [
            "discovered",
            "key-generated",
            "order-intent",
            "ordered",
            "job-succeeded",
            "issued",
            "bundled",
            "bundle-sent",
            "delivered"
        ]
    );
    let bundles = rig.courier.bundles_to(&a);
    let passwords = rig.courier.passwords_to(&a);
    assert_eq!((bundles.len(), passwords.len()), (1, 1));
    assert!(
        bundles[0].contains(&passwords[0]),
        "the password opens the bundle sent"
    );
    let log = format!("{:?}", rig.store.events(&a).unwrap());
    assert!(
        !log.contains(&passwords[0]),
        "no password in the audit trail"
    );
    assert_eq!(rig.autodns.s().contact_creates, 1);
}

#[tokio::test]
async fn duplicate_events_for_one_address_never_create_a_second_order() {
    let rig = Rig::new(FakeAutodns::instant(), settings());
    let a = addr("dup@example.com");
    for _ in 0..3 {
        rig.add(&a);
        rig.settle(&a).await;
    }
    assert_eq!(rig.autodns.order_count(), 1);
    assert_eq!(rig.courier.bundles_to(&a).len(), 1);
}

#[tokio::test]
async fn a_lost_order_answer_is_resolved_by_lookup_not_by_a_second_order() {
    let rig = Rig::new(FakeAutodns::instant(), settings());
    rig.autodns
        .s()
        .order_faults
        .push_back(OrderFault::LostAnswer);
    let a = addr("lost@example.com");
    rig.add(&a);
    rig.rec.reconcile(&a).await.unwrap();
    let r = rig.record(&a);
    assert_eq!(
        r.stage,
        Stage::Ordering,
        "outcome unknown: stays in ordering"
    );
    assert_eq!(r.failure.code.as_deref(), Some("timeout"));
    assert!(r.ctid.is_some() && r.job_id.is_none());

    rig.clock.advance(Duration::hours(1));
    rig.settle(&a).await;
    assert_eq!(rig.record(&a).stage, Stage::Delivered);
    assert_eq!(rig.autodns.order_count(), 1, "exactly one order");
    assert!(rig.event_kinds(&a).contains(&"order-found".to_string()));
}

#[tokio::test]
async fn an_order_that_never_reached_autodns_is_looked_up_then_sent_once() {
    let rig = Rig::new(FakeAutodns::instant(), settings());
    rig.autodns
        .s()
        .order_faults
        .push_back(OrderFault::Unavailable);
    let a = addr("u@example.com");
    rig.add(&a);
    rig.rec.reconcile(&a).await.unwrap();
    assert_eq!(rig.record(&a).stage, Stage::Ordering);
    rig.clock.advance(Duration::hours(1));
    rig.settle(&a).await;
    assert_eq!(rig.record(&a).stage, Stage::Delivered);
    assert_eq!(rig.autodns.order_count(), 1);
    let kinds = rig.event_kinds(&a);
    assert!(kinds.contains(&"order-not-found".to_string()), "{kinds:?}");
    assert_eq!(
        rig.store.orders_on(T0.date()).unwrap(),
        1,
        "the intent that was never placed is given back"
    );
}

#[tokio::test]
async fn a_refused_order_goes_back_to_key_ready_and_its_budget_is_given_back() {
    let rig = Rig::new(FakeAutodns::instant(), settings());
    rig.autodns
        .s()
        .order_faults
        .push_back(OrderFault::RateLimited);
    let a = addr("r@example.com");
    rig.add(&a);
    rig.rec.reconcile(&a).await.unwrap();
    let r = rig.record(&a);
    assert_eq!(r.stage, Stage::KeyReady);
    assert!(r.ctid.is_none());
    assert_eq!(r.failure.attempts, 1);
    assert!(r.next_attempt_at.unwrap() > T0);
    assert_eq!(rig.store.orders_on(T0.date()).unwrap(), 0);
    rig.clock.advance(Duration::hours(1));
    rig.settle(&a).await;
    assert_eq!(
        (rig.record(&a).stage, rig.autodns.order_count()),
        (Stage::Delivered, 1)
    );
}

#[tokio::test]
async fn the_daily_budget_stops_ordering_until_the_next_utc_day() {
    let mut s = settings();
    s.daily_order_budget = 2;
    let rig = Rig::new(FakeAutodns::instant(), s);
    let names: Vec<_> = ["a@example.com", "b@example.com", "c@example.com"]
        .into_iter()
        .map(addr)
        .collect();
    for a in &names {
        rig.add(a);
        rig.settle(a).await;
    }
    assert_eq!(rig.autodns.order_count(), 2);
    let c = rig.record(&names[2]);
    assert_eq!(
        (c.stage, c.key_ref.as_deref()),
        (Stage::Discovered, None),
        "no key for a mailbox that cannot be ordered today"
    );
    assert_eq!(rig.keys.generated.lock().unwrap().len(), 2);
    assert_eq!(c.failure.class, Some(ErrorClass::Budget));
    let midnight = time::macros::datetime!(2026-03-03 00:00 UTC);
    assert_eq!(c.next_attempt_at, Some(midnight));
    assert_eq!(rig.rec.metrics().get("alerts", "budget-exhausted"), 1);

    rig.clock.set(midnight);
    rig.settle(&names[2]).await;
    assert_eq!(rig.record(&names[2]).stage, Stage::Delivered);
    assert_eq!(rig.autodns.order_count(), 3);
}

#[tokio::test]
async fn a_failed_job_is_reordered_after_backoff_and_gives_up_after_the_bound() {
    let mut s = settings();
    s.policy.backoff.max_attempts = 3;
    let rig = Rig::new(FakeAutodns::instant(), s);
    rig.autodns.s().failing_orders = vec![0, 1, 2, 3];
    let a = addr("f@example.com");
    rig.add(&a);
    for _ in 0..3 {
        rig.settle(&a).await;
        rig.clock.advance(Duration::days(1));
    }
    let r = rig.record(&a);
    assert_eq!(
        rig.autodns.order_count(),
        3,
        "one order per attempt, bounded"
    );
    assert!(r.failure.gave_up);
    assert_eq!(r.status_label(), "failed (key-ready)");
    assert!(r
        .failure
        .text
        .as_deref()
        .unwrap_or("")
        .contains("CA rejected"));
    rig.clock.advance(Duration::days(30));
    rig.settle(&a).await;
    assert_eq!(
        rig.autodns.order_count(),
        3,
        "a record that gave up is left alone"
    );
}

#[tokio::test]
async fn poll_messages_are_confirmed_after_persisting_and_duplicates_are_harmless() {
    let rig = Rig::new(FakeAutodns::default(), settings());
    let a = addr("p@example.com");
    rig.add(&a);
    rig.rec.reconcile(&a).await.unwrap();
    assert_eq!(rig.record(&a).stage, Stage::Ordered);
    rig.autodns.complete_all();
    let msg = rig.autodns.s().poll_queue.front().cloned().unwrap();
    // The same message delivered twice (an unconfirmed message returned again), plus a push.
    rig.autodns.s().poll_queue.push_back(msg.clone());
    let round = rig.rec.poll_once(ForeignMessages::Confirm).await.unwrap();
    assert!(
        matches!(round, PollRound::Handled(ref h) if h.name() == "applied"),
        "{round:?}"
    );
    let id = msg.message_id.unwrap();
    assert_eq!(
        rig.store.poll_message(id).unwrap().unwrap().outcome,
        "applied"
    );
    assert!(rig
        .store
        .poll_message(id)
        .unwrap()
        .unwrap()
        .confirmed_at
        .is_some());
    let round = rig.rec.poll_once(ForeignMessages::Confirm).await.unwrap();
    assert!(
        matches!(round, PollRound::Handled(ref h) if h.name() == "duplicate"),
        "{round:?}"
    );
    assert_eq!(rig.autodns.s().confirmed, [id, id]);
    let push = Notice {
        message_id: None,
        ..msg
    };
    assert_eq!(
        rig.rec.handle_notice(&push).await.unwrap().name(),
        "duplicate"
    );
    rig.settle(&a).await;
    assert_eq!(rig.record(&a).stage, Stage::Delivered);
    assert_eq!(rig.autodns.order_count(), 1);
}

/// A failed job's message delivered again (AutoDNS repeating it, or a crash between the commit
/// and PollConfirm) is ours: a duplicate, confirmed, and it must not stop the queue when
/// foreign messages are left for another consumer.
#[tokio::test]
async fn a_repeated_failure_message_is_a_duplicate_and_does_not_block_the_queue() {
    let rig = Rig::new(FakeAutodns::default(), settings());
    rig.autodns.s().failing_orders = vec![0];
    let a = addr("again@example.com");
    rig.add(&a);
    rig.rec.reconcile(&a).await.unwrap();
    assert_eq!(rig.record(&a).stage, Stage::Ordered);
    rig.autodns.complete_all();
    let msg = rig.autodns.s().poll_queue.front().cloned().unwrap();
    let first = msg.message_id.unwrap();
    let repeat = Notice {
        message_id: Some(first + 100),
        ..msg.clone()
    };
    rig.autodns.s().poll_queue.push_back(repeat.clone());
    let round = rig.rec.poll_once(ForeignMessages::Leave).await.unwrap();
    assert_eq!(
        round,
        PollRound::Handled(NoticeHandled::Applied(a.clone())),
        "the failure is applied"
    );
    assert_eq!(rig.record(&a).stage, Stage::KeyReady, "back to re-order");
    let round = rig.rec.poll_once(ForeignMessages::Leave).await.unwrap();
    assert_eq!(
        round,
        PollRound::Handled(NoticeHandled::Duplicate(a.clone())),
        "the repeat is recognised as ours"
    );
    assert_eq!(rig.autodns.s().confirmed, [first, first + 100]);
    assert!(
        rig.autodns.s().poll_queue.is_empty(),
        "nothing blocks the queue"
    );
    let push = Notice {
        message_id: None,
        ..repeat
    };
    assert_eq!(
        rig.rec.handle_notice(&push).await.unwrap(),
        NoticeHandled::Duplicate(a.clone())
    );
    let kinds = rig.event_kinds(&a);
    assert_eq!(
        kinds.iter().filter(|k| *k == "job-failed").count(),
        1,
        "one failure recorded, not three: {kinds:?}"
    );
    // The re-order goes out after the backoff, with a new job; the old one is forgotten.
    rig.clock.advance(Duration::hours(1));
    rig.autodns.s().instant = true;
    rig.settle(&a).await;
    let r = rig.record(&a);
    assert_eq!(r.stage, Stage::Delivered);
    assert_eq!(rig.autodns.order_count(), 2);
    assert_ne!(r.job_id, msg.job_id);
}

/// Every give-up is committed first and told after; a process that dies in between owes the
/// admin a notice, which the next daemon start sends, once.
#[tokio::test]
async fn a_give_up_whose_notice_was_lost_in_a_crash_is_announced_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings();
    s.policy.backoff.max_attempts = 1;
    let first = Rig::on_store(
        Arc::new(Store::open(dir.path()).unwrap()),
        FakeAutodns::instant(),
        s,
        1,
    );
    first.autodns.s().failing_orders = vec![0];
    *first.courier.notices_hang.lock().unwrap() = true;
    let a = addr("lost-notice@example.com");
    first.add(&a);
    tokio::select! {
        _ = first.settle(&a) => panic!("the give-up should have reached its admin notice"),
        _ = first.courier.notice_reached.notified() => {}
    }
    // The process is gone: the give-up is stored, its notice is not.
    assert!(first.record(&a).failure.gave_up);
    assert_eq!(
        first.event_kinds(&a).last().map(String::as_str),
        Some("gave-up")
    );
    assert!(first.courier.admin_notices().is_empty());

    // The next start, on the same store file.
    let second = Rig::on_store(
        Arc::new(Store::open(dir.path()).unwrap()),
        first.autodns.clone(),
        s,
        2,
    );
    assert_eq!(
        second
            .rec
            .notify_unannounced_give_ups(Duration::ZERO)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        second.courier.admin_notices(),
        [Sent::AdminNotice(
            a.clone(),
            "key-ready".into(),
            "job-failed:EF400139".into()
        )]
    );
    assert_eq!(
        second.event_kinds(&a).last().map(String::as_str),
        Some("admin-notified")
    );
    // Owed once: the start after that sends nothing.
    assert_eq!(
        second
            .rec
            .notify_unannounced_give_ups(Duration::ZERO)
            .await
            .unwrap(),
        0
    );
    assert_eq!(second.courier.admin_notices().len(), 1);
    assert_eq!(second.autodns.order_count(), 1, "nothing re-ordered");
}

/// A notice that fails (the mail server is down) is owed: the daemon's sweep sends it again once
/// it is `NOTICE_RETRY_AFTER` old, never sooner (a worker may be sending it), and stops after
/// `MAX_NOTICE_ATTEMPTS` failed tries.
#[tokio::test]
async fn a_failed_admin_notice_is_retried_by_the_sweep_after_a_while_and_then_given_up() {
    use smime_provisioner::pipeline::reconcile::{MAX_NOTICE_ATTEMPTS, NOTICE_RETRY_AFTER};
    let mut s = settings();
    s.policy.backoff.max_attempts = 1;
    let rig = Rig::new(FakeAutodns::instant(), s);
    rig.autodns.s().failing_orders = vec![0];
    *rig.courier.fail_notices.lock().unwrap() = 1;
    let a = addr("unlucky@example.com");
    rig.add(&a);
    rig.settle(&a).await;
    assert!(rig.record(&a).failure.gave_up);
    assert_eq!(
        rig.event_kinds(&a).last().map(String::as_str),
        Some("admin-notice-failed")
    );
    let notices = || rig.courier.admin_notices().len();
    assert_eq!(notices(), 0);
    // Too soon: a worker could be telling the admin right now.
    let sweep = || rig.rec.notify_unannounced_give_ups(NOTICE_RETRY_AFTER);
    assert_eq!(sweep().await.unwrap(), 0);
    rig.clock.advance(NOTICE_RETRY_AFTER);
    assert_eq!(sweep().await.unwrap(), 1);
    assert_eq!(notices(), 1, "the mail server is back: the notice goes out");
    assert_eq!(
        rig.event_kinds(&a).last().map(String::as_str),
        Some("admin-notified")
    );
    rig.clock.advance(NOTICE_RETRY_AFTER);
    assert_eq!(sweep().await.unwrap(), 0, "told once");

    // Another mailbox, and a mail server that stays down: bounded tries.
    let b = addr("unluckier@example.com");
    rig.autodns.s().failing_orders = vec![1];
    *rig.courier.fail_notices.lock().unwrap() = u32::MAX;
    rig.add(&b);
    rig.settle(&b).await;
    for _ in 0..MAX_NOTICE_ATTEMPTS + 3 {
        rig.clock.advance(NOTICE_RETRY_AFTER);
        sweep().await.unwrap();
    }
    let failed = rig
        .event_kinds(&b)
        .iter()
        .filter(|k| *k == "admin-notice-failed")
        .count();
    assert_eq!(failed, MAX_NOTICE_ATTEMPTS);
    assert_eq!(notices(), 1);
}

#[tokio::test]
async fn foreign_poll_messages_are_confirmed_or_left_per_config() {
    let rig = Rig::new(FakeAutodns::default(), settings());
    let foreign = Notice {
        message_id: Some(99),
        job_id: Some(123_456),
        ctid: Some("someone-else".into()),
        certificate_id: None,
        outcome: NoticeOutcome::Success,
    };
    rig.autodns.s().poll_queue.push_back(foreign.clone());
    assert_eq!(
        rig.rec.poll_once(ForeignMessages::Leave).await.unwrap(),
        PollRound::Blocked
    );
    assert!(rig.autodns.s().confirmed.is_empty());
    let round = rig.rec.poll_once(ForeignMessages::Confirm).await.unwrap();
    assert!(matches!(round, PollRound::Handled(ref h) if h.name() == "foreign"));
    assert_eq!(rig.autodns.s().confirmed, [99]);
    assert_eq!(rig.store.poll_message(99).unwrap().unwrap().address, None);
    assert!(
        rig.store.list().unwrap().is_empty(),
        "a foreign message creates nothing"
    );
}

#[tokio::test]
async fn a_job_that_stays_silent_is_checked_directly_after_the_timeout() {
    let rig = Rig::new(FakeAutodns::default(), settings());
    let a = addr("s@example.com");
    rig.add(&a);
    rig.rec.reconcile(&a).await.unwrap();
    // The job finishes but its poll message is lost.
    rig.autodns.complete_all();
    rig.autodns.s().poll_queue.clear();
    rig.rec.reconcile(&a).await.unwrap();
    assert_eq!(
        rig.record(&a).stage,
        Stage::Ordered,
        "before the silence timeout: wait"
    );
    rig.clock.advance(settings().policy.job_check_after);
    rig.rec.reconcile(&a).await.unwrap();
    assert_eq!(rig.record(&a).stage, Stage::Delivered);
}

#[tokio::test]
async fn renewal_happens_at_the_margin_with_a_fresh_key_and_one_renewal_order() {
    let rig = Rig::new(FakeAutodns::instant(), settings());
    let a = addr("renew@example.com");
    rig.add(&a);
    rig.settle(&a).await;
    let first = rig.record(&a);
    let expiry = first.not_after.unwrap();

    rig.clock.set(expiry - Duration::days(31));
    rig.settle(&a).await;
    assert_eq!(
        rig.autodns.order_count(),
        1,
        "not due a day before the margin"
    );

    rig.clock.set(expiry - Duration::days(30));
    rig.settle(&a).await;
    let second = rig.record(&a);
    assert_eq!((second.stage, second.generation), (Stage::Delivered, 2));
    assert_eq!(rig.autodns.order_count(), 2);
    let order = rig.autodns.s().orders[1].clone();
    assert_eq!(
        order.renew_of, first.certificate_id,
        "sent as a renewal of the first"
    );
    assert_ne!(second.key_ref, first.key_ref, "a fresh key");
    assert!(second.not_after.unwrap() > expiry);
    assert_eq!(rig.courier.bundles_to(&a).len(), 2);
}

#[tokio::test]
async fn a_removed_mailbox_keeps_its_certificate_under_the_keep_policy() {
    let rig = Rig::new(FakeAutodns::instant(), settings());
    let a = addr("gone@example.com");
    rig.add(&a);
    rig.settle(&a).await;
    rig.store.observe_gone(&a, T0).unwrap();
    rig.clock.advance(Duration::days(400));
    rig.settle(&a).await;
    let r = rig.record(&a);
    assert_eq!((r.stage, r.present), (Stage::Delivered, false));
    assert!(rig.autodns.s().revoked.is_empty());
    assert_eq!(
        rig.autodns.order_count(),
        1,
        "no renewal for a removed mailbox"
    );
    assert_eq!(r.status_label(), "delivered, removed");
}

#[tokio::test]
async fn a_removed_mailbox_is_revoked_after_the_grace_period_under_the_revoke_policy() {
    let mut s = settings();
    s.policy.removal = RemovalPolicy::Revoke {
        grace: Duration::days(7),
    };
    let rig = Rig::new(FakeAutodns::instant(), s);
    let a = addr("leaver@example.com");
    rig.add(&a);
    rig.settle(&a).await;
    rig.store.observe_gone(&a, T0).unwrap();
    rig.clock.advance(Duration::days(6));
    rig.settle(&a).await;
    assert!(
        rig.autodns.s().revoked.is_empty(),
        "inside the grace period"
    );
    rig.clock.advance(Duration::days(1));
    rig.settle(&a).await;
    let r = rig.record(&a);
    assert_eq!(r.stage, Stage::Revoked);
    assert_eq!(rig.autodns.s().revoked, [r.certificate_id.unwrap()]);
}

#[tokio::test]
async fn a_mailbox_removed_before_its_order_is_never_ordered() {
    let rig = Rig::new(FakeAutodns::instant(), settings());
    let a = addr("brief@example.com");
    rig.add(&a);
    rig.rec.step(&a).await.unwrap(); // key generated
    rig.store.observe_gone(&a, T0).unwrap();
    rig.settle(&a).await;
    assert_eq!(rig.autodns.order_count(), 0);
    assert_eq!(rig.record(&a).stage, Stage::KeyReady);
}

#[tokio::test]
async fn redeliver_sends_the_same_certificate_with_a_new_password_and_buys_nothing() {
    let rig = Rig::new(FakeAutodns::instant(), settings());
    let a = addr("again@example.com");
    rig.add(&a);
    rig.settle(&a).await;
    rig.rec.request(&a, Request::Redeliver).unwrap();
    rig.settle(&a).await;
    assert_eq!(rig.autodns.order_count(), 1);
    let pw = rig.courier.passwords_to(&a);
    assert_eq!(pw.len(), 2);
    assert_ne!(pw[0], pw[1]);
    let r = rig.record(&a);
    assert_eq!((r.stage, r.request), (Stage::Delivered, None));
}

#[tokio::test]
async fn redeliver_of_an_expired_certificate_is_refused_and_points_to_renew() {
    let rig = Rig::new(FakeAutodns::instant(), settings());
    let a = addr("late@example.com");
    rig.add(&a);
    rig.settle(&a).await;
    let expiry = rig.record(&a).not_after.unwrap();
    rig.clock.advance(expiry - T0 + Duration::minutes(1));
    let err = rig
        .rec
        .request(&a, Request::Redeliver)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("expired on") && err.contains("renew late@example.com"),
        "{err}"
    );
    let r = rig.record(&a);
    assert_eq!(r.request, None, "nothing recorded");
    assert_eq!(
        rig.courier.passwords_to(&a).len(),
        1,
        "nothing mailed again"
    );
}

#[tokio::test]
async fn reprovision_orders_a_new_certificate_with_a_new_key() {
    let rig = Rig::new(FakeAutodns::instant(), settings());
    let a = addr("again@example.com");
    rig.add(&a);
    rig.settle(&a).await;
    let first = rig.record(&a);
    rig.rec.request(&a, Request::Reprovision).unwrap();
    rig.settle(&a).await;
    let second = rig.record(&a);
    assert_eq!((second.stage, second.generation), (Stage::Delivered, 2));
    assert_eq!(rig.autodns.order_count(), 2);
    let replaced = rig.autodns.s().orders[1].renew_of;
    assert_eq!(
        replaced, first.certificate_id,
        "the order names the certificate it replaces"
    );
    assert_ne!(first.key_ref, second.key_ref);
}

#[tokio::test]
async fn revoke_on_request_revokes_the_current_certificate() {
    let rig = Rig::new(FakeAutodns::instant(), settings());
    let a = addr("rv@example.com");
    rig.add(&a);
    rig.settle(&a).await;
    rig.rec.request(&a, Request::Revoke).unwrap();
    rig.settle(&a).await;
    let r = rig.record(&a);
    assert_eq!(r.stage, Stage::Revoked);
    assert_eq!(rig.autodns.s().revoked, [r.certificate_id.unwrap()]);
}

#[tokio::test]
async fn a_failed_password_mail_is_retried_without_resending_the_bundle() {
    let rig = Rig::new(FakeAutodns::instant(), settings());
    *rig.courier.fail_passwords.lock().unwrap() = 1;
    let a = addr("pw@example.com");
    rig.add(&a);
    rig.settle(&a).await;
    let r = rig.record(&a);
    assert_eq!(r.stage, Stage::Bundled);
    assert!(r.bundle_sent_at.is_some());
    assert_eq!(r.failure.code.as_deref(), Some("smtp-421"));
    rig.clock.advance(Duration::hours(1));
    rig.settle(&a).await;
    let bundles = rig.courier.bundles_to(&a);
    let pw = rig.courier.passwords_to(&a);
    assert_eq!((bundles.len(), pw.len()), (1, 1));
    assert!(
        bundles[0].contains(&pw[0]),
        "the password sent opens the bundle sent earlier"
    );
}

#[tokio::test]
async fn a_certificate_that_does_not_match_the_key_is_never_delivered() {
    let rig = Rig::new(FakeAutodns::instant(), settings());
    rig.autodns.s().wrong_key = true;
    let a = addr("mismatch@example.com");
    rig.add(&a);
    rig.settle(&a).await;
    let r = rig.record(&a);
    assert_eq!(r.stage, Stage::Ordered);
    assert!(r.failure.gave_up);
    assert_eq!(r.failure.code.as_deref(), Some("key-mismatch"));
    // Nothing reaches the mailbox; only the admin is told that it gave up.
    assert!(rig.courier.bundles_to(&a).is_empty());
    assert!(rig.courier.passwords_to(&a).is_empty());
    assert!(matches!(
        rig.courier.sent().as_slice(),
        [Sent::AdminNotice(x, _, code)] if x == &a && code == "key-mismatch"
    ));
}

#[tokio::test]
async fn an_autodns_outage_backs_off_and_recovers_without_duplicate_orders() {
    let rig = Rig::new(FakeAutodns::instant(), settings());
    let names: Vec<_> = (0..5).map(|i| addr(&format!("o{i}@example.com"))).collect();
    for a in &names {
        rig.add(a);
        rig.rec.step(a).await.unwrap(); // keys ready
    }
    rig.autodns.s().down = Some(PortError::transient("http-503", "service unavailable"));
    for a in &names {
        rig.rec.reconcile(a).await.unwrap();
    }
    let waits: Vec<_> = names
        .iter()
        .map(|a| rig.record(a).next_attempt_at.unwrap())
        .collect();
    assert!(waits.iter().all(|t| *t > T0));
    rig.autodns.s().down = None;
    rig.clock.advance(Duration::hours(2));
    for a in &names {
        rig.settle(a).await;
        assert_eq!(rig.record(a).stage, Stage::Delivered);
        assert_eq!(rig.autodns.orders_for(a), 1);
    }
}

#[tokio::test]
async fn two_workers_on_one_store_file_order_each_mailbox_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut autodns = FakeAutodns::instant();
    autodns.order_delay = StdDuration::from_millis(20);
    let one = Rig::on_store(
        Arc::new(Store::open(dir.path()).unwrap()),
        autodns.clone(),
        settings(),
        1,
    );
    let two = Rig::on_store(
        Arc::new(Store::open(dir.path()).unwrap()),
        autodns.clone(),
        settings(),
        2,
    );
    let names: Vec<_> = (0..10)
        .map(|i| addr(&format!("w{i}@example.com")))
        .collect();
    for a in &names {
        one.add(a);
    }
    let store = one.store.clone();
    let one_rec = one
        .rec
        .with_owner(&smime_provisioner::pipeline::lease::current_owner());
    // A live process other than this one (pid 1 always runs), so its claims are honoured.
    let two_rec = two.rec.with_owner(&format!("1:{}", proc_start(1)));
    for _ in 0..10 {
        tokio::join!(
            async {
                for a in &names {
                    one_rec.reconcile(a).await.unwrap();
                    let _ = one_rec.poll_once(ForeignMessages::Confirm).await;
                }
            },
            async {
                for a in names.iter().rev() {
                    two_rec.reconcile(a).await.unwrap();
                    let _ = two_rec.poll_once(ForeignMessages::Confirm).await;
                }
            }
        );
    }
    for a in &names {
        assert_eq!(autodns.orders_for(a), 1, "{a}");
        assert_eq!(
            store.get(a).unwrap().unwrap().stage,
            Stage::Delivered,
            "{a}"
        );
    }
}

fn proc_start(pid: u32) -> String {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 1..];
    rest.split_whitespace().nth(19).unwrap().to_string()
}

#[tokio::test]
async fn the_password_follows_the_bundle_after_the_configured_delay() {
    let mut s = settings();
    s.password_delay = Duration::minutes(5);
    let rig = Rig::new(FakeAutodns::instant(), s);
    let a = addr("later@example.com");
    rig.add(&a);
    rig.settle(&a).await;
    let r = rig.record(&a);
    assert_eq!(
        r.stage,
        Stage::Bundled,
        "the bundle is out, the password waits"
    );
    assert_eq!(rig.courier.bundles_to(&a).len(), 1);
    assert!(rig.courier.passwords_to(&a).is_empty());
    assert_eq!(r.next_attempt_at, Some(T0 + Duration::minutes(5)));
    rig.clock.advance(Duration::minutes(5));
    rig.settle(&a).await;
    assert_eq!(rig.record(&a).stage, Stage::Delivered);
    assert_eq!(
        (
            rig.courier.bundles_to(&a).len(),
            rig.courier.passwords_to(&a).len()
        ),
        (1, 1)
    );
}
