//! Owns the pipeline's counters and their Prometheus text rendering for `/metrics`
//! (exposition format 0.0.4). Names are the same kebab-case outcome names the logs and the store
//! use, carried as label values.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Counters, keyed by (metric, label value).
#[derive(Debug, Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<(&'static str, String), u64>>,
}

impl Metrics {
    /// Adds one to `metric{label}`.
    pub fn inc(&self, metric: &'static str, label: &str) {
        let mut m = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry((metric, label.to_string())).or_insert(0) += 1;
    }

    /// The current value of `metric{label}`.
    pub fn get(&self, metric: &'static str, label: &str) -> u64 {
        let m = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        m.get(&(metric, label.to_string())).copied().unwrap_or(0)
    }

    /// The sum of `metric` over every label.
    pub fn total(&self, metric: &'static str) -> u64 {
        let m = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        m.iter()
            .filter(|((k, _), _)| *k == metric)
            .map(|(_, v)| v)
            .sum()
    }

    /// Renders every counter, plus the given gauges (e.g. mailboxes per stage), as Prometheus text.
    pub fn render(&self, gauges: &[(&str, &str, u64)]) -> String {
        let m = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        let mut last = "";
        for ((metric, label), v) in m.iter() {
            if *metric != last {
                let _ = writeln!(out, "# TYPE smime_provisioner_{metric}_total counter");
                last = metric;
            }
            let _ = writeln!(
                out,
                "smime_provisioner_{metric}_total{{kind=\"{label}\"}} {v}"
            );
        }
        let mut last = "";
        for (metric, label, v) in gauges {
            if *metric != last {
                let _ = writeln!(out, "# TYPE smime_provisioner_{metric} gauge");
                last = metric;
            }
            let _ = writeln!(out, "smime_provisioner_{metric}{{stage=\"{label}\"}} {v}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_as_prometheus_text() {
        let m = Metrics::default();
        m.inc("steps", "order");
        m.inc("steps", "order");
        m.inc("failures", "http-503");
        let text = m.render(&[("mailboxes", "delivered", 3)]);
        assert!(
            text.contains("smime_provisioner_steps_total{kind=\"order\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("smime_provisioner_failures_total{kind=\"http-503\"} 1\n"));
        assert!(text.contains("smime_provisioner_mailboxes{stage=\"delivered\"} 3\n"));
        assert_eq!(m.get("steps", "order"), 2);
    }
}
