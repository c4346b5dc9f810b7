//! The typed AutoDNS model shared by both wire formats (JSON API and XML gateway).
//!
//! Field names follow InterNetX's OpenAPI file (`InterNetX/domainrobot-api`, `src/domainrobot.json`,
//! definitions `Certificate`, `SslContact`, `CertificateData`, `Job`, `ObjectJob`, `PollMessage`,
//! `JsonResponseData`), see `reference/autodns-api.md` §1.6 and §2.14. The serde attributes here
//! *are* the JSON codec's field mapping; the XML codec (`xml.rs`) maps the same structs by hand
//! because the gateway's element names differ (snake_case, `admin` for `adminContact`, ...).
//!
//! Tolerance rules, because the API has grown steadily and the sources disagree in places:
//! - every field is optional (or an empty `Vec`) and `null` is accepted wherever a list is;
//! - unknown fields are ignored (no `deny_unknown_fields`);
//! - every enum has an `Unknown(String)` fallback that keeps the server's word;
//! - ids are accepted as numbers or numeric strings (the spec types some as strings);
//! - dates are accepted in either API format (see [`Timestamp`]).

use std::fmt;

use serde::de::{self, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

use crate::secret::Secret;

// ---------------------------------------------------------------------------------------------
// Dates
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Open enums
// ---------------------------------------------------------------------------------------------

/// Declares a string enum with an `Unknown(String)` fallback. Parsing is case-insensitive (the
/// XML gateway writes `success`, the JSON API `SUCCESS`); extra spellings map to a known variant.
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $wire:literal $(| $alias:literal)* ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this client does not know, kept as the server sent it.
            Unknown(String),
        }

        impl $name {
            /// The JSON spelling (upper case, as in the OpenAPI file).
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )+
                    $name::Unknown(s) => s.as_str(),
                }
            }

            /// Parses a value case-insensitively; anything unknown is kept in `Unknown`.
            pub fn parse(text: &str) -> Self {
                let t = text.trim();
                $(
                    if t.eq_ignore_ascii_case($wire) $(|| t.eq_ignore_ascii_case($alias))* {
                        return $name::$variant;
                    }
                )+
                $name::Unknown(t.to_string())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Ok($name::parse(&s))
            }
        }
    };
}

open_enum! {
    /// `StatusType` (§1.6): the outcome class of a response or a message.
    StatusType {
        /// The task was carried out.
        Success = "SUCCESS",
        /// The task failed.
        Error = "ERROR",
        /// Accepted; an asynchronous job carries on (`N…` codes).
        Notify = "NOTIFY",
        /// Carried out, with a notice.
        Notice = "NOTICE",
        /// A registry notification.
        NiccomNotify = "NICCOM_NOTIFY",
    }
}

open_enum! {
    /// `JobStatusConstants` (§2.14 Job). `DEFFERED` is the manual's misspelling (§2.12).
    JobStatus {
        /// Still being processed.
        Running = "RUNNING",
        /// Finished successfully.
        Success = "SUCCESS",
        /// Finished with an error.
        Failed = "FAILED" | "ERROR",
        /// Cancelled.
        Canceled = "CANCELED" | "CANCELLED",
        /// Handed to InterNetX support.
        Support = "SUPPORT",
        /// Waiting (e.g. for a validation step).
        Deferred = "DEFERRED" | "DEFFERED",
        /// No status yet.
        NotSet = "NOT_SET",
        /// Waiting for an outside event.
        Wait = "WAIT",
    }
}

impl JobStatus {
    /// True for the states a job does not leave again.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            JobStatus::Success | JobStatus::Failed | JobStatus::Canceled
        )
    }
}

open_enum! {
    /// `CertificateType` (§2.14): `MAIL` marks an S/MIME order.
    CertificateType {
        /// A TLS server certificate.
        Fqdn = "FQDN",
        /// An S/MIME certificate.
        Mail = "MAIL",
        /// Code signing.
        Code = "CODE",
        /// Document signing.
        Document = "DOCUMENT",
        /// Verified mark certificate.
        Vmc = "VMC",
    }
}

