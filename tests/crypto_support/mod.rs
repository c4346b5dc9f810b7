//! Test-only support for the `crypto_*` tests: a two-level test CA (root → intermediate → leaf)
//! that signs the CSRs `crypto::build_csr` makes, keys shared within one test binary (RSA
//! generation is slow), and helpers that run the real consumer tools.
//!
//! The CA is built here with the `openssl` crate on purpose: it stands in for GlobalSign, it is
//! not product code, and the product must accept what a conventional CA issues.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use anyhow::{bail, Context, Result};
use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509Name, X509Req, X509};
use smime_provisioner::crypto::{KeyType, PrivateKey};
use time::OffsetDateTime;

/// One RSA-3072 key (the product default) per test binary.
pub fn rsa_key() -> &'static PrivateKey {
    static KEY: OnceLock<PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| PrivateKey::generate(KeyType::Rsa3072).expect("RSA-3072 key"))
}

/// A second RSA key, for "certificate for another key" cases.
pub fn other_rsa_key() -> &'static PrivateKey {
    static KEY: OnceLock<PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| PrivateKey::generate(KeyType::Rsa2048).expect("RSA-2048 key"))
}

/// A fresh P-256 key (microseconds to make).
pub fn ec_key() -> PrivateKey {
    PrivateKey::generate(KeyType::EcP256).expect("P-256 key")
}

/// Which extended key usage the test CA puts in a leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eku {
    EmailProtection,
    ServerAuthOnly,
    Absent,
}

/// What the test CA puts into a leaf beyond what the CSR asks.
#[derive(Debug, Clone)]
pub struct LeafSpec {
    /// rfc822Names to certify instead of the CSR's own SAN.
    pub emails: Option<Vec<String>>,
    pub eku: Eku,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl LeafSpec {
    /// A normal S/MIME leaf valid from an hour ago for 365 days.
    pub fn valid_now() -> LeafSpec {
        let now = OffsetDateTime::now_utc();
        LeafSpec {
            emails: None,
            eku: Eku::EmailProtection,
            not_before: now - time::Duration::hours(1),
            not_after: now + time::Duration::days(365),
        }
    }
}

/// A root CA and an intermediate CA, RSA-2048 (like the CAs GlobalSign issues S/MIME from).
pub struct TestCa {
    root_key: PKey<Private>,
    root: X509,
    inter_key: PKey<Private>,
    inter: X509,
}

fn serial() -> Result<Asn1Integer> {
    let mut bn = BigNum::new()?;
    bn.rand(127, MsbOption::MAYBE_ZERO, false)?;
    Ok(bn.to_asn1_integer()?)
}

fn name(cn: &str) -> Result<X509Name> {
    let mut n = X509Name::builder()?;
    n.append_entry_by_text("C", "DE")?;
    n.append_entry_by_text("O", "smime-provisioner tests")?;
    n.append_entry_by_text("CN", cn)?;
    Ok(n.build())
}

fn ca_cert(
    subject: &X509Name,
    key: &PKey<Private>,
    issuer: Option<(&X509, &PKey<Private>)>,
    pathlen: Option<u32>,
) -> Result<X509> {
    let mut b = X509::builder()?;
    b.set_version(2)?;
    let s = serial()?;
    b.set_serial_number(&s)?;
    b.set_subject_name(subject)?;
    b.set_issuer_name(issuer.map_or(subject, |(c, _)| c.subject_name()))?;
    b.set_pubkey(key)?;
    let nb = Asn1Time::days_from_now(0)?;
    let nb = Asn1Time::from_unix(nb_unix(&nb)? - 86_400)?;
    b.set_not_before(&nb)?;
    let na = Asn1Time::days_from_now(3650)?;
    b.set_not_after(&na)?;
    let mut bc = BasicConstraints::new();
    bc.critical().ca();
    if let Some(p) = pathlen {
        bc.pathlen(p);
    }
    b.append_extension(bc.build()?)?;
    b.append_extension(
        KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build()?,
    )?;
    let ski =
        SubjectKeyIdentifier::new().build(&b.x509v3_context(issuer.map(|(c, _)| &**c), None))?;
    b.append_extension(ski)?;
    if let Some((icert, _)) = issuer {
        let aki = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&b.x509v3_context(Some(icert), None))?;
        b.append_extension(aki)?;
    }
    let signer = issuer.map_or(key, |(_, k)| k);
    b.sign(signer, MessageDigest::sha256())?;
    Ok(b.build())
}

fn nb_unix(t: &Asn1Time) -> Result<i64> {
    let d = Asn1Time::from_unix(0)?.diff(t)?;
    Ok(i64::from(d.days) * 86_400 + i64::from(d.secs))
}

