//! Owns private keys: the supported key types, generation (off the async runtime, and many at
//! once across all cores), PEM import/export, and the public half used to match certificates.
//!
//! Key types follow the S/MIME Baseline Requirements §6.1.5 (RSA ≥ 2048 and a multiple of 8;
//! ECDSA P-256/P-384). The default is RSA-3072: S/MIME keys decrypt archived mail for years, and
//! NIST SP 800-57 Pt. 1 Rev. 5 Table 2 rates RSA-2048 at 112 bits, RSA-3072 at 128 bits.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private};
use openssl::rsa::Rsa;

use super::CryptoError;
use crate::secret::Secret;

/// The key algorithms a mailbox key can use. Config names: `rsa-2048`, `rsa-3072`, `rsa-4096`,
/// `ec-p256`, `ec-p384`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KeyType {
    Rsa2048,
    #[default]
    Rsa3072,
    Rsa4096,
    EcP256,
    EcP384,
}

impl KeyType {
    /// Every key type, in config-name order.
    pub const ALL: [KeyType; 5] = [
        KeyType::Rsa2048,
        KeyType::Rsa3072,
        KeyType::Rsa4096,
        KeyType::EcP256,
        KeyType::EcP384,
    ];

    /// The config names, for error messages.
    pub const ALL_NAMES: &'static str = "rsa-2048, rsa-3072, rsa-4096, ec-p256, ec-p384";

    /// The config name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Rsa2048 => "rsa-2048",
            KeyType::Rsa3072 => "rsa-3072",
            KeyType::Rsa4096 => "rsa-4096",
            KeyType::EcP256 => "ec-p256",
            KeyType::EcP384 => "ec-p384",
        }
    }

    /// True for the RSA types (gpgsm 2.2.40 imports only those; see toolchain notes).
    pub fn is_rsa(self) -> bool {
        matches!(self, KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096)
    }

    fn rsa_bits(self) -> Option<u32> {
        match self {
            KeyType::Rsa2048 => Some(2048),
            KeyType::Rsa3072 => Some(3072),
            KeyType::Rsa4096 => Some(4096),
            KeyType::EcP256 | KeyType::EcP384 => None,
        }
    }

    fn curve(self) -> Option<Nid> {
        match self {
            KeyType::EcP256 => Some(Nid::X9_62_PRIME256V1),
            KeyType::EcP384 => Some(Nid::SECP384R1),
            _ => None,
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyType {
    type Err = CryptoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeyType::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| CryptoError::UnknownName {
                what: "key type",
                given: s.to_string(),
                valid: KeyType::ALL_NAMES,
            })
    }
}

impl serde::Serialize for KeyType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for KeyType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A mailbox private key. `Debug` shows the type only; the key material is reachable only
/// through [`PrivateKey::to_pem`] (a [`Secret`]) and through this module's own OpenSSL calls.
#[derive(Clone)]
pub struct PrivateKey {
    pkey: PKey<Private>,
    key_type: KeyType,
    /// PKCS#8 PEM, encoded once when the key is made or read, so [`PrivateKey::to_pem`] cannot
    /// fail at the moment the key must be persisted.
    pem: Secret<Vec<u8>>,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({}, <redacted>)", self.key_type)
    }
}

impl PrivateKey {
    /// Generates a fresh key. RSA-3072 takes ~0.3 s (tail > 1 s) and RSA-4096 ~1.5 s on a
    /// small server: call [`generate_key_async`] from async code.
    pub fn generate(key_type: KeyType) -> Result<PrivateKey, CryptoError> {
        let gen_err = |source| CryptoError::KeyGeneration { key_type, source };
        let pkey = if let Some(bits) = key_type.rsa_bits() {
            // Rsa::generate uses e = 65537 (RFC 8017 §3.1 permits any odd e; 65537 is universal).
            PKey::from_rsa(Rsa::generate(bits).map_err(gen_err)?).map_err(gen_err)?
        } else if let Some(curve) = key_type.curve() {
            // A group made from a curve name is encoded as a named curve (RFC 5480 §2.1.1), which
            // is the only form CAs and mail clients accept.
            let group = EcGroup::from_curve_name(curve).map_err(gen_err)?;
            PKey::from_ec_key(EcKey::generate(&group).map_err(gen_err)?).map_err(gen_err)?
        } else {
            return Err(CryptoError::UnsupportedKey(key_type.to_string()));
        };
        PrivateKey::new(pkey, key_type)
    }

    /// The key as unencrypted PKCS#8 PEM (RFC 5208 / RFC 7468 §10), for the encrypted key store.
    pub fn to_pem(&self) -> Secret<Vec<u8>> {
        self.pem.clone()
    }

