//! The `redeliver` verb: sends the existing certificate again with a fresh PKCS#12 password.
//!
//! Not available yet: the provisioning pipeline (issue 7) implements it.

use super::{CliError, Context};

/// Arguments of `redeliver`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The mailbox address.
    pub address: String,
}

/// Runs the verb.
pub async fn run(_args: Args, _ctx: &Context) -> Result<(), CliError> {
    Err(CliError::Failed(
        "`redeliver` is not available yet: the provisioning pipeline is not built".into(),
    ))
}
