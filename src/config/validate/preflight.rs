//! Owns the checks of the installation a validated config points at, before anything starts:
//! the state directory and key store, the outbox, the password directory, the sendmail program,
//! the spool, and the mailbox sources. `check-config` and every verb that starts the pipeline
//! (`run`, `run --once`, `provision`, …) run this same function, so `check-config` never calls
//! valid what `run` refuses. It only looks: nothing is created or changed.
//!
//! Modes: the state directory may not be written by group or others, nor entered by others
//! (it holds the database with PKCS#12 passwords in flight and the key store); the key store,
//! the outbox and the password directory must be private (0700), as their writers require.
//! Each problem names the key, the path, its mode and the `chmod` that fixes it; nothing is
//! tightened behind the administrator's back.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::super::types::{Config, DeliveryTransport, PasswordChannelConfig};
use super::super::Problem;

/// The outcome of [`preflight`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Preflight {
    /// What stops any start: an unsafe mode, a path that is not a directory, a missing program.
    pub problems: Vec<Problem>,
    /// What the daemon waits for but a single pass (`run --once`) cannot: a mailbox source
    /// that is not there yet (a maildir tree not mounted, an LDIF export not written yet).
    pub sources_missing: Vec<Problem>,
}

/// The key store inside the state directory (`pipeline::wiring::KEYS_DIR`; a test keeps the
/// two equal without making config depend on the pipeline).
const KEYS_DIR: &str = "keys";

/// Group or others may write, or others may enter: refused for the state directory.
const STATE_DIR_FORBIDDEN: u32 = 0o027;
/// Any access by group or others: refused for the private directories.
const PRIVATE_FORBIDDEN: u32 = 0o077;

/// Checks the paths and modes `config` names, without changing anything.
pub fn preflight(config: &Config) -> Preflight {
    let mut p = Preflight::default();
    let mut problem = |key: &str, message: String| {
        p.problems.push(Problem {
            key: key.into(),
            message,
        })
    };
    if let Some(m) = dir_problem(&config.state_dir, STATE_DIR_FORBIDDEN) {
        problem("state.dir", m);
    }
    let keys = config.state_dir.join(KEYS_DIR);
    if let Some(m) = dir_problem(&keys, PRIVATE_FORBIDDEN) {
        problem("state.dir", m);
    }
    let kek = keys.join(crate::crypto::keystore::KEK_FILE);
    if let Some(m) = file_problem(&kek) {
        problem("state.dir", m);
    }
    match &config.delivery.transport {
        DeliveryTransport::File { dir } => {
            if let Some(m) = dir_problem(dir, PRIVATE_FORBIDDEN) {
                problem("delivery.file.dir", m);
            }
        }
        DeliveryTransport::Sendmail { command } if !command.is_file() => problem(
            "delivery.sendmail.command",
            format!(
                "{} does not exist (install an MTA such as postfix, or set the path of its \
                 sendmail binary)",
                command.display()
            ),
        ),
        DeliveryTransport::Sendmail { .. } | DeliveryTransport::Smtp(_) => {}
    }
    if let PasswordChannelConfig::File { dir } = &config.delivery.password {
        if let Some(m) = dir_problem(dir, PRIVATE_FORBIDDEN) {
            problem("delivery.password.dir", m);
        }
    }
    let spool = &config.sources.spool_dir;
    if spool.exists() && !spool.is_dir() {
        problem(
            "sources.spool.dir",
            format!("{} exists but is not a directory", spool.display()),
        );
    }
    p.sources_missing = sources_missing(config);
    p
}

/// Why the existing directory `dir` cannot be used (not a directory, or a mode with a bit of
/// `forbidden`); `None` when it is fine or does not exist yet (it is created private then).
fn dir_problem(dir: &Path, forbidden: u32) -> Option<String> {
    // Symbolic links are followed, as the writers follow them: the target's mode counts.
    let meta = std::fs::metadata(dir).ok()?;
    dir_problem_of(dir, meta, forbidden)
}

fn dir_problem_of(dir: &Path, meta: std::fs::Metadata, forbidden: u32) -> Option<String> {
    if !meta.is_dir() {
        return Some(format!("{} exists but is not a directory", dir.display()));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & forbidden == 0 {
        return None;
    }
    let who = if mode & 0o002 != 0 {
        "every user could replace or read what is kept there"
    } else if mode & 0o020 != 0 {
        "its group could replace what is kept there"
    } else {
        "other users could read what is kept there"
    };
    Some(format!(
        "{} has mode {mode:04o}, so {who}; run `chmod 700 {}`",
        dir.display(),
        dir.display()
    ))
}

/// Why the existing private file `path` (the key-encryption key) cannot be used: group or
/// others can access it. `None` when it is private or does not exist yet.
fn file_problem(path: &Path) -> Option<String> {
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o7777;
    (mode & PRIVATE_FORBIDDEN != 0).then(|| {
        format!(
            "{} has mode {mode:04o}, so other users could read the key that unlocks every \
             private key; run `chmod 600 {}`",
            path.display(),
            path.display()
        )
    })
}

/// The enabled sources whose root or export is not there (yet).
fn sources_missing(config: &Config) -> Vec<Problem> {
    let mut out = Vec::new();
    if let Some(m) = &config.sources.maildir {
        if !m.root.is_dir() {
            out.push(Problem {
                key: "sources.maildir.root".into(),
                message: format!("{} is not a directory (not there yet?)", m.root.display()),
            });
        }
    }
    if let Some(l) = &config.sources.ldif {
        if !l.path.is_file() {
            out.push(Problem {
                key: "sources.ldif.path".into(),
                message: format!("{} is not a file (not written yet?)", l.path.display()),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode_dir(mode: u32) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        d
    }

    #[test]
    fn the_key_store_is_where_the_wiring_puts_it() {
        assert_eq!(KEYS_DIR, crate::pipeline::wiring::KEYS_DIR);
    }

    #[test]
    fn modes_are_judged_by_who_could_read_or_replace() {
        for (mode, forbidden, bad) in [
            (0o700, STATE_DIR_FORBIDDEN, false),
            (0o750, STATE_DIR_FORBIDDEN, false),
            (0o755, STATE_DIR_FORBIDDEN, true),
            (0o770, STATE_DIR_FORBIDDEN, true),
            (0o777, STATE_DIR_FORBIDDEN, true),
            (0o700, PRIVATE_FORBIDDEN, false),
            (0o750, PRIVATE_FORBIDDEN, true),
        ] {
            let d = mode_dir(mode);
            let got = dir_problem(d.path(), forbidden);
            assert_eq!(got.is_some(), bad, "{mode:o}: {got:?}");
            if let Some(m) = got {
                assert!(m.contains(&format!("{mode:04o}")), "{m}");
                assert!(m.contains("chmod 700"), "{m}");
            }
        }
        assert_eq!(
            dir_problem(Path::new("/nonexistent/x"), PRIVATE_FORBIDDEN),
            None
        );
    }
}
