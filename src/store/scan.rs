//! Owns the reads that cover every mailbox, sized for 100,000 of them: records are streamed row
//! by row (never collected into one list), and the settled majority — delivered, present,
//! nothing pending — is summarised in SQL instead of being read at all, since its only possible
//! step is the renewal at `not_after − renew_before` (see `pipeline::plan`: no claim, no
//! backoff, no request, not given up, present and delivered leaves only that check).

use rusqlite::params;
use time::OffsetDateTime;

use super::rows::{from_nanos, map_read_error, read_record, to_nanos, COLUMNS};
use super::{MailboxRecord, Store, StoreError};
use crate::mailbox::Address;

/// The rows [`Store::settled`] summarises; everything else is read whole.
const SETTLED: &str = "stage = 'delivered' AND present = 1 AND request IS NULL AND gave_up = 0 \
    AND lease_owner IS NULL AND next_attempt_at IS NULL AND not_after IS NOT NULL";

/// Which records [`Store::for_each`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subset {
    /// Every record that is not settled (see the module header).
    Unsettled,
    /// Records that gave up.
    GaveUp,
    /// Records whose failure overlay has this error class (its kebab-case name).
    ErrorClass(&'static str),
}

impl Store {
    /// Calls `f` with each record of `subset`, in address order, one at a time.
    pub fn for_each(
        &self,
        subset: Subset,
        mut f: impl FnMut(MailboxRecord),
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        let (condition, class) = match subset {
            Subset::Unsettled => (format!("NOT ({SETTLED})"), None),
            Subset::GaveUp => ("gave_up = 1".to_string(), None),
            Subset::ErrorClass(c) => ("error_class = ?1".to_string(), Some(c)),
        };
        let sql = format!("SELECT {COLUMNS} FROM mailbox WHERE {condition} ORDER BY address");
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = match class {
            Some(c) => stmt.query([c])?,
            None => stmt.query([])?,
        };
        while let Some(row) = rows.next()? {
            f(read_record(row).map_err(map_read_error)?);
        }
        Ok(())
    }

    /// The settled records: those whose renewal is due by `renew_by` (`not_after` at or before
    /// it), in address order, and the earliest `not_after` of the others.
    pub fn settled(
        &self,
        renew_by: OffsetDateTime,
    ) -> Result<(Vec<Address>, Option<OffsetDateTime>), StoreError> {
        let conn = self.conn();
        let by = to_nanos(renew_by);
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT address FROM mailbox WHERE {SETTLED} AND not_after <= ?1 ORDER BY address"
        ))?;
        let due = stmt
            .query_map(params![by], |r| r.get::<_, String>(0))?
            .map(|a| {
                let a = a?;
                Address::parse(&a)
                    .map_err(|e| StoreError::Corrupt(format!("stored address {a:?}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let next: Option<i64> = conn.query_row(
            &format!("SELECT MIN(not_after) FROM mailbox WHERE {SETTLED} AND not_after > ?1"),
            params![by],
            |r| r.get(0),
        )?;
        let next = next.map(from_nanos).transpose().map_err(map_read_error)?;
        Ok((due, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::Stage;
    use crate::store::Transition;
    use time::macros::datetime;
    use time::Duration;

    const NOW: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);

    fn add(store: &Store, name: &str, stage: Stage, days_left: i64) {
        let mut r = MailboxRecord::discovered(Address::parse(name).unwrap(), NOW);
        r.stage = stage;
        r.not_after = Some(NOW + Duration::days(days_left));
        store.commit(Transition::new(r)).unwrap();
    }

    #[test]
    fn settled_records_are_summarised_and_only_the_others_are_read() {
        let store = Store::open_in_memory().unwrap();
        add(&store, "soon@example.com", Stage::Delivered, 10);
        add(&store, "later@example.com", Stage::Delivered, 100);
        add(&store, "much-later@example.com", Stage::Delivered, 200);
        add(&store, "new@example.com", Stage::Discovered, 0);
        let (due, next) = store.settled(NOW + Duration::days(30)).unwrap();
        let due: Vec<&str> = due.iter().map(|a| a.as_str()).collect();
        assert_eq!(due, ["soon@example.com"]);
        assert_eq!(next, Some(NOW + Duration::days(100)));
        let mut read = Vec::new();
        store
            .for_each(Subset::Unsettled, |r| read.push(r.address.to_string()))
            .unwrap();
        assert_eq!(read, ["new@example.com"]);
    }
}
