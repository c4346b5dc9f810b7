//! The simulator's throwaway certificate authority: a root and an intermediate (P-256 keys,
//! generated once and kept in `<state_dir>/ca/`), CSR inspection, and issuance of S/MIME leaf
//! certificates with the CA/B Forum mailbox-validated *strict* profile.
//!
//! This is a CA stand-in, not product crypto, so it uses `openssl` directly. The profile follows
//! the CA/Browser Forum S/MIME Baseline Requirements (cabforum/smime `SBR.md`, v1.0.10 and
//! later): subject CN and emailAddress are the mailbox only (SBR 7.1.4.2.2), SAN carries the
//! rfc822Name (7.1.4.2.1), EKU is emailProtection only (7.1.2.3 f, strict), key usage follows the
//! key type (7.1.2.3 e), policy OID 2.23.140.1.5.1.3 (mailbox-validated strict, 1.2), validity at
//! most 825 days (6.3.2).

use std::path::Path;

use openssl::asn1::{Asn1Integer, Asn1Object, Asn1OctetString, Asn1Time};
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private, Public};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509Builder, X509Extension, X509Name, X509NameRef, X509Req, X509};
use time::OffsetDateTime;

use super::model::{make_private_dir, write_private_atomic};
use super::SimulatorError;

/// Longest validity of a strict/multipurpose S/MIME certificate (SBR 6.3.2).
pub(crate) const MAX_VALIDITY_DAYS: i64 = 825;
/// `certificatePolicies` (RFC 5280 §4.2.1.4) holding the single CA/B Forum policy OID
/// 2.23.140.1.5.1.3, mailbox-validated strict (SBR 1.2, 7.1.6.1), DER-encoded by hand because
/// OpenSSL builds this extension from text only with a config database:
/// `SEQUENCE { SEQUENCE { OID 2.23.140.1.5.1.3 } }`.
const POLICIES_DER: [u8; 13] = [
    0x30, 0x0b, 0x30, 0x09, 0x06, 0x07, 0x67, 0x81, 0x0c, 0x01, 0x05, 0x01, 0x03,
];

/// Root and intermediate, with the intermediate's key for signing.
pub(crate) struct Ca {
    root_pem: String,
    inter: X509,
    inter_pem: String,
    inter_key: PKey<Private>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

fn ossl(what: &'static str) -> impl Fn(ErrorStack) -> SimulatorError {
    move |e| SimulatorError::Ca {
        what,
        reason: e.to_string(),
    }
}

/// The key of a CSR, as far as issuance policy cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Rsa { bits: u32 },
    Ec { curve: &'static str, bits: u32 },
}

/// What a CSR says, after its signature was checked.
#[derive(Debug, Clone)]
pub(crate) struct CsrInfo {
    /// Normalised PEM (64-column base64).
    pub pem: String,
    /// Every mailbox address in the CSR: subject CN, subject emailAddress, SAN rfc822Names.
    pub addresses: Vec<String>,
    pub key: KeyKind,
}

/// Why a CSR is refused; each maps to its own `EF…` code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CsrProblem {
    /// Not a PKCS#10 request in PEM (or bare base64 DER).
    Unparsable(String),
    /// The self-signature does not verify.
    BadSignature,
    /// Key type or size not allowed for S/MIME (SBR 6.1.5).
    KeyNotAllowed(String),
}

