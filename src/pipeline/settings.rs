//! Owns the reconciler's knobs ([`Settings`]) and their mapping from the validated config: the
//! one place a config value becomes a pipeline setting.

use time::Duration;

use super::backoff::BackoffPolicy;
use super::plan::Policy;

/// The reconciler's knobs (from the validated config).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// The planner's policy.
    pub policy: Policy,
    /// Orders allowed per UTC day.
    pub daily_order_budget: u32,
    /// How long a claim holds if its owner stops answering without dying (a hung call).
    pub lease: Duration,
    /// How long after the bundle mail the password goes out (`delivery.password.delay_secs`
    /// for the separate-mail channel), so the two do not arrive as a pair.
    pub password_delay: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            policy: Policy::default(),
            daily_order_budget: 50,
            lease: Duration::minutes(10),
            password_delay: Duration::ZERO,
        }
    }
}

impl Settings {
    /// The settings a validated config asks for.
    pub fn from_config(c: &crate::config::Config) -> Self {
        let d = |d: std::time::Duration| Duration::try_from(d).unwrap_or(Duration::MAX);
        Settings {
            policy: Policy {
                renew_before: d(c.renewal.margin),
                removal: c.removal.policy,
                job_check_after: d(c.autodns.job_silence_timeout),
                backoff: BackoffPolicy {
                    base: d(c.pipeline.backoff_base),
                    cap: d(c.pipeline.backoff_max),
                    max_attempts: c.pipeline.max_attempts,
                    ..BackoffPolicy::default()
                },
            },
            daily_order_budget: c.autodns.daily_order_budget,
            // A claim must outlast the slowest call (the client's timeout, with its retries).
            lease: d(c.autodns.timeout.saturating_mul(4)).max(Duration::minutes(2)),
            password_delay: match &c.delivery.password {
                crate::config::PasswordChannelConfig::SeparateMail { delay } => d(*delay),
                _ => Duration::ZERO,
            },
        }
    }

    /// How long after an order was sent a lookup that does not find it is not yet taken as
    /// "never placed": the job-check interval, at most 30 minutes (an order refused before it
    /// reached AutoDNS is re-sent after this wait; one that AutoDNS lists late is found instead).
    pub fn listing_grace(&self) -> Duration {
        self.policy.job_check_after.min(Duration::minutes(30))
    }
}
