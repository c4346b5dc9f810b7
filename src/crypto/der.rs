//! Owns a minimal, bounds-checked DER reader (ITU-T X.690 §8, §10) used to inspect the algorithm
//! identifiers inside PKCS#12 files: the `openssl` crate parses a PFX but does not say which
//! encryption and MAC algorithms it carries, and "profile as configured" must be checked on the
//! bytes we are about to deliver. The certificate checks use it too, for the one X.509 field the
//! crate does not expose (basicConstraints cA).
//!
//! Only what those inspections need: definite lengths (DER forbids indefinite ones, §10.1),
//! low tag numbers, and OIDs rendered for error messages. Every read returns an error on short
//! or malformed input; nothing here panics or indexes unchecked.

use std::fmt;

/// Why bytes are not the DER we expected. Carries no input bytes, so it is safe to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerError(pub &'static str);

impl fmt::Display for DerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Universal tags used by PKCS#12 (X.690 §8.x, X.680 §8.4).
pub const TAG_BOOLEAN: u8 = 0x01;
pub const TAG_INTEGER: u8 = 0x02;
pub const TAG_OCTET_STRING: u8 = 0x04;
pub const TAG_OID: u8 = 0x06;
pub const TAG_SEQUENCE: u8 = 0x30;
/// `[0]` constructed, context-specific (EXPLICIT tagging in ContentInfo, SafeBag).
pub const TAG_CTX0_CONSTRUCTED: u8 = 0xA0;

/// One tag-length-value element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
}

/// A cursor over consecutive DER elements.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads the elements of `input`.
    pub fn new(input: &'a [u8]) -> Self {
        Reader { rest: input }
    }

    /// True when every byte has been consumed.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Reads the next element, whatever its tag.
    pub fn any(&mut self) -> Result<Tlv<'a>, DerError> {
        let (&tag, after_tag) = self
            .rest
            .split_first()
            .ok_or(DerError("unexpected end of data"))?;
        if tag & 0x1F == 0x1F {
            return Err(DerError("high tag numbers are not used in PKCS#12"));
        }
        let (&first, mut after_len) = after_tag
            .split_first()
            .ok_or(DerError("unexpected end of data in a length"))?;
        let len = if first < 0x80 {
            usize::from(first)
        } else if first == 0x80 {
            return Err(DerError("indefinite length (BER, not DER)"));
        } else {
            let n = usize::from(first & 0x7F);
            if n > 4 {
                return Err(DerError("length field longer than 4 bytes"));
            }
            let (len_bytes, rest) = split_at_checked(after_len, n)?;
            after_len = rest;
            let mut len = 0usize;
            for &b in len_bytes {
                len = (len << 8) | usize::from(b);
            }
            len
        };
        let (value, rest) = split_at_checked(after_len, len)?;
        self.rest = rest;
        Ok(Tlv { tag, value })
    }

    /// Reads the next element and checks its tag.
    pub fn expect(&mut self, tag: u8, what: &'static str) -> Result<&'a [u8], DerError> {
        let tlv = self.any()?;
        if tlv.tag != tag {
            return Err(DerError(what));
        }
        Ok(tlv.value)
    }

    /// Reads the next element if it has `tag`, leaving the cursor alone otherwise.
    pub fn optional(&mut self, tag: u8) -> Result<Option<&'a [u8]>, DerError> {
        match self.rest.first() {
            Some(&t) if t == tag => Ok(Some(self.any()?.value)),
            _ => Ok(None),
        }
    }
}

fn split_at_checked(input: &[u8], at: usize) -> Result<(&[u8], &[u8]), DerError> {
    if at > input.len() {
        return Err(DerError("element longer than the data that holds it"));
    }
    Ok(input.split_at(at))
}

/// Reads a non-negative INTEGER's content bytes as a u64 (iteration counts, versions).
pub fn small_uint(content: &[u8]) -> Result<u64, DerError> {
    if content.is_empty() {
        return Err(DerError("empty INTEGER"));
    }
    if content[0] & 0x80 != 0 {
        return Err(DerError("negative INTEGER where a count was expected"));
    }
    let trimmed = match content {
        [0, rest @ ..] if !rest.is_empty() => rest,
        other => other,
    };
    if trimmed.len() > 8 {
        return Err(DerError("INTEGER too large for a count"));
    }
    Ok(trimmed
        .iter()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

/// Renders OID content bytes in dotted form (X.690 §8.19), for error messages.
pub fn oid_to_string(content: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    for &b in content {
        if acc > (u64::MAX >> 7) {
            return format!("<malformed OID {}>", hex::encode(content));
        }
        acc = (acc << 7) | u64::from(b & 0x7F);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (acc / 40).min(2);
                arcs.push(first);
                arcs.push(acc - first * 40);
            } else {
                arcs.push(acc);
            }
            acc = 0;
        }
    }
    if arcs.is_empty() || content.last().is_some_and(|b| b & 0x80 != 0) {
        return format!("<malformed OID {}>", hex::encode(content));
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_form_lengths_are_read() {
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend(std::iter::repeat_n(0xAB, 0x80));
        let mut r = Reader::new(&long);
        assert_eq!(
            r.expect(TAG_OCTET_STRING, "octets").map(<[u8]>::len),
            Ok(0x80)
        );
        assert!(r.is_empty());
        let mut r = Reader::new(&[0x02, 0x01, 0x05]);
        assert_eq!(
            small_uint(r.expect(TAG_INTEGER, "int").unwrap_or_default()),
            Ok(5)
        );
    }

    #[test]
    fn truncated_indefinite_and_oversized_elements_are_errors_not_panics() {
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x05, 0x01],
            &[0x30, 0x80, 0x00, 0x00],
            &[0x30, 0x85, 1, 1, 1, 1, 1],
            &[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF],
            &[0x1F, 0x01, 0x00],
        ] {
            assert!(Reader::new(bad).any().is_err(), "{bad:02x?}");
        }
    }

    #[test]
    fn every_prefix_of_a_valid_structure_fails_cleanly() {
        // SEQUENCE { OID 1.2.840.113549.1.5.13, SEQUENCE { INTEGER 2048 } }
        let good = [
            0x30, 0x11, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x05, 0x0D, 0x30,
            0x04, 0x02, 0x02, 0x08, 0x00,
        ];
        assert!(Reader::new(&good).any().is_ok());
        for cut in 0..good.len() {
            assert!(Reader::new(&good[..cut]).any().is_err(), "prefix {cut}");
        }
    }

    #[test]
    fn oids_render_in_dotted_form() {
        assert_eq!(
            oid_to_string(&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x05, 0x0D]),
            "1.2.840.113549.1.5.13"
        );
        assert_eq!(
            oid_to_string(&[0x60, 0x86, 0x48, 0x01, 0x65]),
            "2.16.840.1.101"
        );
        assert!(oid_to_string(&[0x2A, 0x86]).starts_with("<malformed"));
    }

    #[test]
    fn counts_reject_negative_and_huge_integers() {
        assert_eq!(small_uint(&[0x00, 0x80]), Ok(128));
        assert!(small_uint(&[0x80]).is_err());
        assert!(small_uint(&[1; 9]).is_err());
        assert!(small_uint(&[]).is_err());
    }
}
