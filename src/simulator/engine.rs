//! The simulator's business logic, shared by both transports: validation, contacts, certificate
//! orders and their jobs, the poll queue, searches. The JSON and XML layers parse requests into
//! the neutral inputs below and render [`Reply`] / [`ApiError`] in their own shapes, so a
//! behaviour (e.g. FIFO poll semantics) is written once and is the same on both wires.
//!
//! Codes: success and error status codes are the task code with `S`/`N`/`E` in front
//! (`autodns-api.md` §1.8). Detail codes taken from InterNetX sources: `EF00022` (key not
//! allowed), `EF01000` (value missing), `EF03014` (contact not found), `EF300101` (job no longer
//! active), `EF400139` (the CA rejected the order). Every other `EF…` code here is the
//! simulator's own choice, listed in [`ef`], because no source shows the real one.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};

use rand::rngs::StdRng;
use rand::{Rng, RngCore};
use time::OffsetDateTime;

use super::ca::{inspect_csr, Ca, CsrInfo, CsrProblem, KeyKind};
use super::model::{
    xml_date, ApiMsg, CertSnapshot, Certificate, Contact, History, Job, JobAction, JobOutcome,
    Message, MessageBody, OrderRecord, Owner, Persist, Redacted, State,
};
use super::SimulatorConfig;
use crate::mailbox::Address;

/// Detail (`EF…`) codes. The first five come from InterNetX sources; the rest are the
/// simulator's own, documented here so tests and clients can match on them.
pub mod ef {
    /// A search used a key the object does not have (InterNetX, `exception.md`).
    pub const KEY_NOT_ALLOWED: &str = "EF00022";
    /// A required value is missing (InterNetX, Dart certificate test).
    pub const REQUIRED: &str = "EF01000";
    /// The SSL contact does not exist (InterNetX, Dart contact test).
    pub const CONTACT_NOT_FOUND: &str = "EF03014";
    /// The job is not (or no longer) in the active queue (third-party XML caller).
    pub const JOB_NOT_ACTIVE: &str = "EF300101";
    /// The CA rejected the order (InterNetX, PHP `exception.md`).
    pub const CA_REJECTED: &str = "EF400139";
    /// Simulator: user, password or context wrong.
    pub const AUTHENTICATION: &str = "EF00010";
    /// Simulator: more requests per second than allowed.
    pub const RATE_LIMIT: &str = "EF00030";
    /// Simulator: the request body could not be parsed.
    pub const MALFORMED: &str = "EF00001";
    /// Simulator: the JSON request has no User-Agent header.
    pub const USER_AGENT_MISSING: &str = "EF00003";
    /// Simulator: no such task or route.
    pub const UNKNOWN_TASK: &str = "EF00002";
    /// Simulator: a value is present but not allowed.
    pub const INVALID_VALUE: &str = "EF01001";
    /// Simulator: no such certificate.
    pub const CERTIFICATE_NOT_FOUND: &str = "EF4001041";
    /// Simulator: no such job.
    pub const JOB_NOT_FOUND: &str = "EF3001141";
    /// Simulator: no such poll message.
    pub const MESSAGE_NOT_FOUND: &str = "EF09061";
    /// Simulator: the CSR cannot be parsed.
    pub const CSR_UNPARSABLE: &str = "EF4001101";
    /// Simulator: the CSR names another mailbox than the order.
    pub const CSR_ADDRESS_MISMATCH: &str = "EF4001102";
    /// Simulator: the CSR's key type or size is not allowed.
    pub const CSR_KEY_NOT_ALLOWED: &str = "EF4001103";
    /// Simulator: the CSR's signature does not verify.
    pub const CSR_BAD_SIGNATURE: &str = "EF4001104";
    /// Simulator: a job is already working on this certificate.
    pub const JOB_PENDING: &str = "EF4001061";
    /// Simulator: the certificate is not issued yet.
    pub const NOT_ISSUED: &str = "EF4001062";
    /// Simulator: revoke is not offered for this product.
    pub const REVOKE_UNSUPPORTED: &str = "EF4001031";
    /// Simulator: the contact is still used by a certificate.
    pub const CONTACT_IN_USE: &str = "EF4002031";
}

/// Products this simulator sells: GlobalSign's S/MIME range (`autodns-api.md` §2.14 "Enums").
const MAIL_PRODUCTS: &[&str] = &[
    "GLOBALSIGN_PERSONALSIGN_1",
    "GLOBALSIGN_PERSONALSIGN_2",
    "GLOBALSIGN_PERSONALSIGN_2_PRO",
    "GLOBALSIGN_PERSONALSIGN_2_DEPT",
];
/// Lifetimes accepted for PersonalSign (`autodns-api.md` §4.4, inferred).
const LIFETIMES: &[i64] = &[12, 24, 36];

/// Which wire a request came over (recorded in the order log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Json,
    Xml,
}

/// Per-request facts every task needs.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub transport: Transport,
    pub context: u32,
    pub ctid: Option<String>,
    pub stid: String,
}

/// The kind of object a reply's `object` names; each transport spells it its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ObjKind {
    Certificate,
    Contact,
    Message,
    Job,
}

/// `object` of a reply or error.
#[derive(Debug, Clone)]
pub(crate) struct ObjRef {
    pub kind: ObjKind,
    pub value: Option<String>,
    /// `(id, name, software)` summary of a certificate (JSON `object.data`, certificate info).
    pub cert_summary: Option<(i64, String, String)>,
}

impl ObjRef {
    fn new(kind: ObjKind, value: impl Into<String>) -> ObjRef {
        ObjRef {
            kind,
            value: Some(value.into()),
            cert_summary: None,
        }
    }
}

/// A certificate with everything its rendering needs.
#[derive(Debug, Clone)]
pub(crate) struct CertView {
    pub cert: Certificate,
    pub admin: Option<Contact>,
    pub technical: Option<Contact>,
    /// `(caType, PEM)`: INTERMEDIATE then ROOT, empty before issuance.
    pub chain: Vec<(&'static str, String)>,
    /// `Some(keys)` = list view: only the default columns plus these.
    pub keys: Option<Vec<String>>,
}

/// A job with its status at reply time.
#[derive(Debug, Clone)]
pub(crate) struct JobView {
    pub job: Job,
    pub status: &'static str,
    pub updated: OffsetDateTime,
}

/// What prepareOrder learned from a CSR (`CertificateData`).
#[derive(Debug, Clone)]
pub(crate) struct CertData {
    pub plain: String,
    pub name: Option<String>,
    pub product: Option<String>,
    pub key_size: u32,
    pub algorithm: &'static str,
}

/// One element of a reply's `data`.
#[derive(Debug, Clone)]
pub(crate) enum Item {
    /// `keys` = `Some` for list views.
    Contact {
        contact: Contact,
        keys: Option<Vec<String>>,
    },
    Certificate(Box<CertView>),
    Job(JobView),
    ObjectJob {
        job: JobView,
        cert: Option<Box<CertView>>,
    },
    CertData(CertData),
    Poll {
        message: Message,
        cert: Option<Box<CertView>>,
    },
}

/// A successful answer.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub code: String,
    pub text: String,
    /// `NOTIFY` (asynchronous, a job was started) instead of `SUCCESS`.
    pub notify: bool,
    pub object: Option<ObjRef>,
    pub summary: Option<usize>,
    pub data: Vec<Item>,
    /// Fault injection: the request was carried out, but its answer is never sent (see
    /// [`Faults::drop_create_answers`](super::Faults)).
    pub drop_answer: bool,
}

impl Reply {
    fn ok(code: &str, text: &str) -> Reply {
        Reply {
            code: code.to_string(),
            text: text.to_string(),
            notify: false,
            object: None,
            summary: None,
            data: Vec::new(),
            drop_answer: false,
        }
    }
    fn object(mut self, o: ObjRef) -> Reply {
        self.object = Some(o);
        self
    }
    fn item(mut self, i: Item) -> Reply {
        self.data.push(i);
        self
    }
}

/// An API-level refusal: HTTP status (JSON), `E…` status code and `EF…` details.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub http: u16,
    pub code: String,
    pub text: String,
    pub object: Option<Box<ObjRef>>,
    pub messages: Vec<ApiMsg>,
}

