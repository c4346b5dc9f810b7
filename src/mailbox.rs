//! Owns the mailbox address type: the one validated, normalised form every part of the program
//! uses for "a mailbox". Sources parse into it, the store keys on it, the CSR carries it. Also owns
//! the domain policy: which domains get certificates, and per-domain order overrides.
//!
//! Normalisation: the domain is lower-cased and IDNA-encoded (UTS #46, so `Bücher.Example` becomes
//! `xn--bcher-kva.example`); the local part is kept byte for byte as the server stores it, because
//! mail servers may treat it case-sensitively (RFC 5321 §2.4).
//!
//! What is refused, and why: a CSR's rfc822Name is an IA5String (RFC 5280 §4.2.1.6), so a
//! non-ASCII local part cannot be carried faithfully; quoted local parts and comments are refused
//! because no mailbox directory or LDAP `mail` value that we certify should need them.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Longest local part (RFC 5321 §4.5.3.1.1).
const MAX_LOCAL: usize = 64;
/// Longest address usable in a forward path (RFC 5321 §4.5.3.1.3 minus the angle brackets).
const MAX_ADDRESS: usize = 254;

/// A validated, normalised mailbox address: `local@domain`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    full: String,
    at: usize,
}

/// Why a string is not a mailbox address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("{0:?} is not a mailbox address: it has no '@'")]
    NoAt(String),
    #[error("{0:?} is not a mailbox address: the local part (before '@') is empty")]
    EmptyLocal(String),
    #[error("{0:?} is not a mailbox address: the domain (after '@') is empty")]
    EmptyDomain(String),
    #[error("{0:?} is not a mailbox address: the local part is longer than 64 characters")]
    LocalTooLong(String),
    #[error("{0:?} is not a mailbox address: longer than 254 characters")]
    TooLong(String),
    #[error(
        "{0:?} is not supported: the local part has non-ASCII characters, which a certificate's \
         rfc822Name cannot carry"
    )]
    NonAsciiLocal(String),
    #[error(
        "{addr:?} is not a mailbox address: character {ch:?} is not allowed in the local part"
    )]
    BadLocalChar { addr: String, ch: char },
    #[error("{0:?} is not a mailbox address: the local part has an empty dot-separated segment")]
    BadDots(String),
    #[error("{addr:?} is not a mailbox address: the domain is not valid ({reason})")]
    BadDomain { addr: String, reason: String },
}

/// RFC 5322 `atext` (§3.2.3) for ASCII characters.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

impl Address {
    /// Parses and normalises an address. Surrounding whitespace is trimmed; nothing else is
    /// guessed (no angle brackets, no display names).
    pub fn parse(input: &str) -> Result<Address, AddressError> {
        let s = input.trim();
        let owned = || s.to_string();
        let at = s.rfind('@').ok_or_else(|| AddressError::NoAt(owned()))?;
        let (local, domain) = (&s[..at], &s[at + 1..]);
        if local.is_empty() {
            return Err(AddressError::EmptyLocal(owned()));
        }
        if domain.is_empty() {
            return Err(AddressError::EmptyDomain(owned()));
        }
        if !local.is_ascii() {
            return Err(AddressError::NonAsciiLocal(owned()));
        }
        if let Some(ch) = local.chars().find(|&c| c != '.' && !is_atext(c)) {
            return Err(AddressError::BadLocalChar { addr: owned(), ch });
        }
        if local.split('.').any(str::is_empty) {
            return Err(AddressError::BadDots(owned()));
        }
        if local.len() > MAX_LOCAL {
            return Err(AddressError::LocalTooLong(owned()));
        }
        let domain = normalize_domain(domain).map_err(|reason| AddressError::BadDomain {
            addr: owned(),
            reason,
        })?;
        let full = format!("{local}@{domain}");
        if full.len() > MAX_ADDRESS {
            return Err(AddressError::TooLong(owned()));
        }
        Ok(Address { at, full })
    }

    /// The whole normalised address.
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The local part, as the server stores it.
    pub fn local(&self) -> &str {
        &self.full[..self.at]
    }

    /// The domain, lower-case ASCII (IDNA A-labels).
    pub fn domain(&self) -> &str {
        &self.full[self.at + 1..]
    }
}

/// Lower-cases and IDNA-encodes a domain, and checks it is a plausible mail domain: at least two
/// labels, each 1..=63 characters of letters, digits and inner hyphens.
pub fn normalize_domain(domain: &str) -> Result<String, String> {
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    if domain.starts_with('[') {
        return Err("address literals are not mail domains we certify".into());
    }
    let ascii = idna::domain_to_ascii(domain).map_err(|_| "IDNA conversion failed".to_string())?;
    if ascii.is_empty() {
        return Err("empty".into());
    }
    if ascii.len() > 253 {
        return Err("longer than 253 characters".into());
    }
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 {
        return Err("a mail domain needs at least two labels".into());
    }
    for l in &labels {
        if l.is_empty() || l.len() > 63 {
            return Err(format!("label {l:?} must be 1 to 63 characters"));
        }
        if !l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!(
                "label {l:?} has a character other than a-z, 0-9, '-'"
            ));
        }
        if l.starts_with('-') || l.ends_with('-') {
            return Err(format!("label {l:?} starts or ends with '-'"));
        }
    }
    Ok(ascii)
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({})", self.full)
    }
}

