//! The `check-config` verb: validates a config file and reports every problem at once, each with
//! its key, and checks the paths and modes it names exactly as `run` does before it starts.
//! Exit 0 when valid, 2 when not. `--online` runs `preflight` instead (its exit codes).

use std::path::PathBuf;

use super::startup::{checked_config, Start};
use super::{CliError, Context};
use crate::config::{Config, DeliveryTransport, Endpoint};

/// Arguments of `check-config`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The config file to check (default: the global `--config`).
    pub path: Option<PathBuf>,
    /// Also run `preflight` against the configured AutoDNS endpoint (an alias of `preflight`).
    #[arg(long)]
    pub online: bool,
    /// With `--online`: print the checks as JSON.
    #[arg(long, requires = "online")]
    pub json: bool,
}

/// Runs the verb: the checks `run` runs before it starts ([`checked_config`]), nothing more and
/// nothing less. A mailbox source that is not there yet is a warning (the daemon waits for it).
pub async fn run(args: Args, ctx: &Context) -> Result<(), CliError> {
    let path = args.path.unwrap_or_else(|| ctx.config_path.clone());
    if args.online {
        let ctx = Context { config_path: path };
        return super::preflight::run(super::preflight::Args { json: args.json }, &ctx).await;
    }
    let checked = checked_config(&path, Start::Daemon)?;
    println!("{}: valid", path.display());
    println!("  {}", summary(&checked.config));
    for w in &checked.warnings {
        eprintln!(
            "warning: {w} (the daemon starts this source when it appears; `run --once` refuses)"
        );
    }
    Ok(())
}

/// One line saying what this config will do: where orders go and where mail goes.
pub fn summary(config: &Config) -> String {
    let orders = match &config.autodns.endpoint {
        Endpoint::Simulator => "orders go to the bundled simulator (no account, no money)".into(),
        Endpoint::Remote(url) => format!("orders go to {url} as user {:?}", config.autodns.user),
    };
    let mail = match &config.delivery.transport {
        DeliveryTransport::File { dir } => format!("mail is written to {}", dir.display()),
        DeliveryTransport::Smtp(s) => format!("mail is sent via SMTP {}:{}", s.host, s.port),
        DeliveryTransport::Sendmail { command } => {
            format!("mail is handed to {}", command.display())
        }
    };
    format!("{orders}; {mail}; state in {}", config.state_dir.display())
}
