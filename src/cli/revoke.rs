//! The `revoke` verb: revokes an address's certificate.
//!
//! Not available yet: the provisioning pipeline (issue 7) implements it.

use super::{CliError, Context};

/// Arguments of `revoke`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The mailbox address.
    pub address: String,
}

/// Runs the verb.
pub async fn run(_args: Args, _ctx: &Context) -> Result<(), CliError> {
    Err(CliError::Failed(
        "`revoke` is not available yet: the provisioning pipeline is not built".into(),
    ))
}
