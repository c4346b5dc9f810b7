//! Owns per-source presence: which source reports which mailbox, applied from each source's
//! listings in one transaction per listing, the mass-removal guard over its sliding window, and
//! the removals it holds back until an operator confirms them (`confirm-removals`).
//!
//! The merged view: a mailbox is present while any source reports it; it is gone
//! only when every source that reported it has stopped reporting it in a *complete* listing (a
//! full scan or a full export). A partial listing only adds. Mailboxes recorded before per-source
//! tracking carry a `*` row that never makes them gone and is dropped once a source reports
//! them; mailboxes requested through the spool (or a verb) have no row until a source lists
//! them, so no listing can remove them.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use rusqlite::{params, Connection, TransactionBehavior};
use time::OffsetDateTime;

use super::records::{observe_gone_in, observe_present_in, set_display_name_in, Observed};
use super::rows::{from_nanos, map_read_error, to_nanos};
use super::{Store, StoreError};
use crate::display_name::DisplayName;
use crate::mailbox::Address;
use crate::source::guard::{check_window, GuardPolicy, MassRemovalRefused};

/// The source name of rows written before per-source tracking existed.
pub const LEGACY_SOURCE: &str = "*";

/// What applying one listing changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListingApplied {
    /// Mailboxes recorded or present again: to reconcile.
    pub added: Vec<Address>,
    /// Mailboxes no source reports any more, marked gone: to reconcile.
    pub removed: Vec<Address>,
    /// Removals the guard refused: held back, with the refusal's figures.
    pub refused: Option<(MassRemovalRefused, Vec<Address>)>,
}

/// A removal the guard holds back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HeldRemoval {
    /// The source that stopped reporting the mailbox.
    pub source: String,
    /// The mailbox.
    pub address: Address,
    /// When it was first held back.
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
}

impl Store {
    /// Applies what `source` lists now. `listed` must hold every address the source reports
    /// (of the allowed domains) when `complete`; an incomplete listing (a rescan of part of a
    /// tree) only adds. Removals pass the guard over its window first; refused ones are held
    /// back. One transaction, so a first scan of a large tree is one commit.
    pub fn apply_listing(
        &self,
        source: &str,
        listed: &BTreeSet<Address>,
        complete: bool,
        now: OffsetDateTime,
        guard: &GuardPolicy,
    ) -> Result<ListingApplied, StoreError> {
        let none = BTreeMap::new();
        self.apply_named_listing(source, listed, &none, complete, now, guard)
    }

    /// As [`Store::apply_listing`], also recording the person's name of each listed address in
    /// `names` (an LDIF entry's display name), in the same transaction.
    pub fn apply_named_listing(
        &self,
        source: &str,
        listed: &BTreeSet<Address>,
        names: &BTreeMap<Address, DisplayName>,
        complete: bool,
        now: OffsetDateTime,
        guard: &GuardPolicy,
    ) -> Result<ListingApplied, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // A partial listing (one mailbox an inotify event named) looks up its own addresses
        // only: reading every row of the source would cost 100,000 rows per new mailbox.
        let stored = if complete {
            rows_of(&tx, source)?
        } else {
            rows_among(&tx, source, listed)?
        };
        let mut out = ListingApplied::default();
        let mut still: HashSet<String> = HashSet::with_capacity(stored.len());
        for address in listed {
            if stored.contains(address.as_str()) {
                if let Some(n) = names.get(address) {
                    set_display_name_in(&tx, address, n)?;
                }
                still.insert(address.as_str().to_string());
                continue;
            }
            let (observed, recorded) = observe_present_in(&tx, address, now)?;
            if let Some(n) = names.get(address) {
                set_display_name_in(&tx, &recorded, n)?;
            }
            if matches!(observed, Observed::Created | Observed::Returned) {
                out.added.push(recorded.clone());
            }
            add_row(&tx, &recorded, source, now)?;
            still.insert(recorded.as_str().to_string());
        }
        let mut vanished: Vec<String> = stored.difference(&still).cloned().collect();
        vanished.sort();
        // A held-back removal whose mailbox is listed again is no longer held.
        let held: Vec<String> = tx
            .prepare_cached("SELECT address FROM held_removal WHERE source = ?1")?
            .query_map([source], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for a in held.iter().filter(|a| still.contains(*a)) {
            tx.prepare_cached("DELETE FROM held_removal WHERE source = ?1 AND address = ?2")?
                .execute(params![source, a])?;
        }
        if complete && !vanished.is_empty() {
            remove_or_hold(&tx, source, &stored, vanished, now, guard, &mut out)?;
        }
        if complete {
            super::metrics::note_listing(&tx, source, now)?;
        }
        tx.commit()?;
        Ok(out)
    }

