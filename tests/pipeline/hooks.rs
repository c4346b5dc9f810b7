//! Hooks through the real daemon (`smime-provisioner run`) against the simulator: every event
//! runs its hook once with the documented environment; a hook owed when the daemon is killed
//! with SIGKILL runs once after the restart; a failing and a hanging hook hold up no delivery,
//! the hanging one's process group is killed at the timeout, and `status` shows both.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use smime_provisioner::lifecycle::Sink;
use smime_provisioner::mailbox::Address;
use smime_provisioner::pipeline::Stage;
use smime_provisioner::simulator::Faults;
use smime_provisioner::store::Store;
use support::live::*;

use crate::run_verb;

/// A hook that records each run as `OUT/ID-EVENT.env` (its whole environment) and the
/// certificate file it was given as `OUT/ID-EVENT.pem`. With `hang_first`, the first `issued`
/// run writes its pid to `OUT/held` and sleeps (a hook the daemon is killed in the middle of).
fn hook_script(dir: &Path, hang_first: bool) -> PathBuf {
    let hang = if hang_first {
        "if [ \"$SMIME_EVENT\" = issued ] && [ ! -e \"$out/held\" ]; then\n  \
         echo $$ > \"$out/held\"; exec sleep 600\nfi\n"
    } else {
        ""
    };
    let text = format!(
        "#!/bin/sh\nout=\"$1\"\n{hang}n=\"$out/$SMIME_NOTIFICATION_ID-$SMIME_EVENT\"\n\
         if [ -n \"$SMIME_CERTIFICATE_FILE\" ]; then cat \"$SMIME_CERTIFICATE_FILE\" > \"$n.pem\"; fi\n\
         env | sort > \"$n.tmp\"\nmv \"$n.tmp\" \"$n.env\"\n"
    );
    let path = dir.join("hook.sh");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// `[hooks]` running `argv` for every event.
fn hooks_section(argv: &str, timeout: u64) -> String {
    let mut s = format!("[hooks]\ntimeout_secs = {timeout}\n");
    for e in [
        "issued",
        "delivered",
        "renewed",
        "failed",
        "revoked",
        "removed",
    ] {
        s.push_str(&format!("{e} = {argv}\n"));
    }
    s
}

/// One recorded run: the notification id, the event and its environment.
#[derive(Debug, Clone)]
struct Run {
    id: i64,
    event: String,
    env: BTreeMap<String, String>,
    pem: Option<String>,
}

fn runs(out: &Path) -> Vec<Run> {
    let mut runs = Vec::new();
    for e in std::fs::read_dir(out).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "env") {
            continue;
        }
        let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
        let (id, event) = stem.split_once('-').unwrap();
        let env = std::fs::read_to_string(&p)
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        runs.push(Run {
            id: id.parse().unwrap(),
            event: event.to_string(),
            env,
            pem: std::fs::read_to_string(p.with_extension("pem")).ok(),
        });
    }
    runs.sort_by_key(|r| r.id);
    runs
}

fn count(runs: &[Run], address: &str, event: &str) -> usize {
    runs.iter()
        .filter(|r| r.event == event && r.env["SMIME_ADDRESS"] == address)
        .count()
}

/// Generous for a loaded 2-core machine: the daemon acts within seconds.
pub(crate) async fn wait_for(what: &str, done: impl FnMut() -> bool) {
    wait_until(what, 300, done).await;
}

/// Stops a daemon with SIGTERM and reaps it (SIGKILL after a bounded wait).
pub(crate) async fn stop(mut child: Child) {
    let pid = child.id().to_string();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    for _ in 0..600 {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
}

pub(crate) struct Setup {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) config: PathBuf,
    pub(crate) out: PathBuf,
    pub(crate) log: PathBuf,
}

pub(crate) fn setup(
    extra: &str,
    hooks: impl FnOnce(&Path, &Path) -> String,
    sim_url: &str,
) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("runs");
    std::fs::create_dir_all(&out).unwrap();
    let section = hooks(dir.path(), &out);
    let text = config_text(dir.path(), sim_url, "json", &format!("{extra}\n{section}"));
    let config = dir.path().join("config.toml");
    std::fs::write(&config, text).unwrap();
    let log = dir.path().join("daemon.log");
    Setup {
        dir,
        config,
        out,
        log,
    }
}

pub(crate) fn mailbox(s: &Setup, local: &str) {
    std::fs::create_dir_all(s.dir.path().join(format!("mail/example.com/{local}"))).unwrap();
}

pub(crate) fn daemon(s: &Setup) -> Child {
    spawn_daemon(env!("CARGO_BIN_EXE_smime-provisioner"), &s.config, &s.log)
}

