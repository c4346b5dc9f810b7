//! The client's settings: endpoint, credentials, wire, pacing and the retry policy for reads,
//! and the bounds on answers and searches.

use std::time::Duration;

use url::Url;

use crate::secret::Secret;

/// The product ordered unless configured otherwise (seed page).
pub const DEFAULT_PRODUCT: &str = "GLOBALSIGN_PERSONALSIGN_1";

/// The documented per-IP request limit (§1.11).
pub const DEFAULT_REQUESTS_PER_SECOND: f64 = 3.0;

/// Largest answer body read. A certificate with its chain is a few kB; anything near this is not
/// an AutoDNS answer.
pub(super) const MAX_BODY: usize = 8 * 1024 * 1024;

/// Items asked for per page of a search (`view.limit`, §1.12).
pub const SEARCH_PAGE_SIZE: i64 = 100;

/// Pages read at most per search. A search that still has items after this many pages is
/// refused rather than cut short: a truncated lookup could report a lost order as "not found"
/// and so buy a second certificate.
pub const SEARCH_MAX_PAGES: usize = 50;

/// Which job queue a job search reads (§2.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobQueue {
    /// Jobs not finished yet: `POST /job/_search`, XML 400115.
    Active,
    /// Finished jobs: `POST /job/history/_search`, XML 400135.
    History,
}

/// Which of the API's two transports to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// The JSON API (`https://api.autodns.com/v1`).
    Json,
    /// The XML gateway (`https://gateway.autodns.com`).
    Xml,
}

/// Everything the client needs. `password` is a [`Secret`]: `Debug` prints no password.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// JSON: the API base, e.g. `https://api.autodns.com/v1`; XML: the gateway URL.
    pub endpoint: Url,
    /// The transport.
    pub wire: Wire,
    /// AutoDNS user name.
    pub user: String,
    /// AutoDNS password.
    pub password: Secret<String>,
    /// Context number (`X-Domainrobot-Context` / `<auth><context>`; SSL objects live in
    /// context 9 in every InterNetX example, §1.2).
    pub context: u32,
    /// Timeout of one HTTP exchange.
    pub timeout: Duration,
    /// Pacing budget; default [`DEFAULT_REQUESTS_PER_SECOND`].
    pub requests_per_second: f64,
    /// The User-Agent header, which the API requires (§1.2).
    pub user_agent: String,
    /// Where the pacer keeps its send times, so a restarted process goes on from them instead
    /// of starting with a full budget (see [`crate::autodns::pacer`]). `None`: start fresh.
    pub pacer_file: Option<std::path::PathBuf>,
}

impl ClientSettings {
    /// Settings with the documented defaults: context 9, 30 s timeout, 3 requests/s, and a
    /// User-Agent naming this program.
    pub fn new(
        endpoint: Url,
        wire: Wire,
        user: impl Into<String>,
        password: Secret<String>,
    ) -> Self {
        ClientSettings {
            endpoint,
            wire,
            user: user.into(),
            password,
            context: 9,
            timeout: Duration::from_secs(30),
            requests_per_second: DEFAULT_REQUESTS_PER_SECOND,
            user_agent: format!("smime-provisioner/{}", env!("CARGO_PKG_VERSION")),
            pacer_file: None,
        }
    }
}

/// How idempotent reads are retried on transient errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total (1 = no retry).
    pub max_attempts: u32,
    /// Wait before the first retry; doubled each time.
    pub first_backoff: Duration,
    /// Upper bound of one wait.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            first_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    pub(super) fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(16)).unwrap_or(u32::MAX);
        self.first_backoff
            .checked_mul(factor)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }
}
