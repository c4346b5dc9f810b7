//! Owns what `status` shows: a table of mailboxes (stage, expiry, renewal date, attempts, last
//! error), one mailbox in detail with its audit trail, the hook and webhook runs that are
//! failing, and the same as versioned JSON for scripts ([`StatusDoc`], `docs/status-json.md`).
//! Pure functions over store records, so the verb only loads and prints. Also the one time
//! format ([`fmt_time`]) event details, `status` and the verbs share.

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::lifecycle::{EventKind, Stage};
use crate::source::guard::RELEASE_VERB;
use crate::store::presence::LEGACY_SOURCE;
use crate::store::{Event, HeldRemoval, MailboxRecord, OutboxEntry};

/// The version of `status --json`'s shape; raised when a field changes meaning or goes away
/// (new fields may appear within a version).
pub const JSON_VERSION: u32 = 1;

/// What `status --json` prints: the whole document, for one mailbox or all.
#[derive(Debug, Serialize)]
pub struct StatusDoc {
    /// [`JSON_VERSION`].
    pub version: u32,
    /// The mailboxes shown (one for `status ADDRESS`).
    pub mailboxes: Vec<StatusRow>,
    /// Removals the mass-removal guard holds back (of the mailboxes shown).
    pub held_removals: Vec<HeldRemoval>,
    /// Hook and webhook runs that failed and are retried, or gave up (of the mailboxes shown).
    pub failing_notifications: Vec<NotificationRow>,
}

/// A hook or webhook run that is failing, as `status --json` prints it.
#[derive(Debug, Serialize)]
pub struct NotificationRow {
    /// The notification id (`SMIME_NOTIFICATION_ID`, `X-Smime-Delivery`).
    pub id: i64,
    /// `hook` or `webhook`.
    pub sink: String,
    /// The event.
    pub event: String,
    /// The mailbox.
    pub address: String,
    /// Failed attempts.
    pub attempts: u32,
    /// When the next attempt is due (RFC 3339); `null` once given up.
    pub next_attempt: Option<String>,
    /// Whether every attempt failed and it is no longer retried.
    pub gave_up: bool,
    /// The last attempt's error.
    pub last_error: Option<String>,
}

impl NotificationRow {
    /// The row of an outbox entry.
    pub fn of(e: &OutboxEntry) -> Self {
        let gave_up = e.outcome.as_deref() == Some("gave-up");
        NotificationRow {
            id: e.notification.id,
            sink: e.sink.to_string(),
            event: e.notification.event.to_string(),
            address: e.notification.address.to_string(),
            attempts: e.attempts,
            next_attempt: (!gave_up).then(|| fmt_time(Some(e.next_attempt_at))),
            gave_up,
            last_error: e.last_error.clone(),
        }
    }
}

/// When the certificate of `r` is due for renewal (`renewal.margin_days` before expiry); none
/// for a revoked certificate or a mailbox no source reports (neither is renewed).
pub fn renewal_date(r: &MailboxRecord, margin: Duration) -> Option<OffsetDateTime> {
    if r.stage == Stage::Revoked || !r.present {
        return None;
    }
    r.not_after.map(|t| t - margin)
}

/// One mailbox as `status --json` prints it. Field names are a script-facing contract.
#[derive(Debug, Serialize)]
pub struct StatusRow {
    /// The mailbox.
    pub address: String,
    /// The person's name a source reported (LDIF, `enqueue --name`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The stage name.
    pub stage: String,
    /// `stage`, or `failed (stage)`, plus `, removed`.
    pub status: String,
    /// Whether the record gave up and waits for an operator.
    pub failed: bool,
    /// Whether the sources report the mailbox.
    pub present: bool,
    /// Certificate generation.
    pub generation: u32,
    /// Expiry of the stored certificate (RFC 3339).
    pub expires: Option<String>,
    /// When its renewal starts (RFC 3339; see [`renewal_date`]).
    pub renews: Option<String>,
    /// AutoDNS certificate id.
    pub certificate_id: Option<i64>,
    /// Certificate serial, hex.
    pub serial: Option<String>,
    /// AutoDNS job id of the current order.
    pub job_id: Option<i64>,
    /// Our client transaction id of the current order.
    pub ctid: Option<String>,
    /// Consecutive failed attempts.
    pub attempts: u32,
    /// When the next step is due (RFC 3339).
    pub next_attempt: Option<String>,
    /// The pending operator request.
    pub request: Option<String>,
    /// The last error, if any.
    pub last_error: Option<LastError>,
    /// The order's job waits for the mailbox owner's approval (only then present).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub awaiting_approval: Option<ApprovalWait>,
    /// The audit trail (single-address view only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<Event>>,
    /// The sources that report the mailbox now (single-address view only; `*`: recorded
    /// before per-source tracking).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<String>>,
    /// Removals of the mailbox the mass-removal guard holds back (single-address view only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_removals: Option<Vec<HeldRemoval>>,
}

