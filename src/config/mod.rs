//! config: placeholder; the foundation issue replaces it with the raw → validated config.

/// Every problem found in a config file.
#[derive(Debug, thiserror::Error)]
#[error("config has problems")]
pub struct ConfigError;