impl ApiError {
    pub fn new(http: u16, task: &str, text: &str, ef: &str, detail: String) -> ApiError {
        ApiError {
            http,
            code: format!("E{task}"),
            text: text.to_string(),
            object: None,
            messages: vec![ApiMsg {
                code: ef.to_string(),
                text: detail,
                objects: Vec::new(),
            }],
        }
    }
    fn with_object(mut self, typ: &str, value: &str) -> ApiError {
        if let Some(m) = self.messages.first_mut() {
            m.objects.push((typ.to_string(), value.to_string()));
        }
        self
    }
    fn about(mut self, o: ObjRef) -> ApiError {
        self.object = Some(Box::new(o));
        self
    }
    /// A required value is missing.
    pub fn required(task: &str, field: &str) -> ApiError {
        ApiError::new(
            400,
            task,
            "The request is incomplete.",
            ef::REQUIRED,
            format!("The value {field} is required."),
        )
        .with_object(field, "")
    }
    /// A value is present but not allowed.
    pub fn invalid(task: &str, field: &str, value: &str, why: &str) -> ApiError {
        ApiError::new(
            400,
            task,
            "The request contains an invalid value.",
            ef::INVALID_VALUE,
            format!("Invalid value for {field}: {why}"),
        )
        .with_object(field, value)
    }
    /// The body could not be parsed.
    pub fn malformed(task: &str, why: &str) -> ApiError {
        ApiError::new(
            400,
            task,
            "The request could not be read.",
            ef::MALFORMED,
            why.to_string(),
        )
    }
    /// Credentials refused. JSON answers 401; the XML gateway keeps HTTP 200.
    pub fn authentication(task: &str) -> ApiError {
        ApiError::new(
            401,
            task,
            "Authentication failed.",
            ef::AUTHENTICATION,
            "Authentication failed: the user, password or context is wrong.".into(),
        )
    }
    /// Too many requests from one address.
    pub fn rate_limited(task: &str, rps: f64) -> ApiError {
        ApiError::new(
            429,
            task,
            "Too many requests.",
            ef::RATE_LIMIT,
            format!(
                "Too many requests: at most {rps} requests per second are allowed per IP address."
            ),
        )
    }
    /// No such task or route.
    pub fn unknown_task(task: &str, what: &str) -> ApiError {
        ApiError::new(
            404,
            task,
            "Unknown task.",
            ef::UNKNOWN_TASK,
            format!("There is no task {what}."),
        )
    }
    fn search_key(task: &str, path: &str, key: &str) -> ApiError {
        ApiError::new(
            400,
            task,
            "The request contains an invalid value.",
            ef::KEY_NOT_ALLOWED,
            "Key not allowed.".into(),
        )
        .with_object(path, key)
    }
}

// ---- neutral inputs ----------------------------------------------------------------------------

/// Certificate fields a request may carry (JSON `Certificate`, XML `<certificate>`).
#[derive(Debug, Clone, Default)]
pub(crate) struct CertInput {
    pub name: Option<String>,
    pub product: Option<String>,
    pub certificate_type: Option<String>,
    pub lifetime_months: Option<i64>,
    pub software: Option<String>,
    pub csr: Option<String>,
    pub has_csr: Option<bool>,
    pub password: Option<Redacted>,
    pub firstname: Option<String>,
    pub lastname: Option<String>,
    pub organization_unit_name: Option<String>,
    pub admin_id: Option<i64>,
    pub technical_id: Option<i64>,
    pub approver_emails: Vec<String>,
}

/// SSL contact fields (JSON `SslContact`, XML `<contact>`).
#[derive(Debug, Clone, Default)]
pub(crate) struct ContactInput {
    pub fname: Option<String>,
    pub lname: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub fax: Option<String>,
    pub title: Option<String>,
    pub organization: Option<String>,
    pub address: Option<Vec<String>>,
    pub pcode: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
    pub state: Option<String>,
}

/// A search condition tree (`Query.filters`, `autodns-api.md` §1.12).
#[derive(Debug, Clone)]
pub(crate) enum Filter {
    Cond {
        path: String,
        key: String,
        op: String,
        value: Option<String>,
        values: Vec<String>,
    },
    And(Vec<Filter>),
    Or(Vec<Filter>),
}

/// A parsed search (`Query` / XML `<view>`, `<where>`, `<key>`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Query {
    pub filter: Option<Filter>,
    pub limit: Option<usize>,
    pub offset: usize,
    /// `(key, descending)`.
    pub orders: Vec<(String, bool)>,
    /// Extra columns (`keys[]`).
    pub keys: Vec<String>,
}

// ---- the engine --------------------------------------------------------------------------------

/// State plus everything needed to act on it.
pub(crate) struct Engine {
    pub cfg: SimulatorConfig,
    state: Mutex<State>,
    ca: Ca,
    rng: Mutex<StdRng>,
    persist: Option<Persist>,
    /// Set when the state changed since the last save; the saver task clears it.
    dirty: AtomicBool,
    /// CertificateCreate answers dropped so far (fault injection).
    dropped_creates: AtomicU32,
    /// Wakes the saver task.
    pub persist_wake: tokio::sync::Notify,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Normalised form of a mailbox for comparisons; falls back to ASCII lower-case of the domain.
fn norm_addr(s: &str) -> String {
    match Address::parse(s) {
        Ok(a) => a.as_str().to_string(),
        Err(_) => s.trim().to_string(),
    }
}

impl Engine {
    pub fn new(
        cfg: SimulatorConfig,
        state: State,
        ca: Ca,
        rng: StdRng,
        persist: Option<Persist>,
    ) -> Engine {
        Engine {
            cfg,
            state: Mutex::new(state),
            ca,
            rng: Mutex::new(rng),
            persist,
            dirty: AtomicBool::new(false),
            dropped_creates: AtomicU32::new(0),
            persist_wake: tokio::sync::Notify::new(),
        }
    }

    pub fn now(&self) -> OffsetDateTime {
        self.cfg.clock.now()
    }

    pub fn chain_pem(&self) -> Vec<String> {
        self.ca.chain_pem()
    }

    /// A random draw in `[0, 1)` from the seeded generator (fault shares).
    pub fn draw(&self) -> f64 {
        lock(&self.rng).random::<f64>()
    }

    /// Checks credentials in constant time per field.
    pub fn authenticate(&self, user: &str, password: &str, context: Option<u32>) -> bool {
        let eq = |a: &[u8], b: &[u8]| a.len() == b.len() && openssl::memcmp::eq(a, b);
        let user_ok = eq(user.as_bytes(), self.cfg.user.as_bytes());
        let pass_ok = eq(password.as_bytes(), self.cfg.password.expose().as_bytes());
        let ctx_ok = context.is_some_and(|c| self.cfg.contexts.contains(&c));
        user_ok & pass_ok & ctx_ok
    }

    /// Starts a request: a fresh stid.
    pub fn begin(&self, transport: Transport, context: u32, ctid: Option<String>) -> Ctx {
        let now = self.now();
        let stid = lock(&self.state).stid(now);
        Ctx {
            transport,
            context,
            ctid,
            stid,
        }
    }

    /// A stid for an answer given before authentication (errors).
    pub fn bare_stid(&self) -> String {
        let now = self.now();
        lock(&self.state).stid(now)
    }

    fn owner(&self, ctx: &Ctx) -> Owner {
        Owner {
            user: self.cfg.user.clone(),
            context: ctx.context,
        }
    }

    /// Marks the state as changed. Saving happens behind the request, in the saver task
    /// ([`Engine::flush`]): serialising the whole state on every request would make each answer
    /// wait for it (measured: ~0.2 s per order with 300 certificates in a debug build).
    fn save(&self, _st: &State) {
        if self.persist.is_some() {
            self.dirty.store(true, Ordering::SeqCst);
            self.persist_wake.notify_one();
        }
    }

    /// Writes the state if it changed since the last write (blocking; run off the async
    /// workers). Changes made while writing set the flag again and are written next round.
    pub fn flush(&self) {
        let Some(p) = &self.persist else { return };
        if !self.dirty.swap(false, Ordering::SeqCst) {
            return;
        }
        let snapshot = lock(&self.state).clone();
        if let Err(e) = p.save(&snapshot) {
            self.dirty.store(true, Ordering::SeqCst);
            tracing::error!(error = %e, "simulator: cannot persist state");
        }
    }

    /// Every order received so far.
    pub fn orders(&self) -> Vec<OrderRecord> {
        lock(&self.state).orders.clone()
    }

