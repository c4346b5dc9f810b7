//! Owns the port calls of each step, in the order exactly-once needs: the order's intent is
//! committed before CertificateCreate is sent, an order of unknown outcome is looked up before
//! anything is re-sent, and the bundle mail is recorded before the password mail goes out. What
//! each answer does to the record is [`crate::pipeline::transition`]'s decision.

use time::OffsetDateTime;

use super::{Outcome, Reconciler, CONTACT_SETTING};
use crate::pipeline::plan::Step;
use crate::pipeline::ports::{Autodns, Courier, JobState, Keys, OrderRequest, CONTACT_NOT_FOUND};
use crate::pipeline::status::approval_pending_since;
use crate::pipeline::transition::certificate::{self, BundleSent};
use crate::pipeline::transition::order::{self, JobChecked};
use crate::pipeline::transition::{StepResult, Transition};
use crate::store::{MailboxRecord, StoreError};

impl<A: Autodns, K: Keys, C: Courier> Reconciler<A, K, C> {
    /// Writes the order intent (claim + ctid + budget count), then sends the order.
    pub(super) async fn order(
        &self,
        rec: MailboxRecord,
        now: OffsetDateTime,
    ) -> Result<Outcome, StoreError> {
        let step = Step::Order;
        let Some(key_ref) = rec.key_ref.clone() else {
            return self.write(order::key_missing(rec), step, now);
        };
        let contact = match self.ensure_contact().await {
            Ok(c) => c,
            Err(e) => return self.finish(step, StepResult::failed(rec, e), now),
        };
        let csr = match self.keys.csr(&key_ref, &rec.address) {
            Ok(c) => c,
            Err(e) => return self.finish(step, StepResult::failed(rec, e), now),
        };
        let ctid = self.new_ctid();
        let intent = order::intent(&rec, &ctid, contact, &self.owner, now, &self.settings);
        let claimed = match self.store.commit(intent) {
            Ok(c) => c,
            Err(StoreError::Conflict { .. }) => return Ok(Outcome::Conflict(step)),
            Err(StoreError::BudgetExhausted { limit, day }) => {
                return self.held_back(rec, step, limit, day, now);
            }
            Err(e) => return Err(e),
        };
        self.send_order(claimed, &csr, &ctid, contact).await
    }

    /// Sends the order whose intent is committed, and commits its answer.
    async fn send_order(
        &self,
        claimed: MailboxRecord,
        csr: &str,
        ctid: &str,
        contact: i64,
    ) -> Result<Outcome, StoreError> {
        let req = OrderRequest {
            address: &claimed.address,
            csr_pem: csr,
            ctid,
            contact_id: contact,
            renew_of: claimed.renew_of,
            display_name: claimed.display_name.as_ref(),
        };
        let answer = self.autodns.order(&req).await;
        let now = self.clock.now();
        match &answer {
            Ok(_) => self.metrics.inc("orders", order::order_kind(&claimed)),
            Err(e) if e.not_performed && e.code == CONTACT_NOT_FOUND => {
                // Forget the stored id: the next order ensures the contact again.
                if let Err(err) = self.store.set_setting(CONTACT_SETTING, "") {
                    tracing::error!("cannot clear the stored contact id: {err}");
                }
            }
            Err(_) => {}
        }
        let result = order::answered(claimed, answer, now, &self.settings.policy);
        self.finish(Step::Order, result, now)
    }

    /// Carries out a claimed step with an outside effect.
    pub(super) async fn act(
        &self,
        rec: MailboxRecord,
        step: Step,
        now: OffsetDateTime,
    ) -> Result<Outcome, StoreError> {
        let result = match step {
            // Claimed with an order of the day reserved (`generate_key`).
            Step::GenerateKey => {
                let key = self.keys.generate(&rec.address, rec.generation).await;
                certificate::key_generated(rec, key)
            }
            Step::ResolveOrder => self.resolve(rec).await,
            Step::CheckJob => self.check_job(rec).await,
            Step::FetchCertificate => self.fetch(rec, now).await,
            Step::Bundle => self.bundle(rec),
            Step::Deliver => return self.deliver(rec).await,
            Step::Revoke => self.revoke(rec).await,
            // The planner hands the other steps to `step` directly.
            Step::Idle
            | Step::WaitUntil(_)
            | Step::Order
            | Step::StartRenewal
            | Step::ApplyRequest(_) => StepResult::done(Transition::new(rec)),
        };
        let now = self.clock.now();
        self.finish(step, result, now)
    }

    /// Looks up an order whose outcome is unknown.
    async fn resolve(&self, rec: MailboxRecord) -> StepResult {
        let since = rec.ordering_since.unwrap_or(rec.created_at);
        let ctid = rec.ctid.clone().unwrap_or_default();
        let found = self
            .autodns
            .find_order(&rec.address, &ctid, since, rec.renew_of)
            .await;
        order::looked_up(rec, found, self.clock.now(), &self.settings)
    }

