//! Owns where mailboxes come from: the three sources (maildir tree, LDIF export, enqueue spool),
//! the events they all emit, their full listings for resyncs, the listing diff and the
//! mass-removal guard.
//!
//! Every source has the same shape (compare Stalwart's sibling directory back-ends):
//! `full_listing()` returns everything the source sees now, and `watch(tx, cancel)` sends
//! [`SourceEvent`]s until the token fires. Watch events are hints; the pipeline's store plus
//! periodic full listings are the truth (PRODUCT.md, "Design direction"). Inside a watcher,
//! every update (an inotify burst, a rescan, a replaced export) is turned into events by the one
//! [`diff`] function, and removals pass [`guard::check_removals`] first, so an empty or truncated
//! feed is never a mass offboarding.
//!
//! The daemon runs the maildir and LDIF watchers `reporting_listings()`: they send whole
//! listings ([`SourceEvent::Listing`], marked complete or partial) and the store keeps the
//! presence per source and judges removals over the guard's window (`store::presence`), so
//! nothing counts as known before the store committed it and the first listing after a start is
//! compared with what was stored before.

pub mod admission;
pub mod guard;
pub mod ldif;
pub mod maildir;
pub mod spool;
mod tracker;

use crate::display_name::DisplayName;
use crate::mailbox::Address;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

pub use admission::{admit, Admitted, Refusal};
pub use guard::{GuardPolicy, MassRemovalRefused};
pub(crate) use tracker::{Report, Scope, Tracker};

/// Which source saw a mailbox, and under which source-specific key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    /// A mailbox directory in the maildir tree (absolute path below the configured root).
    Maildir { path: PathBuf },
    /// An entry of the LDIF export, keyed by `entryUUID` or normalised DN (see
    /// [`ldif::KeyAttr`]).
    Ldif { key: String },
    /// A request file in the enqueue spool; pass it to [`spool::SpoolSource::ack`] once persisted.
    Spool { file: PathBuf },
}

impl Origin {
    /// The source's stable kebab-case name, as used in logs, the store and metrics.
    pub fn source_name(&self) -> &'static str {
        match self {
            Origin::Maildir { .. } => "maildir",
            Origin::Ldif { .. } => "ldif",
            Origin::Spool { .. } => "spool",
        }
    }

    /// The source-specific key as text (a path, an entryUUID or a DN).
    pub fn key(&self) -> String {
        match self {
            Origin::Maildir { path } => path.to_string_lossy().into_owned(),
            Origin::Ldif { key } => key.clone(),
            Origin::Spool { file } => file.to_string_lossy().into_owned(),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.source_name(), self.key())
    }
}

/// What a source reports to the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceEvent {
    /// The mailbox exists (first seen, or seen again by a rescan or a new spool request), with
    /// the person's name when the source knows one (an LDIF entry, `enqueue --name`).
    Present {
        address: Address,
        origin: Origin,
        display_name: Option<DisplayName>,
    },
    /// The mailbox is no longer seen by this source. Only sent after the mass-removal guard
    /// allowed it.
    Gone { address: Address, origin: Origin },
    /// The same entry (same entryUUID or DN) now carries another address: a rename, not a
    /// removal plus a new mailbox, so the pipeline need not buy a second certificate blindly.
    Changed {
        key: String,
        from: Address,
        to: Address,
        origin: Origin,
    },
    /// What the source lists now, for a consumer that keeps the per-source presence itself
    /// (the daemon's store; see [`maildir::MaildirSource::reporting_listings`]). `complete` when the
    /// listing covers the whole source (a full scan, a full export): only then may vanished
    /// mailboxes be removed; a partial rescan only adds.
    Listing {
        source: &'static str,
        complete: bool,
        listing: Listing,
    },
}

/// Something a source saw that looked like a mailbox but is not one it can certify, or a value
/// of a mailbox it cannot use (a display name with a line break), reported instead of crashing
/// or guessing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Where it was seen: the path (lossy for non-UTF-8 names), the LDIF entry, the spool file.
    pub origin: String,
    /// Why, in words a mail admin can act on.
    pub reason: String,
}

