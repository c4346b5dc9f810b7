//! Shared helpers for the `delivery_*` integration tests: real PKCS#12 bundles made with the
//! `openssl` CLI, a real SMTP server (aiosmtpd, started per test on 127.0.0.1 port 0 and stopped
//! when dropped), a test CA for STARTTLS, and Python's `email` parser as an outside judge of the
//! messages.
//!
//! Each test binary uses a subset of these helpers.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use anyhow::{anyhow, bail, Context, Result};
use rand::Rng;
use smime_provisioner::delivery::Bundle;
use smime_provisioner::mailbox::Address;
use smime_provisioner::secret::Secret;
use time::OffsetDateTime;

const SYSTEM_PYTHON: &str = "/usr/bin/python3";

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/delivery")
        .join(name)
}

/// Fails the test, naming the Debian package, when a tool is missing.
pub fn require_tool(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: install the Debian package `{package}` (apt-get install -y {package})"
    );
}

fn require_aiosmtpd() {
    require_tool(SYSTEM_PYTHON, "python3");
    let ok = Command::new(SYSTEM_PYTHON)
        .args(["-c", "import aiosmtpd"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{SYSTEM_PYTHON} cannot import aiosmtpd: install the Debian package `python3-aiosmtpd`"
    );
}

/// Runs a command, failing with its stderr when it exits non-zero.
pub fn run(cmd: &mut Command) -> Result<Vec<u8>> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out.stdout)
}

fn openssl() -> Command {
    require_tool("/usr/bin/openssl", "openssl");
    Command::new("/usr/bin/openssl")
}

/// A password like the crypto module makes: four groups of five from an unambiguous alphabet
/// (20 × log2(32) = 100 bits; enough for a test, and unique per test run).
pub fn random_password() -> Secret<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    let groups: Vec<String> = (0..4)
        .map(|_| {
            (0..5)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
                .collect()
        })
        .collect();
    Secret::new(groups.join("-"))
}

/// A real PKCS#12 for `address`: a P-256 key and a self-signed S/MIME-shaped certificate made by
/// the openssl CLI, exported with `password` (OpenSSL 3 defaults: AES-256-CBC, SHA-256 MAC).
pub fn make_bundle(
    dir: &Path,
    address: &str,
    password: &Secret<String>,
    display_name: Option<&str>,
) -> Result<Bundle> {
    let key = dir.join("key.pem");
    let cert = dir.join("cert.pem");
    let p12 = dir.join("bundle.p12");
    run(openssl()
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "30",
            "-subj",
            &format!("/CN={address}/emailAddress={address}"),
            "-addext",
            &format!("subjectAltName=email:{address}"),
            "-addext",
            "extendedKeyUsage=emailProtection",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert))?;
    run(openssl()
        .args(["pkcs12", "-export", "-name", address, "-passout"])
        .arg(format!("pass:{}", password.expose()))
        .arg("-inkey")
        .arg(&key)
        .arg("-in")
        .arg(&cert)
        .arg("-out")
        .arg(&p12))?;
    let fp = String::from_utf8(run(openssl()
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&cert))?)?;
    let fingerprint = fp
        .trim()
        .split_once('=')
        .map(|(_, v)| v.to_string())
        .ok_or_else(|| anyhow!("unexpected fingerprint output {fp:?}"))?;
    let end = String::from_utf8(run(openssl()
        .args(["x509", "-noout", "-enddate", "-dateopt", "iso_8601", "-in"])
        .arg(&cert))?)?;
    let end = end.trim().trim_start_matches("notAfter=").to_string();
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z");
    let expires = time::PrimitiveDateTime::parse(&end, &fmt)
        .with_context(|| format!("parsing notAfter {end:?}"))?
        .assume_utc();
    Ok(Bundle {
        address: Address::parse(address)?,
        pkcs12: std::fs::read(&p12)?,
        expires,
        fingerprint_sha256: fingerprint,
        profile: "modern".into(),
        display_name: display_name.map(str::to_string),
    })
}

