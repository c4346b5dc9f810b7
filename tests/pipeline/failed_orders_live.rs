//! A failed order whose completion message was missed, against the real AutoDNS adapter and
//! the bundled simulator over HTTP. The simulator removes a refused order's
//! certificate, as AutoDNS does, so only the job history can tell "the CA refused
//! it" from "the order vanished".

use std::sync::Arc;
use std::time::Duration;

use smime_provisioner::clock::ManualClock;
use smime_provisioner::mailbox::Address;
use smime_provisioner::pipeline::{Outcome, Request, Settings, Stage, Step};
use smime_provisioner::simulator::{Faults, Simulator, SimulatorConfig};
use support::live::*;

fn settings(config: &smime_provisioner::config::Config) -> Settings {
    let mut s = Settings::from_config(config);
    s.policy.job_check_after = time::Duration::seconds(1);
    s
}

/// The failed job's poll message is never read; the silent-job check asks AutoDNS, finds the
/// job gone from the queue, and reads its outcome from the job history: JSON by id, XML through
/// the history list filtered by id.
async fn failed_job_goes_back_to_reorder_via_the_job_history(wire: &str) {
    let faults = Faults {
        fail_names: vec!["bob@example.com".into()],
        ..Faults::default()
    };
    // Simulator and pipeline share a clock that the test moves: the job finishes, and the
    // silent-job check falls due, when the test says so, however slow the machine.
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let sim = start_simulator_clocked(faults, Duration::from_millis(200), 1, clock.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let endpoint = endpoint_for(&sim, wire);
    let text = config_text(dir.path(), &endpoint, wire, "");
    let config = parse_config(&text, dir.path());
    let rec = live_reconciler_clocked(&config, None, 100.0, settings(&config), clock.clone());
    let a = Address::parse("bob@example.com").unwrap();
    rec.store().observe_present(&a, rec.clock().now()).unwrap();
    rec.reconcile(&a).await.unwrap();
    assert_eq!(rec.store().get(&a).unwrap().unwrap().stage, Stage::Ordered);

    // The job fails; its poll message is never read. The silent-job check asks AutoDNS.
    clock.advance(time::Duration::seconds(2));
    let outcome = rec.reconcile(&a).await.unwrap();
    let r = rec.store().get(&a).unwrap().unwrap();
    match &outcome {
        Outcome::Failed(Step::CheckJob, e) => {
            assert!(e.code.starts_with("job-failed"), "{e:?}")
        }
        other => panic!("expected the job check to report the failed job, got {other:?}"),
    }
    assert_eq!(
        r.stage,
        Stage::KeyReady,
        "back to re-order, with the key kept"
    );
    assert!(!r.failure.gave_up, "gave up: {:?}", r.failure.text);
    assert_ne!(r.failure.code.as_deref(), Some("order-vanished"));
    assert!(
        r.next_attempt_at.is_some(),
        "the re-order must wait for the backoff"
    );
    let kinds: Vec<String> = rec
        .store()
        .events(&a)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.iter().any(|k| k == "job-failed"), "{kinds:?}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_job_whose_poll_message_was_missed_goes_back_to_reorder_via_the_job_history() {
    failed_job_goes_back_to_reorder_via_the_job_history("json").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_xml_a_failed_job_whose_poll_message_was_missed_goes_back_to_reorder_too() {
    failed_job_goes_back_to_reorder_via_the_job_history("xml").await;
}

/// An order AutoDNS has no trace of (here: the simulator restarted without its state file, on
/// the same address) ends `order-vanished` — a person must look — and `reprovision` then starts
/// a new generation instead of re-running the check; the SSL contact AutoDNS lost with it is
/// created again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reprovision_gets_a_vanished_order_out_of_its_give_up_and_a_lost_contact_is_recreated() {
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let sim = start_simulator_clocked(
        Faults::default(),
        Duration::from_secs(3600),
        1,
        clock.clone(),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let text = config_text(dir.path(), &sim.xml_url(), "xml", "");
    let config = parse_config(&text, dir.path());
    let rec = live_reconciler_clocked(&config, None, 100.0, settings(&config), clock.clone());
    let a = Address::parse("bob@example.com").unwrap();
    rec.store().observe_present(&a, rec.clock().now()).unwrap();
    rec.reconcile(&a).await.unwrap();
    assert_eq!(rec.store().get(&a).unwrap().unwrap().stage, Stage::Ordered);

    // AutoDNS loses the order: same address, empty state.
    let addr = sim.addr();
    sim.shutdown().await;
    let mut cfg = SimulatorConfig::new(SIM_USER, SIM_PASSWORD);
    cfg.issuance_delay = Duration::from_millis(200);
    cfg.seed = Some(2);
    cfg.clock = clock.clone();
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let sim = Simulator::start(cfg, listener).unwrap();

    clock.advance(time::Duration::seconds(2));
    rec.reconcile(&a).await.unwrap();
    let r = rec.store().get(&a).unwrap().unwrap();
    assert_eq!(r.stage, Stage::Ordered);
    assert!(r.failure.gave_up);
    assert_eq!(r.failure.code.as_deref(), Some("order-vanished"));
    // Given up: nothing is due, so the daemon does not loop on it.
    assert!(rec.due().unwrap().0.is_empty());

    rec.request(&a, Request::Reprovision).unwrap();
    rec.reconcile(&a).await.unwrap();
    let r = rec.store().get(&a).unwrap().unwrap();
    assert_eq!(r.generation, 2);
    assert_eq!(r.request, None);
    // The emptied AutoDNS does not know the SSL contact the store remembers either: the order is
    // refused unperformed, the stored id forgotten, and the retry creates the contact again.
    assert_eq!(r.stage, Stage::KeyReady);
    assert_eq!(
        r.failure.code.as_deref(),
        Some("contact-not-found"),
        "{:?}",
        r.failure
    );
    assert!(!r.failure.gave_up);
    let mut r = r;
    for _ in 0..40 {
        if r.stage == Stage::Ordered {
            break;
        }
        // Past the backoff (config_text: at most 4 s).
        clock.advance(time::Duration::seconds(5));
        rec.reconcile(&a).await.unwrap();
        r = rec.store().get(&a).unwrap().unwrap();
    }
    assert_eq!(
        r.stage,
        Stage::Ordered,
        "generation 2 is ordered: {:?}",
        r.failure
    );
    let contacts = rec.autodns().client().ssl_contact_list().await.unwrap();
    assert_eq!(
        contacts.len(),
        1,
        "the contact was created once: {contacts:?}"
    );
    assert_eq!(
        rec.store().setting("autodns.contact_id").unwrap(),
        contacts[0].id.map(|id| id.to_string())
    );
    sim.shutdown().await;
}

/// `delivery.admin_address` gets one real mail (through the configured transport, here the
/// file outbox) when a mailbox gives up for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_address_gets_one_mail_when_a_mailbox_gives_up() {
    let faults = Faults {
        fail_names: vec!["bob@example.com".into()],
        ..Faults::default()
    };
    // Simulator and pipeline share a clock that the test moves: the job finishes, and the
    // silent-job check falls due, when the test says so, however slow the machine.
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let sim = start_simulator_clocked(faults, Duration::from_millis(200), 1, clock.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let text = config_text(dir.path(), &sim.json_url(), "json", "")
        .replace("max_attempts = 30", "max_attempts = 1")
        .replace(
            "[delivery]\n",
            "[delivery]\nadmin_address = \"postmaster@example.com\"\n",
        );
    let config = parse_config(&text, dir.path());
    let rec = live_reconciler_clocked(&config, None, 100.0, settings(&config), clock.clone());
    let a = Address::parse("bob@example.com").unwrap();
    rec.store().observe_present(&a, rec.clock().now()).unwrap();
    rec.reconcile(&a).await.unwrap();
    clock.advance(time::Duration::seconds(2));
    rec.reconcile(&a).await.unwrap();
    rec.reconcile(&a).await.unwrap();
    assert!(rec.store().get(&a).unwrap().unwrap().failure.gave_up);

    let mut notices = Vec::new();
    for entry in std::fs::read_dir(dir.path().join("outbox")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
        if text.contains("To: postmaster@example.com") {
            notices.push(text);
        }
    }
    assert_eq!(notices.len(), 1, "{notices:#?}");
    let n = &notices[0];
    assert!(n.contains("bob@example.com"), "{n}");
    assert!(n.contains("job-failed"), "{n}");
    assert!(n.contains("Auto-Submitted: auto-generated"), "{n}");
    assert!(
        n.contains("smime-provisioner reprovision bob@example.com"),
        "{n}"
    );
    sim.shutdown().await;
}
