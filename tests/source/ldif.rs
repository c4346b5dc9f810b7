//! The LDIF source over real `slapcat` exports from OpenLDAP slapd (captured by
//! `tests/fixtures/source/make-slapcat-export.sh`), hand-written folded/base64/malformed files,
//! and the watcher following atomic replacement of the export.

use anyhow::{bail, Context as _, Result};
use smime_provisioner::source::ldif::{
    self, KeyAttr, LdifErrorKind, LdifSettings, LdifSource, RecordBody,
};
use smime_provisioner::source::{diff, GuardPolicy, Origin, SourceError, SourceEvent};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/source")
        .join(name)
}

fn listing_of(path: &Path, settings: LdifSettings) -> Result<smime_provisioner::source::Listing> {
    Ok(LdifSource::new(LdifSettings {
        path: path.to_path_buf(),
        ..settings
    })
    .full_listing()?)
}

fn addrs(l: &smime_provisioner::source::Listing) -> Vec<String> {
    l.addresses().iter().map(ToString::to_string).collect()
}

#[test]
fn a_real_slapcat_export_parses_with_folded_and_base64_values() -> Result<()> {
    let bytes = fs::read(fixture("slapcat-before.ldif"))?;
    let records = ldif::parse(&bytes)?;
    assert_eq!(records.len(), 10);
    assert!(records
        .iter()
        .all(|r| matches!(r.body, RecordBody::Content(_))));

    let alice = records
        .iter()
        .find(|r| r.dn.starts_with("uid=alice"))
        .context("alice")?;
    let description = alice
        .attributes()
        .iter()
        .find(|a| a.is("description"))
        .context("desc")?;
    // slapcat folded this value at 76 columns; unfolding must restore it exactly.
    assert_eq!(
        description.text(),
        Some(
            "Alice has a long description so that slapcat has to fold this line over several \
             physical lines of the export, as RFC 2849 section 3 allows."
        )
    );
    let carol = records
        .iter()
        .find(|r| r.dn.starts_with("uid=carol"))
        .context("carol")?;
    let cn = carol
        .attributes()
        .iter()
        .find(|a| a.is("cn"))
        .context("cn")?;
    assert_eq!(cn.text(), Some("Carol Müller"));
    assert!(carol.attributes().iter().any(|a| a.is("entryUUID")));
    Ok(())
}

#[test]
fn the_listing_holds_the_mail_addresses_keyed_by_entry_uuid_and_reports_invalid_ones() -> Result<()>
{
    let path = fixture("slapcat-before.ldif");
    let listing = listing_of(&path, LdifSettings::new(&path))?;
    assert_eq!(
        addrs(&listing),
        [
            "Bob@example.org",
            "alice@example.org",
            "carol@example.org",
            "dave@example.org"
        ]
    );
    for entry in listing.entries.values() {
        let Origin::Ldif { key } = &entry.origin else {
            bail!("not an ldif origin")
        };
        // entryUUIDs: 36 characters, lower-cased.
        assert_eq!(key.len(), 36, "{key}");
        assert_eq!(key, &key.to_ascii_lowercase());
    }
    assert_eq!(listing.rejected.len(), 1, "{:?}", listing.rejected);
    assert!(listing.rejected[0].origin.contains("uid=broken"));
    assert!(listing.rejected[0].reason.contains("no '@'"));
    Ok(())
}

#[test]
fn extra_address_attributes_and_the_object_class_filter_are_configurable() -> Result<()> {
    let path = fixture("slapcat-before.ldif");
    let both = LdifSettings {
        attributes: vec!["mail".into(), "mailLocalAddress".into()],
        ..LdifSettings::new(&path)
    };
    let listing = listing_of(&path, both.clone())?;
    assert_eq!(listing.len(), 5);
    let alice = listing
        .entries
        .values()
        .find(|e| {
            e.addresses
                .iter()
                .any(|a| a.as_str() == "alice@example.org")
        })
        .context("alice")?;
    let alice_addrs: Vec<&str> = alice.addresses.iter().map(|a| a.as_str()).collect();
    assert_eq!(
        alice_addrs,
        ["alice@example.org", "alice.liddell@example.org"]
    );

    let only_local = LdifSettings {
        object_class: Some("inetlocalmailrecipient".into()),
        ..both
    };
    assert_eq!(
        addrs(&listing_of(&path, only_local)?),
        ["alice.liddell@example.org", "alice@example.org"]
    );
    Ok(())
}

