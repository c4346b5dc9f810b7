//! Owns the checks on what the CA returns, run before a certificate is stored, bundled or mailed:
//! it is accepted for a mailbox only if a mail client would accept it as that mailbox's signing
//! and encryption certificate. In order (the first failure is reported):
//!
//! 1. it names exactly this address (S/MIME BR §7.1.4.2.1, RFC 5280 §7.5);
//! 2. it is an end-entity certificate: basicConstraints cA is not TRUE (S/MIME BR §7.1.2.3 d);
//! 3. its extended key usage holds emailProtection and none of serverAuth, codeSigning,
//!    timeStamping, anyExtendedKeyUsage (S/MIME BR §1.1, §7.1.2.3 f);
//! 4. it certifies exactly the key we generated;
//! 5. its key usage allows signing *and* receiving encrypted mail with that key — the "dual use"
//!    rows of S/MIME BR §7.1.2.3 e — and grants no CA powers;
//! 6. it is valid at the caller's `now` (from the injected clock) and not longer than §6.3.2
//!    allows;
//! 7. a chain, when present, links: each certificate is signed by the next one's key, every
//!    chain certificate is a CA valid at `now`, and OpenSSL's own path validation (S/MIME
//!    purpose, the top chain certificate as the only trust anchor) accepts the whole path.
//!
//! The usage checks (3, 5) live in `usage.rs`, the chain checks (7) in `chain.rs`.
//!
//! Every refusal is a [`CertificateRejected`] that names its reason and stable `code()`.
//!
//! Input tolerance, because AutoDNS answers vary: the leaf and chain arrive as PEM strings; a
//! chain entry may hold several certificates concatenated, or the whole chain may be empty. A
//! leaf string that holds more than one certificate is read as leaf first, chain after.

use openssl::asn1::{Asn1Time, Asn1TimeRef};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::x509::{X509NameRef, X509Ref, X509};
use time::{Duration, OffsetDateTime};

use super::der::{self, Reader};
use super::PrivateKey;
use crate::mailbox::Address;

mod chain;
mod usage;

#[cfg(test)]
use chain::basic_constraints_ca;
use chain::{check_chain, is_ca};
use usage::{check_extended_key_usage, check_key_usage};

/// Longest validity we accept: S/MIME BR §6.3.2 caps Strict and Multipurpose certificates at
/// 825 days. Anything longer is not a certificate the CA may issue, so something is wrong.
pub const MAX_VALIDITY_DAYS: i64 = 825;

/// How far in the future a not-before (of the certificate or a chain certificate) may lie before
/// we refuse it. Mail clients allow none (RFC 5280 §6.1.3 (a)(2): the current time must lie in
/// the validity period), but NTP-synchronised hosts and CAs still differ by seconds, and a host
/// drifting a few minutes should not stall issuance. More would let us mail a bundle that the
/// user's client calls "not yet valid". Refusing costs little: a not-yet-valid certificate is a
/// transient rejection, so the pipeline checks the same certificate again later.
pub const NOT_BEFORE_SKEW: Duration = Duration::minutes(5);

/// Facts about an accepted certificate, for the store, `status` and the delivery mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// Serial number, lower-case hex without separators.
    pub serial_hex: String,
    /// SHA-256 of the certificate's DER, lower-case hex without separators.
    pub sha256_fingerprint: String,
    /// The rfc822Name that matched the address, as the certificate spells it.
    pub subject_email: String,
    /// The issuer's distinguished name, e.g. `C=BE, O=GlobalSign nv-sa, CN=...`.
    pub issuer: String,
}

