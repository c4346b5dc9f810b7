//! The admin failure notice for a mailbox whose orders keep failing, whichever way the failed
//! job's completion arrives: through the poll consumer, or pushed by AutoDNS to the daemon's
//! HTTP endpoint. Both paths go through `Reconciler::handle_notice`;
//! these tests prove each path on its own, with the pipeline built by the live wiring, the
//! bundled simulator failing the jobs of chosen mailboxes over real HTTP, and every job message
//! sent twice (so each push and poll message has a duplicate). The file outbox receives exactly
//! one admin notice per give-up, none for the mailbox that succeeds.

use std::sync::Arc;
use std::time::Duration;

use smime_provisioner::daemon::{Daemon, DaemonSettings, PushParser, Seen};
use smime_provisioner::mailbox::Address;
use smime_provisioner::pipeline::adapters::parse_push_notice;
use smime_provisioner::pipeline::wiring;
use smime_provisioner::pipeline::{ForeignMessages, Stage};
use smime_provisioner::secret::Secret;
use smime_provisioner::simulator::{Faults, PushFormat, PushTarget, SimulatorConfig};
use support::live::*;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "push-token-0123456789abcdef";
const ADMIN: &str = "postmaster@example.com";
const MAX_ATTEMPTS: usize = 2;

/// How the failed job's completion reaches the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    /// The poll consumer reads it; nothing is pushed.
    Poll,
    /// The simulator pushes it in this format; the poll consumer never runs.
    Push(PushFormat),
}

/// Waits until `done` holds: bounded at 300 s, far above the seconds a run takes, so a loaded
/// CI machine does not fail a correct pipeline.
async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..6000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gave up waiting for: {what}");
}

