//! Owns the maildir source: finding mailboxes in the mail store's directory tree by a layout
//! pattern, and watching the tree (inotify through the notify crate, plus periodic full
//! rescans because inotify queues overflow and watches can be missing).
//!
//! A maildir appearing is a late signal (Dovecot creates it at first delivery or login, not
//! when the mailbox is provisioned), so this source is the fallback trigger; hooks and LDIF are
//! earlier.
//!
//! What is a mailbox: a real directory (never a symlink) at the layout's depth whose path
//! matches the layout and yields a valid [`Address`]. Dovecot's own entries (`cur`, `new`,
//! `tmp`, Maildir++ dot folders such as `.Trash`, `dovecot*` index and uidlist files,
//! `subscriptions`, `maildirsize`, `lost+found`) are ignored silently; any other candidate
//! that is not a valid address (spaces, non-UTF-8 bytes, a domain without a dot) is reported in
//! [`Listing::rejected`], never a crash. Symbolic links are never followed, neither out of the
//! root nor inside it (a link inside the tree is an alias of a directory scanned anyway, and
//! an alias should not buy a second certificate); they are reported too. A directory that
//! cannot be read fails the scan as a whole: a partial listing would look like removals.

use super::{send_all, GuardPolicy, Listing, Origin, Rejected, SourceError, SourceEvent, Tracker};
use crate::mailbox::{normalize_domain, Address};
use notify::Watcher as _;
use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

mod layout;

pub use layout::Layout;
use layout::{Captures, Segment};

/// Names Dovecot, Courier and the filesystem put into a mail tree that are never mailboxes.
pub fn is_mail_store_noise(name: &OsStr) -> bool {
    let b = name.as_encoded_bytes();
    b.starts_with(b".")
        || b.starts_with(b"dovecot")
        || b.starts_with(b"courierimap")
        || matches!(
            b,
            b"cur"
                | b"new"
                | b"tmp"
                | b"subscriptions"
                | b"maildirfolder"
                | b"maildirsize"
                | b"lost+found"
                | b"mailboxes"
                | b"storage"
        )
}

/// Where the tree is and how to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaildirSettings {
    pub root: PathBuf,
    pub layout: Layout,
    /// How often the watcher rescans the whole tree regardless of inotify events.
    pub rescan_interval: Duration,
}

/// The result of a (possibly partial) scan.
#[derive(Debug, Default)]
struct Scan {
    listing: Listing,
    /// Directories above the mailbox level that were read: the ones to watch.
    dirs: Vec<PathBuf>,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SourceError + '_ {
    move |source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn rejected(path: &Path, reason: impl Into<String>) -> Rejected {
    Rejected {
        origin: path.to_string_lossy().into_owned(),
        reason: reason.into(),
    }
}

/// Scans below canonical `root`, restricted to the components in `only` at the first levels
/// (empty = the whole tree).
fn scan(root: &Path, layout: &Layout, only: &[OsString]) -> Result<Scan, SourceError> {
    let mut out = Scan::default();
    walk(root, layout, 0, only, &Captures::default(), &mut out)?;
    Ok(out)
}

fn walk(
    dir: &Path,
    layout: &Layout,
    level: usize,
    only: &[OsString],
    caps: &Captures,
    out: &mut Scan,
) -> Result<(), SourceError> {
    let Some(seg) = layout.segments.get(level) else {
        return Ok(());
    };
    out.dirs.push(dir.to_path_buf());
    let Some(names) = children(dir, level, only.get(level), seg)? else {
        return Ok(());
    };
    let last = level + 1 == layout.segments.len();
    for (name, ft) in names {
        let path = dir.join(&name);
        if is_mail_store_noise(&name) {
            continue;
        }
        if ft.is_symlink() {
            out.listing
                .rejected
                .push(rejected(&path, "a symbolic link; links are not followed"));
            continue;
        }
        if !ft.is_dir() {
            continue;
        }
        let Some(text) = name.to_str() else {
            out.listing
                .rejected
                .push(rejected(&path, "the name is not valid UTF-8"));
            continue;
        };
        let Some(next) = seg.capture(text, caps) else {
            out.listing.rejected.push(rejected(
                &path,
                format!("the name does not match the layout {}", layout.pattern),
            ));
            continue;
        };
        if last {
            match address_of(&next) {
                Ok(a) => out.listing.insert(Origin::Maildir { path }, a),
                Err(reason) => out.listing.rejected.push(rejected(&path, reason)),
            }
        } else {
            // A directory that cannot be a domain is reported once, not once per child.
            if caps.domain.is_none() {
                if let Some(domain) = &next.domain {
                    if let Err(reason) = normalize_domain(domain) {
                        let why = format!("{domain:?} is not a mail domain ({reason})");
                        out.listing.rejected.push(rejected(&path, why));
                        continue;
                    }
                }
            }
            walk(&path, layout, level + 1, only, &next, out)?;
        }
    }
    Ok(())
}

/// The children of `dir` to look at on `level`: only the one named in `only` or by a literal
/// segment, else every entry. `None` when a directory below the root vanished meanwhile: it
/// simply has no mailboxes now.
fn children(
    dir: &Path,
    level: usize,
    only: Option<&OsString>,
    seg: &Segment,
) -> Result<Option<Vec<(OsString, std::fs::FileType)>>, SourceError> {
    match (only, seg) {
        (Some(name), _) => Ok(Some(child(dir, name)?.into_iter().collect())),
        (None, Segment::Literal(l)) => Ok(Some(child(dir, OsStr::new(l))?.into_iter().collect())),
        (None, Segment::Template { .. }) => {
            let rd = match std::fs::read_dir(dir) {
                Ok(rd) => rd,
                Err(e) if e.kind() == io::ErrorKind::NotFound && level > 0 => return Ok(None),
                Err(e) => return Err(io_err(dir)(e)),
            };
            let mut v = Vec::new();
            for entry in rd {
                let entry = entry.map_err(io_err(dir))?;
                match entry.file_type() {
                    Ok(ft) => v.push((entry.file_name(), ft)),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(&entry.path())(e)),
                }
            }
            Ok(Some(v))
        }
    }
}

