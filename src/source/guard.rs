//! Owns the mass-removal guard: the pure decision whether one scan or feed update may remove
//! mailboxes. An empty maildir mount, a truncated LDIF export or a half-written file looks
//! exactly like "everyone left"; acting on it would revoke or drop certificates for a whole
//! organisation. So an update that would remove more than a share of the known mailboxes is
//! refused as a whole, and reported: an empty or truncated feed is never a mass offboarding.

use std::fmt;

/// How much one update may remove.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GuardPolicy {
    /// Largest share of the known mailboxes one update may remove (0.0..=1.0). An update
    /// removing more than this is refused entirely.
    pub max_removal_share: f64,
    /// Removals up to this count are always allowed, whatever the share. 0 (the default) keeps
    /// the share strict; a very small installation where one mailbox is more than the share
    /// can set 1.
    pub removals_always_allowed: usize,
}

impl Default for GuardPolicy {
    fn default() -> Self {
        GuardPolicy {
            max_removal_share: 0.10,
            removals_always_allowed: 0,
        }
    }
}

/// A refused update: it would have removed `would_remove` of `known` mailboxes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct MassRemovalRefused {
    pub known: usize,
    pub would_remove: usize,
    /// `would_remove / known`.
    pub share: f64,
    /// The policy's limit, for the message.
    pub max_share: f64,
}

impl fmt::Display for MassRemovalRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "refused to remove {} of {} known mailboxes ({:.1}%, limit {:.1}%) in one update; \
             nothing was removed. If the source is truncated or unmounted, fix it; if the \
             removals are real, raise max_removal_share for one run or remove the mailboxes \
             in smaller steps",
            self.would_remove,
            self.known,
            self.share * 100.0,
            self.max_share * 100.0
        )
    }
}

/// Decides whether an update removing `would_remove` of `known` mailboxes may go ahead.
///
/// Removing nothing is always allowed. Removing from an empty known set cannot happen and is
/// allowed. Otherwise the share `would_remove / known` must not exceed
/// `policy.max_removal_share`, unless `would_remove <= policy.removals_always_allowed`.
pub fn check_removals(
    known: usize,
    would_remove: usize,
    policy: &GuardPolicy,
) -> Result<(), MassRemovalRefused> {
    if would_remove == 0 || known == 0 || would_remove <= policy.removals_always_allowed {
        return Ok(());
    }
    // Counts of mailboxes stay far below 2^52, so the conversion is exact.
    let share = would_remove as f64 / known as f64;
    if share > policy.max_removal_share {
        Err(MassRemovalRefused {
            known,
            would_remove,
            share,
            max_share: policy.max_removal_share,
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removing_up_to_ten_percent_is_allowed_by_default() {
        let p = GuardPolicy::default();
        assert_eq!(check_removals(100, 10, &p), Ok(()));
        assert_eq!(check_removals(100, 0, &p), Ok(()));
        assert_eq!(check_removals(0, 0, &p), Ok(()));
    }

    #[test]
    fn removing_more_than_ten_percent_is_refused_with_the_figures() {
        let err = check_removals(100, 11, &GuardPolicy::default()).unwrap_err();
        assert_eq!((err.known, err.would_remove), (100, 11));
        assert!((err.share - 0.11).abs() < 1e-9);
        let msg = err.to_string();
        assert!(
            msg.contains("11 of 100") && msg.contains("nothing was removed"),
            "{msg}"
        );
    }

    #[test]
    fn an_empty_feed_is_refused() {
        let err = check_removals(3, 3, &GuardPolicy::default()).unwrap_err();
        assert_eq!(err.share, 1.0);
    }

    #[test]
    fn a_small_installation_can_allow_single_removals() {
        let strict = GuardPolicy::default();
        let lenient = GuardPolicy {
            removals_always_allowed: 1,
            ..strict
        };
        assert!(check_removals(5, 1, &strict).is_err());
        assert_eq!(check_removals(5, 1, &lenient), Ok(()));
        assert!(check_removals(5, 2, &lenient).is_err());
    }
}
