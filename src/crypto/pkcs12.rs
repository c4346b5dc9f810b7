//! Owns PKCS#12 bundles (RFC 7292): building them in a named profile and verifying, on the exact
//! bytes to be delivered, that they open with the password, hold the right key, certificate and
//! chain, and use the configured algorithms.
//!
//! Profiles (cert-manager's `keystore.go` names its encodings the same way; which mail clients
//! open which profile is tabled in `docs/crypto.md`):
//!
//! - `modern` (default): PBES2 (RFC 8018 §6.2) with PBKDF2-HMAC-SHA-256 and AES-256-CBC for both
//!   the key bag and the certificate bag; HMAC-SHA-256 integrity MAC.
//! - `compat`: `pbeWithSHAAnd3-KeyTripleDES-CBC` (RFC 7292 Appendix C) for both bags and a
//!   SHA-1 MAC, for Windows Server ≤ 2016, older macOS/iOS/Android and gpgsm 2.2. Never RC2: OpenSSL
//!   3 reads RC2 only with its legacy provider, and SOGo/Java refuse it.
//!
//! Iterations: 2048 (OpenSSL's `PKCS12_DEFAULT_ITER`) for key derivation and MAC. The password
//! already carries ≈ 119 bits (see `password.rs`), so more stretching adds no security that
//! matters, only import time on old phones.

use std::fmt;
use std::str::FromStr;

use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkcs12::Pkcs12;
use openssl::stack::Stack;
use openssl::x509::X509;

use super::certificate::leaf_and_chain;
use super::der::{self, oid_to_string, DerError, Reader};
use super::{CryptoError, KeyType, Password, PrivateKey};
use crate::mailbox::Address;

/// Iteration count for key derivation and the MAC (OpenSSL's default; see module comment).
const ITERATIONS: u32 = 2048;

/// Builds of one compat bundle before giving up on salts gpgsm 2.2 can use. A build trips it
/// with probability ≈ 1/64, so eight in a row (≈ 2⁻⁴⁸) means the salts are not random.
const MAX_BUILD_ATTEMPTS: u32 = 8;

/// A named PKCS#12 encoding. Config names: `modern`, `compat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Pkcs12Profile {
    #[default]
    Modern,
    Compat,
}

impl Pkcs12Profile {
    /// The config name.
    pub fn as_str(self) -> &'static str {
        match self {
            Pkcs12Profile::Modern => "modern",
            Pkcs12Profile::Compat => "compat",
        }
    }
}

impl fmt::Display for Pkcs12Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Pkcs12Profile {
    type Err = CryptoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "modern" => Ok(Pkcs12Profile::Modern),
            "compat" => Ok(Pkcs12Profile::Compat),
            _ => Err(CryptoError::UnknownName {
                what: "PKCS#12 profile",
                given: s.to_string(),
                valid: "modern, compat",
            }),
        }
    }
}