/// Everything one source sees right now.
///
/// `entries` maps each source key to the addresses found under it: one for a maildir directory
/// or a spool file, any number for an LDIF entry (`mail` plus `mailAlternateAddress`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Source key → addresses and origin, in key order.
    pub entries: BTreeMap<String, ListedEntry>,
    /// Candidates that were not valid addresses, for the admin.
    pub rejected: Vec<Rejected>,
}

/// The addresses one source key carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedEntry {
    pub origin: Origin,
    /// In the order the source lists them (LDIF attribute order), without duplicates.
    pub addresses: Vec<Address>,
    /// The person's name for every address of the entry, when the source knows one.
    pub display_name: Option<DisplayName>,
}

impl Listing {
    /// Adds `address` under `origin`'s key, keeping the first origin for the key and dropping
    /// a repeated address.
    pub fn insert(&mut self, origin: Origin, address: Address) {
        let entry = self
            .entries
            .entry(origin.key())
            .or_insert_with(|| ListedEntry {
                origin,
                // Most keys carry one address: room for one, not the four a first push makes
                // (a 100,000-mailbox listing is 10 MB smaller).
                addresses: Vec::with_capacity(1),
                display_name: None,
            });
        if !entry.addresses.contains(&address) {
            entry.addresses.push(address);
        }
    }

    /// Gives the entry under `key` the person's name (no-op for a key not listed).
    pub fn set_display_name(&mut self, key: &str, name: DisplayName) {
        if let Some(e) = self.entries.get_mut(key) {
            e.display_name = Some(name);
        }
    }

    /// The person's name of every named address (the first entry's name for an address two
    /// entries carry).
    pub fn display_names(&self) -> BTreeMap<Address, DisplayName> {
        let mut names = BTreeMap::new();
        for e in self.entries.values() {
            let Some(n) = &e.display_name else { continue };
            for a in &e.addresses {
                names.entry(a.clone()).or_insert_with(|| n.clone());
            }
        }
        names
    }

    /// Every distinct address, sorted.
    pub fn addresses(&self) -> BTreeSet<Address> {
        self.entries
            .values()
            .flat_map(|e| e.addresses.iter().cloned())
            .collect()
    }

    /// Number of distinct addresses.
    pub fn len(&self) -> usize {
        self.addresses().len()
    }

    /// True when the source sees no mailbox.
    pub fn is_empty(&self) -> bool {
        self.entries.values().all(|e| e.addresses.is_empty())
    }

    /// One `Present` event per distinct address, for a watcher's initial scan.
    pub fn present_events(&self) -> Vec<SourceEvent> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for e in self.entries.values() {
            for a in &e.addresses {
                if seen.insert(a) {
                    out.push(SourceEvent::Present {
                        address: a.clone(),
                        origin: e.origin.clone(),
                        display_name: e.display_name.clone(),
                    });
                }
            }
        }
        out
    }
}

/// The events that turn listing `old` into listing `new`.
///
/// Decided on addresses, not keys: an address is `Gone` only when no key in `new` carries it
/// (two maildir paths such as `Example.com/bob` and `example.com/bob` are one mailbox), and
/// `Present` only when no key in `old` did. A key present in both listings whose vanished
/// addresses and new addresses pair up is reported as `Changed` (pairs taken in listing
/// order), so an LDIF rename keyed by entryUUID is one event. Output order: `Changed`, then
/// `Present`, then `Gone`, each sorted by key, so results are deterministic.
pub fn diff(old: &Listing, new: &Listing) -> Vec<SourceEvent> {
    diff_with(old, new, |_| false)
}

