//! The AutoDNS client's error type, classified for the caller's next decision.
//!
//! An error keeps everything the API said (HTTP status, `stid`, the `E…` status code, every
//! `EF…` message code and text; reference §1.9, §1.10, §6.4) so a mail admin can quote it to
//! InterNetX support, and answers one question through [`Error::kind`]: retry later
//! (`Transient`), fix the order (`Rejected`), look elsewhere (`NotFound`), fix the credentials
//! (`Authentication`), or report a protocol mismatch (`Malformed`).
//!
//! No secret reaches an error: messages are built from the server's answer and our own words,
//! never from request bodies.

use std::fmt;

use super::model::{Envelope, Message};

/// What the caller should do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Network failure, timeout, HTTP 5xx or 429: the same request may succeed later.
    Transient,
    /// The API refused the request (HTTP 4xx, an `E…` status) or the client refused to send it.
    Rejected,
    /// The object does not exist (HTTP 404, or a not-found detail code).
    NotFound,
    /// The credentials or the context were refused (HTTP 401/403).
    Authentication,
    /// The answer could not be understood (not the API's envelope, truncated, hostile XML).
    Malformed,
}

impl ErrorKind {
    /// A stable kebab-case name for logs, the store and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Transient => "transient",
            ErrorKind::Rejected => "rejected",
            ErrorKind::NotFound => "not-found",
            ErrorKind::Authentication => "authentication",
            ErrorKind::Malformed => "malformed",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One detail message of an API error: its `EF…` code and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiMessage {
    /// The detail code, e.g. `EF400139`.
    pub code: Option<String>,
    /// The text, in the account's language.
    pub text: Option<String>,
    /// The type of the first object the message names: for a refused request usually the field
    /// path (`product`, `conditions[0]/key`, §1.9), otherwise an object type (`Certificate`).
    pub object: Option<String>,
}

/// An error answer from the API, with everything it said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The task that failed, e.g. `CertificateCreate`.
    pub task: &'static str,
    /// The HTTP status of the answer.
    pub http_status: u16,
    /// The server transaction id.
    pub stid: Option<String>,
    /// The status code, e.g. `E400101`.
    pub status_code: Option<String>,
    /// The status text.
    pub status_text: Option<String>,
    /// Every detail message, nested ones flattened, in order.
    pub messages: Vec<ApiMessage>,
}

/// Detail codes that mean "no such object". `EF03014` is the contact-not-found code of the Dart
/// SDK fixture (§1.9); `EF300101` is what XML job info answers for a job that left the queue
/// (§1.10). The HTTP status (404) covers the JSON transport in general.
///
/// The real API's codes for a missing certificate, job or poll message, and for refused
/// credentials on the XML gateway (which answers HTTP 200 for API errors), are not documented
/// (§7). The bundled simulator documents its own (`simulator::engine::ef`); they are listed here
/// so that both transports classify alike against it. An unknown code stays `Rejected`: not
/// retried, shown to the admin with its text.
const NOT_FOUND_CODES: &[&str] = &[
    "EF03014",
    "EF300101",
    // Simulator: certificate, job, poll message not found.
    "EF4001041",
    "EF3001141",
    "EF09061",
];

/// Detail codes meaning "busy or rate limited, ask again later": a job is still working on the
/// certificate (a delete sent again while the first one runs), it is not issued yet, or more
/// requests per second came than allowed (§1.11). These are the simulator's (`EF4001061`,
/// `EF4001062`, `EF00030`); the real API's are not documented (§7). Without them a revocation
/// retried after a lost answer, or a request over the limit on the XML gateway (HTTP 200), would
/// fail the mailbox for good.
const BUSY_CODES: &[&str] = &["EF4001061", "EF4001062", "EF00030"];

