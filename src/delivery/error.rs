//! Owns [`DeliveryError`]: every way handing a message to a transport or a password channel can
//! fail, classified for the caller's next decision.
//!
//! Three classes, following lettre's own split (`transport/smtp/error.rs`: `is_transient`,
//! `is_permanent`) and RFC 5321 §4.2.1 (4yz = transient negative completion, 5yz = permanent):
//!
//! - [`ErrorClass::Transient`]: try the same message again later (4xx replies, connection refused,
//!   timeouts, a full disk, `EX_TEMPFAIL` from sendmail or the password command).
//! - [`ErrorClass::Permanent`]: this message to this mailbox will not go through as it is (5xx
//!   replies such as 550 "user unknown"); the mailbox should go to a failed state with the
//!   server's text, the bundle kept for `redeliver`.
//! - [`ErrorClass::Config`]: our side is misconfigured (TLS trust, SMTP login, a missing
//!   sendmail binary, a bad template or directory). Every message would fail the same way, so the
//!   caller should alert the admin and retry after a config change rather than fail one mailbox.
//!
//! Errors keep the server's reply code and text, and hold only strings so they can be stored,
//! cloned and compared. No variant ever carries a password: [`DeliveryError::redact`] is applied
//! by the password channels to anything an outside program or server might have echoed.

use std::error::Error as StdError;
use std::fmt;

/// What the caller should do next with a failed delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Retry later with backoff; nothing is wrong with the message or the settings.
    Transient,
    /// This message to this recipient will not be accepted; retrying unchanged is pointless.
    Permanent,
    /// The delivery settings are wrong; every message would fail until an admin fixes them.
    Config,
}

impl ErrorClass {
    /// A stable kebab-case name for logs, the store and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Transient => "transient",
            ErrorClass::Permanent => "permanent",
            ErrorClass::Config => "config",
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed delivery (bundle mail, password mail, or password channel).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The server answered 4xx (RFC 5321 §4.2.1): try again later.
    #[error("the mail server {server} refused the message for now with {code}: {text}")]
    TemporaryRejection {
        server: String,
        code: u16,
        text: String,
    },
    /// The server answered 5xx for the message or a recipient.
    #[error("the mail server {server} rejected the message with {code}: {text}")]
    PermanentRejection {
        server: String,
        code: u16,
        text: String,
    },
    /// The server refused our login or demanded something we did not offer (RFC 4954 §6:
    /// 530, 534, 535, 538). A 5xx reply, but about our settings, not about the mailbox.
    #[error(
        "the mail server {server} refused our authentication with {code}: {text} \
         (check delivery.smtp.user, the SMTP password and delivery.smtp.security)"
    )]
    AuthRejected {
        server: String,
        code: u16,
        text: String,
    },
    /// The server could not be reached or the connection broke: refused, reset, timed out.
    #[error("could not talk to the mail server {server}: {reason}")]
    Unreachable { server: String, reason: String },
    /// The TLS handshake failed or TLS was not offered when required.
    #[error(
        "TLS with the mail server {server} failed: {reason} (check delivery.smtp.security, the \
         server's certificate and delivery.smtp.ca_file)"
    )]
    Tls { server: String, reason: String },
    /// The server's reply could not be understood.
    #[error("the mail server {server} sent a reply that is not SMTP: {reason}")]
    Protocol { server: String, reason: String },
    /// The sendmail program (or the password command) could not be run or exited non-zero.
    /// `status` is the exit code (`None` when killed by a signal or timed out); `class` comes
    /// from `sysexits.h` (see [`class_from_exit_status`]).
    #[error("{program} {what}: {detail}")]
    Program {
        program: String,
        what: String,
        status: Option<i32>,
        detail: String,
        class: ErrorClass,
    },
    /// Writing a file (outbox, password file) failed.
    #[error("could not write {path}: {reason}")]
    Io {
        path: String,
        reason: String,
        class: ErrorClass,
    },
    /// The bundle handed to us cannot be mailed (empty, expired, malformed fingerprint).
    #[error("the bundle for {address} cannot be mailed: {reason}")]
    InvalidBundle { address: String, reason: String },
    /// A delivery setting is wrong: plain SMTP to a remote host, a CA file that does not parse,
    /// a template or directory that cannot be used.
    #[error("delivery settings: {0}")]
    Config(String),
}

