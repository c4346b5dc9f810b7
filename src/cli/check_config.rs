//! The `check-config` verb: validates a config file and reports every problem at once, each with
//! its key. Exit 0 when valid, 2 when not.

use std::path::PathBuf;

use super::{CliError, Context};
use crate::config::{Config, DeliveryTransport, Endpoint};

/// Arguments of `check-config`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The config file to check (default: the global `--config`).
    pub path: Option<PathBuf>,
}

/// Runs the verb.
pub async fn run(args: Args, ctx: &Context) -> Result<(), CliError> {
    let path = args.path.unwrap_or_else(|| ctx.config_path.clone());
    let config = Config::load(&path)?;
    // Templates are parsed now, so a misspelt {variable} is a config error today rather than a
    // failed delivery later.
    crate::delivery::setup::message_settings(&config.delivery).map_err(|e| {
        CliError::Config(crate::config::ConfigError {
            path: path.clone(),
            problems: vec![crate::config::Problem {
                key: "delivery (templates)".into(),
                message: e.to_string(),
            }],
        })
    })?;
    println!("{}: valid", path.display());
    println!("  {}", summary(&config));
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
