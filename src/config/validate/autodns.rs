//! Owns the validation of `[autodns]`: the endpoint and its transport security, credentials,
//! pacing, the product and lifetime (shared with the domain overrides), and the SSL contact.

use url::Url;

use super::{is_loopback_host, Checker, SecretKeys, LIFETIMES, MAX_RPS};
use crate::config::raw::{RawAutodns, RawContact};
use crate::config::{AutodnsConfig, ContactConfig, ContactDetails, Endpoint, Wire};

/// `autodns.endpoint`: the simulator, or an https URL (plain http to a loopback host only).
fn endpoint(c: &mut Checker<'_>, r: &RawAutodns) -> Endpoint {
    match r.endpoint.as_deref() {
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
    }
}

pub(super) fn autodns(c: &mut Checker<'_>, r: &RawAutodns) -> AutodnsConfig {
    let endpoint = endpoint(c, r);
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
    // Read only for an endpoint other than the bundled simulator (which has its own throwaway
    // password); an unparsable endpoint counts as one, so a bad password is reported with it.
    let password = c.secret(
        SecretKeys {
            prefix: "autodns.password",
            file: &r.password_file,
            env: &r.password_env,
            credential: &r.password_credential,
        },
        r.endpoint.as_deref().is_some_and(|e| e != "simulator"),
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
        timeout: c.secs("autodns.timeout_secs", r.timeout_secs, 30, 1, 3_600),
        product,
        lifetime_months: lifetime,
        daily_order_budget: c.range_i64(
            "autodns.daily_order_budget",
            r.daily_order_budget,
            50,
            0,
            100_000,
        ) as u32,
        poll_interval: c.secs(
            "autodns.poll_interval_secs",
            r.poll_interval_secs,
            60,
            1,
            86_400,
        ),
        job_silence_timeout: c.secs(
            "autodns.job_silence_timeout_secs",
            r.job_silence_timeout_secs,
            21_600,
            60,
            2_592_000,
        ),
        confirm_foreign_messages: r.confirm_foreign_messages.unwrap_or(true),
        contact: contact(c, &r.contact),
    }
}

pub(super) fn check_product(c: &mut Checker<'_>, key: &str, product: &str) {
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

pub(super) fn check_lifetime(c: &mut Checker<'_>, key: &str, months: u32) {
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
    check_contact(c, &d);
    ContactConfig::Create(Box::new(d))
}

/// The form of a contact to create: email, phone and fax, country code, organisation length.
fn check_contact(c: &mut Checker<'_>, d: &ContactDetails) {
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
}
