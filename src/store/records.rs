//! Owns the mailbox records: reading them, what the sources report (present, gone), the one
//! compare-and-set write ([`Store::commit`]) with the order budget count, and [`Store::update`],
//! the bounded re-read-and-retry every read-modify-write of one record goes through.

use rusqlite::{params, OptionalExtension, TransactionBehavior};
use time::{Date, OffsetDateTime};

use super::ledger::{count_order, reserve_order};
use super::record::{MailboxRecord, NewEvent};
use super::rows::{
    append_event, insert_record, map_read_error, read_record, release_dead_owners, to_nanos,
    COLUMNS,
};
use super::{Store, StoreError};
use crate::display_name::DisplayName;
use crate::lifecycle::EventKind;
use crate::mailbox::Address;

/// What [`Store::observe_present`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// A new record was created (stage `discovered`).
    Created,
    /// The record existed but was marked gone; it is present again.
    Returned,
    /// Nothing changed.
    Unchanged,
    /// A record exists for an address that differs from this one only in ASCII case (Postfix
    /// and Dovecot look both up as one mailbox): no second record, no second order. A
    /// `case-variant` event on the existing record says so, once per spelling.
    CaseVariant,
}

/// A write of one mailbox record, with its events, as one transaction.
#[derive(Debug, Clone)]
pub struct Transition {
    /// The record's new contents. `record.version` must be the version that was read (0 for a
    /// record that does not exist yet); the store writes `version + 1`.
    pub record: MailboxRecord,
    /// Audit events appended in the same transaction.
    pub events: Vec<NewEvent>,
    /// `Some(limit)` when this transition writes an order intent: it counts against the UTC
    /// day's budget and fails with [`StoreError::BudgetExhausted`] when `limit` is reached.
    pub counts_order: Option<u32>,
    /// `Some(day)` when this transition learns that an order counted on `day` was certainly
    /// never placed (refused before processing): the count is given back.
    pub refunds_order: Option<Date>,
}

impl Transition {
    /// A plain write of `record` with no events.
    pub fn new(record: MailboxRecord) -> Self {
        Transition {
            record,
            events: Vec::new(),
            counts_order: None,
            refunds_order: None,
        }
    }

    /// Appends an audit event.
    pub fn event(mut self, kind: EventKind, detail: impl Into<String>) -> Self {
        self.events.push(NewEvent::new(kind, detail));
        self
    }
}

/// What an update function decided about the record it was given ([`Store::update`]).
#[derive(Debug)]
// A return value moved once to its caller, never stored: boxing the write buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum Update<T> {
    /// Commit this transition (its record carries the version that was read), then return the
    /// value.
    Write(Transition, T),
    /// Write nothing; return the value.
    Keep(T),
}

/// How many times [`Store::update`] reads and decides before a lost race is reported.
pub const UPDATE_TRIES: usize = 5;

impl Store {
    /// The record of `address`, if known.
    pub fn get(&self, address: &Address) -> Result<Option<MailboxRecord>, StoreError> {
        let conn = self.conn();
        conn.query_row(
            &format!("SELECT {COLUMNS} FROM mailbox WHERE address = ?1"),
            [address.as_str()],
            read_record,
        )
        .optional()
        .map_err(map_read_error)
    }

