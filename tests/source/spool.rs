//! The enqueue spool: atomic request files, modes and groups that let an unprivileged hook user
//! enqueue and the daemon's user read and delete, requests surviving a stopped daemon, acks,
//! rejected files, and the watcher (new requests, resending unacknowledged ones).
//!
//! The hook-user test runs this very test binary again as other users (`nobody`, a daemon uid)
//! with an environment variable telling it which side to play; it needs root to switch users.

use anyhow::{bail, ensure, Context as _, Result};
use smime_provisioner::mailbox::Address;
use smime_provisioner::source::spool::{enqueue, SpoolError, SpoolSource};
use smime_provisioner::source::{Origin, SourceEvent};
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn addr(s: &str) -> Address {
    Address::parse(s).expect("test address")
}

fn mode(p: &Path) -> Result<u32> {
    Ok(fs::metadata(p)?.permissions().mode() & 0o7777)
}

#[test]
fn requests_written_while_no_daemon_runs_are_listed_in_order_and_deleted_only_on_ack() -> Result<()>
{
    let tmp = tempfile::tempdir()?;
    let spool = tmp.path().join("spool");
    fs::create_dir(&spool)?;
    fs::set_permissions(&spool, fs::Permissions::from_mode(0o2770))?;

    let first = enqueue(
        &spool,
        &[addr("alice@example.com"), addr("Bob@Example.COM")],
    )?;
    let second = enqueue(&spool, &[addr("carol@example.com")])?;
    assert_eq!(first.len(), 2);
    for p in first.iter().chain(&second) {
        assert_eq!(p.parent(), Some(spool.as_path()));
        assert_eq!(mode(p)?, 0o640, "{}", p.display());
    }
    assert_eq!(
        fs::read_to_string(&first[1])?,
        "smime-provisioner-request: 1\naddress: Bob@example.com\n"
    );
    // No temporary files are left behind.
    assert_eq!(fs::read_dir(&spool)?.count(), 3);

    // The daemon starts later and finds everything, oldest first.
    let source = SpoolSource::new(&spool)?;
    let listing = source.full_listing()?;
    let order: Vec<String> = listing
        .entries
        .values()
        .map(|e| e.addresses[0].to_string())
        .collect();
    assert_eq!(
        order,
        ["alice@example.com", "Bob@example.com", "carol@example.com"]
    );

    source.ack(&first[0])?;
    assert!(!first[0].exists());
    // Repeating an ack (after a crash) is fine.
    source.ack(&first[0])?;
    assert_eq!(source.full_listing()?.len(), 2);

    // Acks cannot delete anything else.
    let outside = tmp.path().join("important.req");
    fs::write(&outside, "x")?;
    assert!(matches!(
        source.ack(&outside),
        Err(SpoolError::NotARequest { .. })
    ));
    let not_req = spool.join("notes.txt");
    fs::write(&not_req, "x")?;
    assert!(matches!(
        source.ack(&not_req),
        Err(SpoolError::NotARequest { .. })
    ));
    assert!(outside.exists() && not_req.exists());
    Ok(())
}

#[test]
fn the_daemon_creates_a_missing_spool_setgid_and_group_writable() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let spool = tmp.path().join("state/spool");
    SpoolSource::new(&spool)?;
    assert_eq!(mode(&spool)?, 0o2770);
    Ok(())
}

#[test]
fn enqueue_into_a_missing_spool_says_how_to_create_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let err = enqueue(&tmp.path().join("nope"), &[addr("a@example.com")]).unwrap_err();
    assert!(matches!(err, SpoolError::Missing { .. }));
    assert!(err.to_string().contains("install -d -m 2770"), "{err}");
    assert!(!err.is_transient());
}

