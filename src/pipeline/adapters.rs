//! Owns the bindings of the pipeline's ports to the real modules: [`CryptoKeys`] (the `crypto`
//! module's key generation, encrypted key store, certificate check and PKCS#12) and
//! [`MailCourier`] (the `delivery` module's composition, mailer and password channel). Each maps
//! the module's own classified error onto a [`PortError`], keeping its stable code.

use std::sync::{Arc, Mutex};

use rand::RngCore;
use time::OffsetDateTime;

use super::ports::{CertificateFacts, Courier, IssuedCertificate, Keys, PortError};
use super::stage::ErrorClass;
use crate::clock::Clock;
use crate::crypto::{
    build_csr, build_pkcs12, check_certificate, generate_key_async, generate_password,
    split_certificates, CryptoError, KeyStore, KeyStoreError, KeyType, Password, Pkcs12Profile,
    PrivateKey,
};
use crate::delivery::{
    compose_bundle_message, send_password, Bundle, DeliveryError, Mailer, MessageSettings,
    PasswordChannel,
};
use crate::mailbox::Address;
use crate::secret::Secret;

fn class(transient: bool) -> ErrorClass {
    if transient {
        ErrorClass::Transient
    } else {
        ErrorClass::Permanent
    }
}

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

fn delivery_err(e: DeliveryError) -> PortError {
    PortError {
        class: class(e.is_transient()),
        code: e.outcome().to_string(),
        text: e.to_string(),
        not_performed: false,
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
}

impl std::fmt::Debug for CryptoKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CryptoKeys")
            .field("key_type", &self.key_type)
            .field("profile", &self.profile)
            .field("archive", &self.archive)
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
        CryptoKeys { store, key_type, profile, archive, rng: Mutex::new(rng) }
    }

    /// From the validated `[keys]` config, with the key store in `dir`.
    pub fn from_config(
        cfg: &crate::config::KeysConfig,
        dir: &std::path::Path,
        rng: Box<dyn RngCore + Send>,
    ) -> Result<Self, PortError> {
        let store = KeyStore::open(dir).map_err(keystore_err)?;
        let key_type = cfg.key_type.as_str().parse::<KeyType>().map_err(crypto_err)?;
        let profile = cfg.pkcs12_profile.as_str().parse::<Pkcs12Profile>().map_err(crypto_err)?;
        Ok(CryptoKeys::new(Arc::new(store), key_type, profile, cfg.archive, rng))
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
        let key = generate_key_async(self.key_type).await.map_err(crypto_err)?;
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
        let der = build_pkcs12(&key, &cert.certificate_pem, &chain, address, &password, self.profile)
            .map_err(crypto_err)?;
        Ok(Secret::new(der))
    }

    fn delivered(&self, key_ref: &str) -> Result<(), PortError> {
        if self.archive {
            return Ok(());
        }
        self.store.remove(key_ref).map(|_| ()).map_err(keystore_err)
    }
}

/// Delivery through the `delivery` module: the bundle mail composed from the templates and sent
/// by the configured mailer; the password over the configured separate channel.
#[derive(Debug)]
pub struct MailCourier {
    mailer: Arc<dyn Mailer>,
    settings: MessageSettings,
    channel: PasswordChannel,
    profile: String,
    clock: Arc<dyn Clock>,
}

impl MailCourier {
    /// A courier over `mailer`; `profile` names the PKCS#12 profile in the mail.
    pub fn new(
        mailer: Arc<dyn Mailer>,
        settings: MessageSettings,
        channel: PasswordChannel,
        profile: &str,
        clock: Arc<dyn Clock>,
    ) -> Self {
        MailCourier { mailer, settings, channel, profile: profile.to_string(), clock }
    }

    /// From the validated config (call inside the runtime: the SMTP pool needs it).
    pub fn from_config(
        cfg: &crate::config::Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, PortError> {
        use crate::delivery::setup;
        let settings = setup::message_settings(&cfg.delivery).map_err(delivery_err)?;
        let mailer = setup::build_mailer(&cfg.delivery).map_err(delivery_err)?;
        let channel = setup::password_channel(&cfg.delivery.password).map_err(delivery_err)?;
        Ok(MailCourier::new(mailer, settings, channel, cfg.keys.pkcs12_profile.as_str(), clock))
    }
}

impl Courier for MailCourier {
    async fn send_bundle(
        &self,
        address: &Address,
        bundle: &Secret<Vec<u8>>,
        facts: &CertificateFacts,
    ) -> Result<(), PortError> {
        let b = Bundle {
            address: address.clone(),
            pkcs12: bundle.expose().clone(),
            expires: facts.not_after,
            fingerprint_sha256: facts.fingerprint_sha256.clone(),
            profile: self.profile.clone(),
            display_name: None,
        };
        let message =
            compose_bundle_message(&self.settings, &b, self.clock.now()).map_err(delivery_err)?;
        self.mailer.send(&message).await.map(|_| ()).map_err(delivery_err)
    }

    async fn send_password(
        &self,
        address: &Address,
        password: &Secret<String>,
    ) -> Result<(), PortError> {
        let now = self.clock.now();
        send_password(&self.channel, &*self.mailer, &self.settings, address, password, now)
            .await
            .map(|_| ())
            .map_err(delivery_err)
    }
}
