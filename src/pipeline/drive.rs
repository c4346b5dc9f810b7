//! Owns the one-off verbs' foreground loop: carry one mailbox's steps out now, with a progress
//! line per stage, until the verb's goal is reached, the record gives up, or the wait ends. It
//! uses the same reconciler as the daemon and respects its claims, so a verb run next to a
//! running daemon either does the work or waits while the daemon does it, never both.

use std::time::Duration;

use super::ports::{Autodns, Courier, Keys};
use super::reconcile::{ForeignMessages, Outcome, ReconcileError, Reconciler};
use crate::mailbox::Address;
use crate::store::MailboxRecord;

/// How a foreground drive ended without reaching its goal.
#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    /// The store failed, or the address is unknown.
    #[error(transparent)]
    Reconcile(#[from] ReconcileError),
    /// The record gave up; its last error says why.
    #[error("{address} failed at {stage}: {text} [{code}] (fix the cause, then run `provision {address}` to retry)")]
    Failed {
        /// The mailbox.
        address: Address,
        /// Where it stopped.
        stage: String,
        /// The last error's code.
        code: String,
        /// The last error's text.
        text: String,
    },
    /// The wait ended first; the work continues in the daemon or the next verb run.
    #[error("{address} is not finished after {waited:?}: it is at {stage}; the request stays recorded: `status {address}` shows progress and the daemon (or `run --once`) continues")]
    NotYet {
        /// The mailbox.
        address: Address,
        /// Where it stands.
        stage: String,
        /// How long the verb waited.
        waited: Duration,
    },
}

/// Steps `address` until `done(record)` holds, printing each new status through `progress`.
/// Between steps it drains the AutoDNS poll queue (completions) and sleeps at most
/// `poll_interval`.
pub async fn drive<A: Autodns, K: Keys, C: Courier>(
    rec: &Reconciler<A, K, C>,
    address: &Address,
    done: impl Fn(&MailboxRecord) -> bool,
    poll_interval: Duration,
    max_wait: Duration,
    foreign: ForeignMessages,
    mut progress: impl FnMut(&str),
) -> Result<MailboxRecord, DriveError> {
    let start = tokio::time::Instant::now();
    let mut last_label = String::new();
    loop {
        // One step at a time, so every stage gets its progress line.
        let mut outcome;
        let mut r;
        let mut steps = 0;
        loop {
            outcome = rec.step(address).await?;
            steps += 1;
            r = rec
                .store()
                .get(address)
                .map_err(ReconcileError::from)?
                .ok_or_else(|| ReconcileError::UnknownMailbox(address.clone()))?;
            let label = r.status_label();
            if label != last_label {
                progress(&format!("{address}: {label}"));
                last_label = label;
            }
            if done(&r) {
                return Ok(r);
            }
            if !matches!(outcome, Outcome::Done(_)) || steps >= 16 {
                break;
            }
        }
        let label = last_label.clone();
        if r.failure.gave_up && r.request.is_none() {
            return Err(DriveError::Failed {
                address: address.clone(),
                stage: r.stage.to_string(),
                code: r.failure.code.clone().unwrap_or_default(),
                text: r.failure.text.clone().unwrap_or_default(),
            });
        }
        if let Outcome::Failed(_, e) = &outcome {
            progress(&format!(
                "{address}: {} [{}], retrying later",
                e.text, e.code
            ));
        }
        // Completions arrive through the poll queue; drain what is there.
        while let Ok(super::reconcile::PollRound::Handled(_)) = rec.poll_once(foreign).await {}
        let waited = start.elapsed();
        if waited >= max_wait {
            return Err(DriveError::NotYet {
                address: address.clone(),
                stage: label,
                waited,
            });
        }
        let mut nap = poll_interval.min(max_wait - waited);
        if let Some(t) = r.next_attempt_at.or(r.lease_until) {
            let until = t - rec.clock().now();
            if let Ok(d) = Duration::try_from(until) {
                nap = nap.min(d.max(Duration::from_millis(50)));
            } else {
                nap = Duration::from_millis(50);
            }
        }
        if matches!(outcome, Outcome::Conflict(_)) {
            nap = Duration::from_millis(50);
        }
        tokio::time::sleep(nap).await;
    }
}
