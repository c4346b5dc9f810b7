//! The daily order budget through the real daemon (`smime-provisioner run`) against the bundled
//! simulator, real SQLite and 1,000 new mailboxes in a maildir tree:
//! - no key is generated for a mailbox that cannot be ordered today (a budget with a few orders
//!   left, a spent one, and 0 = ordering disabled), counted as `key-generated` events and key
//!   files;
//! - a spent budget is one ALERT line (and `alerts_total{kind="budget-exhausted"} 1`), not one
//!   per mailbox;
//! - certificates already ordered (to fetch, bundle and deliver) go ahead of new orders: with one
//!   worker, every one of them is delivered before the first new key or order, by the order of
//!   events in the store (not by timing).
//!
//! Set-up: an earlier run (the live pipeline in this process, same state directory) ordered five
//! mailboxes today and left three waiting for their certificate to be fetched and two issued but
//! not yet delivered; then 1,000 new mailboxes appear in the tree (half of them already recorded
//! in the store, the rest found by the daemon's scan) and the daemon starts.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use smime_provisioner::lifecycle::ErrorClass;
use smime_provisioner::mailbox::Address;
use smime_provisioner::pipeline::{ForeignMessages, Outcome, PollRound, Stage, Step};
use smime_provisioner::simulator::{Faults, SimulatorHandle};
use smime_provisioner::store::{MailboxRecord, Store};
use support::live::*;

const NEW: usize = 1000;
const PAID: usize = 5;
/// How long the daemon may take to settle 1,000 mailboxes; far above the ~30 s it takes, so a
/// loaded machine does not fail a correct daemon. A bound on waiting, not a timing assertion.
const WAIT_SECS: u64 = 900;
const TOKEN: &str = "budget-test-push-token-0123456789";

fn paid_name(i: usize) -> String {
    format!("paid{i:02}@example.com")
}

fn new_name(i: usize) -> String {
    // Sorts before the paid ones: a FIFO fed in store order puts every new mailbox first.
    format!("new{i:04}@example.com")
}

