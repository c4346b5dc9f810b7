//! Owns the mailbox address type: the one validated, normalised form every part of the program
//! uses for "a mailbox". Sources parse into it, the store keys on it, the CSR carries it.
//!
//! Normalisation: the domain is lower-cased and IDNA-encoded (UTS #46, so `Bücher.Example` becomes
//! `xn--bcher-kva.example`); the local part is kept byte for byte as the server stores it, because
//! mail servers may treat it case-sensitively (RFC 5321 §2.4).
//!
//! What is refused, and why: a CSR's rfc822Name is an IA5String (RFC 5280 §4.2.1.6), so a
//! non-ASCII local part cannot be carried faithfully; quoted local parts and comments are refused
//! because no mailbox directory or LDAP `mail` value that we certify should need them.

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
}
