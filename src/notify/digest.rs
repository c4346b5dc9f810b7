//! Owns the daily digest mail to `delivery.admin_address`: what was issued, renewed, failed,
//! revoked and removed since the last digest, what expires within the renewal margin, the order
//! budget used, and notifications that are failing.
//!
//! Sent once per UTC day, from `digest.hour_utc` on. The day sent is recorded in the store
//! (setting [`LAST_DAY`]) after the mail is accepted, so a restart does not send it again; a
//! crash between the two sends it once more. [`compose`] is pure: it takes the facts and returns
//! subject and text.

use std::fmt::Write as _;

use time::{Date, Duration, OffsetDateTime};

use crate::lifecycle::{HookEvent, Stage};
use crate::pipeline::status::fmt_time;
use crate::store::{MailboxRecord, Notification, OutboxEntry, Store, StoreError};

/// The setting holding the UTC day of the last digest sent.
pub const LAST_DAY: &str = "digest.last-day";
/// The setting holding when the last digest was sent (RFC 3339): the next one covers from there.
pub const LAST_SENT: &str = "digest.last-sent-at";

/// Everything one digest reports.
#[derive(Debug, Clone)]
pub struct DigestFacts {
    /// The UTC day it is for.
    pub day: Date,
    /// The period covered.
    pub from: OffsetDateTime,
    /// Its end (now).
    pub to: OffsetDateTime,
    /// Notifications recorded in the period.
    pub events: Vec<Notification>,
    /// Certificates that expire within the margin: address, expiry, stage, failed.
    pub expiring: Vec<(String, OffsetDateTime, Stage, bool)>,
    /// The renewal margin.
    pub margin: Duration,
    /// Orders counted today and the daily budget.
    pub budget: (u32, u32),
    /// Orders counted yesterday.
    pub budget_yesterday: u32,
    /// Hook or webhook runs failing or given up.
    pub troubles: Vec<OutboxEntry>,
}

/// Whether the digest for `now`'s day is due: from `hour_utc` on, and not yet sent today.
pub fn due(now: OffsetDateTime, hour_utc: u8, last_day: Option<&str>) -> bool {
    now.hour() >= hour_utc && last_day != Some(now.date().to_string().as_str())
}

/// Subject and text of the digest.
pub fn compose(f: &DigestFacts) -> (String, String) {
    let count = |e: HookEvent| f.events.iter().filter(|n| n.event == e).count();
    let subject = format!(
        "smime-provisioner digest {}: {} issued, {} renewed, {} failed, {} expiring",
        f.day,
        count(HookEvent::Issued),
        count(HookEvent::Renewed),
        count(HookEvent::Failed),
        f.expiring.len()
    );
    let mut t = format!(
        "S/MIME certificates, {} to {} (UTC).\n",
        fmt_time(Some(f.from)),
        fmt_time(Some(f.to))
    );
    for (event, title) in [
        (HookEvent::Issued, "Issued"),
        (HookEvent::Renewed, "Renewed"),
        (HookEvent::Failed, "Failed (waiting for an operator)"),
        (HookEvent::Revoked, "Revoked"),
        (HookEvent::Removed, "Removed (no source reports them)"),
    ] {
        let list: Vec<&Notification> = f.events.iter().filter(|n| n.event == event).collect();
        let _ = writeln!(t, "\n{title}: {}", list.len());
        for n in list {
            let _ = write!(t, "  {}", n.address);
            if let Some(exp) = n.not_after.filter(|_| event != HookEvent::Failed) {
                let _ = write!(t, "  expires {}", exp.date());
            }
            if let Some(e) = &n.error {
                let _ = write!(t, "  {e}");
            }
            t.push('\n');
        }
    }
    let _ = writeln!(
        t,
        "\nExpiring within the renewal margin ({} days): {}",
        f.margin.whole_days(),
        f.expiring.len()
    );
    for (address, exp, stage, failed) in &f.expiring {
        let state = if *failed {
            format!("failed ({stage})")
        } else {
            stage.to_string()
        };
        let _ = writeln!(t, "  {address}  expires {}  {state}", exp.date());
    }
    let (used, limit) = f.budget;
    let _ = writeln!(
        t,
        "\nOrder budget: {used} of {limit} used today (UTC); {} yesterday.",
        f.budget_yesterday
    );
    if !f.troubles.is_empty() {
        let _ = writeln!(t, "\nHooks and webhook calls failing: {}", f.troubles.len());
        for e in &f.troubles {
            let n = &e.notification;
            let _ = writeln!(
                t,
                "  {} {} for {}: {} attempt(s), {}",
                e.sink,
                n.event,
                n.address,
                e.attempts,
                e.last_error.as_deref().unwrap_or("-")
            );
        }
    }
    t.push_str("\n`smime-provisioner status` shows every mailbox.\n");
    (subject, t)
}

/// The certificates of `records` that expire before `now + margin` (revoked ones aside),
/// soonest first.
pub fn expiring(
    records: &[MailboxRecord],
    now: OffsetDateTime,
    margin: Duration,
) -> Vec<(String, OffsetDateTime, Stage, bool)> {
    let mut out: Vec<_> = records
        .iter()
        .filter(|r| r.stage != Stage::Revoked)
        .filter_map(|r| {
            let exp = r.not_after?;
            (exp <= now + margin).then(|| (r.address.to_string(), exp, r.stage, r.failure.gave_up))
        })
        .collect();
    out.sort_by_key(|(a, exp, _, _)| (*exp, a.clone()));
    out
}

/// Gathers the facts for the digest sent at `now` from the store.
pub fn gather(
    store: &Store,
    now: OffsetDateTime,
    margin: Duration,
    budget: u32,
) -> Result<DigestFacts, StoreError> {
    let from = store
        .setting(LAST_SENT)?
        .and_then(|s| {
            OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339).ok()
        })
        .filter(|t| *t < now)
        .unwrap_or(now - Duration::days(1));
    let day = now.date();
    Ok(DigestFacts {
        day,
        from,
        to: now,
        events: store.notifications_between(from, now)?,
        expiring: expiring(&store.list()?, now, margin),
        margin,
        budget: (store.orders_on(day)?, budget),
        budget_yesterday: store.orders_on(day.previous_day().unwrap_or(day))?,
        troubles: store.outbox_troubles()?,
    })
}

/// Records that the digest for `now`'s day went out.
pub fn mark_sent(store: &Store, now: OffsetDateTime) -> Result<(), StoreError> {
    store.set_setting(LAST_DAY, &now.date().to_string())?;
    store.set_setting(LAST_SENT, &fmt_time(Some(now)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_digest_is_due_from_its_hour_once_a_day() {
        let at = datetime!(2026-12-03 07:30 UTC);
        assert!(!due(at, 8, None), "before the hour");
        assert!(due(at, 7, None));
        assert!(due(at, 7, Some("2026-12-02")));
        assert!(!due(at, 7, Some("2026-12-03")), "already sent today");
    }
}
