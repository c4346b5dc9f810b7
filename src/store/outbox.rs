//! Owns the notification outbox: the `notification` rows written in the transaction of the
//! audit event they report ([`enqueue`], called by the one event-append path), and the per-sink
//! `outbox` rows the daemon's notification task claims, finishes, retries or gives up.
//!
//! Exactly once per event: the row exists if and only if the event was committed, and a row is
//! finished in its own transaction right after its hook or webhook ran. A process killed while a
//! hook runs leaves a claim whose owner is dead; the next daemon releases it and runs the hook
//! again, so a hook interrupted by a crash runs again (`docs/hooks.md` says so).

use rusqlite::{params, Connection, OptionalExtension, Row};
use time::OffsetDateTime;

use super::record::NewEvent;
use super::rows::{
    from_nanos, map_read_error, opt_time, parse_col, release_dead_owners, required, to_nanos,
};
use super::{Store, StoreError};
use crate::lifecycle::{EventKind, HookEvent, Sink};
use crate::mailbox::Address;

/// What a notification reports: the event and the certificate's public facts when it was
/// recorded (never a key, never a password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Row id: the `X-Smime-Delivery` id of the webhook and the order of hook runs.
    pub id: i64,
    /// What happened.
    pub event: HookEvent,
    /// The mailbox.
    pub address: Address,
    /// The certificate generation it concerns.
    pub generation: u32,
    /// When the event was recorded.
    pub at: OffsetDateTime,
    /// Serial of the stored certificate, hex.
    pub serial: Option<String>,
    /// Its expiry.
    pub not_after: Option<OffsetDateTime>,
    /// Its SHA-256 fingerprint, hex.
    pub fingerprint: Option<String>,
    /// Leaf certificate, PEM.
    pub certificate_pem: Option<String>,
    /// Intermediate (and root) certificates, PEM.
    pub chain_pem: Option<String>,
    /// Why the mailbox failed (`failed` only).
    pub error: Option<String>,
}

/// How an outbox row ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxOutcome {
    /// The hook exited 0, or the webhook answered 2xx.
    Done,
    /// Nothing is configured for this event on this sink.
    Skipped,
    /// Every attempt failed (`pipeline.max_attempts`); `status` shows it.
    GaveUp,
}

impl OutboxOutcome {
    /// The stable kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxOutcome::Done => "done",
            OutboxOutcome::Skipped => "skipped",
            OutboxOutcome::GaveUp => "gave-up",
        }
    }
}

/// One notification on one sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// What to report.
    pub notification: Notification,
    /// Where to.
    pub sink: Sink,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When the next attempt is due.
    pub next_attempt_at: OffsetDateTime,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// How it ended (`None` while owed).
    pub outcome: Option<String>,
}

const NOTIFICATION_COLUMNS: &str = "n.id, n.event, n.address, n.generation, n.at, n.serial, \
    n.not_after, n.fingerprint, n.certificate_pem, n.chain_pem, n.error";
const ENTRY_COLUMNS: &str = "o.sink, o.attempts, o.next_attempt_at, o.last_error, o.outcome";

fn read_notification(row: &Row<'_>) -> Result<Notification, rusqlite::Error> {
    Ok(Notification {
        id: row.get("id")?,
        event: required(parse_col::<HookEvent>(row, "event")?, "event")?,
        address: required(parse_col::<Address>(row, "address")?, "address")?,
        generation: row.get("generation")?,
        at: from_nanos(row.get("at")?)?,
        serial: row.get("serial")?,
        not_after: opt_time(row, "not_after")?,
        fingerprint: row.get("fingerprint")?,
        certificate_pem: row.get("certificate_pem")?,
        chain_pem: row.get("chain_pem")?,
        error: row.get("error")?,
    })
}

fn read_entry(row: &Row<'_>) -> Result<OutboxEntry, rusqlite::Error> {
    Ok(OutboxEntry {
        notification: read_notification(row)?,
        sink: required(parse_col::<Sink>(row, "sink")?, "sink")?,
        attempts: row.get("attempts")?,
        next_attempt_at: from_nanos(row.get("next_attempt_at")?)?,
        last_error: row.get("last_error")?,
        outcome: row.get("outcome")?,
    })
}