    /// Asks AutoDNS about the order's job (or looks the order up when there is no job to ask).
    async fn check_job(&self, rec: MailboxRecord) -> StepResult {
        let Some(job) = rec.job_id else {
            return self.check_by_lookup(rec).await;
        };
        let state = match self.autodns.job_state(job).await {
            Ok(s) => s,
            Err(e) => return StepResult::failed(rec, e),
        };
        // Read only when it matters: whether the trail already says this job waits for approval.
        let noted = state == JobState::AwaitingApproval
            && match self.store.events(&rec.address) {
                Ok(events) => approval_pending_since(&events, job).is_some(),
                Err(e) => {
                    tracing::warn!(address = %rec.address, "cannot read the audit trail: {e}");
                    true
                }
            };
        match order::job_checked(rec, state, noted, self.clock.now(), &self.settings.policy) {
            JobChecked::Done(result) => result,
            JobChecked::LookUp(rec) => self.check_by_lookup(rec).await,
        }
    }

    /// Looks up by name an order known to exist whose job cannot be asked.
    async fn check_by_lookup(&self, rec: MailboxRecord) -> StepResult {
        let since = rec.ordering_since.unwrap_or(rec.created_at);
        let ctid = rec.ctid.clone().unwrap_or_default();
        let now = self.clock.now();
        let found = self
            .autodns
            .find_order(&rec.address, &ctid, since, rec.renew_of)
            .await;
        order::found_after_job(rec, found, now, &self.settings.policy)
    }

    /// Fetches the issued certificate and checks it against the key.
    async fn fetch(&self, rec: MailboxRecord, now: OffsetDateTime) -> StepResult {
        let (Some(id), Some(key_ref)) = (rec.certificate_id, rec.key_ref.clone()) else {
            return certificate::incomplete(rec, "no certificate id or key id to fetch with");
        };
        let cert = match self.autodns.fetch_certificate(id).await {
            Ok(c) => c,
            Err(e) => return StepResult::failed(rec, e),
        };
        match self.keys.check(&key_ref, &rec.address, &cert, now) {
            Ok(facts) => StepResult::done(certificate::certificate_checked(rec, id, cert, &facts)),
            Err(e) => StepResult::failed(rec, e),
        }
    }

    /// Chooses a PKCS#12 password and builds the bundle once, so a bundle that cannot be built
    /// fails here, not between the two mails.
    fn bundle(&self, rec: MailboxRecord) -> StepResult {
        let Some((cert, _, key_ref)) = certificate::stored_certificate(&rec) else {
            return certificate::incomplete(rec, "no stored certificate or key to bundle");
        };
        let password = self.keys.password();
        if let Err(e) = self.keys.bundle(&key_ref, &rec.address, &cert, &password) {
            return StepResult::failed(rec, e);
        }
        StepResult::done(certificate::bundled(rec, password))
    }

    /// Revokes the record's certificate (a record without one is revoked without a call).
    async fn revoke(&self, rec: MailboxRecord) -> StepResult {
        let Some(id) = rec.certificate_id else {
            return StepResult::done(certificate::nothing_to_revoke(rec));
        };
        match self.autodns.revoke(id).await {
            Ok(how) => StepResult::done(certificate::revoked(rec, id, how)),
            Err(e) => StepResult::failed(rec, e),
        }
    }

    /// Sends the bundle (once per password), records that, then sends the password.
    async fn deliver(&self, rec: MailboxRecord) -> Result<Outcome, StoreError> {
        let step = Step::Deliver;
        let (Some((cert, facts, key_ref)), Some(password)) = (
            certificate::stored_certificate(&rec),
            rec.bundle_password.clone(),
        ) else {
            // No password held (e.g. edited store): choose a new one.
            let now = self.clock.now();
            return self.finish(step, StepResult::done(certificate::rebundle(rec)), now);
        };
        let mut rec = rec;
        if rec.bundle_sent_at.is_none() {
            let sent = match self.keys.bundle(&key_ref, &rec.address, &cert, &password) {
                Ok(b) => {
                    self.courier
                        .send_bundle(&rec.address, rec.display_name.as_ref(), &b, &facts)
                        .await
                }
                Err(e) => Err(e),
            };
            let now = self.clock.now();
            if let Err(e) = sent {
                return self.finish(step, StepResult::failed(rec, e), now);
            }
            rec = match certificate::bundle_sent(rec, now, self.settings.password_delay) {
                // The password follows later: the planner runs `deliver` again when it is due.
                BundleSent::PasswordLater(t) => {
                    return self.finish(step, StepResult::done(t), now);
                }
                BundleSent::PasswordNow(t) => match self.store.commit(t) {
                    Ok(r) => r,
                    Err(StoreError::Conflict { address }) => {
                        self.release_claim(&address, now)?;
                        return Ok(Outcome::Conflict(step));
                    }
                    Err(e) => return Err(e),
                },
            };
        }
        let sent = self.courier.send_password(&rec.address, &password).await;
        let now = self.clock.now();
        if let Err(e) = sent {
            return self.finish(step, StepResult::failed(rec, e), now);
        }
        let done = StepResult::done(certificate::delivered(rec, now));
        let outcome = self.finish(step, done, now)?;
        if outcome == Outcome::Done(step) {
            if let Err(e) = self.keys.delivered(&key_ref) {
                tracing::warn!(key = %key_ref, code = %e.code, "cannot retire a delivered key: {}", e.text);
            }
        }
        Ok(outcome)
    }
}