open_enum! {
    /// `CaCertificate.caType` values seen in fixtures (§4.5).
    CaType {
        /// An intermediate CA certificate.
        Intermediate = "INTERMEDIATE",
        /// The root certificate.
        Root = "ROOT",
    }
}

open_enum! {
    /// `TimeUnitConstants` (§2.14 TimePeriod); certificates use `MONTH`.
    TimeUnit {
        /// Months.
        Month = "MONTH",
        /// Years.
        Year = "YEAR",
        /// Days.
        Day = "DAY",
        /// Weeks.
        Week = "WEEK",
        /// Quarters.
        Quarter = "QUARTER",
    }
}

open_enum! {
    /// `AuthMethodConstants` (§2.14 CertAuthentication).
    AuthMethod {
        /// DNS record validation.
        Dns = "DNS",
        /// Approver e-mail validation.
        Email = "EMAIL",
        /// HTTP file validation.
        File = "FILE",
        /// Organisation validation.
        Org = "ORG",
    }
}

// ---------------------------------------------------------------------------------------------
// Objects
// ---------------------------------------------------------------------------------------------

/// `BasicUser` (§2.14): the owner or updater of an object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BasicUser {
    /// Context number.
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub context: Option<i64>,
    /// User name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// `TimePeriod` (§2.14): a certificate's lifetime, `{unit: MONTH, period: 12}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimePeriod {
    /// The unit; certificates use months.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<TimeUnit>,
    /// How many units.
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub period: Option<i64>,
}

impl TimePeriod {
    /// A lifetime of `n` months.
    pub fn months(n: u32) -> Self {
        TimePeriod {
            unit: Some(TimeUnit::Month),
            period: Some(i64::from(n)),
        }
    }

    /// The period in months when the unit converts exactly (the XML gateway counts months, §4.4).
    pub fn as_months(&self) -> Option<i64> {
        let p = self.period?;
        match self.unit.as_ref() {
            None | Some(TimeUnit::Month) => Some(p),
            Some(TimeUnit::Year) => p.checked_mul(12),
            Some(TimeUnit::Quarter) => p.checked_mul(3),
            _ => None,
        }
    }
}

/// `SslContact` (§2.11, §2.14): the administrative/technical contact of certificate orders.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SslContact {
    /// Contact id (XML `id`).
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    /// Creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Timestamp>,
    /// Last update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<Timestamp>,
    /// Owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<BasicUser>,
    /// Last updater.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updater: Option<BasicUser>,
    /// First name (XML `first`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fname: Option<String>,
    /// Last name (XML `last`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lname: Option<String>,
    /// Phone, `+49-123-12345`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Fax.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fax: Option<String>,
    /// E-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Organisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// Street lines (a single string in some replies).
    #[serde(
        default,
        deserialize_with = "lenient::string_or_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub address: Vec<String>,
    /// Postal code (XML `postal_code`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pcode: Option<String>,
    /// City.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// ISO 3166 alpha-2 country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// State or region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// `CaCertificate` (§4.5): one certificate of the issuing chain.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaCertificate {
    /// Creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Timestamp>,
    /// Last update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<Timestamp>,
    /// `INTERMEDIATE` or `ROOT`; `None` when the XML gateway did not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_type: Option<CaType>,
    /// The certificate, PEM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificate: Option<String>,
}

/// `SubjectAlternativeName` (§2.14), the fields a certificate order uses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectAlternativeName {
    /// The name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its approver address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approver_email: Option<String>,
}

/// `CertAuthentication` (§2.14): how an order is validated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertAuthentication {
    /// The name validated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<AuthMethod>,
    /// A zone-file line for DNS validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<String>,
    /// File name for FILE validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// File content for FILE validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_content: Option<String>,
    /// Approver addresses for EMAIL validation.
    #[serde(
        default,
        deserialize_with = "lenient::vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub approver_emails: Vec<String>,
    /// Whether AutoDNS provisions the DNS record itself.
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub provisioning: Option<bool>,
}