/// Whether `openssl pkcs12` opens `der` with `password` (key and certificate decrypted), and if
/// so the SHA-256 fingerprint of the certificate inside.
pub fn pkcs12_opens(dir: &Path, der: &[u8], password: &str) -> Result<Option<String>> {
    let f = dir.join(format!("check-{}.p12", rand::rng().random::<u32>()));
    std::fs::write(&f, der)?;
    let out = openssl()
        .args(["pkcs12", "-nodes", "-passin"])
        .arg(format!("pass:{password}"))
        .arg("-in")
        .arg(&f)
        .output()?;
    if !out.status.success() {
        return Ok(None);
    }
    let pem = String::from_utf8(out.stdout)?;
    assert!(pem.contains("PRIVATE KEY"), "no key in the bundle: {pem}");
    let mut child = openssl()
        .args(["x509", "-noout", "-fingerprint", "-sha256"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().ok_or_else(|| anyhow!("no stdin"))?;
        stdin.write_all(pem.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    let fp = String::from_utf8(out.stdout)?;
    Ok(fp.trim().split_once('=').map(|(_, v)| v.to_string()))
}

/// Whether NSS (the library Thunderbird uses) imports `der` with `password` into a fresh
/// database: `certutil -N` then `pk12util -i` (Debian package `libnss3-tools`).
pub fn nss_imports(dir: &Path, der: &[u8], password: &str) -> Result<bool> {
    require_tool("/usr/bin/pk12util", "libnss3-tools");
    require_tool("/usr/bin/certutil", "libnss3-tools");
    let n = rand::rng().random::<u32>();
    let db = dir.join(format!("nssdb-{n}"));
    std::fs::create_dir(&db)?;
    let f = dir.join(format!("nss-{n}.p12"));
    std::fs::write(&f, der)?;
    let dbarg = format!("sql:{}", db.display());
    run(Command::new("/usr/bin/certutil").args(["-N", "-d", &dbarg, "--empty-password"]))?;
    let status = Command::new("/usr/bin/pk12util")
        .args(["-d", &dbarg, "-W", password, "-i"])
        .arg(&f)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    if !status.success() {
        return Ok(false);
    }
    let keys = run(Command::new("/usr/bin/certutil").args(["-K", "-d", &dbarg]))?;
    Ok(!keys.is_empty())
}

/// Today's time, for composing (tests pass time explicitly, as the pipeline's clock does).
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Parses a message with Python's `email` package; see `fixtures/delivery/mime_dump.py`.
pub fn mime_dump(dir: &Path, raw: &[u8]) -> Result<serde_json::Value> {
    require_tool(SYSTEM_PYTHON, "python3");
    let f = dir.join(format!("dump-{}.eml", rand::rng().random::<u32>()));
    std::fs::write(&f, raw)?;
    let out = run(Command::new(SYSTEM_PYTHON)
        .arg(fixture("mime_dump.py"))
        .arg(&f))?;
    Ok(serde_json::from_slice(&out)?)
}

/// The leaf parts of a dump with the given content type.
pub fn parts_of<'a>(dump: &'a serde_json::Value, content_type: &str) -> Vec<&'a serde_json::Value> {
    dump["parts"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|p| p["content_type"] == content_type)
                .collect()
        })
        .unwrap_or_default()
}

/// A CA and a server certificate for 127.0.0.1 / localhost, made with the openssl CLI.
pub struct TestPki {
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

pub fn make_test_pki(dir: &Path) -> Result<TestPki> {
    let ca_key = dir.join("ca.key");
    let ca_cert = dir.join("ca.pem");
    let server_key = dir.join("server.key");
    let csr = dir.join("server.csr");
    let server_cert = dir.join("server.pem");
    let ext = dir.join("server.ext");
    run(openssl()
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=delivery test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
            "-keyout",
        ])
        .arg(&ca_key)
        .arg("-out")
        .arg(&ca_cert))?;
    run(openssl()
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
        ])
        .arg(&server_key)
        .arg("-out")
        .arg(&csr))?;
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )?;
    run(openssl()
        .args(["x509", "-req", "-days", "2", "-in"])
        .arg(&csr)
        .arg("-CA")
        .arg(&ca_cert)
        .arg("-CAkey")
        .arg(&ca_key)
        .arg("-CAcreateserial")
        .arg("-extfile")
        .arg(&ext)
        .arg("-out")
        .arg(&server_cert))?;
    Ok(TestPki {
        ca_cert,
        server_cert,
        server_key,
    })
}

/// One message the test SMTP server accepted.
#[derive(Debug)]
pub struct Received {
    pub envelope: serde_json::Value,
    pub raw: Vec<u8>,
}

/// The aiosmtpd server from `fixtures/delivery/smtp_server.py`, running until dropped.
pub struct SmtpServer {
    child: Child,
    stdin: Option<ChildStdin>,
    pub port: u16,
    maildir: PathBuf,
}

impl SmtpServer {
    /// Starts the server with extra switches (see the script's docstring), storing mail under
    /// `dir`. `port` 0 picks a free one.
    pub fn start(dir: &Path, port: u16, extra: &[&str]) -> Result<SmtpServer> {
        require_aiosmtpd();
        let maildir = dir.join(format!("received-{}", rand::rng().random::<u32>()));
        let mut child = Command::new(SYSTEM_PYTHON)
            .arg(fixture("smtp_server.py"))
            .arg("--maildir")
            .arg(&maildir)
            .arg("--port")
            .arg(port.to_string())
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| anyhow!("the SMTP server did not start: {line:?}"))?;
        Ok(SmtpServer {
            child,
            stdin,
            port,
            maildir,
        })
    }

    /// Messages accepted so far, in order.
    pub fn received(&self) -> Result<Vec<Received>> {
        let mut out = Vec::new();
        for n in 1.. {
            let base = self.maildir.join(format!("{n:03}"));
            let json = base.with_extension("json");
            if !json.exists() {
                break;
            }
            out.push(Received {
                envelope: serde_json::from_slice(&std::fs::read(&json)?)?,
                raw: std::fs::read(base.with_extension("eml"))?,
            });
        }
        Ok(out)
    }

    /// Stops the server and waits for it, so its port is free again.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Finds `needle` in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
