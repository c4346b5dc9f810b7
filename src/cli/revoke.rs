//! The `revoke` verb: Revokes the current certificate at AutoDNS (CertificateDelete) and stops provisioning.
//!
//! Records the request in the state store and carries it out in the foreground (or, with
//! `--no-wait`, leaves it to the running daemon). See `provision.rs` for the shared parts.

use super::provision::{request_verb, WaitArgs};
use super::{CliError, Context};
use crate::pipeline::{Request, Stage};

/// Arguments of `revoke`.
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
        Some(Request::Revoke),
        args.wait,
        |r, _| r.stage == Stage::Revoked,
    )
    .await
}