#[test]
fn files_that_are_not_requests_are_reported_and_never_followed() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let spool = tmp.path().join("spool");
    let source = SpoolSource::new(&spool)?;
    enqueue(&spool, &[addr("ok@example.com")])?;
    fs::write(spool.join("1-garbage.req"), "hello\n")?;
    fs::write(
        spool.join("2-invalid.req"),
        "smime-provisioner-request: 1\naddress: not an address\n",
    )?;
    fs::write(spool.join("3-huge.req"), "x".repeat(10_000))?;
    fs::write(
        tmp.path().join("secret"),
        "smime-provisioner-request: 1\naddress: x@example.com\n",
    )?;
    symlink(tmp.path().join("secret"), spool.join("4-link.req"))?;
    // A FIFO would block a naive open() forever.
    let fifo = spool.join("5-fifo.req");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .context("mkfifo (coreutils)")?;
    ensure!(made.success(), "mkfifo failed");
    // An in-progress write (dot-name) is not a request yet.
    fs::write(spool.join(".enqueue-abc"), "smime-provisioner-request: 1\n")?;

    let listing = source.full_listing()?;
    assert_eq!(listing.len(), 1);
    let reasons: Vec<(String, String)> = listing
        .rejected
        .iter()
        .map(|r| {
            (
                r.origin.rsplit('/').next().unwrap_or_default().to_string(),
                r.reason.clone(),
            )
        })
        .collect();
    assert_eq!(reasons.len(), 5, "{reasons:?}");
    assert!(reasons[0].0 == "1-garbage.req" && reasons[0].1.contains("first line"));
    assert!(reasons[1].0 == "2-invalid.req" && reasons[1].1.contains("not a mailbox address"));
    assert!(reasons[2].0 == "3-huge.req" && reasons[2].1.contains("4 KiB"));
    assert!(reasons[3].0 == "4-link.req" && reasons[3].1.contains("symbolic link"));
    assert!(reasons[4].0 == "5-fifo.req" && reasons[4].1.contains("not a regular file"));
    Ok(())
}

async fn next_event(rx: &mut mpsc::Receiver<SourceEvent>) -> Result<(Address, PathBuf)> {
    match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
        Ok(Some(SourceEvent::Present {
            address,
            origin: Origin::Spool { file },
            ..
        })) => Ok((address, file)),
        Ok(other) => bail!("unexpected {other:?}"),
        Err(_) => bail!("no spool event within 10 s"),
    }
}

#[tokio::test]
async fn the_watcher_sends_new_requests_and_resends_only_unacknowledged_ones() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let spool = tmp.path().join("spool");
    let source = SpoolSource::new(&spool)?
        .with_timing(Duration::from_millis(200), Duration::from_millis(1500));
    let pending = enqueue(&spool, &[addr("early@example.com")])?;
    fs::write(spool.join("0-bad.req"), "nonsense\n")?;

    let (tx, mut rx) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(source.clone().watch(tx, cancel.clone()));

    let (a, file) = next_event(&mut rx).await?;
    assert_eq!((a.as_str(), &file), ("early@example.com", &pending[0]));

    let added = enqueue(&spool, &[addr("late@example.com")])?;
    // On a slow machine a resend of "early" may come first; it is not what we wait for.
    let file = loop {
        let (a, file) = next_event(&mut rx).await?;
        if a.as_str() == "late@example.com" {
            break file;
        }
        assert_eq!(a.as_str(), "early@example.com");
    };
    assert_eq!(file, added[0]);

    // The pipeline persisted "late" and acks it; "early" stays unacknowledged.
    source.ack(&added[0])?;
    for _ in 0..2 {
        let (a, _) = next_event(&mut rx).await?;
        assert_eq!(a.as_str(), "early@example.com");
    }
    // The bad file was moved aside for the admin.
    assert!(spool.join("0-bad.rejected").exists());
    assert!(!spool.join("0-bad.req").exists());

    cancel.cancel();
    task.await??;
    Ok(())
}

/// Which side a re-executed copy of this test binary plays.
const ROLE: &str = "SOURCE_SPOOL_TEST_ROLE";
const DIR: &str = "SOURCE_SPOOL_TEST_DIR";
const HOOK_UID: u32 = 65534;
const DAEMON_UID: u32 = 4243;
const SPOOL_GID: u32 = 4242;

