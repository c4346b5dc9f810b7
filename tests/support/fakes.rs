//! Fakes of the pipeline's ports for the reconciler tests: an in-memory AutoDNS with fault
//! injection and an order ledger, text keys, a recording courier. They implement the same traits
//! as the adapters over the real modules, so the reconciler cannot tell them apart; what they
//! cannot show (real X.509, real mail) the end-to-end tests show against the simulator.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use smime_provisioner::clock::ManualClock;
use smime_provisioner::mailbox::Address;
use smime_provisioner::pipeline::metrics::Metrics;
use smime_provisioner::pipeline::ports::*;
use smime_provisioner::pipeline::{Reconciler, Settings};
use smime_provisioner::secret::Secret;
use smime_provisioner::store::Store;
use time::{Duration, OffsetDateTime};

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
    pub fn disarm(&self) {
        self.at.store(0, std::sync::atomic::Ordering::SeqCst);
    }
    pub fn points(&self) -> usize {
        self.count.load(std::sync::atomic::Ordering::SeqCst)
    }
}

pub const T0: OffsetDateTime = time::macros::datetime!(2026-03-02 09:00 UTC);

pub fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

/// What the next order call does.
#[derive(Debug, Clone)]
pub enum OrderFault {
    /// Refused before processing (HTTP 429).
    RateLimited,
    /// 503 before the order reached the CA: nothing placed, outcome unknown to the caller.
    Unavailable,
    /// The order is placed, but the answer is lost (timeout).
    LostAnswer,
}

#[derive(Debug, Clone)]
pub struct PlacedOrder {
    pub address: Address,
    pub ctid: String,
    pub csr: String,
    pub renew_of: Option<i64>,
    pub job_id: i64,
    pub certificate_id: i64,
    pub placed_at_step: usize,
}

#[derive(Debug, Default)]
pub struct FakeState {
    pub orders: Vec<PlacedOrder>,
    pub order_faults: VecDeque<OrderFault>,
    /// Jobs that fail instead of succeeding, by order number (0-based).
    pub failing_orders: Vec<usize>,
    /// Job ids whose completion has been reported (poll queue or job check).
    pub completed: HashMap<i64, bool>,
    pub poll_queue: VecDeque<Notice>,
    pub confirmed: Vec<i64>,
    pub revoked: Vec<i64>,
    pub calls: usize,
    pub contact_creates: usize,
    pub next_message: i64,
    /// Every job finishes at once when true; otherwise only through `complete_all`.
    pub instant: bool,
    /// Fail every call with this (transient) error while set.
    pub down: Option<PortError>,
    /// Certificates issued for the wrong key (to test the check).
    pub wrong_key: bool,
    /// The next N lookups do not list placed orders yet (AutoDNS listing a new order late).
    pub unlisted_lookups: usize,
}

#[derive(Debug, Clone, Default)]
pub struct FakeAutodns {
    pub state: Arc<Mutex<FakeState>>,
    /// Added to each order call (to make concurrent workers overlap).
    pub order_delay: std::time::Duration,
}

