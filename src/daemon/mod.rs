//! Owns the `run` daemon's shape: boot order, the work queue and its workers, the scheduler that
//! re-plans every record, the poll consumer, the HTTP endpoint (`/healthz`, `/metrics`, `/push`),
//! and graceful shutdown.
//!
//! After mini-redis's `server::run(listener, shutdown)`: every resource (store, ports, source
//! events, the bound listener, the shutdown token) comes in from outside, so tests bind port 0
//! and drive the daemon in-process. Watch events only enqueue addresses; the scheduler's periodic
//! pass over the store is the truth (cert-manager's trigger controller).
//!
//! Boot order: (config → store, done by the caller) → dead claims released (and mailboxes held
//! back by a budget that has room again) → admin notices a stopped process owed → AutoDNS
//! contact ensured → work due in the store queued (paid work in its own lane, ahead of new
//! orders) → source events → workers, scheduler, poller, notice sweeper, notifier → HTTP.
//! Shutdown: stop taking work, let each worker finish the step it is in (every step persists its
//! own result), give up on steps still running after the grace period — a step abandoned
//! mid-call leaves its claim and intent in the store, and the next boot resolves it (an order by
//! lookup, never by re-sending).
//!
//! Files: this one boots and stops the daemon; `tasks.rs` holds the loops (event intake,
//! workers, scheduler, notice sweeper, poller, notifier), `supervise.rs` starts a worker that
//! panicked again and marks its mailbox failed, `http.rs` the endpoint and `accept.rs` its connection
//! limits and timeouts, `sources.rs` the source
//! watchers and their admission, `queue.rs` the work queue, `tests.rs` the unit tests.

mod accept;
mod health;
mod http;
mod queue;
mod sources;
mod supervise;
mod tasks;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::mailbox::Address;
use crate::notify::Notifier;
use crate::pipeline::ports::{Autodns, Courier, Keys, Notice};
use crate::pipeline::{ForeignMessages, Reconciler};
use crate::secret::Secret;

pub use accept::HttpLimits;
pub use health::Readiness;
pub use http::bind;
pub use sources::{reconcile_listing, start_sources, IntakeHealth, SourceStartError};
pub use supervise::PANIC_CODE;

use queue::Queue;
use supervise::{supervise_workers, Health};
use tasks::{intake, notice_sweeper, notifier, poller, queue_due, scheduler, send_owed_notices};

/// What the sources report, after their mass-removal guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// The mailbox exists (new, still there, or a hook request).
    Present(Address),
    /// The mailbox no longer exists.
    Gone(Address),
    /// Already recorded by the source intake (a listing applied to the store): reconcile it.
    Recorded(Address),
}

/// Turns a push request body into a completion notice (the AutoDNS codec behind it).
pub type PushParser = Arc<dyn Fn(&[u8]) -> Result<Notice, String> + Send + Sync>;

/// The daemon's knobs.
#[derive(Debug, Clone)]
pub struct DaemonSettings {
    /// Mailboxes worked on at once.
    pub concurrency: usize,
    /// Time between poll rounds.
    pub poll_interval: Duration,
    /// Longest time between two scheduler passes over the store.
    pub resync_interval: Duration,
    /// What to do with poll messages that are not ours.
    pub foreign: ForeignMessages,
    /// The token pushes must carry (`None` = the push route answers 404).
    pub push_token: Option<Secret<String>>,
    /// How long shutdown waits for in-flight steps.
    pub shutdown_grace: Duration,
    /// The HTTP endpoint's connection limit and read timeouts.
    pub http: HttpLimits,
    /// How long a worker that panicked stays down before it is started again (a pause against
    /// a panic loop; `/healthz` answers 503 meanwhile).
    pub worker_restart_delay: Duration,
    /// What `/readyz` checks (sources, AutoDNS silence).
    pub readiness: Readiness,
}

impl Default for DaemonSettings {
    fn default() -> Self {
        DaemonSettings {
            concurrency: 4,
            poll_interval: Duration::from_secs(30),
            resync_interval: Duration::from_secs(60),
            foreign: ForeignMessages::Confirm,
            push_token: None,
            shutdown_grace: Duration::from_secs(30),
            http: HttpLimits::default(),
            worker_restart_delay: Duration::from_secs(1),
            readiness: Readiness::default(),
        }
    }
}

/// Why the daemon stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The state store failed at boot.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The HTTP endpoint failed.
    #[error("the HTTP endpoint failed: {0}")]
    Http(#[from] std::io::Error),
}

struct Shared<A, K, C> {
    rec: Arc<Reconciler<A, K, C>>,
    queue: Queue,
    kick: Notify,
    settings: DaemonSettings,
    push_parser: Option<PushParser>,
    health: Health,
    /// Whether source events can be recorded (see [`IntakeHealth`]); read by `/healthz`.
    intake: Arc<IntakeHealth>,
    /// Hooks, webhook and digest (`None`: the task is not started).
    notifier: Option<Arc<Notifier>>,
}

/// The daemon: a reconciler plus the tasks that feed it.
pub struct Daemon<A, K, C> {
    shared: Arc<Shared<A, K, C>>,
}

impl<A, K, C> std::fmt::Debug for Daemon<A, K, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("settings", &self.shared.settings)
            .finish_non_exhaustive()
    }
}

