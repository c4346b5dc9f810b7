//! Owns the enqueue spool: the hand-off between `smime-provisioner enqueue ADDRESS...` (run by
//! provisioning hooks such as PostfixAdmin's `mailbox_postcreation_script`, as the web server's
//! user, inside a web request) and the daemon.
//!
//! Why a spool directory and not a socket: the hook must return at once and must work while the
//! daemon is down or restarting, so each request is a small file, written atomically through
//! [`crate::fsutil`] (a dot-named temporary file, synced, renamed into place), so the daemon
//! never reads half a request. The directory is `2770` (setgid, group-writable): the daemon's
//! user owns it, hook users are members of its group, request files are `0640` and carry the
//! directory's group, so the daemon can read and delete them and nobody else can see them. A
//! request is deleted only when the pipeline acknowledges it ([`SpoolSource::ack`]) after
//! persisting it, so a crash in between replays the request instead of losing the mailbox.

use super::{send_all, Listing, Origin, Rejected, SourceError, SourceEvent};
use crate::display_name::DisplayName;
use crate::fsutil::{self, AtomicWriter, Placement, Step, WriteError};
use crate::mailbox::Address;
use notify::Watcher as _;
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read as _};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// First line of every request file; the number is the format version.
const MAGIC: &str = "smime-provisioner-request: 1";
/// Extension of a complete request file.
const REQ_EXT: &str = "req";
/// Extension given to request files that could not be read as requests.
const REJECTED_EXT: &str = "rejected";
/// Request files are tiny; anything bigger in a group-writable directory is not ours.
const MAX_REQUEST_BYTES: u64 = 4096;
/// Mode of request files: the daemon reads them through the directory's group.
const REQUEST_MODE: u32 = 0o640;
/// Mode of a spool directory the daemon creates: setgid so files inherit the group.
const SPOOL_DIR_MODE: u32 = 0o2770;
/// How often the watcher re-lists the spool without inotify events.
const RESCAN: Duration = Duration::from_secs(30);
/// A request sent but not acknowledged after this long is sent again (the pipeline may have
/// failed to persist it).
const RESEND_AFTER: Duration = Duration::from_secs(300);

/// Why a request could not be written, listed or acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error(
        "the spool directory {dir} does not exist; start the daemon once, or create it with \
         `install -d -m 2770 -o <daemon user> -g <hook group> {dir}`"
    )]
    Missing { dir: PathBuf },
    #[error(
        "cannot write to the spool directory {dir} ({source}); the hook's user must be a \
         member of the directory's group and the directory must be group-writable (mode 2770)"
    )]
    NotWritable { dir: PathBuf, source: io::Error },
    #[error("spool I/O on {path} failed: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path} is not a request file of the spool {dir}; refusing to delete it")]
    NotARequest { path: PathBuf, dir: PathBuf },
}

