//! Owns the mass-removal guard: the pure decision whether one scan or feed update may remove
//! mailboxes. An empty maildir mount, a truncated LDIF export or a half-written file looks
//! exactly like "everyone left"; acting on it would revoke or drop certificates for a whole
//! organisation. So an update that would remove more than a share of the known mailboxes is
//! refused as a whole, and reported: an empty or truncated feed is never a mass offboarding.
//!
//! The daemon and `run --once` judge removals over a sliding window ([`check_window`]): what a
//! source removed in the last `window` counts with what it would remove now, so removing a
//! tree one mailbox at a time trips the guard as a burst does. A refused removal is held back
//! (the store keeps it, `status` shows it) until the mailbox returns or an operator runs
//! `confirm-removals`.

use std::fmt;
use std::time::Duration;

/// The verb that releases held-back removals, named in every refusal.
pub const RELEASE_VERB: &str = "confirm-removals";

/// How much one update may remove.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GuardPolicy {
    /// Largest share of the known mailboxes one update may remove (0.0..=1.0). An update
    /// removing more than this is refused entirely.
    pub max_removal_share: f64,
    /// Removals up to this count (within the window) are always allowed, whatever the share,
    /// so a small installation can lose a mailbox; they still may not empty a source
    /// (`sources.removals_always_allowed`, default [`DEFAULT_ALWAYS_ALLOWED`]).
    pub removals_always_allowed: usize,
    /// How far back [`check_window`] counts removals already made
    /// (`sources.removal_window_secs`, default one hour).
    pub window: Duration,
}

/// The default of `sources.removals_always_allowed`.
pub const DEFAULT_ALWAYS_ALLOWED: usize = 2;

impl Default for GuardPolicy {
    fn default() -> Self {
        GuardPolicy {
            max_removal_share: 0.10,
            removals_always_allowed: DEFAULT_ALWAYS_ALLOWED,
            window: Duration::from_secs(3600),
        }
    }
}

impl GuardPolicy {
    /// A policy that never refuses (for a watcher whose removals the store judges).
    pub fn lenient() -> Self {
        GuardPolicy {
            max_removal_share: 1.0,
            removals_always_allowed: usize::MAX,
            window: Duration::ZERO,
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
    /// Removals the source already made within the guard's window (0 for a one-update check).
    pub recently_removed: usize,
}

impl fmt::Display for MassRemovalRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let recent = if self.recently_removed > 0 {
            format!(
                " (with {} removed earlier within the guard's window)",
                self.recently_removed
            )
        } else {
            String::new()
        };
        write!(
            f,
            "refused to remove {} of {} known mailboxes{recent} ({:.1}%, limit {:.1}%); \
             nothing was removed and the removals are held back. If the source is truncated or \
             unmounted, fix it; if the removals are real, release them with \
             `smime-provisioner {RELEASE_VERB}`",
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
            recently_removed: 0,
        })
    } else {
        Ok(())
    }
}

/// Decides whether a source that knows `known` mailboxes now, and removed `recently_removed`
/// within the policy's window, may remove `would_remove` more.
///
/// The share is taken over the whole window: `(recently_removed + would_remove)` of the
/// mailboxes known when the window began (`known + recently_removed`). Up to
/// `removals_always_allowed` removals in the window always pass, except that removing every
/// mailbox a source knows (an empty export, an unmounted tree) is refused unless the share
/// allows everything (1.0).
pub fn check_window(
    known: usize,
    recently_removed: usize,
    would_remove: usize,
    policy: &GuardPolicy,
) -> Result<(), MassRemovalRefused> {
    if would_remove == 0 || known == 0 {
        return Ok(());
    }
    let total = recently_removed.saturating_add(would_remove);
    let base = known.saturating_add(recently_removed);
    // Counts of mailboxes stay far below 2^52, so the conversion is exact.
    let share = total as f64 / base as f64;
    let empties = would_remove >= known && policy.max_removal_share < 1.0;
    let small = total <= policy.removals_always_allowed;
    if !empties && (small || share <= policy.max_removal_share) {
        return Ok(());
    }
    Err(MassRemovalRefused {
        known,
        would_remove,
        share,
        max_share: policy.max_removal_share,
        recently_removed,
    })
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
        let strict = GuardPolicy {
            removals_always_allowed: 0,
            ..GuardPolicy::default()
        };
        let lenient = GuardPolicy {
            removals_always_allowed: 1,
            ..strict
        };
        assert!(check_removals(5, 1, &strict).is_err());
        assert_eq!(check_removals(5, 1, &lenient), Ok(()));
        assert!(check_removals(5, 2, &lenient).is_err());
    }

    #[test]
    fn removals_over_the_window_add_up() {
        let p = GuardPolicy::default();
        // Ten single removals from 100 pass, the eleventh is refused.
        for done in 0..10 {
            assert_eq!(check_window(100 - done, done, 1, &p), Ok(()), "{done}");
        }
        let err = check_window(90, 10, 1, &p).unwrap_err();
        assert_eq!((err.recently_removed, err.would_remove), (10, 1));
        assert!(err.to_string().contains(RELEASE_VERB), "{err}");
    }

    #[test]
    fn small_installations_may_lose_a_mailbox_but_not_all_of_them() {
        let p = GuardPolicy::default();
        assert_eq!(check_window(5, 0, 1, &p), Ok(()));
        assert_eq!(check_window(4, 1, 1, &p), Ok(()));
        assert!(
            check_window(3, 2, 1, &p).is_err(),
            "a third removal in the window"
        );
        assert!(check_window(2, 0, 2, &p).is_err(), "an empty source");
        let all = GuardPolicy {
            max_removal_share: 1.0,
            ..p
        };
        assert_eq!(check_window(2, 0, 2, &all), Ok(()));
    }
}