impl serde::Serialize for Pkcs12Profile {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Pkcs12Profile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What a verified bundle contains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleSummary {
    /// The profile its algorithms match.
    pub profile: Pkcs12Profile,
    /// The friendlyName attribute of the certificate bag (RFC 7292 §4.2), if any.
    pub friendly_name: Option<String>,
    /// SHA-256 of the end-entity certificate's DER, lower-case hex.
    pub leaf_sha256: String,
    /// Number of chain certificates beside the end-entity certificate.
    pub chain_len: usize,
    /// The key's type.
    pub key_type: KeyType,
    /// MAC iteration count.
    pub mac_iterations: u64,
}

/// Builds a password-protected PKCS#12 of `key`, the certificate and its chain, in `profile`,
/// with `friendly_name` as the friendlyName; then verifies the bytes (see [`verify_pkcs12`]) and
/// that they hold exactly this certificate, chain and name before returning them.
///
/// Refuses an empty chain: mail clients need the intermediate to build a path, so every bundle
/// carries the issuing chain.
pub fn build_pkcs12(
    key: &PrivateKey,
    leaf_pem: &str,
    chain_pem: &[String],
    friendly_name: &Address,
    password: &Password,
    profile: Pkcs12Profile,
) -> Result<Vec<u8>, CryptoError> {
    let (leaf, chain) = leaf_and_chain(leaf_pem, chain_pem)?;
    if chain.is_empty() {
        return Err(CryptoError::BadBundle(format!(
            "no issuing chain for {friendly_name}: the CA's answer held only the certificate, and \
             a bundle without its intermediate does not validate in mail clients"
        )));
    }
    let leaf_key = leaf
        .public_key()
        .map_err(CryptoError::openssl("reading a certificate key"))?;
    if !leaf_key.public_eq(key.pkey()) {
        return Err(super::CertificateRejected::KeyMismatch.into());
    }

    let ssl = CryptoError::openssl("building a PKCS#12 bundle");
    let mut ca = Stack::new().map_err(ssl)?;
    for c in &chain {
        ca.push(c.clone()).map_err(ssl)?;
    }
    let (bag_alg, mac_md) = match profile {
        Pkcs12Profile::Modern => (Nid::AES_256_CBC, MessageDigest::sha256()),
        Pkcs12Profile::Compat => (
            Nid::PBE_WITHSHA1AND3_KEY_TRIPLEDES_CBC,
            MessageDigest::sha1(),
        ),
    };
    let mut builder = Pkcs12::builder();
    builder
        // Address is ASCII atext with no NUL, which the crate's CString conversion requires.
        .name(friendly_name.as_str())
        .pkey(key.pkey())
        .cert(&leaf)
        .ca(ca)
        .key_algorithm(bag_alg)
        .cert_algorithm(bag_alg)
        .key_iter(ITERATIONS)
        .mac_iter(ITERATIONS)
        .mac_md(mac_md);
    // OpenSSL draws fresh salts on every build; a compat bundle whose salts would make gpgsm 2.2
    // derive a wrong key (see `pkcs12_kdf`) is simply built again.
    let mut attempts = 0;
    let der = loop {
        attempts += 1;
        let der = builder
            .build2(password.expose())
            .map_err(ssl)?
            .to_der()
            .map_err(ssl)?;
        if profile != Pkcs12Profile::Compat || !trips_gpgsm_kdf_defect(&der, password)? {
            break der;
        }
        if attempts == MAX_BUILD_ATTEMPTS {
            return Err(CryptoError::BadBundle(format!(
                "{attempts} compat bundles in a row had salts gpgsm 2.2 cannot derive keys from; \
                 the random number generator is suspect"
            )));
        }
        tracing::debug!(
            attempts,
            "rebuilding a compat bundle whose salt trips gpgsm 2.2"
        );
    };

    confirm_contents(&der, &leaf, chain.len(), friendly_name, password, profile)?;
    Ok(der)
}

/// Verifies freshly built bundle bytes (see [`verify_pkcs12`]) and that they hold exactly this
/// leaf, `chain_len` chain certificates and the friendly name.
fn confirm_contents(
    der: &[u8],
    leaf: &X509,
    chain_len: usize,
    friendly_name: &Address,
    password: &Password,
    profile: Pkcs12Profile,
) -> Result<(), CryptoError> {
    let ssl = CryptoError::openssl("building a PKCS#12 bundle");
    let summary = verify_pkcs12(der, password, profile)?;
    let leaf_sha256 = hex::encode(leaf.digest(MessageDigest::sha256()).map_err(ssl)?);
    if summary.leaf_sha256 != leaf_sha256 {
        return Err(CryptoError::BadBundle(
            "the bundle holds a different certificate".into(),
        ));
    }
    if summary.chain_len != chain_len {
        return Err(CryptoError::BadBundle(format!(
            "the bundle holds {} chain certificates, expected {}",
            summary.chain_len, chain_len
        )));
    }
    if summary.friendly_name.as_deref() != Some(friendly_name.as_str()) {
        return Err(CryptoError::BadBundle(
            "the friendly name was not set".into(),
        ));
    }
    Ok(())
}

/// Opens a bundle with `password` and checks it is deliverable: the MAC verifies, a key and a
/// certificate are present and match, at least one chain certificate is present, both bags are
/// encrypted, no RC2 anywhere, and the algorithms are those of `profile`.
pub fn verify_pkcs12(
    der: &[u8],
    password: &Password,
    profile: Pkcs12Profile,
) -> Result<BundleSummary, CryptoError> {
    let algs = inspect(der)
        .map_err(|e| CryptoError::BadBundle(format!("not a well-formed PKCS#12 file: {e}")))?;
    // Structural rules (no RC2, no unencrypted bag, one known profile) need no password.
    let found = algs.profile()?;

    let p12 = Pkcs12::from_der(der)
        .map_err(|e| CryptoError::BadBundle(format!("OpenSSL cannot read it: {e}")))?;
    let parsed = p12.parse2(password.expose()).map_err(|e| {
        let mac_failed = e
            .errors()
            .iter()
            .any(|err| err.reason() == Some("mac verify failure"));
        if mac_failed {
            CryptoError::WrongPassword
        } else {
            CryptoError::BadBundle(format!("OpenSSL cannot open it: {e}"))
        }
    })?;
    let pkey = parsed
        .pkey
        .ok_or_else(|| CryptoError::BadBundle("it holds no private key".into()))?;
    let cert = parsed
        .cert
        .ok_or_else(|| CryptoError::BadBundle("it holds no certificate for the key".into()))?;
    let chain_len = parsed.ca.as_ref().map_or(0, |s| s.len());
    let cert_key = cert
        .public_key()
        .map_err(CryptoError::openssl("reading a certificate key"))?;
    if !cert_key.public_eq(&pkey) {
        return Err(CryptoError::BadBundle(
            "its key does not match its certificate".into(),
        ));
    }
    if chain_len == 0 {
        return Err(CryptoError::BadBundle(
            "it holds no chain certificate".into(),
        ));
    }
    let key_type = PrivateKey::from_parts(pkey)?.key_type();

    if found != profile {
        return Err(CryptoError::BadBundle(format!(
            "its algorithms are those of the {found} profile, but {profile} is configured"
        )));
    }
    let friendly_name = cert
        .alias()
        .map(|a| String::from_utf8_lossy(a).into_owned());
    let leaf_sha256 = hex::encode(
        cert.digest(MessageDigest::sha256())
            .map_err(CryptoError::openssl("hashing a certificate"))?,
    );
    Ok(BundleSummary {
        profile: found,
        friendly_name,
        leaf_sha256,
        chain_len,
        key_type,
        mac_iterations: algs.mac_iterations,
    })
}

/// Whether gpgsm 2.2 would fail to open this bundle with the right password: some 3DES bag's salt
/// makes its flawed key derivation diverge from RFC 7292 (see `pkcs12_kdf`). Only `compat`
/// bundles use 3DES; a `modern` bundle answers `false`. [`build_pkcs12`] never returns a bundle
/// for which this is true.
pub fn trips_gpgsm_kdf_defect(der: &[u8], password: &Password) -> Result<bool, CryptoError> {
    let algs = inspect(der)
        .map_err(|e| CryptoError::BadBundle(format!("not a well-formed PKCS#12 file: {e}")))?;
    Ok(algs.pbe_3des.iter().any(|p| {
        super::pkcs12_kdf::gpgsm_derives_another_3des_key(password.expose(), &p.salt, p.iterations)
    }))
}

/// How one bag is protected.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BagEncryption {
    /// PBES2 with the PBKDF2 PRF and cipher OIDs (dotted).
    Pbes2 { prf: String, cipher: String },
    /// pbeWithSHAAnd3-KeyTripleDES-CBC.
    Pbe3Des,
    /// Anything else, by OID.
    Other(String),
}

