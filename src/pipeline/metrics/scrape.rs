//! Owns the families read from the store at each scrape (so work done by a verb in another
//! process shows as well as the daemon's): per-mailbox certificate expiry, renewal time and
//! readiness (cert-manager's names), mailboxes by stage, failing mailboxes by class and step,
//! the order budget, and per source its mailboxes, held-back removals and last complete listing.
//! [`ready_condition`] is the pure decision behind `certificate_ready_status`.

use std::collections::BTreeMap;

use time::{Duration, OffsetDateTime};

use super::exposition::{Exposition, Kind};
use super::families::STEP_NAMES;
use super::Metrics;
use crate::lifecycle::{ErrorClass, Stage};
use crate::store::{MailboxFigure, SourceFigure, Store, StoreError};

/// What a scrape needs besides the store.
#[derive(Debug, Clone, Copy)]
pub struct ScrapeInput {
    /// The pipeline's time.
    pub now: OffsetDateTime,
    /// How long before expiry a certificate is renewed.
    pub renew_before: Duration,
    /// `autodns.daily_order_budget`.
    pub daily_order_budget: u32,
    /// Whether the daemon's source intake cannot write to the store now.
    pub source_writes_failing: bool,
}

/// cert-manager's `Ready` condition of one mailbox's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ready {
    /// A valid certificate is delivered (a renewal in progress keeps it `True`).
    True,
    /// Failed for good, revoked, or expired.
    False,
    /// Not delivered yet and nothing failed for good.
    Unknown,
}

impl Ready {
    const ALL: [Ready; 3] = [Ready::True, Ready::False, Ready::Unknown];

    fn as_str(self) -> &'static str {
        match self {
            Ready::True => "True",
            Ready::False => "False",
            Ready::Unknown => "Unknown",
        }
    }
}

/// The readiness of `m`'s certificate at `now`. Pure.
pub fn ready_condition(m: &MailboxFigure, now: OffsetDateTime) -> Ready {
    let valid = m.not_after.is_some_and(|t| t > now);
    if m.gave_up || m.stage == Stage::Revoked.as_str() || (m.not_after.is_some() && !valid) {
        Ready::False
    } else if valid && (m.stage == Stage::Delivered.as_str() || m.generation > 1) {
        Ready::True
    } else {
        Ready::Unknown
    }
}

/// The whole `/metrics` page: the store's families, then the process's.
pub fn render(store: &Store, metrics: &Metrics, input: ScrapeInput) -> Result<String, StoreError> {
    let mut w = Exposition::default();
    render_mailboxes(&mut w, store, input)?;
    render_failing(&mut w, store)?;
    render_budget(&mut w, store, input)?;
    render_sources(&mut w, store, input)?;
    metrics.render_process(&mut w);
    Ok(w.finish())
}

fn unix(t: OffsetDateTime) -> f64 {
    t.unix_timestamp() as f64
}

/// Per-mailbox series, mailboxes by stage, failed and budget-held mailboxes: one pass.
fn render_mailboxes(
    w: &mut Exposition,
    store: &Store,
    input: ScrapeInput,
) -> Result<(), StoreError> {
    let mut expiry = Exposition::default();
    let mut renewal = Exposition::default();
    let mut ready = Exposition::default();
    let mut by_stage: BTreeMap<&str, u64> = Stage::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    let (mut failed, mut held) = (0u64, 0u64);
    let mut other_stage: BTreeMap<String, u64> = BTreeMap::new();
    store.for_each_mailbox_figure(|m| {
        match by_stage.get_mut(m.stage.as_str()) {
            Some(n) => *n += 1,
            None => *other_stage.entry(m.stage.clone()).or_insert(0) += 1,
        }
        failed += u64::from(m.gave_up);
        held += u64::from(m.error_class.as_deref() == Some(ErrorClass::Budget.as_str()));
        let a = [("address", m.address.as_str())];
        if let Some(t) = m.not_after {
            let name = "certificate_expiration_timestamp_seconds";
            expiry.sample(name, &a, unix(t));
            let name = "certificate_renewal_timestamp_seconds";
            renewal.sample(name, &a, unix(t - input.renew_before));
        }
        let now = ready_condition(&m, input.now);
        for c in Ready::ALL {
            let labels = [("address", m.address.as_str()), ("condition", c.as_str())];
            ready.sample(
                "certificate_ready_status",
                &labels,
                f64::from(u8::from(c == now)),
            );
        }
    })?;
    w.family(
        "certificate_expiration_timestamp_seconds",
        Kind::Gauge,
        "When the stored certificate of a mailbox expires (notAfter, Unix time).",
    );
    w.append(expiry);
    w.family(
        "certificate_renewal_timestamp_seconds",
        Kind::Gauge,
        "When the certificate of a mailbox is due for renewal (notAfter - renew_before_days, Unix time).",
    );
    w.append(renewal);
    w.family(
        "certificate_ready_status",
        Kind::Gauge,
        "The Ready condition of a mailbox's certificate: 1 on the current one of True, False, Unknown.",
    );
    w.append(ready);
    w.family(
        "mailboxes",
        Kind::Gauge,
        "Mailboxes in the store, by stage.",
    );
    for (stage, n) in by_stage.iter().map(|(s, n)| (*s, *n)) {
        w.sample("mailboxes", &[("stage", stage)], n as f64);
    }
    for (stage, n) in &other_stage {
        w.sample("mailboxes", &[("stage", stage)], *n as f64);
    }
    w.family(
        "mailboxes_failed",
        Kind::Gauge,
        "Mailboxes that gave up and wait for an operator (provision, reprovision).",
    );
    w.sample("mailboxes_failed", &[], failed as f64);
    w.family(
        "mailboxes_held_back_by_budget",
        Kind::Gauge,
        "Mailboxes waiting because the daily order budget is spent.",
    );
    w.sample("mailboxes_held_back_by_budget", &[], held as f64);
    Ok(())
}