impl FakeAutodns {
    pub fn instant() -> Self {
        let f = FakeAutodns::default();
        f.state.lock().unwrap().instant = true;
        f
    }
    pub fn s(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state.lock().unwrap()
    }
    pub fn order_count(&self) -> usize {
        self.s().orders.len()
    }
    pub fn orders_for(&self, a: &Address) -> usize {
        self.s().orders.iter().filter(|o| &o.address == a).count()
    }
    /// Finishes every open job and queues one poll message per job.
    pub fn complete_all(&self) {
        let mut s = self.s();
        let done: Vec<(i64, String, i64, bool)> = s
            .orders
            .iter()
            .enumerate()
            .filter(|(_, o)| !s.completed.contains_key(&o.job_id))
            .map(|(i, o)| {
                (
                    o.job_id,
                    o.ctid.clone(),
                    o.certificate_id,
                    s.failing_orders.contains(&i),
                )
            })
            .collect();
        for (job, ctid, cert, fails) in done {
            s.completed.insert(job, !fails);
            s.next_message += 1;
            let id = s.next_message;
            s.poll_queue.push_back(Notice {
                message_id: Some(id),
                job_id: Some(job),
                ctid: Some(ctid),
                certificate_id: (!fails).then_some(cert),
                outcome: if fails {
                    NoticeOutcome::Failed {
                        code: "EF400139".into(),
                        text: "CA rejected".into(),
                    }
                } else {
                    NoticeOutcome::Success
                },
            });
        }
    }
    fn call(&self) -> Result<(), PortError> {
        let mut s = self.s();
        s.calls += 1;
        match &s.down {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

impl Autodns for FakeAutodns {
    async fn ensure_contact(&self) -> Result<i64, PortError> {
        self.call()?;
        self.s().contact_creates += 1;
        Ok(4711)
    }

    async fn order(&self, req: &OrderRequest<'_>) -> Result<OrderPlaced, PortError> {
        if !self.order_delay.is_zero() {
            tokio::time::sleep(self.order_delay).await;
        }
        self.call()?;
        let mut s = self.s();
        let fault = s.order_faults.pop_front();
        match fault {
            Some(OrderFault::RateLimited) => {
                return Err(PortError::transient("http-429", "too many requests").refused())
            }
            Some(OrderFault::Unavailable) => {
                return Err(PortError::transient("http-503", "service unavailable"))
            }
            _ => {}
        }
        let n = s.orders.len() as i64;
        let placed = PlacedOrder {
            address: req.address.clone(),
            ctid: req.ctid.to_string(),
            csr: req.csr_pem.to_string(),
            renew_of: req.renew_of,
            job_id: 1000 + n,
            certificate_id: 5000 + n,
            placed_at_step: s.calls,
        };
        let job = placed.job_id;
        s.orders.push(placed);
        let instant = s.instant;
        drop(s);
        if instant {
            self.complete_all();
        }
        if let Some(OrderFault::LostAnswer) = fault {
            return Err(PortError::transient("timeout", "no answer within 30 s"));
        }
        Ok(OrderPlaced {
            job_id: job,
            certificate_id: None,
        })
    }

    async fn find_order(
        &self,
        address: &Address,
        ctid: &str,
        _since: OffsetDateTime,
        exclude: Option<i64>,
    ) -> Result<Option<FoundOrder>, PortError> {
        self.call()?;
        let mut s = self.s();
        if s.unlisted_lookups > 0 {
            s.unlisted_lookups -= 1;
            return Ok(None);
        }
        Ok(s.orders
            .iter()
            .rev()
            .find(|o| &o.address == address && o.ctid == ctid && Some(o.certificate_id) != exclude)
            .map(|o| FoundOrder {
                job_id: Some(o.job_id),
                certificate_id: Some(o.certificate_id),
                issued: s.completed.get(&o.job_id) == Some(&true),
            }))
    }

    async fn job_state(&self, job_id: i64) -> Result<JobState, PortError> {
        self.call()?;
        let s = self.s();
        let Some(o) = s.orders.iter().find(|o| o.job_id == job_id) else {
            return Ok(JobState::Gone);
        };
        Ok(match s.completed.get(&job_id) {
            None => JobState::Pending,
            Some(true) => JobState::Succeeded {
                certificate_id: Some(o.certificate_id),
            },
            Some(false) => JobState::Failed {
                code: "EF400139".into(),
                text: "CA rejected".into(),
            },
        })
    }

    async fn fetch_certificate(&self, certificate_id: i64) -> Result<IssuedCertificate, PortError> {
        self.call()?;
        let s = self.s();
        let o = s
            .orders
            .iter()
            .find(|o| o.certificate_id == certificate_id)
            .ok_or_else(|| PortError::permanent("E400104", "no such certificate"))?;
        let key = if s.wrong_key {
            "someone-else".to_string()
        } else {
            o.csr.replace("CSR ", "")
        };
        Ok(IssuedCertificate {
            certificate_pem: format!("CERT {key} serial={certificate_id}"),
            chain_pem: "CHAIN".into(),
        })
    }

    async fn revoke(&self, certificate_id: i64) -> Result<Revocation, PortError> {
        self.call()?;
        self.s().revoked.push(certificate_id);
        Ok(Revocation::Revoked)
    }

    async fn poll(&self) -> Result<Option<Notice>, PortError> {
        self.call()?;
        Ok(self.s().poll_queue.front().cloned())
    }

    async fn confirm(&self, message_id: i64) -> Result<(), PortError> {
        self.call()?;
        let mut s = self.s();
        s.confirmed.push(message_id);
        if s.poll_queue.front().and_then(|n| n.message_id) == Some(message_id) {
            s.poll_queue.pop_front();
        }
        Ok(())
    }
}

/// Text keys: `key_ref` = "key:ADDRESS:GEN:N"; the CSR and certificate carry the key name, so
/// `check` can tell whether a certificate belongs to the key.
#[derive(Debug, Clone)]
pub struct FakeKeys {
    pub generated: Arc<Mutex<Vec<String>>>,
    pub passwords: Arc<Mutex<u32>>,
    pub clock: Arc<ManualClock>,
    pub lifetime: Duration,
}

impl FakeKeys {
    pub fn new(clock: Arc<ManualClock>) -> Self {
        FakeKeys {
            generated: Arc::default(),
            passwords: Arc::default(),
            clock,
            lifetime: Duration::days(365),
        }
    }
}

impl Keys for FakeKeys {
    async fn generate(&self, address: &Address, generation: u32) -> Result<String, PortError> {
        let mut g = self.generated.lock().unwrap();
        let key = format!("key:{address}:{generation}:{}", g.len());
        g.push(key.clone());
        Ok(key)
    }
    fn csr(&self, key_ref: &str, _address: &Address) -> Result<String, PortError> {
        Ok(format!("CSR {key_ref}"))
    }
    fn check(
        &self,
        key_ref: &str,
        _address: &Address,
        cert: &IssuedCertificate,
        _now: OffsetDateTime,
    ) -> Result<CertificateFacts, PortError> {
        let rest = cert
            .certificate_pem
            .strip_prefix(&format!("CERT {key_ref} serial="))
            .ok_or_else(|| {
                PortError::permanent(
                    "key-mismatch",
                    "the certificate does not match the stored key",
                )
            })?;
        Ok(CertificateFacts {
            not_after: self.clock_now() + self.lifetime,
            serial: format!("{:x}", rest.parse::<i64>().unwrap_or(0)),
            fingerprint_sha256: "00".repeat(32),
        })
    }
    fn password(&self) -> Secret<String> {
        let mut n = self.passwords.lock().unwrap();
        *n += 1;
        Secret::new(format!("pw-{n}"))
    }
    fn bundle(
        &self,
        key_ref: &str,
        _address: &Address,
        cert: &IssuedCertificate,
        password: &Secret<String>,
    ) -> Result<Secret<Vec<u8>>, PortError> {
        Ok(Secret::new(
            format!(
                "P12[{key_ref}|{}|{}]",
                cert.certificate_pem,
                password.expose()
            )
            .into_bytes(),
        ))
    }
}

impl FakeKeys {
    fn clock_now(&self) -> OffsetDateTime {
        use smime_provisioner::clock::Clock;
        self.clock.now()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    Bundle(Address, String),
    Password(Address, String),
    /// A failure notice to the admin: about whom, the step, the error code.
    AdminNotice(Address, String, String),
}

#[derive(Debug, Clone, Default)]
pub struct RecordingCourier {
    pub sent: Arc<Mutex<Vec<Sent>>>,
    /// Fail the next N password sends.
    pub fail_passwords: Arc<Mutex<u32>>,
    /// Fail the next N admin notices (the mail server is down).
    pub fail_notices: Arc<Mutex<u32>>,
    /// While set, an admin notice never completes (the process "dies" sending it); reaching it
    /// fires `notice_reached`.
    pub notices_hang: Arc<Mutex<bool>>,
    pub notice_reached: Arc<tokio::sync::Notify>,
}

impl RecordingCourier {
    pub fn sent(&self) -> Vec<Sent> {
        self.sent.lock().unwrap().clone()
    }
    pub fn bundles_to(&self, a: &Address) -> Vec<String> {
        self.sent()
            .into_iter()
            .filter_map(|s| match s {
                Sent::Bundle(x, b) if &x == a => Some(b),
                _ => None,
            })
            .collect()
    }
    /// The admin failure notices sent so far.
    pub fn admin_notices(&self) -> Vec<Sent> {
        self.sent()
            .into_iter()
            .filter(|m| matches!(m, Sent::AdminNotice(..)))
            .collect()
    }
    pub fn passwords_to(&self, a: &Address) -> Vec<String> {
        self.sent()
            .into_iter()
            .filter_map(|s| match s {
                Sent::Password(x, p) if &x == a => Some(p),
                _ => None,
            })
            .collect()
    }
}

impl Courier for RecordingCourier {
    async fn notify_failure(
        &self,
        address: &Address,
        step: &str,
        error: &PortError,
    ) -> Result<bool, PortError> {
        let hang = *self.notices_hang.lock().unwrap();
        if hang {
            self.notice_reached.notify_one();
            std::future::pending::<()>().await;
        }
        {
            let mut f = self.fail_notices.lock().unwrap();
            if *f > 0 {
                *f -= 1;
                return Err(PortError::transient("smtp-421", "mail server down"));
            }
        }
        self.sent.lock().unwrap().push(Sent::AdminNotice(
            address.clone(),
            step.to_string(),
            error.code.clone(),
        ));
        Ok(true)
    }
    async fn send_bundle(
        &self,
        address: &Address,
        bundle: &Secret<Vec<u8>>,
        _facts: &CertificateFacts,
    ) -> Result<(), PortError> {
        let b = String::from_utf8_lossy(bundle.expose()).to_string();
        self.sent
            .lock()
            .unwrap()
            .push(Sent::Bundle(address.clone(), b));
        Ok(())
    }
    async fn send_password(
        &self,
        address: &Address,
        password: &Secret<String>,
    ) -> Result<(), PortError> {
        {
            let mut f = self.fail_passwords.lock().unwrap();
            if *f > 0 {
                *f -= 1;
                return Err(PortError::transient("smtp-421", "try again later"));
            }
        }
        self.sent
            .lock()
            .unwrap()
            .push(Sent::Password(address.clone(), password.expose().clone()));
        Ok(())
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
        bundle: &Secret<Vec<u8>>,
        facts: &CertificateFacts,
    ) -> Result<(), PortError> {
        crashy!(self, self.inner.send_bundle(address, bundle, facts))
    }
    async fn send_password(
        &self,
        address: &Address,
        password: &Secret<String>,
    ) -> Result<(), PortError> {
        crashy!(self, self.inner.send_password(address, password))
    }
}

pub type TestReconciler =
    Reconciler<Crashy<FakeAutodns>, Crashy<FakeKeys>, Crashy<RecordingCourier>>;

/// A reconciler over fakes with a manual clock and a seeded RNG.
pub struct Rig {
    pub store: Arc<Store>,
    pub autodns: FakeAutodns,
    pub keys: FakeKeys,
    pub courier: RecordingCourier,
    pub clock: Arc<ManualClock>,
    pub trip: Arc<Tripwire>,
    pub rec: TestReconciler,
}

impl Rig {
    pub fn new(autodns: FakeAutodns, settings: Settings) -> Rig {
        Rig::on_store(
            Arc::new(Store::open_in_memory().unwrap()),
            autodns,
            settings,
            7,
        )
    }

    pub fn on_store(store: Arc<Store>, autodns: FakeAutodns, settings: Settings, seed: u64) -> Rig {
        let clock = Arc::new(ManualClock::new(T0));
        let keys = FakeKeys::new(clock.clone());
        Rig::with_parts(
            store,
            autodns,
            keys,
            RecordingCourier::default(),
            clock,
            settings,
            seed,
        )
    }

    /// A reconciler over existing fakes (a "restarted process" shares them with the dead one).
    pub fn with_parts(
        store: Arc<Store>,
        autodns: FakeAutodns,
        keys: FakeKeys,
        courier: RecordingCourier,
        clock: Arc<ManualClock>,
        settings: Settings,
        seed: u64,
    ) -> Rig {
        use rand::SeedableRng;
        let trip = Arc::new(Tripwire::default());
        let rec = Reconciler::new(
            store.clone(),
            Crashy {
                inner: autodns.clone(),
                trip: trip.clone(),
            },
            Crashy {
                inner: keys.clone(),
                trip: trip.clone(),
            },
            Crashy {
                inner: courier.clone(),
                trip: trip.clone(),
            },
            clock.clone(),
            settings,
            Box::new(rand::rngs::StdRng::seed_from_u64(seed)),
            Arc::new(Metrics::default()),
        );
        Rig {
            store,
            autodns,
            keys,
            courier,
            clock,
            trip,
            rec,
        }
    }

    pub fn add(&self, a: &Address) {
        use smime_provisioner::clock::Clock;
        self.store.observe_present(a, self.clock.now()).unwrap();
    }

    pub fn record(&self, a: &Address) -> smime_provisioner::store::MailboxRecord {
        self.store.get(a).unwrap().unwrap()
    }

    pub fn event_kinds(&self, a: &Address) -> Vec<String> {
        self.store
            .events(a)
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }

    /// Reconciles `a`, drains the poll queue, and repeats until nothing changes (bounded).
    pub async fn settle(&self, a: &Address) {
        use smime_provisioner::pipeline::{ForeignMessages, Outcome, PollRound};
        for _ in 0..20 {
            let out = self.rec.reconcile(a).await.unwrap();
            let mut polled = false;
            while let Ok(PollRound::Handled(_)) = self.rec.poll_once(ForeignMessages::Confirm).await
            {
                polled = true;
            }
            if !polled && !matches!(out, Outcome::Done(_) | Outcome::Conflict(_)) {
                break;
            }
        }
    }
}
