//! Owns the chain checks: the certificates returned beside the leaf link into one path, each is a
//! CA valid at `now`, and OpenSSL's path validation with the S/MIME purpose accepts the path.
//! Also reads basicConstraints' cA from DER, which the `openssl` crate does not expose.

use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyFlags;
use openssl::x509::{X509PurposeId, X509Ref, X509StoreContext, X509};
use time::OffsetDateTime;

use super::{asn1_to_offset, name_to_string, rfc3339, CertificateRejected, NOT_BEFORE_SKEW};
use crate::crypto::der::{self, Reader};

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
pub(super) fn check_chain(
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
pub(super) fn is_ca(cert: &X509Ref) -> Result<bool, CertificateRejected> {
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
