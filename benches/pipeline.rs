//! Benchmark of the provisioning pipeline against the bundled simulator (prints figures, asserts
//! nothing about time). Every figure is printed next to its goal (issue #16, "Fast at the edges").
//! Parts, picked with `PIPELINE_BENCH_ONLY` (any subset of the letters; default `bdewkm`):
//!
//! (a) AutoDNS HTTP requests per delivered certificate (every request the client sends,
//!     retries included, counted from its `AutoDNS request` log event), `PIPELINE_BENCH_N`
//!     mailboxes (default 200);
//! (b) throughput on a backlog of `PIPELINE_BENCH_THROTTLED_N` mailboxes (default 200, about
//!     five minutes) with the simulator limiting to 3 requests/second and the client pacing at
//!     3, as a share of that limit's ceiling, 3 ÷ requests per certificate (goal ≥ 95 %), with
//!     the gaps between requests over 400 ms and the simulator's 429 answers (where the pacer
//!     sat idle); `PIPELINE_BENCH_SENDS` names a file for every send time and
//!     `PIPELINE_BENCH_LOG` one for the daemon's log;
//! (c) unthrottled throughput with zero issuance delay, as a ratio of its wall time to the time
//!     of generating the same keys alone on all cores;
//! (d) latency from `mkdir` of a mailbox directory to its CertificateCreate at the simulator,
//!     p50 and p99, RSA-3072 keys, the client pacing at 3 requests/s, one `mkdir` every
//!     `PIPELINE_BENCH_MKDIR_MS` (default 2000) for `PIPELINE_BENCH_MKDIR_N` mailboxes (default
//!     15), through the real maildir watcher and the key pool (goal p99 < 100 ms);
//! (e) a burst of `PIPELINE_BENCH_BURST` mailboxes (default 100) made at once: latency of the
//!     burst's first CertificateCreate (goal < 1 s);
//! (w) one new mailbox in a tree of `PIPELINE_BENCH_TREE` known mailboxes (default 100,000):
//!     CPU time of this process from the `mkdir` until the watcher's event is admitted into the
//!     state store (goal < 10 ms);
//! (k) `PIPELINE_BENCH_KILL_N` mailboxes (default 50) through the release binary, killed with
//!     SIGKILL 10 times and restarted, against a simulator answering 429 above 3 requests/s:
//!     the 429s it answered (goal 0). `PIPELINE_BENCH_BINARY` names another binary to run.
//!
//! (m) the release daemon's RSS with `PIPELINE_BENCH_KNOWN` known, delivered mailboxes
//!     (default 100,000) once idle (goal < 64 MB), and its peak over the 40 s after a backlog of
//!     `PIPELINE_BENCH_BACKLOG` new mailboxes (default 10,000) appears (goal < 128 MB).
//!
//! Run: `cargo bench --bench pipeline` (about ten minutes with the defaults; the sizes above
//! scale it down).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use smime_provisioner::crypto::{generate_keys_parallel, KeyType};
use smime_provisioner::daemon::{start_sources, Daemon, DaemonSettings, Seen};
use smime_provisioner::mailbox::{Address, DomainPolicy};
use smime_provisioner::pipeline::{ForeignMessages, Stage};
use smime_provisioner::simulator::Faults;
use smime_provisioner::source::maildir::{Layout, MaildirSettings, MaildirSource};
use smime_provisioner::source::{admit, Admitted, GuardPolicy, SourceEvent};
use smime_provisioner::store::Store;
use support::live::*;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

/// Counts the AutoDNS client's `AutoDNS request` events: one per HTTP request sent, and keeps
/// each one's send time and task (for the pacer's idle time in (b)).
struct RequestCounter(Arc<Requests>);

/// The requests seen: how many, and each one's send time and task.
#[derive(Default)]
struct Requests {
    count: AtomicU64,
    sends: std::sync::Mutex<Vec<(Instant, String)>>,
}