    /// The sources that report `address` now (`*`: recorded before per-source tracking).
    pub fn sources_of(&self, address: &Address) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT source FROM presence WHERE address = ?1 ORDER BY source")?;
        let rows = stmt.query_map([address.as_str()], |r| r.get(0))?;
        rows.collect::<Result<Vec<String>, _>>()
            .map_err(map_read_error)
    }

    /// Every removal the guard holds back, by source and address.
    pub fn held_removals(&self) -> Result<Vec<HeldRemoval>, StoreError> {
        let conn = self.conn();
        held_in(&conn)
    }

    /// Releases every held-back removal: the source's presence row goes, and a mailbox no
    /// source reports any more is marked gone. Returns the released removals and the mailboxes
    /// marked gone.
    pub fn confirm_removals(
        &self,
        now: OffsetDateTime,
    ) -> Result<(Vec<HeldRemoval>, Vec<Address>), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let held = held_in(&tx)?;
        let mut gone = Vec::new();
        for h in &held {
            tx.execute(
                "DELETE FROM presence WHERE source = ?1 AND address = ?2",
                params![h.source, h.address.as_str()],
            )?;
            let why = format!(
                "no source reports it ({} stopped; removal confirmed by an operator)",
                h.source
            );
            if !has_rows(&tx, &h.address)? && observe_gone_in(&tx, &h.address, now, &why)? {
                gone.push(h.address.clone());
            }
        }
        tx.execute("DELETE FROM held_removal", [])?;
        tx.commit()?;
        Ok((held, gone))
    }
}

fn rows_of(tx: &Connection, source: &str) -> Result<HashSet<String>, StoreError> {
    let mut stmt = tx.prepare_cached("SELECT address FROM presence WHERE source = ?1")?;
    let rows = stmt.query_map([source], |r| r.get(0))?;
    rows.collect::<Result<HashSet<String>, _>>()
        .map_err(map_read_error)
}

/// The addresses of `listed` that `source` reports already.
fn rows_among(
    tx: &Connection,
    source: &str,
    listed: &BTreeSet<Address>,
) -> Result<HashSet<String>, StoreError> {
    let mut stmt = tx.prepare_cached(
        "SELECT EXISTS(SELECT 1 FROM presence WHERE source = ?1 AND address = ?2)",
    )?;
    let mut out = HashSet::new();
    for a in listed {
        if stmt.query_row(params![source, a.as_str()], |r| r.get::<_, bool>(0))? {
            out.insert(a.as_str().to_string());
        }
    }
    Ok(out)
}

fn add_row(
    tx: &Connection,
    address: &Address,
    source: &str,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT OR IGNORE INTO presence (address, source, since) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![address.as_str(), source, to_nanos(now)])?;
    tx.prepare_cached("DELETE FROM presence WHERE address = ?1 AND source = ?2")?
        .execute(params![address.as_str(), LEGACY_SOURCE])?;
    Ok(())
}

fn has_rows(tx: &Connection, address: &Address) -> Result<bool, StoreError> {
    Ok(tx
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM presence WHERE address = ?1)")?
        .query_row([address.as_str()], |r| r.get(0))?)
}

