//! A verb run in another process (`renew --no-wait`, …) only records its request in the shared
//! SQLite store; the running daemon must take it up promptly, not at its next full re-plan. Here
//! the daemon's re-plan interval is an hour, and a second store connection — what the verb's
//! process holds — records a renewal: the daemon orders and delivers it all the same.

use std::sync::Arc;
use std::time::Duration;

use smime_provisioner::daemon::{Daemon, DaemonSettings, Seen};
use smime_provisioner::mailbox::Address;
use smime_provisioner::pipeline::{ForeignMessages, Request, Stage};
use smime_provisioner::simulator::Faults;
use support::live::*;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    // Generous: the daemon acts within about a second; 300 s still tells that apart from the
    // hour's resync, and a loaded CI machine does not fail a correct daemon.
    for _ in 0..3000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("gave up waiting for: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_recorded_by_another_process_is_taken_up_without_waiting_for_the_resync() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_simulator(Faults::default(), Duration::from_millis(100), 51).await;
    let config = parse_config(
        &config_text(dir.path(), &sim.json_url(), "json", ""),
        dir.path(),
    );
    let daemon_side = Arc::new(live_reconciler(&config, None));
    let store = daemon_side.store().clone();
    let settings = DaemonSettings {
        concurrency: 2,
        poll_interval: Duration::from_millis(200),
        resync_interval: Duration::from_secs(3600),
        foreign: ForeignMessages::Confirm,
        ..DaemonSettings::default()
    };
    let (tx, rx) = mpsc::channel(8);
    let stop = CancellationToken::new();
    let run = tokio::spawn(Daemon::new(daemon_side, settings, None).run(rx, None, stop.clone()));
    let address = Address::parse("rita@example.com").unwrap();
    tx.send(Seen::Present(address.clone())).await.unwrap();
    wait_for("the first delivery", || {
        store
            .get(&address)
            .unwrap()
            .is_some_and(|r| r.stage == Stage::Delivered)
    })
    .await;
    let first = store.get(&address).unwrap().unwrap();

    // The verb's process: its own connection to the same database file.
    let verb_side = live_reconciler(&config, None);
    verb_side.request(&address, Request::Renew).unwrap();

    wait_for("the renewal ordered and delivered by the daemon", || {
        store.get(&address).unwrap().is_some_and(|r| {
            r.stage == Stage::Delivered && r.certificate_id != first.certificate_id
        })
    })
    .await;
    let renewed = store.get(&address).unwrap().unwrap();
    assert!(renewed.generation > first.generation, "{renewed:?}");
    assert_ne!(renewed.fingerprint, first.fingerprint);
    stop.cancel();
    run.await.unwrap().unwrap();
    sim.shutdown().await;
}
