//! The checks of what lies on this machine: the product and lifetimes ordered, the daily
//! budget and today's orders, the service user's write access to the state directory (its
//! modes are `check-config`'s), the mailbox sources' paths and permissions, and the mail
//! transport (SMTP relay up to AUTH with no mail sent, the sendmail binary, or the outbox).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::Check;
use crate::config::{Config, DeliveryTransport};

/// Every local check, in the order printed.
pub(super) async fn checks(config: &Config) -> Vec<Check> {
    let state = &config.state_dir;
    let state = if state.is_dir() {
        writable_dir("state.dir", state)
    } else {
        creatable("state.dir", state)
    };
    let mut out = vec![product(config), budget(config), state];
    out.extend(sources(config));
    out.push(delivery(config).await);
    out
}

/// The product and lifetime of every order, per domain override.
fn product(config: &Config) -> Check {
    let a = &config.autodns;
    let mut detail = format!("{} for {} months", a.product, a.lifetime_months);
    for (domain, ov) in &config.domains.overrides {
        if ov.product.is_some() || ov.lifetime_months.is_some() {
            detail.push_str(&format!(
                "; {domain}: {} for {} months",
                ov.product.as_deref().unwrap_or(&a.product),
                ov.lifetime_months.unwrap_or(a.lifetime_months)
            ));
        }
    }
    detail.push_str(" (prepareOrder below asks AutoDNS whether it sells it)");
    Check::ok("autodns.product", detail)
}

/// The daily order budget and the orders counted against it today (UTC).
fn budget(config: &Config) -> Check {
    const KEY: &str = "autodns.daily_order_budget";
    let limit = config.autodns.daily_order_budget;
    if limit == 0 {
        return Check::fail(
            KEY,
            "0: ordering is disabled, no mailbox gets a certificate",
            "set autodns.daily_order_budget to the most orders you accept paying for in a day",
        );
    }
    let db = config.state_dir.join(crate::store::DB_FILE);
    if !db.is_file() {
        return Check::ok(
            KEY,
            format!("{limit} a day; no orders yet (no state database)"),
        );
    }
    let today = time::OffsetDateTime::now_utc().date();
    match crate::store::Store::open(&config.state_dir).and_then(|s| s.orders_on(today)) {
        Ok(used) if used >= limit => Check::warn(
            KEY,
            format!("{limit} a day, all {used} used today (UTC): no order until tomorrow"),
            "raise autodns.daily_order_budget if today's orders were expected",
        ),
        Ok(used) => Check::ok(KEY, format!("{limit} a day, {used} used today (UTC)")),
        Err(e) => Check::fail(
            KEY,
            format!("cannot read today's orders from {}: {e}", db.display()),
            "run preflight as the service user, the owner of state.dir",
        ),
    }
}

/// The enabled sources and the spool: there, the right kind, readable.
fn sources(config: &Config) -> Vec<Check> {
    let mut out = Vec::new();
    if let Some(m) = &config.sources.maildir {
        out.push(readable_dir(
            "sources.maildir.root",
            &m.root,
            "the maildir tree",
        ));
    }
    if let Some(l) = &config.sources.ldif {
        let key = "sources.ldif.path";
        out.push(match std::fs::File::open(&l.path) {
            Ok(_) if l.path.is_file() => {
                Check::ok(key, format!("{} is readable", l.path.display()))
            }
            Ok(_) => Check::fail(
                key,
                format!("{} is not a file", l.path.display()),
                "point sources.ldif.path at the LDIF export file",
            ),
            Err(e) => Check::fail(
                key,
                format!("cannot read {}: {e}", l.path.display()),
                "write the export there, or let the service user read it (chmod/chgrp)",
            ),
        });
    }
    if config.sources.maildir.is_none() && config.sources.ldif.is_none() {
        out.push(Check::warn(
            "sources",
            "no maildir or LDIF source: only `enqueue` requests are provisioned",
            "enable [sources.maildir] or [sources.ldif] to cover every mailbox",
        ));
    }
    let spool = &config.sources.spool_dir;
    out.push(if spool.is_dir() {
        writable_dir("sources.spool.dir", spool)
    } else {
        creatable("sources.spool.dir", spool)
    });
    out
}