/// The config for `dir` with `budget` orders a day and `workers` workers, the HTTP endpoint on
/// an ephemeral port.
fn write_config(dir: &Path, sim: &SimulatorHandle, budget: u32, workers: usize) -> PathBuf {
    let token = dir.join("push.token");
    std::fs::write(&token, TOKEN).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let extra = format!(
        "concurrency = {workers}\n[http]\nlisten = \"127.0.0.1:0\"\npush_token_file = \"{}\"\n",
        token.display()
    );
    let text = config_text(dir, &sim.json_url(), "json", &extra).replace(
        "poll_interval_secs = 1\n",
        &format!("poll_interval_secs = 1\ndaily_order_budget = {budget}\n"),
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The earlier run: `PAID` mailboxes ordered today (counted against the budget), their jobs done
/// at AutoDNS and the completions read; two certificates fetched (issued, not delivered), three
/// waiting to be fetched.
async fn seed_paid_work(dir: &Path, sim: &SimulatorHandle) -> Vec<Address> {
    let config_path = write_config(dir, sim, PAID as u32, 1);
    let config = parse_config(&std::fs::read_to_string(config_path).unwrap(), dir);
    let rec = live_reconciler(&config, None);
    let now = rec.clock().now();
    let paid: Vec<Address> = (0..PAID)
        .map(|i| Address::parse(&paid_name(i)).unwrap())
        .collect();
    for a in &paid {
        std::fs::create_dir_all(dir.join("mail/example.com").join(a.local())).unwrap();
        rec.store().observe_present(a, now).unwrap();
        let out = rec.reconcile(a).await.unwrap();
        assert!(matches!(out, Outcome::Waiting(_)), "{a}: {out:?}");
        assert_eq!(rec.store().get(a).unwrap().unwrap().stage, Stage::Ordered);
    }
    // Bounded: the simulator issues after 100 ms.
    for _ in 0..600 {
        if sim.orders().iter().all(|o| o.status == "SUCCESS") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut rounds = 0;
    while let Ok(PollRound::Handled(_)) = rec.poll_once(ForeignMessages::Confirm).await {
        rounds += 1;
        assert!(rounds < 100, "the poll queue does not drain");
    }
    for a in &paid {
        let r = rec.store().get(a).unwrap().unwrap();
        assert!(r.certificate_id.is_some(), "{a}: the completion was read");
    }
    for a in &paid[..2] {
        assert_eq!(
            rec.step(a).await.unwrap(),
            Outcome::Done(Step::FetchCertificate)
        );
        assert_eq!(rec.store().get(a).unwrap().unwrap().stage, Stage::Issued);
    }
    assert_eq!(rec.store().orders_on(now.date()).unwrap(), PAID as u32);
    paid
}

/// The 1,000 new mailboxes appear in the tree; the first half was already recorded (by a daemon
/// that stopped before working on them), the rest arrives through the maildir scan.
fn new_mailboxes(dir: &Path) {
    let store = Store::open(&dir.join("state")).unwrap();
    let now = time::OffsetDateTime::now_utc();
    for i in 0..NEW {
        std::fs::create_dir_all(dir.join(format!("mail/example.com/new{i:04}"))).unwrap();
        if i < NEW / 2 {
            store
                .observe_present(&Address::parse(&new_name(i)).unwrap(), now)
                .unwrap();
        }
    }
}

fn start_daemon(config: &Path, log: &Path) -> Child {
    let log = std::fs::File::create(log).unwrap();
    Command::new(env!("CARGO_BIN_EXE_smime-provisioner"))
        .arg("--config")
        .arg(config)
        .args([
            "--log-format",
            "json",
            "--log",
            "smime_provisioner=info",
            "run",
        ])
        .env("SIM_PASSWORD", SIM_PASSWORD)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// SIGTERM, then a bounded wait for a clean exit.
async fn stop_daemon(mut child: Child) {
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    for _ in 0..1200 {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(
                status.success(),
                "the daemon did not exit cleanly: {status:?}"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the daemon did not stop within 120 s of SIGTERM");
}

/// Settled: every paid mailbox delivered, every new one recorded and either ordered for or held
/// back by the budget.
fn settled(records: &[MailboxRecord], paid: &[Address]) -> bool {
    let new: Vec<_> = records
        .iter()
        .filter(|r| r.address.as_str().starts_with("new"))
        .collect();
    new.len() == NEW
        && new.iter().all(|r| {
            r.failure.class == Some(ErrorClass::Budget)
                || r.ctid.is_some()
                || matches!(
                    r.stage,
                    Stage::Ordered | Stage::Issued | Stage::Bundled | Stage::Delivered
                )
        })
        && paid.iter().all(|a| {
            records
                .iter()
                .any(|r| &r.address == a && r.stage == Stage::Delivered)
        })
}

/// Waits (bounded) until the daemon has settled; fails with the stages and the log tail if not.
async fn wait_settled(child: &mut Child, state: &Path, log: &Path, paid: &[Address]) {
    for _ in 0..WAIT_SECS * 4 {
        let records = Store::open(state)
            .and_then(|s| s.list())
            .unwrap_or_default();
        if settled(&records, paid) {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the daemon exited early ({status:?}):\n{}", tail(log));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let _ = child.kill();
    let records = Store::open(state)
        .and_then(|s| s.list())
        .unwrap_or_default();
    let mut stages = std::collections::BTreeMap::<String, usize>::new();
    for r in &records {
        *stages.entry(r.status_label()).or_default() += 1;
    }
    panic!(
        "not settled within {WAIT_SECS} s: {stages:?}\n{}",
        tail(log)
    );
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// The log lines (JSON) at WARN or ERROR that speak of the budget.
fn budget_warnings(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .filter(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
            matches!(v["level"].as_str(), Some("WARN" | "ERROR")) && l.contains("budget")
        })
        .map(str::to_string)
        .collect()
}

/// The `/metrics` page of the daemon whose log is `log` (the listen address is logged).
async fn metrics(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap();
    let listen = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|v| v["fields"]["listen"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no listen address in the log:\n{}", tail(log)));
    reqwest::get(format!("http://{listen}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// What the store says after the run: `key-generated` events of new mailboxes, the highest
/// event id of a paid mailbox's delivery, and the lowest event id of a new mailbox's key or
/// order.
struct Trail {
    new_keys: usize,
    last_paid_delivery: i64,
    first_new_work: Option<i64>,
}

fn trail(store: &Store, paid: &[Address]) -> Trail {
    let mut t = Trail {
        new_keys: 0,
        last_paid_delivery: 0,
        first_new_work: None,
    };
    for a in paid {
        let delivered = store
            .events(a)
            .unwrap()
            .into_iter()
            .find(|e| e.kind == "delivered");
        let id = delivered
            .unwrap_or_else(|| panic!("{a} was not delivered"))
            .id;
        t.last_paid_delivery = t.last_paid_delivery.max(id);
    }
    for i in 0..NEW {
        let a = Address::parse(&new_name(i)).unwrap();
        for e in store.events(&a).unwrap() {
            if e.kind == "key-generated" {
                t.new_keys += 1;
            }
            if e.kind == "key-generated" || e.kind == "order-intent" {
                t.first_new_work = Some(t.first_new_work.map_or(e.id, |f| f.min(e.id)));
            }
        }
    }
    t
}

/// Sealed key files of mailboxes: every entry but the pool's spare keys, which belong to no
/// mailbox (ec-p256, the configured type).
fn key_files(state: &Path) -> usize {
    let spare = Store::open(state)
        .and_then(|s| s.pool_free("ec-p256"))
        .unwrap_or(0);
    let sealed = std::fs::read_dir(state.join("keys"))
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".sealed"))
            })
            .count()
        })
        .unwrap_or(0);
    sealed.saturating_sub(spare)
}

/// Runs the scenario with `budget` orders a day (five of them spent by the earlier run) and
/// `workers` workers; checks keys, orders, the one alert, the metrics and that paid work went
/// first. Returns the alert line for scenario-specific checks.
async fn scenario(budget: u32, workers: usize) -> String {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_simulator(Faults::default(), Duration::from_millis(100), 61).await;
    let paid = seed_paid_work(dir.path(), &sim).await;
    new_mailboxes(dir.path());
    let config_path = write_config(dir.path(), &sim, budget, workers);
    let state = dir.path().join("state");
    let log = dir.path().join("daemon.log");
    let mut child = start_daemon(&config_path, &log);
    wait_settled(&mut child, &state, &log, &paid).await;
    let page = metrics(&log).await;
    stop_daemon(child).await;

    let run = Run {
        budget,
        can_order: budget.saturating_sub(PAID as u32) as usize,
        state,
        warnings: budget_warnings(&log),
        orders: sim.orders().len(),
        page,
    };
    let mut problems = key_problems(&run, &paid);
    problems.extend(alert_problems(&run));
    assert!(
        problems.is_empty(),
        "{} problems:\n- {}\n/metrics:\n{}",
        problems.len(),
        problems.join("\n- "),
        run.page
    );
    sim.shutdown().await;
    run.warnings[0].clone()
}

/// What a scenario's daemon left behind.
struct Run {
    budget: u32,
    can_order: usize,
    state: PathBuf,
    /// Budget lines at WARN or ERROR in its log.
    warnings: Vec<String>,
    /// Orders the simulator received (the earlier run's included).
    orders: usize,
    /// Its `/metrics` page.
    page: String,
}

/// Every check is collected, so one run shows each way the daemon falls short: keys, orders,
/// held-back mailboxes, and the order of paid and new work.
fn key_problems(run: &Run, paid: &[Address]) -> Vec<String> {
    let can_order = run.can_order;
    let store = Store::open(&run.state).unwrap();
    let t = trail(&store, paid);
    let mut problems = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            problems.push(what);
        }
    };
    let keys = t.new_keys;
    check(
        keys == can_order,
        format!("{keys} keys generated for new mailboxes, {can_order} orders left"),
    );
    // The paid mailboxes' keys may be kept (`keys.archive`); no other key may exist.
    let files = key_files(&run.state);
    check(
        files <= PAID + can_order,
        format!("{files} key files for {PAID} orders placed and {can_order} left"),
    );
    let orders = run.orders;
    check(
        orders == PAID + can_order,
        format!("{orders} orders at AutoDNS"),
    );
    let held: Vec<_> = store
        .list()
        .unwrap()
        .into_iter()
        .filter(|r| r.failure.class == Some(ErrorClass::Budget))
        .collect();
    let n = held.len();
    check(n == NEW - can_order, format!("{n} mailboxes held back"));
    let keyed = held.iter().filter(|r| r.key_ref.is_some()).count();
    check(
        keyed == 0,
        format!("{keyed} mailboxes held back after their key was made"),
    );
    if let Some(first) = t.first_new_work {
        check(
            t.last_paid_delivery < first,
            format!(
                "a new mailbox got a key or an order (event {first}) before the last certificate \
                 already bought was delivered (event {})",
                t.last_paid_delivery
            ),
        );
    }
    problems
}

/// The one alert in the log and the budget's metrics.
fn alert_problems(run: &Run) -> Vec<String> {
    let mut problems = Vec::new();
    let w = &run.warnings;
    if w.len() != 1 {
        let first: Vec<_> = w.iter().take(3).cloned().collect();
        problems.push(format!(
            "{} budget warnings or alerts in the log, the first:\n{}",
            w.len(),
            first.join("\n")
        ));
    }
    let alert = w.first().cloned().unwrap_or_default();
    if !(alert.contains("ALERT")
        && alert.contains("\"ERROR\"")
        && alert.contains("autodns.daily_order_budget"))
    {
        problems.push(format!(
            "the alert is not an ERROR naming autodns.daily_order_budget: {alert}"
        ));
    }
    let (budget, can_order) = (run.budget, run.can_order);
    for line in [
        "smime_provisioner_alerts_total{alert=\"budget-exhausted\"} 1\n".to_string(),
        format!("smime_provisioner_daily_order_budget {budget}\n"),
        format!("smime_provisioner_orders_today {}\n", PAID + can_order),
        format!(
            "smime_provisioner_mailboxes_held_back_by_budget {}\n",
            NEW - can_order
        ),
    ] {
        if !run.page.contains(&line) {
            problems.push(format!("no {line:?} in /metrics"));
        }
    }
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_three_orders_left_1000_new_mailboxes_get_three_keys_one_alert_and_paid_work_goes_first(
) {
    // One worker: "ahead of" is then a strict order of events, not a matter of timing.
    let alert = scenario(PAID as u32 + 3, 1).await;
    assert!(alert.contains("is spent"), "{alert}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_budget_generates_no_key_for_1000_new_mailboxes_and_alerts_once() {
    // Four workers: none of them gets a key past the spent budget.
    let alert = scenario(PAID as u32, 4).await;
    assert!(alert.contains("is spent"), "{alert}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_budget_generates_no_key_for_1000_new_mailboxes_and_alerts_once() {
    let alert = scenario(0, 4).await;
    assert!(alert.contains("ordering is disabled"), "{alert}");
}

// The same rules over the port fakes, on a manual clock: fast, and they can move to the next day.

mod over_fakes {
    use std::sync::Arc;

    use smime_provisioner::lifecycle::ErrorClass;
    use smime_provisioner::pipeline::{Settings, Stage};
    use smime_provisioner::testkit::FakeAutodns;
    use support::rig::*;

    fn rig(budget: u32) -> Rig {
        let s = Settings {
            daily_order_budget: budget,
            ..Settings::default()
        };
        Rig::new(FakeAutodns::instant(), s)
    }

    #[tokio::test]
    async fn a_spent_budget_is_one_alert_a_day_and_holds_mailboxes_back_until_the_next_day() {
        let rig = rig(2);
        let names: Vec<_> = (0..40)
            .map(|i| addr(&format!("u{i:02}@example.com")))
            .collect();
        for a in &names {
            rig.add(a);
            rig.settle(a).await;
        }
        assert_eq!(rig.keys.generated.lock().unwrap().len(), 2);
        assert_eq!(rig.autodns.order_count(), 2);
        assert_eq!(rig.rec.metrics().get("alerts", "budget-exhausted"), 1);
        assert_eq!(
            rig.rec.metrics().get("budget_held_back", "generate-key"),
            38
        );
        let held = rig.record(&names[39]);
        assert_eq!(
            (held.stage, held.failure.class),
            (Stage::Discovered, Some(ErrorClass::Budget))
        );
        assert_eq!(
            held.failure.attempts, 0,
            "being held back is not a failed attempt"
        );
        // The next day: two more orders, and one more alert.
        rig.clock.set(time::macros::datetime!(2026-03-03 00:00 UTC));
        for a in &names {
            rig.settle(a).await;
        }
        assert_eq!(rig.autodns.order_count(), 4);
        assert_eq!(rig.keys.generated.lock().unwrap().len(), 4);
        assert_eq!(rig.rec.metrics().get("alerts", "budget-exhausted"), 2);
    }

    #[tokio::test]
    async fn a_raised_budget_releases_the_held_back_mailboxes_at_the_next_start() {
        let off = rig(0);
        let names: Vec<_> = (0..5).map(|i| addr(&format!("u{i}@example.com"))).collect();
        for a in &names {
            off.add(a);
            off.settle(a).await;
        }
        assert!(
            off.keys.generated.lock().unwrap().is_empty(),
            "ordering disabled: no keys"
        );
        assert_eq!(
            off.rec.release_budget_waits().unwrap(),
            0,
            "a budget of 0 has no room"
        );
        assert!(
            off.rec.due().unwrap().0.is_empty(),
            "held back until the next day"
        );
        // The administrator sets a budget of 3 and restarts: three are ordered today.
        let s = Settings {
            daily_order_budget: 3,
            ..Settings::default()
        };
        let on = Rig::with_parts(
            Arc::clone(&off.store),
            off.autodns.clone(),
            off.keys.clone(),
            off.courier.clone(),
            off.clock.clone(),
            s,
            8,
        );
        assert_eq!(on.rec.release_budget_waits().unwrap(), 5);
        for a in &names {
            on.settle(a).await;
        }
        assert_eq!(on.autodns.order_count(), 3);
        assert_eq!(on.keys.generated.lock().unwrap().len(), 3);
        let delivered = names
            .iter()
            .filter(|a| on.record(a).stage == Stage::Delivered);
        assert_eq!(delivered.count(), 3);
        // The day's alert was raised already (by the first process): not again.
        assert_eq!(on.rec.metrics().get("alerts", "budget-exhausted"), 0);
    }
}
