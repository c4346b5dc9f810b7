//! Owns the reconciler: reads one mailbox record, asks the planner for the next step, carries it
//! out through the ports, and persists the result in one transaction (compare-and-set on the
//! record's version). Also the completion handler shared by the poll consumer and the push
//! endpoint, and the operator requests the verbs write.
//!
//! Safety rules, each enforced here and tested in `tests/pipeline_reconcile.rs`:
//! - a step with an outside effect first *claims* the record (lease, one transaction), so two
//!   processes never act on one record at once;
//! - an order's intent (ctid, budget count) is that claim: written before CertificateCreate is
//!   sent (PRODUCT.md "Never buys twice"; cert-manager's venafi issuer stores the pickup id before
//!   polling);
//! - an order error that is not a certain refusal leaves the record in `ordering`, which only a
//!   lookup at AutoDNS can leave;
//! - the key is persisted (key-store id on the record) before a CSR is built from it;
//! - a poll message is confirmed only after its result is committed.

use std::sync::{Arc, Mutex};

use rand::{Rng, RngCore};
use time::{Duration, OffsetDateTime, Time};

use super::metrics::Metrics;
use super::plan::{plan, Policy, Step};
use super::ports::{
    Autodns, CertificateFacts, Courier, IssuedCertificate, JobState, Keys, Notice, NoticeOutcome,
    OrderRequest, PortError, Revocation,
};
use crate::clock::Clock;
use crate::lifecycle::{ErrorClass, EventKind, Request, Stage};
use crate::mailbox::Address;
use crate::store::{
    Event, Failure, MailboxRecord, NewEvent, Store, StoreError, Transition, Update,
};

/// The setting key under which the AutoDNS SSL contact id is kept.
pub const CONTACT_SETTING: &str = "autodns.contact_id";

/// How long an owed admin notice waits before the daemon's sweep sends it (again): long enough
/// that a worker telling the admin right now is never doubled, short enough for an outage.
pub const NOTICE_RETRY_AFTER: Duration = Duration::minutes(5);

/// Tries of one admin notice before it is left to the log and `status` (an hour at
/// [`NOTICE_RETRY_AFTER`]).
pub const MAX_NOTICE_ATTEMPTS: usize = 12;

/// How many steps one `reconcile` call runs at most before yielding (a bound against a bug
/// that would loop; a full happy path takes 7).
const MAX_STEPS: usize = 16;

/// The reconciler's knobs (from the validated config).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// The planner's policy.
    pub policy: Policy,
    /// Orders allowed per UTC day.
    pub daily_order_budget: u32,
    /// How long a claim holds if its owner stops answering without dying (a hung call).
    pub lease: Duration,
    /// How long after the bundle mail the password goes out (`delivery.password.delay_secs`
    /// for the separate-mail channel), so the two do not arrive as a pair.
    pub password_delay: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            policy: Policy::default(),
            daily_order_budget: 50,
            lease: Duration::minutes(10),
            password_delay: Duration::ZERO,
        }
    }
}

impl Settings {
    /// The settings a validated config asks for.
    pub fn from_config(c: &crate::config::Config) -> Self {
        use super::backoff::BackoffPolicy;
        use super::plan::RemovalPolicy;
        use crate::config::RemovalPolicy as Removal;
        let d = |d: std::time::Duration| Duration::try_from(d).unwrap_or(Duration::MAX);
        Settings {
            policy: Policy {
                renew_before: d(c.renewal.margin),
                removal: match c.removal.policy {
                    Removal::Keep => RemovalPolicy::Keep,
                    Removal::Revoke => RemovalPolicy::Revoke {
                        grace: d(c.removal.grace),
                    },
                },
                job_check_after: d(c.autodns.job_silence_timeout),
                backoff: BackoffPolicy {
                    base: d(c.pipeline.backoff_base),
                    cap: d(c.pipeline.backoff_max),
                    max_attempts: c.pipeline.max_attempts,
                    ..BackoffPolicy::default()
                },
            },
            daily_order_budget: c.autodns.daily_order_budget,
            // A claim must outlast the slowest call (the client's timeout, with its retries).
            lease: d(c.autodns.timeout * 4).max(Duration::minutes(2)),
            password_delay: match &c.delivery.password {
                crate::config::PasswordChannelConfig::SeparateMail { delay } => d(*delay),
                _ => Duration::ZERO,
            },
        }
    }
}

/// Why a reconcile could not run at all (port failures are not errors here: they are recorded
/// on the record's failure overlay).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No record for the address.
    #[error("{0} is not a known mailbox (run `provision {0}` to add it)")]
    UnknownMailbox(Address),
    /// The address differs only in case from a known mailbox, which is the same mailbox for
    /// the mail server; it gets no second certificate.
    #[error("{address} is the same mailbox as the known {existing} (they differ only in case); use `{existing}`")]
    CaseVariant {
        /// The address asked for.
        address: Address,
        /// The known spelling.
        existing: Address,
    },
    /// The request does not fit the record's state (it would buy twice or break the mailbox);
    /// nothing was recorded.
    #[error("{address}: {request} refused: {reason}")]
    Refused {
        /// The mailbox.
        address: Address,
        /// The refused request.
        request: Request,
        /// Why, and what to do instead.
        reason: String,
    },
}

/// How long after an order was sent a lookup that does not find it is not yet taken as "never
/// placed": the job-check interval, at most 30 minutes (an order refused before it reached
/// AutoDNS is re-sent after this wait; one that AutoDNS lists late is found instead).
fn listing_grace(s: &Settings) -> Duration {
    s.policy.job_check_after.min(Duration::minutes(30))
}

/// Why `q` must not be recorded on `r` now, if it must not. A request belongs to the
/// generation it was made for: `reprovision`/`renew` start a new order only when the current
/// generation's money question is settled (delivered, revoked, or given up without an open
/// order); otherwise a second run of the verb while the first order is open would be applied
/// after that order completes and buy another certificate (review finding 1).
fn refusal(r: &MailboxRecord, q: Request) -> Option<String> {
    if !matches!(q, Request::Reprovision | Request::Renew) {
        return None;
    }
    let address = &r.address;
    let progress = format!("`status {address}` shows progress; the daemon continues");
    match r.stage {
        Stage::Delivered | Stage::Revoked => None,
        Stage::Ordering => Some(format!(
            "the order of generation {} is open and its outcome not yet known; {progress}",
            r.generation
        )),
        Stage::Ordered if settled_failure(r) => None,
        _ if r.failure.gave_up && r.stage != Stage::Ordered => None,
        Stage::Ordered => Some(format!(
            "the order of generation {} is open (waiting for the CA); {progress}",
            r.generation
        )),
        _ if r.generation > 1 => Some(format!(
            "a new certificate (generation {}) is already under way, at {}; {progress}",
            r.generation, r.stage
        )),
        _ => Some(format!(
            "the first certificate is still being obtained, at {}; {progress}",
            r.stage
        )),
    }
}

