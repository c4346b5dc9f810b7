//! Benchmark of the mailbox sources (`cargo bench --bench sources`): a full scan of a
//! 100,000-mailbox Dovecot maildir tree next to `find ROOT -mindepth 2 -maxdepth 2 -type d |
//! wc -l` on the same tree, and parsing plus diffing two 100,000-entry slapcat-style LDIF
//! exports. Prints figures (median and range of several runs, warm page cache); asserts
//! nothing about time. Sizes can be changed with `SOURCES_BENCH_MAILBOXES`.

use anyhow::{ensure, Context as _, Result};
use smime_provisioner::source::ldif::{self, LdifSettings};
use smime_provisioner::source::maildir::{Layout, MaildirSettings, MaildirSource};
use smime_provisioner::source::{diff, SourceEvent};
use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const RUNS: usize = 5;
const DOMAINS: usize = 100;

fn main() -> Result<()> {
    let mailboxes: usize = match std::env::var("SOURCES_BENCH_MAILBOXES") {
        Ok(v) => v
            .parse()
            .context("SOURCES_BENCH_MAILBOXES must be a number")?,
        Err(_) => 100_000,
    };
    println!("sources benchmark: {mailboxes} mailboxes, {RUNS} runs each, median [min..max]");
    maildir(mailboxes)?;
    ldif_diff(mailboxes)?;
    Ok(())
}

/// Median, min and max of the runs.
fn summary(mut runs: Vec<Duration>) -> String {
    runs.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "{:>9.1} ms [{:.1}..{:.1}]",
        ms(runs[runs.len() / 2]),
        ms(runs[0]),
        ms(runs[runs.len() - 1])
    )
}

fn time<T>(f: impl FnOnce() -> Result<T>) -> Result<(Duration, T)> {
    let start = Instant::now();
    let out = f()?;
    Ok((start.elapsed(), out))
}

fn maildir(mailboxes: usize) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let root = tmp.path().join("vmail");
    let (build, ()) = time(|| {
        for i in 0..mailboxes {
            let mb = root.join(format!("domain{}.example/user{i}", i % DOMAINS));
            for sub in ["cur", "new", "tmp"] {
                fs::create_dir_all(mb.join(sub))?;
            }
            fs::write(mb.join("dovecot-uidlist"), b"3 V1 N1\n")?;
        }
        Ok(())
    })?;
    println!(
        "maildir tree: {mailboxes} mailboxes in {DOMAINS} domains, each with cur/new/tmp and \
         dovecot-uidlist, built in {:.1} s under {}",
        build.as_secs_f64(),
        tmp.path().display()
    );

    let source = MaildirSource::new(MaildirSettings {
        root: root.clone(),
        layout: Layout::default(),
        rescan_interval: Duration::from_secs(300),
    });
    let mut scans = Vec::new();
    for _ in 0..RUNS {
        let (d, listing) = time(|| Ok(source.full_listing()?))?;
        ensure!(
            listing.len() == mailboxes,
            "scan found {} mailboxes",
            listing.len()
        );
        scans.push(d);
    }
    let mut finds = Vec::new();
    for _ in 0..RUNS {
        let (d, count) = time(|| find_count(&root))?;
        ensure!(count == mailboxes, "find counted {count}");
        finds.push(d);
    }
    println!(
        "  MaildirSource::full_listing (scan, validate, normalise) {}",
        summary(scans)
    );
    println!(
        "  find ROOT -mindepth 2 -maxdepth 2 -type d | wc -l       {}",
        summary(finds)
    );
    watcher(&root, mailboxes)
}

/// The watcher on the same tree: start-up until every mailbox was reported, then the time from
/// `mkdir` of one new mailbox to its event (inotify, the 100 ms settle window, the scoped
/// rescan and the update of the known set).
fn watcher(root: &Path, mailboxes: usize) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let source = MaildirSource::new(MaildirSettings {
            root: root.to_path_buf(),
            layout: Layout::default(),
            rescan_interval: Duration::from_secs(3600),
        });
        let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
        let cancel = tokio_util::sync::CancellationToken::new();
        let start = Instant::now();
        let task = tokio::spawn(source.watch(tx, cancel.clone()));
        for _ in 0..mailboxes {
            rx.recv().await.context("watcher stopped")?;
        }
        let startup = start.elapsed();
        let mut latencies = Vec::new();
        for run in 0..RUNS {
            let start = Instant::now();
            fs::create_dir(root.join(format!("domain0.example/new{run}")))?;
            match rx.recv().await.context("watcher stopped")? {
                SourceEvent::Present { .. } => latencies.push(start.elapsed()),
                other => anyhow::bail!("unexpected {other:?}"),
            }
        }
        cancel.cancel();
        task.await??;
        println!(
            "  watcher start-up until all {mailboxes} were reported {:>9.1} ms",
            startup.as_secs_f64() * 1000.0
        );
        println!(
            "  watcher: mkdir of one new mailbox to its event    {}",
            summary(latencies)
        );
        Ok(())
    })
}

