//! The user-facing texts agree with each other and with `docs/crypto.md`: the Android versions
//! the bundle mail says need the `compat` encoding are the ones the doc's table names, and the
//! bundle mail and the password mail give the same advice about keeping the file and its
//! password. Mails are rendered through the real composition and decoded by Python's `email`.

use anyhow::{anyhow, Result};
use smime_provisioner::delivery::advice::{
    ANDROID_NEEDS_COMPAT, ANDROID_READS_MODERN, KEEPING_ADVICE, NEED_COMPAT,
};
use smime_provisioner::delivery::{
    compose_bundle_message, compose_password_message, MessageSettings,
};
use smime_provisioner::mailbox::Address;
use smime_provisioner::secret::Secret;
use support::mail::*;

fn settings() -> Result<MessageSettings> {
    Ok(MessageSettings::with_defaults(
        "Certificate Service <pki@example.test>".parse()?,
    )?)
}

/// The decoded `text/plain` part of a rendered message.
fn text_of(dir: &std::path::Path, raw: &[u8]) -> Result<String> {
    let dump = mime_dump(dir, raw)?;
    dump["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["content_type"] == "text/plain")
        .and_then(|p| p["text"].as_str())
        .map(str::to_string)
        .ok_or_else(|| anyhow!("no text/plain part: {dump}"))
}

/// The text part of the bundle mail for `profile`.
fn bundle_text(dir: &std::path::Path, profile: &str) -> Result<String> {
    let mut bundle = make_bundle(dir, "ana@example.test", &random_password(), None)?;
    bundle.profile = profile.into();
    let m = compose_bundle_message(&settings()?, &bundle, now())?;
    text_of(dir, &m.formatted())
}

/// The text of the password mail.
fn password_text(dir: &std::path::Path) -> Result<String> {
    let a = Address::parse("ana@example.test")?;
    let pw = Secret::new("k7pm-3xq9-abcd-efgh-jkmn-pqrs".to_string());
    let m = compose_password_message(&settings()?, &a, &a, &pw, now())?;
    text_of(dir, &m.formatted())
}

/// The cells of the `docs/crypto.md` profile table row for `profile`.
fn crypto_md_row(profile: &str) -> Result<Vec<String>> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/crypto.md"))?;
    let row = doc
        .lines()
        .find(|l| l.starts_with(&format!("| `{profile}`")))
        .ok_or_else(|| anyhow!("docs/crypto.md has no table row for `{profile}`"))?;
    Ok(row.split('|').map(|c| c.trim().to_string()).collect())
}

/// "Android A–B" as a cell names it (the range of versions), if it names one.
fn android_range(cell: &str) -> Option<String> {
    let at = cell.find("Android ")?;
    let rest = &cell[at + "Android ".len()..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '–'))
        .unwrap_or(rest.len());
    let range = &rest[..end];
    range.contains('–').then(|| format!("Android {range}"))
}

/// Flattens a hard-wrapped text so a phrase split over two lines is found.
fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn the_bundle_mail_names_the_android_versions_docs_crypto_md_says_need_compat() -> Result<()> {
    let dir = tempfile::tempdir()?;
    // The `modern` row: its last cell lists what does not read the modern encoding.
    let modern = crypto_md_row("modern")?;
    let fails = modern
        .iter()
        .rev()
        .find(|c| !c.is_empty())
        .ok_or_else(|| anyhow!("empty modern row"))?;
    let range = android_range(fails)
        .ok_or_else(|| anyhow!("docs/crypto.md names no Android range for modern: {fails}"))?;
    // The compat row names the same versions among its targets.
    let compat = crypto_md_row("compat")?.join("|");
    assert!(
        compat.contains(&range),
        "compat row lacks {range}: {compat}"
    );

    let text = flat(&bundle_text(dir.path(), "modern")?);
    assert!(
        text.contains(&format!("{range} do not")) || text.contains(&format!("{range},")),
        "the modern bundle mail must name {range} as not reading it:\n{text}"
    );
    let text = flat(&bundle_text(dir.path(), "compat")?);
    assert!(
        text.contains(&range),
        "the compat bundle mail must name {range} among the systems it is for:\n{text}"
    );
    assert_eq!(range, ANDROID_NEEDS_COMPAT, "the mails' one source agrees");
    Ok(())
}

#[test]
fn every_system_the_mails_say_needs_compat_is_in_both_rows_of_docs_crypto_md() -> Result<()> {
    let modern = crypto_md_row("modern")?;
    let fails = modern.iter().rev().find(|c| !c.is_empty()).unwrap();
    let targets = &modern[3];
    let compat = crypto_md_row("compat")?.join("|");
    for system in NEED_COMPAT {
        assert!(
            fails.contains(system),
            "modern row lacks {system:?}: {fails}"
        );
        assert!(
            compat.contains(system),
            "compat row lacks {system:?}: {compat}"
        );
    }
    assert!(targets.contains(ANDROID_READS_MODERN), "{targets}");
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))?;
    assert!(
        readme.contains(ANDROID_NEEDS_COMPAT),
        "README names another range"
    );
    Ok(())
}

#[test]
fn the_bundle_and_password_mails_agree_on_keeping_the_file_and_its_password() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let bundle = flat(&bundle_text(dir.path(), "modern")?);
    let password = flat(&password_text(dir.path())?);
    // The bundle mail keeps the file as the backup of the key; that backup is useless without
    // its password, so the password mail must not call the password dispensable.
    assert!(bundle.contains("Keep"), "{bundle}");
    for contradiction in ["do not need this password", "need this password any more"] {
        assert!(
            !password.contains(contradiction),
            "the password mail says {contradiction:?} while the bundle mail keeps the file \
             as a backup:\n{password}"
        );
    }
    // The same words in both, from the one source.
    let advice = flat(KEEPING_ADVICE);
    assert!(bundle.contains(&advice), "bundle mail:\n{bundle}");
    assert!(password.contains(&advice), "password mail:\n{password}");
    Ok(())
}
