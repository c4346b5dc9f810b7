//! Crash safety of the reconciler, in-process: a "process death" is injected at every crash
//! point of a run (before and after each outside call's effect: key store, AutoDNS, mail), the
//! whole reconcile future is dropped as SIGKILL would drop it, and a new reconciler on the
//! reopened store file finishes the work. Each run must end with every mailbox delivered, exactly
//! one order per mailbox, and the password delivered opening every bundle delivered.
//! (The same property through a real `run` process and SIGKILL needs the simulator; see
//! `sigkill.rs`.)

use std::sync::Arc;

use smime_provisioner::pipeline::{Settings, Stage};
use smime_provisioner::store::Store;
use smime_provisioner::testkit::*;
use support::rig::*;
use time::Duration;

const DEAD_OWNER: &str = "4194304999:1";

async fn settle_all(rig: &Rig, names: &[smime_provisioner::mailbox::Address]) {
    for a in names {
        rig.settle(a).await;
    }
}

/// Runs the scenario once with a death at crash point `at` (0 = no death); returns how many crash
/// points the first process passed.
async fn run_with_death_at(at: usize, poll_only: bool) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let autodns = if poll_only {
        FakeAutodns::default()
    } else {
        FakeAutodns::instant()
    };
    let names: Vec<_> = (0..3).map(|i| addr(&format!("m{i}@example.com"))).collect();
    let clock;
    let keys;
    let courier;
    let passed;
    {
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let mut first = Rig::on_store(store, autodns.clone(), Settings::default(), 1);
        first.rec = first.rec.with_owner(DEAD_OWNER);
        for a in &names {
            first.add(a);
        }
        first.trip.arm(at);
        let work = async {
            settle_all(&first, &names).await;
            if poll_only {
                first.autodns.complete_all();
                settle_all(&first, &names).await;
            }
        };
        tokio::select! {
            _ = work => {}
            _ = first.trip.hit.notified() => {}
        }
        passed = first.trip.points();
        clock = first.clock.clone();
        keys = first.keys.clone();
        courier = first.courier.clone();
    }
    // Restart: a new process on the same file, the same AutoDNS, the same mail system.
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let second = Rig::with_parts(
        store,
        autodns.clone(),
        keys,
        courier,
        clock,
        Settings::default(),
        2,
    );
    second.rec.release_dead_claims().unwrap();
    for _ in 0..3 {
        settle_all(&second, &names).await;
        autodns.complete_all();
        settle_all(&second, &names).await;
        second.clock.advance(Duration::hours(1));
    }
    for a in &names {
        let r = second.record(a);
        assert_eq!(
            r.stage,
            Stage::Delivered,
            "death at point {at}: {a} ended {}",
            r.status_label()
        );
        assert_eq!(
            autodns.orders_for(a),
            1,
            "death at point {at}: {a} ordered twice"
        );
        let bundles = second.courier.bundles_to(a);
        let passwords = second.courier.passwords_to(a);
        let last = passwords
            .last()
            .unwrap_or_else(|| panic!("death at {at}: no password for {a}"));
        for b in &bundles {
            assert!(
                b.contains(last.as_str()),
                "death at {at}: a bundle the password does not open"
            );
        }
        assert!(r.lease_owner.is_none());
    }
    passed
}

#[tokio::test]
async fn a_death_at_any_crash_point_ends_delivered_with_one_order_per_mailbox() {
    let total = run_with_death_at(0, false).await;
    eprintln!("crash points in a clean run: {total}");
    assert!(
        total > 20,
        "the scenario passes through {total} crash points"
    );
    for at in 1..=total {
        run_with_death_at(at, false).await;
    }
}

#[tokio::test]
async fn a_death_at_any_crash_point_with_completion_by_poll_ends_with_one_order_per_mailbox() {
    let total = run_with_death_at(0, true).await;
    eprintln!("crash points in a clean run: {total}");
    assert!(
        total > 20,
        "the scenario passes through {total} crash points"
    );
    for at in 1..=total {
        run_with_death_at(at, true).await;
    }
}