pub(crate) fn store(s: &Setup) -> Store {
    Store::open(&s.dir.path().join("state")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_event_runs_its_hook_once_with_the_documented_environment() {
    let faults = Faults {
        fail_names: vec!["carol@example.com".into()],
        ..Faults::default()
    };
    let sim = start_simulator(faults, Duration::from_millis(100), 71).await;
    let s = setup(
        "",
        |dir, out| {
            let script = hook_script(dir, false);
            hooks_section(
                &format!("[\"{}\", \"{}\"]", script.display(), out.display()),
                60,
            )
        },
        &sim.json_url(),
    );
    // carol's orders always fail: two failed jobs and she gives up (the `failed` event).
    let text = std::fs::read_to_string(&s.config)
        .unwrap()
        .replace("max_attempts = 30", "max_attempts = 2");
    std::fs::write(&s.config, text).unwrap();
    for m in ["alice", "bob", "carol"] {
        mailbox(&s, m);
    }
    let child = daemon(&s);
    wait_for("issued, delivered and failed hooks", || {
        let r = runs(&s.out);
        count(&r, "alice@example.com", "delivered") == 1
            && count(&r, "bob@example.com", "delivered") == 1
            && count(&r, "carol@example.com", "failed") == 1
    })
    .await;
    let (code, _, err) = run_verb(&s.config, &["renew", "--no-wait", "alice@example.com"]);
    assert_eq!(code, 0, "{err}");
    wait_for("the renewed hook and the second delivery", || {
        let r = runs(&s.out);
        count(&r, "alice@example.com", "renewed") == 1
            && count(&r, "alice@example.com", "delivered") == 2
    })
    .await;
    let (code, _, err) = run_verb(&s.config, &["revoke", "--no-wait", "bob@example.com"]);
    assert_eq!(code, 0, "{err}");
    wait_for("the revoked hook", || {
        count(&runs(&s.out), "bob@example.com", "revoked") == 1
    })
    .await;
    std::fs::remove_dir_all(s.dir.path().join("mail/example.com/alice")).unwrap();
    wait_for("the removed hook", || {
        count(&runs(&s.out), "alice@example.com", "removed") == 1
    })
    .await;
    stop(child).await;
    sim.shutdown().await;

    let r = runs(&s.out);
    let expected = [
        ("alice@example.com", "issued", 1),
        ("alice@example.com", "delivered", 2),
        ("alice@example.com", "renewed", 1),
        ("alice@example.com", "removed", 1),
        ("bob@example.com", "issued", 1),
        ("bob@example.com", "delivered", 1),
        ("bob@example.com", "revoked", 1),
        ("carol@example.com", "failed", 1),
    ];
    for (a, e, n) in expected {
        assert_eq!(count(&r, a, e), n, "{a} {e}: {r:#?}");
    }
    assert_eq!(r.len(), 9, "no other hook ran: {r:#?}");
    check_environment(&s, &r);
}

/// Every run saw the documented variables and nothing of the daemon's own environment; every
/// certificate file is the certificate the variables describe.
fn check_environment(s: &Setup, runs: &[Run]) {
    let alice = store(s)
        .get(&Address::parse("alice@example.com").unwrap())
        .unwrap()
        .unwrap();
    for r in runs {
        let env = &r.env;
        assert_eq!(env["SMIME_EVENT"], r.event);
        assert_eq!(env["SMIME_NOTIFICATION_ID"], r.id.to_string());
        for k in env.keys() {
            // PWD is the recording shell's own (sh sets it at start).
            let ours = k == "PATH" || k == "PWD" || k.starts_with("SMIME_");
            assert!(ours, "{k} leaked: {r:#?}");
        }
        assert!(
            !env.values().any(|v| v.contains(SIM_PASSWORD)),
            "the daemon's secret reached a hook"
        );
        if r.event == "failed" {
            assert!(
                env.get("SMIME_ERROR").is_some_and(|e| !e.is_empty()),
                "{r:#?}"
            );
            continue;
        }
        assert!(!env.contains_key("SMIME_ERROR"), "{r:#?}");
        let pem = r.pem.as_deref().unwrap_or_else(|| panic!("no PEM: {r:#?}"));
        assert!(!pem.contains("PRIVATE KEY"));
        assert_eq!(
            certificate_fingerprint(pem),
            env["SMIME_FINGERPRINT_SHA256"],
            "{r:#?}"
        );
        assert!(env["SMIME_SERIAL"].len() >= 2 && env.contains_key("SMIME_NOT_AFTER"));
        assert!(env.contains_key("SMIME_CHAIN_FILE"), "{r:#?}");
    }
    let renewed = runs
        .iter()
        .find(|r| r.event == "renewed")
        .expect("a renewed run");
    assert_eq!(
        Some(&renewed.env["SMIME_FINGERPRINT_SHA256"]),
        alice.fingerprint.as_ref()
    );
    assert_eq!(
        renewed.env["SMIME_GENERATION"],
        alice.generation.to_string()
    );
    assert_eq!(
        renewed.env["SMIME_NOT_AFTER"],
        smime_provisioner::pipeline::status::fmt_time(alice.not_after)
    );
    // The files were written for the run and removed after it.
    let left: Vec<_> = std::fs::read_dir(s.dir.path().join("state/hooks"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_owed_when_the_daemon_is_killed_runs_once_after_the_restart() {
    let sim = start_simulator(Faults::default(), Duration::from_millis(100), 72).await;
    let s = setup(
        "",
        |dir, out| {
            let script = hook_script(dir, true);
            hooks_section(
                &format!("[\"{}\", \"{}\"]", script.display(), out.display()),
                3600,
            )
        },
        &sim.json_url(),
    );
    mailbox(&s, "alice");
    let address = Address::parse("alice@example.com").unwrap();
    let mut child = daemon(&s);
    // The first `issued` hook hangs, so the `delivered` event is committed while its hook is
    // still owed: the state between an event and its hook.
    wait_for("delivery while the issued hook hangs", || {
        s.out.join("held").exists()
            && store(&s)
                .get(&address)
                .unwrap()
                .is_some_and(|r| r.stage == Stage::Delivered)
    })
    .await;
    let owed: Vec<_> = store(&s)
        .outbox_of(&address)
        .unwrap()
        .into_iter()
        .filter(|e| e.sink == Sink::Hook && e.outcome.is_none())
        .map(|e| e.notification.event.to_string())
        .collect();
    assert_eq!(owed, vec!["issued", "delivered"]);
    assert!(runs(&s.out).is_empty());
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // The orphaned hook is the admin's business in real life; here it must not outlive the test.
    let held = std::fs::read_to_string(s.out.join("held")).unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-KILL", held.trim()])
        .status();

    let child = daemon(&s);
    wait_for("both hooks after the restart", || runs(&s.out).len() == 2).await;
    // Give a duplicate every chance to show before stopping: the outbox rows are finished.
    wait_for("the outbox rows finished", || {
        store(&s)
            .outbox_of(&address)
            .unwrap()
            .iter()
            .all(|e| e.outcome.is_some())
    })
    .await;
    stop(child).await;
    sim.shutdown().await;
    let r = runs(&s.out);
    assert_eq!(count(&r, "alice@example.com", "issued"), 1, "{r:#?}");
    assert_eq!(count(&r, "alice@example.com", "delivered"), 1, "{r:#?}");
    assert_eq!(r.len(), 2, "{r:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_and_a_hanging_hook_hold_up_no_delivery_and_show_in_status() {
    let sim = start_simulator(Faults::default(), Duration::from_millis(100), 73).await;
    let s = setup(
        "",
        |_, out| {
            let pids = out.join("pids");
            format!(
                "[hooks]\ntimeout_secs = 2\nissued = [\"/bin/sh\", \"-c\", \"echo no publisher \
                 >&2; exit 3\"]\ndelivered = [\"/bin/sh\", \"-c\", \"sleep 600 & echo $! >> {}; \
                 wait\"]\n",
                pids.display()
            )
        },
        &sim.json_url(),
    );
    let names = ["alice", "bob", "carol"];
    for m in names {
        mailbox(&s, m);
    }
    let child = daemon(&s);
    wait_for("every mailbox delivered", || {
        let st = store(&s);
        names.iter().all(|m| {
            st.get(&Address::parse(&format!("{m}@example.com")).unwrap())
                .unwrap()
                .is_some_and(|r| r.stage == Stage::Delivered)
        })
    })
    .await;
    wait_for("a failed attempt of every hook of alice", || {
        let rows = store(&s)
            .outbox_of(&Address::parse("alice@example.com").unwrap())
            .unwrap();
        rows.iter()
            .filter(|e| e.sink == Sink::Hook)
            .all(|e| e.attempts > 0)
    })
    .await;
    let (code, out, err) = run_verb(&s.config, &["status"]);
    assert_eq!(code, 0, "a failing hook is no failed mailbox: {out}{err}");
    assert!(
        out.contains("hook issued for alice@example.com")
            && out.contains("/bin/sh exited with status 3: no publisher"),
        "{out}"
    );
    assert!(
        out.contains("did not finish within 2 seconds; its process group was killed"),
        "{out}"
    );
    // The hanging hook's child died with its process group.
    let pids = std::fs::read_to_string(s.out.join("pids")).unwrap();
    for pid in pids.lines() {
        wait_for("the hanging hook's child killed", || {
            // Gone, or a zombie waiting for init to reap it.
            std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |st| {
                st.rsplit_once(") ")
                    .is_some_and(|(_, r)| r.starts_with('Z'))
            })
        })
        .await;
    }
    stop(child).await;
    sim.shutdown().await;
}
