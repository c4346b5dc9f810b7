//! Owns validation: raw config → typed [`Config`], collecting every problem with its key path
//! rather than stopping at the first. Defaults are applied here, in one place, and documented in
//! `config.example.toml` (a test checks the example parses and matches these defaults).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

use super::raw::*;
use super::types::*;
use super::Problem;
use crate::mailbox::{normalize_domain, Address};
use crate::secret::Secret;

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
const LIFETIMES: [u32; 3] = [12, 24, 36];
/// AutoDNS allows at most 3 requests per second per source IP (XML and JSON API basics).
const MAX_RPS: f64 = 3.0;

struct Checker<'a> {
    base: &'a Path,
    env: &'a dyn Env,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn problem(&mut self, key: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            key: key.to_string(),
            message: message.into(),
        });
    }

    fn path(&self, value: &str) -> PathBuf {
        resolve(self.base, value)
    }

    fn required<T: Clone>(&mut self, key: &str, value: &Option<T>) -> Option<T> {
        if value.is_none() {
            self.problem(key, "is required");
        }
        value.clone()
    }

    fn one_of<T: Copy>(
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

    fn range_i64(&mut self, key: &str, value: Option<i64>, default: i64, lo: i64, hi: i64) -> i64 {
        match value {
            None => default,
            Some(v) if (lo..=hi).contains(&v) => v,
            Some(v) => {
                self.problem(key, format!("{v} is out of range {lo}..={hi}"));
                default
            }
        }
    }

    fn secs(&mut self, key: &str, value: Option<u64>, default: u64, min: u64) -> Duration {
        match value {
            Some(v) if v < min => {
                self.problem(key, format!("{v} is below the minimum of {min}"));
                Duration::from_secs(default)
            }
            Some(v) => Duration::from_secs(v),
            None => Duration::from_secs(default),
        }
    }

    fn address(&mut self, key: &str, value: &str) -> Option<Address> {
        match Address::parse(value) {
            Ok(a) => Some(a),
            Err(e) => {
                self.problem(key, e.to_string());
                None
            }
        }
    }

    fn mailbox(&mut self, key: &str, value: &str) {
        if let Err(e) = value.parse::<lettre::message::Mailbox>() {
            self.problem(
                key,
                format!("{value:?} is not a mailbox like \"Name <addr@example.com>\": {e}"),
            );
        }
    }

    fn existing_file(&mut self, key: &str, value: &Option<String>) -> Option<PathBuf> {
        let path = self.path(value.as_deref()?);
        if let Err(e) = std::fs::metadata(&path) {
            self.problem(key, format!("cannot read {}: {e}", path.display()));
        }
        Some(path)
    }

    /// A secret from `<prefix>_file` or `<prefix>_env`, exactly one of them.
    fn secret(
        &mut self,
        prefix: &str,
        file: &Option<String>,
        env: &Option<String>,
        required: bool,
    ) -> Option<Secret<String>> {
        match (file, env) {
            (Some(_), Some(_)) => {
                self.problem(
                    &format!("{prefix}_file"),
                    format!("give either {prefix}_file or {prefix}_env, not both"),
                );
                None
            }
            (Some(f), None) => self.secret_file(&format!("{prefix}_file"), f),
            (None, Some(name)) => match self.env.var(name) {
                Some(v) if !v.is_empty() => Some(Secret::new(v)),
                _ => {
                    self.problem(
                        &format!("{prefix}_env"),
                        format!("environment variable {name} is not set or empty"),
                    );
                    None
                }
            },
            (None, None) => {
                if required {
                    self.problem(
                        &format!("{prefix}_file"),
                        format!(
                            "a secret is required: set {prefix}_file (a file readable only by \
                             this service) or {prefix}_env"
                        ),
                    );
                }
                None
            }
        }
    }

    fn secret_file(&mut self, key: &str, value: &str) -> Option<Secret<String>> {
        let path = self.path(value);
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) => {
                self.problem(
                    key,
                    format!("cannot read secret file {}: {e}", path.display()),
                );
                return None;
            }
        };
        if meta.permissions().mode() & 0o004 != 0 {
            self.problem(
                key,
                format!(
                    "secret file {} is readable by every user; run `chmod o-rwx` on it",
                    path.display()
                ),
            );
            return None;
        }
        match std::fs::read_to_string(&path) {
            Ok(s) => {
                let s = s.trim_end_matches(['\r', '\n']).to_string();
                if s.is_empty() {
                    self.problem(key, format!("secret file {} is empty", path.display()));
                    None
                } else {
                    Some(Secret::new(s))
                }
            }
            Err(e) => {
                self.problem(
                    key,
                    format!("cannot read secret file {}: {e}", path.display()),
                );
                None
            }
        }
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