impl FromStr for Address {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Address::parse(s)
    }
}

impl serde::Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.full)
    }
}

impl<'de> serde::Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Address::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Per-domain order settings that replace the global defaults for every mailbox of the domain.
/// Each field left `None` keeps the global value.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainOverride {
    /// AutoDNS product code, e.g. `GLOBALSIGN_PERSONALSIGN_1`.
    pub product: Option<String>,
    /// Certificate lifetime in months, as AutoDNS orders it.
    pub lifetime_months: Option<u32>,
    /// Organisational unit for the order (AutoDNS `organizationUnitName`).
    pub organization_unit: Option<String>,
    /// AutoDNS SSL contact id used as the admin contact.
    pub admin_contact_id: Option<i64>,
    /// AutoDNS SSL contact id used as the technical contact.
    pub technical_contact_id: Option<i64>,
}

/// Which domains get certificates, and per-domain overrides.
///
/// Domain names in `allow` and in the keys of `overrides` may be written in any case and in
/// Unicode or punycode: they are compared after the same IDNA normalisation as [`Address`]
/// domains, so `Bücher.example` in the config matches `anna@xn--bcher-kva.example`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainPolicy {
    /// Domains that get certificates; empty means every domain.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Per-domain overrides, keyed by domain.
    #[serde(default)]
    pub overrides: BTreeMap<String, DomainOverride>,
}

/// A problem in a [`DomainPolicy`], reported by [`DomainPolicy::problems`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainPolicyProblem {
    #[error("allow entry {domain:?} is not a valid mail domain ({reason})")]
    BadAllowedDomain { domain: String, reason: String },
    #[error("override key {domain:?} is not a valid mail domain ({reason})")]
    BadOverrideDomain { domain: String, reason: String },
    #[error(
        "override for {domain:?} can never apply: the domain is not in the allow list; add it \
         to `allow` or remove the override"
    )]
    OverrideNotAllowed { domain: String },
    #[error(
        "override key {domain:?} names the same domain as another override key (after IDNA \
         normalisation); keep one"
    )]
    DuplicateOverride { domain: String },
    #[error("override for {domain:?}: lifetime_months must be at least 1")]
    ZeroLifetime { domain: String },
}

/// True when a configured domain name denotes the already-normalised domain `normalized`.
fn same_domain(configured: &str, normalized: &str) -> bool {
    configured.eq_ignore_ascii_case(normalized)
        || normalize_domain(configured.trim()).is_ok_and(|d| d == normalized)
}

impl DomainPolicy {
    /// Whether mailboxes of this address's domain get certificates.
    pub fn permits(&self, address: &Address) -> bool {
        self.allow.is_empty() || self.allow.iter().any(|d| same_domain(d, address.domain()))
    }

    /// The override for the address's domain, if any. Only for permitted domains: an override
    /// never widens the allow list.
    pub fn override_for(&self, address: &Address) -> Option<&DomainOverride> {
        if !self.permits(address) {
            return None;
        }
        self.overrides
            .iter()
            .find(|(d, _)| same_domain(d, address.domain()))
            .map(|(_, o)| o)
    }

