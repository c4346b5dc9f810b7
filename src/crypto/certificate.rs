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
//! Every refusal is a [`CertificateRejected`] that names its reason and stable `code()`.
//!
//! Input tolerance, because AutoDNS answers vary: the leaf and chain arrive as PEM strings; a
//! chain entry may hold several certificates concatenated, or the whole chain may be empty. A
//! leaf string that holds more than one certificate is read as leaf first, chain after.

use openssl::asn1::{Asn1Time, Asn1TimeRef};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyFlags;
use openssl::x509::{
    X509ExtendedKeyUsage, X509KeyUsage, X509NameRef, X509PurposeId, X509Ref, X509StoreContext, X509,
};
use time::{Duration, OffsetDateTime};

use super::der::{self, Reader};
use super::{KeyType, PrivateKey};
use crate::mailbox::Address;

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

/// S/MIME BR §1.1 and §7.1.2.3 f: emailProtection SHALL be present; serverAuth, codeSigning,
/// timeStamping and anyExtendedKeyUsage SHALL NOT. Other purposes (clientAuth, as GlobalSign's
/// PersonalSign carries) are allowed for Multipurpose certificates and pass.
///
/// `X509_get_extended_key_usage` reports only the purposes OpenSSL knows; the five that matter
/// here are among them. Absent EKU is refused too: §7.1.2.3 f makes the extension mandatory.
fn check_extended_key_usage(leaf: &X509Ref) -> Result<(), CertificateRejected> {
    let eku = match leaf.extended_key_usage() {
        Some(eku) if eku.contains(X509ExtendedKeyUsage::SMIME) => eku,
        Some(_) => {
            return Err(CertificateRejected::NotForEmail {
                detail: "its extended key usage does not include emailProtection".into(),
            })
        }
        None => {
            return Err(CertificateRejected::NotForEmail {
                detail: "it has no extended key usage extension".into(),
            })
        }
    };
    let forbidden: Vec<String> = [
        (X509ExtendedKeyUsage::SSL_SERVER, "serverAuth"),
        (X509ExtendedKeyUsage::CODE_SIGN, "codeSigning"),
        (X509ExtendedKeyUsage::TIMESTAMP, "timeStamping"),
        (X509ExtendedKeyUsage::ANYEKU, "anyExtendedKeyUsage"),
    ]
    .into_iter()
    .filter(|(flag, _)| eku.contains(*flag))
    .map(|(_, name)| name.to_string())
    .collect();
    if forbidden.is_empty() {
        Ok(())
    } else {
        Err(CertificateRejected::ForbiddenExtendedKeyUsage {
            purposes: forbidden,
        })
    }
}

/// S/MIME BR §7.1.2.3 e: keyUsage SHALL be present. The bundle is used both to sign and to
/// receive encrypted mail, so the certificate must be "dual use" in the BR's table: for
/// `rsaEncryption` digitalSignature and keyEncipherment; for `id-ecPublicKey` digitalSignature
/// and keyAgreement (an EC key cannot encipher; senders reach it by ECDH key agreement, RFC
/// 5753). The optional bits the table allows (nonRepudiation, dataEncipherment for RSA,
/// encipherOnly/decipherOnly for EC) pass. Of the bits the BR says SHALL NOT be set we refuse
/// keyCertSign and cRLSign: they give the mailbox key a CA's powers. (Other stray bits would
/// refuse a paid certificate over something no client acts on.)
fn check_key_usage(leaf: &X509Ref, key_type: KeyType) -> Result<(), CertificateRejected> {
    let Some(ku) = leaf.key_usage() else {
        return Err(CertificateRejected::WrongKeyUsage {
            detail: "it has no key usage extension, which S/MIME BR §7.1.2.3 e requires".into(),
        });
    };
    let (encrypt_bit, encrypt_need) = if key_type.is_rsa() {
        (
            X509KeyUsage::KEY_ENCIPHERMENT,
            "keyEncipherment (an RSA key needs it to receive encrypted mail)",
        )
    } else {
        (
            X509KeyUsage::KEY_AGREEMENT,
            "keyAgreement (an EC key needs it to receive encrypted mail)",
        )
    };
    let missing: Vec<&str> = [
        (
            X509KeyUsage::DIGITAL_SIGNATURE,
            "digitalSignature (needed to sign mail)",
        ),
        (encrypt_bit, encrypt_need),
    ]
    .into_iter()
    .filter(|(bit, _)| !ku.contains(*bit))
    .map(|(_, need)| need)
    .collect();
    if !missing.is_empty() {
        return Err(CertificateRejected::WrongKeyUsage {
            detail: format!(
                "it lacks {} (S/MIME BR §7.1.2.3 e, dual use)",
                missing.join(" and ")
            ),
        });
    }
    let ca_powers: Vec<&str> = [
        (X509KeyUsage::KEY_CERT_SIGN, "keyCertSign"),
        (X509KeyUsage::CRL_SIGN, "cRLSign"),
    ]
    .into_iter()
    .filter(|(bit, _)| ku.contains(*bit))
    .map(|(_, name)| name)
    .collect();
    if !ca_powers.is_empty() {
        return Err(CertificateRejected::WrongKeyUsage {
            detail: format!(
                "it grants {}, which only a CA key may hold (S/MIME BR §7.1.2.3 e: other bits \
                 SHALL NOT be set)",
                ca_powers.join(" and ")
            ),
        });
    }
    Ok(())
}

