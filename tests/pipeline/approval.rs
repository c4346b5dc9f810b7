//! A stalled approval: the simulator holds the order's job `DEFERRED` (waiting for the mailbox
//! owner to confirm GlobalSign's mail); the daemon's job check notes it once (`approval-pending`),
//! `status` shows it (table, detail and `--json`), and `resend-approval` asks AutoDNS to send the
//! mail again (`PUT /job/{id}/_resendApproverEmail`): the simulator records the resend and still
//! holds exactly one order. The verb refuses, with nothing sent, an unknown address, an address
//! without an order out, a job AutoDNS no longer holds, and the XML gateway.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use smime_provisioner::daemon::Seen;
use smime_provisioner::lifecycle::EventKind;
use smime_provisioner::mailbox::Address;
use smime_provisioner::pipeline::{Settings, Stage};
use smime_provisioner::simulator::{Faults, SimulatorHandle};
use smime_provisioner::store::{MailboxRecord, Store, Transition};
use support::live::*;

/// Runs the binary with `config` and `args`; exit code, stdout, stderr.
fn verb(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_smime-provisioner"))
        .arg("--config")
        .arg(config)
        .args(["--log", "warn"])
        .args(args)
        .env("SIM_PASSWORD", SIM_PASSWORD)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A simulator that holds every new job `DEFERRED` for a day.
async fn holding_simulator() -> SimulatorHandle {
    let faults = Faults {
        deferred_for: Duration::from_secs(86_400),
        ..Faults::default()
    };
    start_simulator(faults, Duration::from_secs(1), 13).await
}

fn write_config(dir: &Path, sim: &SimulatorHandle, wire: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("mail")).unwrap();
    let path = dir.join("config.toml");
    let text = config_text(dir, &endpoint_for(sim, wire), wire, "");
    std::fs::write(&path, text).unwrap();
    path
}

fn kinds(store: &Store, a: &Address) -> Vec<String> {
    store
        .events(a)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

/// Runs the daemon for `anna` until the trail says `approval-pending` (bounded: 60 s in 100 ms
/// steps), then stops it; whether it was noted.
async fn run_until_approval_noted(rec: &Arc<LiveReconciler>, anna: &Address) -> bool {
    let InProcessDaemon { tx, stop, run } =
        start_daemon_in_process(rec.clone(), 1, Duration::from_millis(300), 8);
    tx.send(Seen::Present(anna.clone())).await.unwrap();
    let mut noted = false;
    for _ in 0..600 {
        if kinds(rec.store(), anna)
            .iter()
            .any(|k| k == "approval-pending")
        {
            noted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    run.await.unwrap().unwrap();
    noted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_waiting_for_approval_shows_in_status_and_its_mail_is_resent_without_a_new_order() {
    let dir = tempfile::tempdir().unwrap();
    let sim = holding_simulator().await;
    let config_path = write_config(dir.path(), &sim, "json");
    let config = parse_config(&std::fs::read_to_string(&config_path).unwrap(), dir.path());
    let mut settings = Settings::from_config(&config);
    settings.policy.job_check_after = time::Duration::milliseconds(200);
    let rec = Arc::new(live_reconciler_with(&config, None, 100.0, settings));
    let anna = Address::parse("anna@example.com").unwrap();
    let noted = run_until_approval_noted(&rec, &anna).await;
    let trail = kinds(rec.store(), &anna);
    assert!(noted, "no approval-pending event: {trail:?}");
    assert_eq!(
        trail.iter().filter(|k| *k == "approval-pending").count(),
        1,
        "noted once, however often the job was checked: {trail:?}"
    );
    let r = rec.store().get(&anna).unwrap().unwrap();
    assert_eq!(r.stage, Stage::Ordered);
    let job = r.job_id.expect("the order's job id");
    let orders = sim.orders();
    assert_eq!((orders.len(), orders[0].job_id), (1, Some(job)));

    // `status`: the table, the detail view and JSON say since when and which job.
    let (code, table, err) = verb(&config_path, &["status"]);
    assert_eq!(code, 0, "{err}");
    let line = table.lines().find(|l| l.starts_with("anna@")).unwrap_or("");
    assert!(
        line.contains("waiting for approval since ") && line.contains(&format!("job {job}")),
        "{table}"
    );
    let (_, detail, _) = verb(&config_path, &["status", "anna@example.com"]);
    assert!(
        detail.contains("approval:") && detail.contains("resend-approval anna@example.com"),
        "{detail}"
    );
    let (_, json, _) = verb(&config_path, &["status", "--json"]);
    let doc: Value = serde_json::from_str(&json).unwrap();
    let rows = &doc["mailboxes"];
    assert_eq!(rows[0]["awaiting_approval"]["job_id"], job, "{json}");
    assert!(rows[0]["awaiting_approval"]["since"].is_string(), "{json}");

    // `resend-approval`: the simulator records the resend; nothing is ordered again.
    let (code, out, err) = verb(&config_path, &["resend-approval", "anna@example.com"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("job {job}")), "{out}");
    let resends = sim.approval_resends();
    assert_eq!(resends.len(), 1, "{resends:?}");
    assert_eq!(
        (resends[0].job_id, resends[0].name.as_str()),
        (job, "anna@example.com")
    );
    assert_eq!(sim.orders().len(), 1, "never re-orders");
    let store = Store::open(&dir.path().join("state")).unwrap();
    assert!(kinds(&store, &anna).iter().any(|k| k == "approval-resent"));
    sim.shutdown().await;
}

/// Seeds `address` into the store under `dir` at `stage`, with `job` as its order's job.
fn seed(dir: &Path, address: &str, stage: Stage, job: Option<i64>) {
    let store = Store::open(&dir.join("state")).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let mut r = MailboxRecord::discovered(Address::parse(address).unwrap(), now);
    r.stage = stage;
    r.job_id = job;
    store
        .commit(Transition::new(r).event(EventKind::Discovered, "seeded"))
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resend_approval_refuses_cleanly_and_sends_nothing_without_a_waiting_order() {
    let dir = tempfile::tempdir().unwrap();
    let sim = holding_simulator().await;
    let json = write_config(dir.path(), &sim, "json");
    seed(
        dir.path(),
        "done@example.com",
        Stage::Delivered,
        Some(4_309_880_001),
    );
    seed(
        dir.path(),
        "gone@example.com",
        Stage::Ordered,
        Some(4_309_889_999),
    );

    let cases: [(&str, &str); 3] = [
        ("nobody@example.com", "is not a known mailbox"),
        (
            "done@example.com",
            "no order waits at AutoDNS (status: delivered)",
        ),
        ("gone@example.com", "is no longer waiting at AutoDNS"),
    ];
    for (address, why) in cases {
        let (code, out, err) = verb(&json, &["resend-approval", address]);
        assert_eq!(code, 1, "{address}: {out}{err}");
        assert!(err.contains(why), "{address}: {err}");
    }

    // The XML gateway documents no resend task: refused before anything is sent.
    let xml_dir = dir.path().join("xml");
    std::fs::create_dir_all(&xml_dir).unwrap();
    let xml = write_config(&xml_dir, &sim, "xml");
    seed(
        &xml_dir,
        "anna@example.com",
        Stage::Ordered,
        Some(4_309_880_001),
    );
    let (code, out, err) = verb(&xml, &["resend-approval", "anna@example.com"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("XML gateway documents no task") && err.contains("autodns.wire = \"json\""),
        "{err}"
    );

    assert!(sim.approval_resends().is_empty(), "nothing was re-sent");
    assert!(sim.orders().is_empty(), "nothing was ordered");
    sim.shutdown().await;
}
