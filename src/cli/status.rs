//! The `status` verb: a table of every mailbox (status, generation, expiry, renewal date,
//! attempts, last error) and the hook or webhook runs that are failing, one mailbox with its
//! audit trail, or either as versioned JSON for scripts (`--json`, `docs/status-json.md`). An
//! order whose job waits for the mailbox owner's approval says so, with the job and since when
//! (`awaiting_approval` in JSON).
//!
//! Reads the state store directly (WAL lets it read while the daemon writes). Exits 1 when a
//! mailbox shown has failed and waits for an operator, so monitoring can run `status` as a check;
//! before any store exists (a fresh install) it says "no state yet" and exits 0.

use super::{CliError, Context};
use crate::config::Config;
use crate::mailbox::Address;
use crate::pipeline::status::{
    detail, held_footer, notification_lines, sources_lines, table, ApprovalWait, NotificationRow,
    StatusDoc, StatusRow, JSON_VERSION,
};
use crate::store::{HeldRemoval, OutboxEntry, Store, StoreError, DB_FILE};
use time::Duration;

/// Arguments of `status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this address, with its event log.
    pub address: Option<String>,
    /// Print JSON for scripts instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs the verb.
pub async fn run(args: Args, ctx: &Context) -> Result<(), CliError> {
    let config = Config::load(&ctx.config_path)?;
    if !config.state_dir.join(DB_FILE).exists() {
        return no_state_yet(&args, &config);
    }
    let store = Store::open(&config.state_dir).map_err(|e| CliError::failed(&e))?;
    let margin = time::Duration::try_from(config.renewal.margin).unwrap_or(time::Duration::MAX);
    let failed = match &args.address {
        Some(a) => one(&store, a, margin, args.json)?,
        None => all(&store, margin, args.json)?,
    };
    if failed > 0 {
        return Err(CliError::Failed(format!(
            "{failed} mailbox(es) failed and wait for an operator (see LAST ERROR; \
             `provision ADDRESS` retries)"
        )));
    }
    Ok(())
}

/// `status ADDRESS`: the record with its sources and audit trail. Returns 1 if it failed.
fn one(store: &Store, a: &str, margin: Duration, json: bool) -> Result<usize, CliError> {
    let fail = |e: StoreError| CliError::failed(&e);
    let address = Address::parse(a).map_err(|e| CliError::Usage(e.to_string()))?;
    let record = store
        .get(&address)
        .map_err(fail)?
        .ok_or_else(|| CliError::Failed(format!("{address} is not a known mailbox")))?;
    let events = store.events(&address).map_err(fail)?;
    let sources = store.sources_of(&record.address).map_err(fail)?;
    let held: Vec<_> = store
        .held_removals()
        .map_err(fail)?
        .into_iter()
        .filter(|h| h.address == record.address)
        .collect();
    let troubles: Vec<_> = store
        .outbox_troubles()
        .map_err(fail)?
        .into_iter()
        .filter(|e| e.notification.address == record.address)
        .collect();
    if json {
        let mut row = StatusRow::of(&record, margin);
        row.awaiting_approval = ApprovalWait::of(&record, &events);
        row.events = Some(events);
        row.sources = Some(sources);
        row.held_removals = Some(held.clone());
        print_json(&doc(vec![row], held, &troubles))?;
    } else {
        let text = detail(&record, &events, margin);
        // The sources go above the audit trail.
        let (head, trail) = text.split_once("  events:\n").unwrap_or((&text, ""));
        print!("{head}{}  events:\n{trail}", sources_lines(&sources, &held));
        print!("{}", notification_lines(&troubles));
    }
    Ok(usize::from(record.failure.gave_up))
}

/// `status`: every mailbox. Returns how many failed.
fn all(store: &Store, margin: Duration, json: bool) -> Result<usize, CliError> {
    let fail = |e: StoreError| CliError::failed(&e);
    let records = store.list().map_err(fail)?;
    let held = store.held_removals().map_err(fail)?;
    let troubles = store.outbox_troubles().map_err(fail)?;
    let waits = approval_waits(store, &records)?;
    if json {
        let rows = records
            .iter()
            .map(|r| StatusRow {
                awaiting_approval: waits.get(r.address.as_str()).cloned(),
                ..StatusRow::of(r, margin)
            })
            .collect();
        print_json(&doc(rows, held, &troubles))?;
    } else {
        print!(
            "{}{}{}",
            table(&records, margin, &waits),
            held_footer(&held),
            notification_lines(&troubles)
        );
    }
    Ok(records.iter().filter(|r| r.failure.gave_up).count())
}

fn doc(rows: Vec<StatusRow>, held: Vec<HeldRemoval>, troubles: &[OutboxEntry]) -> StatusDoc {
    StatusDoc {
        version: JSON_VERSION,
        mailboxes: rows,
        held_removals: held,
        failing_notifications: troubles.iter().map(NotificationRow::of).collect(),
    }
}

/// The approval waits of the records whose order's job is out (`ordered`): only their trails
/// are read.
fn approval_waits(
    store: &Store,
    records: &[crate::store::MailboxRecord],
) -> Result<std::collections::BTreeMap<String, ApprovalWait>, CliError> {
    let mut waits = std::collections::BTreeMap::new();
    for r in records
        .iter()
        .filter(|r| r.stage == crate::pipeline::Stage::Ordered)
    {
        let events = store.events(&r.address).map_err(|e| CliError::failed(&e))?;
        if let Some(w) = ApprovalWait::of(r, &events) {
            waits.insert(r.address.to_string(), w);
        }
    }
    Ok(waits)
}

/// A fresh install: nothing recorded yet is not a failure (exit 0), except for a named address,
/// which is unknown like any address the store does not hold. Creates nothing.
fn no_state_yet(args: &Args, config: &Config) -> Result<(), CliError> {
    let note = format!(
        "no state yet in {}: no mailbox has been recorded (start `run`, or `provision ADDRESS`)",
        config.state_dir.display()
    );
    if let Some(a) = &args.address {
        return Err(CliError::Failed(format!(
            "{a} is not a known mailbox; {note}"
        )));
    }
    if args.json {
        print_json(&doc(Vec::new(), Vec::new(), &[]))?;
        eprintln!("{note}");
    } else {
        println!("{note}");
    }
    Ok(())
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(v).map_err(|e| CliError::failed(&e))?;
    println!("{text}");
    Ok(())
}