impl<A, K, C> Daemon<A, K, C>
where
    A: Autodns + 'static,
    K: Keys + 'static,
    C: Courier + 'static,
{
    /// A daemon over `rec`. `push_parser` decodes push bodies (required for `/push`).
    pub fn new(
        rec: Arc<Reconciler<A, K, C>>,
        settings: DaemonSettings,
        push_parser: Option<PushParser>,
    ) -> Self {
        Daemon {
            shared: Arc::new(Shared {
                rec,
                queue: Queue::default(),
                kick: Notify::new(),
                settings,
                push_parser,
                health: Health::default(),
                intake: Arc::default(),
                notifier: None,
            }),
        }
    }

    /// Reports the source intake's store writes through `/healthz` and `/metrics` (pass the
    /// handle given to [`start_sources`]).
    pub fn with_intake_health(mut self, health: Arc<IntakeHealth>) -> Self {
        if let Some(sh) = Arc::get_mut(&mut self.shared) {
            sh.intake = health;
        }
        self
    }

    /// Runs the notification outbox (hooks, webhook, digest) with `notifier`.
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        if let Some(sh) = Arc::get_mut(&mut self.shared) {
            sh.notifier = Some(Arc::new(notifier));
        }
        self
    }

    /// Runs until `shutdown` is cancelled (or `events` closes and `until_idle` says so).
    /// `listener`, if given, serves `/healthz`, `/metrics` and `/push`.
    pub async fn run(
        self,
        events: mpsc::Receiver<Seen>,
        listener: Option<TcpListener>,
        shutdown: CancellationToken,
    ) -> Result<(), DaemonError> {
        let sh = self.shared.clone();
        if !boot(&sh, &shutdown).await? {
            return Ok(());
        }
        // Work already paid for in the store is queued before the first source event, so no
        // new mailbox is ordered for ahead of it.
        queue_due(&sh);
        let tasks = TaskTracker::new();
        {
            let (sh, stop) = (sh.clone(), shutdown.clone());
            tasks.spawn(async move { intake(sh, events, stop).await });
        }
        // Workers are supervised: one that panics is started again (`supervise.rs`).
        let workers = {
            let (sh, stop) = (sh.clone(), shutdown.clone());
            let n = sh.settings.concurrency.max(1);
            tokio::spawn(async move { supervise_workers(sh, n, stop).await })
        };
        {
            let (sh, stop) = (sh.clone(), shutdown.clone());
            tasks.spawn(async move { scheduler(sh, stop).await });
        }
        {
            let (sh, stop) = (sh.clone(), shutdown.clone());
            tasks.spawn(async move { poller(sh, stop).await });
        }
        // Admin notices that failed or that a verb's process died owing. A task of its own: with
        // the mail server down each try may take the SMTP timeout, which must not hold up
        // scheduling.
        {
            let (sh, stop) = (sh.clone(), shutdown.clone());
            tasks.spawn(async move { notice_sweeper(sh, stop).await });
        }
        // Hooks and the webhook in a task of their own: a hanging hook holds up no delivery.
        if let Some(n) = sh.notifier.clone() {
            let stop = shutdown.clone();
            tasks.spawn(async move { notifier(n, stop).await });
        }
        // HTTP last: health says "up" only once the rest runs.
        if let Some(listener) = listener {
            tasks.spawn(http::serve(listener, sh.clone(), shutdown.clone()));
        }
        tasks.close();

        shutdown.cancelled().await;
        tracing::info!("shutting down: finishing in-flight steps");
        // The supervisor gives the steps in flight the grace period; false when it ran out.
        if !workers.await.unwrap_or(false) {
            tracing::warn!(
                "steps still running after the grace period are abandoned; their intent is \
                 stored and the next start resolves them"
            );
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), tasks.wait()).await;
        Ok(())
    }
}

/// Boot before any task starts: dead claims released, owed admin notices sent, the AutoDNS
/// contact ensured (waiting for AutoDNS rather than failing). False when shutdown came first.
async fn boot<A: Autodns, K: Keys, C: Courier>(
    sh: &Shared<A, K, C>,
    shutdown: &CancellationToken,
) -> Result<bool, DaemonError> {
    let released = sh.rec.release_dead_claims()?;
    if released > 0 {
        tracing::info!(released, "resumed records a stopped process was working on");
    }
    let waiting = sh.rec.release_budget_waits()?;
    if waiting > 0 {
        tracing::info!(
            waiting,
            "the order budget has room: mailboxes it held back are due now"
        );
    }
    // A give-up whose admin notice a stopped process never sent is announced now, before
    // any worker of ours could be sending it.
    send_owed_notices(sh, time::Duration::ZERO).await;
    // The contact is needed before any order; wait for AutoDNS rather than failing boot.
    let mut delay = Duration::from_secs(1);
    loop {
        match sh.rec.ensure_contact().await {
            Ok(id) => {
                tracing::info!(contact = id, "AutoDNS SSL contact ready");
                return Ok(true);
            }
            Err(e) => {
                tracing::warn!(code = %e.code, "cannot ensure the AutoDNS contact yet: {}", e.text);
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(false),
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(60));
            }
        }
    }
}
