//! Owns the kinds of the per-mailbox audit trail: every event the store and the pipeline append
//! has one of these kinds, written to the `event` table's `kind` column as its kebab-case name.
//!
//! The store reads kinds back as text (`store::Event::kind`), so a name written by a newer
//! program, or one this program no longer writes, is shown as it is instead of failing the read;
//! [`EventKind::from_str`](std::str::FromStr) tells whether a stored name is one of ours.

use super::stage::names;

/// What happened to a mailbox, as its audit trail names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A source reported a mailbox the store did not know.
    Discovered,
    /// A source reports a mailbox again that it had reported gone.
    Returned,
    /// No source reports the mailbox any more.
    Gone,
    /// A source reported a spelling that differs from this mailbox only in ASCII case.
    CaseVariant,
    /// The private key of a generation is persisted.
    KeyGenerated,
    /// A `key-ready` record had no key id; the key is generated again (nothing was bought).
    KeyMissing,
    /// The order's ctid and budget count are committed; CertificateCreate is about to be sent.
    OrderIntent,
    /// AutoDNS accepted the order.
    Ordered,
    /// AutoDNS certainly refused the order (it was never placed); the budget count is returned.
    OrderRefused,
    /// A lookup found the order whose outcome was unknown.
    OrderFound,
    /// A lookup did not find the order yet, within the listing grace; it looks again later.
    OrderNotListedYet,
    /// A lookup after the listing grace did not find the order: it was never placed.
    OrderNotFound,
    /// The order's job waits for the mailbox owner to confirm GlobalSign's approval mail.
    ApprovalPending,
    /// The approval mail of the order's job was sent again (`resend-approval`).
    ApprovalResent,
    /// The order's job succeeded (by job check, lookup, poll or push).
    JobSucceeded,
    /// The order's job failed; the key is kept and the next order gets a new ctid.
    JobFailed,
    /// The certificate is fetched and checked against the key.
    Issued,
    /// A PKCS#12 password is chosen.
    Bundled,
    /// A `bundled` record held no password; a new one is chosen.
    Rebundle,
    /// The bundle mail went out.
    BundleSent,
    /// The password went out: delivery complete.
    Delivered,
    /// The certificate was revoked (or was already gone at AutoDNS).
    Revoked,
    /// The certificate is due for renewal; the next generation starts.
    RenewalDue,
    /// An operator request was recorded on the mailbox.
    Requested,
    /// An operator request was carried out.
    RequestApplied,
    /// An operator request was dropped because it cannot work for this record.
    RequestDropped,
    /// The failure overlay was cleared for another try (an operator asked).
    Retry,
    /// A step failed; it is retried after the backoff.
    StepFailed,
    /// A step failed for good; the record waits for an operator.
    GaveUp,
    /// The administrator was told about a give-up.
    AdminNotified,
    /// Telling the administrator about a give-up failed; the sweep tries again.
    AdminNoticeFailed,
}

impl EventKind {
    /// Every kind, roughly in the order a mailbox meets them.
    pub const ALL: [EventKind; 31] = [
        EventKind::Discovered,
        EventKind::Returned,
        EventKind::Gone,
        EventKind::CaseVariant,
        EventKind::KeyGenerated,
        EventKind::KeyMissing,
        EventKind::OrderIntent,
        EventKind::Ordered,
        EventKind::OrderRefused,
        EventKind::OrderFound,
        EventKind::OrderNotListedYet,
        EventKind::OrderNotFound,
        EventKind::ApprovalPending,
        EventKind::ApprovalResent,
        EventKind::JobSucceeded,
        EventKind::JobFailed,
        EventKind::Issued,
        EventKind::Bundled,
        EventKind::Rebundle,
        EventKind::BundleSent,
        EventKind::Delivered,
        EventKind::Revoked,
        EventKind::RenewalDue,
        EventKind::Requested,
        EventKind::RequestApplied,
        EventKind::RequestDropped,
        EventKind::Retry,
        EventKind::StepFailed,
        EventKind::GaveUp,
        EventKind::AdminNotified,
        EventKind::AdminNoticeFailed,
    ];

    /// The stable kebab-case name, as stored in the `event` table.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Discovered => "discovered",
            EventKind::Returned => "returned",
            EventKind::Gone => "gone",
            EventKind::CaseVariant => "case-variant",
            EventKind::KeyGenerated => "key-generated",
            EventKind::KeyMissing => "key-missing",
            EventKind::OrderIntent => "order-intent",
            EventKind::Ordered => "ordered",
            EventKind::OrderRefused => "order-refused",
            EventKind::OrderFound => "order-found",
            EventKind::OrderNotListedYet => "order-not-listed-yet",
            EventKind::OrderNotFound => "order-not-found",
            EventKind::ApprovalPending => "approval-pending",
            EventKind::ApprovalResent => "approval-resent",
            EventKind::JobSucceeded => "job-succeeded",
            EventKind::JobFailed => "job-failed",
            EventKind::Issued => "issued",
            EventKind::Bundled => "bundled",
            EventKind::Rebundle => "rebundle",
            EventKind::BundleSent => "bundle-sent",
            EventKind::Delivered => "delivered",
            EventKind::Revoked => "revoked",
            EventKind::RenewalDue => "renewal-due",
            EventKind::Requested => "requested",
            EventKind::RequestApplied => "request-applied",
            EventKind::RequestDropped => "request-dropped",
            EventKind::Retry => "retry",
            EventKind::StepFailed => "step-failed",
            EventKind::GaveUp => "gave-up",
            EventKind::AdminNotified => "admin-notified",
            EventKind::AdminNoticeFailed => "admin-notice-failed",
        }
    }

    /// Whether the stored name `kind` is this kind (stored kinds are read back as text).
    pub fn is(self, kind: &str) -> bool {
        self.as_str() == kind
    }
}

names!(EventKind, "event kind", EventKind::ALL);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_kind_name_round_trips_and_is_kebab_case() {
        for k in EventKind::ALL {
            assert_eq!(k.as_str().parse::<EventKind>(), Ok(k));
            assert!(k
                .as_str()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '-'));
        }
    }

    #[test]
    fn no_two_event_kinds_share_a_name() {
        let mut names: Vec<_> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), EventKind::ALL.len());
    }

    #[test]
    fn the_names_already_in_databases_keep_their_spelling() {
        assert_eq!(EventKind::GaveUp.as_str(), "gave-up");
        assert_eq!(EventKind::OrderIntent.as_str(), "order-intent");
        assert_eq!(
            EventKind::OrderNotListedYet.as_str(),
            "order-not-listed-yet"
        );
        assert_eq!(EventKind::AdminNoticeFailed.as_str(), "admin-notice-failed");
    }

    #[test]
    fn an_unknown_event_kind_name_is_an_error_naming_it() {
        let e = "teleported".parse::<EventKind>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown event kind name \"teleported\" in the state store"
        );
    }
}
