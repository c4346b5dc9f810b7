//! The `simulator` verb: placeholder.

use super::{CliError, Context};

/// Arguments of `simulator`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: String,
}

/// Runs the verb.
pub async fn run(_args: Args, _ctx: &Context) -> Result<(), CliError> {
    Err(CliError::Failed("not available yet".into()))
}
