//! The JSON API codec: pure functions between the typed model and JSON API requests/answers
//! (no IO). Routes per reference §2.1; the envelope per §1.6. Serde attributes in `model.rs` are
//! the field mapping; this file adds routing and the two places where JSON differs from XML:
//! the approver address (§4.3) and the search column selection (`keys[]`, §1.12).

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::Error;
use super::model::*;

/// HTTP methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
}

impl Method {
    /// The method name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// An HTTP request for one task: method, path under the base URL (`certificate/42`), query
/// pairs, and a JSON body if the task has one.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    /// Method.
    pub method: Method,
    /// Path relative to the API base (`…/v1/`), no leading slash.
    pub path: String,
    /// Query parameters (`keys[]` column selections).
    pub query: Vec<(String, String)>,
    /// The JSON body.
    pub body: Option<Vec<u8>>,
}

/// Columns requested on `POST /certificate/_search`, so recovery by name sees enough to decide
/// (§2.6 lists the allowed keys; without keys items are sparse).
const CERTIFICATE_LIST_KEYS: &[&str] =
    &["name", "product", "created", "expire", "certificate_type"];
/// Columns requested on `POST /job/_search` and `POST /job/history/_search`, so a lost order can
/// be recognised by its certificate name, state and age (§2.12 lists the allowed keys).
const JOB_LIST_KEYS: &[&str] = &[
    "created",
    "updated",
    "status",
    "subStatus",
    "object",
    "action",
];
/// Columns requested on `POST /sslcontact/_search` (§2.11), so an existing contact can be
/// matched by e-mail and reused.
const CONTACT_LIST_KEYS: &[&str] = &["email", "fname", "lname", "organization"];

fn to_body<T: Serialize>(task: &'static str, v: &T) -> Result<Option<Vec<u8>>, Error> {
    serde_json::to_vec(v)
        .map(Some)
        .map_err(|e| Error::InvalidRequest {
            task,
            reason: format!("cannot encode the body: {e}"),
        })
}

/// The JSON form of a certificate: the XML-only `approver_email` becomes
/// `authentication {method: EMAIL, approverEmails: [...]}` (§4.3) unless an authentication is
/// already set.
fn json_certificate(c: &Certificate) -> Certificate {
    let mut c = c.clone();
    if c.authentication.is_none() {
        if let Some(a) = &c.approver_email {
            c.authentication = Some(CertAuthentication {
                method: Some(AuthMethod::Email),
                approver_emails: vec![a.clone()],
                ..Default::default()
            });
        }
    }
    c
}

/// The inverse of [`json_certificate`] on the read side: an EMAIL authentication names the
/// approver, so `approver_email` is filled in for callers that read it.
fn from_json_certificate(mut c: Certificate) -> Certificate {
    if c.approver_email.is_none() {
        if let Some(a) = &c.authentication {
            if a.method == Some(AuthMethod::Email) {
                c.approver_email = a.approver_emails.first().cloned();
            }
        }
    }
    c
}

fn need_id(task: &'static str, id: Option<i64>) -> Result<i64, Error> {
    id.ok_or_else(|| Error::InvalidRequest {
        task,
        reason: "the certificate id is missing".into(),
    })
}

fn keys(list: &[&str]) -> Vec<(String, String)> {
    list.iter()
        .map(|k| ("keys[]".to_string(), (*k).to_string()))
        .collect()
}