/// The algorithms found in a PFX, without decrypting anything.
#[derive(Debug, Default)]
struct Algorithms {
    mac_oid: Option<String>,
    mac_iterations: u64,
    /// Shrouded key bags (RFC 7292 §4.2.2).
    key_bags: Vec<BagEncryption>,
    /// encryptedData content infos (which hold the certificate bags).
    encrypted_data: Vec<BagEncryption>,
    /// Unencrypted key or certificate bags found in plain `data`.
    plain_bags: Vec<&'static str>,
    /// Salt and iteration count of every 3DES-encrypted bag, key and certificates alike.
    pbe_3des: Vec<PbeParams>,
}

/// pkcs-12PbeParams (RFC 7292 Appendix C).
#[derive(Debug)]
struct PbeParams {
    salt: Vec<u8>,
    iterations: u64,
}

const OID_DATA: &str = "1.2.840.113549.1.7.1";
const OID_ENCRYPTED_DATA: &str = "1.2.840.113549.1.7.6";
const OID_KEY_BAG: &str = "1.2.840.113549.1.12.10.1.1";
const OID_SHROUDED_KEY_BAG: &str = "1.2.840.113549.1.12.10.1.2";
const OID_CERT_BAG: &str = "1.2.840.113549.1.12.10.1.3";
const OID_PBE_3DES: &str = "1.2.840.113549.1.12.1.3";
const OID_PBE_RC2_128: &str = "1.2.840.113549.1.12.1.5";
const OID_PBE_RC2_40: &str = "1.2.840.113549.1.12.1.6";
const OID_PBES2: &str = "1.2.840.113549.1.5.13";
const OID_PBKDF2: &str = "1.2.840.113549.1.5.12";
const OID_HMAC_SHA1: &str = "1.2.840.113549.2.7";
const OID_HMAC_SHA256: &str = "1.2.840.113549.2.9";
const OID_AES256_CBC: &str = "2.16.840.1.101.3.4.1.42";
const OID_SHA1: &str = "1.3.14.3.2.26";
const OID_SHA256: &str = "2.16.840.1.101.3.4.2.1";

