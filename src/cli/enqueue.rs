//! The `enqueue` verb: the hook entry point. Records a provisioning request for each address in
//! the daemon's spool directory and returns at once; works while the daemon is down and for an
//! unprivileged hook user (the spool is group-writable).
//!
//! It reads only the spool location from the config file (no secrets are loaded, so the hook's
//! user needs read access to the config file only, never to the secret files it names).
//! All addresses are checked before anything is written (form, and `domains.allow`): one
//! refused address enqueues nothing and exits 2; so does a spool that is missing or not writable
//! (a setup error). `--name` gives the person's name for the greeting and the order (one
//! address only); a name the daemon would refuse (a line break, a control character, too long)
//! enqueues nothing either.

use std::path::PathBuf;

use super::{CliError, Context};
use crate::display_name::DisplayName;
use crate::mailbox::{Address, DomainPolicy};
use crate::source::spool;

/// Arguments of `enqueue`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Spool directory (default: `sources.spool.dir` from the config file).
    #[arg(long)]
    pub spool_dir: Option<PathBuf>,
    /// The person's name, for the greeting and the order's first and last name (with one
    /// address only), e.g. "Anna Lima".
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The mailbox addresses to provision.
    #[arg(required = true)]
    pub addresses: Vec<String>,
}

/// Runs the verb.
pub async fn run(args: Args, ctx: &Context) -> Result<(), CliError> {
    let mut addresses = Vec::new();
    let mut invalid = Vec::new();
    for a in &args.addresses {
        match Address::parse(a) {
            Ok(addr) => addresses.push(addr),
            Err(e) => invalid.push(e.to_string()),
        }
    }
    let name = match args.name.as_deref().map(DisplayName::parse) {
        None => None,
        Some(_) if addresses.len() + invalid.len() > 1 => {
            invalid.push("--name names one person; give one address with it".into());
            None
        }
        Some(Ok(n)) => Some(n),
        Some(Err(e)) => {
            invalid.push(format!("the name given with --name {e}"));
            None
        }
    };
    if !invalid.is_empty() {
        return Err(CliError::Usage(format!(
            "nothing enqueued: {}",
            invalid.join("; ")
        )));
    }
    let (dir, domains) = match (
        args.spool_dir,
        crate::config::hook_settings(&ctx.config_path),
    ) {
        (Some(dir), Ok(h)) => (dir, h.domains),
        // An explicit --spool-dir works without a readable config file; the daemon still
        // applies the allow-list when it picks the request up.
        (Some(dir), Err(e)) => {
            tracing::warn!("domains.allow not checked: {e}");
            (dir, DomainPolicy::default())
        }
        (None, Ok(h)) => (h.spool_dir, h.domains),
        (None, Err(e)) => return Err(e.into()),
    };
    let refused: Vec<String> = addresses
        .iter()
        .filter(|a| !domains.permits(a))
        .map(|a| format!("{a} is not in a domain listed in domains.allow"))
        .collect();
    if !refused.is_empty() {
        return Err(CliError::Usage(format!(
            "nothing enqueued: {}",
            refused.join("; ")
        )));
    }
    // A missing or unwritable spool is a setup error (exit 2); an I/O failure (a full disk)
    // may pass, so it is a failure (exit 1) the hook can retry.
    let written = spool::enqueue_named(&dir, &addresses, name.as_ref()).map_err(|e| {
        if e.is_transient() {
            CliError::failed(&e)
        } else {
            CliError::Setup(e.to_string())
        }
    })?;
    for (addr, path) in addresses.iter().zip(&written) {
        println!("queued {addr} ({})", path.display());
    }
    Ok(())
}
