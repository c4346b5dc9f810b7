//! Owns the shared loop of the maildir and LDIF watchers ([`Tracker`]): the listing a watcher
//! knows, turned into events against each fresh listing, with the mass-removal guard in front
//! of removals.
//!
//! Two paths, one result: a complete listing (a full scan, a new export) is compared with the
//! whole known listing; a partial one (an inotify event names one mailbox directory) is compared
//! only with the known keys under the scope's prefixes, found by range lookups, and a count of
//! keys per address says whether a key outside the scope still carries an address. So one new
//! mailbox costs a lookup, not a walk of 100,000 known ones (`cargo bench --bench pipeline`).
//!
//! A tracker reporting listings (the daemon's) keeps far less: the consumer keeps the presence
//! and judges removals, so the tracker remembers only the known keys, to see one vanish from a
//! partial rescan. That is what keeps a 100,000-mailbox tree cheap to hold in memory.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{
    diff_with, guard, GuardPolicy, ListedEntry, Listing, Rejected, SourceError, SourceEvent,
    SourceHealth,
};
use crate::mailbox::Address;

/// Which known keys a fresh listing replaces.
#[derive(Clone, Copy)]
pub(crate) struct Scope<'a> {
    /// Every key in scope starts with one of these (a range hint); `None`: any key may be.
    pub prefixes: Option<&'a [String]>,
    /// Whether a key is in scope.
    pub test: &'a dyn Fn(&str) -> bool,
}

impl<'a> Scope<'a> {
    /// Keys for which `test` holds, with no range hint.
    pub fn matching(test: &'a dyn Fn(&str) -> bool) -> Self {
        Scope {
            prefixes: None,
            test,
        }
    }
}

/// The shared loop of the maildir and LDIF watchers: turn a fresh listing into events, with the
/// mass-removal guard in front of removals.
#[derive(Debug)]
pub(crate) struct Tracker {
    known: Listing,
    /// How many known keys carry each address (the distinct addresses are its keys).
    carriers: HashMap<Address, usize>,
    /// Rejected candidates currently seen, by origin, so each is logged once and the health
    /// count covers the whole source, not only the latest partial scan.
    rejected: BTreeMap<String, Rejected>,
    pub(crate) policy: GuardPolicy,
    source: &'static str,
    health: tokio::sync::watch::Sender<SourceHealth>,
    /// Report whole listings ([`SourceEvent::Listing`]) instead of differences.
    listings: bool,
    /// When reporting listings, the known keys (instead of `known`), each with its number of
    /// addresses.
    keys: BTreeMap<Box<str>, usize>,
    /// The sum of `keys`' address counts, kept as they change: one new mailbox must not cost a
    /// walk of 100,000 known keys.
    listed: usize,
}

/// What a watcher should do with a fresh listing (see [`Tracker::report`]).
#[derive(Debug)]
pub(crate) enum Report {
    /// Send these events.
    Send(Vec<SourceEvent>),
    /// A partial rescan saw mailboxes vanish: rescan the whole source, because only a
    /// complete listing may remove anything.
    RescanAll,
}

impl Tracker {
    pub(crate) fn new(source: &'static str, policy: GuardPolicy) -> Self {
        let (health, _) = tokio::sync::watch::channel(SourceHealth::default());
        Tracker {
            known: Listing::default(),
            carriers: HashMap::new(),
            rejected: BTreeMap::new(),
            policy,
            source,
            health,
            listings: false,
            keys: BTreeMap::new(),
            listed: 0,
        }
    }

    /// Switches to reporting whole listings; the consumer judges removals, so the tracker's own
    /// guard stands aside.
    pub(crate) fn reporting_listings(mut self) -> Self {
        self.listings = true;
        self.policy = GuardPolicy::lenient();
        self
    }