#[test]
fn diffing_two_real_exports_sees_a_rename_as_a_change() -> Result<()> {
    for key in [KeyAttr::EntryUuid, KeyAttr::Dn] {
        let settings = |name: &str| LdifSettings {
            key,
            ..LdifSettings::new(fixture(name))
        };
        let before = listing_of(
            &fixture("slapcat-before.ldif"),
            settings("slapcat-before.ldif"),
        )?;
        let after = listing_of(
            &fixture("slapcat-after.ldif"),
            settings("slapcat-after.ldif"),
        )?;
        let events = diff(&before, &after);
        let summary: Vec<String> = events
            .iter()
            .map(|e| match e {
                SourceEvent::Changed { from, to, .. } => format!("changed {from} -> {to}"),
                SourceEvent::Present { address, .. } => format!("present {address}"),
                SourceEvent::Gone { address, .. } => format!("gone {address}"),
                SourceEvent::Listing { source, .. } => format!("listing {source}"),
            })
            .collect();
        assert_eq!(
            summary,
            [
                "changed carol@example.org -> carol.mueller@example.org",
                "present erin@example.org",
                "gone dave@example.org",
            ],
            "{key:?}"
        );
        if key == KeyAttr::Dn {
            let SourceEvent::Changed { key, .. } = &events[0] else {
                bail!("no change")
            };
            assert_eq!(key, "uid=carol,ou=people,dc=example,dc=org");
        }
    }
    Ok(())
}

/// Summarises `diff(before, after)` as text, one line per event.
fn diff_summary(before: &Path, after: &Path, key: KeyAttr) -> Result<Vec<String>> {
    let settings = |p: &Path| LdifSettings {
        key,
        ..LdifSettings::new(p)
    };
    let events = diff(
        &listing_of(before, settings(before))?,
        &listing_of(after, settings(after))?,
    );
    Ok(events
        .iter()
        .map(|e| match e {
            SourceEvent::Changed { from, to, .. } => format!("changed {from} -> {to}"),
            SourceEvent::Present { address, .. } => format!("present {address}"),
            SourceEvent::Gone { address, .. } => format!("gone {address}"),
            SourceEvent::Listing { source, .. } => format!("listing {source}"),
        })
        .collect())
}

#[test]
fn the_installed_slapd_still_exports_what_the_committed_fixtures_show() -> Result<()> {
    for tool in [
        "/usr/sbin/slapd",
        "/usr/sbin/slapcat",
        "/usr/bin/ldapmodify",
    ] {
        anyhow::ensure!(
            Path::new(tool).exists(),
            "{tool} is missing: apt-get install slapd ldap-utils (scripts/test.sh does)"
        );
    }
    let out = tempfile::tempdir()?;
    let status = std::process::Command::new("sh")
        .arg(fixture("make-slapcat-export.sh"))
        .arg(out.path())
        .output()?;
    anyhow::ensure!(
        status.status.success(),
        "make-slapcat-export.sh failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let (before, after) = (
        out.path().join("slapcat-before.ldif"),
        out.path().join("slapcat-after.ldif"),
    );
    for key in [KeyAttr::EntryUuid, KeyAttr::Dn] {
        assert_eq!(
            diff_summary(&before, &after, key)?,
            diff_summary(
                &fixture("slapcat-before.ldif"),
                &fixture("slapcat-after.ldif"),
                key
            )?
        );
    }
    // Same entries, same attributes; only entryUUIDs, CSNs and timestamps differ.
    let shape = |p: &Path| -> Result<Vec<(String, Vec<String>)>> {
        Ok(ldif::parse(&fs::read(p)?)?
            .into_iter()
            .map(|r| {
                (
                    r.dn.clone(),
                    r.attributes().iter().map(|a| a.name.clone()).collect(),
                )
            })
            .collect())
    };
    assert_eq!(shape(&before)?, shape(&fixture("slapcat-before.ldif"))?);
    Ok(())
}