/// Runs when re-executed with `ROLE` set: the hook user's `enqueue`, or the daemon's list and
/// ack. Exit codes: 0 done, 3 not writable, 4 another error, 5 wrong listing.
fn play_role(role: &str) -> ! {
    let dir = PathBuf::from(std::env::var_os(DIR).unwrap_or_default());
    let code = match role {
        "hook" => match enqueue(&dir, &[addr("hooked@example.com")]) {
            Ok(_) => 0,
            Err(e @ SpoolError::NotWritable { .. }) => {
                eprintln!("{e}");
                3
            }
            Err(e) => {
                eprintln!("{e}");
                4
            }
        },
        _ => {
            let run = || -> Result<i32> {
                let source = SpoolSource::new(&dir)?;
                let listing = source.full_listing()?;
                if listing.len() != 1 || !listing.rejected.is_empty() {
                    eprintln!("{listing:?}");
                    return Ok(5);
                }
                for e in listing.entries.values() {
                    if let Origin::Spool { file } = &e.origin {
                        source.ack(file)?;
                    }
                }
                Ok(0)
            };
            run().unwrap_or_else(|e| {
                eprintln!("{e:#}");
                4
            })
        }
    };
    std::process::exit(code)
}

fn run_as(exe: &Path, role: &str, uid: u32, gid: u32, dir: &Path) -> Result<(i32, String)> {
    // The test's name as the harness knows it: its module path below the crate, then its own.
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    let test = format!("{module}::an_unprivileged_hook_user_enqueues_and_the_daemon_user_acks");
    let out = Command::new(exe)
        .args(["--exact", &test, "--nocapture"])
        .env(ROLE, role)
        .env(DIR, dir)
        .uid(uid)
        .gid(gid)
        .output()
        .with_context(|| format!("running the {role} side as uid {uid}"))?;
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    Ok((out.status.code().unwrap_or(-1), text))
}

#[test]
fn an_unprivileged_hook_user_enqueues_and_the_daemon_user_acks() -> Result<()> {
    if let Ok(role) = std::env::var(ROLE) {
        play_role(&role);
    }
    // SAFETY-free check of the effective uid through the filesystem: only root may chown.
    let probe = tempfile::tempdir()?;
    ensure!(
        std::os::unix::fs::chown(probe.path(), Some(DAEMON_UID), None).is_ok(),
        "this test switches users and must run as root (CI runs the suite as root)"
    );

    // A world-traversable place for a copy of this binary and the spool.
    let tmp = tempfile::tempdir()?;
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755))?;
    let exe = tmp.path().join("source_spool_test");
    fs::copy(std::env::current_exe()?, &exe)?;
    fs::set_permissions(&exe, fs::Permissions::from_mode(0o755))?;
    let spool = tmp.path().join("spool");
    fs::create_dir(&spool)?;
    std::os::unix::fs::chown(&spool, Some(DAEMON_UID), Some(SPOOL_GID))?;
    fs::set_permissions(&spool, fs::Permissions::from_mode(0o2770))?;

    // A user outside the spool's group cannot enqueue, and is told why.
    let (code, stderr) = run_as(&exe, "hook", HOOK_UID, HOOK_UID, &spool)?;
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("member of the directory's group"),
        "{stderr}"
    );

    // The hook user in the spool's group can, whatever its umask.
    let (code, stderr) = run_as(&exe, "hook", HOOK_UID, SPOOL_GID, &spool)?;
    assert_eq!(code, 0, "{stderr}");
    let files: Vec<PathBuf> = fs::read_dir(&spool)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    assert_eq!(files.len(), 1, "{files:?}");
    let meta = fs::metadata(&files[0])?;
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o777),
        (HOOK_UID, SPOOL_GID, 0o640)
    );

    // The daemon's user (owner of the spool, member of its group) reads and deletes it.
    let (code, stderr) = run_as(&exe, "daemon", DAEMON_UID, SPOOL_GID, &spool)?;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(fs::read_dir(&spool)?.count(), 0);
    Ok(())
}
