//! Owns the scheduler's view: the planner's verdict for every record at the current time, with
//! the queue lane of each record that has work (paid work ahead of new orders).

use time::OffsetDateTime;

use super::Reconciler;
use crate::mailbox::Address;
use crate::pipeline::plan::{plan, Lane, Step};
use crate::pipeline::ports::{Autodns, Courier, Keys};
use crate::store::{StoreError, Subset};

/// Every record with work now, and when the next one is due.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Due {
    /// Addresses with work already paid for (or an operator request), in store order.
    pub paid: Vec<Address>,
    /// Addresses whose next step leads to a new order, in store order.
    pub new: Vec<Address>,
    /// The earliest future time something is due.
    pub next: Option<OffsetDateTime>,
}

impl<A: Autodns, K: Keys, C: Courier> Reconciler<A, K, C> {
    /// The planner's verdict for every record at the current time, for the daemon's scheduler:
    /// addresses with work now, by lane, and the earliest future time something is due.
    ///
    /// Records are planned one at a time as they are read; the settled delivered ones (most of
    /// a large installation) are not read at all but summarised by the store, whose only
    /// possible step is the renewal (`Store::settled`), so a tick costs the records with work,
    /// not 100,000 certificates in memory.
    pub fn due_work(&self) -> Result<Due, StoreError> {
        let now = self.clock.now();
        let policy = &self.settings.policy;
        let mut due = Due::default();
        let wait = |t: OffsetDateTime, due: &mut Due| {
            due.next = Some(due.next.map_or(t, |n| n.min(t)));
        };
        self.store
            .for_each(Subset::Unsettled, |r| match plan(&r, now, policy) {
                Step::Idle => {}
                Step::WaitUntil(t) => wait(t, &mut due),
                step => match step.lane() {
                    Lane::Paid => due.paid.push(r.address),
                    Lane::New => due.new.push(r.address),
                },
            })?;
        let (renewals, next_expiry) = self.store.settled(now + policy.renew_before)?;
        if let Some(exp) = next_expiry {
            wait(exp - policy.renew_before, &mut due);
        }
        if !renewals.is_empty() {
            // Renewals lead to new orders; keep the lane in store order.
            due.new.extend(renewals);
            due.new.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        }
        Ok(due)
    }

    /// As [`Reconciler::due_work`], as one list with paid work first (for `run --once`).
    pub fn due(&self) -> Result<(Vec<Address>, Option<OffsetDateTime>), StoreError> {
        let Due {
            mut paid,
            new,
            next,
        } = self.due_work()?;
        paid.extend(new);
        Ok((paid, next))
    }
}
