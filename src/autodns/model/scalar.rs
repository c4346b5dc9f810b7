//! Scalars both wire formats share: the API's two date formats ([`Timestamp`]) and the serde
//! helpers for the places where the API is loose about types ([`lenient`], [`parse_bool`]).

use std::fmt;

use serde::de::{self, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

use crate::secret::Secret;

/// A date as the API writes it.
///
/// The JSON API writes `2022-01-13T13:33:21.000+0100` (offset without a colon, §1.5); the XML
/// gateway writes `2017-12-31 23:59:59` with no zone at all. The reference infers that XML times
/// are the server's local time (Europe/Berlin) but no source confirms it, so we do **not** guess a
/// zone: an XML date stays [`Timestamp::Naive`], and a caller that needs an instant says which
/// offset it assumes ([`Timestamp::assume_offset`]). Nothing in the pipeline should depend on an
/// API date for correctness: the certificate's own notAfter (from the PEM) is the authority on
/// expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timestamp {
    /// A date with a UTC offset (JSON transport).
    Zoned(OffsetDateTime),
    /// A date without a zone (XML transport).
    Naive(PrimitiveDateTime),
}

const JSON_DATE_OUT: &[BorrowedFormatItem<'static>] = format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3][offset_hour sign:mandatory][offset_minute]"
);
/// Like [`JSON_DATE_OUT`] but with as many fraction digits as needed, for dates that are not
/// whole milliseconds (so that printing never loses what was parsed).
const JSON_DATE_OUT_FINE: &[BorrowedFormatItem<'static>] = format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond][offset_hour sign:mandatory][offset_minute]"
);
const JSON_DATE_NO_COLON: &[BorrowedFormatItem<'static>] = format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]][offset_hour sign:mandatory][offset_minute]"
);
const JSON_DATE_COLON: &[BorrowedFormatItem<'static>] = format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]][offset_hour sign:mandatory]:[offset_minute]"
);
const XML_DATE: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
const XML_DATE_IN: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second][optional [.[subsecond]]]");
const XML_DATE_OUT_FINE: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond]");
const NAIVE_T_DATE: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]");

impl Timestamp {
    /// Parses either API format (and RFC 3339 with `Z` or a colon in the offset, which some
    /// documentation pages use). Returns `None` for anything else.
    pub fn parse(text: &str) -> Option<Timestamp> {
        let t = text.trim();
        if let Ok(v) = OffsetDateTime::parse(t, JSON_DATE_NO_COLON) {
            return Some(Timestamp::Zoned(v));
        }
        if let Ok(v) = OffsetDateTime::parse(t, JSON_DATE_COLON) {
            return Some(Timestamp::Zoned(v));
        }
        if let Some(body) = t.strip_suffix('Z') {
            if let Ok(v) = PrimitiveDateTime::parse(body, NAIVE_T_DATE) {
                return Some(Timestamp::Zoned(v.assume_utc()));
            }
        }
        if let Ok(v) = PrimitiveDateTime::parse(t, XML_DATE_IN) {
            return Some(Timestamp::Naive(v));
        }
        if let Ok(v) = PrimitiveDateTime::parse(t, NAIVE_T_DATE) {
            return Some(Timestamp::Naive(v));
        }
        None
    }

    /// The date in the format its transport uses: JSON style for zoned dates, XML style for
    /// naive ones. Formatting a valid date cannot fail; the fallback only guards the `Result`.
    pub fn to_api_string(&self) -> String {
        match self {
            Timestamp::Zoned(v) => {
                let fmt = if v.nanosecond() % 1_000_000 == 0 {
                    JSON_DATE_OUT
                } else {
                    JSON_DATE_OUT_FINE
                };
                v.format(fmt)
                    .unwrap_or_else(|_| v.unix_timestamp().to_string())
            }
            Timestamp::Naive(v) => {
                let fmt = if v.nanosecond() == 0 {
                    XML_DATE
                } else {
                    XML_DATE_OUT_FINE
                };
                v.format(fmt).unwrap_or_else(|_| v.to_string())
            }
        }
    }