/// `Certificate` (§2.14): an order and, once issued, the certificate.
///
/// `password` is the GlobalSign download password (§4.2); it sits in a [`Secret`] so that a
/// `Debug` print of a certificate never shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Certificate {
    /// Certificate id (needed for info, renew, reissue, delete, revoke).
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    /// Creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Timestamp>,
    /// Last update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<Timestamp>,
    /// Owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<BasicUser>,
    /// Last updater.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updater: Option<BasicUser>,
    /// InterNetX's order number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_order_id: Option<String>,
    /// The CA's order number (XML `order_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// Administrative contact (XML `admin`); on create only its `id` is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_contact: Option<SslContact>,
    /// Technical contact (XML `technical`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub technical_contact: Option<SslContact>,
    /// The certificate name; for S/MIME the mailbox address (seed page, "Certificate create").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Lifetime (XML: a plain number of months).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime: Option<TimePeriod>,
    /// Server software; `NOT_SET` for non-server products (§4.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software: Option<String>,
    /// Free-text comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The CSR we sent, PEM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csr: Option<String>,
    /// The issued leaf certificate, PEM (§4.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Serial number in hex; `NOT_SET` before issuance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// Product, e.g. `GLOBALSIGN_PERSONALSIGN_1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// `MAIL` for S/MIME.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_type: Option<CertificateType>,
    /// Signature hash algorithm (XML `sha`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_hash_algorithm: Option<String>,
    /// notAfter as the API reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire: Option<Timestamp>,
    /// When the next payment is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payable: Option<Timestamp>,
    /// Subject alternative names.
    #[serde(
        default,
        deserialize_with = "lenient::vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub subject_alternative_names: Vec<SubjectAlternativeName>,
    /// The issuing chain; may be empty (the CA does not always provide it, §4.5).
    #[serde(
        default,
        deserialize_with = "lenient::vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub certification_authority: Vec<CaCertificate>,
    /// GlobalSign download password (S/MIME only).
    #[serde(
        default,
        deserialize_with = "lenient::opt_secret",
        serialize_with = "lenient::ser_opt_secret",
        skip_serializing_if = "Option::is_none"
    )]
    pub password: Option<Secret<String>>,
    /// Subject first name (S/MIME only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firstname: Option<String>,
    /// Subject last name (S/MIME only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lastname: Option<String>,
    /// Subject organisational unit (S/MIME only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_unit_name: Option<String>,
    /// Validation data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<CertAuthentication>,
    /// True when the customer supplies the CSR (S/MIME only; the API's default is false).
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub has_csr: Option<bool>,
    /// The approver address. Only the XML gateway has this element (seed page); the JSON
    /// encoder sends it as `authentication.approverEmails` instead (§4.3), so it is not a JSON
    /// field.
    #[serde(skip)]
    pub approver_email: Option<String>,
}

/// `CertificateData` (§2.3): the prepareOrder request and its parsed-CSR answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateData {
    /// The CSR, PEM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plain: Option<String>,
    /// The name the CSR names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Key size in bits.
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub key_size: Option<i64>,
    /// Subject country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
    /// Subject state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Subject city.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// Subject organisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// Subject organisational unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_unit: Option<String>,
    /// Subject e-mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// Key algorithm (`RSA` in fixtures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
    /// Signature hash algorithm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_hash_algorithm: Option<String>,
    /// Validation data, one entry per method.
    #[serde(
        default,
        deserialize_with = "lenient::vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub authentication: Vec<CertAuthentication>,
}

/// `Job` (§2.14): the asynchronous job an order starts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// Job id (large: use 64 bits).
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    /// Creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Timestamp>,
    /// Last update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<Timestamp>,
    /// Owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<BasicUser>,
    /// Last updater.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updater: Option<BasicUser>,
    /// State.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<JobStatus>,
    /// Finer state, e.g. `WF_EMAIL_AUTH`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_status: Option<String>,
    /// When the job ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<Timestamp>,
    /// The product, for certificate jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_type: Option<String>,
    /// `create`, `renew`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The client transaction id of the request that started the job. The XML gateway's job
    /// element carries it as `<ctid>` (§3.3, seen in poll messages); the JSON `Job` has no such
    /// member and names it in `events[].ctid` instead (see [`Job::ctid`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctid: Option<String>,
    /// `WorkflowEvent`s of the job (JSON, §2.14 Job).
    #[serde(
        default,
        deserialize_with = "lenient::vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub events: Vec<WorkflowEvent>,
}

