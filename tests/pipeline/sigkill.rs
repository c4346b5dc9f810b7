//! Crash safety of the real daemon process: `smime-provisioner run` is started against the
//! simulator (running in this test process, so it survives the daemon), killed with SIGKILL at
//! many points of a run of 50 mailboxes and restarted each time, then left to finish. Every
//! mailbox must end delivered, with exactly one order per mailbox at the simulator, and every
//! bundle mailed must open with the password delivered for it.

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use smime_provisioner::pipeline::Stage;
use smime_provisioner::simulator::Faults;
use smime_provisioner::store::Store;
use support::live::*;

const MAILBOXES: usize = 50;
const KILLS: usize = 10;
/// How long the last daemon may take to deliver everything.
const WAIT_SECS: u64 = 900;

/// Starts `smime-provisioner run` with debug logs appended to `log`.
pub(crate) fn start_daemon(config: &Path, log: &Path) -> Child {
    spawn_daemon(env!("CARGO_BIN_EXE_smime-provisioner"), config, log)
}

fn delivered(state: &Path) -> usize {
    let Ok(store) = Store::open(state) else {
        return 0;
    };
    store
        .list()
        .map(|l| l.iter().filter(|r| r.stage == Stage::Delivered).count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_at_many_points_ends_with_every_mailbox_delivered_and_ordered_once() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_simulator(Faults::default(), Duration::from_millis(400), 21).await;
    let text = config_text(
        dir.path(),
        &sim.json_url(),
        "json",
        "", // the configured pace (AutoDNS's 3 requests/second) applies
    )
    // A daemon killed before its order left re-sends it only after a lookup one job-check
    // interval later (`order-not-listed-yet`); the shortest allowed keeps the test short.
    .replace(
        "poll_interval_secs = 1\n",
        "poll_interval_secs = 1\njob_silence_timeout_secs = 60\n",
    );
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, &text).unwrap();
    let config = parse_config(&text, dir.path());
    for i in 0..MAILBOXES {
        std::fs::create_dir_all(dir.path().join(format!("mail/example.com/user{i:02}"))).unwrap();
    }
    let log = dir.path().join("daemon.log");
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut kills = 0;
    for _ in 0..KILLS {
        let mut child = start_daemon(&config_path, &log);
        let ms = rng.random_range(300..2500);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
    }
    let mut child = start_daemon(&config_path, &log);
    // 50 mailboxes at AutoDNS's pace of 3 requests/second take 90-200 s here; the bound is far
    // above that so a loaded CI machine does not fail a correct daemon.
    let mut waited = 0;
    while delivered(&config.state_dir) < MAILBOXES {
        if waited >= WAIT_SECS {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(60).collect();
            let stages: Vec<String> = Store::open(&config.state_dir)
                .and_then(|s| s.list())
                .map(|l| {
                    l.iter()
                        .map(|r| format!("{} {}", r.address, r.status_label()))
                        .collect()
                })
                .unwrap_or_default();
            let _ = child.kill();
            panic!(
                "not every mailbox was delivered within {WAIT_SECS} s.\nrecords: {stages:#?}\nlog \
                 tail (newest first):\n{}",
                tail.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        waited += 1;
    }
    // Graceful stop: SIGTERM, exit 0.
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    // Shutdown finishes in-flight steps (grace 30 s); wait boundedly, never forever.
    let status = support::tools::exited_within(&mut child, Duration::from_secs(120))
        .await
        .unwrap();
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the daemon did not stop within 120 s of SIGTERM");
    };
    assert!(
        status.success(),
        "the daemon did not exit cleanly on SIGTERM: {status:?}"
    );

    let orders = sim.orders();
    let mut per_name = std::collections::BTreeMap::<String, usize>::new();
    for o in orders.iter().filter(|o| o.status != "REJECTED") {
        *per_name.entry(o.name.clone()).or_insert(0) += 1;
    }
    assert_eq!(per_name.len(), MAILBOXES, "{per_name:?}");
    let twice: Vec<_> = per_name.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        twice.is_empty(),
        "ordered more than once after {kills} kills: {twice:?}"
    );

    let bundles = outbox_bundles(&dir.path().join("outbox"));
    let store = Store::open(&config.state_dir).unwrap();
    for r in store.list().unwrap() {
        let got = bundles
            .get(r.address.as_str())
            .unwrap_or_else(|| panic!("no bundle for {}", r.address));
        let password = password_of(dir.path(), r.address.as_str());
        for der in got {
            let (fp, has_key) = open_pkcs12(dir.path(), der, &password);
            assert!(has_key);
            assert_eq!(Some(fp), r.fingerprint, "{}", r.address);
        }
    }
    eprintln!(
        "{kills} SIGKILLs; {} orders; {} bundle mails for {MAILBOXES} mailboxes",
        orders.len(),
        bundles.values().map(Vec::len).sum::<usize>()
    );
    sim.shutdown().await;
}
