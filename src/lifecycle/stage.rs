//! Owns the names of the per-mailbox state machine: the stages a mailbox moves through, the
//! operator requests that can be pending on it, and the classes of failure the overlay records.
//!
//! Every name is a stable kebab-case string (STYLE.md habit 8): the same word appears in the
//! store's `stage` column, in log lines, in `status` and in metrics, so these enums convert to
//! and from those strings and nothing else invents spellings.

/// Where a mailbox stands in its current generation (one generation = one certificate).
///
/// The happy path is `discovered → key-ready → ordering → ordered → issued → bundled →
/// delivered`, then back to `discovered` with the next generation when renewal is due.
/// `revoked` is terminal until an operator asks for a reprovision. Failures are not a stage:
/// they are an overlay on the record (attempts, error, next attempt time) so the stage always
/// says how far the work got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// Known to exist; no key yet for this generation.
    Discovered,
    /// The private key is persisted in the key store; no order has been attempted.
    KeyReady,
    /// The order's ctid is written; CertificateCreate may be in flight or its answer lost.
    /// Nothing may order again until a lookup at AutoDNS has resolved it.
    Ordering,
    /// AutoDNS accepted the order (job id stored); waiting for issuance (poll, push, job check).
    Ordered,
    /// Certificate and chain are stored and checked against the key.
    Issued,
    /// A PKCS#12 password is chosen and held until both mails are out.
    Bundled,
    /// Bundle and password were sent; the certificate is in use.
    Delivered,
    /// The certificate was revoked at AutoDNS (by policy or by an operator).
    Revoked,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Stage; 8] = [
        Stage::Discovered,
        Stage::KeyReady,
        Stage::Ordering,
        Stage::Ordered,
        Stage::Issued,
        Stage::Bundled,
        Stage::Delivered,
        Stage::Revoked,
    ];

    /// The stable kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Discovered => "discovered",
            Stage::KeyReady => "key-ready",
            Stage::Ordering => "ordering",
            Stage::Ordered => "ordered",
            Stage::Issued => "issued",
            Stage::Bundled => "bundled",
            Stage::Delivered => "delivered",
            Stage::Revoked => "revoked",
        }
    }

    /// Whether money may have been spent on the current generation (an order was attempted).
    /// Such a record is never dropped and never re-ordered without a lookup.
    pub fn order_attempted(self) -> bool {
        !matches!(self, Stage::Discovered | Stage::KeyReady)
    }
}

/// An operator request waiting on a record (written by the verbs, carried out by whichever
/// process reconciles the record next — the daemon or the verb itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Request {
    /// New key and new certificate (a fresh order), even though one exists.
    Reprovision,
    /// Send the existing certificate again with a fresh PKCS#12 password; no purchase.
    Redeliver,
    /// Renew now with a fresh key (CertificateRenew of the current certificate).
    Renew,
    /// Revoke the current certificate.
    Revoke,
}

impl Request {
    /// The stable kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Request::Reprovision => "reprovision",
            Request::Redeliver => "redeliver",
            Request::Renew => "renew",
            Request::Revoke => "revoke",
        }
    }
}

/// How a failure bears on the next decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Worth retrying after a backoff (network, 5xx, 429, timeouts, a failed job).
    Transient,
    /// Retrying will not help (validation errors, a refused address); needs a person.
    Permanent,
    /// The daily order budget is spent; ordering resumes the next UTC day.
    Budget,
}

impl ErrorClass {
    /// The stable kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Transient => "transient",
            ErrorClass::Permanent => "permanent",
            ErrorClass::Budget => "budget",
        }
    }
}

/// A stored name that is not one of ours (a newer program wrote it, or the file was edited).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} name {name:?} in the state store")]
pub struct UnknownName {
    /// Which vocabulary: "stage", "request", "error class" or "event kind".
    pub kind: &'static str,
    /// The text found.
    pub name: String,
}

/// Gives a vocabulary enum with an `as_str` its `FromStr`, `Display` and `Serialize` from one
/// table of its variants, so a name is spelled once.
macro_rules! names {
    ($t:ty, $kind:literal, $all:expr) => {
        impl ::std::str::FromStr for $t {
            type Err = $crate::lifecycle::UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $all.into_iter()
                    .find(|v: &$t| v.as_str() == s)
                    .ok_or_else(|| $crate::lifecycle::UnknownName {
                        kind: $kind,
                        name: s.to_string(),
                    })
            }
        }
        impl ::std::fmt::Display for $t {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}
pub(crate) use names;

names!(
    Stage,
    "stage",
    [
        Stage::Discovered,
        Stage::KeyReady,
        Stage::Ordering,
        Stage::Ordered,
        Stage::Issued,
        Stage::Bundled,
        Stage::Delivered,
        Stage::Revoked,
    ]
);
names!(
    Request,
    "request",
    [
        Request::Reprovision,
        Request::Redeliver,
        Request::Renew,
        Request::Revoke
    ]
);
names!(
    ErrorClass,
    "error class",
    [
        ErrorClass::Transient,
        ErrorClass::Permanent,
        ErrorClass::Budget
    ]
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_name_round_trips_and_is_kebab_case() {
        for s in Stage::ALL {
            assert_eq!(s.as_str().parse::<Stage>(), Ok(s));
            assert!(s
                .as_str()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '-'));
        }
    }

    #[test]
    fn an_unknown_stage_name_is_an_error_naming_it() {
        let e = "shipped".parse::<Stage>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown stage name \"shipped\" in the state store"
        );
    }

    #[test]
    fn only_stages_from_ordering_on_may_have_spent_money() {
        let spent: Vec<_> = Stage::ALL
            .into_iter()
            .filter(|s| s.order_attempted())
            .collect();
        assert!(!spent.contains(&Stage::Discovered) && !spent.contains(&Stage::KeyReady));
        assert!(spent.contains(&Stage::Ordering));
    }
}
