//! Owns the daily order budget as the reconciler meets it: no key is generated for a mailbox that
//! cannot be ordered today (the claim before key generation reserves an order of the day's
//! budget, see [`crate::store::Store::commit_reserving_order`]), a spent budget is one alert per
//! UTC day (a log line at ERROR and the `alerts_total{alert="budget-exhausted"}` counter) instead of one
//! per mailbox, and mailboxes held back by a budget that has since been raised are released.
//!
//! `tests/pipeline/budget.rs` checks it through the real binary with 1,000 mailboxes.

use time::{Date, OffsetDateTime};

use super::{Outcome, Reconciler};
use crate::lifecycle::ErrorClass;
use crate::pipeline::plan::Step;
use crate::pipeline::ports::{Autodns, Courier, Keys};
use crate::pipeline::transition::{order, StepResult};
use crate::store::{MailboxRecord, StoreError, Subset, Transition, Update};

/// The setting under which the UTC day of the last budget alert is kept.
pub const BUDGET_ALERT_SETTING: &str = "alert.budget-exhausted";

impl<A: Autodns, K: Keys, C: Courier> Reconciler<A, K, C> {
    /// Claims `rec` to generate its key, reserving one of today's orders for it, then generates
    /// and persists the key. With no order left today the record waits for the next UTC day
    /// without a key.
    pub(super) async fn generate_key(
        &self,
        rec: MailboxRecord,
        now: OffsetDateTime,
    ) -> Result<Outcome, StoreError> {
        let step = Step::GenerateKey;
        let mut claim = rec.clone();
        claim.lease_owner = Some(self.owner.clone());
        claim.lease_until = Some(now + self.settings.lease);
        claim.updated_at = now;
        let limit = self.settings.daily_order_budget;
        match self
            .store
            .commit_reserving_order(Transition::new(claim), limit)
        {
            Ok(claimed) => self.act(claimed, step, now).await,
            Err(StoreError::Conflict { .. }) => Ok(Outcome::Conflict(step)),
            Err(StoreError::BudgetExhausted { limit, day }) => {
                self.held_back(rec, step, limit, day, now)
            }
            Err(e) => Err(e),
        }
    }

    /// `step` cannot go ahead because the budget of `day` is spent: the day's alert is raised
    /// (once), and the record waits for the next UTC day, its failure overlay saying why.
    pub(super) fn held_back(
        &self,
        rec: MailboxRecord,
        step: Step,
        limit: u32,
        day: Date,
        now: OffsetDateTime,
    ) -> Result<Outcome, StoreError> {
        self.alert_budget_spent(limit, day)?;
        self.metrics.inc("budget_held_back", step.name());
        let e = order::budget_spent(limit, day);
        self.finish(step, StepResult::failed(rec, e), now)
    }

    /// Raises the budget alert of `day` unless it was raised already (by this process, an
    /// earlier one, or a verb): one log line at ERROR and one count of
    /// `alerts_total{alert="budget-exhausted"}` per UTC day.
    fn alert_budget_spent(&self, limit: u32, day: Date) -> Result<(), StoreError> {
        if !self
            .store
            .first_alert(BUDGET_ALERT_SETTING, &day.to_string())?
        {
            return Ok(());
        }
        self.metrics.inc("alerts", "budget-exhausted");
        if limit == 0 {
            tracing::error!(
                limit, %day,
                "ALERT: ordering is disabled (autodns.daily_order_budget = 0): no keys are \
                 generated and no certificates ordered; new mailboxes and renewals wait. \
                 Certificates already ordered are still fetched and delivered. This alert is \
                 repeated once a day"
            );
        } else {
            tracing::error!(
                limit, %day,
                "ALERT: the daily order budget of {limit} orders for {day} (UTC) is spent: no \
                 more keys or orders today; new mailboxes and renewals wait for the next UTC \
                 day. Certificates already ordered are still fetched and delivered. Raise \
                 autodns.daily_order_budget and restart to order more today"
            );
        }
        Ok(())
    }

    /// Releases mailboxes held back by the budget when today's budget has room again (it was
    /// raised, or ordering enabled): they are due now instead of at the next UTC day. The key
    /// claim still reserves each order, so at most the budget's room gets keys. Returns how many
    /// were released. The daemon calls it at boot, `run --once` before its pass.
    pub fn release_budget_waits(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        if self.store.orders_on(now.date())? >= self.settings.daily_order_budget {
            return Ok(0);
        }
        let held = |r: &MailboxRecord| {
            r.failure.class == Some(ErrorClass::Budget)
                && r.next_attempt_at.is_some_and(|t| t > now)
        };
        let mut released = 0;
        let mut waiting = Vec::new();
        self.store
            .for_each(Subset::ErrorClass(ErrorClass::Budget.as_str()), |r| {
                if held(&r) {
                    waiting.push(r);
                }
            })?;
        for r in waiting {
            let done = self.store.update(&r.address, |mut r| {
                if !held(&r) {
                    return Ok::<_, StoreError>(Update::Keep(false));
                }
                r.next_attempt_at = Some(now);
                r.updated_at = now;
                Ok(Update::Write(Transition::new(r), true))
            })?;
            if done == Some(true) {
                released += 1;
            }
        }
        Ok(released)
    }
}