/// The named child of `dir` with its type (not following links), if it exists.
fn child(dir: &Path, name: &OsStr) -> Result<Option<(OsString, std::fs::FileType)>, SourceError> {
    let p = dir.join(name);
    match std::fs::symlink_metadata(&p) {
        Ok(m) => Ok(Some((name.to_os_string(), m.file_type()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(&p)(e)),
    }
}

/// The address a mailbox path denotes, or why it has none. The local part must come back
/// unchanged from [`Address::parse`] (which trims), so ` alice` is not alice's mailbox.
fn address_of(caps: &Captures) -> Result<Address, String> {
    let (Some(local), Some(domain)) = (&caps.local, &caps.domain) else {
        return Err("the layout captured no address".into());
    };
    if let Err(reason) = normalize_domain(domain) {
        return Err(format!("{domain:?} is not a mail domain ({reason})"));
    }
    let a = Address::parse(&format!("{local}@{domain}")).map_err(|e| e.to_string())?;
    if a.local() != local {
        return Err(format!("{local:?} is not a valid local part"));
    }
    Ok(a)
}

/// How long to collect inotify events before acting on them: long enough to take a burst
/// (`mkdir` and its `cur`/`new`/`tmp`) as one rescan, short next to the 100 ms a new mailbox
/// may take to its order.
const SETTLE: Duration = Duration::from_millis(10);
/// More distinct subtrees than this in one burst are rescanned as their parents (a bulk import
/// into one domain as that domain, not as the whole tree).
const MAX_SCOPES: usize = 256;

/// The maildir tree as a mailbox source.
#[derive(Debug)]
pub struct MaildirSource {
    settings: MaildirSettings,
    tracker: Tracker,
}

impl MaildirSource {
    /// A source over `settings.root`, with the default mass-removal guard.
    pub fn new(settings: MaildirSettings) -> Self {
        MaildirSource {
            settings,
            tracker: Tracker::new("maildir", GuardPolicy::default()),
        }
    }

    /// Replaces the mass-removal guard policy.
    pub fn with_guard(mut self, policy: GuardPolicy) -> Self {
        self.tracker = Tracker::new("maildir", policy);
        self
    }

    /// Makes the watcher send whole listings ([`SourceEvent::Listing`]) instead of
    /// differences, for a consumer that keeps the presence itself and judges removals (the
    /// daemon's store). A partial rescan that sees a mailbox vanish becomes a full rescan.
    pub fn reporting_listings(mut self) -> Self {
        self.tracker = std::mem::replace(
            &mut self.tracker,
            Tracker::new("maildir", GuardPolicy::default()),
        )
        .reporting_listings();
        self
    }

    /// The watcher's health, updated after every scan.
    pub fn health(&self) -> tokio::sync::watch::Receiver<super::SourceHealth> {
        self.tracker.health()
    }

    fn canonical_root(&self) -> Result<PathBuf, SourceError> {
        let root = &self.settings.root;
        match std::fs::canonicalize(root) {
            Ok(p) if p.is_dir() => Ok(p),
            Ok(_) => Err(SourceError::RootMissing { path: root.clone() }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(SourceError::RootMissing { path: root.clone() })
            }
            Err(e) => Err(io_err(root)(e)),
        }
    }

    /// Scans the whole tree now (blocking IO; call from a blocking context in async code).
    pub fn full_listing(&self) -> Result<Listing, SourceError> {
        let root = self.canonical_root()?;
        Ok(scan(&root, &self.settings.layout, &[])?.listing)
    }

    /// Sends a `Present` for every mailbox, then watches the tree: directories above the
    /// mailbox level get inotify watches (so a 100,000-mailbox tree needs one watch per
    /// domain with the default layout, not hundreds of thousands); each event rescans only
    /// the subtree it names; a queue overflow or the rescan interval rescans everything.
    /// Returns when `cancel` fires, or with an error when the root is missing at start or
    /// the pipeline's receiver is gone. Later scan failures are logged, reported through
    /// [`Self::health`] and retried; the known mailboxes stay as they were.
    pub async fn watch(
        mut self,
        tx: mpsc::Sender<SourceEvent>,
        cancel: CancellationToken,
    ) -> Result<(), SourceError> {
        let root = self.canonical_root()?;
        let (mut watcher, mut rx) = super::fs_watcher().map_err(|source| SourceError::Watch {
            path: root.clone(),
            source,
        })?;
        let mut watched: BTreeSet<PathBuf> = BTreeSet::new();
        // tokio's interval refuses a zero period; a rescan more often than every second would
        // only burn the disk anyway.
        let period = self.settings.rescan_interval.max(Duration::from_secs(1));
        let mut interval = tokio::time::interval(period);
        // The first tick completes at once: that is the initial full scan.
        loop {
            let mut scopes: Vec<Vec<OsString>> = Vec::new();
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = interval.tick() => scopes.push(Vec::new()),
                ev = rx.recv() => {
                    let Some(ev) = ev else { return Ok(()) };
                    self.scope_of(&root, ev, &mut scopes);
                    let settle = tokio::time::sleep(SETTLE);
                    tokio::pin!(settle);
                    loop {
                        tokio::select! {
                            _ = &mut settle => break,
                            more = rx.recv() => match more {
                                Some(ev) => self.scope_of(&root, ev, &mut scopes),
                                None => break,
                            },
                        }
                    }
                }
            }
            let scopes = bounded_scopes(scopes, MAX_SCOPES);
            if scopes.is_empty() {
                // Only opens and reads (our own included): nothing to look at.
                continue;
            }
            self.rescan(&root, scopes, &mut watcher, &mut watched, &tx)
                .await?;
        }
    }

    /// The subtree an event asks to rescan: the changed entry, cut at the mailbox level.
    fn scope_of(
        &self,
        root: &Path,
        ev: notify::Result<notify::Event>,
        scopes: &mut Vec<Vec<OsString>>,
    ) {
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                tracing::warn!(error = %e, "maildir-watch-error; rescanning the tree");
                scopes.push(Vec::new());
                return;
            }
        };
        if ev.need_rescan() {
            scopes.push(Vec::new());
            return;
        }
        if !super::is_change(&ev, false) {
            return;
        }
        for p in &ev.paths {
            let Ok(rel) = p.strip_prefix(root) else {
                continue;
            };
            let comps: Vec<OsString> = rel
                .components()
                .map(|c| c.as_os_str().to_os_string())
                .collect();
            scopes.push(
                comps
                    .into_iter()
                    .take(self.settings.layout.depth())
                    .collect(),
            );
        }
    }

    /// Rescans the given subtrees (one blocking job), updates the watches, and sends the
    /// differences as one update, so the mass-removal guard judges a burst as a whole.
    async fn rescan(
        &mut self,
        root: &Path,
        mut scopes: Vec<Vec<OsString>>,
        watcher: &mut notify::RecommendedWatcher,
        watched: &mut BTreeSet<PathBuf>,
        tx: &mpsc::Sender<SourceEvent>,
    ) -> Result<(), SourceError> {
        let mut attempt = 0;
        loop {
            let prefixes = prefixes_of(root, &scopes);
            let in_scope = |p: &Path| prefixes.iter().any(|prefix| p.starts_with(prefix));
            attempt += 1;
            let (r, l, s) = (
                root.to_path_buf(),
                self.settings.layout.clone(),
                scopes.clone(),
            );
            let result = tokio::task::spawn_blocking(move || {
                let mut all = Scan::default();
                for scope in &s {
                    let one = scan(&r, &l, scope)?;
                    all.dirs.extend(one.dirs);
                    all.listing.entries.extend(one.listing.entries);
                    all.listing.rejected.extend(one.listing.rejected);
                }
                Ok(all)
            })
            .await
            .unwrap_or_else(|join| Err(io_err(root)(io::Error::other(join.to_string()))));
            let scanned = match result {
                Ok(s) => s,
                Err(e) => {
                    self.tracker.failed(&e);
                    return Ok(());
                }
            };
            // Watch directories first seen in this scan. If any were new, scan once more:
            // entries created between the scan and the new watch would otherwise wait for
            // the periodic rescan.
            let added = update_watches(watcher, watched, &scanned.dirs, &in_scope);
            if added && attempt == 1 {
                continue;
            }
            let (complete, fresh) = (scopes.iter().any(|s| s.is_empty()), scanned.listing);
            // Keys are the mailbox paths: the known ones in scope are found by range lookups
            // under the scanned prefixes, not by a walk of the whole tree's listing.
            let texts: Vec<String> = prefixes
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            let test = |k: &str| in_scope(Path::new(k));
            let scope = super::Scope {
                prefixes: (!complete).then_some(texts.as_slice()),
                test: &test,
            };
            match self.tracker.report(fresh, complete, scope) {
                super::Report::Send(events) => return send_all(tx, events).await,
                super::Report::RescanAll => scopes = vec![Vec::new()],
            }
        }
    }
}

