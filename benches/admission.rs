//! Benchmark of admission at scale (`cargo bench --bench admission`): the
//! first scan of a 100,000-mailbox maildir tree recorded in a fresh SQLite state store (what the
//! daemon's first full scan and `run --once` do), then one new mailbox admitted into it — by a
//! full rescan (a periodic rescan, `run --once`) and by a partial listing (what an inotify event
//! in the daemon leads to). Each phase runs in a child process of its own, so its peak RSS
//! (VmHWM) is its own. Prints figures; asserts the counts, nothing about time. The size can be
//! changed with `ADMISSION_BENCH_MAILBOXES`.

use anyhow::{ensure, Context as _, Result};
use smime_provisioner::mailbox::Address;
use smime_provisioner::source::maildir::{Layout, MaildirSettings, MaildirSource};
use smime_provisioner::source::GuardPolicy;
use smime_provisioner::store::Store;
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const DOMAINS: usize = 100;
const PHASE: &str = "ADMISSION_BENCH_PHASE";

fn main() -> Result<()> {
    if let Ok(phase) = std::env::var(PHASE) {
        let root = std::env::var("ADMISSION_BENCH_ROOT")?;
        return child(&phase, Path::new(&root));
    }
    let mailboxes: usize = match std::env::var("ADMISSION_BENCH_MAILBOXES") {
        Ok(v) => v
            .parse()
            .context("ADMISSION_BENCH_MAILBOXES must be a number")?,
        Err(_) => 100_000,
    };
    let tmp = tempfile::tempdir()?;
    let root = tmp.path();
    let start = Instant::now();
    for i in 0..mailboxes {
        let mb = root.join(format!("vmail/domain{}.example/user{i}", i % DOMAINS));
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(mb.join(sub))?;
        }
    }
    println!(
        "admission benchmark: {mailboxes} mailboxes in {DOMAINS} domains (tree built in {:.1} s)",
        start.elapsed().as_secs_f64()
    );
    run_child("first", root)?;
    fs::create_dir_all(root.join("vmail/domain7.example/newcomer/cur"))?;
    run_child("one-full", root)?;
    fs::create_dir_all(root.join("vmail/domain8.example/latecomer/cur"))?;
    run_child("one-partial", root)?;
    Ok(())
}

fn run_child(phase: &str, root: &Path) -> Result<()> {
    let out = Command::new(std::env::current_exe()?)
        .env(PHASE, phase)
        .env("ADMISSION_BENCH_ROOT", root)
        .output()?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    ensure!(
        out.status.success(),
        "phase {phase} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// Peak resident set size of this process so far, in MiB (Linux `VmHWM`).
fn peak_rss_mib() -> f64 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn child(phase: &str, root: &Path) -> Result<()> {
    let settings = MaildirSettings {
        root: root.join("vmail"),
        layout: Layout::default(),
        rescan_interval: Duration::from_secs(300),
    };
    let source = MaildirSource::new(settings);
    let guard = GuardPolicy::default();
    let t0 = Instant::now();
    let store = Store::open(&root.join("state"))?;
    let opened = t0.elapsed();
    let now = time::OffsetDateTime::now_utc();
    let (scan, listed, complete) = if phase == "one-partial" {
        // The daemon rescans only the subtree an inotify event names: here, one mailbox.
        let one: BTreeSet<Address> = [Address::parse("latecomer@domain8.example")?].into();
        (Duration::ZERO, one, false)
    } else {
        let t = Instant::now();
        let listing = source.full_listing()?;
        (t.elapsed(), listing.addresses(), true)
    };
    let t = Instant::now();
    let applied = store.apply_listing("maildir", &listed, complete, now, &guard)?;
    let apply = t.elapsed();
    let expected = if phase == "first" { listed.len() } else { 1 };
    ensure!(
        applied.added.len() == expected && applied.removed.is_empty(),
        "{phase}: {} added, {} removed, expected {expected} added",
        applied.added.len(),
        applied.removed.len()
    );
    let total = t0.elapsed();
    let recorded = store.list()?.len();
    println!(
        "  {phase:<12} listed {:>7}  scan {}  record {} (open {})  total {}  peak RSS {:.1} MiB  \
         ({} new, {recorded} records)",
        listed.len(),
        secs(scan),
        secs(apply),
        secs(opened),
        secs(total),
        peak_rss_mib(),
        applied.added.len(),
    );
    Ok(())
}
