//! Owns configuration: reading the TOML file, validating it into typed values, and reporting
//! *every* problem at once, each with its key path (`autodns.endpoint: ...`).
//!
//! Two stages, after cargo-deny's `cfg.rs`: [`raw`] mirrors the file with serde; [`validate`]
//! checks it and builds [`Config`]. Secrets (AutoDNS and SMTP passwords, the push token) are read
//! from files or environment variables during validation, so `check-config` proves they exist.
//! Relative paths are resolved against the directory holding the config file.

use std::fmt;
use std::path::{Path, PathBuf};

pub mod raw;
mod types;
pub mod validate;

pub use types::*;

/// The built-in example config, shipped as `config.example.toml` and parsed by a test.
pub const EXAMPLE: &str = include_str!("../../config.example.toml");

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path, e.g. `delivery.smtp.port`.
    pub key: String,
    /// What is wrong and, where possible, how to fix it.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// A config file that cannot be used, with every problem found in it.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    /// The file that was read.
    pub path: PathBuf,
    /// Every problem, in file order where known.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "config file {} has {n} problem{}:",
            self.path.display(),
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

impl ConfigError {
    fn single(path: &Path, key: &str, message: String) -> Self {
        ConfigError {
            path: path.to_path_buf(),
            problems: vec![Problem {
                key: key.to_string(),
                message,
            }],
        }
    }
}

/// The directory relative paths in the config file at `path` are resolved against.
fn config_dir(path: &Path) -> PathBuf {
    path.parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."))
}

/// What the `enqueue` hook needs from the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookSettings {
    /// Where requests are written.
    pub spool_dir: PathBuf,
    /// `domains.allow`, normalised; empty = every domain. No overrides: the hook orders nothing.
    pub domains: crate::mailbox::DomainPolicy,
}

/// The hook's settings from the config file at `path`, without validating the rest or loading
/// any secret: the `enqueue` hook runs as an unprivileged user that may read the config file but
/// not the secret files it names.
pub fn hook_settings(path: &Path) -> Result<HookSettings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::single(
            path,
            "(file)",
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    let raw: raw::RawConfig = toml::from_str(&text)
        .map_err(|e| ConfigError::single(path, "(syntax)", e.to_string().trim_end().to_string()))?;
    let base = config_dir(path);
    let spool_dir = validate::resolve(
        &base,
        raw.sources
            .spool
            .dir
            .as_deref()
            .unwrap_or(validate::DEFAULT_SPOOL_DIR),
    );
    let (allow, problems) = validate::allow_list(&raw.domains);
    if !problems.is_empty() {
        return Err(ConfigError {
            path: path.to_path_buf(),
            problems,
        });
    }
    Ok(HookSettings {
        spool_dir,
        domains: crate::mailbox::DomainPolicy {
            allow,
            ..Default::default()
        },
    })
}

impl Config {
    /// Reads and validates the config file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::single(
                path,
                "(file)",
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        let base = config_dir(path);
        Config::from_toml(&text, path, &base, &validate::ProcessEnv)
    }

    /// Parses and validates config text. `path` is only used in messages; relative paths in the
    /// file are resolved against `base`; environment variables are read through `env`.
    pub fn from_toml(
        text: &str,
        path: &Path,
        base: &Path,
        env: &dyn validate::Env,
    ) -> Result<Config, ConfigError> {
        let mut unknown = Vec::new();
        let de = toml::de::Deserializer::parse(text).map_err(|e| {
            ConfigError::single(path, "(syntax)", e.to_string().trim_end().to_string())
        })?;
        let raw: raw::RawConfig = serde_ignored::deserialize(de, |p| unknown.push(p.to_string()))
            .map_err(|e| {
            ConfigError::single(path, "(types)", e.to_string().trim_end().to_string())
        })?;
        let mut problems: Vec<Problem> = unknown
            .into_iter()
            .map(|key| Problem {
                key,
                message: "unknown key (misspelt, or not valid in this section)".into(),
            })
            .collect();
        match validate::validate(raw, base, env) {
            Ok(config) if problems.is_empty() => Ok(config),
            Ok(_) => Err(ConfigError {
                path: path.to_path_buf(),
                problems,
            }),
            Err(more) => {
                problems.extend(more);
                Err(ConfigError {
                    path: path.to_path_buf(),
                    problems,
                })
            }
        }
    }
}
