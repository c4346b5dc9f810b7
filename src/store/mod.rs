//! Owns the durable state: one SQLite database (WAL) in the state directory holding a record per
//! mailbox, its append-only event log, the daily order budget, the poll-message ledger and a few
//! settings (the AutoDNS contact id).
//!
//! Shape after atuin's `database.rs`: a file constructor and an in-memory one for tests,
//! numbered migrations run at open ([`migrations`]), every write in one transaction. Writes to a
//! mailbox are compare-and-set on its `version`, and transactions start `IMMEDIATE`, so the
//! daemon and a verb run from a shell can share the file: the loser of a race gets
//! [`StoreError::Conflict`], re-reads and re-plans, and never overwrites the winner's intent.

pub mod migrations;
pub mod record;

use std::fs;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
use time::{Date, OffsetDateTime};

use crate::lifecycle::{ErrorClass, EventKind, Request, Stage};
use crate::mailbox::Address;
use crate::secret::Secret;

pub use record::{Event, Failure, MailboxRecord, NewEvent};

/// The file name of the database inside the state directory.
pub const DB_FILE: &str = "state.sqlite3";

/// How long a writer waits for another process's transaction before giving up. Long enough for
/// any single transition (they are small), short enough that a wedged peer is reported.
const BUSY_TIMEOUT: Duration = Duration::from_secs(15);

/// What went wrong with the store, classified for the caller.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The state directory or database file could not be created or opened.
    #[error("cannot open the state store at {path}: {source}")]
    Open {
        /// The database path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The database was written by a newer smime-provisioner.
    #[error(
        "the state store has schema version {found}, but this program knows only up to \
         {supported}; it was written by a newer smime-provisioner — upgrade this one instead \
         of running an older binary against it"
    )]
    NewerSchema {
        /// Version in the file.
        found: u32,
        /// Highest version this program knows.
        supported: u32,
    },
    /// Another writer changed the record since it was read; re-read and re-plan.
    #[error("the record of {address} changed while this step ran (another process?); re-reading")]
    Conflict {
        /// The mailbox.
        address: Address,
    },
    /// The daily order budget is spent.
    #[error(
        "the daily order budget of {limit} certificate orders for {day} is spent; ordering \
         resumes tomorrow (UTC), or raise `pipeline.daily_order_budget`"
    )]
    BudgetExhausted {
        /// The configured limit.
        limit: u32,
        /// The UTC day.
        day: Date,
    },
    /// A stored value is not one this program understands.
    #[error("the state store holds an unreadable value: {0}")]
    Corrupt(String),
    /// SQLite reported an error.
    #[error("state store error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

impl StoreError {
    /// Whether retrying the same operation later can succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Conflict { .. } => true,
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ),
            _ => false,
        }
    }
}

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

/// One entry of the poll-message ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollEntry {
    /// AutoDNS message id.
    pub message_id: i64,
    /// The job it reported on, if any.
    pub job_id: Option<i64>,
    /// The mailbox it was matched to, if any (`None` = foreign).
    pub address: Option<String>,
    /// What we did with it (kebab-case: `issued`, `job-failed`, `foreign`, `duplicate`, …).
    pub outcome: String,
    /// When it was confirmed at AutoDNS.
    pub confirmed_at: Option<OffsetDateTime>,
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

/// The SQLite state store. Cheap to share behind an `Arc`; calls serialize on one connection.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
    path: Option<PathBuf>,
}

const COLUMNS: &str = "address, stage, generation, version, present, gone_since, request, \
    key_ref, contact_id, ctid, job_id, certificate_id, renew_of, certificate_pem, chain_pem, \
    not_after, serial, fingerprint, ordering_since, lease_owner, lease_until, bundle_password, \
    bundle_sent_at, delivered_at, next_attempt_at, attempts, error_class, error_code, \
    error_text, gave_up, created_at, updated_at";

