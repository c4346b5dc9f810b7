//! Owns the small tables beside the records: the daily order budget count, the poll-message
//! ledger (what was done with each AutoDNS message before it is confirmed) and the settings
//! (the AutoDNS contact id).

use rusqlite::{params, OptionalExtension, Transaction};
use time::{Date, OffsetDateTime};

use super::rows::{from_nanos, map_read_error, to_nanos};
use super::{Store, StoreError};
use crate::lifecycle::{Request, Stage};
use crate::mailbox::Address;

/// Orders counted on `day`, inside a transaction.
fn orders_in(tx: &Transaction<'_>, day: Date) -> Result<u32, StoreError> {
    Ok(tx
        .query_row(
            "SELECT orders FROM order_budget WHERE day = ?1",
            [day.to_string()],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0))
}

/// Counts an order against `day`'s budget when `counts` carries the limit (refused when it is
/// reached), and gives back the count of an order learned never placed (`refunds`, the day it
/// was counted). Inside the commit's transaction (see [`super::Transition`]).
pub(super) fn count_order(
    tx: &Transaction<'_>,
    counts: Option<u32>,
    refunds: Option<Date>,
    day: Date,
) -> Result<(), StoreError> {
    if let Some(limit) = counts {
        if orders_in(tx, day)? >= limit {
            return Err(StoreError::BudgetExhausted { limit, day });
        }
        tx.execute(
            "INSERT INTO order_budget (day, orders) VALUES (?1, 1) \
             ON CONFLICT(day) DO UPDATE SET orders = orders + 1",
            [day.to_string()],
        )?;
    }
    if let Some(day) = refunds {
        tx.execute(
            "UPDATE order_budget SET orders = orders - 1 WHERE day = ?1 AND orders > 0",
            [day.to_string()],
        )?;
    }
    Ok(())
}

/// Refuses a key for `address` when the day's orders plus the orders already waiting (other
/// present records that hold a key and have not ordered, or are generating one under a live
/// claim; records that gave up or are being stopped are not waiting) reach `limit`. Inside the
/// claim's transaction, so concurrent claims cannot both take the last order of the day.
pub(super) fn reserve_order(
    tx: &Transaction<'_>,
    address: &Address,
    now: OffsetDateTime,
    limit: u32,
) -> Result<(), StoreError> {
    let day = now.date();
    let used = orders_in(tx, day)?;
    if used >= limit {
        return Err(StoreError::BudgetExhausted { limit, day });
    }
    let waiting: u32 = tx.query_row(
        "SELECT COUNT(*) FROM mailbox WHERE address != ?1 AND present = 1 AND gave_up = 0 \
         AND (request IS NULL OR request != ?5) \
         AND (stage = ?2 OR (stage = ?3 AND lease_owner IS NOT NULL AND lease_until > ?4))",
        params![
            address.as_str(),
            Stage::KeyReady.as_str(),
            Stage::Discovered.as_str(),
            to_nanos(now),
            Request::Revoke.as_str(),
        ],
        |r| r.get(0),
    )?;
    if used.saturating_add(waiting) >= limit {
        return Err(StoreError::BudgetExhausted { limit, day });
    }
    Ok(())
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

    /// Records that the alert `key` was raised for `period` (e.g. a UTC day); true only for the
    /// first call per period, across processes and restarts, so an alert is raised once.
    pub fn first_alert(&self, key: &str, period: &str) -> Result<bool, StoreError> {
        let conn = self.conn();
        let n = conn.execute(
            "INSERT INTO setting (key, value) VALUES (?1, ?2) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value \
             WHERE setting.value != excluded.value",
            [key, period],
        )?;
        Ok(n == 1)
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
