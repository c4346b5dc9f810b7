//! The `provision` verb: provisions one address now, in the foreground, with a progress line per
//! stage; a no-op for an address that is already delivered. Also holds what the other one-off
//! verbs (`reprovision`, `redeliver`, `renew`, `revoke`) share: load the config, assemble the
//! pipeline, record the request, drive it to its goal.
//!
//! Safe next to a running daemon: both use the same store, and a record's steps are claimed
//! (see `pipeline::reconcile`), so only one of them acts at a time.

use std::time::Duration;

use super::startup::{checked_config, Start};
use super::{CliError, Context};
use crate::config::Config;
use crate::mailbox::Address;
use crate::pipeline::drive::{drive, DriveError};
use crate::pipeline::wiring;
use crate::pipeline::{ForeignMessages, Request, Stage};
use crate::store::MailboxRecord;

/// Arguments of `provision`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The mailbox address.
    pub address: String,
    /// Give up waiting after this many seconds (the work is kept; `run` continues it).
    #[arg(long, default_value_t = 900)]
    pub wait_secs: u64,
}

/// Flags every one-off verb shares.
#[derive(Debug, Clone, clap::Args)]
pub struct WaitArgs {
    /// Only record the request for the running daemon and return at once.
    #[arg(long)]
    pub no_wait: bool,
    /// Give up waiting after this many seconds (the request stays recorded).
    #[arg(long, default_value_t = 900)]
    pub wait_secs: u64,
}

/// Arguments of the one-off verbs that act on one address and may wait for it (`renew`,
/// `reprovision`, `redeliver`, `revoke`).
#[derive(Debug, clap::Args)]
pub struct AddressArgs {
    /// The mailbox address.
    pub address: String,
    #[command(flatten)]
    pub wait: WaitArgs,
}

impl AddressArgs {
    /// Records `request` for the address and drives the record until `done` holds (see
    /// [`request_verb`]).
    pub(crate) async fn request(
        self,
        ctx: &Context,
        request: Request,
        done: impl Fn(&MailboxRecord, &Option<MailboxRecord>) -> bool,
    ) -> Result<(), CliError> {
        request_verb(ctx, &self.address, Some(request), self.wait, done).await
    }
}

/// The goal of `renew` and `reprovision`: a new generation delivered since `before`, with no
/// request left.
pub(crate) fn delivered_anew(r: &MailboxRecord, before: &Option<MailboxRecord>) -> bool {
    r.stage == Stage::Delivered
        && r.request.is_none()
        && before.as_ref().is_none_or(|b| r.generation > b.generation)
}

/// Parses an address given on the command line (a usage error if it is not one).
pub(crate) fn parse_address(text: &str, config: &Config) -> Result<Address, CliError> {
    let address = Address::parse(text).map_err(|e| CliError::Usage(e.to_string()))?;
    if !config.domains.permits(&address) {
        return Err(CliError::Usage(format!(
            "{address}: the domain {} is not in domains.allow, so it gets no certificate",
            address.domain()
        )));
    }
    Ok(address)
}

fn drive_error(e: DriveError) -> CliError {
    CliError::failed(&e)
}

/// Records `request` (or, for `None`, makes sure the address is known) and drives the record
/// until `done` holds.
pub(crate) async fn request_verb(
    ctx: &Context,
    address: &str,
    request: Option<Request>,
    wait: WaitArgs,
    done: impl Fn(&MailboxRecord, &Option<MailboxRecord>) -> bool,
) -> Result<(), CliError> {
    let config = checked_config(&ctx.config_path, Start::Verb)?.config;
    let address = parse_address(address, &config)?;
    let wiring = wiring::build(&config)
        .await
        .map_err(|e| CliError::failed(&e))?;
    let rec = wiring.reconciler.clone();
    let before = rec
        .store()
        .get(&address)
        .map_err(|e| CliError::failed(&e))?;
    let result = async {
        match request {
            None => rec.provision(&address).map_err(|e| CliError::failed(&e))?,
            Some(q) => rec.request(&address, q).map_err(|e| CliError::failed(&e))?,
        }
        if wait.no_wait {
            println!("{address}: request recorded; the running daemon carries it out");
            return Ok(());
        }
        let foreign = if config.autodns.confirm_foreign_messages {
            ForeignMessages::Confirm
        } else {
            ForeignMessages::Leave
        };
        let r = drive(
            &rec,
            &address,
            |r| done(r, &before),
            config.autodns.poll_interval.min(Duration::from_secs(5)),
            Duration::from_secs(wait.wait_secs),
            foreign,
            |line| println!("{line}"),
        )
        .await
        .map_err(drive_error)?;
        println!(
            "{address}: {} (generation {}, expires {})",
            r.status_label(),
            r.generation,
            crate::pipeline::reconcile::fmt_time(r.not_after)
        );
        Ok(())
    }
    .await;
    wiring.shutdown().await;
    result
}

/// Runs the verb.
pub async fn run(args: Args, ctx: &Context) -> Result<(), CliError> {
    let wait = WaitArgs {
        no_wait: false,
        wait_secs: args.wait_secs,
    };
    request_verb(ctx, &args.address, None, wait, |r, _| {
        r.stage == Stage::Delivered && r.request.is_none()
    })
    .await
}
