//! The `simulator` verb: runs the bundled AutoDNS simulator (JSON API under `/v1`, XML gateway at
//! `/`) until SIGINT/SIGTERM, printing its base URLs on stdout. For trials without an AutoDNS
//! account and for tests; certificates come from a throwaway CA that no client trusts.

use super::{CliError, Context};
use crate::simulator::{run_cli, SimulatorOptions};

/// Arguments of `simulator`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub options: SimulatorOptions,
}

/// Runs the verb. The simulator needs no config file.
pub async fn run(args: Args, _ctx: &Context) -> Result<(), CliError> {
    run_cli(args.options)
        .await
        .map_err(|e| CliError::failed(&e))
}
