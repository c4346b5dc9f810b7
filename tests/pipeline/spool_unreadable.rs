//! One unreadable spool file must not stop the spool, through the real binary as an unprivileged
//! daemon user: a member of the hook group writes a request file the daemon's user cannot read
//! (mode 0600, its own), next to valid requests. `run --once` records the valid ones, sets the
//! bad one aside as `*.rejected` with the reason logged, and exits 0; the daemon does the same
//! and still records a request enqueued after it started.
//!
//! The test runs as root (as CI does) and switches users for the binary, since root reads any
//! file; a request the daemon cannot read is what a careless or hostile hook user can leave.

use std::fs;
use std::os::unix::fs::{chown, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use smime_provisioner::mailbox::Address;
use smime_provisioner::store::Store;
use support::live::*;

const DAEMON_UID: u32 = 4261;
const HOOK_UID: u32 = 4262;
const SPOOL_GID: u32 = 4260;

struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Setup {
    fn spool(&self) -> PathBuf {
        self.dir.path().join("spool")
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }
}

/// A config and directories owned by the daemon's user; the spool `2770` in the hook group.
fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    assert!(
        chown(root, Some(DAEMON_UID), Some(SPOOL_GID)).is_ok(),
        "this test switches users and must run as root (CI runs the suite as root)"
    );
    fs::set_permissions(root, fs::Permissions::from_mode(0o755)).unwrap();
    let text = config_text(
        root,
        "simulator",
        "json",
        "[simulator]\nissuance_delay_ms = 200\n[domains]\nallow = [\"example.com\"]\n",
    );
    let config = root.join("config.toml");
    fs::write(&config, text).unwrap();
    fs::set_permissions(&config, fs::Permissions::from_mode(0o644)).unwrap();
    for d in ["mail", "spool"] {
        fs::create_dir(root.join(d)).unwrap();
        chown(root.join(d), Some(DAEMON_UID), Some(SPOOL_GID)).unwrap();
    }
    fs::set_permissions(root.join("spool"), fs::Permissions::from_mode(0o2770)).unwrap();
    Setup { dir, config }
}

fn binary(s: &Setup, uid: u32, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_smime-provisioner"));
    c.arg("--config")
        .arg(&s.config)
        .args(args)
        .env("SIM_PASSWORD", SIM_PASSWORD)
        .current_dir(s.dir.path())
        .uid(uid)
        .gid(SPOOL_GID);
    c
}

/// `enqueue ADDRESS` as the hook user.
fn enqueue(s: &Setup, address: &str) {
    let out = binary(s, HOOK_UID, &["enqueue", address]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// A request file the daemon's user cannot read: the hook user's own, mode 0600.
fn unreadable_request(s: &Setup, name: &str) -> PathBuf {
    let path = s.spool().join(name);
    fs::write(
        &path,
        "smime-provisioner-request: 1\naddress: hidden@example.com\n",
    )
    .unwrap();
    chown(&path, Some(HOOK_UID), Some(SPOOL_GID)).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// Whether the store holds `address`. Only once the daemon's process has ended: opened here
/// (as root) while the daemon runs, the store's files could end up owned by root.
fn recorded(state: &Path, address: &str) -> bool {
    let a = Address::parse(address).unwrap();
    Store::open(state)
        .ok()
        .and_then(|s| s.get(&a).ok().flatten())
        .is_some()
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn run_once_records_valid_requests_and_sets_an_unreadable_one_aside() {
    let s = setup();
    enqueue(&s, "first@example.com");
    // Names sort in arrival order: the bad file lies between the two valid requests.
    let bad = unreadable_request(&s, "00000000000000000001-1-0000000000000000.req");
    enqueue(&s, "second@example.com");

    let out = binary(&s, DAEMON_UID, &["run", "--once"]).output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    for a in ["first@example.com", "second@example.com"] {
        assert!(recorded(&s.state(), a), "{a} not recorded\n{all}");
    }
    assert!(!recorded(&s.state(), "hidden@example.com"));
    assert!(
        !bad.exists(),
        "the unreadable request is still in the queue"
    );
    assert!(bad.with_extension("rejected").exists(), "{all}");
    assert!(
        all.contains("spool-request-rejected") && all.contains("ermission denied"),
        "the rejection and its reason are logged\n{all}"
    );
}

/// The valid requests still waiting in the spool: a request file is deleted only after the
/// daemon has recorded its mailbox.
fn pending(s: &Setup) -> Vec<String> {
    fs::read_dir(s.spool())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".req"))
        .collect()
}

/// The daemon process, killed when the test ends (also on a failed assertion).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_daemon_keeps_recording_requests_past_an_unreadable_one() {
    let s = setup();
    let bad = unreadable_request(&s, "00000000000000000001-1-0000000000000000.req");
    enqueue(&s, "before@example.com");
    let log = fs::File::create(s.dir.path().join("daemon.log")).unwrap();
    let mut child = Killed(
        binary(&s, DAEMON_UID, &["run"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        for _ in 0..240 {
            if done() {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        let log = fs::read_to_string(s.dir.path().join("daemon.log")).unwrap_or_default();
        panic!("gave up after 60 s waiting for: {what}\n{log}");
    };
    wait_for(
        "the request made before start recorded, the bad one set aside",
        &|| pending(&s).is_empty() && bad.with_extension("rejected").exists(),
    );
    enqueue(&s, "after@example.com");
    wait_for("the request made after start recorded", &|| {
        pending(&s).is_empty()
    });
    let _ = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status();
    for _ in 0..600 {
        if child.0.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(child);
    for a in ["before@example.com", "after@example.com"] {
        assert!(recorded(&s.state(), a), "{a} not recorded");
    }
    assert!(!recorded(&s.state(), "hidden@example.com"));
}
