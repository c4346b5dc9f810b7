//! A recording courier behind the pipeline's [`Courier`] port: it keeps every bundle, password
//! and admin notice it was asked to send, and can fail or hang on demand.

use std::sync::{Arc, Mutex};

use crate::mailbox::Address;
use crate::pipeline::ports::{CertificateFacts, Courier, PortError};
use crate::secret::Secret;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    Bundle(Address, String),
    Password(Address, String),
    /// A failure notice to the admin: about whom, the step, the error code.
    AdminNotice(Address, String, String),
}

#[derive(Debug, Clone, Default)]
pub struct RecordingCourier {
    pub sent: Arc<Mutex<Vec<Sent>>>,
    /// Fail the next N password sends.
    pub fail_passwords: Arc<Mutex<u32>>,
    /// Fail the next N admin notices (the mail server is down).
    pub fail_notices: Arc<Mutex<u32>>,
    /// While set, an admin notice never completes (the process "dies" sending it); reaching it
    /// fires `notice_reached`.
    pub notices_hang: Arc<Mutex<bool>>,
    pub notice_reached: Arc<tokio::sync::Notify>,
}

impl RecordingCourier {
    pub fn sent(&self) -> Vec<Sent> {
        self.sent.lock().unwrap().clone()
    }
    pub fn bundles_to(&self, a: &Address) -> Vec<String> {
        self.sent()
            .into_iter()
            .filter_map(|s| match s {
                Sent::Bundle(x, b) if &x == a => Some(b),
                _ => None,
            })
            .collect()
    }
    /// The admin failure notices sent so far.
    pub fn admin_notices(&self) -> Vec<Sent> {
        self.sent()
            .into_iter()
            .filter(|m| matches!(m, Sent::AdminNotice(..)))
            .collect()
    }
    pub fn passwords_to(&self, a: &Address) -> Vec<String> {
        self.sent()
            .into_iter()
            .filter_map(|s| match s {
                Sent::Password(x, p) if &x == a => Some(p),
                _ => None,
            })
            .collect()
    }
}

impl Courier for RecordingCourier {
    async fn notify_failure(
        &self,
        address: &Address,
        step: &str,
        error: &PortError,
    ) -> Result<bool, PortError> {
        let hang = *self.notices_hang.lock().unwrap();
        if hang {
            self.notice_reached.notify_one();
            std::future::pending::<()>().await;
        }
        {
            let mut f = self.fail_notices.lock().unwrap();
            if *f > 0 {
                *f -= 1;
                return Err(PortError::transient("smtp-421", "mail server down"));
            }
        }
        self.sent.lock().unwrap().push(Sent::AdminNotice(
            address.clone(),
            step.to_string(),
            error.code.clone(),
        ));
        Ok(true)
    }
    async fn send_bundle(
        &self,
        address: &Address,
        _display_name: Option<&crate::display_name::DisplayName>,
        bundle: &Secret<Vec<u8>>,
        _facts: &CertificateFacts,
    ) -> Result<(), PortError> {
        let b = String::from_utf8_lossy(bundle.expose()).to_string();
        self.sent
            .lock()
            .unwrap()
            .push(Sent::Bundle(address.clone(), b));
        Ok(())
    }
    async fn send_password(
        &self,
        address: &Address,
        password: &Secret<String>,
    ) -> Result<(), PortError> {
        {
            let mut f = self.fail_passwords.lock().unwrap();
            if *f > 0 {
                *f -= 1;
                return Err(PortError::transient("smtp-421", "try again later"));
            }
        }
        self.sent
            .lock()
            .unwrap()
            .push(Sent::Password(address.clone(), password.expose().clone()));
        Ok(())
    }
}