    /// Turns a fresh listing into what to send: the differences (with the guard in front of
    /// removals), or, when reporting listings, the listing itself.
    pub(crate) fn report(&mut self, fresh: Listing, complete: bool, scope: Scope<'_>) -> Report {
        if !self.listings {
            return Report::Send(self.update_in(fresh, scope));
        }
        if complete {
            // Keys in scope that the fresh listing lacks are gone; the rest are listed again.
            let listed = &mut self.listed;
            self.keys.retain(|k, n| {
                let keep = !(scope.test)(k) || fresh.entries.contains_key(&**k);
                if !keep {
                    *listed -= *n;
                }
                keep
            });
        } else if in_scope(&self.keys, scope).any(|k| !fresh.entries.contains_key(k)) {
            // Only a complete listing may remove: a known key missing from a partial rescan
            // (even one whose address another key still carries) asks for the whole source.
            return Report::RescanAll;
        }
        let rejected_count = self.note_rejected(&fresh.rejected, scope);
        for (k, e) in &fresh.entries {
            let n = e.addresses.len();
            let before = match self.keys.get_mut(k.as_str()) {
                Some(slot) => std::mem::replace(slot, n),
                None => {
                    self.keys.insert(k.as_str().into(), n);
                    0
                }
            };
            self.listed = self.listed + n - before;
        }
        self.note_scan(self.listed, None, rejected_count);
        Report::Send(vec![SourceEvent::Listing {
            source: self.source,
            complete,
            listing: fresh,
        }])
    }

    pub(crate) fn health(&self) -> tokio::sync::watch::Receiver<SourceHealth> {
        self.health.subscribe()
    }

    /// Records a failed listing attempt; the known set stays as it was.
    pub(crate) fn failed(&self, err: &SourceError) {
        tracing::error!(source = self.source, error = %err, "source-listing-failed");
        self.health.send_modify(|h| {
            h.last_error = Some(err.to_string());
            h.scans += 1;
        });
    }

    /// [`Tracker::update_in`] with a scope given as a test on keys (no range hint).
    #[cfg(test)]
    pub(crate) fn update(
        &mut self,
        fresh: Listing,
        in_scope: impl Fn(&str) -> bool,
    ) -> Vec<SourceEvent> {
        self.update_in(fresh, Scope::matching(&in_scope))
    }

    /// The known keys `fresh` replaces: those in `scope` and those `fresh` lists.
    fn replaced_keys(&self, fresh: &Listing, scope: Scope<'_>) -> BTreeSet<String> {
        let known = &self.known.entries;
        let mut keys: BTreeSet<String> = in_scope(known, scope).map(str::to_string).collect();
        keys.extend(
            fresh
                .entries
                .keys()
                .filter(|k| known.contains_key(*k))
                .cloned(),
        );
        keys
    }

    /// Replaces the part of the known listing in `scope` with `fresh`, and returns the events
    /// to send. Removals beyond the guard's share are withheld: the vanished entries stay known
    /// (so the next update sees them vanish again and is judged again), additions and renames
    /// still go through. Costs the size of the scope, not of the known listing, when the scope
    /// has prefixes.
    pub(crate) fn update_in(&mut self, fresh: Listing, scope: Scope<'_>) -> Vec<SourceEvent> {
        let rejected_count = self.note_rejected(&fresh.rejected, scope);
        let old = Listing {
            entries: self
                .replaced_keys(&fresh, scope)
                .into_iter()
                .filter_map(|k| self.known.entries.get(&k).cloned().map(|e| (k, e)))
                .collect(),
            rejected: Vec::new(),
        };
        let mut in_old: HashMap<&Address, usize> = HashMap::new();
        for a in old.entries.values().flat_map(|e| &e.addresses) {
            *in_old.entry(a).or_default() += 1;
        }
        let elsewhere = |a: &Address| {
            self.carriers.get(a).copied().unwrap_or(0) > in_old.get(a).copied().unwrap_or(0)
        };
        let mut events = diff_with(&old, &fresh, elsewhere);
        let vanished: BTreeSet<Address> = old
            .addresses()
            .difference(&fresh.addresses())
            .filter(|a| !elsewhere(a))
            .cloned()
            .collect();
        let mut next = fresh.entries;
        let refused = self.judge_removals(&mut events, vanished.len());
        if refused.is_some() {
            // Keep the vanished addresses known under their keys, to be judged again next time.
            for (k, e) in &old.entries {
                for a in e.addresses.iter().filter(|a| vanished.contains(*a)) {
                    next.entry(k.clone())
                        .or_insert_with(|| ListedEntry {
                            origin: e.origin.clone(),
                            addresses: Vec::new(),
                            display_name: e.display_name.clone(),
                        })
                        .addresses
                        .push(a.clone());
                }
            }
        }
        drop(in_old);
        self.replace(old.entries.into_keys(), next);
        self.note_scan(self.carriers.len(), refused, rejected_count);
        events
    }