impl SpoolError {
    /// True when retrying may help without an admin changing permissions or paths.
    pub fn is_transient(&self) -> bool {
        matches!(self, SpoolError::Io { .. })
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes one request file per address into `spool_dir` and returns their paths. Each file
/// appears atomically (written under a dot-name, synced, renamed, directory synced). Does not
/// need the daemon. The caller has validated the addresses (they are [`Address`]es).
pub fn enqueue(spool_dir: &Path, addresses: &[Address]) -> Result<Vec<PathBuf>, SpoolError> {
    enqueue_named(spool_dir, addresses, None)
}

/// As [`enqueue`], with the person's name (`enqueue --name`) in every request: a `name:` line
/// after the address, which the daemon checks again when it reads the request.
pub fn enqueue_named(
    spool_dir: &Path,
    addresses: &[Address],
    name: Option<&DisplayName>,
) -> Result<Vec<PathBuf>, SpoolError> {
    let meta = match fs::metadata(spool_dir) {
        Ok(m) if m.is_dir() => m,
        Ok(_) => {
            return Err(SpoolError::Missing {
                dir: spool_dir.to_path_buf(),
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(SpoolError::Missing {
                dir: spool_dir.to_path_buf(),
            })
        }
        Err(e) => return Err(io_err(spool_dir)(e)),
    };
    // Explicit mode and group: the hook user's umask and primary group must not decide
    // whether the daemon can read the request. The directory is synced once, after all files.
    let writer = AtomicWriter::new()
        .prefix(".enqueue-")
        .mode(REQUEST_MODE)
        .placement(Placement::NoClobber)
        .without_dir_sync();
    let mut written = Vec::with_capacity(addresses.len());
    for address in addresses {
        let staged = writer.stage(spool_dir).map_err(|e| match e.step {
            Step::CreateTemp if e.source.kind() == io::ErrorKind::PermissionDenied => {
                SpoolError::NotWritable {
                    dir: e.path,
                    source: e.source,
                }
            }
            _ => write_err(e),
        })?;
        let file = staged.file();
        if file.metadata().map_err(io_err(staged.path()))?.gid() != meta.gid() {
            std::os::unix::fs::fchown(file, None, Some(meta.gid())).map_err(|source| {
                SpoolError::NotWritable {
                    dir: spool_dir.to_path_buf(),
                    source,
                }
            })?;
        }
        let mut request = format!("{MAGIC}\naddress: {address}\n");
        if let Some(n) = name {
            request.push_str(&format!("name: {n}\n"));
        }
        let target = staged
            .commit(&request_name(), request.as_bytes())
            .map_err(write_err)?;
        written.push(target);
    }
    sync_dir(spool_dir)?;
    Ok(written)
}

fn write_err(e: WriteError) -> SpoolError {
    SpoolError::Io {
        path: e.path,
        source: e.source,
    }
}

/// `<nanoseconds since 1970>-<pid>-<random>.req`: names sort in arrival order, and two hooks
/// in the same nanosecond still differ. Wall-clock time is fine here: it only orders files.
fn request_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{nanos:020}-{}-{:016x}.{REQ_EXT}",
        std::process::id(),
        rand::random::<u64>()
    )
}

/// Makes a rename or unlink in `dir` durable (the directory entry itself is data).
fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    fsutil::sync_dir(dir).map_err(io_err(dir))
}

/// A valid request: the address and, if the request names one, the person's name.
type Request = (Address, Option<DisplayName>);

/// Reads one request file; `Err` carries the reason it is not a valid request.
fn read_request(path: &Path) -> Result<Result<Request, String>, io::Error> {
    use std::os::unix::fs::OpenOptionsExt as _;
    // The directory is group-writable, so what sits there may be hostile: O_NOFOLLOW refuses a
    // symlink swapped in after listing, O_NONBLOCK keeps a FIFO from blocking the open.
    let f = match fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Ok(Err("a symbolic link, not a request file".into()))
        }
        Err(e) => return Err(e),
    };
    if !f.metadata()?.is_file() {
        return Ok(Err("not a regular file".into()));
    }
    let mut text = String::new();
    match f.take(MAX_REQUEST_BYTES + 1).read_to_string(&mut text) {
        Ok(n) if n as u64 > MAX_REQUEST_BYTES => return Ok(Err("larger than 4 KiB".into())),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::InvalidData => return Ok(Err("not UTF-8".into())),
        Err(e) => return Err(e),
    }
    Ok(parse_request(&text))
}

/// The request in a file's text, or why it is not one. A `name:` line is optional; a name that
/// is not usable (a hand-written request with a control character) rejects the request, as
/// `enqueue --name` would have.
fn parse_request(text: &str) -> Result<Request, String> {
    let mut lines = text.lines();
    if lines.next() != Some(MAGIC) {
        return Err(format!("the first line is not {MAGIC:?}"));
    }
    let (mut address, mut name) = (None, None);
    for l in lines {
        match l.split_once(':') {
            Some(("address", v)) if address.is_none() => address = Some(v.trim().to_string()),
            Some(("address", _)) => return Err("more than one address line".into()),
            Some(("name", v)) if name.is_none() => {
                name = Some(DisplayName::parse(v).map_err(|e| format!("the name {e}"))?);
            }
            Some(("name", _)) => return Err("more than one name line".into()),
            _ => return Err("unknown line in the request".into()),
        }
    }
    let a = address.ok_or("no address line")?;
    Ok((Address::parse(&a).map_err(|e| e.to_string())?, name))
}

