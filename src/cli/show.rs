//! The `show` verb: prints the public certificate of one mailbox, for publishing by hand (a
//! directory, a website, a key server): PEM (default), DER, or PEM with the chain. Never the
//! private key, never a password: the store holds neither in a form this verb reads.
//!
//! Reads the state store directly, like `status`. Exit 1 when the mailbox is unknown or has no
//! certificate yet; 2 for an invalid address.

use std::io::Write;

use super::{CliError, Context};
use crate::config::Config;
use crate::mailbox::Address;
use crate::store::{Store, DB_FILE};

/// Arguments of `show`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The mailbox address.
    pub address: String,
    /// Print the certificate as PEM (the default).
    #[arg(long, conflicts_with_all = ["der", "chain"])]
    pub pem: bool,
    /// Print the certificate as binary DER (redirect it to a file).
    #[arg(long, conflicts_with = "chain")]
    pub der: bool,
    /// Print the certificate and its chain (intermediates, as the CA sent them) as PEM.
    #[arg(long)]
    pub chain: bool,
}

/// Runs the verb.
pub async fn run(args: Args, ctx: &Context) -> Result<(), CliError> {
    let config = Config::load(&ctx.config_path)?;
    let address = Address::parse(&args.address).map_err(|e| CliError::Usage(e.to_string()))?;
    let unknown = || CliError::Failed(format!("{address} is not a known mailbox"));
    if !config.state_dir.join(DB_FILE).exists() {
        return Err(unknown());
    }
    let store = Store::open(&config.state_dir).map_err(|e| CliError::failed(&e))?;
    let record = store
        .get(&address)
        .map_err(|e| CliError::failed(&e))?
        .ok_or_else(unknown)?;
    let Some(pem) = record.certificate_pem.as_deref() else {
        return Err(CliError::Failed(format!(
            "{address} has no certificate yet (stage {}); `status {address}` shows why",
            record.stage
        )));
    };
    let bytes = if args.der {
        crate::crypto::certificate_der(pem).map_err(|e| CliError::failed(&e))?
    } else if args.chain {
        let mut text = with_newline(pem);
        if let Some(chain) = record.chain_pem.as_deref() {
            text.push_str(&with_newline(chain));
        }
        text.into_bytes()
    } else {
        with_newline(pem).into_bytes()
    };
    let mut out = std::io::stdout().lock();
    out.write_all(&bytes)
        .and_then(|()| out.flush())
        .map_err(|e| CliError::failed(&e))
}

fn with_newline(pem: &str) -> String {
    let mut s = pem.trim_end().to_string();
    s.push('\n');
    s
}
