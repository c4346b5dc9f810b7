//! Helpers for the delivery tests: real PKCS#12 bundles (a key and certificate from the test CA,
//! exported by the `openssl` CLI), a real SMTP server (aiosmtpd, started per test on 127.0.0.1
//! port 0 and stopped when dropped), and Python's `email` parser as an outside judge of the
//! messages.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use anyhow::{anyhow, Context, Result};
use rand::Rng;
use smime_provisioner::delivery::Bundle;
use smime_provisioner::mailbox::Address;
use smime_provisioner::secret::Secret;
use time::OffsetDateTime;

use crate::ca::{csr_for, p256_pkey, LeafSpec, TestCa};
use crate::tools::{fixture, openssl, require_tool, run_stdout};

const SYSTEM_PYTHON: &str = "/usr/bin/python3";

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

/// A real PKCS#12 for `address`: a P-256 key and an S/MIME certificate from the test CA, exported
/// by the openssl CLI with `password` (OpenSSL 3 defaults: AES-256-CBC, SHA-256 MAC).
pub fn make_bundle(
    dir: &Path,
    address: &str,
    password: &Secret<String>,
    display_name: Option<&str>,
) -> Result<Bundle> {
    let key = dir.join("key.pem");
    let cert = dir.join("cert.pem");
    let p12 = dir.join("bundle.p12");
    let pkey = p256_pkey();
    std::fs::write(&key, pkey.private_key_to_pem_pkcs8()?)?;
    let mut spec = LeafSpec::valid_now();
    spec.not_after = now() + time::Duration::days(30);
    std::fs::write(
        &cert,
        TestCa::quick().issue(&csr_for(&pkey, address), &spec)?,
    )?;
    run_stdout(
        openssl()
            .args(["pkcs12", "-export", "-name", address, "-passout"])
            .arg(format!("pass:{}", password.expose()))
            .arg("-inkey")
            .arg(&key)
            .arg("-in")
            .arg(&cert)
            .arg("-out")
            .arg(&p12),
        None,
    )?;
    let fp = String::from_utf8(run_stdout(
        openssl()
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(&cert),
        None,
    )?)?;
    let fingerprint = fp
        .trim()
        .split_once('=')
        .map(|(_, v)| v.to_string())
        .ok_or_else(|| anyhow!("unexpected fingerprint output {fp:?}"))?;
    let end = String::from_utf8(run_stdout(
        openssl()
            .args(["x509", "-noout", "-enddate", "-dateopt", "iso_8601", "-in"])
            .arg(&cert),
        None,
    )?)?;
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
    run_stdout(
        Command::new("/usr/bin/certutil").args(["-N", "-d", &dbarg, "--empty-password"]),
        None,
    )?;
    let status = Command::new("/usr/bin/pk12util")
        .args(["-d", &dbarg, "-W", password, "-i"])
        .arg(&f)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    if !status.success() {
        return Ok(false);
    }
    let keys = run_stdout(
        Command::new("/usr/bin/certutil").args(["-K", "-d", &dbarg]),
        None,
    )?;
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
    let out = run_stdout(
        Command::new(SYSTEM_PYTHON)
            .arg(fixture("delivery/mime_dump.py"))
            .arg(&f),
        None,
    )?;
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
            .arg(fixture("delivery/smtp_server.py"))
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
