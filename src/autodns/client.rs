//! The AutoDNS client: HTTP transport (auth, headers, pacing, bounded retries of reads) around
//! the pure codecs, and the typed task methods the pipeline calls.
//!
//! Retry rule: only idempotent reads (info, list, job info, poll info, hello) and PollConfirm
//! are retried on transient errors, a bounded number of times with exponential backoff. Orders,
//! renewals, reissues, deletes, revocations and contact creation are sent exactly once; when
//! their outcome is unknown ([`Error::outcome_unknown`]) the caller looks the order up (the job
//! lists by name and ctid, [`Client::job_search`]; the certificate list by name; the ctid in the
//! poll queue) before anything is re-ordered.
//!
//! Searches (contact list, certificate list, job lists) are read page by page with
//! `view.limit/offset` (§1.12) up to a bound, and an unfinished search is an error, never a
//! shorter list.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use url::Url;

use super::error::{check, ApiError, Error};
use super::json::{self, JsonPayload, Method};
use super::model::*;
use super::pacer::Pacer;
use super::xml::{self, XmlAuth, XmlPayload};
use crate::secret::Secret;

/// The product ordered unless configured otherwise (seed page).
pub const DEFAULT_PRODUCT: &str = "GLOBALSIGN_PERSONALSIGN_1";

/// The documented per-IP request limit (§1.11).
pub const DEFAULT_REQUESTS_PER_SECOND: f64 = 3.0;

/// Largest answer body read. A certificate with its chain is a few kB; anything near this is not
/// an AutoDNS answer.
const MAX_BODY: usize = 8 * 1024 * 1024;

/// Items asked for per page of a search (`view.limit`, §1.12).
pub const SEARCH_PAGE_SIZE: i64 = 100;

/// Pages read at most per search. A search that still has items after this many pages is
/// refused rather than cut short: a truncated lookup could report a lost order as "not found"
/// and so buy a second certificate.
pub const SEARCH_MAX_PAGES: usize = 50;

/// Which job queue a job search reads (§2.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobQueue {
    /// Jobs not finished yet: `POST /job/_search`, XML 400115.
    Active,
    /// Finished jobs: `POST /job/history/_search`, XML 400135.
    History,
}

/// Which of the API's two transports to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// The JSON API (`https://api.autodns.com/v1`).
    Json,
    /// The XML gateway (`https://gateway.autodns.com`).
    Xml,
}

/// Everything the client needs. `password` is a [`Secret`]: `Debug` prints no password.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// JSON: the API base, e.g. `https://api.autodns.com/v1`; XML: the gateway URL.
    pub endpoint: Url,
    /// The transport.
    pub wire: Wire,
    /// AutoDNS user name.
    pub user: String,
    /// AutoDNS password.
    pub password: Secret<String>,
    /// Context number (`X-Domainrobot-Context` / `<auth><context>`; SSL objects live in
    /// context 9 in every InterNetX example, §1.2).
    pub context: u32,
    /// Timeout of one HTTP exchange.
    pub timeout: Duration,
    /// Pacing budget; default [`DEFAULT_REQUESTS_PER_SECOND`].
    pub requests_per_second: f64,
    /// The User-Agent header, which the API requires (§1.2).
    pub user_agent: String,
}

