//! The response envelope of both transports: status, object, data, and the detail messages
//! that carry the API's codes.

use serde::{Deserialize, Serialize};

use super::enums::StatusType;
use super::scalar::lenient;

/// `GenericObject` (§1.6): what a message refers to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenericObject {
    /// Object type.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Object value.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub value: Option<String>,
}

/// `Message` (§1.6): a detail message, usually carrying an `EF…` code.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Human-readable text (in the account's language).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Notice text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    /// Nested messages.
    #[serde(
        default,
        deserialize_with = "lenient::vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub messages: Vec<Message>,
    /// Objects the message refers to.
    #[serde(
        default,
        deserialize_with = "lenient::vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub objects: Vec<GenericObject>,
    /// The `EF…` code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Its class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusType>,
}

/// `ResponseStatus` (§1.6): the status of a whole response. `resultCode` is accepted for `code`
/// because one help page spells it so.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseStatus {
    /// `S…`, `E…` or `N…` followed by the task code.
    #[serde(default, alias = "resultCode", skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Class.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<StatusType>,
}

/// `ResponseObject` (§1.6): what a response is about, plus list/queue counts in `summary`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseObject {
    /// Object type, e.g. `Certificate`, `Message`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Object value (a name or an id).
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub value: Option<String>,
    /// Total count (lists) or queue length (poll).
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub summary: Option<u64>,
    /// A summary of the object, kept as free JSON (its shape depends on `type`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

impl ResponseObject {
    /// `data.id` as an integer, whether the server wrote a number or a numeric string. Where the
    /// object is wrapped once more (`data.certificate.id`, as an XML `<data><certificate>` block
    /// reads), the wrapped id is taken.
    pub fn data_id(&self) -> Option<i64> {
        let data = self.data.as_ref()?;
        let id = data
            .get("id")
            .or_else(|| data.get("certificate").and_then(|c| c.get("id")))?;
        match id {
            serde_json::Value::Number(n) => n.as_i64(),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

/// The response envelope of both transports (JSON `JsonResponseData`, §1.6; XML `result`, §1.7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>", serialize = "T: Serialize"))]
pub struct Envelope<T> {
    /// Server transaction id; quote it to InterNetX support.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stid: Option<String>,
    /// Echo of our ctid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctid: Option<String>,
    /// The status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ResponseStatus>,
    /// What the response is about (and `summary`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<ResponseObject>,
    /// The payload; single-object tasks put their object in `data[0]`.
    #[serde(
        default = "Vec::new",
        deserialize_with = "lenient::vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub data: Vec<T>,
    /// Detail messages.
    #[serde(
        default,
        deserialize_with = "lenient::vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub messages: Vec<Message>,
}

impl<T> Default for Envelope<T> {
    fn default() -> Self {
        Envelope {
            stid: None,
            ctid: None,
            status: None,
            object: None,
            data: Vec::new(),
            messages: Vec::new(),
        }
    }
}

impl<T> Envelope<T> {
    /// True when the status says the task failed: type `ERROR`, or a code starting with `E`
    /// (§1.8). `NOTIFY` and `NOTICE` are successes: async tasks answer `NOTIFY` (§6.3).
    pub fn is_error(&self) -> bool {
        let Some(status) = &self.status else {
            return false;
        };
        matches!(status.kind, Some(StatusType::Error))
            || status.code.as_deref().is_some_and(|c| c.starts_with('E'))
    }

    /// `object.summary`: the list total or the poll queue length.
    pub fn summary(&self) -> Option<u64> {
        self.object.as_ref().and_then(|o| o.summary)
    }
}

/// The payload of a response with no data (`JsonResponseDataVoid`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Void {}