/// Why a certificate from the CA is refused. Messages never include key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateRejected {
    /// No certificate at all where one was required.
    #[error("the CA's answer holds no {what}")]
    Missing { what: String },
    /// Truncated or garbage PEM/DER.
    #[error("{what} is not a readable PEM certificate (truncated or garbled?): {detail}")]
    Malformed { what: String, detail: String },
    /// The certificate names another mailbox.
    #[error(
        "the certificate is not for {expected}: its rfc822Name entries are [{found}]",
        found = found.join(", ")
    )]
    AddressMismatch {
        expected: String,
        found: Vec<String>,
    },
    /// No extended key usage emailProtection (S/MIME BR §7.1.2.3 f).
    #[error("the certificate is not an S/MIME certificate: {detail}")]
    NotForEmail { detail: String },
    /// The leaf says basicConstraints cA=TRUE (S/MIME BR §7.1.2.3 d forbids it).
    #[error(
        "the certificate is a CA certificate (basicConstraints cA=TRUE), not a mailbox \
         certificate; the S/MIME Baseline Requirements (§7.1.2.3 d) forbid that, so ask the CA \
         to reissue it"
    )]
    IsCa,
    /// emailProtection is there, but so is a purpose an S/MIME certificate must not carry.
    #[error(
        "the certificate's extended key usage also allows {purposes}, which the S/MIME Baseline \
         Requirements (§7.1.2.3 f) forbid in a mailbox certificate; ask the CA to reissue it",
        purposes = purposes.join(", ")
    )]
    ForbiddenExtendedKeyUsage { purposes: Vec<String> },
    /// The key usage does not let the mailbox both sign and receive encrypted mail with its key,
    /// or grants CA powers (S/MIME BR §7.1.2.3 e).
    #[error("the certificate's key usage does not fit a mailbox certificate: {detail}")]
    WrongKeyUsage { detail: String },
    /// The certificate certifies a different public key than ours.
    #[error(
        "the certificate's public key is not the key we generated for this order (a certificate \
         for another CSR?)"
    )]
    KeyMismatch,
    #[error("the certificate expired at {not_after}")]
    Expired { not_after: String },
    #[error(
        "the certificate becomes valid only at {not_before}, more than {skew} minutes from now \
         (is this host's clock right?)",
        skew = NOT_BEFORE_SKEW.whole_minutes()
    )]
    NotYetValid { not_before: String },
    #[error("the certificate's validity ends ({not_after}) before it begins ({not_before})")]
    ValidityInverted {
        not_before: String,
        not_after: String,
    },
    #[error(
        "the certificate is valid for {days} days, more than the {MAX_VALIDITY_DAYS} the S/MIME \
         Baseline Requirements (§6.3.2) allow"
    )]
    ValidityTooLong { days: i64 },
    /// The chain parses but does not link: no chain certificate's key signed the leaf, or a
    /// chain certificate is not signed by any other's key.
    #[error("the chain does not belong to the certificate: {detail}")]
    ChainMismatch { detail: String },
    /// A chain certificate is not a CA (basicConstraints cA is not TRUE; RFC 5280 §4.2.1.9).
    #[error(
        "the chain certificate \"{subject}\" is not a CA certificate (basicConstraints cA is not \
         TRUE), so mail clients will not accept it as an issuer"
    )]
    ChainNotCa { subject: String },
    #[error(
        "the chain certificate \"{subject}\" expired at {not_after} (an outdated chain from the \
         CA, or a wrong clock on this host; AutoDNS support can supply the current chain)"
    )]
    ChainExpired { subject: String, not_after: String },
    #[error(
        "the chain certificate \"{subject}\" becomes valid only at {not_before}, more than \
         {skew} minutes from now (is this host's clock right?)",
        skew = NOT_BEFORE_SKEW.whole_minutes()
    )]
    ChainNotYetValid { subject: String, not_before: String },
    /// OpenSSL's path validation refused the linked chain for a reason the checks above do not
    /// name (path length, key usage or extended key usage of a CA, unknown critical extension).
    #[error(
        "mail clients would not accept the chain: OpenSSL's path validation fails at \
         \"{subject}\": {reason}"
    )]
    ChainRejected { subject: String, reason: String },
    /// OpenSSL failed on input it had already parsed (library failure).
    #[error("the certificate could not be examined: {detail}")]
    Unexaminable { detail: String },
}

