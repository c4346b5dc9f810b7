//! The `revoke` verb: Revokes the current certificate at AutoDNS (CertificateDelete) and stops provisioning.
//!
//! Records the request in the state store and carries it out in the foreground (or, with
//! `--no-wait`, leaves it to the running daemon). See `provision.rs` for the shared parts.

use super::{CliError, Context};
use crate::pipeline::{Request, Stage};

/// Arguments of `revoke`.
pub use super::provision::AddressArgs as Args;

/// Runs the verb.
pub async fn run(args: Args, ctx: &Context) -> Result<(), CliError> {
    args.request(ctx, Request::Revoke, |r, _| r.stage == Stage::Revoked)
        .await
}
