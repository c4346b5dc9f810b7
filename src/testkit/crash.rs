//! Simulated process deaths: a [`Tripwire`] counts crash points, and [`Crashy`] wraps any port so
//! each async call passes one before its effect and one after it (the answer lost).

use std::sync::Arc;

use time::OffsetDateTime;

use crate::mailbox::Address;
use crate::pipeline::ports::{
    Autodns, CertificateFacts, Courier, FoundOrder, IssuedCertificate, JobState, Keys, Notice,
    OrderPlaced, OrderRequest, PortError, Revocation,
};
use crate::secret::Secret;

/// A simulated process death: the `at`-th crash point reached (counting from 1) never returns,
/// and `hit` fires so the test can drop the whole reconcile future, as SIGKILL would. Every
/// async port call has a point before its effect and one after it (answer lost).
#[derive(Debug, Default)]
pub struct Tripwire {
    pub at: std::sync::atomic::AtomicUsize,
    pub count: std::sync::atomic::AtomicUsize,
    pub hit: tokio::sync::Notify,
}

impl Tripwire {
    pub async fn point(&self) {
        use std::sync::atomic::Ordering::SeqCst;
        let n = self.count.fetch_add(1, SeqCst) + 1;
        if self.at.load(SeqCst) == n {
            self.hit.notify_one();
            std::future::pending::<()>().await;
        }
    }
    pub fn arm(&self, at: usize) {
        use std::sync::atomic::Ordering::SeqCst;
        self.count.store(0, SeqCst);
        self.at.store(at, SeqCst);
    }
    pub fn points(&self) -> usize {
        self.count.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Wraps a port so each async call passes a crash point before and after its effect.
#[derive(Debug, Clone)]
pub struct Crashy<T> {
    pub inner: T,
    pub trip: Arc<Tripwire>,
}

macro_rules! crashy {
    ($self:ident, $call:expr) => {{
        $self.trip.point().await;
        let r = $call.await;
        $self.trip.point().await;
        r
    }};
}

impl<T: Autodns> Autodns for Crashy<T> {
    async fn ensure_contact(&self) -> Result<i64, PortError> {
        crashy!(self, self.inner.ensure_contact())
    }
    async fn order(&self, req: &OrderRequest<'_>) -> Result<OrderPlaced, PortError> {
        crashy!(self, self.inner.order(req))
    }
    async fn find_order(
        &self,
        address: &Address,
        ctid: &str,
        since: OffsetDateTime,
        exclude: Option<i64>,
    ) -> Result<Option<FoundOrder>, PortError> {
        crashy!(self, self.inner.find_order(address, ctid, since, exclude))
    }
    async fn job_state(&self, job_id: i64) -> Result<JobState, PortError> {
        crashy!(self, self.inner.job_state(job_id))
    }
    async fn fetch_certificate(&self, id: i64) -> Result<IssuedCertificate, PortError> {
        crashy!(self, self.inner.fetch_certificate(id))
    }
    async fn revoke(&self, id: i64) -> Result<Revocation, PortError> {
        crashy!(self, self.inner.revoke(id))
    }
    async fn poll(&self) -> Result<Option<Notice>, PortError> {
        crashy!(self, self.inner.poll())
    }
    async fn confirm(&self, id: i64) -> Result<(), PortError> {
        crashy!(self, self.inner.confirm(id))
    }
}

impl<T: Keys> Keys for Crashy<T> {
    async fn generate(&self, address: &Address, generation: u32) -> Result<String, PortError> {
        crashy!(self, self.inner.generate(address, generation))
    }
    fn csr(&self, key_ref: &str, address: &Address) -> Result<String, PortError> {
        self.inner.csr(key_ref, address)
    }
    fn check(
        &self,
        key_ref: &str,
        address: &Address,
        cert: &IssuedCertificate,
        now: OffsetDateTime,
    ) -> Result<CertificateFacts, PortError> {
        self.inner.check(key_ref, address, cert, now)
    }
    fn password(&self) -> Secret<String> {
        self.inner.password()
    }
    fn bundle(
        &self,
        key_ref: &str,
        address: &Address,
        cert: &IssuedCertificate,
        password: &Secret<String>,
    ) -> Result<Secret<Vec<u8>>, PortError> {
        self.inner.bundle(key_ref, address, cert, password)
    }
}

impl<T: Courier> Courier for Crashy<T> {
    async fn notify_failure(
        &self,
        address: &Address,
        step: &str,
        error: &PortError,
    ) -> Result<bool, PortError> {
        self.inner.notify_failure(address, step, error).await
    }
    async fn send_bundle(
        &self,
        address: &Address,
        display_name: Option<&crate::display_name::DisplayName>,
        bundle: &Secret<Vec<u8>>,
        facts: &CertificateFacts,
    ) -> Result<(), PortError> {
        crashy!(
            self,
            self.inner.send_bundle(address, display_name, bundle, facts)
        )
    }
    async fn send_password(
        &self,
        address: &Address,
        password: &Secret<String>,
    ) -> Result<(), PortError> {
        crashy!(self, self.inner.send_password(address, password))
    }
}