impl Algorithms {
    /// Which profile these algorithms form, or why they form none we deliver.
    fn profile(&self) -> Result<Pkcs12Profile, CryptoError> {
        let bad = |m: String| Err(CryptoError::BadBundle(m));
        if let Some(plain) = self.plain_bags.first() {
            return bad(format!("it holds an unencrypted {plain}"));
        }
        if self.key_bags.is_empty() {
            return bad("it holds no encrypted key bag".into());
        }
        if self.encrypted_data.is_empty() {
            return bad("its certificates are not encrypted".into());
        }
        let all: Vec<&BagEncryption> = self
            .key_bags
            .iter()
            .chain(self.encrypted_data.iter())
            .collect();
        if let Some(BagEncryption::Other(oid)) = all.iter().find(
            |b| matches!(b, BagEncryption::Other(o) if o == OID_PBE_RC2_40 || o == OID_PBE_RC2_128),
        ) {
            return bad(format!(
                "it uses RC2 ({oid}), which OpenSSL 3 and many clients refuse"
            ));
        }
        let modern = BagEncryption::Pbes2 {
            prf: OID_HMAC_SHA256.into(),
            cipher: OID_AES256_CBC.into(),
        };
        let mac = self.mac_oid.as_deref();
        if all.iter().all(|b| **b == modern) && mac == Some(OID_SHA256) {
            return Ok(Pkcs12Profile::Modern);
        }
        if all.iter().all(|b| **b == BagEncryption::Pbe3Des) && mac == Some(OID_SHA1) {
            return Ok(Pkcs12Profile::Compat);
        }
        bad(format!(
            "its algorithms match no profile (bags: {all:?}, MAC digest: {})",
            mac.unwrap_or("none")
        ))
    }
}