/// The last error of a record.
#[derive(Debug, Serialize)]
pub struct LastError {
    /// `transient`, `permanent` or `budget`.
    pub class: Option<String>,
    /// The remote's or our code.
    pub code: Option<String>,
    /// The text.
    pub text: Option<String>,
}

fn rfc3339(t: Option<OffsetDateTime>) -> Option<String> {
    t.map(|t| fmt_time(Some(t)))
}

impl StatusRow {
    /// The row of a record; `margin` is `renewal.margin_days`.
    pub fn of(r: &MailboxRecord, margin: Duration) -> Self {
        let f = &r.failure;
        StatusRow {
            address: r.address.to_string(),
            display_name: r.display_name.as_ref().map(|n| n.to_string()),
            stage: r.stage.to_string(),
            status: r.status_label(),
            failed: f.gave_up,
            present: r.present,
            generation: r.generation,
            expires: rfc3339(r.not_after),
            renews: rfc3339(renewal_date(r, margin)),
            certificate_id: r.certificate_id,
            serial: r.serial.clone(),
            job_id: r.job_id,
            ctid: r.ctid.clone(),
            attempts: f.attempts,
            next_attempt: rfc3339(r.next_attempt_at),
            request: r.request.map(|q| q.to_string()),
            last_error: (f.code.is_some() || f.text.is_some()).then(|| LastError {
                class: f.class.map(|c| c.to_string()),
                code: f.code.clone(),
                text: f.text.clone(),
            }),
            awaiting_approval: None,
            events: None,
            sources: None,
            held_removals: None,
        }
    }
}

/// The `sources:` line of the detail view, and a line per held-back removal.
pub fn sources_lines(sources: &[String], held: &[HeldRemoval]) -> String {
    let names: Vec<&str> = sources
        .iter()
        .map(|s| match s.as_str() {
            LEGACY_SOURCE => "(recorded before per-source tracking)",
            other => other,
        })
        .collect();
    let mut out = if names.is_empty() {
        "  sources:      none (requested through the spool or a verb, or gone)\n".to_string()
    } else {
        format!("  sources:      {}\n", names.join(", "))
    };
    for h in held {
        out.push_str(&format!(
            "  held back:    removal by {} since {} (the mass-removal guard; `{RELEASE_VERB}` \
             releases it)\n",
            h.source,
            fmt_time(Some(h.since))
        ));
    }
    out
}

/// The line under the table when the guard holds removals back (empty when it holds none).
pub fn held_footer(held: &[HeldRemoval]) -> String {
    if held.is_empty() {
        return String::new();
    }
    let mut by_source: std::collections::BTreeMap<&str, usize> = Default::default();
    for h in held {
        *by_source.entry(h.source.as_str()).or_default() += 1;
    }
    let parts: Vec<String> = by_source.iter().map(|(s, n)| format!("{s}: {n}")).collect();
    format!(
        "{} removal(s) held back by the mass-removal guard ({}); if they are real, \
         `smime-provisioner {RELEASE_VERB}` releases them\n",
        held.len(),
        parts.join(", ")
    )
}

fn date(t: Option<OffsetDateTime>) -> String {
    t.map(|t| t.date().to_string())
        .unwrap_or_else(|| "-".into())
}

