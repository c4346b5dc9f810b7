//! Owns the operator requests as IO: recording one from a verb ([`Reconciler::request`],
//! [`Reconciler::provision`]) and carrying out a pending one. Whether a request may be recorded
//! and what it does are [`crate::pipeline::transition::request`]'s decisions; the only IO here
//! is the store and the key store's "is this key archived?".

use time::OffsetDateTime;

use super::{Outcome, ReconcileError, Reconciler};
use crate::lifecycle::Request;
use crate::mailbox::Address;
use crate::pipeline::plan::Step;
use crate::pipeline::ports::{Autodns, Courier, Keys};
use crate::pipeline::transition::request::{self, Applied, RedeliverCheck};
use crate::store::{MailboxRecord, Observed, StoreError, Update};

impl<A: Autodns, K: Keys, C: Courier> Reconciler<A, K, C> {
    /// Carries out an operator request (no remote call).
    pub(super) fn apply_request(
        &self,
        rec: MailboxRecord,
        q: Request,
        now: OffsetDateTime,
    ) -> Result<Outcome, StoreError> {
        let jitter = || self.sample();
        let t = match request::apply_request(rec, q, now, &self.settings.policy, &jitter) {
            Applied::Write(t) => t,
            Applied::CheckRedeliver(rec) => {
                let refusal = self.redeliver_refusal(&rec, q);
                request::redeliver_applied(rec, refusal)
            }
        };
        self.write(t, Step::ApplyRequest(q), now)
    }

    /// Why `redeliver` cannot work for `r` now, asking the key store when the record alone
    /// cannot tell.
    fn redeliver_refusal(&self, r: &MailboxRecord, q: Request) -> Option<String> {
        match request::redeliver_check(r, q, self.clock.now()) {
            RedeliverCheck::Fine => None,
            RedeliverCheck::Refused(reason) => Some(reason),
            RedeliverCheck::AskKeyStore(key_ref) => {
                request::key_store_answer(r, self.keys.has_key(&key_ref))
            }
        }
    }

    /// Records an operator request on a known mailbox (retrying on a race).
    pub fn request(&self, address: &Address, q: Request) -> Result<(), ReconcileError> {
        let now = self.clock.now();
        self.store
            .update(address, |r| {
                let reason = request::refusal(&r, q).or_else(|| self.redeliver_refusal(&r, q));
                if let Some(reason) = reason {
                    return Err(ReconcileError::Refused {
                        address: address.clone(),
                        request: q,
                        reason,
                    });
                }
                Ok(Update::Write(request::requested(r, q, now), ()))
            })?
            .ok_or_else(|| ReconcileError::UnknownMailbox(address.clone()))
    }

    /// Makes sure `address` is known and, if it gave up earlier, retries it from where it stopped.
    pub fn provision(&self, address: &Address) -> Result<(), ReconcileError> {
        let now = self.clock.now();
        if self.store.observe_present(address, now)? == Observed::CaseVariant {
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
            Ok::<_, ReconcileError>(match request::retried(r, now) {
                Some(t) => Update::Write(t, ()),
                None => Update::Keep(()),
            })
        })?;
        Ok(())
    }
}
