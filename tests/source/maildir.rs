//! The maildir source over real directory trees: Dovecot's on-disk structure, odd names,
//! symlinks, the layouts, and the watcher (inotify, restart rescans, the mass-removal guard).

use anyhow::{bail, Context as _, Result};
use smime_provisioner::mailbox::Address;
use smime_provisioner::source::maildir::{Layout, MaildirSettings, MaildirSource};
use smime_provisioner::source::{GuardPolicy, Origin, SourceError, SourceEvent};
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Creates a mailbox the way Dovecot leaves it after first delivery and a few logins:
/// `cur/new/tmp`, Maildir++ folders with their own `cur/new/tmp`, index and uidlist files.
fn dovecot_mailbox(dir: &Path) -> Result<()> {
    for sub in [
        "cur",
        "new",
        "tmp",
        ".Trash/cur",
        ".Trash/new",
        ".Trash/tmp",
        ".Sent/cur",
        ".Sent/new",
        ".Sent/tmp",
        ".Drafts/cur",
    ] {
        fs::create_dir_all(dir.join(sub))?;
    }
    for file in [
        "dovecot.index",
        "dovecot.index.log",
        "dovecot.index.cache",
        "dovecot-uidlist",
        "dovecot-uidvalidity",
        "dovecot-keywords",
        "subscriptions",
        "maildirsize",
        ".Trash/maildirfolder",
    ] {
        fs::write(dir.join(file), b"x")?;
    }
    fs::write(
        dir.join("new/1732844400.M1P1.host,S=100:2,"),
        b"Subject: hi\r\n\r\nhello\r\n",
    )?;
    Ok(())
}

fn settings(root: &Path, layout: Layout) -> MaildirSettings {
    MaildirSettings {
        root: root.to_path_buf(),
        layout,
        rescan_interval: Duration::from_secs(3600),
    }
}

fn addresses(listing: &smime_provisioner::source::Listing) -> Vec<String> {
    listing.addresses().iter().map(|a| a.to_string()).collect()
}

