//! Delivery over real SMTP: an aiosmtpd server started by each test on 127.0.0.1 (Debian package
//! `python3-aiosmtpd`), real PKCS#12 bundles from the `openssl` CLI, and the bytes the server
//! received checked with Python's `email` parser and `openssl pkcs12`.

use std::time::Duration;

use anyhow::Result;
use base64::Engine;
use smime_provisioner::delivery::{
    compose_bundle_message, send_password, DeliveryError, Mailer, MessageSettings, PasswordChannel,
    PasswordReceipt, Security, SmtpAuth, SmtpMailer, SmtpSettings,
};
use smime_provisioner::secret::Secret;
use support::ca::TestCa;
use support::mail::*;

fn settings() -> MessageSettings {
    let mut s = MessageSettings::with_defaults(
        "Certificate Service <pki@example.test>"
            .parse()
            .expect("from"),
    )
    .expect("default templates");
    s.reply_to = Some(
        "Helpdesk <helpdesk@example.test>"
            .parse()
            .expect("reply-to"),
    );
    s
}

fn plain(port: u16) -> Result<SmtpMailer> {
    let mut s = SmtpSettings::new("127.0.0.1", port, Security::PlainLoopback);
    s.timeout = Duration::from_secs(20);
    Ok(SmtpMailer::new(s)?)
}

/// The attachment of a received bundle mail, decoded by Python's parser.
fn attachment_bytes(dir: &std::path::Path, raw: &[u8]) -> Result<(serde_json::Value, Vec<u8>)> {
    let dump = mime_dump(dir, raw)?;
    let p12 = parts_of(&dump, "application/pkcs12");
    assert_eq!(p12.len(), 1, "exactly one PKCS#12 attachment: {dump}");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(p12[0]["data_b64"].as_str().unwrap_or_default())?;
    Ok((dump.clone(), bytes))
}

#[tokio::test]
async fn the_bundle_arrives_byte_exact_without_the_password_and_opens_with_the_password_mailed_separately(
) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = SmtpServer::start(dir.path(), 0, &[])?;
    let password = random_password();
    let bundle = make_bundle(
        dir.path(),
        "alice@example.test",
        &password,
        Some("Alice Example"),
    )?;
    let mailer = plain(server.port)?;
    let s = settings();

    let message = compose_bundle_message(&s, &bundle, now())?;
    let sent = mailer.send(&message).await?;
    assert!(sent.detail.starts_with("250"), "{sent:?}");
    assert!(sent.detail.contains("queued as TEST001"), "{sent:?}");

    let channel = PasswordChannel::SeparateMail {
        delay: Duration::from_secs(600),
    };
    let receipt = send_password(&channel, &mailer, &s, &bundle.address, &password, now()).await?;
    assert!(matches!(&receipt, PasswordReceipt::Mailed { to, .. } if *to == bundle.address));

    let received = server.received()?;
    assert_eq!(received.len(), 2, "bundle mail and password mail");
    let (bundle_mail, password_mail) = (&received[0], &received[1]);
    assert_eq!(bundle_mail.envelope["mail_from"], "pki@example.test");
    assert_eq!(bundle_mail.envelope["rcpt_tos"][0], "alice@example.test");
    assert_eq!(password_mail.envelope["rcpt_tos"][0], "alice@example.test");

    // The attachment is the bundle, byte for byte.
    let (dump, p12) = attachment_bytes(dir.path(), &bundle_mail.raw)?;
    assert_eq!(p12, bundle.pkcs12);
    assert_eq!(
        parts_of(&dump, "application/pkcs12")[0]["filename"],
        "alice@example.test.p12"
    );

    // The password is nowhere in the bundle mail: not in its raw bytes, not in any decoded part.
    let pw = password.expose().as_bytes();
    assert!(
        !contains(&bundle_mail.raw, pw),
        "password in the raw bundle mail"
    );
    for part in dump["parts"].as_array().into_iter().flatten() {
        let text = part["text"].as_str().unwrap_or_default();
        assert!(
            !text.contains(password.expose().as_str()),
            "password in a decoded part"
        );
    }
    assert!(!contains(&p12, pw));
    assert!(!dump["headers"]
        .to_string()
        .contains(password.expose().as_str()));

    // The password mail has it, and it opens the bundle that arrived.
    let pdump = mime_dump(dir.path(), &password_mail.raw)?;
    let text = parts_of(&pdump, "text/plain")[0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mailed_password = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Password:"))
        .map(|p| p.trim().to_string())
        .expect("a Password: line in the password mail");
    assert_eq!(mailed_password, *password.expose());
    assert!(
        parts_of(&pdump, "application/pkcs12").is_empty(),
        "no attachment with the password"
    );
    let fp = pkcs12_opens(dir.path(), &p12, &mailed_password)?;
    assert_eq!(fp.as_deref(), Some(bundle.fingerprint_sha256.as_str()));
    assert_eq!(pkcs12_opens(dir.path(), &p12, "wrong-password")?, None);
    // Thunderbird's library imports it too.
    assert!(
        nss_imports(dir.path(), &p12, &mailed_password)?,
        "pk12util import"
    );
    assert!(!nss_imports(dir.path(), &p12, "wrong-password")?);
    Ok(())
}

