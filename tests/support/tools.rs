//! The one runner of external tools (`openssl`, `pk12util`, `certutil`, `gpgsm`, Python): find a
//! tool or fail naming the Debian package that provides it, run a command with optional stdin, and
//! keep either its output or its failure text.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{bail, Context, Result};

/// The tool's path: `tool` itself when it names a path, else the first match on `PATH`. Fails
/// the test, naming the Debian package to install, when the tool is missing.
pub fn require_tool(tool: &str, package: &str) -> PathBuf {
    if tool.contains('/') {
        if Path::new(tool).is_file() {
            return PathBuf::from(tool);
        }
    } else {
        let path = std::env::var_os("PATH").unwrap_or_default();
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(tool);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!("`{tool}` is not installed: this test needs it; install the Debian package `{package}`");
}

/// A command for `tool`, after [`require_tool`] found it.
pub fn command(tool: &str, package: &str) -> Command {
    Command::new(require_tool(tool, package))
}

/// The `openssl` command line tool.
pub fn openssl() -> Command {
    command("openssl", "openssl")
}

/// Runs a command with optional stdin, returning its output (it may have failed).
pub fn run(cmd: &mut Command, stdin: Option<&[u8]>) -> Result<Output> {
    use std::io::Write;
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().with_context(|| format!("spawning {cmd:?}"))?;
    if let Some(input) = stdin {
        child.stdin.take().context("stdin")?.write_all(input)?;
    }
    Ok(child.wait_with_output()?)
}

/// Runs a command that must succeed; returns its stdout, or fails with its stderr.
pub fn run_stdout(cmd: &mut Command, stdin: Option<&[u8]>) -> Result<Vec<u8>> {
    let desc = format!("{cmd:?}");
    let out = run(cmd, stdin)?;
    if !out.status.success() {
        bail!(
            "{desc} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out.stdout)
}

/// Runs a command that must succeed; returns stdout and stderr together.
pub fn run_ok(cmd: &mut Command, stdin: Option<&[u8]>) -> Result<String> {
    let desc = format!("{cmd:?}");
    let out = run(cmd, stdin)?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        bail!("{desc} failed ({}):\n{text}", out.status);
    }
    Ok(text)
}

/// Writes `bytes` to `dir/name` with mode 0600 and returns the path.
pub fn write_private(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(name);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&path)?;
    std::io::Write::write_all(&mut f, bytes)?;
    Ok(path)
}

/// A file under `tests/fixtures/`.
pub fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(path)
}

/// Waits, without blocking the runtime, up to `within` for `child` to exit; `None` if it still
/// runs then (the caller kills it and fails, so a test never waits forever).
pub async fn exited_within(
    child: &mut std::process::Child,
    within: std::time::Duration,
) -> std::io::Result<Option<std::process::ExitStatus>> {
    let step = std::time::Duration::from_millis(50);
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if std::time::Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(step).await;
    }
}