#[test]
fn an_ldapsearch_export_without_entry_uuid_is_reported_unless_keyed_by_dn() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let path = tmp.path().join("users.ldif");
    // What `ldapsearch -LLL` writes without '+': user attributes only, lines folded at 76,
    // a base64 value, a comment.
    fs::write(
        &path,
        "# extended LDIF\n\
         dn: uid=alice,ou=People,dc=example,dc=org\n\
         mail: alice@exam\n ple.org\n\n\
         dn:: dWlkPWrDtnJnLG91PVBlb3BsZSxkYz1leGFtcGxlLGRjPW9yZw==\n\
         mail:: am9lcmdAZXhhbXBsZS5vcmc=\n",
    )?;
    let by_uuid = listing_of(&path, LdifSettings::new(&path))?;
    assert!(by_uuid.is_empty());
    assert_eq!(by_uuid.rejected.len(), 2);
    assert!(
        by_uuid.rejected[0].reason.contains("entryUUID"),
        "{:?}",
        by_uuid.rejected
    );

    let by_dn = listing_of(
        &path,
        LdifSettings {
            key: KeyAttr::Dn,
            ..LdifSettings::new(&path)
        },
    )?;
    assert_eq!(addrs(&by_dn), ["alice@example.org", "joerg@example.org"]);
    assert!(by_dn
        .entries
        .contains_key("uid=jörg,ou=people,dc=example,dc=org"));
    Ok(())
}

#[test]
fn malformed_exports_fail_with_the_file_and_line_and_change_logs_are_refused() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let path = tmp.path().join("bad.ldif");
    fs::write(
        &path,
        "dn: uid=a,dc=org\nmail: a@example.org\n\ndn: uid=b,dc=org\nmail:: ***\n",
    )?;
    let err = listing_of(&path, LdifSettings::new(&path)).unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("bad.ldif") && msg.contains("line 5") && msg.contains("base64"),
        "{msg}"
    );
    match err.downcast_ref::<SourceError>() {
        Some(SourceError::Ldif { source, .. }) => {
            assert_eq!(source.line, 5);
            assert!(matches!(source.kind, LdifErrorKind::BadBase64(_)));
        }
        other => bail!("unexpected {other:?}"),
    }

    fs::write(
        &path,
        "version: 1\n\ndn: uid=a,dc=org\nchangetype: delete\n",
    )?;
    let err = listing_of(&path, LdifSettings::new(&path)).unwrap_err();
    assert!(
        err.to_string().contains("delete change record at line 3"),
        "{err}"
    );

    fs::write(
        &path,
        "dn: uid=a,dc=org\nentryUUID: 1\nmail: a@example.org\n\n\
         dn: uid=b,dc=org\nentryUUID: 1\nmail: b@example.org\n",
    )?;
    let err = listing_of(&path, LdifSettings::new(&path)).unwrap_err();
    assert!(err.to_string().contains("lines 1 and 5"), "{err}");
    Ok(())
}

/// Replaces `target` the way a cron job should: write a temporary file, rename it over.
fn replace_atomically(target: &Path, content: &[u8]) -> Result<()> {
    let tmp = target.with_extension("tmp");
    fs::write(&tmp, content)?;
    fs::rename(&tmp, target)?;
    Ok(())
}

async fn collect(rx: &mut mpsc::Receiver<SourceEvent>, n: usize) -> Result<Vec<SourceEvent>> {
    let mut got = Vec::new();
    while got.len() < n {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(e)) => got.push(e),
            Ok(None) => bail!("watcher stopped; got {got:?}"),
            Err(_) => bail!("timed out after {got:?}"),
        }
    }
    Ok(got)
}