/// [`diff`] of listings that cover only part of a source (a partial rescan): an address that
/// `elsewhere` says a key outside the part still carries is neither gone nor new.
pub(crate) fn diff_with(
    old: &Listing,
    new: &Listing,
    elsewhere: impl Fn(&Address) -> bool,
) -> Vec<SourceEvent> {
    let old_addrs = old.addresses();
    let new_addrs = new.addresses();
    let mut gone: BTreeSet<&Address> = old_addrs
        .difference(&new_addrs)
        .filter(|a| !elsewhere(a))
        .collect();
    let mut appeared: BTreeSet<&Address> = new_addrs
        .difference(&old_addrs)
        .filter(|a| !elsewhere(a))
        .collect();
    let mut out = Vec::new();

    for (key, new_entry) in &new.entries {
        let Some(old_entry) = old.entries.get(key) else {
            continue;
        };
        let removed: Vec<&Address> = old_entry
            .addresses
            .iter()
            .filter(|a| gone.contains(a))
            .collect();
        let added: Vec<&Address> = new_entry
            .addresses
            .iter()
            .filter(|a| appeared.contains(a))
            .collect();
        for (from, to) in removed.into_iter().zip(added) {
            gone.remove(from);
            appeared.remove(to);
            out.push(SourceEvent::Changed {
                key: key.clone(),
                from: from.clone(),
                to: to.clone(),
                origin: new_entry.origin.clone(),
            });
        }
    }
    for e in new.entries.values() {
        for a in &e.addresses {
            if appeared.remove(a) {
                out.push(SourceEvent::Present {
                    address: a.clone(),
                    origin: e.origin.clone(),
                    display_name: e.display_name.clone(),
                });
            }
        }
    }
    for e in old.entries.values() {
        for a in &e.addresses {
            if gone.remove(a) {
                out.push(SourceEvent::Gone {
                    address: a.clone(),
                    origin: e.origin.clone(),
                });
            }
        }
    }
    out
}

/// Why a source could not produce a listing or keep watching.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the maildir root {path} does not exist or is not a directory; check `root` in the \
         maildir source settings"
    )]
    RootMissing { path: PathBuf },
    #[error("the maildir layout {pattern:?} is not usable: {reason}")]
    BadLayout { pattern: String, reason: String },
    #[error("the LDIF export {path} is malformed: {source}")]
    Ldif {
        path: PathBuf,
        source: ldif::LdifError,
    },
    #[error(
        "the LDIF export {path} contains a {kind} change record at line {line}; point the ldif \
         source at a full export (slapcat, or ldapsearch -LLL), not a change log"
    )]
    ChangeRecordInExport {
        path: PathBuf,
        line: usize,
        kind: &'static str,
    },
    #[error(
        "the LDIF export {path} has two entries with key {key:?} (lines {first_line} and \
         {second_line}); the export is ambiguous, so none of it is used"
    )]
    DuplicateKey {
        path: PathBuf,
        key: String,
        first_line: usize,
        second_line: usize,
    },
    #[error("cannot watch {path} for changes: {source}")]
    Watch {
        path: PathBuf,
        source: notify::Error,
    },
    #[error(transparent)]
    Spool(#[from] spool::SpoolError),
    #[error("the pipeline stopped taking source events")]
    ChannelClosed,
}

impl SourceError {
    /// True when trying again later may succeed without anyone changing the configuration
    /// (an unreadable file mid-rewrite, a watch limit); false for configuration errors.
    pub fn is_transient(&self) -> bool {
        match self {
            SourceError::Io { .. }
            | SourceError::Ldif { .. }
            | SourceError::DuplicateKey { .. }
            | SourceError::ChangeRecordInExport { .. }
            | SourceError::Watch { .. } => true,
            SourceError::RootMissing { .. } | SourceError::BadLayout { .. } => false,
            SourceError::Spool(e) => e.is_transient(),
            SourceError::ChannelClosed => false,
        }
    }
}

/// What a watcher last did, for `status`, the health endpoint and metrics. Sources publish it
/// through a `tokio::sync::watch` channel (see each source's `health()`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceHealth {
    /// Addresses the watcher currently considers present.
    pub known: usize,
    /// The last listing error, if the latest attempt failed.
    pub last_error: Option<String>,
    /// The latest refused mass removal, until an update passes the guard again.
    pub refused: Option<MassRemovalRefused>,
    /// Candidates currently seen that are not valid addresses, and values not used (a display
    /// name with a line break); see the warnings in the log.
    pub rejected: usize,
    /// Listings taken so far (initial scan, event-driven rescans, periodic rescans), failed
    /// ones included: a metric, and the way tests see that an idle source stays idle.
    pub scans: u64,
}

/// A notify watcher whose events arrive on a tokio channel (the callback runs on notify's own
/// thread, so it may only do a non-blocking send).
pub(crate) type FsEvents = tokio::sync::mpsc::UnboundedReceiver<notify::Result<notify::Event>>;

