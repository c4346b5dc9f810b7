//! Owns the typed, validated configuration that the rest of the program reads. Every value here
//! has passed `validate.rs`: paths are absolute or resolved, secrets are loaded, enums are known.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::mailbox::Address;
use crate::secret::Secret;

// The config validates straight into the domain types: nothing downstream parses a config
// spelling again. The old config names stay as aliases for callers that still use them.
pub use crate::autodns::Wire;
pub use crate::crypto::{KeyType, Pkcs12Profile};
pub use crate::lifecycle::RemovalPolicy;
pub use crate::mailbox::{DomainOverride, DomainPolicy};
pub use crate::source::ldif::KeyAttr;

/// `keys.type`: the `crypto` module's key type (config spellings `rsa-2048` … `ec-p384`).
pub type KeyAlgorithm = KeyType;
/// `keys.pkcs12_profile`: the `crypto` module's PKCS#12 profile (`modern`, `compat`).
pub type BundleProfile = Pkcs12Profile;
/// `sources.ldif.key`: the LDIF source's entry key (`entryUUID`, `dn`).
pub type LdifKey = KeyAttr;
/// `[domains]`: the allow-list and per-domain overrides, normalised (IDNA, lower-case).
pub type DomainsConfig = DomainPolicy;

/// The validated config.
#[derive(Debug, Clone)]
pub struct Config {
    /// SQLite database and encrypted key store live here (created 0700).
    pub state_dir: PathBuf,
    pub autodns: AutodnsConfig,
    pub simulator: SimulatorSettings,
    pub keys: KeysConfig,
    pub domains: DomainPolicy,
    pub sources: SourcesConfig,
    pub delivery: DeliveryConfig,
    pub renewal: RenewalConfig,
    pub removal: RemovalConfig,
    pub pipeline: PipelineConfig,
    pub http: HttpConfig,
    /// `[hooks]`, `[webhook]`, `[digest]`.
    pub notify: NotifyConfig,
}

/// Where AutoDNS requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// The bundled simulator, started in-process: no account, no money.
    Simulator,
    /// A real (or separately started simulator) API base URL.
    Remote(Url),
}

/// `[autodns]`.
#[derive(Debug, Clone)]
pub struct AutodnsConfig {
    pub endpoint: Endpoint,
    pub wire: Wire,
    pub user: String,
    /// `None` only with the in-process simulator, which uses its own credentials.
    pub password: Option<Secret<String>>,
    pub context: u32,
    pub requests_per_second: f64,
    pub timeout: Duration,
    pub product: String,
    pub lifetime_months: u32,
    pub daily_order_budget: u32,
    pub poll_interval: Duration,
    pub job_silence_timeout: Duration,
    pub confirm_foreign_messages: bool,
    pub contact: ContactConfig,
}

/// The SSL contact used as admin and technical contact of every order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactConfig {
    /// Use this existing contact id.
    Existing(i64),
    /// Create this contact once (SSLContactCreate) and reuse its id.
    Create(Box<ContactDetails>),
}

/// Fields of an SSL contact (AutoDNS `SslContact`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContactDetails {
    pub first: String,
    pub last: String,
    pub email: String,
    pub phone: String,
    pub fax: Option<String>,
    pub title: String,
    pub organization: String,
    pub address: String,
    pub postal_code: String,
    pub city: String,
    pub country: String,
    pub state: String,
}

/// `[simulator]`: used only when `autodns.endpoint = "simulator"`.
#[derive(Debug, Clone)]
pub struct SimulatorSettings {
    pub issuance_delay: Duration,
    pub state_dir: PathBuf,
}

/// `[keys]`.
#[derive(Debug, Clone)]
pub struct KeysConfig {
    pub key_type: KeyType,
    pub pkcs12_profile: Pkcs12Profile,
    /// Keep private keys (encrypted) after delivery, for redelivery and old mail.
    pub archive: bool,
    /// Keys generated ahead, so a new mailbox's order need not wait for one (0 = no pool).
    pub pool_size: usize,
    /// The pool is refilled once it holds this many keys or fewer (below `pool_size`).
    pub pool_refill_at: usize,
}

/// `[sources]`.
#[derive(Debug, Clone)]
pub struct SourcesConfig {
    pub max_removal_share: f64,
    /// Removals within the window that pass whatever the share (`removals_always_allowed`).
    pub removals_always_allowed: usize,
    /// How far back the mass-removal guard counts removals (`removal_window_secs`).
    pub removal_window: Duration,
    pub rescan_interval: Duration,
    pub maildir: Option<MaildirConfig>,
    pub ldif: Option<LdifConfig>,
    pub spool_dir: PathBuf,
}

/// `[sources.maildir]`, when enabled.
#[derive(Debug, Clone)]
pub struct MaildirConfig {
    pub root: PathBuf,
    /// Pattern with `{domain}` and `{local}`, e.g. `{domain}/{local}` or `{domain}/{local}/Maildir`.
    pub layout: String,
}

