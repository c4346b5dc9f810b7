//! Poll and push messages: a job result or an event notification from the poll queue (§3.2).

use serde::{Deserialize, Serialize};

use super::contact::BasicUser;
use super::enums::JobStatus;
use super::envelope::{Message, ResponseObject};
use super::job::Job;
use super::scalar::{lenient, Timestamp};

/// `NotifyMessage` (§2.14): an event notification (not a job result).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NotifyMessage {
    /// Event type, e.g. `domain_away`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The object concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<ResponseObject>,
}

/// `PollMessage` (§2.14, §3.2): one message from the poll queue or a push.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PollMessage {
    /// Message id; confirm with it (PollConfirm takes the message id, not the job id, §3.4).
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    /// Owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<BasicUser>,
    /// The finished job (job notifications).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<Job>,
    /// The event (event notifications).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<NotifyMessage>,
    /// Server transaction id of the original request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stid: Option<String>,
    /// Our ctid of the original request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctid: Option<String>,
    /// Detail messages (failure reasons).
    #[serde(
        default,
        deserialize_with = "lenient::vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub messages: Vec<Message>,
    /// Flags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<String>,
    /// Notice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    /// When the message was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Timestamp>,
    /// The object the job worked on; for certificates `data.id` is the certificate id (§3.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<ResponseObject>,
}

impl PollMessage {
    /// The job id (`job.id`), equal to the id CertificateCreate returned.
    pub fn job_id(&self) -> Option<i64> {
        self.job.as_ref().and_then(|j| j.id)
    }

    /// The certificate id from `object.data.id` (§3.2). `None` means: look it up by name.
    pub fn certificate_id(&self) -> Option<i64> {
        self.object.as_ref().and_then(ResponseObject::data_id)
    }

    /// The ctid we sent with the original request.
    pub fn ctid(&self) -> Option<&str> {
        self.ctid.as_deref()
    }

    /// The object's value (for certificates, the certificate name: the mailbox address).
    pub fn object_value(&self) -> Option<&str> {
        self.object.as_ref().and_then(|o| o.value.as_deref())
    }

    /// True for a job notification whose job succeeded.
    pub fn is_success(&self) -> bool {
        matches!(
            self.job.as_ref().and_then(|j| j.status.as_ref()),
            Some(JobStatus::Success)
        )
    }

    /// True for a job notification whose job failed or was cancelled.
    pub fn is_failure(&self) -> bool {
        matches!(
            self.job.as_ref().and_then(|j| j.status.as_ref()),
            Some(JobStatus::Failed | JobStatus::Canceled)
        )
    }

    /// True when the message is about a certificate (`object.type` or the job's product).
    pub fn is_certificate(&self) -> bool {
        let by_object = self
            .object
            .as_ref()
            .and_then(|o| o.kind.as_deref())
            .is_some_and(|k| k.eq_ignore_ascii_case("certificate"));
        let by_job = self
            .job
            .as_ref()
            .and_then(|j| j.sub_type.as_deref())
            .is_some_and(|s| s.to_ascii_uppercase().contains("PERSONALSIGN"));
        by_object || by_job
    }
}
