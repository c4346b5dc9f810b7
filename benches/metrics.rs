//! Benchmark of a `/metrics` scrape (`cargo bench --bench metrics`): a store of 100,000
//! delivered mailboxes, each with a certificate-sized PEM in its row, some of them failing, and
//! the whole page rendered from it as the daemon does (`pipeline::metrics::scrape::render`).
//! Prints the page size and the median and range of several renders (warm page cache); asserts
//! nothing about time. The size can be changed with `METRICS_BENCH_MAILBOXES`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use smime_provisioner::mailbox::Address;
use smime_provisioner::pipeline::metrics::scrape::{render, ScrapeInput};
use smime_provisioner::pipeline::metrics::Metrics;
use smime_provisioner::source::GuardPolicy;
use smime_provisioner::store::Store;

const RUNS: usize = 5;

fn main() -> Result<()> {
    let mailboxes: usize = match std::env::var("METRICS_BENCH_MAILBOXES") {
        Ok(v) => v
            .parse()
            .context("METRICS_BENCH_MAILBOXES must be a number")?,
        Err(_) => 100_000,
    };
    let tmp = tempfile::tempdir()?;
    let now = time::OffsetDateTime::now_utc();
    let store = Store::open(tmp.path())?;
    let listed: BTreeSet<Address> = (0..mailboxes)
        .map(|i| format!("user{i}@domain{}.example", i % 100).parse())
        .collect::<Result<_, _>>()?;
    let started = Instant::now();
    store.apply_listing("maildir", &listed, true, now, &GuardPolicy::default())?;
    // Rows as a delivered certificate leaves them (a ~1.5 KB PEM each); every 100th failing.
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        "A".repeat(1500)
    );
    let conn = rusqlite::Connection::open(tmp.path().join("state.sqlite3"))?;
    let not_after = (now + time::Duration::days(300)).unix_timestamp_nanos() as i64;
    conn.execute(
        "UPDATE mailbox SET stage = 'delivered', not_after = ?1, certificate_pem = ?2, \
         chain_pem = ?2",
        rusqlite::params![not_after, pem],
    )?;
    conn.execute(
        "UPDATE mailbox SET error_class = 'transient', error_code = 'http-503' \
         WHERE rowid % 100 = 0",
        [],
    )?;
    drop(conn);
    println!(
        "metrics benchmark: {mailboxes} mailboxes (store built in {:.1} s), {RUNS} renders",
        started.elapsed().as_secs_f64()
    );
    let metrics = Metrics::default();
    let input = ScrapeInput {
        now,
        renew_before: time::Duration::days(30),
        daily_order_budget: 50,
        source_writes_failing: false,
    };
    let (mut runs, mut cpu, mut reads) = (Vec::new(), Vec::new(), Vec::new());
    let mut size = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        let mut n = 0usize;
        store.for_each_mailbox_figure(|_| n += 1)?;
        reads.push(t.elapsed());
        let (t, c2) = (Instant::now(), cpu_time());
        size = render(&store, &metrics, input)?.len();
        runs.push(t.elapsed());
        cpu.push(cpu_time().saturating_sub(c2));
    }
    println!("store pass alone (wall): {}", Runs(reads));
    println!("whole page (wall):       {}", Runs(runs));
    println!("whole page (CPU time):   {}", Runs(cpu));
    println!("page size: {:.1} MB", size as f64 / 1e6);
    Ok(())
}

/// Timings of several runs, shown as median, min and max in milliseconds.
struct Runs(Vec<Duration>);

impl std::fmt::Display for Runs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ms: Vec<f64> = self.0.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let (lo, mid, hi) = (ms[0], ms[ms.len() / 2], ms[ms.len() - 1]);
        write!(f, "median {mid:.1} ms (min {lo:.1}, max {hi:.1})")
    }
}

/// This process's user + system CPU time (`/proc/self/stat`, clock ticks of 10 ms): on a
/// shared machine it says what a scrape costs better than the wall clock does.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    // After the command name: state, ppid, …; utime and stime are the 12th and 13th fields.
    let f: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_millis((field(11) + field(12)) * 10)
}