#[test]
fn dovecot_trees_yield_only_the_mailboxes_and_odd_entries_are_reported_not_followed() -> Result<()>
{
    let tmp = tempfile::tempdir()?;
    let root = tmp.path().join("vmail");
    let outside = tmp.path().join("outside");
    fs::create_dir_all(outside.join("victim"))?;

    dovecot_mailbox(&root.join("example.com/alice"))?;
    dovecot_mailbox(&root.join("example.com/first.last+tag"))?;
    // PostfixAdmin creates the directory; Dovecot fills it only at first delivery.
    fs::create_dir_all(root.join("example.com/bob"))?;
    // Upper case and Unicode domain directories normalise like addresses do.
    dovecot_mailbox(&root.join("Example.ORG/Carol"))?;
    dovecot_mailbox(&root.join("bücher.example/anna"))?;
    // Dovecot's per-domain and per-root noise.
    fs::create_dir_all(root.join("example.com/.Trash/cur"))?;
    fs::create_dir_all(root.join("example.com/tmp"))?;
    fs::write(root.join("example.com/dovecot-uidlist"), b"x")?;
    fs::write(root.join("dovecot.list.index.log"), b"x")?;
    fs::create_dir_all(root.join("lost+found"))?;
    fs::write(root.join("example.com/notes.txt"), b"not a mailbox")?;
    // Odd names that must be reported, not crash or be guessed at.
    fs::create_dir_all(root.join("example.com/with space"))?;
    fs::create_dir_all(root.join("example.com/ leading"))?;
    fs::create_dir_all(
        root.join("example.com")
            .join(OsStr::from_bytes(b"bad\xffbyte")),
    )?;
    fs::create_dir_all(root.join("example.com/jörg"))?;
    fs::create_dir_all(root.join("localhost/root"))?;
    fs::create_dir_all(root.join("localhost/admin"))?;
    fs::create_dir_all(root.join("example.com/..sneaky"))?;
    // Symlinks: out of the root, to a domain inside the root, to a mailbox inside the root.
    symlink(&outside, root.join("evil.example"))?;
    symlink(&outside, root.join("example.com/escape"))?;
    symlink(root.join("example.com"), root.join("alias.example"))?;
    symlink(
        root.join("example.com/alice"),
        root.join("example.com/alice2"),
    )?;

    let listing = MaildirSource::new(settings(&root, Layout::default())).full_listing()?;
    assert_eq!(
        addresses(&listing),
        [
            "Carol@example.org",
            "alice@example.com",
            "anna@xn--bcher-kva.example",
            "bob@example.com",
            "first.last+tag@example.com",
        ]
    );
    let canonical = fs::canonicalize(&root)?;
    let alice = listing.entries.get(
        &canonical
            .join("example.com/alice")
            .to_string_lossy()
            .into_owned(),
    );
    assert_eq!(
        alice.map(|e| &e.origin),
        Some(&Origin::Maildir {
            path: canonical.join("example.com/alice")
        })
    );

    let rejected: BTreeSet<String> = listing
        .rejected
        .iter()
        .map(|r| r.origin.rsplit('/').next().unwrap_or_default().to_string())
        .collect();
    let expected: BTreeSet<String> = [
        "with space",
        " leading",
        "bad\u{fffd}byte",
        "jörg",
        "localhost",
        "evil.example",
        "escape",
        "alias.example",
        "alice2",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(rejected, expected, "{:#?}", listing.rejected);
    for r in &listing.rejected {
        assert!(!r.reason.is_empty());
        if r.origin.ends_with("escape") || r.origin.ends_with("alias.example") {
            assert!(r.reason.contains("symbolic link"), "{r:?}");
        }
    }
    assert!(!listing.rejected.iter().any(|r| r.origin.contains("victim")));
    Ok(())
}

#[test]
fn local_at_domain_and_suffix_layouts_find_their_mailboxes() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let flat = tmp.path().join("flat");
    dovecot_mailbox(&flat.join("alice@example.com"))?;
    dovecot_mailbox(&flat.join("bob@Example.NET"))?;
    fs::create_dir_all(flat.join("no-at-sign"))?;
    let listing = MaildirSource::new(settings(&flat, Layout::local_at_domain())).full_listing()?;
    assert_eq!(
        addresses(&listing),
        ["alice@example.com", "bob@example.net"]
    );
    assert_eq!(listing.rejected.len(), 1);
    assert!(listing.rejected[0]
        .reason
        .contains("does not match the layout"));

    let nested = tmp.path().join("nested");
    dovecot_mailbox(&nested.join("example.com/alice/Maildir"))?;
    // A home directory without its Maildir yet (Dovecot creates it at first delivery).
    fs::create_dir_all(nested.join("example.com/bob"))?;
    fs::write(nested.join("example.com/bob/.forward"), b"x")?;
    // A Maildir that is a symlink is not followed either.
    fs::create_dir_all(nested.join("example.com/carol"))?;
    symlink(tmp.path(), nested.join("example.com/carol/Maildir"))?;
    let layout = Layout::parse("{domain}/{local}/Maildir")?;
    let listing = MaildirSource::new(settings(&nested, layout)).full_listing()?;
    assert_eq!(addresses(&listing), ["alice@example.com"]);
    let canonical = fs::canonicalize(&nested)?;
    assert_eq!(
        listing.entries.values().next().map(|e| e.origin.clone()),
        Some(Origin::Maildir {
            path: canonical.join("example.com/alice/Maildir")
        })
    );
    assert_eq!(listing.rejected.len(), 1, "{:?}", listing.rejected);
    Ok(())
}

#[test]
fn a_missing_root_is_a_configuration_error_not_an_empty_listing() {
    let tmp = tempfile::tempdir().unwrap();
    let err = MaildirSource::new(settings(&tmp.path().join("nope"), Layout::default()))
        .full_listing()
        .unwrap_err();
    assert!(matches!(err, SourceError::RootMissing { .. }), "{err}");
    assert!(!err.is_transient());
    assert!(err.to_string().contains("does not exist"));
}

/// Receives events until `want` holds for the collected set, or fails after a generous timeout.
async fn collect_until(
    rx: &mut mpsc::Receiver<SourceEvent>,
    what: &str,
    mut want: impl FnMut(&[SourceEvent]) -> bool,
) -> Result<Vec<SourceEvent>> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !want(&got) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(e)) => got.push(e),
            Ok(None) => bail!("the watcher stopped while waiting for {what}; got {got:?}"),
            Err(_) => bail!("timed out waiting for {what}; got {got:?}"),
        }
    }
    Ok(got)
}

