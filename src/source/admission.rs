//! Owns admission: which source events become work for the pipeline under the domain policy.
//! A pure function, shared by the daemon's event intake and `run --once`, so both admit alike
//! (the tests below check every event kind).
//!
//! - A mailbox outside `domains.allow` is ignored; a spool request for one is still removed
//!   (it can never be served).
//! - A spool request is recorded before its file is removed (ack after persist): a crash in
//!   between reads the request again instead of losing it.
//! - A spool file never reports a mailbox gone: a request is consumed, not withdrawn.
//! - A rename is the old address gone and the new one present (if its domain is allowed).
//! - The person's name a source knows (an LDIF entry, `enqueue --name`) travels with a request
//!   and with a listing, so the store records it with the mailbox; a watcher's `Present` hint
//!   carries none (the daemon's watchers send listings).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use super::{Origin, SourceEvent};
use crate::display_name::DisplayName;
use crate::mailbox::{Address, DomainPolicy};

/// What one source event asks of the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admitted {
    /// The mailbox exists: record it and reconcile it.
    Present(Address),
    /// A hook request: record the mailbox (with the name the request gives), then remove the
    /// request `file`, then reconcile it.
    Requested {
        address: Address,
        file: PathBuf,
        display_name: Option<DisplayName>,
    },
    /// The mailbox is no longer listed: record that and reconcile it.
    Gone(Address),
    /// What a source lists now, reduced to the allowed domains: the store records it per
    /// source (see `Store::apply_listing`), with the person's name of the named ones.
    /// `ignored` counts the addresses left out.
    Listing {
        source: &'static str,
        complete: bool,
        addresses: BTreeSet<Address>,
        names: BTreeMap<Address, DisplayName>,
        ignored: usize,
    },
    /// Not work for the pipeline. A spool request `origin` is removed all the same.
    Ignored {
        address: Address,
        origin: Origin,
        reason: Refusal,
    },
}

/// Why an address is not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its domain is not in `domains.allow`.
    DomainNotAllowed,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::DomainNotAllowed => f.write_str("domain not in domains.allow"),
        }
    }
}

