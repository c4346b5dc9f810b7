//! Owns how a secret (the AutoDNS password, the SMTP password, the push token) is given and
//! read: `<prefix>_file` (a path), `<prefix>_env` (an environment variable) or
//! `<prefix>_credential` (a systemd credential name), exactly one of them.
//!
//! A credential `NAME` is read from `$CREDENTIALS_DIRECTORY/NAME` when systemd set that variable
//! (`LoadCredential=`, systemd.exec(5) "Credentials"), else — and when systemd handed in an
//! empty or no file there — from `credentials/NAME` beside the config file
//! (`/etc/smime-provisioner/credentials/NAME` for the default config), so a verb run from a
//! shell finds the file the unit loads its credential from.
//!
//! The form is checked for every secret, but a secret is *read* only when its feature is in use
//! (a real AutoDNS endpoint, SMTP with a user, the HTTP endpoint): an unused secret's file may
//! be missing or unreadable. Messages name the key and the paths, never the secret.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::Checker;
use crate::secret::Secret;

/// The variable systemd sets to the unit's credentials directory.
pub const CREDENTIALS_DIRECTORY: &str = "CREDENTIALS_DIRECTORY";

/// The directory beside the config file that credentials are read from when systemd did not
/// hand them in.
pub const CREDENTIALS_FALLBACK_DIR: &str = "credentials";

/// The three keys a secret can be given by, as found in the raw config.
#[derive(Debug, Clone, Copy)]
pub(super) struct SecretKeys<'a> {
    /// `autodns.password`, `delivery.smtp.password`, `http.push_token`.
    pub prefix: &'a str,
    pub file: &'a Option<String>,
    pub env: &'a Option<String>,
    pub credential: &'a Option<String>,
}