fn readable_dir(key: &str, dir: &Path, what: &str) -> Check {
    match std::fs::read_dir(dir) {
        Ok(entries) => Check::ok(
            key,
            format!(
                "{} is readable ({} entries)",
                dir.display(),
                entries.count()
            ),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Check::fail(
            key,
            format!("{} does not exist", dir.display()),
            format!("mount or create {what} there, or correct {key}"),
        ),
        Err(e) => Check::fail(
            key,
            format!("cannot read {}: {e}", dir.display()),
            format!(
                "let the service user read and enter it (e.g. `chmod u+rx {}` or a group)",
                dir.display()
            ),
        ),
    }
}

/// An existing directory the service user can write into.
fn writable_dir(key: &str, dir: &Path) -> Check {
    let probe = dir.join(format!(".preflight-{}", std::process::id()));
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Check::ok(key, format!("{} is writable", dir.display()))
        }
        Err(e) => Check::fail(
            key,
            format!("cannot write into {}: {e}", dir.display()),
            format!("make {} the service user's (chown)", dir.display()),
        ),
    }
}

/// A directory that does not exist yet: its nearest existing parent must be writable.
fn creatable(key: &str, dir: &Path) -> Check {
    let parent = dir
        .ancestors()
        .skip(1)
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .find(|p| p.is_dir());
    match parent {
        Some(p) if writable(p) => Check::ok(
            key,
            format!("{} is created on start (in {})", dir.display(), p.display()),
        ),
        _ => Check::fail(
            key,
            format!("{} does not exist and cannot be created", dir.display()),
            format!("create {} for the service user", dir.display()),
        ),
    }
}

fn writable(dir: &Path) -> bool {
    let probe = dir.join(format!(".preflight-{}", std::process::id()));
    let ok = std::fs::File::create(&probe).is_ok();
    let _ = std::fs::remove_file(&probe);
    ok
}

/// The mail transport, tried as far as possible without sending.
async fn delivery(config: &Config) -> Check {
    match &config.delivery.transport {
        DeliveryTransport::Smtp(s) => {
            let key = "delivery.smtp";
            let mailer = match crate::delivery::setup::smtp_mailer(s) {
                Ok(m) => m,
                Err(e) => return Check::fail(key, e.to_string(), "correct [delivery.smtp]"),
            };
            let steps = match (s.security, &s.user) {
                (crate::config::SmtpSecurity::StartTls, Some(_)) => "EHLO, STARTTLS, AUTH",
                (crate::config::SmtpSecurity::StartTls, None) => "EHLO, STARTTLS",
                (_, Some(_)) => "EHLO, AUTH",
                (_, None) => "EHLO",
            };
            match mailer.test_connection().await {
                Ok(server) => Check::ok(
                    key,
                    format!("{server}: connect, {steps}: fine (no mail sent)"),
                ),
                Err(e) => Check::fail(
                    key,
                    e.to_string(),
                    "start the relay or correct delivery.smtp.host/port/security; check the \
                     SMTP user and password when AUTH was refused",
                ),
            }
        }
        DeliveryTransport::Sendmail { command } => {
            let key = "delivery.sendmail.command";
            match std::fs::metadata(command) {
                Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => {
                    Check::ok(key, format!("{} is an executable file", command.display()))
                }
                _ => Check::fail(
                    key,
                    format!("{} is not an executable file", command.display()),
                    "install an MTA (e.g. postfix) or set the path of its sendmail binary",
                ),
            }
        }
        DeliveryTransport::File { dir } if dir.is_dir() => writable_dir("delivery.file.dir", dir),
        DeliveryTransport::File { dir } => creatable("delivery.file.dir", dir),
    }
}