#[tokio::test]
async fn a_451_is_transient_with_the_servers_text_and_the_retry_is_delivered() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = SmtpServer::start(dir.path(), 0, &["--tempfail", "1"])?;
    let bundle = make_bundle(dir.path(), "bob@example.test", &random_password(), None)?;
    let mailer = plain(server.port)?;
    let message = compose_bundle_message(&settings(), &bundle, now())?;

    let err = mailer
        .send(&message)
        .await
        .expect_err("first attempt gets 451");
    assert!(err.is_transient(), "{err:?}");
    assert!(!err.is_permanent());
    assert_eq!(err.code(), Some(451));
    assert!(
        err.server_text()
            .unwrap_or_default()
            .contains("try again later"),
        "{err}"
    );
    assert!(server.received()?.is_empty());

    mailer.send(&message).await?;
    let received = server.received()?;
    assert_eq!(received.len(), 1);
    assert_eq!(
        attachment_bytes(dir.path(), &received[0].raw)?.1,
        bundle.pkcs12
    );
    Ok(())
}

#[tokio::test]
async fn a_550_is_permanent_and_keeps_the_servers_text() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let reply = "550 5.1.1 <carol@example.test>: Recipient address rejected: User unknown";
    let server = SmtpServer::start(dir.path(), 0, &["--reject", reply])?;
    let bundle = make_bundle(dir.path(), "carol@example.test", &random_password(), None)?;
    let err = plain(server.port)?
        .send(&compose_bundle_message(&settings(), &bundle, now())?)
        .await
        .expect_err("550");
    assert!(err.is_permanent(), "{err:?}");
    assert!(!err.is_transient());
    assert_eq!(err.code(), Some(550));
    assert_eq!(
        err.server_text(),
        Some("5.1.1 <carol@example.test>: Recipient address rejected: User unknown")
    );
    assert!(err.to_string().contains("User unknown"), "{err}");
    assert_eq!(err.outcome(), "smtp-permanent-rejection");
    assert!(server.received()?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_server_that_is_down_is_transient_and_the_mail_goes_through_once_it_is_back() -> Result<()>
{
    let dir = tempfile::tempdir()?;
    // Learn a free port from a server, then stop it: the port now refuses connections.
    let first = SmtpServer::start(dir.path(), 0, &[])?;
    let port = first.port;
    first.stop();
    let bundle = make_bundle(dir.path(), "dave@example.test", &random_password(), None)?;
    let mailer = plain(port)?;
    let message = compose_bundle_message(&settings(), &bundle, now())?;

    let err = mailer.send(&message).await.expect_err("nobody listens");
    assert!(
        matches!(err, DeliveryError::Unreachable { .. }),
        "connection refused is 'unreachable': {err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(err.code(), None);

    let back = SmtpServer::start(dir.path(), port, &[])?;
    mailer.send(&message).await?;
    let received = back.received()?;
    assert_eq!(received.len(), 1);
    assert_eq!(
        attachment_bytes(dir.path(), &received[0].raw)?.1,
        bundle.pkcs12
    );
    Ok(())
}

#[tokio::test]
async fn a_server_that_accepts_but_never_answers_times_out_as_transient() -> Result<()> {
    let dir = tempfile::tempdir()?;
    // A TCP peer that takes the connection and never sends the SMTP greeting.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    let bundle = make_bundle(dir.path(), "tess@example.test", &random_password(), None)?;
    let mut s = SmtpSettings::new("127.0.0.1", port, Security::PlainLoopback);
    s.timeout = Duration::from_secs(1);
    let err = SmtpMailer::new(s)?
        .send(&compose_bundle_message(&settings(), &bundle, now())?)
        .await
        .expect_err("no greeting");
    silent.abort();
    assert!(matches!(err, DeliveryError::Unreachable { .. }), "{err:?}");
    assert!(err.is_transient(), "{err:?}");
    Ok(())
}

#[tokio::test]
async fn starttls_with_a_test_ca_delivers_over_an_encrypted_channel() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let pki = TestCa::quick().tls_server(dir.path())?;
    let cert = pki.server_cert.to_string_lossy().to_string();
    let key = pki.server_key.to_string_lossy().to_string();
    let server = SmtpServer::start(dir.path(), 0, &["--starttls", &cert, &key])?;
    let bundle = make_bundle(dir.path(), "erin@example.test", &random_password(), None)?;

    let mut s = SmtpSettings::new("127.0.0.1", server.port, Security::StartTls);
    s.extra_ca_file = Some(pki.ca_cert.clone());
    let mailer = SmtpMailer::new(s)?;
    assert!(
        mailer.describe().contains("starttls"),
        "{}",
        mailer.describe()
    );
    mailer
        .send(&compose_bundle_message(&settings(), &bundle, now())?)
        .await?;

    let received = server.received()?;
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].envelope["tls"], true,
        "the server saw the mail over TLS"
    );
    assert_eq!(
        attachment_bytes(dir.path(), &received[0].raw)?.1,
        bundle.pkcs12
    );
    Ok(())
}