    fn new(pkey: PKey<Private>, key_type: KeyType) -> Result<PrivateKey, CryptoError> {
        let pem = pkey
            .private_key_to_pem_pkcs8()
            .map(Secret::new)
            .map_err(CryptoError::openssl("encoding a private key as PEM"))?;
        Ok(PrivateKey {
            pkey,
            key_type,
            pem,
        })
    }

    /// Reads a private key from PEM (PKCS#8 or the traditional RSA/EC forms) and determines its
    /// type. Encrypted PEM is refused: keys at rest are protected by the [`super::KeyStore`], and
    /// OpenSSL's default would otherwise prompt on a terminal for a passphrase.
    pub fn from_pem(pem: &[u8]) -> Result<PrivateKey, CryptoError> {
        if contains(pem, b"-----BEGIN ENCRYPTED") || contains(pem, b"Proc-Type: 4,ENCRYPTED") {
            return Err(CryptoError::BadKeyPem(
                "the PEM is passphrase-encrypted; store keys unencrypted inside the key store"
                    .into(),
            ));
        }
        // The callback answers "no passphrase" so OpenSSL never reads from a terminal.
        let pkey = PKey::private_key_from_pem_callback(pem, |_buf| Ok(0)).map_err(|e| {
            CryptoError::BadKeyPem(format!("not a PEM private key or truncated ({e})"))
        })?;
        let key_type = key_type_of(&pkey)?;
        PrivateKey::new(pkey, key_type)
    }

    /// The key's type.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The public half as DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7), for comparisons and
    /// fingerprints.
    pub fn public_key_der(&self) -> Result<Vec<u8>, CryptoError> {
        self.pkey
            .public_key_to_der()
            .map_err(CryptoError::openssl("encoding a public key"))
    }

    /// Wraps an OpenSSL key read elsewhere in this module (a PKCS#12), determining its type.
    pub(crate) fn from_parts(pkey: PKey<Private>) -> Result<PrivateKey, CryptoError> {
        let key_type = key_type_of(&pkey)?;
        PrivateKey::new(pkey, key_type)
    }