fn to_nanos(t: OffsetDateTime) -> i64 {
    // i64 nanoseconds cover 1677..2262, far beyond any certificate we handle.
    i64::try_from(t.unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

fn from_nanos(n: i64) -> Result<OffsetDateTime, rusqlite::Error> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(n)).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Integer, Box::new(e))
    })
}

fn opt_time(row: &Row<'_>, col: &str) -> Result<Option<OffsetDateTime>, rusqlite::Error> {
    row.get::<_, Option<i64>>(col)?.map(from_nanos).transpose()
}

fn parse_col<T: FromStr>(row: &Row<'_>, col: &str) -> Result<Option<T>, rusqlite::Error>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    row.get::<_, Option<String>>(col)?
        .map(|s| {
            s.parse::<T>().map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(
                    0,
                    rusqlite::types::Type::Text,
                    Box::new(e),
                )
            })
        })
        .transpose()
}

fn required<T>(v: Option<T>, col: &str) -> Result<T, rusqlite::Error> {
    v.ok_or_else(|| rusqlite::Error::InvalidColumnName(format!("{col} is empty")))
}

fn read_record(row: &Row<'_>) -> Result<MailboxRecord, rusqlite::Error> {
    Ok(MailboxRecord {
        address: required(parse_col::<Address>(row, "address")?, "address")?,
        stage: required(parse_col::<Stage>(row, "stage")?, "stage")?,
        generation: row.get("generation")?,
        version: row.get("version")?,
        present: row.get("present")?,
        gone_since: opt_time(row, "gone_since")?,
        request: parse_col::<Request>(row, "request")?,
        key_ref: row.get("key_ref")?,
        contact_id: row.get("contact_id")?,
        ctid: row.get("ctid")?,
        job_id: row.get("job_id")?,
        certificate_id: row.get("certificate_id")?,
        renew_of: row.get("renew_of")?,
        certificate_pem: row.get("certificate_pem")?,
        chain_pem: row.get("chain_pem")?,
        not_after: opt_time(row, "not_after")?,
        serial: row.get("serial")?,
        fingerprint: row.get("fingerprint")?,
        ordering_since: opt_time(row, "ordering_since")?,
        lease_owner: row.get("lease_owner")?,
        lease_until: opt_time(row, "lease_until")?,
        bundle_password: row
            .get::<_, Option<String>>("bundle_password")?
            .map(Secret::new),
        bundle_sent_at: opt_time(row, "bundle_sent_at")?,
        delivered_at: opt_time(row, "delivered_at")?,
        next_attempt_at: opt_time(row, "next_attempt_at")?,
        failure: Failure {
            attempts: row.get("attempts")?,
            class: parse_col::<ErrorClass>(row, "error_class")?,
            code: row.get("error_code")?,
            text: row.get("error_text")?,
            gave_up: row.get("gave_up")?,
        },
        created_at: from_nanos(row.get("created_at")?)?,
        updated_at: from_nanos(row.get("updated_at")?)?,
    })
}

fn map_read_error(e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::FromSqlConversionFailure(_, _, inner) => {
            StoreError::Corrupt(inner.to_string())
        }
        rusqlite::Error::InvalidColumnName(s) => StoreError::Corrupt(s),
        other => StoreError::Sqlite(other),
    }
}