fn present(addr: &str) -> impl Fn(&SourceEvent) -> bool + '_ {
    move |e| matches!(e, SourceEvent::Present { address, .. } if address.as_str() == addr)
}

fn gone(addr: &str) -> impl Fn(&SourceEvent) -> bool + '_ {
    move |e| matches!(e, SourceEvent::Gone { address, .. } if address.as_str() == addr)
}

struct Running {
    rx: mpsc::Receiver<SourceEvent>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), SourceError>>,
    health: tokio::sync::watch::Receiver<smime_provisioner::source::SourceHealth>,
}

fn start(source: MaildirSource) -> Running {
    let (tx, rx) = mpsc::channel(1024);
    let cancel = CancellationToken::new();
    let health = source.health();
    let task = tokio::spawn(source.watch(tx, cancel.clone()));
    Running {
        rx,
        cancel,
        task,
        health,
    }
}

impl Running {
    async fn stop(self) -> Result<()> {
        self.cancel.cancel();
        self.task.await.context("watcher task panicked")??;
        Ok(())
    }
}

#[tokio::test]
async fn the_watcher_reports_existing_mailboxes_then_sees_a_new_one_within_a_second() -> Result<()>
{
    let tmp = tempfile::tempdir()?;
    let root = tmp.path().to_path_buf();
    dovecot_mailbox(&root.join("example.com/alice"))?;
    let mut w = start(MaildirSource::new(settings(&root, Layout::default())));
    let initial = collect_until(&mut w.rx, "the initial scan", |g| {
        g.iter().any(present("alice@example.com"))
    })
    .await?;
    assert_eq!(initial.len(), 1);

    // A new mailbox in a known domain, and a mailbox in a brand-new domain (whose directory
    // is not watched yet when the mailbox appears in it).
    fs::create_dir(root.join("example.com/bob"))?;
    fs::create_dir_all(root.join("new.example/carol/cur"))?;
    let events = collect_until(&mut w.rx, "bob and carol", |g| {
        g.iter().any(present("bob@example.com")) && g.iter().any(present("carol@new.example"))
    })
    .await?;
    assert_eq!(events.len(), 2, "{events:?}");

    // Dovecot's lazy creation of folders inside mailboxes is not a new mailbox.
    dovecot_mailbox(&root.join("example.com/bob"))?;
    fs::create_dir(root.join("new.example/dave"))?;
    let events = collect_until(&mut w.rx, "dave", |g| {
        g.iter().any(present("dave@new.example"))
    })
    .await?;
    assert_eq!(events.len(), 1, "{events:?}");
    w.stop().await
}

#[tokio::test]
async fn a_mailbox_created_while_the_watcher_was_stopped_is_found_when_it_starts_again(
) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let root = tmp.path().to_path_buf();
    for i in 0..20 {
        fs::create_dir_all(root.join(format!("example.com/user{i}")))?;
    }
    let mut w = start(MaildirSource::new(settings(&root, Layout::default())));
    collect_until(&mut w.rx, "the initial scan", |g| g.len() == 20).await?;
    w.stop().await?;

    fs::create_dir_all(root.join("example.com/late"))?;
    fs::create_dir_all(root.join("other.example/later"))?;

    let mut w = start(MaildirSource::new(settings(&root, Layout::default())));
    let events = collect_until(&mut w.rx, "the rescan", |g| g.len() == 22).await?;
    assert!(events.iter().any(present("late@example.com")));
    assert!(events.iter().any(present("later@other.example")));
    w.stop().await
}

