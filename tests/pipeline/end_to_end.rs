//! End to end against the bundled simulator over real HTTP, in both wire formats: N mailboxes
//! appear → exactly N orders at the simulator (`/_simulator/orders`) → N bundles delivered
//! (to a recording mailer, and to the file outbox) → each bundle opens with `openssl pkcs12`
//! using the password delivered separately, and holds the certificate the simulator issued.

use std::sync::Arc;
use std::time::Duration;

use smime_provisioner::daemon::{Daemon, DaemonSettings, Seen};
use smime_provisioner::delivery::{Mailer, RecordingMailer};
use smime_provisioner::mailbox::Address;
use smime_provisioner::pipeline::{ForeignMessages, Stage};
use smime_provisioner::simulator::{Faults, SimulatorHandle};
use support::live::*;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const N: usize = 8;

fn names() -> Vec<Address> {
    (0..N)
        .map(|i| Address::parse(&format!("person{i}@example.com")).unwrap())
        .collect()
}

async fn wait_for(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    for _ in 0..secs * 10 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("gave up waiting for: {what}");
}

/// Orders the simulator received for each address (refused ones excluded), over HTTP.
async fn orders_by_name(sim: &SimulatorHandle) -> std::collections::BTreeMap<String, usize> {
    let url = format!("http://{}/_simulator/orders", sim.addr());
    let v: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    let mut m = std::collections::BTreeMap::new();
    for o in v.as_array().or_else(|| v["orders"].as_array()).unwrap() {
        if o["status"] != "REJECTED" {
            *m.entry(o["name"].as_str().unwrap().to_string())
                .or_insert(0) += 1;
        }
    }
    m
}

async fn run_daemon(rec: Arc<LiveReconciler>, names: &[Address]) {
    let settings = DaemonSettings {
        concurrency: 4,
        poll_interval: Duration::from_millis(200),
        resync_interval: Duration::from_millis(500),
        foreign: ForeignMessages::Confirm,
        ..DaemonSettings::default()
    };
    let store = rec.store().clone();
    let (tx, rx) = mpsc::channel(64);
    let stop = CancellationToken::new();
    let run = tokio::spawn(Daemon::new(rec, settings, None).run(rx, None, stop.clone()));
    for a in names {
        tx.send(Seen::Present(a.clone())).await.unwrap();
    }
    // Generous: a run takes seconds; a loaded 2-core CI box must not fail a correct pipeline.
    wait_for("every mailbox delivered", 300, || {
        let l = store.list().unwrap();
        l.len() == names.len() && l.iter().all(|r| r.stage == Stage::Delivered)
    })
    .await;
    stop.cancel();
    run.await.unwrap().unwrap();
}

async fn check_bundles(
    dir: &std::path::Path,
    rec: &LiveReconciler,
    sim: &SimulatorHandle,
    bundles: &std::collections::BTreeMap<String, Vec<Vec<u8>>>,
) {
    let orders = orders_by_name(sim).await;
    assert_eq!(orders.len(), N, "{orders:?}");
    assert!(
        orders.values().all(|n| *n == 1),
        "one order per mailbox: {orders:?}"
    );
    for a in names() {
        let r = rec.store().get(&a).unwrap().unwrap();
        let got = bundles
            .get(a.as_str())
            .unwrap_or_else(|| panic!("no bundle for {a}"));
        assert_eq!(got.len(), 1, "{a}: one bundle mail");
        let (fp, has_key) = open_pkcs12(dir, &got[0], &password_of(dir, a.as_str()));
        assert!(has_key, "{a}: the bundle holds the private key");
        assert_eq!(
            Some(fp),
            r.fingerprint,
            "{a}: the bundle holds the stored certificate"
        );
        let at_sim = rec
            .autodns()
            .client()
            .certificate_info(r.certificate_id.unwrap())
            .await
            .unwrap();
        let norm = |s: &str| s.split_whitespace().collect::<String>();
        assert_eq!(
            norm(at_sim.server.as_deref().unwrap()),
            norm(r.certificate_pem.as_deref().unwrap()),
            "{a}: the certificate is the one the simulator issued"
        );
    }
}

async fn e2e_with_recording_mailer(wire: &str) {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_simulator(Faults::default(), Duration::from_millis(300), 11).await;
    let endpoint = endpoint_for(&sim, wire);
    let config = parse_config(&config_text(dir.path(), &endpoint, wire, ""), dir.path());
    let recorder = Arc::new(RecordingMailer::new());
    let mailer: Arc<dyn Mailer> = recorder.clone();
    let rec = Arc::new(live_reconciler(&config, Some(mailer)));
    run_daemon(rec.clone(), &names()).await;
    let mut bundles = std::collections::BTreeMap::<String, Vec<Vec<u8>>>::new();
    for m in recorder.sent() {
        if let Some((to, der)) = bundle_of(&m.raw) {
            bundles.entry(to).or_default().push(der);
        }
    }
    assert_eq!(
        recorder.sent().len(),
        N,
        "bundle mails only: passwords went to files"
    );
    check_bundles(dir.path(), &rec, &sim, &bundles).await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_mailboxes_are_each_ordered_once_and_delivered_to_a_recording_mailer() {
    e2e_with_recording_mailer("json").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xml_mailboxes_are_each_ordered_once_and_delivered_to_a_recording_mailer() {
    e2e_with_recording_mailer("xml").await;
}

async fn e2e_with_file_outbox(wire: &str) {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_simulator(Faults::default(), Duration::from_millis(300), 12).await;
    let endpoint = endpoint_for(&sim, wire);
    let config = parse_config(&config_text(dir.path(), &endpoint, wire, ""), dir.path());
    let rec = Arc::new(live_reconciler(&config, None));
    run_daemon(rec.clone(), &names()).await;
    let bundles = outbox_bundles(&dir.path().join("outbox"));
    check_bundles(dir.path(), &rec, &sim, &bundles).await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_mailboxes_are_delivered_to_the_file_outbox() {
    e2e_with_file_outbox("json").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xml_mailboxes_are_delivered_to_the_file_outbox() {
    e2e_with_file_outbox("xml").await;
}
