//! The transport-neutral requests: what the JSON and XML layers parse a request into before an
//! engine task sees it.

use crate::secret::Secret;

/// Certificate fields a request may carry (JSON `Certificate`, XML `<certificate>`).
#[derive(Debug, Clone, Default)]
pub(crate) struct CertInput {
    pub name: Option<String>,
    pub product: Option<String>,
    pub certificate_type: Option<String>,
    pub lifetime_months: Option<i64>,
    pub software: Option<String>,
    pub csr: Option<String>,
    pub has_csr: Option<bool>,
    pub password: Option<Secret<String>>,
    pub firstname: Option<String>,
    pub lastname: Option<String>,
    pub organization_unit_name: Option<String>,
    pub admin_id: Option<i64>,
    pub technical_id: Option<i64>,
    pub approver_emails: Vec<String>,
}

/// SSL contact fields (JSON `SslContact`, XML `<contact>`).
#[derive(Debug, Clone, Default)]
pub(crate) struct ContactInput {
    pub fname: Option<String>,
    pub lname: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub fax: Option<String>,
    pub title: Option<String>,
    pub organization: Option<String>,
    pub address: Option<Vec<String>>,
    pub pcode: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
    pub state: Option<String>,
}

/// A search condition tree (`Query.filters`, `autodns-api.md` §1.12).
#[derive(Debug, Clone)]
pub(crate) enum Filter {
    Cond {
        path: String,
        key: String,
        op: String,
        value: Option<String>,
        values: Vec<String>,
    },
    And(Vec<Filter>),
    Or(Vec<Filter>),
}

/// A parsed search (`Query` / XML `<view>`, `<where>`, `<key>`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Query {
    pub filter: Option<Filter>,
    pub limit: Option<usize>,
    pub offset: usize,
    /// `(key, descending)`.
    pub orders: Vec<(String, bool)>,
    /// Extra columns (`keys[]`).
    pub keys: Vec<String>,
}
