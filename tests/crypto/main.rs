//! Integration tests of the crypto module: what it makes (keys, CSRs, PKCS#12 bundles) is
//! accepted by the real consumers (OpenSSL, NSS, gpgsm), what a CA must not issue is refused,
//! and the key store keeps keys private and recoverable.

mod consumers;
mod keystore;
mod rejections;
