//! Each password channel delivers the password the bundle opens with (`openssl pkcs12`), and
//! none leaks it: `command` (a script that stores its stdin and arguments), `file` (0600 files in
//! a 0700 directory), `admin-mail` and `separate-mail` (through the file outbox). Also the
//! sendmail mailer's command line and exit-status classification, with a stand-in script.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Result;
use smime_provisioner::delivery::{
    compose_bundle_message, password_file_name, send_password, FileOutbox, Mailer, MessageSettings,
    PasswordChannel, PasswordReceipt, RecordingMailer, SendmailMailer,
};
use smime_provisioner::mailbox::Address;
use support::mail::*;

fn settings() -> MessageSettings {
    MessageSettings::with_defaults(
        "Certificate Service <pki@example.test>"
            .parse()
            .expect("from"),
    )
    .expect("default templates")
}

/// Writes an executable shell script.
fn script(dir: &Path, name: &str, body: &str) -> Result<PathBuf> {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}"))?;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))?;
    Ok(p)
}

#[tokio::test]
async fn the_command_channel_gets_the_address_as_last_argument_and_the_password_on_stdin(
) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("out");
    std::fs::create_dir(&out)?;
    let sms = script(
        dir.path(),
        "sms-gateway",
        &format!(
            "cat > {o}/stdin\nprintf '%s\\n' \"$@\" > {o}/args\n",
            o = out.display()
        ),
    )?;
    let password = random_password();
    let bundle = make_bundle(dir.path(), "kim@example.test", &password, None)?;
    let channel = PasswordChannel::Command {
        program: sms.clone(),
        args: vec!["--via".into(), "sms".into()],
    };
    let mailer = RecordingMailer::new();
    let receipt = send_password(
        &channel,
        &mailer,
        &settings(),
        &bundle.address,
        &password,
        now(),
    )
    .await?;
    assert_eq!(receipt, PasswordReceipt::CommandRan { program: sms });
    assert_eq!(
        std::fs::read_to_string(out.join("args"))?,
        "--via\nsms\nkim@example.test\n"
    );
    let stdin = std::fs::read_to_string(out.join("stdin"))?;
    assert_eq!(stdin, format!("{}\n", password.expose()));
    assert!(
        mailer.sent().is_empty(),
        "the command channel sends no mail"
    );
    let fp = pkcs12_opens(dir.path(), &bundle.pkcs12, stdin.trim_end())?;
    assert_eq!(fp.as_deref(), Some(bundle.fingerprint_sha256.as_str()));
    Ok(())
}

#[tokio::test]
async fn a_failing_command_is_classified_by_exit_status_and_its_stderr_never_shows_the_password(
) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let password = random_password();
    let address = Address::parse("lee@example.test")?;
    let mailer = RecordingMailer::new();
    // The gateway echoes what it got to stderr, as careless scripts do.
    for (status, transient) in [(75, true), (1, false)] {
        let p = script(
            dir.path(),
            &format!("gw-{status}"),
            &format!("read pw\necho \"gateway down, could not send $pw\" >&2\nexit {status}\n"),
        )?;
        let channel = PasswordChannel::Command {
            program: p,
            args: vec![],
        };
        let err = send_password(&channel, &mailer, &settings(), &address, &password, now())
            .await
            .expect_err("non-zero exit");
        assert_eq!(err.is_transient(), transient, "exit {status}: {err:?}");
        assert_eq!(err.is_permanent(), !transient, "exit {status}: {err:?}");
        let shown = format!("{err} {err:?}");
        assert!(shown.contains("gateway down"), "stderr is kept: {shown}");
        assert!(
            !shown.contains(password.expose().as_str()),
            "password leaked: {shown}"
        );
        assert!(shown.contains("<redacted>"), "{shown}");
    }
    let missing = PasswordChannel::Command {
        program: dir.path().join("no-such-gateway"),
        args: vec![],
    };
    let err = send_password(&missing, &mailer, &settings(), &address, &password, now())
        .await
        .expect_err("missing program");
    assert!(err.is_config(), "{err:?}");
    Ok(())
}

