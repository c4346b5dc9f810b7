//! The `/metrics` page of a real daemon (embedded simulator) during and after a run of three
//! mailboxes, parsed by `prometheus_client`: every family has the type and help text
//! `docs/metrics.md` documents, and its values match the store (the expiry is the certificate's
//! own notAfter, read with OpenSSL).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use openssl::asn1::Asn1Time;
use openssl::x509::X509;
use smime_provisioner::pipeline::{ErrorClass, Stage};
use smime_provisioner::store::{MailboxRecord, Store};
use support::live::config_text;

use super::{free_port, parse, wait_for, Daemon, Family};

const MAILBOXES: [&str; 3] = ["alice", "bob", "carol"];
const MARGIN_DAYS: i64 = 20;

/// Every family the daemon exports: name as the parser gives it (counters without `_total`),
/// type, and a word its help text must contain.
const FAMILIES: &[(&str, &str, &str)] = &[
    (
        "certificate_expiration_timestamp_seconds",
        "gauge",
        "notAfter",
    ),
    (
        "certificate_renewal_timestamp_seconds",
        "gauge",
        "renew_before_days",
    ),
    ("certificate_ready_status", "gauge", "Ready condition"),
    ("mailboxes", "gauge", "by stage"),
    ("mailboxes_failed", "gauge", "gave up"),
    ("mailboxes_held_back_by_budget", "gauge", "budget is spent"),
    ("mailboxes_failing", "gauge", "by error class and step"),
    ("orders_today", "gauge", "order budget"),
    ("daily_order_budget", "gauge", "autodns.daily_order_budget"),
    ("order_budget_remaining", "gauge", "still allows"),
    ("source_mailboxes", "gauge", "each source reports"),
    ("source_removals_held", "gauge", "by source"),
    ("removals_held", "gauge", "all sources"),
    (
        "source_last_scan_timestamp_seconds",
        "gauge",
        "complete listing",
    ),
    ("source_writes_failing", "gauge", "source events"),
    ("steps", "counter", "by step"),
    ("step_failures", "counter", "by error class and step"),
    ("orders", "counter", "first or replacement"),
    ("autodns_requests", "counter", "by task and outcome"),
    ("autodns_http_errors", "counter", "429"),
    ("poll_messages", "counter", "poll messages"),
    ("push", "counter", "push requests"),
    ("delivery_attempts", "counter", "by outcome"),
    ("budget_held_back", "counter", "held back"),
    ("alerts", "counter", "Alerts"),
    ("worker_panics", "counter", "panicked"),
    ("http_connections_closed", "counter", "closed unserved"),
    ("autodns_request_duration_seconds", "histogram", "by task"),
    (
        "autodns_last_answer_timestamp_seconds",
        "gauge",
        "last answered",
    ),
    ("autodns_poll_queue_messages", "gauge", "poll queue"),
    (
        "autodns_poll_queue_oldest_message_age_seconds",
        "gauge",
        "oldest message",
    ),
    ("delivery_config_failing", "gauge", "delivery settings"),
];

fn by_name(families: &[Family]) -> BTreeMap<String, Family> {
    families
        .iter()
        .map(|f| {
            let name = f.name.strip_prefix("smime_provisioner_").unwrap_or(&f.name);
            (name.to_string(), f.clone())
        })
        .collect()
}

/// Every documented family is there with its type and help text, and nothing else is.
fn check_families(families: &[Family]) {
    let got = by_name(families);
    for (name, kind, help) in FAMILIES {
        let f = got
            .get(*name)
            .unwrap_or_else(|| panic!("no family {name}; got {:?}", got.keys()));
        assert_eq!(f.kind, *kind, "type of {name}");
        assert!(f.help.contains(help), "help of {name}: {:?}", f.help);
    }
    let documented: Vec<&str> = FAMILIES.iter().map(|f| f.0).collect();
    let extra: Vec<&String> = got
        .keys()
        .filter(|k| !documented.contains(&k.as_str()))
        .collect();
    assert!(extra.is_empty(), "families not documented: {extra:?}");
}

/// The value of the sample `name` (full sample name without prefix) with exactly `labels`.
fn value(families: &[Family], name: &str, labels: &[(&str, &str)]) -> f64 {
    let full = format!("smime_provisioner_{name}");
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    families
        .iter()
        .flat_map(|f| f.samples.iter())
        .find(|(n, l, _)| *n == full && *l == want)
        .map(|s| s.2)
        .unwrap_or_else(|| panic!("no sample {full}{want:?}"))
}

fn not_after_of(pem: &str) -> i64 {
    let cert = X509::from_pem(pem.as_bytes()).unwrap();
    let d = Asn1Time::from_unix(0)
        .unwrap()
        .diff(cert.not_after())
        .unwrap();
    i64::from(d.days) * 86_400 + i64::from(d.secs)
}

fn scrape(d: &Daemon) -> Vec<Family> {
    let (code, page) = d.get("/metrics");
    assert_eq!(code, 200, "{page}");
    parse(&page)
}

fn records(state: &std::path::Path) -> Vec<MailboxRecord> {
    Store::open(state).unwrap().list().unwrap()
}

