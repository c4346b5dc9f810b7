//! `status` through the real binary: every mailbox with its stage, expiry and last error, the
//! single-address view with its audit trail, JSON for scripts, and exit 1 while a mailbox has
//! failed.

use std::path::Path;
use std::process::Command;

use smime_provisioner::lifecycle::EventKind;
use smime_provisioner::mailbox::Address;
use smime_provisioner::pipeline::{ErrorClass, Stage};
use smime_provisioner::store::{Failure, MailboxRecord, Store, Transition};
use time::macros::datetime;

fn write_config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("config.toml");
    let text = format!(
        r#"
[state]
dir = "{}"
[autodns]
endpoint = "simulator"
[autodns.contact]
id = 100
[delivery]
transport = "file"
from = "PKI <pki@example.com>"
"#,
        dir.join("state").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn status(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_smime-provisioner"))
        .arg("--config")
        .arg(config)
        .arg("status")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn seed(dir: &Path) {
    let store = Store::open(&dir.join("state")).unwrap();
    let now = datetime!(2026-03-02 09:00 UTC);
    let a = Address::parse("alice@example.com").unwrap();
    let mut r = MailboxRecord::discovered(a, now);
    r.stage = Stage::Delivered;
    r.certificate_id = Some(5001);
    r.serial = Some("1f".into());
    r.not_after = Some(datetime!(2027-03-02 09:00 UTC));
    store
        .commit(Transition::new(r).event(EventKind::Delivered, "password sent separately"))
        .unwrap();

    let b = Address::parse("bob@example.com").unwrap();
    let mut r = MailboxRecord::discovered(b, now);
    r.stage = Stage::KeyReady;
    r.failure = Failure {
        attempts: 8,
        class: Some(ErrorClass::Transient),
        code: Some("job-failed:EF400139".into()),
        text: Some("the order's job failed: CA rejected the domain".into()),
        gave_up: true,
    };
    store.commit(Transition::new(r)).unwrap();

    let c = Address::parse("carol@example.com").unwrap();
    store.observe_present(&c, now).unwrap();
    store.observe_gone(&c, now).unwrap();
}

#[test]
fn status_lists_every_mailbox_with_stage_expiry_and_last_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    seed(dir.path());
    let (code, out, err) = status(&config, &[]);
    assert_eq!(code, 1, "a failed mailbox makes status exit 1: {err}");
    assert!(err.contains("1 mailbox(es) failed"), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("ADDRESS") && lines[0].contains("LAST ERROR"),
        "{out}"
    );
    assert!(lines[0].contains("EXPIRES") && lines[0].contains("RENEWS"));
    let alice = lines.iter().find(|l| l.starts_with("alice@")).unwrap();
    assert!(
        alice.contains("delivered") && alice.contains("2027-03-02"),
        "{alice}"
    );
    // Renewal starts `renewal.margin_days` (default 30) before expiry.
    assert!(alice.contains("2027-01-31"), "{alice}");
    let bob = lines.iter().find(|l| l.starts_with("bob@")).unwrap();
    assert!(bob.contains("failed (key-ready)"), "{bob}");
    assert!(
        bob.contains("CA rejected the domain [job-failed:EF400139]"),
        "{bob}"
    );
    let carol = lines.iter().find(|l| l.starts_with("carol@")).unwrap();
    assert!(carol.contains("discovered, removed"), "{carol}");
    assert!(out.contains("3 mailboxes, 1 failed"));
}

#[test]
fn status_json_is_parseable_and_carries_the_same_facts() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    seed(dir.path());
    let (_, out, _) = status(&config, &["--json"]);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["held_removals"], serde_json::json!([]));
    assert_eq!(doc["failing_notifications"], serde_json::json!([]));
    let rows = doc["mailboxes"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    let bob = rows
        .iter()
        .find(|r| r["address"] == "bob@example.com")
        .unwrap();
    assert_eq!(bob["stage"], "key-ready");
    assert_eq!(bob["failed"], true);
    assert_eq!(bob["last_error"]["code"], "job-failed:EF400139");
    assert_eq!(bob["last_error"]["class"], "transient");
    let alice = rows
        .iter()
        .find(|r| r["address"] == "alice@example.com")
        .unwrap();
    assert_eq!(alice["expires"], "2027-03-02T09:00:00Z");
    assert_eq!(alice["renews"], "2027-01-31T09:00:00Z");
    let carol = rows
        .iter()
        .find(|r| r["address"] == "carol@example.com")
        .unwrap();
    assert_eq!(carol["renews"], serde_json::Value::Null, "no certificate");
    assert_eq!(alice["last_error"], serde_json::Value::Null);
}

#[test]
fn status_of_one_address_shows_its_audit_trail() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    seed(dir.path());
    let (code, out, _) = status(&config, &["alice@example.com"]);
    assert_eq!(code, 0);
    assert!(out.contains("status:       delivered"), "{out}");
    assert!(out.contains("certificate:  5001 (serial 1f)"), "{out}");
    assert!(out.contains("renews:       2027-01-31T09:00:00Z"), "{out}");
    assert!(
        out.contains("delivered") && out.contains("password sent separately"),
        "{out}"
    );
    let (code, out, _) = status(&config, &["alice@example.com", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["mailboxes"][0]["events"][0]["kind"], "delivered");
}

#[test]
fn status_without_a_store_says_no_state_yet_exits_0_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let (code, out, err) = status(&config, &[]);
    // A fresh install is not a failure alarm for monitoring.
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("no state yet"), "{out}");
    assert!(!dir.path().join("state").exists());
}

#[test]
fn status_of_an_unknown_or_invalid_address_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    seed(dir.path());
    let (code, _, err) = status(&config, &["nobody@example.com"]);
    assert_eq!(
        (code, err.contains("not a known mailbox")),
        (1, true),
        "{err}"
    );
    let (code, _, err) = status(&config, &["not-an-address"]);
    assert_eq!(code, 2, "{err}");
}

/// A pipe whose reading end is already closed: the first write to it fails with EPIPE.
#[allow(unsafe_code)]
fn closed_pipe() -> std::fs::File {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe(2) writes; each is owned once below.
    let rc = unsafe { libc::pipe(fds.as_mut_ptr()) };
    assert_eq!(rc, 0, "pipe(2) failed");
    // SAFETY: both descriptors were just created and are not owned by anything else.
    let (reader, writer) = unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    };
    drop(reader);
    writer
}

#[test]
fn status_into_a_closed_pipe_ends_quietly_like_other_unix_tools() {
    // `status --json | grep -q …` closes the pipe early; the verb must not panic (exit 101).
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    seed(dir.path());
    for args in [&["--json"][..], &[][..]] {
        let out = Command::new(env!("CARGO_BIN_EXE_smime-provisioner"))
            .arg("--config")
            .arg(&config)
            .arg("status")
            .args(args)
            .stdout(closed_pipe())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "status {args:?}: {stderr}");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGPIPE),
            "status {args:?} should end by SIGPIPE as `ls | head` does: {:?} {stderr}",
            out.status
        );
    }
}
