//! Owns the mapping between a mailbox record and its `mailbox` row, and the append of one
//! `event` row: the column list, time as nanoseconds, names parsed back into the vocabulary.

use std::str::FromStr;

use rusqlite::{params, Connection, Row, TransactionBehavior};
use time::OffsetDateTime;

use super::record::{Failure, MailboxRecord, NewEvent};
use super::StoreError;
use crate::display_name::DisplayName;
use crate::lifecycle::{ErrorClass, Request, Stage};
use crate::mailbox::Address;
use crate::secret::Secret;

pub(super) const COLUMNS: &str =
    "address, stage, generation, version, present, gone_since, request, \
    key_ref, contact_id, ctid, job_id, certificate_id, renew_of, certificate_pem, chain_pem, \
    not_after, serial, fingerprint, ordering_since, lease_owner, lease_until, bundle_password, \
    bundle_sent_at, delivered_at, next_attempt_at, attempts, error_class, error_code, \
    error_text, gave_up, created_at, updated_at, display_name";

pub(super) fn to_nanos(t: OffsetDateTime) -> i64 {
    // i64 nanoseconds cover 1677..2262, far beyond any certificate we handle.
    i64::try_from(t.unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

pub(super) fn from_nanos(n: i64) -> Result<OffsetDateTime, rusqlite::Error> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(n)).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Integer, Box::new(e))
    })
}

pub(super) fn opt_time(
    row: &Row<'_>,
    col: &str,
) -> Result<Option<OffsetDateTime>, rusqlite::Error> {
    row.get::<_, Option<i64>>(col)?.map(from_nanos).transpose()
}

pub(super) fn parse_col<T: FromStr>(row: &Row<'_>, col: &str) -> Result<Option<T>, rusqlite::Error>
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

pub(super) fn required<T>(v: Option<T>, col: &str) -> Result<T, rusqlite::Error> {
    v.ok_or_else(|| rusqlite::Error::InvalidColumnName(format!("{col} is empty")))
}

pub(super) fn read_record(row: &Row<'_>) -> Result<MailboxRecord, rusqlite::Error> {
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
        // Read leniently: a name stored under an older, looser rule is dropped rather than
        // making the whole record unreadable.
        display_name: row
            .get::<_, Option<String>>("display_name")?
            .and_then(|n| DisplayName::parse(&n).ok()),
        created_at: from_nanos(row.get("created_at")?)?,
        updated_at: from_nanos(row.get("updated_at")?)?,
    })
}

pub(super) fn map_read_error(e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::FromSqlConversionFailure(_, _, inner) => {
            StoreError::Corrupt(inner.to_string())
        }
        rusqlite::Error::InvalidColumnName(s) => StoreError::Corrupt(s),
        other => StoreError::Sqlite(other),
    }
}

pub(super) fn insert_record(conn: &Connection, r: &MailboxRecord) -> Result<(), rusqlite::Error> {
    let t = |v: Option<OffsetDateTime>| v.map(to_nanos);
    // Cached: a first scan records tens of thousands of mailboxes in one transaction.
    conn.prepare_cached(&format!(
        "INSERT INTO mailbox ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, \
             ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, \
             ?27, ?28, ?29, ?30, ?31, ?32, ?33)"
    ))?
    .execute(params![
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
        r.display_name.as_ref().map(DisplayName::as_str),
    ])?;
    Ok(())
}

pub(super) fn append_event(
    conn: &Connection,
    address: &Address,
    at: OffsetDateTime,
    generation: u32,
    ev: &NewEvent,
) -> Result<(), rusqlite::Error> {
    conn.prepare_cached(
        "INSERT INTO event (address, at, generation, kind, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        address.as_str(),
        to_nanos(at),
        generation,
        ev.kind.as_str(),
        ev.detail
    ])?;
    // The notification this event owes (if any) is written in the same transaction: committed
    // together or not at all, so a crash never loses a hook run nor invents one.
    super::outbox::enqueue(conn, conn.last_insert_rowid(), address, at, generation, ev)
}

/// Runs `release` (an UPDATE taking the owner as `?1`) for every distinct `lease_owner` of
/// `table` that `is_alive` says is gone, all in one immediate transaction; returns how many rows
/// it changed.
pub(super) fn release_dead_owners(
    conn: &mut Connection,
    table: &str,
    release: &str,
    is_alive: impl Fn(&str) -> bool,
) -> Result<usize, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let owners: Vec<String> = {
        let mut stmt = tx.prepare(&format!(
            "SELECT DISTINCT lease_owner FROM {table} WHERE lease_owner IS NOT NULL"
        ))?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    let mut released = 0;
    for owner in owners.iter().filter(|o| !is_alive(o)) {
        released += tx.execute(release, [owner])?;
    }
    tx.commit()?;
    Ok(released)
}
