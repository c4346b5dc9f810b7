//! Checks the LDIF parser and DN normalisation on the exporters' variations.

use super::*;

fn content(input: &str) -> Vec<LdifRecord> {
    parse(input.as_bytes()).unwrap()
}

#[test]
fn folded_lines_are_joined_and_comments_dropped() {
    let recs = content(
        "version: 1\n# a comment\n#  folded\n  comment\ndn: uid=a,dc=ex\n ample,dc=org\n\
         description: one\n  two\nmail: a@example.org\n",
    );
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].dn, "uid=a,dc=example,dc=org");
    assert_eq!(recs[0].attributes()[0].value, b"one two");
    assert_eq!(recs[0].line, 5);
}

#[test]
fn base64_values_are_decoded_and_crlf_accepted() {
    let recs = content("dn:: dWlkPWPDpCxkYz1vcmc=\r\ncn:: Q2Fyb2wgTcO8bGxlcg==\r\n\r\n");
    assert_eq!(recs[0].dn, "uid=cä,dc=org");
    assert_eq!(recs[0].attributes()[0].text(), Some("Carol Müller"));
}

#[test]
fn url_values_are_refused_with_their_line() {
    let e = parse(b"dn: cn=x\ncn: x\njpegPhoto:< file:///etc/shadow\n").unwrap_err();
    assert_eq!(e.line, 3);
    assert!(matches!(e.kind, LdifErrorKind::UrlValueRefused(ref a) if a == "jpegPhoto"));
}

