//! The `redeliver` verb: Sends the existing certificate again with a fresh PKCS#12 password; buys nothing.
//!
//! Records the request in the state store and carries it out in the foreground (or, with
//! `--no-wait`, leaves it to the running daemon). See `provision.rs` for the shared parts.

use super::{CliError, Context};
use crate::pipeline::{Request, Stage};

/// Arguments of `redeliver`.
pub use super::provision::AddressArgs as Args;

/// Runs the verb.
pub async fn run(args: Args, ctx: &Context) -> Result<(), CliError> {
    args.request(ctx, Request::Redeliver, |r, before| {
        r.stage == Stage::Delivered
            && r.request.is_none()
            && r.delivered_at > before.as_ref().and_then(|b| b.delivered_at)
    })
    .await
}
