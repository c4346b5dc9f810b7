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
        CryptoKeys {
            store,
            key_type,
            profile,
            archive,
            rng: Mutex::new(rng),
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
        }
    }

    /// Sends failure notices to `admin` (`delivery.admin_address`).
    pub fn with_admin(mut self, admin: Option<Address>) -> Self {
        self.admin = admin;
        self
    }

    fn note(&self, address: &Address, result: &Result<(), DeliveryError>) {
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

/// AutoDNS through the typed [`autodns::Client`](crate::autodns::Client), either wire format.
///
/// Every order is a CertificateCreate, also for renewals and reprovisions: a fresh certificate
/// object per generation is what lets an order of unknown outcome be found again by name and
/// creation time (`autodns-api.md` §6.5), whereas CertificateRenew changes the existing object
/// in place. Revocation uses CertificateDelete, because CertificateRevoke is offered only for
/// other CAs' products (§2.10).
pub struct AutodnsPort {
    client: crate::autodns::Client,
    contact: crate::config::ContactConfig,
    product: String,
    lifetime_months: u32,
    domains: crate::mailbox::DomainPolicy,
    rng: Mutex<Box<dyn RngCore + Send>>,
}

impl std::fmt::Debug for AutodnsPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AutodnsPort")
            .field("client", &self.client)
            .field("product", &self.product)
            .finish_non_exhaustive()
    }
}

/// How far a certificate's creation time may precede our order intent and still be our order:
/// clock skew for zoned (JSON) times; for the XML gateway's zoneless times, any zone.
const SKEW_ZONED: time::Duration = time::Duration::minutes(10);
const SKEW_NAIVE: time::Duration = time::Duration::hours(14);

/// The stable code of an AutoDNS error: the first detail code, else the status code, else the
/// HTTP status, else the error kind.
fn autodns_code(e: &crate::autodns::Error) -> String {
    if let Some(api) = e.api() {
        if let Some(c) = api.messages.iter().find_map(|m| m.code.clone()) {
            return c;
        }
        if let Some(c) = &api.status_code {
            return c.clone();
        }
    }
    match (e, e.http_status()) {
        (
            crate::autodns::Error::Network {
                timed_out: true, ..
            },
            _,
        ) => "timeout".into(),
        (crate::autodns::Error::Network { .. }, _) => "network".into(),
        (_, Some(s)) => format!("http-{s}"),
        _ => e.kind().as_str().to_string(),
    }
}

fn autodns_err(e: crate::autodns::Error) -> PortError {
    PortError {
        class: class(e.is_transient()),
        code: autodns_code(&e),
        text: e.to_string(),
        not_performed: !e.outcome_unknown(),
    }
}

/// A poll message or push in the pipeline's words.
pub fn notice_of(m: &crate::autodns::PollMessage) -> super::ports::Notice {
    use super::ports::{Notice, NoticeOutcome};
    let outcome = if m.is_success() {
        NoticeOutcome::Success
    } else if m.is_failure() {
        let first = m
            .messages
            .iter()
            .find(|x| x.code.is_some() || x.text.is_some());
        NoticeOutcome::Failed {
            code: first
                .and_then(|x| x.code.clone())
                .unwrap_or_else(|| "job-failed".into()),
            text: first
                .and_then(|x| x.text.clone())
                .unwrap_or_else(|| "the CA did not issue the certificate".into()),
        }
    } else {
        NoticeOutcome::Other
    };
    Notice {
        message_id: m.id,
        job_id: m.job_id(),
        ctid: m.ctid().map(str::to_string),
        certificate_id: m.certificate_id(),
        outcome,
    }
}

/// Parses an AutoDNS push body (either format) into a notice; for `daemon::PushParser`.
pub fn parse_push_notice(body: &[u8]) -> Result<super::ports::Notice, String> {
    let m = crate::autodns::parse_push(body).map_err(|e| e.to_string())?;
    let mut n = notice_of(&m);
    // The same message also waits in the poll queue; the poller confirms it there.
    n.message_id = None;
    Ok(n)
}

