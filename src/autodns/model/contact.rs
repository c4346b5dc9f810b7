//! Contacts and users: `SslContact` (the administrative/technical contact of certificate
//! orders) and `BasicUser` (the owner or updater of any object).

use serde::{Deserialize, Serialize};

use super::scalar::{lenient, Timestamp};

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