impl Requests {
    fn reset(&self) {
        self.count.store(0, Ordering::SeqCst);
        self.sends.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    fn sends(&self) -> Vec<(Instant, String)> {
        self.sends.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[derive(Default)]
struct IsRequest(bool, String);

impl tracing::field::Visit for IsRequest {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "task" {
            self.1 = value.to_string();
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" && format!("{value:?}") == "AutoDNS request" {
            self.0 = true;
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for RequestCounter {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut v = IsRequest::default();
        event.record(&mut v);
        if v.0 {
            self.0.count.fetch_add(1, Ordering::Relaxed);
            let mut sends = self.0.sends.lock().unwrap_or_else(|e| e.into_inner());
            sends.push((Instant::now(), v.1));
        }
    }
}

fn env_n(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Batch {
    start: Instant,
    elapsed: Duration,
    requests: u64,
    delivered: usize,
    /// Requests the simulator answered 429.
    refused: u64,
}

/// Runs `n` mailboxes through the daemon against a fresh simulator; returns wall time (from the
/// first event to the last delivery), requests sent and mailboxes delivered.
async fn batch(n: usize, rps: f64, sim_limit: Option<f64>, counter: &Requests) -> Batch {
    let dir = tempfile::tempdir().expect("tempdir");
    let faults = Faults {
        rate_limit_rps: sim_limit,
        ..Faults::default()
    };
    let sim = start_simulator(faults, Duration::ZERO, 41).await;
    let text = config_text(dir.path(), &sim.json_url(), "json", "")
        .replace("type = \"ec-p256\"", "type = \"rsa-2048\"")
        // More orders than the default daily budget of 50.
        .replace("[autodns]\n", "[autodns]\ndaily_order_budget = 100000\n");
    let config = parse_config(&text, dir.path());
    let rec = Arc::new(live_reconciler_paced(&config, None, rps));
    let store = rec.store().clone();
    let settings = DaemonSettings {
        concurrency: 4,
        poll_interval: Duration::from_millis(500),
        resync_interval: Duration::from_secs(1),
        foreign: ForeignMessages::Confirm,
        ..DaemonSettings::default()
    };
    let (tx, rx) = mpsc::channel(n + 1);
    let stop = CancellationToken::new();
    // As the `run` verb does: keys generated ahead, at low priority, while the daemon runs.
    if let Some(pool) = rec.keys().pool().cloned() {
        tokio::spawn(pool.refill(stop.clone()));
    }
    counter.reset();
    let start = Instant::now();
    let run = tokio::spawn(Daemon::new(rec, settings, None).run(rx, None, stop.clone()));
    for i in 0..n {
        let a = Address::parse(&format!("bench{i:04}@example.com")).expect("address");
        tx.send(Seen::Present(a)).await.expect("daemon running");
    }
    let mut delivered = 0;
    while start.elapsed() < Duration::from_secs(3600) {
        delivered = store
            .list()
            .map(|l| l.iter().filter(|r| r.stage == Stage::Delivered).count())
            .unwrap_or(0);
        if delivered == n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = start.elapsed();
    let requests = counter.count.load(Ordering::SeqCst);
    stop.cancel();
    let _ = run.await;
    let refused = sim.rate_limited();
    sim.shutdown().await;
    Batch {
        refused,
        start,
        elapsed,
        requests,
        delivered,
    }
}

/// (d), (e): mkdir `n` mailbox directories `spacing` apart (all at once for zero) with `key`
/// keys, the client pacing at 3 requests/s and the key pool filled first; returns each
/// mailbox's latency to its CertificateCreate, and the first order's latency from the first
/// mkdir.
async fn mkdir_latency(n: usize, spacing: Duration, key: &str) -> (Vec<Duration>, Duration) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = start_simulator(Faults::default(), Duration::ZERO, 42).await;
    let text = config_text(dir.path(), &sim.json_url(), "json", "")
        .replace("type = \"ec-p256\"", &format!("type = \"{key}\""))
        // More orders than the default daily budget of 50.
        .replace("[autodns]\n", "[autodns]\ndaily_order_budget = 100000\n");
    let config = parse_config(&text, dir.path());
    std::fs::create_dir_all(dir.path().join("mail/example.com")).expect("mail root");
    let rec = Arc::new(live_reconciler_paced(&config, None, 3.0));
    let store = rec.store().clone();
    let stop = CancellationToken::new();
    if let Some(pool) = rec.keys().pool().cloned() {
        tokio::spawn(pool.refill(stop.clone()));
    }
    let (tx, rx) = mpsc::channel(4096);
    let sources = start_sources(
        &config,
        store.clone(),
        rec.clock().clone(),
        tx,
        stop.clone(),
        Default::default(),
    )
    .expect("sources");
    let settings = DaemonSettings {
        concurrency: config.pipeline.concurrency,
        poll_interval: config.autodns.poll_interval,
        resync_interval: Duration::from_secs(60),
        ..DaemonSettings::default()
    };
    let run = tokio::spawn(Daemon::new(rec, settings, None).run(rx, None, stop.clone()));
    // Steady state: the watcher is up and the pool full (a daemon that has been running).
    let ready = Instant::now() + Duration::from_secs(120);
    while store.pool_free(key).unwrap_or(0) < config.keys.pool_size && Instant::now() < ready {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut made = std::collections::BTreeMap::new();
    let first = time::OffsetDateTime::now_utc();
    for i in 0..n {
        let name = format!("lat{i:04}");
        std::fs::create_dir_all(dir.path().join("mail/example.com").join(&name)).expect("mkdir");
        made.insert(
            format!("{name}@example.com"),
            time::OffsetDateTime::now_utc(),
        );
        if !spacing.is_zero() {
            tokio::time::sleep(spacing).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    while sim.orders().len() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let orders = sim.orders();
    let mut lat: Vec<Duration> = orders
        .iter()
        .filter_map(|o| {
            let t0 = made.get(&o.name)?;
            Duration::try_from(o.received_at - *t0).ok()
        })
        .collect();
    lat.sort();
    let first_order = orders
        .iter()
        .filter_map(|o| Duration::try_from(o.received_at - first).ok())
        .min()
        .unwrap_or_default();
    stop.cancel();
    let _ = run.await;
    sources.wait().await;
    sim.shutdown().await;
    (lat, first_order)
}

/// CPU time of this process so far, every live thread (`/proc/self/task/*/schedstat`, ns).
fn cpu_time() -> Duration {
    let mut ns = 0u64;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for t in tasks.flatten() {
            let stat = std::fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
            ns += stat
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Duration::from_nanos(ns)
}

/// Admits a watcher event into the store as the daemon's intake does.
fn admit_into(store: &Store, ev: SourceEvent) -> usize {
    let mut added = 0;
    for work in admit(ev, &DomainPolicy::default()) {
        if let Admitted::Listing {
            source,
            complete,
            addresses,
            ..
        } = work
        {
            let now = time::OffsetDateTime::now_utc();
            let guard = GuardPolicy::default();
            let applied = store.apply_listing(source, &addresses, complete, now, &guard);
            added += applied.map(|a| a.added.len()).unwrap_or(0);
        }
    }
    added
}

/// (w): a tree of `tree` mailboxes watched and recorded; then one new mailbox. Returns the CPU
/// time and the wall time from its `mkdir` to its admission, and how many it admitted.
async fn one_new_mailbox(tree: usize) -> (Duration, Duration, usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("vmail");
    for i in 0..tree {
        std::fs::create_dir_all(root.join(format!("domain{}.example/user{i}", i % 100)))
            .expect("mkdir");
    }
    let store = Store::open(&dir.path().join("state")).expect("store");
    let settings = MaildirSettings {
        root: root.clone(),
        layout: Layout::default(),
        rescan_interval: Duration::from_secs(3600),
    };
    let (tx, mut rx) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    let watch = tokio::spawn(
        MaildirSource::new(settings)
            .reporting_listings()
            .watch(tx, cancel.clone()),
    );
    if let Some(first) = rx.recv().await {
        admit_into(&store, first);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (c0, t0) = (cpu_time(), Instant::now());
    std::fs::create_dir_all(root.join("domain7.example/newcomer")).expect("mkdir");
    let added = match rx.recv().await {
        Some(ev) => admit_into(&store, ev),
        None => 0,
    };
    let (cpu, wall) = (cpu_time() - c0, t0.elapsed());
    cancel.cancel();
    let _ = watch.await;
    (cpu, wall, added)
}

/// (k): `n` mailboxes through the release binary, SIGKILLed `kills` times at seeded random
/// moments and restarted, against a simulator answering 429 above 3 requests/s. Returns the
/// 429s answered, the mailboxes delivered and the wall time.
async fn killed_run(n: usize, kills: usize) -> (u64, usize, Duration) {
    use rand::{Rng, SeedableRng};
    let dir = tempfile::tempdir().expect("tempdir");
    let faults = Faults {
        rate_limit_rps: Some(3.0),
        ..Faults::default()
    };
    let sim = start_simulator(faults, Duration::from_millis(400), 21).await;
    let text = config_text(dir.path(), &sim.json_url(), "json", "").replace(
        "poll_interval_secs = 1\n",
        "poll_interval_secs = 1\njob_silence_timeout_secs = 60\n",
    );
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, &text).expect("config");
    let state = parse_config(&text, dir.path()).state_dir;
    for i in 0..n {
        std::fs::create_dir_all(dir.path().join(format!("mail/example.com/user{i:03}")))
            .expect("mkdir");
    }
    // `PIPELINE_BENCH_BINARY` runs another build (e.g. the one before a change) instead.
    let binary = std::env::var("PIPELINE_BENCH_BINARY")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_smime-provisioner").to_string());
    let start = || spawn_quiet_daemon(&binary, &config_path);
    let delivered = || {
        Store::open(&state)
            .and_then(|s| s.list())
            .map(|l| l.iter().filter(|r| r.stage == Stage::Delivered).count())
            .unwrap_or(0)
    };
    let t0 = Instant::now();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for _ in 0..kills {
        let mut child = start();
        tokio::time::sleep(Duration::from_millis(rng.random_range(300..2500))).await;
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }
    let mut child = start();
    let deadline = Instant::now() + Duration::from_secs(900);
    while delivered() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let refused = sim.rate_limited();
    sim.shutdown().await;
    (refused, delivered(), t0.elapsed())
}

/// Starts `binary run` on `config` against the bench's simulator, its output discarded (unlike
/// `support::live::spawn_daemon`'s debug log, which would add its own cost to the figures).
fn spawn_quiet_daemon(binary: &str, config: &std::path::Path) -> std::process::Child {
    std::process::Command::new(binary)
        .arg("--config")
        .arg(config)
        .arg("run")
        .env("SIM_PASSWORD", SIM_PASSWORD)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("daemon")
}

/// Resident set size of process `pid` in MiB (`VmRSS`).
fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Records `n` delivered mailboxes (as the maildir source reports them) straight into the
/// store, with a certificate-sized PEM each, and makes their directories.
fn known_delivered(dir: &std::path::Path, state: &std::path::Path, n: usize) {
    let store = Store::open(state).expect("store");
    drop(store);
    let mut db = rusqlite::Connection::open(state.join("state.sqlite3")).expect("db");
    let tx = db.transaction().expect("tx");
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64;
    let expiry = now + 300 * 86_400 * 1_000_000_000;
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        "A".repeat(1800)
    );
    for i in 0..n {
        let (domain, user) = (format!("domain{}.example", i % 100), format!("user{i}"));
        std::fs::create_dir_all(dir.join("mail").join(&domain).join(&user)).expect("mkdir");
        let address = format!("{user}@{domain}");
        tx.execute(
            "INSERT INTO mailbox (address, stage, generation, version, present, key_ref, \
             certificate_id, certificate_pem, chain_pem, not_after, delivered_at, created_at, \
             updated_at) VALUES (?1, 'delivered', 1, 1, 1, ?2, ?3, ?4, ?4, ?5, ?6, ?6, ?6)",
            rusqlite::params![
                address,
                format!("{address}#1"),
                i as i64 + 1,
                pem,
                expiry,
                now
            ],
        )
        .expect("insert");
        tx.execute(
            "INSERT INTO presence (address, source, since) VALUES (?1, 'maildir', ?2)",
            rusqlite::params![address, now],
        )
        .expect("presence");
    }
    tx.commit().expect("commit");
}

/// The highest RSS of `pid` sampled every 200 ms for `secs`.
async fn peak_rss(pid: u32, secs: u64) -> f64 {
    let mut peak: f64 = 0.0;
    for _ in 0..secs * 5 {
        peak = peak.max(rss_mib(pid));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    peak
}

/// (m): the release daemon with `known` delivered mailboxes: its RSS once idle, then its peak
/// while working through `backlog` new ones.
async fn daemon_memory(known: usize, backlog: usize) -> (f64, f64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = start_simulator(Faults::default(), Duration::ZERO, 43).await;
    let text = config_text(dir.path(), &sim.json_url(), "json", "")
        .replace("[autodns]\n", "[autodns]\ndaily_order_budget = 100000\n")
        .replace("rescan_interval_secs = 2", "rescan_interval_secs = 3600");
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, &text).expect("config");
    let state = parse_config(&text, dir.path()).state_dir;
    known_delivered(dir.path(), &state, known);
    let mut child = spawn_quiet_daemon(env!("CARGO_BIN_EXE_smime-provisioner"), &config_path);
    let pid = child.id();
    // The first full scan and its listing, then idle.
    tokio::time::sleep(Duration::from_secs(30)).await;
    let idle = peak_rss(pid, 10).await;
    for i in 0..backlog {
        std::fs::create_dir_all(dir.path().join(format!("mail/new.example/user{i}")))
            .expect("mkdir");
    }
    let working = peak_rss(pid, 40).await;
    let _ = child.kill();
    let _ = child.wait();
    sim.shutdown().await;
    (idle, working)
}

fn pct(v: &[Duration], p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

/// Installs the request counter (and the log file `PIPELINE_BENCH_LOG` names: the daemon's log
/// at info, and each request); false if a subscriber is installed already.
fn install_subscriber(counter: &Arc<Requests>) -> bool {
    let filter = tracing_subscriber::EnvFilter::new("smime_provisioner::autodns::client=debug");
    let log = std::env::var("PIPELINE_BENCH_LOG")
        .ok()
        .and_then(|p| std::fs::File::create(p).ok())
        .map(|f| {
            tracing_subscriber::fmt::layer()
                .with_writer(std::sync::Mutex::new(f))
                .with_ansi(false)
                .with_filter(tracing_subscriber::EnvFilter::new(
                    "smime_provisioner=info,smime_provisioner::autodns::client=debug",
                ))
        });
    let subscriber = tracing_subscriber::registry()
        .with(RequestCounter(counter.clone()).with_filter(filter))
        .with(log);
    tracing::subscriber::set_global_default(subscriber).is_ok()
}

fn main() {
    let counter = Arc::new(Requests::default());
    if !install_subscriber(&counter) {
        return eprintln!("cannot install the request counter");
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return eprintln!("cannot start the runtime: {e}"),
    };
    let n = env_n("PIPELINE_BENCH_N", 200);
    let spacing = Duration::from_millis(env_n("PIPELINE_BENCH_MKDIR_MS", 2000) as u64);
    let only = std::env::var("PIPELINE_BENCH_ONLY").unwrap_or_else(|_| "bdewkm".into());
    let part = |c: char| only.contains(c);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    rt.block_on(async {
        println!("pipeline benchmark against the simulator over HTTP (JSON); goals from issue #16");
        if part('a') || part('c') {
            requests_and_unthrottled(n, &counter, part('c')).await;
        }
        if part('d') {
            let count = env_n("PIPELINE_BENCH_MKDIR_N", 15);
            let (lat, _) = mkdir_latency(count, spacing, "rsa-3072").await;
            println!(
                "(d) mkdir → CertificateCreate, RSA-3072, one mkdir / {} ms, {} mailboxes: p50 \
                 {:.0} ms, p99 {:.0} ms   [goal: p99 < 100 ms]",
                spacing.as_millis(),
                lat.len(),
                ms(pct(&lat, 0.5)),
                ms(pct(&lat, 0.99)),
            );
        }
        if part('e') {
            let burst = env_n("PIPELINE_BENCH_BURST", 100);
            let (lat, first) = mkdir_latency(burst, Duration::ZERO, "rsa-3072").await;
            println!(
                "(e) burst of {burst} mkdirs, RSA-3072: first CertificateCreate {:.0} ms after the \
                 first mkdir ({} ordered; p50 {:.1} s, p99 {:.1} s)   [goal: first < 1 s]",
                ms(first),
                lat.len(),
                pct(&lat, 0.5).as_secs_f64(),
                pct(&lat, 0.99).as_secs_f64(),
            );
        }
        if part('w') {
            let tree = env_n("PIPELINE_BENCH_TREE", 100_000);
            let (cpu, wall, added) = one_new_mailbox(tree).await;
            println!(
                "(w) one new mailbox in a tree of {tree}: detected and admitted ({added} recorded) in \
                 {:.1} ms CPU ({:.0} ms wall, incl. the watcher's 10 ms settle)   [goal: < 10 ms CPU]",
                ms(cpu),
                ms(wall),
            );
        }
        if part('k') {
            let kn = env_n("PIPELINE_BENCH_KILL_N", 50);
            let (refused, delivered, took) = killed_run(kn, 10).await;
            println!(
                "(k) {kn} mailboxes, 10 SIGKILL restarts, simulator limiting to 3 requests/s: \
                 {refused} answers 429 ({delivered} delivered in {:.0} s)   [goal: 0]",
                took.as_secs_f64()
            );
        }
        if part('m') {
            let known = env_n("PIPELINE_BENCH_KNOWN", 100_000);
            let backlog = env_n("PIPELINE_BENCH_BACKLOG", 10_000);
            let (idle, working) = daemon_memory(known, backlog).await;
            println!(
                "(m) daemon RSS with {known} known delivered mailboxes: idle {idle:.0} MiB   [goal: \
                 < 64 MB]; peak while taking up a backlog of {backlog}: {working:.0} MiB   [goal: \
                 < 128 MB]"
            );
        }
        if part('b') {
            throttled(env_n("PIPELINE_BENCH_THROTTLED_N", 200), &counter).await;
        }
    });
}

/// (a) and (c).
async fn requests_and_unthrottled(n: usize, counter: &Requests, with_keygen: bool) {
    let free = batch(n, 1000.0, None, counter).await;
    let per_cert = free.requests as f64 / free.delivered.max(1) as f64;
    println!(
        "(a) AutoDNS requests per delivered certificate: {per_cert:.2} ({} requests, {} delivered)",
        free.requests, free.delivered
    );
    if !with_keygen {
        return;
    }
    let t = Instant::now();
    let keys = generate_keys_parallel(KeyType::Rsa2048, n)
        .map(|k| k.len())
        .unwrap_or(0);
    let keygen = t.elapsed();
    println!(
        "(c) unthrottled, zero issuance delay: {n} delivered in {:.2} s ({:.1} certificates/s); \
         {keys} keys alone on all cores: {:.2} s; ratio pipeline/keygen = {:.2}",
        free.elapsed.as_secs_f64(),
        free.delivered as f64 / free.elapsed.as_secs_f64(),
        keygen.as_secs_f64(),
        free.elapsed.as_secs_f64() / keygen.as_secs_f64()
    );
}

/// (b).
async fn throttled(nb: usize, counter: &Requests) {
    let slow = batch(nb, 3.0, Some(3.0), counter).await;
    let per_cert = slow.requests as f64 / slow.delivered.max(1) as f64;
    let ceiling = 3.0 / per_cert;
    let got = slow.delivered as f64 / slow.elapsed.as_secs_f64();
    println!(
        "(b) backlog of {nb} at 3 requests/s: {} delivered in {:.1} s = {got:.3} certificates/s; \
         ceiling 3 ÷ {per_cert:.2} requests = {ceiling:.3}/s; share of ceiling {:.1} %   \
         [goal: ≥ 95 %]",
        slow.delivered,
        slow.elapsed.as_secs_f64(),
        100.0 * got / ceiling
    );
    idle_report(
        &counter.sends(),
        slow.start,
        slow.start + slow.elapsed,
        slow.refused,
    );
}

/// (b)'s diagnosis: the gaps between sends longer than 400 ms (the pacer spaces requests
/// 350 ms apart at 3/s), with the request on each side. `PIPELINE_BENCH_SENDS` names a file for
/// every send (ms from the start, task).
fn idle_report(sends: &[(Instant, String)], start: Instant, end: Instant, refused: u64) {
    let mut sends = sends.to_vec();
    sends.sort_by_key(|s| s.0);
    if let Ok(path) = std::env::var("PIPELINE_BENCH_SENDS") {
        let text: String = sends
            .iter()
            .map(|(t, task)| format!("{:.1} {task}\n", (*t - start).as_secs_f64() * 1000.0))
            .collect();
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("cannot write {path}: {e}");
        }
    }
    let mut gaps: Vec<(Duration, String, String)> = Vec::new();
    let mut prev = (start, "start".to_string());
    for (t, task) in sends.iter().cloned().chain([(end, "end".to_string())]) {
        let gap = t.saturating_duration_since(prev.0);
        if gap > Duration::from_millis(400) {
            gaps.push((gap, prev.1.clone(), task.clone()));
        }
        prev = (t, task);
    }
    let idle: Duration = gaps.iter().map(|g| g.0 - Duration::from_millis(350)).sum();
    gaps.sort_by_key(|g| std::cmp::Reverse(g.0));
    let longest: Vec<String> = gaps
        .iter()
        .take(5)
        .map(|(d, a, b)| format!("{:.0} ms {a}→{b}", d.as_secs_f64() * 1000.0))
        .collect();
    let longest = if longest.is_empty() {
        String::new()
    } else {
        format!(" (longest: {})", longest.join(", "))
    };
    println!(
        "    pacer idle: {} gaps > 400 ms{longest}, {:.1} s beyond the 350 ms spacing; \
         429 answers: {refused}",
        gaps.len(),
        idle.as_secs_f64(),
    );
}
