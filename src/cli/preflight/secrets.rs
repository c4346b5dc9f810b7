//! The secret files the config names (`autodns.password_file`, `delivery.smtp.password_file`,
//! `http.push_token_file`): that the service user reads them and nobody else can change or read
//! them. Loading the config has already read each one and refused one every user may read; this
//! adds the rest: written to by group or others → FAIL (a swapped password or token), readable
//! by the group → warn, owned by another user → warn, each with its `chmod`/`chown`. Run as
//! root, preflight cannot speak for the service user, and says so.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::Check;
use crate::config::raw::RawConfig;
use crate::config::validate::resolve;

/// One line per secret file named in the config file at `config_path`.
pub(super) fn checks(config_path: &Path) -> Vec<Check> {
    let Ok(text) = std::fs::read_to_string(config_path) else {
        return Vec::new();
    };
    // The config was validated before; here only the file names are wanted.
    let Ok(raw) = toml::from_str::<RawConfig>(&text) else {
        return Vec::new();
    };
    let base = config_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let named = [
        ("autodns.password_file", raw.autodns.password_file),
        (
            "delivery.smtp.password_file",
            raw.delivery.smtp.password_file,
        ),
        ("http.push_token_file", raw.http.push_token_file),
    ];
    let euid = current_uid();
    named
        .into_iter()
        .filter_map(|(key, file)| file.map(|f| (key, resolve(&base, &f))))
        .map(|(key, path)| one(key, &path, euid))
        .collect()
}

/// The effective uid of this process: the owner of `/proc/self` (Linux; the crate forbids the
/// `unsafe` a libc call needs). `None` where there is no such directory: owners are not judged.
fn current_uid() -> Option<u32> {
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// The verdict on one file, from its metadata and who asks.
fn one(key: &str, path: &Path, euid: Option<u32>) -> Check {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            return Check::fail(
                key,
                format!("{}: {e}", path.display()),
                format!(
                    "create {} readable by the service user only",
                    path.display()
                ),
            )
        }
    };
    let mode = meta.permissions().mode() & 0o777;
    let p = path.display();
    if mode & 0o022 != 0 {
        return Check::fail(
            key,
            format!(
                "{p} (mode {mode:03o}) can be changed by other users, who could swap the secret"
            ),
            format!("chmod 600 {p}"),
        );
    }
    if mode & 0o044 != 0 {
        return Check::warn(
            key,
            format!("{p} (mode {mode:03o}) is readable by its group"),
            format!("chmod 600 {p} (a secret needs no other reader than the service user)"),
        );
    }
    if euid == Some(0) {
        return Check::warn(
            key,
            format!(
                "{p} (mode {mode:03o}, owner uid {}): preflight runs as root, which reads \
                 anything, so the service user's access was not proven",
                meta.uid()
            ),
            "run preflight as the service user (e.g. `sudo -u smime-provisioner \
             smime-provisioner preflight`)",
        );
    }
    if let Some(me) = euid.filter(|me| *me != meta.uid()) {
        return Check::warn(
            key,
            format!(
                "{p} (mode {mode:03o}) belongs to uid {}, not to the user running preflight \
                 (uid {me})",
                meta.uid()
            ),
            format!("chown the file to the service user: chown <service user> {p}"),
        );
    }
    Check::ok(
        key,
        format!("{p} (mode {mode:03o}) is read by the service user and nobody else"),
    )
}
