//! Owns the supervision of the workers: each runs as its own task, and one that panics (a bug)
//! is noticed, its mailbox marked failed with the panic text (so `status` shows it and exits 1,
//! and the administrator is told like for any give-up), and the worker started again after
//! [`DaemonSettings::worker_restart_delay`](super::DaemonSettings) — a pause, so a panic that
//! repeats cannot spin. Until it is started again `/healthz` answers 503 ([`Health`]).
//!
//! Without this a panic ended the worker's task silently: with `concurrency = 2` two panics
//! stopped all work while the process, `/healthz` and `status` said everything was fine.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::tasks::worker;
use super::Shared;
use crate::lifecycle::{ErrorClass, EventKind};
use crate::mailbox::Address;
use crate::pipeline::ports::{Autodns, Courier, Keys};
use crate::store::{Failure, StoreError, Transition, Update};

/// The failure code a mailbox gets when the worker on it panicked.
pub const PANIC_CODE: &str = "panic";

/// The longest panic text kept on a record and in the log.
const MAX_PANIC_TEXT: usize = 500;

/// The mailbox a worker is on, if any: set before its first step, cleared when it is done.
pub(super) type Slot = Arc<Mutex<Option<Address>>>;

/// What `/healthz` reports beyond the store: workers that panicked and are not running again.
#[derive(Debug, Default)]
pub(super) struct Health {
    /// Workers down after a panic, waiting for their restart.
    workers_down: AtomicUsize,
    /// Panics since start (also the `worker_panics` metric).
    panics: AtomicU64,
}

impl Health {
    /// Why the daemon is unhealthy, if it is.
    pub(super) fn problem(&self) -> Option<String> {
        let down = self.workers_down.load(Ordering::SeqCst);
        (down > 0).then(|| {
            format!(
                "{down} worker(s) panicked and are not running again yet ({} panic(s) since \
                 start); see the log and `status`\n",
                self.panics.load(Ordering::SeqCst)
            )
        })
    }
}

/// Runs `n` workers until `stop` fires, starting each one that panics again after the restart
/// delay; then gives the running steps `grace` to finish. False when steps were still running
/// after the grace period (they are abandoned; their intent is stored).
pub(super) async fn supervise_workers<A, K, C>(
    sh: Arc<Shared<A, K, C>>,
    n: usize,
    stop: CancellationToken,
) -> bool
where
    A: Autodns + 'static,
    K: Keys + 'static,
    C: Courier + 'static,
{
    let mut set = JoinSet::new();
    let mut slots = HashMap::new();
    for _ in 0..n {
        spawn_worker(&mut set, &mut slots, &sh, &stop);
    }
    let mut restarts: Vec<Instant> = Vec::new();
    loop {
        let next_restart = restarts.iter().min().copied();
        tokio::select! {
            _ = stop.cancelled() => break,
            Some(joined) = set.join_next_with_id() => {
                if ended(&sh, &mut slots, joined).await {
                    restarts.push(Instant::now() + sh.settings.worker_restart_delay);
                }
            }
            _ = sleep_until(next_restart) => {
                let now = Instant::now();
                if let Some(i) = restarts.iter().position(|t| *t <= now) {
                    restarts.swap_remove(i);
                }
                spawn_worker(&mut set, &mut slots, &sh, &stop);
                sh.health.workers_down.fetch_sub(1, Ordering::SeqCst);
                tracing::info!("worker started again after a panic");
            }
        }
    }
    let drained = tokio::time::timeout(sh.settings.shutdown_grace, async {
        while let Some(joined) = set.join_next_with_id().await {
            ended(&sh, &mut slots, joined).await;
        }
    })
    .await;
    if drained.is_err() {
        // Like the end of the process: the steps go on until the runtime stops.
        set.detach_all();
        return false;
    }
    true
}

