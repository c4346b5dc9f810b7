//! The `run` verb: the daemon. Boot order: config → state store (and key store, mailer, AutoDNS
//! client or the in-process simulator) → AutoDNS contact ensured → sources → workers, scheduler,
//! poll consumer → HTTP endpoint (`/livez`, `/readyz`, `/healthz`, `/metrics`, `/push`). SIGTERM
//! or SIGINT shuts down gracefully (see `daemon/`). `--once` runs one pass and exits, for cron
//! and tests.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::startup::{checked_config, Start};
use super::{CliError, Context};
use crate::config::Config;
use crate::daemon::{self, Daemon, DaemonSettings, HttpLimits, PushParser};
use crate::notify::Notifier;
use crate::pipeline::adapters::parse_push_notice;
use crate::pipeline::drive::drive;
use crate::pipeline::wiring::{self, Sources};
use crate::pipeline::ForeignMessages;
use crate::source::{admit, Admitted, Origin, SourceEvent};

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run one reconcile pass over every mailbox, then exit (for cron and tests).
    #[arg(long)]
    pub once: bool,
}

fn foreign(config: &Config) -> ForeignMessages {
    if config.autodns.confirm_foreign_messages {
        ForeignMessages::Confirm
    } else {
        ForeignMessages::Leave
    }
}

/// Runs the verb.
pub async fn run(args: Args, ctx: &Context) -> Result<(), CliError> {
    let start = if args.once {
        Start::Once
    } else {
        Start::Daemon
    };
    let checked = checked_config(&ctx.config_path, start)?;
    for w in &checked.warnings {
        tracing::warn!("{w}; the source is started when it appears");
    }
    let config = checked.config;
    // The daemon shares the bundled simulator it starts with the verbs run beside it; one pass
    // holds it only while it runs, like a verb.
    let role = if args.once {
        wiring::SimulatorRole::Verb
    } else {
        wiring::SimulatorRole::Daemon
    };
    let wiring = wiring::Builder::new(&config)
        .simulator_role(role)
        .build()
        .await
        .map_err(|e| CliError::failed(&e))?;
    let result = if args.once {
        once(&config, &wiring).await
    } else {
        serve(&config, &wiring).await
    };
    wiring.shutdown().await;
    result
}

async fn serve(config: &Config, wiring: &wiring::Wiring) -> Result<(), CliError> {
    let rec = wiring.reconciler.clone();
    let shutdown = CancellationToken::new();
    {
        let stop = shutdown.clone();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| CliError::failed(&e))?;
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
                _ = term.recv() => tracing::info!("SIGTERM received"),
            }
            stop.cancel();
        });
    }
    let listener = match config.http.listen {
        Some(addr) => Some(daemon::bind(addr).await.map_err(|e| CliError::failed(&e))?),
        None => None,
    };
    if let Some(l) = &listener {
        if let Ok(a) = l.local_addr() {
            tracing::info!(listen = %a, "HTTP endpoint: /livez /readyz /healthz /metrics /push");
        }
    }
    let (tx, rx) = mpsc::channel(4096);
    let intake = Arc::new(daemon::IntakeHealth::default());
    let sources = daemon::start_sources(
        config,
        rec.store().clone(),
        rec.clock().clone(),
        tx,
        shutdown.clone(),
        intake.clone(),
    )
    .map_err(|e| CliError::failed(&e))?;
    let settings = DaemonSettings {
        concurrency: config.pipeline.concurrency,
        poll_interval: config.autodns.poll_interval,
        resync_interval: Duration::from_secs(60),
        foreign: foreign(config),
        push_token: config.http.push_token.clone(),
        shutdown_grace: Duration::from_secs(30),
        http: HttpLimits {
            max_connections: config.http.max_connections,
            header_timeout: config.http.header_timeout,
            body_timeout: config.http.body_timeout,
        },
        readiness: readiness(config),
        ..DaemonSettings::default()
    };
    // Keys generated ahead, at low priority, for as long as the daemon runs.
    let pool = rec.keys().pool().cloned();
    let refill = pool.map(|p| tokio::spawn(p.refill(shutdown.clone())));
    let parser: PushParser = Arc::new(parse_push_notice);
    let notifier = Notifier::from_config(config, rec.store().clone(), rec.clock().clone(), None)
        .map_err(|e| CliError::failed(&e))?;
    Daemon::new(rec, settings, Some(parser))
        .with_intake_health(intake)
        .with_notifier(notifier)
        .run(rx, listener, shutdown.clone())
        .await
        .map_err(|e| CliError::failed(&e))?;
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), sources.wait()).await;
    if let Some(r) = refill {
        // A key being generated finishes (and is sealed) first; none is half-written.
        let _ = tokio::time::timeout(Duration::from_secs(5), r).await;
    }
    Ok(())
}