#[tokio::test]
async fn the_file_channel_writes_one_0600_file_per_address_in_a_0700_directory() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let pwdir = dir.path().join("passwords");
    let channel = PasswordChannel::File { dir: pwdir.clone() };
    let mailer = RecordingMailer::new();
    let first = random_password();
    let bundle = make_bundle(dir.path(), "max@example.test", &first, None)?;

    let receipt = send_password(
        &channel,
        &mailer,
        &settings(),
        &bundle.address,
        &first,
        now(),
    )
    .await?;
    let path = pwdir.join("max@example.test.password");
    assert_eq!(receipt, PasswordReceipt::Written { path: path.clone() });
    assert_eq!(std::fs::metadata(&pwdir)?.mode() & 0o777, 0o700);
    assert_eq!(std::fs::metadata(&path)?.mode() & 0o777, 0o600);
    let stored = std::fs::read_to_string(&path)?;
    assert_eq!(stored, format!("{}\n", first.expose()));
    let fp = pkcs12_opens(dir.path(), &bundle.pkcs12, stored.trim_end())?;
    assert_eq!(fp.as_deref(), Some(bundle.fingerprint_sha256.as_str()));

    // A redelivery's fresh password replaces the old one; other addresses get their own file.
    let second = random_password();
    send_password(
        &channel,
        &mailer,
        &settings(),
        &bundle.address,
        &second,
        now(),
    )
    .await?;
    assert_eq!(
        std::fs::read_to_string(&path)?,
        format!("{}\n", second.expose())
    );
    let other = Address::parse("a/b@example.test")?;
    send_password(&channel, &mailer, &settings(), &other, &second, now()).await?;
    let mut names: Vec<String> = std::fs::read_dir(&pwdir)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().to_string()))
        .collect::<std::io::Result<_>>()?;
    names.sort();
    assert_eq!(
        names,
        [
            password_file_name(&other),
            "max@example.test.password".to_string()
        ]
    );
    assert_eq!(names[0], "a%2Fb@example.test.password");
    assert!(mailer.sent().is_empty());

    // A directory others can read is refused rather than used.
    std::fs::set_permissions(&pwdir, std::fs::Permissions::from_mode(0o755))?;
    let err = send_password(
        &channel,
        &mailer,
        &settings(),
        &bundle.address,
        &first,
        now(),
    )
    .await
    .expect_err("0755 directory");
    assert!(
        err.is_config() && err.to_string().contains("chmod 700"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&path)?,
        format!("{}\n", second.expose()),
        "untouched"
    );
    Ok(())
}

/// Reads the single `.eml` in `dir` whose To is `to`.
fn outbox_mail_to(dir: &Path, to: &str) -> Result<Vec<Vec<u8>>> {
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        assert_eq!(
            std::fs::metadata(&p)?.mode() & 0o777,
            0o600,
            "{}",
            p.display()
        );
        let raw = std::fs::read(&p)?;
        if contains(&raw, format!("To: {to}\r\n").as_bytes()) {
            found.push(raw);
        }
    }
    Ok(found)
}

