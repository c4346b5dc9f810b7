//! Owns message composition, as pure functions of settings, bundle and time: the bundle mail
//! (text + HTML alternative with import steps, the PKCS#12 attached) and the password mail (no
//! attachment). No I/O happens here; transports live in the sibling files.
//!
//! Structure of the bundle mail (RFC 2046 §5.1.3, §5.1.4):
//!
//! ```text
//! multipart/mixed
//! ├── multipart/alternative
//! │   ├── text/plain; charset=utf-8
//! │   └── text/html; charset=utf-8
//! └── application/pkcs12; name="ADDRESS.p12"   (Content-Disposition: attachment, base64)
//! ```
//!
//! Bodies are 7-bit (quoted-printable or base64 chosen by lettre), so any relay accepts them
//! without 8BITMIME; non-ASCII display names and subjects are RFC 2047 encoded by lettre.

use std::borrow::Cow;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::SystemTime;

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::Message;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

use super::advice::{keeping_advice, profile_advice};
use super::error::DeliveryError;
use super::template::{
    Template, TemplateError, TemplateKind, Templates, DEFAULT_PASSWORD_SUBJECT, DEFAULT_SUBJECT,
};
use crate::mailbox::Address;
use crate::secret::Secret;

/// How expiry dates are shown to users: unambiguous in every locale.
const EXPIRES_FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute] UTC");

/// What gets mailed to one mailbox. The PKCS#12 password is deliberately not part of it: it
/// travels through [`crate::delivery::send_password`] on another channel.
#[derive(Clone, PartialEq, Eq)]
pub struct Bundle {
    /// The mailbox the certificate is for, and the recipient of the mail.
    pub address: Address,
    /// The DER-encoded PKCS#12 file, password-protected.
    pub pkcs12: Vec<u8>,
    /// The certificate's notAfter.
    pub expires: OffsetDateTime,
    /// SHA-256 of the leaf certificate's DER, hex (colons and case are normalised for display).
    pub fingerprint_sha256: String,
    /// The PKCS#12 encoding profile: `"modern"` or `"compat"`.
    pub profile: String,
    /// The person's name for the To header and the greeting (e.g. from LDAP `cn`).
    pub display_name: Option<String>,
}

impl std::fmt::Debug for Bundle {
    // The PKCS#12 bytes are encrypted, but there is no use in dumping kilobytes of them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bundle")
            .field("address", &self.address)
            .field("pkcs12_len", &self.pkcs12.len())
            .field("expires", &self.expires)
            .field("fingerprint_sha256", &self.fingerprint_sha256)
            .field("profile", &self.profile)
            .field("display_name", &self.display_name)
            .finish()
    }
}

/// Sender, subjects and templates of both mails (config section `[delivery]`).
#[derive(Debug, Clone)]
pub struct MessageSettings {
    /// The From of both mails, e.g. `Certificate Service <pki@example.com>`.
    pub from: Mailbox,
    /// Where users' replies go (e.g. the helpdesk), if not to `from`.
    pub reply_to: Option<Mailbox>,
    /// Subject of the bundle mail; may use the bundle variables (see [`TemplateKind`]).
    pub subject: String,
    /// Subject of the password mail; may use `{address}`, `{recipient}`, `{filename}`.
    pub password_subject: String,
    /// The three bodies.
    pub templates: Templates,
}

impl MessageSettings {
    /// Settings whose subjects are checked now, so an unknown `{variable}` in a configured
    /// subject is a load-time error like one in a template file.
    pub fn new(
        from: Mailbox,
        reply_to: Option<Mailbox>,
        subject: String,
        password_subject: String,
        templates: Templates,
    ) -> Result<Self, TemplateError> {
        Template::parse(TemplateKind::BundleSubject, "delivery.subject", &subject)?;
        Template::parse(
            TemplateKind::PasswordSubject,
            "delivery.password_subject",
            &password_subject,
        )?;
        Ok(MessageSettings {
            from,
            reply_to,
            subject,
            password_subject,
            templates,
        })
    }

    /// The embedded templates and default subjects, from `from`.
    pub fn with_defaults(from: Mailbox) -> Result<Self, TemplateError> {
        MessageSettings::new(
            from,
            None,
            DEFAULT_SUBJECT.to_string(),
            DEFAULT_PASSWORD_SUBJECT.to_string(),
            Templates::embedded()?,
        )
    }
}

