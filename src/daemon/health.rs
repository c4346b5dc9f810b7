//! Owns `/livez` and `/readyz` (`/healthz` is an alias of `/readyz`): liveness is "the process
//! answers"; readiness runs every check below and names each failing one in the body, one line
//! each, so a probe's log says what is wrong:
//! - `workers`: no worker that panicked is down;
//! - `store`: the state store takes a write (one committed probe) and source events can be
//!   recorded;
//! - `source NAME`: every enabled source runs (not waiting to be started again), its last
//!   listing did not fail, and a source that rescans periodically (the maildir tree) applied a
//!   complete listing within its rescan interval (plus a margin for the scan itself);
//! - `autodns`: AutoDNS answered within `http.ready_autodns_within_secs` (while idle the poller
//!   asks it once in a while, so an idle daemon stays ready);
//! - `delivery`: the last mail did not fail because of the delivery settings.

use std::time::Duration;

use super::Shared;
use crate::pipeline::ports::{Autodns, Courier, Keys};

/// What `/readyz` checks beyond the process itself (from the config).
#[derive(Debug, Clone)]
pub struct Readiness {
    /// The enabled sources, by store name, with the longest a complete listing may be old
    /// (`None`: the source lists on change only, as the LDIF export does).
    pub sources: Vec<(&'static str, Option<Duration>)>,
    /// How long AutoDNS may stay silent.
    pub autodns_within: Duration,
}

impl Default for Readiness {
    fn default() -> Self {
        Readiness {
            sources: Vec::new(),
            autodns_within: Duration::from_secs(900),
        }
    }
}

impl Readiness {
    /// The longest a periodic source's complete listing may be old: its rescan interval, plus
    /// as much again (at most a minute) and 5 s for the scan itself.
    pub fn listing_max_age(rescan_interval: Duration) -> Duration {
        rescan_interval + rescan_interval.min(Duration::from_secs(60)) + Duration::from_secs(5)
    }
}

/// The result of one readiness check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Check {
    /// `store`, `source maildir`, `autodns`, ...
    pub name: String,
    /// Why it fails; `None` when it passes.
    pub problem: Option<String>,
}

/// Runs every readiness check (blocking: one store write).
pub(super) fn readiness<A: Autodns, K: Keys, C: Courier>(sh: &Shared<A, K, C>) -> Vec<Check> {
    let mut out = Vec::new();
    let mut check = |name: String, problem: Option<String>| out.push(Check { name, problem });
    check("workers".into(), sh.health.problem());
    let now = sh.rec.clock().now();
    let store = sh.rec.store();
    let store_problem = match store.probe_write(now) {
        Err(e) => Some(format!("cannot write: {e}")),
        Ok(()) => sh
            .intake
            .failing()
            .map(|e| format!("cannot record source events (retrying): {e}")),
    };
    check("store".into(), store_problem);
    for (source, max_age) in &sh.settings.readiness.sources {
        let mut problem = sh.intake.source_problem(source);
        if let (None, Some(max_age)) = (&problem, max_age) {
            problem = match store.last_listing(source) {
                Err(e) => Some(format!("cannot read its last listing: {e}")),
                Ok(None) => Some("no complete listing yet".into()),
                Ok(Some(t)) if (now - t) > *max_age => Some(format!(
                    "no complete listing for {}s (expected within {}s)",
                    (now - t).whole_seconds(),
                    max_age.as_secs()
                )),
                Ok(Some(_)) => None,
            };
        }
        check(format!("source {source}"), problem);
    }
    let silent = sh.rec.metrics().autodns_silent_for();
    let within = sh.settings.readiness.autodns_within;
    check(
        "autodns".into(),
        (silent > within).then(|| {
            format!(
                "no answer from AutoDNS for {}s (http.ready_autodns_within_secs = {})",
                silent.as_secs(),
                within.as_secs()
            )
        }),
    );
    check(
        "delivery".into(),
        sh.rec
            .metrics()
            .delivery_config_failure()
            .map(|e| format!("the delivery settings are at fault: {e}")),
    );
    out
}

/// The body of `/readyz`: `ok` or `FAIL` and the check's name, one line each, the reason after
/// a colon; and whether every check passed.
pub(super) fn body(checks: &[Check]) -> (bool, String) {
    let mut ok = true;
    let mut text = String::new();
    for c in checks {
        match &c.problem {
            None => text.push_str(&format!("ok {}\n", c.name)),
            Some(p) => {
                ok = false;
                text.push_str(&format!("FAIL {}: {}\n", c.name, one_line(p)));
            }
        }
    }
    (ok, text)
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_names_every_failing_check() {
        let checks = vec![
            Check {
                name: "store".into(),
                problem: None,
            },
            Check {
                name: "source maildir".into(),
                problem: Some("no complete listing for 20s\n(expected within 7s)".into()),
            },
        ];
        let (ok, text) = body(&checks);
        assert!(!ok);
        assert_eq!(
            text,
            "ok store\nFAIL source maildir: no complete listing for 20s (expected within 7s)\n"
        );
        assert!(body(&checks[..1]).0);
    }

    #[test]
    fn a_periodic_source_may_be_late_by_one_interval_up_to_a_minute() {
        let max = Readiness::listing_max_age(Duration::from_secs(300));
        assert_eq!(max, Duration::from_secs(365));
        let max = Readiness::listing_max_age(Duration::from_secs(1));
        assert_eq!(max, Duration::from_secs(7));
    }
}
