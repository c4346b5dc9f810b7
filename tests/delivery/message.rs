//! The composed messages judged by an outside MIME parser: Python's standard `email` package
//! (policy.default) must parse them without defects and show readable text, including for
//! non-ASCII display names and subjects; custom templates from files are used, and a typo in
//! one is a load-time error.

use anyhow::Result;
use base64::Engine;
use smime_provisioner::delivery::{
    compose_bundle_message, compose_password_message, MessageSettings, TemplateError, Templates,
};
use smime_provisioner::mailbox::Address;
use support::mail::*;

fn no_defects(dump: &serde_json::Value) {
    assert_eq!(
        dump["defects"],
        serde_json::json!([]),
        "parser defects: {dump}"
    );
}

#[test]
fn the_bundle_mail_parses_cleanly_and_shows_a_non_ascii_name_as_text() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let password = random_password();
    let bundle = make_bundle(
        dir.path(),
        "joerg@example.test",
        &password,
        Some("Jörg Müller-Łukasz"),
    )?;
    let mut settings = MessageSettings::new(
        "Zertifikatsstelle Bücher GmbH <pki@example.test>".parse()?,
        Some("Helpdesk <helpdesk@example.test>".parse()?),
        "Ihr S/MIME-Zertifikat für {address} – gültig bis {expires}".into(),
        "Passwort für {address}".into(),
        Templates::embedded()?,
    )?;
    settings.reply_to = Some("Helpdesk <helpdesk@example.test>".parse()?);
    let message = compose_bundle_message(&settings, &bundle, now())?;
    let raw = message.formatted();
    assert!(raw.is_ascii(), "the message is 7-bit clean");
    let dump = mime_dump(dir.path(), &raw)?;
    no_defects(&dump);

    // Headers decode to the real names, with no encoded-word debris left over.
    let to = &dump["addresses"]["To"][0];
    assert_eq!(to["display_name"], "Jörg Müller-Łukasz");
    assert_eq!(to["addr_spec"], "joerg@example.test");
    assert_eq!(
        dump["addresses"]["From"][0]["display_name"],
        "Zertifikatsstelle Bücher GmbH"
    );
    assert_eq!(
        dump["addresses"]["Reply-To"][0]["addr_spec"],
        "helpdesk@example.test"
    );
    let subject = dump["headers"]["Subject"].as_str().unwrap_or_default();
    assert!(
        subject.starts_with("Ihr S/MIME-Zertifikat für joerg@example.test – gültig bis "),
        "{subject}"
    );
    assert!(!subject.contains("=?"), "{subject}");
    assert!(dump["headers"]["Message-ID"]
        .as_str()
        .unwrap_or_default()
        .ends_with("@example.test>"));
    assert!(dump["headers"]["Date"].is_string());
    assert_eq!(dump["headers"]["MIME-Version"], "1.0");
    assert_eq!(dump["headers"]["Auto-Submitted"], "auto-generated");

    // Structure: mixed( alternative(text, html), pkcs12 ).
    let types: Vec<&str> = dump["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["content_type"].as_str())
        .collect();
    assert_eq!(
        types,
        [
            "multipart/mixed",
            "multipart/alternative",
            "text/plain",
            "text/html",
            "application/pkcs12"
        ]
    );

    let text = parts_of(&dump, "text/plain")[0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(text.contains("Hello Jörg Müller-Łukasz,"), "{text}");
    assert!(
        !text.contains("=?") && !text.contains("=C3"),
        "no encoded garbage: {text}"
    );
    for client in [
        "Outlook (Windows)",
        "Apple Mail (macOS)",
        "Apple Mail (iPhone, iPad)",
        "Thunderbird",
        "Android",
    ] {
        assert!(text.contains(client), "import steps for {client}");
    }
    assert!(text.contains("joerg@example.test.p12"));
    assert!(
        text.contains(&bundle.fingerprint_sha256),
        "fingerprint shown as openssl shows it"
    );
    assert!(text.contains("modern encoding"), "{text}");

    let html = parts_of(&dump, "text/html")[0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(html.contains("Hello Jörg Müller-Łukasz,"), "{html}");
    assert!(html.contains("<h3>Thunderbird</h3>"));

    let p12 = &parts_of(&dump, "application/pkcs12")[0];
    assert_eq!(p12["disposition"], "attachment");
    assert_eq!(p12["filename"], "joerg@example.test.p12");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(p12["data_b64"].as_str().unwrap_or_default())?;
    assert_eq!(bytes, bundle.pkcs12);
    assert!(!contains(&raw, password.expose().as_bytes()));
    Ok(())
}

#[test]
fn html_special_characters_in_a_display_name_are_escaped_in_the_html_part() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let bundle = make_bundle(
        dir.path(),
        "tom@example.test",
        &random_password(),
        Some("Tom <b>& \"Jerry\""),
    )?;
    let settings = MessageSettings::with_defaults("pki@example.test".parse()?)?;
    let dump = mime_dump(
        dir.path(),
        &compose_bundle_message(&settings, &bundle, now())?.formatted(),
    )?;
    no_defects(&dump);
    assert_eq!(
        dump["addresses"]["To"][0]["display_name"],
        "Tom <b>& \"Jerry\""
    );
    let html = parts_of(&dump, "text/html")[0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        html.contains("Hello Tom &lt;b&gt;&amp; &quot;Jerry&quot;,"),
        "{html}"
    );
    Ok(())
}

#[test]
fn the_password_mail_parses_cleanly_carries_the_password_and_nothing_else() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let settings =
        MessageSettings::with_defaults("Zertifikatsstelle Bücher <pki@example.test>".parse()?)?;
    let password = random_password();
    let to = Address::parse("helpdesk@example.test")?;
    let about = Address::parse("joerg@example.test")?;
    let raw = compose_password_message(&settings, &to, &about, &password, now())?.formatted();
    let dump = mime_dump(dir.path(), &raw)?;
    no_defects(&dump);
    let types: Vec<&str> = dump["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["content_type"].as_str())
        .collect();
    assert_eq!(types, ["text/plain"], "a single text part, no attachment");
    let text = dump["parts"][0]["text"].as_str().unwrap_or_default();
    assert!(
        text.contains(&format!("Password:  {}", password.expose())),
        "{text}"
    );
    assert!(text.contains("joerg@example.test"));
    assert_eq!(
        dump["addresses"]["To"][0]["addr_spec"],
        "helpdesk@example.test"
    );
    assert_eq!(
        dump["addresses"]["From"][0]["display_name"],
        "Zertifikatsstelle Bücher"
    );
    let subject = dump["headers"]["Subject"].as_str().unwrap_or_default();
    assert!(
        subject.contains("joerg@example.test") && !subject.contains(password.expose().as_str())
    );
    Ok(())
}

#[test]
fn templates_from_files_replace_the_defaults_and_a_typo_is_refused_at_load_time() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let text = dir.path().join("bundle.txt");
    let html = dir.path().join("bundle.html");
    let pw = dir.path().join("password.txt");
    std::fs::write(&text, "Guten Tag {display_name}, Ihr Zertifikat ({fingerprint}) gilt bis {expires}. Datei: {filename}, Profil {profile}.\n")?;
    std::fs::write(
        &html,
        "<style>p { margin: 0 }</style><p>Guten Tag {display_name}</p>\n",
    )?;
    std::fs::write(&pw, "Kennwort für {address}: {password}\n")?;
    let templates = Templates::load(Some(&text), Some(&html), Some(&pw))?;
    let settings = MessageSettings::new(
        "pki@example.test".parse()?,
        None,
        "Zertifikat".into(),
        "Kennwort".into(),
        templates,
    )?;
    let bundle = make_bundle(
        dir.path(),
        "anna@example.test",
        &random_password(),
        Some("Anna Weiß"),
    )?;
    let dump = mime_dump(
        dir.path(),
        &compose_bundle_message(&settings, &bundle, now())?.formatted(),
    )?;
    no_defects(&dump);
    let body = parts_of(&dump, "text/plain")[0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        body.starts_with("Guten Tag Anna Weiß, Ihr Zertifikat ("),
        "{body}"
    );
    assert!(
        body.contains("Datei: anna@example.test.p12, Profil modern."),
        "{body}"
    );
    let h = parts_of(&dump, "text/html")[0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        h.contains("<style>p { margin: 0 }</style><p>Guten Tag Anna Weiß</p>"),
        "{h}"
    );

    // A typo is an error naming the file, line and variable — before any mail is composed.
    std::fs::write(&text, "Hallo {display_name},\nbis {expiry}\n")?;
    let err = Templates::load(Some(&text), None, None).expect_err("unknown variable");
    assert!(
        matches!(&err, TemplateError::UnknownVariable { line: 2, name, .. } if name == "expiry"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(&text.display().to_string()),
        "{err}"
    );
    // The password cannot be put into the bundle mail by a template.
    std::fs::write(&text, "Your password: {password}\n")?;
    assert!(Templates::load(Some(&text), None, None).is_err());
    Ok(())
}
