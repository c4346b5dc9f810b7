//! Owns the `run` daemon's shape: boot order, the work queue and its workers, the scheduler that
//! re-plans every record, the poll consumer, the HTTP endpoint (`/healthz`, `/metrics`, `/push`),
//! and graceful shutdown.
//!
//! After mini-redis's `server::run(listener, shutdown)`: every resource (store, ports, source
//! events, the bound listener, the shutdown token) comes in from outside, so tests bind port 0
//! and drive the daemon in-process. Watch events only enqueue addresses; the scheduler's periodic
//! pass over the store is the truth (cert-manager's trigger controller).
//!
//! Boot order: (config → store, done by the caller) → dead claims released → admin notices a
//! stopped process owed → AutoDNS contact ensured → source events → workers, scheduler, poller,
//! notice sweeper → HTTP. Shutdown: stop taking work,
//! let each worker finish the step it is in (every step persists its own result), give up on
//! steps still running after the grace period — a step abandoned mid-call leaves its claim and
//! intent in the store, and the next boot resolves it (an order by lookup, never by re-sending).

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::mailbox::Address;
use crate::pipeline::ports::{Autodns, Courier, Keys, Notice};
use crate::pipeline::reconcile::{NoticeHandled, NOTICE_RETRY_AFTER};
use crate::pipeline::{ForeignMessages, Outcome, PollRound, Reconciler, Stage};
use crate::secret::Secret;

/// What the sources report, after their mass-removal guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// The mailbox exists (new, still there, or a hook request).
    Present(Address),
    /// The mailbox no longer exists.
    Gone(Address),
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

/// The set of addresses waiting for, or under, work. An address is queued at most once; one
/// that is enqueued while running is re-run once after it finishes.
#[derive(Debug, Default)]
struct Queue {
    inner: Mutex<QueueState>,
    ready: Notify,
}

#[derive(Debug, Default)]
struct QueueState {
    order: VecDeque<Address>,
    queued: HashSet<Address>,
    running: HashSet<Address>,
    again: HashSet<Address>,
}

impl Queue {
    fn push(&self, a: Address) {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if s.running.contains(&a) {
            s.again.insert(a);
        } else if s.queued.insert(a.clone()) {
            s.order.push_back(a);
            drop(s);
            self.ready.notify_one();
        }
    }

    fn take(&self) -> Option<Address> {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let a = s.order.pop_front()?;
        s.queued.remove(&a);
        s.running.insert(a.clone());
        Some(a)
    }

    fn done(&self, a: &Address) {
        let again = {
            let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            s.running.remove(a);
            s.again.remove(a)
        };
        if again {
            self.push(a.clone());
        }
    }

    fn len(&self) -> usize {
        let s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        s.order.len() + s.running.len()
    }
}