/// Parses a CSR the way a tolerant server does: PEM with any line breaks (the JS and PHP SDKs
/// send header, one base64 line and footer joined by CRLF, `autodns-api.md` §2.4) or bare base64.
pub(crate) fn inspect_csr(text: &str) -> Result<CsrInfo, CsrProblem> {
    use base64::Engine as _;
    let body: String = text
        .replace("-----BEGIN CERTIFICATE REQUEST-----", "")
        .replace("-----END CERTIFICATE REQUEST-----", "")
        .replace("-----BEGIN NEW CERTIFICATE REQUEST-----", "")
        .replace("-----END NEW CERTIFICATE REQUEST-----", "")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if body.is_empty() {
        return Err(CsrProblem::Unparsable("the CSR is empty".into()));
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .map_err(|e| CsrProblem::Unparsable(format!("the CSR is not valid base64 PEM ({e})")))?;
    let req = X509Req::from_der(&der).map_err(|_| {
        CsrProblem::Unparsable("the CSR is not a PKCS#10 certificate request".into())
    })?;
    let key = req
        .public_key()
        .map_err(|_| CsrProblem::Unparsable("the CSR's public key cannot be read".into()))?;
    if !req.verify(&key).unwrap_or(false) {
        return Err(CsrProblem::BadSignature);
    }
    let kind = match key.id() {
        Id::RSA => {
            let bits = key.bits();
            if bits < 2048 || bits % 8 != 0 {
                return Err(CsrProblem::KeyNotAllowed(format!(
                    "RSA keys must have at least 2048 bits and a multiple of 8; this one has {bits}"
                )));
            }
            KeyKind::Rsa { bits }
        }
        Id::EC => {
            let curve = key
                .ec_key()
                .ok()
                .and_then(|k| k.group().curve_name())
                .and_then(|nid| match nid {
                    Nid::X9_62_PRIME256V1 => Some("P-256"),
                    Nid::SECP384R1 => Some("P-384"),
                    Nid::SECP521R1 => Some("P-521"),
                    _ => None,
                })
                .ok_or_else(|| {
                    CsrProblem::KeyNotAllowed("EC keys must use P-256, P-384 or P-521".into())
                })?;
            KeyKind::Ec {
                curve,
                bits: key.bits(),
            }
        }
        _ => {
            return Err(CsrProblem::KeyNotAllowed(
                "only RSA and ECDSA keys are accepted for S/MIME orders".into(),
            ))
        }
    };
    let mut addresses = Vec::new();
    for nid in [Nid::COMMONNAME, Nid::PKCS9_EMAILADDRESS] {
        for entry in req.subject_name().entries_by_nid(nid) {
            if let Ok(s) = entry.data().to_string() {
                addresses.push(s);
            }
        }
    }
    addresses.extend(csr_san_emails(&req));
    let pem = req
        .to_pem()
        .ok()
        .and_then(|p| String::from_utf8(p).ok())
        .ok_or_else(|| CsrProblem::Unparsable("the CSR cannot be re-encoded".into()))?;
    Ok(CsrInfo {
        pem,
        addresses,
        key: kind,
    })
}

/// The rfc822Name SANs requested in a CSR. The openssl crate decodes SANs only on certificates,
/// so the CSR's extensions are copied into an unsigned scratch certificate and read from there.
fn csr_san_emails(req: &X509Req) -> Vec<String> {
    let scratch = (|| {
        let exts = req.extensions().ok()?;
        let mut b = X509Builder::new().ok()?;
        for ext in exts {
            b.append_extension(ext).ok()?;
        }
        Some(b.build())
    })();
    scratch
        .and_then(|c| c.subject_alt_names())
        .map(|names| {
            names
                .iter()
                .filter_map(|n| n.email().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A freshly signed leaf.
#[derive(Debug, Clone)]
pub(crate) struct Issued {
    pub pem: String,
    /// Upper-case hex, as `serialNumber` is shown by AutoDNS.
    pub serial_hex: String,
    pub not_after: OffsetDateTime,
}

impl Ca {
    /// Loads the CA from `<dir>/ca/` or creates it there (or in memory when `dir` is `None`).
    pub fn load_or_create(dir: Option<&Path>, now: OffsetDateTime) -> Result<Ca, SimulatorError> {
        let Some(dir) = dir else {
            return Ca::generate(now);
        };
        let ca_dir = dir.join("ca");
        let files = ["root.pem", "intermediate.pem", "intermediate.key"].map(|f| ca_dir.join(f));
        if files.iter().all(|f| f.exists()) {
            let read = |p: &Path| {
                std::fs::read(p).map_err(|source| SimulatorError::Io {
                    path: p.to_path_buf(),
                    source,
                })
            };
            let root_pem = String::from_utf8_lossy(&read(&files[0])?).into_owned();
            let inter_pem = String::from_utf8_lossy(&read(&files[1])?).into_owned();
            let inter =
                X509::from_pem(inter_pem.as_bytes()).map_err(ossl("read intermediate.pem"))?;
            let inter_key = PKey::private_key_from_pem(&read(&files[2])?)
                .map_err(ossl("read intermediate.key"))?;
            X509::from_pem(root_pem.as_bytes()).map_err(ossl("read root.pem"))?;
            return Ok(Ca {
                root_pem,
                inter,
                inter_pem,
                inter_key,
            });
        }
        let (ca, root_key) = Ca::generate_with_root_key(now)?;
        make_private_dir(&ca_dir)?;
        let key_pem = |k: &PKey<Private>, what| k.private_key_to_pem_pkcs8().map_err(ossl(what));
        write_private_atomic(
            &ca_dir.join("root.key"),
            &key_pem(&root_key, "encode root key")?,
        )?;
        write_private_atomic(&files[0], ca.root_pem.as_bytes())?;
        write_private_atomic(&files[1], ca.inter_pem.as_bytes())?;
        write_private_atomic(
            &files[2],
            &key_pem(&ca.inter_key, "encode intermediate key")?,
        )?;
        Ok(ca)
    }

    fn generate(now: OffsetDateTime) -> Result<Ca, SimulatorError> {
        Ca::generate_with_root_key(now).map(|(ca, _)| ca)
    }

    fn generate_with_root_key(now: OffsetDateTime) -> Result<(Ca, PKey<Private>), SimulatorError> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(ossl("P-256 group"))?;
        let new_key = || -> Result<PKey<Private>, SimulatorError> {
            let ec = EcKey::generate(&group).map_err(ossl("generate CA key"))?;
            PKey::from_ec_key(ec).map_err(ossl("wrap CA key"))
        };
        let root_key = new_key()?;
        let inter_key = new_key()?;
        let root_name = ca_name("Simulator Root CA")?;
        let inter_name = ca_name("Simulator S/MIME Intermediate CA")?;
        let until = now + time::Duration::days(3652);
        let root = build_root(&root_name, &root_key, now, until)?;
        let inter = build_intermediate(&inter_name, &inter_key, &root, &root_key, now, until)?;
        let pem = |c: &X509| -> Result<String, SimulatorError> {
            let p = c.to_pem().map_err(ossl("encode CA certificate"))?;
            Ok(String::from_utf8_lossy(&p).into_owned())
        };
        let ca = Ca {
            root_pem: pem(&root)?,
            inter_pem: pem(&inter)?,
            inter,
            inter_key,
        };
        Ok((ca, root_key))
    }

    /// Intermediate and root PEM, in that order.
    pub fn chain_pem(&self) -> Vec<String> {
        vec![self.inter_pem.clone(), self.root_pem.clone()]
    }

    /// Signs `csr` for `address` with the mailbox-validated strict profile. Validity is
    /// `months` calendar months from `now`, capped at 825 days. `serial` must be 16 random bytes.
    pub fn issue(
        &self,
        csr_pem: &str,
        address: &str,
        months: i64,
        now: OffsetDateTime,
        serial: [u8; 16],
    ) -> Result<Issued, SimulatorError> {
        let req = X509Req::from_pem(csr_pem.as_bytes()).map_err(ossl("read stored CSR"))?;
        let key = req.public_key().map_err(ossl("CSR public key"))?;
        // notBefore is backdated an hour, as public CAs do, so a relying party whose clock lags
        // a little still accepts a fresh certificate; the 825-day cap counts from notBefore
        // because SBR 6.3.2 bounds the whole validity period.
        let not_before = now - time::Duration::hours(1);
        let not_after =
            add_months(now, months).min(not_before + time::Duration::days(MAX_VALIDITY_DAYS));

        let mut b = X509Builder::new().map_err(ossl("leaf builder"))?;
        b.set_version(2).map_err(ossl("version"))?;
        let mut serial = serial;
        serial[0] &= 0x7f; // positive INTEGER (RFC 5280 §4.1.2.2)
        serial[0] |= 0x01; // and never shorter than 16 bytes
        let bn = BigNum::from_slice(&serial).map_err(ossl("serial"))?;
        let serial_int = Asn1Integer::from_bn(&bn).map_err(ossl("serial"))?;
        b.set_serial_number(&serial_int).map_err(ossl("serial"))?;
        let subject = leaf_subject(address)?;
        b.set_subject_name(&subject).map_err(ossl("subject"))?;
        b.set_issuer_name(self.inter.subject_name())
            .map_err(ossl("issuer"))?;
        let nb = Asn1Time::from_unix(not_before.unix_timestamp()).map_err(ossl("notBefore"))?;
        let na = Asn1Time::from_unix(not_after.unix_timestamp()).map_err(ossl("notAfter"))?;
        b.set_not_before(&nb).map_err(ossl("notBefore"))?;
        b.set_not_after(&na).map_err(ossl("notAfter"))?;
        b.set_pubkey(&key).map_err(ossl("public key"))?;

        leaf_extensions(&mut b, &key, address, &self.inter)?;
        b.sign(&self.inter_key, MessageDigest::sha256())
            .map_err(ossl("sign leaf"))?;
        let cert = b.build();
        let pem = cert.to_pem().map_err(ossl("encode leaf"))?;
        Ok(Issued {
            pem: String::from_utf8_lossy(&pem).into_owned(),
            serial_hex: hex::encode_upper(serial),
            not_after,
        })
    }
}

/// `CN` and `emailAddress` of a mailbox certificate: the address.
fn leaf_subject(address: &str) -> Result<X509Name, SimulatorError> {
    let mut n = X509Name::builder().map_err(ossl("subject"))?;
    n.append_entry_by_nid(Nid::COMMONNAME, address)
        .map_err(ossl("subject CN"))?;
    n.append_entry_by_nid(Nid::PKCS9_EMAILADDRESS, address)
        .map_err(ossl("subject email"))?;
    Ok(n.build())
}

/// The strict mailbox-validated profile's extensions, in order: basic constraints, key usage
/// (by key type), emailProtection, the SAN with `address`, key identifiers and the policies.
fn leaf_extensions(
    b: &mut X509Builder,
    key: &PKey<Public>,
    address: &str,
    inter: &X509,
) -> Result<(), SimulatorError> {
    append(b, "bc", BasicConstraints::new().critical().build())?;
    let mut ku = KeyUsage::new();
    ku.critical().digital_signature();
    if key.id() == Id::RSA {
        ku.key_encipherment();
    } else {
        ku.key_agreement();
    }
    append(b, "ku", ku.build())?;
    append(b, "eku", ExtendedKeyUsage::new().email_protection().build())?;
    let san = SubjectAlternativeName::new()
        .email(address)
        .build(&b.x509v3_context(Some(inter), None));
    append(b, "san", san)?;
    append_key_identifiers(b, inter)?;
    let policies_oid = Asn1Object::from_str("2.5.29.32").map_err(ossl("certificatePolicies"))?;
    let policies_der =
        Asn1OctetString::new_from_bytes(&POLICIES_DER).map_err(ossl("certificatePolicies"))?;
    let policies = X509Extension::new_from_der(&policies_oid, false, &policies_der)
        .map_err(ossl("certificatePolicies"))?;
    b.append_extension(policies)
        .map_err(ossl("certificatePolicies"))?;
    Ok(())
}

/// The subject of a simulator CA: a marked-untrusted organisation and `cn`.
fn ca_name(cn: &str) -> Result<X509Name, SimulatorError> {
    let mut n = X509Name::builder().map_err(ossl("name"))?;
    n.append_entry_by_nid(
        Nid::ORGANIZATIONNAME,
        "smime-provisioner simulator (NOT TRUSTED)",
    )
    .map_err(ossl("name"))?;
    n.append_entry_by_nid(Nid::COMMONNAME, cn)
        .map_err(ossl("name"))?;
    Ok(n.build())
}

/// The self-signed root, valid from `now` to `until`.
fn build_root(
    root_name: &X509Name,
    root_key: &PKey<Private>,
    now: OffsetDateTime,
    until: OffsetDateTime,
) -> Result<X509, SimulatorError> {
    let mut b = X509Builder::new().map_err(ossl("root builder"))?;
    ca_common(&mut b, root_name, root_name, root_key, now, until)?;
    let bc = BasicConstraints::new().critical().ca().build();
    append(&mut b, "bc", bc)?;
    let ku = KeyUsage::new()
        .critical()
        .key_cert_sign()
        .crl_sign()
        .build();
    append(&mut b, "ku", ku)?;
    let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(None, None));
    append(&mut b, "ski", ski)?;
    b.sign(root_key, MessageDigest::sha256())
        .map_err(ossl("sign root"))?;
    Ok(b.build())
}

/// The S/MIME intermediate (path length 0, emailProtection), signed by the root.
fn build_intermediate(
    inter_name: &X509Name,
    inter_key: &PKey<Private>,
    root: &X509,
    root_key: &PKey<Private>,
    now: OffsetDateTime,
    until: OffsetDateTime,
) -> Result<X509, SimulatorError> {
    let mut b = X509Builder::new().map_err(ossl("intermediate builder"))?;
    ca_common(
        &mut b,
        inter_name,
        root.subject_name(),
        inter_key,
        now,
        until,
    )?;
    let bc = BasicConstraints::new().critical().ca().pathlen(0).build();
    append(&mut b, "bc", bc)?;
    let ku = KeyUsage::new()
        .critical()
        .digital_signature()
        .key_cert_sign()
        .crl_sign()
        .build();
    append(&mut b, "ku", ku)?;
    let eku = ExtendedKeyUsage::new().email_protection().build();
    append(&mut b, "eku", eku)?;
    append_key_identifiers(&mut b, root)?;
    b.sign(root_key, MessageDigest::sha256())
        .map_err(ossl("sign intermediate"))?;
    Ok(b.build())
}

/// Appends the extension a builder made (`built`), either failure reported as `what`.
fn append(
    b: &mut X509Builder,
    what: &'static str,
    built: Result<X509Extension, ErrorStack>,
) -> Result<(), SimulatorError> {
    b.append_extension(built.map_err(ossl(what))?)
        .map_err(ossl(what))
}

/// The subject key identifier, then the authority key identifier taken from `issuer`.
fn append_key_identifiers(b: &mut X509Builder, issuer: &X509) -> Result<(), SimulatorError> {
    let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(Some(issuer), None));
    append(b, "ski", ski)?;
    let aki = AuthorityKeyIdentifier::new()
        .keyid(true)
        .build(&b.x509v3_context(Some(issuer), None));
    append(b, "aki", aki)
}

fn ca_common(
    b: &mut X509Builder,
    subject: &X509NameRef,
    issuer: &X509NameRef,
    key: &PKey<Private>,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<(), SimulatorError> {
    b.set_version(2).map_err(ossl("version"))?;
    let mut serial = [0u8; 16];
    openssl::rand::rand_bytes(&mut serial).map_err(ossl("serial"))?;
    serial[0] &= 0x7f;
    let bn = BigNum::from_slice(&serial).map_err(ossl("serial"))?;
    let serial = Asn1Integer::from_bn(&bn).map_err(ossl("serial"))?;
    b.set_serial_number(&serial).map_err(ossl("serial"))?;
    b.set_subject_name(subject).map_err(ossl("subject"))?;
    b.set_issuer_name(issuer).map_err(ossl("issuer"))?;
    b.set_pubkey(key).map_err(ossl("public key"))?;
    // Backdated an hour so a client whose clock lags a little still accepts a fresh CA.
    let nb = Asn1Time::from_unix((from - time::Duration::hours(1)).unix_timestamp())
        .map_err(ossl("notBefore"))?;
    let na = Asn1Time::from_unix(to.unix_timestamp()).map_err(ossl("notAfter"))?;
    b.set_not_before(&nb).map_err(ossl("notBefore"))?;
    b.set_not_after(&na).map_err(ossl("notAfter"))?;
    Ok(())
}

/// `t` plus `months` calendar months, the day clamped to the target month's length.
pub(crate) fn add_months(t: OffsetDateTime, months: i64) -> OffsetDateTime {
    let total = i64::from(t.year()) * 12 + i64::from(u8::from(t.month())) - 1 + months;
    let year = i32::try_from(total.div_euclid(12))
        .unwrap_or(9999)
        .min(9999);
    let month = time::Month::try_from(u8::try_from(total.rem_euclid(12) + 1).unwrap_or(1))
        .unwrap_or(time::Month::January);
    let day = t.day().min(month.length(year));
    time::Date::from_calendar_date(year, month, day)
        .map(|d| t.replace_date(d))
        .unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn months_are_calendar_months_with_the_day_clamped() {
        assert_eq!(
            add_months(datetime!(2026-01-31 10:00 UTC), 1),
            datetime!(2026-02-28 10:00 UTC)
        );
        assert_eq!(
            add_months(datetime!(2026-11-29 0:00 UTC), 12),
            datetime!(2027-11-29 0:00 UTC)
        );
        assert_eq!(
            add_months(datetime!(2026-11-29 0:00 UTC), 36),
            datetime!(2029-11-29 0:00 UTC)
        );
    }

    #[test]
    fn garbage_is_not_a_csr() {
        assert!(matches!(
            inspect_csr("hello"),
            Err(CsrProblem::Unparsable(_))
        ));
        assert!(matches!(inspect_csr(""), Err(CsrProblem::Unparsable(_))));
        assert!(matches!(
            inspect_csr(
                "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----"
            ),
            Err(CsrProblem::Unparsable(_))
        ));
    }
}

#[cfg(test)]
mod issue_tests {
    use super::*;
    use openssl::x509::X509ReqBuilder;

    #[test]
    fn a_p256_csr_is_signed_with_the_subject_we_ask_for() {
        let now = OffsetDateTime::now_utc();
        let ca = Ca::load_or_create(None, now).unwrap();
        let g = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let key = PKey::from_ec_key(EcKey::generate(&g).unwrap()).unwrap();
        let mut n = X509Name::builder().unwrap();
        n.append_entry_by_nid(Nid::COMMONNAME, "a@example.com")
            .unwrap();
        let n = n.build();
        let mut b = X509ReqBuilder::new().unwrap();
        b.set_subject_name(&n).unwrap();
        b.set_pubkey(&key).unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        let pem = String::from_utf8(b.build().to_pem().unwrap()).unwrap();
        let info = inspect_csr(&pem).unwrap();
        assert_eq!(info.addresses, ["a@example.com"]);
        let issued = ca
            .issue(&info.pem, "a@example.com", 36, now, [7; 16])
            .unwrap();
        let cert = X509::from_pem(issued.pem.as_bytes()).unwrap();
        let not_before = now - time::Duration::hours(1);
        assert_eq!(
            issued.not_after,
            not_before + time::Duration::days(MAX_VALIDITY_DAYS),
            "825 days from the backdated notBefore"
        );
        let names = cert.subject_alt_names().unwrap();
        assert_eq!(names.get(0).and_then(|n| n.email()), Some("a@example.com"));
    }
}