/// What `/readyz` checks: every enabled source (the maildir tree rescans periodically, so its
/// last complete listing must be recent; the LDIF export is read on change) and AutoDNS.
fn readiness(config: &Config) -> daemon::Readiness {
    let mut sources = Vec::new();
    if config.sources.maildir.is_some() {
        let max = daemon::Readiness::listing_max_age(config.sources.rescan_interval);
        sources.push(("maildir", Some(max)));
    }
    if config.sources.ldif.is_some() {
        sources.push(("ldif", None));
    }
    sources.push(("spool", None));
    daemon::Readiness {
        sources,
        autodns_within: config.http.ready_autodns_within,
    }
}

/// One pass: every source's complete listing is applied to the stored per-source presence
/// (new mailboxes recorded; mailboxes a source no longer lists removed from it, through the
/// mass-removal guard over its window, so deletions made since the last run are seen); spool
/// requests are recorded; then every record with work is stepped until it waits, and the poll
/// queue is drained; the hooks, webhook calls and digest due are run. Exit 1 if a mailbox has
/// failed.
async fn once(config: &Config, wiring: &wiring::Wiring) -> Result<(), CliError> {
    let rec = wiring.reconciler.clone();
    let now = rec.clock().now();
    let sources = Sources::from_config(&config.sources).map_err(|e| CliError::failed(&e))?;
    let listings = sources.full_listings().map_err(|e| CliError::failed(&e))?;
    for (name, listing) in listings {
        if name != "spool" {
            // The watchers log these once each; a pass logs what it saw (the spool logs its own).
            for r in &listing.rejected {
                tracing::warn!(source = name, origin = %r.origin, reason = %r.reason,
                    "source-entry-rejected");
            }
        }
        let event = if name == "spool" {
            // Spool requests are consumed one by one (ack after persist), never a listing.
            listing.present_events()
        } else {
            vec![SourceEvent::Listing {
                source: name,
                complete: true,
                listing,
            }]
        };
        for work in event.into_iter().flat_map(|e| admit(e, &config.domains)) {
            admit_once(&rec, &sources, work, now)?;
        }
    }
    if let Err(e) = rec.ensure_contact().await {
        return Err(CliError::Failed(format!(
            "cannot ensure the AutoDNS contact: {e}"
        )));
    }
    rec.release_budget_waits()
        .map_err(|e| CliError::failed(&e))?;
    // Paid work first (`due` lists it ahead of new orders).
    let (ready, _) = rec.due().map_err(|e| CliError::failed(&e))?;
    for a in &ready {
        // One pass: step until the record waits (issuance, backoff); the next pass continues.
        let _ = drive(
            &rec,
            a,
            |_| false,
            Duration::ZERO,
            Duration::ZERO,
            foreign(config),
            |l| println!("{l}"),
        )
        .await;
    }
    while let Ok(crate::pipeline::PollRound::Handled(_)) = rec.poll_once(foreign(config)).await {}
    Notifier::from_config(config, rec.store().clone(), rec.clock().clone(), None)
        .map_err(|e| CliError::failed(&e))?
        .run_once()
        .await;
    let failed = rec
        .store()
        .list()
        .map_err(|e| CliError::failed(&e))?
        .into_iter()
        .filter(|r| r.failure.gave_up)
        .count();
    if failed > 0 {
        return Err(CliError::Failed(format!(
            "{failed} mailbox(es) failed; see `status`"
        )));
    }
    Ok(())
}

/// Records one admitted address for `--once`; an ignored spool request is removed, since it can
/// never be served.
fn admit_once(
    rec: &wiring::LiveReconciler,
    sources: &Sources,
    work: Admitted,
    now: time::OffsetDateTime,
) -> Result<(), CliError> {
    match work {
        Admitted::Present(a) => {
            rec.store()
                .observe_present(&a, now)
                .map_err(|e| CliError::failed(&e))?;
        }
        Admitted::Requested {
            address,
            file,
            display_name,
        } => {
            rec.store()
                .observe_present_named(&address, display_name.as_ref(), now)
                .map_err(|e| CliError::failed(&e))?;
            sources.spool.ack(&file).map_err(|e| CliError::failed(&e))?;
        }
        Admitted::Ignored {
            origin: Origin::Spool { file },
            ..
        } => sources.spool.ack(&file).map_err(|e| CliError::failed(&e))?,
        Admitted::Listing {
            source,
            complete,
            addresses,
            names,
            ..
        } => {
            let applied = rec
                .store()
                .apply_named_listing(source, &addresses, &names, complete, now, &sources.guard)
                .map_err(|e| CliError::failed(&e))?;
            // The records to reconcile are found by `due` below; this logs the refusal.
            let _ = daemon::reconcile_listing(source, applied);
        }
        // Listings carry removals; other ignored addresses need nothing.
        Admitted::Gone(_) | Admitted::Ignored { .. } => {}
    }
    Ok(())
}
