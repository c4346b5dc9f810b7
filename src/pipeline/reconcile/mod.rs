//! Owns the reconciler: reads one mailbox record, asks the planner for the next step, claims the
//! record, calls the port, and commits the transition [`super::transition`] computes from the
//! answer (compare-and-set on the record's version). What each outcome does to the record is
//! decided there, purely; this folder only sequences the IO:
//! - here: the step loop, the claim, and the commit of a finished step;
//! - `steps`: each step's port calls, in the order exactly-once needs;
//! - `requests`: the operator requests the verbs write and the reconciler carries out;
//! - `notices`: completion notices, from the poll consumer and the push endpoint alike;
//! - `admin_notice`: telling the administrator about a give-up, and the sweep of owed notices;
//! - `schedule`: which records have work now, by queue lane, for the daemon's scheduler;
//! - `budget`: the daily order budget: no key without an order left today, one alert a day.
//!
//! Safety rules, each enforced here and tested in `tests/pipeline/reconcile.rs`:
//! - a step with an outside effect first *claims* the record (lease, one transaction), so two
//!   processes never act on one record at once;
//! - an order's intent (ctid, budget count) is that claim: written before CertificateCreate is
//!   sent (cert-manager's venafi issuer stores the pickup id before polling);
//! - an order error that is not a certain refusal leaves the record in `ordering`, which only a
//!   lookup at AutoDNS can leave;
//! - the key is persisted (key-store id on the record) before a CSR is built from it;
//! - a poll message is confirmed only after its result is committed.

mod admin_notice;
mod budget;
mod notices;
mod requests;
mod schedule;
mod steps;

use std::sync::{Arc, Mutex};

use rand::{Rng, RngCore};
use time::OffsetDateTime;

use super::metrics::Metrics;
use super::plan::{plan, Step};
use super::ports::{Autodns, Courier, Keys, PortError};
use super::transition::{self, certificate, StepResult};
use crate::clock::Clock;
use crate::lifecycle::{ErrorClass, Request};
use crate::mailbox::Address;
use crate::store::{MailboxRecord, Store, StoreError, Transition, Update};

pub use super::settings::Settings;
pub use super::status::fmt_time;
pub use super::transition::notice::{MAX_NOTICE_ATTEMPTS, NOTICE_RETRY_AFTER};
pub use budget::BUDGET_ALERT_SETTING;
pub use notices::{ForeignMessages, NoticeHandled, PollRound};
pub use schedule::Due;

/// The setting key under which the AutoDNS SSL contact id is kept.
pub const CONTACT_SETTING: &str = "autodns.contact_id";

/// How every ctid of our orders starts (`smp-` and 24 hex digits), so a poll message can be told
/// ours or foreign without the store (`preflight`).
pub const CTID_PREFIX: &str = "smp-";

/// How many steps one `reconcile` call runs at most before yielding (a bound against a bug
/// that would loop; a full happy path takes 7).
const MAX_STEPS: usize = 16;

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

    /// The keys port.
    pub fn keys(&self) -> &K {
        &self.keys
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

    /// The claim-owner token this reconciler writes on the records it works on.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Overrides the claim-owner token (tests that play two processes in one).
    pub fn with_owner(mut self, owner: &str) -> Self {
        self.owner = owner.to_string();
        self
    }

    /// A backoff jitter sample in `[0, 1)`.
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
        format!("{CTID_PREFIX}{}", hex::encode(bytes))
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
            Step::StartRenewal => self.write(certificate::renewal_started(rec), step, now)?,
            Step::Order => self.order(rec, now).await?,
            Step::GenerateKey => self.generate_key(rec, now).await?,
            _ => match self.claim(rec, now)? {
                Some(claimed) => self.act(claimed, step, now).await?,
                None => Outcome::Conflict(step),
            },
        };
        self.metrics.inc("steps", step.name());
        match &outcome {
            // Held back by the budget: the day's alert said so once; not a failure per mailbox.
            Outcome::Failed(s, e) if e.class == ErrorClass::Budget => {
                tracing::debug!(%address, step = s.name(), "held back: {}", e.text);
            }
            Outcome::Failed(s, e) => {
                self.metrics
                    .inc_labels("step_failures", &[e.class.as_str(), s.name()]);
                tracing::warn!(%address, step = s.name(), code = %e.code, "step failed: {}", e.text);
                let _told = self.notify_if_gave_up(address, s.name(), e).await?;
            }
            Outcome::Done(s) => tracing::info!(%address, step = s.name(), "step done"),
            _ => {}
        }
        Ok(outcome)
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

    /// Commits the result of a claimed step, settled by [`transition::settle`] (claim released,
    /// failure overlay cleared or grown); a lost race drops our claim if it is still there.
    fn finish(
        &self,
        step: Step,
        result: StepResult,
        now: OffsetDateTime,
    ) -> Result<Outcome, StoreError> {
        let address = result.write.record.address.clone();
        let error = result.error.clone();
        let jitter = || self.sample();
        let t = transition::settle(step, result, now, self.settings.policy.backoff, &jitter);
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
}
