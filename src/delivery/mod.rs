//! delivery: getting the bundle to the user — message composition (pure) and transports (I/O),
//! and the separate channel for the PKCS#12 password.
//!
//! - [`message`]: [`Bundle`], [`MessageSettings`], [`compose_bundle_message`],
//!   [`compose_password_message`], [`compose_failure_notice`] — pure functions of settings,
//!   bundle and time.
//! - [`advice`]: what both mails must say alike (which systems need `compat`, how to keep the
//!   file and its password), one source for every template.
//! - [`template`]: the embedded default templates (`templates/` in the source tree), overrides
//!   from files, `{variable}` checking at load time.
//! - [`mailer`]: the object-safe [`Mailer`] trait and the in-memory [`RecordingMailer`].
//! - [`smtp`], [`sendmail`], [`outbox`]: the real transports, siblings of one shape.
//! - [`password`]: [`PasswordChannel`] and [`send_password`].
//! - [`setup`]: from the validated `[delivery]` config to settings, mailer and channel.
//! - [`error`]: [`DeliveryError`], classified transient / permanent / config.
//!
//! The password never enters [`Bundle`] or the bundle mail: composition of that mail does not
//! take it as an input, and the bundle templates cannot name it.

pub mod advice;
pub mod error;
mod fsutil;
pub mod mailer;
pub mod message;
pub mod outbox;
pub mod password;
pub mod sendmail;
pub mod setup;
pub mod smtp;
pub mod template;

pub use error::{class_from_exit_status, DeliveryError, ErrorClass};
pub use mailer::{Mailer, Recorded, RecordingMailer, SendFuture, Sent};
pub use message::{
    bundle_filename, compose_bundle_message, compose_failure_notice, compose_password_message,
    Bundle, MessageSettings,
};
pub use outbox::FileOutbox;
pub use password::{password_file_name, send_password, PasswordChannel, PasswordReceipt};
pub use sendmail::SendmailMailer;
pub use smtp::{is_loopback_host, Security, SmtpAuth, SmtpMailer, SmtpSettings};
pub use template::{Template, TemplateError, TemplateKind, Templates};
