//! The checks of the AutoDNS account, against the configured endpoint (the bundled simulator is
//! started in-process as the wiring does): log in and confirm the context, find or validate
//! the SSL contact, read the poll queue without confirming anything, and let AutoDNS parse a
//! throwaway CSR per allowed domain (CertificatePrepareOrder, 400110). Nothing is ordered or
//! created.

use super::Check;
use crate::autodns::{Client, ErrorKind, SslContact};
use crate::config::{Config, ContactConfig};
use crate::mailbox::Address;

/// The local part of the sample address whose CSR is prepared per domain.
const SAMPLE_LOCAL: &str = "postmaster";

/// Every AutoDNS check; after a failed login only that one.
pub(super) async fn checks(config: &Config) -> Vec<Check> {
    let (client, simulator) = match crate::pipeline::wiring::Builder::new(config)
        .build_client()
        .await
    {
        Ok(c) => c,
        Err(e) => {
            return vec![Check::fail(
                "autodns.login",
                e.to_string(),
                "correct [autodns] (endpoint, user, password_file or password_env)",
            )]
        }
    };
    let mut out = vec![login(config, &client).await];
    if out[0].status == super::Status::Ok {
        out.push(contact(config, &client).await);
        out.push(poll(config, &client).await);
        out.extend(prepare(config, &client).await);
    }
    if let Some(s) = simulator {
        s.shutdown().await;
    }
    out
}

fn endpoint(config: &Config) -> String {
    match &config.autodns.endpoint {
        crate::config::Endpoint::Simulator => "the bundled simulator".into(),
        crate::config::Endpoint::Remote(u) => u.to_string(),
    }
}

/// Log in and confirm the context: the cheapest authenticated read there is.
async fn login(config: &Config, client: &Client) -> Check {
    const KEY: &str = "autodns.login";
    let a = &config.autodns;
    match client.hello().await {
        Ok(()) => Check::ok(
            KEY,
            format!(
                "{} accepts user {:?} in context {} ({} wire)",
                endpoint(config),
                a.user,
                a.context,
                match a.wire {
                    crate::autodns::Wire::Json => "JSON",
                    crate::autodns::Wire::Xml => "XML",
                }
            ),
        ),
        Err(e) if e.kind() == ErrorKind::Authentication => Check::fail(
            KEY,
            e.to_string(),
            format!(
                "check autodns.user ({:?}), the password in autodns.password_file or \
                 password_env, and autodns.context ({}: the context your user is in, usually \
                 4, or 9 for the SSL Manager)",
                a.user, a.context
            ),
        ),
        Err(e) => Check::fail(
            KEY,
            e.to_string(),
            "check autodns.endpoint and autodns.wire, and that this host reaches it (proxy, \
             firewall)",
        ),
    }
}

/// The fields an order's admin contact must have.
fn missing_fields(c: &SslContact) -> Vec<&'static str> {
    let fields = [
        ("fname", &c.fname),
        ("lname", &c.lname),
        ("email", &c.email),
        ("phone", &c.phone),
        ("pcode", &c.pcode),
        ("city", &c.city),
        ("country", &c.country),
    ];
    let mut missing: Vec<&'static str> = fields
        .iter()
        .filter(|(_, v)| v.as_deref().is_none_or(|s| s.trim().is_empty()))
        .map(|(k, _)| *k)
        .collect();
    if c.address.iter().all(|l| l.trim().is_empty()) {
        missing.push("address");
    }
    missing
}

