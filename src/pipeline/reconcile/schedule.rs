//! Owns the scheduler's view: the planner's verdict for every record at the current time.

use time::OffsetDateTime;

use super::Reconciler;
use crate::mailbox::Address;
use crate::pipeline::plan::{plan, Step};
use crate::pipeline::ports::{Autodns, Courier, Keys};
use crate::store::StoreError;

impl<A: Autodns, K: Keys, C: Courier> Reconciler<A, K, C> {
    /// The planner's verdict for every record at the current time, for the daemon's scheduler:
    /// addresses with work now, and the earliest future time something is due.
    pub fn due(&self) -> Result<(Vec<Address>, Option<OffsetDateTime>), StoreError> {
        let now = self.clock.now();
        let mut ready = Vec::new();
        let mut next: Option<OffsetDateTime> = None;
        for r in self.store.list()? {
            match plan(&r, now, &self.settings.policy) {
                Step::Idle => {}
                Step::WaitUntil(t) => next = Some(next.map_or(t, |n| n.min(t))),
                _ => ready.push(r.address),
            }
        }
        Ok((ready, next))
    }
}
