//! Owns the daemon's task loops: the workers that step records, the scheduler that re-plans the
//! store, the admin-notice sweeper, the AutoDNS poll consumer and the notifier (hooks, webhook,
//! digest). Each loop takes the shared
//! state and the shutdown token and returns when the token fires.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use tokio::sync::mpsc;

use super::supervise::Slot;
use super::{Seen, Shared};
use crate::pipeline::ports::{Autodns, Courier, Keys};
use crate::pipeline::reconcile::{NoticeHandled, NOTICE_RETRY_AFTER};
use crate::pipeline::{Lane, Outcome, PollRound};

/// Records what the sources saw and queues the address. A spelling that differs only in case
/// from a known mailbox has no record of its own: nothing to reconcile under that name.
pub(super) async fn intake<A: Autodns, K: Keys, C: Courier>(
    sh: Arc<Shared<A, K, C>>,
    mut events: mpsc::Receiver<Seen>,
    stop: CancellationToken,
) {
    loop {
        let seen = tokio::select! {
            _ = stop.cancelled() => break,
            s = events.recv() => s,
        };
        let Some(seen) = seen else { break };
        let now = sh.rec.clock().now();
        let store = sh.rec.store();
        let (addr, res) = match seen {
            Seen::Present(a) => {
                let r = store
                    .observe_present(&a, now)
                    .map(|o| o != crate::store::Observed::CaseVariant);
                (a, r)
            }
            Seen::Gone(a) => {
                let r = store.observe_gone(&a, now).map(|_| true);
                (a, r)
            }
            Seen::Recorded(a) => (a, Ok(true)),
        };
        match res {
            Ok(true) => sh.queue.push(addr),
            Ok(false) => {
                tracing::info!(address = %addr, "same mailbox as a known one that differs only in case; ignored")
            }
            Err(e) => {
                tracing::error!(address = %addr, "cannot record a source event: {e}")
            }
        }
    }
}

/// Takes addresses off the queue and reconciles them one step at a time, so shutdown can stop
/// between steps. `slot` names the address being worked on, so the supervisor knows which
/// mailbox a panic hit (`supervise.rs`).
pub(super) async fn worker<A: Autodns, K: Keys, C: Courier>(
    sh: Arc<Shared<A, K, C>>,
    stop: CancellationToken,
    slot: Slot,
) {
    loop {
        let Some(addr) = sh.queue.take() else {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = sh.queue.ready.notified() => continue,
                // A notification can race with `take`; look again now and then.
                _ = tokio::time::sleep(Duration::from_millis(200)) => continue,
            }
        };
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(addr.clone());
        for _ in 0..16 {
            if stop.is_cancelled() {
                break;
            }
            match sh.rec.step(&addr).await {
                Ok(Outcome::Done(_)) => continue,
                Ok(Outcome::Conflict(_)) => continue,
                Ok(Outcome::Waiting(_)) | Ok(Outcome::Failed(..)) => {
                    sh.kick.notify_one();
                    break;
                }
                Ok(Outcome::Idle) => break,
                Err(e) => {
                    tracing::error!(address = %addr, "cannot reconcile: {e}");
                    break;
                }
            }
        }
        sh.queue.done(&addr);
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = None;
        // Let the queue refill before a worker takes the next address.
        if sh.queue.len() > 0 {
            sh.queue.ready.notify_one();
        }
    }
}

/// Re-plans every record: enqueues the ones with work now, sleeps until the next is due.
pub(super) async fn scheduler<A: Autodns, K: Keys, C: Courier>(
    sh: Arc<Shared<A, K, C>>,
    stop: CancellationToken,
) {
    loop {
        let mut sleep = sh.settings.resync_interval;
        // A verb killed mid-step leaves its claim behind; take such records over now rather
        // than when the claim expires.
        match sh.rec.release_dead_claims() {
            Ok(0) => {}
            Ok(n) => tracing::info!(released = n, "took over records of a stopped process"),
            Err(e) => tracing::error!("cannot read the state store: {e}"),
        }
        if let Some(t) = queue_due(&sh) {
            let wait = t - sh.rec.clock().now();
            let wait = Duration::try_from(wait).unwrap_or(Duration::ZERO);
            sleep = sleep.min(wait.max(Duration::from_millis(50)));
        }
        // Verbs in other processes (`renew --no-wait`, `redeliver`, …) commit to the same
        // store; a changed data version means one did, so re-plan now instead of at the
        // deadline. One pragma a second costs nothing measurable on an idle daemon.
        let deadline = tokio::time::Instant::now() + sleep;
        let seen = sh.rec.store().data_version().ok();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(left.min(OTHER_WRITERS_CHECK)) => {}
                _ = sh.kick.notified() => break,
            }
            if sh.rec.store().data_version().ok() != seen {
                break;
            }
        }
    }
}

