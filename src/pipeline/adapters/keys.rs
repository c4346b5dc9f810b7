//! Owns the [`Keys`] port over the `crypto` module: key generation, the encrypted key store,
//! the certificate check and PKCS#12 bundles. Maps the module's classified errors onto
//! [`PortError`], keeping their stable codes.

use std::sync::{Arc, Mutex};

use rand::RngCore;
use time::OffsetDateTime;

use super::class;
use super::key_pool::KeyPool;
use crate::crypto::{
    build_csr, build_pkcs12, check_certificate, generate_key_async, generate_password,
    split_certificates, CryptoError, KeyStore, KeyStoreError, KeyType, Password, Pkcs12Profile,
    PrivateKey,
};
use crate::mailbox::Address;
use crate::pipeline::ports::{CertificateFacts, IssuedCertificate, Keys, PortError};
use crate::secret::Secret;

fn crypto_err(e: CryptoError) -> PortError {
    PortError {
        class: class(e.is_transient()),
        code: e.code().to_string(),
        text: e.to_string(),
        not_performed: true,
    }
}

fn keystore_err(e: KeyStoreError) -> PortError {
    PortError {
        class: class(e.is_transient()),
        code: e.code().to_string(),
        text: e.to_string(),
        not_performed: true,
    }
}

/// Keys through the `crypto` module: generated off the runtime, sealed in the [`KeyStore`]
/// under `ADDRESS#GENERATION` before the id is returned (so a CSR is only ever built from a
/// persisted key), checked and bundled with the configured profile.
pub struct CryptoKeys {
    store: Arc<KeyStore>,
    key_type: KeyType,
    profile: Pkcs12Profile,
    archive: bool,
    rng: Mutex<Box<dyn RngCore + Send>>,
    pool: Option<Arc<KeyPool>>,
}

impl std::fmt::Debug for CryptoKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CryptoKeys")
            .field("key_type", &self.key_type)
            .field("profile", &self.profile)
            .field("archive", &self.archive)
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

impl CryptoKeys {
    /// Keys of `key_type` in `store`, bundles in `profile`; `archive = false` wipes a key once its
    /// bundle is delivered. `rng` draws the PKCS#12 passwords.
    pub fn new(
        store: Arc<KeyStore>,
        key_type: KeyType,
        profile: Pkcs12Profile,
        archive: bool,
        rng: Box<dyn RngCore + Send>,
    ) -> Self {
        CryptoKeys {
            store,
            key_type,
            profile,
            archive,
            rng: Mutex::new(rng),
            pool: None,
        }
    }

    /// Takes new keys from a pool of keys generated ahead in `store` (see [`KeyPool`]), sized
    /// by `[keys]` and kept within the orders `daily_budget` leaves today; `pool_size` 0 leaves
    /// the pool off.
    pub fn with_pool(
        mut self,
        store: Arc<crate::store::Store>,
        cfg: &crate::config::KeysConfig,
        daily_budget: u32,
        clock: Arc<dyn crate::clock::Clock>,
    ) -> Self {
        if cfg.pool_size > 0 {
            let keys = self.store.clone();
            let (size, refill_at) = (cfg.pool_size, cfg.pool_refill_at);
            let pool = KeyPool::new(store, keys, self.key_type, size, refill_at, clock)
                .with_daily_budget(daily_budget);
            self.pool = Some(Arc::new(pool));
        }
        self
    }

    /// The key pool, if one is configured (the daemon runs its refill).
    pub fn pool(&self) -> Option<&Arc<KeyPool>> {
        self.pool.as_ref()
    }

    /// The pooled key bound to this mailbox generation, if the pool has one. A pool that cannot
    /// answer is logged and skipped: the key is generated on demand instead.
    async fn pooled(&self, address: &Address, generation: u32) -> Option<String> {
        let pool = self.pool.clone()?;
        let a = address.clone();
        match tokio::task::spawn_blocking(move || pool.take(&a, generation)).await {
            Ok(Ok(name)) => name,
            Ok(Err(e)) => {
                tracing::warn!(%address, "{e}; generating the key on demand");
                None
            }
            Err(e) => {
                tracing::warn!(%address, "key pool task failed: {e}; generating the key on demand");
                None
            }
        }
    }