/// Checks that the chain links the way a mail client builds a path (RFC 5280 §6.1): starting at
/// the leaf, each certificate is signed by the key of another chain certificate, until none is
/// left. The chain may come in any order (AutoDNS gives intermediate then root, but nothing
/// promises it); every chain certificate must lie on that one path, be a CA and be valid at
/// `now`. Finally OpenSSL validates the path with the S/MIME purpose and the top certificate as
/// the only trust anchor, catching what a client's verifier checks beyond that (path length,
/// a CA's key usage and extended key usage, names, unknown critical extensions).
///
/// Trust in the top certificate is not judged here: the chain comes from the CA over an
/// authenticated connection, and clients decide trust from their own root stores.
fn check_chain(
    leaf: &X509Ref,
    chain: &[X509],
    now: OffsetDateTime,
) -> Result<(), CertificateRejected> {
    if chain.is_empty() {
        // AutoDNS may return no chain; bundling then fails with a clear "chain missing" error,
        // but the certificate itself is acceptable and worth storing.
        return Ok(());
    }
    let path = issuing_path(leaf, chain)?;
    let unexaminable = |e: openssl::error::ErrorStack| CertificateRejected::Unexaminable {
        detail: e.to_string(),
    };
    for ca in &path {
        let subject = name_to_string(ca.subject_name());
        if !is_ca(ca)? {
            return Err(CertificateRejected::ChainNotCa { subject });
        }
        let not_before = asn1_to_offset(ca.not_before()).map_err(unexaminable)?;
        let not_after = asn1_to_offset(ca.not_after()).map_err(unexaminable)?;
        if now >= not_after {
            return Err(CertificateRejected::ChainExpired {
                subject,
                not_after: rfc3339(not_after),
            });
        }
        if not_before > now + NOT_BEFORE_SKEW {
            return Err(CertificateRejected::ChainNotYetValid {
                subject,
                not_before: rfc3339(not_before),
            });
        }
    }
    verify_path_with_openssl(leaf, &path)
}

/// True when `parent`'s key verifies `child`'s signature: the link RFC 5280 §6.1.3 (a)(1)
/// requires. A key of another type or a malformed key simply does not verify.
fn signed_by(child: &X509Ref, parent: &X509Ref) -> bool {
    parent
        .public_key()
        .and_then(|k| child.verify(&k))
        .unwrap_or(false)
}

