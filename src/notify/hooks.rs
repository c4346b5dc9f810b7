//! Owns running one hook command: certbot's deploy hook, with the facts in documented
//! environment variables (`docs/hooks.md`) and the certificate and chain in PEM files written
//! for the run (never the key, never a password).
//!
//! The command is an argv array run without a shell, so nothing in an address can inject a
//! command; the environment is cleared to `PATH` and the `SMIME_*` variables, so secrets the
//! daemon took from its own environment (`autodns.password_env`) are not passed on. The hook
//! runs in a process group of its own, killed whole when the timeout passes; what it prints is
//! kept up to [`OUTPUT_KEEP`] bytes per stream for the log.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use crate::pipeline::status::fmt_time;
use crate::store::Notification;

/// How much of a hook's stdout and of its stderr is kept for the log and the error.
pub const OUTPUT_KEEP: usize = 4096;

/// `PATH` for hooks when the daemon has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What a hook that exited 0 printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookOutput {
    /// Its stdout, cut at [`OUTPUT_KEEP`] bytes.
    pub stdout: String,
    /// Its stderr, cut at [`OUTPUT_KEEP`] bytes.
    pub stderr: String,
}

/// The environment a hook gets for `n` (besides `PATH`), the PEM file paths included.
pub fn environment(n: &Notification, files: Option<&PemFiles>) -> Vec<(String, String)> {
    let mut env = vec![
        ("SMIME_EVENT", n.event.as_str().to_string()),
        ("SMIME_ADDRESS", n.address.to_string()),
        ("SMIME_GENERATION", n.generation.to_string()),
        ("SMIME_NOTIFICATION_ID", n.id.to_string()),
        ("SMIME_EVENT_AT", fmt_time(Some(n.at))),
    ];
    let mut opt = |name: &'static str, v: &Option<String>| {
        if let Some(v) = v {
            env.push((name, v.clone()));
        }
    };
    opt("SMIME_SERIAL", &n.serial);
    opt("SMIME_NOT_AFTER", &n.not_after.map(|t| fmt_time(Some(t))));
    opt("SMIME_FINGERPRINT_SHA256", &n.fingerprint);
    opt("SMIME_ERROR", &n.error);
    if let Some(f) = files {
        env.push(("SMIME_CERTIFICATE_FILE", f.leaf.display().to_string()));
        if let Some(chain) = &f.chain {
            env.push(("SMIME_CHAIN_FILE", chain.display().to_string()));
        }
    }
    env.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// The PEM files written for one run, removed with their directory when dropped.
#[derive(Debug)]
pub struct PemFiles {
    _dir: tempfile::TempDir,
    /// The leaf certificate.
    pub leaf: PathBuf,
    /// The intermediate (and root) certificates, when stored.
    pub chain: Option<PathBuf>,
}

/// Writes the certificate and chain of `n` into a fresh 0700 directory under `work_dir`;
/// `None` when the notification carries no certificate.
pub fn write_pem_files(work_dir: &Path, n: &Notification) -> std::io::Result<Option<PemFiles>> {
    let Some(leaf_pem) = &n.certificate_pem else {
        return Ok(None);
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(work_dir)?;
    let dir = tempfile::Builder::new()
        .prefix(&format!("hook-{}-", n.id))
        .tempdir_in(work_dir)?;
    let write = |name: &str, text: &str| -> std::io::Result<PathBuf> {
        let path = dir.path().join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        std::io::Write::write_all(&mut f, text.as_bytes())?;
        Ok(path)
    };
    let leaf = write("certificate.pem", leaf_pem)?;
    let chain = match &n.chain_pem {
        Some(c) => Some(write("chain.pem", c)?),
        None => None,
    };
    Ok(Some(PemFiles {
        _dir: dir,
        leaf,
        chain,
    }))
}

/// Runs `argv` with `env` (plus `PATH`), at most `timeout`. `Ok` with its output when it
/// exits 0; `Err` with a readable reason (its exit status and stderr, or the timeout) otherwise.
pub async fn run_hook(
    argv: &[String],
    env: &[(String, String)],
    timeout: Duration,
) -> Result<HookOutput, String> {
    let Some((program, args)) = argv.split_first() else {
        return Err("no program configured".into());
    };
    let path = std::env::var("PATH").unwrap_or_else(|_| DEFAULT_PATH.to_string());
    let mut child = Command::new(program)
        .args(args)
        .env_clear()
        .env("PATH", path)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{program} could not be started: {e}"))?;
    let out = tokio::spawn(keep_output(child.stdout.take()));
    let err = tokio::spawn(keep_output(child.stderr.take()));
    let status = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(format!("{program} could not be waited for: {e}")),
        Err(_) => {
            if let Some(pid) = child.id() {
                kill_group(pid);
            }
            let _ = child.wait().await;
            Err(format!(
                "{program} did not finish within {} seconds; its process group was killed",
                timeout.as_secs()
            ))
        }
    };
    // A grandchild that left the group may hold the pipes open: read no longer than a moment.
    let grace = Duration::from_secs(2);
    let stdout = tokio::time::timeout(grace, out)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let stderr = tokio::time::timeout(grace, err)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let status = status?;
    if status.success() {
        return Ok(HookOutput { stdout, stderr });
    }
    let what = match status.code() {
        Some(c) => format!("exited with status {c}"),
        None => "was killed by a signal".to_string(),
    };
    let tail = if stderr.trim().is_empty() {
        "(nothing on stderr)".to_string()
    } else {
        stderr.trim().to_string()
    };
    Err(format!("{program} {what}: {tail}"))
}

