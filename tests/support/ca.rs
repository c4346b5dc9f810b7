//! The one test CA of the test suite: a two-level CA (root → intermediate → leaf) that signs the
//! CSRs `crypto::build_csr` makes (and [`csr_for`] makes without the product's code), S/MIME
//! leaves for mail bundles and a TLS leaf for the SMTP server; plus keys shared within one test
//! binary (RSA generation is slow).
//!
//! The CA is built here with the `openssl` crate on purpose: it stands in for GlobalSign, it is
//! not product code, and the product must accept what a conventional CA issues. [`LeafSpec`] and
//! [`CaSpec`] bend one property at a time (CA flag, key usage, extended key usage, validity,
//! path length) so tests can show that the product refuses exactly that.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{bail, Context, Result};
use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::stack::Stack;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509Name, X509NameBuilder, X509Req, X509ReqBuilder, X509};
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
    /// emailProtection plus another purpose, named as OpenSSL's config does (`serverAuth`,
    /// `clientAuth`, `codeSigning`, `timeStamping`, `anyExtendedKeyUsage`, or a dotted OID).
    EmailProtectionAnd(&'static str),
}

/// Which key usage the test CA puts in a leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ku {
    /// What an S/MIME CA issues for dual use (S/MIME BR §7.1.2.3 e): digitalSignature plus
    /// keyEncipherment for RSA, keyAgreement for EC.
    ForKeyType,
    /// No keyUsage extension at all.
    Absent,
    /// Exactly these bits, by their RFC 5280 §4.2.1.3 names.
    Exactly(&'static [&'static str]),
}