/// Orders the chain into the path leaf → issuer → issuer's issuer …; refuses a chain whose
/// first link or any later certificate does not fit.
fn issuing_path<'a>(
    leaf: &X509Ref,
    chain: &'a [X509],
) -> Result<Vec<&'a X509>, CertificateRejected> {
    let mut remaining: Vec<&X509> = chain.iter().collect();
    let mut path: Vec<&X509> = Vec::new();
    let mut current: &X509Ref = leaf;
    // Each round moves one certificate from `remaining` to `path`, so this ends.
    while let Some(i) = remaining.iter().position(|c| signed_by(current, c)) {
        let next = remaining.remove(i);
        path.push(next);
        current = next;
    }
    let subjects = |certs: &[&X509]| {
        certs
            .iter()
            .map(|c| format!("\"{}\"", name_to_string(c.subject_name())))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(top) = path.last() else {
        return Err(CertificateRejected::ChainMismatch {
            detail: format!(
                "no chain certificate is the issuer \"{}\" with a key that verifies the \
                 certificate's signature (chain subjects: [{}])",
                name_to_string(leaf.issuer_name()),
                subjects(&remaining)
            ),
        });
    };
    if !remaining.is_empty() {
        return Err(CertificateRejected::ChainMismatch {
            detail: format!(
                "the path from the certificate ends at \"{}\", which is signed by none of the \
                 other chain certificates' keys; [{}] do not belong to it (each chain \
                 certificate must be signed by the next one's key)",
                name_to_string(top.subject_name()),
                subjects(&remaining)
            ),
        });
    }
    Ok(path)
}

/// OpenSSL's `X509_verify_cert` over the linked path, as a mail client's verifier would run it:
/// purpose S/MIME signing (`X509_PURPOSE_SMIME_SIGN`, which checks emailProtection on the leaf
/// and on CAs that carry an EKU), the top certificate as the only trust anchor
/// (`X509_V_FLAG_PARTIAL_CHAIN`, so a chain ending at an intermediate works too), and no time
/// check (`X509_V_FLAG_NO_CHECK_TIME`): times were checked above against the injected clock with
/// our skew, while OpenSSL would read the system clock.
fn verify_path_with_openssl(leaf: &X509Ref, path: &[&X509]) -> Result<(), CertificateRejected> {
    let unexaminable = |e: openssl::error::ErrorStack| CertificateRejected::Unexaminable {
        detail: format!("OpenSSL could not run path validation: {e}"),
    };
    let Some(top) = path.last() else {
        return Ok(());
    };
    let mut store = X509StoreBuilder::new().map_err(unexaminable)?;
    store.add_cert((*top).clone()).map_err(unexaminable)?;
    store
        .set_flags(X509VerifyFlags::PARTIAL_CHAIN | X509VerifyFlags::NO_CHECK_TIME)
        .map_err(unexaminable)?;
    store
        .set_purpose(X509PurposeId::SMIME_SIGN)
        .map_err(unexaminable)?;
    let store = store.build();
    let mut untrusted = Stack::new().map_err(unexaminable)?;
    for c in path {
        untrusted.push((*c).clone()).map_err(unexaminable)?;
    }
    let mut ctx = X509StoreContext::new().map_err(unexaminable)?;
    let failure = ctx
        .init(&store, leaf, &untrusted, |c| {
            if c.verify_cert()? {
                return Ok(None);
            }
            let subject = c
                .current_cert()
                .map(|x| name_to_string(x.subject_name()))
                .unwrap_or_else(|| format!("chain depth {}", c.error_depth()));
            Ok(Some((subject, c.error().error_string().to_string())))
        })
        .map_err(unexaminable)?;
    match failure {
        None => Ok(()),
        Some((subject, reason)) => Err(CertificateRejected::ChainRejected { subject, reason }),
    }
}

/// Whether `cert` says basicConstraints cA=TRUE (RFC 5280 §4.2.1.9).
fn is_ca(cert: &X509Ref) -> Result<bool, CertificateRejected> {
    let der = cert
        .to_der()
        .map_err(|e| CertificateRejected::Unexaminable {
            detail: e.to_string(),
        })?;
    basic_constraints_ca(&der).map_err(|e| CertificateRejected::Unexaminable {
        detail: format!("its extensions could not be read: {e}"),
    })
}

