use std::time::Duration;

use super::exposition::Exposition;
use super::*;

fn page(m: &Metrics) -> String {
    let mut w = Exposition::default();
    m.render_process(&mut w);
    w.finish()
}

#[test]
fn counters_are_there_at_zero_before_their_first_event() {
    let text = page(&Metrics::default());
    for line in [
        "# TYPE smime_provisioner_steps_total counter\n",
        "smime_provisioner_steps_total{step=\"order\"} 0\n",
        "smime_provisioner_step_failures_total{class=\"permanent\",step=\"deliver\"} 0\n",
        "smime_provisioner_autodns_requests_total{task=\"CertificateCreate\",outcome=\"rate-limited\"} 0\n",
        "smime_provisioner_autodns_http_errors_total{status=\"429\"} 0\n",
        "smime_provisioner_delivery_attempts_total{outcome=\"config\"} 0\n",
        "smime_provisioner_worker_panics_total 0\n",
        "smime_provisioner_autodns_request_duration_seconds_count{task=\"PollInfo\"} 0\n",
    ] {
        assert!(text.contains(line), "no {line:?} in\n{text}");
    }
}

#[test]
fn every_family_has_help_and_type_once() {
    let text = page(&Metrics::default());
    let helps = text.lines().filter(|l| l.starts_with("# HELP ")).count();
    let types = text.lines().filter(|l| l.starts_with("# TYPE ")).count();
    assert_eq!(helps, types);
    assert_eq!(helps, COUNTERS.len() + 5, "{text}");
}

#[test]
fn a_request_counts_by_task_and_outcome_and_fills_the_histogram() {
    let m = Metrics::default();
    m.request(
        "PollInfo",
        RequestOutcome::Success,
        Duration::from_millis(300),
    );
    m.request(
        "PollInfo",
        RequestOutcome::RateLimited,
        Duration::from_millis(30),
    );
    assert_eq!(
        m.get_labels("autodns_requests", &["PollInfo", "success"]),
        1
    );
    assert_eq!(m.get("autodns_http_errors", "429"), 1);
    let text = page(&m);
    assert!(text.contains(
        "smime_provisioner_autodns_request_duration_seconds_bucket{task=\"PollInfo\",le=\"0.25\"} 1\n"
    ));
    assert!(text.contains(
        "smime_provisioner_autodns_request_duration_seconds_bucket{task=\"PollInfo\",le=\"0.5\"} 2\n"
    ));
    assert!(text.contains(
        "smime_provisioner_autodns_request_duration_seconds_count{task=\"PollInfo\"} 2\n"
    ));
    assert!(m.autodns_silent_for() < Duration::from_secs(3600));
}

#[test]
fn a_config_failure_of_delivery_lasts_until_a_mail_goes_out() {
    let m = Metrics::default();
    m.delivery(DeliveryOutcome::Config, Some("SMTP login refused"));
    m.delivery(DeliveryOutcome::Transient, None);
    assert_eq!(
        m.delivery_config_failure().as_deref(),
        Some("SMTP login refused")
    );
    m.delivery(DeliveryOutcome::Sent, None);
    assert_eq!(m.delivery_config_failure(), None);
    assert_eq!(m.get("delivery_attempts", "sent"), 1);
}