impl ClientSettings {
    /// Settings with the documented defaults: context 9, 30 s timeout, 3 requests/s, and a
    /// User-Agent naming this program.
    pub fn new(
        endpoint: Url,
        wire: Wire,
        user: impl Into<String>,
        password: Secret<String>,
    ) -> Self {
        ClientSettings {
            endpoint,
            wire,
            user: user.into(),
            password,
            context: 9,
            timeout: Duration::from_secs(30),
            requests_per_second: DEFAULT_REQUESTS_PER_SECOND,
            user_agent: format!("smime-provisioner/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// How idempotent reads are retried on transient errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total (1 = no retry).
    pub max_attempts: u32,
    /// Wait before the first retry; doubled each time.
    pub first_backoff: Duration,
    /// Upper bound of one wait.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            first_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(16)).unwrap_or(u32::MAX);
        self.first_backoff
            .checked_mul(factor)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }
}

/// A certificate order as the pipeline states it. The client always orders type `MAIL` with
/// `has_csr` true and our CSR: it has no way to send an order without a CSR (the CA would then
/// hold the key, §4.2).
#[derive(Debug, Clone, PartialEq)]
pub struct CertificateOrder {
    /// The mailbox address: the certificate name (seed page).
    pub name: String,
    /// Product; default [`DEFAULT_PRODUCT`].
    pub product: String,
    /// Lifetime in months (12, 24 or 36, §4.4).
    pub lifetime_months: u32,
    /// Our CSR, PEM.
    pub csr_pem: String,
    /// Administrative SSL contact id.
    pub admin_contact_id: i64,
    /// Technical SSL contact id, if different.
    pub technical_contact_id: Option<i64>,
    /// The address GlobalSign sends the approval mail to (for PersonalSign 1: the mailbox).
    pub approver_email: String,
    /// GlobalSign download password; must match `[A-Za-z0-9]{8,32}` (§4.2).
    pub download_password: Secret<String>,
    /// Subject first name.
    pub firstname: Option<String>,
    /// Subject last name.
    pub lastname: Option<String>,
    /// Subject organisational unit.
    pub organization_unit_name: Option<String>,
}

impl CertificateOrder {
    /// An order with the defaults: product [`DEFAULT_PRODUCT`], 12 months, the mailbox itself as
    /// approver, no technical contact, no name parts.
    pub fn new(
        name: impl Into<String>,
        csr_pem: impl Into<String>,
        admin_contact_id: i64,
        download_password: Secret<String>,
    ) -> Self {
        let name = name.into();
        CertificateOrder {
            approver_email: name.clone(),
            name,
            product: DEFAULT_PRODUCT.to_string(),
            lifetime_months: 12,
            csr_pem: csr_pem.into(),
            admin_contact_id,
            technical_contact_id: None,
            download_password,
            firstname: None,
            lastname: None,
            organization_unit_name: None,
        }
    }

    /// Checks the order against the API's rules before anything is sent.
    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if !is_address(&self.name) {
            problems.push("name must be the mailbox address".to_string());
        }
        if !is_address(&self.approver_email) {
            problems.push("approver_email must be an address".to_string());
        }
        if self.product.trim().is_empty() {
            problems.push("product is empty".to_string());
        }
        if !matches!(self.lifetime_months, 12 | 24 | 36) {
            problems.push(format!(
                "lifetime_months is {}, expected 12, 24 or 36",
                self.lifetime_months
            ));
        }
        if !self.csr_pem.contains("-----BEGIN CERTIFICATE REQUEST-----")
            && !self
                .csr_pem
                .contains("-----BEGIN NEW CERTIFICATE REQUEST-----")
        {
            problems.push("csr_pem is not a PEM certificate request".to_string());
        }
        if self.admin_contact_id <= 0 {
            problems.push("admin_contact_id is not a contact id".to_string());
        }
        if !is_download_password(self.download_password.expose()) {
            // Never echo the password itself.
            problems.push("download_password must be 8 to 32 ASCII letters or digits".to_string());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// The `Certificate` body of create/renew/reissue.
    fn to_certificate(&self, id: Option<i64>) -> Certificate {
        let contact = |id: i64| SslContact {
            id: Some(id),
            ..Default::default()
        };
        Certificate {
            id,
            name: Some(self.name.clone()),
            product: Some(self.product.clone()),
            certificate_type: Some(CertificateType::Mail),
            lifetime: Some(TimePeriod::months(self.lifetime_months)),
            // [INFER] §4.4: non-server products carry `NOT_SET`.
            software: Some("NOT_SET".to_string()),
            csr: Some(self.csr_pem.clone()),
            has_csr: Some(true),
            admin_contact: Some(contact(self.admin_contact_id)),
            technical_contact: self.technical_contact_id.map(contact),
            approver_email: Some(self.approver_email.clone()),
            password: Some(self.download_password.clone()),
            firstname: self.firstname.clone(),
            lastname: self.lastname.clone(),
            organization_unit_name: self.organization_unit_name.clone(),
            ..Default::default()
        }
    }
}

fn is_address(s: &str) -> bool {
    match s.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

/// The download password rule: 8–32 ASCII letters and digits (§4.2, PHP model).
pub fn is_download_password(p: &str) -> bool {
    (8..=32).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The answer of PollInfo: the oldest unconfirmed message, if any, and the queue length.
#[derive(Debug, Clone, PartialEq)]
pub struct PollInfo {
    /// The oldest message; it is returned again until confirmed.
    pub message: Option<PollMessage>,
    /// Messages in the queue (including this one).
    pub queued: u64,
}

/// A payload both codecs can read.
pub trait Payload: JsonPayload + XmlPayload {}
impl<T: JsonPayload + XmlPayload> Payload for T {}

/// The AutoDNS client. Cheap to clone; clones share the connection pool and the pacer.
///
/// The documented limit is per source IP, so a process should build one client and hand out
/// clones: two separately built clients pace independently and together could exceed it.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    settings: ClientSettings,
    /// JSON base URL with a trailing slash, so relative routes join under it.
    base: Url,
    pacer: Pacer,
    retry: RetryPolicy,
}

impl Client {
    /// Builds a client. Fails on settings that cannot work (a URL that is not http(s), a user
    /// agent that is not a valid header).
    pub fn new(settings: ClientSettings) -> Result<Self, Error> {
        Self::with_retry_policy(settings, RetryPolicy::default())
    }

    /// Builds a client with a custom retry policy for idempotent reads.
    pub fn with_retry_policy(settings: ClientSettings, retry: RetryPolicy) -> Result<Self, Error> {
        if !matches!(settings.endpoint.scheme(), "http" | "https") {
            return Err(Error::Settings(format!(
                "endpoint {} is not an http(s) URL",
                settings.endpoint
            )));
        }
        if !settings.endpoint.username().is_empty() || settings.endpoint.password().is_some() {
            return Err(Error::Settings(
                "endpoint must not carry credentials; set user and password".into(),
            ));
        }
        let mut headers = HeaderMap::new();
        let ctx = HeaderValue::from_str(&settings.context.to_string())
            .map_err(|e| Error::Settings(format!("context: {e}")))?;
        if settings.wire == Wire::Json {
            headers.insert("X-Domainrobot-Context", ctx);
            headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        } else {
            headers.insert(ACCEPT, HeaderValue::from_static("application/xml"));
        }
        let http = reqwest::Client::builder()
            .user_agent(settings.user_agent.as_str())
            .default_headers(headers)
            .timeout(settings.timeout)
            .build()
            .map_err(|e| Error::Settings(format!("HTTP client: {e}")))?;
        let mut base = settings.endpoint.clone();
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                pacer: Pacer::new(settings.requests_per_second),
                settings,
                base,
                retry,
            }),
        })
    }