/// Writes the notification the event `ev` (row `event_id`, just appended) owes, with an outbox
/// row per sink, inside the caller's transaction. The mailbox row is read as the transaction
/// has it: the transition's record is written before its events.
pub(super) fn enqueue(
    conn: &Connection,
    event_id: i64,
    address: &Address,
    at: OffsetDateTime,
    generation: u32,
    ev: &NewEvent,
) -> Result<(), rusqlite::Error> {
    if HookEvent::of(ev.kind, false).is_none() {
        return Ok(());
    }
    type Facts = (
        bool,
        Option<String>,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let facts: Option<Facts> = conn
        .prepare_cached(
            "SELECT renew_of IS NOT NULL, serial, not_after, fingerprint, certificate_pem, \
             chain_pem FROM mailbox WHERE address = ?1",
        )?
        .query_row([address.as_str()], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .optional()?;
    let (replaces, serial, not_after, fingerprint, cert, chain) =
        facts.unwrap_or((false, None, None, None, None, None));
    let Some(event) = HookEvent::of(ev.kind, replaces) else {
        return Ok(());
    };
    let error = (ev.kind == EventKind::GaveUp).then_some(ev.detail.as_str());
    conn.prepare_cached(
        "INSERT INTO notification (event_id, event, address, generation, at, serial, \
         not_after, fingerprint, certificate_pem, chain_pem, error) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        event_id,
        event.as_str(),
        address.as_str(),
        generation,
        to_nanos(at),
        serial,
        not_after,
        fingerprint,
        cert,
        chain,
        error
    ])?;
    let id = conn.last_insert_rowid();
    for sink in Sink::ALL {
        conn.prepare_cached(
            "INSERT INTO outbox (notification_id, sink, next_attempt_at) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![id, sink.as_str(), to_nanos(at)])?;
    }
    Ok(())
}

impl Store {
    /// Up to `limit` rows of `sink` owed, unclaimed and due at `now`, oldest first.
    pub fn due_outbox(
        &self,
        sink: Sink,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.outbox_where(
            "o.sink = ?3 AND o.finished_at IS NULL AND o.lease_owner IS NULL \
             AND o.next_attempt_at <= ?1 ORDER BY n.id LIMIT ?2",
            params![
                to_nanos(now),
                i64::try_from(limit).unwrap_or(i64::MAX),
                sink.as_str()
            ],
        )
    }

    /// The rows `status` shows: owed after a failed attempt, or given up.
    pub fn outbox_troubles(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.outbox_where(
            "(o.finished_at IS NULL AND o.attempts > 0) OR o.outcome = 'gave-up' \
             ORDER BY n.id, o.sink",
            [],
        )
    }

    /// Every outbox row of `address`, oldest first.
    pub fn outbox_of(&self, address: &Address) -> Result<Vec<OutboxEntry>, StoreError> {
        self.outbox_where("n.address = ?1 ORDER BY n.id, o.sink", [address.as_str()])
    }

    fn outbox_where(
        &self,
        clause: &str,
        p: impl rusqlite::Params,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {NOTIFICATION_COLUMNS}, {ENTRY_COLUMNS} FROM outbox o \
             JOIN notification n ON n.id = o.notification_id WHERE {clause}"
        ))?;
        let rows = stmt.query_map(p, read_entry)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(map_read_error)
    }

    /// The notifications recorded in `[from, to)`, oldest first (the daily digest).
    pub fn notifications_between(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<Notification>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notification n WHERE n.at >= ?1 AND n.at < ?2 \
             ORDER BY n.id"
        ))?;
        let rows = stmt.query_map(params![to_nanos(from), to_nanos(to)], read_notification)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(map_read_error)
    }

    /// Claims an owed row for `owner`; false when another process has it or it is finished.
    pub fn claim_outbox(&self, id: i64, sink: Sink, owner: &str) -> Result<bool, StoreError> {
        let conn = self.conn();
        let n = conn.execute(
            "UPDATE outbox SET lease_owner = ?3 WHERE notification_id = ?1 AND sink = ?2 \
             AND finished_at IS NULL AND lease_owner IS NULL",
            params![id, sink.as_str(), owner],
        )?;
        Ok(n == 1)
    }

    /// Finishes a row: it is never run again.
    pub fn finish_outbox(
        &self,
        id: i64,
        sink: Sink,
        now: OffsetDateTime,
        outcome: OutboxOutcome,
        last_error: Option<&str>,
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.execute(
            "UPDATE outbox SET finished_at = ?3, outcome = ?4, lease_owner = NULL, \
             last_error = COALESCE(?5, last_error) WHERE notification_id = ?1 AND sink = ?2",
            params![
                id,
                sink.as_str(),
                to_nanos(now),
                outcome.as_str(),
                last_error
            ],
        )?;
        Ok(())
    }

    /// Records a failed attempt and when to try again; releases the claim.
    pub fn retry_outbox(
        &self,
        id: i64,
        sink: Sink,
        attempts: u32,
        next: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.execute(
            "UPDATE outbox SET attempts = ?3, next_attempt_at = ?4, last_error = ?5, \
             lease_owner = NULL WHERE notification_id = ?1 AND sink = ?2",
            params![id, sink.as_str(), attempts, to_nanos(next), error],
        )?;
        Ok(())
    }

    /// Releases the claims of processes that are gone (`is_alive` false): their hook may have
    /// been cut short, so it runs again. Returns how many were released.
    pub fn release_dead_outbox_claims(
        &self,
        is_alive: impl Fn(&str) -> bool,
    ) -> Result<usize, StoreError> {
        release_dead_owners(
            &mut self.conn(),
            "outbox",
            "UPDATE outbox SET lease_owner = NULL WHERE lease_owner = ?1",
            is_alive,
        )
    }

    /// Deletes notifications recorded before `before` whose every row is finished. Returns how
    /// many went.
    pub fn prune_notifications(&self, before: OffsetDateTime) -> Result<usize, StoreError> {
        let conn = self.conn();
        Ok(conn.execute(
            "DELETE FROM notification WHERE at < ?1 AND NOT EXISTS (SELECT 1 FROM outbox o \
             WHERE o.notification_id = notification.id AND o.finished_at IS NULL)",
            [to_nanos(before)],
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::Stage;
    use crate::store::{MailboxRecord, Transition};
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-03 10:00 UTC);

    fn issued(store: &Store, address: &str, renew_of: Option<i64>) -> MailboxRecord {
        let mut r = MailboxRecord::discovered(address.parse().unwrap(), NOW);
        r.stage = Stage::Issued;
        r.serial = Some("0a".into());
        r.certificate_pem = Some("-----BEGIN CERTIFICATE-----".into());
        r.renew_of = renew_of;
        store
            .commit(Transition::new(r).event(EventKind::Issued, "fetched"))
            .unwrap()
    }

    #[test]
    fn a_notifiable_event_owes_one_row_per_sink_with_the_certificate_facts() {
        let store = Store::open_in_memory().unwrap();
        issued(&store, "alice@example.com", None);
        issued(&store, "bob@example.com", Some(7));
        let mut due = store.due_outbox(Sink::Hook, NOW, 10).unwrap();
        due.extend(store.due_outbox(Sink::Webhook, NOW, 10).unwrap());
        let got: Vec<_> = due
            .iter()
            .map(|e| {
                (
                    e.sink,
                    e.notification.event,
                    e.notification.address.to_string(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (Sink::Hook, HookEvent::Issued, "alice@example.com".into()),
                (Sink::Hook, HookEvent::Renewed, "bob@example.com".into()),
                (Sink::Webhook, HookEvent::Issued, "alice@example.com".into()),
                (Sink::Webhook, HookEvent::Renewed, "bob@example.com".into()),
            ]
        );
        assert_eq!(due[0].notification.serial.as_deref(), Some("0a"));
        assert!(due[0].notification.certificate_pem.is_some());
    }

    #[test]
    fn an_event_that_is_not_committed_owes_nothing() {
        let store = Store::open_in_memory().unwrap();
        let r = issued(&store, "alice@example.com", None);
        let mut stale = r.clone();
        stale.version -= 1;
        let lost = store.commit(Transition::new(stale).event(EventKind::Delivered, "x"));
        assert!(matches!(lost, Err(StoreError::Conflict { .. })));
        assert_eq!(store.due_outbox(Sink::Hook, NOW, 10).unwrap().len(), 1);
        // Events that owe nothing write nothing.
        store
            .commit(Transition::new(r).event(EventKind::Bundled, "password chosen"))
            .unwrap();
        assert_eq!(store.due_outbox(Sink::Hook, NOW, 10).unwrap().len(), 1);
    }

    #[test]
    fn a_claimed_row_is_not_due_and_a_dead_owners_claim_is_released() {
        let store = Store::open_in_memory().unwrap();
        issued(&store, "alice@example.com", None);
        let id = store.due_outbox(Sink::Hook, NOW, 10).unwrap()[0]
            .notification
            .id;
        assert!(store.claim_outbox(id, Sink::Hook, "1:1").unwrap());
        assert!(!store.claim_outbox(id, Sink::Hook, "2:2").unwrap());
        assert!(store.due_outbox(Sink::Hook, NOW, 10).unwrap().is_empty());
        assert_eq!(store.release_dead_outbox_claims(|_| false).unwrap(), 1);
        assert_eq!(store.due_outbox(Sink::Hook, NOW, 10).unwrap().len(), 1);
        store
            .finish_outbox(id, Sink::Hook, NOW, OutboxOutcome::Done, None)
            .unwrap();
        assert!(store.due_outbox(Sink::Hook, NOW, 10).unwrap().is_empty());
    }

    #[test]
    fn a_give_up_carries_its_error_and_a_failing_row_shows_as_trouble() {
        let store = Store::open_in_memory().unwrap();
        let mut r = MailboxRecord::discovered("carol@example.com".parse().unwrap(), NOW);
        r.failure.gave_up = true;
        store
            .commit(Transition::new(r).event(EventKind::GaveUp, "order: refused [EF1]"))
            .unwrap();
        let e = &store.due_outbox(Sink::Hook, NOW, 10).unwrap()[0];
        assert_eq!(e.notification.event, HookEvent::Failed);
        assert_eq!(
            e.notification.error.as_deref(),
            Some("order: refused [EF1]")
        );
        assert!(store.outbox_troubles().unwrap().is_empty());
        let later = NOW + time::Duration::minutes(1);
        store
            .retry_outbox(e.notification.id, Sink::Hook, 1, later, "exit 3")
            .unwrap();
        assert!(store.due_outbox(Sink::Hook, NOW, 10).unwrap().is_empty());
        assert_eq!(store.due_outbox(Sink::Hook, later, 10).unwrap().len(), 1);
        let t = store.outbox_troubles().unwrap();
        assert_eq!((t.len(), t[0].last_error.as_deref()), (1, Some("exit 3")));
    }
}
