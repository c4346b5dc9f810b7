//! Owns the person's display name: the one checked form a name from a source (an LDIF
//! attribute, `enqueue --name`) takes before the store keeps it, the mails greet with it and the
//! order carries it as first and last name.
//!
//! A name comes from places an attacker or a broken export may write (a directory entry, a hook
//! argument), and ends up in mail headers (`To:`, a subject that uses `{display_name}`) and in an
//! API order. So a name is one line of printable text: runs of spaces and tabs become one space
//! and the ends are trimmed; a line break (CR, LF, NEL, U+2028/2029) is refused, because in a
//! header it would start a header of its own; other control characters and the invisible
//! text-direction marks that can make a name display as something else are refused; so is a
//! name longer than [`MAX_CHARS`]. A refused name is never used in part: the mailbox is served
//! all the same, greeted by its address, and the reason is reported.

use std::fmt;
use std::str::FromStr;

/// The longest name accepted, in characters: room for any real name, short enough that a
/// greeting and the order's name fields stay sane.
pub const MAX_CHARS: usize = 128;

/// A checked display name (see the module docs for what is refused).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DisplayName(String);

/// Why a value is not usable as a display name; the text completes "the name ...".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("is empty")]
    Empty,
    #[error("is not UTF-8 text")]
    NotUtf8,
    #[error(
        "contains a line break; a name is one line (in a mail header a line break would start \
         a header of its own)"
    )]
    LineBreak,
    #[error("contains the control character U+{0:04X}")]
    Control(u32),
    #[error(
        "contains the invisible text-direction character U+{0:04X}, which can make a name \
         display as something else"
    )]
    Bidi(u32),
    #[error("is {0} characters long; at most {MAX_CHARS} are accepted")]
    TooLong(usize),
}

/// Unicode's explicit direction marks, embeddings, overrides and isolates (UAX #9 §2).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\r' | '\n' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

impl DisplayName {
    /// Checks and normalises `raw` (see the module docs).
    pub fn parse(raw: &str) -> Result<DisplayName, NameError> {
        let mut out = String::with_capacity(raw.len());
        for c in raw.chars() {
            if is_line_break(c) {
                return Err(NameError::LineBreak);
            }
            if is_bidi_control(c) {
                return Err(NameError::Bidi(u32::from(c)));
            }
            if c == '\t' || c.is_whitespace() {
                if !out.is_empty() && !out.ends_with(' ') {
                    out.push(' ');
                }
                continue;
            }
            if c.is_control() {
                return Err(NameError::Control(u32::from(c)));
            }
            out.push(c);
        }
        let trimmed = out.trim_end();
        let len = trimmed.chars().count();
        if trimmed.is_empty() {
            Err(NameError::Empty)
        } else if len > MAX_CHARS {
            Err(NameError::TooLong(len))
        } else {
            Ok(DisplayName(trimmed.to_string()))
        }
    }

    /// As [`DisplayName::parse`], for raw bytes (an LDIF value, maybe base64-decoded).
    pub fn from_bytes(raw: &[u8]) -> Result<DisplayName, NameError> {
        std::str::from_utf8(raw)
            .map_err(|_| NameError::NotUtf8)
            .and_then(DisplayName::parse)
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first and last name an order carries: `Family, Given` splits at the comma; otherwise
    /// the last word is the last name and the words before it the first name
    /// (`Anna Maria Lima` → `Anna Maria` / `Lima`). A one-word name gives none: both fields are
    /// sent together or not at all.
    pub fn first_and_last(&self) -> Option<(String, String)> {
        let (first, last) = match self.0.split_once(',') {
            Some((family, given)) => (given.trim(), family.trim()),
            None => {
                let (first, last) = self.0.rsplit_once(' ')?;
                (first.trim(), last.trim())
            }
        };
        (!first.is_empty() && !last.is_empty()).then(|| (first.to_string(), last.to_string()))
    }
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DisplayName({:?})", self.0)
    }
}

impl FromStr for DisplayName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DisplayName::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> DisplayName {
        DisplayName::parse(s).unwrap()
    }

    #[test]
    fn spaces_and_tabs_are_collapsed_and_trimmed() {
        assert_eq!(name("  Anna \t  Lima ").as_str(), "Anna Lima");
        assert_eq!(name("Jörg\u{00A0}Müller").as_str(), "Jörg Müller");
    }

    #[test]
    fn a_line_break_anywhere_is_refused_as_a_header_injection() {
        for bad in [
            "Eve\r\nBcc: x@example.net",
            "Eve\nBcc:",
            "Eve\r",
            "A\u{2028}B",
            "A\u{85}B",
        ] {
            assert_eq!(
                DisplayName::parse(bad),
                Err(NameError::LineBreak),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn control_and_direction_characters_are_refused_with_their_code_point() {
        assert_eq!(DisplayName::parse("A\u{0}B"), Err(NameError::Control(0)));
        assert_eq!(
            DisplayName::parse("A\u{7F}B"),
            Err(NameError::Control(0x7F))
        );
        let e = DisplayName::parse("Ann\u{202E}gnp.exe").unwrap_err();
        assert_eq!(e, NameError::Bidi(0x202E));
        assert!(e.to_string().contains("U+202E"), "{e}");
    }

    #[test]
    fn empty_overlong_and_non_utf8_values_are_refused() {
        assert_eq!(DisplayName::parse(" \t "), Err(NameError::Empty));
        let long = "a".repeat(MAX_CHARS + 1);
        assert_eq!(
            DisplayName::parse(&long),
            Err(NameError::TooLong(MAX_CHARS + 1))
        );
        assert!(DisplayName::parse(&"ä".repeat(MAX_CHARS)).is_ok());
        assert_eq!(DisplayName::from_bytes(b"J\xF6rg"), Err(NameError::NotUtf8));
    }

    #[test]
    fn first_and_last_name_split_at_the_last_word_or_a_comma() {
        let split = |s: &str| name(s).first_and_last();
        assert_eq!(
            split("Anna Maria Lima"),
            Some(("Anna Maria".into(), "Lima".into()))
        );
        assert_eq!(
            split("Müller, Jörg"),
            Some(("Jörg".into(), "Müller".into()))
        );
        assert_eq!(split("Cher"), None);
        assert_eq!(split("Müller,"), None);
    }
}