impl CertificateRejected {
    /// A stable kebab-case name for logs, the store and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            CertificateRejected::Missing { .. } => "certificate-missing",
            CertificateRejected::Malformed { .. } => "certificate-malformed",
            CertificateRejected::AddressMismatch { .. } => "certificate-address-mismatch",
            CertificateRejected::NotForEmail { .. } => "certificate-not-for-email",
            CertificateRejected::IsCa => "certificate-is-ca",
            CertificateRejected::ForbiddenExtendedKeyUsage { .. } => "certificate-forbidden-eku",
            CertificateRejected::WrongKeyUsage { .. } => "certificate-key-usage",
            CertificateRejected::KeyMismatch => "certificate-key-mismatch",
            CertificateRejected::Expired { .. } => "certificate-expired",
            CertificateRejected::NotYetValid { .. } => "certificate-not-yet-valid",
            CertificateRejected::ValidityInverted { .. } => "certificate-validity-inverted",
            CertificateRejected::ValidityTooLong { .. } => "certificate-validity-too-long",
            CertificateRejected::ChainMismatch { .. } => "certificate-chain-mismatch",
            CertificateRejected::ChainNotCa { .. } => "certificate-chain-not-ca",
            CertificateRejected::ChainExpired { .. } => "certificate-chain-expired",
            CertificateRejected::ChainNotYetValid { .. } => "certificate-chain-not-yet-valid",
            CertificateRejected::ChainRejected { .. } => "certificate-chain-rejected",
            CertificateRejected::Unexaminable { .. } => "certificate-unexaminable",
        }
    }

    /// True when fetching the certificate again (or later) may give an acceptable answer: a
    /// truncated or missing download, or a not-before (of the certificate or a chain certificate)
    /// just beyond our clock. False when the certificate itself is wrong and needs a person (or a
    /// new order).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            CertificateRejected::Missing { .. }
                | CertificateRejected::Malformed { .. }
                | CertificateRejected::NotYetValid { .. }
                | CertificateRejected::ChainNotYetValid { .. }
                | CertificateRejected::Unexaminable { .. }
        )
    }
}

/// Checks the CA's answer for `address` and our `key` at `now`; see the module comment.
pub fn check_certificate(
    leaf_pem: &str,
    chain_pem: &[String],
    key: &PrivateKey,
    address: &Address,
    now: OffsetDateTime,
) -> Result<CertificateInfo, CertificateRejected> {
    let (leaf, chain) = leaf_and_chain(leaf_pem, chain_pem)?;
    let unexaminable = |e: openssl::error::ErrorStack| CertificateRejected::Unexaminable {
        detail: e.to_string(),
    };

    let subject_email = matching_email(&leaf, address)?;

    if is_ca(&leaf)? {
        return Err(CertificateRejected::IsCa);
    }
    check_extended_key_usage(&leaf)?;

    let cert_key = leaf.public_key().map_err(unexaminable)?;
    if !cert_key.public_eq(key.pkey()) {
        return Err(CertificateRejected::KeyMismatch);
    }
    // After the key match, so the key type we judge the key usage by is the certificate's too.
    check_key_usage(&leaf, key.key_type())?;

    let not_before = asn1_to_offset(leaf.not_before()).map_err(unexaminable)?;
    let not_after = asn1_to_offset(leaf.not_after()).map_err(unexaminable)?;
    if not_after <= not_before {
        return Err(CertificateRejected::ValidityInverted {
            not_before: rfc3339(not_before),
            not_after: rfc3339(not_after),
        });
    }
    if (not_after - not_before) > Duration::days(MAX_VALIDITY_DAYS) {
        return Err(CertificateRejected::ValidityTooLong {
            days: (not_after - not_before).whole_days(),
        });
    }
    if now >= not_after {
        return Err(CertificateRejected::Expired {
            not_after: rfc3339(not_after),
        });
    }
    if not_before > now + NOT_BEFORE_SKEW {
        return Err(CertificateRejected::NotYetValid {
            not_before: rfc3339(not_before),
        });
    }

    check_chain(&leaf, &chain, now)?;

    let serial_hex = leaf
        .serial_number()
        .to_bn()
        .and_then(|bn| bn.to_hex_str().map(|h| h.to_ascii_lowercase()))
        .map_err(unexaminable)?;
    let sha256_fingerprint =
        hex::encode(leaf.digest(MessageDigest::sha256()).map_err(unexaminable)?);
    Ok(CertificateInfo {
        not_before,
        not_after,
        serial_hex,
        sha256_fingerprint,
        subject_email,
        issuer: name_to_string(leaf.issuer_name()),
    })
}