async fn one_admin_notice_per_give_up(path: Path, wire: &str, seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let doomed = [
        Address::parse("doomed1@example.com").unwrap(),
        Address::parse("doomed2@example.com").unwrap(),
    ];
    let fine = Address::parse("fine@example.com").unwrap();

    // The daemon's endpoint is bound first, so the simulator can be told where to push.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/push", listener.local_addr().unwrap());
    let mut cfg = SimulatorConfig::new(SIM_USER, SIM_PASSWORD);
    cfg.issuance_delay = Duration::from_millis(200);
    cfg.seed = Some(seed);
    cfg.faults = Faults {
        fail_names: doomed.iter().map(|a| a.to_string()).collect(),
        duplicate_poll_messages: true,
        ..Faults::default()
    };
    if let Path::Push(format) = path {
        cfg.push = Some(PushTarget {
            url: endpoint.parse().unwrap(),
            format,
            headers: vec![("X-Push-Token".into(), Secret::new(TOKEN.into()))],
        });
    }
    let sim = start_simulator_with(cfg).await;
    let url = endpoint_for(&sim, wire);
    let text = config_text(dir.path(), &url, wire, "")
        .replace(
            "from = \"Certificate Service <pki@example.com>\"",
            &format!(
                "from = \"Certificate Service <pki@example.com>\"\nadmin_address = \"{ADMIN}\""
            ),
        )
        .replace(
            "max_attempts = 30",
            &format!("max_attempts = {MAX_ATTEMPTS}"),
        )
        // With two attempts, one request timing out on a starved CI machine would use one up
        // and change the counts below; no request here comes near 30 s.
        .replace("timeout_secs = 5", "timeout_secs = 30");
    let config = parse_config(&text, dir.path());
    assert_eq!(
        config.delivery.admin_address.as_ref().map(|a| a.as_str()),
        Some(ADMIN)
    );
    assert_eq!(config.autodns.timeout, Duration::from_secs(30));
    let built = wiring::build(&config)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let rec = built.reconciler.clone();

    let settings = DaemonSettings {
        concurrency: 3,
        // On the push path the poll consumer must not run, so only the push can tell the
        // daemon about a finished job; an hour is longer than any wait below.
        poll_interval: match path {
            Path::Poll => Duration::from_millis(100),
            Path::Push(_) => Duration::from_secs(3600),
        },
        resync_interval: Duration::from_millis(100),
        foreign: ForeignMessages::Confirm,
        push_token: Some(Secret::new(TOKEN.into())),
        shutdown_grace: Duration::from_secs(30),
        ..DaemonSettings::default()
    };
    let parser: PushParser = Arc::new(parse_push_notice);
    let (tx, rx) = mpsc::channel(16);
    let stop = CancellationToken::new();
    let daemon = Daemon::new(rec.clone(), settings, Some(parser));
    let run = tokio::spawn(daemon.run(rx, Some(listener), stop.clone()));
    for a in doomed.iter().chain([&fine]) {
        tx.send(Seen::Present(a.clone())).await.unwrap();
    }

    let store = rec.store().clone();
    wait_for(
        "the doomed mailboxes given up and the fine one delivered",
        || {
            let settled = doomed
                .iter()
                .all(|a| store.get(a).unwrap().is_some_and(|r| r.failure.gave_up));
            let delivered = store
                .get(&fine)
                .unwrap()
                .is_some_and(|r| r.stage == Stage::Delivered);
            settled && delivered
        },
    )
    .await;
    // Every job message exists twice; wait until the daemon has handled every copy, so the
    // duplicates have had their chance to do harm before anything is counted.
    let finished_jobs = sim
        .orders()
        .iter()
        .filter(|o| matches!(o.status.as_str(), "SUCCESS" | "FAILED"))
        .count();
    assert_eq!(finished_jobs, doomed.len() * MAX_ATTEMPTS + 1);
    let channel = match path {
        Path::Poll => "poll_messages",
        Path::Push(_) => "push",
    };
    let m = rec.metrics().clone();
    let handled = || {
        ["applied", "duplicate", "foreign"]
            .iter()
            .map(|k| m.get(channel, k))
            .sum::<u64>()
    };
    wait_for("every copy of every job message handled", || {
        handled() >= 2 * finished_jobs as u64
    })
    .await;
    stop.cancel();
    run.await.unwrap().unwrap();

    // Only the path under test carried the completions.
    let other = match path {
        Path::Poll => "push",
        Path::Push(_) => "poll_messages",
    };
    assert_eq!(
        ["applied", "duplicate", "foreign"]
            .iter()
            .map(|k| m.get(other, k))
            .sum::<u64>(),
        0,
        "nothing arrived through {other}"
    );
    assert_eq!(handled(), 2 * finished_jobs as u64);
    // Each job's first copy is applied, its repeat recognised as ours (a failed job's too).
    assert_eq!(m.get(channel, "applied"), finished_jobs as u64);
    assert_eq!(m.get(channel, "duplicate"), finished_jobs as u64);
    assert_eq!(m.get(channel, "foreign"), 0);

    let mails = outbox_mails(&dir.path().join("outbox"));
    let notices: Vec<_> = mails.iter().filter(|m| m.to == [ADMIN]).collect();
    for a in &doomed {
        let about: Vec<_> = notices
            .iter()
            .filter(|m| m.subject.contains(a.as_str()))
            .collect();
        assert_eq!(
            about.len(),
            1,
            "exactly one admin notice about {a}: {notices:#?}"
        );
        let n = about[0];
        assert!(n.subject.contains("gave up"), "{}", n.subject);
        assert_eq!(n.auto_submitted.as_deref(), Some("auto-generated"));
        assert!(
            n.text.contains("job failed"),
            "says what failed: {}",
            n.text
        );
        assert!(
            n.text.contains(&format!("provision {a}")),
            "says how to retry: {}",
            n.text
        );
        assert!(n.pkcs12.is_none());

        let orders: Vec<_> = sim
            .orders()
            .into_iter()
            .filter(|o| o.name == a.as_str())
            .collect();
        assert_eq!(
            orders.len(),
            MAX_ATTEMPTS,
            "one order per attempt: {orders:?}"
        );
        assert!(orders.iter().all(|o| o.status == "FAILED"), "{orders:?}");
        let kinds: Vec<String> = store
            .events(a)
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        let count = |k: &str| kinds.iter().filter(|x| *x == k).count();
        assert_eq!(count("job-failed"), MAX_ATTEMPTS - 1, "{kinds:?}");
        assert_eq!(count("gave-up"), 1, "{kinds:?}");
        assert_eq!(count("admin-notified"), 1, "{kinds:?}");
        assert_eq!(
            kinds.last().map(String::as_str),
            Some("admin-notified"),
            "{kinds:?}"
        );
    }
    assert_eq!(
        notices.len(),
        doomed.len(),
        "no notice about the mailbox that succeeded: {notices:#?}"
    );
    let fine_mails: Vec<_> = mails
        .iter()
        .filter(|m| m.to == [fine.to_string()])
        .collect();
    assert_eq!(fine_mails.len(), 1, "the fine mailbox got its bundle");
    assert!(fine_mails[0].pkcs12.is_some());

    built.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_give_up_learned_from_the_poll_queue_sends_one_admin_notice() {
    one_admin_notice_per_give_up(Path::Poll, "json", 61).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_give_up_learned_from_a_json_push_sends_one_admin_notice() {
    one_admin_notice_per_give_up(Path::Push(PushFormat::Json), "json", 62).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_give_up_learned_from_an_xml_push_sends_one_admin_notice() {
    one_admin_notice_per_give_up(Path::Push(PushFormat::Xml), "xml", 63).await;
}