fn find_count(root: &Path) -> Result<usize> {
    let out = Command::new("sh")
        .arg("-c")
        .arg("find \"$1\" -mindepth 2 -maxdepth 2 -type d | wc -l")
        .arg("sh")
        .arg(root)
        .output()
        .context("running find")?;
    ensure!(out.status.success(), "find failed");
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
}

/// A slapcat-style export: per entry the attributes slapcat writes, a folded description,
/// a base64 cn, operational attributes. `generation` 1 renames 1% of the addresses, removes
/// 0.5% of the entries and adds 0.5% new ones.
fn export(entries: usize, generation: u32) -> String {
    let mut out = String::with_capacity(entries * 700);
    let removed = |i: usize| generation == 1 && i < entries && i % 200 == 7;
    let total = if generation == 1 {
        entries + entries / 200
    } else {
        entries
    };
    for i in 0..total {
        if removed(i) {
            continue;
        }
        let mail = if generation == 1 && i % 100 == 3 {
            format!("renamed.user{i}@domain{}.example", i % DOMAINS)
        } else {
            format!("user{i}@domain{}.example", i % DOMAINS)
        };
        let _ = write!(
            out,
            "dn: uid=user{i},ou=People,dc=example,dc=org\n\
             objectClass: inetOrgPerson\n\
             uid: user{i}\n\
             cn:: VXNlciBNw7xsbGVy\n\
             sn: User\n\
             mail: {mail}\n\
             description: a description long enough to be folded by slapcat at seventy-six co\n \
             lumns, as in real exports\n\
             structuralObjectClass: inetOrgPerson\n\
             entryUUID: {:08x}-7fd7-1041-8f0d-bd42494a1b61\n\
             creatorsName: cn=admin,dc=example,dc=org\n\
             createTimestamp: 20261129002851Z\n\
             entryCSN: 20261129002851.031644Z#000000#000#000000\n\
             modifiersName: cn=admin,dc=example,dc=org\n\
             modifyTimestamp: 20261129002851Z\n\n",
            i
        );
    }
    out
}

fn ldif_diff(entries: usize) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (a, b) = (
        tmp.path().join("before.ldif"),
        tmp.path().join("after.ldif"),
    );
    fs::write(&a, export(entries, 0))?;
    fs::write(&b, export(entries, 1))?;
    println!(
        "ldif: two slapcat-style exports of {entries} entries ({:.1} MB and {:.1} MB)",
        fs::metadata(&a)?.len() as f64 / 1e6,
        fs::metadata(&b)?.len() as f64 / 1e6
    );
    let settings = LdifSettings::new(&a);
    let (mut parse_runs, mut listing_runs, mut diff_runs, mut total_runs) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let start = Instant::now();
        let (dp, (ra, rb)) =
            time(|| Ok((ldif::parse(&fs::read(&a)?)?, ldif::parse(&fs::read(&b)?)?)))?;
        let (dl, (la, lb)) = time(|| {
            Ok((
                ldif::listing_from_records(&ra, &settings, &a)?,
                ldif::listing_from_records(&rb, &settings, &b)?,
            ))
        })?;
        let (dd, events) = time(|| Ok(diff(&la, &lb)))?;
        total_runs.push(start.elapsed());
        let count = |f: fn(&SourceEvent) -> bool| events.iter().filter(|e| f(e)).count();
        ensure!(count(|e| matches!(e, SourceEvent::Changed { .. })) == entries / 100);
        ensure!(count(|e| matches!(e, SourceEvent::Gone { .. })) == entries / 200);
        ensure!(count(|e| matches!(e, SourceEvent::Present { .. })) == entries / 200);
        parse_runs.push(dp);
        listing_runs.push(dl);
        diff_runs.push(dd);
    }
    println!(
        "  read + parse both files            {}",
        summary(parse_runs)
    );
    println!(
        "  listings (keys, address checks)    {}",
        summary(listing_runs)
    );
    println!(
        "  diff ({} changed, {} gone, {} new)  {}",
        entries / 100,
        entries / 200,
        entries / 200,
        summary(diff_runs)
    );
    println!(
        "  total                              {}",
        summary(total_runs)
    );
    Ok(())
}