/// The attachment's file name: `ADDRESS.p12`. Characters an address may legally contain but
/// Windows or macOS refuse in file names (`/ \ : * ? " < > |`) become `_`.
pub fn bundle_filename(address: &Address) -> String {
    let safe: String = address
        .as_str()
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c => c,
        })
        .collect();
    format!("{safe}.p12")
}

/// Normalises a SHA-256 fingerprint to `AB:CD:...` (the form Thunderbird and `openssl x509
/// -fingerprint` show); refuses anything but 32 bytes of hex.
fn display_fingerprint(fp: &str) -> Option<String> {
    let hex: String = fp
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .collect();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let upper = hex.to_ascii_uppercase();
    let pairs: Vec<&str> = (0..32)
        .filter_map(|i| upper.get(2 * i..2 * i + 2))
        .collect();
    Some(pairs.join(":"))
}

/// Control characters (a newline from a directory's `cn`, say) never reach a header.
fn clean_display_name(name: &str) -> Option<String> {
    let cleaned: String = name
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed = cleaned.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

fn lettre_address(address: &Address) -> Result<lettre::Address, DeliveryError> {
    lettre::Address::new(address.local(), address.domain()).map_err(|e| {
        DeliveryError::InvalidBundle {
            address: address.to_string(),
            reason: format!("the mail library refuses the address: {e}"),
        }
    })
}

/// A Message-ID (RFC 5322 §3.6.4) derived from what the message is and when it was made, so
/// composition stays a pure function: `<SECONDS.HASH.smime@FROM-DOMAIN>`.
fn message_id(from: &Mailbox, now: OffsetDateTime, parts: &[&[u8]]) -> String {
    let mut h = DefaultHasher::new();
    now.unix_timestamp_nanos().hash(&mut h);
    for p in parts {
        p.hash(&mut h);
    }
    format!(
        "<{}.{:016x}.smime@{}>",
        now.unix_timestamp(),
        h.finish(),
        from.email.domain()
    )
}

/// RFC 3834 §5: mark the mail as machine-generated so vacation responders stay quiet.
fn auto_submitted() -> Result<HeaderValue, DeliveryError> {
    let name = HeaderName::new_from_ascii("Auto-Submitted".to_string())
        .map_err(|_| DeliveryError::Config("invalid header name Auto-Submitted".into()))?;
    Ok(HeaderValue::new(name, "auto-generated".to_string()))
}

fn subject_template(kind: TemplateKind, key: &str, text: &str) -> Result<Template, DeliveryError> {
    Template::parse(kind, key, text).map_err(|e| DeliveryError::Config(e.to_string()))
}

fn built(
    address: &Address,
    r: Result<Message, lettre::error::Error>,
) -> Result<Message, DeliveryError> {
    r.map_err(|e| DeliveryError::InvalidBundle {
        address: address.to_string(),
        reason: format!("the message could not be built: {e}"),
    })
}

/// Refuses a bundle not worth mailing (empty, expired, malformed fingerprint) and returns its
/// fingerprint and expiry as the mail shows them.
fn mailable_fields(
    bundle: &Bundle,
    now: OffsetDateTime,
) -> Result<(String, String), DeliveryError> {
    let invalid = |reason: String| DeliveryError::InvalidBundle {
        address: bundle.address.to_string(),
        reason,
    };
    if bundle.pkcs12.is_empty() {
        return Err(invalid("the PKCS#12 file is empty".into()));
    }
    if bundle.expires <= now {
        return Err(invalid(format!(
            "the certificate expired at {}; mailing it would be useless",
            bundle.expires
        )));
    }
    let fingerprint = display_fingerprint(&bundle.fingerprint_sha256).ok_or_else(|| {
        invalid(format!(
            "{:?} is not a SHA-256 fingerprint (64 hex digits)",
            bundle.fingerprint_sha256
        ))
    })?;
    let expires = bundle
        .expires
        .to_offset(UtcOffset::UTC)
        .format(EXPIRES_FORMAT)
        .map_err(|e| invalid(format!("the expiry date cannot be formatted: {e}")))?;
    Ok((fingerprint, expires))
}

/// Composes the mail that carries the bundle: text and HTML with import steps for Outlook,
/// Apple Mail (macOS, iOS), Thunderbird and Android; `ADDRESS.p12` attached as
/// `application/pkcs12`; `Date` is `now`. The password is not an input, so it cannot be in it.
pub fn compose_bundle_message(
    settings: &MessageSettings,
    bundle: &Bundle,
    now: OffsetDateTime,
) -> Result<Message, DeliveryError> {
    let (fingerprint, expires) = mailable_fields(bundle, now)?;
    let filename = bundle_filename(&bundle.address);
    let display_name = bundle.display_name.as_deref().and_then(clean_display_name);
    let greeting = display_name
        .clone()
        .unwrap_or_else(|| bundle.address.to_string());
    let (advice, keeping) = (profile_advice(&bundle.profile), keeping_advice());
    let value = |name: &str| -> Cow<'_, str> {
        match name {
            "address" => Cow::Borrowed(bundle.address.as_str()),
            "display_name" => Cow::Borrowed(greeting.as_str()),
            "expires" => Cow::Borrowed(expires.as_str()),
            "fingerprint" => Cow::Borrowed(fingerprint.as_str()),
            "profile" => Cow::Borrowed(bundle.profile.as_str()),
            "profile_advice" => Cow::Borrowed(advice.as_str()),
            "keeping_advice" => Cow::Borrowed(keeping.as_str()),
            "filename" => Cow::Borrowed(filename.as_str()),
            _ => Cow::Borrowed(""),
        }
    };
    let subject = subject_template(
        TemplateKind::BundleSubject,
        "delivery.subject",
        &settings.subject,
    )?
    .render(value);
    let text = settings.templates.bundle_text.render(value);
    let html = settings.templates.bundle_html.render(value);

    let to = Mailbox::new(display_name, lettre_address(&bundle.address)?);
    let id = message_id(
        &settings.from,
        now,
        &[
            b"bundle",
            bundle.address.as_str().as_bytes(),
            &bundle.pkcs12,
        ],
    );
    let mut builder = Message::builder()
        .from(settings.from.clone())
        .to(to)
        .subject(subject)
        .date(SystemTime::from(now))
        .message_id(Some(id))
        .user_agent(concat!("smime-provisioner/", env!("CARGO_PKG_VERSION")).to_string())
        .raw_header(auto_submitted()?);
    if let Some(r) = &settings.reply_to {
        builder = builder.reply_to(r.clone());
    }
    // The `name` parameter too: older Outlook versions take the file name from it rather
    // than from Content-Disposition (RFC 2183). `bundle_filename` has no '"' or '\\'.
    let pkcs12_type = ContentType::parse(&format!("application/pkcs12; name=\"{filename}\""))
        .map_err(|e| DeliveryError::Config(format!("content type application/pkcs12: {e}")))?;
    let body = MultiPart::mixed()
        .multipart(MultiPart::alternative_plain_html(text, html))
        .singlepart(Attachment::new(filename.clone()).body(bundle.pkcs12.clone(), pkcs12_type));
    built(&bundle.address, builder.multipart(body))
}