/// Words of an error text that classify an answer whose codes are not known (only consulted when
/// the HTTP status says nothing, i.e. the XML gateway's HTTP 200, §1.10). The account's language
/// may be English or German. Checked in this order: "ask again later" first, so that a rate
/// limit or a busy object is never taken for a refusal, which would fail a mailbox for good.
/// Each phrase is specific: "password" alone is not one (a download password outside the rules
/// is a refusal, not a login failure).
const TRANSIENT_TEXT: &[&str] = &[
    "too many requests",
    "rate limit",
    "request limit",
    "limit exceeded",
    "try again later",
    "temporarily",
    "currently being processed",
    "in progress",
    "zu viele anfragen",
    "später erneut",
    "vorübergehend",
    "wird bereits bearbeitet",
];
const AUTHENTICATION_TEXT: &[&str] = &[
    "authentication failed",
    "authentication error",
    "login failed",
    "not authorized",
    "unauthorized",
    "access denied",
    "invalid credentials",
    "anmeldung ist fehlgeschlagen",
    "anmeldung fehlgeschlagen",
    "nicht autorisiert",
    "zugriff verweigert",
];
const NOT_FOUND_TEXT: &[&str] = &[
    "not found",
    "does not exist",
    "nicht gefunden",
    "existiert nicht",
];

/// Detail codes meaning the credentials or the context were refused (see above: the simulator's
/// `EF00010`; the real gateway's code is not documented).
const AUTHENTICATION_CODES: &[&str] = &["EF00010"];

impl ApiError {
    /// Builds the error from a decoded envelope and the HTTP status it came with.
    pub fn from_envelope<T>(task: &'static str, http_status: u16, env: &Envelope<T>) -> Self {
        let mut messages = Vec::new();
        flatten(&env.messages, &mut messages);
        ApiError {
            task,
            http_status,
            stid: env.stid.clone(),
            status_code: env.status.as_ref().and_then(|s| s.code.clone()),
            status_text: env.status.as_ref().and_then(|s| s.text.clone()),
            messages,
        }
    }

    /// The request fields the answer names as refused: the object types of its messages that
    /// look like a field path (lower-case first letter, as `product` or `conditions[0]/key`;
    /// object types such as `Certificate` are not fields), each once, in order.
    pub fn refused_fields(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for f in self.messages.iter().filter_map(|m| m.object.as_deref()) {
            if f.starts_with(|c: char| c.is_ascii_lowercase()) && !out.contains(&f) {
                out.push(f);
            }
        }
        out
    }

    /// Every `EF…` code in order.
    pub fn codes(&self) -> impl Iterator<Item = &str> {
        self.messages.iter().filter_map(|m| m.code.as_deref())
    }

    fn kind(&self) -> ErrorKind {
        match self.http_status {
            401 | 403 => ErrorKind::Authentication,
            404 => ErrorKind::NotFound,
            429 | 500..=599 => ErrorKind::Transient,
            _ if self.codes().any(|c| AUTHENTICATION_CODES.contains(&c)) => {
                ErrorKind::Authentication
            }
            _ if self.codes().any(|c| NOT_FOUND_CODES.contains(&c)) => ErrorKind::NotFound,
            _ if self.codes().any(|c| BUSY_CODES.contains(&c)) => ErrorKind::Transient,
            200..=299 => self.kind_by_text().unwrap_or(ErrorKind::Rejected),
            _ => ErrorKind::Rejected,
        }
    }

    /// The class an error text names, for codes nobody documents (see [`TRANSIENT_TEXT`]).
    fn kind_by_text(&self) -> Option<ErrorKind> {
        let texts: Vec<String> = self
            .status_text
            .iter()
            .chain(self.messages.iter().filter_map(|m| m.text.as_ref()))
            .map(|t| t.to_lowercase())
            .collect();
        let says = |phrases: &[&str]| texts.iter().any(|t| phrases.iter().any(|p| t.contains(p)));
        if says(TRANSIENT_TEXT) {
            Some(ErrorKind::Transient)
        } else if says(AUTHENTICATION_TEXT) {
            Some(ErrorKind::Authentication)
        } else if says(NOT_FOUND_TEXT) {
            Some(ErrorKind::NotFound)
        } else {
            None
        }
    }
}

