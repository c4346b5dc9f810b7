//! Certificates: the order and issued certificate (`Certificate`), its lifetime, chain, names and
//! validation, and the prepareOrder data (`CertificateData`).

use serde::{Deserialize, Serialize};

use super::contact::{BasicUser, SslContact};
use super::enums::{AuthMethod, CaType, CertificateType, TimeUnit};
use super::scalar::{lenient, Timestamp};
use crate::secret::Secret;

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
