//! `/metrics`, `/livez` and `/readyz` of the real binary: the page parsed by a real Prometheus
//! text parser (Python's `prometheus_client`, Debian `python3-prometheus-client`) and checked
//! against the store ([`scrape`]); readiness turning unready and ready again when the maildir
//! root or an external simulator process goes away and comes back ([`readyz`]).
//!
//! Shared here: the daemon child process, a plain HTTP GET, the parser, a bounded wait.

mod readyz;
mod scrape;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const PUSH_TOKEN: &str = "push-token-0123456789abcdef";

/// A free loopback port (bound and released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// `smime-provisioner run` as a child process, killed on drop.
pub struct Daemon {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

impl Daemon {
    /// Starts `run` with `config` and waits (bounded) until `/livez` answers.
    pub fn start(config: &Path, addr: SocketAddr, log: PathBuf) -> Daemon {
        let child = Command::new(env!("CARGO_BIN_EXE_smime-provisioner"))
            .arg("--config")
            .arg(config)
            .args(["--log", "smime_provisioner=debug", "run"])
            .env("SIM_PASSWORD", support::live::SIM_PASSWORD)
            .env("PUSH_TOKEN", PUSH_TOKEN)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut d = Daemon { child, addr, log };
        let up = wait_for(Duration::from_secs(120), || {
            if let Some(status) = d.child.try_wait().unwrap() {
                panic!("the daemon exited at boot: {status:?}\n{}", d.log_text());
            }
            get(addr, "/livez").is_some_and(|(code, _)| code == 200)
        });
        assert!(up, "/livez did not answer within 120 s\n{}", d.log_text());
        d
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path`: status code and body; panics if the daemon does not answer.
    pub fn get(&self, path: &str) -> (u16, String) {
        get(self.addr, path)
            .unwrap_or_else(|| panic!("no answer to GET {path}\n{}", self.log_text()))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.0 `GET path` on a new connection: status code and body (`None`: no answer).
pub fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
    s.write_all(request.as_bytes()).ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, body.to_string()))
}

/// Calls `f` every 200 ms until it is true or `limit` has passed; whether it became true.
pub fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One metric family as `prometheus_client`'s parser reads it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Family {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub help: String,
    pub samples: Vec<(String, std::collections::BTreeMap<String, String>, f64)>,
}

const PARSER: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type, "help": f.documentation,
                "samples": [[s.name, s.labels, s.value] for s in f.samples]})
json.dump(out, sys.stdout)
"#;

/// The interpreter Debian's `python3-prometheus-client` installs for (not whatever `python3` a
/// developer's PATH finds first, e.g. a pyenv shim without the package).
const PYTHON: &str = "/usr/bin/python3";

/// Parses a `/metrics` page with Python's `prometheus_client` (a parse error fails the test).
pub fn parse(page: &str) -> Vec<Family> {
    let mut child = Command::new(PYTHON)
        .args(["-c", PARSER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3 (scripts/test.sh installs python3-prometheus-client)");
    let mut stdin = child.stdin.take().unwrap();
    let text = page.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client could not parse the page: {}\n{page}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
