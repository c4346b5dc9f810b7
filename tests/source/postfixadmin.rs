//! The PostfixAdmin hook wrapper `contrib/postfixadmin/mailbox-postcreation.sh`, run by /bin/sh
//! exactly as PostfixAdmin runs it (address, domain, maildir path, quota), with a fake
//! `smime-provisioner` on PATH that records its arguments and exits as told.

use anyhow::{Context as _, Result};
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Hook {
    _dir: tempfile::TempDir,
    bin: PathBuf,
    record: PathBuf,
}

/// A PATH directory holding a fake `smime-provisioner` that writes each argument on its own
/// line into `record` and exits with `$FAKE_EXIT`.
fn hook() -> Result<Hook> {
    let dir = tempfile::tempdir()?;
    let bin = dir.path().join("bin");
    fs::create_dir(&bin)?;
    let record = dir.path().join("calls");
    let fake = bin.join("smime-provisioner");
    fs::write(
        &fake,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done >> '{}'\nexit \"${{FAKE_EXIT:-0}}\"\n",
            record.display()
        ),
    )?;
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755))?;
    Ok(Hook {
        _dir: dir,
        bin,
        record,
    })
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/postfixadmin/mailbox-postcreation.sh")
}

impl Hook {
    fn run(&self, args: &[&str], fake_exit: i32) -> Result<(i32, String)> {
        let out = Command::new("/bin/sh")
            .arg(script())
            .args(args)
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", self.bin.display()))
            .env("FAKE_EXIT", fake_exit.to_string())
            .output()
            .context("running /bin/sh")?;
        let code = out.status.code().context("killed by a signal")?;
        Ok((code, String::from_utf8_lossy(&out.stderr).into_owned()))
    }

    fn calls(&self) -> Result<Vec<String>> {
        match fs::read_to_string(&self.record) {
            Ok(s) => Ok(s.lines().map(String::from).collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }
}

const MAILDIR: &str = "example.com/alice/";
const QUOTA: &str = "1073741824";

#[test]
fn a_new_mailbox_is_enqueued_with_its_address_only() -> Result<()> {
    let h = hook()?;
    let (code, stderr) = h.run(&["alice@example.com", "example.com", MAILDIR, QUOTA], 0)?;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(h.calls()?, ["enqueue", "--", "alice@example.com"]);
    Ok(())
}

#[test]
fn the_domain_argument_is_compared_without_case() -> Result<()> {
    let h = hook()?;
    let (code, stderr) = h.run(&["Bob@Example.COM", "example.com", MAILDIR, QUOTA], 0)?;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(h.calls()?, ["enqueue", "--", "Bob@Example.COM"]);
    Ok(())
}

#[test]
fn invalid_addresses_exit_2_without_calling_the_binary() -> Result<()> {
    let h = hook()?;
    for bad in [
        "",
        "alice",
        "@example.com",
        "alice@",
        "a b@example.com",
        "-x@example.com",
        "a@b@example.com",
        "tab\t@example.com",
    ] {
        let (code, stderr) = h.run(&[bad, "example.com", MAILDIR, QUOTA], 0)?;
        assert_eq!(code, 2, "{bad:?}: {stderr}");
        assert!(
            stderr.contains("mailbox-postcreation.sh:"),
            "{bad:?}: {stderr}"
        );
    }
    let (code, stderr) = h.run(&[], 0)?;
    assert_eq!(code, 2, "{stderr}");
    let (code, stderr) = h.run(&["alice@example.com", "other.example", MAILDIR, QUOTA], 0)?;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not the domain argument"), "{stderr}");
    assert_eq!(h.calls()?, Vec::<String>::new());
    Ok(())
}

#[test]
fn the_binary_refusing_the_address_is_exit_2_and_other_failures_exit_1() -> Result<()> {
    let h = hook()?;
    let (code, stderr) = h.run(&["alice@exa_mple.com", "exa_mple.com", MAILDIR, QUOTA], 2)?;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("refused"), "{stderr}");
    let (code, stderr) = h.run(&["alice@example.com", "example.com", MAILDIR, QUOTA], 1)?;
    assert_eq!(code, 1, "{stderr}");
    let (code, stderr) = h.run(&["alice@example.com", "example.com", MAILDIR, QUOTA], 75)?;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("status 75"), "{stderr}");
    Ok(())
}

#[test]
fn a_missing_binary_is_reported_with_exit_1() -> Result<()> {
    let h = hook()?;
    fs::remove_file(h.bin.join("smime-provisioner"))?;
    let (code, stderr) = h.run(&["alice@example.com", "example.com", MAILDIR, QUOTA], 0)?;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("not found"), "{stderr}");
    Ok(())
}
