//! The gateway codec: the reader's refusals as the codec reports them, stable re-encoding, and
//! the list inquiries' shape.

use super::*;
use crate::secret::Secret;

#[test]
fn predefined_and_character_references_are_decoded() {
    let e = parse_document(b"<a>x &lt;&amp;&gt; &#65;&#x42;</a>").unwrap_or_default();
    assert_eq!(e.text, "x <&> AB");
}

#[test]
fn an_undeclared_entity_is_refused_not_expanded() {
    let err = parse_document(b"<a>&xxe;</a>").err().unwrap_or_default();
    assert!(err.contains("undeclared entity &xxe;"), "{err}");
}

#[test]
fn a_doctype_is_refused() {
    let body = br#"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "boom">]><a>&e;</a>"#;
    let err = parse_document(body).err().unwrap_or_default();
    assert!(err.contains("DOCTYPE"), "{err}");
}

#[test]
fn truncated_documents_and_deep_nesting_are_errors() {
    assert!(parse_document(b"<response><result><data>").is_err());
    let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
    assert!(parse_document(deep.as_bytes()).is_err());
    assert!(parse_document(b"").is_err());
    assert!(parse_document(b"<a/><b/>").is_err());
}

#[test]
fn an_empty_status_object_reads_as_none_so_decoding_is_stable_under_re_encoding() {
    // Found by the autodns_xml fuzz target.
    let body = b"<response><result><data/><status><code>S400201</code><type>success</type>\
                 <object>\n</object></status></result></response>";
    let env = decode_response::<Void>("T", 200, body).ok();
    assert_eq!(env.as_ref().map(|e| e.object.is_none()), Some(true));
    let again = env.as_ref().map(encode_response);
    let back = again.and_then(|b| decode_response::<Void>("T", 200, &b).ok());
    assert_eq!(back, env);
}

#[test]
fn cdata_containing_the_end_marker_survives_a_write_read_cycle() {
    let mut e = Element::leaf("csr", "a]]>b");
    e.cdata = true;
    let mut s = String::new();
    e.write_to(&mut s);
    assert_eq!(
        parse_document(s.as_bytes()).map(|e| e.text),
        Ok("a]]>b".to_string())
    );
}

// List inquiries as the "List Inquire" help pages document them (`autodns-api.md` §1.13).

fn encoded_task(task: Task) -> Result<Element, String> {
    let auth = XmlAuth {
        user: "u".into(),
        password: Secret::new("p".into()),
        context: 9,
    };
    let body = encode_request(&auth, &Request { task, ctid: None }).map_err(|e| e.to_string())?;
    let root = parse_document(&body)?;
    root.child("task")
        .cloned()
        .ok_or_else(|| "no <task>".into())
}

fn cond_of(e: &Element) -> (String, String, String) {
    let t = |n: &str| e.text_of(n).unwrap_or_default();
    (t("key"), t("operator"), t("value"))
}

fn triple(k: &str, o: &str, v: &str) -> (String, String, String) {
    (k.into(), o.into(), v.into())
}

#[test]
fn one_condition_goes_in_where_itself_and_several_as_and_children_of_an_and() {
    let one = encoded_task(Task::CertificateList(Query::equal("name", "a@b.c")));
    let w = one.as_ref().ok().and_then(|t| t.child("where"));
    assert_eq!(w.map(cond_of), Some(triple("name", "eq", "a@b.c")));
    assert_eq!(w.map(|w| w.children_named("and").count()), Some(0));

    let q = Query::equal("object", "a@b.c").and("created", "GREATER_EQUAL", "2026-01-01 00:00:00");
    let two = encoded_task(Task::JobList(q));
    let w = two.as_ref().ok().and_then(|t| t.child("where"));
    assert_eq!(
        w.and_then(|w| w.text_of("key")),
        None,
        "no condition beside the <and>s"
    );
    let group: Vec<&Element> = w
        .map(|w| w.children_named("and").collect())
        .unwrap_or_default();
    assert_eq!(group.len(), 1, "one <and> under <where>");
    let conds: Vec<_> = group[0].children_named("and").map(cond_of).collect();
    assert_eq!(
        conds,
        [
            triple("object", "eq", "a@b.c"),
            triple("created", "ge", "2026-01-01 00:00:00")
        ]
    );
}

#[test]
fn operators_take_the_gateway_spelling_and_like_takes_star_wildcards() {
    for (json, xml) in [
        ("EQUAL", "eq"),
        ("NOT_EQUAL", "ne"),
        ("LIKE", "like"),
        ("GREATER", "gt"),
        ("LESS", "lt"),
        ("GREATER_EQUAL", "ge"),
        ("LESS_EQUAL", "le"),
    ] {
        let q = Query::default().and("name", json, "x%");
        let t = encoded_task(Task::CertificateList(q));
        let w = t.as_ref().ok().and_then(|t| t.child("where"));
        let want = if xml == "like" { "x*" } else { "x%" };
        assert_eq!(w.map(cond_of), Some(triple("name", xml, want)), "{json}");
    }
    let q = Query::default().and("name", "ILIKE", "x%");
    let err = encoded_task(Task::CertificateList(q))
        .err()
        .unwrap_or_default();
    assert!(err.contains("ILIKE"), "{err}");
}

#[test]
fn list_tasks_ask_for_the_columns_their_callers_read_with_key() {
    let keys = |task: Task| -> Vec<String> {
        encoded_task(task)
            .map(|t| t.children_named("key").map(|k| k.text.clone()).collect())
            .unwrap_or_default()
    };
    let certs = keys(Task::CertificateList(Query::equal("name", "a@b.c")));
    assert!(certs.iter().any(|k| k == "created"), "{certs:?}");
    let jobs = keys(Task::JobHistoryList(Query::default()));
    assert!(jobs.iter().any(|k| k == "created"), "{jobs:?}");
    let contacts = keys(Task::SslContactList(Query::default()));
    assert!(contacts.iter().any(|k| k == "email"), "{contacts:?}");
}

#[test]
fn the_old_mixed_where_shape_is_refused_when_decoding_a_request() {
    let body = b"<request><auth><user>u</user><password>p</password><context>4</context></auth>\
        <task><code>400105</code><where><key>name</key><operator>eq</operator><value>a</value>\
        <and><key>id</key><operator>eq</operator><value>1</value></and></where></task></request>";
    let err = decode_request(body).err().unwrap_or_default();
    assert!(err.contains("<where>") && err.contains("<and>"), "{err}");
}
