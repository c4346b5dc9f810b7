//! Owns the validation of `[delivery]`: the transport (file, SMTP with its TLS rules, sendmail),
//! the sender and admin addresses, the templates, and the password channel.

use std::path::Path;
use std::time::Duration;

use super::{is_loopback_host, Checker, SecretKeys};
use crate::config::raw::{RawDelivery, RawPasswordChannel, RawSmtp};
use crate::config::{
    DeliveryConfig, DeliveryTransport, PasswordChannelConfig, SmtpConfig, SmtpSecurity,
};

pub(super) fn delivery(c: &mut Checker<'_>, r: &RawDelivery, state_dir: &Path) -> DeliveryConfig {
    let transport = transport(c, r, state_dir);
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
    let password = password_channel(c, &r.password, state_dir);
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

/// `delivery.transport` with its section.
fn transport(c: &mut Checker<'_>, r: &RawDelivery, state_dir: &Path) -> DeliveryTransport {
    match r.transport.as_deref() {
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
    }
}

/// `[delivery.password]`: how the PKCS#12 password reaches the user.
fn password_channel(
    c: &mut Checker<'_>,
    p: &RawPasswordChannel,
    state_dir: &Path,
) -> PasswordChannelConfig {
    match p.channel.as_deref().unwrap_or("separate-mail") {
        "separate-mail" => PasswordChannelConfig::SeparateMail {
            delay: c.secs("delivery.password.delay_secs", p.delay_secs, 300, 0, 86_400),
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
        "command" => PasswordChannelConfig::Command {
            argv: command_argv(c, p),
        },
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
    }
}

/// `delivery.password.command`, its program resolved like every path in the file.
fn command_argv(c: &mut Checker<'_>, p: &RawPasswordChannel) -> Vec<String> {
    let argv = c.required("delivery.password.command", &p.command);
    program_argv(
        c,
        "delivery.password.command",
        argv,
        "[\"/usr/local/bin/sms-password\"]",
    )
}

/// A command given as an argv array (run without a shell): the program resolved like every
/// path in the file and checked to exist; `example` shows the expected shape.
pub(super) fn program_argv(
    c: &mut Checker<'_>,
    key: &str,
    argv: Option<Vec<String>>,
    example: &str,
) -> Vec<String> {
    let mut argv = argv.unwrap_or_default();
    // The program runs as resolved here (relative to the config file), not as written.
    if let Some(prog) = argv.first_mut() {
        *prog = c.path(prog).to_string_lossy().into_owned();
    }
    match argv.first() {
        None => c.problem(key, format!("needs a program, e.g. {example}")),
        Some(prog) => {
            let path = c.path(prog);
            if !path.is_file() {
                c.problem(key, format!("program {} does not exist", path.display()));
            }
        }
    }
    argv
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
    // The password is read only for a login (`user` set): without one it is never used.
    let keys = SecretKeys {
        prefix: "delivery.smtp.password",
        file: &r.password_file,
        env: &r.password_env,
        credential: &r.password_credential,
    };
    let password = match (c.secret_source(keys), &r.user) {
        (Ok(Some(source)), Some(_)) => c.read_secret(keys.prefix, source),
        (Ok(None), None) | (Err(()), _) => None,
        (Ok(_), _) => {
            c.problem(
                "delivery.smtp.user",
                "user and password go together: give both or neither",
            );
            None
        }
    };
    SmtpConfig {
        host,
        port,
        security,
        user: r.user.clone(),
        password,
        timeout: c.secs("delivery.smtp.timeout_secs", r.timeout_secs, 30, 1, 3_600),
        ca_file: c.existing_file("delivery.smtp.ca_file", &r.ca_file),
    }
}
