//! Owns what happens to the certificate of a mailbox the sources no longer report: one type the
//! planner reads and the config can validate into.

use time::Duration;

/// What happens to the certificate of a mailbox the sources no longer report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovalPolicy {
    /// Leave it valid (the default): the person may still need to read old mail.
    Keep,
    /// Revoke it once the mailbox has been gone for `grace`.
    Revoke {
        /// How long a mailbox must stay gone before its certificate is revoked.
        grace: Duration,
    },
}