/// The table of every mailbox; `margin` gives the renewal date, `waits` the approval waits by
/// address (see [`ApprovalWait`]), shown in the STATUS column.
pub fn table(
    records: &[MailboxRecord],
    margin: Duration,
    waits: &std::collections::BTreeMap<String, ApprovalWait>,
) -> String {
    let mut rows = vec![[
        "ADDRESS".to_string(),
        "STATUS".into(),
        "GEN".into(),
        "EXPIRES".into(),
        "RENEWS".into(),
        "ATTEMPTS".into(),
        "LAST ERROR".into(),
    ]];
    for r in records {
        let err = match (&r.failure.code, &r.failure.text) {
            (Some(c), Some(t)) => format!("{t} [{c}]"),
            (Some(c), None) => c.clone(),
            (None, Some(t)) => t.clone(),
            (None, None) => "-".into(),
        };
        let status = match waits.get(r.address.as_str()) {
            Some(w) => format!("{} ({})", r.status_label(), w.line()),
            None => r.status_label(),
        };
        rows.push([
            r.address.to_string(),
            status,
            r.generation.to_string(),
            date(r.not_after),
            date(renewal_date(r, margin)),
            r.failure.attempts.to_string(),
            err,
        ]);
    }
    let last = rows[0].len() - 1;
    let widths: Vec<usize> = (0..last)
        .map(|i| {
            rows.iter()
                .map(|row| row[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &rows {
        for (i, w) in widths.iter().enumerate() {
            out.push_str(&format!("{:<w$}  ", row[i], w = *w));
        }
        out.push_str(&row[last]);
        out.push('\n');
    }
    let failed = records.iter().filter(|r| r.failure.gave_up).count();
    out.push_str(&format!("{} mailboxes, {failed} failed\n", records.len()));
    out
}

/// One mailbox in detail, with its audit trail; `margin` gives the renewal date.
pub fn detail(r: &MailboxRecord, events: &[Event], margin: Duration) -> String {
    let row = StatusRow::of(r, margin);
    let mut out = format!(
        "{}\n  status:       {}\n  generation:   {}\n  expires:      {}\n  renews:       {}\n  \
         certificate:  {} (serial {})\n  order:        job {}, ctid {}\n  attempts:     {}\n  \
         next step:    {}\n",
        row.address,
        row.status,
        row.generation,
        row.expires.as_deref().unwrap_or("-"),
        row.renews.as_deref().unwrap_or("-"),
        row.certificate_id.map_or("-".into(), |c| c.to_string()),
        row.serial.as_deref().unwrap_or("-"),
        row.job_id.map_or("-".into(), |c| c.to_string()),
        row.ctid.as_deref().unwrap_or("-"),
        row.attempts,
        row.next_attempt.as_deref().unwrap_or("-"),
    );
    if let Some(e) = &row.last_error {
        out.push_str(&format!(
            "  last error:   {} [{}] ({})\n",
            e.text.as_deref().unwrap_or("-"),
            e.code.as_deref().unwrap_or("-"),
            e.class.as_deref().unwrap_or("-")
        ));
    }
    if let Some(q) = &row.request {
        out.push_str(&format!("  requested:    {q}\n"));
    }
    if let Some(n) = &row.display_name {
        out.push_str(&format!("  name:         {n}\n"));
    }
    if let Some(w) = ApprovalWait::of(r, events) {
        out.push_str(&format!(
            "  approval:     {} (`resend-approval {}` sends the mail again)\n",
            w.line(),
            row.address
        ));
    }
    out.push_str("  events:\n");
    for e in events {
        out.push_str(&format!(
            "    {}  g{}  {:<16} {}\n",
            fmt_time(Some(e.at)),
            e.generation,
            e.kind,
            e.detail
        ));
    }
    out
}

/// The lines about failing hook and webhook runs (empty when none fails).
pub fn notification_lines(troubles: &[OutboxEntry]) -> String {
    if troubles.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "{} hook/webhook run(s) failing (delivery goes on; see docs/hooks.md):\n",
        troubles.len()
    );
    for e in troubles.iter().take(NOTIFICATION_LINES) {
        let row = NotificationRow::of(e);
        let when = match &row.next_attempt {
            Some(t) => format!("next try {t}"),
            None => "gave up".to_string(),
        };
        out.push_str(&format!(
            "  {} {} for {} (notification {}): {} attempt(s), {when}: {}\n",
            row.sink,
            row.event,
            row.address,
            row.id,
            row.attempts,
            row.last_error.as_deref().unwrap_or("-")
        ));
    }
    if troubles.len() > NOTIFICATION_LINES {
        out.push_str(&format!(
            "  ... and {} more (`status --json` lists them all)\n",
            troubles.len() - NOTIFICATION_LINES
        ));
    }
    out
}

/// How many failing hook or webhook runs the text view lists (a broken hook fails for every
/// mailbox; the table must stay readable).
const NOTIFICATION_LINES: usize = 20;

/// When the trail first said that job `job_id` waits for the mailbox owner's approval: the
/// newest `approval-pending` event naming the job with nothing after it that ends the wait (the
/// job's success or failure, a new order). `None` when the job is not known to wait.
pub fn approval_pending_since(events: &[Event], job_id: i64) -> Option<OffsetDateTime> {
    let prefix = format!("job {job_id} ");
    let mut since = None;
    for e in events {
        if EventKind::ApprovalPending.is(&e.kind) {
            if e.detail.starts_with(&prefix) && since.is_none() {
                since = Some(e.at);
            }
        } else if [
            EventKind::JobSucceeded,
            EventKind::JobFailed,
            EventKind::Ordered,
            EventKind::OrderIntent,
        ]
        .iter()
        .any(|k| k.is(&e.kind))
        {
            since = None;
        }
    }
    since
}

/// A job waiting for the mailbox owner's approval, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApprovalWait {
    /// The AutoDNS job.
    pub job_id: i64,
    /// Since when (RFC 3339): the first job check that found it waiting.
    pub since: String,
}

impl ApprovalWait {
    /// The wait of `r`'s current order, from its trail: only an `ordered` record's job waits.
    pub fn of(r: &MailboxRecord, events: &[Event]) -> Option<ApprovalWait> {
        let job_id = r.job_id.filter(|_| r.stage == Stage::Ordered)?;
        approval_pending_since(events, job_id).map(|t| ApprovalWait {
            job_id,
            since: fmt_time(Some(t)),
        })
    }

    /// The words `status` prints.
    pub fn line(&self) -> String {
        format!(
            "waiting for approval since {}, job {}",
            self.since, self.job_id
        )
    }
}

/// A time for event details and status (RFC 3339, or `-`).
pub fn fmt_time(t: Option<OffsetDateTime>) -> String {
    t.and_then(|t| {
        t.format(&time::format_description::well_known::Rfc3339)
            .ok()
    })
    .unwrap_or_else(|| "-".to_string())
}
