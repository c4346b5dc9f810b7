//! The `renew` verb: Renews now, with a fresh key, whatever the expiry date.
//!
//! Records the request in the state store and carries it out in the foreground (or, with
//! `--no-wait`, leaves it to the running daemon). See `provision.rs` for the shared parts.

use super::provision::delivered_anew;
use super::{CliError, Context};
use crate::pipeline::Request;

/// Arguments of `renew`.
pub use super::provision::AddressArgs as Args;

/// Runs the verb.
pub async fn run(args: Args, ctx: &Context) -> Result<(), CliError> {
    args.request(ctx, Request::Renew, delivered_anew).await
}
