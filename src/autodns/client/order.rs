//! The certificate order as the pipeline states it, its checks, and the `Certificate` the
//! client sends for it.

use super::DEFAULT_PRODUCT;
use crate::autodns::model::*;
use crate::secret::Secret;

/// A certificate order as the pipeline states it. The client always orders type `MAIL` with
/// `has_csr` true and our CSR: it has no way to send an order without a CSR (the CA would then
/// hold the key, §4.2).
#[derive(Debug, Clone, PartialEq)]
pub struct CertificateOrder {
    /// The mailbox address: the certificate name (seed page).
    pub name: String,
    /// Product; default [`DEFAULT_PRODUCT`].
    pub product: String,
    /// Lifetime in months (12, 24 or 36, §4.4).
    pub lifetime_months: u32,
    /// Our CSR, PEM.
    pub csr_pem: String,
    /// Administrative SSL contact id.
    pub admin_contact_id: i64,
    /// Technical SSL contact id, if different; without one the administrative contact is sent
    /// as the technical contact too (the seed page: "a technical and administrative contact is
    /// required").
    pub technical_contact_id: Option<i64>,
    /// The address GlobalSign sends the approval mail to (for PersonalSign 1: the mailbox).
    pub approver_email: String,
    /// GlobalSign download password; must match `[A-Za-z0-9]{8,32}` (§4.2).
    pub download_password: Secret<String>,
    /// Subject first name.
    pub firstname: Option<String>,
    /// Subject last name.
    pub lastname: Option<String>,
    /// Subject organisational unit.
    pub organization_unit_name: Option<String>,
}

impl CertificateOrder {
    /// An order with the defaults: product [`DEFAULT_PRODUCT`], 12 months, the mailbox itself as
    /// approver, no technical contact, no name parts.
    pub fn new(
        name: impl Into<String>,
        csr_pem: impl Into<String>,
        admin_contact_id: i64,
        download_password: Secret<String>,
    ) -> Self {
        let name = name.into();
        CertificateOrder {
            approver_email: name.clone(),
            name,
            product: DEFAULT_PRODUCT.to_string(),
            lifetime_months: 12,
            csr_pem: csr_pem.into(),
            admin_contact_id,
            technical_contact_id: None,
            download_password,
            firstname: None,
            lastname: None,
            organization_unit_name: None,
        }
    }

    /// Checks the order against the API's rules before anything is sent.
    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if !is_address(&self.name) {
            problems.push("name must be the mailbox address".to_string());
        }
        if !is_address(&self.approver_email) {
            problems.push("approver_email must be an address".to_string());
        }
        if self.product.trim().is_empty() {
            problems.push("product is empty".to_string());
        }
        if !matches!(self.lifetime_months, 12 | 24 | 36) {
            problems.push(format!(
                "lifetime_months is {}, expected 12, 24 or 36",
                self.lifetime_months
            ));
        }
        if !self.csr_pem.contains("-----BEGIN CERTIFICATE REQUEST-----")
            && !self
                .csr_pem
                .contains("-----BEGIN NEW CERTIFICATE REQUEST-----")
        {
            problems.push("csr_pem is not a PEM certificate request".to_string());
        }
        if self.admin_contact_id <= 0 {
            problems.push("admin_contact_id is not a contact id".to_string());
        }
        if !is_download_password(self.download_password.expose()) {
            // Never echo the password itself.
            problems.push("download_password must be 8 to 32 ASCII letters or digits".to_string());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// The `Certificate` body of create/renew/reissue.
    pub(super) fn to_certificate(&self, id: Option<i64>) -> Certificate {
        let contact = |id: i64| SslContact {
            id: Some(id),
            ..Default::default()
        };
        Certificate {
            id,
            name: Some(self.name.clone()),
            product: Some(self.product.clone()),
            certificate_type: Some(CertificateType::Mail),
            lifetime: Some(TimePeriod::months(self.lifetime_months)),
            // [INFER] §4.4: non-server products carry `NOT_SET`.
            software: Some("NOT_SET".to_string()),
            csr: Some(sdk_csr(&self.csr_pem)),
            has_csr: Some(true),
            admin_contact: Some(contact(self.admin_contact_id)),
            // The seed page requires both contacts; without a technical one configured, the
            // administrative contact serves as both.
            technical_contact: Some(contact(
                self.technical_contact_id.unwrap_or(self.admin_contact_id),
            )),
            approver_email: Some(self.approver_email.clone()),
            password: Some(self.download_password.clone()),
            firstname: self.firstname.clone(),
            lastname: self.lastname.clone(),
            organization_unit_name: self.organization_unit_name.clone(),
            ..Default::default()
        }
    }
}

/// A CSR in the form InterNetX's own SDKs send it: line breaks removed, then header, the base64
/// body on one line and footer joined by CRLF (`InterNetX/js-domainrobot-sdk`,
/// `src/services/CertificateService.js`, `prepareCsr`, applied before create, renew, reissue and
/// prepareOrder; `InterNetX/php-domainrobot-sdk`, `src/Service/CertificateService.php`,
/// `prepareCsr`, splits a one-line CSR into the same three lines). Like the SDKs, anything that
/// is not a single `CERTIFICATE REQUEST` block is left as it is.
pub fn sdk_csr(pem: &str) -> String {
    const BEGIN: &str = "-----BEGIN CERTIFICATE REQUEST-----";
    const END: &str = "-----END CERTIFICATE REQUEST-----";
    let flat: String = pem
        .trim()
        .chars()
        .filter(|c| *c != '\r' && *c != '\n')
        .collect();
    match flat
        .strip_prefix(BEGIN)
        .and_then(|rest| rest.strip_suffix(END))
    {
        Some(body) if !body.contains("-----") => format!("{BEGIN}\r\n{body}\r\n{END}"),
        _ => pem.to_string(),
    }
}

fn is_address(s: &str) -> bool {
    match s.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

/// The download password rule: 8–32 ASCII letters and digits (§4.2, PHP model).
pub fn is_download_password(p: &str) -> bool {
    (8..=32).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric())
}
