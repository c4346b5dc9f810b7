//! The pipeline after a lost CertificateCreate answer, against the simulator over real HTTP in
//! both transports: the simulator carries out the order but drops its answer (fault
//! `drop_create_answers`), and lists the new certificate only once its job has ended (fault
//! `unlisted_until_issued`). The pipeline must find the order among the running jobs by its ctid
//! (job search, 400115 / `POST /job/_search`), continue with that job, and end with exactly one
//! order and the bundle delivered.
//!
//! No assertion is about time. The simulator runs on a manual clock, so its job stays running
//! until the test has seen the pipeline record the job found; the pipeline's job check is an
//! hour away, so a pipeline that did not find the order would sit in `order-not-listed-yet` for
//! 30 minutes (the listing grace) and the bounded wait below would fail, naming the events.

#[path = "pipeline_support/live.rs"]
mod live;

use std::sync::Arc;
use std::time::Duration;

use live::*;
use smime_provisioner::clock::ManualClock;
use smime_provisioner::daemon::{Daemon, DaemonSettings, Seen};
use smime_provisioner::mailbox::Address;
use smime_provisioner::pipeline::{ForeignMessages, Stage};
use smime_provisioner::simulator::{Faults, Simulator, SimulatorConfig, SimulatorHandle};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Event kinds that mean the pipeline did not find the order by job search.
const NOT_FOUND_KINDS: &[&str] = &["order-not-listed-yet", "order-not-found"];

async fn simulator_dropping_the_first_answer() -> (SimulatorHandle, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let mut cfg = SimulatorConfig::new(SIM_USER, SIM_PASSWORD);
    cfg.issuance_delay = Duration::from_secs(600);
    cfg.faults = Faults {
        drop_create_answers: 1,
        unlisted_until_issued: true,
        ..Faults::default()
    };
    cfg.seed = Some(41);
    cfg.clock = clock.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    (Simulator::start(cfg, listener).unwrap(), clock)
}

fn event_kinds(rec: &LiveReconciler, a: &Address) -> Vec<String> {
    rec.store()
        .events(a)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

/// Waits (bounded: 60 s in 100 ms steps) until `done` holds for the mailbox's record and events;
/// fails early when an event says the order was not found.
async fn wait_for(
    rec: &LiveReconciler,
    a: &Address,
    what: &str,
    done: impl Fn(&smime_provisioner::store::MailboxRecord, &[String]) -> bool,
) {
    for _ in 0..600 {
        let kinds = event_kinds(rec, a);
        if let Some(bad) = kinds.iter().find(|k| NOT_FOUND_KINDS.contains(&k.as_str())) {
            panic!("the lost order was not found by job search ({bad}); events: {kinds:?}");
        }
        if let Some(r) = rec.store().get(a).unwrap() {
            if done(&r, &kinds) {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = rec.store().get(a).unwrap();
    panic!(
        "{what}: not reached within 60 s; record {:?}; events {:?}",
        r.map(|r| r.status_label()),
        event_kinds(rec, a)
    );
}

async fn a_lost_order_answer_is_resolved_by_job_search(wire: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (sim, clock) = simulator_dropping_the_first_answer().await;
    let endpoint = if wire == "json" {
        sim.json_url()
    } else {
        sim.xml_url()
    };
    // A one-second client timeout turns the dropped answer into "outcome unknown" quickly.
    let text = config_text(dir.path(), &endpoint, wire, "")
        .replace("timeout_secs = 5", "timeout_secs = 1");
    let config = parse_config(&text, dir.path());
    let mut settings = smime_provisioner::pipeline::Settings::from_config(&config);
    // The job check (and with it the listing grace, at most 30 min) is far beyond the test's
    // bounded waits: only a lookup that finds the running job lets the test pass.
    settings.policy.job_check_after = time::Duration::hours(1);
    let rec = Arc::new(live_reconciler_with(&config, None, 100.0, settings));
    let anna = Address::parse("anna@example.com").unwrap();

    let daemon_settings = DaemonSettings {
        concurrency: 2,
        poll_interval: Duration::from_millis(300),
        resync_interval: Duration::from_millis(300),
        foreign: ForeignMessages::Confirm,
        ..DaemonSettings::default()
    };
    let (tx, rx) = mpsc::channel(8);
    let stop = CancellationToken::new();
    let run =
        tokio::spawn(Daemon::new(rec.clone(), daemon_settings, None).run(rx, None, stop.clone()));
    tx.send(Seen::Present(anna.clone())).await.unwrap();

    // 1. The answer is lost, the job still runs: the pipeline finds it and records its id.
    wait_for(&rec, &anna, "order found by job search", |r, kinds| {
        r.stage == Stage::Ordered && kinds.iter().any(|k| k == "order-found")
    })
    .await;
    let orders = sim.orders();
    assert_eq!(orders.len(), 1, "exactly one order so far: {orders:?}");
    assert_eq!(
        orders[0].status, "RUNNING",
        "the job was still running when it was found"
    );
    let r = rec.store().get(&anna).unwrap().unwrap();
    assert_eq!(
        r.job_id, orders[0].job_id,
        "the pipeline continues with the running job"
    );
    assert_eq!(r.ctid, orders[0].ctid, "the order found is the one sent");
    assert_eq!(r.certificate_id, None, "nothing issued yet");

    // 2. The job ends: its poll message completes the order, the bundle goes out.
    clock.advance(time::Duration::minutes(15));
    wait_for(&rec, &anna, "bundle delivered", |r, _| {
        r.stage == Stage::Delivered
    })
    .await;
    stop.cancel();
    run.await.unwrap().unwrap();

    let orders = sim.orders();
    assert_eq!(
        orders.len(),
        1,
        "the lost order was never sent again: {orders:?}"
    );
    assert_eq!(orders[0].name, anna.as_str());
    assert_eq!(orders[0].status, "SUCCESS");
    let kinds = event_kinds(&rec, &anna);
    assert_eq!(
        kinds.iter().filter(|k| *k == "order-intent").count(),
        1,
        "one order intent: {kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| *k == "order-found").count(),
        1,
        "{kinds:?}"
    );
    let r = rec.store().get(&anna).unwrap().unwrap();
    assert_eq!(r.certificate_id, orders[0].certificate_id);

    let bundles = outbox_bundles(&dir.path().join("outbox"));
    let mine = bundles.get(anna.as_str()).cloned().unwrap_or_default();
    assert_eq!(mine.len(), 1, "one bundle mailed: {:?}", bundles.keys());
    let (_fingerprint, has_key) = open_pkcs12(
        dir.path(),
        &mine[0],
        &password_of(dir.path(), anna.as_str()),
    );
    assert!(has_key, "the bundle holds the private key");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_a_lost_create_answer_is_found_among_running_jobs_and_ordered_only_once() {
    a_lost_order_answer_is_resolved_by_job_search("json").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xml_a_lost_create_answer_is_found_among_running_jobs_and_ordered_only_once() {
    a_lost_order_answer_is_resolved_by_job_search("xml").await;
}
