//! The `resend-approval` verb: asks AutoDNS to send GlobalSign's approval mail of an address's
//! pending order again (`PUT /job/{id}/_resendApproverEmail`, 400118, docs/autodns-api.md §4.3)
//! and records an `approval-resent` event. It orders nothing and moves no stage.
//!
//! Refused with nothing sent: for an address without an order out at AutoDNS (not `ordered`, or
//! no job id); for a job that has finished or does not wait for the mailbox owner's approval;
//! and over the XML gateway, which documents no such task (the error says what to do instead).

use time::OffsetDateTime;

use super::{CliError, Context};
use crate::autodns::{client::XML_NO_RESEND, Client, ErrorKind, Wire};
use crate::config::Config;
use crate::lifecycle::EventKind;
use crate::mailbox::Address;
use crate::pipeline::Stage;
use crate::store::{MailboxRecord, NewEvent, Store, DB_FILE};

/// Arguments of `resend-approval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The mailbox whose pending order waits for its owner's approval.
    pub address: String,
}

/// Runs the verb.
pub async fn run(args: Args, ctx: &Context) -> Result<(), CliError> {
    let config = Config::load(&ctx.config_path)?;
    let address = Address::parse(&args.address).map_err(|e| CliError::Usage(e.to_string()))?;
    if !config.state_dir.join(DB_FILE).exists() {
        return Err(CliError::Failed(format!(
            "{address} is not a known mailbox (no state yet in {})",
            config.state_dir.display()
        )));
    }
    let store = Store::open(&config.state_dir).map_err(|e| CliError::failed(&e))?;
    let record = store
        .get(&address)
        .map_err(|e| CliError::failed(&e))?
        .ok_or_else(|| CliError::Failed(format!("{address} is not a known mailbox")))?;
    let job = pending_job(&record)?;
    if config.autodns.wire == Wire::Xml {
        return Err(CliError::Failed(format!(
            "{address}: job {job}: nothing sent: {XML_NO_RESEND}"
        )));
    }
    let (client, simulator) = crate::pipeline::wiring::Builder::new(&config)
        .build_client()
        .await
        .map_err(|e| CliError::failed(&e))?;
    let sent = resend(&client, &address, job).await;
    if let Some(s) = simulator {
        s.shutdown().await;
    }
    sent?;
    let event = NewEvent::new(
        EventKind::ApprovalResent,
        format!("job {job}: AutoDNS was asked to send the approval mail again"),
    );
    store
        .log_event(
            &address,
            OffsetDateTime::now_utc(),
            record.generation,
            &event,
        )
        .map_err(|e| CliError::failed(&e))?;
    println!(
        "{address}: AutoDNS was asked to send the approval mail of job {job} again; the order \
         continues once the mailbox owner confirms it"
    );
    Ok(())
}

/// The job of the record's order out at AutoDNS, or why there is none.
fn pending_job(r: &MailboxRecord) -> Result<i64, CliError> {
    match r.job_id {
        Some(job) if r.stage == Stage::Ordered && !r.failure.gave_up => Ok(job),
        _ => Err(CliError::Failed(format!(
            "{}: no order waits at AutoDNS (status: {}); nothing sent, nothing ordered",
            r.address,
            r.status_label()
        ))),
    }
}

/// Asks the job, then re-sends its mail if it waits for approval.
async fn resend(client: &Client, address: &Address, job: i64) -> Result<(), CliError> {
    let info = client.job_info(job).await.map_err(|e| {
        if e.kind() == ErrorKind::NotFound {
            CliError::Failed(format!(
                "{address}: job {job} is no longer waiting at AutoDNS (finished or unknown); \
                 nothing sent; `status {address}` shows what the daemon knows: {e}"
            ))
        } else {
            CliError::failed(&e)
        }
    })?;
    if !info.awaits_approval() {
        let status = info
            .status()
            .map_or_else(|| "unknown".to_string(), |s| format!("{s:?}"));
        return Err(CliError::Failed(format!(
            "{address}: job {job} does not wait for the mailbox owner's approval (job status \
             {status}); nothing sent"
        )));
    }
    client
        .job_resend_approver_email(job)
        .await
        .map_err(|e| CliError::failed(&e))
}