    /// When the next unfinished job changes state.
    pub fn next_change(&self) -> Option<OffsetDateTime> {
        lock(&self.state).next_change()
    }

    // ---- jobs ----------------------------------------------------------------------------------

    /// Finishes every job that is due at the clock's `now`, queues its poll messages and returns
    /// the queued job messages (for push). Called by the driver task and before every request,
    /// so a test with a manual clock sees the effect of moving the clock on its next request.
    pub fn advance(&self) -> Vec<Message> {
        let now = self.now();
        let mut st = lock(&self.state);
        let due: Vec<i64> = st
            .jobs
            .values()
            .filter(|j| j.outcome.is_none() && j.due_at <= now)
            .map(|j| j.id)
            .collect();
        if due.is_empty() {
            return Vec::new();
        }
        let mut pushed = Vec::new();
        for id in due {
            if let Some(m) = self.finish_job(&mut st, id, now) {
                pushed.extend(m);
            }
        }
        self.save(&st);
        pushed
    }

    fn planned_failure(&self, name: &str) -> bool {
        let n = norm_addr(name);
        let f = &self.cfg.faults;
        if f.fail_names
            .iter()
            .any(|x| norm_addr(x).eq_ignore_ascii_case(&n))
        {
            return true;
        }
        f.fail_job_share > 0.0 && self.draw() < f.fail_job_share
    }

    fn finish_job(&self, st: &mut State, id: i64, now: OffsetDateTime) -> Option<Vec<Message>> {
        let job = st.jobs.get(&id)?.clone();
        let fails = job.action != JobAction::Delete && self.planned_failure(&job.name);
        let mut messages = Vec::new();
        let mut success = !fails;
        if fails {
            messages.push(ApiMsg {
                code: ef::CA_REJECTED.into(),
                text: "The CA rejected the order: the mailbox validation was not completed (simulated failure)."
                    .into(),
                objects: vec![("Certificate".into(), job.name.clone())],
            });
        }
        let mut snapshot = CertSnapshot {
            id: job.cert_id,
            name: job.name.clone(),
            product: job.product.clone(),
            serial_number: None,
            expire: None,
        };
        if let Some(cert) = st.certificates.get(&job.cert_id).cloned() {
            let mut cert = cert;
            cert.pending_job = None;
            cert.updated = now;
            match (job.action, success) {
                (JobAction::Delete, _) => {
                    st.certificates.remove(&job.cert_id);
                }
                (JobAction::Create, false) => {
                    // A refused order leaves nothing behind to find or renew.
                    st.certificates.remove(&job.cert_id);
                }
                (_, false) => {
                    st.certificates.insert(cert.id, cert);
                }
                (action, true) => {
                    let order_id = self.order_id(now);
                    if action != JobAction::Create {
                        if let Some(serial) = cert.serial_number.take() {
                            cert.histories.push(History {
                                serial_number: serial,
                                order_id: cert.order_id.clone(),
                                revoked: None,
                            });
                        }
                    }
                    cert.order_id = Some(order_id);
                    cert.lifetime_months = job.lifetime_months;
                    match (&job.csr, cert.has_csr) {
                        (Some(csr), true) => {
                            let mut serial = [0u8; 16];
                            lock(&self.rng).fill_bytes(&mut serial);
                            match self
                                .ca
                                .issue(csr, &cert.name, job.lifetime_months, now, serial)
                            {
                                Ok(issued) => {
                                    cert.csr = Some(csr.clone());
                                    cert.server = Some(issued.pem);
                                    cert.serial_number = Some(issued.serial_hex);
                                    cert.expire = Some(issued.not_after);
                                }
                                Err(e) => {
                                    tracing::error!(error = %e, "simulator CA could not sign");
                                    success = false;
                                    messages.push(ApiMsg {
                                        code: ef::CA_REJECTED.into(),
                                        text: format!("The CA could not sign the certificate: {e}"),
                                        objects: vec![("Certificate".into(), job.name.clone())],
                                    });
                                }
                            }
                        }
                        _ => {
                            // has_csr false: GlobalSign generates the key and the user collects the
                            // certificate there; AutoDNS has nothing to put into `server`.
                            cert.server = None;
                            cert.expire = Some(
                                super::ca::add_months(now, job.lifetime_months)
                                    .min(now + time::Duration::days(super::ca::MAX_VALIDITY_DAYS)),
                            );
                        }
                    }
                    snapshot.serial_number = cert.serial_number.clone();
                    snapshot.expire = cert.expire;
                    if success || action != JobAction::Create {
                        st.certificates.insert(cert.id, cert);
                    } else {
                        st.certificates.remove(&job.cert_id);
                    }
                }
            }
        }
        let mut job = job;
        // The CSR lives on in the certificate; finished jobs and their messages need no copy.
        job.csr = None;
        job.outcome = Some(JobOutcome {
            success,
            finished: now,
            messages,
        });
        let status = job.status(now).to_string();
        for o in st.orders.iter_mut().filter(|o| o.job_id == Some(id)) {
            o.status = status.clone();
        }
        st.jobs.insert(id, job.clone());

        let owner = job.owner.clone();
        let mut queued = Vec::new();
        for _ in 0..self.cfg.faults.foreign_messages {
            st.next_foreign += 1;
            let n = st.next_foreign;
            let body = if n % 2 == 0 {
                MessageBody::ForeignDomainJob {
                    job_id: n,
                    domain: format!("unrelated-{n}.example"),
                }
            } else {
                MessageBody::ForeignNotify {
                    notify_type: "domain_away".into(),
                    domain: format!("unrelated-{n}.example"),
                }
            };
            let m = Message {
                id: st.take_msg_id(),
                owner: owner.clone(),
                created: now,
                body,
            };
            st.queue.push_back(m);
        }
        let copies = if self.cfg.faults.duplicate_poll_messages {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let m = Message {
                id: st.take_msg_id(),
                owner: owner.clone(),
                created: now,
                body: MessageBody::CertificateJob {
                    job: Box::new(job.clone()),
                    certificate: snapshot.clone(),
                },
            };
            st.queue.push_back(m.clone());
            queued.push(m);
        }
        Some(queued)
    }

    fn order_id(&self, now: OffsetDateTime) -> String {
        let n: u32 = lock(&self.rng).random_range(0..1_000_000);
        format!(
            "SIM{:04}{:02}{:02}{n:06}",
            now.year(),
            u8::from(now.month()),
            now.day()
        )
    }

    fn job_view(job: &Job, now: OffsetDateTime) -> JobView {
        JobView {
            job: job.clone(),
            status: job.status(now),
            updated: job.updated(now),
        }
    }

    fn cert_view(&self, st: &State, cert: &Certificate, keys: Option<Vec<String>>) -> CertView {
        // Intermediates come back only once the CA issued (`autodns-api.md` §4.5).
        let chain = match (cert.server.is_some(), self.ca.chain_pem().as_slice()) {
            (true, [inter, root]) => vec![("INTERMEDIATE", inter.clone()), ("ROOT", root.clone())],
            _ => Vec::new(),
        };
        CertView {
            cert: cert.clone(),
            admin: st.contacts.get(&cert.admin_id).cloned(),
            technical: cert.technical_id.and_then(|t| st.contacts.get(&t).cloned()),
            chain,
            keys,
        }
    }

    // ---- hello ---------------------------------------------------------------------------------

    /// `GET /hello`: checks connection and credentials only (`autodns-api.md` §1.1).
    pub fn hello(&self) -> Reply {
        Reply::ok(
            "S000000",
            "Hello. The connection and the credentials are fine.",
        )
    }

    // ---- contacts ------------------------------------------------------------------------------

