//! Owns telling the admin's own tools what happened: the hook commands ([`hooks`]), the signed
//! webhook ([`webhook`]) and the daily digest mail ([`digest`]), all run by the daemon's
//! notification task ([`Notifier::run`]).
//!
//! The outbox pattern: the store writes a notification, with a row per sink, in the transaction
//! that appends the audit event it reports (`store::outbox`), so nothing here can miss an event
//! or invent one, whichever process recorded it (the daemon or a verb). This task claims a due
//! row, runs the hook or posts the webhook, and finishes the row; a failure is retried with the
//! pipeline's backoff (`pipeline.backoff_*`, `pipeline.max_attempts`) and shown by `status`. The
//! task runs beside the workers, so a failing or hanging hook never holds up delivery; each sink
//! has its own loop, so a hanging hook does not hold up the webhook either.

pub mod digest;
pub mod hooks;
pub mod webhook;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use rand::{Rng, SeedableRng};
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::Config;
use crate::delivery::{Mailer, MessageSettings};
use crate::lifecycle::{HookEvent, Sink};
use crate::mailbox::Address;
use crate::pipeline::backoff::BackoffPolicy;
use crate::process::{current_owner, owner_alive};
use crate::store::{OutboxEntry, OutboxOutcome, Store, StoreError};
use webhook::Webhook;

/// The hooks directory inside the state directory (PEM files written for a run).
pub const HOOKS_DIR: &str = "hooks";
/// How often each sink looks for due rows.
const TICK: StdDuration = StdDuration::from_secs(1);
/// How long finished notifications are kept (the digest reads the last day's).
const KEEP_FINISHED: time::Duration = time::Duration::days(30);
/// Rows taken per look.
const BATCH: usize = 32;

/// The daily digest's settings and its mail transport.
#[derive(Debug, Clone)]
struct DigestSetup {
    hour_utc: u8,
    mailer: Arc<dyn Mailer>,
    from: lettre::message::Mailbox,
    to: Address,
    margin: time::Duration,
    budget: u32,
}

/// The notification task: hooks, webhook, digest.
#[derive(Debug)]
pub struct Notifier {
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    hooks: BTreeMap<HookEvent, Vec<String>>,
    hook_timeout: StdDuration,
    work_dir: PathBuf,
    webhook: Option<(Webhook, Vec<HookEvent>)>,
    digest: Option<DigestSetup>,
    backoff: BackoffPolicy,
    owner: String,
    rng: Mutex<rand::rngs::StdRng>,
}

/// Why the notification task could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up notifications: {0}")]
pub struct NotifyError(String);

impl Notifier {
    /// The task for `config`, over the store and clock the pipeline uses; the digest mails
    /// through `mailer` when given, else through the configured transport.
    pub fn from_config(
        config: &Config,
        store: Arc<Store>,
        clock: Arc<dyn Clock>,
        mailer: Option<Arc<dyn Mailer>>,
    ) -> Result<Notifier, NotifyError> {
        let n = &config.notify;
        let webhook = match &n.webhook {
            Some(w) => Some((
                Webhook::new(w.url.clone(), w.secret.clone(), w.timeout).map_err(NotifyError)?,
                w.events.clone(),
            )),
            None => None,
        };
        let digest = match (&n.digest, &config.delivery.admin_address) {
            (Some(d), Some(to)) => Some(digest_setup(config, d.hour_utc, to, mailer)?),
            _ => None,
        };
        let p = crate::pipeline::Settings::from_config(config).policy;
        Ok(Notifier {
            store,
            clock,
            hooks: n.hooks.clone(),
            hook_timeout: n.hook_timeout,
            work_dir: config.state_dir.join(HOOKS_DIR),
            webhook,
            digest,
            backoff: p.backoff,
            owner: current_owner(),
            rng: Mutex::new(rand::rngs::StdRng::from_os_rng()),
        })
    }

