//! Owns the small tables beside the records: the daily order budget count, the poll-message
//! ledger (what was done with each AutoDNS message before it is confirmed) and the settings
//! (the AutoDNS contact id).

use rusqlite::{params, OptionalExtension};
use time::{Date, OffsetDateTime};

use super::rows::{from_nanos, map_read_error, to_nanos};
use super::{Store, StoreError};
use crate::mailbox::Address;

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

impl Store {
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
}
