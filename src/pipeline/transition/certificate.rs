//! Owns what the steps around the certificate do to a record: the key generated, the
//! certificate fetched and checked, the PKCS#12 password chosen, the two delivery mails, the
//! revocation, and the start of a renewal.
//!
//! A key is persisted (its id on the record) before a CSR is built from it; the password is
//! held on the record from "bundled" until the password mail is out, so a crash between the two
//! mails resends the password that opens the bundle already delivered
//! (`tests/pipeline/crash_points.rs`).

use time::{Duration, OffsetDateTime};

use super::{next_generation, StepResult, Transition};
use crate::lifecycle::{EventKind, Stage};
use crate::pipeline::ports::{CertificateFacts, IssuedCertificate, PortError, Revocation};
use crate::pipeline::status::fmt_time;
use crate::secret::Secret;
use crate::store::MailboxRecord;

/// The key of the record's generation was generated and persisted as `key_ref` (or failed).
pub fn key_generated(rec: MailboxRecord, key: Result<String, PortError>) -> StepResult {
    match key {
        Ok(key_ref) => {
            let mut r = rec;
            r.stage = Stage::KeyReady;
            r.key_ref = Some(key_ref);
            let detail = format!("generation {}", r.generation);
            StepResult::done(Transition::new(r).event(EventKind::KeyGenerated, detail))
        }
        Err(e) => StepResult::failed(rec, e),
    }
}

/// A step found the record without what it needs (an edited store): a permanent failure.
pub fn incomplete(rec: MailboxRecord, what: &str) -> StepResult {
    StepResult::failed(rec, PortError::permanent("record-incomplete", what))
}

/// The certificate `id` was fetched and checked against the key: `issued`, with its public
/// facts; any earlier bundle or delivery of this generation is forgotten.
pub fn certificate_checked(
    rec: MailboxRecord,
    id: i64,
    cert: IssuedCertificate,
    facts: &CertificateFacts,
) -> Transition {
    let mut r = rec;
    r.stage = Stage::Issued;
    r.certificate_pem = Some(cert.certificate_pem);
    r.chain_pem = Some(cert.chain_pem);
    r.not_after = Some(facts.not_after);
    r.serial = Some(facts.serial.clone());
    r.fingerprint = Some(facts.fingerprint_sha256.clone());
    r.bundle_password = None;
    r.bundle_sent_at = None;
    r.delivered_at = None;
    r.next_attempt_at = None;
    let detail = format!(
        "certificate {id}, serial {}, expires {}",
        facts.serial,
        fmt_time(Some(facts.not_after))
    );
    Transition::new(r).event(EventKind::Issued, detail)
}

/// The certificate, its facts and its key id as stored on `rec`, if all are there.
pub fn stored_certificate(
    rec: &MailboxRecord,
) -> Option<(IssuedCertificate, CertificateFacts, String)> {
    Some((
        IssuedCertificate {
            certificate_pem: rec.certificate_pem.clone()?,
            chain_pem: rec.chain_pem.clone().unwrap_or_default(),
        },
        CertificateFacts {
            not_after: rec.not_after?,
            serial: rec.serial.clone()?,
            fingerprint_sha256: rec.fingerprint.clone().unwrap_or_default(),
        },
        rec.key_ref.clone()?,
    ))
}

/// A PKCS#12 password was chosen (and a bundle built with it): `bundled`, holding it.
pub fn bundled(rec: MailboxRecord, password: Secret<String>) -> Transition {
    let mut r = rec;
    r.stage = Stage::Bundled;
    r.bundle_password = Some(password);
    Transition::new(r).event(EventKind::Bundled, "PKCS#12 password chosen")
}

/// A `bundled` record holds no password (an edited store): back to `issued` to choose one.
pub fn rebundle(rec: MailboxRecord) -> Transition {
    let mut r = rec;
    r.stage = Stage::Issued;
    Transition::new(r).event(EventKind::Rebundle, "no password held")
}

/// What the bundle mail going out does to the record.
#[derive(Debug, Clone)]
pub enum BundleSent {
    /// The password follows after a delay: the step finishes here, the claim is released and
    /// the planner runs `deliver` again when the password is due.
    PasswordLater(Transition),
    /// The password follows at once: this is committed under the claim, then the password is
    /// sent.
    PasswordNow(Transition),
}

/// The bundle mail went out at `now`; the password goes out `password_delay` later.
pub fn bundle_sent(
    rec: MailboxRecord,
    now: OffsetDateTime,
    password_delay: Duration,
) -> BundleSent {
    let mut r = rec;
    r.bundle_sent_at = Some(now);
    r.updated_at = now;
    if password_delay > Duration::ZERO {
        r.next_attempt_at = Some(now + password_delay);
        r.lease_owner = None;
        r.lease_until = None;
        let t = Transition::new(r).event(EventKind::BundleSent, "PKCS#12 mailed; password follows");
        return BundleSent::PasswordLater(t);
    }
    BundleSent::PasswordNow(Transition::new(r).event(EventKind::BundleSent, "PKCS#12 mailed"))
}

/// The password mail went out at `now`: `delivered`, and the password is forgotten.
pub fn delivered(rec: MailboxRecord, now: OffsetDateTime) -> Transition {
    let mut r = rec;
    r.stage = Stage::Delivered;
    r.delivered_at = Some(now);
    r.bundle_password = None;
    Transition::new(r).event(EventKind::Delivered, "password sent separately")
}

/// The certificate `id` was revoked (or was already gone at AutoDNS): `revoked`, request done.
pub fn revoked(rec: MailboxRecord, id: i64, how: Revocation) -> Transition {
    let mut r = rec;
    r.stage = Stage::Revoked;
    r.request = None;
    let detail = match how {
        Revocation::Revoked => format!("certificate {id}"),
        Revocation::AlreadyGone => {
            format!("certificate {id} no longer exists at AutoDNS (ended by an earlier request)")
        }
    };
    Transition::new(r).event(EventKind::Revoked, detail)
}

/// A record to revoke that has no certificate: `revoked` without a call.
pub fn nothing_to_revoke(rec: MailboxRecord) -> Transition {
    let mut r = rec;
    r.stage = Stage::Revoked;
    r.request = None;
    Transition::new(r).event(EventKind::Revoked, "no certificate to revoke")
}

/// The certificate is due for renewal: the next generation starts, replacing it.
pub fn renewal_started(rec: MailboxRecord) -> Transition {
    let renew_of = rec.certificate_id;
    let detail = format!("expires {}", fmt_time(rec.not_after));
    Transition::new(next_generation(rec, renew_of)).event(EventKind::RenewalDue, detail)
}
