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
//!
//! Files: this one holds the transport ([`Client::call`]: encode, pace, send, read capped,
//! decode, check); [`settings`] the settings and bounds, [`order`] the certificate order,
//! `tasks` the typed method per task.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use url::Url;

use super::error::{check, ApiError, Error};
use super::json::{self, JsonPayload, Method};
use super::model::*;
use super::observe::{Observer, RequestOutcome};
use super::pacer::{Pacer, Priority};
use super::xml::{self, XmlAuth, XmlPayload};

pub mod order;
pub mod settings;
mod tasks;

pub use order::{is_download_password, CertificateOrder};
use settings::MAX_BODY;
pub use settings::{
    ClientSettings, JobQueue, RetryPolicy, Wire, DEFAULT_PRODUCT, DEFAULT_REQUESTS_PER_SECOND,
    SEARCH_MAX_PAGES, SEARCH_PAGE_SIZE,
};
pub use tasks::XML_NO_RESEND;

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
    /// Told about every exchange (metrics); set once, after the client is built.
    observer: OnceLock<Arc<dyn Observer>>,
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
                pacer: match &settings.pacer_file {
                    Some(f) => Pacer::with_state_file(settings.requests_per_second, f.clone()),
                    None => Pacer::new(settings.requests_per_second),
                },
                settings,
                base,
                retry,
                observer: OnceLock::new(),
            }),
        })
    }

    /// Tells `observer` about every exchange from now on, in this client and its clones. Only
    /// the first observer set is kept (false when one was already set).
    pub fn set_observer(&self, observer: Arc<dyn Observer>) -> bool {
        self.inner.observer.set(observer).is_ok()
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

    /// One attempt: encode, pace, send, read the body (capped), decode and check.
    async fn send_once<T: Payload>(&self, req: &Request) -> Result<Envelope<T>, Error> {
        let task = req.task.name();
        let builder = match self.inner.settings.wire {
            Wire::Json => self.json_request(req)?,
            Wire::Xml => self.xml_request(req)?,
        };

        // Held until the answer is read: the pacer counts its window from the answer.
        let _permit = self.inner.pacer.acquire(priority(&req.task)).await;
        tracing::debug!(task, ctid = req.ctid.as_deref(), "AutoDNS request");
        let started = Instant::now();
        let result = self.exchange::<T>(task, builder).await;
        if let Some(o) = self.inner.observer.get() {
            o.request(task, RequestOutcome::of(&result), started.elapsed());
        }
        result
    }

    /// Sends the built request, reads the body (capped), decodes and checks it.
    async fn exchange<T: Payload>(
        &self,
        task: &'static str,
        builder: reqwest::RequestBuilder,
    ) -> Result<Envelope<T>, Error> {
        let resp = builder.send().await.map_err(|e| self.network(task, &e))?;
        let status = resp.status().as_u16();
        if status == 429 || status == 503 {
            let wait = retry_after(resp.headers(), std::time::SystemTime::now());
            // A 429 without a Retry-After still means "not so fast": hold one window.
            let fallback = (status == 429).then(|| self.inner.pacer.window());
            if let Some(wait) = wait.or(fallback) {
                tracing::warn!(
                    task,
                    status,
                    ?wait,
                    "AutoDNS asks to slow down; holding every request"
                );
                self.inner.pacer.hold(wait);
            }
        }
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
        let env = decode_answer::<T>(self.inner.settings.wire, task, status, stid, &body)?;
        tracing::debug!(
            task,
            code = env.status.as_ref().and_then(|s| s.code.as_deref()),
            stid = env.stid.as_deref(),
            "AutoDNS answer"
        );
        Ok(env)
    }

    /// The JSON API request: the task's route and method, basic auth, the ctid header.
    fn json_request(&self, req: &Request) -> Result<reqwest::RequestBuilder, Error> {
        let inner = &self.inner;
        let task = req.task.name();
        let s = &inner.settings;
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
        Ok(b)
    }

    /// The XML gateway request: one POST to the endpoint, auth inside the body.
    fn xml_request(&self, req: &Request) -> Result<reqwest::RequestBuilder, Error> {
        let s = &self.inner.settings;
        let auth = XmlAuth {
            user: s.user.clone(),
            password: s.password.clone(),
            context: s.context,
        };
        let body = xml::encode_request(&auth, req)?;
        Ok(self
            .inner
            .http
            .post(s.endpoint.clone())
            .header(CONTENT_TYPE, "application/xml; charset=UTF-8")
            .body(body))
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
}

/// How the pacer ranks a task: orders, the lookups that protect exactly-once (the job lists
/// and the certificate list searched before anything is re-ordered, the contact the order
/// needs) and an operator's approval resend go ahead of polls, job checks and info fetches.
pub fn priority(task: &Task) -> Priority {
    match task {
        Task::CertificateCreate(_)
        | Task::CertificateRenew(_)
        | Task::CertificateReissue(_)
        | Task::CertificatePrepareOrder(_)
        | Task::SslContactCreate(_)
        | Task::SslContactList(_)
        | Task::JobList(_)
        | Task::JobHistoryList(_)
        | Task::CertificateList(_)
        // An operator waits for it (`resend-approval`), and it is rare.
        | Task::JobResendApproverEmail { .. } => Priority::Urgent,
        Task::Hello
        | Task::SslContactInfo { .. }
        | Task::CertificateInfo { .. }
        | Task::JobInfo { .. }
        | Task::JobHistory { .. }
        | Task::CertificateDelete { .. }
        | Task::CertificateRevoke(_)
        | Task::PollInfo
        | Task::PollConfirm { .. } => Priority::Routine,
    }
}

/// The wait a `Retry-After` header asks for (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.
pub fn retry_after(headers: &HeaderMap, now: std::time::SystemTime) -> Option<std::time::Duration> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(std::time::Duration::from_secs(secs));
    }
    let at = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822).ok()?;
    let at = std::time::SystemTime::from(at);
    Some(at.duration_since(now).unwrap_or_default())
}

/// Decodes and checks an answer. Pure: the `x-domainrobot-stid` header fills in the stid where
/// the body has none, both in the envelope and in a `Malformed` error.
fn decode_answer<T: Payload>(
    wire: Wire,
    task: &'static str,
    status: u16,
    stid: Option<String>,
    body: &[u8],
) -> Result<Envelope<T>, Error> {
    let decoded = match wire {
        Wire::Json => json::decode_response::<T>(task, status, body),
        Wire::Xml => xml::decode_response::<T>(task, status, body),
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
    check(task, status, env)
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
mod tests;