    /// Every problem in the policy at once, so `check-config` can report them together.
    pub fn problems(&self) -> Vec<DomainPolicyProblem> {
        let mut out = Vec::new();
        let mut allowed = Vec::new();
        for d in &self.allow {
            match normalize_domain(d.trim()) {
                Ok(n) => allowed.push(n),
                Err(reason) => out.push(DomainPolicyProblem::BadAllowedDomain {
                    domain: d.clone(),
                    reason,
                }),
            }
        }
        let mut overridden: Vec<String> = Vec::new();
        for (d, o) in &self.overrides {
            match normalize_domain(d.trim()) {
                Ok(n) if overridden.contains(&n) => {
                    out.push(DomainPolicyProblem::DuplicateOverride { domain: d.clone() })
                }
                Ok(n) if !self.allow.is_empty() && !allowed.contains(&n) => {
                    out.push(DomainPolicyProblem::OverrideNotAllowed { domain: d.clone() })
                }
                Ok(n) => overridden.push(n),
                Err(reason) => out.push(DomainPolicyProblem::BadOverrideDomain {
                    domain: d.clone(),
                    reason,
                }),
            }
            if o.lifetime_months == Some(0) {
                out.push(DomainPolicyProblem::ZeroLifetime { domain: d.clone() });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_is_lowercased_and_idna_encoded_local_part_is_kept() {
        let a = Address::parse(" Alice.Smith@Bücher.Example ").unwrap();
        assert_eq!(a.as_str(), "Alice.Smith@xn--bcher-kva.example");
        assert_eq!(a.local(), "Alice.Smith");
        assert_eq!(a.domain(), "xn--bcher-kva.example");
    }

    #[test]
    fn trailing_dot_of_the_domain_is_dropped() {
        assert_eq!(
            Address::parse("a@example.com.").unwrap().as_str(),
            "a@example.com"
        );
    }

    #[test]
    fn plus_and_other_atext_characters_are_accepted() {
        assert!(Address::parse("first.last+tag@example.com").is_ok());
        assert!(Address::parse("o'brien@example.com").is_ok());
    }

    #[test]
    fn non_addresses_are_refused_with_the_reason() {
        let cases = [
            ("alice", "no '@'"),
            ("@example.com", "local part"),
            ("alice@", "domain"),
            ("al ice@example.com", "' '"),
            ("a..b@example.com", "empty dot-separated"),
            (".a@example.com", "empty dot-separated"),
            ("jörg@example.com", "non-ASCII"),
            ("alice@localhost", "two labels"),
            ("alice@-bad.example", "starts or ends"),
            ("alice@exa_mple.com", "character other"),
            ("alice@[127.0.0.1]", "literals"),
            ("\"a b\"@example.com", "'\"'"),
        ];
        for (input, needle) in cases {
            let err = Address::parse(input).unwrap_err().to_string();
            assert!(err.contains(needle), "{input:?}: {err}");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert!(matches!(
            Address::parse(&long_local),
            Err(AddressError::LocalTooLong(_))
        ));
    }

    #[test]
    fn serde_round_trip_validates() {
        let a: Address = serde_json::from_str("\"Bob@Example.COM\"").unwrap();
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"Bob@example.com\"");
        assert!(serde_json::from_str::<Address>("\"nope\"").is_err());
    }

    fn addr(s: &str) -> Address {
        Address::parse(s).unwrap()
    }

    #[test]
    fn an_empty_allow_list_permits_every_domain() {
        let p = DomainPolicy::default();
        assert!(p.permits(&addr("a@example.com")));
        assert!(p.permits(&addr("a@other.example")));
    }

    #[test]
    fn the_allow_list_is_compared_after_idna_normalisation() {
        let p = DomainPolicy {
            allow: vec!["Bücher.Example".into(), "EXAMPLE.com.".into()],
            overrides: BTreeMap::new(),
        };
        assert!(p.permits(&addr("anna@xn--bcher-kva.example")));
        assert!(p.permits(&addr("anna@BÜCHER.example")));
        assert!(p.permits(&addr("bob@example.com")));
        assert!(!p.permits(&addr("bob@example.net")));
        assert!(!p.permits(&addr("bob@sub.example.com")));
        assert!(p.problems().is_empty(), "{:?}", p.problems());
    }

    #[test]
    fn overrides_apply_to_their_domain_only_and_never_widen_the_allow_list() {
        let special = DomainOverride {
            product: Some("GLOBALSIGN_PERSONALSIGN_2".into()),
            lifetime_months: Some(24),
            ..DomainOverride::default()
        };
        let p = DomainPolicy {
            allow: vec!["example.com".into()],
            overrides: BTreeMap::from([
                ("Example.COM".to_string(), special.clone()),
                ("elsewhere.example".to_string(), DomainOverride::default()),
            ]),
        };
        assert_eq!(p.override_for(&addr("a@example.com")), Some(&special));
        assert_eq!(p.override_for(&addr("a@example.org")), None);
        assert_eq!(p.override_for(&addr("a@elsewhere.example")), None);
        assert_eq!(
            p.problems(),
            vec![DomainPolicyProblem::OverrideNotAllowed {
                domain: "elsewhere.example".into()
            }]
        );
    }

    #[test]
    fn policy_problems_are_all_reported_at_once() {
        let p = DomainPolicy {
            allow: vec!["localhost".into(), "ok.example".into()],
            overrides: BTreeMap::from([(
                "bad_domain.example".to_string(),
                DomainOverride {
                    lifetime_months: Some(0),
                    ..DomainOverride::default()
                },
            )]),
        };
        let problems: Vec<String> = p.problems().iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 3, "{problems:?}");
        let dup = DomainPolicy {
            allow: vec![],
            overrides: BTreeMap::from([
                ("EXAMPLE.com".to_string(), DomainOverride::default()),
                ("example.com".to_string(), DomainOverride::default()),
            ]),
        };
        assert_eq!(
            dup.problems(),
            vec![DomainPolicyProblem::DuplicateOverride {
                domain: "example.com".into()
            }]
        );
        assert!(problems[0].contains("\"localhost\""), "{problems:?}");
        assert!(problems[1].contains("bad_domain.example"), "{problems:?}");
        assert!(problems[2].contains("lifetime_months"), "{problems:?}");
    }
}
