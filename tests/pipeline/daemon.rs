//! The daemon in-process against port fakes: source events in → every mailbox delivered with one
//! order each; the HTTP endpoint (health, metrics, push with its token); graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use smime_provisioner::daemon::{Daemon, DaemonSettings, PushParser, Seen};
use smime_provisioner::pipeline::ports::{Notice, NoticeOutcome};
use smime_provisioner::pipeline::{Settings, Stage};
use smime_provisioner::secret::Secret;
use smime_provisioner::testkit::*;
use support::rig::*;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "push-token-0123456789";

fn json_push_parser() -> PushParser {
    Arc::new(|body: &[u8]| {
        let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        Ok(Notice {
            message_id: None,
            job_id: v["job_id"].as_i64(),
            ctid: v["ctid"].as_str().map(str::to_string),
            certificate_id: v["certificate_id"].as_i64(),
            outcome: match v["status"].as_str() {
                Some("SUCCESS") => NoticeOutcome::Success,
                _ => NoticeOutcome::Other,
            },
        })
    })
}

fn daemon_settings() -> DaemonSettings {
    DaemonSettings {
        concurrency: 3,
        poll_interval: Duration::from_millis(20),
        resync_interval: Duration::from_millis(100),
        push_token: Some(Secret::new(TOKEN.into())),
        shutdown_grace: Duration::from_secs(5),
        ..DaemonSettings::default()
    }
}

/// Waits until `done` holds; the bound (60 s) is far above the second or so a run takes, so a
/// loaded CI machine does not fail a correct daemon.
async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..2400 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("gave up waiting for: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailboxes_reported_by_the_sources_are_each_ordered_once_and_delivered() {
    let rig = Rig::new(FakeAutodns::instant(), Settings::default());
    let store = rig.store.clone();
    let autodns = rig.autodns.clone();
    let courier = rig.courier.clone();
    let daemon = Daemon::new(Arc::new(rig.rec), daemon_settings(), None);
    let (tx, rx) = mpsc::channel(64);
    let stop = CancellationToken::new();
    let run = tokio::spawn(daemon.run(rx, None, stop.clone()));

    let names: Vec<_> = (0..20)
        .map(|i| addr(&format!("user{i}@example.com")))
        .collect();
    for a in &names {
        tx.send(Seen::Present(a.clone())).await.unwrap();
        tx.send(Seen::Present(a.clone())).await.unwrap(); // duplicate events are harmless
    }
    wait_for("every mailbox delivered", || {
        let l = store.list().unwrap();
        l.len() == 20 && l.iter().all(|r| r.stage == Stage::Delivered)
    })
    .await;
    stop.cancel();
    run.await.unwrap().unwrap();
    for a in &names {
        assert_eq!(autodns.orders_for(a), 1, "{a}");
        assert_eq!(courier.bundles_to(a).len(), 1, "{a}");
        assert_eq!(courier.passwords_to(a).len(), 1, "{a}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_endpoint_serves_health_metrics_and_authenticated_pushes() {
    let rig = Rig::new(FakeAutodns::default(), Settings::default());
    let store = rig.store.clone();
    let autodns = rig.autodns.clone();
    let daemon = Daemon::new(
        Arc::new(rig.rec),
        daemon_settings(),
        Some(json_push_parser()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel(8);
    let stop = CancellationToken::new();
    let run = tokio::spawn(daemon.run(rx, Some(listener), stop.clone()));
    let http = reqwest::Client::new();

    let a = addr("pushed@example.com");
    tx.send(Seen::Present(a.clone())).await.unwrap();
    wait_for("the order", || {
        store
            .get(&a)
            .unwrap()
            .is_some_and(|r| r.stage == Stage::Ordered)
    })
    .await;
    // The job finishes, but its poll message is lost: only the push tells us. Under one lock:
    // `complete_all` then clearing the queue left a window in which the 20 ms poller could read
    // the message first (seen once on a loaded machine: the certificate id arrived before the push).
    {
        let mut s = autodns.s();
        let job = s.orders[0].job_id;
        s.completed.insert(job, true);
    }
    let order = autodns.s().orders[0].clone();
    let body = serde_json::json!({
        "job_id": order.job_id, "ctid": order.ctid,
        "certificate_id": order.certificate_id, "status": "SUCCESS"
    })
    .to_string();

    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    for bad in [
        http.post(format!("{base}/push")).body(body.clone()),
        http.post(format!("{base}/push?token=wrong-token-0123456"))
            .body(body.clone()),
        http.post(format!("{base}/push"))
            .header("X-Push-Token", "nope")
            .body(body.clone()),
        http.post(format!("{base}/push/wrong-token-0123456"))
            .body(body.clone()),
    ] {
        assert_eq!(bad.send().await.unwrap().status(), 401);
    }
    assert_eq!(
        store.get(&a).unwrap().unwrap().certificate_id,
        None,
        "401s change nothing"
    );
    let malformed = http
        .post(format!("{base}/push?token={TOKEN}"))
        .body("{not json")
        .send()
        .await;
    assert_eq!(malformed.unwrap().status(), 400);

    let ok = http
        .post(format!("{base}/push"))
        .header("X-Push-Token", TOKEN)
        .body(body.clone());
    assert_eq!(ok.send().await.unwrap().status(), 200);
    wait_for("delivery after the push", || {
        store
            .get(&a)
            .unwrap()
            .is_some_and(|r| r.stage == Stage::Delivered)
    })
    .await;
    // The same push again (AutoDNS retries): harmless.
    let again = http
        .post(format!("{base}/push/{TOKEN}"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(autodns.order_count(), 1);

    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("smime_provisioner_mailboxes{stage=\"delivered\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("smime_provisioner_push_total{outcome=\"unauthorized\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("smime_provisioner_push_total{outcome=\"applied\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("smime_provisioner_push_total{outcome=\"duplicate\"} 1"),
        "{metrics}"
    );

    stop.cancel();
    run.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_an_in_flight_order_finish_and_store_its_job() {
    let mut autodns = FakeAutodns::instant();
    autodns.order_delay = Duration::from_millis(400);
    let rig = Rig::new(autodns.clone(), Settings::default());
    let store = rig.store.clone();
    let daemon = Daemon::new(Arc::new(rig.rec), daemon_settings(), None);
    let (tx, rx) = mpsc::channel(8);
    let stop = CancellationToken::new();
    let run = tokio::spawn(daemon.run(rx, None, stop.clone()));
    let a = addr("inflight@example.com");
    tx.send(Seen::Present(a.clone())).await.unwrap();
    wait_for("the order intent", || {
        store
            .get(&a)
            .unwrap()
            .is_some_and(|r| r.stage == Stage::Ordering)
    })
    .await;
    stop.cancel();
    run.await.unwrap().unwrap();
    let r = store.get(&a).unwrap().unwrap();
    assert_eq!(
        r.stage,
        Stage::Ordered,
        "the step in flight finished and was stored"
    );
    assert!(r.job_id.is_some() && r.lease_owner.is_none());
    assert_eq!(autodns.order_count(), 1);
}
