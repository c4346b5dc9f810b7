//! Owns the table of process counter families: name, help text, label names, and the label
//! values each starts with at zero, so a rate or an alert on a counter works before its first
//! event. Every label set here is bounded (no addresses, no error codes).

use crate::autodns::{RequestOutcome, TASK_NAMES};
use crate::lifecycle::ErrorClass;

/// One counter family (rendered as `smime_provisioner_{name}_total`).
#[derive(Debug)]
pub struct CounterDef {
    /// The name without prefix and `_total`.
    pub name: &'static str,
    /// The `# HELP` text.
    pub help: &'static str,
    /// The label names, in order.
    pub labels: &'static [&'static str],
    /// The label value sets shown at zero from start.
    pub seed: fn() -> Vec<Vec<&'static str>>,
}

/// The names of the steps the reconciler counts (`Step::name`, without `idle` and `wait`).
pub const STEP_NAMES: [&str; 10] = [
    "generate-key",
    "order",
    "resolve-order",
    "check-job",
    "fetch-certificate",
    "bundle",
    "deliver",
    "start-renewal",
    "apply-request",
    "revoke",
];

/// Upper bounds (seconds) of the AutoDNS latency histogram's buckets.
pub const LATENCY_BUCKETS: [f64; 11] =
    [0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0];

fn one(values: &[&'static str]) -> Vec<Vec<&'static str>> {
    values.iter().map(|v| vec![*v]).collect()
}

fn none() -> Vec<Vec<&'static str>> {
    vec![Vec::new()]
}

fn step_failures() -> Vec<Vec<&'static str>> {
    let classes = [
        ErrorClass::Transient.as_str(),
        ErrorClass::Permanent.as_str(),
    ];
    classes
        .iter()
        .flat_map(|c| STEP_NAMES.iter().map(move |s| vec![*c, *s]))
        .collect()
}

fn requests() -> Vec<Vec<&'static str>> {
    TASK_NAMES
        .iter()
        .flat_map(|t| {
            RequestOutcome::ALL
                .iter()
                .map(move |o| vec![*t, o.as_str()])
        })
        .collect()
}

/// Every process counter family, in page order.
pub const COUNTERS: &[CounterDef] = &[
    CounterDef {
        name: "steps",
        help: "Pipeline steps carried out by this process, by step.",
        labels: &["step"],
        seed: || one(&STEP_NAMES),
    },
    CounterDef {
        name: "step_failures",
        help: "Pipeline steps that failed in this process, by error class and step (a spent budget is not a failure).",
        labels: &["class", "step"],
        seed: step_failures,
    },
    CounterDef {
        name: "orders",
        help: "Certificate orders AutoDNS accepted from this process, first or replacement (renewal, reprovision).",
        labels: &["kind"],
        seed: || one(&["first", "replacement"]),
    },
    CounterDef {
        name: "autodns_requests",
        help: "Requests this process sent to AutoDNS, by task and outcome (each retry of a read counts).",
        labels: &["task", "outcome"],
        seed: requests,
    },
    CounterDef {
        name: "autodns_http_errors",
        help: "AutoDNS answers with HTTP 429 (rate limited) or 5xx, by status.",
        labels: &["status"],
        seed: || one(&["429", "5xx"]),
    },
    CounterDef {
        name: "poll_messages",
        help: "AutoDNS poll messages handled by this process, by outcome.",
        labels: &["outcome"],
        seed: || one(&["applied", "duplicate", "foreign"]),
    },
    CounterDef {
        name: "push",
        help: "AutoDNS push requests received, by outcome.",
        labels: &["outcome"],
        seed: || one(&["applied", "duplicate", "foreign", "unauthorized", "malformed"]),
    },
    CounterDef {
        name: "delivery_attempts",
        help: "Mails this process tried to deliver (bundle and password mails), by outcome.",
        labels: &["outcome"],
        seed: || one(&["sent", "transient", "permanent", "config"]),
    },
    CounterDef {
        name: "budget_held_back",
        help: "Times a mailbox was held back by the spent order budget, by the step it stopped at.",
        labels: &["step"],
        seed: || one(&["generate-key", "order"]),
    },
    CounterDef {
        name: "alerts",
        help: "Alerts raised by this process (a spent budget: at most one a UTC day).",
        labels: &["alert"],
        seed: || one(&["budget-exhausted"]),
    },
    CounterDef {
        name: "worker_panics",
        help: "Workers of this process that panicked (each started again; the mailbox is marked failed).",
        labels: &[],
        seed: none,
    },
    CounterDef {
        name: "http_connections_closed",
        help: "HTTP connections closed unserved, by reason.",
        labels: &["reason"],
        seed: || one(&["refused", "header-timeout", "body-timeout"]),
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::Request;
    use crate::pipeline::Step;

    #[test]
    fn every_counted_step_has_its_name_in_the_seed_list() {
        let steps = [
            Step::GenerateKey,
            Step::Order,
            Step::ResolveOrder,
            Step::CheckJob,
            Step::FetchCertificate,
            Step::Bundle,
            Step::Deliver,
            Step::StartRenewal,
            Step::ApplyRequest(Request::Renew),
            Step::Revoke,
        ];
        let names: Vec<_> = steps.iter().map(|s| s.name()).collect();
        assert_eq!(names, STEP_NAMES);
    }

    #[test]
    fn every_seed_has_one_value_per_label() {
        for def in COUNTERS {
            for values in (def.seed)() {
                assert_eq!(values.len(), def.labels.len(), "{}", def.name);
            }
        }
    }
}
