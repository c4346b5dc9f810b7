//! The typed AutoDNS model shared by both wire formats (JSON API and XML gateway).
//!
//! Field names follow InterNetX's OpenAPI file (`InterNetX/domainrobot-api`, `src/domainrobot.json`,
//! definitions `Certificate`, `SslContact`, `CertificateData`, `Job`, `ObjectJob`, `PollMessage`,
//! `JsonResponseData`), see `docs/autodns-api.md` §1.6 and §2.14. The serde attributes here
//! *are* the JSON codec's field mapping; the XML codec (`xml.rs`) maps the same structs by hand
//! because the gateway's element names differ (snake_case, `admin` for `adminContact`, ...).
//!
//! Tolerance rules, because the API has grown steadily and the sources disagree in places:
//! - every field is optional (or an empty `Vec`) and `null` is accepted wherever a list is;
//! - unknown fields are ignored (no `deny_unknown_fields`);
//! - every enum has an `Unknown(String)` fallback that keeps the server's word;
//! - ids are accepted as numbers or numeric strings (the spec types some as strings);
//! - dates are accepted in either API format (see [`Timestamp`]).
//!
//! One file per concern: [`scalar`] (dates, lenient decoding), [`enums`] (open enums),
//! [`contact`], [`certificate`], [`job`], [`poll`], [`envelope`] (responses) and [`task`]
//! (requests). Everything is re-exported here, so `autodns::model::X` names every type.

pub mod certificate;
pub mod contact;
pub mod enums;
pub mod envelope;
pub mod job;
pub mod poll;
pub mod scalar;
pub mod task;

pub use certificate::*;
pub use contact::*;
pub use enums::*;
pub use envelope::*;
pub use job::*;
pub use poll::*;
pub use scalar::*;
pub use task::*;

#[cfg(test)]
mod tests;
