//! `/readyz` of a real daemon against an external simulator process (`smime-provisioner
//! simulator`): ready while everything works; unready, naming the check, when the maildir root
//! is removed and when the simulator is stopped; ready again when each comes back. `/livez`
//! stays 200 throughout and `/healthz` answers as `/readyz` does.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::live::{config_text, SIM_PASSWORD, SIM_USER};

use super::{free_port, get, wait_for, Daemon};

/// The external simulator on a fixed port, so it can be started again where the daemon looks.
struct Simulator {
    child: Child,
}

impl Simulator {
    fn start(addr: SocketAddr, dir: &Path) -> Simulator {
        let password = dir.join("sim.password");
        std::fs::write(&password, SIM_PASSWORD).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_smime-provisioner"))
            .args([
                "simulator",
                "--listen",
                &addr.to_string(),
                "--user",
                SIM_USER,
            ])
            .arg("--password-file")
            .arg(&password)
            .arg("--state-dir")
            .arg(dir.join("sim-state"))
            .args(["--issuance-delay-ms", "200"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("sim.log")).unwrap())
            .spawn()
            .unwrap();
        let up = wait_for(Duration::from_secs(60), || {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
        });
        assert!(up, "the simulator did not listen within 60 s");
        Simulator { child }
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (bounded) until `/readyz` answers `code`; returns the body.
fn readyz_becomes(d: &Daemon, code: u16, what: &str) -> String {
    let mut last = (0, String::new());
    let ok = wait_for(Duration::from_secs(120), || {
        last = get(d.addr, "/readyz").unwrap_or_default();
        last.0 == code
    });
    assert!(
        ok,
        "/readyz did not answer {code} ({what}) within 120 s; last: {last:?}\n{}",
        d.log_text()
    );
    last.1
}

fn start(dir: &Path) -> (Daemon, Simulator, PathBuf) {
    let sim_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let sim = Simulator::start(sim_addr, dir);
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    // Rescans every second; AutoDNS may be silent for 4 s (the idle daemon asks it after 2 s).
    let extra = format!(
        "[http]\nlisten = \"{addr}\"\npush_token_env = \"PUSH_TOKEN\"\n\
         ready_autodns_within_secs = 4\n"
    );
    let text = config_text(dir, &format!("http://{sim_addr}/v1"), "json", &extra)
        .replace("rescan_interval_secs = 2", "rescan_interval_secs = 1");
    let config = dir.join("config.toml");
    std::fs::write(&config, text).unwrap();
    let root = dir.join("mail");
    std::fs::create_dir_all(root.join("example.com/alice")).unwrap();
    let d = Daemon::start(&config, addr, dir.join("daemon.log"));
    (d, sim, root)
}

#[test]
fn readyz_follows_the_maildir_root_and_the_simulator_and_livez_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let (d, sim, root) = start(dir.path());
    let body = readyz_becomes(&d, 200, "at start");
    for check in ["ok store", "ok source maildir", "ok autodns", "ok delivery"] {
        assert!(body.contains(check), "{body}");
    }

    // The maildir root goes away: the source check fails (and only it).
    let moved = dir.path().join("mail-moved");
    std::fs::rename(&root, &moved).unwrap();
    let body = readyz_becomes(&d, 503, "maildir root removed");
    assert!(body.contains("FAIL source maildir: "), "{body}");
    assert!(body.contains("ok autodns"), "{body}");
    let (code, healthz) = get(d.addr, "/healthz").unwrap();
    assert_eq!(code, 503, "/healthz is /readyz: {healthz}");
    assert!(healthz.contains("FAIL source maildir"), "{healthz}");
    assert_eq!(get(d.addr, "/livez").unwrap().0, 200);
    std::fs::rename(&moved, &root).unwrap();
    readyz_becomes(&d, 200, "maildir root back");

    // The simulator stops: AutoDNS stays silent past the window.
    sim.stop();
    let body = readyz_becomes(&d, 503, "simulator stopped");
    assert!(
        body.contains("FAIL autodns: no answer from AutoDNS"),
        "{body}"
    );
    assert!(body.contains("ok source maildir"), "{body}");
    assert_eq!(get(d.addr, "/livez").unwrap().0, 200);
    let sim_addr = config_endpoint(&dir.path().join("config.toml"));
    let _sim = Simulator::start(sim_addr, dir.path());
    let body = readyz_becomes(&d, 200, "simulator back");
    assert!(body.contains("ok autodns"), "{body}");
}

/// The simulator address the config names.
fn config_endpoint(config: &Path) -> SocketAddr {
    let text = std::fs::read_to_string(config).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("endpoint = \"http://"))
        .unwrap();
    let hostport = line
        .trim_start_matches("endpoint = \"http://")
        .trim_end_matches("/v1\"");
    hostport.parse().unwrap()
}
