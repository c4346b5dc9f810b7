//! The `check-config` verb: placeholder.

use super::{CliError, Context};
use std::path::PathBuf;

/// Arguments of `check-config`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The config file to check (default: `--config`).
    pub path: Option<PathBuf>,
}

/// Runs the verb.
pub async fn run(_args: Args, _ctx: &Context) -> Result<(), CliError> {
    Err(CliError::Failed("not available yet".into()))
}
