//! The `enqueue` verb: placeholder.

use super::{CliError, Context};

/// Arguments of `enqueue`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The addresses to provision.
    #[arg(required = true)]
    pub addresses: Vec<String>,
}

/// Runs the verb.
pub async fn run(_args: Args, _ctx: &Context) -> Result<(), CliError> {
    Err(CliError::Failed("not available yet".into()))
}
