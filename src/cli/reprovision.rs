//! The `reprovision` verb: New key and new certificate (a new order) for an address that already has one.
//!
//! Records the request in the state store and carries it out in the foreground (or, with
//! `--no-wait`, leaves it to the running daemon). See `provision.rs` for the shared parts.

use super::provision::delivered_anew;
use super::{CliError, Context};
use crate::pipeline::Request;

/// Arguments of `reprovision`.
pub use super::provision::AddressArgs as Args;

/// Runs the verb.
pub async fn run(args: Args, ctx: &Context) -> Result<(), CliError> {
    args.request(ctx, Request::Reprovision, delivered_anew)
        .await
}