impl DeliveryError {
    /// The class that decides the caller's next step.
    pub fn class(&self) -> ErrorClass {
        match self {
            DeliveryError::TemporaryRejection { .. }
            | DeliveryError::Unreachable { .. }
            | DeliveryError::Protocol { .. } => ErrorClass::Transient,
            DeliveryError::PermanentRejection { .. } | DeliveryError::InvalidBundle { .. } => {
                ErrorClass::Permanent
            }
            DeliveryError::AuthRejected { .. }
            | DeliveryError::Tls { .. }
            | DeliveryError::Config(_) => ErrorClass::Config,
            DeliveryError::Program { class, .. } | DeliveryError::Io { class, .. } => *class,
        }
    }

    /// True when trying again later may succeed without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        self.class() == ErrorClass::Transient
    }

    /// True when this message to this mailbox will not be accepted as it is.
    pub fn is_permanent(&self) -> bool {
        self.class() == ErrorClass::Permanent
    }

    /// True when the delivery settings are at fault (alert the admin; do not fail the mailbox).
    pub fn is_config(&self) -> bool {
        self.class() == ErrorClass::Config
    }

    /// True when the server refused the recipient as unknown: enhanced status 5.1.1 (RFC 3463
    /// §3.2, "bad destination mailbox address"), or a 5xx reply without enhanced status whose text
    /// says "user unknown". For a mailbox a source has just reported, this usually means the
    /// mail server's own maps have not caught up yet (Postfix `hash:` maps are rebuilt by a
    /// separate `postmap` run), so the pipeline retries it with backoff instead of giving up.
    pub fn recipient_unknown(&self) -> bool {
        let DeliveryError::PermanentRejection { text, .. } = self else {
            return false;
        };
        let text = text.trim_start();
        match text.split_whitespace().next() {
            Some(first) if is_enhanced_status(first) => first == "5.1.1",
            _ => text.to_ascii_lowercase().contains("user unknown"),
        }
    }

    /// The SMTP reply code, when a server answered.
    pub fn code(&self) -> Option<u16> {
        match self {
            DeliveryError::TemporaryRejection { code, .. }
            | DeliveryError::PermanentRejection { code, .. }
            | DeliveryError::AuthRejected { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The server's own reply text, when a server answered.
    pub fn server_text(&self) -> Option<&str> {
        match self {
            DeliveryError::TemporaryRejection { text, .. }
            | DeliveryError::PermanentRejection { text, .. }
            | DeliveryError::AuthRejected { text, .. } => Some(text),
            _ => None,
        }
    }

    /// A stable kebab-case name of the outcome, for logs, the store and metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            DeliveryError::TemporaryRejection { .. } => "smtp-temporary-rejection",
            DeliveryError::PermanentRejection { .. } => "smtp-permanent-rejection",
            DeliveryError::AuthRejected { .. } => "smtp-auth-rejected",
            DeliveryError::Unreachable { .. } => "smtp-unreachable",
            DeliveryError::Tls { .. } => "smtp-tls-failed",
            DeliveryError::Protocol { .. } => "smtp-protocol-error",
            DeliveryError::Program { .. } => "program-failed",
            DeliveryError::Io { .. } => "write-failed",
            DeliveryError::InvalidBundle { .. } => "invalid-bundle",
            DeliveryError::Config(_) => "delivery-config",
        }
    }

    /// Builds the error for an SMTP reply code and text, classified by its first digit the way
    /// [`DeliveryError::from_smtp`] does. Used by [`crate::delivery::RecordingMailer`] to play a
    /// server's answer in tests.
    pub fn from_reply(server: &str, code: u16, text: &str) -> DeliveryError {
        let (server, text) = (server.to_string(), text.to_string());
        match code {
            // RFC 4954 §6: authentication required / too weak / invalid / needs encryption.
            530 | 534 | 535 | 538 => DeliveryError::AuthRejected { server, code, text },
            500..=599 => DeliveryError::PermanentRejection { server, code, text },
            400..=499 => DeliveryError::TemporaryRejection { server, code, text },
            _ => DeliveryError::Protocol {
                server,
                reason: format!("unexpected reply code {code}: {text}"),
            },
        }
    }

    /// Classifies lettre's SMTP error. `server` is `host:port`; `uses_tls` says whether the
    /// connection was meant to be encrypted (a non-I/O connection failure is then a handshake
    /// failure: wrong trust anchors or host name, which no retry cures).
    pub fn from_smtp(server: &str, uses_tls: bool, err: &lettre::transport::smtp::Error) -> Self {
        let server_s = server.to_string();
        if let Some(code) = err.status() {
            // lettre keeps the whole multi-line reply as the error's source.
            let text = err.source().map(|s| s.to_string()).unwrap_or_default();
            return DeliveryError::from_reply(server, u16::from(code), &text);
        }
        let reason = err.to_string();
        if err.is_timeout() || err.is_transport_shutdown() {
            return DeliveryError::Unreachable {
                server: server_s,
                reason,
            };
        }
        if err.is_tls() {
            return DeliveryError::Tls {
                server: server_s,
                reason,
            };
        }
        if err.is_response() {
            return DeliveryError::Protocol {
                server: server_s,
                reason,
            };
        }
        if err.is_client() {
            // lettre's client errors are refusals on our side of the dialogue: "STARTTLS is not
            // supported on this server", "No compatible authentication mechanism was found",
            // "Connection is not encrypted".
            if reason.contains("STARTTLS") || reason.contains("not encrypted") {
                return DeliveryError::Tls {
                    server: server_s,
                    reason,
                };
            }
            return DeliveryError::Config(format!("talking to the mail server {server}: {reason}"));
        }
        // Connection or network error. An io::Error anywhere in the chain means the network
        // failed (refused, reset, unreachable, DNS): transient. Without one, on a TLS
        // connection, the handshake itself failed (certificate verification): config.
        if uses_tls && !has_io_error(err) {
            return DeliveryError::Tls {
                server: server_s,
                reason,
            };
        }
        DeliveryError::Unreachable {
            server: server_s,
            reason,
        }
    }

    /// Replaces every occurrence of `secret` in the error's text fields with `<redacted>`.
    /// Applied to errors from password channels, where an outside program's stderr or a server
    /// reply might echo what it was given.
    pub fn redact(self, secret: &str) -> DeliveryError {
        if secret.is_empty() {
            return self;
        }
        let r = |s: String| s.replace(secret, "<redacted>");
        match self {
            DeliveryError::TemporaryRejection { server, code, text } => {
                DeliveryError::TemporaryRejection {
                    server: r(server),
                    code,
                    text: r(text),
                }
            }
            DeliveryError::PermanentRejection { server, code, text } => {
                DeliveryError::PermanentRejection {
                    server: r(server),
                    code,
                    text: r(text),
                }
            }
            DeliveryError::AuthRejected { server, code, text } => DeliveryError::AuthRejected {
                server: r(server),
                code,
                text: r(text),
            },
            DeliveryError::Unreachable { server, reason } => DeliveryError::Unreachable {
                server: r(server),
                reason: r(reason),
            },
            DeliveryError::Tls { server, reason } => DeliveryError::Tls {
                server: r(server),
                reason: r(reason),
            },
            DeliveryError::Protocol { server, reason } => DeliveryError::Protocol {
                server: r(server),
                reason: r(reason),
            },
            DeliveryError::Program {
                program,
                what,
                status,
                detail,
                class,
            } => DeliveryError::Program {
                program: r(program),
                what: r(what),
                status,
                detail: r(detail),
                class,
            },
            DeliveryError::Io {
                path,
                reason,
                class,
            } => DeliveryError::Io {
                path: r(path),
                reason: r(reason),
                class,
            },
            DeliveryError::InvalidBundle { address, reason } => DeliveryError::InvalidBundle {
                address: r(address),
                reason: r(reason),
            },
            DeliveryError::Config(s) => DeliveryError::Config(r(s)),
        }
    }

    /// Builds an [`DeliveryError::Io`] for a failed write, classified by the OS error: a full
    /// disk or quota is transient (space may be freed), permissions and missing paths are
    /// config problems, anything else transient.
    pub(crate) fn io(path: &std::path::Path, err: &std::io::Error) -> DeliveryError {
        use std::io::ErrorKind as K;
        let class = match err.kind() {
            K::PermissionDenied | K::NotFound | K::NotADirectory | K::ReadOnlyFilesystem => {
                ErrorClass::Config
            }
            _ => ErrorClass::Transient,
        };
        DeliveryError::Io {
            path: path.display().to_string(),
            reason: err.to_string(),
            class,
        }
    }
}

