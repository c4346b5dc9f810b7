//! Owns what `status` shows: a table of mailboxes (stage, expiry, attempts, last error), one
//! mailbox in detail with its audit trail, and the same as JSON for scripts. Pure functions over
//! store records, so the verb only loads and prints. Also the one time format ([`fmt_time`])
//! event details, `status` and the verbs share.

use serde::Serialize;
use time::OffsetDateTime;

use crate::lifecycle::{EventKind, Stage};
use crate::source::guard::RELEASE_VERB;
use crate::store::presence::LEGACY_SOURCE;
use crate::store::{Event, HeldRemoval, MailboxRecord};

/// One mailbox as `status --json` prints it. Field names are a script-facing contract.
#[derive(Debug, Serialize)]
pub struct StatusRow {
    /// The mailbox.
    pub address: String,
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
    /// The row of a record.
    pub fn of(r: &MailboxRecord) -> Self {
        let f = &r.failure;
        StatusRow {
            address: r.address.to_string(),
            stage: r.stage.to_string(),
            status: r.status_label(),
            failed: f.gave_up,
            present: r.present,
            generation: r.generation,
            expires: rfc3339(r.not_after),
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

/// The table of every mailbox; `waits` holds the approval waits by address (see
/// [`ApprovalWait`]), shown in the STATUS column.
pub fn table(
    records: &[MailboxRecord],
    waits: &std::collections::BTreeMap<String, ApprovalWait>,
) -> String {
    let mut rows = vec![[
        "ADDRESS".to_string(),
        "STATUS".into(),
        "GEN".into(),
        "EXPIRES".into(),
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
            r.failure.attempts.to_string(),
            err,
        ]);
    }
    let widths: Vec<usize> = (0..5)
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
        out.push_str(&row[5]);
        out.push('\n');
    }
    let failed = records.iter().filter(|r| r.failure.gave_up).count();
    out.push_str(&format!("{} mailboxes, {failed} failed\n", records.len()));
    out
}

/// One mailbox in detail, with its audit trail.
pub fn detail(r: &MailboxRecord, events: &[Event]) -> String {
    let row = StatusRow::of(r);
    let mut out = format!(
        "{}\n  status:       {}\n  generation:   {}\n  expires:      {}\n  certificate:  {} (serial {})\n  \
         order:        job {}, ctid {}\n  attempts:     {}\n  next step:    {}\n",
        row.address,
        row.status,
        row.generation,
        row.expires.as_deref().unwrap_or("-"),
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