/// Reads one listed request file; `Ok(Err(reason))` when it is not a valid request.
fn examine(entry: &fs::DirEntry) -> Result<Result<Request, String>, io::Error> {
    // A symlink planted in a group-writable directory must not make us read elsewhere.
    let ft = entry.file_type()?;
    if ft.is_symlink() {
        Ok(Err("a symbolic link, not a request file".to_string()))
    } else if !ft.is_file() {
        Ok(Err("not a regular file".to_string()))
    } else {
        read_request(&entry.path())
    }
}

/// Logs why `path` is not a request and renames it to `*.rejected`, out of the queue, for an
/// admin to look at. A failed rename is logged; the file is then rejected again next time.
fn set_aside(path: &Path, reason: String) -> Rejected {
    let origin = path.to_string_lossy().into_owned();
    tracing::warn!(origin = %origin, reason = %reason, "spool-request-rejected");
    if let Err(e) = fs::rename(path, path.with_extension(REJECTED_EXT)) {
        tracing::warn!(origin = %origin, error = %e, "spool-reject-rename-failed");
    }
    Rejected { origin, reason }
}

/// The spool as a mailbox source. Cheap to clone: clones share the record of which requests
/// were sent, so the pipeline can hold one clone for [`SpoolSource::ack`] while another runs
/// [`SpoolSource::watch`].
#[derive(Debug, Clone)]
pub struct SpoolSource {
    dir: PathBuf,
    sent: Arc<Mutex<BTreeMap<PathBuf, Instant>>>,
    rescan: Duration,
    resend_after: Duration,
}

impl SpoolSource {
    /// The daemon's side of the spool. Creates the directory with mode 2770 if it does not
    /// exist (the daemon's user owns it; an admin puts hook users into its group).
    pub fn new(dir: impl Into<PathBuf>) -> Result<SpoolSource, SpoolError> {
        let dir = dir.into();
        match fs::metadata(&dir) {
            Ok(m) if m.is_dir() => {
                let mode = m.permissions().mode() & 0o7777;
                if mode & 0o070 != 0o070 {
                    tracing::warn!(dir = %dir.display(), mode = format!("{mode:o}"),
                        "spool-not-group-writable: hook users in the group cannot enqueue; use mode 2770");
                }
            }
            Ok(_) => return Err(SpoolError::Missing { dir }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(&dir).map_err(io_err(&dir))?;
                fs::set_permissions(&dir, fs::Permissions::from_mode(SPOOL_DIR_MODE))
                    .map_err(io_err(&dir))?;
            }
            Err(e) => return Err(io_err(&dir)(e)),
        }
        Ok(SpoolSource {
            dir,
            sent: Arc::new(Mutex::new(BTreeMap::new())),
            rescan: RESCAN,
            resend_after: RESEND_AFTER,
        })
    }

    /// Replaces how often the watcher re-lists the spool without events (default 30 s) and
    /// after how long an unacknowledged request is sent again (default 5 min). Both are
    /// raised to at least 10 ms.
    pub fn with_timing(mut self, rescan: Duration, resend_after: Duration) -> Self {
        let floor = Duration::from_millis(10);
        self.rescan = rescan.max(floor);
        self.resend_after = resend_after.max(floor);
        self
    }

