//! Owns the raw config: serde structs that mirror the TOML file key for key, with defaults and no
//! judgement. `validate.rs` turns them into typed values and reports every problem at once.
//!
//! Unknown keys are not silently ignored: `load` collects them through `serde_ignored` and reports
//! each with its path, together with every other problem (the effect of `deny_unknown_fields`,
//! without stopping at the first one).

use std::collections::BTreeMap;

use serde::Deserialize;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawConfig {
    pub state: RawState,
    pub autodns: RawAutodns,
    pub simulator: RawSimulator,
    pub keys: RawKeys,
    pub domains: RawDomains,
    pub sources: RawSources,
    pub delivery: RawDelivery,
    pub renewal: RawRenewal,
    pub removal: RawRemoval,
    pub pipeline: RawPipeline,
    pub http: RawHttp,
    pub hooks: RawHooks,
    pub webhook: RawWebhook,
    pub digest: RawDigest,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawState {
    pub dir: Option<String>,
}

/// A secret given by file or by environment variable, never inline.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawSecretRef {
    pub file: Option<String>,
    pub env: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawAutodns {
    pub endpoint: Option<String>,
    pub wire: Option<String>,
    pub user: Option<String>,
    pub password_file: Option<String>,
    pub password_env: Option<String>,
    pub password_credential: Option<String>,
    pub context: Option<i64>,
    pub requests_per_second: Option<f64>,
    pub timeout_secs: Option<u64>,
    pub product: Option<String>,
    pub lifetime_months: Option<i64>,
    pub daily_order_budget: Option<i64>,
    pub poll_interval_secs: Option<u64>,
    pub job_silence_timeout_secs: Option<u64>,
    pub confirm_foreign_messages: Option<bool>,
    pub contact: RawContact,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawContact {
    pub id: Option<i64>,
    pub first: Option<String>,
    pub last: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub fax: Option<String>,
    pub title: Option<String>,
    pub organization: Option<String>,
    pub address: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
    pub state: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawSimulator {
    pub issuance_delay_ms: Option<u64>,
    pub state_dir: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawKeys {
    #[serde(rename = "type")]
    pub key_type: Option<String>,
    pub pkcs12_profile: Option<String>,
    pub archive: Option<bool>,
    pub pool_size: Option<u64>,
    pub pool_refill_at: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawDomains {
    pub allow: Option<Vec<String>>,
    #[serde(rename = "override")]
    pub overrides: BTreeMap<String, RawDomainOverride>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawDomainOverride {
    pub product: Option<String>,
    pub lifetime_months: Option<i64>,
    pub organization_unit: Option<String>,
    pub admin_contact_id: Option<i64>,
    pub technical_contact_id: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawSources {
    pub max_removal_share: Option<f64>,
    pub removals_always_allowed: Option<i64>,
    pub removal_window_secs: Option<i64>,
    pub rescan_interval_secs: Option<u64>,
    pub maildir: RawMaildir,
    pub ldif: RawLdif,
    pub spool: RawSpool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawMaildir {
    pub enabled: Option<bool>,
    pub root: Option<String>,
    pub layout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawLdif {
    pub enabled: Option<bool>,
    pub path: Option<String>,
    pub attributes: Option<Vec<String>>,
    pub object_class: Option<String>,
    pub key: Option<String>,
    pub display_name_attributes: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawSpool {
    pub dir: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawDelivery {
    pub transport: Option<String>,
    pub from: Option<String>,
    pub reply_to: Option<String>,
    pub subject: Option<String>,
    pub password_subject: Option<String>,
    pub admin_address: Option<String>,
    pub template_text_file: Option<String>,
    pub template_html_file: Option<String>,
    pub password_template_file: Option<String>,
    pub file: RawDeliveryFile,
    pub smtp: RawSmtp,
    pub sendmail: RawSendmail,
    pub password: RawPasswordChannel,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawDeliveryFile {
    pub dir: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawSmtp {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub security: Option<String>,
    pub user: Option<String>,
    pub password_file: Option<String>,
    pub password_env: Option<String>,
    pub password_credential: Option<String>,
    pub timeout_secs: Option<u64>,
    pub ca_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawSendmail {
    pub command: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawPasswordChannel {
    pub channel: Option<String>,
    pub delay_secs: Option<u64>,
    pub admin_address: Option<String>,
    pub command: Option<Vec<String>>,
    pub dir: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawRenewal {
    pub margin_days: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawRemoval {
    pub policy: Option<String>,
    pub grace_days: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawPipeline {
    pub concurrency: Option<i64>,
    pub backoff_base_secs: Option<u64>,
    pub backoff_max_secs: Option<u64>,
    pub max_attempts: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawHttp {
    pub listen: Option<String>,
    pub push_token_file: Option<String>,
    pub push_token_env: Option<String>,
    pub push_token_credential: Option<String>,
    pub public_push_url: Option<String>,
    pub max_connections: Option<i64>,
    pub header_timeout_secs: Option<i64>,
    pub body_timeout_secs: Option<i64>,
    pub ready_autodns_within_secs: Option<i64>,
}

/// `[hooks]`: a command (argv array) per event.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawHooks {
    pub timeout_secs: Option<u64>,
    pub issued: Option<Vec<String>>,
    pub delivered: Option<Vec<String>>,
    pub renewed: Option<Vec<String>>,
    pub failed: Option<Vec<String>>,
    pub revoked: Option<Vec<String>>,
    pub removed: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawWebhook {
    pub url: Option<String>,
    pub secret_file: Option<String>,
    pub secret_env: Option<String>,
    pub secret_credential: Option<String>,
    pub events: Option<Vec<String>>,
    pub timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawDigest {
    pub enabled: Option<bool>,
    pub hour_utc: Option<i64>,
}
