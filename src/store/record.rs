//! Owns the in-memory shape of one mailbox's row and of its audit events: what the planner reads
//! and the reconciler writes back, field for field the `mailbox` and `event` tables.

use time::OffsetDateTime;

use crate::display_name::DisplayName;
use crate::lifecycle::{ErrorClass, EventKind, Request, Stage};
use crate::mailbox::Address;
use crate::secret::Secret;

/// The failure overlay: present on a record whose last step failed. Kept separate from the stage
/// so the stage always says how far the work got (cert-manager's issuance backoff design: the
/// inputs of the backoff — attempt count and last failure — are persisted, so a restart resumes
/// the schedule instead of stampeding).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Failure {
    /// Consecutive failed attempts of the current step (reset on success).
    pub attempts: u32,
    /// How the last error bears on the next decision.
    pub class: Option<ErrorClass>,
    /// The last error's code: AutoDNS's own (`EF…`, `E400101`, `http-503`) or ours (kebab-case).
    pub code: Option<String>,
    /// The last error's text, readable by a mail admin.
    pub text: Option<String>,
    /// True once the attempts bound is reached or the error is permanent: the record waits for
    /// an operator (`provision`, `reprovision`) instead of retrying.
    pub gave_up: bool,
}

/// One mailbox, as stored. `version` is bumped by every write and checked by the next one
/// (compare-and-set), so the daemon and a verb in another process never overwrite each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxRecord {
    /// The mailbox (primary key).
    pub address: Address,
    /// How far the current generation got.
    pub stage: Stage,
    /// 1 for the first certificate, +1 per renewal or reprovision.
    pub generation: u32,
    /// Row version for compare-and-set writes.
    pub version: i64,
    /// Whether the sources currently report the mailbox.
    pub present: bool,
    /// When the sources first reported it gone (removal policy grace starts here).
    pub gone_since: Option<OffsetDateTime>,
    /// An operator request waiting to be carried out.
    pub request: Option<Request>,
    /// Key-store id of this generation's private key.
    pub key_ref: Option<String>,
    /// AutoDNS SSL contact used for the order.
    pub contact_id: Option<i64>,
    /// Our client transaction id for this generation's order; written *before* the call.
    pub ctid: Option<String>,
    /// AutoDNS job id of the order.
    pub job_id: Option<i64>,
    /// AutoDNS certificate id once the job succeeded.
    pub certificate_id: Option<i64>,
    /// The certificate this generation replaces (renewal or reprovision); never taken for this
    /// generation's order when an order is looked up.
    pub renew_of: Option<i64>,
    /// Leaf certificate, PEM (public).
    pub certificate_pem: Option<String>,
    /// Intermediate (and root) certificates, PEM (public).
    pub chain_pem: Option<String>,
    /// Expiry of the stored certificate.
    pub not_after: Option<OffsetDateTime>,
    /// Serial of the stored certificate, hex.
    pub serial: Option<String>,
    /// SHA-256 fingerprint of the stored certificate, hex.
    pub fingerprint: Option<String>,
    /// When the current order's intent was written.
    pub ordering_since: Option<OffsetDateTime>,
    /// The process working on the record now (`pid:start-time`), if any.
    pub lease_owner: Option<String>,
    /// Until when that claim holds if its owner stops answering.
    pub lease_until: Option<OffsetDateTime>,
    /// The PKCS#12 password, held only between "bundle chosen" and "password sent", so a crash
    /// between the two mails resends the password that opens the bundle already delivered.
    pub bundle_password: Option<Secret<String>>,
    /// When the bundle mail of this generation went out.
    pub bundle_sent_at: Option<OffsetDateTime>,
    /// When the password went out (delivery complete).
    pub delivered_at: Option<OffsetDateTime>,
    /// The earliest time the next step may run (backoff, job check, renewal).
    pub next_attempt_at: Option<OffsetDateTime>,
    /// The failure overlay.
    pub failure: Failure,
    /// The person's name a source reported (LDIF, `enqueue --name`): the greeting of the bundle
    /// mail and the order's first and last name. Written by the sources' intake only.
    pub display_name: Option<DisplayName>,
    /// First seen.
    pub created_at: OffsetDateTime,
    /// Last written.
    pub updated_at: OffsetDateTime,
}

impl MailboxRecord {
    /// A freshly discovered mailbox.
    pub fn discovered(address: Address, now: OffsetDateTime) -> Self {
        MailboxRecord {
            address,
            stage: Stage::Discovered,
            generation: 1,
            version: 0,
            present: true,
            gone_since: None,
            request: None,
            key_ref: None,
            contact_id: None,
            ctid: None,
            job_id: None,
            certificate_id: None,
            renew_of: None,
            certificate_pem: None,
            chain_pem: None,
            not_after: None,
            serial: None,
            fingerprint: None,
            ordering_since: None,
            lease_owner: None,
            lease_until: None,
            bundle_password: None,
            bundle_sent_at: None,
            delivered_at: None,
            next_attempt_at: None,
            failure: Failure::default(),
            display_name: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// The label `status` shows: the stage, or `failed` once the record gave up.
    pub fn status_label(&self) -> String {
        let mut s = if self.failure.gave_up {
            format!("failed ({})", self.stage)
        } else {
            self.stage.to_string()
        };
        if !self.present {
            s.push_str(", removed");
        }
        s
    }
}

/// One line of a mailbox's audit trail (append-only).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Event {
    /// Monotonic id (insertion order).
    pub id: i64,
    /// The mailbox.
    pub address: Address,
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Generation it concerns.
    pub generation: u32,
    /// Stable kebab-case kind (`discovered`, `key-generated`, `order-intent`, …): an
    /// [`EventKind`] name, kept as text so a name this program does not know (written by a newer
    /// one) is shown as it is instead of failing the read.
    pub kind: String,
    /// Human-readable detail; never a secret.
    pub detail: String,
}

impl Event {
    /// The kind, if it is one this program knows.
    pub fn known_kind(&self) -> Option<EventKind> {
        self.kind.parse().ok()
    }
}

/// An event about to be appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// What happened; stored as its kebab-case name.
    pub kind: EventKind,
    /// Human-readable detail; never a secret.
    pub detail: String,
}

impl NewEvent {
    /// An event of `kind` with `detail`.
    pub fn new(kind: EventKind, detail: impl Into<String>) -> Self {
        NewEvent {
            kind,
            detail: detail.into(),
        }
    }
}
