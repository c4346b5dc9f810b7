//! The pipeline after a lost CertificateCreate answer, against the simulator over real HTTP in
//! both transports: the simulator carries out the order but drops its answer (fault
//! `drop_create_answers`), and lists the new certificate only once its job has ended (fault
//! `unlisted_until_issued`). The pipeline must find the order among the running jobs by its ctid
//! (job search, 400115 / `POST /job/_search`), continue with that job, and end with exactly one
//! order and the bundle delivered. Also the lookup on its own: our running job is told from
//! another order's by ctid, a finished one is read from the job history, and a lookup that fails
//! is a transient error, never "not found".
//!
//! No assertion is about time. The simulator runs on a manual clock, so its job stays running
//! until the test has seen the pipeline record the job found; the pipeline's job check is an
//! hour away, so a pipeline that did not find the order would sit in `order-not-listed-yet` for
//! 30 minutes (the listing grace) and the bounded wait below would fail, naming the events.

use std::sync::Arc;
use std::time::Duration;

use smime_provisioner::clock::ManualClock;
use smime_provisioner::daemon::Seen;
use smime_provisioner::mailbox::Address;
use smime_provisioner::pipeline::Stage;
use smime_provisioner::simulator::{Faults, Simulator, SimulatorConfig, SimulatorHandle};
use support::live::*;

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

/// Waits (bounded: 120 s in 100 ms steps) until `done` holds for the mailbox's record and events;
/// fails early when an event says the order was not found.
async fn wait_for(
    rec: &LiveReconciler,
    a: &Address,
    what: &str,
    done: impl Fn(&smime_provisioner::store::MailboxRecord, &[String]) -> bool,
) {
    for _ in 0..1200 {
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
        "{what}: not reached within 120 s; record {:?}; events {:?}",
        r.map(|r| r.status_label()),
        event_kinds(rec, a)
    );
}

