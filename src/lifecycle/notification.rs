//! Owns the names of what an admin's hooks and webhook are told about ([`HookEvent`]), the
//! places a notification goes ([`Sink`]), and which audit events become a notification
//! ([`HookEvent::of`]). The store calls that one function in the transaction that appends the
//! audit event, so a notification is owed exactly when its event is committed (the outbox
//! pattern; `docs/hooks.md`).

use super::event::EventKind;
use super::stage::names;

/// An event hooks and the webhook are run for (config keys `hooks.issued`, …; `SMIME_EVENT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HookEvent {
    /// The first certificate of a mailbox is fetched and checked against its key.
    Issued,
    /// Bundle and password went out (also after a `redeliver`).
    Delivered,
    /// A certificate that replaces an earlier one (renewal or reprovision) is fetched and checked.
    Renewed,
    /// A step failed for good; the mailbox waits for an operator (`SMIME_ERROR` says why).
    Failed,
    /// The certificate was revoked (or was already gone at AutoDNS).
    Revoked,
    /// No source reports the mailbox any more.
    Removed,
}

impl HookEvent {
    /// Every event, in the order a mailbox meets them.
    pub const ALL: [HookEvent; 6] = [
        HookEvent::Issued,
        HookEvent::Delivered,
        HookEvent::Renewed,
        HookEvent::Failed,
        HookEvent::Revoked,
        HookEvent::Removed,
    ];

    /// The stable kebab-case name (`SMIME_EVENT`, the config key, the webhook's `event`).
    pub fn as_str(self) -> &'static str {
        match self {
            HookEvent::Issued => "issued",
            HookEvent::Delivered => "delivered",
            HookEvent::Renewed => "renewed",
            HookEvent::Failed => "failed",
            HookEvent::Revoked => "revoked",
            HookEvent::Removed => "removed",
        }
    }

    /// The notification an audit event of `kind` owes, if any; `replaces` says whether the
    /// record's generation replaces an earlier certificate (its `renew_of` is set), which makes
    /// an issuance a renewal. A `step-failed` owes none: it is retried, and only the give-up
    /// needs a person.
    pub fn of(kind: EventKind, replaces: bool) -> Option<HookEvent> {
        Some(match kind {
            EventKind::Issued if replaces => HookEvent::Renewed,
            EventKind::Issued => HookEvent::Issued,
            EventKind::Delivered => HookEvent::Delivered,
            EventKind::GaveUp => HookEvent::Failed,
            EventKind::Revoked => HookEvent::Revoked,
            EventKind::Gone => HookEvent::Removed,
            _ => return None,
        })
    }
}

names!(HookEvent, "hook event", HookEvent::ALL);

/// Where a notification goes; each has its own row in the outbox, so a webhook that is down
/// does not hold up the hooks, nor the other way round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sink {
    /// The command configured under `[hooks]`.
    Hook,
    /// The JSON POST configured under `[webhook]`.
    Webhook,
}

impl Sink {
    /// Every sink.
    pub const ALL: [Sink; 2] = [Sink::Hook, Sink::Webhook];

    /// The stable kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Sink::Hook => "hook",
            Sink::Webhook => "webhook",
        }
    }
}

names!(Sink, "notification sink", Sink::ALL);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hook_event_name_round_trips() {
        for e in HookEvent::ALL {
            assert_eq!(e.as_str().parse::<HookEvent>(), Ok(e));
        }
        for s in Sink::ALL {
            assert_eq!(s.as_str().parse::<Sink>(), Ok(s));
        }
    }

    #[test]
    fn an_issuance_that_replaces_a_certificate_is_a_renewal() {
        assert_eq!(
            HookEvent::of(EventKind::Issued, false),
            Some(HookEvent::Issued)
        );
        assert_eq!(
            HookEvent::of(EventKind::Issued, true),
            Some(HookEvent::Renewed)
        );
    }

    #[test]
    fn only_the_six_outcomes_owe_a_notification() {
        let owed: Vec<_> = EventKind::ALL
            .into_iter()
            .filter_map(|k| HookEvent::of(k, false))
            .collect();
        assert_eq!(
            owed,
            vec![
                HookEvent::Removed,
                HookEvent::Issued,
                HookEvent::Delivered,
                HookEvent::Revoked,
                HookEvent::Failed,
            ]
        );
    }
}
