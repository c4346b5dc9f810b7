//! Owns telling the administrator about mailboxes that gave up for good: once right after the
//! give-up is committed, and the daemon's sweep of notices still owed (a process that died
//! before telling, a mail server that was down). Which notices are owed is
//! [`crate::pipeline::transition::notice`]'s decision; `tests/pipeline/admin_notice.rs` checks
//! that each give-up is told once and a failed notice is retried up to its bound.

use time::Duration;

use super::Reconciler;
use crate::mailbox::Address;
use crate::pipeline::ports::{Autodns, Courier, Keys, PortError};
use crate::pipeline::transition::notice;
use crate::store::{MailboxRecord, StoreError, Subset};

impl<A: Autodns, K: Keys, C: Courier> Reconciler<A, K, C> {
    /// Tells the administrator once when `address` has just given up for good: the record's
    /// newest event is the `gave-up` this failure wrote (and no notice follows it yet). The
    /// notice is recorded as an event either way, so it is never repeated for one failure,
    /// and a failing notice never fails the step.
    ///
    /// Returns whether a notice was due and its outcome recorded (`admin-notified` or
    /// `admin-notice-failed`); false when none was due or no admin address is configured.
    pub(super) async fn notify_if_gave_up(
        &self,
        address: &Address,
        step: &str,
        error: &PortError,
    ) -> Result<bool, StoreError> {
        let Some(r) = self.store.get(address)? else {
            return Ok(false);
        };
        if !r.failure.gave_up || notice::owed_notice(&self.store.events(address)?).is_none() {
            return Ok(false);
        }
        self.send_notice(&r, step, error).await
    }

    /// Sends one admin notice about `r` and records its outcome as an event.
    async fn send_notice(
        &self,
        r: &MailboxRecord,
        step: &str,
        error: &PortError,
    ) -> Result<bool, StoreError> {
        let address = &r.address;
        let now = self.clock.now();
        let sent = self.courier.notify_failure(address, step, error).await;
        if let Err(e) = &sent {
            tracing::warn!(%address, code = %e.code, "cannot tell the admin: {}", e.text);
        }
        let Some(ev) = notice::notice_event(step, error, &sent) else {
            return Ok(false);
        };
        self.store.log_event(address, now, r.generation, &ev)?;
        Ok(true)
    }

    /// Sends the admin notices still owed (see [`notice::owed_notice`]): a give-up whose
    /// process died before its notice went out (every give-up is committed first and told
    /// after, so a crash in between loses the notice, never the record), and a notice that
    /// failed (the mail server was down). Only owed notices whose last event is at least
    /// `min_age` old are sent: the daemon calls this with zero at boot, before its workers
    /// start, and then every few minutes with [`notice::NOTICE_RETRY_AFTER`], which keeps it
    /// clear of a worker that is telling the admin right now. The notice names the stage the
    /// record stopped at and its stored error. Returns how many were sent or recorded as failed
    /// (none without `delivery.admin_address`).
    pub async fn notify_unannounced_give_ups(
        &self,
        min_age: Duration,
    ) -> Result<usize, StoreError> {
        let mut told = 0;
        let now = self.clock.now();
        let mut gave_up = Vec::new();
        self.store.for_each(Subset::GaveUp, |r| gave_up.push(r))?;
        for r in gave_up {
            let events = self.store.events(&r.address)?;
            let Some(last) = notice::owed_notice(&events) else {
                continue;
            };
            if !notice::notice_due(last, now, min_age) {
                continue;
            }
            let error = notice::stored_error(&r);
            tracing::info!(address = %r.address, last = %last.kind, "sending an owed admin notice");
            if self.send_notice(&r, r.stage.as_str(), &error).await? {
                told += 1;
            }
        }
        Ok(told)
    }
}