fn flatten(messages: &[Message], out: &mut Vec<ApiMessage>) {
    for m in messages {
        // A message that is only a container (no code, no text) adds nothing itself.
        if m.code.is_some() || m.text.is_some() || m.notice.is_some() {
            out.push(ApiMessage {
                code: m.code.clone(),
                text: m.text.clone().or_else(|| m.notice.clone()),
                object: m.objects.iter().find_map(|o| o.kind.clone()),
            });
        }
        flatten(&m.messages, out);
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind() {
            ErrorKind::Authentication => {
                "refused the credentials (check user, password and context)"
            }
            ErrorKind::NotFound => "found no such object",
            ErrorKind::Transient => "is unavailable for now (will retry)",
            _ => "rejected the request",
        };
        write!(f, "AutoDNS {} {what}: HTTP {}", self.task, self.http_status)?;
        if let Some(code) = &self.status_code {
            write!(f, ", {code}")?;
        }
        if let Some(text) = &self.status_text {
            write!(f, " {}", one_line(text))?;
        }
        for m in &self.messages {
            match (&m.code, &m.text) {
                (Some(c), Some(t)) => write!(f, "; {c}: {}", one_line(t))?,
                (Some(c), None) => write!(f, "; {c}")?,
                (None, Some(t)) => write!(f, "; {}", one_line(t))?,
                (None, None) => {}
            }
        }
        if let Some(stid) = &self.stid {
            write!(f, " (stid {stid})")?;
        }
        Ok(())
    }
}

/// Keeps server text on one log line and bounded in length.
fn one_line(text: &str) -> String {
    let mut s: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    if text.chars().count() > 300 {
        s.push('…');
    }
    s
}

/// Everything that can go wrong talking to AutoDNS.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No HTTP answer: connection refused, DNS, TLS, reset, timeout.
    #[error("AutoDNS {task}: no answer from {endpoint}: {reason}")]
    Network {
        /// The task.
        task: &'static str,
        /// The URL (without credentials).
        endpoint: String,
        /// What failed.
        reason: String,
        /// True when the request timed out (the server may still have acted on it).
        timed_out: bool,
        /// True when no connection could be made, so the request was certainly not sent.
        not_sent: bool,
    },
    /// The API answered with an error.
    #[error("{0}")]
    Api(ApiError),
    /// The answer was not the API's envelope, or was cut off, or was hostile XML.
    #[error("AutoDNS {task}: answer not understood (HTTP {http_status}{}): {reason}", stid_suffix(.stid))]
    Malformed {
        /// The task.
        task: &'static str,
        /// The HTTP status (0 when there was no HTTP exchange, as in `parse_push`).
        http_status: u16,
        /// `X-Domainrobot-Stid` if the server sent one.
        stid: Option<String>,
        /// What did not parse.
        reason: String,
    },
    /// The client refused to build the request (e.g. a download password outside the API's
    /// rule); nothing was sent.
    #[error("AutoDNS {task}: request not sent: {reason}")]
    InvalidRequest {
        /// The task.
        task: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The client settings cannot work (bad endpoint URL, bad header value).
    #[error("AutoDNS client settings: {0}")]
    Settings(String),
}

fn stid_suffix(stid: &Option<String>) -> String {
    stid.as_ref()
        .map(|s| format!(", stid {s}"))
        .unwrap_or_default()
}

impl Error {
    /// The class of the error, for the caller's next decision.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Network { .. } => ErrorKind::Transient,
            Error::Api(api) => api.kind(),
            Error::Malformed { http_status, .. } => match http_status {
                // An HTML error page from a proxy or an overloaded gateway: try again later.
                429 | 500..=599 => ErrorKind::Transient,
                401 | 403 => ErrorKind::Authentication,
                404 => ErrorKind::NotFound,
                _ => ErrorKind::Malformed,
            },
            Error::InvalidRequest { .. } | Error::Settings(_) => ErrorKind::Rejected,
        }
    }

    /// True when the same request may succeed later.
    pub fn is_transient(&self) -> bool {
        self.kind() == ErrorKind::Transient
    }

    /// True when a request that changes state (an order) may have been carried out although we
    /// got no usable answer: the caller must look the order up before ordering again.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            Error::Network { not_sent, .. } => !not_sent,
            Error::Malformed { .. } => true,
            // A 5xx may come from a proxy after the API acted; a 429 is a refusal before acting.
            Error::Api(api) => api.http_status >= 500,
            Error::InvalidRequest { .. } | Error::Settings(_) => false,
        }
    }

    /// The API error, if the API answered with one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(a) => Some(a),
            _ => None,
        }
    }

    /// The server transaction id, if known.
    pub fn stid(&self) -> Option<&str> {
        match self {
            Error::Api(a) => a.stid.as_deref(),
            Error::Malformed { stid, .. } => stid.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status, if there was an HTTP answer.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::Api(a) => Some(a.http_status),
            Error::Malformed { http_status, .. } if *http_status != 0 => Some(*http_status),
            _ => None,
        }
    }

    /// The API's status code (`E…`), if any.
    pub fn status_code(&self) -> Option<&str> {
        self.api().and_then(|a| a.status_code.as_deref())
    }

    pub(crate) fn malformed(
        task: &'static str,
        http_status: u16,
        reason: impl Into<String>,
    ) -> Self {
        Error::Malformed {
            task,
            http_status,
            stid: None,
            reason: reason.into(),
        }
    }
}

