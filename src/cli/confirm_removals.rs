//! The `confirm-removals` verb: releases the removals the mass-removal guard holds back.
//!
//! When a source stops reporting more mailboxes than `sources.max_removal_share` allows within
//! `sources.removal_window_secs`, the removals are held back (the mailboxes stay present,
//! `status` lists them). Once an operator has checked that they are real, this verb removes
//! them from their sources; a mailbox no source reports any more is marked gone, and the
//! running daemon takes it up (the removal policy applies). Works while the daemon runs.

use super::{CliError, Context};
use crate::config::Config;
use crate::store::{Store, DB_FILE};

/// Arguments of `confirm-removals`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the verb.
pub async fn run(_args: Args, ctx: &Context) -> Result<(), CliError> {
    let config = Config::load(&ctx.config_path)?;
    if !config.state_dir.join(DB_FILE).exists() {
        println!("no removals are held back (no state store yet)");
        return Ok(());
    }
    let store = Store::open(&config.state_dir).map_err(|e| CliError::failed(&e))?;
    let now = time::OffsetDateTime::now_utc();
    let (released, gone) = store
        .confirm_removals(now)
        .map_err(|e| CliError::failed(&e))?;
    if released.is_empty() {
        println!("no removals are held back");
        return Ok(());
    }
    for h in &released {
        println!("released: {} no longer reported by {}", h.address, h.source);
    }
    tracing::info!(
        released = released.len(),
        gone = gone.len(),
        "held-back removals confirmed by an operator"
    );
    println!(
        "{} removal(s) released; {} mailbox(es) no source reports any more are now gone",
        released.len(),
        gone.len()
    );
    Ok(())
}
