//! The shipped example config as a test's config: `config.example.toml` copied unchanged into a
//! temporary directory, so its relative paths put state, mail, spool and outbox under `dir/var`.

use std::path::{Path, PathBuf};

/// Copies the example config into `dir` and creates its (empty) maildir root, as on a fresh
/// mail server; returns the config file's path.
pub fn shipped_config(dir: &Path) -> PathBuf {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let config = dir.join("config.toml");
    std::fs::copy(example, &config).unwrap();
    std::fs::create_dir_all(dir.join("var/mail/example.com")).unwrap();
    config
}
