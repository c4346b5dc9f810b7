//! Owns the retry schedule of the failure overlay: exponential backoff with jitter, bounded in
//! delay and in attempts (cert-manager, `design/20220118.certificate-issuance-exponential-
//! backoff.md`: delay doubles from a base up to a cap; the inputs are persisted on the record so a
//! restart continues the schedule).
//!
//! Pure: the random part comes in as a number in `[0, 1)` drawn by the caller from its injected
//! RNG, so tests can pin it.

use time::{Duration, OffsetDateTime};

/// How failures are retried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffPolicy {
    /// Delay after the first failure.
    pub base: Duration,
    /// Longest delay between two attempts.
    pub cap: Duration,
    /// After this many consecutive failures the record gives up and waits for an operator.
    pub max_attempts: u32,
    /// Fraction (0..=1) of the delay that is randomised away, so mailboxes that failed together
    /// (an AutoDNS outage) do not all retry in the same second.
    pub jitter: f64,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            base: Duration::seconds(30),
            cap: Duration::hours(6),
            max_attempts: 12,
            jitter: 0.2,
        }
    }
}

impl BackoffPolicy {
    /// The delay before attempt `attempts + 1`, after `attempts` (≥ 1) consecutive failures.
    /// `sample` is uniform in `[0, 1)`. Never longer than `cap`, never shorter than
    /// `(1 - jitter) × min(cap, base × 2^(attempts-1))`.
    pub fn delay(&self, attempts: u32, sample: f64) -> Duration {
        let exp = attempts.saturating_sub(1).min(40);
        let raw = self.base.as_seconds_f64() * 2f64.powi(i32::try_from(exp).unwrap_or(40));
        let capped = raw.min(self.cap.as_seconds_f64());
        let jitter = self.jitter.clamp(0.0, 1.0);
        let sample = if sample.is_finite() {
            sample.clamp(0.0, 1.0)
        } else {
            0.0
        };
        Duration::seconds_f64(capped * (1.0 - jitter * sample))
    }

    /// When to try again after `attempts` failures observed at `now`.
    pub fn next_attempt(&self, attempts: u32, now: OffsetDateTime, sample: f64) -> OffsetDateTime {
        now + self.delay(attempts, sample)
    }

    /// Whether `attempts` failures exhaust the bound.
    pub fn exhausted(&self, attempts: u32) -> bool {
        attempts >= self.max_attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> BackoffPolicy {
        BackoffPolicy {
            base: Duration::seconds(10),
            cap: Duration::minutes(5),
            max_attempts: 5,
            jitter: 0.5,
        }
    }

    #[test]
    fn delay_doubles_from_the_base_until_the_cap() {
        let p = policy();
        let secs: Vec<i64> = (1..=7).map(|n| p.delay(n, 0.0).whole_seconds()).collect();
        assert_eq!(secs, vec![10, 20, 40, 80, 160, 300, 300]);
    }

    #[test]
    fn jitter_only_shortens_the_delay_and_by_at_most_its_fraction() {
        let p = policy();
        assert_eq!(p.delay(3, 0.999_999).whole_seconds(), 20);
        assert_eq!(p.delay(3, 0.5).whole_seconds(), 30);
        assert!(p.delay(30, 0.3) <= p.cap);
    }

    #[test]
    fn a_nonsense_sample_does_not_escape_the_bounds() {
        let p = policy();
        assert_eq!(p.delay(1, f64::NAN), Duration::seconds(10));
        assert_eq!(p.delay(1, 7.0), Duration::seconds(5));
    }

    #[test]
    fn the_bound_on_attempts_is_reached_at_max_attempts() {
        let p = policy();
        assert!(!p.exhausted(4));
        assert!(p.exhausted(5));
    }
}
