//! The `run` verb: the daemon (sources → pipeline → delivery, renewals, HTTP endpoint).
//!
//! Not available yet: the provisioning pipeline (issue 7) implements it.

use super::{CliError, Context};

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run one reconcile pass over every mailbox, then exit (for cron and tests).
    #[arg(long)]
    pub once: bool,
}

/// Runs the verb.
pub async fn run(_args: Args, _ctx: &Context) -> Result<(), CliError> {
    Err(CliError::Failed(
        "`run` is not available yet: the provisioning pipeline is not built".into(),
    ))
}