#[test]
fn change_records_of_every_kind_are_parsed() {
    let recs = content(
        "version: 1\n\
         dn: cn=a,dc=org\ncontrol: 1.2.840.113556.1.4.805 true\nchangetype: delete\n\n\
         dn: cn=b,dc=org\nchangetype: add\nmail: b@example.org\n\n\
         dn: cn=c,dc=org\nchangetype: modify\nreplace: mail\nmail: c@example.org\n-\n\
         delete: description\n-\n\n\
         dn: cn=d,dc=org\nchangetype: modrdn\nnewrdn: cn=e\ndeleteoldrdn: 1\n\
         newsuperior: ou=x,dc=org\n",
    );
    let kinds: Vec<_> = recs.iter().map(|r| r.change_type()).collect();
    assert_eq!(
        kinds,
        [Some("delete"), Some("add"), Some("modify"), Some("modrdn")]
    );
    match &recs[0].body {
        RecordBody::Delete { controls } => assert!(controls[0].criticality),
        other => panic!("{other:?}"),
    }
    match &recs[2].body {
        RecordBody::Modify { mods, .. } => {
            assert_eq!(mods.len(), 2);
            assert_eq!(mods[0].op, ModOp::Replace);
            assert_eq!(mods[0].values[0].value, b"c@example.org");
            assert_eq!(mods[1].values.len(), 0);
        }
        other => panic!("{other:?}"),
    }
    match &recs[3].body {
        RecordBody::ModDn {
            delete_old_rdn,
            new_superior,
            ..
        } => {
            assert!(*delete_old_rdn);
            assert_eq!(new_superior.as_deref(), Some("ou=x,dc=org"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_inputs_name_the_line_and_problem() {
    let cases: [(&str, usize, &str); 9] = [
        (" orphan\n", 1, "continues nothing"),
        ("version: 2\n\ndn: x\n", 1, "version"),
        ("cn: x\n", 1, "dn:"),
        ("dn: x\ncn x\n", 2, "no ':'"),
        ("dn: x\nc_n: y\n", 2, "attribute description"),
        ("dn: x\ncn:: !!!\n", 2, "base64"),
        ("dn: x\ncn: a\n\ndn: y\nchangetype: delete\n", 4, "not both"),
        (
            "dn: x\nchangetype: modify\nreplace: mail\nmail: a@b.c\n",
            3,
            "\"-\"",
        ),
        ("dn: x\nchangetype: rename\n", 2, "unknown changetype"),
    ];
    for (input, line, needle) in cases {
        let e = parse(input.as_bytes()).unwrap_err();
        assert_eq!(e.line, line, "{input:?}: {e}");
        assert!(e.to_string().contains(needle), "{input:?}: {e}");
    }
}

#[test]
fn a_mangled_line_is_not_echoed_into_the_error() {
    let e = parse(b"dn: uid=a\nuserPassword {SSHA}c2VjcmV0:x\n").unwrap_err();
    assert_eq!(e.line, 2);
    assert!(!e.to_string().contains("SSHA"), "{e}");
}

#[test]
fn password_values_never_appear_in_debug_output() {
    let recs = content("dn: uid=a\nuserPassword:: e1NTSEF9c2VjcmV0aGFzaA==\n");
    let shown = format!("{recs:?}");
    assert!(
        !shown.contains("SSHA") && !shown.contains("e1NTSEF9"),
        "{shown}"
    );
    assert!(shown.contains("userPassword: <redacted>"), "{shown}");
}

#[test]
fn a_byte_order_mark_and_a_padded_version_line_are_accepted() {
    let recs = parse(b"\xEF\xBB\xBFversion: 1 \ndn: cn=a\ncn: a\n").unwrap();
    assert_eq!(recs[0].dn, "cn=a");
    assert_eq!(recs[0].line, 2);
}

#[test]
fn dns_are_normalised_for_keys() {
    assert_eq!(
        normalize_dn("UID=Bob , ou=People,DC=example"),
        "uid=bob,ou=people,dc=example"
    );
    assert_eq!(normalize_dn("cn=a\\, b,dc=x"), "cn=a\\, b,dc=x");
}

/// The display name of the one entry of `ldif`, and the reasons of refused values, under
/// `settings` (keyed by DN).
fn name_of(ldif: &str, settings: LdifSettings) -> (Option<String>, Vec<String>) {
    let settings = LdifSettings {
        key: KeyAttr::Dn,
        ..settings
    };
    let listing =
        listing_from_records(&content(ldif), &settings, std::path::Path::new("x.ldif")).unwrap();
    let entry = listing.entries.values().next().expect("one entry");
    let reasons = listing
        .rejected
        .iter()
        .map(|r| format!("{}: {}", r.origin, r.reason))
        .collect();
    (
        entry.display_name.as_ref().map(|n| n.as_str().to_string()),
        reasons,
    )
}

fn defaults() -> LdifSettings {
    LdifSettings::new("x.ldif")
}

#[test]
fn the_display_name_comes_from_display_name_then_cn_then_given_name_and_sn() {
    let entry = |attrs: &str| format!("dn: uid=a,dc=org\nmail: a@example.org\n{attrs}\n");
    let all = entry("cn: Anna L.\ndisplayName: Anna Lima\ngivenName: Anna\nsn: Lima");
    assert_eq!(name_of(&all, defaults()).0.as_deref(), Some("Anna Lima"));
    // Base64 (`::`), as exporters write non-ASCII values.
    let b64 = entry("displayName:: SsO2cmcgTcO8bGxlcg==");
    assert_eq!(name_of(&b64, defaults()).0.as_deref(), Some("Jörg Müller"));
    let cn = entry("cn: Bo Berg\ncn: Bo");
    assert_eq!(name_of(&cn, defaults()).0.as_deref(), Some("Bo Berg"));
    let parts = entry("givenName: Cy\nsn: Corte Real");
    assert_eq!(
        name_of(&parts, defaults()).0.as_deref(),
        Some("Cy Corte Real")
    );
    let sn_only = entry("sn: Dahl");
    assert_eq!(name_of(&sn_only, defaults()).0.as_deref(), Some("Dahl"));
    assert_eq!(name_of(&entry(""), defaults()), (None, vec![]));
}

#[test]
fn the_name_attributes_are_configurable_and_an_empty_list_turns_names_off() {
    let ldif = "dn: uid=a,dc=org\nmail: a@example.org\ncn: Common\ngecos: Gecos Name\n\n";
    let gecos = LdifSettings {
        display_name_attributes: vec!["gecos".into()],
        ..defaults()
    };
    assert_eq!(name_of(ldif, gecos).0.as_deref(), Some("Gecos Name"));
    let off = LdifSettings {
        display_name_attributes: vec![],
        ..defaults()
    };
    assert_eq!(name_of(ldif, off), (None, vec![]));
}

#[test]
fn an_unusable_name_value_is_reported_with_its_reason_and_the_next_one_is_used() {
    // base64 of "Eve\r\nBcc: victim@example.net": a header injection attempt.
    let ldif = "dn: uid=e,dc=org\nmail: e@example.org\n\
                displayName:: RXZlDQpCY2M6IHZpY3RpbUBleGFtcGxlLm5ldA==\ncn: Eve Example\n\n";
    let (name, reasons) = name_of(ldif, defaults());
    assert_eq!(name.as_deref(), Some("Eve Example"));
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].contains("attribute displayName"), "{reasons:?}");
    assert!(reasons[0].contains("line break"), "{reasons:?}");
    assert!(
        !reasons[0].contains("victim"),
        "the value is not echoed: {reasons:?}"
    );

    // Not UTF-8, and too long: refused, and with nothing else the address greets.
    let latin1 = "dn: uid=f,dc=org\nmail: f@example.org\ndisplayName:: SvZyZw==\n\n";
    let (name, reasons) = name_of(latin1, defaults());
    assert_eq!(name, None);
    assert!(reasons[0].contains("not UTF-8"), "{reasons:?}");
    let long = format!(
        "dn: uid=g,dc=org\nmail: g@example.org\ncn: {}\n\n",
        "x".repeat(500)
    );
    let (name, reasons) = name_of(&long, defaults());
    assert_eq!(name, None);
    assert!(reasons[0].contains("500 characters"), "{reasons:?}");
    // The mailbox itself is listed all the same.
    let listing = listing_from_records(
        &content(latin1),
        &LdifSettings {
            key: KeyAttr::Dn,
            ..defaults()
        },
        std::path::Path::new("x.ldif"),
    )
    .unwrap();
    assert_eq!(listing.len(), 1);
}
