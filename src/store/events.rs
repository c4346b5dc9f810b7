//! Owns the append-only audit trail: events appended outside a transition and the trail read
//! back, oldest first (kinds stay text on the way back; see [`super::Event::kind`]).

use time::OffsetDateTime;

use super::record::{Event, NewEvent};
use super::rows::{append_event, from_nanos, map_read_error};
use super::{Store, StoreError};
use crate::mailbox::Address;

impl Store {
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
}