impl Job {
    /// The ctid of the request that started the job: `ctid` if the answer carried one, else the
    /// first workflow event's. [INFER] the OpenAPI file puts a `ctid` only into `WorkflowEvent`
    /// (§2.14); no sample shows a job answer with events, so either place is accepted.
    pub fn ctid(&self) -> Option<&str> {
        fn given(c: &Option<String>) -> Option<&str> {
            c.as_deref().filter(|c| !c.trim().is_empty())
        }
        given(&self.ctid).or_else(|| self.events.iter().find_map(|e| given(&e.ctid)))
    }
}

/// `WorkflowEvent` (§2.14 Job): one step of a job, with the ctid of the request behind it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowEvent {
    /// The job.
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub job_id: Option<i64>,
    /// The workflow step.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub vertex: Option<String>,
    /// The client transaction id of the request that caused the event.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub ctid: Option<String>,
    /// The object the event concerns.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub object: Option<String>,
    /// Event type.
    #[serde(
        rename = "type",
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub kind: Option<String>,
    /// Event subtype.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub subtype: Option<String>,
}

/// One validation step's state inside an [`ObjectJob`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationStatus {
    /// `AuthenticateStatus`, e.g. `IN_PROGRESS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `AuthenticationStep`, e.g. `DOMAIN_VERIFICATION`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Last change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<Timestamp>,
}

/// `ObjectJob` (§2.12): a job with the object it works on (job info).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectJob {
    /// The job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<Job>,
    /// The object, e.g. `{type: Certificate, value: <name>, data: {id, ...}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<ResponseObject>,
    /// Validation progress.
    #[serde(
        default,
        deserialize_with = "lenient::vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub authentication: Vec<AuthenticationStatus>,
    /// Free-text notices.
    #[serde(
        default,
        deserialize_with = "lenient::vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub notices: Vec<String>,
}

impl ObjectJob {
    /// The certificate id the job works on, from `object.data.id` (§2.12).
    pub fn certificate_id(&self) -> Option<i64> {
        self.object.as_ref().and_then(ResponseObject::data_id)
    }

    /// The job id.
    pub fn job_id(&self) -> Option<i64> {
        self.job.as_ref().and_then(|j| j.id)
    }

    /// The job's status.
    pub fn status(&self) -> Option<&JobStatus> {
        self.job.as_ref().and_then(|j| j.status.as_ref())
    }

    /// The ctid of the request that started the job, if the answer names it (see [`Job::ctid`]).
    pub fn ctid(&self) -> Option<&str> {
        self.job.as_ref().and_then(Job::ctid)
    }

    /// The name of the object the job works on (for certificates: the certificate name, i.e.
    /// the mailbox address): `object.value`, else the name inside `object.data`.
    pub fn object_name(&self) -> Option<&str> {
        let o = self.object.as_ref()?;
        o.value
            .as_deref()
            .filter(|v| !v.trim().is_empty())
            .or_else(|| {
                let d = o.data.as_ref()?;
                d.get("name")
                    .or_else(|| d.get("certificate").and_then(|c| c.get("name")))
                    .and_then(serde_json::Value::as_str)
            })
    }

    /// When the job was created.
    pub fn created(&self) -> Option<&Timestamp> {
        self.job.as_ref().and_then(|j| j.created.as_ref())
    }
}

/// `GenericObject` (§1.6): what a message refers to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenericObject {
    /// Object type.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Object value.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub value: Option<String>,
}

/// `Message` (§1.6): a detail message, usually carrying an `EF…` code.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Human-readable text (in the account's language).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Notice text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    /// Nested messages.
    #[serde(
        default,
        deserialize_with = "lenient::vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub messages: Vec<Message>,
    /// Objects the message refers to.
    #[serde(
        default,
        deserialize_with = "lenient::vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub objects: Vec<GenericObject>,
    /// The `EF…` code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Its class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusType>,
}