    /// The OpenSSL key, for the other files of this module.
    pub(crate) fn pkey(&self) -> &PKey<Private> {
        &self.pkey
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn key_type_of(pkey: &PKey<Private>) -> Result<KeyType, CryptoError> {
    match pkey.id() {
        Id::RSA => match pkey.bits() {
            2048 => Ok(KeyType::Rsa2048),
            3072 => Ok(KeyType::Rsa3072),
            4096 => Ok(KeyType::Rsa4096),
            other => Err(CryptoError::UnsupportedKey(format!(
                "RSA with {other} bits"
            ))),
        },
        Id::EC => {
            let ec = pkey
                .ec_key()
                .map_err(CryptoError::openssl("reading an EC key"))?;
            match ec.group().curve_name() {
                Some(Nid::X9_62_PRIME256V1) => Ok(KeyType::EcP256),
                Some(Nid::SECP384R1) => Ok(KeyType::EcP384),
                Some(nid) => Err(CryptoError::UnsupportedKey(format!(
                    "EC curve {}",
                    nid.short_name().unwrap_or("unknown")
                ))),
                None => Err(CryptoError::UnsupportedKey(
                    "EC key with explicit parameters".into(),
                )),
            }
        }
        other => Err(CryptoError::UnsupportedKey(format!(
            "key algorithm id {}",
            other.as_raw()
        ))),
    }
}

/// Generates a key on tokio's blocking pool, so RSA generation (hundreds of milliseconds to
/// seconds) never stalls the runtime's worker threads.
pub async fn generate_key_async(key_type: KeyType) -> Result<PrivateKey, CryptoError> {
    tokio::task::spawn_blocking(move || PrivateKey::generate(key_type))
        .await
        .map_err(|e| CryptoError::Task(e.to_string()))?
}

/// Generates `count` keys using every core: one OS thread per available core pulls work from a
/// shared counter, so slow RSA draws (the prime search has a long tail) do not idle other cores.
/// Blocks the calling thread; from async code use [`generate_keys_async`].
pub fn generate_keys_parallel(
    key_type: KeyType,
    count: usize,
) -> Result<Vec<PrivateKey>, CryptoError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(count.max(1));
    generate_keys_with_threads(key_type, count, threads)
}

/// Like [`generate_keys_parallel`] with an explicit thread count (benchmarks, tests).
pub fn generate_keys_with_threads(
    key_type: KeyType,
    count: usize,
    threads: usize,
) -> Result<Vec<PrivateKey>, CryptoError> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Result<PrivateKey, CryptoError>>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                while next.fetch_add(1, Ordering::Relaxed) < count {
                    let key = PrivateKey::generate(key_type);
                    let failed = key.is_err();
                    results.lock().unwrap_or_else(|p| p.into_inner()).push(key);
                    if failed {
                        // Stop handing out work: the first error is what the caller sees.
                        next.store(count, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .collect()
}

/// Generates `count` keys across all cores without blocking the async runtime.
pub async fn generate_keys_async(
    key_type: KeyType,
    count: usize,
) -> Result<Vec<PrivateKey>, CryptoError> {
    tokio::task::spawn_blocking(move || generate_keys_parallel(key_type, count))
        .await
        .map_err(|e| CryptoError::Task(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_type_names_round_trip_through_fromstr_display_and_serde() {
        for kt in KeyType::ALL {
            assert_eq!(kt.to_string().parse::<KeyType>().unwrap(), kt);
            let json = serde_json::to_string(&kt).unwrap();
            assert_eq!(json, format!("\"{kt}\""));
            assert_eq!(serde_json::from_str::<KeyType>(&json).unwrap(), kt);
        }
        assert_eq!(KeyType::default(), KeyType::Rsa3072);
        let err = "rsa-1024".parse::<KeyType>().unwrap_err().to_string();
        assert!(err.contains("rsa-1024") && err.contains("ec-p384"), "{err}");
        assert!(serde_json::from_str::<KeyType>("\"RSA3072\"").is_err());
    }

    #[test]
    fn an_ec_key_survives_a_pem_round_trip_with_its_type() {
        for kt in [KeyType::EcP256, KeyType::EcP384] {
            let key = PrivateKey::generate(kt).unwrap();
            let pem = key.to_pem();
            assert!(pem.expose().starts_with(b"-----BEGIN PRIVATE KEY-----"));
            let back = PrivateKey::from_pem(pem.expose()).unwrap();
            assert_eq!(back.key_type(), kt);
            assert_eq!(
                back.public_key_der().unwrap(),
                key.public_key_der().unwrap()
            );
        }
    }

    #[test]
    fn debug_output_names_the_type_and_hides_the_key() {
        let key = PrivateKey::generate(KeyType::EcP256).unwrap();
        let pem = key.to_pem();
        let body = std::str::from_utf8(pem.expose())
            .unwrap()
            .lines()
            .nth(1)
            .unwrap()
            .to_string();
        let dbg = format!("{key:?}");
        assert_eq!(dbg, "PrivateKey(ec-p256, <redacted>)");
        assert!(!dbg.contains(&body[..16]));
    }

    #[test]
    fn garbage_truncated_and_encrypted_pem_are_refused_with_a_reason() {
        let key = PrivateKey::generate(KeyType::EcP256).unwrap();
        let pem = key.to_pem().into_inner();
        let truncated = &pem[..pem.len() / 2];
        for bad in [&b"hello"[..], truncated, b""] {
            let err = PrivateKey::from_pem(bad).unwrap_err();
            assert_eq!(err.code(), "bad-key-pem", "{err}");
        }
        let encrypted = key
            .pkey()
            .private_key_to_pem_pkcs8_passphrase(openssl::symm::Cipher::aes_256_cbc(), b"pw")
            .unwrap();
        let err = PrivateKey::from_pem(&encrypted).unwrap_err().to_string();
        assert!(err.contains("passphrase-encrypted"), "{err}");
    }

    #[test]
    fn an_unsupported_curve_is_named_in_the_error() {
        let group = EcGroup::from_curve_name(Nid::SECP521R1).unwrap();
        let pkey = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        let pem = pkey.private_key_to_pem_pkcs8().unwrap();
        let err = PrivateKey::from_pem(&pem).unwrap_err().to_string();
        assert!(err.contains("secp521r1"), "{err}");
    }

    #[test]
    fn parallel_generation_returns_the_requested_number_of_distinct_keys() {
        let keys = generate_keys_with_threads(KeyType::EcP256, 9, 3).unwrap();
        assert_eq!(keys.len(), 9);
        let mut ders: Vec<Vec<u8>> = keys.iter().map(|k| k.public_key_der().unwrap()).collect();
        ders.sort();
        ders.dedup();
        assert_eq!(ders.len(), 9);
        assert!(generate_keys_parallel(KeyType::EcP256, 0)
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn async_generation_runs_on_the_blocking_pool() {
        let key = generate_key_async(KeyType::EcP384).await.unwrap();
        assert_eq!(key.key_type(), KeyType::EcP384);
        assert_eq!(
            generate_keys_async(KeyType::EcP256, 3).await.unwrap().len(),
            3
        );
    }
}