/// Composes the mail that carries the password for the bundle sent to `about`, addressed to
/// `to` (the same mailbox for `separate-mail`, a helpdesk for `admin-mail`). No attachment.
/// Returns a `Result` because the mail library validates addresses and headers.
pub fn compose_password_message(
    settings: &MessageSettings,
    to: &Address,
    about: &Address,
    password: &Secret<String>,
    now: OffsetDateTime,
) -> Result<Message, DeliveryError> {
    let filename = bundle_filename(about);
    let keeping = keeping_advice();
    let value = |name: &str| -> Cow<'_, str> {
        match name {
            "address" => Cow::Borrowed(about.as_str()),
            "keeping_advice" => Cow::Borrowed(keeping.as_str()),
            "recipient" => Cow::Borrowed(to.as_str()),
            "filename" => Cow::Borrowed(filename.as_str()),
            "password" => Cow::Borrowed(password.expose().as_str()),
            _ => Cow::Borrowed(""),
        }
    };
    let subject = subject_template(
        TemplateKind::PasswordSubject,
        "delivery.password_subject",
        &settings.password_subject,
    )?
    .render(value);
    let text = settings.templates.password_text.render(value);
    let id = message_id(
        &settings.from,
        now,
        &[
            b"password",
            to.as_str().as_bytes(),
            about.as_str().as_bytes(),
        ],
    );
    let mut builder = Message::builder()
        .from(settings.from.clone())
        .to(Mailbox::new(None, lettre_address(to)?))
        .subject(subject)
        .date(SystemTime::from(now))
        .message_id(Some(id))
        .user_agent(concat!("smime-provisioner/", env!("CARGO_PKG_VERSION")).to_string())
        .raw_header(auto_submitted()?);
    if let Some(r) = &settings.reply_to {
        builder = builder.reply_to(r.clone());
    }
    built(about, builder.singlepart(SinglePart::plain(text)))
}