/// Whether any error in the source chain is an I/O error (the network, not the TLS layer).
fn has_io_error(err: &(dyn StdError + 'static)) -> bool {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if e.downcast_ref::<std::io::Error>().is_some() {
            return true;
        }
        cur = e.source();
    }
    false
}

/// Classifies a program's exit code by `sysexits.h` (the convention sendmail, Postfix's
/// `sendmail` and `postdrop` follow; see sendmail(8) "EXIT STATUS"):
/// 75 `EX_TEMPFAIL`, 71 `EX_OSERR`, 74 `EX_IOERR`, 73 `EX_CANTCREAT` → transient;
/// 64 `EX_USAGE`, 70 `EX_SOFTWARE`, 72 `EX_OSFILE`, 77 `EX_NOPERM`, 78 `EX_CONFIG` → config;
/// anything else (65 `EX_DATAERR`, 67 `EX_NOUSER`, 68 `EX_NOHOST`, 69 `EX_UNAVAILABLE`, 1 ...)
/// → permanent. `None` (killed by a signal, or our timeout) → transient.
pub fn class_from_exit_status(status: Option<i32>) -> ErrorClass {
    match status {
        None | Some(71 | 73 | 74 | 75) => ErrorClass::Transient,
        Some(64 | 70 | 72 | 77 | 78) => ErrorClass::Config,
        Some(_) => ErrorClass::Permanent,
    }
}