/// Encodes one task as an HTTP request (routes: §2.1 summary table; current spelling of the
/// OpenAPI file where sources differ, §2.2).
pub fn encode_request(task: &Task) -> Result<HttpRequest, Error> {
    let name = task.name();
    let req = |method, path: String, body| HttpRequest {
        method,
        path,
        query: Vec::new(),
        body,
    };
    Ok(match task {
        Task::Hello => req(Method::Get, "hello".into(), None),
        Task::SslContactCreate(c) => req(Method::Post, "sslcontact".into(), to_body(name, c)?),
        Task::SslContactInfo { id } => req(Method::Get, format!("sslcontact/{id}"), None),
        Task::SslContactList(q) => HttpRequest {
            query: keys(CONTACT_LIST_KEYS),
            ..req(Method::Post, "sslcontact/_search".into(), to_body(name, q)?)
        },
        Task::CertificatePrepareOrder(d) => req(
            Method::Post,
            "certificate/_prepareOrder".into(),
            to_body(name, d)?,
        ),
        Task::CertificateCreate(c) => req(
            Method::Post,
            "certificate".into(),
            to_body(name, &json_certificate(c))?,
        ),
        Task::CertificateInfo { id } => req(Method::Get, format!("certificate/{id}"), None),
        Task::CertificateList(q) => HttpRequest {
            query: keys(CERTIFICATE_LIST_KEYS),
            ..req(
                Method::Post,
                "certificate/_search".into(),
                to_body(name, q)?,
            )
        },
        Task::JobList(q) => HttpRequest {
            query: keys(JOB_LIST_KEYS),
            ..req(Method::Post, "job/_search".into(), to_body(name, q)?)
        },
        Task::JobHistoryList(q) => HttpRequest {
            query: keys(JOB_LIST_KEYS),
            ..req(
                Method::Post,
                "job/history/_search".into(),
                to_body(name, q)?,
            )
        },
        Task::JobInfo { id } => req(Method::Get, format!("job/{id}"), None),
        Task::JobHistory { id } => req(Method::Get, format!("job/history/{id}"), None),
        Task::JobResendApproverEmail { id } => {
            req(Method::Put, format!("job/{id}/_resendApproverEmail"), None)
        }
        Task::CertificateRenew(c) => req(
            Method::Put,
            format!("certificate/{}/_renew", need_id(name, c.id)?),
            to_body(name, &json_certificate(c))?,
        ),
        Task::CertificateReissue(c) => req(
            Method::Put,
            format!("certificate/{}", need_id(name, c.id)?),
            to_body(name, &json_certificate(c))?,
        ),
        Task::CertificateDelete { id } => req(Method::Delete, format!("certificate/{id}"), None),
        Task::CertificateRevoke(c) => req(
            Method::Post,
            format!("certificate/{}/_revoke", need_id(name, c.id)?),
            to_body(name, &json_certificate(c))?,
        ),
        Task::PollInfo => req(Method::Get, "poll".into(), None),
        Task::PollConfirm { id } => req(Method::Put, format!("poll/{id}"), None),
    })
}

fn body_of<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| format!("body: {e}"))
}

fn parse_id(s: &str) -> Result<i64, String> {
    s.parse().map_err(|_| format!("not an id: {s:?}"))
}

/// Decodes an HTTP request back into its task (the inverse of [`encode_request`]; for round-trip
/// tests and for anything that must read requests). `path` is relative to the API base.
pub fn decode_request(method: Method, path: &str, body: &[u8]) -> Result<Task, String> {
    let path = path.trim_matches('/');
    let parts: Vec<&str> = path.split('/').collect();
    let cert = |id: Option<i64>| -> Result<Box<Certificate>, String> {
        let mut c = from_json_certificate(body_of::<Certificate>(body)?);
        if id.is_some() {
            c.id = id;
        }
        Ok(Box::new(c))
    };
    Ok(match (method, parts.as_slice()) {
        (Method::Get, ["hello"]) => Task::Hello,
        (Method::Post, ["sslcontact"]) => Task::SslContactCreate(body_of(body)?),
        (Method::Get, ["sslcontact", id]) => Task::SslContactInfo { id: parse_id(id)? },
        (Method::Post, ["sslcontact", "_search"]) => Task::SslContactList(body_of(body)?),
        (Method::Post, ["certificate", "_prepareOrder" | "prepareOrder"]) => {
            Task::CertificatePrepareOrder(body_of(body)?)
        }
        (Method::Post, ["certificate"]) => Task::CertificateCreate(cert(None)?),
        (Method::Get, ["certificate", id]) => Task::CertificateInfo { id: parse_id(id)? },
        (Method::Post, ["certificate", "_search"]) => Task::CertificateList(body_of(body)?),
        (Method::Post, ["job", "_search"]) => Task::JobList(body_of(body)?),
        (Method::Post, ["job", "history", "_search"]) => Task::JobHistoryList(body_of(body)?),
        (Method::Get, ["job", id]) => Task::JobInfo { id: parse_id(id)? },
        (Method::Get, ["job", "history", id]) => Task::JobHistory { id: parse_id(id)? },
        (Method::Put, ["job", id, "_resendApproverEmail"]) => {
            Task::JobResendApproverEmail { id: parse_id(id)? }
        }
        (Method::Put, ["certificate", id, "_renew"]) => {
            Task::CertificateRenew(cert(Some(parse_id(id)?))?)
        }
        (Method::Put, ["certificate", id] | ["certificate", id, "_reissue"]) => {
            Task::CertificateReissue(cert(Some(parse_id(id)?))?)
        }
        (Method::Delete, ["certificate", id]) => Task::CertificateDelete { id: parse_id(id)? },
        (Method::Post | Method::Delete, ["certificate", id, "_revoke"]) => {
            Task::CertificateRevoke(cert(Some(parse_id(id)?))?)
        }
        (Method::Get, ["poll"]) => Task::PollInfo,
        (Method::Put, ["poll", id]) => Task::PollConfirm { id: parse_id(id)? },
        (m, _) => return Err(format!("no task for {} /{path}", m.as_str())),
    })
}

