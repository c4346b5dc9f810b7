//! Owns what `/metrics` shows (families documented in `docs/metrics.md`): the process counters
//! and the AutoDNS latency histogram ([`Metrics`], this file; every series is there from start,
//! at zero), the few process states readiness needs (last AutoDNS answer, a delivery setting at
//! fault, the poll queue), the families read from the store at each scrape ([`scrape`]) and the
//! text format ([`exposition`]).
//!
//! Names follow Prometheus's conventions (`_total` counters, `_seconds`, base units) and
//! cert-manager's where they mean the same (`certificate_expiration_timestamp_seconds`,
//! `certificate_renewal_timestamp_seconds`, `certificate_ready_status`). Label values are the
//! same kebab-case names the logs and the store use.

pub mod exposition;
pub mod families;
pub mod scrape;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use time::OffsetDateTime;

use crate::autodns::{Observer, RequestOutcome};
use exposition::{Exposition, Kind};
pub use families::{COUNTERS, LATENCY_BUCKETS};

/// Counters keyed by (family, label values), the latency histogram per task, and the process
/// state readiness reads.
#[derive(Debug)]
pub struct Metrics {
    counters: Mutex<BTreeMap<(&'static str, Vec<String>), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    state: Mutex<ProcessState>,
    started: Instant,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            counters: Mutex::default(),
            latency: Mutex::default(),
            state: Mutex::default(),
            started: Instant::now(),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Debug, Default)]
struct ProcessState {
    /// When AutoDNS last answered (monotonic, for readiness; wall clock, for the gauge).
    last_answer: Option<(Instant, SystemTime)>,
    /// The delivery error of a setting at fault, until a mail goes out again.
    delivery_config: Option<String>,
    /// The poll queue as PollInfo last reported it.
    poll: Option<PollQueue>,
}

/// The AutoDNS poll queue as last seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollQueue {
    /// Messages waiting (PollInfo's count).
    pub queued: u64,
    /// The head message's id.
    pub head: Option<i64>,
    /// Since when the oldest message waits (its creation time, or when we first saw it).
    pub oldest_since: Option<OffsetDateTime>,
}

/// The class of a delivery attempt, a label value of `delivery_attempts_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The mail was handed over.
    Sent,
    /// Failed; may pass without anyone changing anything.
    Transient,
    /// Failed; this mail will not be accepted as it is.
    Permanent,
    /// Failed because the delivery settings are at fault (readiness fails until a mail goes out).
    Config,
}

