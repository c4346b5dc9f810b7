//! Owns validation: raw config → typed [`Config`], collecting every problem with its key path
//! rather than stopping at the first. Defaults are applied here, in one place, and documented in
//! `config.example.toml` (a test checks the example parses and matches these defaults).
//!
//! This file holds the checker and the small sections; `autodns.rs` validates `[autodns]` and its
//! contact, `delivery.rs` validates `[delivery]` and its SMTP and password channel, `secret.rs`
//! reads the secrets (files, environment variables, systemd credentials).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

mod autodns;
mod delivery;
mod notify;
mod preflight;
mod secret;

use super::raw::*;
use super::types::*;
use super::Problem;
use crate::mailbox::{normalize_domain, Address};
use autodns::{autodns, check_lifetime, check_product};
use delivery::delivery;
pub use preflight::{preflight, Preflight};
use secret::SecretKeys;
pub use secret::{CREDENTIALS_DIRECTORY, CREDENTIALS_FALLBACK_DIR};

/// Where state lives when `state.dir` is not set (systemd's `StateDirectory=`).
pub const DEFAULT_STATE_DIR: &str = "/var/lib/smime-provisioner";

/// Where the enqueue spool lives when `sources.spool.dir` is not set: outside the 0700 state
/// directory, so the hook's group can reach it.
pub const DEFAULT_SPOOL_DIR: &str = "/var/spool/smime-provisioner";

/// Reads environment variables; tests pass a map instead of the process environment.
pub trait Env {
    /// The variable's value, if set.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// AutoDNS documents lifetimes in months; PersonalSign is sold for 1–3 years.
pub(super) const LIFETIMES: [u32; 3] = [12, 24, 36];
/// AutoDNS allows at most 3 requests per second per source IP (XML and JSON API basics).
pub(super) const MAX_RPS: f64 = 3.0;

pub(super) struct Checker<'a> {
    base: &'a Path,
    env: &'a dyn Env,
    pub(super) problems: Vec<Problem>,
}

impl Checker<'_> {
    pub(super) fn problem(&mut self, key: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            key: key.to_string(),
            message: message.into(),
        });
    }

    pub(super) fn path(&self, value: &str) -> PathBuf {
        resolve(self.base, value)
    }

    pub(super) fn required<T: Clone>(&mut self, key: &str, value: &Option<T>) -> Option<T> {
        if value.is_none() {
            self.problem(key, "is required");
        }
        value.clone()
    }

    pub(super) fn one_of<T: Copy>(
        &mut self,
        key: &str,
        value: Option<&str>,
        default: T,
        choices: &[(&str, T)],
    ) -> T {
        let Some(v) = value else { return default };
        if let Some((_, t)) = choices.iter().find(|(name, _)| *name == v) {
            return *t;
        }
        let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
        self.problem(key, format!("{v:?} is not one of: {}", names.join(", ")));
        default
    }

    pub(super) fn range_i64(
        &mut self,
        key: &str,
        value: Option<i64>,
        default: i64,
        lo: i64,
        hi: i64,
    ) -> i64 {
        match value {
            None => default,
            Some(v) if (lo..=hi).contains(&v) => v,
            Some(v) => {
                self.problem(key, format!("{v} is out of range {lo}..={hi}"));
                default
            }
        }
    }

    /// A duration in seconds within `min..=max`: every duration has an upper bound, so no
    /// accepted value can overflow a deadline computed from it (`now + value`, `value * 4`).
    pub(super) fn secs(
        &mut self,
        key: &str,
        value: Option<u64>,
        default: u64,
        min: u64,
        max: u64,
    ) -> Duration {
        Duration::from_secs(self.bounded(key, value, default, min, max, "s"))
    }

    /// `value` (default `default`) within `min..=max`; a problem naming the key, the value and
    /// the limit otherwise. `unit` ("s", "ms") shows the maximum in words too; `""` is a count.
    pub(super) fn bounded(
        &mut self,
        key: &str,
        value: Option<u64>,
        default: u64,
        min: u64,
        max: u64,
        unit: &str,
    ) -> u64 {
        match value {
            Some(v) if v < min => {
                self.problem(key, format!("{v} is below the minimum of {min}"));
                default
            }
            Some(v) if v > max => {
                self.problem(
                    key,
                    if unit.is_empty() {
                        format!("{v} is above the maximum of {max}")
                    } else {
                        format!(
                            "{v} is above the maximum of {max} ({})",
                            in_words(max, unit)
                        )
                    },
                );
                default
            }
            Some(v) => v,
            None => default,
        }
    }

    pub(super) fn address(&mut self, key: &str, value: &str) -> Option<Address> {
        match Address::parse(value) {
            Ok(a) => Some(a),
            Err(e) => {
                self.problem(key, e.to_string());
                None
            }
        }
    }

    pub(super) fn mailbox(&mut self, key: &str, value: &str) {
        if let Err(e) = value.parse::<lettre::message::Mailbox>() {
            self.problem(
                key,
                format!("{value:?} is not a mailbox like \"Name <addr@example.com>\": {e}"),
            );
        }
    }

    pub(super) fn existing_file(&mut self, key: &str, value: &Option<String>) -> Option<PathBuf> {
        let path = self.path(value.as_deref()?);
        if let Err(e) = std::fs::metadata(&path) {
            self.problem(key, format!("cannot read {}: {e}", path.display()));
        }
        Some(path)
    }
}