/// The record gave up on an order with a permanent error (vanished, refused by the key check,
/// incomplete): the order will not complete, so its money question is settled and a new
/// generation may be started.
fn settled_failure(r: &MailboxRecord) -> bool {
    r.stage == Stage::Ordered && r.failure.gave_up && r.failure.class == Some(ErrorClass::Permanent)
}

/// The event that leaves the administrator owed a notice, if the trail (oldest first) ends with
/// one: a `gave-up` not told yet, or a notice that failed fewer than [`MAX_NOTICE_ATTEMPTS`]
/// times in a row.
fn owed_notice(events: &[Event]) -> Option<&Event> {
    let last = events.last()?;
    let failed_tries = events
        .iter()
        .rev()
        .take_while(|e| EventKind::AdminNoticeFailed.is(&e.kind))
        .count();
    let owed = EventKind::GaveUp.is(&last.kind)
        || (EventKind::AdminNoticeFailed.is(&last.kind) && failed_tries < MAX_NOTICE_ATTEMPTS);
    owed.then_some(last)
}

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to do now.
    Idle,
    /// Nothing to do before this time.
    Waiting(OffsetDateTime),
    /// The step ran and its result is stored.
    Done(Step),
    /// The step failed; the failure is stored on the record.
    Failed(Step, PortError),
    /// Another writer changed the record meanwhile; re-plan.
    Conflict(Step),
}

/// What a completion notice matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeHandled {
    /// It completed an order of ours; the result is stored.
    Applied(Address),
    /// It concerns an order of ours that is already past that point (a duplicate).
    Duplicate(Address),
    /// Not one of our orders.
    Foreign,
}

impl NoticeHandled {
    /// The stable kebab-case name for the poll ledger and logs.
    pub fn name(&self) -> &'static str {
        match self {
            NoticeHandled::Applied(_) => "applied",
            NoticeHandled::Duplicate(_) => "duplicate",
            NoticeHandled::Foreign => "foreign",
        }
    }
}

/// What to do with poll messages that are not about our orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForeignMessages {
    /// Log and confirm them (the queue keeps moving).
    Confirm,
    /// Log and leave them for another consumer; polling stops at the first one.
    Leave,
}

/// What one poll round did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollRound {
    /// The queue is empty.
    Empty,
    /// One message was handled and confirmed.
    Handled(NoticeHandled),
    /// A foreign message heads the queue and is left there.
    Blocked,
}

/// Carries out steps for mailboxes. Shared by the daemon's workers and the verbs.
pub struct Reconciler<A, K, C> {
    store: Arc<Store>,
    autodns: A,
    keys: K,
    courier: C,
    clock: Arc<dyn Clock>,
    settings: Settings,
    owner: String,
    rng: Mutex<Box<dyn RngCore + Send>>,
    metrics: Arc<Metrics>,
}

impl<A, K, C> std::fmt::Debug for Reconciler<A, K, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconciler")
            .field("owner", &self.owner)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The record with the failure overlay cleared (after a successful step). The attempt count
/// survives until the certificate is issued (and again until it is delivered): a job that fails
/// after a successful order must count towards the bound, or a CA that rejects every order
/// would be sent new orders forever.
fn succeeded(mut r: MailboxRecord) -> MailboxRecord {
    let attempts = r.failure.attempts;
    r.failure = Failure::default();
    if !matches!(r.stage, Stage::Issued | Stage::Delivered | Stage::Revoked) {
        r.failure.attempts = attempts;
    }
    r
}

/// The failure overlay cleared entirely (an operator asked to start over).
fn reset(mut r: MailboxRecord) -> MailboxRecord {
    r.failure = Failure::default();
    r
}

/// Moves a record to the next generation: a fresh key and a fresh order; the old certificate's
/// public facts stay visible to `status` until the new one replaces them.
fn next_generation(mut r: MailboxRecord, renew_of: Option<i64>) -> MailboxRecord {
    r.generation += 1;
    r.stage = Stage::Discovered;
    r.key_ref = None;
    r.ctid = None;
    r.job_id = None;
    r.certificate_id = None;
    r.renew_of = renew_of;
    r.ordering_since = None;
    r.bundle_password = None;
    r.bundle_sent_at = None;
    r.delivered_at = None;
    r.next_attempt_at = None;
    r.failure = Failure::default();
    r
}

/// Back to `key-ready` with no order: the order certainly does not exist (refused, not found,
/// or its job failed). The key is kept; the next order gets a new ctid. The job id of a failed
/// job stays on the record until the next order intent replaces it, so a repeat of that job's
/// completion message (AutoDNS sending it again, or a crash between the commit and
/// PollConfirm) is recognised as ours, a duplicate, instead of a foreign message that
/// `confirm_foreign_messages = false` would leave at the head of the poll queue for good.
fn no_order(mut r: MailboxRecord) -> MailboxRecord {
    r.stage = Stage::KeyReady;
    r.ctid = None;
    r.certificate_id = None;
    r.ordering_since = None;
    r
}

/// The next UTC midnight after `now` (when the daily budget resets).
fn next_utc_day(now: OffsetDateTime) -> OffsetDateTime {
    let day = now.date().next_day().unwrap_or(now.date());
    day.with_time(Time::MIDNIGHT).assume_utc()
}