    fn validate_contact(task: &str, c: &ContactInput, creating: bool) -> Result<(), ApiError> {
        if creating {
            for (field, v) in [
                ("fname", &c.fname),
                ("lname", &c.lname),
                ("email", &c.email),
            ] {
                if v.as_deref().is_none_or(|s| s.trim().is_empty()) {
                    return Err(ApiError::required(task, field));
                }
            }
        }
        if let Some(e) = &c.email {
            if Address::parse(e).is_err() {
                return Err(ApiError::invalid(
                    task,
                    "email",
                    e,
                    "not a valid e-mail address",
                ));
            }
        }
        for (field, v) in [("phone", &c.phone), ("fax", &c.fax)] {
            if let Some(p) = v {
                let parts: Vec<&str> = p.strip_prefix('+').unwrap_or("").split('-').collect();
                let ok = parts.len() == 3
                    && parts
                        .iter()
                        .all(|x| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit()));
                if !ok {
                    return Err(ApiError::invalid(
                        task,
                        field,
                        p,
                        "use the form +49-941-1234560",
                    ));
                }
            }
        }
        if let Some(cc) = &c.country {
            if cc.len() != 2 || !cc.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(ApiError::invalid(
                    task,
                    "country",
                    cc,
                    "use an ISO 3166 two-letter code",
                ));
            }
        }
        if let Some(o) = &c.organization {
            if o.chars().count() > 64 {
                return Err(ApiError::invalid(
                    task,
                    "organization",
                    o,
                    "at most 64 characters",
                ));
            }
        }
        Ok(())
    }

    /// SSLContactCreate (400201).
    pub fn contact_create(&self, ctx: &Ctx, input: ContactInput) -> Result<Reply, ApiError> {
        Self::validate_contact("400201", &input, true)?;
        let now = self.now();
        let mut st = lock(&self.state);
        let id = st.take_contact_id();
        let c = Contact {
            id,
            fname: input.fname.unwrap_or_default(),
            lname: input.lname.unwrap_or_default(),
            email: input.email.unwrap_or_default(),
            phone: input.phone,
            fax: input.fax,
            title: input.title,
            organization: input.organization,
            address: input.address.unwrap_or_default(),
            pcode: input.pcode,
            city: input.city,
            country: input.country.map(|c| c.to_ascii_uppercase()),
            state: input.state,
            owner: self.owner(ctx),
            created: now,
            updated: now,
        };
        st.contacts.insert(id, c.clone());
        self.save(&st);
        Ok(
            Reply::ok("S400201", "The SSL contact was created successfully.")
                .object(ObjRef::new(ObjKind::Contact, id.to_string()))
                .item(Item::Contact {
                    contact: c,
                    keys: None,
                }),
        )
    }

    fn contact_not_found(task: &str, id: i64) -> ApiError {
        ApiError::new(
            404,
            task,
            "The SSL contact was not found.",
            ef::CONTACT_NOT_FOUND,
            format!("SSL contact {id} does not exist."),
        )
        .with_object("SslContact", &id.to_string())
        .about(ObjRef::new(ObjKind::Contact, id.to_string()))
    }

    /// SSLContactInfo (400204).
    pub fn contact_info(&self, ctx: &Ctx, id: i64) -> Result<Reply, ApiError> {
        let st = lock(&self.state);
        let c = st
            .contacts
            .get(&id)
            .filter(|c| mine(&c.owner, ctx))
            .cloned()
            .ok_or_else(|| Self::contact_not_found("400204", id))?;
        Ok(Reply::ok(
            "S400204",
            "The SSL contact data were inquired successfully.",
        )
        .object(ObjRef::new(ObjKind::Contact, id.to_string()))
        .item(Item::Contact {
            contact: c,
            keys: None,
        }))
    }

    /// SSLContactUpdate (400202): fields present replace the stored ones.
    pub fn contact_update(
        &self,
        ctx: &Ctx,
        id: i64,
        input: ContactInput,
    ) -> Result<Reply, ApiError> {
        Self::validate_contact("400202", &input, false)?;
        let now = self.now();
        let mut st = lock(&self.state);
        let c = st
            .contacts
            .get_mut(&id)
            .filter(|c| mine(&c.owner, ctx))
            .ok_or_else(|| Self::contact_not_found("400202", id))?;
        let set = |dst: &mut String, v: Option<String>| {
            if let Some(v) = v {
                *dst = v;
            }
        };
        set(&mut c.fname, input.fname);
        set(&mut c.lname, input.lname);
        set(&mut c.email, input.email);
        for (dst, v) in [
            (&mut c.phone, input.phone),
            (&mut c.fax, input.fax),
            (&mut c.title, input.title),
            (&mut c.organization, input.organization),
            (&mut c.pcode, input.pcode),
            (&mut c.city, input.city),
            (
                &mut c.country,
                input.country.map(|c| c.to_ascii_uppercase()),
            ),
            (&mut c.state, input.state),
        ] {
            if v.is_some() {
                *dst = v;
            }
        }
        if let Some(a) = input.address {
            c.address = a;
        }
        c.updated = now;
        let c = c.clone();
        self.save(&st);
        Ok(
            Reply::ok("S400202", "The SSL contact was updated successfully.")
                .object(ObjRef::new(ObjKind::Contact, id.to_string()))
                .item(Item::Contact {
                    contact: c,
                    keys: None,
                }),
        )
    }

    /// SSLContactDelete (400203, code inferred). A contact still named by a certificate stays.
    pub fn contact_delete(&self, ctx: &Ctx, id: i64) -> Result<Reply, ApiError> {
        let mut st = lock(&self.state);
        if !st.contacts.get(&id).is_some_and(|c| mine(&c.owner, ctx)) {
            return Err(Self::contact_not_found("400203", id));
        }
        if let Some(cert) = st
            .certificates
            .values()
            .find(|c| c.admin_id == id || c.technical_id == Some(id))
        {
            return Err(ApiError::new(
                400,
                "400203",
                "The SSL contact is in use.",
                ef::CONTACT_IN_USE,
                format!(
                    "SSL contact {id} is still used by certificate {} ({}).",
                    cert.id, cert.name
                ),
            )
            .with_object("SslContact", &id.to_string()));
        }
        st.contacts.remove(&id);
        self.save(&st);
        Ok(
            Reply::ok("S400203", "The SSL contact was deleted successfully.")
                .object(ObjRef::new(ObjKind::Contact, id.to_string())),
        )
    }

    /// SSLContactList (400205).
    pub fn contact_list(&self, ctx: &Ctx, q: Query) -> Result<Reply, ApiError> {
        const KEYS: &[&str] = &[
            "country",
            "fname",
            "address",
            "city",
            "created",
            "title",
            "lname",
            "phone",
            "organization",
            "state",
            "id",
            "fax",
            "pcode",
            "updated",
            "email",
        ];
        let st = lock(&self.state);
        check_keys("400205", &q, KEYS)?;
        let rows: Vec<&Contact> = st
            .contacts
            .values()
            .filter(|c| mine(&c.owner, ctx))
            .collect();
        let (total, page) = run_query("400205", &q, rows, KEYS, contact_field)?;
        let keys = q.keys.clone();
        let mut r = Reply::ok("S400205", "The SSL contacts were inquired successfully.");
        r.object = Some(ObjRef {
            kind: ObjKind::Contact,
            value: None,
            cert_summary: None,
        });
        r.summary = Some(total);
        r.data = page
            .into_iter()
            .map(|c| Item::Contact {
                contact: c.clone(),
                keys: Some(keys.clone()),
            })
            .collect();
        Ok(r)
    }

    // ---- certificates --------------------------------------------------------------------------

    fn cert_not_found(task: &str, id: i64) -> ApiError {
        ApiError::new(
            404,
            task,
            "The certificate was not found.",
            ef::CERTIFICATE_NOT_FOUND,
            format!("Certificate {id} does not exist."),
        )
        .with_object("Certificate", &id.to_string())
        .about(ObjRef::new(ObjKind::Certificate, id.to_string()))
    }

    /// Checks a CSR for an order on `name`; returns the normalised PEM.
    fn check_csr(task: &str, csr: &str, name: &str) -> Result<CsrInfo, ApiError> {
        let info = inspect_csr(csr).map_err(|p| match p {
            CsrProblem::Unparsable(why) => {
                ApiError::new(400, task, "The CSR is invalid.", ef::CSR_UNPARSABLE, why)
                    .with_object("csr", "")
            }
            CsrProblem::BadSignature => ApiError::new(
                400,
                task,
                "The CSR is invalid.",
                ef::CSR_BAD_SIGNATURE,
                "The CSR's signature does not match its public key.".into(),
            )
            .with_object("csr", ""),
            CsrProblem::KeyNotAllowed(why) => ApiError::new(
                400,
                task,
                "The CSR is invalid.",
                ef::CSR_KEY_NOT_ALLOWED,
                why,
            )
            .with_object("csr", ""),
        })?;
        let want = norm_addr(name);
        if info.addresses.is_empty() {
            return Err(ApiError::new(
                400,
                task,
                "The CSR does not match the order.",
                ef::CSR_ADDRESS_MISMATCH,
                format!("The CSR names no mailbox; it must carry {name} as CN, emailAddress or SAN rfc822Name."),
            )
            .with_object("csr", name));
        }
        if let Some(other) = info.addresses.iter().find(|a| norm_addr(a) != want) {
            return Err(ApiError::new(
                400,
                task,
                "The CSR does not match the order.",
                ef::CSR_ADDRESS_MISMATCH,
                format!("The CSR names {other}, but the order is for {name}."),
            )
            .with_object("csr", other));
        }
        Ok(info)
    }

    fn check_password(task: &str, p: &Redacted) -> Result<(), ApiError> {
        // 8-32 ASCII letters and digits ([PHP-MODEL], `autodns-api.md` §4.2).
        let s = &p.0;
        if (8..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(())
        } else {
            Err(ApiError::invalid(
                task,
                "password",
                "",
                "8 to 32 letters and digits",
            ))
        }
    }

    fn record_order(
        &self,
        st: &mut State,
        ctx: &Ctx,
        task: &str,
        name: &str,
        input: &CertInput,
        res: &Result<(i64, i64, &'static str), ApiError>,
    ) {
        let (job_id, cert_id, status, error) = match res {
            Ok((job, cert, status)) => (Some(*job), Some(*cert), status.to_string(), None),
            Err(e) => (
                None,
                None,
                "REJECTED".to_string(),
                e.messages.first().map(|m| m.code.clone()),
            ),
        };
        st.orders.push(OrderRecord {
            task: task.to_string(),
            name: name.to_string(),
            ctid: ctx.ctid.clone(),
            job_id,
            certificate_id: cert_id,
            status,
            error,
            has_csr: input.has_csr.unwrap_or(false),
            transport: match ctx.transport {
                Transport::Json => "json".into(),
                Transport::Xml => "xml".into(),
            },
            product: input.product.clone(),
            received_at: self.now(),
        });
    }

    fn new_job(
        &self,
        st: &mut State,
        ctx: &Ctx,
        action: JobAction,
        cert: &Certificate,
        csr: Option<String>,
        months: i64,
    ) -> Job {
        let now = self.now();
        let deferred = self.cfg.faults.deferred_for;
        let deferred_until = (!deferred.is_zero()).then(|| now + deferred);
        let job = Job {
            id: st.take_job_id(),
            action,
            cert_id: cert.id,
            name: cert.name.clone(),
            product: cert.product.clone(),
            owner: self.owner(ctx),
            ctid: ctx.ctid.clone(),
            stid: ctx.stid.clone(),
            created: now,
            deferred_until,
            due_at: now + deferred + self.cfg.issuance_delay,
            csr,
            lifetime_months: months,
            outcome: None,
        };
        st.jobs.insert(job.id, job.clone());
        job
    }

    fn job_reply(code: &str, text: &str, name: &str, job: &Job, now: OffsetDateTime) -> Reply {
        let mut r = Reply::ok(code, text).object(ObjRef::new(ObjKind::Certificate, name));
        r.notify = true;
        // The create reply reports the job as RUNNING, as every sample does; a DEFERRED phase
        // shows in job info (`autodns-api.md` §2.4, §2.12).
        let mut view = Self::job_view(job, now);
        view.status = "RUNNING";
        r.item(Item::Job(view))
    }

    /// CertificateCreate (400101): validates, creates the certificate record (no PEM yet) and a
    /// job that finishes after `deferred_for + issuance_delay`.
    pub fn cert_create(&self, ctx: &Ctx, input: CertInput) -> Result<Reply, ApiError> {
        let mut st = lock(&self.state);
        let res = self.cert_create_inner(&mut st, ctx, &input);
        let name = input.name.clone().unwrap_or_default();
        let rec = res
            .as_ref()
            .map(|(_, j)| (j.id, j.cert_id, "RUNNING"))
            .map_err(Clone::clone);
        self.record_order(&mut st, ctx, "create", &name, &input, &rec);
        self.save(&st);
        let (mut r, _) = res?;
        // Fault: the first `drop_create_answers` placed orders lose their answer. The order
        // stands and its job runs; only the client is left not knowing (the lost-answer case
        // the pipeline's order lookup exists for).
        let limit = self.cfg.faults.drop_create_answers;
        r.drop_answer = self
            .dropped_creates
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < limit).then_some(n + 1)
            })
            .is_ok();
        Ok(r)
    }

    fn cert_create_inner(
        &self,
        st: &mut State,
        ctx: &Ctx,
        input: &CertInput,
    ) -> Result<(Reply, Job), ApiError> {
        const T: &str = "400101";
        let now = self.now();
        let product = input
            .product
            .clone()
            .ok_or_else(|| ApiError::required(T, "product"))?;
        if !MAIL_PRODUCTS.contains(&product.as_str()) {
            return Err(ApiError::invalid(
                T,
                "product",
                &product,
                "this simulator sells only GlobalSign PersonalSign (S/MIME) products",
            ));
        }
        match input.certificate_type.as_deref() {
            Some("MAIL") => {}
            None => return Err(ApiError::required(T, "certificateType")),
            Some(other) => {
                return Err(ApiError::invalid(
                    T,
                    "certificateType",
                    other,
                    "S/MIME products need MAIL",
                ))
            }
        }
        let name = input
            .name
            .clone()
            .ok_or_else(|| ApiError::required(T, "name"))?;
        let address = Address::parse(&name).map_err(|e| {
            ApiError::invalid(
                T,
                "name",
                &name,
                &format!("the name of a MAIL certificate is the mailbox address ({e})"),
            )
        })?;
        let months = input
            .lifetime_months
            .ok_or_else(|| ApiError::required(T, "lifetime"))?;
        if !LIFETIMES.contains(&months) {
            return Err(ApiError::invalid(
                T,
                "lifetime",
                &months.to_string(),
                "12, 24 or 36 months",
            ));
        }
        let admin_id = input
            .admin_id
            .ok_or_else(|| ApiError::required(T, "adminContact"))?;
        let visible = |id: i64| st.contacts.get(&id).is_some_and(|c| mine(&c.owner, ctx));
        if !visible(admin_id) {
            return Err(Self::contact_not_found(T, admin_id));
        }
        if let Some(t) = input.technical_id {
            if !visible(t) {
                return Err(Self::contact_not_found(T, t));
            }
        }
        for a in &input.approver_emails {
            if norm_addr(a) != address.as_str() {
                return Err(ApiError::invalid(
                    T,
                    "approverEmail",
                    a,
                    "a mailbox-validated certificate is approved by the mailbox itself",
                ));
            }
        }
        let has_csr = input.has_csr.unwrap_or(false);
        if let Some(p) = &input.password {
            Self::check_password(T, p)?;
        } else if !has_csr {
            // Without our own CSR the user collects key and certificate from GlobalSign with this
            // password (`seed-smime-ordering.txt`), so it cannot be missing.
            return Err(ApiError::required(T, "password"));
        }
        let csr = if has_csr {
            let csr = input
                .csr
                .as_deref()
                .ok_or_else(|| ApiError::required(T, "csr"))?;
            Some(Self::check_csr(T, csr, address.as_str())?.pem)
        } else {
            None
        };
        let cert = Certificate {
            id: st.take_cert_id(),
            name: address.as_str().to_string(),
            product: product.clone(),
            certificate_type: "MAIL".into(),
            lifetime_months: months,
            software: input.software.clone().unwrap_or_else(|| "NOT_SET".into()),
            admin_id,
            technical_id: input.technical_id,
            has_csr,
            csr: csr.clone(),
            password: input.password.clone(),
            firstname: input.firstname.clone(),
            lastname: input.lastname.clone(),
            organization_unit_name: input.organization_unit_name.clone(),
            approver_email: address.as_str().to_string(),
            server: None,
            serial_number: None,
            order_id: None,
            expire: None,
            histories: Vec::new(),
            pending_job: None,
            owner: self.owner(ctx),
            created: now,
            updated: now,
        };
        let job = self.new_job(st, ctx, JobAction::Create, &cert, csr, months);
        let mut cert = cert;
        cert.pending_job = Some(job.id);
        st.certificates.insert(cert.id, cert);
        let r = Self::job_reply(
            "N400101",
            "The certificate order was started successfully.",
            address.as_str(),
            &job,
            now,
        );
        Ok((r, job))
    }

    /// CertificateInfo (400104).
    pub fn cert_info(&self, ctx: &Ctx, id: i64) -> Result<Reply, ApiError> {
        let st = lock(&self.state);
        let cert = st
            .certificates
            .get(&id)
            .filter(|c| mine(&c.owner, ctx))
            .ok_or_else(|| Self::cert_not_found("400104", id))?;
        let view = self.cert_view(&st, cert, None);
        let mut obj = ObjRef::new(ObjKind::Certificate, cert.name.clone());
        obj.cert_summary = Some((cert.id, cert.name.clone(), cert.software.clone()));
        Ok(Reply::ok(
            "S400104",
            "The certificate data were inquired successfully.",
        )
        .object(obj)
        .item(Item::Certificate(Box::new(view))))
    }

    /// CertificateList (400105).
    pub fn cert_list(&self, ctx: &Ctx, q: Query) -> Result<Reply, ApiError> {
        const KEYS: &[&str] = &[
            "product",
            "technical",
            "orderid",
            "created",
            "admin",
            "certificatetype",
            "expire",
            "domain",
            "name",
            "comment",
            "id",
            "updated",
            "authentication",
            "serialnumber",
        ];
        let st = lock(&self.state);
        check_keys("400105", &q, KEYS)?;
        // Fault: a first order whose job has not finished is not listed yet (the delayed
        // listing the reference leaves open, `autodns-api.md` §3.2 and §6.5: the certificate id
        // comes from the job's poll message, list-by-name is only a fallback).
        let unlisted = |c: &Certificate| {
            self.cfg.faults.unlisted_until_issued && c.pending_job.is_some() && c.order_id.is_none()
        };
        let rows: Vec<&Certificate> = st
            .certificates
            .values()
            .filter(|c| mine(&c.owner, ctx) && !unlisted(c))
            .collect();
        let (total, page) = run_query("400105", &q, rows, KEYS, cert_field)?;
        let mut r = Reply::ok("S400105", "The certificates were inquired successfully.");
        r.object = Some(ObjRef {
            kind: ObjKind::Certificate,
            value: None,
            cert_summary: None,
        });
        r.summary = Some(total);
        r.data = page
            .into_iter()
            .map(|c| Item::Certificate(Box::new(self.cert_view(&st, c, Some(q.keys.clone())))))
            .collect();
        Ok(r)
    }

    fn issued_cert_for_job(
        &self,
        st: &State,
        ctx: &Ctx,
        task: &str,
        id: i64,
    ) -> Result<Certificate, ApiError> {
        let cert = st
            .certificates
            .get(&id)
            .filter(|c| mine(&c.owner, ctx))
            .cloned()
            .ok_or_else(|| Self::cert_not_found(task, id))?;
        if let Some(j) = cert.pending_job {
            return Err(ApiError::new(
                400,
                task,
                "The certificate is busy.",
                ef::JOB_PENDING,
                format!("Job {j} is still working on certificate {id}; wait for its poll message."),
            )
            .with_object("Certificate", &id.to_string()));
        }
        if cert.order_id.is_none() {
            return Err(ApiError::new(
                400,
                task,
                "The certificate is not issued.",
                ef::NOT_ISSUED,
                format!("Certificate {id} has not been issued."),
            ));
        }
        Ok(cert)
    }

    /// CertificateRenew (400106) and CertificateReissue (400102): a new job on an existing
    /// certificate; a new CSR (if given) must name the same mailbox.
    pub fn cert_renew_or_reissue(
        &self,
        ctx: &Ctx,
        id: i64,
        input: CertInput,
        action: JobAction,
    ) -> Result<Reply, ApiError> {
        let (task, code, text, log) = match action {
            JobAction::Reissue => (
                "400102",
                "N400102",
                "The certificate reissue was started successfully.",
                "reissue",
            ),
            _ => (
                "400106",
                "N400106",
                "The certificate renewal was started successfully.",
                "renew",
            ),
        };
        let now = self.now();
        let mut st = lock(&self.state);
        let res = (|| {
            let cert = self.issued_cert_for_job(&st, ctx, task, id)?;
            let months = match input.lifetime_months {
                Some(m) if !LIFETIMES.contains(&m) => {
                    return Err(ApiError::invalid(
                        task,
                        "lifetime",
                        &m.to_string(),
                        "12, 24 or 36 months",
                    ))
                }
                Some(m) => m,
                None => cert.lifetime_months,
            };
            let csr = match (&input.csr, cert.has_csr) {
                (Some(c), true) => Some(Self::check_csr(task, c, &cert.name)?.pem),
                (None, true) if action == JobAction::Reissue => {
                    return Err(ApiError::required(task, "csr"))
                }
                (None, true) => cert.csr.clone(),
                (_, false) => None,
            };
            Ok((cert, csr, months))
        })();
        let mut rec_input = input.clone();
        let name = match &res {
            Ok((c, _, _)) => {
                rec_input.has_csr = Some(c.has_csr);
                rec_input.product = Some(c.product.clone());
                c.name.clone()
            }
            Err(_) => input.name.clone().unwrap_or_else(|| id.to_string()),
        };
        let res = res.map(|(cert, csr, months)| {
            let job = self.new_job(&mut st, ctx, action, &cert, csr, months);
            if let Some(c) = st.certificates.get_mut(&id) {
                c.pending_job = Some(job.id);
            }
            job
        });
        let rec = res
            .as_ref()
            .map(|j| (j.id, j.cert_id, "RUNNING"))
            .map_err(Clone::clone);
        self.record_order(&mut st, ctx, log, &name, &rec_input, &rec);
        self.save(&st);
        let job = res?;
        Ok(Self::job_reply(code, text, &name, &job, now))
    }

    /// CertificateDelete (400103): cancels the certificate through a job.
    pub fn cert_delete(&self, ctx: &Ctx, id: i64) -> Result<Reply, ApiError> {
        const T: &str = "400103";
        let now = self.now();
        let mut st = lock(&self.state);
        let cert = st
            .certificates
            .get(&id)
            .filter(|c| mine(&c.owner, ctx))
            .cloned()
            .ok_or_else(|| Self::cert_not_found(T, id))?;
        if let Some(j) = cert.pending_job {
            return Err(ApiError::new(
                400,
                T,
                "The certificate is busy.",
                ef::JOB_PENDING,
                format!("Job {j} is still working on certificate {id}."),
            ));
        }
        let months = cert.lifetime_months;
        let job = self.new_job(&mut st, ctx, JobAction::Delete, &cert, None, months);
        if let Some(c) = st.certificates.get_mut(&id) {
            c.pending_job = Some(job.id);
        }
        self.save(&st);
        Ok(Self::job_reply(
            "N400103",
            "The certificate deletion was started successfully.",
            &cert.name,
            &job,
            now,
        ))
    }

    /// CertificateRevoke (4001031): per InterNetX's German manual revoke is offered only for
    /// Thawte, GeoTrust and DigiCert after a reissue (`autodns-api.md` §2.10); every certificate
    /// here is GlobalSign, so the simulator refuses it, pointing at CertificateDelete.
    pub fn cert_revoke(&self, ctx: &Ctx, id: i64, _input: CertInput) -> Result<Reply, ApiError> {
        const T: &str = "4001031";
        let st = lock(&self.state);
        let cert = st
            .certificates
            .get(&id)
            .filter(|c| mine(&c.owner, ctx))
            .ok_or_else(|| Self::cert_not_found(T, id))?;
        Err(ApiError::new(
            400,
            T,
            "The certificate cannot be revoked.",
            ef::REVOKE_UNSUPPORTED,
            format!(
                "Revoke is not offered for {} certificates; cancel the certificate with CertificateDelete (400103) instead.",
                cert.product
            ),
        )
        .with_object("Certificate", &id.to_string()))
    }

    /// CertificatePrepareOrder (400110): parses the CSR and returns what the order needs; for
    /// a mailbox certificate the only validation is the approval mail to the mailbox itself.
    pub fn cert_prepare(
        &self,
        csr: Option<&str>,
        product: Option<String>,
    ) -> Result<Reply, ApiError> {
        const T: &str = "400110";
        let csr = csr.ok_or_else(|| ApiError::required(T, "plain"))?;
        let info = inspect_csr(csr).map_err(|p| match p {
            CsrProblem::Unparsable(why) => {
                ApiError::new(400, T, "The CSR is invalid.", ef::CSR_UNPARSABLE, why)
            }
            CsrProblem::BadSignature => ApiError::new(
                400,
                T,
                "The CSR is invalid.",
                ef::CSR_BAD_SIGNATURE,
                "The CSR's signature does not match its public key.".into(),
            ),
            CsrProblem::KeyNotAllowed(why) => {
                ApiError::new(400, T, "The CSR is invalid.", ef::CSR_KEY_NOT_ALLOWED, why)
            }
        })?;
        let (key_size, algorithm) = match info.key {
            KeyKind::Rsa { bits } => (bits, "RSA"),
            KeyKind::Ec {
                curve: "P-384",
                bits,
            } => (bits, "SECP_384_R1"),
            KeyKind::Ec { bits, .. } => (bits, "PRIME_256_V1"),
        };
        let data = CertData {
            plain: info.pem,
            name: info.addresses.first().map(|a| norm_addr(a)),
            product,
            key_size,
            algorithm,
        };
        Ok(Reply::ok("S400110", "The order was prepared successfully.").item(Item::CertData(data)))
    }

    // ---- job info ------------------------------------------------------------------------------

    /// Job info (JSON `GET /job/{id}`, XML 400114). Only unfinished jobs are in the active queue;
    /// a finished one answers `EF300101` and is found with [`Engine::job_history`].
    pub fn job_info(
        &self,
        ctx: &Ctx,
        id: i64,
        task: &str,
        ok_code: &str,
    ) -> Result<Reply, ApiError> {
        let now = self.now();
        let st = lock(&self.state);
        let job = st
            .jobs
            .get(&id)
            .filter(|j| mine(&j.owner, ctx))
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    task,
                    "The job was not found.",
                    ef::JOB_NOT_FOUND,
                    format!("Job {id} does not exist."),
                )
                .with_object("Job", &id.to_string())
            })?;
        if job.outcome.is_some() {
            return Err(ApiError::new(
                404,
                task,
                "The job is no longer active.",
                ef::JOB_NOT_ACTIVE,
                format!("Job {id} has finished; look it up in the job history."),
            )
            .with_object("Job", &id.to_string()));
        }
        Ok(self.object_job_reply(&st, job, ok_code, now))
    }

    /// Finished (and running) jobs (JSON `GET /job/history/{id}`).
    pub fn job_history(&self, ctx: &Ctx, id: i64) -> Result<Reply, ApiError> {
        let now = self.now();
        let st = lock(&self.state);
        let job = st
            .jobs
            .get(&id)
            .filter(|j| mine(&j.owner, ctx))
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    "300114",
                    "The job was not found.",
                    ef::JOB_NOT_FOUND,
                    format!("Job {id} does not exist."),
                )
                .with_object("Job", &id.to_string())
            })?;
        Ok(self.object_job_reply(&st, job, "S300114", now))
    }

    /// Certificate job list (JSON `POST /job/_search`, XML 400115) or job history list (JSON
    /// `POST /job/history/_search`, XML 400135), `autodns-api.md` §2.12: the context's jobs not
    /// finished yet, or the finished ones, filtered, sorted and paged by the `Query` (§1.12).
    /// The filter keys are the ones §2.12 lists; `object` is the certificate name. A ctid is not
    /// a documented key and is refused like any unknown key (`EF00022`).
    ///
    /// Inferred: the success code (`S300115` for JSON as the manual shows; the XML gateway
    /// answers with its task code, `S400115` / `S400135`); JSON items carry the certificate in
    /// `object.data` as job info does, XML items only the `<job>` the manual's example shows.
    pub fn job_list(&self, ctx: &Ctx, q: Query, history: bool) -> Result<Reply, ApiError> {
        const KEYS: &[&str] = &[
            "parent",
            "execution",
            "substatus",
            "type",
            "created",
            "id",
            "updated",
            "status",
            "object",
            "action",
        ];
        let (task, code) = match (history, ctx.transport) {
            (false, Transport::Json) => ("300115", "S300115"),
            (true, Transport::Json) => ("300135", "S300115"),
            (false, Transport::Xml) => ("400115", "S400115"),
            (true, Transport::Xml) => ("400135", "S400135"),
        };
        let now = self.now();
        let st = lock(&self.state);
        check_keys(task, &q, KEYS)?;
        let rows: Vec<&Job> = st
            .jobs
            .values()
            .filter(|j| mine(&j.owner, ctx) && j.outcome.is_some() == history)
            .collect();
        let (total, page) = run_query(task, &q, rows, KEYS, |j, k| job_field(j, k, now))?;
        let mut r = Reply::ok(code, "The job list was inquired successfully.");
        r.object = Some(ObjRef {
            kind: ObjKind::Job,
            value: None,
            cert_summary: None,
        });
        r.summary = Some(total);
        r.data = page
            .into_iter()
            .map(|j| Item::ObjectJob {
                job: Self::job_view(j, now),
                cert: match ctx.transport {
                    Transport::Json => st
                        .certificates
                        .get(&j.cert_id)
                        .map(|c| Box::new(self.cert_view(&st, c, None))),
                    Transport::Xml => None,
                },
            })
            .collect();
        Ok(r)
    }

    fn object_job_reply(&self, st: &State, job: &Job, code: &str, now: OffsetDateTime) -> Reply {
        let cert = st
            .certificates
            .get(&job.cert_id)
            .map(|c| Box::new(self.cert_view(st, c, None)));
        Reply::ok(code, "The job data were inquired successfully.")
            .object(ObjRef::new(ObjKind::Job, job.id.to_string()))
            .item(Item::ObjectJob {
                job: Self::job_view(job, now),
                cert,
            })
    }

    // ---- poll ----------------------------------------------------------------------------------

    fn poll_item(&self, st: &State, m: &Message) -> Item {
        let cert = match &m.body {
            MessageBody::CertificateJob { certificate, .. } => st
                .certificates
                .get(&certificate.id)
                .map(|c| Box::new(self.cert_view(st, c, None))),
            _ => None,
        };
        Item::Poll {
            message: m.clone(),
            cert,
        }
    }

    /// PollInfo (0905): the oldest message, again and again until it is confirmed;
    /// `summary` = messages in the queue (`autodns-api.md` §2.13, §3.4).
    pub fn poll_info(&self, ctx: &Ctx) -> Reply {
        let st = lock(&self.state);
        let mut r = Reply::ok("S0905", "The notification was polled successfully.");
        r.summary = Some(queued_for(&st, ctx.context));
        r.object = Some(ObjRef {
            kind: ObjKind::Message,
            value: None,
            cert_summary: None,
        });
        if let Some(m) = st.queue.iter().find(|m| m.owner.context == ctx.context) {
            r.object = Some(ObjRef::new(ObjKind::Message, m.id.to_string()));
            r.data.push(self.poll_item(&st, m));
        }
        r
    }

    /// The poll reply a push of message `m` carries (the queue as it stands).
    pub fn push_reply(&self, m: &Message) -> Reply {
        let st = lock(&self.state);
        let mut r = Reply::ok("S0905", "The notification was polled successfully.");
        r.summary = Some(queued_for(&st, m.owner.context));
        r.object = Some(ObjRef::new(ObjKind::Message, m.id.to_string()));
        r.data.push(self.poll_item(&st, m));
        r
    }

    /// PollConfirm (0906) by message id.
    pub fn poll_confirm(&self, ctx: &Ctx, id: &str) -> Result<Reply, ApiError> {
        const T: &str = "0906";
        let mut st = lock(&self.state);
        let pos = id
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(|n| {
                st.queue
                    .iter()
                    .position(|m| m.id == n && m.owner.context == ctx.context)
            })
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    T,
                    "The notification was not found.",
                    ef::MESSAGE_NOT_FOUND,
                    format!("There is no unconfirmed message {id}."),
                )
                .with_object("Message", id)
                .about(ObjRef::new(ObjKind::Message, id))
            })?;
        let queue: &mut VecDeque<Message> = &mut st.queue;
        let m = queue.remove(pos);
        let left = queued_for(&st, ctx.context);
        self.save(&st);
        let mut r =
            Reply::ok("S0906", "The notification was confirmed successfully.").object(ObjRef::new(
                ObjKind::Message,
                m.map(|m| m.id.to_string()).unwrap_or_default(),
            ));
        r.summary = Some(left);
        Ok(r)
    }
}