impl TestCa {
    /// One CA pair per test binary, named "Test" (RSA CA keys take a while to generate).
    pub fn shared() -> &'static TestCa {
        static CA: OnceLock<TestCa> = OnceLock::new();
        CA.get_or_init(|| TestCa::new("Test").expect("test CA"))
    }

    /// A fresh CA pair named after `label`.
    pub fn new(label: &str) -> Result<TestCa> {
        let root_key = PKey::from_rsa(Rsa::generate(2048)?)?;
        let root = ca_cert(&name(&format!("{label} Root CA"))?, &root_key, None, None)?;
        let inter_key = PKey::from_rsa(Rsa::generate(2048)?)?;
        let inter = ca_cert(
            &name(&format!("{label} Email CA"))?,
            &inter_key,
            Some((&root, &root_key)),
            Some(0),
        )?;
        Ok(TestCa {
            root_key,
            root,
            inter_key,
            inter,
        })
    }

    pub fn root_pem(&self) -> String {
        String::from_utf8(self.root.to_pem().expect("root PEM")).expect("ASCII")
    }

    pub fn intermediate_pem(&self) -> String {
        String::from_utf8(self.inter.to_pem().expect("intermediate PEM")).expect("ASCII")
    }

    /// The root's SHA-1 fingerprint as `AA:BB:...` (gpgsm's `trustlist.txt` format).
    pub fn root_sha1_colons(&self) -> String {
        let d = self.root.digest(MessageDigest::sha1()).expect("digest");
        d.iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    }

    /// The chain as AutoDNS would hand it over: intermediate, then root, as separate strings.
    pub fn chain(&self) -> Vec<String> {
        vec![self.intermediate_pem(), self.root_pem()]
    }

    /// Signs `csr_pem` as the intermediate CA, the way an S/MIME CA would (S/MIME BR §7.1.2.3).
    pub fn issue(&self, csr_pem: &str, spec: &LeafSpec) -> Result<String> {
        let req = X509Req::from_pem(csr_pem.as_bytes()).context("CSR does not parse")?;
        let pubkey = req.public_key()?;
        if !req.verify(&pubkey)? {
            bail!("CSR self-signature does not verify");
        }
        let mut b = X509::builder()?;
        b.set_version(2)?;
        let s = serial()?;
        b.set_serial_number(&s)?;
        b.set_subject_name(req.subject_name())?;
        b.set_issuer_name(self.inter.subject_name())?;
        b.set_pubkey(&pubkey)?;
        let nb = Asn1Time::from_unix(spec.not_before.unix_timestamp())?;
        b.set_not_before(&nb)?;
        let na = Asn1Time::from_unix(spec.not_after.unix_timestamp())?;
        b.set_not_after(&na)?;
        b.append_extension(BasicConstraints::new().critical().build()?)?;
        let mut ku = KeyUsage::new();
        ku.critical().digital_signature();
        if pubkey.rsa().is_ok() {
            ku.key_encipherment();
        } else {
            ku.key_agreement();
        }
        b.append_extension(ku.build()?)?;
        match spec.eku {
            Eku::EmailProtection => {
                b.append_extension(ExtendedKeyUsage::new().email_protection().build()?)?
            }
            Eku::ServerAuthOnly => {
                b.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?
            }
            Eku::Absent => {}
        }
        match &spec.emails {
            None => {
                for ext in req.extensions()? {
                    b.append_extension(ext)?;
                }
            }
            Some(emails) => {
                let mut san = SubjectAlternativeName::new();
                for e in emails {
                    san.email(e);
                }
                let san = san.build(&b.x509v3_context(Some(&self.inter), None))?;
                b.append_extension(san)?;
            }
        }
        let aki = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&b.x509v3_context(Some(&self.inter), None))?;
        b.append_extension(aki)?;
        b.sign(&self.inter_key, MessageDigest::sha256())?;
        Ok(String::from_utf8(b.build().to_pem()?)?)
    }
}

/// Fails the test, naming the Debian package to install, when `tool` is not on PATH.
pub fn require_tool(tool: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(tool);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("`{tool}` is not installed: this test needs it; install the Debian package `{package}`");
}

/// Runs a command with optional stdin, returning its output (it may have failed).
pub fn run(cmd: &mut Command, stdin: Option<&[u8]>) -> Result<Output> {
    use std::io::Write;
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().with_context(|| format!("spawning {cmd:?}"))?;
    if let Some(input) = stdin {
        child.stdin.take().context("stdin")?.write_all(input)?;
    }
    Ok(child.wait_with_output()?)
}

/// Runs a command that must succeed; returns stdout and stderr together.
pub fn run_ok(cmd: &mut Command, stdin: Option<&[u8]>) -> Result<String> {
    let desc = format!("{cmd:?}");
    let out = run(cmd, stdin)?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        bail!("{desc} failed ({}):\n{text}", out.status);
    }
    Ok(text)
}

/// Writes `bytes` to `dir/name` with mode 0600 and returns the path.
pub fn write_private(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(name);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&path)?;
    std::io::Write::write_all(&mut f, bytes)?;
    Ok(path)
}