#[tokio::test]
async fn the_watcher_follows_atomic_replacement_and_refuses_a_truncated_export() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let path = tmp.path().join("directory.ldif");
    fs::copy(fixture("slapcat-before.ldif"), &path)?;
    let policy = GuardPolicy {
        max_removal_share: 0.25,
        ..GuardPolicy::default()
    };
    let source = LdifSource::new(LdifSettings::new(&path)).with_guard(policy);
    let mut health = source.health();
    let (tx, mut rx) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(source.watch(tx, cancel.clone()));

    let initial = collect(&mut rx, 4).await?;
    assert!(
        initial
            .iter()
            .all(|e| matches!(e, SourceEvent::Present { .. })),
        "{initial:?}"
    );

    // The nightly export: carol renamed, dave removed (1 of 4 = 25%, allowed), erin added.
    replace_atomically(&path, &fs::read(fixture("slapcat-after.ldif"))?)?;
    let events = collect(&mut rx, 3).await?;
    assert!(
        matches!(&events[0], SourceEvent::Changed { from, to, .. }
            if from.as_str() == "carol@example.org" && to.as_str() == "carol.mueller@example.org"),
        "{events:?}"
    );
    assert!(
        matches!(&events[1], SourceEvent::Present { address, .. } if address.as_str() == "erin@example.org")
    );
    assert!(
        matches!(&events[2], SourceEvent::Gone { address, .. } if address.as_str() == "dave@example.org")
    );

    // A half-written export is an error, reported, with nothing sent.
    replace_atomically(
        &path,
        b"dn: uid=alice,ou=People,dc=example,dc=org\nmail alice\n",
    )?;
    tokio::time::timeout(
        Duration::from_secs(10),
        health.wait_for(|h| h.last_error.is_some()),
    )
    .await
    .context("no error reported")??;
    assert!(health
        .borrow()
        .last_error
        .as_deref()
        .is_some_and(|e| e.contains("line 2")));

    // An export that lost everyone is refused by the guard: no Gone events.
    replace_atomically(&path, b"dn: dc=example,dc=org\nobjectClass: organization\n")?;
    tokio::time::timeout(
        Duration::from_secs(10),
        health.wait_for(|h| h.refused.is_some()),
    )
    .await
    .context("no refusal reported")??;
    let refusal = health.borrow().refused.clone().context("refusal")?;
    assert_eq!((refusal.known, refusal.would_remove), (4, 4));

    // The good export comes back: nothing changed from the last accepted state, no events;
    // then an edit in place (not atomic) is picked up too.
    replace_atomically(&path, &fs::read(fixture("slapcat-after.ldif"))?)?;
    tokio::time::timeout(
        Duration::from_secs(10),
        health.wait_for(|h| h.refused.is_none()),
    )
    .await
    .context("refusal not cleared")??;
    let mut text = fs::read_to_string(fixture("slapcat-after.ldif"))?;
    text.push_str(
        "\ndn: uid=frank,ou=People,dc=example,dc=org\nentryUUID: 0b6c6f4e-0000-4000-8000-000000000001\nmail: frank@example.org\n",
    );
    fs::write(&path, text)?;
    let events = collect(&mut rx, 1).await?;
    assert!(
        matches!(&events[0], SourceEvent::Present { address, .. } if address.as_str() == "frank@example.org"),
        "{events:?}"
    );
    assert!(rx.try_recv().is_err());

    cancel.cancel();
    task.await??;
    Ok(())
}

#[tokio::test]
async fn reading_the_export_does_not_make_the_watcher_reread_it() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let path = tmp.path().join("directory.ldif");
    fs::copy(fixture("slapcat-before.ldif"), &path)?;
    let source = LdifSource::new(LdifSettings::new(&path));
    let health = source.health();
    let (tx, mut rx) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(source.watch(tx, cancel.clone()));
    collect(&mut rx, 4).await?;
    // The watcher's own read of the file produces open/close events; they must not count.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = health.borrow().scans;
    let _ = fs::read(&path)?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        health.borrow().scans,
        before,
        "re-reads happened without any change"
    );
    cancel.cancel();
    task.await??;
    Ok(())
}