impl DeliveryOutcome {
    /// Every outcome, in label order.
    pub const ALL: [DeliveryOutcome; 4] = [
        DeliveryOutcome::Sent,
        DeliveryOutcome::Transient,
        DeliveryOutcome::Permanent,
        DeliveryOutcome::Config,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Sent => "sent",
            DeliveryOutcome::Transient => "transient",
            DeliveryOutcome::Permanent => "permanent",
            DeliveryOutcome::Config => "config",
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Metrics {
    /// Adds one to the one-label (or label-less, with `""`) counter family `metric`.
    pub fn inc(&self, metric: &'static str, label: &str) {
        let values = if label.is_empty() {
            Vec::new()
        } else {
            vec![label.to_string()]
        };
        *lock(&self.counters).entry((metric, values)).or_insert(0) += 1;
    }

    /// Adds one to `metric` with the given label values (in the family's label order).
    pub fn inc_labels(&self, metric: &'static str, values: &[&str]) {
        let values = values.iter().map(|v| v.to_string()).collect();
        *lock(&self.counters).entry((metric, values)).or_insert(0) += 1;
    }

    /// The current value of the one-label counter `metric{label}`.
    pub fn get(&self, metric: &'static str, label: &str) -> u64 {
        self.get_labels(metric, &[label])
    }

    /// The current value of `metric` with the given label values.
    pub fn get_labels(&self, metric: &'static str, values: &[&str]) -> u64 {
        let values: Vec<String> = values
            .iter()
            .filter(|v| !v.is_empty())
            .map(|v| v.to_string())
            .collect();
        lock(&self.counters)
            .get(&(metric, values))
            .copied()
            .unwrap_or(0)
    }

    /// The sum of `metric` over every label.
    pub fn total(&self, metric: &'static str) -> u64 {
        lock(&self.counters)
            .iter()
            .filter(|((k, _), _)| *k == metric)
            .map(|(_, v)| v)
            .sum()
    }

    /// Counts one delivery attempt; a config-class failure is remembered (for `/readyz`) until
    /// a mail goes out again.
    pub fn delivery(&self, outcome: DeliveryOutcome, error: Option<&str>) {
        self.inc("delivery_attempts", outcome.as_str());
        let mut s = lock(&self.state);
        match outcome {
            DeliveryOutcome::Sent => s.delivery_config = None,
            DeliveryOutcome::Config => {
                s.delivery_config = Some(error.unwrap_or("delivery settings").to_string())
            }
            _ => {}
        }
    }

    /// The delivery error of a setting at fault, while no mail has gone out since.
    pub fn delivery_config_failure(&self) -> Option<String> {
        lock(&self.state).delivery_config.clone()
    }

    /// Records what PollInfo said about the queue: its length and the head message (id and,
    /// when known with its zone, creation time; otherwise the time it was first seen here).
    pub fn poll_queue(&self, queued: u64, head: Option<(i64, Option<OffsetDateTime>)>) {
        let mut s = lock(&self.state);
        let now = OffsetDateTime::now_utc();
        let oldest_since = head.map(|(id, created)| {
            created.unwrap_or_else(|| match &s.poll {
                Some(PollQueue {
                    head: Some(h),
                    oldest_since: Some(t),
                    ..
                }) if *h == id => *t,
                _ => now,
            })
        });
        s.poll = Some(PollQueue {
            queued,
            head: head.map(|(id, _)| id),
            oldest_since,
        });
    }

    /// How long AutoDNS has not answered: since the last answer, or since this process started
    /// when it has not answered yet.
    pub fn autodns_silent_for(&self) -> Duration {
        match lock(&self.state).last_answer {
            Some((at, _)) => at.elapsed(),
            None => self.started.elapsed(),
        }
    }

    /// Writes every process family (counters, the histogram, process gauges).
    pub fn render_process(&self, w: &mut Exposition) {
        let counters = lock(&self.counters).clone();
        for def in COUNTERS {
            w.family(&format!("{}_total", def.name), Kind::Counter, def.help);
            let mut series: BTreeMap<Vec<String>, u64> = (def.seed)()
                .into_iter()
                .map(|vs| (vs.into_iter().map(str::to_string).collect(), 0))
                .collect();
            for ((m, vs), v) in &counters {
                if *m == def.name {
                    series.insert(vs.clone(), *v);
                }
            }
            let name = format!("{}_total", def.name);
            for (vs, v) in series {
                let labels: Vec<(&str, &str)> = def
                    .labels
                    .iter()
                    .copied()
                    .zip(vs.iter().map(String::as_str))
                    .collect();
                w.sample(&name, &labels, v as f64);
            }
        }
        self.render_latency(w);
        self.render_state(w);
    }

    fn render_latency(&self, w: &mut Exposition) {
        let name = "autodns_request_duration_seconds";
        w.family(
            name,
            Kind::Histogram,
            "Time AutoDNS took to answer a request (sent to end of body; pacing not included), by task.",
        );
        let mut all: BTreeMap<String, Histogram> = crate::autodns::TASK_NAMES
            .iter()
            .map(|t| (t.to_string(), Histogram::default()))
            .collect();
        all.extend(lock(&self.latency).clone());
        for (task, h) in &all {
            for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
                let le = exposition::number(*le);
                w.sample(
                    &format!("{name}_bucket"),
                    &[("task", task), ("le", &le)],
                    h.buckets[i] as f64,
                );
            }
            let count = h.count as f64;
            w.sample(
                &format!("{name}_bucket"),
                &[("task", task), ("le", "+Inf")],
                count,
            );
            w.sample(&format!("{name}_sum"), &[("task", task)], h.sum);
            w.sample(&format!("{name}_count"), &[("task", task)], count);
        }
    }

    fn render_state(&self, w: &mut Exposition) {
        let s = lock(&self.state);
        let last = s.last_answer.map_or(0.0, |(_, t)| unix_seconds_of(t));
        w.family(
            "autodns_last_answer_timestamp_seconds",
            Kind::Gauge,
            "When AutoDNS last answered a request of this process (Unix time; 0 = not yet).",
        );
        w.sample("autodns_last_answer_timestamp_seconds", &[], last);
        let poll = s.poll.unwrap_or(PollQueue {
            queued: 0,
            head: None,
            oldest_since: None,
        });
        w.family(
            "autodns_poll_queue_messages",
            Kind::Gauge,
            "Messages in the AutoDNS poll queue, as PollInfo last reported it.",
        );
        w.sample("autodns_poll_queue_messages", &[], poll.queued as f64);
        let age = poll.oldest_since.map_or(0.0, |t| {
            (OffsetDateTime::now_utc() - t).as_seconds_f64().max(0.0)
        });
        w.family(
            "autodns_poll_queue_oldest_message_age_seconds",
            Kind::Gauge,
            "Age of the oldest message in the AutoDNS poll queue as last seen (0 = empty).",
        );
        w.sample("autodns_poll_queue_oldest_message_age_seconds", &[], age);
        w.family(
            "delivery_config_failing",
            Kind::Gauge,
            "1 while the last delivery failed because of the delivery settings (no mail sent since).",
        );
        w.sample(
            "delivery_config_failing",
            &[],
            f64::from(u8::from(s.delivery_config.is_some())),
        );
    }
}

fn unix_seconds_of(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Observer for Metrics {
    fn request(&self, task: &'static str, outcome: RequestOutcome, latency: Duration) {
        self.inc_labels("autodns_requests", &[task, outcome.as_str()]);
        match outcome {
            RequestOutcome::RateLimited => self.inc("autodns_http_errors", "429"),
            RequestOutcome::ServerError => self.inc("autodns_http_errors", "5xx"),
            _ => {}
        }
        let secs = latency.as_secs_f64();
        {
            let mut l = lock(&self.latency);
            let h = l.entry(task.to_string()).or_default();
            for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
                if secs <= *le {
                    h.buckets[i] += 1;
                }
            }
            h.sum += secs;
            h.count += 1;
        }
        if outcome.answered() {
            lock(&self.state).last_answer = Some((Instant::now(), SystemTime::now()));
        }
    }
}

#[cfg(test)]
mod tests;
