//! Owns the key pool's bookkeeping: which key-store entries were generated ahead, of which key
//! type, and which mailbox generation each was given to. The keys themselves live in the key
//! store (`crypto::KeyStore`); this table only names them.
//!
//! A pooled key goes through three states, each one committed before the next step:
//! `reserved` (row written, `sealed = 0`: the entry may not exist yet), `sealed` (the entry is
//! durable in the key store and may be handed out), `taken` (bound to one address and
//! generation, in the same transaction that picks it). Binding is idempotent per generation, so
//! a process killed after taking a key and before recording it in the mailbox's record is given
//! the same key again on restart, and no other address can ever get it (unique index).

use rusqlite::{params, OptionalExtension, TransactionBehavior};
use time::OffsetDateTime;

use super::rows::to_nanos;
use super::{Store, StoreError};
use crate::mailbox::Address;

impl Store {
    /// Writes down a pool key about to be sealed under `name` (before the key store write, so a
    /// crash in between leaves a row to clean up, never an unnamed key on disk).
    pub fn pool_reserve(
        &self,
        name: &str,
        key_type: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO key_pool (name, key_type, created_at) VALUES (?1, ?2, ?3)",
            params![name, key_type, to_nanos(now)],
        )?;
        Ok(())
    }

    /// Marks the pool key `name` sealed in the key store: it may be handed out now.
    pub fn pool_sealed(&self, name: &str) -> Result<(), StoreError> {
        self.conn()
            .execute("UPDATE key_pool SET sealed = 1 WHERE name = ?1", [name])?;
        Ok(())
    }

    /// The pool key bound to `address`'s `generation`: the one bound earlier (a restart after a
    /// crash), else the oldest free sealed key of `key_type`, bound now in the same
    /// transaction. `None` when the pool has none.
    pub fn pool_take(
        &self,
        key_type: &str,
        address: &Address,
        generation: u32,
        now: OffsetDateTime,
    ) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let bound: Option<String> = tx
            .query_row(
                "SELECT name FROM key_pool WHERE address = ?1 AND generation = ?2",
                params![address.as_str(), generation],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(name) = bound {
            return Ok(Some(name));
        }
        let free: Option<String> = tx
            .query_row(
                "SELECT name FROM key_pool WHERE address IS NULL AND key_type = ?1 AND sealed = 1 \
                 ORDER BY created_at, name LIMIT 1",
                [key_type],
                |r| r.get(0),
            )
            .optional()?;
        let Some(name) = free else {
            return Ok(None);
        };
        tx.execute(
            "UPDATE key_pool SET address = ?1, generation = ?2, taken_at = ?3 \
             WHERE name = ?4 AND address IS NULL",
            params![address.as_str(), generation, to_nanos(now), name],
        )?;
        tx.commit()?;
        Ok(Some(name))
    }

    /// Sealed pool keys of `key_type` not given to any mailbox yet.
    pub fn pool_free(&self, key_type: &str) -> Result<usize, StoreError> {
        let n: i64 = self.conn().query_row(
            "SELECT COUNT(*) FROM key_pool WHERE address IS NULL AND key_type = ?1 AND sealed = 1",
            [key_type],
            |r| r.get(0),
        )?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Free pool keys that must go: of another type than `key_type` (the configured type
    /// changed), or reserved and never marked sealed (a crash while generating).
    pub fn pool_stale(&self, key_type: &str) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT name FROM key_pool WHERE address IS NULL AND (key_type <> ?1 OR sealed = 0) \
             ORDER BY name",
        )?;
        let names = stmt
            .query_map([key_type], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(names)
    }

    /// Forgets the free pool key `name` (after its key-store entry is wiped). A taken key is
    /// never forgotten here: its row is the proof it belongs to one mailbox.
    pub fn pool_forget(&self, name: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "DELETE FROM key_pool WHERE name = ?1 AND address IS NULL",
            [name],
        )?;
        Ok(())
    }

    /// Who holds the pool key `name`: the address and generation, or `None` while it is free
    /// (or not a pool key).
    pub fn pool_holder(&self, name: &str) -> Result<Option<(String, u32)>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT address, generation FROM key_pool WHERE name = ?1 AND address IS NOT NULL",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }
}