/// A payload type that needs a touch after serde (the certificate's approver address).
pub trait JsonPayload: DeserializeOwned + Serialize {
    /// Adjusts a decoded item.
    fn after_decode(self) -> Self {
        self
    }
}

impl JsonPayload for Certificate {
    fn after_decode(self) -> Self {
        from_json_certificate(self)
    }
}
impl JsonPayload for SslContact {}
impl JsonPayload for CertificateData {}
impl JsonPayload for Job {}
impl JsonPayload for ObjectJob {}
impl JsonPayload for PollMessage {}
impl JsonPayload for Void {}
impl JsonPayload for serde_json::Value {}

/// True when the JSON value looks like the API's envelope: an object with at least one of its
/// members. Anything else (an HTML page, `[]`, `"ok"`) is not an AutoDNS answer.
fn looks_like_envelope(v: &serde_json::Value) -> bool {
    v.as_object().is_some_and(|o| {
        ["status", "stid", "data", "messages", "object"]
            .iter()
            .any(|k| o.contains_key(*k))
    })
}

/// Decodes an answer into the envelope without judging success (see `error::check`).
///
/// If the payload does not fit `T` but the envelope itself reports an error, the error envelope
/// is returned with empty data, so the caller still sees the API's codes.
pub fn decode_response<T: JsonPayload>(
    task: &'static str,
    http_status: u16,
    body: &[u8],
) -> Result<Envelope<T>, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::malformed(task, http_status, "empty body"));
    }
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        let start = String::from_utf8_lossy(&body[..body.len().min(60)]).replace(['\r', '\n'], " ");
        Error::malformed(
            task,
            http_status,
            format!("not JSON ({e}); body starts {start:?}"),
        )
    })?;
    if !looks_like_envelope(&value) {
        return Err(Error::malformed(
            task,
            http_status,
            "JSON but not an AutoDNS envelope",
        ));
    }
    match serde_json::from_value::<Envelope<T>>(value.clone()) {
        Ok(mut env) => {
            env.data = env
                .data
                .into_iter()
                .map(JsonPayload::after_decode)
                .collect();
            Ok(env)
        }
        Err(e) => {
            let reason = format!("envelope does not match the API's schema: {e}");
            match serde_json::from_value::<Envelope<serde_json::Value>>(value) {
                Ok(loose) if loose.is_error() || !(200..300).contains(&http_status) => {
                    Ok(Envelope {
                        stid: loose.stid,
                        ctid: loose.ctid,
                        status: loose.status,
                        object: loose.object,
                        data: Vec::new(),
                        messages: loose.messages,
                    })
                }
                Ok(loose) => Err(Error::Malformed {
                    task,
                    http_status,
                    stid: loose.stid,
                    reason,
                }),
                Err(_) => Err(Error::malformed(task, http_status, reason)),
            }
        }
    }
}

/// Encodes an envelope as a JSON answer.
pub fn encode_response<T: JsonPayload>(env: &Envelope<T>) -> Vec<u8> {
    // Serialising plain data with string keys cannot fail; an empty body would be reported as
    // malformed by any reader, so the fallback is still loud.
    serde_json::to_vec(env).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_follow_the_reference_table() {
        let r = |t: Task| encode_request(&t).map(|r| (r.method, r.path)).ok();
        assert_eq!(r(Task::PollInfo), Some((Method::Get, "poll".into())));
        assert_eq!(
            r(Task::PollConfirm { id: 7 }),
            Some((Method::Put, "poll/7".into()))
        );
        assert_eq!(
            r(Task::CertificateInfo { id: 9 }),
            Some((Method::Get, "certificate/9".into()))
        );
        assert_eq!(
            r(Task::CertificateRenew(Box::new(Certificate {
                id: Some(9),
                ..Default::default()
            }))),
            Some((Method::Put, "certificate/9/_renew".into()))
        );
        assert_eq!(
            r(Task::JobInfo { id: 5 }),
            Some((Method::Get, "job/5".into()))
        );
        assert_eq!(
            r(Task::JobHistory { id: 5 }),
            Some((Method::Get, "job/history/5".into()))
        );
    }

    #[test]
    fn renew_without_an_id_is_refused_before_sending() {
        let err = encode_request(&Task::CertificateRenew(Box::default())).err();
        assert!(matches!(err, Some(Error::InvalidRequest { .. })));
    }

    #[test]
    fn the_approver_address_travels_as_email_authentication() {
        let c = Certificate {
            approver_email: Some("a@example.org".into()),
            ..Default::default()
        };
        let req = encode_request(&Task::CertificateCreate(Box::new(c))).ok();
        let body: serde_json::Value = req
            .and_then(|r| r.body)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        assert_eq!(body["authentication"]["method"], "EMAIL");
        assert_eq!(body["authentication"]["approverEmails"][0], "a@example.org");
    }
}
