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

    /// Renders every counter, plus the given gauges (e.g. mailboxes per stage; a gauge with an
    /// empty label value is rendered without a label), as Prometheus text.
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
            if label.is_empty() {
                let _ = writeln!(out, "smime_provisioner_{metric} {v}");
            } else {
                let _ = writeln!(out, "smime_provisioner_{metric}{{stage=\"{label}\"}} {v}");
            }
        }
        out
    }
}

/// The daily order budget's gauges for `/metrics`: orders counted against today's (UTC) budget,
/// the budget, and the mailboxes held back by it (no key, no order until the budget has room).
pub fn budget_gauges(
    orders_today: u32,
    daily_order_budget: u32,
    held_back: usize,
) -> [(&'static str, &'static str, u64); 3] {
    [
        ("orders_today", "", u64::from(orders_today)),
        ("daily_order_budget", "", u64::from(daily_order_budget)),
        ("mailboxes_held_back_by_budget", "", held_back as u64),
    ]
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
        let mut gauges = vec![("mailboxes", "delivered", 3)];
        gauges.extend(budget_gauges(5, 5, 995));
        let text = m.render(&gauges);
        assert!(
            text.contains("smime_provisioner_orders_today 5\n"),
            "{text}"
        );
        assert!(text.contains("smime_provisioner_mailboxes_held_back_by_budget 995\n"));
        assert!(
            text.contains("smime_provisioner_steps_total{kind=\"order\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("smime_provisioner_failures_total{kind=\"http-503\"} 1\n"));
        assert!(text.contains("smime_provisioner_mailboxes{stage=\"delivered\"} 3\n"));
        assert_eq!(m.get("steps", "order"), 2);
    }
}