    /// From the validated `[keys]` config, with the key store in `dir`.
    pub fn from_config(
        cfg: &crate::config::KeysConfig,
        dir: &std::path::Path,
        rng: Box<dyn RngCore + Send>,
    ) -> Result<Self, PortError> {
        let store = KeyStore::open(dir).map_err(keystore_err)?;
        Ok(CryptoKeys::new(
            Arc::new(store),
            cfg.key_type,
            cfg.pkcs12_profile,
            cfg.archive,
            rng,
        ))
    }

    fn key(&self, key_ref: &str) -> Result<PrivateKey, PortError> {
        self.store.get_key(key_ref).map_err(keystore_err)?.ok_or_else(|| {
            PortError::permanent(
                "key-missing",
                format!(
                    "the private key {key_ref:?} is not in the key store (wiped with \
                     keys.archive = false, or the store was replaced); `reprovision` makes a new one"
                ),
            )
        })
    }

    fn chain(cert: &IssuedCertificate) -> Result<Vec<String>, PortError> {
        split_certificates(std::slice::from_ref(&cert.chain_pem))
            .map_err(|e| crypto_err(CryptoError::Certificate(e)))
    }
}

impl Keys for CryptoKeys {
    async fn generate(&self, address: &Address, generation: u32) -> Result<String, PortError> {
        if let Some(name) = self.pooled(address, generation).await {
            return Ok(name);
        }
        // The pool's refill waits while a mailbox waits for this key.
        let _urgent = self.pool.as_ref().map(|p| p.on_demand());
        let key = generate_key_async(self.key_type)
            .await
            .map_err(crypto_err)?;
        let name = format!("{address}#{generation}");
        let store = self.store.clone();
        let n = name.clone();
        // The put fsyncs; keep it off the runtime's worker threads.
        tokio::task::spawn_blocking(move || store.put_key(&n, &key))
            .await
            .map_err(|e| PortError::transient("task-failed", e.to_string()))?
            .map_err(keystore_err)?;
        Ok(name)
    }

    fn csr(&self, key_ref: &str, address: &Address) -> Result<String, PortError> {
        build_csr(&self.key(key_ref)?, address).map_err(crypto_err)
    }

    fn check(
        &self,
        key_ref: &str,
        address: &Address,
        cert: &IssuedCertificate,
        now: OffsetDateTime,
    ) -> Result<CertificateFacts, PortError> {
        let key = self.key(key_ref)?;
        let chain = Self::chain(cert)?;
        let info = check_certificate(&cert.certificate_pem, &chain, &key, address, now)
            .map_err(|e| crypto_err(CryptoError::Certificate(e)))?;
        Ok(CertificateFacts {
            not_after: info.not_after,
            serial: info.serial_hex,
            fingerprint_sha256: info.sha256_fingerprint,
        })
    }

    fn password(&self) -> Secret<String> {
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        generate_password(&mut *rng).into_secret()
    }

    fn bundle(
        &self,
        key_ref: &str,
        address: &Address,
        cert: &IssuedCertificate,
        password: &Secret<String>,
    ) -> Result<Secret<Vec<u8>>, PortError> {
        let key = self.key(key_ref)?;
        let chain = Self::chain(cert)?;
        let password = Password::from_secret(password.clone()).map_err(crypto_err)?;
        let der = build_pkcs12(
            &key,
            &cert.certificate_pem,
            &chain,
            address,
            &password,
            self.profile,
        )
        .map_err(crypto_err)?;
        Ok(Secret::new(der))
    }

    fn delivered(&self, key_ref: &str) -> Result<(), PortError> {
        if self.archive {
            return Ok(());
        }
        self.store.remove(key_ref).map(|_| ()).map_err(keystore_err)
    }

    fn has_key(&self, key_ref: &str) -> Result<bool, PortError> {
        self.store
            .get(key_ref)
            .map(|k| k.is_some())
            .map_err(keystore_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::ErrorClass;

    /// Out of descriptors or space while creating the key file passes; the step is retried.
    #[test]
    fn failing_to_create_the_key_file_is_transient() {
        for errno in [libc::EMFILE, libc::ENFILE, libc::ENOSPC, libc::EDQUOT] {
            let e = KeyStoreError::Io {
                op: "creating a temporary file",
                path: "/var/lib/smime-provisioner/keys/.entry-x".into(),
                source: std::io::Error::from_raw_os_error(errno),
            };
            let p = keystore_err(e);
            assert_eq!(p.class, ErrorClass::Transient, "errno {errno}: {}", p.text);
            assert_eq!(p.code, "keystore-io");
            assert!(p.not_performed);
        }
    }
}
