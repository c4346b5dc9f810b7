//! The `status` verb: a table of mailboxes (state, expiry, last error), or JSON.
//!
//! Not available yet: the provisioning pipeline (issue 7) implements it.

use super::{CliError, Context};

/// Arguments of `status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this address, with its event log.
    pub address: Option<String>,
    /// Print JSON for scripts instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs the verb.
pub async fn run(_args: Args, _ctx: &Context) -> Result<(), CliError> {
    Err(CliError::Failed(
        "`status` is not available yet: the provisioning pipeline is not built".into(),
    ))
}