    /// The spool directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every pending request, oldest first (keys are the request files); in-progress writes
    /// (dot-names) are skipped. A file that is not a valid request, or that the daemon's user
    /// cannot read (a hook wrote it mode 0600), is listed in `rejected`, logged with its reason
    /// and set aside as `*.rejected` for an admin, on its own: the other requests are still
    /// listed. A file that fails to read for a passing reason (out of descriptors, EIO) is
    /// logged and left for the next listing. Only a spool directory that cannot be listed at all
    /// fails the listing.
    pub fn full_listing(&self) -> Result<Listing, SourceError> {
        let mut listing = Listing::default();
        let mut entries = fs::read_dir(&self.dir)
            .and_then(|rd| rd.collect::<Result<Vec<_>, _>>())
            .map_err(io_err(&self.dir))?;
        // Names start with the enqueue time, so name order is arrival order.
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != REQ_EXT)
                || entry.file_name().as_encoded_bytes().starts_with(b".")
            {
                continue;
            }
            match examine(&entry) {
                Ok(Ok((address, name))) => {
                    let origin = Origin::Spool { file: path };
                    let key = origin.key();
                    listing.insert(origin, address);
                    if let Some(n) = name {
                        listing.set_display_name(&key, n);
                    }
                }
                Ok(Err(reason)) => listing.rejected.push(set_aside(&path, reason)),
                // Acked (deleted) between listing and reading: not pending any more.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                    let reason = format!(
                        "the daemon's user cannot read it ({e}); hooks must write requests with \
                         `smime-provisioner enqueue`, which makes them readable by the spool's \
                         group (mode 0640)"
                    );
                    listing.rejected.push(set_aside(&path, reason));
                }
                Err(e) => tracing::warn!(file = %path.display(), error = %e,
                    "spool-request-unreadable-for-now: left in place for the next listing"),
            }
        }
        Ok(listing)
    }

    /// Deletes a request after the pipeline has persisted it. Deleting an already deleted
    /// request is fine (acks may be repeated after a crash); deleting anything that is not a
    /// request file directly in this spool is refused.
    pub fn ack(&self, path: &Path) -> Result<(), SpoolError> {
        let in_spool = path.parent() == Some(self.dir.as_path())
            && path.extension().is_some_and(|e| e == REQ_EXT);
        if !in_spool {
            return Err(SpoolError::NotARequest {
                path: path.to_path_buf(),
                dir: self.dir.clone(),
            });
        }
        match fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(path)(e)),
        }
        self.sent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(path);
        sync_dir(&self.dir)
    }

    /// Sends a `Present` for each pending request (one per file, each to be acked), then for
    /// each new one as it appears (inotify on the directory, plus a rescan every 30 s). A
    /// request still not acknowledged 5 minutes after it was sent is sent again (see
    /// [`Self::with_timing`]). Files that
    /// are not valid requests are logged and renamed to `*.rejected` so an admin can look.
    pub async fn watch(
        self,
        tx: mpsc::Sender<SourceEvent>,
        cancel: CancellationToken,
    ) -> Result<(), SourceError> {
        let (mut watcher, mut rx) = super::fs_watcher().map_err(|source| SourceError::Watch {
            path: self.dir.clone(),
            source,
        })?;
        watcher
            .watch(&self.dir, notify::RecursiveMode::NonRecursive)
            .map_err(|source| SourceError::Watch {
                path: self.dir.clone(),
                source,
            })?;
        let mut interval = tokio::time::interval(self.rescan);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = interval.tick() => {}
                ev = rx.recv() => match ev {
                    None => return Ok(()),
                    // New requests are renamed into place; our own reads and acks are not news.
                    Some(Ok(e)) if !e.need_rescan() && !matches!(e.kind,
                        notify::EventKind::Create(_) | notify::EventKind::Modify(notify::event::ModifyKind::Name(_))
                        | notify::EventKind::Any | notify::EventKind::Other) => continue,
                    Some(_) => {}
                },
            }
            // One listing covers every event already queued (a hook enqueuing many addresses).
            while rx.try_recv().is_ok() {}
            self.relist(&tx).await?;
        }
    }

    /// Lists the spool (which sets invalid request files aside as `*.rejected`) and sends a
    /// `Present` for every request that is new or due again. A failed listing (the directory
    /// itself unreadable) is logged and retried on the next event or rescan.
    async fn relist(&self, tx: &mpsc::Sender<SourceEvent>) -> Result<(), SourceError> {
        let me = self.clone();
        let listed = tokio::task::spawn_blocking(move || me.full_listing())
            .await
            .unwrap_or_else(|join| {
                Err(io_err(&self.dir)(io::Error::other(join.to_string())).into())
            });
        let listing = match listed {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "spool-listing-failed");
                return Ok(());
            }
        };
        let events = {
            let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
            due_events(&mut sent, &listing, Instant::now(), self.resend_after)
        };
        send_all(tx, events).await
    }
}

