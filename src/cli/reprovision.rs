//! The `reprovision` verb: new key and new certificate for an address that has one.
//!
//! Not available yet: the provisioning pipeline (issue 7) implements it.

use super::{CliError, Context};

/// Arguments of `reprovision`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The mailbox address.
    pub address: String,
}

/// Runs the verb.
pub async fn run(_args: Args, _ctx: &Context) -> Result<(), CliError> {
    Err(CliError::Failed(
        "`reprovision` is not available yet: the provisioning pipeline is not built".into(),
    ))
}
