//! Owns the store's queries for `/metrics` and `/readyz`: one pass over the mailboxes (served by
//! the covering index `mailbox_scrape`, so a scrape reads a small index, not the rows with their
//! certificates), the failing mailboxes with the step their last failure names, per-source
//! figures, the time of each source's last complete listing, and a write probe.
//!
//! The store reads names as text here; the pipeline maps them to its vocabulary.

use rusqlite::{params, Connection, OptionalExtension};
use time::OffsetDateTime;

use super::rows::{from_nanos, to_nanos};
use super::{Store, StoreError};

/// The setting key prefix under which the time of a source's last complete listing is kept.
const LISTED_PREFIX: &str = "source-listed:";

/// One mailbox, as the per-certificate metrics need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxFigure {
    /// The address.
    pub address: String,
    /// The stage's name.
    pub stage: String,
    /// The generation.
    pub generation: u32,
    /// Expiry of the stored certificate.
    pub not_after: Option<OffsetDateTime>,
    /// The failure overlay's class name, if the last step failed.
    pub error_class: Option<String>,
    /// Whether the record gave up.
    pub gave_up: bool,
    /// Whether a source reports the mailbox.
    pub present: bool,
}

/// Mailboxes whose last step failed, grouped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailingFigure {
    /// The error class name.
    pub class: String,
    /// The first word of the last `step-failed` / `gave-up` event (the step's name), if any.
    pub step: Option<String>,
    /// Mailboxes.
    pub count: u64,
}

/// What the store knows about one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFigure {
    /// The source name (`maildir`, `ldif`, `spool`; `*` for presence recorded before
    /// per-source tracking).
    pub source: String,
    /// Mailboxes it reports.
    pub mailboxes: u64,
    /// Removals of its mailboxes the mass-removal guard holds back.
    pub held: u64,
    /// When its last complete listing was applied.
    pub last_listing: Option<OffsetDateTime>,
}

impl Store {
    /// Calls `f` for every mailbox (no order promised).
    pub fn for_each_mailbox_figure(
        &self,
        mut f: impl FnMut(MailboxFigure),
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT address, stage, generation, not_after, error_class, gave_up, present \
             FROM mailbox INDEXED BY mailbox_scrape",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            f(MailboxFigure {
                address: r.get(0)?,
                stage: r.get(1)?,
                generation: r.get(2)?,
                not_after: r.get::<_, Option<i64>>(3)?.map(from_nanos).transpose()?,
                error_class: r.get(4)?,
                gave_up: r.get(5)?,
                present: r.get(6)?,
            });
        }
        Ok(())
    }

    /// The mailboxes whose last step failed (a spent budget excluded), by class and by the
    /// step their last failure event names.
    pub fn failing_figures(&self) -> Result<Vec<FailingFigure>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT class, step, COUNT(*) FROM ( \
               SELECT m.error_class AS class, \
                 (SELECT substr(e.detail, 1, instr(e.detail, ':') - 1) FROM event e \
                   WHERE e.address = m.address AND e.kind IN ('step-failed', 'gave-up') \
                   ORDER BY e.id DESC LIMIT 1) AS step \
               FROM mailbox m INDEXED BY mailbox_scrape \
               WHERE m.error_class IS NOT NULL AND m.error_class != 'budget') \
             GROUP BY class, step",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(FailingFigure {
                class: r.get(0)?,
                step: r.get::<_, Option<String>>(1)?.filter(|s| !s.is_empty()),
                count: r.get::<_, i64>(2)?.max(0) as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every source the store knows of: from its presence rows, its held removals and its
    /// last complete listing, by name.
    pub fn source_figures(&self) -> Result<Vec<SourceFigure>, StoreError> {
        let conn = self.conn();
        let mut out: std::collections::BTreeMap<String, SourceFigure> = Default::default();
        let entry = |source: String| SourceFigure {
            source,
            mailboxes: 0,
            held: 0,
            last_listing: None,
        };
        for (source, n) in counts(
            &conn,
            "SELECT source, COUNT(*) FROM presence GROUP BY source",
        )? {
            out.entry(source.clone())
                .or_insert_with(|| entry(source))
                .mailboxes = n;
        }
        for (source, n) in counts(
            &conn,
            "SELECT source, COUNT(*) FROM held_removal GROUP BY source",
        )? {
            out.entry(source.clone())
                .or_insert_with(|| entry(source))
                .held = n;
        }
        let mut stmt = conn.prepare_cached(
            "SELECT substr(key, length(?1) + 1), value FROM setting WHERE key LIKE ?1 || '%'",
        )?;
        let listed = stmt.query_map([LISTED_PREFIX], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        for row in listed {
            let (source, value) = row?;
            let at = value.parse::<i64>().ok().and_then(|n| from_nanos(n).ok());
            out.entry(source.clone())
                .or_insert_with(|| entry(source))
                .last_listing = at;
        }
        Ok(out.into_values().collect())
    }

    /// Proves the store takes a write: one committed upsert of a probe setting.
    pub fn probe_write(&self, now: OffsetDateTime) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.prepare_cached(
            "INSERT INTO setting (key, value) VALUES ('ready-probe', ?1) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        )?
        .execute([to_nanos(now).to_string()])?;
        Ok(())
    }

    /// When `source`'s last complete listing was applied.
    pub fn last_listing(&self, source: &str) -> Result<Option<OffsetDateTime>, StoreError> {
        let conn = self.conn();
        let v: Option<String> = conn
            .query_row(
                "SELECT value FROM setting WHERE key = ?1",
                [format!("{LISTED_PREFIX}{source}")],
                |r| r.get(0),
            )
            .optional()?;
        Ok(v.and_then(|s| s.parse::<i64>().ok())
            .and_then(|n| from_nanos(n).ok()))
    }
}

