//! The daemon's HTTP endpoint under a flood, through the real binary (`run`, the bundled
//! simulator in-process): ~1,100 idle connections do not exhaust the daemon's file descriptors
//! (a new mailbox still gets its key, order and bundle), and clients that never finish their
//! headers or their body, or keep an answered connection idle, are disconnected.
//!
//! The daemon runs with the soft `RLIMIT_NOFILE` of 1024 that systemd gives a service without
//! `LimitNOFILE=` (set through `sh -c 'ulimit -n 1024'`), which is what the flood exhausted.

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use smime_provisioner::mailbox::Address;
use smime_provisioner::pipeline::Stage;
use smime_provisioner::store::Store;
use support::live::*;

const TOKEN: &str = "push-token-0123456789abcdef";
/// The idle connections opened against the endpoint.
const FLOOD: usize = 1100;
/// The daemon's soft file-descriptor limit: systemd's default for a service.
const DAEMON_NOFILE: u32 = 1024;

struct Running {
    dir: tempfile::TempDir,
    child: Child,
    addr: SocketAddr,
}

impl Running {
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        let text = self.log();
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        tail.join("\n")
    }

    /// SIGTERM, then a bounded wait; SIGKILL if it does not stop.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..600 {
            if self.child.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Starts `smime-provisioner run` with the HTTP endpoint on a free port, under a soft
/// descriptor limit of 1024, and waits (bounded) until `/healthz` answers.
fn start_daemon() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let extra = format!(
        "[simulator]\nissuance_delay_ms = 200\n[http]\nlisten = \"{addr}\"\n\
         push_token_env = \"PUSH_TOKEN\"\n"
    );
    let text = config_text(dir.path(), "simulator", "json", &extra);
    let config = dir.path().join("config.toml");
    std::fs::write(&config, text).unwrap();
    std::fs::create_dir_all(dir.path().join("mail/example.com")).unwrap();
    let log = std::fs::File::create(dir.path().join("daemon.log")).unwrap();
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n {DAEMON_NOFILE} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_smime-provisioner"))
        .arg("--config")
        .arg(&config)
        .args(["--log", "smime_provisioner=debug", "run"])
        .env("SIM_PASSWORD", SIM_PASSWORD)
        .env("PUSH_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut running = Running { dir, child, addr };
    for _ in 0..600 {
        if let Some(status) = running.child.try_wait().unwrap() {
            panic!("the daemon exited at boot: {status:?}\n{}", running.log());
        }
        if get(addr, "/healthz").is_some_and(|s| s.starts_with("HTTP/1.1 200")) {
            return running;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "the daemon's /healthz did not answer within 60 s\n{}",
        running.log_tail()
    );
}

/// One `GET PATH` on a new connection; the whole response, or `None` if the connection
/// failed or was closed without one.
fn get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    (!out.is_empty()).then_some(out)
}

/// Raises this process's own soft descriptor limit (through `prlimit`, no unsafe code) when it
/// cannot hold the flood; fails loudly rather than testing less.
fn ensure_own_nofile(needed: u64) {
    let soft = || -> u64 {
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
        let line = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .unwrap();
        line.split_whitespace().nth(3).unwrap().parse().unwrap()
    };
    if soft() >= needed {
        return;
    }
    let pid = std::process::id().to_string();
    let _ = Command::new("prlimit")
        .args(["--pid", &pid, &format!("--nofile={needed}:{needed}")])
        .status();
    assert!(
        soft() >= needed,
        "this test needs {needed} open files in the test process (soft limit {}); raise it \
         with `ulimit -n {needed}`",
        soft()
    );
}

