//! Benchmark of the provisioning pipeline against the bundled simulator (prints figures, asserts
//! nothing about time). For `PIPELINE_BENCH_N` mailboxes (default 200):
//!
//! (a) AutoDNS HTTP requests per delivered certificate (every request the client sends,
//!     retries included, counted from its `AutoDNS request` log event);
//! (b) throughput with the simulator limiting to 3 requests/second (and the client pacing at 3),
//!     as a share of that limit's ceiling, 3 ÷ requests per certificate
//!     (`PIPELINE_BENCH_THROTTLED_N` mailboxes, default 200: about five minutes);
//! (c) unthrottled throughput with zero issuance delay, as a ratio of its wall time to the time
//!     of generating the same keys alone on all cores;
//! (d) latency from `mkdir` of a mailbox directory to its CertificateCreate at the simulator,
//!     p50 and p99, with one `mkdir` every `PIPELINE_BENCH_MKDIR_MS` (default 25) through the
//!     real maildir watcher. At 25 ms the directories arrive faster than keys can be made, so
//!     the figure includes the backlog; a spacing above the key time shows the pipeline's own.
//!
//! `PIPELINE_BENCH_ONLY=abcd` (any subset) picks the parts to run.
//!
//! Keys are RSA-2048 throughout (the keygen benchmark has the other types). Run:
//! `cargo bench --bench pipeline`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use smime_provisioner::crypto::{generate_keys_parallel, KeyType};
use smime_provisioner::daemon::{start_sources, Daemon, DaemonSettings, Seen};
use smime_provisioner::mailbox::Address;
use smime_provisioner::pipeline::{ForeignMessages, Stage};
use smime_provisioner::simulator::Faults;
use support::live::*;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

/// Counts the AutoDNS client's `AutoDNS request` events: one per HTTP request sent.
struct RequestCounter(Arc<AtomicU64>);

struct IsRequest(bool);

impl tracing::field::Visit for IsRequest {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" && format!("{value:?}") == "AutoDNS request" {
            self.0 = true;
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for RequestCounter {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut v = IsRequest(false);
        event.record(&mut v);
        if v.0 {
            self.0.fetch_add(1, Ordering::Relaxed);
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
    elapsed: Duration,
    requests: u64,
    delivered: usize,
}

/// Runs `n` mailboxes through the daemon against a fresh simulator; returns wall time (from the
/// first event to the last delivery), requests sent and mailboxes delivered.
async fn batch(n: usize, rps: f64, sim_limit: Option<f64>, counter: &AtomicU64) -> Batch {
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
    counter.store(0, Ordering::SeqCst);
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
    let requests = counter.load(Ordering::SeqCst);
    stop.cancel();
    let _ = run.await;
    sim.shutdown().await;
    Batch {
        elapsed,
        requests,
        delivered,
    }
}

/// (d): mkdir one mailbox directory every 25 ms; latency to its CertificateCreate.
async fn mkdir_latency(n: usize, spacing: Duration) -> Vec<Duration> {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = start_simulator(Faults::default(), Duration::ZERO, 42).await;
    let text = config_text(dir.path(), &sim.json_url(), "json", "")
        .replace("type = \"ec-p256\"", "type = \"rsa-2048\"")
        // More orders than the default daily budget of 50.
        .replace("[autodns]\n", "[autodns]\ndaily_order_budget = 100000\n");
    let config = parse_config(&text, dir.path());
    std::fs::create_dir_all(dir.path().join("mail/example.com")).expect("mail root");
    let rec = Arc::new(live_reconciler_paced(&config, None, 1000.0));
    let store = rec.store().clone();
    let stop = CancellationToken::new();
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
        concurrency: 4,
        poll_interval: Duration::from_millis(500),
        resync_interval: Duration::from_secs(1),
        ..DaemonSettings::default()
    };
    let run = tokio::spawn(Daemon::new(rec, settings, None).run(rx, None, stop.clone()));
    tokio::time::sleep(Duration::from_millis(500)).await; // watcher ready
    let mut made = std::collections::BTreeMap::new();
    for i in 0..n {
        let name = format!("lat{i:04}");
        std::fs::create_dir_all(dir.path().join("mail/example.com").join(&name)).expect("mkdir");
        made.insert(
            format!("{name}@example.com"),
            time::OffsetDateTime::now_utc(),
        );
        tokio::time::sleep(spacing).await;
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    while sim.orders().len() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut lat: Vec<Duration> = sim
        .orders()
        .iter()
        .filter_map(|o| {
            let t0 = made.get(&o.name)?;
            Duration::try_from(o.received_at - *t0).ok()
        })
        .collect();
    lat.sort();
    stop.cancel();
    let _ = run.await;
    sources.wait().await;
    sim.shutdown().await;
    lat
}

fn pct(v: &[Duration], p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

fn main() {
    let counter = Arc::new(AtomicU64::new(0));
    let filter = tracing_subscriber::EnvFilter::new("smime_provisioner::autodns::client=debug");
    let subscriber =
        tracing_subscriber::registry().with(RequestCounter(counter.clone()).with_filter(filter));
    if tracing::subscriber::set_global_default(subscriber).is_err() {
        eprintln!("cannot install the request counter");
        return;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return;
        }
    };
    let n = env_n("PIPELINE_BENCH_N", 200);
    let nb = env_n("PIPELINE_BENCH_THROTTLED_N", 200);
    let spacing = Duration::from_millis(env_n("PIPELINE_BENCH_MKDIR_MS", 25) as u64);
    let only = std::env::var("PIPELINE_BENCH_ONLY").unwrap_or_else(|_| "abcd".into());
    let part = |c: char| only.contains(c);
    rt.block_on(async {
        println!("pipeline benchmark, {n} mailboxes, RSA-2048 keys, simulator over HTTP (JSON)");

        if part('a') || part('c') {
        let free = batch(n, 1000.0, None, &counter).await;
        let per_cert = free.requests as f64 / free.delivered.max(1) as f64;
        println!(
            "(a) AutoDNS requests per delivered certificate: {per_cert:.2} ({} requests, {} delivered)",
            free.requests, free.delivered
        );

        let t = Instant::now();
        let keys = generate_keys_parallel(KeyType::Rsa2048, n).map(|k| k.len()).unwrap_or(0);
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

        if part('d') {
        let lat = mkdir_latency(n, spacing).await;
        println!(
            "(d) mkdir → CertificateCreate over {} mailboxes (one mkdir / {} ms): p50 {:.0} ms, \
             p99 {:.0} ms, max {:.0} ms",
            lat.len(),
            spacing.as_millis(),
            pct(&lat, 0.5).as_secs_f64() * 1000.0,
            pct(&lat, 0.99).as_secs_f64() * 1000.0,
            lat.last().copied().unwrap_or_default().as_secs_f64() * 1000.0
        );
        }

        if !part('b') {
            return;
        }
        let slow = batch(nb, 3.0, Some(3.0), &counter).await;
        let per_cert_b = slow.requests as f64 / slow.delivered.max(1) as f64;
        let ceiling = 3.0 / per_cert_b;
        let got = slow.delivered as f64 / slow.elapsed.as_secs_f64();
        println!(
            "(b) at 3 requests/s: {} delivered in {:.1} s = {got:.3} certificates/s; ceiling 3 ÷ \
             {per_cert_b:.2} requests = {ceiling:.3}/s; share of ceiling {:.0} %",
            slow.delivered,
            slow.elapsed.as_secs_f64(),
            100.0 * got / ceiling
        );
    });
}