/// Splits PEM strings into one PEM string per certificate (normalised by OpenSSL), tolerating
/// concatenated certificates and empty strings. Garbage or truncated PEM is an error.
pub fn split_certificates(pems: &[String]) -> Result<Vec<String>, CertificateRejected> {
    parse_certificates(pems, "the chain")?
        .iter()
        .map(|c| {
            c.to_pem()
                .map_err(|e| CertificateRejected::Unexaminable {
                    detail: e.to_string(),
                })
                .and_then(|p| {
                    String::from_utf8(p).map_err(|_| CertificateRejected::Unexaminable {
                        detail: "non-UTF-8 PEM".into(),
                    })
                })
        })
        .collect()
}

/// The DER encoding of the first certificate in `pem` (what `show --der` prints).
pub fn certificate_der(pem: &str) -> Result<Vec<u8>, CertificateRejected> {
    let certs = parse_certificates(&[pem.to_string()], "the certificate")?;
    let leaf = certs.first().ok_or_else(|| CertificateRejected::Missing {
        what: "certificate".into(),
    })?;
    leaf.to_der()
        .map_err(|e| CertificateRejected::Unexaminable {
            detail: e.to_string(),
        })
}

/// Parses every certificate in `pems`; `what` names the input in errors.
pub(crate) fn parse_certificates(
    pems: &[String],
    what: &str,
) -> Result<Vec<X509>, CertificateRejected> {
    let mut out = Vec::new();
    for (i, pem) in pems.iter().enumerate() {
        let label = if pems.len() == 1 {
            what.to_string()
        } else {
            format!("{what} (entry {})", i + 1)
        };
        if pem.trim().is_empty() {
            continue;
        }
        let certs =
            X509::stack_from_pem(pem.as_bytes()).map_err(|e| CertificateRejected::Malformed {
                what: label.clone(),
                detail: first_reason(&e),
            })?;
        if certs.is_empty() {
            return Err(CertificateRejected::Malformed {
                what: label,
                detail: "no -----BEGIN CERTIFICATE----- block found".into(),
            });
        }
        out.extend(certs);
    }
    Ok(out)
}

/// The leaf and the de-duplicated chain (without the leaf itself, should the CA repeat it).
pub(crate) fn leaf_and_chain(
    leaf_pem: &str,
    chain_pem: &[String],
) -> Result<(X509, Vec<X509>), CertificateRejected> {
    let mut from_leaf = parse_certificates(&[leaf_pem.to_string()], "the certificate")?;
    if from_leaf.is_empty() {
        return Err(CertificateRejected::Missing {
            what: "certificate".into(),
        });
    }
    let leaf = from_leaf.remove(0);
    let der_of = |c: &X509Ref| c.to_der().unwrap_or_default();
    let leaf_der = der_of(&leaf);
    let mut seen = vec![leaf_der];
    let mut chain = Vec::new();
    for c in from_leaf
        .into_iter()
        .chain(parse_certificates(chain_pem, "the chain")?)
    {
        let d = der_of(&c);
        if !seen.contains(&d) {
            seen.push(d);
            chain.push(c);
        }
    }
    Ok((leaf, chain))
}