    /// Records a successful listing in the health.
    fn note_scan(&self, known: usize, refused: Option<guard::MassRemovalRefused>, rejected: usize) {
        self.health.send_modify(|h| {
            h.known = known;
            h.last_error = None;
            h.refused = refused;
            h.rejected = rejected;
            h.scans += 1;
        });
    }

    /// Keeps the rejected candidates outside `scope` and the fresh ones (logging each new one
    /// once); returns how many there are now.
    fn note_rejected(&mut self, fresh: &[Rejected], scope: Scope<'_>) -> usize {
        let mut rejected = std::mem::take(&mut self.rejected);
        rejected.retain(|k, _| !(scope.test)(k));
        for r in fresh {
            if !self.known.rejected.contains(r) {
                tracing::warn!(source = self.source, origin = %r.origin, reason = %r.reason,
                    "source-entry-rejected");
            }
            rejected.insert(r.origin.clone(), r.clone());
        }
        self.rejected = rejected;
        self.known.rejected = self.rejected.values().cloned().collect();
        self.rejected.len()
    }

    /// Passes the removals in `events` through the guard; a refusal drops them from `events`.
    fn judge_removals(
        &self,
        events: &mut Vec<SourceEvent>,
        vanished: usize,
    ) -> Option<guard::MassRemovalRefused> {
        let would_remove = events
            .iter()
            .filter(|e| matches!(e, SourceEvent::Gone { .. }))
            .count();
        let known = self.carriers.len();
        match guard::check_removals(known, would_remove, &self.policy) {
            Ok(()) => None,
            Err(refusal) => {
                tracing::error!(
                    source = self.source,
                    known = refusal.known,
                    would_remove = refusal.would_remove,
                    share = refusal.share,
                    vanished,
                    "mass-removal-refused: {refusal}"
                );
                events.retain(|e| !matches!(e, SourceEvent::Gone { .. }));
                Some(refusal)
            }
        }
    }

    /// Drops the known entries under `old` keys and records `next`, keeping the per-address
    /// key counts.
    fn replace(&mut self, old: impl Iterator<Item = String>, next: BTreeMap<String, ListedEntry>) {
        for k in old {
            let Some(e) = self.known.entries.remove(&k) else {
                continue;
            };
            for a in e.addresses {
                if let Some(n) = self.carriers.get_mut(&a) {
                    *n -= 1;
                    if *n == 0 {
                        self.carriers.remove(&a);
                    }
                }
            }
        }
        for (k, e) in next {
            for a in &e.addresses {
                *self.carriers.entry(a.clone()).or_default() += 1;
            }
            self.known.entries.insert(k, e);
        }
    }
}