    /// Releases the claims of a stopped process: its hooks run again.
    fn release_dead_claims(&self) {
        match self.store.release_dead_outbox_claims(owner_alive) {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                released = n,
                "hooks cut short by a stopped process run again"
            ),
            Err(e) => tracing::error!("cannot read the notification outbox: {e}"),
        }
    }

    /// One pass for `run --once`: every due hook and webhook call, then the digest if due.
    pub async fn run_once(&self) {
        self.release_dead_claims();
        for sink in Sink::ALL {
            if let Err(e) = self.run_due(sink).await {
                tracing::error!(%sink, "cannot read the notification outbox: {e}");
            }
        }
        if let Err(e) = self.send_digest_if_due().await {
            tracing::warn!("cannot send the daily digest yet: {e}");
        }
    }

    /// Runs until `stop`: a loop per sink, and the digest.
    pub async fn run(&self, stop: CancellationToken) {
        self.release_dead_claims();
        tokio::join!(
            self.sink_loop(Sink::Hook, &stop),
            self.sink_loop(Sink::Webhook, &stop),
            self.digest_loop(&stop),
        );
    }

    async fn sink_loop(&self, sink: Sink, stop: &CancellationToken) {
        loop {
            if let Err(e) = self.run_due(sink).await {
                tracing::error!(%sink, "cannot read the notification outbox: {e}");
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(TICK) => {}
            }
        }
    }

    /// Runs every row of `sink` due now, oldest first. Returns how many were finished or
    /// retried.
    pub async fn run_due(&self, sink: Sink) -> Result<usize, StoreError> {
        let mut handled = 0;
        loop {
            let due = self.store.due_outbox(sink, self.clock.now(), BATCH)?;
            if due.is_empty() {
                return Ok(handled);
            }
            for entry in due {
                let n = &entry.notification;
                if !self.store.claim_outbox(n.id, sink, &self.owner)? {
                    continue;
                }
                let result = self.dispatch(&entry).await;
                self.settle(&entry, result)?;
                handled += 1;
            }
        }
    }

    /// Runs the hook or posts the webhook for `entry`; `Ok(None)` when nothing is configured.
    async fn dispatch(&self, entry: &OutboxEntry) -> Result<Option<String>, String> {
        let n = &entry.notification;
        match entry.sink {
            Sink::Hook => {
                let Some(argv) = self.hooks.get(&n.event) else {
                    return Ok(None);
                };
                let files = hooks::write_pem_files(&self.work_dir, n)
                    .map_err(|e| format!("cannot write the PEM files for the hook: {e}"))?;
                let env = hooks::environment(n, files.as_ref());
                let out = hooks::run_hook(argv, &env, self.hook_timeout).await?;
                tracing::info!(
                    event = %n.event, address = %n.address, hook = %argv[0],
                    stdout = %out.stdout.trim(), stderr = %out.stderr.trim(),
                    "hook ran"
                );
                Ok(Some(argv[0].clone()))
            }
            Sink::Webhook => {
                let Some((hook, events)) = &self.webhook else {
                    return Ok(None);
                };
                if !events.contains(&n.event) {
                    return Ok(None);
                }
                hook.post(n, self.clock.now().unix_timestamp()).await?;
                tracing::info!(event = %n.event, address = %n.address, "webhook posted");
                Ok(Some("webhook".into()))
            }
        }
    }

    /// Finishes `entry`, or schedules its retry with the pipeline's backoff (given up after
    /// `pipeline.max_attempts`).
    fn settle(
        &self,
        entry: &OutboxEntry,
        result: Result<Option<String>, String>,
    ) -> Result<(), StoreError> {
        let (n, sink, now) = (&entry.notification, entry.sink, self.clock.now());
        let error = match result {
            Ok(Some(_)) => {
                return self
                    .store
                    .finish_outbox(n.id, sink, now, OutboxOutcome::Done, None)
            }
            Ok(None) => {
                return self
                    .store
                    .finish_outbox(n.id, sink, now, OutboxOutcome::Skipped, None)
            }
            Err(e) => e,
        };
        let attempts = entry.attempts.saturating_add(1);
        if self.backoff.exhausted(attempts) {
            tracing::error!(%sink, event = %n.event, address = %n.address, attempts,
                "{sink} gave up: {error}");
            self.store.retry_outbox(n.id, sink, attempts, now, &error)?;
            return self
                .store
                .finish_outbox(n.id, sink, now, OutboxOutcome::GaveUp, Some(&error));
        }
        let sample = self
            .rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .random::<f64>();
        let next = self.backoff.next_attempt(attempts, now, sample);
        tracing::warn!(%sink, event = %n.event, address = %n.address, attempts,
            next = %crate::pipeline::status::fmt_time(Some(next)), "{sink} failed: {error}");
        self.store.retry_outbox(n.id, sink, attempts, next, &error)
    }

    async fn digest_loop(&self, stop: &CancellationToken) {
        let mut last_prune = None;
        loop {
            let now = self.clock.now();
            if last_prune.is_none_or(|t| now - t > time::Duration::hours(1)) {
                last_prune = Some(now);
                if let Err(e) = self.store.prune_notifications(now - KEEP_FINISHED) {
                    tracing::warn!("cannot prune old notifications: {e}");
                }
            }
            let wait = match self.send_digest_if_due().await {
                Ok(_) => StdDuration::from_secs(30),
                Err(e) => {
                    tracing::warn!("cannot send the daily digest yet: {e}");
                    StdDuration::from_secs(300)
                }
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Sends the day's digest when it is due and not sent yet. Returns whether one went out.
    pub async fn send_digest_if_due(&self) -> Result<bool, String> {
        let Some(d) = &self.digest else {
            return Ok(false);
        };
        let now = self.clock.now();
        let last = self
            .store
            .setting(digest::LAST_DAY)
            .map_err(|e| e.to_string())?;
        if !digest::due(now, d.hour_utc, last.as_deref()) {
            return Ok(false);
        }
        let facts =
            digest::gather(&self.store, now, d.margin, d.budget).map_err(|e| e.to_string())?;
        let (subject, text) = digest::compose(&facts);
        let message = digest_message(d, &subject, text, now)?;
        d.mailer.send(&message).await.map_err(|e| e.to_string())?;
        digest::mark_sent(&self.store, now).map_err(|e| e.to_string())?;
        tracing::info!(to = %d.to, "daily digest sent");
        Ok(true)
    }
}

fn digest_setup(
    config: &Config,
    hour_utc: u8,
    to: &Address,
    mailer: Option<Arc<dyn Mailer>>,
) -> Result<DigestSetup, NotifyError> {
    use crate::delivery::setup;
    let err = |e: crate::delivery::DeliveryError| NotifyError(format!("the digest mail: {e}"));
    let settings: MessageSettings = setup::message_settings(&config.delivery).map_err(err)?;
    let mailer = match mailer {
        Some(m) => m,
        None => setup::build_mailer(&config.delivery).map_err(err)?,
    };
    Ok(DigestSetup {
        hour_utc,
        mailer,
        from: settings.from,
        to: to.clone(),
        margin: time::Duration::try_from(config.renewal.margin).unwrap_or(time::Duration::MAX),
        budget: config.autodns.daily_order_budget,
    })
}

fn digest_message(
    d: &DigestSetup,
    subject: &str,
    text: String,
    now: time::OffsetDateTime,
) -> Result<lettre::Message, String> {
    use lettre::message::header::{HeaderName, HeaderValue};
    let to: lettre::Address =
        d.to.as_str()
            .parse()
            .map_err(|e| format!("delivery.admin_address {}: {e}", d.to))?;
    lettre::Message::builder()
        .from(d.from.clone())
        .to(lettre::message::Mailbox::new(None, to))
        .subject(subject)
        .date(std::time::SystemTime::from(now))
        // RFC 3834 §5: machine-generated; no auto-replies.
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".to_string(),
        ))
        .body(text)
        .map_err(|e| format!("cannot compose the digest: {e}"))
}
