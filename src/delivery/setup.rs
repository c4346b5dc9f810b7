//! Owns the step from the validated `[delivery]` config ([`crate::config::DeliveryConfig`]) to
//! the delivery objects the daemon and the verbs use: [`MessageSettings`] (templates read and
//! checked here, so a bad template stops start-up), the configured [`Mailer`], and the
//! [`PasswordChannel`].

use std::sync::Arc;

use crate::config::{
    DeliveryConfig, DeliveryTransport, PasswordChannelConfig, SmtpConfig, SmtpSecurity,
};

use super::error::DeliveryError;
use super::mailer::Mailer;
use super::message::MessageSettings;
use super::outbox::FileOutbox;
use super::password::PasswordChannel;
use super::sendmail::SendmailMailer;
use super::smtp::{Security, SmtpAuth, SmtpMailer, SmtpSettings};
use super::template::Templates;

/// Sender, subjects and templates from the config; reads the template files and refuses unknown
/// `{variables}` in them and in the subjects.
pub fn message_settings(cfg: &DeliveryConfig) -> Result<MessageSettings, DeliveryError> {
    let from = cfg
        .from
        .parse()
        .map_err(|e| DeliveryError::Config(format!("delivery.from {:?}: {e}", cfg.from)))?;
    let reply_to = match &cfg.reply_to {
        Some(r) => Some(
            r.parse()
                .map_err(|e| DeliveryError::Config(format!("delivery.reply_to {r:?}: {e}")))?,
        ),
        None => None,
    };
    let templates = Templates::load(
        cfg.template_text_file.as_deref(),
        cfg.template_html_file.as_deref(),
        cfg.password_template_file.as_deref(),
    )
    .map_err(|e| DeliveryError::Config(e.to_string()))?;
    MessageSettings::new(
        from,
        reply_to,
        cfg.subject.clone(),
        cfg.password_subject.clone(),
        templates,
    )
    .map_err(|e| DeliveryError::Config(e.to_string()))
}

/// The SMTP security mode for the config's.
pub fn security(s: SmtpSecurity) -> Security {
    match s {
        SmtpSecurity::Tls => Security::ImplicitTls,
        SmtpSecurity::StartTls => Security::StartTls,
        SmtpSecurity::PlainLoopback => Security::PlainLoopback,
        SmtpSecurity::DangerousPlain => Security::DangerousPlain,
    }
}

/// The configured transport. Call inside the tokio runtime (the SMTP pool needs it).
pub fn build_mailer(cfg: &DeliveryConfig) -> Result<Arc<dyn Mailer>, DeliveryError> {
    Ok(match &cfg.transport {
        DeliveryTransport::File { dir } => Arc::new(FileOutbox::new(dir.clone())?),
        DeliveryTransport::Sendmail { command } => Arc::new(SendmailMailer::new(command.clone())?),
        DeliveryTransport::Smtp(s) => Arc::new(smtp_mailer(s)?),
    })
}

/// The SMTP mailer for `[delivery.smtp]`. Call inside the tokio runtime (the pool needs it).
pub fn smtp_mailer(s: &SmtpConfig) -> Result<SmtpMailer, DeliveryError> {
    let auth = match (&s.user, &s.password) {
        (Some(user), Some(password)) => Some(SmtpAuth {
            user: user.clone(),
            password: password.clone(),
        }),
        (None, None) => None,
        _ => {
            return Err(DeliveryError::Config(
                "delivery.smtp.user and the SMTP password go together".into(),
            ))
        }
    };
    let mut settings = SmtpSettings::new(s.host.clone(), s.port, security(s.security));
    settings.auth = auth;
    settings.extra_ca_file = s.ca_file.clone();
    settings.timeout = s.timeout;
    SmtpMailer::new(settings)
}

/// The password channel for the config's.
pub fn password_channel(cfg: &PasswordChannelConfig) -> Result<PasswordChannel, DeliveryError> {
    Ok(match cfg {
        PasswordChannelConfig::SeparateMail { delay } => {
            PasswordChannel::SeparateMail { delay: *delay }
        }
        PasswordChannelConfig::AdminMail { to } => PasswordChannel::AdminMail { to: to.clone() },
        PasswordChannelConfig::Command { argv } => {
            let (program, args) = argv.split_first().ok_or_else(|| {
                DeliveryError::Config("delivery.password.command needs a program".into())
            })?;
            PasswordChannel::Command {
                program: program.into(),
                args: args.to_vec(),
            }
        }
        PasswordChannelConfig::File { dir } => PasswordChannel::File { dir: dir.clone() },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn config(transport: DeliveryTransport) -> DeliveryConfig {
        DeliveryConfig {
            transport,
            from: "Certificate Service <pki@example.com>".into(),
            reply_to: Some("helpdesk@example.com".into()),
            subject: "Cert for {address}".into(),
            password_subject: "Password for {address}".into(),
            admin_address: None,
            template_text_file: None,
            template_html_file: None,
            password_template_file: None,
            password: PasswordChannelConfig::SeparateMail {
                delay: Duration::from_secs(300),
            },
        }
    }

    #[tokio::test]
    async fn the_config_becomes_settings_mailer_and_channel() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(DeliveryTransport::File {
            dir: dir.path().join("outbox"),
        });
        let s = message_settings(&cfg).unwrap();
        assert_eq!(s.from.email.to_string(), "pki@example.com");
        assert!(s.reply_to.is_some());
        let m = build_mailer(&cfg).unwrap();
        assert!(m.describe().contains("outbox"), "{}", m.describe());
        let ch = password_channel(&PasswordChannelConfig::Command {
            argv: vec!["/bin/sms".into(), "-q".into()],
        })
        .unwrap();
        assert_eq!(
            ch,
            PasswordChannel::Command {
                program: "/bin/sms".into(),
                args: vec!["-q".into()]
            }
        );
    }

    #[tokio::test]
    async fn a_template_file_with_a_typo_stops_the_settings() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("bundle.txt");
        std::fs::write(&t, "Hi {adress}").unwrap();
        let mut cfg = config(DeliveryTransport::File {
            dir: dir.path().join("outbox"),
        });
        cfg.template_text_file = Some(t);
        let err = message_settings(&cfg).unwrap_err();
        assert!(
            err.is_config() && err.to_string().contains("adress"),
            "{err}"
        );
        cfg.template_text_file = None;
        cfg.subject = "Cert {fingerprnt}".into();
        assert!(message_settings(&cfg).is_err());
    }

    #[tokio::test]
    async fn plain_smtp_to_a_remote_relay_from_config_is_refused() {
        let cfg = config(DeliveryTransport::Smtp(crate::config::SmtpConfig {
            host: "mail.example.com".into(),
            port: 25,
            security: SmtpSecurity::PlainLoopback,
            user: None,
            password: None,
            timeout: Duration::from_secs(30),
            ca_file: None,
        }));
        assert!(build_mailer(&cfg).unwrap_err().is_config());
    }
}
