//! Owns the pipeline's view of the outside systems: three small traits (AutoDNS, keys and
//! certificates, delivery) in the pipeline's own words, so the reconciler's logic is written once
//! and tested against fakes, while adapters bind the real modules (`autodns::Client`,
//! `crypto`, `delivery`) to them (every outside system sits behind a trait with a real and a fake
//! implementation).
//!
//! Every error crossing a port is a [`PortError`]: a class for the next decision, the remote's own
//! code kept intact, and a text a mail admin can act on. Secrets cross only inside [`Secret`].

use std::fmt;
use std::future::Future;

use time::OffsetDateTime;

use crate::display_name::DisplayName;
use crate::lifecycle::ErrorClass;
use crate::mailbox::Address;
use crate::secret::Secret;

/// A failed call to an outside system, classified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text} [{code}]")]
pub struct PortError {
    /// Retry later, or needs a person.
    pub class: ErrorClass,
    /// The remote's code (`EF01000`, `E400101`, `http-503`, `timeout`) or ours.
    pub code: String,
    /// What happened, readable by a mail admin; never a secret.
    pub text: String,
    /// True only when the remote certainly did not act on the request (it was refused before
    /// processing: 429, authentication, validation). An order error without this flag leaves the
    /// order's outcome unknown, and the order is looked up before anything is re-sent.
    pub not_performed: bool,
}

/// The [`PortError::code`] of an order refused because AutoDNS does not know the SSL contact it
/// names (deleted in the AutoDNS web interface, or a state directory from another account): the
/// reconciler forgets the stored contact id, so the next attempt looks the contact up or creates
/// it again.
pub const CONTACT_NOT_FOUND: &str = "contact-not-found";

impl PortError {
    /// A transient error whose effect at the remote is unknown.
    pub fn transient(code: &str, text: impl Into<String>) -> Self {
        PortError {
            class: ErrorClass::Transient,
            code: code.into(),
            text: text.into(),
            not_performed: false,
        }
    }

    /// A permanent error (retrying will not help).
    pub fn permanent(code: &str, text: impl Into<String>) -> Self {
        PortError {
            class: ErrorClass::Permanent,
            code: code.into(),
            text: text.into(),
            not_performed: false,
        }
    }

    /// Marks the error as "the remote certainly did nothing".
    pub fn refused(mut self) -> Self {
        self.not_performed = true;
        self
    }
}

/// The order to send.
#[derive(Debug, Clone)]
pub struct OrderRequest<'a> {
    /// The mailbox the certificate is for.
    pub address: &'a Address,
    /// The CSR, PEM.
    pub csr_pem: &'a str,
    /// Our client transaction id, already persisted.
    pub ctid: &'a str,
    /// The SSL contact to use.
    pub contact_id: i64,
    /// The certificate this order replaces (renewal, reprovision), if any.
    pub renew_of: Option<i64>,
    /// The person's name, if a source reported one: the order's first and last name.
    pub display_name: Option<&'a DisplayName>,
}

/// AutoDNS accepted an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderPlaced {
    /// The job to watch.
    pub job_id: i64,
    /// The certificate id, when the answer already carries it.
    pub certificate_id: Option<i64>,
}

/// What a lookup of an order of unknown outcome found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FoundOrder {
    /// The order's job, if known.
    pub job_id: Option<i64>,
    /// The order's certificate, if known.
    pub certificate_id: Option<i64>,
    /// Whether that certificate is issued (its PEM is available); otherwise the order is still
    /// running and is looked up again later.
    pub issued: bool,
}

/// The state of an order's job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// Still running (or waiting at the CA).
    Pending,
    /// Not finished: the job waits for the mailbox owner to confirm the CA's approval mail.
    AwaitingApproval,
    /// Done; the certificate exists.
    Succeeded {
        /// The certificate id, if the job answer names it.
        certificate_id: Option<i64>,
    },
    /// The job failed: nothing was issued.
    Failed {
        /// The remote's code.
        code: String,
        /// The remote's text.
        text: String,
    },
    /// AutoDNS no longer knows the job (finished and archived, `EF300101`); look the order up.
    Gone,
}

/// A completion notice: one poll message or one push notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The poll message id (to confirm); `None` for a push.
    pub message_id: Option<i64>,
    /// The job it reports on.
    pub job_id: Option<i64>,
    /// The ctid it reports on.
    pub ctid: Option<String>,
    /// The certificate id it names.
    pub certificate_id: Option<i64>,
    /// What it says.
    pub outcome: NoticeOutcome,
}

/// What a notice says about its job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeOutcome {
    /// The job succeeded.
    Success,
    /// The job failed.
    Failed {
        /// The remote's code.
        code: String,
        /// The remote's text.
        text: String,
    },
    /// Something else (not a job completion).
    Other,
}

/// A stored certificate and chain.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedCertificate {
    /// Leaf, PEM.
    pub certificate_pem: String,
    /// Intermediates and root, PEM (may be empty).
    pub chain_pem: String,
}

