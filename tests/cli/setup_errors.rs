//! Setup errors through the real binary: `check-config` runs the checks `run` runs before it
//! starts (paths and modes), a state directory other users can reach is refused with the `chmod`
//! that fixes it, setup errors exit 2 like config errors, `status` on a fresh install is not an
//! alarm, and `renew` of a revoked certificate is refused at once.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use smime_provisioner::lifecycle::Stage;
use smime_provisioner::mailbox::Address;
use smime_provisioner::store::{Store, Transition};

/// A config with everything under `dir`: the simulator, a maildir tree, a file outbox.
fn setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[state]\ndir = \"state\"\n\
         [autodns]\nendpoint = \"simulator\"\n[autodns.contact]\nid = 100\n\
         [simulator]\nissuance_delay_ms = 0\n\
         [keys]\ntype = \"ec-p256\"\n\
         [sources.maildir]\nenabled = true\nroot = \"mail\"\n\
         [sources.spool]\ndir = \"spool\"\n\
         [delivery]\ntransport = \"file\"\nfrom = \"PKI <pki@example.com>\"\n\
         [delivery.file]\ndir = \"outbox\"\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("mail")).unwrap();
    (dir, config)
}

fn run(config: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_smime-provisioner"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

fn mkdir_mode(path: &Path, mode: u32) {
    std::fs::create_dir_all(path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn check_config_and_run_both_refuse_an_outbox_other_users_can_read() {
    let (dir, config) = setup();
    let outbox = dir.path().join("outbox");
    mkdir_mode(&outbox, 0o755);
    let (code, text) = run(&config, &["check-config"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("delivery.file.dir"), "{text}");
    assert!(
        text.contains(&format!("chmod 700 {}", outbox.display())),
        "{text}"
    );
    let (code, text) = run(&config, &["run", "--once"]);
    assert_eq!(code, Some(2), "a setup error, like a config error: {text}");
    assert!(text.contains("delivery.file.dir"), "{text}");
    assert!(
        !dir.path().join("state").exists(),
        "nothing started: {text}"
    );
}

#[test]
fn a_state_directory_other_users_can_write_is_refused_with_the_chmod() {
    let (dir, config) = setup();
    let state = dir.path().join("state");
    mkdir_mode(&state, 0o777);
    for args in [
        &["check-config"][..],
        &["run", "--once"],
        &["provision", "a@example.com"],
    ] {
        let (code, text) = run(&config, args);
        assert_eq!(code, Some(2), "{args:?}: {text}");
        assert!(text.contains("state.dir"), "{args:?}: {text}");
        assert!(
            text.contains(&format!("chmod 700 {}", state.display())),
            "{args:?}: {text}"
        );
    }
    let mode = std::fs::metadata(&state).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o777, "refused, not changed behind the admin's back");
    assert_eq!(
        std::fs::read_dir(&state).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn a_missing_maildir_root_stops_run_once_with_exit_2_and_check_config_warns() {
    let (dir, config) = setup();
    std::fs::remove_dir(dir.path().join("mail")).unwrap();
    let (code, text) = run(&config, &["run", "--once"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("sources.maildir.root"), "{text}");
    // The daemon waits for a root that is not there yet (a mount at boot); check-config says so.
    let (code, text) = run(&config, &["check-config"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("warning: sources.maildir.root"), "{text}");
}

#[test]
fn status_before_any_state_exists_exits_0_saying_no_state_yet() {
    let (dir, config) = setup();
    let (code, text) = run(&config, &["status"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("no state yet"), "{text}");
    assert!(!dir.path().join("state").exists(), "status creates nothing");
    let (code, text) = run(&config, &["status", "--json"]);
    assert_eq!(code, Some(0), "{text}");
    let doc = text
        .split_once("\nno state yet")
        .map_or(text.as_str(), |(d, _)| d);
    let doc: serde_json::Value = serde_json::from_str(doc)
        .unwrap_or_else(|e| panic!("scripts get the JSON document: {e}: {text}"));
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["mailboxes"], serde_json::json!([]), "{text}");
}

#[test]
fn renew_of_a_revoked_mailbox_is_refused_at_once_and_leaves_no_request() {
    let (dir, config) = setup();
    let a = Address::parse("rev@example.com").unwrap();
    {
        let store = Store::open(&dir.path().join("state")).unwrap();
        let now = time::OffsetDateTime::now_utc();
        store.observe_present(&a, now).unwrap();
        let mut r = store.get(&a).unwrap().unwrap();
        r.stage = Stage::Revoked;
        r.certificate_id = Some(7);
        store.commit(Transition::new(r)).unwrap();
    }
    let (code, text) = run(&config, &["renew", "rev@example.com", "--wait-secs", "5"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("renew refused"), "{text}");
    assert!(text.contains("reprovision rev@example.com"), "{text}");
    let store = Store::open(&dir.path().join("state")).unwrap();
    let r = store.get(&a).unwrap().unwrap();
    assert_eq!(
        (r.stage, r.request),
        (Stage::Revoked, None),
        "nothing left waiting"
    );
}