/// Find (configured fields) or validate (configured id) the SSL contact. Never creates one.
async fn contact(config: &Config, client: &Client) -> Check {
    const KEY: &str = "autodns.contact";
    let ctx = config.autodns.context;
    match &config.autodns.contact {
        ContactConfig::Existing(id) => match client.ssl_contact_info(*id).await {
            Ok(c) => {
                let missing = missing_fields(&c);
                if missing.is_empty() {
                    Check::ok(
                        KEY,
                        format!(
                            "contact {id} ({}) has every field an order needs",
                            c.email.as_deref().unwrap_or("")
                        ),
                    )
                } else {
                    Check::fail(
                        KEY,
                        format!("contact {id} lacks {}", missing.join(", ")),
                        format!("fill them in at AutoDNS (SSL contact {id}), or give the contact's fields in [autodns.contact] instead of its id"),
                    )
                }
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Check::fail(
                KEY,
                format!("SSL contact {id} does not exist in context {ctx}: {e}"),
                "set autodns.contact.id to an existing SSL contact of this account and context, \
                 or give the contact's fields in [autodns.contact] to have it created",
            ),
            Err(e) => Check::fail(KEY, e.to_string(), "see the error; check the contact id"),
        },
        ContactConfig::Create(d) => match client.ssl_contact_list().await {
            Ok(list) => {
                let found = list.iter().find(|c| {
                    c.email
                        .as_deref()
                        .is_some_and(|e| e.eq_ignore_ascii_case(&d.email))
                        && c.fname.as_deref() == Some(d.first.as_str())
                        && c.lname.as_deref() == Some(d.last.as_str())
                });
                match found.and_then(|c| c.id) {
                    Some(id) => Check::ok(
                        KEY,
                        format!("{} is SSL contact {id}; it is reused", d.email),
                    ),
                    None => Check::ok(
                        KEY,
                        format!(
                            "no SSL contact for {} yet; the first order creates it from \
                             [autodns.contact] (every field given)",
                            d.email
                        ),
                    ),
                }
            }
            Err(e) => Check::fail(
                KEY,
                format!("cannot list the SSL contacts: {e}"),
                "see the error",
            ),
        },
    }
}

/// PollInfo only: the queue length and whether its oldest message is ours. Nothing confirmed.
async fn poll(config: &Config, client: &Client) -> Check {
    const KEY: &str = "autodns.poll";
    let info = match client.poll_info().await {
        Ok(i) => i,
        Err(e) => return Check::fail(KEY, e.to_string(), "see the error (PollInfo 0905)"),
    };
    let Some(m) = &info.message else {
        return Check::ok(KEY, "the poll queue is empty");
    };
    let ours = m
        .ctid()
        .is_some_and(|c| c.starts_with(crate::pipeline::reconcile::CTID_PREFIX));
    let queued = info.queued;
    let what = if ours {
        "the oldest is one of ours"
    } else {
        "the oldest is foreign (not one of our orders); the others cannot be read without \
         confirming it"
    };
    let detail = format!("{queued} message(s) queued; {what}");
    if ours || config.autodns.confirm_foreign_messages {
        Check::ok(KEY, detail)
    } else {
        Check::warn(
            KEY,
            detail,
            "with autodns.confirm_foreign_messages = false polling stops at a foreign message \
             until its owner confirms it; set it true if no other tool reads this queue",
        )
    }
}

/// CertificatePrepareOrder per allowed domain with a throwaway CSR for a sample address.
async fn prepare(config: &Config, client: &Client) -> Vec<Check> {
    if config.domains.allow.is_empty() {
        return vec![Check::warn(
            "autodns.prepare",
            "domains.allow is empty (every domain is served), so no domain was tried",
            "list your mail domains in domains.allow to have each checked",
        )];
    }
    let mut out = Vec::new();
    for domain in &config.domains.allow {
        out.push(prepare_one(config, client, domain).await);
    }
    out
}

async fn prepare_one(config: &Config, client: &Client, domain: &str) -> Check {
    let key = format!("autodns.prepare {domain}");
    let address = match Address::parse(&format!("{SAMPLE_LOCAL}@{domain}")) {
        Ok(a) => a,
        Err(e) => return Check::fail(&key, e.to_string(), "correct domains.allow"),
    };
    let product = config
        .domains
        .override_for(&address)
        .and_then(|o| o.product.clone())
        .unwrap_or_else(|| config.autodns.product.clone());
    let key_type = config.keys.key_type;
    let csr = tokio::task::spawn_blocking(move || {
        let k = crate::crypto::PrivateKey::generate(key_type)?;
        crate::crypto::build_csr(&k, &address)
    })
    .await;
    let csr = match csr {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Check::fail(&key, e.to_string(), "check keys.type"),
        Err(e) => return Check::fail(&key, e.to_string(), "run preflight again"),
    };
    match client.certificate_prepare_order(&csr, &product).await {
        Ok(d) => Check::ok(
            &key,
            format!(
                "AutoDNS parsed a throwaway CSR for {SAMPLE_LOCAL}@{domain}: name {}, key {} {} \
                 bits, product {}; {}",
                d.name.as_deref().or(d.email.as_deref()).unwrap_or("(none)"),
                d.algorithm.as_deref().unwrap_or("?"),
                d.key_size
                    .map_or_else(|| "?".to_string(), |k| k.to_string()),
                d.product.as_deref().unwrap_or(&product),
                authentication(&d.authentication)
            ),
        ),
        Err(e) => refused(&key, &product, &e),
    }
}

/// A refused prepareOrder: the fields the server names, each with its fix, or the general fix.
fn refused(key: &str, product: &str, e: &crate::autodns::Error) -> Check {
    let fields = e.api().map(|a| a.refused_fields()).unwrap_or_default();
    if fields.is_empty() {
        return Check::fail(
            key,
            format!("CertificatePrepareOrder with product {product}: {e}"),
            "if the product is refused, set autodns.product (or the domain's override) to one \
             your account sells, e.g. GLOBALSIGN_PERSONALSIGN_1; if the CSR is refused, try \
             another keys.type",
        );
    }
    let fixes: Vec<String> = fields.iter().map(|f| field_fix(f)).collect();
    Check::fail(
        key,
        format!(
            "AutoDNS refused the field {} of the order body (product {product}): {e}",
            fields
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        fixes.join("; "),
    )
}

/// What to change for a refused field of the order body (docs/order-body.md lists every field,
/// where it comes from and the setting behind it).
fn field_fix(field: &str) -> String {
    match field.to_ascii_lowercase().as_str() {
        "product" => "`product`: set autodns.product (or the domain's override) to a product \
                      your account sells, e.g. GLOBALSIGN_PERSONALSIGN_1"
            .into(),
        "lifetime" | "lifetime/period" | "lifetime/unit" => {
            "`lifetime`: set autodns.lifetime_months to a lifetime the product offers \
             (docs/autodns-api.md §4.4)"
                .into()
        }
        "plain" | "csr" => "`plain` (the CSR): try another keys.type (ec-p256, rsa-2048, \
                            rsa-3072)"
            .into(),
        "admincontact" | "technicalcontact" | "admin" | "technical" => {
            format!("`{field}`: check [autodns.contact] (the id, or every field of the contact)")
        }
        _ => format!(
            "`{field}`: see docs/order-body.md for where the field comes from; quote the \
             server's code and text above to InterNetX support"
        ),
    }
}

/// The validation data prepareOrder asks for, in one phrase.
fn authentication(auth: &[crate::autodns::model::CertAuthentication]) -> String {
    if auth.is_empty() {
        return "no authentication data asked for".into();
    }
    let each: Vec<String> = auth
        .iter()
        .map(|a| {
            let method = a.method.as_ref().map_or("?", |m| m.as_str());
            if a.approver_emails.is_empty() {
                method.to_string()
            } else {
                format!("{method} to {}", a.approver_emails.join(", "))
            }
        })
        .collect();
    format!("authentication asked for: {}", each.join("; "))
}