/// `ResponseStatus` (§1.6): the status of a whole response. `resultCode` is accepted for `code`
/// because one help page spells it so.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseStatus {
    /// `S…`, `E…` or `N…` followed by the task code.
    #[serde(default, alias = "resultCode", skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Class.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<StatusType>,
}

/// `ResponseObject` (§1.6): what a response is about, plus list/queue counts in `summary`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseObject {
    /// Object type, e.g. `Certificate`, `Message`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Object value (a name or an id).
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub value: Option<String>,
    /// Total count (lists) or queue length (poll).
    #[serde(
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub summary: Option<u64>,
    /// A summary of the object, kept as free JSON (its shape depends on `type`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

impl ResponseObject {
    /// `data.id` as an integer, whether the server wrote a number or a numeric string. Where the
    /// object is wrapped once more (`data.certificate.id`, as an XML `<data><certificate>` block
    /// reads), the wrapped id is taken.
    pub fn data_id(&self) -> Option<i64> {
        let data = self.data.as_ref()?;
        let id = data
            .get("id")
            .or_else(|| data.get("certificate").and_then(|c| c.get("id")))?;
        match id {
            serde_json::Value::Number(n) => n.as_i64(),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

/// `NotifyMessage` (§2.14): an event notification (not a job result).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NotifyMessage {
    /// Event type, e.g. `domain_away`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The object concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<ResponseObject>,
}

/// `PollMessage` (§2.14, §3.2): one message from the poll queue or a push.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PollMessage {
    /// Message id; confirm with it (PollConfirm takes the message id, not the job id, §3.4).
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    /// Owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<BasicUser>,
    /// The finished job (job notifications).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<Job>,
    /// The event (event notifications).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<NotifyMessage>,
    /// Server transaction id of the original request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stid: Option<String>,
    /// Our ctid of the original request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctid: Option<String>,
    /// Detail messages (failure reasons).
    #[serde(
        default,
        deserialize_with = "lenient::vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub messages: Vec<Message>,
    /// Flags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<String>,
    /// Notice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    /// When the message was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Timestamp>,
    /// The object the job worked on; for certificates `data.id` is the certificate id (§3.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<ResponseObject>,
}

impl PollMessage {
    /// The job id (`job.id`), equal to the id CertificateCreate returned.
    pub fn job_id(&self) -> Option<i64> {
        self.job.as_ref().and_then(|j| j.id)
    }

    /// The certificate id from `object.data.id` (§3.2). `None` means: look it up by name.
    pub fn certificate_id(&self) -> Option<i64> {
        self.object.as_ref().and_then(ResponseObject::data_id)
    }

    /// The ctid we sent with the original request.
    pub fn ctid(&self) -> Option<&str> {
        self.ctid.as_deref()
    }

    /// The object's value (for certificates, the certificate name: the mailbox address).
    pub fn object_value(&self) -> Option<&str> {
        self.object.as_ref().and_then(|o| o.value.as_deref())
    }

    /// True for a job notification whose job succeeded.
    pub fn is_success(&self) -> bool {
        matches!(
            self.job.as_ref().and_then(|j| j.status.as_ref()),
            Some(JobStatus::Success)
        )
    }

    /// True for a job notification whose job failed or was cancelled.
    pub fn is_failure(&self) -> bool {
        matches!(
            self.job.as_ref().and_then(|j| j.status.as_ref()),
            Some(JobStatus::Failed | JobStatus::Canceled)
        )
    }

