//! Text keys behind the pipeline's [`Keys`] port: the key reference, CSR, certificate and bundle
//! are strings that name the key, so `check` can tell whether a certificate belongs to it without
//! any X.509.

use std::sync::{Arc, Mutex};

use time::{Duration, OffsetDateTime};

use crate::clock::ManualClock;
use crate::mailbox::Address;
use crate::pipeline::ports::{CertificateFacts, IssuedCertificate, Keys, PortError};
use crate::secret::Secret;

/// Text keys: `key_ref` = "key:ADDRESS:GEN:N"; the CSR and certificate carry the key name, so
/// `check` can tell whether a certificate belongs to the key.
#[derive(Debug, Clone)]
pub struct FakeKeys {
    pub generated: Arc<Mutex<Vec<String>>>,
    pub passwords: Arc<Mutex<u32>>,
    pub clock: Arc<ManualClock>,
    pub lifetime: Duration,
    /// Addresses whose key generation panics (a bug injected for the daemon's worker
    /// supervision tests); the panic message names the address.
    pub panic_on: Arc<Mutex<Vec<Address>>>,
}

impl FakeKeys {
    pub fn new(clock: Arc<ManualClock>) -> Self {
        FakeKeys {
            generated: Arc::default(),
            passwords: Arc::default(),
            clock,
            lifetime: Duration::days(365),
            panic_on: Arc::default(),
        }
    }
}

impl Keys for FakeKeys {
    async fn generate(&self, address: &Address, generation: u32) -> Result<String, PortError> {
        if self.panic_on.lock().unwrap().contains(address) {
            panic!("injected fault: key generation for {address} panics");
        }
        let mut g = self.generated.lock().unwrap();
        let key = format!("key:{address}:{generation}:{}", g.len());
        g.push(key.clone());
        Ok(key)
    }
    fn csr(&self, key_ref: &str, _address: &Address) -> Result<String, PortError> {
        Ok(format!("CSR {key_ref}"))
    }
    fn check(
        &self,
        key_ref: &str,
        _address: &Address,
        cert: &IssuedCertificate,
        _now: OffsetDateTime,
    ) -> Result<CertificateFacts, PortError> {
        let rest = cert
            .certificate_pem
            .strip_prefix(&format!("CERT {key_ref} serial="))
            .ok_or_else(|| {
                PortError::permanent(
                    "key-mismatch",
                    "the certificate does not match the stored key",
                )
            })?;
        Ok(CertificateFacts {
            not_after: self.clock_now() + self.lifetime,
            serial: format!("{:x}", rest.parse::<i64>().unwrap_or(0)),
            fingerprint_sha256: "00".repeat(32),
        })
    }
    fn password(&self) -> Secret<String> {
        let mut n = self.passwords.lock().unwrap();
        *n += 1;
        Secret::new(format!("pw-{n}"))
    }
    fn bundle(
        &self,
        key_ref: &str,
        _address: &Address,
        cert: &IssuedCertificate,
        password: &Secret<String>,
    ) -> Result<Secret<Vec<u8>>, PortError> {
        Ok(Secret::new(
            format!(
                "P12[{key_ref}|{}|{}]",
                cert.certificate_pem,
                password.expose()
            )
            .into_bytes(),
        ))
    }
}

impl FakeKeys {
    fn clock_now(&self) -> OffsetDateTime {
        use crate::clock::Clock;
        self.clock.now()
    }
}
