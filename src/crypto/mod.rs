//! Owns every use of OpenSSL in the product: private keys, CSRs, checks on the certificates the CA
//! returns, PKCS#12 bundles in named profiles, bundle passwords, and keys at rest.
//!
//! Map of the module:
//!
//! - [`key`]: [`PrivateKey`] and [`KeyType`]; generation off the async runtime and across cores.
//! - [`csr`]: [`build_csr`] — the PKCS#10 request for one mailbox (S/MIME BR §7.1.4.2).
//! - [`certificate`]: [`check_certificate`] — what the CA returned is refused unless a mail
//!   client would accept it: an S/MIME end-entity certificate for this address and this key,
//!   with dual-use key usage, no forbidden purposes, valid now, and a chain that links.
//! - [`password`]: [`Password`], [`generate_password`], [`generate_download_password`].
//! - [`pkcs12`]: [`build_pkcs12`], [`verify_pkcs12`], [`Pkcs12Profile`].
//! - [`keystore`]: [`KeyStore`] — keys and bundles encrypted at rest under a key-encryption key.
//! - `der`: a small DER reader used to check the algorithms inside a PKCS#12 file and to read
//!   basicConstraints' cA flag, which the `openssl` crate does not expose.
//! - `pkcs12_kdf`: RFC 7292's key derivation, to keep `compat` bundles clear of a gpgsm 2.2 defect.
//!
//! Errors: [`CryptoError`] for operations, [`CertificateRejected`] for a CA answer we refuse,
//! [`KeyStoreError`] for storage. Each has a stable kebab-case `code()` for logs, store and metrics.

pub mod certificate;
pub mod csr;
mod der;
pub mod key;
pub mod keystore;
pub mod password;
pub mod pkcs12;
mod pkcs12_kdf;

pub use certificate::{
    certificate_der, check_certificate, split_certificates, CertificateInfo, CertificateRejected,
    MAX_VALIDITY_DAYS, NOT_BEFORE_SKEW,
};
pub use csr::build_csr;
pub use key::{
    generate_key_async, generate_keys_async, generate_keys_parallel, KeyType, PrivateKey,
};
pub use keystore::{KeyStore, KeyStoreError};
pub use password::{
    generate_download_password, generate_password, Password, DOWNLOAD_PASSWORD_LEN,
    PASSWORD_ALPHABET, PASSWORD_CHARS,
};
pub use pkcs12::{
    build_pkcs12, trips_gpgsm_kdf_defect, verify_pkcs12, BundleSummary, Pkcs12Profile,
};

use openssl::error::ErrorStack;

/// What went wrong in a crypto operation, classified for the caller's next decision.
///
/// Messages name the address or file concerned but never a key, password or bundle byte.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// OpenSSL could not generate a key (entropy or library failure; retrying may help).
    #[error("generating a {key_type} key failed: {source}")]
    KeyGeneration {
        key_type: KeyType,
        #[source]
        source: ErrorStack,
    },
    /// Bytes that should have been a private key in PEM were not.
    #[error("the private key could not be read: {0}")]
    BadKeyPem(String),
    /// A key that parses but is not one of the supported types.
    #[error("unsupported private key ({0}); supported key types: {list}", list = KeyType::ALL_NAMES)]
    UnsupportedKey(String),
    /// A string that is not a key type or profile name (config values).
    #[error("unknown {what} {given:?}; valid values: {valid}")]
    UnknownName {
        what: &'static str,
        given: String,
        valid: &'static str,
    },
    /// The address cannot be carried in a CSR exactly as it is.
    #[error("{address} cannot be put into a certificate request: {reason}")]
    AddressNotRepresentable { address: String, reason: String },
    /// Leaf or chain PEM is missing, truncated or not a certificate, or the certificate is not
    /// one we may bundle.
    #[error(transparent)]
    Certificate(#[from] CertificateRejected),
    /// The bundle's MAC did not verify under the given password.
    #[error("the PKCS#12 password is wrong (the bundle's integrity check failed with it)")]
    WrongPassword,
    /// The bundle parsed but breaks a rule (no chain, wrong algorithm, key/cert mismatch, ...).
    #[error("the PKCS#12 bundle is not acceptable: {0}")]
    BadBundle(String),
    /// A password that cannot protect a bundle (empty, NUL byte, ...).
    #[error("the bundle password is not usable: {0}")]
    BadPassword(&'static str),
    /// An OpenSSL call failed for reasons other than the input (library or memory failure).
    #[error("OpenSSL failed while {doing}: {source}")]
    OpenSsl {
        doing: &'static str,
        #[source]
        source: ErrorStack,
    },
    /// The blocking worker that ran the operation panicked or was cancelled.
    #[error("the background crypto task did not finish: {0}")]
    Task(String),
}

impl CryptoError {
    /// A stable kebab-case name for logs, the store and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            CryptoError::KeyGeneration { .. } => "key-generation-failed",
            CryptoError::BadKeyPem(_) => "bad-key-pem",
            CryptoError::UnsupportedKey(_) => "unsupported-key",
            CryptoError::UnknownName { .. } => "unknown-name",
            CryptoError::AddressNotRepresentable { .. } => "address-not-representable",
            CryptoError::Certificate(r) => r.code(),
            CryptoError::WrongPassword => "wrong-password",
            CryptoError::BadBundle(_) => "bad-bundle",
            CryptoError::BadPassword(_) => "bad-password",
            CryptoError::OpenSsl { .. } => "openssl-failure",
            CryptoError::Task(_) => "task-failed",
        }
    }

    /// True when repeating the same call may succeed (library hiccups, a re-fetched certificate
    /// that arrived truncated). False when the input itself is wrong and must change first.
    pub fn is_transient(&self) -> bool {
        match self {
            CryptoError::KeyGeneration { .. } | CryptoError::OpenSsl { .. } => true,
            CryptoError::Task(_) => true,
            CryptoError::Certificate(r) => r.is_transient(),
            _ => false,
        }
    }

    pub(crate) fn openssl(doing: &'static str) -> impl Fn(ErrorStack) -> CryptoError + Copy {
        move |source| CryptoError::OpenSsl { doing, source }
    }
}