#[tokio::test]
async fn smtp_login_over_starttls_works_and_a_wrong_password_is_a_config_error() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let pki = TestCa::quick().tls_server(dir.path())?;
    let cert = pki.server_cert.to_string_lossy().to_string();
    let key = pki.server_key.to_string_lossy().to_string();
    let server = SmtpServer::start(
        dir.path(),
        0,
        &["--starttls", &cert, &key, "--auth", "pki:relay-secret-1"],
    )?;
    let bundle = make_bundle(dir.path(), "frank@example.test", &random_password(), None)?;
    let message = compose_bundle_message(&settings(), &bundle, now())?;
    let mailer_with = |password: &str| {
        let mut s = SmtpSettings::new("localhost", server.port, Security::StartTls);
        s.extra_ca_file = Some(pki.ca_cert.clone());
        s.auth = Some(SmtpAuth {
            user: "pki".into(),
            password: Secret::new(password.to_string()),
        });
        SmtpMailer::new(s)
    };

    let err = mailer_with("wrong")?.send(&message).await.expect_err("535");
    assert!(
        err.is_config(),
        "a refused login is the admin's to fix: {err:?}"
    );
    assert!(!err.is_permanent() && !err.is_transient());
    assert_eq!(err.code(), Some(535));
    assert!(
        !err.to_string().contains("wrong"),
        "no password in the error: {err}"
    );
    assert!(server.received()?.is_empty());

    mailer_with("relay-secret-1")?.send(&message).await?;
    let received = server.received()?;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].envelope["auth_user"], "pki");
    assert_eq!(received[0].envelope["tls"], true);
    Ok(())
}

