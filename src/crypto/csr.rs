//! Owns the certificate signing request for one mailbox (PKCS#10, RFC 2986).
//!
//! Content follows the S/MIME Baseline Requirements for mailbox-validated certificates
//! (§7.1.4.2.2–3: the subject holds only `commonName` and `emailAddress`, both the mailbox;
//! §7.1.4.2.1: the mailbox repeated as a SAN `rfc822Name`). The CA decides the final content;
//! the CSR asks for exactly what it may grant, so nothing is silently dropped or rewritten.
//!
//! "Faithfully": the built request is parsed back and its subject and SAN compared with the
//! address byte for byte before it is returned.

use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::stack::Stack;
use openssl::x509::extension::SubjectAlternativeName;
use openssl::x509::{X509NameBuilder, X509Req, X509ReqBuilder};

use super::{CryptoError, PrivateKey};
use crate::mailbox::Address;

/// `ub-common-name` (RFC 5280 Appendix A.1): a commonName holds at most 64 characters.
const MAX_COMMON_NAME: usize = 64;

/// Builds a PEM CSR for `address`, signed with `key` using SHA-256.
///
/// Refused (as [`CryptoError::AddressNotRepresentable`]): addresses longer than the 64
/// characters a commonName can hold, and anything that is not printable ASCII (an rfc822Name is
/// an IA5String, RFC 5280 §4.2.1.6; [`Address`] already rejects non-ASCII local parts and
/// IDNA-encodes domains).
pub fn build_csr(key: &PrivateKey, address: &Address) -> Result<String, CryptoError> {
    let addr = address.as_str();
    let refuse = |reason: String| CryptoError::AddressNotRepresentable {
        address: addr.to_string(),
        reason,
    };
    if addr.len() > MAX_COMMON_NAME {
        return Err(refuse(format!(
            "it is {} characters long and a certificate's common name holds at most \
             {MAX_COMMON_NAME} (RFC 5280 ub-common-name); S/MIME BR §7.1.4.2.2 requires the \
             common name to be the mailbox, so use a shorter address or alias",
            addr.len()
        )));
    }
    if !addr.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(refuse("it is not printable ASCII".into()));
    }

    let ssl = CryptoError::openssl("building a certificate request");
    let mut name = X509NameBuilder::new().map_err(ssl)?;
    name.append_entry_by_nid(Nid::COMMONNAME, addr)
        .map_err(ssl)?;
    name.append_entry_by_nid(Nid::PKCS9_EMAILADDRESS, addr)
        .map_err(ssl)?;
    let name = name.build();

    let mut req = X509ReqBuilder::new().map_err(ssl)?;
    // PKCS#10 version 1 is encoded as 0 (RFC 2986 §4.1).
    req.set_version(0).map_err(ssl)?;
    req.set_subject_name(&name).map_err(ssl)?;
    req.set_pubkey(key.pkey()).map_err(ssl)?;
    let san = SubjectAlternativeName::new()
        .email(addr)
        .build(&req.x509v3_context(None))
        .map_err(ssl)?;
    let mut exts = Stack::new().map_err(ssl)?;
    exts.push(san).map_err(ssl)?;
    req.add_extensions(&exts).map_err(ssl)?;
    req.sign(key.pkey(), MessageDigest::sha256()).map_err(ssl)?;
    let pem = req.build().to_pem().map_err(ssl)?;
    let pem =
        String::from_utf8(pem).map_err(|_| refuse("OpenSSL produced a non-UTF-8 PEM".into()))?;

    check_round_trip(&pem, key, addr).map_err(refuse)?;
    Ok(pem)
}

/// Parses the CSR back and checks it says exactly what we meant to ask for.
fn check_round_trip(pem: &str, key: &PrivateKey, addr: &str) -> Result<(), String> {
    let req =
        X509Req::from_pem(pem.as_bytes()).map_err(|e| format!("CSR does not re-parse: {e}"))?;
    let subject = req.subject_name();
    let entries: Vec<(Nid, String)> = subject
        .entries()
        .map(|e| {
            let text = e.data().to_string().unwrap_or_default();
            (e.object().nid(), text)
        })
        .collect();
    let expected = [
        (Nid::COMMONNAME, addr.to_string()),
        (Nid::PKCS9_EMAILADDRESS, addr.to_string()),
    ];
    if entries != expected {
        return Err("the subject did not survive encoding unchanged".into());
    }
    let sans: Vec<String> = req
        .extensions()
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|ext| ext.to_der().ok())
        .flat_map(|der| super::certificate::rfc822_names_in_extension(&der))
        .collect();
    if sans != [addr.to_string()] {
        return Err("the subjectAltName rfc822Name did not survive encoding unchanged".into());
    }
    match req.verify(key.pkey()) {
        Ok(true) => Ok(()),
        _ => Err("the CSR signature does not verify with the key".into()),
    }
}