/// Queues every record with work now, each in its lane (paid work ahead of new orders); returns
/// when the next record is due. The daemon calls it once at boot, before source events are
/// taken in, so work already paid for is queued ahead of the first new mailbox.
pub(super) fn queue_due<A: Autodns, K: Keys, C: Courier>(
    sh: &Shared<A, K, C>,
) -> Option<time::OffsetDateTime> {
    match sh.rec.due_work() {
        Ok(due) => {
            for a in due.paid {
                sh.queue.push_in(a, Lane::Paid);
            }
            for a in due.new {
                sh.queue.push_in(a, Lane::New);
            }
            due.next
        }
        Err(e) => {
            tracing::error!("cannot read the state store: {e}");
            None
        }
    }
}

/// How often the scheduler looks for commits by other processes (see `Store::data_version`).
const OTHER_WRITERS_CHECK: Duration = Duration::from_secs(1);

/// Sends the admin notices owed for at least `min_age` (see
/// [`Reconciler::notify_unannounced_give_ups`]) and logs the outcome.
pub(super) async fn send_owed_notices<A: Autodns, K: Keys, C: Courier>(
    sh: &Shared<A, K, C>,
    min_age: time::Duration,
) {
    match sh.rec.notify_unannounced_give_ups(min_age).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(notices = n, "sent owed admin notices"),
        Err(e) => tracing::error!("cannot check for owed admin notices: {e}"),
    }
}

/// Every [`NOTICE_RETRY_AFTER`], sends the admin notices owed for at least that long.
pub(super) async fn notice_sweeper<A: Autodns, K: Keys, C: Courier>(
    sh: Arc<Shared<A, K, C>>,
    stop: CancellationToken,
) {
    let every = Duration::try_from(NOTICE_RETRY_AFTER).unwrap_or(Duration::from_secs(300));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        send_owed_notices(&sh, NOTICE_RETRY_AFTER).await;
    }
}

/// Drains the AutoDNS poll queue every interval, but only while an order of ours is open: the
/// requests saved count against AutoDNS's 3 per second. (Messages queued meanwhile, foreign ones
/// included, are drained at the next order, or at the keep-alive round: while idle, AutoDNS is
/// asked once AutoDNS has been silent for half of `http.ready_autodns_within_secs`.)
pub(super) async fn poller<A: Autodns, K: Keys, C: Courier>(
    sh: Arc<Shared<A, K, C>>,
    stop: CancellationToken,
) {
    loop {
        let open = sh.rec.store().open_orders().unwrap_or(1);
        // While idle, one PollInfo in half the readiness window keeps `/readyz`'s AutoDNS
        // check meaningful (and the poll-queue gauges fresh) at a negligible request cost.
        let keepalive =
            sh.rec.metrics().autodns_silent_for() >= sh.settings.readiness.autodns_within / 2;
        if open > 0 || keepalive {
            loop {
                if stop.is_cancelled() {
                    return;
                }
                match sh.rec.poll_once(sh.settings.foreign).await {
                    Ok(PollRound::Handled(h)) => {
                        if let NoticeHandled::Applied(a) = h {
                            sh.queue.push_paid(a);
                        }
                    }
                    Ok(PollRound::Empty) => break,
                    Ok(PollRound::Blocked) => {
                        tracing::warn!(
                            "a poll message that is not ours heads the queue and is left there \
                             (autodns.confirm_foreign_messages = false); completions behind it \
                             arrive through the job check instead"
                        );
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(code = %e.code, "poll failed: {}", e.text);
                        break;
                    }
                }
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(sh.settings.poll_interval) => {}
        }
    }
}

/// Runs the notification outbox: hooks, webhook and the daily digest (`notify/`).
pub(super) async fn notifier(n: Arc<crate::notify::Notifier>, stop: CancellationToken) {
    n.run(stop).await;
}
