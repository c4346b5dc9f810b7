//! Owns completion notices as IO: the one handler the poll consumer and the push endpoint both
//! call ([`Reconciler::handle_notice`]), and one poll round ([`Reconciler::poll_once`]). What a
//! notice does to its record is [`crate::pipeline::transition::notice`]'s decision.

use super::Reconciler;
use crate::mailbox::Address;
use crate::pipeline::ports::{Autodns, Courier, Keys, Notice, PortError};
use crate::pipeline::transition::notice::{self, NoticeApplied};
use crate::store::{StoreError, Update};

/// What a completion notice matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeHandled {
    /// It completed an order of ours; the result is stored.
    Applied(Address),
    /// It concerns an order of ours that is already past that point (a duplicate).
    Duplicate(Address),
    /// Not one of our orders.
    Foreign,
}

impl NoticeHandled {
    /// The stable kebab-case name for the poll ledger and logs.
    pub fn name(&self) -> &'static str {
        match self {
            NoticeHandled::Applied(_) => "applied",
            NoticeHandled::Duplicate(_) => "duplicate",
            NoticeHandled::Foreign => "foreign",
        }
    }
}

/// What to do with poll messages that are not about our orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForeignMessages {
    /// Log and confirm them (the queue keeps moving).
    Confirm,
    /// Log and leave them for another consumer; polling stops at the first one.
    Leave,
}

/// What one poll round did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollRound {
    /// The queue is empty.
    Empty,
    /// One message was handled and confirmed.
    Handled(NoticeHandled),
    /// A foreign message heads the queue and is left there.
    Blocked,
}

impl<A: Autodns, K: Keys, C: Courier> Reconciler<A, K, C> {
    /// The one handler for completion notices, whichever way they arrive: the poll consumer
    /// ([`Reconciler::poll_once`]) and the push endpoint (`daemon/http.rs`) both call this, so what
    /// a completion does cannot drift between the two paths (AutoDNS sends the same message
    /// both ways). It stores the job's result on the matching record, then, when that result
    /// is a failed job that made the record give up for good, tells the administrator once
    /// (after the commit, so a notice is never sent for a result that was not stored).
    /// Duplicates and foreign notices change nothing and notify no one.
    pub async fn handle_notice(&self, n: &Notice) -> Result<NoticeHandled, StoreError> {
        let (handled, failure) = self.apply_notice(n)?;
        if let (NoticeHandled::Applied(a), Some(e)) = (&handled, &failure) {
            let _told = self.notify_if_gave_up(a, "job", e).await?;
        }
        Ok(handled)
    }

    /// Stores a notice's result on the matching record (one transaction, retried on a race);
    /// returns what it matched and, for a failed job it applied, the error it recorded.
    fn apply_notice(&self, n: &Notice) -> Result<(NoticeHandled, Option<PortError>), StoreError> {
        let found = match n.job_id {
            Some(job) => self.store.find_by_job(job)?,
            None => None,
        };
        let found = match (found, &n.ctid) {
            (Some(r), _) => Some(r),
            (None, Some(ctid)) => self.store.find_by_ctid(ctid)?,
            (None, None) => None,
        };
        let Some(found) = found else {
            return Ok((NoticeHandled::Foreign, None));
        };
        let address = found.address;
        let backoff = self.settings.policy.backoff;
        let jitter = || self.sample();
        let applied = self.store.update(&address, |rec| {
            // After a lost race the record is read again: is it still this notice's order?
            if !notice::matches(&rec, n) {
                return Ok::<_, StoreError>(Update::Keep((NoticeHandled::Foreign, None)));
            }
            let now = self.clock.now();
            Ok(match notice::apply_notice(rec, n, now, backoff, &jitter) {
                NoticeApplied::Duplicate => {
                    Update::Keep((NoticeHandled::Duplicate(address.clone()), None))
                }
                NoticeApplied::Write(t, failure) => {
                    Update::Write(t, (NoticeHandled::Applied(address.clone()), failure))
                }
            })
        });
        match applied {
            Ok(Some(v)) => Ok(v),
            Ok(None) | Err(StoreError::Conflict { .. }) => Ok((NoticeHandled::Foreign, None)),
            Err(e) => Err(e),
        }
    }

    /// One poll round: PollInfo, apply (through [`Reconciler::handle_notice`], as a push is),
    /// note in the ledger, then PollConfirm.
    pub async fn poll_once(&self, foreign: ForeignMessages) -> Result<PollRound, PortError> {
        let store_err = |e: StoreError| PortError::transient("store", e.to_string());
        let Some(n) = self.autodns.poll().await? else {
            return Ok(PollRound::Empty);
        };
        let handled = self.handle_notice(&n).await.map_err(store_err)?;
        let now = self.clock.now();
        let Some(id) = n.message_id else {
            return Ok(PollRound::Handled(handled));
        };
        let address = match &handled {
            NoticeHandled::Applied(a) | NoticeHandled::Duplicate(a) => Some(a.clone()),
            NoticeHandled::Foreign => None,
        };
        let first = self
            .store
            .note_poll_message(id, n.job_id, address.as_ref(), handled.name(), now)
            .map_err(store_err)?;
        self.metrics.inc("poll_messages", handled.name());
        if handled == NoticeHandled::Foreign {
            tracing::info!(message = id, job = ?n.job_id, "poll message is not about one of our orders");
            if foreign == ForeignMessages::Leave {
                return Ok(PollRound::Blocked);
            }
        } else if !first {
            tracing::debug!(message = id, "poll message seen before; confirming again");
        }
        self.autodns.confirm(id).await?;
        self.store
            .mark_poll_confirmed(id, self.clock.now())
            .map_err(store_err)?;
        Ok(PollRound::Handled(handled))
    }
}