/// Composes the note to the admin (config `delivery.admin_address`) that delivery to `about`
/// failed permanently, with the server's words and what to do next. The error text holds no
/// secret (see [`DeliveryError`]); the bundle stays archived for `redeliver`.
pub fn compose_failure_notice(
    settings: &MessageSettings,
    admin: &Address,
    about: &Address,
    error: &DeliveryError,
    now: OffsetDateTime,
) -> Result<Message, DeliveryError> {
    let text = format!(
        "smime-provisioner could not deliver the S/MIME certificate of {about}.\n\
         \n\
         What happened ({outcome}, {class}):\n  {error}\n\
         \n\
         The certificate and key are kept. Once the cause is fixed (for example the mailbox\n\
         exists again, or the relay accepts the mail), send it again with a fresh password:\n\
         \n  smime-provisioner redeliver {about}\n",
        outcome = error.outcome(),
        class = error.class(),
    );
    let id = message_id(
        &settings.from,
        now,
        &[
            b"notice",
            admin.as_str().as_bytes(),
            about.as_str().as_bytes(),
        ],
    );
    let builder = Message::builder()
        .from(settings.from.clone())
        .to(Mailbox::new(None, lettre_address(admin)?))
        .subject(format!(
            "S/MIME certificate for {about} could not be delivered"
        ))
        .date(SystemTime::from(now))
        .message_id(Some(id))
        .user_agent(concat!("smime-provisioner/", env!("CARGO_PKG_VERSION")).to_string())
        .raw_header(auto_submitted()?);
    built(about, builder.singlepart(SinglePart::plain(text)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const FP: &str = "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b";
    /// When the tests compose their mails.
    const NOW: OffsetDateTime = datetime!(2026-11-29 10:00 UTC);

    fn addr(text: &str) -> Address {
        Address::parse(text).unwrap()
    }

    fn settings() -> MessageSettings {
        MessageSettings::with_defaults("Certificate Service <pki@example.com>".parse().unwrap())
            .unwrap()
    }

    fn bundle() -> Bundle {
        Bundle {
            address: addr("jorg@example.com"),
            pkcs12: vec![0x30, 0x82, 0x01, 0x00, 0xff, 0x00, 0x7f],
            expires: datetime!(2028-03-01 12:00 UTC),
            fingerprint_sha256: FP.into(),
            profile: "modern".into(),
            display_name: Some("Jörg\r\nBcc: evil@example.net".into()),
        }
    }

    fn raw(m: &Message) -> String {
        String::from_utf8(m.formatted()).unwrap()
    }

    #[test]
    fn bundle_mail_has_headers_attachment_and_normalised_fingerprint() {
        let m = compose_bundle_message(&settings(), &bundle(), NOW).unwrap();
        let s = raw(&m);
        assert!(s.contains("Message-ID: <"), "{s}");
        assert!(s.contains("Date: Sun, 29 Nov 2026 10:00:00 +0000"), "{s}");
        assert!(s.contains("Content-Type: application/pkcs12"), "{s}");
        assert!(s.contains("filename=\"jorg@example.com.p12\""), "{s}");
        assert!(s.contains("Auto-Submitted: auto-generated"), "{s}");
        assert!(s.contains("3A:7B:D3:E2"), "{s}");
        assert!(s.contains("2028-03-01 12:00 UTC"), "{s}");
        // The newline in the display name did not start a header of its own.
        assert!(!s.contains("\r\nBcc:"), "{s}");
        assert!(!s.lines().any(|l| l.starts_with("Bcc")), "{s}");
        assert_eq!(m.envelope().to().len(), 1);
    }

    #[test]
    fn bundle_mail_is_seven_bit_clean() {
        let m = compose_bundle_message(&settings(), &bundle(), NOW).unwrap();
        assert!(m.formatted().is_ascii());
    }

    #[test]
    fn expired_empty_or_unfingerprinted_bundles_are_refused() {
        let now = datetime!(2026-11-29 10:00 UTC);
        let mut b = bundle();
        b.expires = now;
        assert!(compose_bundle_message(&settings(), &b, now)
            .unwrap_err()
            .is_permanent());
        let mut b = bundle();
        b.pkcs12.clear();
        assert!(compose_bundle_message(&settings(), &b, now).is_err());
        let mut b = bundle();
        b.fingerprint_sha256 = "abc".into();
        let e = compose_bundle_message(&settings(), &b, now).unwrap_err();
        assert!(e.to_string().contains("64 hex digits"), "{e}");
    }

    #[test]
    fn filenames_replace_characters_file_systems_refuse() {
        let a = addr("a/b|c@example.com");
        assert_eq!(bundle_filename(&a), "a_b_c@example.com.p12");
    }

    #[test]
    fn password_mail_carries_the_password_and_no_attachment() {
        let (to, about) = (addr("helpdesk@example.com"), addr("jorg@example.com"));
        let pw = Secret::new("K7QM-9XWP-3TRD-HV4N".to_string());
        let m = compose_password_message(&settings(), &to, &about, &pw, NOW).unwrap();
        let s = raw(&m);
        assert!(s.contains("K7QM-9XWP-3TRD-HV4N"), "{s}");
        assert!(s.contains("To: helpdesk@example.com"), "{s}");
        assert!(!s.contains("multipart"), "{s}");
        assert!(!s.contains("pkcs12"), "{s}");
        // The subject names the mailbox, never the password.
        let subject = s.lines().find(|l| l.starts_with("Subject:")).unwrap();
        assert!(subject.contains("jorg@example.com") && !subject.contains("K7QM"));
    }

    #[test]
    fn message_ids_differ_between_bundle_and_password_mail_and_between_times() {
        let s = settings();
        let b = bundle();
        let t = datetime!(2026-11-29 10:00 UTC);
        let id = |m: &Message| m.headers().get_raw("Message-ID").unwrap().to_string();
        let m1 = compose_bundle_message(&s, &b, t).unwrap();
        let m2 = compose_bundle_message(&s, &b, t + time::Duration::seconds(1)).unwrap();
        let pw = Secret::new("x".to_string());
        let m3 = compose_password_message(&s, &b.address, &b.address, &pw, t).unwrap();
        assert_ne!(id(&m1), id(&m2));
        assert_ne!(id(&m1), id(&m3));
        assert!(id(&m1).ends_with("@example.com>"), "{}", id(&m1));
    }

    #[test]
    fn the_admin_notice_names_the_mailbox_the_server_text_and_the_redeliver_command() {
        let (admin, about) = (addr("postmaster@example.com"), addr("jorg@example.com"));
        let err = DeliveryError::from_reply("mx:25", 550, "5.1.1 User unknown");
        let m = compose_failure_notice(&settings(), &admin, &about, &err, NOW).unwrap();
        let s = raw(&m);
        assert!(s.contains("To: postmaster@example.com"), "{s}");
        assert!(s.contains("5.1.1 User unknown"), "{s}");
        assert!(
            s.contains("smime-provisioner redeliver jorg@example.com"),
            "{s}"
        );
        assert!(s.contains("smtp-permanent-rejection, permanent"), "{s}");
    }

    #[test]
    fn an_unknown_variable_in_a_subject_is_refused_when_settings_are_made() {
        let from: Mailbox = "pki@example.com".parse().unwrap();
        let err = MessageSettings::new(
            from,
            None,
            "Cert for {adress}".into(),
            DEFAULT_PASSWORD_SUBJECT.into(),
            Templates::embedded().unwrap(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("delivery.subject"), "{err}");
    }
}