fn is_loopback_host(host: &str) -> bool {
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
        issuance_delay: Duration::from_millis(raw.simulator.issuance_delay_ms.unwrap_or(2000)),
        state_dir: raw
            .simulator
            .state_dir
            .as_deref()
            .map(|p| c.path(p))
            .unwrap_or_else(|| state_dir.join("simulator")),
    };
    let keys = KeysConfig {
        key_type: c.one_of(
            "keys.type",
            raw.keys.key_type.as_deref(),
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
            raw.keys.pkcs12_profile.as_deref(),
            Pkcs12Profile::Modern,
            &[
                ("modern", Pkcs12Profile::Modern),
                ("compat", Pkcs12Profile::Compat),
            ],
        ),
        archive: raw.keys.archive.unwrap_or(true),
    };
    let domains = domains(&mut c, &raw.domains);
    let sources = sources(&mut c, &raw.sources);
    let delivery = delivery(&mut c, &raw.delivery, &state_dir);
    let renewal = RenewalConfig {
        margin: Duration::from_secs(
            86_400 * c.range_i64("renewal.margin_days", raw.renewal.margin_days, 30, 1, 365) as u64,
        ),
    };
    let removal = RemovalConfig {
        policy: c.one_of(
            "removal.policy",
            raw.removal.policy.as_deref(),
            RemovalPolicy::Keep,
            &[
                ("keep", RemovalPolicy::Keep),
                ("revoke", RemovalPolicy::Revoke),
            ],
        ),
        grace: Duration::from_secs(
            86_400 * c.range_i64("removal.grace_days", raw.removal.grace_days, 7, 0, 3650) as u64,
        ),
    };
    let p = &raw.pipeline;
    let backoff_base = c.secs("pipeline.backoff_base_secs", p.backoff_base_secs, 30, 1);
    let backoff_max = c.secs("pipeline.backoff_max_secs", p.backoff_max_secs, 21_600, 1);
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
    let http = http(&mut c, &raw.http);
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
        })
    } else {
        Err(c.problems)
    }
}