#[test]
fn the_metrics_page_parses_and_matches_the_store_during_and_after_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let extra = format!(
        "[simulator]\nissuance_delay_ms = 300\n[renewal]\nmargin_days = {MARGIN_DAYS}\n\
         [http]\nlisten = \"{addr}\"\npush_token_env = \"PUSH_TOKEN\"\n"
    );
    let config = dir.path().join("config.toml");
    let text = config_text(dir.path(), "simulator", "json", &extra);
    std::fs::write(&config, text).unwrap();
    for m in MAILBOXES {
        std::fs::create_dir_all(dir.path().join("mail/example.com").join(m)).unwrap();
    }
    let started = time::OffsetDateTime::now_utc().unix_timestamp() as f64;
    let d = Daemon::start(&config, addr, dir.path().join("daemon.log"));

    // During the run: the page parses and every family is there from the start.
    check_families(&scrape(&d));
    let state = dir.path().join("state");
    let delivered = wait_for(Duration::from_secs(180), || {
        let r = records(&state);
        r.len() == MAILBOXES.len() && r.iter().all(|r| r.stage == Stage::Delivered)
    });
    assert!(delivered, "not delivered within 180 s\n{}", d.log_text());

    let page = scrape(&d);
    check_families(&page);
    let store = Store::open(&state).unwrap();
    check_certificates(&page, &store.list().unwrap());
    check_store_gauges(&page, &store, started);
    check_process_counters(&page, started);
    let (code, body) = d.get("/readyz");
    assert_eq!(code, 200, "{body}");
}

/// Expiry (the certificate's own notAfter), renewal time and readiness of every mailbox.
fn check_certificates(page: &[Family], recs: &[MailboxRecord]) {
    assert_eq!(recs.len(), MAILBOXES.len());
    for r in recs {
        let a = [("address", r.address.as_str())];
        let pem = r.certificate_pem.as_deref().expect("a certificate");
        let expiry = value(page, "certificate_expiration_timestamp_seconds", &a) as i64;
        assert_eq!(expiry, not_after_of(pem), "expiry of {a:?} is the notAfter");
        assert_eq!(expiry, r.not_after.unwrap().unix_timestamp());
        let renewal = value(page, "certificate_renewal_timestamp_seconds", &a) as i64;
        assert_eq!(renewal, expiry - MARGIN_DAYS * 86_400);
        for (condition, want) in [("True", 1.0), ("False", 0.0), ("Unknown", 0.0)] {
            let labels = [a[0], ("condition", condition)];
            let got = value(page, "certificate_ready_status", &labels);
            assert_eq!(got, want, "{a:?} {condition}");
        }
    }
}

/// Mailboxes by stage, the budget and the source figures, against the store.
fn check_store_gauges(page: &[Family], store: &Store, started: f64) {
    let recs = store.list().unwrap();
    for stage in Stage::ALL {
        let n = recs.iter().filter(|r| r.stage == stage).count() as f64;
        let got = value(page, "mailboxes", &[("stage", stage.as_str())]);
        assert_eq!(got, n, "{stage}");
    }
    let gave_up = recs.iter().filter(|r| r.failure.gave_up).count() as f64;
    assert_eq!(value(page, "mailboxes_failed", &[]), gave_up);
    let held = recs
        .iter()
        .filter(|r| r.failure.class == Some(ErrorClass::Budget))
        .count() as f64;
    assert_eq!(value(page, "mailboxes_held_back_by_budget", &[]), held);
    let failing = [("class", "transient"), ("step", "order")];
    assert_eq!(value(page, "mailboxes_failing", &failing), 0.0);
    let removals = store.held_removals().unwrap().len() as f64;
    assert_eq!(value(page, "removals_held", &[]), removals);
    assert_eq!(value(page, "source_writes_failing", &[]), 0.0);
    let today = store.orders_on(time::OffsetDateTime::now_utc().date());
    assert_eq!(today.unwrap(), 3);
    assert_eq!(value(page, "orders_today", &[]), 3.0);
    assert_eq!(value(page, "daily_order_budget", &[]), 50.0);
    assert_eq!(value(page, "order_budget_remaining", &[]), 47.0);
    let maildir = [("source", "maildir")];
    assert_eq!(value(page, "source_mailboxes", &maildir), 3.0);
    assert_eq!(value(page, "source_removals_held", &maildir), 0.0);
    // The daemon lists again every 2 s: the store's time (read after the scrape) is the
    // scraped one or later.
    let scanned = value(page, "source_last_scan_timestamp_seconds", &maildir);
    let listed = store.last_listing("maildir").unwrap().unwrap();
    assert!(scanned >= started, "{scanned} >= {started}");
    assert!(
        scanned <= listed.unix_timestamp() as f64,
        "{scanned} <= {listed}"
    );
}

/// Process counters of this daemon: three orders, one CertificateCreate each; two mails each.
fn check_process_counters(page: &[Family], started: f64) {
    let create = [("task", "CertificateCreate"), ("outcome", "success")];
    assert_eq!(value(page, "autodns_requests_total", &create), 3.0);
    let task = [("task", "CertificateCreate")];
    let count = value(page, "autodns_request_duration_seconds_count", &task);
    assert_eq!(count, 3.0);
    let inf = [("task", "CertificateCreate"), ("le", "+Inf")];
    assert_eq!(
        value(page, "autodns_request_duration_seconds_bucket", &inf),
        3.0
    );
    assert_eq!(value(page, "orders_total", &[("kind", "first")]), 3.0);
    assert_eq!(
        value(page, "delivery_attempts_total", &[("outcome", "sent")]),
        6.0
    );
    let config = [("outcome", "config")];
    assert_eq!(value(page, "delivery_attempts_total", &config), 0.0);
    assert!(value(page, "steps_total", &[("step", "deliver")]) >= 3.0);
    assert!(value(page, "autodns_last_answer_timestamp_seconds", &[]) >= started);
}
