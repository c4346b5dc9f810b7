//! Owns starting the configured sources for the daemon: each watcher supervised (restarted with
//! backoff when it fails), and their events admitted into [`Seen`] for the daemon.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Seen;
use crate::mailbox::DomainPolicy;
use crate::pipeline::wiring::Sources;
use crate::source::ldif::LdifSource;
use crate::source::maildir::MaildirSource;
use crate::source::spool::SpoolSource;
use crate::source::{admit, Admitted, Origin, SourceEvent};

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

pub use crate::pipeline::wiring::SourceStartError;

/// Starts every configured source (maildir tree, LDIF export, enqueue spool), each supervised,
/// and turns their events into [`Seen`] for the daemon through [`admit`]: addresses outside
/// `domains.allow` are dropped with a log line; a spool request is acknowledged only after the
/// store has recorded its mailbox (ack-after-persist), so a crash in between re-reads the
/// request instead of losing it; a rename (`Changed`) is the new address present and the old
/// one gone. Spool files never report a mailbox gone: a request is consumed, not withdrawn.
pub fn start_sources(
    config: &crate::config::Config,
    store: Arc<crate::store::Store>,
    clock: Arc<dyn crate::clock::Clock>,
    out: mpsc::Sender<Seen>,
    cancel: CancellationToken,
) -> Result<TaskTracker, SourceStartError> {
    let sources = Sources::from_config(&config.sources)?;
    let tasks = TaskTracker::new();
    let (tx, rx) = mpsc::channel::<SourceEvent>(1024);
    // A source that fails (a maildir root not there yet, an LDIF export not yet written, an
    // unmounted tree) is started again with backoff, never given up: its mailboxes would
    // otherwise go unnoticed until the next daemon restart.
    let retry_max = config.sources.rescan_interval.min(Duration::from_secs(60));
    // Each restart watches with a fresh source (fresh listing and guard state).
    if let Some(settings) = sources.maildir.clone() {
        let (guard, tx, c) = (sources.guard, tx.clone(), cancel.clone());
        supervise(&tasks, "maildir", cancel.clone(), retry_max, move || {
            MaildirSource::new(settings.clone())
                .with_guard(guard)
                .watch(tx.clone(), c.clone())
        });
    }
    if let Some(settings) = sources.ldif.clone() {
        let (guard, tx, c) = (sources.guard, tx.clone(), cancel.clone());
        supervise(&tasks, "LDIF", cancel.clone(), retry_max, move || {
            LdifSource::new(settings.clone())
                .with_guard(guard)
                .watch(tx.clone(), c.clone())
        });
    }
    {
        let src = sources.spool.clone();
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
    let intake = Intake {
        domains: config.domains.clone(),
        spool: sources.spool.clone(),
        store,
        clock,
        out,
    };
    tasks.spawn(intake.run(rx, cancel));
    tasks.close();
    Ok(tasks)
}

/// Admits source events and hands the work to the daemon.
struct Intake {
    domains: DomainPolicy,
    spool: SpoolSource,
    store: Arc<crate::store::Store>,
    clock: Arc<dyn crate::clock::Clock>,
    out: mpsc::Sender<Seen>,
}

impl Intake {
    async fn run(self, mut rx: mpsc::Receiver<SourceEvent>, cancel: CancellationToken) {
        loop {
            let ev = tokio::select! {
                _ = cancel.cancelled() => break,
                ev = rx.recv() => ev,
            };
            let Some(ev) = ev else { break };
            for work in admit(ev, &self.domains) {
                let Some(seen) = self.apply(work) else {
                    continue;
                };
                if self.out.send(seen).await.is_err() {
                    return;
                }
            }
        }
    }

    /// Does the admitted work's own IO (recording a request, removing its file) and says what
    /// the daemon should reconcile, if anything.
    fn apply(&self, work: Admitted) -> Option<Seen> {
        match work {
            Admitted::Present(address) => Some(Seen::Present(address)),
            Admitted::Gone(address) => Some(Seen::Gone(address)),
            Admitted::Requested { address, file } => {
                // Persist first, then acknowledge the request file.
                if let Err(e) = self.store.observe_present(&address, self.clock.now()) {
                    tracing::error!(%address, "cannot record the request: {e}");
                    return None;
                }
                if let Err(e) = self.spool.ack(&file) {
                    tracing::warn!(%address, "cannot remove the spool request: {e}");
                }
                Some(Seen::Present(address))
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
                None
            }
        }
    }
}