fn autodns(c: &mut Checker<'_>, r: &RawAutodns) -> AutodnsConfig {
    let endpoint = match r.endpoint.as_deref() {
        None => {
            c.problem(
                "autodns.endpoint",
                "is required: \"simulator\" for the bundled simulator, or the API URL \
                 (https://api.autodns.com/v1 for JSON, https://gateway.autodns.com for XML)",
            );
            Endpoint::Simulator
        }
        Some("simulator") => Endpoint::Simulator,
        Some(s) => match Url::parse(s) {
            Ok(u) if u.scheme() == "https" => Endpoint::Remote(u),
            Ok(u) if u.scheme() == "http" && u.host_str().is_some_and(is_loopback_host) => {
                Endpoint::Remote(u)
            }
            Ok(u) if u.scheme() == "http" => {
                c.problem(
                    "autodns.endpoint",
                    format!("{s:?}: plain http is only allowed to a loopback host; use https"),
                );
                Endpoint::Remote(u)
            }
            Ok(u) => {
                c.problem("autodns.endpoint", format!("{s:?}: scheme must be https"));
                Endpoint::Remote(u)
            }
            Err(e) => {
                c.problem(
                    "autodns.endpoint",
                    format!("{s:?} is neither \"simulator\" nor a URL: {e}"),
                );
                Endpoint::Simulator
            }
        },
    };
    let remote = matches!(endpoint, Endpoint::Remote(_));
    let wire = c.one_of(
        "autodns.wire",
        r.wire.as_deref(),
        Wire::Json,
        &[("json", Wire::Json), ("xml", Wire::Xml)],
    );
    let user = if remote {
        c.required("autodns.user", &r.user).unwrap_or_default()
    } else {
        r.user.clone().unwrap_or_else(|| "simulator".into())
    };
    let password = c.secret(
        "autodns.password",
        &r.password_file,
        &r.password_env,
        remote,
    );
    let rps = r.requests_per_second.unwrap_or(MAX_RPS);
    if !(rps > 0.0 && rps <= MAX_RPS) {
        c.problem(
            "autodns.requests_per_second",
            format!("{rps} must be above 0 and at most {MAX_RPS} (AutoDNS's per-IP limit)"),
        );
    }
    let product = r
        .product
        .clone()
        .unwrap_or_else(|| "GLOBALSIGN_PERSONALSIGN_1".into());
    check_product(c, "autodns.product", &product);
    let lifetime = c.range_i64("autodns.lifetime_months", r.lifetime_months, 12, 0, 1200) as u32;
    check_lifetime(c, "autodns.lifetime_months", lifetime);
    AutodnsConfig {
        endpoint,
        wire,
        user,
        password,
        context: c.range_i64("autodns.context", r.context, 4, 1, i64::from(u32::MAX)) as u32,
        requests_per_second: rps.clamp(0.001, MAX_RPS),
        timeout: c.secs("autodns.timeout_secs", r.timeout_secs, 30, 1),
        product,
        lifetime_months: lifetime,
        daily_order_budget: c.range_i64(
            "autodns.daily_order_budget",
            r.daily_order_budget,
            50,
            0,
            100_000,
        ) as u32,
        poll_interval: c.secs("autodns.poll_interval_secs", r.poll_interval_secs, 60, 1),
        job_silence_timeout: c.secs(
            "autodns.job_silence_timeout_secs",
            r.job_silence_timeout_secs,
            21_600,
            60,
        ),
        confirm_foreign_messages: r.confirm_foreign_messages.unwrap_or(true),
        contact: contact(c, &r.contact),
    }
}

fn check_product(c: &mut Checker<'_>, key: &str, product: &str) {
    if product.is_empty()
        || !product
            .chars()
            .all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit() || ch == '_')
    {
        c.problem(
            key,
            format!("{product:?} is not an AutoDNS product name like GLOBALSIGN_PERSONALSIGN_1"),
        );
    }
}

fn check_lifetime(c: &mut Checker<'_>, key: &str, months: u32) {
    if !LIFETIMES.contains(&months) {
        c.problem(
            key,
            format!("{months} months is not offered; use 12, 24 or 36"),
        );
    }
}