/// Notes, inside the listing's transaction, that `source` gave a complete listing at `now`.
pub(super) fn note_listing(
    tx: &Connection,
    source: &str,
    now: OffsetDateTime,
) -> Result<(), rusqlite::Error> {
    tx.prepare_cached(
        "INSERT INTO setting (key, value) VALUES (?1, ?2) \
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![
        format!("{LISTED_PREFIX}{source}"),
        to_nanos(now).to_string()
    ])?;
    Ok(())
}

fn counts(conn: &Connection, sql: &str) -> Result<Vec<(String, u64)>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::lifecycle::{ErrorClass, EventKind};
    use crate::mailbox::Address;
    use crate::source::GuardPolicy;
    use crate::store::Transition;

    const NOW: OffsetDateTime = time::macros::datetime!(2026-06-01 12:00 UTC);

    fn listed(addrs: &[&str]) -> BTreeSet<Address> {
        addrs.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn a_complete_listing_is_timed_per_source_and_a_partial_one_is_not() {
        let store = Store::open_in_memory().unwrap();
        let g = GuardPolicy::default();
        store
            .apply_listing(
                "maildir",
                &listed(&["a@example.com", "b@example.com"]),
                true,
                NOW,
                &g,
            )
            .unwrap();
        let later = NOW + time::Duration::minutes(5);
        store
            .apply_listing("maildir", &listed(&["c@example.com"]), false, later, &g)
            .unwrap();
        assert_eq!(store.last_listing("maildir").unwrap(), Some(NOW));
        assert_eq!(store.last_listing("ldif").unwrap(), None);
        let figures = store.source_figures().unwrap();
        assert_eq!(
            figures,
            [SourceFigure {
                source: "maildir".into(),
                mailboxes: 3,
                held: 0,
                last_listing: Some(NOW),
            }]
        );
    }

    #[test]
    fn failing_mailboxes_are_grouped_by_class_and_the_step_their_last_failure_names() {
        let store = Store::open_in_memory().unwrap();
        let g = GuardPolicy::default();
        let all = ["a@example.com", "b@example.com", "c@example.com"];
        store
            .apply_listing("maildir", &listed(&all), true, NOW, &g)
            .unwrap();
        let fail = |a: &str, class: ErrorClass, detail: &str| {
            let mut r = store.get(&a.parse().unwrap()).unwrap().unwrap();
            r.failure.class = Some(class);
            let t = Transition::new(r).event(EventKind::StepFailed, detail);
            store.commit(t).unwrap();
        };
        fail(
            "a@example.com",
            ErrorClass::Transient,
            "order: AutoDNS is down [http-503]",
        );
        fail(
            "b@example.com",
            ErrorClass::Transient,
            "order: again [http-503]",
        );
        fail(
            "c@example.com",
            ErrorClass::Budget,
            "order: budget spent [budget]",
        );
        let figures = store.failing_figures().unwrap();
        assert_eq!(
            figures,
            [FailingFigure {
                class: "transient".into(),
                step: Some("order".into()),
                count: 2,
            }]
        );
        let mut n = 0;
        store
            .for_each_mailbox_figure(|m| n += usize::from(m.error_class.is_some()))
            .unwrap();
        assert_eq!(n, 3);
    }
}