pub(crate) fn fs_watcher() -> Result<(notify::RecommendedWatcher, FsEvents), notify::Error> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let w = notify::recommended_watcher(move |ev| {
        // The receiver is gone only when the watcher loop ended; nothing to do then.
        let _ = tx.send(ev);
    })?;
    Ok((w, rx))
}

/// Whether a notify event reports a change worth a rescan. Opens, reads and closes are not:
/// notify's inotify backend subscribes to `IN_OPEN`, so without this filter a watcher's own
/// `read_dir` or file read would trigger the next rescan, forever. `data_writes` admits
/// writes to file contents (an LDIF export rewritten in place); directory watchers only care
/// about entries appearing, disappearing and being renamed.
pub(crate) fn is_change(ev: &notify::Event, data_writes: bool) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind};
    if ev.need_rescan() {
        return true;
    }
    match ev.kind {
        EventKind::Any | EventKind::Other | EventKind::Create(_) | EventKind::Remove(_) => true,
        EventKind::Modify(ModifyKind::Name(_)) => true,
        EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Any | ModifyKind::Other) => data_writes,
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => data_writes,
        EventKind::Modify(ModifyKind::Metadata(_)) | EventKind::Access(_) => false,
    }
}

/// Sends events in order; fails only when the pipeline has gone away.
pub(crate) async fn send_all(
    tx: &tokio::sync::mpsc::Sender<SourceEvent>,
    events: Vec<SourceEvent>,
) -> Result<(), SourceError> {
    for e in events {
        tx.send(e).await.map_err(|_| SourceError::ChannelClosed)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Address {
        Address::parse(s).unwrap()
    }

    fn ldif_listing(entries: &[(&str, &[&str])]) -> Listing {
        let mut l = Listing::default();
        for (key, addrs) in entries {
            for addr in *addrs {
                l.insert(
                    Origin::Ldif {
                        key: key.to_string(),
                    },
                    a(addr),
                );
            }
        }
        l
    }

    #[test]
    fn a_new_address_under_the_same_key_is_a_change_not_gone_plus_present() {
        let old = ldif_listing(&[
            ("u1", &["carol@example.org"]),
            ("u2", &["dave@example.org"]),
        ]);
        let new = ldif_listing(&[
            ("u1", &["carol.m@example.org"]),
            ("u3", &["erin@example.org"]),
        ]);
        assert_eq!(
            diff(&old, &new),
            vec![
                SourceEvent::Changed {
                    key: "u1".into(),
                    from: a("carol@example.org"),
                    to: a("carol.m@example.org"),
                    origin: Origin::Ldif { key: "u1".into() },
                },
                SourceEvent::Present {
                    address: a("erin@example.org"),
                    origin: Origin::Ldif { key: "u3".into() },
                    display_name: None,
                },
                SourceEvent::Gone {
                    address: a("dave@example.org"),
                    origin: Origin::Ldif { key: "u2".into() },
                },
            ]
        );
    }

    #[test]
    fn an_address_that_moves_to_another_key_produces_no_event() {
        let old = ldif_listing(&[("u1", &["x@example.org"])]);
        let new = ldif_listing(&[("u9", &["x@example.org"])]);
        assert_eq!(diff(&old, &new), vec![]);
    }

    #[test]
    fn an_added_alternate_address_is_present_not_a_change() {
        let old = ldif_listing(&[("u1", &["x@example.org"])]);
        let new = ldif_listing(&[("u1", &["x@example.org", "alt@example.org"])]);
        assert_eq!(
            diff(&old, &new),
            vec![SourceEvent::Present {
                address: a("alt@example.org"),
                origin: Origin::Ldif { key: "u1".into() },
                display_name: None,
            }]
        );
    }

    #[test]
    fn a_refused_removal_of_one_of_an_entrys_addresses_is_judged_again_next_time() {
        let strict = GuardPolicy {
            removals_always_allowed: 0,
            ..GuardPolicy::default()
        };
        let mut t = Tracker::new("ldif", strict);
        let both = ldif_listing(&[("u1", &["a@example.org", "b@example.org"])]);
        assert_eq!(t.update(both, |_| true).len(), 2);
        let only_a = ldif_listing(&[("u1", &["a@example.org"])]);
        assert_eq!(t.update(only_a.clone(), |_| true), vec![]);
        assert_eq!(
            t.update(only_a, |_| true),
            vec![],
            "still refused, not forgotten"
        );
        let lenient = GuardPolicy {
            max_removal_share: 1.0,
            ..GuardPolicy::default()
        };
        t.policy = lenient;
        let events = t.update(ldif_listing(&[("u1", &["a@example.org"])]), |_| true);
        assert_eq!(
            events,
            vec![SourceEvent::Gone {
                address: a("b@example.org"),
                origin: Origin::Ldif { key: "u1".into() }
            }]
        );
    }

    #[test]
    fn the_tracker_withholds_removals_the_guard_refuses_and_keeps_them_known() {
        let mut t = Tracker::new("ldif", GuardPolicy::default());
        let health = t.health();
        let full: Vec<(String, Vec<String>)> = (0..20)
            .map(|i| (format!("u{i}"), vec![format!("user{i}@example.org")]))
            .collect();
        let mut l = Listing::default();
        for (k, addrs) in &full {
            l.insert(Origin::Ldif { key: k.clone() }, a(&addrs[0]));
        }
        assert_eq!(t.update(l.clone(), |_| true).len(), 20);

        // A truncated export: half the entries vanish and one new one appears.
        let mut truncated = Listing::default();
        for (k, addrs) in full.iter().take(10) {
            truncated.insert(Origin::Ldif { key: k.clone() }, a(&addrs[0]));
        }
        truncated.insert(Origin::Ldif { key: "new".into() }, a("new@example.org"));
        let events = t.update(truncated.clone(), |_| true);
        assert_eq!(
            events,
            vec![SourceEvent::Present {
                address: a("new@example.org"),
                origin: Origin::Ldif { key: "new".into() },
                display_name: None,
            }]
        );
        let refused = health
            .borrow()
            .refused
            .clone()
            .expect("refusal is reported");
        assert_eq!((refused.known, refused.would_remove), (20, 10));
        assert_eq!(health.borrow().known, 21);

        // The next identical update is judged again and refused again, not silently accepted.
        assert_eq!(t.update(truncated, |_| true), vec![]);
        assert!(health.borrow().refused.is_some());

        // One genuine removal out of 21 is within the 10% share and goes through.
        let mut one_less = l.clone();
        one_less.entries.remove("u0");
        one_less.insert(Origin::Ldif { key: "new".into() }, a("new@example.org"));
        let events = t.update(one_less, |_| true);
        assert_eq!(
            events,
            vec![SourceEvent::Gone {
                address: a("user0@example.org"),
                origin: Origin::Ldif { key: "u0".into() }
            }]
        );
        assert!(health.borrow().refused.is_none());
    }

    #[test]
    fn a_tracker_reporting_listings_sends_them_and_widens_a_partial_rescan_that_removes() {
        let mut t = Tracker::new("ldif", GuardPolicy::default()).reporting_listings();
        let both = ldif_listing(&[("u1", &["a@example.org"]), ("u2", &["b@example.org"])]);
        let Report::Send(events) = t.report(both.clone(), true, Scope::matching(&|_| true)) else {
            panic!("a complete listing is sent");
        };
        assert_eq!(
            events,
            vec![SourceEvent::Listing {
                source: "ldif",
                complete: true,
                listing: both
            }]
        );
        // A partial rescan of u2 finding it empty: only a complete listing may remove.
        let none = ldif_listing(&[]);
        assert!(matches!(
            t.report(none, false, Scope::matching(&|k| k == "u2")),
            Report::RescanAll
        ));
        // A partial rescan that only adds is sent as it is.
        let more = ldif_listing(&[("u3", &["c@example.org"])]);
        let Report::Send(events) = t.report(more, false, Scope::matching(&|k| k == "u3")) else {
            panic!("an addition is sent");
        };
        assert!(matches!(
            &events[..],
            [SourceEvent::Listing {
                complete: false,
                ..
            }]
        ));
    }
}
