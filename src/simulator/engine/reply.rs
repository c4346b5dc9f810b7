//! The answer vocabulary every task returns and both wires render: [`Reply`], [`ApiError`], the
//! items and views a reply carries, the per-request [`Ctx`], and the detail (`EF…`) codes.

use time::OffsetDateTime;

use crate::simulator::model::{ApiMsg, Certificate, Contact, Job, Message};

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
    /// Simulator: the job does not wait for an approval (approver mail resend, 400118).
    pub const NOT_AWAITING_APPROVAL: &str = "EF4001181";
    /// Simulator: the contact is still used by a certificate.
    pub const CONTACT_IN_USE: &str = "EF4002031";
}

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
    pub(super) fn new(kind: ObjKind, value: impl Into<String>) -> ObjRef {
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
        /// `Some(keys)` = a list row: only the default columns plus these.
        keys: Option<Vec<String>>,
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
    pub(super) fn ok(code: &str, text: &str) -> Reply {
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
    pub(super) fn object(mut self, o: ObjRef) -> Reply {
        self.object = Some(o);
        self
    }
    pub(super) fn item(mut self, i: Item) -> Reply {
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
    pub(super) fn with_object(mut self, typ: &str, value: &str) -> ApiError {
        if let Some(m) = self.messages.first_mut() {
            m.objects.push((typ.to_string(), value.to_string()));
        }
        self
    }
    pub(super) fn about(mut self, o: ObjRef) -> ApiError {
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
    pub(super) fn search_key(task: &str, path: &str, key: &str) -> ApiError {
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