async fn a_lost_order_answer_is_resolved_by_job_search(wire: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (sim, clock) = simulator_dropping_the_first_answer().await;
    let endpoint = endpoint_for(&sim, wire);
    // A two-second client timeout turns the dropped answer into "outcome unknown" quickly.
    let text = config_text(dir.path(), &endpoint, wire, "")
        .replace("timeout_secs = 5", "timeout_secs = 2");
    let config = parse_config(&text, dir.path());
    let mut settings = smime_provisioner::pipeline::Settings::from_config(&config);
    // The job check (and with it the listing grace, at most 30 min) is far beyond the test's
    // bounded waits: only a lookup that finds the running job lets the test pass.
    settings.policy.job_check_after = time::Duration::hours(1);
    let rec = Arc::new(live_reconciler_with(&config, None, 100.0, settings));
    let anna = Address::parse("anna@example.com").unwrap();

    let InProcessDaemon { tx, stop, run } =
        start_daemon_in_process(rec.clone(), 2, Duration::from_millis(300), 8);
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

/// The order lookup itself (`Autodns::find_order` of the AutoDNS port), in both transports: the
/// running job of our ctid is ours, a running job of another ctid is not, and once the job has
/// ended the history names it with its issued certificate.
async fn find_order_tells_our_job_from_another(wire: &str) {
    use smime_provisioner::autodns::CertificateOrder;
    use smime_provisioner::pipeline::ports::Autodns;

    let dir = tempfile::tempdir().unwrap();
    let (sim, clock) = simulator_dropping_the_first_answer().await;
    let endpoint = endpoint_for(&sim, wire);
    let text = config_text(dir.path(), &endpoint, wire, "")
        .replace("timeout_secs = 5", "timeout_secs = 2");
    let config = parse_config(&text, dir.path());
    let rec = live_reconciler_with(
        &config,
        None,
        100.0,
        smime_provisioner::pipeline::Settings::from_config(&config),
    );
    let port = rec.autodns();
    let contact = port.ensure_contact().await.unwrap();
    let a = Address::parse("cleo@example.com").unwrap();
    let key = smime_provisioner::crypto::key::PrivateKey::generate(
        smime_provisioner::crypto::key::KeyType::EcP256,
    )
    .unwrap();
    let csr = smime_provisioner::crypto::csr::build_csr(&key, &a).unwrap();
    let order = CertificateOrder::new(
        a.as_str(),
        csr,
        contact,
        smime_provisioner::secret::Secret::new("Dl0adPassw0rd".into()),
    );
    let since = time::OffsetDateTime::now_utc() - time::Duration::minutes(1);
    let lost = port.client().certificate_create(&order, "cleo-ours").await;
    assert!(lost.is_err_and(|e| e.outcome_unknown()), "{wire}");
    let placed = sim.orders();
    assert_eq!(placed.len(), 1);

    let found = port
        .find_order(&a, "cleo-ours", since, None)
        .await
        .unwrap()
        .expect("our running job is found");
    assert_eq!(found.job_id, placed[0].job_id, "{wire}");
    assert!(!found.issued, "{wire}");
    let theirs = port
        .find_order(&a, "cleo-other", since, None)
        .await
        .unwrap();
    assert_eq!(theirs, None, "{wire}: a job of another ctid is not ours");

    clock.advance(time::Duration::minutes(15));
    let done = port
        .find_order(&a, "cleo-ours", since, None)
        .await
        .unwrap()
        .expect("the finished order is found");
    assert_eq!(
        done.job_id, placed[0].job_id,
        "{wire}: named by the job history"
    );
    assert_eq!(done.certificate_id, placed[0].certificate_id, "{wire}");
    assert!(done.issued, "{wire}");
    assert_eq!(sim.orders().len(), 1, "lookups place no order");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_find_order_tells_our_running_job_from_another_and_reads_the_history_later() {
    find_order_tells_our_job_from_another("json").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xml_find_order_tells_our_running_job_from_another_and_reads_the_history_later() {
    find_order_tells_our_job_from_another("xml").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_lookup_is_a_transient_error_never_not_found() {
    use smime_provisioner::pipeline::ports::Autodns;
    use smime_provisioner::pipeline::ErrorClass;

    let dir = tempfile::tempdir().unwrap();
    let sim = start_simulator(
        Faults {
            error_5xx_share: 1.0,
            ..Faults::default()
        },
        Duration::from_millis(100),
        43,
    )
    .await;
    let config = parse_config(
        &config_text(dir.path(), &sim.json_url(), "json", ""),
        dir.path(),
    );
    let rec = live_reconciler_with(
        &config,
        None,
        100.0,
        smime_provisioner::pipeline::Settings::from_config(&config),
    );
    let a = Address::parse("dan@example.com").unwrap();
    let since = time::OffsetDateTime::now_utc();
    let err = rec
        .autodns()
        .find_order(&a, "dan-1", since, None)
        .await
        .expect_err("every answer is a 503: the lookup cannot succeed");
    assert_eq!(err.class, ErrorClass::Transient, "{err:?}");
    assert_eq!(err.code, "http-503", "{err:?}");
    sim.shutdown().await;
}

/// A stand-in JSON API whose job list echoes no ctid (AutoDNS does not promise that its job
/// list does): `jobs` answers `POST /job/_search`; the job history and the
/// certificate list are empty. Returns the base URL and the server task.
async fn api_without_ctids(jobs: serde_json::Value) -> (String, tokio::task::JoinHandle<()>) {
    use axum::routing::post;
    let empty = serde_json::json!({"status": {"code": "S300115", "type": "SUCCESS"},
                                   "object": {"type": "ObjectJob", "summary": 0}});
    let active = jobs.clone();
    let none = empty.clone();
    let app = axum::Router::new()
        .route(
            "/v1/job/_search",
            post(move || {
                let a = active.clone();
                async move { axum::Json(a) }
            }),
        )
        .route(
            "/v1/job/history/_search",
            post(move || {
                let e = none.clone();
                async move { axum::Json(e) }
            }),
        )
        .route(
            "/v1/certificate/_search",
            post(move || {
                let e = empty.clone();
                async move { axum::Json(e) }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_ctid_in_the_answer_a_job_on_the_name_since_the_intent_is_ours_and_an_older_one_is_not(
) {
    use smime_provisioner::pipeline::ports::Autodns;

    let intent = time::OffsetDateTime::now_utc();
    let stamp =
        |t: time::OffsetDateTime| smime_provisioner::autodns::Timestamp::Zoned(t).to_api_string();
    let job = |id: i64, created: time::OffsetDateTime| {
        serde_json::json!({"job": {"id": id, "status": "RUNNING", "action": "create",
                                   "created": stamp(created)},
                           "object": {"type": "Certificate", "value": "eve@example.com"}})
    };
    let answer = |items: Vec<serde_json::Value>| {
        serde_json::json!({"status": {"code": "S300115", "type": "SUCCESS"},
                           "object": {"type": "ObjectJob", "summary": items.len()},
                           "data": items})
    };
    let a = Address::parse("eve@example.com").unwrap();
    for (jobs, expected) in [
        // Created a second after the intent: ours (the newest such job).
        (
            answer(vec![
                job(7001, intent - time::Duration::days(3)),
                job(7002, intent + time::Duration::seconds(1)),
            ]),
            Some(7002),
        ),
        // Only a job from days before the intent: another order, so not found.
        (
            answer(vec![job(7001, intent - time::Duration::days(3))]),
            None,
        ),
    ] {
        let (url, server) = api_without_ctids(jobs).await;
        let dir = tempfile::tempdir().unwrap();
        let config = parse_config(&config_text(dir.path(), &url, "json", ""), dir.path());
        let rec = live_reconciler_with(
            &config,
            None,
            100.0,
            smime_provisioner::pipeline::Settings::from_config(&config),
        );
        let found = rec
            .autodns()
            .find_order(&a, "eve-1", intent, None)
            .await
            .unwrap();
        assert_eq!(found.and_then(|f| f.job_id), expected);
        server.abort();
    }
}