/// Whether an object belongs to the context the request came in with. Objects are owned by
/// user and context (`owner {user, context}`, `autodns-api.md` §2.14), and a context is its own
/// namespace, so a client that mixes contexts cannot see its own orders (inferred: no source
/// shows a cross-context lookup).
fn mine(owner: &Owner, ctx: &Ctx) -> bool {
    owner.context == ctx.context
}

/// Messages waiting in the queue of `context`.
fn queued_for(st: &State, context: u32) -> usize {
    st.queue
        .iter()
        .filter(|m| m.owner.context == context)
        .count()
}

// ---- searching ---------------------------------------------------------------------------------

fn canon_key(k: &str) -> String {
    k.chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

fn check_keys(task: &str, q: &Query, allowed: &[&str]) -> Result<(), ApiError> {
    for (i, k) in q.keys.iter().enumerate() {
        if !allowed.contains(&canon_key(k).as_str()) {
            return Err(ApiError::search_key(task, &format!("keys[{i}]"), k));
        }
    }
    Ok(())
}

fn contact_field(c: &Contact, key: &str) -> Option<String> {
    Some(match key {
        "id" => c.id.to_string(),
        "fname" => c.fname.clone(),
        "lname" => c.lname.clone(),
        "email" => c.email.clone(),
        "phone" => c.phone.clone()?,
        "fax" => c.fax.clone()?,
        "title" => c.title.clone()?,
        "organization" => c.organization.clone()?,
        "address" => c.address.join(", "),
        "pcode" => c.pcode.clone()?,
        "city" => c.city.clone()?,
        "country" => c.country.clone()?,
        "state" => c.state.clone()?,
        "created" => xml_date(c.created),
        "updated" => xml_date(c.updated),
        _ => return None,
    })
}

fn cert_field(c: &Certificate, key: &str) -> Option<String> {
    Some(match key {
        "id" => c.id.to_string(),
        "name" | "domain" => c.name.clone(),
        "product" => c.product.clone(),
        "certificatetype" => c.certificate_type.clone(),
        "orderid" => c.order_id.clone()?,
        "serialnumber" => c.serial_number.clone()?,
        "admin" => c.admin_id.to_string(),
        "technical" => c.technical_id?.to_string(),
        "created" => xml_date(c.created),
        "updated" => xml_date(c.updated),
        "expire" => xml_date(c.expire?),
        _ => return None,
    })
}

fn job_field(j: &Job, key: &str, now: OffsetDateTime) -> Option<String> {
    Some(match key {
        "id" => j.id.to_string(),
        "object" => j.name.clone(),
        "status" => j.status(now).to_string(),
        "substatus" => (j.status(now) == "DEFERRED").then(|| "WF_EMAIL_AUTH".to_string())?,
        "action" => j.action.as_str().to_string(),
        "type" => "ssl".to_string(),
        "created" => xml_date(j.created),
        "updated" | "execution" => xml_date(j.updated(now)),
        _ => return None,
    })
}

/// SQL `LIKE`: `%` any run, `_` one character.
pub(crate) fn like(pattern: &str, text: &str, fold_case: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = if fold_case {
        (
            pattern.to_lowercase().chars().collect(),
            text.to_lowercase().chars().collect(),
        )
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    // Iterative matcher with backtracking to the last '%'.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '_' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '%')
}

/// Dates in filters may come in either API format; compare them as `YYYY-MM-DD hh:mm:ss`.
fn norm_value(v: &str) -> String {
    let v = v.trim();
    match (v.as_bytes().get(10), v.get(..19)) {
        (Some(b'T'), Some(head)) => head.replacen('T', " ", 1),
        _ => v.to_string(),
    }
}

fn compare(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<i64>(), b.parse::<i64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

fn eval(task: &str, f: &Filter, get: &dyn Fn(&str) -> Option<String>) -> Result<bool, ApiError> {
    use std::cmp::Ordering::*;
    Ok(match f {
        Filter::And(v) => {
            for x in v {
                if !eval(task, x, get)? {
                    return Ok(false);
                }
            }
            true
        }
        Filter::Or(v) => {
            for x in v {
                if eval(task, x, get)? {
                    return Ok(true);
                }
            }
            false
        }
        Filter::Cond {
            key,
            op,
            value,
            values,
            path,
        } => {
            let field = get(&canon_key(key));
            let val = value.as_deref().map(norm_value).unwrap_or_default();
            let f = field.as_deref().unwrap_or("");
            match op.to_ascii_uppercase().as_str() {
                "EQUAL" => field.is_some() && compare(f, &val) == Equal,
                "NOT_EQUAL" => field.is_none() || compare(f, &val) != Equal,
                "LIKE" => field.is_some() && like(&val, f, false),
                "NOT_LIKE" => !(field.is_some() && like(&val, f, false)),
                "ILIKE" => field.is_some() && like(&val, f, true),
                "GREATER" | "NOT_LESS_EQUAL" => field.is_some() && compare(f, &val) == Greater,
                "GREATER_EQUAL" | "NOT_LESS" => field.is_some() && compare(f, &val) != Less,
                "LESS" | "NOT_GREATER_EQUAL" => field.is_some() && compare(f, &val) == Less,
                "LESS_EQUAL" | "NOT_GREATER" => field.is_some() && compare(f, &val) != Greater,
                "IS_NULL" => field.is_none(),
                "IS_NOT_NULL" => field.is_some(),
                "IN" => {
                    field.is_some() && values.iter().any(|v| compare(f, &norm_value(v)) == Equal)
                }
                "NOT_IN" => {
                    field.is_none() || !values.iter().any(|v| compare(f, &norm_value(v)) == Equal)
                }
                other => {
                    return Err(ApiError::invalid(
                        task,
                        &format!("{path}/operator"),
                        other,
                        "unknown operator",
                    ))
                }
            }
        }
    })
}

fn check_filter_keys(task: &str, f: &Filter, allowed: &[&str]) -> Result<(), ApiError> {
    match f {
        Filter::And(v) | Filter::Or(v) => v
            .iter()
            .try_for_each(|x| check_filter_keys(task, x, allowed)),
        Filter::Cond { key, path, .. } => {
            if allowed.contains(&canon_key(key).as_str()) {
                Ok(())
            } else {
                Err(ApiError::search_key(task, &format!("{path}/key"), key))
            }
        }
    }
}

/// Filters, sorts and pages `rows`; returns the total before paging and the page.
fn run_query<'a, T>(
    task: &str,
    q: &Query,
    rows: Vec<&'a T>,
    allowed: &[&str],
    field: impl Fn(&T, &str) -> Option<String>,
) -> Result<(usize, Vec<&'a T>), ApiError> {
    if let Some(f) = &q.filter {
        check_filter_keys(task, f, allowed)?;
    }
    for (k, _) in &q.orders {
        if !allowed.contains(&canon_key(k).as_str()) {
            return Err(ApiError::search_key(task, "orders/key", k));
        }
    }
    let mut hits = Vec::new();
    for r in rows {
        let keep = match &q.filter {
            Some(f) => eval(task, f, &|k| field(r, k))?,
            None => true,
        };
        if keep {
            hits.push(r);
        }
    }
    for (k, desc) in q.orders.iter().rev() {
        let k = canon_key(k);
        hits.sort_by(|a, b| {
            let o = compare(
                &field(a, &k).unwrap_or_default(),
                &field(b, &k).unwrap_or_default(),
            );
            if *desc {
                o.reverse()
            } else {
                o
            }
        });
    }
    let total = hits.len();
    let page = hits
        .into_iter()
        .skip(q.offset)
        .take(q.limit.unwrap_or(usize::MAX))
        .collect();
    Ok((total, page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_follows_sql_wildcards() {
        assert!(like("alice@%", "alice@example.com", false));
        assert!(like("%@example.com", "bob@example.com", false));
        assert!(like("a_ice@example.com", "alice@example.com", false));
        assert!(!like("alice@%", "Alice@example.com", false));
        assert!(like("alice@%", "Alice@example.com", true));
        assert!(like("%", "", false));
        assert!(!like("a%b", "acbd", false));
        assert!(like("a%b%", "acbd", false));
    }

    #[test]
    fn filter_dates_in_json_form_compare_like_xml_dates() {
        assert_eq!(
            norm_value("2021-01-01T00:00:00.000+0100"),
            "2021-01-01 00:00:00"
        );
        assert_eq!(norm_value("2021-01-01 00:00:00"), "2021-01-01 00:00:00");
    }
}
