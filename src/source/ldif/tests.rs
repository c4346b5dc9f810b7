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