/// The `Present` events owed for `listing` at `now`: one per address of every request never
/// sent, or sent `resend_after` ago and still not acknowledged. Updates `sent` (forgets requests
/// no longer listed, stamps those sent now). Pure apart from that map.
fn due_events(
    sent: &mut BTreeMap<PathBuf, Instant>,
    listing: &Listing,
    now: Instant,
    resend_after: Duration,
) -> Vec<SourceEvent> {
    sent.retain(|p, _| listing.entries.contains_key(&*p.to_string_lossy()));
    let mut events = Vec::new();
    for entry in listing.entries.values() {
        let Origin::Spool { file } = &entry.origin else {
            continue;
        };
        let due = sent
            .get(file)
            .is_none_or(|at| now.duration_since(*at) >= resend_after);
        if due {
            sent.insert(file.clone(), now);
            for a in &entry.addresses {
                events.push(SourceEvent::Present {
                    address: a.clone(),
                    origin: entry.origin.clone(),
                    display_name: entry.display_name.clone(),
                });
            }
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(files: &[&str]) -> Listing {
        let mut l = Listing::default();
        for f in files {
            let address = Address::parse(&format!("{f}@example.org")).unwrap();
            l.insert(
                Origin::Spool {
                    file: PathBuf::from(format!("/spool/{f}.req")),
                },
                address,
            );
        }
        l
    }

    #[test]
    fn a_request_may_name_the_person_and_a_name_with_a_control_character_rejects_it() {
        let ok = parse_request(&format!(
            "{MAGIC}\naddress: a@example.org\nname: Ana  Lima\n"
        ));
        let (a, n) = ok.unwrap();
        assert_eq!(a.as_str(), "a@example.org");
        assert_eq!(n.unwrap().as_str(), "Ana Lima");
        let plain = parse_request(&format!("{MAGIC}\naddress: a@example.org\n")).unwrap();
        assert_eq!(plain.1, None);
        let bad = parse_request(&format!("{MAGIC}\naddress: a@example.org\nname: A\u{7}B\n"));
        assert_eq!(
            bad.unwrap_err(),
            "the name contains the control character U+0007"
        );
        let twice = format!("{MAGIC}\naddress: a@example.org\nname: A\nname: B\n");
        assert_eq!(
            parse_request(&twice).unwrap_err(),
            "more than one name line"
        );
    }

    #[test]
    fn a_request_is_sent_once_then_again_only_after_the_resend_interval() {
        let mut sent = BTreeMap::new();
        let t0 = Instant::now();
        let every = Duration::from_secs(300);
        let l = listing(&["a"]);
        assert_eq!(due_events(&mut sent, &l, t0, every).len(), 1);
        let soon = t0 + Duration::from_secs(299);
        assert!(due_events(&mut sent, &l, soon, every).is_empty());
        assert_eq!(due_events(&mut sent, &l, t0 + every, every).len(), 1);
    }

    #[test]
    fn an_acknowledged_request_is_forgotten_and_a_new_one_is_sent_at_once() {
        let mut sent = BTreeMap::new();
        let t0 = Instant::now();
        let every = Duration::from_secs(300);
        due_events(&mut sent, &listing(&["a"]), t0, every);
        let events = due_events(&mut sent, &listing(&["b"]), t0, every);
        assert_eq!(events.len(), 1);
        assert_eq!(sent.len(), 1);
        assert!(sent.contains_key(Path::new("/spool/b.req")));
    }
}
