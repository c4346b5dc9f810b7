//! Owns the usage checks on a leaf: its extended key usage (emailProtection, none of the
//! purposes a mailbox certificate must not carry) and its key usage (dual use for the key type,
//! no CA powers).

use openssl::x509::{X509ExtendedKeyUsage, X509KeyUsage, X509Ref};

use super::CertificateRejected;
use crate::crypto::KeyType;

/// S/MIME BR §1.1 and §7.1.2.3 f: emailProtection SHALL be present; serverAuth, codeSigning,
/// timeStamping and anyExtendedKeyUsage SHALL NOT. Other purposes (clientAuth, as GlobalSign's
/// PersonalSign carries) are allowed for Multipurpose certificates and pass.
///
/// `X509_get_extended_key_usage` reports only the purposes OpenSSL knows; the five that matter
/// here are among them. Absent EKU is refused too: §7.1.2.3 f makes the extension mandatory.
pub(super) fn check_extended_key_usage(leaf: &X509Ref) -> Result<(), CertificateRejected> {
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
pub(super) fn check_key_usage(
    leaf: &X509Ref,
    key_type: KeyType,
) -> Result<(), CertificateRejected> {
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