#[tokio::test]
async fn a_removed_mailbox_is_gone_but_a_mass_removal_is_refused_and_reported() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let root = tmp.path().join("vmail");
    for i in 0..20 {
        dovecot_mailbox(&root.join(format!("example.com/user{i}")))?;
    }
    for i in 0..5 {
        fs::create_dir_all(root.join(format!("small.example/user{i}")))?;
    }
    let mut w = start(MaildirSource::new(settings(&root, Layout::default())));
    collect_until(&mut w.rx, "the initial scan", |g| g.len() == 25).await?;

    // One mailbox of 25 (4%) may go.
    fs::remove_dir_all(root.join("example.com/user0"))?;
    let events = collect_until(&mut w.rx, "user0 gone", |g| {
        g.iter().any(gone("user0@example.com"))
    })
    .await?;
    assert_eq!(events.len(), 1, "{events:?}");

    // A whole domain of 5 (of 24 known, 21%) vanishing at once is refused. (Moved away in
    // one rename, so the disappearance is one inotify event, like an unmounted volume.)
    fs::rename(root.join("small.example"), tmp.path().join("moved-away"))?;
    let mut health = w.health.clone();
    tokio::time::timeout(
        Duration::from_secs(10),
        health.wait_for(|h| h.refused.is_some()),
    )
    .await
    .context("no refusal reported")??;
    let refusal = w.health.borrow().refused.clone().context("refusal")?;
    assert_eq!((refusal.known, refusal.would_remove), (24, 5));
    // A new mailbox still comes through, and no Gone was sent for the refused removal.
    fs::create_dir(root.join("example.com/newcomer"))?;
    let events = collect_until(&mut w.rx, "newcomer", |g| {
        g.iter().any(present("newcomer@example.com"))
    })
    .await?;
    assert!(
        !events.iter().any(|e| matches!(e, SourceEvent::Gone { .. })),
        "{events:?}"
    );
    w.stop().await
}

#[tokio::test]
async fn a_lenient_guard_lets_the_same_removal_through() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let root = tmp.path().to_path_buf();
    for i in 0..4 {
        fs::create_dir_all(root.join(format!("example.com/user{i}")))?;
    }
    let policy = GuardPolicy {
        max_removal_share: 0.5,
        ..GuardPolicy::default()
    };
    let mut w = start(MaildirSource::new(settings(&root, Layout::default())).with_guard(policy));
    collect_until(&mut w.rx, "the initial scan", |g| g.len() == 4).await?;
    fs::remove_dir_all(root.join("example.com/user1"))?;
    fs::remove_dir_all(root.join("example.com/user2"))?;
    let events = collect_until(&mut w.rx, "two removals", |g| g.len() == 2).await?;
    let gone_set: BTreeSet<Address> = events
        .into_iter()
        .filter_map(|e| match e {
            SourceEvent::Gone { address, .. } => Some(address),
            _ => None,
        })
        .collect();
    assert_eq!(gone_set.len(), 2);
    w.stop().await
}

#[tokio::test]
async fn odd_names_created_while_watching_are_reported_and_the_watcher_keeps_going() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let root: PathBuf = tmp.path().to_path_buf();
    fs::create_dir_all(root.join("example.com/alice"))?;
    let mut w = start(MaildirSource::new(settings(&root, Layout::default())));
    collect_until(&mut w.rx, "the initial scan", |g| g.len() == 1).await?;
    fs::create_dir(
        root.join("example.com")
            .join(OsStr::from_bytes(b"\xff\xfe")),
    )?;
    fs::create_dir(root.join("example.com/has space"))?;
    symlink("/", root.join("example.com/rootlink"))?;
    fs::create_dir(root.join("example.com/zed"))?;
    let mut health = w.health.clone();
    let events = collect_until(&mut w.rx, "zed", |g| {
        g.iter().any(present("zed@example.com"))
    })
    .await?;
    assert_eq!(events.len(), 1, "{events:?}");
    tokio::time::timeout(
        Duration::from_secs(10),
        health.wait_for(|h| h.rejected >= 1),
    )
    .await
    .context("rejections not reported")??;
    assert!(!w.task.is_finished());
    w.stop().await
}

#[tokio::test]
async fn an_idle_tree_causes_no_rescans_even_though_the_watcher_reads_it() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let root = tmp.path().to_path_buf();
    dovecot_mailbox(&root.join("example.com/alice"))?;
    let mut w = start(MaildirSource::new(settings(&root, Layout::default())));
    collect_until(&mut w.rx, "the initial scan", |g| g.len() == 1).await?;
    // Reading the tree (as the watcher itself and Dovecot do) is not a change. notify
    // reports opens, so a watcher reacting to them would rescan itself in a loop.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = w.health.borrow().scans;
    for _ in 0..3 {
        let _ = fs::read_dir(root.join("example.com"))?.count();
        let _ = fs::read_dir(&root)?.count();
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        w.health.borrow().scans,
        before,
        "scans happened without any change"
    );
    // A real change is still one more scan.
    fs::create_dir(root.join("example.com/bob"))?;
    collect_until(&mut w.rx, "bob", |g| {
        g.iter().any(present("bob@example.com"))
    })
    .await?;
    assert!(w.health.borrow().scans > before);
    w.stop().await
}
