//! Requests: each API task with its payload (`Task`), the search query, and the request that
//! pairs a task with our ctid.

use serde::{Deserialize, Serialize};

use super::certificate::{Certificate, CertificateData};
use super::contact::SslContact;
use super::scalar::lenient;

/// `QueryFilter` (§1.12); only the flat form the client needs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryFilter {
    /// Field name, e.g. `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Value; `LIKE` takes `%` wildcards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `EQUAL`, `LIKE`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
}

/// `QueryView` (§1.12): paging.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryView {
    /// Page size.
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub limit: Option<i64>,
    /// Offset.
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub offset: Option<i64>,
}

/// `Query` (§1.12): the body of `_search` routes; empty lists everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Query {
    /// Filters, combined with AND.
    #[serde(
        default,
        deserialize_with = "lenient::vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub filters: Vec<QueryFilter>,
    /// Paging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<QueryView>,
}

impl Query {
    /// Objects whose `key` equals `value`.
    pub fn equal(key: &str, value: &str) -> Query {
        Query {
            filters: vec![QueryFilter {
                key: Some(key.to_string()),
                value: Some(value.to_string()),
                operator: Some("EQUAL".to_string()),
            }],
            view: None,
        }
    }

    /// Adds a condition (`operator` in the JSON spelling, e.g. `GREATER_EQUAL`); conditions are
    /// combined with AND.
    pub fn and(mut self, key: &str, operator: &str, value: &str) -> Query {
        self.filters.push(QueryFilter {
            key: Some(key.to_string()),
            value: Some(value.to_string()),
            operator: Some(operator.to_string()),
        });
        self
    }

    /// The same query for the page of at most `limit` items starting at `offset` (§1.12).
    pub fn page(&self, limit: i64, offset: i64) -> Query {
        Query {
            filters: self.filters.clone(),
            view: Some(QueryView {
                limit: Some(limit),
                offset: Some(offset),
            }),
        }
    }
}

/// One API task with its payload: what a request asks for, independent of the wire format.
#[derive(Debug, Clone, PartialEq)]
pub enum Task {
    /// JSON `GET /hello`: checks the connection and the credentials (§1.1). No XML equivalent.
    Hello,
    /// 400201 `POST /sslcontact`.
    SslContactCreate(SslContact),
    /// 400204 `GET /sslcontact/{id}`.
    SslContactInfo {
        /// Contact id.
        id: i64,
    },
    /// 400205 `POST /sslcontact/_search`.
    SslContactList(Query),
    /// 400110 `POST /certificate/_prepareOrder`.
    CertificatePrepareOrder(CertificateData),
    /// 400101 `POST /certificate`.
    CertificateCreate(Box<Certificate>),
    /// 400104 `GET /certificate/{id}`.
    CertificateInfo {
        /// Certificate id.
        id: i64,
    },
    /// 400105 `POST /certificate/_search`.
    CertificateList(Query),
    /// 400115 `POST /job/_search`: the jobs still in the active queue (running, deferred,
    /// waiting), searched with a `Query` (§2.12).
    JobList(Query),
    /// 400135 `POST /job/history/_search`: finished jobs, searched with a `Query` (§2.12).
    JobHistoryList(Query),
    /// 400114 `GET /job/{id}`.
    JobInfo {
        /// Job id.
        id: i64,
    },
    /// `GET /job/history/{id}` (JSON only): a job that has left the active queue, which
    /// `JobInfo` answers with `EF300101` (docs/autodns-api.md, job info).
    JobHistory {
        /// Job id.
        id: i64,
    },
    /// 400118 `PUT /job/{id}/_resendApproverEmail` (JSON only): sends the approval mail of a
    /// job waiting for it again (§4.3). The XML gateway documents no such task.
    JobResendApproverEmail {
        /// Job id.
        id: i64,
    },
    /// 400106 `PUT /certificate/{id}/_renew`; the id is `certificate.id`.
    CertificateRenew(Box<Certificate>),
    /// 400102 `PUT /certificate/{id}`; the id is `certificate.id`.
    CertificateReissue(Box<Certificate>),
    /// 400103 `DELETE /certificate/{id}`.
    CertificateDelete {
        /// Certificate id.
        id: i64,
    },
    /// 4001031 `POST /certificate/{id}/_revoke`; id and `serial_number` in the certificate.
    CertificateRevoke(Box<Certificate>),
    /// 0905 `GET /poll`.
    PollInfo,
    /// 0906 `PUT /poll/{id}`.
    PollConfirm {
        /// Message id.
        id: i64,
    },
}