/// Finds our address among the rfc822Names; refuses any other mailbox beside it, in the SAN or
/// in the subject's emailAddress (S/MIME BR §7.1.4.2.1: subject mailboxes repeat the SAN).
///
/// Comparison per RFC 5280 §7.5: the local part exactly, the domain case-insensitively.
fn matching_email(leaf: &X509Ref, address: &Address) -> Result<String, CertificateRejected> {
    let san: Vec<String> = leaf
        .subject_alt_names()
        .map(|names| {
            names
                .iter()
                .filter_map(|n| n.email().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let subject: Vec<String> = leaf
        .subject_name()
        .entries_by_nid(Nid::PKCS9_EMAILADDRESS)
        .map(|e| e.data().to_string().unwrap_or_default())
        .collect();
    let is_ours = |e: &str| match e.rsplit_once('@') {
        Some((local, domain)) => {
            local == address.local() && domain.eq_ignore_ascii_case(address.domain())
        }
        None => false,
    };
    let all_ours = san.iter().chain(subject.iter()).all(|e| is_ours(e));
    match san.iter().find(|e| is_ours(e)) {
        Some(ours) if all_ours => Ok(ours.clone()),
        _ => {
            let mut found = san;
            found.extend(
                subject
                    .into_iter()
                    .map(|e| format!("{e} (subject emailAddress)")),
            );
            Err(CertificateRejected::AddressMismatch {
                expected: address.to_string(),
                found,
            })
        }
    }
}

/// rfc822Names inside one DER `Extension` (RFC 5280 §4.1), if it is a subjectAltName
/// (§4.2.1.6); empty otherwise. Used on CSRs, whose extensions the crate does not decode.
pub(crate) fn rfc822_names_in_extension(ext_der: &[u8]) -> Vec<String> {
    const OID_SAN: &[u8] = &[0x55, 0x1D, 0x11]; // 2.5.29.17
    const TAG_RFC822: u8 = 0x81; // [1] IMPLICIT IA5String
    let parse = || -> Result<Vec<String>, der::DerError> {
        let mut outer = Reader::new(ext_der);
        let mut ext = Reader::new(outer.expect(der::TAG_SEQUENCE, "Extension")?);
        if ext.expect(der::TAG_OID, "extnID")? != OID_SAN {
            return Ok(Vec::new());
        }
        ext.optional(der::TAG_BOOLEAN)?;
        let value = ext.expect(der::TAG_OCTET_STRING, "extnValue")?;
        let mut names = Reader::new(Reader::new(value).expect(der::TAG_SEQUENCE, "GeneralNames")?);
        let mut out = Vec::new();
        while !names.is_empty() {
            let gn = names.any()?;
            if gn.tag == TAG_RFC822 {
                out.push(String::from_utf8_lossy(gn.value).into_owned());
            }
        }
        Ok(out)
    };
    parse().unwrap_or_default()
}

/// `C=BE, O=..., CN=...` in the certificate's own order.
fn name_to_string(name: &X509NameRef) -> String {
    name.entries()
        .map(|e| {
            let key = e.object().nid().short_name().unwrap_or("?");
            let value = e
                .data()
                .to_string()
                .unwrap_or_else(|_| "<unreadable>".into());
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn asn1_to_offset(t: &Asn1TimeRef) -> Result<OffsetDateTime, openssl::error::ErrorStack> {
    let epoch = Asn1Time::from_unix(0)?;
    let diff = epoch.diff(t)?;
    let secs = i64::from(diff.days) * 86_400 + i64::from(diff.secs);
    // Every Asn1Time (years 0000-9999) is within OffsetDateTime's range; the fallback is
    // unreachable but keeps this free of panics.
    Ok(OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH))
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// OpenSSL's innermost reason, e.g. "bad base64 decode", without file/line noise.
fn first_reason(e: &openssl::error::ErrorStack) -> String {
    e.errors()
        .iter()
        .map(|err| err.reason().unwrap_or("unknown error").to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests;