/// `value` as an absolute path, or relative to `base`, without `.` components (so messages
/// show `var/mail`, not `././var/mail`).
pub fn resolve(base: &Path, value: &str) -> PathBuf {
    let p = Path::new(value);
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    };
    let clean: PathBuf = joined
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect();
    if clean.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        clean
    }
}

/// A limit in words: `3600` seconds is "1 hour", `604800` is "7 days".
fn in_words(n: u64, unit: &str) -> String {
    let secs = if unit == "ms" { n / 1000 } else { n };
    let (count, name) = match secs {
        s if s >= 86_400 && s % 86_400 == 0 => (s / 86_400, "day"),
        s if s >= 3_600 && s % 3_600 == 0 => (s / 3_600, "hour"),
        s if s >= 60 && s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    format!("{count} {name}{}", if count == 1 { "" } else { "s" })
}

pub(super) fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// Validates a raw config. Relative paths resolve against `base`.
pub fn validate(raw: RawConfig, base: &Path, env: &dyn Env) -> Result<Config, Vec<Problem>> {
    let mut c = Checker {
        base,
        env,
        problems: Vec::new(),
    };
    let state_dir = c.path(
        raw.state
            .dir
            .as_deref()
            .unwrap_or("/var/lib/smime-provisioner"),
    );
    let autodns = autodns(&mut c, &raw.autodns);
    let simulator = SimulatorSettings {
        issuance_delay: Duration::from_millis(c.bounded(
            "simulator.issuance_delay_ms",
            raw.simulator.issuance_delay_ms,
            2000,
            0,
            3_600_000,
            "ms",
        )),
        state_dir: raw
            .simulator
            .state_dir
            .as_deref()
            .map(|p| c.path(p))
            .unwrap_or_else(|| state_dir.join("simulator")),
    };
    let keys = keys(&mut c, &raw.keys);
    let domains = domains(&mut c, &raw.domains);
    let sources = sources(&mut c, &raw.sources);
    let delivery = delivery(&mut c, &raw.delivery, &state_dir);
    let (renewal, removal, pipeline) = schedule(&mut c, &raw);
    check_margin(&mut c, &renewal, &autodns, &domains);
    let http = http(&mut c, &raw.http);
    let notify = notify::notify(&mut c, &raw, delivery.admin_address.is_some());
    if c.problems.is_empty() {
        Ok(Config {
            state_dir,
            autodns,
            simulator,
            keys,
            domains,
            sources,
            delivery,
            renewal,
            removal,
            pipeline,
            http,
            notify,
        })
    } else {
        Err(c.problems)
    }
}

/// Most keys generated ahead: enough for a burst, few enough to regenerate quickly when the key
/// type changes.
const MAX_POOL: u64 = 256;

fn keys(c: &mut Checker<'_>, r: &RawKeys) -> KeysConfig {
    let pool_size = c.bounded("keys.pool_size", r.pool_size, 4, 0, MAX_POOL, "");
    let refill_max = pool_size.saturating_sub(1);
    let pool_refill_at = c.bounded(
        "keys.pool_refill_at",
        r.pool_refill_at,
        (pool_size / 2).min(refill_max),
        0,
        refill_max,
        "",
    );
    KeysConfig {
        pool_size: usize::try_from(pool_size).unwrap_or(0),
        pool_refill_at: usize::try_from(pool_refill_at).unwrap_or(0),
        key_type: c.one_of(
            "keys.type",
            r.key_type.as_deref(),
            KeyType::Rsa3072,
            &[
                ("rsa-2048", KeyType::Rsa2048),
                ("rsa-3072", KeyType::Rsa3072),
                ("rsa-4096", KeyType::Rsa4096),
                ("ec-p256", KeyType::EcP256),
                ("ec-p384", KeyType::EcP384),
            ],
        ),
        pkcs12_profile: c.one_of(
            "keys.pkcs12_profile",
            r.pkcs12_profile.as_deref(),
            Pkcs12Profile::Modern,
            &[
                ("modern", Pkcs12Profile::Modern),
                ("compat", Pkcs12Profile::Compat),
            ],
        ),
        archive: r.archive.unwrap_or(true),
    }
}

/// `[renewal]`, `[removal]` and `[pipeline]`: the timing of the work.
fn schedule(
    c: &mut Checker<'_>,
    raw: &RawConfig,
) -> (RenewalConfig, RemovalConfig, PipelineConfig) {
    let renewal = RenewalConfig {
        margin: Duration::from_secs(
            86_400 * c.range_i64("renewal.margin_days", raw.renewal.margin_days, 30, 1, 365) as u64,
        ),
    };
    let grace_days = c.range_i64("removal.grace_days", raw.removal.grace_days, 7, 0, 3650);
    let grace = time::Duration::days(grace_days);
    let removal = RemovalConfig {
        policy: c.one_of(
            "removal.policy",
            raw.removal.policy.as_deref(),
            RemovalPolicy::Keep,
            &[
                ("keep", RemovalPolicy::Keep),
                ("revoke", RemovalPolicy::Revoke { grace }),
            ],
        ),
    };
    let p = &raw.pipeline;
    let backoff_base = c.secs(
        "pipeline.backoff_base_secs",
        p.backoff_base_secs,
        30,
        1,
        86_400,
    );
    let backoff_max = c.secs(
        "pipeline.backoff_max_secs",
        p.backoff_max_secs,
        21_600,
        1,
        604_800,
    );
    if backoff_max < backoff_base {
        c.problem(
            "pipeline.backoff_max_secs",
            "must not be below pipeline.backoff_base_secs",
        );
    }
    let pipeline = PipelineConfig {
        concurrency: c.range_i64("pipeline.concurrency", p.concurrency, 4, 1, 64) as usize,
        backoff_base,
        backoff_max,
        max_attempts: c.range_i64("pipeline.max_attempts", p.max_attempts, 8, 1, 1000) as u32,
    };
    (renewal, removal, pipeline)
}

/// `renewal.margin_days` must be below the shortest certificate lifetime configured, counted in
/// short (28-day) months: a margin as long as the lifetime would renew — and pay for — every
/// certificate as soon as it is issued, again and again up to the daily budget.
fn check_margin(
    c: &mut Checker<'_>,
    renewal: &RenewalConfig,
    autodns: &AutodnsConfig,
    domains: &DomainPolicy,
) {
    let shortest = domains
        .overrides
        .values()
        .filter_map(|o| o.lifetime_months)
        .chain([autodns.lifetime_months])
        .filter(|m| *m > 0)
        .min()
        .unwrap_or(12);
    let lifetime_days = u64::from(shortest) * 28;
    let margin_days = renewal.margin.as_secs() / 86_400;
    if margin_days >= lifetime_days {
        c.problem(
            "renewal.margin_days",
            format!(
                "{margin_days} is not below the shortest certificate lifetime ({shortest} \
                 months, at least {lifetime_days} days): every certificate would be renewed, \
                 and paid for, as soon as it is issued"
            ),
        );
    }
}

/// `domains.allow`, normalised (IDNA, lower-case), with a problem for each entry that is not a
/// domain. Shared with [`super::hook_settings`], which reads only this part of the file.
pub(super) fn allow_list(r: &RawDomains) -> (Vec<String>, Vec<Problem>) {
    let mut allow = Vec::new();
    let mut problems = Vec::new();
    for (i, d) in r.allow.iter().flatten().enumerate() {
        match normalize_domain(d) {
            Ok(n) => allow.push(n),
            Err(e) => problems.push(Problem {
                key: format!("domains.allow[{i}]"),
                message: format!("{d:?}: {e}"),
            }),
        }
    }
    (allow, problems)
}

fn domains(c: &mut Checker<'_>, r: &RawDomains) -> DomainPolicy {
    let (allow, problems) = allow_list(r);
    c.problems.extend(problems);
    let mut overrides = BTreeMap::new();
    for (d, o) in &r.overrides {
        let key = format!("domains.override.{d:?}");
        let Ok(n) = normalize_domain(d) else {
            c.problem(&key, "is not a valid domain");
            continue;
        };
        if !allow.is_empty() && !allow.contains(&n) {
            c.problem(&key, "overrides a domain that domains.allow does not allow");
        }
        if let Some(p) = &o.product {
            check_product(c, &format!("{key}.product"), p);
        }
        let lifetime = o.lifetime_months.map(|m| {
            let m = u32::try_from(m).unwrap_or(0);
            check_lifetime(c, &format!("{key}.lifetime_months"), m);
            m
        });
        overrides.insert(
            n,
            DomainOverride {
                product: o.product.clone(),
                lifetime_months: lifetime,
                organization_unit: o.organization_unit.clone(),
                admin_contact_id: o.admin_contact_id,
                technical_contact_id: o.technical_contact_id,
            },
        );
    }
    DomainPolicy { allow, overrides }
}

fn sources(c: &mut Checker<'_>, r: &RawSources) -> SourcesConfig {
    let share = r.max_removal_share.unwrap_or(0.10);
    if !(share > 0.0 && share <= 1.0) {
        c.problem(
            "sources.max_removal_share",
            format!("{share} must be above 0 and at most 1"),
        );
    }
    let maildir = if r.maildir.enabled.unwrap_or(false) {
        let root = c
            .required("sources.maildir.root", &r.maildir.root)
            .map(|p| c.path(&p));
        let layout = r
            .maildir
            .layout
            .clone()
            .unwrap_or_else(|| "{domain}/{local}".into());
        check_layout(c, &layout);
        root.map(|root| MaildirConfig { root, layout })
    } else {
        None
    };
    let ldif = ldif_source(c, r);
    let always = c.range_i64(
        "sources.removals_always_allowed",
        r.removals_always_allowed,
        crate::source::guard::DEFAULT_ALWAYS_ALLOWED as i64,
        0,
        1_000_000,
    );
    let window = c.range_i64(
        "sources.removal_window_secs",
        r.removal_window_secs,
        3600,
        0,
        30 * 86_400,
    );
    SourcesConfig {
        max_removal_share: share,
        removals_always_allowed: usize::try_from(always).unwrap_or(0),
        removal_window: Duration::from_secs(u64::try_from(window).unwrap_or(0)),
        rescan_interval: c.secs(
            "sources.rescan_interval_secs",
            r.rescan_interval_secs,
            300,
            1,
            86_400,
        ),
        maildir,
        ldif,
        spool_dir: c.path(r.spool.dir.as_deref().unwrap_or(DEFAULT_SPOOL_DIR)),
    }
}

/// `[sources.ldif]`, when enabled.
fn ldif_source(c: &mut Checker<'_>, r: &RawSources) -> Option<LdifConfig> {
    if r.ldif.enabled.unwrap_or(false) {
        let path = c
            .required("sources.ldif.path", &r.ldif.path)
            .map(|p| c.path(&p));
        let attributes = r
            .ldif
            .attributes
            .clone()
            .unwrap_or_else(|| vec!["mail".into()]);
        if attributes.is_empty() {
            c.problem(
                "sources.ldif.attributes",
                "needs at least one attribute, e.g. [\"mail\"]",
            );
        }
        check_attribute_names(c, "sources.ldif.attributes", &attributes);
        let display_name_attributes = r.ldif.display_name_attributes.clone().unwrap_or_else(|| {
            crate::source::ldif::DEFAULT_DISPLAY_NAME_ATTRIBUTES
                .iter()
                .map(|a| a.to_string())
                .collect()
        });
        check_attribute_names(
            c,
            "sources.ldif.display_name_attributes",
            &display_name_attributes,
        );
        let key = c.one_of(
            "sources.ldif.key",
            r.ldif.key.as_deref(),
            KeyAttr::EntryUuid,
            &[("entryUUID", KeyAttr::EntryUuid), ("dn", KeyAttr::Dn)],
        );
        path.map(|path| LdifConfig {
            path,
            attributes,
            object_class: r.ldif.object_class.clone(),
            key,
            display_name_attributes,
        })
    } else {
        None
    }
}

/// Every entry of the list at `key` must be an LDAP attribute description.
fn check_attribute_names(c: &mut Checker<'_>, key: &str, names: &[String]) {
    for (i, a) in names.iter().enumerate() {
        if a.is_empty()
            || !a
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == ';')
        {
            c.problem(
                &format!("{key}[{i}]"),
                format!("{a:?} is not an attribute name"),
            );
        }
    }
}