    /// True when the message is about a certificate (`object.type` or the job's product).
    pub fn is_certificate(&self) -> bool {
        let by_object = self
            .object
            .as_ref()
            .and_then(|o| o.kind.as_deref())
            .is_some_and(|k| k.eq_ignore_ascii_case("certificate"));
        let by_job = self
            .job
            .as_ref()
            .and_then(|j| j.sub_type.as_deref())
            .is_some_and(|s| s.to_ascii_uppercase().contains("PERSONALSIGN"));
        by_object || by_job
    }
}

/// The response envelope of both transports (JSON `JsonResponseData`, §1.6; XML `result`, §1.7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>", serialize = "T: Serialize"))]
pub struct Envelope<T> {
    /// Server transaction id; quote it to InterNetX support.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stid: Option<String>,
    /// Echo of our ctid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctid: Option<String>,
    /// The status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ResponseStatus>,
    /// What the response is about (and `summary`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<ResponseObject>,
    /// The payload; single-object tasks put their object in `data[0]`.
    #[serde(
        default = "Vec::new",
        deserialize_with = "lenient::vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub data: Vec<T>,
    /// Detail messages.
    #[serde(
        default,
        deserialize_with = "lenient::vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub messages: Vec<Message>,
}

impl<T> Default for Envelope<T> {
    fn default() -> Self {
        Envelope {
            stid: None,
            ctid: None,
            status: None,
            object: None,
            data: Vec::new(),
            messages: Vec::new(),
        }
    }
}

impl<T> Envelope<T> {
    /// True when the status says the task failed: type `ERROR`, or a code starting with `E`
    /// (§1.8). `NOTIFY` and `NOTICE` are successes: async tasks answer `NOTIFY` (§6.3).
    pub fn is_error(&self) -> bool {
        let Some(status) = &self.status else {
            return false;
        };
        matches!(status.kind, Some(StatusType::Error))
            || status.code.as_deref().is_some_and(|c| c.starts_with('E'))
    }

    /// `object.summary`: the list total or the poll queue length.
    pub fn summary(&self) -> Option<u64> {
        self.object.as_ref().and_then(|o| o.summary)
    }
}

/// The payload of a response with no data (`JsonResponseDataVoid`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Void {}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// `QueryFilter` (§1.12); only the flat form the client needs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryFilter {
    /// Field name, e.g. `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Value; `LIKE` takes `%` wildcards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `EQUAL`, `LIKE`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
}

/// `QueryView` (§1.12): paging.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryView {
    /// Page size.
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub limit: Option<i64>,
    /// Offset.
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub offset: Option<i64>,
}

/// `Query` (§1.12): the body of `_search` routes; empty lists everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Query {
    /// Filters, combined with AND.
    #[serde(
        default,
        deserialize_with = "lenient::vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub filters: Vec<QueryFilter>,
    /// Paging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<QueryView>,
}

impl Query {
    /// Objects whose `key` equals `value`.
    pub fn equal(key: &str, value: &str) -> Query {
        Query {
            filters: vec![QueryFilter {
                key: Some(key.to_string()),
                value: Some(value.to_string()),
                operator: Some("EQUAL".to_string()),
            }],
            view: None,
        }
    }

    /// Adds a condition (`operator` in the JSON spelling, e.g. `GREATER_EQUAL`); conditions are
    /// combined with AND.
    pub fn and(mut self, key: &str, operator: &str, value: &str) -> Query {
        self.filters.push(QueryFilter {
            key: Some(key.to_string()),
            value: Some(value.to_string()),
            operator: Some(operator.to_string()),
        });
        self
    }

    /// The same query for the page of at most `limit` items starting at `offset` (§1.12).
    pub fn page(&self, limit: i64, offset: i64) -> Query {
        Query {
            filters: self.filters.clone(),
            view: Some(QueryView {
                limit: Some(limit),
                offset: Some(offset),
            }),
        }
    }
}