    /// Every record, ordered by address.
    pub fn list(&self) -> Result<Vec<MailboxRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM mailbox ORDER BY address"))?;
        let rows = stmt.query_map([], read_record)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(map_read_error)
    }

    /// How many records have an order open (stage `ordering` or `ordered`): when none has,
    /// the poll consumer has nothing to wait for and saves its requests.
    pub fn open_orders(&self) -> Result<i64, StoreError> {
        let conn = self.conn();
        Ok(conn.query_row(
            "SELECT COUNT(*) FROM mailbox WHERE stage IN ('ordering', 'ordered')",
            [],
            |r| r.get(0),
        )?)
    }

    /// The record whose current order has AutoDNS job `job_id`.
    pub fn find_by_job(&self, job_id: i64) -> Result<Option<MailboxRecord>, StoreError> {
        let conn = self.conn();
        conn.query_row(
            &format!("SELECT {COLUMNS} FROM mailbox WHERE job_id = ?1"),
            [job_id],
            read_record,
        )
        .optional()
        .map_err(map_read_error)
    }

    /// The record whose current order has client transaction id `ctid`.
    pub fn find_by_ctid(&self, ctid: &str) -> Result<Option<MailboxRecord>, StoreError> {
        let conn = self.conn();
        conn.query_row(
            &format!("SELECT {COLUMNS} FROM mailbox WHERE ctid = ?1"),
            [ctid],
            read_record,
        )
        .optional()
        .map_err(map_read_error)
    }

    /// Records that a source reports `address` as existing: creates it (`discovered`) or marks
    /// it present again. Idempotent, so duplicate events are harmless.
    pub fn observe_present(
        &self,
        address: &Address,
        now: OffsetDateTime,
    ) -> Result<Observed, StoreError> {
        self.observe_present_named(address, None, now)
    }

    /// As [`Store::observe_present`], also recording the person's name the source gives (a
    /// request from `enqueue --name`), in the same transaction.
    pub fn observe_present_named(
        &self,
        address: &Address,
        name: Option<&DisplayName>,
        now: OffsetDateTime,
    ) -> Result<Observed, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (outcome, recorded) = observe_present_in(&tx, address, now)?;
        if let Some(n) = name {
            set_display_name_in(&tx, &recorded, n)?;
        }
        tx.commit()?;
        Ok(outcome)
    }

    /// Records that the sources no longer report `address` (after the mass-removal guard let
    /// the removal through). Returns whether anything changed.
    pub fn observe_gone(&self, address: &Address, now: OffsetDateTime) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let changed = observe_gone_in(&tx, address, now, "no source reports it")?;
        tx.commit()?;
        Ok(changed)
    }

    /// Writes a transition in one transaction: checks the version read, counts the order against
    /// the day's budget if asked, writes the record with `version + 1`, appends the events.
    /// Returns the record as stored.
    pub fn commit(&self, t: Transition) -> Result<MailboxRecord, StoreError> {
        self.commit_with(t, None)
    }

    /// As [`Store::commit`], for the claim before a key is generated for an order not yet
    /// counted: refused with [`StoreError::BudgetExhausted`], in the same transaction, when
    /// today's orders plus the orders already waiting for their turn (a key ready, or a key being
    /// generated under a live claim) reach `limit`. So no key is made for a mailbox that cannot
    /// be ordered today, also with several workers or processes at once.
    pub fn commit_reserving_order(
        &self,
        t: Transition,
        limit: u32,
    ) -> Result<MailboxRecord, StoreError> {
        self.commit_with(t, Some(limit))
    }

    fn commit_with(
        &self,
        t: Transition,
        reserve: Option<u32>,
    ) -> Result<MailboxRecord, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut rec = t.record;
        let found: Option<(i64, bool)> = tx
            .query_row(
                "SELECT version, bundle_password IS NOT NULL FROM mailbox WHERE address = ?1",
                [rec.address.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let stored = found.map(|(v, _)| v);
        let clears_password = found.is_some_and(|(_, held)| held) && rec.bundle_password.is_none();
        match stored {
            Some(v) if v == rec.version => {}
            None if rec.version == 0 => {}
            _ => {
                return Err(StoreError::Conflict {
                    address: rec.address,
                })
            }
        }
        if let Some(limit) = reserve {
            reserve_order(&tx, &rec.address, rec.updated_at, limit)?;
        }
        count_order(&tx, t.counts_order, t.refunds_order, rec.updated_at.date())?;
        rec.version += 1;
        if stored.is_some() {
            tx.execute(
                "DELETE FROM mailbox WHERE address = ?1",
                [rec.address.as_str()],
            )?;
        }
        insert_record(&tx, &rec)?;
        for ev in &t.events {
            append_event(&tx, &rec.address, rec.updated_at, rec.generation, ev)?;
        }
        tx.commit()?;
        if clears_password && self.path.is_some() {
            // The WAL still holds page images with the password: copy the zeroed pages into
            // the database and truncate the WAL. Best effort: a reader holding a snapshot makes
            // it partial, and the next checkpoint finishes the job.
            if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
                tracing::warn!(error = %e, "WAL checkpoint after clearing a password failed");
            }
        }
        Ok(rec)
    }

    /// Clears leases whose owner process is gone (`is_alive(owner)` false), so a restarted
    /// daemon resumes the records a killed one was working on instead of waiting out the lease.
    /// Returns how many were released.
    pub fn release_dead_leases(
        &self,
        is_alive: impl Fn(&str) -> bool,
    ) -> Result<usize, StoreError> {
        release_dead_owners(
            &mut self.conn(),
            "mailbox",
            "UPDATE mailbox SET lease_owner = NULL, lease_until = NULL, \
             version = version + 1 WHERE lease_owner = ?1",
            is_alive,
        )
    }

    /// Reads the record of `address`, lets `decide` say what to write, and commits it
    /// compare-and-set; when another writer won the race, reads and decides again, at most
    /// [`UPDATE_TRIES`] times before returning [`StoreError::Conflict`]. `Ok(None)` when the
    /// address is not known. `decide` may refuse with its own error, which is returned as is.
    pub fn update<T, E: From<StoreError>>(
        &self,
        address: &Address,
        mut decide: impl FnMut(MailboxRecord) -> Result<Update<T>, E>,
    ) -> Result<Option<T>, E> {
        for _ in 0..UPDATE_TRIES {
            let Some(r) = self.get(address)? else {
                return Ok(None);
            };
            match decide(r)? {
                Update::Keep(v) => return Ok(Some(v)),
                Update::Write(t, v) => match self.commit(t) {
                    Ok(_) => return Ok(Some(v)),
                    Err(StoreError::Conflict { .. }) => continue,
                    Err(e) => return Err(e.into()),
                },
            }
        }
        Err(StoreError::Conflict {
            address: address.clone(),
        }
        .into())
    }
}