fn check_layout(c: &mut Checker<'_>, layout: &str) {
    let key = "sources.maildir.layout";
    for var in ["{domain}", "{local}"] {
        if layout.matches(var).count() != 1 {
            c.problem(key, format!("{layout:?} must contain {var} exactly once"));
        }
    }
    if layout.starts_with('/')
        || layout
            .split('/')
            .any(|s| s == ".." || s == "." || s.is_empty())
    {
        c.problem(
            key,
            format!("{layout:?} must be a relative pattern without '.', '..' or '//'"),
        );
    }
}

fn http(c: &mut Checker<'_>, r: &RawHttp) -> HttpConfig {
    let listen = r
        .listen
        .as_deref()
        .and_then(|s| match s.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(e) => {
                c.problem(
                    "http.listen",
                    format!("{s:?} is not an address like 127.0.0.1:8089: {e}"),
                );
                None
            }
        });
    // Read only with the endpoint on: without it nothing checks a push token.
    let push_token = c.secret(
        SecretKeys {
            prefix: "http.push_token",
            file: &r.push_token_file,
            env: &r.push_token_env,
            credential: &r.push_token_credential,
        },
        listen.is_some(),
    );
    if let Some(t) = &push_token {
        if t.expose().len() < 16 {
            c.problem(
                "http.push_token",
                "the push token must be at least 16 characters",
            );
        }
    }
    let public_push_url = public_push_url(c, r, listen.is_some());
    let max_connections = c.range_i64("http.max_connections", r.max_connections, 128, 1, 4096);
    let secs = |c: &mut Checker<'_>, key: &str, v: Option<i64>, default: i64| {
        Duration::from_secs(c.range_i64(key, v, default, 1, 300) as u64)
    };
    HttpConfig {
        listen,
        push_token,
        public_push_url,
        max_connections: max_connections as usize,
        header_timeout: secs(c, "http.header_timeout_secs", r.header_timeout_secs, 10),
        body_timeout: secs(c, "http.body_timeout_secs", r.body_timeout_secs, 30),
        ready_autodns_within: Duration::from_secs(c.range_i64(
            "http.ready_autodns_within_secs",
            r.ready_autodns_within_secs,
            900,
            1,
            86_400,
        ) as u64),
    }
}

/// `http.public_push_url`: an http(s) URL, and only where there is an endpoint to reach.
fn public_push_url(c: &mut Checker<'_>, r: &RawHttp, listening: bool) -> Option<url::Url> {
    const KEY: &str = "http.public_push_url";
    let text = r.public_push_url.as_deref()?;
    match url::Url::parse(text) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
            if !listening {
                c.problem(KEY, "needs http.listen: there is no push endpoint to reach");
            }
            Some(u)
        }
        Ok(_) => {
            c.problem(KEY, format!("{text:?} is not an http(s) URL with a host"));
            None
        }
        Err(e) => {
            c.problem(KEY, format!("{text:?} is not a URL: {e}"));
            None
        }
    }
}
