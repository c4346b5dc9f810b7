//! Jobs: the asynchronous job an order starts (`Job`), its workflow events, and the job with the
//! object it works on (`ObjectJob`, job info and job lists).

use serde::{Deserialize, Serialize};

use super::contact::BasicUser;
use super::enums::JobStatus;
use super::envelope::ResponseObject;
use super::scalar::{lenient, Timestamp};

/// `Job` (§2.14): the asynchronous job an order starts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// Job id (large: use 64 bits).
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    /// Creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Timestamp>,
    /// Last update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<Timestamp>,
    /// Owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<BasicUser>,
    /// Last updater.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updater: Option<BasicUser>,
    /// State.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<JobStatus>,
    /// Finer state, e.g. `WF_EMAIL_AUTH`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_status: Option<String>,
    /// When the job ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<Timestamp>,
    /// The product, for certificate jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_type: Option<String>,
    /// `create`, `renew`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The client transaction id of the request that started the job. The XML gateway's job
    /// element carries it as `<ctid>` (§3.3, seen in poll messages); the JSON `Job` has no such
    /// member and names it in `events[].ctid` instead (see [`Job::ctid`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctid: Option<String>,
    /// `WorkflowEvent`s of the job (JSON, §2.14 Job).
    #[serde(
        default,
        deserialize_with = "lenient::vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub events: Vec<WorkflowEvent>,
}

impl Job {
    /// The ctid of the request that started the job: `ctid` if the answer carried one, else the
    /// first workflow event's. [INFER] the OpenAPI file puts a `ctid` only into `WorkflowEvent`
    /// (§2.14); no sample shows a job answer with events, so either place is accepted.
    pub fn ctid(&self) -> Option<&str> {
        fn given(c: &Option<String>) -> Option<&str> {
            c.as_deref().filter(|c| !c.trim().is_empty())
        }
        given(&self.ctid).or_else(|| self.events.iter().find_map(|e| given(&e.ctid)))
    }
}

/// `WorkflowEvent` (§2.14 Job): one step of a job, with the ctid of the request behind it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowEvent {
    /// The job.
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub job_id: Option<i64>,
    /// The workflow step.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub vertex: Option<String>,
    /// The client transaction id of the request that caused the event.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub ctid: Option<String>,
    /// The object the event concerns.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub object: Option<String>,
    /// Event type.
    #[serde(
        rename = "type",
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub kind: Option<String>,
    /// Event subtype.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub subtype: Option<String>,
}

/// One validation step's state inside an [`ObjectJob`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationStatus {
    /// `AuthenticateStatus`, e.g. `IN_PROGRESS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `AuthenticationStep`, e.g. `DOMAIN_VERIFICATION`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Last change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<Timestamp>,
}

/// `ObjectJob` (§2.12): a job with the object it works on (job info).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectJob {
    /// The job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<Job>,
    /// The object, e.g. `{type: Certificate, value: <name>, data: {id, ...}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<ResponseObject>,
    /// Validation progress.
    #[serde(
        default,
        deserialize_with = "lenient::vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub authentication: Vec<AuthenticationStatus>,
    /// Free-text notices.
    #[serde(
        default,
        deserialize_with = "lenient::vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub notices: Vec<String>,
}

impl ObjectJob {
    /// The certificate id the job works on, from `object.data.id` (§2.12).
    pub fn certificate_id(&self) -> Option<i64> {
        self.object.as_ref().and_then(ResponseObject::data_id)
    }

    /// The job id.
    pub fn job_id(&self) -> Option<i64> {
        self.job.as_ref().and_then(|j| j.id)
    }

    /// The job's status.
    pub fn status(&self) -> Option<&JobStatus> {
        self.job.as_ref().and_then(|j| j.status.as_ref())
    }

    /// True when the job waits for the mailbox owner to confirm GlobalSign's approval mail: it
    /// is not finished and it is `DEFERRED` or `WAIT` (§2.14 `JobStatusConstants`), its
    /// sub-status is an e-mail validation (`WF_EMAIL_AUTH`, §2.12), or a validation step waits
    /// on the customer (`PENDING_CUSTOMER_APPROVAL`, `COMMUNICATION_SENT_TO_CUSTOMER`,
    /// `ATTEMPTED_TO_REACH_CUSTOMER`, §2.14 `AuthenticateStatus`). For a PersonalSign order the
    /// only validation is that mail (docs/autodns-api.md §4.3).
    pub fn awaits_approval(&self) -> bool {
        const CUSTOMER: &[&str] = &[
            "PENDING_CUSTOMER_APPROVAL",
            "COMMUNICATION_SENT_TO_CUSTOMER",
            "ATTEMPTED_TO_REACH_CUSTOMER",
        ];
        let Some(job) = &self.job else {
            return false;
        };
        if job.status.as_ref().is_some_and(JobStatus::is_final) {
            return false;
        }
        matches!(job.status, Some(JobStatus::Deferred | JobStatus::Wait))
            || job
                .sub_status
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("WF_EMAIL_AUTH"))
            || self.authentication.iter().any(|a| {
                a.status
                    .as_deref()
                    .is_some_and(|s| CUSTOMER.iter().any(|c| s.eq_ignore_ascii_case(c)))
            })
    }

    /// The ctid of the request that started the job, if the answer names it (see [`Job::ctid`]).
    pub fn ctid(&self) -> Option<&str> {
        self.job.as_ref().and_then(Job::ctid)
    }

    /// The name of the object the job works on (for certificates: the certificate name, i.e.
    /// the mailbox address): `object.value`, else the name inside `object.data`.
    pub fn object_name(&self) -> Option<&str> {
        let o = self.object.as_ref()?;
        o.value
            .as_deref()
            .filter(|v| !v.trim().is_empty())
            .or_else(|| {
                let d = o.data.as_ref()?;
                d.get("name")
                    .or_else(|| d.get("certificate").and_then(|c| c.get("name")))
                    .and_then(serde_json::Value::as_str)
            })
    }

    /// When the job was created.
    pub fn created(&self) -> Option<&Timestamp> {
        self.job.as_ref().and_then(|j| j.created.as_ref())
    }
}