    /// The instant, taking a naive date to be at `offset` (a zoned date keeps its own offset).
    pub fn assume_offset(&self, offset: UtcOffset) -> OffsetDateTime {
        match self {
            Timestamp::Zoned(v) => *v,
            Timestamp::Naive(v) => v.assume_offset(offset),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_api_string())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_api_string())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse(&s).ok_or_else(|| de::Error::custom(format!("unrecognised date {s:?}")))
    }
}

// ---------------------------------------------------------------------------------------------
// Lenient scalar helpers
// ---------------------------------------------------------------------------------------------

/// Serde helpers for the places where the API is loose about types.
pub(crate) mod lenient {
    use super::*;

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumOrString {
        Int(i64),
        Uint(u64),
        Float(f64),
        Text(String),
    }

    fn to_i64<E: de::Error>(v: NumOrString) -> Result<i64, E> {
        match v {
            NumOrString::Int(i) => Ok(i),
            NumOrString::Uint(u) => i64::try_from(u).map_err(|_| E::custom("id out of range")),
            NumOrString::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
            NumOrString::Float(f) => Err(E::custom(format!("not an integer: {f}"))),
            NumOrString::Text(s) => s
                .trim()
                .parse::<i64>()
                .map_err(|_| E::custom(format!("not an integer: {s:?}"))),
        }
    }

    /// An optional integer given as a number or a numeric string (`null` → `None`).
    pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        match Option::<NumOrString>::deserialize(d)? {
            None => Ok(None),
            Some(NumOrString::Text(s)) if s.trim().is_empty() => Ok(None),
            Some(v) => to_i64(v).map(Some),
        }
    }

    /// An optional non-negative count given as a number or a numeric string.
    pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        match opt_i64(d)? {
            None => Ok(None),
            Some(v) => u64::try_from(v)
                .map(Some)
                .map_err(|_| de::Error::custom("negative count")),
        }
    }

    /// An optional string that the server may also send as a number (`object.value` holds ids).
    pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(match Option::<NumOrString>::deserialize(d)? {
            None => None,
            Some(NumOrString::Text(s)) => Some(s),
            Some(NumOrString::Int(i)) => Some(i.to_string()),
            Some(NumOrString::Uint(u)) => Some(u.to_string()),
            Some(NumOrString::Float(f)) => Some(f.to_string()),
        })
    }

    /// A list that may be absent or `null`.
    pub fn vec<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
        Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
    }

    /// A list of strings that some replies flatten to one string (`SslContact.address`, §2.14).
    pub fn string_or_vec<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<Option<String>>),
        }
        Ok(match Option::<OneOrMany>::deserialize(d)? {
            None => Vec::new(),
            Some(OneOrMany::One(s)) => vec![s],
            Some(OneOrMany::Many(v)) => v.into_iter().flatten().collect(),
        })
    }

    /// A boolean the XML side writes as `true`/`false`/`1`/`0`; JSON may do the same.
    pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum BoolLike {
            Bool(bool),
            Int(i64),
            Text(String),
        }
        match Option::<BoolLike>::deserialize(d)? {
            None => Ok(None),
            Some(BoolLike::Bool(b)) => Ok(Some(b)),
            Some(BoolLike::Int(i)) => Ok(Some(i != 0)),
            Some(BoolLike::Text(s)) => super::parse_bool(&s)
                .map(Some)
                .ok_or_else(|| de::Error::custom(format!("not a boolean: {s:?}"))),
        }
    }

    /// An optional secret string.
    pub fn opt_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret<String>>, D::Error> {
        Ok(Option::<String>::deserialize(d)?.map(Secret::new))
    }

    /// Writes an optional secret. Only the request encoders reach this, for the download password
    /// the API requires in the order body (§4.2); it never reaches a log because the body is not
    /// logged.
    pub fn ser_opt_secret<S: Serializer>(
        v: &Option<Secret<String>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(secret) => s.serialize_str(secret.expose()),
            None => s.serialize_none(),
        }
    }
}

/// Parses the boolean spellings both transports use.
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}