/// Turns a decoded envelope into `Ok` or the API error it reports. A non-2xx status is an error
/// even if the body claims success; a 2xx with an `ERROR` status is an error too (the XML gateway
/// answers 200 for API errors, §1.10).
pub(crate) fn check<T>(
    task: &'static str,
    http_status: u16,
    env: Envelope<T>,
) -> Result<Envelope<T>, Error> {
    let http_ok = (200..300).contains(&http_status);
    if http_ok && !env.is_error() {
        return Ok(env);
    }
    Err(Error::Api(ApiError::from_envelope(task, http_status, &env)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autodns::model::{ResponseStatus, StatusType};

    fn api(http: u16, codes: &[&str]) -> Error {
        Error::Api(ApiError {
            task: "CertificateInfo",
            http_status: http,
            stid: Some("20260101-app1-1".into()),
            status_code: Some("E400104".into()),
            status_text: Some("Certificate not\nfound".into()),
            messages: codes
                .iter()
                .map(|c| ApiMessage {
                    code: Some((*c).to_string()),
                    text: Some("detail".into()),
                    object: None,
                })
                .collect(),
        })
    }

    #[test]
    fn classification_follows_http_status_then_detail_codes() {
        assert_eq!(api(401, &[]).kind(), ErrorKind::Authentication);
        assert_eq!(api(404, &[]).kind(), ErrorKind::NotFound);
        assert_eq!(api(429, &[]).kind(), ErrorKind::Transient);
        assert_eq!(api(503, &[]).kind(), ErrorKind::Transient);
        assert_eq!(api(400, &["EF01000"]).kind(), ErrorKind::Rejected);
        assert_eq!(api(200, &["EF300101"]).kind(), ErrorKind::NotFound);
        assert_eq!(api(200, &["EF00010"]).kind(), ErrorKind::Authentication);
        assert_eq!(api(200, &["EF4001061"]).kind(), ErrorKind::Transient);
        assert_eq!(api(400, &["EF4001062"]).kind(), ErrorKind::Transient);
        assert!(!api(200, &["EF4001061"]).outcome_unknown());
    }

    #[test]
    fn display_is_one_line_with_every_code_and_the_stid() {
        let s = api(400, &["EF01000", "EF400139"]).to_string();
        assert!(!s.contains('\n'), "{s}");
        for part in [
            "CertificateInfo",
            "HTTP 400",
            "E400104",
            "EF01000",
            "EF400139",
            "20260101-app1-1",
        ] {
            assert!(s.contains(part), "{part} missing from {s}");
        }
    }

    #[test]
    fn an_envelope_with_error_type_is_an_error_even_with_http_200() {
        let env: Envelope<()> = Envelope {
            status: Some(ResponseStatus {
                code: Some("E400101".into()),
                text: None,
                kind: Some(StatusType::Error),
            }),
            ..Default::default()
        };
        assert!(check("CertificateCreate", 200, env).is_err());
        let ok: Envelope<()> = Envelope {
            status: Some(ResponseStatus {
                code: Some("N400101".into()),
                text: None,
                kind: Some(StatusType::Notify),
            }),
            ..Default::default()
        };
        assert!(check("CertificateCreate", 200, ok).is_ok());
    }
}
