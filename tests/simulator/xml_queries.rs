//! The XML gateway's list inquiries as InterNetX's "List Inquire" / "Running List Inquiries"
//! help pages document them (`docs/autodns-api.md` §1.13): one condition directly in `<where>`,
//! several as `<and>` children, the seven documented operators (`eq ne like gt lt ge le`), and
//! columns beyond a list row's default (`id`, `name`) only when asked with `<key>` in the task.
//! The shape our client used to send (a condition and `<and>` children mixed in one `<where>`) and
//! the JSON operator names are refused with a clear error, as the simulator must not accept what
//! the real gateway would not.

use anyhow::Result;
use smime_provisioner::simulator::SimulatorHandle;
use support::ca::{csr_for, p256_pkey};
use support::simulator::*;

const R: &str = "response";

fn status_code(doc: &str) -> String {
    xml_text(doc, &[R, "result", "status", "code"]).unwrap_or_default()
}

/// A simulator holding two ordered certificates (`ann@…`, `bob@…`); returns it with its gateway.
async fn two_certificates() -> Result<(SimulatorHandle, Xml)> {
    let sim = start(config()).await?;
    let xml = Xml::new(&sim);
    let (_, c) = xml
        .task(
            "<code>400201</code><contact><first>Joe</first><last>Sample</last>\
             <phone>+49-941-1234560</phone><email>joe@example.com</email><title>Admin</title>\
             <organization>Example</organization><address>Street 1</address>\
             <postal_code>12345</postal_code><city>City</city><country>DE</country>\
             <state>Bayern</state></contact>",
        )
        .await?;
    let contact = xml_text(&c, &[R, "result", "status", "object", "value"])?;
    let key = p256_pkey();
    for who in ["ann@example.com", "bob@example.com"] {
        let csr = csr_for(&key, who);
        let (_, doc) = xml
            .task(&format!(
                "<code>400101</code><certificate><certificate_type>MAIL</certificate_type>\
                 <product>GLOBALSIGN_PERSONALSIGN_1</product><lifetime>12</lifetime>\
                 <name>{who}</name><approver_email>{who}</approver_email>\
                 <password>Download1234</password><has_csr>true</has_csr>\
                 <csr><![CDATA[{csr}]]></csr><admin><id>{contact}</id></admin></certificate>"
            ))
            .await?;
        assert_eq!(status_code(&doc), "N400101", "{doc}");
    }
    Ok((sim, xml))
}

const ROW: [&str; 4] = [R, "result", "data", "certificate"];

fn row(leaf: &'static str) -> [&'static str; 5] {
    [ROW[0], ROW[1], ROW[2], ROW[3], leaf]
}

#[tokio::test]
async fn a_certificate_list_row_carries_created_only_when_asked_with_a_key() -> Result<()> {
    let (sim, xml) = two_certificates().await?;
    let by_name = "<where><key>name</key><operator>eq</operator><value>ann@example.com</value>\
                   </where>";
    let (_, plain) = xml.task(&format!("<code>400105</code>{by_name}")).await?;
    assert_eq!(status_code(&plain), "S400105", "{plain}");
    assert_eq!(xml_texts(&plain, &row("name")), ["ann@example.com"]);
    assert!(
        xml_texts(&plain, &row("created")).is_empty(),
        "no <key>created</key>, no created column: {plain}"
    );
    let (_, keyed) = xml
        .task(&format!("<code>400105</code><key>created</key>{by_name}"))
        .await?;
    assert_eq!(status_code(&keyed), "S400105", "{keyed}");
    let created = xml_texts(&keyed, &row("created"));
    assert_eq!(created.len(), 1, "{keyed}");
    assert!(created[0].len() == 19 && created[0].as_bytes()[10] == b' ');
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn several_conditions_as_and_children_of_where_select_by_all_of_them() -> Result<()> {
    let (sim, xml) = two_certificates().await?;
    let cond = |k: &str, op: &str, v: &str| {
        format!("<and><key>{k}</key><operator>{op}</operator><value>{v}</value></and>")
    };
    // The SSL manual's form (an `<and>` under `<where>`, one `<and>` per condition inside it) and
    // the domain example's form (the conditions' `<and>`s directly under `<where>`).
    let conds = cond("name", "like", "*@example.com") + &cond("name", "ne", "bob@example.com");
    for body in [
        format!("<where><and>{conds}</and></where>"),
        format!("<where>{conds}</where>"),
    ] {
        let (_, doc) = xml
            .task(&format!("<code>400105</code><key>created</key>{body}"))
            .await?;
        assert_eq!(status_code(&doc), "S400105", "{body}: {doc}");
        assert_eq!(xml_texts(&doc, &row("name")), ["ann@example.com"], "{body}");
    }
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn the_old_where_shape_mixing_a_condition_with_and_children_is_refused() -> Result<()> {
    let (sim, xml) = two_certificates().await?;
    // What the client sent before: the first condition in `<where>` itself, further ones in
    // `<and>` children beside it.
    let (http, doc) = xml
        .task(
            "<code>400105</code><where><key>name</key><operator>eq</operator>\
             <value>ann@example.com</value><and><key>name</key><operator>like</operator>\
             <value>*@example.com</value></and></where>",
        )
        .await?;
    assert_eq!(http, 200, "errors come as a document with HTTP 200");
    assert_eq!(status_code(&doc), "E400105", "{doc}");
    let text = xml_text(&doc, &[R, "result", "msg", "text"])?;
    assert!(
        text.contains("<where>") && text.contains("<and>"),
        "the error says what is wrong: {text}"
    );
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn only_the_documented_operator_spellings_are_accepted() -> Result<()> {
    let (sim, xml) = two_certificates().await?;
    let ask = |op: &str| {
        format!(
            "<code>400105</code><where><key>name</key><operator>{op}</operator>\
             <value>ann@example.com</value></where>"
        )
    };
    for op in ["eq", "ne", "like", "gt", "lt", "ge", "le"] {
        let (_, doc) = xml.task(&ask(op)).await?;
        assert_eq!(status_code(&doc), "S400105", "{op}: {doc}");
    }
    // The JSON names (the old client sent `greater_equal` for GREATER_EQUAL) are not XML.
    for op in ["greater_equal", "EQUAL", "ilike"] {
        let (_, doc) = xml.task(&ask(op)).await?;
        assert_eq!(status_code(&doc), "E400105", "{op}: {doc}");
        let text = xml_text(&doc, &[R, "result", "msg", "text"])?;
        assert!(
            text.contains("eq, ne, like, gt, lt, ge, le"),
            "{op}: {text}"
        );
    }
    sim.shutdown().await;
    Ok(())
}