    /// The settings the client was built with.
    pub fn settings(&self) -> &ClientSettings {
        &self.inner.settings
    }

    /// Sends one request and returns the checked envelope, retrying idempotent tasks on
    /// transient errors.
    pub async fn call<T: Payload>(&self, req: &Request) -> Result<Envelope<T>, Error> {
        let attempts = if req.task.is_idempotent() {
            self.inner.retry.max_attempts.max(1)
        } else {
            1
        };
        let mut attempt = 1;
        loop {
            let result = self.send_once::<T>(req).await;
            match result {
                Err(e) if e.is_transient() && attempt < attempts => {
                    tracing::warn!(task = req.task.name(), attempt, error = %e, "AutoDNS read failed; retrying");
                    tokio::time::sleep(self.inner.retry.backoff(attempt - 1)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn send_once<T: Payload>(&self, req: &Request) -> Result<Envelope<T>, Error> {
        let inner = &self.inner;
        let task = req.task.name();
        let s = &inner.settings;
        let builder = match s.wire {
            Wire::Json => {
                let h = json::encode_request(&req.task)?;
                let url = inner
                    .base
                    .join(&h.path)
                    .map_err(|e| Error::InvalidRequest {
                        task,
                        reason: format!("route {}: {e}", h.path),
                    })?;
                let method = match h.method {
                    Method::Get => reqwest::Method::GET,
                    Method::Post => reqwest::Method::POST,
                    Method::Put => reqwest::Method::PUT,
                    Method::Delete => reqwest::Method::DELETE,
                };
                let mut b = inner
                    .http
                    .request(method, url)
                    .basic_auth(&s.user, Some(s.password.expose()));
                if !h.query.is_empty() {
                    b = b.query(&h.query);
                }
                if let Some(ctid) = &req.ctid {
                    b = b.header("X-Domainrobot-Ctid", ctid_header(task, ctid)?);
                }
                if let Some(body) = h.body {
                    b = b.header(CONTENT_TYPE, "application/json").body(body);
                }
                b
            }
            Wire::Xml => {
                let auth = XmlAuth {
                    user: s.user.clone(),
                    password: s.password.clone(),
                    context: s.context,
                };
                let body = xml::encode_request(&auth, req)?;
                inner
                    .http
                    .post(s.endpoint.clone())
                    .header(CONTENT_TYPE, "application/xml; charset=UTF-8")
                    .body(body)
            }
        };

        inner.pacer.acquire().await;
        tracing::debug!(task, ctid = req.ctid.as_deref(), "AutoDNS request");
        let resp = builder.send().await.map_err(|e| self.network(task, &e))?;
        let status = resp.status().as_u16();
        let stid = resp
            .headers()
            .get("x-domainrobot-stid")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = read_capped(resp).await.map_err(|e| match e {
            ReadError::TooLarge => Error::Malformed {
                task,
                http_status: status,
                stid: stid.clone(),
                reason: format!("answer larger than {MAX_BODY} bytes"),
            },
            ReadError::Http(e) => self.network(task, &e),
        })?;
        let decoded = match s.wire {
            Wire::Json => json::decode_response::<T>(task, status, &body),
            Wire::Xml => xml::decode_response::<T>(task, status, &body),
        };
        let mut env = decoded.map_err(|e| match e {
            Error::Malformed {
                task,
                http_status,
                stid: None,
                reason,
            } => Error::Malformed {
                task,
                http_status,
                stid: stid.clone(),
                reason,
            },
            other => other,
        })?;
        if env.stid.is_none() {
            env.stid = stid;
        }
        let env = check(task, status, env)?;
        tracing::debug!(
            task,
            code = env.status.as_ref().and_then(|s| s.code.as_deref()),
            stid = env.stid.as_deref(),
            "AutoDNS answer"
        );
        Ok(env)
    }

    fn network(&self, task: &'static str, e: &reqwest::Error) -> Error {
        let mut reason = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            reason.push_str(": ");
            reason.push_str(&s.to_string());
            src = s.source();
        }
        let mut endpoint = self.inner.settings.endpoint.clone();
        endpoint.set_query(None);
        Error::Network {
            task,
            endpoint: endpoint.to_string(),
            reason,
            timed_out: e.is_timeout(),
            // A failed connect means nothing was sent; any later failure may follow a request
            // the server already read.
            not_sent: e.is_connect() && !e.is_timeout(),
        }
    }

    async fn one<T: Payload>(
        &self,
        task: Task,
        ctid: Option<&str>,
    ) -> Result<(T, Envelope<()>), Error> {
        let name = task.name();
        let env = self
            .call::<T>(&Request {
                task,
                ctid: ctid.map(str::to_string),
            })
            .await?;
        let (first, rest) = split_first(env);
        match first {
            Some(v) => Ok((v, rest)),
            None => Err(Error::Malformed {
                task: name,
                http_status: 200,
                stid: rest.stid,
                reason: "the answer carries no object".into(),
            }),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Tasks
    // -----------------------------------------------------------------------------------------

    /// Checks the connection and the credentials. JSON: `GET /hello`. The XML gateway has no
    /// such task; PollInfo is used instead (it reads the queue without changing it).
    pub async fn hello(&self) -> Result<(), Error> {
        let task = match self.inner.settings.wire {
            Wire::Json => Task::Hello,
            Wire::Xml => Task::PollInfo,
        };
        match self.inner.settings.wire {
            Wire::Json => self
                .call::<Void>(&Request { task, ctid: None })
                .await
                .map(|_| ()),
            Wire::Xml => self
                .call::<PollMessage>(&Request { task, ctid: None })
                .await
                .map(|_| ()),
        }
    }

    /// SSLContactCreate (400201). Returns the contact with its new id. Not retried.
    pub async fn ssl_contact_create(&self, contact: &SslContact) -> Result<SslContact, Error> {
        let env = self
            .call::<SslContact>(&Request {
                task: Task::SslContactCreate(contact.clone()),
                ctid: None,
            })
            .await?;
        // JSON answers with the full contact in data[0]; the XML gateway with an empty <data/>
        // and the id in status/object/value (seed page).
        let object_id = env
            .object
            .as_ref()
            .and_then(|o| o.value.as_deref())
            .and_then(|v| v.trim().parse::<i64>().ok());
        let stid = env.stid.clone();
        let mut created = env
            .data
            .into_iter()
            .next()
            .unwrap_or_else(|| contact.clone());
        if created.id.is_none() {
            created.id = object_id;
        }
        if created.id.is_none() {
            return Err(Error::Malformed {
                task: "SSLContactCreate",
                http_status: 200,
                stid,
                reason: "no contact id in the answer".into(),
            });
        }
        Ok(created)
    }

    /// SSLContactInfo (400204).
    pub async fn ssl_contact_info(&self, id: i64) -> Result<SslContact, Error> {
        Ok(self
            .one::<SslContact>(Task::SslContactInfo { id }, None)
            .await?
            .0)
    }

    /// SSLContactList (400205): every SSL contact of the account.
    pub async fn ssl_contact_list(&self) -> Result<Vec<SslContact>, Error> {
        self.search_all(&Query::default(), Task::SslContactList)
            .await
    }

    /// CertificatePrepareOrder (400110): lets AutoDNS parse the CSR.
    pub async fn certificate_prepare_order(
        &self,
        csr_pem: &str,
        product: &str,
    ) -> Result<CertificateData, Error> {
        let data = CertificateData {
            plain: Some(csr_pem.to_string()),
            product: Some(product.to_string()),
            ..Default::default()
        };
        Ok(self
            .one::<CertificateData>(Task::CertificatePrepareOrder(data), None)
            .await?
            .0)
    }

    fn checked(&self, task: &'static str, order: &CertificateOrder) -> Result<(), Error> {
        order
            .validate()
            .map_err(|reason| Error::InvalidRequest { task, reason })
    }

    /// CertificateCreate (400101): orders a certificate. Sent once, never retried; returns the
    /// job (status RUNNING). `ctid` identifies the order in the poll message; make it unique per
    /// mailbox and generation.
    pub async fn certificate_create(
        &self,
        order: &CertificateOrder,
        ctid: &str,
    ) -> Result<Job, Error> {
        self.checked("CertificateCreate", order)?;
        let task = Task::CertificateCreate(Box::new(order.to_certificate(None)));
        Ok(self.one::<Job>(task, Some(ctid)).await?.0)
    }

    /// CertificateInfo (400104): the certificate with the leaf PEM in `server` and the chain in
    /// `certification_authority`.
    pub async fn certificate_info(&self, id: i64) -> Result<Certificate, Error> {
        Ok(self
            .one::<Certificate>(Task::CertificateInfo { id }, None)
            .await?
            .0)
    }

    /// CertificateList (400105), optionally only certificates with this exact name (used to
    /// recover orders whose outcome is unknown). Reads every page (see [`Client::search_all`]).
    pub async fn certificate_list(&self, name: Option<&str>) -> Result<Vec<Certificate>, Error> {
        let query = match name {
            Some(n) => Query::equal("name", n),
            None => Query::default(),
        };
        self.search_all(&query, Task::CertificateList).await
    }

    /// Certificate job list: the jobs in `queue` matching `query` (400115 / 400135,
    /// `POST /job/_search` / `POST /job/history/_search`, §2.12), every page read.
    ///
    /// This is how an order whose CertificateCreate answer was lost is found while its job still
    /// runs: the certificate list may not show it yet, and job info needs the job id the lost
    /// answer carried. Filter keys the API documents for jobs: `parent, execution, subStatus,
    /// type, created, id, updated, status, object, action` (§2.12); `object` is the certificate
    /// name. The ctid is not a documented filter key, so callers filter on `object` and match
    /// the ctid in the answer ([`ObjectJob::ctid`]).
    pub async fn job_search(
        &self,
        query: &Query,
        queue: JobQueue,
    ) -> Result<Vec<ObjectJob>, Error> {
        let task = match queue {
            JobQueue::Active => Task::JobList,
            JobQueue::History => Task::JobHistoryList,
        };
        self.search_all(query, task).await
    }

    /// Runs a search page by page (`view.limit` = [`SEARCH_PAGE_SIZE`], `view.offset` = the
    /// items read so far, so a server that caps its pages below our limit is still read whole)
    /// until the items read reach the total the API reports in `object.summary` (§1.6), or,
    /// without a total, until a page comes back short. An empty page short of the reported total
    /// is an error, and so is a search still going after [`SEARCH_MAX_PAGES`] pages: a caller
    /// never acts on a silently truncated list, and a misbehaving server cannot keep it looping.
    async fn search_all<T: Payload>(
        &self,
        query: &Query,
        task: fn(Query) -> Task,
    ) -> Result<Vec<T>, Error> {
        let name = task(Query::default()).name();
        let mut items: Vec<T> = Vec::new();
        let (mut last_stid, mut last_total) = (None, None);
        for _ in 0..SEARCH_MAX_PAGES {
            let offset = i64::try_from(items.len()).unwrap_or(i64::MAX);
            let t = task(query.page(SEARCH_PAGE_SIZE, offset));
            let env = self
                .call::<T>(&Request {
                    task: t,
                    ctid: None,
                })
                .await?;
            let total = env.summary();
            let got = env.data.len();
            items.extend(env.data);
            let read = items.len() as u64;
            match total {
                Some(t) if read >= t => return Ok(items),
                Some(t) if got == 0 => {
                    return Err(Error::Malformed {
                        task: name,
                        http_status: 200,
                        stid: env.stid,
                        reason: format!(
                            "the search reports {t} items but returned no more after {read}"
                        ),
                    })
                }
                None if got < SEARCH_PAGE_SIZE as usize => return Ok(items),
                _ => {}
            }
            (last_stid, last_total) = (env.stid, total);
        }
        Err(Error::Malformed {
            task: name,
            http_status: 200,
            stid: last_stid,
            reason: format!(
                "the search did not end after {SEARCH_MAX_PAGES} pages ({} items read, total \
                 reported: {}); narrow the search",
                items.len(),
                last_total.map_or_else(|| "none".to_string(), |t: u64| t.to_string())
            ),
        })
    }

    /// Certificate job info (400114, `GET /job/{id}`).
    pub async fn job_info(&self, job_id: i64) -> Result<ObjectJob, Error> {
        Ok(self
            .one::<ObjectJob>(Task::JobInfo { id: job_id }, None)
            .await?
            .0)
    }

    /// A finished job from the job history. Asked when [`Client::job_info`] answers not-found
    /// (`EF300101`, "the job left the queue"). JSON: `GET /job/history/{id}`. The XML gateway
    /// has no history-by-id task, so there the history list (400135) filtered by `id` stands in;
    /// a job it does not hold is a not-found error, as JSON's 404 is.
    pub async fn job_history(&self, job_id: i64) -> Result<ObjectJob, Error> {
        if self.inner.settings.wire == Wire::Json {
            return Ok(self
                .one::<ObjectJob>(Task::JobHistory { id: job_id }, None)
                .await?
                .0);
        }
        let query = Query::equal("id", &job_id.to_string());
        self.job_search(&query, JobQueue::History)
            .await?
            .into_iter()
            .find(|j| j.job_id() == Some(job_id))
            .ok_or_else(|| {
                Error::Api(ApiError {
                    task: "JobHistoryList",
                    http_status: 404,
                    stid: None,
                    status_code: None,
                    status_text: Some(format!("job {job_id} is not in the job history")),
                    messages: Vec::new(),
                })
            })
    }

    /// CertificateRenew (400106). Sent once, never retried.
    pub async fn certificate_renew(
        &self,
        id: i64,
        order: &CertificateOrder,
        ctid: &str,
    ) -> Result<Job, Error> {
        self.checked("CertificateRenew", order)?;
        let task = Task::CertificateRenew(Box::new(order.to_certificate(Some(id))));
        Ok(self.one::<Job>(task, Some(ctid)).await?.0)
    }

    /// CertificateReissue (400102): a new certificate for a new CSR. Sent once, never retried.
    pub async fn certificate_reissue(
        &self,
        id: i64,
        order: &CertificateOrder,
        ctid: &str,
    ) -> Result<Job, Error> {
        self.checked("CertificateReissue", order)?;
        let task = Task::CertificateReissue(Box::new(order.to_certificate(Some(id))));
        Ok(self.one::<Job>(task, Some(ctid)).await?.0)
    }

    /// CertificateDelete (400103): cancels the certificate. Sent once, never retried. Some
    /// answers carry no job; then the returned job is empty.
    pub async fn certificate_delete(&self, id: i64, ctid: &str) -> Result<Job, Error> {
        let env = self
            .call::<Job>(&Request {
                task: Task::CertificateDelete { id },
                ctid: Some(ctid.to_string()),
            })
            .await?;
        Ok(env.data.into_iter().next().unwrap_or_default())
    }

    /// CertificateRevoke (4001031): revokes the serial `serial`. Sent once, never retried.
    pub async fn certificate_revoke(&self, id: i64, serial: &str) -> Result<(), Error> {
        let cert = Certificate {
            id: Some(id),
            serial_number: Some(serial.to_string()),
            ..Default::default()
        };
        self.call::<Void>(&Request {
            task: Task::CertificateRevoke(Box::new(cert)),
            ctid: None,
        })
        .await
        .map(|_| ())
    }

    /// PollInfo (0905): the oldest unconfirmed message and the queue length.
    pub async fn poll_info(&self) -> Result<PollInfo, Error> {
        let env = self
            .call::<PollMessage>(&Request {
                task: Task::PollInfo,
                ctid: None,
            })
            .await?;
        let summary = env.summary();
        let message = env.data.into_iter().next();
        let queued = summary.unwrap_or(u64::from(message.is_some()));
        Ok(PollInfo { message, queued })
    }

    /// PollConfirm (0906): removes message `message_id` from the queue.
    pub async fn poll_confirm(&self, message_id: i64) -> Result<(), Error> {
        self.call::<Void>(&Request {
            task: Task::PollConfirm { id: message_id },
            ctid: None,
        })
        .await
        .map(|_| ())
    }
}

fn ctid_header(task: &'static str, ctid: &str) -> Result<HeaderValue, Error> {
    HeaderValue::from_str(ctid).map_err(|_| Error::InvalidRequest {
        task,
        reason: "the ctid contains characters not allowed in an HTTP header".into(),
    })
}

fn split_first<T>(env: Envelope<T>) -> (Option<T>, Envelope<()>) {
    let Envelope {
        stid,
        ctid,
        status,
        object,
        data,
        messages,
    } = env;
    (
        data.into_iter().next(),
        Envelope {
            stid,
            ctid,
            status,
            object,
            data: Vec::new(),
            messages,
        },
    )
}

enum ReadError {
    TooLarge,
    Http(reqwest::Error),
}

async fn read_capped(mut resp: reqwest::Response) -> Result<Vec<u8>, ReadError> {
    if resp.content_length().is_some_and(|l| l > MAX_BODY as u64) {
        return Err(ReadError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(ReadError::Http)? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> CertificateOrder {
        CertificateOrder::new(
            "anna@example.org",
            "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n",
            100,
            Secret::new("Abcdefgh12".to_string()),
        )
    }

    #[test]
    fn a_valid_order_passes_and_becomes_a_mail_order_with_our_csr() {
        let o = order();
        assert_eq!(o.validate(), Ok(()));
        let c = o.to_certificate(None);
        assert_eq!(c.certificate_type, Some(CertificateType::Mail));
        assert_eq!(c.has_csr, Some(true));
        assert_eq!(c.csr.as_deref(), Some(o.csr_pem.as_str()));
        assert_eq!(c.product.as_deref(), Some(DEFAULT_PRODUCT));
        assert_eq!(c.approver_email.as_deref(), Some("anna@example.org"));
    }

    #[test]
    fn download_passwords_outside_the_api_rule_are_refused_without_echoing_them() {
        for bad in ["short1", "has-dash-123", "ümlautpassword", &"a".repeat(33)] {
            let mut o = order();
            o.download_password = Secret::new(bad.to_string());
            let err = o.validate().err().unwrap_or_default();
            assert!(err.contains("download_password"), "{bad}: {err}");
            assert!(!err.contains(bad), "the password leaked into {err}");
        }
        assert!(is_download_password("Abcdefgh"));
        assert!(is_download_password(&"Z9".repeat(16)));
    }

    #[test]
    fn an_order_without_a_csr_cannot_be_built() {
        let mut o = order();
        o.csr_pem = String::new();
        assert!(o.validate().is_err());
    }

    #[test]
    fn backoff_doubles_up_to_the_bound() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(0), Duration::from_millis(500));
        assert_eq!(p.backoff(1), Duration::from_secs(1));
        assert_eq!(p.backoff(10), Duration::from_secs(8));
    }
}