struct Shared<A, K, C> {
    rec: Arc<Reconciler<A, K, C>>,
    queue: Queue,
    kick: Notify,
    settings: DaemonSettings,
    push_parser: Option<PushParser>,
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
            }),
        }
    }

    /// Runs until `shutdown` is cancelled (or `events` closes and `until_idle` says so).
    /// `listener`, if given, serves `/healthz`, `/metrics` and `/push`.
    pub async fn run(
        self,
        mut events: mpsc::Receiver<Seen>,
        listener: Option<TcpListener>,
        shutdown: CancellationToken,
    ) -> Result<(), DaemonError> {
        let sh = self.shared.clone();
        let released = sh.rec.release_dead_claims()?;
        if released > 0 {
            tracing::info!(released, "resumed records a stopped process was working on");
        }
        // A give-up whose admin notice a stopped process never sent is announced now, before
        // any worker of ours could be sending it.
        send_owed_notices(&sh, time::Duration::ZERO).await;
        // The contact is needed before any order; wait for AutoDNS rather than failing boot.
        let mut delay = Duration::from_secs(1);
        loop {
            match sh.rec.ensure_contact().await {
                Ok(id) => {
                    tracing::info!(contact = id, "AutoDNS SSL contact ready");
                    break;
                }
                Err(e) => {
                    tracing::warn!(code = %e.code, "cannot ensure the AutoDNS contact yet: {}", e.text);
                    tokio::select! {
                        _ = shutdown.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(Duration::from_secs(60));
                }
            }
        }

        let tasks = TaskTracker::new();
        // Sources.
        {
            let sh = sh.clone();
            let stop = shutdown.clone();
            tasks.spawn(async move {
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
                            // A spelling that differs only in case from a known mailbox has no
                            // record of its own: nothing to reconcile under that name.
                            let r = store
                                .observe_present(&a, now)
                                .map(|o| o != crate::store::Observed::CaseVariant);
                            (a, r)
                        }
                        Seen::Gone(a) => {
                            let r = store.observe_gone(&a, now).map(|_| true);
                            (a, r)
                        }
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
            });
        }
        // Workers.
        let workers = TaskTracker::new();
        for _ in 0..sh.settings.concurrency.max(1) {
            let sh = sh.clone();
            let stop = shutdown.clone();
            workers.spawn(async move { worker(sh, stop).await });
        }
        workers.close();
        // Scheduler.
        {
            let sh = sh.clone();
            let stop = shutdown.clone();
            tasks.spawn(async move { scheduler(sh, stop).await });
        }
        // Poll consumer.
        {
            let sh = sh.clone();
            let stop = shutdown.clone();
            tasks.spawn(async move { poller(sh, stop).await });
        }
        // Admin notices that failed or that a verb's process died owing. A task of its own: with
        // the mail server down each try may take the SMTP timeout, which must not hold up
        // scheduling.
        {
            let sh = sh.clone();
            let stop = shutdown.clone();
            tasks.spawn(async move { notice_sweeper(sh, stop).await });
        }
        // HTTP last: health says "up" only once the rest runs.
        if let Some(listener) = listener {
            let app = router(sh.clone());
            let stop = shutdown.clone();
            tasks.spawn(async move {
                let serve = axum::serve(listener, app)
                    .with_graceful_shutdown(async move { stop.cancelled().await });
                if let Err(e) = serve.await {
                    tracing::error!("HTTP endpoint stopped: {e}");
                }
            });
        }
        tasks.close();

        shutdown.cancelled().await;
        tracing::info!("shutting down: finishing in-flight steps");
        if tokio::time::timeout(sh.settings.shutdown_grace, workers.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "steps still running after the grace period are abandoned; their intent is \
                 stored and the next start resolves them"
            );
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), tasks.wait()).await;
        Ok(())
    }
}

/// Takes addresses off the queue and reconciles them one step at a time, so shutdown can stop
/// between steps.
async fn worker<A: Autodns, K: Keys, C: Courier>(
    sh: Arc<Shared<A, K, C>>,
    stop: CancellationToken,
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
        // Let the queue refill before a worker takes the next address.
        if sh.queue.len() > 0 {
            sh.queue.ready.notify_one();
        }
    }
}