impl<A: Autodns, K: Keys, C: Courier> Reconciler<A, K, C> {
    /// A reconciler over `store`, with the ports, clock and an RNG (ctids, backoff jitter).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Arc<Store>,
        autodns: A,
        keys: K,
        courier: C,
        clock: Arc<dyn Clock>,
        settings: Settings,
        rng: Box<dyn RngCore + Send>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Reconciler {
            store,
            autodns,
            keys,
            courier,
            clock,
            settings,
            owner: super::lease::current_owner(),
            rng: Mutex::new(rng),
            metrics,
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The AutoDNS port.
    pub fn autodns(&self) -> &A {
        &self.autodns
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Overrides the claim-owner token (tests that play two processes in one).
    pub fn with_owner(mut self, owner: &str) -> Self {
        self.owner = owner.to_string();
        self
    }

    fn sample(&self) -> f64 {
        self.rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .random::<f64>()
    }

    fn new_ctid(&self) -> String {
        let mut bytes = [0u8; 12];
        self.rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .fill_bytes(&mut bytes);
        format!("smp-{}", hex::encode(bytes))
    }

    /// The SSL contact to order with: the stored id, or created once at AutoDNS and stored.
    pub async fn ensure_contact(&self) -> Result<i64, PortError> {
        if let Ok(Some(v)) = self.store.setting(CONTACT_SETTING) {
            if let Ok(id) = v.parse::<i64>() {
                return Ok(id);
            }
        }
        let id = self.autodns.ensure_contact().await?;
        self.store
            .set_setting(CONTACT_SETTING, &id.to_string())
            .map_err(|e| PortError::transient("store", e.to_string()))?;
        Ok(id)
    }

    /// Releases claims of processes that no longer run (at boot).
    pub fn release_dead_claims(&self) -> Result<usize, StoreError> {
        self.store.release_dead_leases(super::lease::owner_alive)
    }

    /// Runs steps for `address` until it is idle, waiting, failed or contended.
    pub async fn reconcile(&self, address: &Address) -> Result<Outcome, ReconcileError> {
        let mut last = Outcome::Idle;
        for _ in 0..MAX_STEPS {
            last = self.step(address).await?;
            if !matches!(last, Outcome::Done(_)) {
                break;
            }
        }
        Ok(last)
    }

    /// Runs one step for `address`.
    pub async fn step(&self, address: &Address) -> Result<Outcome, ReconcileError> {
        let now = self.clock.now();
        let rec = self
            .store
            .get(address)?
            .ok_or_else(|| ReconcileError::UnknownMailbox(address.clone()))?;
        let step = plan(&rec, now, &self.settings.policy);
        let outcome = match step {
            Step::Idle => return Ok(Outcome::Idle),
            Step::WaitUntil(t) => return Ok(Outcome::Waiting(t)),
            Step::ApplyRequest(q) => self.apply_request(rec, q, now)?,
            Step::StartRenewal => {
                let renew_of = rec.certificate_id;
                let detail = format!("expires {}", fmt_time(rec.not_after));
                let next = next_generation(rec, renew_of);
                self.write(
                    Transition::new(next).event(EventKind::RenewalDue, detail),
                    step,
                    now,
                )?
            }
            Step::Order => self.order(rec, now).await?,
            _ => match self.claim(rec, now)? {
                Some(claimed) => self.act(claimed, step, now).await?,
                None => Outcome::Conflict(step),
            },
        };
        self.metrics.inc("steps", step.name());
        match &outcome {
            Outcome::Failed(s, e) => {
                self.metrics.inc("failures", &e.code);
                tracing::warn!(%address, step = s.name(), code = %e.code, "step failed: {}", e.text);
                let _told = self.notify_if_gave_up(address, s.name(), e).await?;
            }
            Outcome::Done(s) => tracing::info!(%address, step = s.name(), "step done"),
            _ => {}
        }
        Ok(outcome)
    }

    /// Tells the administrator once when `address` has just given up for good: the record's
    /// newest event is the `gave-up` this failure wrote (and no notice follows it yet). The
    /// notice is recorded as an event either way, so it is never repeated for one failure,
    /// and a failing notice never fails the step (PRODUCT.md: the admin is told about
    /// mailboxes that failed permanently; review finding 7).
    ///
    /// Returns whether a notice was due and its outcome recorded (`admin-notified` or
    /// `admin-notice-failed`); false when none was due or no admin address is configured.
    async fn notify_if_gave_up(
        &self,
        address: &Address,
        step: &str,
        error: &PortError,
    ) -> Result<bool, StoreError> {
        let Some(r) = self.store.get(address)? else {
            return Ok(false);
        };
        if !r.failure.gave_up || owed_notice(&self.store.events(address)?).is_none() {
            return Ok(false);
        }
        self.send_notice(&r, step, error).await
    }

    /// Sends one admin notice about `r` and records its outcome as an event.
    async fn send_notice(
        &self,
        r: &MailboxRecord,
        step: &str,
        error: &PortError,
    ) -> Result<bool, StoreError> {
        let address = &r.address;
        let now = self.clock.now();
        let ev = match self.courier.notify_failure(address, step, error).await {
            Ok(false) => return Ok(false),
            Ok(true) => NewEvent::new(EventKind::AdminNotified, format!("{step}: {}", error.code)),
            Err(e) => {
                tracing::warn!(%address, code = %e.code, "cannot tell the admin: {}", e.text);
                NewEvent::new(
                    EventKind::AdminNoticeFailed,
                    format!("{}: {} [{}]", step, e.text, e.code),
                )
            }
        };
        self.store.log_event(address, now, r.generation, &ev)?;
        Ok(true)
    }

    /// Sends the admin notices still owed (see [`owed_notice`]): a give-up whose process died
    /// before its notice went out (every give-up is committed first and told after, so a crash
    /// in between loses the notice, never the record), and a notice that failed (the mail
    /// server was down). Only owed notices whose last event is at least `min_age` old are sent:
    /// the daemon calls this with zero at boot, before its workers start, and then every few
    /// minutes with [`NOTICE_RETRY_AFTER`], which keeps it clear of a worker that is telling
    /// the admin right now. The notice names the stage the record stopped at and its stored
    /// error. Returns how many were sent or recorded as failed (none without
    /// `delivery.admin_address`).
    pub async fn notify_unannounced_give_ups(
        &self,
        min_age: Duration,
    ) -> Result<usize, StoreError> {
        let mut told = 0;
        let now = self.clock.now();
        for r in self.store.list()? {
            if !r.failure.gave_up {
                continue;
            }
            let events = self.store.events(&r.address)?;
            let Some(last) = owed_notice(&events) else {
                continue;
            };
            if now - last.at < min_age {
                continue;
            }
            let error = PortError {
                class: r.failure.class.unwrap_or(ErrorClass::Permanent),
                code: r.failure.code.clone().unwrap_or_else(|| "unknown".into()),
                text: r
                    .failure
                    .text
                    .clone()
                    .unwrap_or_else(|| "no error text stored".into()),
                not_performed: false,
            };
            tracing::info!(address = %r.address, last = %last.kind, "sending an owed admin notice");
            if self.send_notice(&r, r.stage.as_str(), &error).await? {
                told += 1;
            }
        }
        Ok(told)
    }

    /// Commits a transition stamped `now`, mapping a lost race to `Conflict`.
    fn write(
        &self,
        mut t: Transition,
        step: Step,
        now: OffsetDateTime,
    ) -> Result<Outcome, StoreError> {
        t.record.updated_at = now;
        match self.store.commit(t) {
            Ok(_) => Ok(Outcome::Done(step)),
            Err(StoreError::Conflict { .. }) => Ok(Outcome::Conflict(step)),
            Err(e) => Err(e),
        }
    }

    /// Claims the record for this process; `None` if another writer got there first.
    fn claim(
        &self,
        rec: MailboxRecord,
        now: OffsetDateTime,
    ) -> Result<Option<MailboxRecord>, StoreError> {
        let mut r = rec;
        r.lease_owner = Some(self.owner.clone());
        r.lease_until = Some(now + self.settings.lease);
        r.updated_at = now;
        match self.store.commit(Transition::new(r)) {
            Ok(c) => Ok(Some(c)),
            Err(StoreError::Conflict { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// After losing a race mid-step: drop our claim if the record still carries it (a race lost
    /// again only leaves it to expire).
    fn release_claim(&self, address: &Address, now: OffsetDateTime) -> Result<(), StoreError> {
        let released = self.store.update(address, |mut r| {
            if r.lease_owner.as_deref() != Some(self.owner.as_str()) {
                return Ok::<_, StoreError>(Update::Keep(()));
            }
            r.lease_owner = None;
            r.lease_until = None;
            r.updated_at = now;
            Ok(Update::Write(Transition::new(r), ()))
        });
        match released {
            Err(StoreError::Conflict { .. }) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// Stores the result of a claimed step: success clears the claim and the failure overlay;
    /// failure adds to the overlay and schedules the retry.
    fn finish(
        &self,
        step: Step,
        mut t: Transition,
        error: Option<PortError>,
        now: OffsetDateTime,
    ) -> Result<Outcome, StoreError> {
        let address = t.record.address.clone();
        t.record.lease_owner = None;
        t.record.lease_until = None;
        if let Some(e) = &error {
            self.overlay(&mut t.record, e, now);
            let kind = if t.record.failure.gave_up {
                EventKind::GaveUp
            } else {
                EventKind::StepFailed
            };
            t = t.event(kind, format!("{}: {} [{}]", step.name(), e.text, e.code));
        } else {
            t.record = succeeded(t.record);
        }
        match self.write(t, step, now)? {
            Outcome::Conflict(s) => {
                self.release_claim(&address, now)?;
                Ok(Outcome::Conflict(s))
            }
            done => Ok(match error {
                Some(e) => Outcome::Failed(step, e),
                None => done,
            }),
        }
    }

    /// Adds a failure to the record's overlay (cert-manager's backoff: attempts and time
    /// persisted; bounded; jittered).
    fn overlay(&self, r: &mut MailboxRecord, e: &PortError, now: OffsetDateTime) {
        let backoff = self.settings.policy.backoff;
        r.failure.class = Some(e.class);
        r.failure.code = Some(e.code.clone());
        r.failure.text = Some(e.text.clone());
        if e.class == ErrorClass::Budget {
            r.next_attempt_at = Some(next_utc_day(now));
            return;
        }
        r.failure.attempts = r.failure.attempts.saturating_add(1);
        r.failure.gave_up =
            e.class == ErrorClass::Permanent || backoff.exhausted(r.failure.attempts);
        // An unresolved order is retried even after giving up (money may be spent), but never
        // faster than the backoff cap.
        r.next_attempt_at = if r.failure.gave_up && r.stage != Stage::Ordering {
            None
        } else {
            Some(backoff.next_attempt(r.failure.attempts, now, self.sample()))
        };
    }

    /// Writes the order intent (claim + ctid + budget count), then sends the order.
    async fn order(&self, rec: MailboxRecord, now: OffsetDateTime) -> Result<Outcome, StoreError> {
        let step = Step::Order;
        let Some(key_ref) = rec.key_ref.clone() else {
            // Should not happen (key-ready means a key id); regenerating is safe: nothing bought.
            let mut r = rec;
            r.stage = Stage::Discovered;
            return self.write(
                Transition::new(r).event(EventKind::KeyMissing, "no key id; regenerating"),
                step,
                now,
            );
        };
        let contact = match self.ensure_contact().await {
            Ok(c) => c,
            Err(e) => return self.finish(step, Transition::new(rec), Some(e), now),
        };
        let csr = match self.keys.csr(&key_ref, &rec.address) {
            Ok(c) => c,
            Err(e) => return self.finish(step, Transition::new(rec), Some(e), now),
        };
        let ctid = self.new_ctid();
        let mut intent = rec.clone();
        intent.stage = Stage::Ordering;
        intent.ctid = Some(ctid.clone());
        // A failed earlier order's job (kept by `no_order`) is not this order's.
        intent.job_id = None;
        intent.contact_id = Some(contact);
        intent.ordering_since = Some(now);
        intent.lease_owner = Some(self.owner.clone());
        intent.lease_until = Some(now + self.settings.lease);
        intent.next_attempt_at = None;
        intent.updated_at = now;
        let kind = if rec.renew_of.is_some() {
            "replacement"
        } else {
            "first"
        };
        let mut t = Transition::new(intent)
            .event(EventKind::OrderIntent, format!("{kind} order, ctid {ctid}"));
        t.counts_order = Some(self.settings.daily_order_budget);
        let claimed = match self.store.commit(t) {
            Ok(c) => c,
            Err(StoreError::Conflict { .. }) => return Ok(Outcome::Conflict(step)),
            Err(StoreError::BudgetExhausted { limit, day }) => {
                tracing::error!(
                    address = %rec.address, limit, %day,
                    "ALERT: daily order budget spent; no more orders today"
                );
                self.metrics.inc("alerts", "budget-exhausted");
                let e = PortError {
                    class: ErrorClass::Budget,
                    code: "budget-exhausted".into(),
                    text: format!("the daily order budget of {limit} orders for {day} is spent"),
                    not_performed: true,
                };
                return self.finish(step, Transition::new(rec), Some(e), now);
            }
            Err(e) => return Err(e),
        };
        let req = OrderRequest {
            address: &claimed.address,
            csr_pem: &csr,
            ctid: &ctid,
            contact_id: contact,
            renew_of: claimed.renew_of,
        };
        let result = self.autodns.order(&req).await;
        let now = self.clock.now();
        match result {
            Ok(placed) => {
                self.metrics.inc("orders", kind);
                let mut r = claimed;
                r.stage = Stage::Ordered;
                r.job_id = Some(placed.job_id);
                r.certificate_id = placed.certificate_id;
                r.next_attempt_at = match placed.certificate_id {
                    Some(_) => None,
                    None => Some(now + self.settings.policy.job_check_after),
                };
                let t =
                    Transition::new(r).event(EventKind::Ordered, format!("job {}", placed.job_id));
                self.finish(step, t, None, now)
            }
            Err(e) if e.not_performed => {
                if e.code == super::ports::CONTACT_NOT_FOUND {
                    // Forget the stored id: the next order ensures the contact again.
                    if let Err(err) = self.store.set_setting(CONTACT_SETTING, "") {
                        tracing::error!("cannot clear the stored contact id: {err}");
                    }
                }
                let day = claimed.ordering_since.unwrap_or(now).date();
                let mut t = Transition::new(no_order(claimed)).event(
                    EventKind::OrderRefused,
                    format!("AutoDNS refused the order: {}", e.code),
                );
                t.refunds_order = Some(day);
                self.finish(step, t, Some(e), now)
            }
            // Unknown outcome: stay in `ordering`; only a lookup may leave it.
            Err(e) => self.finish(step, Transition::new(claimed), Some(e), now),
        }
    }

    /// Carries out a claimed step with an outside effect.
    async fn act(
        &self,
        rec: MailboxRecord,
        step: Step,
        now: OffsetDateTime,
    ) -> Result<Outcome, StoreError> {
        let address = rec.address.clone();
        let (t, error) = match step {
            Step::GenerateKey => match self.keys.generate(&address, rec.generation).await {
                Ok(key_ref) => {
                    let mut r = rec;
                    r.stage = Stage::KeyReady;
                    r.key_ref = Some(key_ref);
                    let g = r.generation;
                    (
                        Transition::new(r)
                            .event(EventKind::KeyGenerated, format!("generation {g}")),
                        None,
                    )
                }
                Err(e) => (Transition::new(rec), Some(e)),
            },
            Step::ResolveOrder => self.resolve(rec).await,
            Step::CheckJob => self.check_job(rec).await,
            Step::FetchCertificate => self.fetch(rec, now).await,
            Step::Bundle => self.bundle(rec),
            Step::Deliver => return self.deliver(rec).await,
            Step::Revoke => match rec.certificate_id {
                Some(id) => match self.autodns.revoke(id).await {
                    Ok(how) => {
                        let mut r = rec;
                        r.stage = Stage::Revoked;
                        r.request = None;
                        let detail = match how {
                            Revocation::Revoked => format!("certificate {id}"),
                            Revocation::AlreadyGone => format!(
                                "certificate {id} no longer exists at AutoDNS (ended by an \
                                 earlier request)"
                            ),
                        };
                        (Transition::new(r).event(EventKind::Revoked, detail), None)
                    }
                    Err(e) => (Transition::new(rec), Some(e)),
                },
                None => {
                    let mut r = rec;
                    r.stage = Stage::Revoked;
                    r.request = None;
                    (
                        Transition::new(r).event(EventKind::Revoked, "no certificate to revoke"),
                        None,
                    )
                }
            },
            // The planner hands the other steps to `step` directly.
            Step::Idle
            | Step::WaitUntil(_)
            | Step::Order
            | Step::StartRenewal
            | Step::ApplyRequest(_) => (Transition::new(rec), None),
        };
        let now = self.clock.now();
        self.finish(step, t, error, now)
    }

    async fn resolve(&self, rec: MailboxRecord) -> (Transition, Option<PortError>) {
        let since = rec.ordering_since.unwrap_or(rec.created_at);
        let ctid = rec.ctid.clone().unwrap_or_default();
        match self
            .autodns
            .find_order(&rec.address, &ctid, since, rec.renew_of)
            .await
        {
            Ok(Some(found)) => {
                let mut r = rec;
                r.stage = Stage::Ordered;
                r.job_id = found.job_id.or(r.job_id);
                r.certificate_id = if found.issued {
                    found.certificate_id
                } else {
                    None
                };
                r.next_attempt_at = if found.issued {
                    None
                } else {
                    Some(self.clock.now() + self.settings.policy.job_check_after)
                };
                let detail = format!(
                    "job {:?}, certificate {:?}, issued {}",
                    found.job_id, found.certificate_id, found.issued
                );
                (
                    Transition::new(r).event(EventKind::OrderFound, detail),
                    None,
                )
            }
            Ok(None) if self.clock.now() < since + listing_grace(&self.settings) => {
                // Not listed (yet): AutoDNS may list a new order's certificate only when its
                // job runs, or with a delay (an [INFER] in reference/autodns-api.md §6.5).
                // Re-ordering on one empty lookup right after sending could buy twice, so the
                // order stays unresolved until a lookup a job-check interval later still finds
                // nothing (review finding 3).
                let mut r = rec;
                r.next_attempt_at = Some(since + listing_grace(&self.settings));
                let detail = format!(
                    "no order with ctid {ctid} listed yet; looking again at {}",
                    fmt_time(r.next_attempt_at)
                );
                (
                    Transition::new(r).event(EventKind::OrderNotListedYet, detail),
                    None,
                )
            }
            Ok(None) => {
                let detail =
                    format!("no order with ctid {ctid} at AutoDNS; a new order may be sent");
                // Never placed: the intent's budget count is given back.
                let day = since.date();
                let mut t = Transition::new(no_order(rec)).event(EventKind::OrderNotFound, detail);
                t.refunds_order = Some(day);
                (t, None)
            }
            Err(e) => (Transition::new(rec), Some(e)),
        }
    }

    async fn check_job(&self, rec: MailboxRecord) -> (Transition, Option<PortError>) {
        let Some(job) = rec.job_id else {
            return self.check_by_lookup(rec).await;
        };
        let state = match self.autodns.job_state(job).await {
            Ok(s) => s,
            Err(e) => return (Transition::new(rec), Some(e)),
        };
        let later = self.clock.now() + self.settings.policy.job_check_after;
        match state {
            JobState::Pending => {
                let mut r = rec;
                r.next_attempt_at = Some(later);
                (Transition::new(r), None)
            }
            JobState::Succeeded {
                certificate_id: Some(id),
            } => {
                let mut r = rec;
                r.certificate_id = Some(id);
                r.next_attempt_at = None;
                (
                    Transition::new(r).event(EventKind::JobSucceeded, format!("certificate {id}")),
                    None,
                )
            }
            JobState::Succeeded {
                certificate_id: None,
            }
            | JobState::Gone => {
                // The job is done but does not name the certificate: find it by name.
                self.check_by_lookup(rec).await
            }
            JobState::Failed { code, text } => {
                let e = PortError::transient(
                    &format!("job-failed:{code}"),
                    format!("the order's job failed: {text}"),
                );
                let t = Transition::new(no_order(rec))
                    .event(EventKind::JobFailed, format!("{text} [{code}]"));
                (t, Some(e))
            }
        }
    }

    /// An order known to exist whose job cannot be asked (no job id, or the job left the
    /// queue): look it up by name. It is never re-ordered from here: an order that was seen
    /// once and then vanishes needs a person.
    async fn check_by_lookup(&self, rec: MailboxRecord) -> (Transition, Option<PortError>) {
        let since = rec.ordering_since.unwrap_or(rec.created_at);
        let ctid = rec.ctid.clone().unwrap_or_default();
        let later = self.clock.now() + self.settings.policy.job_check_after;
        match self
            .autodns
            .find_order(&rec.address, &ctid, since, rec.renew_of)
            .await
        {
            Ok(Some(found)) if found.issued && found.certificate_id.is_some() => {
                let mut r = rec;
                r.certificate_id = found.certificate_id;
                r.next_attempt_at = None;
                let detail = format!("certificate {:?}", found.certificate_id);
                (
                    Transition::new(r).event(EventKind::JobSucceeded, detail),
                    None,
                )
            }
            Ok(Some(_)) => {
                let mut r = rec;
                r.next_attempt_at = Some(later);
                (Transition::new(r), None)
            }
            Ok(None) => {
                let e = PortError::permanent(
                    "order-vanished",
                    format!(
                        "the order with ctid {ctid} was accepted by AutoDNS but is no longer \
                         listed; check the AutoDNS account before `reprovision`"
                    ),
                );
                (Transition::new(rec), Some(e))
            }
            Err(e) => (Transition::new(rec), Some(e)),
        }
    }

    async fn fetch(
        &self,
        rec: MailboxRecord,
        now: OffsetDateTime,
    ) -> (Transition, Option<PortError>) {
        let (Some(id), Some(key_ref)) = (rec.certificate_id, rec.key_ref.clone()) else {
            let e = PortError::permanent(
                "record-incomplete",
                "no certificate id or key id to fetch with",
            );
            return (Transition::new(rec), Some(e));
        };
        let cert = match self.autodns.fetch_certificate(id).await {
            Ok(c) => c,
            Err(e) => return (Transition::new(rec), Some(e)),
        };
        let facts = match self.keys.check(&key_ref, &rec.address, &cert, now) {
            Ok(f) => f,
            Err(e) => return (Transition::new(rec), Some(e)),
        };
        let mut r = rec;
        r.stage = Stage::Issued;
        r.certificate_pem = Some(cert.certificate_pem);
        r.chain_pem = Some(cert.chain_pem);
        r.not_after = Some(facts.not_after);
        r.serial = Some(facts.serial.clone());
        r.fingerprint = Some(facts.fingerprint_sha256.clone());
        r.bundle_password = None;
        r.bundle_sent_at = None;
        r.delivered_at = None;
        r.next_attempt_at = None;
        let detail = format!(
            "certificate {id}, serial {}, expires {}",
            facts.serial,
            fmt_time(Some(facts.not_after))
        );
        (Transition::new(r).event(EventKind::Issued, detail), None)
    }

    fn stored_certificate(
        rec: &MailboxRecord,
    ) -> Option<(IssuedCertificate, CertificateFacts, String)> {
        Some((
            IssuedCertificate {
                certificate_pem: rec.certificate_pem.clone()?,
                chain_pem: rec.chain_pem.clone().unwrap_or_default(),
            },
            CertificateFacts {
                not_after: rec.not_after?,
                serial: rec.serial.clone()?,
                fingerprint_sha256: rec.fingerprint.clone().unwrap_or_default(),
            },
            rec.key_ref.clone()?,
        ))
    }

    fn bundle(&self, rec: MailboxRecord) -> (Transition, Option<PortError>) {
        let Some((cert, _, key_ref)) = Self::stored_certificate(&rec) else {
            let e = PortError::permanent(
                "record-incomplete",
                "no stored certificate or key to bundle",
            );
            return (Transition::new(rec), Some(e));
        };
        let password = self.keys.password();
        // Build once now so a bundle that cannot be built fails here, not between the mails.
        if let Err(e) = self.keys.bundle(&key_ref, &rec.address, &cert, &password) {
            return (Transition::new(rec), Some(e));
        }
        let mut r = rec;
        r.stage = Stage::Bundled;
        r.bundle_password = Some(password);
        (
            Transition::new(r).event(EventKind::Bundled, "PKCS#12 password chosen"),
            None,
        )
    }

    /// Sends the bundle (once per password), records that, then sends the password.
    async fn deliver(&self, rec: MailboxRecord) -> Result<Outcome, StoreError> {
        let step = Step::Deliver;
        let (Some((cert, facts, key_ref)), Some(password)) =
            (Self::stored_certificate(&rec), rec.bundle_password.clone())
        else {
            // No password held (e.g. edited store): choose a new one.
            let mut r = rec;
            r.stage = Stage::Issued;
            let now = self.clock.now();
            return self.finish(
                step,
                Transition::new(r).event(EventKind::Rebundle, "no password held"),
                None,
                now,
            );
        };
        let mut rec = rec;
        if rec.bundle_sent_at.is_none() {
            let sent = match self.keys.bundle(&key_ref, &rec.address, &cert, &password) {
                Ok(b) => self.courier.send_bundle(&rec.address, &b, &facts).await,
                Err(e) => Err(e),
            };
            let now = self.clock.now();
            if let Err(e) = sent {
                return self.finish(step, Transition::new(rec), Some(e), now);
            }
            let mut r = rec;
            r.bundle_sent_at = Some(now);
            r.updated_at = now;
            let delay = self.settings.password_delay;
            if delay > Duration::ZERO {
                // The password follows later: the planner runs `deliver` again when it is due.
                r.next_attempt_at = Some(now + delay);
                r.lease_owner = None;
                r.lease_until = None;
                let t = Transition::new(r)
                    .event(EventKind::BundleSent, "PKCS#12 mailed; password follows");
                return self.finish(step, t, None, now);
            }
            rec = match self
                .store
                .commit(Transition::new(r).event(EventKind::BundleSent, "PKCS#12 mailed"))
            {
                Ok(r) => r,
                Err(StoreError::Conflict { address }) => {
                    self.release_claim(&address, now)?;
                    return Ok(Outcome::Conflict(step));
                }
                Err(e) => return Err(e),
            };
        }
        let sent = self.courier.send_password(&rec.address, &password).await;
        let now = self.clock.now();
        if let Err(e) = sent {
            return self.finish(step, Transition::new(rec), Some(e), now);
        }
        let mut r = rec;
        r.stage = Stage::Delivered;
        r.delivered_at = Some(now);
        r.bundle_password = None;
        let t = Transition::new(r).event(EventKind::Delivered, "password sent separately");
        let outcome = self.finish(step, t, None, now)?;
        if outcome == Outcome::Done(step) {
            if let Err(e) = self.keys.delivered(&key_ref) {
                tracing::warn!(key = %key_ref, code = %e.code, "cannot retire a delivered key: {}", e.text);
            }
        }
        Ok(outcome)
    }

    /// Carries out an operator request (no remote call).
    fn apply_request(
        &self,
        rec: MailboxRecord,
        q: Request,
        now: OffsetDateTime,
    ) -> Result<Outcome, StoreError> {
        let step = Step::ApplyRequest(q);
        if settled_failure(&rec) {
            // The order gave up for good (vanished, refused by the key check): nothing more will
            // come of it, so the request is applied rather than re-running the failed check,
            // which would fail again at once and loop against AutoDNS (review finding 2).
            let t = match q {
                Request::Reprovision | Request::Renew => {
                    // The certificate this generation replaces, not the failed order's.
                    let of = rec.renew_of;
                    Transition::new(next_generation(rec, of))
                }
                Request::Revoke => {
                    let mut r = reset(rec);
                    r.stage = Stage::Revoked;
                    Transition::new(r)
                }
                Request::Redeliver => {
                    // Nothing was delivered for this generation; keep the failure visible.
                    let mut r = rec;
                    r.request = None;
                    return self.write(
                        Transition::new(r).event(
                            EventKind::RequestDropped,
                            "redeliver: this generation's order failed; nothing to redeliver \
                             (use `reprovision`)",
                        ),
                        step,
                        now,
                    );
                }
            };
            let mut t = t.event(EventKind::RequestApplied, q.as_str());
            t.record.request = None;
            return self.write(t, step, now);
        }
        if matches!(rec.stage, Stage::Ordering | Stage::Ordered) {
            // An order is open: resume it instead of abandoning it (that could buy twice); the
            // request stays pending until the certificate is issued. The backoff is kept: a
            // record that keeps failing must not be re-planned in a tight loop.
            let mut r = rec;
            r.failure = Failure::default();
            if r.next_attempt_at.is_none() {
                let backoff = self.settings.policy.backoff;
                r.next_attempt_at = Some(backoff.next_attempt(1, now, self.sample()));
            }
            return self.write(
                Transition::new(r).event(
                    EventKind::Retry,
                    format!("{q} requested; finishing the open order first"),
                ),
                step,
                now,
            );
        }
        let t = match q {
            Request::Reprovision => {
                let of = rec.certificate_id;
                Transition::new(next_generation(rec, of))
            }
            Request::Renew => {
                let of = rec.certificate_id;
                Transition::new(next_generation(rec, of))
            }
            Request::Redeliver if self.redeliver_refusal(&rec, q).is_some() => {
                // Recorded before the key was wiped, or by an older version: keep the mailbox
                // delivered (and renewing) instead of failing it for good.
                let reason = self.redeliver_refusal(&rec, q).unwrap_or_default();
                let mut r = rec;
                r.request = None;
                return self.write(
                    Transition::new(r)
                        .event(EventKind::RequestDropped, format!("redeliver: {reason}")),
                    step,
                    now,
                );
            }
            Request::Redeliver => {
                let mut r = reset(rec);
                if r.certificate_pem.is_some() {
                    r.stage = Stage::Issued;
                    r.bundle_password = None;
                    r.bundle_sent_at = None;
                    r.delivered_at = None;
                }
                r.next_attempt_at = None;
                Transition::new(r)
            }
            Request::Revoke => {
                let mut r = reset(rec);
                r.stage = Stage::Revoked;
                Transition::new(r)
            }
        };
        let mut t = t.event(EventKind::RequestApplied, q.as_str());
        t.record.request = None;
        self.write(t, step, now)
    }

    /// Why `redeliver` cannot work for `r`: its certificate's key is gone (`keys.archive =
    /// false` wipes it after delivery), so bundling again would fail and leave a delivered
    /// mailbox given up, with no renewal planned (review finding 5).
    fn redeliver_refusal(&self, r: &MailboxRecord, q: Request) -> Option<String> {
        if q != Request::Redeliver || r.certificate_pem.is_none() {
            return None;
        }
        // Mailing an expired certificate would hand the user something every client rejects.
        if let Some(expiry) = r.not_after.filter(|t| *t <= self.clock.now()) {
            return Some(format!(
                "the certificate of generation {} expired on {}; use `renew {}` for a new one",
                r.generation,
                expiry.date(),
                r.address
            ));
        }
        let key_ref = r.key_ref.as_deref()?;
        match self.keys.has_key(key_ref) {
            Ok(true) => None,
            Ok(false) => Some(format!(
                "the private key of generation {} is not archived (keys.archive = false), so its \
                 certificate cannot be bundled again; use `reprovision {}` for a new key and \
                 certificate",
                r.generation, r.address
            )),
            Err(e) => Some(format!(
                "cannot check the key store: {} [{}]; try again",
                e.text, e.code
            )),
        }
    }

    /// Records an operator request on a known mailbox (retrying on a race).
    pub fn request(&self, address: &Address, q: Request) -> Result<(), ReconcileError> {
        let now = self.clock.now();
        self.store
            .update(address, |mut r| {
                let reason = refusal(&r, q).or_else(|| self.redeliver_refusal(&r, q));
                if let Some(reason) = reason {
                    return Err(ReconcileError::Refused {
                        address: address.clone(),
                        request: q,
                        reason,
                    });
                }
                r.request = Some(q);
                r.updated_at = now;
                let t = Transition::new(r).event(EventKind::Requested, q.as_str());
                Ok(Update::Write(t, ()))
            })?
            .ok_or_else(|| ReconcileError::UnknownMailbox(address.clone()))
    }

    /// Makes sure `address` is known and, if it gave up earlier, retries it from where it stopped.
    pub fn provision(&self, address: &Address) -> Result<(), ReconcileError> {
        let now = self.clock.now();
        if self.store.observe_present(address, now)? == crate::store::Observed::CaseVariant {
            let existing = self
                .store
                .list()?
                .into_iter()
                .map(|r| r.address)
                .find(|a| a.as_str().eq_ignore_ascii_case(address.as_str()))
                .unwrap_or_else(|| address.clone());
            return Err(ReconcileError::CaseVariant {
                address: address.clone(),
                existing,
            });
        }
        self.store.update(address, |r| {
            if !r.failure.gave_up {
                return Ok::<_, ReconcileError>(Update::Keep(()));
            }
            let mut r = reset(r);
            r.next_attempt_at = None;
            r.updated_at = now;
            let t = Transition::new(r).event(EventKind::Retry, "provision requested");
            Ok(Update::Write(t, ()))
        })?;
        Ok(())
    }

    /// The one handler for completion notices, whichever way they arrive: the poll consumer
    /// ([`Reconciler::poll_once`]) and the push endpoint (`daemon.rs`) both call this, so what
    /// a completion does cannot drift between the two paths (AutoDNS sends the same message
    /// both ways, `autodns-api.md` §3.5). It stores the job's result on the matching record,
    /// then, when that result is a failed job that made the record give up for good, tells the
    /// administrator once (after the commit, so a notice is never sent for a result that was
    /// not stored). Duplicates and foreign notices change nothing and notify no one.
    pub async fn handle_notice(&self, n: &Notice) -> Result<NoticeHandled, StoreError> {
        let (handled, failure) = self.apply_notice(n)?;
        if let (NoticeHandled::Applied(a), Some(e)) = (&handled, &failure) {
            let _told = self.notify_if_gave_up(a, "job", e).await?;
        }
        Ok(handled)
    }

    /// Stores a notice's result on the matching record (one transaction, retried on a race);
    /// returns what it matched and, for a failed job it applied, the error it recorded.
    fn apply_notice(&self, n: &Notice) -> Result<(NoticeHandled, Option<PortError>), StoreError> {
        let found = match n.job_id {
            Some(job) => self.store.find_by_job(job)?,
            None => None,
        };
        let found = match (found, &n.ctid) {
            (Some(r), _) => Some(r),
            (None, Some(ctid)) => self.store.find_by_ctid(ctid)?,
            (None, None) => None,
        };
        let Some(found) = found else {
            return Ok((NoticeHandled::Foreign, None));
        };
        let address = found.address.clone();
        let applied = self.store.update(&address, |rec| {
            // After a lost race the record is read again: still this notice's order?
            let by_job = n.job_id.is_some() && rec.job_id == n.job_id;
            let by_ctid = n.ctid.is_some() && rec.ctid == n.ctid;
            if !(by_job || by_ctid) {
                return Ok::<_, StoreError>(Update::Keep((NoticeHandled::Foreign, None)));
            }
            let open = matches!(rec.stage, Stage::Ordering | Stage::Ordered)
                && rec.certificate_id.is_none();
            let duplicate = (NoticeHandled::Duplicate(address.clone()), None);
            if !open {
                return Ok(Update::Keep(duplicate));
            }
            let now = self.clock.now();
            let mut failure = None;
            let t = match &n.outcome {
                NoticeOutcome::Other => return Ok(Update::Keep(duplicate)),
                NoticeOutcome::Success => {
                    let mut r = succeeded(rec);
                    r.stage = Stage::Ordered;
                    r.job_id = n.job_id.or(r.job_id);
                    r.certificate_id = n.certificate_id;
                    // Without a certificate id the job check looks it up right away.
                    r.next_attempt_at = None;
                    let detail = format!("job {:?}, certificate {:?}", n.job_id, n.certificate_id);
                    Transition::new(r).event(EventKind::JobSucceeded, detail)
                }
                NoticeOutcome::Failed { code, text } => {
                    let mut r = no_order(rec);
                    // Matched by ctid before the order's answer was stored: keep the failed
                    // job's id all the same, so its repeats are duplicates (see `no_order`).
                    r.job_id = n.job_id.or(r.job_id);
                    let e = PortError::transient(
                        &format!("job-failed:{code}"),
                        format!("the order's job failed: {text}"),
                    );
                    self.overlay(&mut r, &e, now);
                    let kind = if r.failure.gave_up {
                        EventKind::GaveUp
                    } else {
                        EventKind::JobFailed
                    };
                    failure = Some(e);
                    Transition::new(r).event(kind, format!("{text} [{code}]"))
                }
            };
            let mut t = t;
            t.record.updated_at = now;
            Ok(Update::Write(
                t,
                (NoticeHandled::Applied(address.clone()), failure),
            ))
        });
        match applied {
            Ok(Some(v)) => Ok(v),
            Ok(None) | Err(StoreError::Conflict { .. }) => Ok((NoticeHandled::Foreign, None)),
            Err(e) => Err(e),
        }
    }

    /// One poll round: PollInfo, apply (through [`Reconciler::handle_notice`], as a push is),
    /// note in the ledger, then PollConfirm.
    pub async fn poll_once(&self, foreign: ForeignMessages) -> Result<PollRound, PortError> {
        let store_err = |e: StoreError| PortError::transient("store", e.to_string());
        let Some(n) = self.autodns.poll().await? else {
            return Ok(PollRound::Empty);
        };
        let handled = self.handle_notice(&n).await.map_err(store_err)?;
        let now = self.clock.now();
        let Some(id) = n.message_id else {
            return Ok(PollRound::Handled(handled));
        };
        let address = match &handled {
            NoticeHandled::Applied(a) | NoticeHandled::Duplicate(a) => Some(a.clone()),
            NoticeHandled::Foreign => None,
        };
        let first = self
            .store
            .note_poll_message(id, n.job_id, address.as_ref(), handled.name(), now)
            .map_err(store_err)?;
        self.metrics.inc("poll_messages", handled.name());
        if handled == NoticeHandled::Foreign {
            tracing::info!(message = id, job = ?n.job_id, "poll message is not about one of our orders");
            if foreign == ForeignMessages::Leave {
                return Ok(PollRound::Blocked);
            }
        } else if !first {
            tracing::debug!(message = id, "poll message seen before; confirming again");
        }
        self.autodns.confirm(id).await?;
        self.store
            .mark_poll_confirmed(id, self.clock.now())
            .map_err(store_err)?;
        Ok(PollRound::Handled(handled))
    }

    /// The planner's verdict for every record at the current time, for the daemon's scheduler:
    /// addresses with work now, and the earliest future time something is due.
    pub fn due(&self) -> Result<(Vec<Address>, Option<OffsetDateTime>), StoreError> {
        let now = self.clock.now();
        let mut ready = Vec::new();
        let mut next: Option<OffsetDateTime> = None;
        for r in self.store.list()? {
            match plan(&r, now, &self.settings.policy) {
                Step::Idle => {}
                Step::WaitUntil(t) => next = Some(next.map_or(t, |n| n.min(t))),
                _ => ready.push(r.address),
            }
        }
        Ok((ready, next))
    }
}

/// A time for event details and status (RFC 3339, or `-`).
pub fn fmt_time(t: Option<OffsetDateTime>) -> String {
    t.and_then(|t| {
        t.format(&time::format_description::well_known::Rfc3339)
            .ok()
    })
    .unwrap_or_else(|| "-".to_string())
}