/// Walks PFX → AuthenticatedSafe → ContentInfo → SafeBag (RFC 7292 §4, §4.1, §4.2) and records
/// the algorithm identifiers.
fn inspect(der: &[u8]) -> Result<Algorithms, DerError> {
    let mut algs = Algorithms::default();
    let mut top = Reader::new(der);
    let mut pfx = Reader::new(top.expect(der::TAG_SEQUENCE, "PFX is not a SEQUENCE")?);
    if !top.is_empty() {
        return Err(DerError("bytes after the PFX"));
    }
    let version = der::small_uint(pfx.expect(der::TAG_INTEGER, "PFX version missing")?)?;
    if version != 3 {
        return Err(DerError("PFX version is not 3"));
    }
    let mut auth_safe = Reader::new(pfx.expect(der::TAG_SEQUENCE, "authSafe missing")?);
    if oid_to_string(auth_safe.expect(der::TAG_OID, "authSafe contentType missing")?) != OID_DATA {
        return Err(DerError(
            "authSafe is not id-data (public-key integrity mode is not used)",
        ));
    }
    let octets = explicit_octets(&mut auth_safe)?;
    let mut safes = Reader::new(
        Reader::new(octets).expect(der::TAG_SEQUENCE, "AuthenticatedSafe is not a SEQUENCE")?,
    );
    while !safes.is_empty() {
        let mut ci = Reader::new(safes.expect(der::TAG_SEQUENCE, "ContentInfo")?);
        let ctype = oid_to_string(ci.expect(der::TAG_OID, "ContentInfo contentType")?);
        if ctype == OID_DATA {
            let contents = explicit_octets(&mut ci)?;
            read_safe_contents(contents, &mut algs)?;
        } else if ctype == OID_ENCRYPTED_DATA {
            let mut wrapper = Reader::new(ci.expect(der::TAG_CTX0_CONSTRUCTED, "[0] content")?);
            let mut enc = Reader::new(wrapper.expect(der::TAG_SEQUENCE, "EncryptedData")?);
            enc.expect(der::TAG_INTEGER, "EncryptedData version")?;
            let mut eci = Reader::new(enc.expect(der::TAG_SEQUENCE, "EncryptedContentInfo")?);
            eci.expect(der::TAG_OID, "EncryptedContentInfo contentType")?;
            let alg = eci.expect(der::TAG_SEQUENCE, "contentEncryptionAlgorithm")?;
            let enc = bag_encryption(alg, &mut algs.pbe_3des)?;
            algs.encrypted_data.push(enc);
        } else {
            return Err(DerError(
                "AuthenticatedSafe holds an unsupported content type",
            ));
        }
    }
    if let Some(mac_data) = pfx.optional(der::TAG_SEQUENCE)? {
        let mut mac = Reader::new(mac_data);
        let mut digest_info = Reader::new(mac.expect(der::TAG_SEQUENCE, "MAC DigestInfo")?);
        let mut alg = Reader::new(digest_info.expect(der::TAG_SEQUENCE, "MAC algorithm")?);
        algs.mac_oid = Some(oid_to_string(
            alg.expect(der::TAG_OID, "MAC algorithm OID")?,
        ));
        mac.expect(der::TAG_OCTET_STRING, "MAC salt")?;
        // iterations INTEGER DEFAULT 1 (RFC 7292 §4).
        algs.mac_iterations = match mac.optional(der::TAG_INTEGER)? {
            Some(n) => der::small_uint(n)?,
            None => 1,
        };
    }
    Ok(algs)
}

/// `[0] EXPLICIT OCTET STRING` of an id-data ContentInfo.
fn explicit_octets<'a>(ci: &mut Reader<'a>) -> Result<&'a [u8], DerError> {
    let inner = ci.expect(der::TAG_CTX0_CONSTRUCTED, "[0] content missing")?;
    Reader::new(inner).expect(
        der::TAG_OCTET_STRING,
        "id-data content is not an OCTET STRING",
    )
}

fn read_safe_contents(contents: &[u8], algs: &mut Algorithms) -> Result<(), DerError> {
    let mut bags = Reader::new(Reader::new(contents).expect(der::TAG_SEQUENCE, "SafeContents")?);
    while !bags.is_empty() {
        let mut bag = Reader::new(bags.expect(der::TAG_SEQUENCE, "SafeBag")?);
        let bag_id = oid_to_string(bag.expect(der::TAG_OID, "SafeBag bagId")?);
        match bag_id.as_str() {
            OID_SHROUDED_KEY_BAG => {
                let value = bag.expect(der::TAG_CTX0_CONSTRUCTED, "SafeBag bagValue")?;
                let mut epki = Reader::new(
                    Reader::new(value).expect(der::TAG_SEQUENCE, "EncryptedPrivateKeyInfo")?,
                );
                let alg = epki.expect(der::TAG_SEQUENCE, "EncryptedPrivateKeyInfo algorithm")?;
                let enc = bag_encryption(alg, &mut algs.pbe_3des)?;
                algs.key_bags.push(enc);
            }
            OID_KEY_BAG => algs.plain_bags.push("private key"),
            OID_CERT_BAG => algs.plain_bags.push("certificate"),
            _ => {}
        }
    }
    Ok(())
}