/// One API task with its payload: what a request asks for, independent of the wire format.
#[derive(Debug, Clone, PartialEq)]
pub enum Task {
    /// JSON `GET /hello`: checks the connection and the credentials (§1.1). No XML equivalent.
    Hello,
    /// 400201 `POST /sslcontact`.
    SslContactCreate(SslContact),
    /// 400204 `GET /sslcontact/{id}`.
    SslContactInfo {
        /// Contact id.
        id: i64,
    },
    /// 400205 `POST /sslcontact/_search`.
    SslContactList(Query),
    /// 400110 `POST /certificate/_prepareOrder`.
    CertificatePrepareOrder(CertificateData),
    /// 400101 `POST /certificate`.
    CertificateCreate(Box<Certificate>),
    /// 400104 `GET /certificate/{id}`.
    CertificateInfo {
        /// Certificate id.
        id: i64,
    },
    /// 400105 `POST /certificate/_search`.
    CertificateList(Query),
    /// 400115 `POST /job/_search`: the jobs still in the active queue (running, deferred,
    /// waiting), searched with a `Query` (§2.12).
    JobList(Query),
    /// 400135 `POST /job/history/_search`: finished jobs, searched with a `Query` (§2.12).
    JobHistoryList(Query),
    /// 400114 `GET /job/{id}`.
    JobInfo {
        /// Job id.
        id: i64,
    },
    /// `GET /job/history/{id}` (JSON only): a job that has left the active queue, which
    /// `JobInfo` answers with `EF300101` (reference/autodns-api.md, job info).
    JobHistory {
        /// Job id.
        id: i64,
    },
    /// 400106 `PUT /certificate/{id}/_renew`; the id is `certificate.id`.
    CertificateRenew(Box<Certificate>),
    /// 400102 `PUT /certificate/{id}`; the id is `certificate.id`.
    CertificateReissue(Box<Certificate>),
    /// 400103 `DELETE /certificate/{id}`.
    CertificateDelete {
        /// Certificate id.
        id: i64,
    },
    /// 4001031 `POST /certificate/{id}/_revoke`; id and `serial_number` in the certificate.
    CertificateRevoke(Box<Certificate>),
    /// 0905 `GET /poll`.
    PollInfo,
    /// 0906 `PUT /poll/{id}`.
    PollConfirm {
        /// Message id.
        id: i64,
    },
}

impl Task {
    /// The task's name as the API documentation spells it (used in logs and errors).
    pub fn name(&self) -> &'static str {
        match self {
            Task::Hello => "Hello",
            Task::SslContactCreate(_) => "SSLContactCreate",
            Task::SslContactInfo { .. } => "SSLContactInfo",
            Task::SslContactList(_) => "SSLContactList",
            Task::CertificatePrepareOrder(_) => "CertificatePrepareOrder",
            Task::CertificateCreate(_) => "CertificateCreate",
            Task::CertificateInfo { .. } => "CertificateInfo",
            Task::CertificateList(_) => "CertificateList",
            Task::JobList(_) => "CertificateJobList",
            Task::JobHistoryList(_) => "CertificateJobHistoryList",
            Task::JobInfo { .. } => "CertificateJobInfo",
            Task::JobHistory { .. } => "CertificateJobHistoryInfo",
            Task::CertificateRenew(_) => "CertificateRenew",
            Task::CertificateReissue(_) => "CertificateReissue",
            Task::CertificateDelete { .. } => "CertificateDelete",
            Task::CertificateRevoke(_) => "CertificateRevoke",
            Task::PollInfo => "PollInfo",
            Task::PollConfirm { .. } => "PollConfirm",
        }
    }

    /// The XML gateway task code (§2.1). `None` for `Hello` and `JobHistory`, which only the
    /// JSON API has (the gateway's history is a search, 400135).
    pub fn xml_code(&self) -> Option<&'static str> {
        Some(match self {
            Task::Hello | Task::JobHistory { .. } => return None,
            Task::SslContactCreate(_) => "400201",
            Task::SslContactInfo { .. } => "400204",
            Task::SslContactList(_) => "400205",
            Task::CertificatePrepareOrder(_) => "400110",
            Task::CertificateCreate(_) => "400101",
            Task::CertificateInfo { .. } => "400104",
            Task::CertificateList(_) => "400105",
            Task::JobList(_) => "400115",
            Task::JobHistoryList(_) => "400135",
            Task::JobInfo { .. } => "400114",
            Task::CertificateRenew(_) => "400106",
            Task::CertificateReissue(_) => "400102",
            Task::CertificateDelete { .. } => "400103",
            Task::CertificateRevoke(_) => "4001031",
            Task::PollInfo => "0905",
            Task::PollConfirm { .. } => "0906",
        })
    }

    /// True when sending the task twice has the same effect as sending it once, so a transient
    /// failure may be retried. Orders (create, renew, reissue), delete, revoke and contact create
    /// cost money or create objects: they are never retried; the caller recovers by lookup.
    /// PollConfirm of the same message id twice is harmless.
    pub fn is_idempotent(&self) -> bool {
        matches!(
            self,
            Task::Hello
                | Task::SslContactInfo { .. }
                | Task::SslContactList(_)
                | Task::CertificatePrepareOrder(_)
                | Task::CertificateInfo { .. }
                | Task::CertificateList(_)
                | Task::JobList(_)
                | Task::JobHistoryList(_)
                | Task::JobInfo { .. }
                | Task::JobHistory { .. }
                | Task::PollInfo
                | Task::PollConfirm { .. }
        )
    }
}