impl fmt::Debug for IssuedCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCertificate")
            .field("certificate_pem_len", &self.certificate_pem.len())
            .field("chain_pem_len", &self.chain_pem.len())
            .finish()
    }
}

/// Facts read from a checked certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFacts {
    /// Expiry.
    pub not_after: OffsetDateTime,
    /// Serial, hex.
    pub serial: String,
    /// SHA-256 of the certificate's DER, hex (shown in the bundle mail).
    pub fingerprint_sha256: String,
}

/// What a revocation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// AutoDNS accepted it now.
    Revoked,
    /// AutoDNS no longer knows the certificate: an earlier request already ended it (one whose
    /// answer was lost, or an operator's in the AutoDNS web interface). Its goal is reached; a
    /// second request could only fail.
    AlreadyGone,
}

/// AutoDNS, as the pipeline needs it.
pub trait Autodns: Send + Sync {
    /// Returns the SSL contact id to order with, creating the contact once.
    fn ensure_contact(&self) -> impl Future<Output = Result<i64, PortError>> + Send;
    /// Sends CertificateCreate (or CertificateRenew) with the request's ctid.
    fn order(
        &self,
        req: &OrderRequest<'_>,
    ) -> impl Future<Output = Result<OrderPlaced, PortError>> + Send;
    /// Looks up an order of unknown outcome: by ctid (job list), then the certificate list by
    /// name, considering only orders created since `since` and never `exclude` (the
    /// certificate being renewed, which has the same name).
    fn find_order(
        &self,
        address: &Address,
        ctid: &str,
        since: OffsetDateTime,
        exclude: Option<i64>,
    ) -> impl Future<Output = Result<Option<FoundOrder>, PortError>> + Send;
    /// JobInfo.
    fn job_state(&self, job_id: i64) -> impl Future<Output = Result<JobState, PortError>> + Send;
    /// CertificateInfo: the certificate and its chain.
    fn fetch_certificate(
        &self,
        certificate_id: i64,
    ) -> impl Future<Output = Result<IssuedCertificate, PortError>> + Send;
    /// Ends the certificate's validity at AutoDNS (for GlobalSign products CertificateDelete;
    /// see the adapter).
    fn revoke(
        &self,
        certificate_id: i64,
    ) -> impl Future<Output = Result<Revocation, PortError>> + Send;
    /// PollInfo: the oldest unconfirmed message, if any.
    fn poll(&self) -> impl Future<Output = Result<Option<Notice>, PortError>> + Send;
    /// PollConfirm.
    fn confirm(&self, message_id: i64) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// Keys, CSRs, certificate checks and PKCS#12 bundles (the crypto module behind it).
pub trait Keys: Send + Sync {
    /// Generates a key for `address`'s generation and persists it (encrypted, 0600) before
    /// returning its key-store id.
    fn generate(
        &self,
        address: &Address,
        generation: u32,
    ) -> impl Future<Output = Result<String, PortError>> + Send;
    /// The CSR for the stored key, PEM.
    fn csr(&self, key_ref: &str, address: &Address) -> Result<String, PortError>;
    /// Checks that the certificate matches the stored key, names `address`, chains, and is valid
    /// at `now`.
    fn check(
        &self,
        key_ref: &str,
        address: &Address,
        cert: &IssuedCertificate,
        now: OffsetDateTime,
    ) -> Result<CertificateFacts, PortError>;
    /// A fresh PKCS#12 password.
    fn password(&self) -> Secret<String>;
    /// Builds the PKCS#12 bundle.
    fn bundle(
        &self,
        key_ref: &str,
        address: &Address,
        cert: &IssuedCertificate,
        password: &Secret<String>,
    ) -> Result<Secret<Vec<u8>>, PortError>;
    /// Called once a generation's bundle and password are delivered; a key store without an
    /// archive wipes the key here (`keys.archive = false`).
    fn delivered(&self, key_ref: &str) -> Result<(), PortError> {
        let _ = key_ref;
        Ok(())
    }
    /// Whether the key is still held (a store without an archive wiped it after delivery, so
    /// the certificate can no longer be bundled again). Asked before accepting `redeliver`.
    fn has_key(&self, key_ref: &str) -> Result<bool, PortError> {
        let _ = key_ref;
        Ok(true)
    }
}

/// Delivery of the bundle and, separately, its password.
pub trait Courier: Send + Sync {
    /// Mails the bundle (with import instructions) to the mailbox, greeting `display_name`
    /// when one is known (the address otherwise).
    fn send_bundle(
        &self,
        address: &Address,
        display_name: Option<&DisplayName>,
        bundle: &Secret<Vec<u8>>,
        facts: &CertificateFacts,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Sends the password over the configured separate channel.
    fn send_password(
        &self,
        address: &Address,
        password: &Secret<String>,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Tells the administrator (`delivery.admin_address`) that `address` gave up for good at
    /// `step` with `error`. `Ok(false)` when no administrator is configured.
    fn notify_failure(
        &self,
        address: &Address,
        step: &str,
        error: &PortError,
    ) -> impl Future<Output = Result<bool, PortError>> + Send {
        let _ = (address, step, error);
        std::future::ready(Ok(false))
    }
}