/// The work `event` asks for under `policy`, in the order to do it.
pub fn admit(event: SourceEvent, policy: &DomainPolicy) -> Vec<Admitted> {
    match event {
        SourceEvent::Present {
            address, origin, ..
        } if !policy.permits(&address) => {
            vec![Admitted::Ignored {
                address,
                origin,
                reason: Refusal::DomainNotAllowed,
            }]
        }
        SourceEvent::Present {
            address,
            origin: Origin::Spool { file },
            display_name,
        } => vec![Admitted::Requested {
            address,
            file,
            display_name,
        }],
        SourceEvent::Present { address, .. } => vec![Admitted::Present(address)],
        SourceEvent::Gone {
            origin: Origin::Spool { .. },
            ..
        } => Vec::new(),
        SourceEvent::Gone { address, .. } => vec![Admitted::Gone(address)],
        SourceEvent::Listing {
            source,
            complete,
            listing,
        } => {
            let all = listing.addresses();
            let total = all.len();
            let addresses: BTreeSet<Address> =
                all.into_iter().filter(|a| policy.permits(a)).collect();
            let mut names = listing.display_names();
            names.retain(|a, _| addresses.contains(a));
            vec![Admitted::Listing {
                source,
                complete,
                ignored: total - addresses.len(),
                addresses,
                names,
            }]
        }
        SourceEvent::Changed { from, to, .. } => {
            let mut work = vec![Admitted::Gone(from)];
            if policy.permits(&to) {
                work.push(Admitted::Present(to));
            }
            work
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Address {
        Address::parse(s).unwrap()
    }

    fn only_example_com() -> DomainPolicy {
        DomainPolicy {
            allow: vec!["example.com".into()],
            ..DomainPolicy::default()
        }
    }

    fn maildir() -> Origin {
        Origin::Maildir {
            path: "/var/mail/example.com/anna".into(),
        }
    }

    fn spool() -> Origin {
        Origin::Spool {
            file: "/var/spool/smp/1.req".into(),
        }
    }

    #[test]
    fn a_listed_mailbox_of_an_allowed_domain_is_present() {
        let ev = SourceEvent::Present {
            address: addr("anna@example.com"),
            origin: maildir(),
            display_name: None,
        };
        assert_eq!(
            admit(ev, &only_example_com()),
            vec![Admitted::Present(addr("anna@example.com"))]
        );
    }

    #[test]
    fn every_domain_is_allowed_when_the_allow_list_is_empty() {
        let ev = SourceEvent::Present {
            address: addr("anna@example.org"),
            origin: maildir(),
            display_name: None,
        };
        assert_eq!(
            admit(ev, &DomainPolicy::default()),
            vec![Admitted::Present(addr("anna@example.org"))]
        );
    }

    #[test]
    fn a_mailbox_outside_the_allow_list_is_ignored_with_its_origin() {
        let ev = SourceEvent::Present {
            address: addr("eve@example.org"),
            origin: spool(),
            display_name: None,
        };
        assert_eq!(
            admit(ev, &only_example_com()),
            vec![Admitted::Ignored {
                address: addr("eve@example.org"),
                origin: spool(),
                reason: Refusal::DomainNotAllowed,
            }]
        );
        assert_eq!(
            Refusal::DomainNotAllowed.to_string(),
            "domain not in domains.allow"
        );
    }

    #[test]
    fn a_spool_request_is_recorded_before_its_file_is_removed() {
        let ev = SourceEvent::Present {
            address: addr("anna@example.com"),
            origin: spool(),
            display_name: None,
        };
        assert_eq!(
            admit(ev, &only_example_com()),
            vec![Admitted::Requested {
                address: addr("anna@example.com"),
                file: "/var/spool/smp/1.req".into(),
                display_name: None,
            }]
        );
    }

    #[test]
    fn a_vanished_mailbox_is_gone_but_a_consumed_spool_request_is_not() {
        let gone = SourceEvent::Gone {
            address: addr("anna@example.com"),
            origin: maildir(),
        };
        assert_eq!(
            admit(gone, &only_example_com()),
            vec![Admitted::Gone(addr("anna@example.com"))]
        );
        let consumed = SourceEvent::Gone {
            address: addr("anna@example.com"),
            origin: spool(),
        };
        assert_eq!(admit(consumed, &only_example_com()), vec![]);
    }

    #[test]
    fn a_listing_keeps_only_the_allowed_domains() {
        let mut listing = super::super::Listing::default();
        listing.insert(maildir(), addr("anna@example.com"));
        let anna = DisplayName::parse("Anna Lima").unwrap();
        listing.set_display_name(&maildir().key(), anna.clone());
        listing.insert(
            Origin::Maildir {
                path: "/var/mail/example.org/eve".into(),
            },
            addr("eve@example.org"),
        );
        let ev = SourceEvent::Listing {
            source: "maildir",
            complete: true,
            listing,
        };
        assert_eq!(
            admit(ev, &only_example_com()),
            vec![Admitted::Listing {
                source: "maildir",
                complete: true,
                addresses: [addr("anna@example.com")].into(),
                names: [(addr("anna@example.com"), anna)].into(),
                ignored: 1,
            }]
        );
    }

    #[test]
    fn a_rename_is_the_old_address_gone_and_the_new_one_present_if_allowed() {
        let rename = |to: &str| SourceEvent::Changed {
            key: "uuid-1".into(),
            from: addr("anna@example.com"),
            to: addr(to),
            origin: Origin::Ldif {
                key: "uuid-1".into(),
            },
        };
        assert_eq!(
            admit(rename("anna.b@example.com"), &only_example_com()),
            vec![
                Admitted::Gone(addr("anna@example.com")),
                Admitted::Present(addr("anna.b@example.com")),
            ]
        );
        assert_eq!(
            admit(rename("anna@example.org"), &only_example_com()),
            vec![Admitted::Gone(addr("anna@example.com"))]
        );
    }
}