impl Task {
    /// The task's name as the API documentation spells it (used in logs and errors).
    pub fn name(&self) -> &'static str {
        match self {
            Task::Hello => "Hello",
            Task::SslContactCreate(_) => "SSLContactCreate",
            Task::SslContactInfo { .. } => "SSLContactInfo",
            Task::SslContactList(_) => "SSLContactList",
            Task::CertificatePrepareOrder(_) => "CertificatePrepareOrder",
            Task::CertificateCreate(_) => "CertificateCreate",
            Task::CertificateInfo { .. } => "CertificateInfo",
            Task::CertificateList(_) => "CertificateList",
            Task::JobList(_) => "CertificateJobList",
            Task::JobHistoryList(_) => "CertificateJobHistoryList",
            Task::JobInfo { .. } => "CertificateJobInfo",
            Task::JobHistory { .. } => "CertificateJobHistoryInfo",
            Task::JobResendApproverEmail { .. } => "ApproverEmailResend",
            Task::CertificateRenew(_) => "CertificateRenew",
            Task::CertificateReissue(_) => "CertificateReissue",
            Task::CertificateDelete { .. } => "CertificateDelete",
            Task::CertificateRevoke(_) => "CertificateRevoke",
            Task::PollInfo => "PollInfo",
            Task::PollConfirm { .. } => "PollConfirm",
        }
    }

    /// The XML gateway task code (§2.1). `None` for `Hello`, `JobHistory` and
    /// `JobResendApproverEmail`, which only the JSON API has (the gateway's history is a search,
    /// 400135; no source documents an XML request for the approver mail resend).
    pub fn xml_code(&self) -> Option<&'static str> {
        Some(match self {
            Task::Hello | Task::JobHistory { .. } | Task::JobResendApproverEmail { .. } => {
                return None
            }
            Task::SslContactCreate(_) => "400201",
            Task::SslContactInfo { .. } => "400204",
            Task::SslContactList(_) => "400205",
            Task::CertificatePrepareOrder(_) => "400110",
            Task::CertificateCreate(_) => "400101",
            Task::CertificateInfo { .. } => "400104",
            Task::CertificateList(_) => "400105",
            Task::JobList(_) => "400115",
            Task::JobHistoryList(_) => "400135",
            Task::JobInfo { .. } => "400114",
            Task::CertificateRenew(_) => "400106",
            Task::CertificateReissue(_) => "400102",
            Task::CertificateDelete { .. } => "400103",
            Task::CertificateRevoke(_) => "4001031",
            Task::PollInfo => "0905",
            Task::PollConfirm { .. } => "0906",
        })
    }

    /// True when sending the task twice has the same effect as sending it once, so a transient
    /// failure may be retried. Orders (create, renew, reissue), delete, revoke and contact create
    /// cost money or create objects: they are never retried; the caller recovers by lookup.
    /// PollConfirm of the same message id twice is harmless. A resent approval mail is not
    /// retried either: a lost answer must not send the mailbox owner a second mail.
    pub fn is_idempotent(&self) -> bool {
        matches!(
            self,
            Task::Hello
                | Task::SslContactInfo { .. }
                | Task::SslContactList(_)
                | Task::CertificatePrepareOrder(_)
                | Task::CertificateInfo { .. }
                | Task::CertificateList(_)
                | Task::JobList(_)
                | Task::JobHistoryList(_)
                | Task::JobInfo { .. }
                | Task::JobHistory { .. }
                | Task::PollInfo
                | Task::PollConfirm { .. }
        )
    }
}

/// A task together with our client transaction id (`X-Domainrobot-Ctid` / `<ctid>`).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// What to do.
    pub task: Task,
    /// Our id for this request; AutoDNS echoes it and puts it in the job's poll message.
    pub ctid: Option<String>,
}