/// Removals `source` made within the guard's window before `now`.
fn recently_removed(
    tx: &Connection,
    source: &str,
    now: OffsetDateTime,
    guard: &GuardPolicy,
) -> Result<usize, StoreError> {
    let window = time::Duration::try_from(guard.window).unwrap_or(time::Duration::MAX);
    let since = now.checked_sub(window).map(to_nanos).unwrap_or(i64::MIN);
    let n: i64 = tx.query_row(
        "SELECT COALESCE(SUM(count), 0) FROM removal_log WHERE source = ?1 AND at > ?2",
        params![source, since],
        |r| r.get(0),
    )?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Removes `vanished` from `source` if the guard allows it over its window, else holds the
/// removals back (and keeps the rows, so the mailboxes stay present).
fn remove_or_hold(
    tx: &Connection,
    source: &str,
    stored: &HashSet<String>,
    vanished: Vec<String>,
    now: OffsetDateTime,
    guard: &GuardPolicy,
    out: &mut ListingApplied,
) -> Result<(), StoreError> {
    let parse = |a: &str| {
        Address::parse(a).map_err(|e| StoreError::Corrupt(format!("stored address {a:?}: {e}")))
    };
    let recent = recently_removed(tx, source, now, guard)?;
    if let Err(refusal) = check_window(stored.len(), recent, vanished.len(), guard) {
        let mut held = Vec::with_capacity(vanished.len());
        let mut hold = tx.prepare_cached(
            "INSERT OR IGNORE INTO held_removal (source, address, since) VALUES (?1, ?2, ?3)",
        )?;
        for a in &vanished {
            hold.execute(params![source, a, to_nanos(now)])?;
            held.push(parse(a)?);
        }
        out.refused = Some((refusal, held));
        return Ok(());
    }
    tx.execute(
        "INSERT INTO removal_log (source, at, count) VALUES (?1, ?2, ?3)",
        params![
            source,
            to_nanos(now),
            i64::try_from(vanished.len()).unwrap_or(i64::MAX)
        ],
    )?;
    let why = format!("no source reports it ({source} stopped in a complete listing)");
    for a in &vanished {
        tx.prepare_cached("DELETE FROM presence WHERE address = ?1 AND source = ?2")?
            .execute(params![a, source])?;
        let address = parse(a)?;
        if !has_rows(tx, &address)? && observe_gone_in(tx, &address, now, &why)? {
            out.removed.push(address);
        }
    }
    // Forget removal records older than the window (and a month), so the log stays small.
    let keep = time::Duration::try_from(guard.window)
        .unwrap_or(time::Duration::MAX)
        .max(time::Duration::days(30));
    if let Some(horizon) = now.checked_sub(keep) {
        tx.execute("DELETE FROM removal_log WHERE at < ?1", [to_nanos(horizon)])?;
    }
    Ok(())
}

fn held_in(conn: &Connection) -> Result<Vec<HeldRemoval>, StoreError> {
    let mut stmt =
        conn.prepare("SELECT source, address, since FROM held_removal ORDER BY source, address")?;
    let rows = stmt.query_map([], |r| {
        let address: String = r.get(1)?;
        Ok(HeldRemoval {
            source: r.get(0)?,
            address: address.parse::<Address>().map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(
                    1,
                    rusqlite::types::Type::Text,
                    Box::new(e),
                )
            })?,
            since: from_nanos(r.get(2)?)?,
        })
    })?;
    rows.collect::<Result<Vec<_>, _>>().map_err(map_read_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DB_FILE;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);

    fn a(s: &str) -> Address {
        Address::parse(s).unwrap()
    }

    fn set(addrs: &[&str]) -> BTreeSet<Address> {
        addrs.iter().map(|s| a(s)).collect()
    }

    fn present(store: &Store, s: &str) -> bool {
        store.get(&a(s)).unwrap().is_some_and(|r| r.present)
    }

    #[test]
    fn a_mailbox_stays_present_while_any_source_reports_it() {
        let store = Store::open_in_memory().unwrap();
        let all = GuardPolicy {
            max_removal_share: 1.0,
            ..GuardPolicy::default()
        };
        let both = set(&["alice@example.com", "bob@example.com"]);
        let added = store
            .apply_listing("maildir", &both, true, T0, &all)
            .unwrap()
            .added;
        assert_eq!(added.len(), 2);
        let again = store.apply_listing("ldif", &both, true, T0, &all).unwrap();
        assert!(again.added.is_empty(), "already present: {again:?}");

        let only_alice = set(&["alice@example.com"]);
        let applied = store
            .apply_listing("ldif", &only_alice, true, T0, &all)
            .unwrap();
        assert!(applied.removed.is_empty(), "{applied:?}");
        assert!(present(&store, "bob@example.com"));
        assert_eq!(
            store.sources_of(&a("bob@example.com")).unwrap(),
            ["maildir"]
        );

        let applied = store
            .apply_listing("maildir", &only_alice, true, T0, &all)
            .unwrap();
        assert_eq!(applied.removed, vec![a("bob@example.com")]);
        assert!(!present(&store, "bob@example.com"));
        assert!(store.sources_of(&a("bob@example.com")).unwrap().is_empty());
    }

    #[test]
    fn a_partial_listing_only_adds_and_a_case_variant_joins_the_known_mailbox() {
        let store = Store::open_in_memory().unwrap();
        let g = GuardPolicy::default();
        store
            .apply_listing("maildir", &set(&["bob@example.com"]), true, T0, &g)
            .unwrap();
        let applied = store
            .apply_listing("maildir", &set(&["carol@example.com"]), false, T0, &g)
            .unwrap();
        assert_eq!(applied.added, vec![a("carol@example.com")]);
        assert!(present(&store, "bob@example.com"));
        let applied = store
            .apply_listing("ldif", &set(&["Bob@example.com"]), true, T0, &g)
            .unwrap();
        assert!(applied.added.is_empty());
        assert!(store.get(&a("Bob@example.com")).unwrap().is_none());
        assert_eq!(
            store.sources_of(&a("bob@example.com")).unwrap(),
            ["ldif", "maildir"]
        );
    }

    #[test]
    fn removals_add_up_over_the_window_and_the_held_ones_wait_for_confirmation() {
        let store = Store::open_in_memory().unwrap();
        let g = GuardPolicy::default();
        let mut listed: BTreeSet<Address> = (0..100)
            .map(|i| a(&format!("u{i:03}@example.com")))
            .collect();
        store
            .apply_listing("maildir", &listed, true, T0, &g)
            .unwrap();
        let mut removed = 0;
        for i in 0..60 {
            listed.remove(&a(&format!("u{i:03}@example.com")));
            let at = T0 + time::Duration::seconds(i);
            let applied = store
                .apply_listing("maildir", &listed, true, at, &g)
                .unwrap();
            removed += applied.removed.len();
        }
        assert_eq!(removed, 10, "10% of 100 within the window");
        let held = store.held_removals().unwrap();
        assert_eq!(held.len(), 50);
        assert!(present(&store, "u059@example.com"));

        // One that comes back is no longer held.
        listed.insert(a("u059@example.com"));
        store
            .apply_listing("maildir", &listed, true, T0, &g)
            .unwrap();
        assert_eq!(store.held_removals().unwrap().len(), 49);

        let (released, gone) = store.confirm_removals(T0).unwrap();
        assert_eq!((released.len(), gone.len()), (49, 49));
        assert!(!present(&store, "u058@example.com"));
        assert!(present(&store, "u059@example.com"));
        assert!(store.held_removals().unwrap().is_empty());

        // After the window, removals are judged afresh.
        let later = T0 + time::Duration::hours(2);
        listed.remove(&a("u060@example.com"));
        let applied = store
            .apply_listing("maildir", &listed, true, later, &g)
            .unwrap();
        assert_eq!(applied.removed, vec![a("u060@example.com")]);
    }

    #[test]
    fn mailboxes_of_an_older_store_keep_their_presence_until_a_source_reports_them() {
        // A store as version 1 wrote it: two present mailboxes, no presence rows.
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
            conn.execute_batch(crate::store::migrations::MIGRATIONS[0])
                .unwrap();
            conn.execute_batch(
                "INSERT INTO mailbox (address, stage, generation, version, present, \
                 attempts, gave_up, created_at, updated_at) VALUES \
                 ('old@example.com', 'discovered', 1, 1, 1, 0, 0, 0, 0), \
                 ('hook@example.com', 'discovered', 1, 1, 1, 0, 0, 0, 0);",
            )
            .unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.sources_of(&a("old@example.com")).unwrap(), ["*"]);
        let g = GuardPolicy::default();
        let applied = store
            .apply_listing("maildir", &set(&["old@example.com"]), true, T0, &g)
            .unwrap();
        assert!(applied.removed.is_empty());
        assert!(present(&store, "hook@example.com"), "never reported: kept");
        assert_eq!(
            store.sources_of(&a("old@example.com")).unwrap(),
            ["maildir"]
        );
    }
}
