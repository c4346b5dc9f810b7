//! Owns the durable state: one SQLite database (WAL) in the state directory holding a record per
//! mailbox, its append-only event log, the daily order budget, the poll-message ledger and a few
//! settings (the AutoDNS contact id), and the notification outbox the hooks and the webhook are
//! run from ([`outbox`]).
//!
//! Shape after atuin's `database.rs`: a file constructor and an in-memory one for tests,
//! numbered migrations run at open ([`migrations`]), every write in one transaction. Writes to a
//! mailbox are compare-and-set on its `version`, and transactions start `IMMEDIATE`, so the
//! daemon and a verb run from a shell can share the file: the loser of a race gets
//! [`StoreError::Conflict`], re-reads and re-plans, and never overwrites the winner's intent.

pub mod events;
pub mod key_pool;
pub mod ledger;
pub mod metrics;
pub mod migrations;
pub mod outbox;
pub mod presence;
pub mod record;
pub mod records;
mod rows;
pub mod scan;

use std::fs;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};
use time::Date;

use crate::mailbox::Address;

pub use crate::lifecycle::EventKind;
pub use ledger::PollEntry;
pub use metrics::{FailingFigure, MailboxFigure, SourceFigure};
pub use outbox::{Notification, OutboxEntry, OutboxOutcome};
pub use presence::{HeldRemoval, ListingApplied};
pub use record::{Event, Failure, MailboxRecord, NewEvent};
pub use records::{Observed, Transition, Update, UPDATE_TRIES};
pub use scan::Subset;

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
    /// The daily order budget is spent (or it is 0: ordering is disabled).
    #[error("{}", budget_text(*limit, day))]
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

/// What a spent budget means for the operator, naming the config key that sets it.
fn budget_text(limit: u32, day: &Date) -> String {
    if limit == 0 {
        "ordering is disabled (`autodns.daily_order_budget = 0`): no keys are generated and no \
         certificates ordered; set `autodns.daily_order_budget` above 0 to order"
            .to_string()
    } else {
        format!(
            "the daily order budget of {limit} certificate orders for {day} is spent; ordering \
             resumes tomorrow (UTC), or raise `autodns.daily_order_budget`"
        )
    }
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

/// The SQLite state store. Cheap to share behind an `Arc`; calls serialize on one connection.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
    path: Option<PathBuf>,
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
        // #pragma_secure_delete; `tests/pipeline/store_secrets.rs`). The old page images in the WAL are removed
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

#[cfg(test)]
mod tests;