/// Where a secret is given, once the form is known to be valid.
#[derive(Debug, Clone, Copy)]
pub(super) enum SecretSource<'a> {
    File(&'a str),
    Env(&'a str),
    Credential(&'a str),
}

/// What one candidate path gave.
enum Read {
    Found(Secret<String>),
    /// Missing or empty: the next candidate may hold it.
    Absent(String),
    /// There, but not to be used (unreadable, readable by every user): the message says why.
    Refused(String),
}

impl Checker<'_> {
    /// The secret `keys` give, read only when `needed`; a problem if it is needed and not
    /// given, or given in more than one form.
    pub(super) fn secret(&mut self, keys: SecretKeys<'_>, needed: bool) -> Option<Secret<String>> {
        let source = self.secret_source(keys).ok()?;
        if !needed {
            return None;
        }
        match source {
            Some(s) => self.read_secret(keys.prefix, s),
            None => {
                let p = keys.prefix;
                self.problem(
                    &format!("{p}_file"),
                    format!(
                        "a secret is required: set {p}_credential (a systemd credential name), \
                         {p}_file (a file readable only by this service) or {p}_env"
                    ),
                );
                None
            }
        }
    }

    /// Which form `keys` use, without reading anything. `Err` when the form is wrong (more than
    /// one given, a credential name that is not one); the problem is reported.
    pub(super) fn secret_source<'a>(
        &mut self,
        keys: SecretKeys<'a>,
    ) -> Result<Option<SecretSource<'a>>, ()> {
        let p = keys.prefix;
        let given: Vec<SecretSource<'a>> = [
            keys.credential.as_deref().map(SecretSource::Credential),
            keys.file.as_deref().map(SecretSource::File),
            keys.env.as_deref().map(SecretSource::Env),
        ]
        .into_iter()
        .flatten()
        .collect();
        match given.as_slice() {
            [] => Ok(None),
            [SecretSource::Credential(name)] if !credential_name_valid(name) => {
                self.problem(
                    &format!("{p}_credential"),
                    format!(
                        "{name:?} is not a credential name: use letters, digits, '.', '_' and \
                         '-', e.g. \"{}\"",
                        p.trim_start_matches("delivery.")
                            .trim_start_matches("http.")
                            .replace('_', ".")
                    ),
                );
                Err(())
            }
            [one] => Ok(Some(*one)),
            _ => {
                self.problem(
                    &format!("{p}_file"),
                    format!("give only one of {p}_credential, {p}_file and {p}_env, not several"),
                );
                Err(())
            }
        }
    }

    /// Reads the secret from `source`; a problem (naming the key and the paths) if it cannot.
    pub(super) fn read_secret(
        &mut self,
        prefix: &str,
        source: SecretSource<'_>,
    ) -> Option<Secret<String>> {
        match source {
            SecretSource::File(f) => self.secret_file(&format!("{prefix}_file"), f),
            SecretSource::Env(name) => match self.env.var(name) {
                Some(v) if !v.is_empty() => Some(Secret::new(v)),
                _ => {
                    self.problem(
                        &format!("{prefix}_env"),
                        format!("environment variable {name} is not set or empty"),
                    );
                    None
                }
            },
            SecretSource::Credential(name) => {
                self.credential(&format!("{prefix}_credential"), name)
            }
        }
    }

    /// The secret in the file at `value` (resolved like every path in the file).
    pub(super) fn secret_file(&mut self, key: &str, value: &str) -> Option<Secret<String>> {
        match read_secret_path(&self.path(value)) {
            Read::Found(s) => Some(s),
            Read::Absent(why) | Read::Refused(why) => {
                self.problem(key, why);
                None
            }
        }
    }

    /// The credential `name`: from `$CREDENTIALS_DIRECTORY`, then from the directory beside the
    /// config file.
    fn credential(&mut self, key: &str, name: &str) -> Option<Secret<String>> {
        let fallback = self.base.join(CREDENTIALS_FALLBACK_DIR).join(name);
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Some(dir) = self
            .env
            .var(CREDENTIALS_DIRECTORY)
            .filter(|d| !d.is_empty())
        {
            candidates.push(Path::new(&dir).join(name));
        }
        candidates.push(fallback.clone());
        let mut tried = Vec::new();
        for path in &candidates {
            match read_secret_path(path) {
                Read::Found(s) => return Some(s),
                Read::Absent(why) => tried.push(why),
                Read::Refused(why) => {
                    tried.push(why);
                    self.problem(
                        key,
                        format!("credential {name:?} cannot be used: {}", tried.join("; ")),
                    );
                    return None;
                }
            }
        }
        let systemd = if candidates.len() == 1 {
            format!(" ({CREDENTIALS_DIRECTORY} is not set: not started by systemd)")
        } else {
            String::new()
        };
        self.problem(
            key,
            format!(
                "credential {name:?} not found{systemd}: {}; put it in {} (mode 0600, owned by \
                 the service user or root), which the shipped unit hands in with \
                 LoadCredential={name}:{}",
                tried.join("; "),
                fallback.display(),
                fallback.display()
            ),
        );
        None
    }
}

/// A systemd credential ID as this program accepts it: a plain file name.
fn credential_name_valid(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Reads one candidate secret file: refused when every user may read it; trailing newlines
/// dropped.
fn read_secret_path(path: &Path) -> Read {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Read::Absent(format!("cannot read secret file {}: {e}", path.display()))
        }
        Err(e) => return Read::Refused(format!("cannot read secret file {}: {e}", path.display())),
    };
    if meta.permissions().mode() & 0o004 != 0 {
        return Read::Refused(format!(
            "secret file {} is readable by every user; run `chmod o-rwx` on it",
            path.display()
        ));
    }
    match std::fs::read_to_string(path) {
        Ok(s) => {
            let s = s.trim_end_matches(['\r', '\n']).to_string();
            if s.is_empty() {
                Read::Absent(format!("secret file {} is empty", path.display()))
            } else {
                Read::Found(Secret::new(s))
            }
        }
        Err(e) => Read::Refused(format!("cannot read secret file {}: {e}", path.display())),
    }
}