/// Waits until the store says `address` is delivered.
fn wait_delivered(state: &Path, address: &str, secs: u64) -> bool {
    let a = Address::parse(address).unwrap();
    for _ in 0..secs * 4 {
        let stage = Store::open(state)
            .ok()
            .and_then(|s| s.get(&a).ok().flatten())
            .map(|r| r.stage);
        if stage == Some(Stage::Delivered) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    false
}

fn state_dir(r: &Running) -> PathBuf {
    r.dir.path().join("state")
}

#[test]
fn eleven_hundred_idle_connections_do_not_stop_a_new_mailbox() {
    ensure_own_nofile(FLOOD as u64 + 512);
    let daemon = start_daemon();
    // Idle connections, each in the middle of a `POST /push` that never goes on.
    let mut flood = Vec::with_capacity(FLOOD);
    for _ in 0..FLOOD {
        match TcpStream::connect_timeout(&daemon.addr, Duration::from_secs(3)) {
            Ok(mut s) => {
                // A connection the daemon already closed may refuse the write; that is fine.
                let _ = s.write_all(b"POST /push HTTP/1.1\r\nHost: localhost\r\n");
                flood.push(s);
            }
            Err(e) => panic!("connect {} failed: {e}", flood.len()),
        }
    }
    // A new mailbox while the flood is held open.
    std::fs::create_dir_all(daemon.dir.path().join("mail/example.com/newbie")).unwrap();
    let delivered = wait_delivered(&state_dir(&daemon), "newbie@example.com", 180);
    assert!(
        delivered,
        "newbie@example.com was not delivered within 180 s while {} idle connections were \
         open\nlog tail (newest first):\n{}",
        flood.len(),
        daemon.log_tail()
    );
    let bundles = outbox_bundles(&daemon.dir.path().join("outbox"));
    assert_eq!(
        bundles.get("newbie@example.com").map(Vec::len),
        Some(1),
        "one bundle mailed"
    );
    // The endpoint itself comes back for new clients while the flood is still held (the
    // flood's connections it served are closed by the header timeout), and counts the
    // connections it closed unserved.
    let mut metrics = None;
    for _ in 0..120 {
        metrics = get(daemon.addr, "/metrics").filter(|s| s.starts_with("HTTP/1.1 200"));
        if metrics.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let Some(metrics) = metrics else {
        panic!("/metrics did not answer within 60 s\n{}", daemon.log_tail());
    };
    let refused = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("smime_provisioner_http_connections_closed_total{reason=\"refused\"} ")
        })
        .and_then(|v| v.trim().parse::<u64>().ok());
    assert!(
        refused.is_some_and(|n| n > 0),
        "no connection beyond the limit was refused\n{metrics}"
    );
    drop(flood);
    daemon.stop();
}

/// Reads until the daemon closes the connection; `Err` when it is still open after 90 s.
fn read_until_closed(s: &mut TcpStream) -> Result<String, String> {
    s.set_read_timeout(Some(Duration::from_secs(90))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok(String::from_utf8_lossy(&got).into_owned()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                return Ok(String::from_utf8_lossy(&got).into_owned())
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(format!(
                    "still open after 90 s; received so far: {:?}",
                    String::from_utf8_lossy(&got)
                ))
            }
            Err(e) => return Err(format!("read failed: {e}")),
        }
    }
}

#[test]
fn clients_that_never_finish_their_headers_or_body_are_disconnected() {
    let daemon = start_daemon();
    let mut slow_headers = TcpStream::connect(daemon.addr).unwrap();
    slow_headers
        .write_all(b"POST /push HTTP/1.1\r\nHost: localhost\r\nX-Push-Token: ")
        .unwrap();
    let mut slow_body = TcpStream::connect(daemon.addr).unwrap();
    let head = format!(
        "POST /push HTTP/1.1\r\nHost: localhost\r\nX-Push-Token: {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: 4000\r\n\r\n{{\"job\":"
    );
    slow_body.write_all(head.as_bytes()).unwrap();
    // A keep-alive client that never sends its next request.
    let mut idle = TcpStream::connect(daemon.addr).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();

    let headers = read_until_closed(&mut slow_headers);
    assert!(
        headers.is_ok(),
        "a client stuck in its headers was not disconnected: {headers:?}\n{}",
        daemon.log_tail()
    );
    let body = read_until_closed(&mut slow_body);
    assert!(
        body.is_ok(),
        "a client stuck in its body was not disconnected: {body:?}\n{}",
        daemon.log_tail()
    );
    let kept = read_until_closed(&mut idle);
    assert!(
        kept.as_ref().is_ok_and(|r| r.starts_with("HTTP/1.1 200")),
        "an idle keep-alive client was not disconnected after its answer: {kept:?}\n{}",
        daemon.log_tail()
    );
    // The endpoint still serves new clients.
    let health = get(daemon.addr, "/healthz").unwrap_or_default();
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    daemon.stop();
}