/// `[sources.ldif]`, when enabled.
#[derive(Debug, Clone)]
pub struct LdifConfig {
    pub path: PathBuf,
    pub attributes: Vec<String>,
    pub object_class: Option<String>,
    pub key: KeyAttr,
    /// Where the person's name is looked for, in order (then `givenName` + `sn`); empty: none.
    pub display_name_attributes: Vec<String>,
}

/// `[delivery]`.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    pub transport: DeliveryTransport,
    /// RFC 5322 mailbox, e.g. `Certificate Service <pki@example.com>`.
    pub from: String,
    pub reply_to: Option<String>,
    pub subject: String,
    pub password_subject: String,
    /// Told about mailboxes that failed permanently.
    pub admin_address: Option<Address>,
    pub template_text_file: Option<PathBuf>,
    pub template_html_file: Option<PathBuf>,
    pub password_template_file: Option<PathBuf>,
    pub password: PasswordChannelConfig,
}

/// How mail leaves.
#[derive(Debug, Clone)]
pub enum DeliveryTransport {
    /// `.eml` files in a directory (trials, tests).
    File {
        dir: PathBuf,
    },
    Smtp(SmtpConfig),
    Sendmail {
        command: PathBuf,
    },
}

/// Transport security for SMTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// TLS from the first byte (port 465).
    Tls,
    /// STARTTLS required (port 587/25).
    StartTls,
    /// No TLS, allowed only to a loopback host.
    PlainLoopback,
    /// No TLS to any host: passwords and bundles cross the network in clear.
    DangerousPlain,
}

/// `[delivery.smtp]`.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub user: Option<String>,
    pub password: Option<Secret<String>>,
    pub timeout: Duration,
    /// Extra CA certificate(s) to trust, e.g. a private relay's.
    pub ca_file: Option<PathBuf>,
}

/// `[delivery.password]`: how the PKCS#12 password reaches the user. Never with the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordChannelConfig {
    /// A second mail without attachment to the same mailbox, after `delay`.
    SeparateMail { delay: Duration },
    /// A mail to a helpdesk address, which hands it on.
    AdminMail { to: Address },
    /// Run a program (e.g. an SMS gateway) with the address as last argument, password on stdin.
    Command { argv: Vec<String> },
    /// One 0600 file per address in a 0700 directory, for an admin to collect.
    File { dir: PathBuf },
}

/// `[renewal]`.
#[derive(Debug, Clone)]
pub struct RenewalConfig {
    /// Renew this long before expiry.
    pub margin: Duration,
}

/// `[removal]`: `policy` and `grace_days` validate into one [`RemovalPolicy`] (the grace rides
/// inside `Revoke`; `grace_days` with `keep` is accepted and has nothing to act on).
#[derive(Debug, Clone)]
pub struct RemovalConfig {
    pub policy: RemovalPolicy,
}

/// `[pipeline]`.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub concurrency: usize,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub max_attempts: u32,
}

/// `[http]`: health, metrics and the AutoDNS push endpoint.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// `None` = no HTTP endpoint.
    pub listen: Option<SocketAddr>,
    /// Required when `listen` is set: pushes must carry it.
    pub push_token: Option<Secret<String>>,
    /// The push URL as entered in the AutoDNS account (reaching `listen` through any proxy or
    /// port forward); `preflight` checks that it reaches this endpoint. Only with `listen`.
    pub public_push_url: Option<url::Url>,
    /// Connections served at once; more are closed unserved.
    pub max_connections: usize,
    /// Time a client has to send a request's headers.
    pub header_timeout: Duration,
    /// Time a client has to send a request's body.
    pub body_timeout: Duration,
    /// `/readyz` fails when AutoDNS has not answered for longer than this.
    pub ready_autodns_within: Duration,
}

/// `[hooks]`, `[webhook]` and `[digest]`: what the admin is told, and how.
#[derive(Debug, Clone, Default)]
pub struct NotifyConfig {
    /// Commands per event, program first (absolute or resolved), run without a shell.
    pub hooks: std::collections::BTreeMap<crate::lifecycle::HookEvent, Vec<String>>,
    /// How long one hook may run before its process group is killed.
    pub hook_timeout: Duration,
    /// The webhook, if configured.
    pub webhook: Option<WebhookConfig>,
    /// Whether the daily digest mail goes to `delivery.admin_address`.
    pub digest: Option<DigestConfig>,
}

/// `[webhook]`.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Where to POST (https, or http to a loopback address).
    pub url: Url,
    /// The HMAC-SHA256 key.
    pub secret: Secret<String>,
    /// The events posted.
    pub events: Vec<crate::lifecycle::HookEvent>,
    /// How long one POST may take.
    pub timeout: Duration,
}

/// `[digest]`.
#[derive(Debug, Clone, Copy)]
pub struct DigestConfig {
    /// The UTC hour from which the day's digest is due.
    pub hour_utc: u8,
}
