//! The `reprovision` verb: New key and new certificate (a new order) for an address that already has one.
//!
//! Records the request in the state store and carries it out in the foreground (or, with
//! `--no-wait`, leaves it to the running daemon). See `provision.rs` for the shared parts.

use super::provision::{request_verb, WaitArgs};
use super::{CliError, Context};
use crate::pipeline::{Request, Stage};

/// Arguments of `reprovision`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The mailbox address.
    pub address: String,
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// Runs the verb.
pub async fn run(args: Args, ctx: &Context) -> Result<(), CliError> {
    request_verb(
        ctx,
        &args.address,
        Some(Request::Reprovision),
        args.wait,
        |r, before| {
            r.stage == Stage::Delivered
                && r.request.is_none()
                && before.as_ref().is_none_or(|b| r.generation > b.generation)
        },
    )
    .await
}