/// What the test CA puts into a leaf beyond what the CSR asks.
#[derive(Debug, Clone)]
pub struct LeafSpec {
    /// rfc822Names to certify instead of the CSR's own SAN.
    pub emails: Option<Vec<String>>,
    pub eku: Eku,
    pub key_usage: Ku,
    /// basicConstraints cA=TRUE on the leaf (a CA certificate issued for the mailbox key).
    pub ca: bool,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl LeafSpec {
    /// A normal S/MIME leaf valid from an hour ago for 365 days.
    pub fn valid_now() -> LeafSpec {
        LeafSpec::valid_at(OffsetDateTime::now_utc())
    }

    /// A normal S/MIME leaf valid from an hour before `t` for 365 days.
    pub fn valid_at(t: OffsetDateTime) -> LeafSpec {
        LeafSpec {
            emails: None,
            eku: Eku::EmailProtection,
            key_usage: Ku::ForKeyType,
            ca: false,
            not_before: t - time::Duration::hours(1),
            not_after: t + time::Duration::days(365),
        }
    }
}

/// How [`TestCa::with_spec`] bends its CA certificates; [`CaSpec::default`] is a conventional
/// root and intermediate, valid from a day ago for ten years.
#[derive(Debug, Clone)]
pub struct CaSpec {
    /// basicConstraints cA=TRUE on the intermediate (false: a non-CA "intermediate").
    pub intermediate_is_ca: bool,
    /// keyCertSign in the intermediate's keyUsage.
    pub intermediate_cert_sign: bool,
    /// An extended key usage on the intermediate (OpenSSL config name), none when `None`.
    pub intermediate_eku: Option<&'static str>,
    /// The intermediate's validity; `None`: a day ago to ten years ahead.
    pub intermediate_validity: Option<(OffsetDateTime, OffsetDateTime)>,
    /// A path length constraint on the root.
    pub root_pathlen: Option<u32>,
}

impl Default for CaSpec {
    fn default() -> Self {
        CaSpec {
            intermediate_is_ca: true,
            intermediate_cert_sign: true,
            intermediate_eku: None,
            intermediate_validity: None,
            root_pathlen: None,
        }
    }
}

/// The properties of one CA certificate made by `ca_cert`.
#[derive(Debug, Clone)]
struct CaCertSpec {
    is_ca: bool,
    pathlen: Option<u32>,
    cert_sign: bool,
    eku: Option<&'static str>,
    validity: Option<(OffsetDateTime, OffsetDateTime)>,
}

impl CaCertSpec {
    fn conventional(pathlen: Option<u32>) -> CaCertSpec {
        CaCertSpec {
            is_ca: true,
            pathlen,
            cert_sign: true,
            eku: None,
            validity: None,
        }
    }
}

/// A root CA and an intermediate CA, RSA-2048 (like the CAs GlobalSign issues S/MIME from).
pub struct TestCa {
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
    spec: &CaCertSpec,
) -> Result<X509> {
    let mut b = X509::builder()?;
    b.set_version(2)?;
    let s = serial()?;
    b.set_serial_number(&s)?;
    b.set_subject_name(subject)?;
    b.set_issuer_name(issuer.map_or(subject, |(c, _)| c.subject_name()))?;
    b.set_pubkey(key)?;
    match spec.validity {
        Some((from, to)) => {
            let nb = Asn1Time::from_unix(from.unix_timestamp())?;
            b.set_not_before(&nb)?;
            let na = Asn1Time::from_unix(to.unix_timestamp())?;
            b.set_not_after(&na)?;
        }
        None => {
            let nb = Asn1Time::days_from_now(0)?;
            let nb = Asn1Time::from_unix(nb_unix(&nb)? - 86_400)?;
            b.set_not_before(&nb)?;
            let na = Asn1Time::days_from_now(3650)?;
            b.set_not_after(&na)?;
        }
    }
    let mut bc = BasicConstraints::new();
    bc.critical();
    if spec.is_ca {
        bc.ca();
    }
    if let Some(p) = spec.pathlen {
        bc.pathlen(p);
    }
    b.append_extension(bc.build()?)?;
    let mut ku = KeyUsage::new();
    ku.critical().crl_sign();
    if spec.cert_sign {
        ku.key_cert_sign();
    } else {
        ku.digital_signature();
    }
    b.append_extension(ku.build()?)?;
    if let Some(eku) = spec.eku {
        b.append_extension(ExtendedKeyUsage::new().other(eku).build()?)?;
    }
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

/// A fresh P-256 key as an `openssl` crate key (for CSRs made without the product's code).
pub fn p256_pkey() -> PKey<Private> {
    let g = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("group");
    PKey::from_ec_key(EcKey::generate(&g).expect("ec")).expect("pkey")
}

/// A fresh RSA-2048 key as an `openssl` crate key.
pub fn rsa_pkey() -> PKey<Private> {
    PKey::from_rsa(Rsa::generate(2048).expect("rsa")).expect("pkey")
}

/// A CSR as the product builds one, made here without its code: CN and emailAddress = the
/// address, SAN rfc822Name.
pub fn csr_for(key: &PKey<Private>, address: &str) -> String {
    let mut n = X509NameBuilder::new().expect("name");
    n.append_entry_by_nid(Nid::COMMONNAME, address).expect("cn");
    n.append_entry_by_nid(Nid::PKCS9_EMAILADDRESS, address)
        .expect("email");
    let name = n.build();
    let mut b = X509ReqBuilder::new().expect("req");
    b.set_subject_name(&name).expect("subject");
    b.set_pubkey(key).expect("pubkey");
    let mut exts = Stack::new().expect("stack");
    let san = SubjectAlternativeName::new()
        .email(address)
        .build(&b.x509v3_context(None))
        .expect("san");
    exts.push(san).expect("push");
    b.add_extensions(&exts).expect("exts");
    b.sign(key, MessageDigest::sha256()).expect("sign");
    String::from_utf8(b.build().to_pem().expect("pem")).expect("utf8")
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

    /// One CA pair per test binary with P-256 keys, named "Quick": for tests that need a CA but
    /// not an RSA one (mail bundles, TLS servers).
    pub fn quick() -> &'static TestCa {
        static CA: OnceLock<TestCa> = OnceLock::new();
        CA.get_or_init(|| TestCa::with_spec("Quick", &CaSpec::default()).expect("test CA"))
    }

    /// A fresh CA pair named after `label`.
    pub fn new(label: &str) -> Result<TestCa> {
        let root_key = PKey::from_rsa(Rsa::generate(2048)?)?;
        let root = ca_cert(
            &name(&format!("{label} Root CA"))?,
            &root_key,
            None,
            &CaCertSpec::conventional(None),
        )?;
        let inter_key = PKey::from_rsa(Rsa::generate(2048)?)?;
        let inter = ca_cert(
            &name(&format!("{label} Email CA"))?,
            &inter_key,
            Some((&root, &root_key)),
            &CaCertSpec::conventional(Some(0)),
        )?;
        Ok(TestCa {
            root,
            inter_key,
            inter,
        })
    }

    /// A fresh CA pair named after `label`, bent as `spec` says, with P-256 keys (quick to make;
    /// which algorithm the CA uses is not what these tests are about). Two CAs with the same
    /// label have the same names but different keys.
    pub fn with_spec(label: &str, spec: &CaSpec) -> Result<TestCa> {
        let root_key = p256_pkey();
        let root = ca_cert(
            &name(&format!("{label} Root CA"))?,
            &root_key,
            None,
            &CaCertSpec::conventional(spec.root_pathlen),
        )?;
        let inter_key = p256_pkey();
        let inter = ca_cert(
            &name(&format!("{label} Email CA"))?,
            &inter_key,
            Some((&root, &root_key)),
            &CaCertSpec {
                is_ca: spec.intermediate_is_ca,
                pathlen: if spec.intermediate_is_ca {
                    Some(0)
                } else {
                    None
                },
                cert_sign: spec.intermediate_cert_sign,
                eku: spec.intermediate_eku,
                validity: spec.intermediate_validity,
            },
        )?;
        Ok(TestCa {
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
        let mut bc = BasicConstraints::new();
        bc.critical();
        if spec.ca {
            bc.ca();
        }
        b.append_extension(bc.build()?)?;
        match spec.key_usage {
            Ku::ForKeyType => {
                let mut ku = KeyUsage::new();
                ku.critical().digital_signature();
                if pubkey.rsa().is_ok() {
                    ku.key_encipherment();
                } else {
                    ku.key_agreement();
                }
                b.append_extension(ku.build()?)?;
            }
            Ku::Absent => {}
            Ku::Exactly(bits) => {
                let mut ku = KeyUsage::new();
                ku.critical();
                for bit in bits {
                    match *bit {
                        "digitalSignature" => ku.digital_signature(),
                        "nonRepudiation" => ku.non_repudiation(),
                        "keyEncipherment" => ku.key_encipherment(),
                        "dataEncipherment" => ku.data_encipherment(),
                        "keyAgreement" => ku.key_agreement(),
                        "keyCertSign" => ku.key_cert_sign(),
                        "cRLSign" => ku.crl_sign(),
                        "encipherOnly" => ku.encipher_only(),
                        "decipherOnly" => ku.decipher_only(),
                        other => bail!("unknown key usage bit {other:?}"),
                    };
                }
                b.append_extension(ku.build()?)?;
            }
        }
        match spec.eku {
            Eku::EmailProtection => {
                b.append_extension(ExtendedKeyUsage::new().email_protection().build()?)?
            }
            Eku::ServerAuthOnly => {
                b.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?
            }
            Eku::Absent => {}
            Eku::EmailProtectionAnd(other) => b.append_extension(
                ExtendedKeyUsage::new()
                    .email_protection()
                    .other(other)
                    .build()?,
            )?,
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

    /// A TLS server certificate for 127.0.0.1 and localhost (extended key usage serverAuth),
    /// written under `dir` with its key and this CA's root as the trust anchor.
    pub fn tls_server(&self, dir: &Path) -> Result<TestPki> {
        let key = p256_pkey();
        let mut b = X509::builder()?;
        b.set_version(2)?;
        let s = serial()?;
        b.set_serial_number(&s)?;
        let subject = name("localhost")?;
        b.set_subject_name(&subject)?;
        b.set_issuer_name(self.inter.subject_name())?;
        b.set_pubkey(&key)?;
        let nb = Asn1Time::from_unix(OffsetDateTime::now_utc().unix_timestamp() - 3600)?;
        b.set_not_before(&nb)?;
        let na = Asn1Time::days_from_now(2)?;
        b.set_not_after(&na)?;
        b.append_extension(BasicConstraints::new().critical().build()?)?;
        b.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?;
        let san = SubjectAlternativeName::new()
            .ip("127.0.0.1")
            .dns("localhost")
            .build(&b.x509v3_context(Some(&self.inter), None))?;
        b.append_extension(san)?;
        b.sign(&self.inter_key, MessageDigest::sha256())?;
        let leaf = b.build().to_pem()?;
        let ca_cert = dir.join("ca.pem");
        std::fs::write(&ca_cert, self.root_pem())?;
        let server_cert = dir.join("server.pem");
        std::fs::write(&server_cert, [leaf, self.inter.to_pem()?].concat())?;
        let server_key = dir.join("server.key");
        std::fs::write(&server_key, key.private_key_to_pem_pkcs8()?)?;
        Ok(TestPki {
            ca_cert,
            server_cert,
            server_key,
        })
    }
}

/// A TLS server's files: its certificate (with the intermediate), its key, and the root that
/// clients trust.
#[derive(Debug)]
pub struct TestPki {
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}