/// Mailboxes whose last step failed, by class and step (every class and step shown).
fn render_failing(w: &mut Exposition, store: &Store) -> Result<(), StoreError> {
    let classes = [
        ErrorClass::Transient.as_str(),
        ErrorClass::Permanent.as_str(),
    ];
    let mut series: BTreeMap<(String, String), u64> = classes
        .iter()
        .flat_map(|c| {
            STEP_NAMES
                .iter()
                .map(move |s| ((c.to_string(), s.to_string()), 0))
        })
        .collect();
    for f in store.failing_figures()? {
        let step = match f.step.as_deref() {
            Some(s) if STEP_NAMES.contains(&s) => s,
            _ => "other",
        };
        *series.entry((f.class, step.to_string())).or_insert(0) += f.count;
    }
    w.family(
        "mailboxes_failing",
        Kind::Gauge,
        "Mailboxes whose last step failed (retrying or given up; a spent budget excluded), by error class and step.",
    );
    for ((class, step), n) in &series {
        w.sample(
            "mailboxes_failing",
            &[("class", class), ("step", step)],
            *n as f64,
        );
    }
    Ok(())
}

fn render_budget(w: &mut Exposition, store: &Store, input: ScrapeInput) -> Result<(), StoreError> {
    let used = store.orders_on(input.now.date())?;
    let limit = input.daily_order_budget;
    for (name, help, v) in [
        (
            "orders_today",
            "Orders counted against today's (UTC) order budget.",
            used,
        ),
        (
            "daily_order_budget",
            "The daily order budget (autodns.daily_order_budget).",
            limit,
        ),
        (
            "order_budget_remaining",
            "Orders today's (UTC) budget still allows.",
            limit.saturating_sub(used),
        ),
    ] {
        w.family(name, Kind::Gauge, help);
        w.sample(name, &[], f64::from(v));
    }
    Ok(())
}

fn render_sources(w: &mut Exposition, store: &Store, input: ScrapeInput) -> Result<(), StoreError> {
    let figures = store.source_figures()?;
    per_source(
        w,
        &figures,
        "source_mailboxes",
        "Mailboxes each source reports (`*`: recorded before per-source tracking).",
        |f| Some(f.mailboxes as f64),
    );
    per_source(
        w,
        &figures,
        "source_removals_held",
        "Removals the mass-removal guard holds back, by source (confirm-removals releases them).",
        |f| Some(f.held as f64),
    );
    w.family(
        "removals_held",
        Kind::Gauge,
        "Removals the mass-removal guard holds back, all sources.",
    );
    let held: u64 = figures.iter().map(|f| f.held).sum();
    w.sample("removals_held", &[], held as f64);
    per_source(
        w,
        &figures,
        "source_last_scan_timestamp_seconds",
        "When each source's last complete listing (full scan, full export) was applied (Unix time).",
        |f| f.last_listing.map(unix),
    );
    w.family(
        "source_writes_failing",
        Kind::Gauge,
        "1 while the daemon cannot record source events in the store (retrying).",
    );
    w.sample(
        "source_writes_failing",
        &[],
        f64::from(u8::from(input.source_writes_failing)),
    );
    Ok(())
}

/// A gauge family with one sample per source labelled `source`: `value` is a source's figure,
/// `None` for a source without one.
fn per_source(
    w: &mut Exposition,
    figures: &[SourceFigure],
    name: &str,
    help: &str,
    value: impl Fn(&SourceFigure) -> Option<f64>,
) {
    w.family(name, Kind::Gauge, help);
    for f in figures {
        if let Some(v) = value(f) {
            w.sample(name, &[("source", &f.source)], v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: OffsetDateTime = time::macros::datetime!(2026-06-01 12:00 UTC);

    fn figure(stage: Stage, not_after: Option<OffsetDateTime>) -> MailboxFigure {
        MailboxFigure {
            address: "a@example.com".into(),
            stage: stage.as_str().into(),
            generation: 1,
            not_after,
            error_class: None,
            gave_up: false,
            present: true,
        }
    }

    #[test]
    fn a_delivered_valid_certificate_is_ready() {
        let m = figure(Stage::Delivered, Some(NOW + Duration::days(300)));
        assert_eq!(ready_condition(&m, NOW), Ready::True);
    }

    #[test]
    fn a_renewal_in_progress_keeps_the_valid_certificate_ready() {
        let mut m = figure(Stage::Ordered, Some(NOW + Duration::days(10)));
        m.generation = 2;
        assert_eq!(ready_condition(&m, NOW), Ready::True);
    }

    #[test]
    fn an_expired_revoked_or_given_up_certificate_is_not_ready() {
        let expired = figure(Stage::Delivered, Some(NOW - Duration::seconds(1)));
        assert_eq!(ready_condition(&expired, NOW), Ready::False);
        let revoked = figure(Stage::Revoked, Some(NOW + Duration::days(5)));
        assert_eq!(ready_condition(&revoked, NOW), Ready::False);
        let mut failed = figure(Stage::KeyReady, None);
        failed.gave_up = true;
        assert_eq!(ready_condition(&failed, NOW), Ready::False);
    }

    #[test]
    fn a_first_certificate_on_its_way_is_unknown() {
        assert_eq!(
            ready_condition(&figure(Stage::Ordered, None), NOW),
            Ready::Unknown
        );
        let issued = figure(Stage::Issued, Some(NOW + Duration::days(300)));
        assert_eq!(ready_condition(&issued, NOW), Ready::Unknown);
    }
}
