//! Owns the [`Courier`] port over the `delivery` module: the bundle mail composed from the
//! templates and sent by the configured mailer, the password over its separate channel, and the
//! admin's failure notice.

use std::sync::{Arc, Mutex};

use super::class;
use crate::clock::Clock;
use crate::delivery::{
    compose_bundle_message, send_password, Bundle, DeliveryError, Mailer, MessageSettings,
    PasswordChannel,
};
use crate::mailbox::Address;
use crate::pipeline::ports::{CertificateFacts, Courier, PortError};
use crate::secret::Secret;

/// Delivery errors for the pipeline. Two kinds the delivery module calls non-transient are
/// retried with the normal bounded backoff rather than failing the mailbox at once:
/// - an unknown recipient: the source has just seen the mailbox, so the mail server's maps are
///   most likely behind (`DeliveryError::recipient_unknown`); after `max_attempts` it fails;
/// - our own delivery settings (TLS trust, SMTP login, a missing program): every mailbox fails
///   the same way, and one fixed setting should heal them all without a `redeliver` each.
fn delivery_err(e: DeliveryError) -> PortError {
    let (transient, code) = if e.recipient_unknown() {
        (true, "smtp-recipient-unknown")
    } else {
        (e.is_transient() || e.is_config(), e.outcome())
    };
    PortError {
        class: class(transient),
        code: code.to_string(),
        text: e.to_string(),
        not_performed: false,
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
    /// `delivery.admin_address`: told about mailboxes that gave up for good.
    admin: Option<Address>,
    /// The last delivery error per mailbox, so the admin notice can quote the mail server's
    /// own words through [`compose_failure_notice`](crate::delivery::compose_failure_notice).
    failures: Mutex<std::collections::HashMap<Address, DeliveryError>>,
    /// Counts delivery attempts by outcome (`delivery_attempts_total`) and remembers a
    /// config-class failure for `/readyz`.
    metrics: Option<Arc<crate::pipeline::metrics::Metrics>>,
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
        MailCourier {
            mailer,
            settings,
            channel,
            profile: profile.to_string(),
            clock,
            admin: None,
            failures: Mutex::new(std::collections::HashMap::new()),
            metrics: None,
        }
    }

    /// Sends failure notices to `admin` (`delivery.admin_address`).
    pub fn with_admin(mut self, admin: Option<Address>) -> Self {
        self.admin = admin;
        self
    }

    /// Counts every bundle and password mail in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<crate::pipeline::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    fn note(&self, address: &Address, result: &Result<(), DeliveryError>) {
        if let Some(m) = &self.metrics {
            use crate::delivery::ErrorClass as C;
            use crate::pipeline::metrics::DeliveryOutcome as O;
            match result {
                Ok(()) => m.delivery(O::Sent, None),
                Err(e) => {
                    let outcome = match e.class() {
                        C::Transient => O::Transient,
                        C::Permanent => O::Permanent,
                        C::Config => O::Config,
                    };
                    m.delivery(outcome, Some(&e.to_string()));
                }
            }
        }
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(()) => f.remove(address),
            Err(e) => f.insert(address.clone(), e.clone()),
        };
    }

    /// The notice for a failure outside delivery (order, key, certificate check): what failed,
    /// the error, and the verb that retries.
    fn general_notice(
        &self,
        admin: &Address,
        about: &Address,
        step: &str,
        error: &PortError,
    ) -> Result<lettre::Message, PortError> {
        use lettre::message::header::{HeaderName, HeaderValue};
        let bad = |e: String| PortError::permanent("admin-notice", e);
        let to: lettre::Address = admin
            .as_str()
            .parse()
            .map_err(|e| bad(format!("delivery.admin_address {admin}: {e}")))?;
        let text = format!(
            "smime-provisioner gave up on the S/MIME certificate of {about}.\n\n\
             It stopped at: {step}\n  {text} [{code}]\n\n\
             Nothing more happens for this mailbox until an operator acts. Fix the cause, then:\n\n\
             \x20 smime-provisioner provision {about}     (retry from where it stopped)\n\
             \x20 smime-provisioner reprovision {about}   (new key and new order)\n\n\
             `smime-provisioner status {about}` shows the record and its events.\n",
            text = error.text,
            code = error.code,
        );
        let name = HeaderName::new_from_ascii_str("Auto-Submitted");
        lettre::Message::builder()
            .from(self.settings.from.clone())
            .to(lettre::message::Mailbox::new(None, to))
            .subject(format!(
                "S/MIME certificate for {about}: gave up ({})",
                error.code
            ))
            .date(std::time::SystemTime::from(self.clock.now()))
            // RFC 3834 §5: machine-generated; no auto-replies.
            .raw_header(HeaderValue::new(name, "auto-generated".to_string()))
            .body(text)
            .map_err(|e| bad(format!("cannot compose the admin notice: {e}")))
    }

    /// From the validated config (call inside the runtime: the SMTP pool needs it).
    pub fn from_config(
        cfg: &crate::config::Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, PortError> {
        Self::from_config_with_mailer(cfg, None, clock)
    }

    /// From the validated config, sending through `mailer` instead of the configured transport
    /// when one is given (tests pass a recording mailer).
    pub fn from_config_with_mailer(
        cfg: &crate::config::Config,
        mailer: Option<Arc<dyn Mailer>>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, PortError> {
        use crate::delivery::setup;
        let settings = setup::message_settings(&cfg.delivery).map_err(delivery_err)?;
        let mailer = match mailer {
            Some(m) => m,
            None => setup::build_mailer(&cfg.delivery).map_err(delivery_err)?,
        };
        let channel = setup::password_channel(&cfg.delivery.password).map_err(delivery_err)?;
        Ok(MailCourier::new(
            mailer,
            settings,
            channel,
            cfg.keys.pkcs12_profile.as_str(),
            clock,
        )
        .with_admin(cfg.delivery.admin_address.clone()))
    }
}

impl Courier for MailCourier {
    async fn send_bundle(
        &self,
        address: &Address,
        display_name: Option<&crate::display_name::DisplayName>,
        bundle: &Secret<Vec<u8>>,
        facts: &CertificateFacts,
    ) -> Result<(), PortError> {
        let b = Bundle {
            address: address.clone(),
            pkcs12: bundle.expose().clone(),
            expires: facts.not_after,
            fingerprint_sha256: facts.fingerprint_sha256.clone(),
            profile: self.profile.clone(),
            display_name: display_name.map(|n| n.as_str().to_string()),
        };
        let message =
            compose_bundle_message(&self.settings, &b, self.clock.now()).map_err(delivery_err)?;
        let result = self.mailer.send(&message).await.map(|_| ());
        self.note(address, &result);
        result.map_err(delivery_err)
    }

    async fn send_password(
        &self,
        address: &Address,
        password: &Secret<String>,
    ) -> Result<(), PortError> {
        let now = self.clock.now();
        let result = send_password(
            &self.channel,
            &*self.mailer,
            &self.settings,
            address,
            password,
            now,
        )
        .await
        .map(|_| ());
        self.note(address, &result);
        result.map_err(delivery_err)
    }

    async fn notify_failure(
        &self,
        address: &Address,
        step: &str,
        error: &PortError,
    ) -> Result<bool, PortError> {
        let Some(admin) = &self.admin else {
            return Ok(false);
        };
        let last = self
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(address)
            .cloned();
        let message = match last {
            // A delivery failure: the delivery module's notice quotes the server.
            Some(e) if step == "deliver" => crate::delivery::compose_failure_notice(
                &self.settings,
                admin,
                address,
                &e,
                self.clock.now(),
            )
            .map_err(delivery_err)?,
            _ => self.general_notice(admin, address, step, error)?,
        };
        self.mailer
            .send(&message)
            .await
            .map(|_| true)
            .map_err(delivery_err)
    }
}
