//! Owns starting the configured sources for the daemon: each watcher supervised (restarted with
//! backoff when it fails), and their events admitted into [`Seen`] for the daemon.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Seen;
use crate::mailbox::{Address, DomainPolicy};
use crate::pipeline::wiring::Sources;
use crate::source::ldif::LdifSource;
use crate::source::maildir::MaildirSource;
use crate::source::spool::SpoolSource;
use crate::source::{admit, Admitted, Origin, SourceEvent};
use crate::source::{GuardPolicy, SourceHealth};
use crate::store::{ListingApplied, StoreError};

/// What every source watcher is supervised with.
struct Supervisor<'a> {
    tasks: &'a TaskTracker,
    status: Arc<IntakeHealth>,
    cancel: CancellationToken,
    max_wait: Duration,
}

impl Supervisor<'_> {
    /// Runs a source's watch loop, starting it again with backoff (1 s doubling up to
    /// `max_wait`) whenever it fails, until `cancel` fires. The failure is logged each time with
    /// the wait and kept for `/readyz` under `key` (the store's name of the source).
    fn run<F, Fut>(&self, key: &'static str, name: &'static str, mut start: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<(), crate::source::SourceError>> + Send,
    {
        let (status, cancel, max_wait) = (self.status.clone(), self.cancel.clone(), self.max_wait);
        self.tasks.spawn(async move {
            let mut wait = Duration::from_secs(1).min(max_wait);
            loop {
                match start().await {
                    Ok(()) => return,
                    Err(e) if cancel.is_cancelled() => {
                        tracing::debug!("the {name} source ended during shutdown: {e}");
                        return;
                    }
                    Err(e) => {
                        status.source_stopped(key, &e);
                        tracing::error!(
                            "the {name} source stopped: {e}; starting it again in {wait:?}"
                        )
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
}

pub use crate::pipeline::wiring::SourceStartError;

/// Whether the source intake can write to the store: a failed write (a full disk, a locked or
/// broken database) is retried with backoff, and until it succeeds `/healthz` reports it.
#[derive(Debug, Default)]
pub struct IntakeHealth {
    /// The error of the write being retried, while one is.
    failing: Mutex<Option<String>>,
    /// Failed writes since start (a metric).
    failures: AtomicU64,
    /// Each source's watcher, by store name: its health while it runs, or why it stopped.
    sources: Mutex<BTreeMap<&'static str, SourceRun>>,
}

/// A source watcher as `/readyz` sees it.
#[derive(Debug)]
enum SourceRun {
    /// Running; its health is updated after every listing (`None`: it reports none).
    Running(Option<tokio::sync::watch::Receiver<SourceHealth>>),
    /// Stopped with this error; started again after a backoff.
    Stopped(String),
}

impl IntakeHealth {
    /// The error while a source event cannot be recorded, `None` when writes succeed.
    pub fn failing(&self) -> Option<String> {
        self.failing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Failed writes of source events since start.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    fn failed(&self, e: &StoreError) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        *self.failing.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
    }

    fn recovered(&self) {
        *self.failing.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    fn runs(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, SourceRun>> {
        self.sources.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The watcher of `source` (re)started, reporting its listings through `health`.
    fn source_started(
        &self,
        source: &'static str,
        health: Option<tokio::sync::watch::Receiver<SourceHealth>>,
    ) {
        self.runs().insert(source, SourceRun::Running(health));
    }

    fn source_stopped(&self, source: &'static str, e: &crate::source::SourceError) {
        self.runs()
            .insert(source, SourceRun::Stopped(e.to_string()));
    }

    /// Why `source` is not working now: its watcher stopped, or its last listing failed.
    /// `None` while it runs and lists, and for a source this daemon does not watch.
    pub fn source_problem(&self, source: &str) -> Option<String> {
        match self.runs().get(source) {
            Some(SourceRun::Stopped(e)) => Some(format!("stopped: {e}")),
            Some(SourceRun::Running(Some(h))) => h
                .borrow()
                .last_error
                .as_ref()
                .map(|e| format!("the last listing failed: {e}")),
            Some(SourceRun::Running(None)) | None => None,
        }
    }
}

/// Starts every configured source (maildir tree, LDIF export, enqueue spool), each supervised,
/// and turns their events into [`Seen`] for the daemon through [`admit`]: addresses outside
/// `domains.allow` are dropped; the maildir tree and the LDIF export report whole listings,
/// which the store applies per source ([`crate::store::Store::apply_listing`]: present while
/// any source reports a mailbox, removals only from complete listings and through the guard
/// over its window — the first listing after start is compared with the stored presence, so
/// deletions made while the daemon was down are seen). A spool request is acknowledged only
/// after the store has recorded its mailbox (ack-after-persist). A failed write is retried
/// with backoff (reported through `health`) until it succeeds, so no event is lost; nothing
/// counts as known before the store committed it.
pub fn start_sources(
    config: &crate::config::Config,
    store: Arc<crate::store::Store>,
    clock: Arc<dyn crate::clock::Clock>,
    out: mpsc::Sender<Seen>,
    cancel: CancellationToken,
    health: Arc<IntakeHealth>,
) -> Result<TaskTracker, SourceStartError> {
    let sources = Sources::from_config(&config.sources)?;
    let tasks = TaskTracker::new();
    let (tx, rx) = mpsc::channel::<SourceEvent>(1024);
    // A source that fails (a maildir root not there yet, an LDIF export not yet written, an
    // unmounted tree) is started again with backoff, never given up: its mailboxes would
    // otherwise go unnoticed until the next daemon restart.
    let retry_max = config.sources.rescan_interval.min(Duration::from_secs(60));
    let supervisor = Supervisor {
        tasks: &tasks,
        status: health.clone(),
        cancel: cancel.clone(),
        max_wait: retry_max,
    };
    // Each restart watches with a fresh source (fresh listing and guard state).
    if let Some(settings) = sources.maildir.clone() {
        let (tx, c, h) = (tx.clone(), cancel.clone(), health.clone());
        supervisor.run("maildir", "maildir", move || {
            let src = MaildirSource::new(settings.clone()).reporting_listings();
            h.source_started("maildir", Some(src.health()));
            src.watch(tx.clone(), c.clone())
        });
    }
    if let Some(settings) = sources.ldif.clone() {
        let (tx, c, h) = (tx.clone(), cancel.clone(), health.clone());
        supervisor.run("ldif", "LDIF", move || {
            let src = LdifSource::new(settings.clone()).reporting_listings();
            h.source_started("ldif", Some(src.health()));
            src.watch(tx.clone(), c.clone())
        });
    }
    {
        let src = sources.spool.clone();
        let (tx, c, h) = (tx.clone(), cancel.clone(), health.clone());
        supervisor.run("spool", "enqueue spool", move || {
            h.source_started("spool", None);
            src.clone().watch(tx.clone(), c.clone())
        });
    }
    drop(tx);
    let intake = Intake {
        domains: config.domains.clone(),
        spool: sources.spool.clone(),
        guard: sources.guard,
        store,
        clock,
        out,
        health,
    };
    tasks.spawn(intake.run(rx, cancel));
    tasks.close();
    Ok(tasks)
}

/// Admits source events and hands the work to the daemon.
struct Intake {
    domains: DomainPolicy,
    spool: SpoolSource,
    guard: GuardPolicy,
    store: Arc<crate::store::Store>,
    clock: Arc<dyn crate::clock::Clock>,
    out: mpsc::Sender<Seen>,
    health: Arc<IntakeHealth>,
}

/// Longest wait between two tries of a failed write.
const RETRY_MAX: Duration = Duration::from_secs(30);

impl Intake {
    async fn run(self, mut rx: mpsc::Receiver<SourceEvent>, cancel: CancellationToken) {
        loop {
            let ev = tokio::select! {
                _ = cancel.cancelled() => break,
                ev = rx.recv() => ev,
            };
            let Some(ev) = ev else { break };
            for work in admit(ev, &self.domains) {
                for seen in self.apply(work, &cancel).await {
                    if self.out.send(seen).await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// Runs the store write `op` until it succeeds, waiting 1 s doubling up to [`RETRY_MAX`]
    /// between tries; `None` only when shutdown comes first.
    async fn persist<T: Send + 'static>(
        &self,
        what: &str,
        cancel: &CancellationToken,
        op: impl Fn(&crate::store::Store) -> Result<T, StoreError> + Send + Sync + 'static,
    ) -> Option<T> {
        let op = Arc::new(op);
        let mut wait = Duration::from_secs(1);
        loop {
            let (store, op2) = (self.store.clone(), op.clone());
            let result = tokio::task::spawn_blocking(move || op2(&store))
                .await
                .unwrap_or_else(|e| Err(StoreError::Corrupt(format!("the write panicked: {e}"))));
            match result {
                Ok(v) => {
                    if self.health.failing().is_some() {
                        tracing::info!("source events are recorded again");
                    }
                    self.health.recovered();
                    return Some(v);
                }
                Err(e) => {
                    self.health.failed(&e);
                    tracing::error!(
                        "cannot record a source event ({what}): {e}; retrying in {wait:?}"
                    );
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => return None,
                _ = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).min(RETRY_MAX);
        }
    }

    /// Does the admitted work's own IO (recording a listing or a request, removing a request
    /// file) and says what the daemon should reconcile.
    async fn apply(&self, work: Admitted, cancel: &CancellationToken) -> Vec<Seen> {
        match work {
            Admitted::Present(address) => vec![Seen::Present(address)],
            Admitted::Gone(address) => vec![Seen::Gone(address)],
            Admitted::Listing {
                source,
                complete,
                addresses,
                names,
                ignored,
            } => {
                if ignored > 0 {
                    tracing::debug!(source, ignored, "addresses outside domains.allow ignored");
                }
                let (now, guard) = (self.clock.now(), self.guard);
                let what = format!("the {source} listing");
                let applied = self
                    .persist(&what, cancel, move |s| {
                        s.apply_named_listing(source, &addresses, &names, complete, now, &guard)
                    })
                    .await;
                if complete {
                    // A whole tree's listing and its comparison were this scan's big transient
                    // allocations: give their pages back rather than keep the peak resident.
                    tokio::task::spawn_blocking(crate::memory::give_back);
                }
                applied
                    .map(|a| reconcile_listing(source, a))
                    .unwrap_or_default()
            }
            Admitted::Requested {
                address,
                file,
                display_name,
            } => {
                // Persist first, then acknowledge the request file.
                let (a, now) = (address.clone(), self.clock.now());
                let what = format!("the request for {address}");
                self.persist(&what, cancel, move |s| {
                    s.observe_present_named(&a, display_name.as_ref(), now)
                })
                .await
                .map(|_| {
                    if let Err(e) = self.spool.ack(&file) {
                        tracing::warn!(%address, "cannot remove the spool request: {e}");
                    }
                    vec![Seen::Present(address)]
                })
                .unwrap_or_default()
            }
            Admitted::Ignored {
                address,
                origin,
                reason,
            } => {
                tracing::info!(%address, %origin, "{reason}; ignored");
                if let Origin::Spool { file } = &origin {
                    let _ = self.spool.ack(file);
                }
                Vec::new()
            }
        }
    }
}

/// Logs what applying a listing did and lists the mailboxes to reconcile.
pub fn reconcile_listing(source: &str, applied: ListingApplied) -> Vec<Seen> {
    if let Some((refusal, held)) = &applied.refused {
        tracing::error!(
            source,
            held = held.len(),
            known = refusal.known,
            would_remove = refusal.would_remove,
            recently_removed = refusal.recently_removed,
            "mass-removal-refused: the {source} source: {refusal}"
        );
    }
    if !applied.removed.is_empty() {
        tracing::info!(
            source,
            removed = applied.removed.len(),
            "mailboxes no source reports any more"
        );
    }
    let changed: BTreeSet<Address> = applied.added.into_iter().chain(applied.removed).collect();
    changed.into_iter().map(Seen::Recorded).collect()
}