impl Store {
    /// Opens (creating if needed) the store in `state_dir`: the directory is created 0700 and the
    /// database file 0600 — it holds PKCS#12 passwords between the two delivery mails.
    pub fn open(state_dir: &Path) -> Result<Store, StoreError> {
        let path = state_dir.join(DB_FILE);
        let io = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        if !state_dir.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(state_dir)
                .map_err(io)?;
        }
        // Create the file ourselves so it is never world-readable, even for an instant; SQLite
        // gives the -wal and -shm files the same mode as the database.
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).map_err(io)?;
        let conn = Connection::open(&path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // WAL lets `status` read while the daemon writes; NORMAL sync is durable across process
        // crashes (the SIGKILL case) and loses at most the last commits on power loss.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Deleted content is overwritten with zeros, so a PKCS#12 password cleared after
        // delivery does not stay in a free page of the file (https://sqlite.org/pragma.html
        // #pragma_secure_delete; review finding 4). The old page images in the WAL are removed
        // by the checkpoint `commit` runs when it clears a password.
        conn.pragma_update(None, "secure_delete", "ON")?;
        Self::finish_open(conn, Some(path))
    }

    /// An in-memory store for tests.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Self::finish_open(Connection::open_in_memory()?, None)
    }

    fn finish_open(mut conn: Connection, path: Option<PathBuf>) -> Result<Store, StoreError> {
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut conn)?;
        Ok(Store {
            conn: Mutex::new(conn),
            path,
        })
    }

    /// The database file, if not in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-written transaction behind (SQLite
        // rolls it back), so a poisoned lock is safe to reuse.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        Ok(self
            .conn()
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// SQLite's `data_version` (sqlite.org/pragma.html#pragma_data_version): it changes when
    /// another connection — a verb in another process — commits to the store, and stays as it is
    /// for this connection's own commits. The daemon watches it to take up verbs' requests at
    /// once rather than at its next full re-plan.
    pub fn data_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn()
            .pragma_query_value(None, "data_version", |r| r.get(0))?)
    }

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
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current: Option<(bool, u32)> = tx
            .query_row(
                "SELECT present, generation FROM mailbox WHERE address = ?1",
                [address.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        // SQLite's lower() folds ASCII only, which is the folding wanted here (review finding 9).
        let variant: Option<(String, u32)> = match current {
            Some(_) => None,
            None => tx
                .query_row(
                    "SELECT address, generation FROM mailbox WHERE lower(address) = lower(?1) \
                     ORDER BY created_at LIMIT 1",
                    [address.as_str()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?,
        };
        let outcome = match current {
            None if variant.is_some() => {
                if let Some((existing, generation)) = variant {
                    let detail = format!(
                        "{address} differs only in case from this mailbox; treated as the same \
                         mailbox (no second certificate)"
                    );
                    let seen: bool = tx.query_row(
                        "SELECT EXISTS(SELECT 1 FROM event WHERE address = ?1 \
                         AND kind = ?3 AND detail = ?2)",
                        params![existing, detail, EventKind::CaseVariant.as_str()],
                        |r| r.get(0),
                    )?;
                    if !seen {
                        let existing = Address::parse(&existing)
                            .map_err(|e| StoreError::Corrupt(format!("stored address: {e}")))?;
                        let ev = NewEvent::new(EventKind::CaseVariant, detail);
                        append_event(&tx, &existing, now, generation, &ev)?;
                    }
                }
                Observed::CaseVariant
            }
            None => {
                let rec = MailboxRecord::discovered(address.clone(), now);
                insert_record(&tx, &rec)?;
                append_event(
                    &tx,
                    address,
                    now,
                    1,
                    &NewEvent::new(EventKind::Discovered, "seen by a source"),
                )?;
                Observed::Created
            }
            Some((false, generation)) => {
                tx.execute(
                    "UPDATE mailbox SET present = 1, gone_since = NULL, version = version + 1, \
                     updated_at = ?2 WHERE address = ?1",
                    params![address.as_str(), to_nanos(now)],
                )?;
                let ev = NewEvent::new(EventKind::Returned, "reported by a source again");
                append_event(&tx, address, now, generation, &ev)?;
                Observed::Returned
            }
            Some((true, _)) => Observed::Unchanged,
        };
        tx.commit()?;
        Ok(outcome)
    }

    /// Records that the sources no longer report `address` (after the mass-removal guard let
    /// the removal through). Returns whether anything changed.
    pub fn observe_gone(&self, address: &Address, now: OffsetDateTime) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let generation: Option<u32> = tx
            .query_row(
                "SELECT generation FROM mailbox WHERE address = ?1 AND present = 1",
                [address.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        let Some(generation) = generation else {
            return Ok(false);
        };
        tx.execute(
            "UPDATE mailbox SET present = 0, gone_since = ?2, version = version + 1, \
             updated_at = ?2 WHERE address = ?1",
            params![address.as_str(), to_nanos(now)],
        )?;
        append_event(
            &tx,
            address,
            now,
            generation,
            &NewEvent::new(EventKind::Gone, "no source reports it"),
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// Writes a transition in one transaction: checks the version read, counts the order against
    /// the day's budget if asked, writes the record with `version + 1`, appends the events.
    /// Returns the record as stored.
    pub fn commit(&self, t: Transition) -> Result<MailboxRecord, StoreError> {
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
        if let Some(limit) = t.counts_order {
            let day = rec.updated_at.date();
            let key = day.to_string();
            let used: u32 = tx
                .query_row(
                    "SELECT orders FROM order_budget WHERE day = ?1",
                    [&key],
                    |r| r.get(0),
                )
                .optional()?
                .unwrap_or(0);
            if used >= limit {
                return Err(StoreError::BudgetExhausted { limit, day });
            }
            tx.execute(
                "INSERT INTO order_budget (day, orders) VALUES (?1, 1) \
                 ON CONFLICT(day) DO UPDATE SET orders = orders + 1",
                [&key],
            )?;
        }
        if let Some(day) = t.refunds_order {
            tx.execute(
                "UPDATE order_budget SET orders = orders - 1 WHERE day = ?1 AND orders > 0",
                [day.to_string()],
            )?;
        }
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

    /// Appends an event outside a transition (e.g. an alert about the budget).
    pub fn log_event(
        &self,
        address: &Address,
        at: OffsetDateTime,
        generation: u32,
        ev: &NewEvent,
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        append_event(&conn, address, at, generation, ev)?;
        Ok(())
    }

    /// The audit trail of `address`, oldest first.
    pub fn events(&self, address: &Address) -> Result<Vec<Event>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, address, at, generation, kind, detail FROM event \
             WHERE address = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([address.as_str()], |r| {
            let addr: String = r.get(1)?;
            Ok(Event {
                id: r.get(0)?,
                address: addr.parse::<Address>().map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        1,
                        rusqlite::types::Type::Text,
                        Box::new(e),
                    )
                })?,
                at: from_nanos(r.get(2)?)?,
                generation: r.get(3)?,
                kind: r.get(4)?,
                detail: r.get(5)?,
            })
        })?;
        rows.collect::<Result<Vec<_>, _>>().map_err(map_read_error)
    }

    /// Orders counted against the budget on UTC day `day`.
    pub fn orders_on(&self, day: Date) -> Result<u32, StoreError> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                "SELECT orders FROM order_budget WHERE day = ?1",
                [day.to_string()],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0))
    }

    /// Notes a poll message and what we did with it, before confirming it at AutoDNS. Returns
    /// `false` if the message was already in the ledger (a duplicate delivery).
    pub fn note_poll_message(
        &self,
        message_id: i64,
        job_id: Option<i64>,
        address: Option<&Address>,
        outcome: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let conn = self.conn();
        let n = conn.execute(
            "INSERT INTO poll_message (message_id, job_id, address, outcome, seen_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(message_id) DO NOTHING",
            params![
                message_id,
                job_id,
                address.map(Address::as_str),
                outcome,
                to_nanos(now)
            ],
        )?;
        Ok(n == 1)
    }

    /// Marks a poll message confirmed at AutoDNS.
    pub fn mark_poll_confirmed(
        &self,
        message_id: i64,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.execute(
            "UPDATE poll_message SET confirmed_at = ?2 WHERE message_id = ?1",
            params![message_id, to_nanos(now)],
        )?;
        Ok(())
    }

    /// The ledger entry of a poll message.
    pub fn poll_message(&self, message_id: i64) -> Result<Option<PollEntry>, StoreError> {
        let conn = self.conn();
        conn.query_row(
            "SELECT message_id, job_id, address, outcome, confirmed_at FROM poll_message \
             WHERE message_id = ?1",
            [message_id],
            |r| {
                Ok(PollEntry {
                    message_id: r.get(0)?,
                    job_id: r.get(1)?,
                    address: r.get(2)?,
                    outcome: r.get(3)?,
                    confirmed_at: r.get::<_, Option<i64>>(4)?.map(from_nanos).transpose()?,
                })
            },
        )
        .optional()
        .map_err(map_read_error)
    }

    /// A setting (e.g. `autodns.contact_id`).
    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let conn = self.conn();
        Ok(conn
            .query_row("SELECT value FROM setting WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Sets a setting.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO setting (key, value) VALUES (?1, ?2) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value],
        )?;
        Ok(())
    }

    /// Clears leases whose owner process is gone (`is_alive(owner)` false), so a restarted
    /// daemon resumes the records a killed one was working on instead of waiting out the lease.
    /// Returns how many were released.
    pub fn release_dead_leases(
        &self,
        is_alive: impl Fn(&str) -> bool,
    ) -> Result<usize, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let owners: Vec<String> = {
            let mut stmt = tx.prepare(
                "SELECT DISTINCT lease_owner FROM mailbox WHERE lease_owner IS NOT NULL",
            )?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut released = 0;
        for owner in owners.iter().filter(|o| !is_alive(o)) {
            released += tx.execute(
                "UPDATE mailbox SET lease_owner = NULL, lease_until = NULL, \
                 version = version + 1 WHERE lease_owner = ?1",
                [owner],
            )?;
        }
        tx.commit()?;
        Ok(released)
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let supported = u32::try_from(migrations::MIGRATIONS.len()).unwrap_or(u32::MAX);
    let found: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > supported {
        return Err(StoreError::NewerSchema { found, supported });
    }
    for (i, sql) in migrations::MIGRATIONS
        .iter()
        .enumerate()
        .skip(found as usize)
    {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Re-check inside the lock: another process may have migrated meanwhile.
        let now_at: u32 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if now_at as usize > i {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.pragma_update(
            None,
            "user_version",
            i64::try_from(i + 1).unwrap_or(i64::MAX),
        )?;
        tx.commit()?;
    }
    Ok(())
}

fn insert_record(conn: &Connection, r: &MailboxRecord) -> Result<(), rusqlite::Error> {
    let t = |v: Option<OffsetDateTime>| v.map(to_nanos);
    conn.execute(
        &format!(
            "INSERT INTO mailbox ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, \
             ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, \
             ?27, ?28, ?29, ?30, ?31, ?32)"
        ),
        params![
            r.address.as_str(),
            r.stage.as_str(),
            r.generation,
            r.version,
            r.present,
            t(r.gone_since),
            r.request.map(|q| q.as_str()),
            r.key_ref,
            r.contact_id,
            r.ctid,
            r.job_id,
            r.certificate_id,
            r.renew_of,
            r.certificate_pem,
            r.chain_pem,
            t(r.not_after),
            r.serial,
            r.fingerprint,
            t(r.ordering_since),
            r.lease_owner,
            t(r.lease_until),
            r.bundle_password.as_ref().map(|s| s.expose().as_str()),
            t(r.bundle_sent_at),
            t(r.delivered_at),
            t(r.next_attempt_at),
            r.failure.attempts,
            r.failure.class.map(|c| c.as_str()),
            r.failure.code,
            r.failure.text,
            r.failure.gave_up,
            to_nanos(r.created_at),
            to_nanos(r.updated_at),
        ],
    )?;
    Ok(())
}

fn append_event(
    conn: &Connection,
    address: &Address,
    at: OffsetDateTime,
    generation: u32,
    ev: &NewEvent,
) -> Result<(), rusqlite::Error> {
    conn.execute(
        "INSERT INTO event (address, at, generation, kind, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            address.as_str(),
            to_nanos(at),
            generation,
            ev.kind.as_str(),
            ev.detail
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests;