/// `class.subject.detail` with a class digit of 2, 4 or 5 (RFC 3463 §2).
fn is_enhanced_status(word: &str) -> bool {
    let mut parts = word.split('.');
    let class_ok = matches!(parts.next(), Some("2" | "4" | "5"));
    let rest: Vec<&str> = parts.collect();
    class_ok
        && rest.len() == 2
        && rest
            .iter()
            .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_codes_are_classified_by_their_first_digit_and_keep_the_text() {
        let t = DeliveryError::from_reply("mx:25", 451, "4.3.0 try later");
        assert!(t.is_transient() && !t.is_permanent());
        assert_eq!(t.code(), Some(451));
        assert_eq!(t.server_text(), Some("4.3.0 try later"));

        let p = DeliveryError::from_reply("mx:25", 550, "5.1.1 <bob@example.com>: User unknown");
        assert!(p.is_permanent() && !p.is_transient());
        assert!(p.to_string().contains("User unknown"), "{p}");
        assert_eq!(p.outcome(), "smtp-permanent-rejection");
    }

    #[test]
    fn an_unknown_recipient_is_recognised_by_enhanced_status_or_text() {
        let unknown =
            |code, text| DeliveryError::from_reply("mx:25", code, text).recipient_unknown();
        // Postfix with hash: maps, Dovecot LMTP, and a server without enhanced status codes.
        assert!(unknown(550, "5.1.1 <bob@example.com>: Recipient address rejected: User unknown in virtual mailbox table"));
        assert!(unknown(
            550,
            "5.1.1 <bob@example.com> User doesn't exist: bob@example.com"
        ));
        assert!(unknown(550, "Requested action not taken: User unknown"));
        // Other refusals are not about the mailbox's existence.
        assert!(!unknown(
            550,
            "5.7.1 <bob@example.com>: Relay access denied"
        ));
        assert!(!unknown(552, "5.3.4 Message size exceeds fixed limit"));
        assert!(!unknown(550, "5.7.1 user unknown to the policy service"));
        assert!(!unknown(550, "5.1.10 Recipient address has null MX"));
        // A 4xx is already retried; it is not an unknown recipient.
        assert!(!unknown(
            450,
            "4.1.1 <bob@example.com>: Recipient address rejected: User unknown"
        ));
    }

    #[test]
    fn authentication_refusals_are_config_errors_not_mailbox_failures() {
        let e =
            DeliveryError::from_reply("mx:587", 535, "5.7.8 Authentication credentials invalid");
        assert!(e.is_config());
        assert!(!e.is_permanent());
        assert!(e.to_string().contains("delivery.smtp.user"), "{e}");
    }

    #[test]
    fn exit_statuses_follow_sysexits() {
        assert_eq!(class_from_exit_status(Some(75)), ErrorClass::Transient);
        assert_eq!(class_from_exit_status(None), ErrorClass::Transient);
        assert_eq!(class_from_exit_status(Some(78)), ErrorClass::Config);
        assert_eq!(class_from_exit_status(Some(67)), ErrorClass::Permanent);
        assert_eq!(class_from_exit_status(Some(1)), ErrorClass::Permanent);
    }

    #[test]
    fn redaction_removes_the_secret_from_every_text_field() {
        let e = DeliveryError::Program {
            program: "/usr/local/bin/sms".into(),
            what: "exited with status 1".into(),
            status: Some(1),
            detail: "could not send 'Abc-123-Xyz' to +49...".into(),
            class: ErrorClass::Permanent,
        }
        .redact("Abc-123-Xyz");
        assert!(!e.to_string().contains("Abc-123-Xyz"), "{e}");
        assert!(e.to_string().contains("<redacted>"), "{e}");
        assert!(e.is_permanent());
    }
}