/// A task together with our client transaction id (`X-Domainrobot-Ctid` / `<ctid>`).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// What to do.
    pub task: Task,
    /// Our id for this request; AutoDNS echoes it and puts it in the job's poll message.
    pub ctid: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn json_dates_without_a_colon_in_the_offset_parse_and_print_back_identically() {
        let t = Timestamp::parse("2022-01-13T13:33:21.000+0100");
        assert_eq!(
            t,
            Some(Timestamp::Zoned(datetime!(2022-01-13 13:33:21 +01:00)))
        );
        assert_eq!(
            t.map(|t| t.to_api_string()).as_deref(),
            Some("2022-01-13T13:33:21.000+0100")
        );
    }

    #[test]
    fn sub_millisecond_precision_and_offset_seconds_are_not_lost_in_printing() {
        let t = Timestamp::parse("2022-01-13T13:33:21.123456+0100");
        assert_eq!(
            t.map(|t| t.to_api_string()).as_deref(),
            Some("2022-01-13T13:33:21.123456+0100")
        );
    }

    #[test]
    fn xml_dates_stay_naive_and_print_back_identically() {
        let t = Timestamp::parse("2017-12-31 23:59:59");
        assert_eq!(t, Some(Timestamp::Naive(datetime!(2017-12-31 23:59:59))));
        assert_eq!(
            t.map(|t| t.to_api_string()).as_deref(),
            Some("2017-12-31 23:59:59")
        );
    }

    #[test]
    fn rfc3339_dates_with_colon_or_z_are_accepted_too() {
        assert_eq!(
            Timestamp::parse("2022-01-13T12:33:21Z"),
            Some(Timestamp::Zoned(datetime!(2022-01-13 12:33:21 UTC)))
        );
        assert_eq!(
            Timestamp::parse("2022-01-13T13:33:21+01:00"),
            Some(Timestamp::Zoned(datetime!(2022-01-13 13:33:21 +01:00)))
        );
        assert_eq!(Timestamp::parse("CREATED"), None);
    }

    #[test]
    fn unknown_enum_values_are_kept_and_known_ones_parse_case_insensitively() {
        assert_eq!(JobStatus::parse("success"), JobStatus::Success);
        assert_eq!(JobStatus::parse("DEFFERED"), JobStatus::Deferred);
        assert_eq!(
            JobStatus::parse("HALF_DONE"),
            JobStatus::Unknown("HALF_DONE".to_string())
        );
        assert_eq!(JobStatus::parse("HALF_DONE").as_str(), "HALF_DONE");
    }

    #[test]
    fn the_download_password_does_not_show_in_debug_output() {
        let c = Certificate {
            password: Some(Secret::new("Sup3rS3cretPw".to_string())),
            ..Default::default()
        };
        assert!(!format!("{c:?}").contains("Sup3rS3cretPw"));
    }

    #[test]
    fn poll_message_accessors_read_job_object_and_ctid() {
        let m: PollMessage = serde_json::from_value(serde_json::json!({
            "id": "77",
            "job": {"id": 4309872209i64, "status": "SUCCESS"},
            "ctid": "order-1",
            "object": {"type": "Certificate", "value": "a@example.org", "data": {"id": "1658050"}}
        }))
        .unwrap_or_default();
        assert_eq!(m.id, Some(77));
        assert_eq!(m.job_id(), Some(4309872209));
        assert_eq!(m.certificate_id(), Some(1658050));
        assert_eq!(m.ctid(), Some("order-1"));
        assert!(m.is_success() && !m.is_failure() && m.is_certificate());
    }
}
