//! Owns starting the configured sources for the daemon: each watcher supervised (restarted with
//! backoff when it fails), and their events admitted into [`Seen`] for the daemon.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Seen;
use crate::mailbox::Address;

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

