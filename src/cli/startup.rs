//! Owns what a verb does before it starts the pipeline, and what `check-config` does to predict
//! it: load and validate the config, parse the message templates, and check the installation the
//! config points at ([`crate::config::validate::preflight`]: paths and modes). One function for
//! all of them, so `check-config` never calls valid what `run` refuses. Every problem is a
//! config error (exit 2), listed at once with its key.

use std::path::Path;

use super::CliError;
use crate::config::{Config, ConfigError, Problem};

/// What is about to start, which decides how a missing mailbox source counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The daemon (and `check-config`, which checks for it): a source that is not there yet is
    /// a warning, since the daemon starts it when it appears.
    Daemon,
    /// One pass (`run --once`): a source that is not there is an error, the pass would miss it.
    Once,
    /// A one-off verb on one address: the sources are not read.
    Verb,
}

/// A config ready to start with, and the warnings to show.
#[derive(Debug)]
pub struct Checked {
    /// The validated config.
    pub config: Config,
    /// Problems that do not stop this start (see [`Start::Daemon`]).
    pub warnings: Vec<Problem>,
}

/// Loads the config at `path` and runs every check `run` runs before it starts.
pub fn checked_config(path: &Path, start: Start) -> Result<Checked, CliError> {
    let config = Config::load(path)?;
    let mut problems = Vec::new();
    // Templates are parsed now, so a misspelt {variable} is a config error today rather than a
    // failed delivery later.
    if let Err(e) = crate::delivery::setup::message_settings(&config.delivery) {
        problems.push(Problem {
            key: "delivery (templates)".into(),
            message: e.to_string(),
        });
    }
    let found = crate::config::validate::preflight(&config);
    problems.extend(found.problems);
    let mut warnings = Vec::new();
    match start {
        Start::Daemon => warnings = found.sources_missing,
        Start::Once => problems.extend(found.sources_missing),
        Start::Verb => {}
    }
    if !problems.is_empty() {
        return Err(CliError::Config(ConfigError {
            path: path.to_path_buf(),
            problems,
        }));
    }
    Ok(Checked { config, warnings })
}
