//! A one-off verb run beside the daemon on the shipped config (`config.example.toml` as shipped:
//! the embedded simulator, a file outbox, everything under the config file's directory). The
//! README calls this safe; with two in-process simulators on one simulator state it was not
//! (a mailbox failed "permanent" after a 404 on CertificateInfo). Now the verb uses the daemon's
//! simulator: one order, delivered, no failure. In the other order, a daemon started while a
//! verb runs its simulator waits for the verb instead of starting a second one.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use smime_provisioner::mailbox::Address;
use smime_provisioner::pipeline::Stage;
use smime_provisioner::store::Store;

use crate::shipped::shipped_config;

const BIN: &str = env!("CARGO_BIN_EXE_smime-provisioner");

/// The log line the embedded simulator's owner writes once it serves.
const SIMULATOR_UP: &str = "bundled AutoDNS simulator started";

/// The log line of a daemon that serves (its SIGTERM handler is in place).
const READY: &str = "AutoDNS SSL contact ready";

/// The log line a process waiting for another's simulator writes.
const WAITING: &str = "waiting until it is released";

/// A `smime-provisioner` process in the background (`run`, or a verb); killed if the test ends
/// early.
struct Background {
    child: Child,
    log: PathBuf,
}

impl Background {
    fn start(config: &Path, args: &[&str], log: PathBuf) -> Background {
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(BIN)
            .arg("--config")
            .arg(config)
            .args(args)
            .env_remove("CREDENTIALS_DIRECTORY")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap();
        Background { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (bounded by count, not by a timed assertion) until the log contains `text`.
    fn wait_for_log(&mut self, text: &str) {
        for _ in 0..1200 {
            if self.log().contains(text) {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "the process exited ({status}) before {text:?}:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("gave up waiting for {text:?} in the log:\n{}", self.log());
    }

    /// SIGTERM, then waits for the exit (bounded); the exit status.
    fn stop(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        for _ in 0..1200 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the daemon did not stop on SIGTERM:\n{}", self.log());
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Bundle mails (those with a `.p12` attachment) in the outbox addressed to `address`.
fn bundle_mails_to(outbox: &Path, address: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(outbox) else {
        return 0;
    };
    entries
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
        .filter(|m| m.contains(&format!("To: {address}")) && m.contains("application/pkcs12"))
        .count()
}

#[test]
fn provision_beside_run_on_the_shipped_config_orders_once_and_delivers_without_failure() {
    let dir = tempfile::tempdir().unwrap();
    let config = shipped_config(dir.path());
    let mut daemon = Background::start(&config, &["run"], dir.path().join("daemon.log"));
    daemon.wait_for_log(READY);
    assert!(daemon.log().contains(SIMULATOR_UP), "{}", daemon.log());

    let out = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .args(["provision", "alice@example.com", "--wait-secs", "300"])
        .env_remove("CREDENTIALS_DIRECTORY")
        .output()
        .unwrap();
    let verb_log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "provision failed ({}):\n{}\n{verb_log}\ndaemon log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        daemon.log()
    );
    // The verb started no simulator of its own.
    assert!(!verb_log.contains(SIMULATOR_UP), "{verb_log}");
    let status = daemon.stop();
    assert!(status.success(), "{status}\n{}", daemon.log());

    let store = Store::open(&dir.path().join("var/state")).unwrap();
    let alice = Address::parse("alice@example.com").unwrap();
    let record = store.get(&alice).unwrap().expect("alice is recorded");
    let events = store.events(&alice).unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(record.stage, Stage::Delivered, "{record:?}\n{kinds:?}");
    assert!(
        !record.failure.gave_up && record.failure.code.is_none(),
        "{record:?}\n{kinds:?}"
    );
    assert_eq!(record.generation, 1, "{kinds:?}");
    assert_eq!(
        kinds.iter().filter(|k| **k == "ordered").count(),
        1,
        "{kinds:?}"
    );
    assert!(
        !kinds.iter().any(|k| *k == "step-failed" || *k == "gave-up"),
        "{events:#?}\ndaemon log:\n{}",
        daemon.log()
    );
    assert_eq!(
        bundle_mails_to(&dir.path().join("var/outbox"), "alice@example.com"),
        1
    );
}

#[test]
fn a_daemon_started_while_a_verb_runs_the_simulator_waits_for_it_then_starts_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let config = shipped_config(dir.path());
    // Issuance takes an hour, so the verb holds its simulator until the test ends it.
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("issuance_delay_ms = 1000\n"));
    std::fs::write(
        &config,
        text.replace(
            "issuance_delay_ms = 1000\n",
            "issuance_delay_ms = 3600000\n",
        ),
    )
    .unwrap();
    let mut verb = Background::start(
        &config,
        &["provision", "alice@example.com", "--wait-secs", "600"],
        dir.path().join("verb.log"),
    );
    verb.wait_for_log(SIMULATOR_UP);
    let mut daemon = Background::start(&config, &["run"], dir.path().join("daemon.log"));
    daemon.wait_for_log(WAITING);
    assert!(daemon.log().contains("one-off verb"), "{}", daemon.log());
    assert!(!daemon.log().contains(SIMULATOR_UP), "{}", daemon.log());
    // The verb ends (killed: the kernel releases its claim); the daemon takes the state over.
    verb.child.kill().unwrap();
    verb.child.wait().unwrap();
    daemon.wait_for_log(SIMULATOR_UP);
    daemon.wait_for_log(READY);
    let status = daemon.stop();
    assert!(status.success(), "{status}\n{}", daemon.log());
}