/// Re-plans every record: enqueues the ones with work now, sleeps until the next is due.
async fn scheduler<A: Autodns, K: Keys, C: Courier>(
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
        match sh.rec.due() {
            Ok((ready, next)) => {
                for a in ready {
                    sh.queue.push(a);
                }
                if let Some(t) = next {
                    let wait = t - sh.rec.clock().now();
                    let wait = Duration::try_from(wait).unwrap_or(Duration::ZERO);
                    sleep = sleep.min(wait.max(Duration::from_millis(50)));
                }
            }
            Err(e) => tracing::error!("cannot read the state store: {e}"),
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

/// How often the scheduler looks for commits by other processes (see `Store::data_version`).
const OTHER_WRITERS_CHECK: Duration = Duration::from_secs(1);

/// Sends the admin notices owed for at least `min_age` (see
/// [`Reconciler::notify_unannounced_give_ups`]) and logs the outcome.
async fn send_owed_notices<A: Autodns, K: Keys, C: Courier>(
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
async fn notice_sweeper<A: Autodns, K: Keys, C: Courier>(
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
/// included, are drained at the next order.)
async fn poller<A: Autodns, K: Keys, C: Courier>(
    sh: Arc<Shared<A, K, C>>,
    stop: CancellationToken,
) {
    loop {
        let open = sh.rec.store().open_orders().unwrap_or(1);
        if open > 0 {
            loop {
                if stop.is_cancelled() {
                    return;
                }
                match sh.rec.poll_once(sh.settings.foreign).await {
                    Ok(PollRound::Handled(h)) => {
                        if let NoticeHandled::Applied(a) = h {
                            sh.queue.push(a);
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

fn router<A, K, C>(sh: Arc<Shared<A, K, C>>) -> Router
where
    A: Autodns + 'static,
    K: Keys + 'static,
    C: Courier + 'static,
{
    Router::new()
        .route("/healthz", get(healthz::<A, K, C>))
        .route("/metrics", get(metrics::<A, K, C>))
        .route("/push", post(push::<A, K, C>))
        .route("/push/{token}", post(push_with_path::<A, K, C>))
        .with_state(sh)
}

async fn healthz<A: Autodns, K: Keys, C: Courier>(
    State(sh): State<Arc<Shared<A, K, C>>>,
) -> (StatusCode, &'static str) {
    match sh.rec.store().schema_version() {
        Ok(_) => (StatusCode::OK, "ok\n"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "state store unavailable\n"),
    }
}

async fn metrics<A: Autodns, K: Keys, C: Courier>(
    State(sh): State<Arc<Shared<A, K, C>>>,
) -> (StatusCode, String) {
    let records = match sh.rec.store().list() {
        Ok(r) => r,
        Err(e) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("state store: {e}\n"),
            )
        }
    };
    let mut gauges: Vec<(&str, &str, u64)> = Stage::ALL
        .iter()
        .map(|s| {
            (
                "mailboxes",
                s.as_str(),
                records.iter().filter(|r| r.stage == *s).count() as u64,
            )
        })
        .collect();
    gauges.push((
        "mailboxes_failed",
        "any",
        records.iter().filter(|r| r.failure.gave_up).count() as u64,
    ));
    (StatusCode::OK, sh.rec.metrics().render(&gauges))
}

/// Constant-time comparison, so the token cannot be guessed byte by byte from response times.
fn token_matches(given: &str, expected: &str) -> bool {
    let (g, e) = (given.as_bytes(), expected.as_bytes());
    let mut diff = g.len() ^ e.len();
    for (i, b) in e.iter().enumerate() {
        diff |= usize::from(g.get(i).copied().unwrap_or(0) ^ b);
    }
    diff == 0
}

#[derive(Debug, serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

async fn push<A: Autodns, K: Keys, C: Courier>(
    State(sh): State<Arc<Shared<A, K, C>>>,
    Query(q): Query<TokenQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let header = headers
        .get("x-push-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    handle_push(&sh, q.token.or(header), &body).await
}

async fn push_with_path<A: Autodns, K: Keys, C: Courier>(
    State(sh): State<Arc<Shared<A, K, C>>>,
    Path(token): Path<String>,
    body: Bytes,
) -> (StatusCode, &'static str) {
    handle_push(&sh, Some(token), &body).await
}

/// A push feeds the same handler as the poll consumer ([`Reconciler::handle_notice`]: the
/// result stored, the admin told of a give-up); duplicates are harmless there. The answer
/// waits for that handler, so a 200 means the result is stored; an AutoDNS retry after a slow
/// answer is a duplicate.
async fn handle_push<A: Autodns, K: Keys, C: Courier>(
    sh: &Shared<A, K, C>,
    token: Option<String>,
    body: &[u8],
) -> (StatusCode, &'static str) {
    let (Some(expected), Some(parser)) = (&sh.settings.push_token, &sh.push_parser) else {
        return (StatusCode::NOT_FOUND, "push is not configured\n");
    };
    if !token.is_some_and(|t| token_matches(&t, expected.expose())) {
        sh.rec.metrics().inc("push", "unauthorized");
        return (StatusCode::UNAUTHORIZED, "wrong or missing push token\n");
    }
    let notice = match parser(body) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!("push body not understood: {e}");
            sh.rec.metrics().inc("push", "malformed");
            return (StatusCode::BAD_REQUEST, "push body not understood\n");
        }
    };
    match sh.rec.handle_notice(&notice).await {
        Ok(h) => {
            sh.rec.metrics().inc("push", h.name());
            if let NoticeHandled::Applied(a) = h {
                sh.queue.push(a);
            }
            (StatusCode::OK, "ok\n")
        }
        Err(e) => {
            tracing::error!("cannot store a push: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "state store unavailable; retry\n",
            )
        }
    }
}

/// Binds the HTTP endpoint's listener.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, DaemonError> {
    Ok(TcpListener::bind(addr).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_when_equal() {
        assert!(token_matches("abcdefghijklmnop", "abcdefghijklmnop"));
        assert!(!token_matches("abcdefghijklmnoq", "abcdefghijklmnop"));
        assert!(!token_matches("abc", "abcdefghijklmnop"));
        assert!(!token_matches("abcdefghijklmnopX", "abcdefghijklmnop"));
        assert!(!token_matches("", "abcdefghijklmnop"));
    }

    #[test]
    fn an_address_is_queued_once_and_rerun_if_enqueued_while_running() {
        let q = Queue::default();
        let a = Address::parse("a@example.com").unwrap();
        q.push(a.clone());
        q.push(a.clone());
        assert_eq!(q.take(), Some(a.clone()));
        assert_eq!(q.take(), None);
        q.push(a.clone());
        assert_eq!(q.take(), None, "not twice at once");
        q.done(&a);
        assert_eq!(q.take(), Some(a));
    }
}

/// Runs a source's watch loop, starting it again with backoff (1 s doubling up to `max_wait`)
/// whenever it fails, until `cancel` fires. The failure is logged each time with the wait.
fn supervise<F, Fut>(
    tasks: &TaskTracker,
    name: &'static str,
    cancel: CancellationToken,
    max_wait: Duration,
    mut start: F,
) where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), crate::source::SourceError>> + Send,
{
    tasks.spawn(async move {
        let mut wait = Duration::from_secs(1).min(max_wait);
        loop {
            match start().await {
                Ok(()) => return,
                Err(e) if cancel.is_cancelled() => {
                    tracing::debug!("the {name} source ended during shutdown: {e}");
                    return;
                }
                Err(e) => {
                    tracing::error!("the {name} source stopped: {e}; starting it again in {wait:?}")
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).min(max_wait);
        }
    });
}

/// Why a source could not be started.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the {source_name} source: {text}")]
pub struct SourceStartError {
    /// `maildir`, `ldif` or `spool`.
    pub source_name: &'static str,
    /// Why.
    pub text: String,
}

/// Starts every configured source (maildir tree, LDIF export, enqueue spool) and turns their
/// events into [`Seen`] for the daemon: addresses outside `domains.allow` are dropped with a log
/// line; a spool request is acknowledged only after the store has recorded its mailbox
/// (ack-after-persist), so a crash in between re-reads the request instead of losing it; a
/// rename (`Changed`) is the new address present and the old one gone. Spool files never report
/// a mailbox gone: a request is consumed, not withdrawn.
pub fn start_sources(
    config: &crate::config::Config,
    store: Arc<crate::store::Store>,
    clock: Arc<dyn crate::clock::Clock>,
    out: mpsc::Sender<Seen>,
    cancel: CancellationToken,
) -> Result<TaskTracker, SourceStartError> {
    use crate::source::{ldif, maildir, spool, GuardPolicy, SourceEvent};
    let tasks = TaskTracker::new();
    let (tx, mut rx) = mpsc::channel::<SourceEvent>(1024);
    let guard = GuardPolicy {
        max_removal_share: config.sources.max_removal_share,
        ..GuardPolicy::default()
    };
    // A source that fails (a maildir root not there yet, an LDIF export not yet written, an
    // unmounted tree) is started again with backoff, never given up: its mailboxes would
    // otherwise go unnoticed until the next daemon restart.
    let retry_max = config.sources.rescan_interval.min(Duration::from_secs(60));
    if let Some(m) = &config.sources.maildir {
        let layout = maildir::Layout::parse(&m.layout).map_err(|e| SourceStartError {
            source_name: "maildir",
            text: e.to_string(),
        })?;
        let settings = maildir::MaildirSettings {
            root: m.root.clone(),
            layout,
            rescan_interval: config.sources.rescan_interval,
        };
        let (tx, c) = (tx.clone(), cancel.clone());
        supervise(&tasks, "maildir", cancel.clone(), retry_max, move || {
            maildir::MaildirSource::new(settings.clone())
                .with_guard(guard)
                .watch(tx.clone(), c.clone())
        });
    }
    if let Some(l) = &config.sources.ldif {
        let settings = ldif::LdifSettings {
            path: l.path.clone(),
            attributes: l.attributes.clone(),
            object_class: l.object_class.clone(),
            key: l.key,
        };
        let (tx, c) = (tx.clone(), cancel.clone());
        supervise(&tasks, "LDIF", cancel.clone(), retry_max, move || {
            ldif::LdifSource::new(settings.clone())
                .with_guard(guard)
                .watch(tx.clone(), c.clone())
        });
    }
    let spool = Arc::new(
        spool::SpoolSource::new(&config.sources.spool_dir).map_err(|e| SourceStartError {
            source_name: "spool",
            text: e.to_string(),
        })?,
    );
    {
        let src = spool.as_ref().clone();
        let (tx, c) = (tx.clone(), cancel.clone());
        supervise(
            &tasks,
            "enqueue spool",
            cancel.clone(),
            retry_max,
            move || src.clone().watch(tx.clone(), c.clone()),
        );
    }
    drop(tx);
    let domains = config.domains.clone();
    tasks.spawn(async move {
        let allowed = |a: &Address| domains.permits(a);
        loop {
            let ev = tokio::select! {
                _ = cancel.cancelled() => break,
                ev = rx.recv() => ev,
            };
            let Some(ev) = ev else { break };
            let seen: Vec<Seen> = match ev {
                SourceEvent::Present { address, origin } => {
                    if !allowed(&address) {
                        tracing::info!(%address, %origin, "domain not in domains.allow; ignored");
                        if let crate::source::Origin::Spool { file } = &origin {
                            let _ = spool.ack(file);
                        }
                        continue;
                    }
                    if let crate::source::Origin::Spool { file } = &origin {
                        // Persist first, then acknowledge the request file.
                        match store.observe_present(&address, clock.now()) {
                            Ok(_) => {
                                if let Err(e) = spool.ack(file) {
                                    tracing::warn!(%address, "cannot remove the spool request: {e}");
                                }
                            }
                            Err(e) => {
                                tracing::error!(%address, "cannot record the request: {e}");
                                continue;
                            }
                        }
                    }
                    vec![Seen::Present(address)]
                }
                SourceEvent::Gone { origin: crate::source::Origin::Spool { .. }, .. } => continue,
                SourceEvent::Gone { address, .. } => vec![Seen::Gone(address)],
                SourceEvent::Changed { from, to, .. } => {
                    let mut v = vec![Seen::Gone(from)];
                    if allowed(&to) {
                        v.push(Seen::Present(to));
                    }
                    v
                }
            };
            for s in seen {
                if out.send(s).await.is_err() {
                    return;
                }
            }
        }
    });
    tasks.close();
    Ok(tasks)
}