/// A worker task ended: on a panic its mailbox is handled ([`on_panic`]) and true returned (the
/// caller schedules the restart); a normal end (shutdown) is false.
async fn ended<A: Autodns, K: Keys, C: Courier>(
    sh: &Shared<A, K, C>,
    slots: &mut HashMap<tokio::task::Id, Slot>,
    joined: Result<(tokio::task::Id, ()), tokio::task::JoinError>,
) -> bool {
    let e = match joined {
        Ok((id, ())) => {
            slots.remove(&id);
            return false;
        }
        Err(e) => e,
    };
    let slot = slots.remove(&e.id());
    if !e.is_panic() {
        return false;
    }
    let address = slot
        .as_ref()
        .and_then(|s| s.lock().unwrap_or_else(|p| p.into_inner()).take());
    on_panic(sh, address, e.into_panic()).await;
    true
}

/// Sleeps until `t`, or forever without one.
async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

fn spawn_worker<A, K, C>(
    set: &mut JoinSet<()>,
    slots: &mut HashMap<tokio::task::Id, Slot>,
    sh: &Arc<Shared<A, K, C>>,
    stop: &CancellationToken,
) where
    A: Autodns + 'static,
    K: Keys + 'static,
    C: Courier + 'static,
{
    let slot: Slot = Arc::default();
    let (sh, stop, mine) = (sh.clone(), stop.clone(), slot.clone());
    let handle = set.spawn(async move { worker(sh, stop, mine).await });
    slots.insert(handle.id(), slot);
}

/// A worker panicked while on `address` (the slot it left set; `None` between mailboxes):
/// release the address in the queue, mark it failed with the panic text, count the panic.
async fn on_panic<A: Autodns, K: Keys, C: Courier>(
    sh: &Shared<A, K, C>,
    address: Option<Address>,
    payload: Box<dyn Any + Send>,
) {
    let text = panic_text(payload.as_ref());
    sh.health.workers_down.fetch_add(1, Ordering::SeqCst);
    sh.health.panics.fetch_add(1, Ordering::SeqCst);
    sh.rec.metrics().inc("worker_panics", "");
    let Some(address) = address else {
        tracing::error!("a worker panicked between mailboxes: {text}; it is started again");
        return;
    };
    sh.queue.done(&address);
    tracing::error!(%address, "a worker panicked: {text}; the mailbox is marked failed and the worker started again");
    // A store that fails is retried a few times (a lost race is read again inside), then logged.
    let mut wait = Duration::from_millis(100);
    for _ in 0..5 {
        match mark_panicked(sh, &address, &text) {
            Ok(()) => return,
            Err(e) => {
                tracing::error!(%address, "cannot mark the mailbox failed after a panic: {e}");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
    }
}

/// The panic's message (`panic!("…")` payloads are `&str` or `String`), bounded in length.
fn panic_text(payload: &(dyn Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    match text.char_indices().nth(MAX_PANIC_TEXT) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

/// Marks `address` failed (given up, waiting for an operator) with the panic text, and drops
/// this process's claim on it: its worker is gone.
fn mark_panicked<A: Autodns, K: Keys, C: Courier>(
    sh: &Shared<A, K, C>,
    address: &Address,
    text: &str,
) -> Result<(), StoreError> {
    let now = sh.rec.clock().now();
    let owner = sh.rec.owner().to_string();
    sh.rec.store().update(address, |mut r| {
        let at = r.stage;
        r.failure = Failure {
            attempts: r.failure.attempts.saturating_add(1),
            class: Some(ErrorClass::Permanent),
            code: Some(PANIC_CODE.into()),
            text: Some(format!(
                "internal error at {at}: the worker panicked ({text}); this is a bug — please \
                 report it; `provision {address}` tries again"
            )),
            gave_up: true,
        };
        if r.lease_owner.as_deref() == Some(owner.as_str()) {
            r.lease_owner = None;
            r.lease_until = None;
        }
        r.updated_at = now;
        let t = Transition::new(r).event(EventKind::GaveUp, format!("{PANIC_CODE}: {text}"));
        Ok::<_, StoreError>(Update::Write(t, ()))
    })?;
    Ok(())
}