/// Reads basicConstraints' cA from a certificate's DER (RFC 5280 §4.1, §4.2.1.9): true when an
/// instance of the extension says TRUE; false when it says FALSE, omits the field (DEFAULT
/// FALSE) or is absent. The `openssl` crate exposes only the path length, and guessing CA-ness
/// from that would call every CA without a path length a leaf.
pub(crate) fn basic_constraints_ca(cert_der: &[u8]) -> Result<bool, der::DerError> {
    const OID_BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1D, 0x13]; // 2.5.29.19
    const TAG_EXTENSIONS: u8 = 0xA3; // [3] EXPLICIT Extensions in TBSCertificate
    let mut cert = Reader::new(Reader::new(cert_der).expect(der::TAG_SEQUENCE, "Certificate")?);
    let mut tbs = Reader::new(cert.expect(der::TAG_SEQUENCE, "TBSCertificate")?);
    let mut ca = false;
    while !tbs.is_empty() {
        let field = tbs.any()?;
        if field.tag != TAG_EXTENSIONS {
            continue;
        }
        let mut exts =
            Reader::new(Reader::new(field.value).expect(der::TAG_SEQUENCE, "Extensions")?);
        while !exts.is_empty() {
            let mut ext = Reader::new(exts.expect(der::TAG_SEQUENCE, "Extension")?);
            if ext.expect(der::TAG_OID, "extnID")? != OID_BASIC_CONSTRAINTS {
                continue;
            }
            ext.optional(der::TAG_BOOLEAN)?; // critical
            let value = ext.expect(der::TAG_OCTET_STRING, "extnValue")?;
            let mut bc =
                Reader::new(Reader::new(value).expect(der::TAG_SEQUENCE, "BasicConstraints")?);
            if let Some(flag) = bc.optional(der::TAG_BOOLEAN)? {
                // DER encodes TRUE as 0xFF; BER allows any non-zero octet, and so do we.
                ca |= flag.iter().any(|&b| b != 0);
            }
        }
    }
    Ok(ca)
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
mod tests {
    use super::*;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::pkey::{PKey, Private};
    use openssl::x509::extension::BasicConstraints;
    use openssl::x509::X509Name;

    fn p256() -> PKey<Private> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("P-256");
        PKey::from_ec_key(EcKey::generate(&group).expect("EC key")).expect("PKey")
    }

    /// A self-signed certificate with the given basicConstraints (None: no extension).
    fn cert_with(bc: Option<BasicConstraints>) -> Vec<u8> {
        let key = p256();
        let mut name = X509Name::builder().expect("name");
        name.append_entry_by_nid(Nid::COMMONNAME, "t").expect("CN");
        let name = name.build();
        let mut b = X509::builder().expect("builder");
        b.set_version(2).expect("version");
        b.set_subject_name(&name).expect("subject");
        b.set_issuer_name(&name).expect("issuer");
        b.set_pubkey(&key).expect("key");
        b.set_not_before(&Asn1Time::from_unix(0).expect("t"))
            .expect("nb");
        b.set_not_after(&Asn1Time::days_from_now(1).expect("t"))
            .expect("na");
        if let Some(bc) = bc {
            b.append_extension(bc.build().expect("bc")).expect("bc");
        }
        b.sign(&key, MessageDigest::sha256()).expect("sign");
        b.build().to_der().expect("DER")
    }

    #[test]
    fn basic_constraints_ca_reads_true_false_and_absent() {
        let mut ca = BasicConstraints::new();
        ca.critical().ca().pathlen(0);
        assert_eq!(basic_constraints_ca(&cert_with(Some(ca))), Ok(true));
        let mut leaf = BasicConstraints::new();
        leaf.critical();
        assert_eq!(basic_constraints_ca(&cert_with(Some(leaf))), Ok(false));
        assert_eq!(basic_constraints_ca(&cert_with(None)), Ok(false));
    }

    #[test]
    fn every_prefix_of_a_certificate_fails_cleanly_when_reading_basic_constraints() {
        let mut ca = BasicConstraints::new();
        ca.ca();
        let der = cert_with(Some(ca));
        for cut in 0..der.len() {
            // The outer SEQUENCE's length always claims more than a strict prefix holds.
            assert!(basic_constraints_ca(&der[..cut]).is_err(), "prefix {cut}");
        }
        assert_eq!(basic_constraints_ca(&der), Ok(true));
        assert!(basic_constraints_ca(&[]).is_err());
        assert!(basic_constraints_ca(b"not DER at all").is_err());
    }
}
