//! Owns the password channels: how the PKCS#12 password reaches the user, always apart from the
//! bundle mail (S/MIME BR §6.1.2: when the CA side generates the key, the activation data
//! travels securely and separately).
//!
//! - `separate-mail`: a second mail, no attachment, to the same mailbox. The pipeline waits the
//!   configured delay first (so the two mails do not arrive as a pair); [`send_password`] sends
//!   when called.
//! - `admin-mail`: the password mail goes to a helpdesk address, which hands it on.
//! - `command`: runs a program (an SMS gateway, a ticket system) with the address as its last
//!   argument and the password plus a newline on stdin; never on the command line, where `ps`
//!   shows it to every local user.
//! - `file`: one 0600 file per address in a 0700 directory, for an admin to collect; a fresh
//!   password (redeliver) replaces the old file atomically.
//!
//! Whatever an outside program or server says back is scrubbed of the password before it
//! becomes an error ([`DeliveryError::redact`]).

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use time::OffsetDateTime;

use super::error::DeliveryError;
use super::fsutil::{ensure_private_dir, write_private_atomic};
use super::mailer::{Mailer, Sent};
use super::message::{compose_password_message, MessageSettings};
use super::sendmail::run_with_stdin;
use crate::mailbox::Address;
use crate::secret::Secret;

/// How long the password command may run before it is killed (and the attempt is transient).
pub const PASSWORD_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the password goes (config section `[delivery.password]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordChannel {
    /// A second mail to the same mailbox, sent `delay` after the bundle mail (the pipeline
    /// schedules the delay).
    SeparateMail { delay: Duration },
    /// A mail to a helpdesk or admin address.
    AdminMail { to: Address },
    /// `program args... ADDRESS`, password on stdin.
    Command { program: PathBuf, args: Vec<String> },
    /// One 0600 file per address in the 0700 directory `dir`.
    File { dir: PathBuf },
}

impl PasswordChannel {
    /// The config spelling of the channel: `separate-mail`, `admin-mail`, `command`, `file`.
    pub fn name(&self) -> &'static str {
        match self {
            PasswordChannel::SeparateMail { .. } => "separate-mail",
            PasswordChannel::AdminMail { .. } => "admin-mail",
            PasswordChannel::Command { .. } => "command",
            PasswordChannel::File { .. } => "file",
        }
    }

    /// How long after the bundle mail the password should go out (zero but for
    /// `separate-mail`).
    pub fn delay(&self) -> Duration {
        match self {
            PasswordChannel::SeparateMail { delay } => *delay,
            _ => Duration::ZERO,
        }
    }
}

/// What [`send_password`] did, for the event log. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordReceipt {
    /// A password mail was accepted by the mailer.
    Mailed { to: Address, sent: Sent },
    /// The command ran and exited 0.
    CommandRan { program: PathBuf },
    /// The password file was written.
    Written { path: PathBuf },
}

/// The password file's name for `address`: the address with every character outside
/// `[A-Za-z0-9@._+-]` percent-encoded (an address may contain `/`), then `.password`.
pub fn password_file_name(address: &Address) -> String {
    let mut out = String::new();
    for (i, b) in address.as_str().bytes().enumerate() {
        let c = b as char;
        let safe = c.is_ascii_alphanumeric() || "@_+-".contains(c) || (c == '.' && i > 0);
        if safe {
            out.push(c);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out.push_str(".password");
    out
}

/// Delivers `password` for the bundle sent to `address` through `channel`, now. Mail channels
/// use `mailer` and `settings`; `now` dates the mail.
pub async fn send_password(
    channel: &PasswordChannel,
    mailer: &dyn Mailer,
    settings: &MessageSettings,
    address: &Address,
    password: &Secret<String>,
    now: OffsetDateTime,
) -> Result<PasswordReceipt, DeliveryError> {
    let secret = password.expose().as_str();
    if secret.is_empty() {
        return Err(DeliveryError::InvalidBundle {
            address: address.to_string(),
            reason: "the PKCS#12 password is empty".into(),
        });
    }
    let result = match channel {
        PasswordChannel::SeparateMail { .. } => {
            mail(mailer, settings, address, address, password, now).await
        }
        PasswordChannel::AdminMail { to } => {
            mail(mailer, settings, to, address, password, now).await
        }
        PasswordChannel::Command { program, args } => {
            let mut argv: Vec<OsString> = args.iter().map(OsString::from).collect();
            argv.push(OsString::from(address.as_str()));
            let mut input = secret.as_bytes().to_vec();
            input.push(b'\n');
            let r = run_with_stdin(program, &argv, &input, PASSWORD_COMMAND_TIMEOUT).await;
            input.fill(0);
            r.map(|()| PasswordReceipt::CommandRan {
                program: program.clone(),
            })
        }
        PasswordChannel::File { dir } => {
            let dir = dir.clone();
            let name = password_file_name(address);
            let mut content = secret.as_bytes().to_vec();
            content.push(b'\n');
            tokio::task::spawn_blocking(move || {
                let r = ensure_private_dir(&dir, "delivery.password.dir")
                    .and_then(|()| write_private_atomic(&dir, &name, &content, true));
                content.fill(0);
                r
            })
            .await
            .map_err(|e| DeliveryError::Config(format!("password file writer task failed: {e}")))?
            .map(|path| PasswordReceipt::Written { path })
        }
    };
    result.map_err(|e| e.redact(secret))
}

async fn mail(
    mailer: &dyn Mailer,
    settings: &MessageSettings,
    to: &Address,
    about: &Address,
    password: &Secret<String>,
    now: OffsetDateTime,
) -> Result<PasswordReceipt, DeliveryError> {
    let message = compose_password_message(settings, to, about, password, now)?;
    let sent = mailer.send(&message).await?;
    Ok(PasswordReceipt::Mailed {
        to: to.clone(),
        sent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_file_names_cannot_leave_the_directory() {
        // '/' is legal in a local part (RFC 5322 atext); ".." segments are refused by Address.
        let name = password_file_name(&Address::parse("a/b@example.com").unwrap());
        assert_eq!(name, "a%2Fb@example.com.password");
        assert_eq!(
            password_file_name(&Address::parse("first.last+x@example.com").unwrap()),
            "first.last+x@example.com.password"
        );
    }

    #[test]
    fn only_separate_mail_has_a_delay() {
        let d = Duration::from_secs(600);
        assert_eq!(PasswordChannel::SeparateMail { delay: d }.delay(), d);
        assert_eq!(
            PasswordChannel::File { dir: "/x".into() }.delay(),
            Duration::ZERO
        );
        assert_eq!(PasswordChannel::File { dir: "/x".into() }.name(), "file");
    }
}