/// Reads a stream to its end, keeping the first [`OUTPUT_KEEP`] bytes (the rest is read and
/// dropped, so a chatty hook never blocks on a full pipe).
async fn keep_output(stream: Option<impl AsyncRead + Unpin>) -> String {
    let Some(mut s) = stream else {
        return String::new();
    };
    let mut kept = Vec::new();
    let mut buf = [0u8; 4096];
    let mut cut = false;
    while let Ok(n) = s.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let room = OUTPUT_KEEP.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
        cut |= n > room;
    }
    let mut text = String::from_utf8_lossy(&kept).into_owned();
    if cut {
        text.push_str(" [...]");
    }
    text
}

/// Kills the hook's whole process group (it was started as the group's leader), so a script's
/// children die with it.
#[allow(unsafe_code)]
fn kill_group(pid: u32) {
    let Ok(pgid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: killpg takes two integers and touches no memory of ours; the group is the one
    // the hook leads (`process_group(0)`), which lives until we reap its leader below.
    unsafe {
        libc::killpg(pgid, libc::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::HookEvent;
    use time::macros::datetime;

    fn notification() -> Notification {
        Notification {
            id: 7,
            event: HookEvent::Issued,
            address: "alice@example.com".parse().unwrap(),
            generation: 2,
            at: datetime!(2026-12-03 10:00 UTC),
            serial: Some("0a1b".into()),
            not_after: Some(datetime!(2027-12-03 10:00 UTC)),
            fingerprint: Some("ab".repeat(32)),
            certificate_pem: Some("-----BEGIN CERTIFICATE-----\nAA==\n".into()),
            chain_pem: None,
            error: None,
        }
    }

    #[test]
    fn the_environment_names_the_facts_and_no_error_on_success() {
        let env = environment(&notification(), None);
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("SMIME_EVENT"), Some("issued"));
        assert_eq!(get("SMIME_ADDRESS"), Some("alice@example.com"));
        assert_eq!(get("SMIME_SERIAL"), Some("0a1b"));
        assert_eq!(get("SMIME_NOT_AFTER"), Some("2027-12-03T10:00:00Z"));
        assert_eq!(get("SMIME_ERROR"), None);
        assert_eq!(get("SMIME_CERTIFICATE_FILE"), None);
    }

    #[tokio::test]
    async fn a_hook_sees_only_path_and_its_own_variables() {
        let env = vec![("SMIME_EVENT".to_string(), "issued".to_string())];
        let argv: Vec<String> = ["/usr/bin/env"].map(String::from).to_vec();
        let out = run_hook(&argv, &env, Duration::from_secs(30))
            .await
            .unwrap();
        let mut names: Vec<&str> = out
            .stdout
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, _)| k))
            .collect();
        names.sort_unstable();
        assert_eq!(names, vec!["PATH", "SMIME_EVENT"]);
    }

    #[tokio::test]
    async fn output_beyond_the_bound_is_cut() {
        let argv: Vec<String> = ["/bin/sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x"]
            .map(String::from)
            .to_vec();
        let out = run_hook(&argv, &[], Duration::from_secs(30)).await.unwrap();
        assert_eq!(out.stdout.len(), OUTPUT_KEEP + " [...]".len());
    }

    #[tokio::test]
    async fn a_failing_hook_reports_its_status_and_stderr() {
        let argv: Vec<String> = ["/bin/sh", "-c", "echo no publisher >&2; exit 3"]
            .map(String::from)
            .to_vec();
        let e = run_hook(&argv, &[], Duration::from_secs(30))
            .await
            .unwrap_err();
        assert_eq!(e, "/bin/sh exited with status 3: no publisher");
    }
}