/// [`Store::observe_present`] inside the caller's transaction. Also returns the address the
/// mailbox is recorded under: `address` itself, or the known spelling it differs from only in
/// case.
pub(super) fn observe_present_in(
    tx: &rusqlite::Connection,
    address: &Address,
    now: OffsetDateTime,
) -> Result<(Observed, Address), StoreError> {
    let current: Option<(bool, u32)> = tx
        .prepare_cached("SELECT present, generation FROM mailbox WHERE address = ?1")?
        .query_row([address.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let outcome = match current {
        Some((true, _)) => Observed::Unchanged,
        Some((false, generation)) => {
            tx.prepare_cached(
                "UPDATE mailbox SET present = 1, gone_since = NULL, version = version + 1, \
                 updated_at = ?2 WHERE address = ?1",
            )?
            .execute(params![address.as_str(), to_nanos(now)])?;
            let ev = NewEvent::new(EventKind::Returned, "reported by a source again");
            append_event(tx, address, now, generation, &ev)?;
            Observed::Returned
        }
        None => {
            if let Some(existing) = case_variant_of(tx, address, now)? {
                return Ok((Observed::CaseVariant, existing));
            }
            let rec = MailboxRecord::discovered(address.clone(), now);
            insert_record(tx, &rec)?;
            let ev = NewEvent::new(EventKind::Discovered, "seen by a source");
            append_event(tx, address, now, 1, &ev)?;
            Observed::Created
        }
    };
    Ok((outcome, address.clone()))
}

/// Records `name` as the person's name of `address` when it differs from the stored one. The
/// version is bumped, so a step that read the record before cannot write the old name back
/// (it gets a conflict and re-reads). A source that knows no name leaves a stored one alone.
pub(super) fn set_display_name_in(
    tx: &rusqlite::Connection,
    address: &Address,
    name: &DisplayName,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE mailbox SET display_name = ?2, version = version + 1 \
         WHERE address = ?1 AND display_name IS NOT ?2",
    )?
    .execute(params![address.as_str(), name.as_str()])?;
    Ok(())
}

/// The known mailbox `address` differs from only in ASCII case, if any; notes the spelling on
/// it once (a `case-variant` event). SQLite's lower() folds ASCII only, which is the folding
/// wanted here: Postfix and Dovecot fold the ASCII case of an address and nothing else (the
/// `mailbox_lower` index serves the lookup).
fn case_variant_of(
    tx: &rusqlite::Connection,
    address: &Address,
    now: OffsetDateTime,
) -> Result<Option<Address>, StoreError> {
    let variant: Option<(String, u32)> = tx
        .prepare_cached(
            "SELECT address, generation FROM mailbox WHERE lower(address) = lower(?1) \
             ORDER BY created_at LIMIT 1",
        )?
        .query_row([address.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((existing, generation)) = variant else {
        return Ok(None);
    };
    let detail = format!(
        "{address} differs only in case from this mailbox; treated as the same mailbox (no \
         second certificate)"
    );
    let seen: bool = tx.query_row(
        "SELECT EXISTS(SELECT 1 FROM event WHERE address = ?1 AND kind = ?3 AND detail = ?2)",
        params![existing, detail, EventKind::CaseVariant.as_str()],
        |r| r.get(0),
    )?;
    let existing = Address::parse(&existing)
        .map_err(|e| StoreError::Corrupt(format!("stored address: {e}")))?;
    if !seen {
        let ev = NewEvent::new(EventKind::CaseVariant, detail);
        append_event(tx, &existing, now, generation, &ev)?;
    }
    Ok(Some(existing))
}

/// [`Store::observe_gone`] inside the caller's transaction, with `why` in the `gone` event.
pub(super) fn observe_gone_in(
    tx: &rusqlite::Connection,
    address: &Address,
    now: OffsetDateTime,
    why: &str,
) -> Result<bool, StoreError> {
    let generation: Option<u32> = tx
        .prepare_cached("SELECT generation FROM mailbox WHERE address = ?1 AND present = 1")?
        .query_row([address.as_str()], |r| r.get(0))
        .optional()?;
    let Some(generation) = generation else {
        return Ok(false);
    };
    tx.prepare_cached(
        "UPDATE mailbox SET present = 0, gone_since = ?2, version = version + 1, \
         updated_at = ?2 WHERE address = ?1",
    )?
    .execute(params![address.as_str(), to_nanos(now)])?;
    append_event(
        tx,
        address,
        now,
        generation,
        &NewEvent::new(EventKind::Gone, why),
    )?;
    Ok(true)
}
