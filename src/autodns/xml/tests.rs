//! The gateway codec: the reader's refusals as the codec reports them, and stable re-encoding.

use super::*;

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