/// Watches the directories of `dirs` not watched yet and drops the watches of directories in
/// scope that the scan no longer saw. Returns whether any new watch was added.
fn update_watches(
    watcher: &mut notify::RecommendedWatcher,
    watched: &mut BTreeSet<PathBuf>,
    dirs: &[PathBuf],
    in_scope: &dyn Fn(&Path) -> bool,
) -> bool {
    let mut added = false;
    let seen: BTreeSet<PathBuf> = dirs.iter().cloned().collect();
    for d in &seen {
        if !watched.contains(d) {
            match watcher.watch(d, notify::RecursiveMode::NonRecursive) {
                Ok(()) => {
                    watched.insert(d.clone());
                    added = true;
                }
                Err(e) => tracing::warn!(dir = %d.display(), error = %e,
                    "maildir-watch-failed; relying on periodic rescans for this directory"),
            }
        }
    }
    let stale: Vec<PathBuf> = watched
        .iter()
        .filter(|d| in_scope(d) && !seen.contains(*d))
        .cloned()
        .collect();
    for d in stale {
        // The kernel drops the watch of a removed directory by itself.
        let _ = watcher.unwatch(&d);
        watched.remove(&d);
    }
    added
}

/// The directories the scopes name below `root`.
fn prefixes_of(root: &Path, scopes: &[Vec<OsString>]) -> Vec<PathBuf> {
    scopes
        .iter()
        .map(|s| s.iter().fold(root.to_path_buf(), |p, c| p.join(c)))
        .collect()
}

/// [`minimal_scopes`], cut one level shorter while there are more than `max` of them: a burst
/// touching many places (a bulk import) is cheaper as a scan of their common parents, and
/// cheaper still as one full scan (the empty scope) than as thousands of small ones.
fn bounded_scopes(scopes: Vec<Vec<OsString>>, max: usize) -> Vec<Vec<OsString>> {
    let mut scopes = minimal_scopes(scopes);
    while scopes.len() > max {
        scopes = minimal_scopes(
            scopes
                .into_iter()
                .map(|mut s| {
                    s.pop();
                    s
                })
                .collect(),
        );
    }
    scopes
}

/// Drops scopes that another scope contains, and duplicates.
fn minimal_scopes(mut scopes: Vec<Vec<OsString>>) -> Vec<Vec<OsString>> {
    scopes.sort();
    scopes.dedup();
    let mut out: Vec<Vec<OsString>> = Vec::new();
    for s in scopes {
        if !out.iter().any(|o| s.starts_with(o)) {
            out.push(s);
        }
    }
    out
}

#[cfg(test)]
mod tests;