impl AutodnsPort {
    /// A port over `client`, ordering per the `[autodns]` and `[domains]` config.
    pub fn new(
        client: crate::autodns::Client,
        autodns: &crate::config::AutodnsConfig,
        domains: &crate::mailbox::DomainPolicy,
        rng: Box<dyn RngCore + Send>,
    ) -> Self {
        AutodnsPort {
            client,
            contact: autodns.contact.clone(),
            product: autodns.product.clone(),
            lifetime_months: autodns.lifetime_months,
            domains: domains.clone(),
            rng: Mutex::new(rng),
        }
    }

    /// The client.
    pub fn client(&self) -> &crate::autodns::Client {
        &self.client
    }
}

impl super::ports::Autodns for AutodnsPort {
    async fn ensure_contact(&self) -> Result<i64, PortError> {
        use crate::config::ContactConfig;
        let d = match &self.contact {
            ContactConfig::Existing(id) => return Ok(*id),
            ContactConfig::Create(d) => d,
        };
        // Reuse a contact made by an earlier run whose id was not stored (state dir wiped).
        let existing = self.client.ssl_contact_list().await.map_err(autodns_err)?;
        let same = |c: &crate::autodns::SslContact| {
            c.email
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(&d.email))
                && c.fname.as_deref() == Some(d.first.as_str())
                && c.lname.as_deref() == Some(d.last.as_str())
        };
        if let Some(id) = existing.iter().filter(|c| same(c)).find_map(|c| c.id) {
            return Ok(id);
        }
        let contact = crate::autodns::SslContact {
            fname: Some(d.first.clone()),
            lname: Some(d.last.clone()),
            phone: Some(d.phone.clone()),
            fax: d.fax.clone(),
            email: Some(d.email.clone()),
            title: Some(d.title.clone()),
            organization: Some(d.organization.clone()),
            address: vec![d.address.clone()],
            pcode: Some(d.postal_code.clone()),
            city: Some(d.city.clone()),
            country: Some(d.country.clone()),
            state: Some(d.state.clone()),
            ..Default::default()
        };
        let created = self
            .client
            .ssl_contact_create(&contact)
            .await
            .map_err(autodns_err)?;
        created
            .id
            .ok_or_else(|| PortError::transient("malformed", "SSLContactCreate returned no id"))
    }

    async fn order(
        &self,
        req: &super::ports::OrderRequest<'_>,
    ) -> Result<super::ports::OrderPlaced, PortError> {
        let download = {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            crate::crypto::generate_download_password(&mut *rng)
        };
        let mut o = crate::autodns::CertificateOrder::new(
            req.address.as_str(),
            req.csr_pem,
            req.contact_id,
            download,
        );
        o.product = self.product.clone();
        o.lifetime_months = self.lifetime_months;
        if let Some(ov) = self.domains.override_for(req.address) {
            if let Some(p) = &ov.product {
                o.product = p.clone();
            }
            if let Some(l) = ov.lifetime_months {
                o.lifetime_months = l;
            }
            o.organization_unit_name = ov.organization_unit.clone();
            if let Some(a) = ov.admin_contact_id {
                o.admin_contact_id = a;
            }
            o.technical_contact_id = ov.technical_contact_id;
        }
        let job = self
            .client
            .certificate_create(&o, req.ctid)
            .await
            .map_err(|e| {
                // The order names no other object than its contacts, so "no such object" is
                // about them; a configured contact id cannot heal by itself.
                if e.kind() != crate::autodns::ErrorKind::NotFound || e.outcome_unknown() {
                    return autodns_err(e);
                }
                let configured = matches!(self.contact, crate::config::ContactConfig::Existing(_));
                PortError {
                    class: class(!configured),
                    code: super::ports::CONTACT_NOT_FOUND.into(),
                    text: if configured {
                        format!("{e}; check autodns.contact_id in the config")
                    } else {
                        format!("{e}; the SSL contact is looked up or created again before the next order")
                    },
                    not_performed: true,
                }
            })?;
        match job.id {
            Some(job_id) => Ok(super::ports::OrderPlaced {
                job_id,
                certificate_id: None,
            }),
            // Accepted but unreadable: the order may exist; the reconciler looks it up.
            None => Err(PortError::transient(
                "malformed",
                "CertificateCreate was accepted but named no job",
            )),
        }
    }

    async fn find_order(
        &self,
        address: &Address,
        ctid: &str,
        since: OffsetDateTime,
        exclude: Option<i64>,
    ) -> Result<Option<super::ports::FoundOrder>, PortError> {
        use super::ports::FoundOrder;
        use crate::autodns::{JobQueue, JobStatus, ObjectJob, Query, Timestamp};

        /// A failed lookup is never "not found": the caller must not re-order on it, only try
        /// again later (issue 7, "Exactly-once ordering").
        fn lookup_err(e: crate::autodns::Error) -> PortError {
            PortError {
                class: ErrorClass::Transient,
                ..autodns_err(e)
            }
        }
        /// Whether an object created at `created` can be the order intended at `since`: unknown
        /// age counts as recent (a wrong match fails the key check and stops for a person; a
        /// missed one could buy a second certificate).
        fn recent(created: Option<&Timestamp>, since: OffsetDateTime) -> bool {
            match created {
                Some(Timestamp::Zoned(t)) => *t >= since - SKEW_ZONED,
                Some(Timestamp::Naive(t)) => t.assume_utc() >= since - SKEW_NAIVE,
                None => true,
            }
        }
        /// Our order among `jobs`: the job started by our ctid; where the answer echoes no ctid
        /// at all, the newest job on this name created since the intent.
        fn ours<'a>(
            jobs: &'a [ObjectJob],
            address: &Address,
            ctid: &str,
            since: OffsetDateTime,
        ) -> Option<&'a ObjectJob> {
            let named = |j: &&ObjectJob| {
                j.object_name()
                    .is_none_or(|n| n.trim().eq_ignore_ascii_case(address.as_str()))
                    && j.job_id().is_some()
            };
            if let Some(j) = jobs
                .iter()
                .filter(named)
                .find(|j| !ctid.is_empty() && j.ctid() == Some(ctid))
            {
                return Some(j);
            }
            // A job naming another ctid is another order (an earlier generation, another tool):
            // never ours.
            jobs.iter()
                .filter(named)
                .filter(|j| j.ctid().is_none() && recent(j.created(), since))
                .max_by_key(|j| j.created().map(|t| t.assume_offset(time::UtcOffset::UTC)))
        }

        // 1. The job list (400115, `POST /job/_search`, reference §2.12): an order whose answer
        // was lost is a running job at once, before the certificate list may show it. The ctid
        // is not a documented filter key, so the search filters on the name (`object`) and the
        // ctid is matched here.
        let by_name = Query::equal("object", address.as_str());
        let active = self
            .client
            .job_search(&by_name, JobQueue::Active)
            .await
            .map_err(lookup_err)?;
        if let Some(j) = ours(&active, address, ctid, since) {
            return Ok(Some(FoundOrder {
                job_id: j.job_id(),
                certificate_id: j.certificate_id().filter(|id| Some(*id) != exclude),
                issued: false,
            }));
        }
        // 2. The job history (400135, `POST /job/history/_search`): the job already ended. A
        // successful one names the certificate (if the answer carries it), which is checked for
        // its PEM below. One that failed or was cancelled issued nothing: it is not reported as
        // found (a finished job's state cannot be read by id over XML, so the caller would only
        // ask again), and the certificate list below decides, as it did before the job lists.
        let finished = self
            .client
            .job_search(&by_name, JobQueue::History)
            .await
            .map_err(lookup_err)?;
        let (mut job_id, mut found_id) = (None, None);
        if let Some(j) = ours(&finished, address, ctid, since) {
            if j.status() == Some(&JobStatus::Success) {
                job_id = j.job_id();
                found_id = j.certificate_id().filter(|id| Some(*id) != exclude);
            }
        }
        // 3. The certificate list by name (400105): the fallback when neither job list names the
        // certificate (reference §3.2: "list-by-name").
        let mut found_pem = None;
        if found_id.is_none() {
            let list = self
                .client
                .certificate_list(Some(address.as_str()))
                .await
                .map_err(lookup_err)?;
            let newest = list
                .iter()
                .filter(|c| {
                    c.name
                        .as_deref()
                        .is_some_and(|n| n.eq_ignore_ascii_case(address.as_str()))
                        && recent(c.created.as_ref(), since)
                        && c.id.is_some()
                        && c.id != exclude
                })
                .max_by_key(|c| {
                    c.created
                        .as_ref()
                        .map(|t| t.assume_offset(time::UtcOffset::UTC))
                });
            let Some(found) = newest else {
                // A successful job of ours whose certificate is not listed (yet) is still an
                // order: never "not found", which could buy a second certificate.
                return Ok(job_id.map(|job| FoundOrder {
                    job_id: Some(job),
                    certificate_id: None,
                    issued: false,
                }));
            };
            found_id = found.id;
            found_pem = found.server.clone();
        }
        let issued = match (found_pem, found_id) {
            (Some(_), _) => true,
            (None, Some(id)) => {
                let full = self.client.certificate_info(id).await.map_err(lookup_err)?;
                full.server.is_some()
            }
            (None, None) => false,
        };
        Ok(Some(FoundOrder {
            job_id,
            certificate_id: found_id,
            issued,
        }))
    }

    async fn job_state(&self, job_id: i64) -> Result<super::ports::JobState, PortError> {
        use super::ports::JobState;
        use crate::autodns::{ErrorKind, JobStatus};
        let oj = match self.client.job_info(job_id).await {
            Ok(j) => j,
            // `EF300101`: the job left the active queue. Its outcome is in the job history
            // (reference/autodns-api.md, job info): a failed or canceled job must go back to
            // "re-order", not to "order vanished" (review finding 2) — the CA removes a refused
            // order's certificate, so a lookup by name cannot tell the two apart.
            Err(e) if e.kind() == ErrorKind::NotFound => {
                match self.client.job_history(job_id).await {
                    Ok(j) => j,
                    Err(h) if h.is_transient() => return Err(autodns_err(h)),
                    // Not in the history either: the caller looks the certificate up by name.
                    Err(h) => {
                        tracing::debug!(job = job_id, error = %h, "job history unavailable");
                        return Ok(JobState::Gone);
                    }
                }
            }
            Err(e) => return Err(autodns_err(e)),
        };
        let status = oj.job.as_ref().and_then(|j| j.status.clone());
        Ok(match status {
            Some(JobStatus::Success) => JobState::Succeeded {
                certificate_id: oj.certificate_id(),
            },
            Some(s @ (JobStatus::Failed | JobStatus::Canceled)) => JobState::Failed {
                code: format!("job-{}", format!("{s:?}").to_ascii_lowercase()),
                text: if oj.notices.is_empty() {
                    "the CA did not issue the certificate".into()
                } else {
                    oj.notices.join("; ")
                },
            },
            _ => JobState::Pending,
        })
    }

    async fn fetch_certificate(&self, certificate_id: i64) -> Result<IssuedCertificate, PortError> {
        let c = self
            .client
            .certificate_info(certificate_id)
            .await
            .map_err(autodns_err)?;
        let Some(leaf) = c.server else {
            return Err(PortError::transient(
                "not-issued-yet",
                format!("certificate {certificate_id} has no PEM yet"),
            ));
        };
        let chain: Vec<String> = c
            .certification_authority
            .into_iter()
            .filter_map(|ca| ca.ca_certificate)
            .collect();
        Ok(IssuedCertificate {
            certificate_pem: leaf,
            chain_pem: chain.join("\n"),
        })
    }

    async fn revoke(&self, certificate_id: i64) -> Result<super::ports::Revocation, PortError> {
        use super::ports::Revocation;
        let ctid = format!("smp-delete-{certificate_id}");
        match self.client.certificate_delete(certificate_id, &ctid).await {
            Ok(_) => Ok(Revocation::Revoked),
            // The id is the one AutoDNS gave this mailbox's order, so "no such certificate"
            // means it was deleted already: by our earlier request whose answer was lost (a
            // retry after a timeout lands here), or by hand. Failing would leave a cancelled
            // certificate's mailbox "failed" with nothing left to do.
            Err(e) if e.kind() == crate::autodns::ErrorKind::NotFound => {
                tracing::info!(
                    certificate = certificate_id,
                    "certificate already gone at AutoDNS: {e}"
                );
                Ok(Revocation::AlreadyGone)
            }
            Err(e) => Err(autodns_err(e)),
        }
    }

    async fn poll(&self) -> Result<Option<super::ports::Notice>, PortError> {
        let info = self.client.poll_info().await.map_err(autodns_err)?;
        Ok(info.message.as_ref().map(notice_of))
    }

    async fn confirm(&self, message_id: i64) -> Result<(), PortError> {
        self.client
            .poll_confirm(message_id)
            .await
            .map_err(autodns_err)
    }
}