fn contact(c: &mut Checker<'_>, r: &RawContact) -> ContactConfig {
    let any_field = [
        &r.first,
        &r.last,
        &r.email,
        &r.phone,
        &r.title,
        &r.organization,
        &r.address,
        &r.postal_code,
        &r.city,
        &r.country,
        &r.state,
    ]
    .iter()
    .any(|f| f.is_some());
    if let Some(id) = r.id {
        if any_field {
            c.problem(
                "autodns.contact.id",
                "give either an existing contact id or the fields of a contact to create, not both",
            );
        }
        if id <= 0 {
            c.problem("autodns.contact.id", format!("{id} is not a contact id"));
        }
        return ContactConfig::Existing(id);
    }
    let mut req = |key: &str, v: &Option<String>| -> String {
        match v.as_deref().map(str::trim) {
            Some(s) if !s.is_empty() => s.to_string(),
            _ => {
                c.problem(
                    &format!("autodns.contact.{key}"),
                    "is required (or set autodns.contact.id to reuse an existing contact)",
                );
                String::new()
            }
        }
    };
    let d = ContactDetails {
        first: req("first", &r.first),
        last: req("last", &r.last),
        email: req("email", &r.email),
        phone: req("phone", &r.phone),
        fax: r.fax.clone(),
        title: req("title", &r.title),
        organization: req("organization", &r.organization),
        address: req("address", &r.address),
        postal_code: req("postal_code", &r.postal_code),
        city: req("city", &r.city),
        country: req("country", &r.country),
        state: req("state", &r.state),
    };
    if !d.email.is_empty() {
        c.address("autodns.contact.email", &d.email);
    }
    let phone_ok = |p: &str| {
        let parts: Vec<&str> = p.strip_prefix('+').unwrap_or("").split('-').collect();
        parts.len() == 3
            && parts
                .iter()
                .all(|s| !s.is_empty() && s.chars().all(|ch| ch.is_ascii_digit()))
    };
    if !d.phone.is_empty() && !phone_ok(&d.phone) {
        c.problem(
            "autodns.contact.phone",
            format!("{:?} must look like +49-941-1234560", d.phone),
        );
    }
    if let Some(fax) = &d.fax {
        if !phone_ok(fax) {
            c.problem(
                "autodns.contact.fax",
                format!("{fax:?} must look like +49-941-1234569"),
            );
        }
    }
    let country_ok = d.country.len() == 2 && d.country.chars().all(|ch| ch.is_ascii_uppercase());
    if !d.country.is_empty() && !country_ok {
        c.problem(
            "autodns.contact.country",
            format!("{:?} must be an ISO 3166 code like DE", d.country),
        );
    }
    if d.organization.chars().count() > 64 {
        c.problem(
            "autodns.contact.organization",
            "is longer than 64 characters",
        );
    }
    ContactConfig::Create(Box::new(d))
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
    let ldif = if r.ldif.enabled.unwrap_or(false) {
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
        for (i, a) in attributes.iter().enumerate() {
            if a.is_empty()
                || !a
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == ';')
            {
                c.problem(
                    &format!("sources.ldif.attributes[{i}]"),
                    format!("{a:?} is not an attribute name"),
                );
            }
        }
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
        })
    } else {
        None
    };
    SourcesConfig {
        max_removal_share: share,
        rescan_interval: c.secs(
            "sources.rescan_interval_secs",
            r.rescan_interval_secs,
            300,
            1,
        ),
        maildir,
        ldif,
        spool_dir: c.path(r.spool.dir.as_deref().unwrap_or(DEFAULT_SPOOL_DIR)),
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

fn delivery(c: &mut Checker<'_>, r: &RawDelivery, state_dir: &Path) -> DeliveryConfig {
    let transport_name = r.transport.as_deref();
    let transport = match transport_name {
        Some("file") => DeliveryTransport::File {
            dir: r
                .file
                .dir
                .as_deref()
                .map(|p| c.path(p))
                .unwrap_or_else(|| state_dir.join("outbox")),
        },
        Some("smtp") => DeliveryTransport::Smtp(smtp(c, &r.smtp)),
        Some("sendmail") => DeliveryTransport::Sendmail {
            command: c.path(
                r.sendmail
                    .command
                    .as_deref()
                    .unwrap_or("/usr/sbin/sendmail"),
            ),
        },
        Some(other) => {
            c.problem(
                "delivery.transport",
                format!("{other:?} is not one of: smtp, sendmail, file"),
            );
            DeliveryTransport::File {
                dir: state_dir.join("outbox"),
            }
        }
        None => {
            c.problem("delivery.transport", "is required: smtp, sendmail or file");
            DeliveryTransport::File {
                dir: state_dir.join("outbox"),
            }
        }
    };
    let from = c.required("delivery.from", &r.from).unwrap_or_default();
    if !from.is_empty() {
        c.mailbox("delivery.from", &from);
    }
    if let Some(rt) = &r.reply_to {
        c.mailbox("delivery.reply_to", rt);
    }
    let admin_address = r
        .admin_address
        .as_deref()
        .and_then(|a| c.address("delivery.admin_address", a));
    let p = &r.password;
    let password = match p.channel.as_deref().unwrap_or("separate-mail") {
        "separate-mail" => PasswordChannelConfig::SeparateMail {
            delay: c.secs("delivery.password.delay_secs", p.delay_secs, 300, 0),
        },
        "admin-mail" => {
            let to = c
                .required("delivery.password.admin_address", &p.admin_address)
                .and_then(|a| c.address("delivery.password.admin_address", &a));
            match to {
                Some(to) => PasswordChannelConfig::AdminMail { to },
                None => PasswordChannelConfig::SeparateMail {
                    delay: Duration::ZERO,
                },
            }
        }
        "command" => {
            let mut argv = c
                .required("delivery.password.command", &p.command)
                .unwrap_or_default();
            // The program runs as resolved here (relative to the config file), not as written.
            if let Some(prog) = argv.first_mut() {
                *prog = c.path(prog).to_string_lossy().into_owned();
            }
            match argv.first() {
                None => c.problem(
                    "delivery.password.command",
                    "needs a program, e.g. [\"/usr/local/bin/sms-password\"]",
                ),
                Some(prog) => {
                    let path = c.path(prog);
                    if !path.is_file() {
                        c.problem(
                            "delivery.password.command",
                            format!("program {} does not exist", path.display()),
                        );
                    }
                }
            }
            PasswordChannelConfig::Command { argv }
        }
        "file" => {
            let dir = c
                .required("delivery.password.dir", &p.dir)
                .map(|d| c.path(&d));
            PasswordChannelConfig::File {
                dir: dir.unwrap_or_else(|| state_dir.join("passwords")),
            }
        }
        other => {
            c.problem(
                "delivery.password.channel",
                format!("{other:?} is not one of: separate-mail, admin-mail, command, file"),
            );
            PasswordChannelConfig::SeparateMail {
                delay: Duration::ZERO,
            }
        }
    };
    DeliveryConfig {
        transport,
        from,
        reply_to: r.reply_to.clone(),
        subject: r
            .subject
            .clone()
            .unwrap_or_else(|| "Your S/MIME certificate for {address}".into()),
        password_subject: r
            .password_subject
            .clone()
            .unwrap_or_else(|| "Password for your S/MIME certificate ({address})".into()),
        admin_address,
        template_text_file: c.existing_file("delivery.template_text_file", &r.template_text_file),
        template_html_file: c.existing_file("delivery.template_html_file", &r.template_html_file),
        password_template_file: c
            .existing_file("delivery.password_template_file", &r.password_template_file),
        password,
    }
}

fn smtp(c: &mut Checker<'_>, r: &RawSmtp) -> SmtpConfig {
    let host = c
        .required("delivery.smtp.host", &r.host)
        .unwrap_or_default();
    let security = c.one_of(
        "delivery.smtp.security",
        r.security.as_deref(),
        SmtpSecurity::StartTls,
        &[
            ("tls", SmtpSecurity::Tls),
            ("starttls", SmtpSecurity::StartTls),
            ("plain", SmtpSecurity::PlainLoopback),
            ("dangerous-plain", SmtpSecurity::DangerousPlain),
        ],
    );
    if security == SmtpSecurity::PlainLoopback && !host.is_empty() && !is_loopback_host(&host) {
        c.problem(
            "delivery.smtp.security",
            format!(
                "\"plain\" is only allowed to a loopback host, not {host:?}; use tls or starttls \
                 (or \"dangerous-plain\" if you accept bundles crossing the network unencrypted)"
            ),
        );
    }
    let port = r.port.unwrap_or(match security {
        SmtpSecurity::Tls => 465,
        SmtpSecurity::StartTls => 587,
        SmtpSecurity::PlainLoopback | SmtpSecurity::DangerousPlain => 25,
    });
    let password = c.secret(
        "delivery.smtp.password",
        &r.password_file,
        &r.password_env,
        false,
    );
    if r.user.is_some() != password.is_some()
        && !c
            .problems
            .iter()
            .any(|p| p.key.starts_with("delivery.smtp.password"))
    {
        c.problem(
            "delivery.smtp.user",
            "user and password go together: give both or neither",
        );
    }
    SmtpConfig {
        host,
        port,
        security,
        user: r.user.clone(),
        password,
        timeout: c.secs("delivery.smtp.timeout_secs", r.timeout_secs, 30, 1),
        ca_file: c.existing_file("delivery.smtp.ca_file", &r.ca_file),
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
    let push_token = c.secret(
        "http.push_token",
        &r.push_token_file,
        &r.push_token_env,
        listen.is_some(),
    );
    if let Some(t) = &push_token {
        if t.expose().len() < 16 {
            c.problem(
                "http.push_token_file",
                "the push token must be at least 16 characters",
            );
        }
    }
    HttpConfig { listen, push_token }
}