/// Classifies an encryption AlgorithmIdentifier's content; a 3DES bag's parameters are added to
/// `pbe_3des`.
fn bag_encryption(alg_id: &[u8], pbe_3des: &mut Vec<PbeParams>) -> Result<BagEncryption, DerError> {
    let mut alg = Reader::new(alg_id);
    let oid = oid_to_string(alg.expect(der::TAG_OID, "encryption algorithm OID")?);
    match oid.as_str() {
        OID_PBE_3DES => {
            let mut params = Reader::new(alg.expect(der::TAG_SEQUENCE, "pkcs-12PbeParams")?);
            let salt = params.expect(der::TAG_OCTET_STRING, "PBE salt")?.to_vec();
            let iterations = der::small_uint(params.expect(der::TAG_INTEGER, "PBE iterations")?)?;
            pbe_3des.push(PbeParams { salt, iterations });
            Ok(BagEncryption::Pbe3Des)
        }
        OID_PBES2 => {
            // PBES2-params (RFC 8018 §A.4): keyDerivationFunc, encryptionScheme.
            let mut params = Reader::new(alg.expect(der::TAG_SEQUENCE, "PBES2-params")?);
            let mut kdf = Reader::new(params.expect(der::TAG_SEQUENCE, "keyDerivationFunc")?);
            if oid_to_string(kdf.expect(der::TAG_OID, "KDF OID")?) != OID_PBKDF2 {
                return Ok(BagEncryption::Other(format!(
                    "{OID_PBES2} with a KDF other than PBKDF2"
                )));
            }
            // PBKDF2-params (RFC 8018 §A.2): salt, iterationCount, keyLength?, prf DEFAULT
            // hmacWithSHA1.
            let mut kp = Reader::new(kdf.expect(der::TAG_SEQUENCE, "PBKDF2-params")?);
            kp.expect(der::TAG_OCTET_STRING, "PBKDF2 salt")?;
            kp.expect(der::TAG_INTEGER, "PBKDF2 iterationCount")?;
            kp.optional(der::TAG_INTEGER)?;
            let prf = match kp.optional(der::TAG_SEQUENCE)? {
                Some(p) => oid_to_string(Reader::new(p).expect(der::TAG_OID, "PRF OID")?),
                None => OID_HMAC_SHA1.to_string(),
            };
            let mut scheme = Reader::new(params.expect(der::TAG_SEQUENCE, "encryptionScheme")?);
            let cipher = oid_to_string(scheme.expect(der::TAG_OID, "cipher OID")?);
            Ok(BagEncryption::Pbes2 { prf, cipher })
        }
        _ => Ok(BagEncryption::Other(oid)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names_round_trip_and_modern_is_the_default() {
        for p in [Pkcs12Profile::Modern, Pkcs12Profile::Compat] {
            assert_eq!(p.to_string().parse::<Pkcs12Profile>().unwrap(), p);
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(serde_json::from_str::<Pkcs12Profile>(&json).unwrap(), p);
        }
        assert_eq!(Pkcs12Profile::default(), Pkcs12Profile::Modern);
        let err = "legacy".parse::<Pkcs12Profile>().unwrap_err().to_string();
        assert!(err.contains("modern, compat"), "{err}");
    }

    #[test]
    fn garbage_and_truncated_bytes_are_a_bad_bundle_not_a_panic() {
        let pw = Password::from_secret(crate::secret::Secret::new("x".into())).unwrap();
        for bad in [
            &b""[..],
            b"garbage",
            &[0x30, 0x03, 0x02, 0x01, 0x03],
            &[0x30, 0x82, 0xFF],
        ] {
            let err = verify_pkcs12(bad, &pw, Pkcs12Profile::Modern).unwrap_err();
            assert_eq!(err.code(), "bad-bundle", "{err}");
        }
    }
}
