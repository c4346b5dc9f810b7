//! autodns: the typed client for the InterNetX AutoDNS reseller API.
//!
//! Layers, each in its own file, so the wire format stays apart from the transport and from the
//! model the rest of the program uses:
//!
//! - [`model`]: typed objects shared by both wire formats (`Certificate`, `SslContact`, `Job`,
//!   `PollMessage`, the response envelope, ...), tolerant of unknown fields and enum values.
//! - [`json`], [`xml`]: pure codecs (no IO) for the JSON API and the XML gateway: encode each
//!   task's request, decode each answer into the model or a typed error. The XML side refuses
//!   DOCTYPEs and never expands entities.
//! - [`error`]: [`Error`], keeping the API's codes and `stid`, classified by [`ErrorKind`].
//! - [`observe`]: the hook that tells the metrics about every request (task, outcome, latency).
//! - [`pacer`]: keeps all clones of a client under the documented 3 requests/second.
//! - [`client`]: [`Client`]: HTTP, auth, headers, bounded retries of reads, one typed method
//!   per task.
//!
//! Facts come from `docs/autodns-api.md` (cited by section, e.g. §2.4) and the seed page
//! on ordering S/MIME certificates; choices the sources do not confirm are marked [INFER].

pub mod client;
pub mod error;
pub mod json;
pub mod model;
pub mod observe;
pub mod pacer;
pub mod xml;

pub use client::{
    is_download_password, CertificateOrder, Client, ClientSettings, JobQueue, PollInfo,
    RetryPolicy, Wire, DEFAULT_PRODUCT, DEFAULT_REQUESTS_PER_SECOND, SEARCH_MAX_PAGES,
    SEARCH_PAGE_SIZE,
};
pub use error::{ApiError, ApiMessage, Error, ErrorKind};
pub use model::{
    BasicUser, CaCertificate, CaType, Certificate, CertificateData, CertificateType, Envelope, Job,
    JobStatus, Message, NotifyMessage, ObjectJob, PollMessage, Query, QueryFilter, QueryView,
    ResponseObject, ResponseStatus, SslContact, StatusType, TimePeriod, Timestamp, WorkflowEvent,
};
pub use observe::{Observer, RequestOutcome, TASK_NAMES};

/// Parses the body of an AutoDNS push notification into the same [`PollMessage`] PollInfo
/// returns. The format is detected from the content: `<` starts XML, `{` starts JSON.
///
/// The push format is not documented (§3.5). [INFER] a push carries the same document as a poll
/// answer, so accepted are: a JSON envelope with the message in `data[0]`, a bare JSON
/// `PollMessage`, an XML `<response>` with `result/data/message`, or a bare `<message>`.
pub fn parse_push(body: &[u8]) -> Result<PollMessage, Error> {
    const TASK: &str = "PushNotification";
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    match first {
        Some(b'{') => {
            let value: serde_json::Value = serde_json::from_slice(body)
                .map_err(|e| Error::malformed(TASK, 0, format!("not JSON: {e}")))?;
            let is_envelope = value
                .as_object()
                .is_some_and(|o| o.contains_key("data") || o.contains_key("status"));
            let message = if is_envelope {
                let env: Envelope<PollMessage> = serde_json::from_value(value)
                    .map_err(|e| Error::malformed(TASK, 0, format!("not a poll envelope: {e}")))?;
                env.data.into_iter().next()
            } else {
                let m: PollMessage = serde_json::from_value(value)
                    .map_err(|e| Error::malformed(TASK, 0, format!("not a poll message: {e}")))?;
                Some(m)
            };
            non_empty(message)
        }
        Some(b'<') => {
            let root = xml::parse_document(body).map_err(|r| Error::malformed(TASK, 0, r))?;
            let message = match root.name.as_str() {
                "message" => {
                    Some(xml::read_poll_message(&root).map_err(|r| Error::malformed(TASK, 0, r))?)
                }
                "response" => {
                    let env: Envelope<PollMessage> = xml::decode_response_element(&root)
                        .map_err(|r| Error::malformed(TASK, 0, r))?;
                    env.data.into_iter().next()
                }
                other => {
                    return Err(Error::malformed(
                        TASK,
                        0,
                        format!(
                            "root element <{}> is neither <response> nor <message>",
                            other.chars().take(40).collect::<String>()
                        ),
                    ))
                }
            };
            non_empty(message)
        }
        Some(_) => Err(Error::malformed(TASK, 0, "body is neither JSON nor XML")),
        None => Err(Error::malformed(TASK, 0, "empty body")),
    }
}

/// A push must carry a message with at least an id or a job; an empty one is not a notification.
fn non_empty(m: Option<PollMessage>) -> Result<PollMessage, Error> {
    match m {
        Some(m) if m.id.is_some() || m.job.is_some() || m.notify.is_some() => Ok(m),
        _ => Err(Error::malformed(
            "PushNotification",
            0,
            "no message (neither id, job nor notify) in the body",
        )),
    }
}