#[tokio::test]
async fn admin_mail_sends_the_password_to_the_helpdesk_naming_the_mailbox() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let outbox = FileOutbox::new(dir.path().join("outbox"))?;
    let password = random_password();
    let bundle = make_bundle(dir.path(), "nina@example.test", &password, Some("Nina"))?;
    let s = settings();
    outbox
        .send(&compose_bundle_message(&s, &bundle, now())?)
        .await?;
    let helpdesk = Address::parse("helpdesk@example.test")?;
    let channel = PasswordChannel::AdminMail {
        to: helpdesk.clone(),
    };
    let receipt = send_password(&channel, &outbox, &s, &bundle.address, &password, now()).await?;
    assert!(matches!(receipt, PasswordReceipt::Mailed { ref to, .. } if *to == helpdesk));

    let to_helpdesk = outbox_mail_to(outbox.dir(), "helpdesk@example.test")?;
    assert_eq!(to_helpdesk.len(), 1);
    let dump = mime_dump(dir.path(), &to_helpdesk[0])?;
    let text = parts_of(&dump, "text/plain")[0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(text.contains("nina@example.test"), "{text}");
    let mailed = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Password:"))
        .map(|p| p.trim().to_string())
        .unwrap_or_default();
    assert_eq!(
        pkcs12_opens(dir.path(), &bundle.pkcs12, &mailed)?.as_deref(),
        Some(bundle.fingerprint_sha256.as_str())
    );

    let to_user = outbox_mail_to(outbox.dir(), "Nina <nina@example.test>")?;
    assert_eq!(to_user.len(), 1, "the user got only the bundle mail");
    assert!(!contains(&to_user[0], password.expose().as_bytes()));
    Ok(())
}

#[tokio::test]
async fn separate_mail_sends_a_second_mail_without_attachment_to_the_mailbox_itself() -> Result<()>
{
    let dir = tempfile::tempdir()?;
    let outbox = FileOutbox::new(dir.path().join("outbox"))?;
    let password = random_password();
    let address = Address::parse("olga@example.test")?;
    let channel = PasswordChannel::SeparateMail {
        delay: std::time::Duration::from_secs(300),
    };
    send_password(&channel, &outbox, &settings(), &address, &password, now()).await?;
    let mails = outbox_mail_to(outbox.dir(), "olga@example.test")?;
    assert_eq!(mails.len(), 1);
    let dump = mime_dump(dir.path(), &mails[0])?;
    assert!(parts_of(&dump, "application/pkcs12").is_empty());
    assert!(contains(&mails[0], password.expose().as_bytes()));
    Ok(())
}

#[tokio::test]
async fn sendmail_gets_envelope_and_message_and_its_exit_status_decides_the_class() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("out");
    std::fs::create_dir(&out)?;
    // A stand-in with sendmail's command-line contract; the real Postfix binary needs a running
    // mail system, which the end-to-end suite provides.
    let ok = script(
        dir.path(),
        "sendmail-ok",
        &format!(
            "printf '%s\\n' \"$@\" > {o}/args\ncat > {o}/message\n",
            o = out.display()
        ),
    )?;
    let bundle = make_bundle(dir.path(), "paul@example.test", &random_password(), None)?;
    let message = compose_bundle_message(&settings(), &bundle, now())?;
    let sent = SendmailMailer::new(&ok)?.send(&message).await?;
    assert!(sent.detail.contains("sendmail-ok"), "{sent:?}");
    assert_eq!(
        std::fs::read_to_string(out.join("args"))?,
        "-i\n-f\npki@example.test\n--\npaul@example.test\n"
    );
    assert_eq!(std::fs::read(out.join("message"))?, message.formatted());

    let tempfail = script(
        dir.path(),
        "sendmail-75",
        "cat >/dev/null\necho 'queue full' >&2\nexit 75\n",
    )?;
    let err = SendmailMailer::new(&tempfail)?
        .send(&message)
        .await
        .expect_err("75");
    assert!(
        err.is_transient() && err.to_string().contains("queue full"),
        "{err:?}"
    );
    let nouser = script(
        dir.path(),
        "sendmail-67",
        "cat >/dev/null\necho 'unknown user' >&2\nexit 67\n",
    )?;
    let err = SendmailMailer::new(&nouser)?
        .send(&message)
        .await
        .expect_err("67");
    assert!(err.is_permanent(), "{err:?}");
    let err = SendmailMailer::new(dir.path().join("no-sendmail")).expect_err("missing binary");
    assert!(err.is_config(), "{err:?}");
    Ok(())
}
