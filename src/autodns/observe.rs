//! Owns the client's instrumentation hook: after every HTTP exchange with AutoDNS the client
//! tells an [`Observer`] which task it was, how it ended ([`RequestOutcome`], a bounded set of
//! kebab-case names) and how long the exchange took (pacing wait excluded). The pipeline's
//! metrics implement it; the client knows nothing of Prometheus.

use std::time::Duration;

use super::error::{Error, ErrorKind};

/// Every task name [`super::model::Task::name`] gives, so a metric can show each task from start.
pub const TASK_NAMES: [&str; 18] = [
    "Hello",
    "SSLContactCreate",
    "SSLContactInfo",
    "SSLContactList",
    "CertificatePrepareOrder",
    "CertificateCreate",
    "CertificateInfo",
    "CertificateList",
    "CertificateJobList",
    "CertificateJobHistoryList",
    "CertificateJobInfo",
    "CertificateJobHistoryInfo",
    "CertificateRenew",
    "CertificateReissue",
    "CertificateDelete",
    "CertificateRevoke",
    "PollInfo",
    "PollConfirm",
];

/// How one exchange with AutoDNS ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestOutcome {
    /// A successful answer.
    Success,
    /// The API refused the request (4xx or an `E…` status).
    Rejected,
    /// The object does not exist.
    NotFound,
    /// The credentials or the context were refused.
    Authentication,
    /// HTTP 429: AutoDNS asked us to slow down.
    RateLimited,
    /// HTTP 5xx.
    ServerError,
    /// An answer that could not be understood.
    Malformed,
    /// No answer: connection refused, reset, DNS, TLS.
    Network,
    /// No answer within the timeout.
    Timeout,
}

impl RequestOutcome {
    /// Every outcome.
    pub const ALL: [RequestOutcome; 9] = [
        RequestOutcome::Success,
        RequestOutcome::Rejected,
        RequestOutcome::NotFound,
        RequestOutcome::Authentication,
        RequestOutcome::RateLimited,
        RequestOutcome::ServerError,
        RequestOutcome::Malformed,
        RequestOutcome::Network,
        RequestOutcome::Timeout,
    ];

    /// The stable kebab-case name (a metric label value).
    pub fn as_str(self) -> &'static str {
        match self {
            RequestOutcome::Success => "success",
            RequestOutcome::Rejected => "rejected",
            RequestOutcome::NotFound => "not-found",
            RequestOutcome::Authentication => "authentication",
            RequestOutcome::RateLimited => "rate-limited",
            RequestOutcome::ServerError => "server-error",
            RequestOutcome::Malformed => "malformed",
            RequestOutcome::Network => "network",
            RequestOutcome::Timeout => "timeout",
        }
    }

    /// Whether AutoDNS (or a proxy in front of it) answered at all: every outcome but
    /// `network` and `timeout`. A 5xx counts as an answer from the endpoint, not from the API,
    /// so it does not count either.
    pub fn answered(self) -> bool {
        !matches!(
            self,
            RequestOutcome::Network | RequestOutcome::Timeout | RequestOutcome::ServerError
        )
    }

    /// The outcome of a finished exchange.
    pub fn of<T>(result: &Result<T, Error>) -> RequestOutcome {
        let e = match result {
            Ok(_) => return RequestOutcome::Success,
            Err(e) => e,
        };
        match e.http_status() {
            Some(429) => return RequestOutcome::RateLimited,
            Some(500..=599) => return RequestOutcome::ServerError,
            _ => {}
        }
        match e {
            Error::Network { timed_out, .. } if *timed_out => RequestOutcome::Timeout,
            Error::Network { .. } => RequestOutcome::Network,
            Error::Malformed { .. } => RequestOutcome::Malformed,
            _ => match e.kind() {
                ErrorKind::NotFound => RequestOutcome::NotFound,
                ErrorKind::Authentication => RequestOutcome::Authentication,
                _ => RequestOutcome::Rejected,
            },
        }
    }
}

/// Told about every exchange the client has with AutoDNS (each retry of a read is one).
pub trait Observer: Send + Sync + std::fmt::Debug {
    /// `task` ended with `outcome` after `latency` (from sending the request to the end of the
    /// answer's body; the pacer's wait before sending is not included).
    fn request(&self, task: &'static str, outcome: RequestOutcome, latency: Duration);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(timed_out: bool) -> Error {
        Error::Network {
            task: "PollInfo",
            endpoint: "http://127.0.0.1/".into(),
            reason: "refused".into(),
            timed_out,
            not_sent: !timed_out,
        }
    }

    #[test]
    fn outcomes_name_429_5xx_timeouts_and_refused_connections_apart() {
        assert_eq!(
            RequestOutcome::of(&Ok::<(), Error>(())),
            RequestOutcome::Success
        );
        assert_eq!(
            RequestOutcome::of::<()>(&Err(network(true))),
            RequestOutcome::Timeout
        );
        assert_eq!(
            RequestOutcome::of::<()>(&Err(network(false))),
            RequestOutcome::Network
        );
        assert_eq!(
            RequestOutcome::of::<()>(&Err(Error::malformed("PollInfo", 429, "html"))),
            RequestOutcome::RateLimited
        );
        assert_eq!(
            RequestOutcome::of::<()>(&Err(Error::malformed("PollInfo", 503, "html"))),
            RequestOutcome::ServerError
        );
        assert_eq!(
            RequestOutcome::of::<()>(&Err(Error::malformed("PollInfo", 200, "junk"))),
            RequestOutcome::Malformed
        );
        assert!(!RequestOutcome::Timeout.answered());
        assert!(RequestOutcome::Rejected.answered());
    }

    #[test]
    fn outcome_names_are_kebab_case_and_distinct() {
        let mut names: Vec<_> = RequestOutcome::ALL.iter().map(|o| o.as_str()).collect();
        assert!(names
            .iter()
            .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '-')));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), RequestOutcome::ALL.len());
    }
}