#[tokio::test]
async fn starttls_without_trusting_the_servers_ca_is_a_tls_config_error() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let pki = TestCa::quick().tls_server(dir.path())?;
    let cert = pki.server_cert.to_string_lossy().to_string();
    let key = pki.server_key.to_string_lossy().to_string();
    let server = SmtpServer::start(dir.path(), 0, &["--starttls", &cert, &key])?;
    let bundle = make_bundle(dir.path(), "gina@example.test", &random_password(), None)?;
    let mailer = SmtpMailer::new(SmtpSettings::new(
        "127.0.0.1",
        server.port,
        Security::StartTls,
    ))?;
    let err = mailer
        .send(&compose_bundle_message(&settings(), &bundle, now())?)
        .await
        .expect_err("untrusted certificate");
    assert!(matches!(err, DeliveryError::Tls { .. }), "{err:?}");
    assert!(err.is_config());
    assert!(err.to_string().contains("ca_file"), "{err}");
    assert!(
        server.received()?.is_empty(),
        "nothing was sent over the untrusted channel"
    );
    Ok(())
}

#[tokio::test]
async fn starttls_required_but_not_offered_sends_nothing() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = SmtpServer::start(dir.path(), 0, &[])?;
    let bundle = make_bundle(dir.path(), "hank@example.test", &random_password(), None)?;
    let mailer = SmtpMailer::new(SmtpSettings::new(
        "127.0.0.1",
        server.port,
        Security::StartTls,
    ))?;
    let err = mailer
        .send(&compose_bundle_message(&settings(), &bundle, now())?)
        .await
        .expect_err("no STARTTLS on offer");
    assert!(matches!(err, DeliveryError::Tls { .. }), "{err:?}");
    assert!(err.is_config());
    assert!(server.received()?.is_empty());
    Ok(())
}

#[tokio::test]
async fn implicit_tls_delivers() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let pki = TestCa::quick().tls_server(dir.path())?;
    let cert = pki.server_cert.to_string_lossy().to_string();
    let key = pki.server_key.to_string_lossy().to_string();
    let server = SmtpServer::start(dir.path(), 0, &["--implicit-tls", &cert, &key])?;
    let bundle = make_bundle(dir.path(), "ivy@example.test", &random_password(), None)?;
    let mut s = SmtpSettings::new("localhost", server.port, Security::ImplicitTls);
    s.extra_ca_file = Some(pki.ca_cert.clone());
    SmtpMailer::new(s)?
        .send(&compose_bundle_message(&settings(), &bundle, now())?)
        .await?;
    let received = server.received()?;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].envelope["tls"], true);
    Ok(())
}

#[tokio::test]
async fn plain_smtp_to_a_non_loopback_host_requires_the_dangerous_setting() -> Result<()> {
    for host in ["mail.example.com", "192.0.2.25", "[2001:db8::25]"] {
        let err = SmtpMailer::new(SmtpSettings::new(host, 25, Security::PlainLoopback))
            .expect_err("plain to a remote host");
        assert!(err.is_config(), "{err:?}");
        assert!(err.to_string().contains("dangerous-plain"), "{err}");
        assert!(SmtpMailer::new(SmtpSettings::new(host, 25, Security::DangerousPlain)).is_ok());
    }
    // TLS modes need no permission, and loopback plain is fine.
    assert!(SmtpMailer::new(SmtpSettings::new(
        "mail.example.com",
        587,
        Security::StartTls
    ))
    .is_ok());
    assert!(SmtpMailer::new(SmtpSettings::new("::1", 25, Security::PlainLoopback)).is_ok());
    Ok(())
}
