//! A worker that panics (a bug injected into the key port of the fakes) in the daemon with two
//! workers and more panics than workers: the daemon keeps working, the mailbox the worker was on
//! is marked failed with the panic text (shown by `status` through the real binary), the worker is
//! started again, and `/healthz` answers 503 while a panicked worker is down.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use smime_provisioner::daemon::{Daemon, DaemonSettings, Seen};
use smime_provisioner::mailbox::Address;
use smime_provisioner::pipeline::{Settings, Stage};
use smime_provisioner::store::Store;
use smime_provisioner::testkit::*;
use support::rig::*;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn settings(restart: Duration) -> DaemonSettings {
    DaemonSettings {
        concurrency: 2,
        poll_interval: Duration::from_millis(20),
        resync_interval: Duration::from_millis(100),
        shutdown_grace: Duration::from_secs(5),
        worker_restart_delay: restart,
        ..DaemonSettings::default()
    }
}

/// Waits until `done` holds, checking every 25 ms, at most 2,400 times (60 s, far above what a
/// run takes, so a loaded machine does not fail a correct daemon).
async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..2400 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("gave up waiting for: {what}");
}

fn failed_with_panic(store: &Store, a: &Address) -> bool {
    store
        .get(a)
        .unwrap()
        .is_some_and(|r| r.failure.gave_up && r.failure.code.as_deref() == Some("panic"))
}

fn delivered(store: &Store, all: &[Address]) -> bool {
    all.iter().all(|a| {
        store
            .get(a)
            .unwrap()
            .is_some_and(|r| r.stage == Stage::Delivered)
    })
}

async fn health(http: &reqwest::Client, base: &str) -> (u16, String) {
    let r = http.get(format!("{base}/healthz")).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Runs `status ARGS` through the real binary on the store in `state`.
fn status(dir: &Path, state: &Path, args: &[&str]) -> (i32, String, String) {
    let config = dir.join("status.toml");
    std::fs::write(
        &config,
        format!(
            "[state]\ndir = \"{}\"\n[autodns]\nendpoint = \"simulator\"\n[autodns.contact]\n\
             id = 100\n[delivery]\ntransport = \"file\"\nfrom = \"PKI <pki@example.com>\"\n",
            state.display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_smime-provisioner"))
        .arg("--config")
        .arg(&config)
        .arg("status")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_workers_are_restarted_and_their_mailboxes_marked_failed_with_the_panic() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let store = Arc::new(Store::open(&state).unwrap());
    let rig = Rig::on_store(
        store.clone(),
        FakeAutodns::instant(),
        Settings::default(),
        7,
    );
    let bugs: Vec<Address> = (0..4)
        .map(|i| addr(&format!("bug{i}@example.com")))
        .collect();
    let good: Vec<Address> = (0..10)
        .map(|i| addr(&format!("ok{i}@example.com")))
        .collect();
    rig.keys
        .panic_on
        .lock()
        .unwrap()
        .extend(bugs.iter().cloned());
    let metrics = rig.rec.metrics().clone();
    let daemon = Daemon::new(Arc::new(rig.rec), settings(Duration::from_millis(10)), None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel(64);
    let stop = CancellationToken::new();
    let run = tokio::spawn(daemon.run(rx, Some(listener), stop.clone()));
    // The bugs first: with two workers, the first two panics would take every worker down.
    for a in bugs.iter().chain(&good) {
        tx.send(Seen::Present(a.clone())).await.unwrap();
    }
    wait_for("every good mailbox delivered after four panics", || {
        delivered(&store, &good)
    })
    .await;
    wait_for("every panicking mailbox marked failed", || {
        bugs.iter().all(|a| failed_with_panic(&store, a))
    })
    .await;
    assert_eq!(metrics.get("worker_panics", ""), 4);
    let http = reqwest::Client::new();
    let mut healthy = false;
    for _ in 0..2400 {
        if health(&http, &base).await.0 == 200 {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        healthy,
        "/healthz is ok again once the workers are restarted"
    );
    stop.cancel();
    run.await.unwrap().unwrap();

    for a in &bugs {
        let r = store.get(a).unwrap().unwrap();
        let text = r.failure.text.clone().unwrap_or_default();
        assert!(
            text.contains(&format!("injected fault: key generation for {a} panics")),
            "{a}: {text}"
        );
        assert_eq!(
            r.lease_owner, None,
            "{a}: the dead worker's claim is released"
        );
        assert_eq!(r.stage, Stage::Discovered, "{a}: nothing was bought");
    }
    assert_eq!(rig.autodns.order_count(), good.len());
    let (code, out, err) = status(dir.path(), &state, &["bug0@example.com"]);
    assert_eq!(
        code, 1,
        "a failed mailbox makes `status` exit 1\n{out}\n{err}"
    );
    assert!(out.contains("panic"), "{out}");
    assert!(
        out.contains("key generation for bug0@example.com panics"),
        "{out}"
    );
    let (code, out, err) = status(dir.path(), &state, &[]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("4 mailbox(es) failed"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_is_unhealthy_while_a_panicked_worker_is_down() {
    let rig = Rig::new(FakeAutodns::instant(), Settings::default());
    let store = rig.store.clone();
    let bug = addr("bug@example.com");
    let good: Vec<Address> = (0..3)
        .map(|i| addr(&format!("ok{i}@example.com")))
        .collect();
    rig.keys.panic_on.lock().unwrap().push(bug.clone());
    // The panicked worker stays down for the whole test: the window is held open, not timed.
    let daemon = Daemon::new(Arc::new(rig.rec), settings(Duration::from_secs(3600)), None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel(64);
    let stop = CancellationToken::new();
    let run = tokio::spawn(daemon.run(rx, Some(listener), stop.clone()));
    let http = reqwest::Client::new();
    tx.send(Seen::Present(bug.clone())).await.unwrap();
    wait_for("the panicking mailbox marked failed", || {
        failed_with_panic(&store, &bug)
    })
    .await;
    for a in &good {
        tx.send(Seen::Present(a.clone())).await.unwrap();
    }
    wait_for("the other worker delivering", || delivered(&store, &good)).await;
    let (code, body) = health(&http, &base).await;
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("panicked"), "{body}");
    stop.cancel();
    run.await.unwrap().unwrap();
}