/// The keys of `map` in `scope`: by range lookups under its prefixes, else by a walk of every
/// key.
fn in_scope<'m, K: std::borrow::Borrow<str> + Ord, V>(
    map: &'m BTreeMap<K, V>,
    scope: Scope<'m>,
) -> Box<dyn Iterator<Item = &'m str> + 'm> {
    let keys: Box<dyn Iterator<Item = &'m str> + 'm> = match scope.prefixes {
        Some(prefixes) => Box::new(prefixes.iter().flat_map(move |p| {
            map.range::<str, _>((
                std::ops::Bound::Included(p.as_str()),
                std::ops::Bound::Unbounded,
            ))
            .map(|(k, _)| k.borrow())
            .take_while(move |k: &&str| k.starts_with(p.as_str()))
        })),
        None => Box::new(map.keys().map(|k| k.borrow())),
    };
    Box::new(keys.filter(move |k| (scope.test)(k)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Origin;

    fn listing(entries: &[(&str, &str)]) -> Listing {
        let mut l = Listing::default();
        for (path, address) in entries {
            l.insert(
                Origin::Maildir {
                    path: (*path).into(),
                },
                Address::parse(address).unwrap(),
            );
        }
        l
    }

    /// Applies `fresh` under `prefix` twice: by range lookups and by a walk of every key.
    fn both_ways(
        a: &mut Tracker,
        b: &mut Tracker,
        fresh: Listing,
        prefix: &str,
    ) -> Vec<SourceEvent> {
        let prefixes = [prefix.to_string()];
        let test = |k: &str| std::path::Path::new(k).starts_with(prefix);
        let fast = a.update_in(
            fresh.clone(),
            Scope {
                prefixes: Some(&prefixes),
                test: &test,
            },
        );
        let slow = b.update_in(fresh, Scope::matching(&test));
        assert_eq!(fast, slow, "under {prefix}");
        assert_eq!(a.known, b.known);
        assert_eq!(a.carriers.len(), a.known.len());
        fast
    }

    #[test]
    fn a_partial_rescan_by_range_lookups_says_what_a_walk_of_every_key_says() {
        let policy = GuardPolicy::lenient();
        let (mut a, mut b) = (
            Tracker::new("maildir", policy),
            Tracker::new("maildir", policy),
        );
        let start = listing(&[
            ("/r/d.org/ann", "ann@d.org"),
            ("/r/d.org/bob", "bob@d.org"),
            ("/r/D.org/bob", "bob@d.org"),
            ("/r/d.org/bobby", "bobby@d.org"),
            ("/r/e.org/cy", "cy@e.org"),
        ]);
        both_ways(&mut a, &mut b, start, "/r");
        // A new mailbox: one Present.
        let ev = both_ways(
            &mut a,
            &mut b,
            listing(&[("/r/d.org/dan", "dan@d.org")]),
            "/r/d.org/dan",
        );
        assert!(
            matches!(&ev[..], [SourceEvent::Present { address, .. }] if address.as_str() == "dan@d.org")
        );
        // One of two directories of bob's mailbox goes: bob is still there; `bobby` is not in scope.
        let ev = both_ways(&mut a, &mut b, Listing::default(), "/r/d.org/bob");
        assert_eq!(ev, vec![]);
        assert!(a.known.entries.contains_key("/r/d.org/bobby"));
        // The other goes too: now bob is gone.
        let ev = both_ways(&mut a, &mut b, Listing::default(), "/r/D.org/bob");
        assert!(
            matches!(&ev[..], [SourceEvent::Gone { address, .. }] if address.as_str() == "bob@d.org")
        );
        assert_eq!(a.health().borrow().known, 4);
    }

    #[test]
    fn a_tracker_reporting_listings_widens_a_partial_rescan_that_misses_any_known_key() {
        let mut t = Tracker::new("maildir", GuardPolicy::default()).reporting_listings();
        let both = listing(&[("/r/d.org/bob", "bob@d.org"), ("/r/D.org/bob", "bob@d.org")]);
        let all = |_: &str| true;
        assert!(matches!(
            t.report(both, true, Scope::matching(&all)),
            Report::Send(_)
        ));
        assert_eq!(t.health().borrow().known, 2);
        // One of bob's two directories goes: only the store, given a complete listing, may
        // judge whether bob is gone.
        let in_d = |k: &str| k.starts_with("/r/d.org/");
        let prefixes = ["/r/d.org/".to_string()];
        let scope = Scope {
            prefixes: Some(&prefixes),
            test: &in_d,
        };
        assert!(matches!(
            t.report(Listing::default(), false, scope),
            Report::RescanAll
        ));
        // A partial rescan that finds its known key again and a new one is sent.
        let again = listing(&[("/r/d.org/bob", "bob@d.org"), ("/r/d.org/cy", "cy@d.org")]);
        assert!(matches!(t.report(again, false, scope), Report::Send(_)));
        assert_eq!(t.health().borrow().known, 3);
        // A complete listing drops what it no longer lists.
        let only_cy = listing(&[("/r/d.org/cy", "cy@d.org")]);
        assert!(matches!(
            t.report(only_cy, true, Scope::matching(&all)),
            Report::Send(_)
        ));
        assert_eq!(t.health().borrow().known, 1);
    }
}
