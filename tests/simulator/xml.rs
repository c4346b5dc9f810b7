//! The simulator's XML gateway over real HTTP: AutoDNS's documented sample requests (kept in
//! `tests/fixtures/simulator/`), the full order → poll → confirm → info flow, authentication
//! failures and hostile documents.

use anyhow::Result;
use support::ca::{csr_for, p256_pkey, rsa_pkey};
use support::simulator::*;

const R: &str = "response";

fn fixture(name: &str) -> Result<String> {
    let raw = std::fs::read_to_string(format!(
        "{}/tests/fixtures/simulator/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))?;
    Ok(raw
        .replace("<user>USER</user>", &format!("<user>{USER}</user>"))
        .replace(
            "<password>PASSWORD</password>",
            &format!("<password>{PASSWORD}</password>"),
        )
        .replace(
            "<context>CONTEXT</context>",
            &format!("<context>{CONTEXT}</context>"),
        ))
}

fn status_code(doc: &str) -> String {
    xml_text(doc, &[R, "result", "status", "code"]).unwrap_or_default()
}

async fn create_contact(xml: &Xml) -> Result<String> {
    let (http, doc) = xml.raw(&fixture("xml-contact-create.request.xml")?).await?;
    assert_eq!(http, 200);
    assert_eq!(status_code(&doc), "S400201", "{doc}");
    xml_text(&doc, &[R, "result", "status", "object", "value"])
}

#[tokio::test]
async fn the_reference_contact_create_sample_gets_the_reference_answer_shape() -> Result<()> {
    let sim = start(config()).await?;
    let xml = Xml::new(&sim);
    let (http, doc) = xml.raw(&fixture("xml-contact-create.request.xml")?).await?;
    assert_eq!(http, 200);
    assert_eq!(xml_text(&doc, &[R, "result", "status", "type"])?, "success");
    assert_eq!(
        xml_text(&doc, &[R, "result", "status", "object", "type"])?,
        "contact"
    );
    assert_eq!(
        xml_texts(&doc, &[R, "result", "data"]),
        [""],
        "empty <data/> as in the sample"
    );
    assert!(!xml_text(&doc, &[R, "stid"])?.is_empty());
    let id = xml_text(&doc, &[R, "result", "status", "object", "value"])?;
    let (_, info) = xml
        .task(&format!(
            "<code>400204</code><contact><id>{id}</id></contact>"
        ))
        .await?;
    assert_eq!(status_code(&info), "S400204");
    let c = [R, "result", "data", "contact"];
    assert_eq!(xml_text(&info, &[c[0], c[1], c[2], c[3], "first"])?, "Joe");
    assert_eq!(
        xml_text(&info, &[c[0], c[1], c[2], c[3], "postal_code"])?,
        "12345"
    );
    assert_eq!(
        xml_text(&info, &[c[0], c[1], c[2], c[3], "owner", "context"])?,
        "9"
    );
    let created = xml_text(&info, &[c[0], c[1], c[2], c[3], "created"])?;
    assert_eq!(
        created.len(),
        19,
        "XML dates are YYYY-MM-DD hh:mm:ss: {created}"
    );
    assert!(!created.contains('T'));
    Ok(())
}

#[tokio::test]
async fn the_reference_has_csr_false_sample_is_accepted_and_recorded_as_an_xml_order() -> Result<()>
{
    let sim = start(config()).await?;
    let xml = Xml::new(&sim);
    let contact = create_contact(&xml).await?;
    let body = fixture("xml-certificate-create.request.xml")?
        .replace(
            "<password>****</password>",
            "<password>Pickup12345</password>",
        )
        .replace("<id>100</id>", &format!("<id>{contact}</id>"));
    let (http, doc) = xml.raw(&body).await?;
    assert_eq!(http, 200);
    assert_eq!(status_code(&doc), "N400101", "{doc}");
    assert_eq!(xml_text(&doc, &[R, "result", "status", "type"])?, "notify");
    assert_eq!(
        xml_text(&doc, &[R, "result", "status", "object", "value"])?,
        "joe.sample@example.com"
    );
    assert_eq!(
        xml_text(
            &doc,
            &[R, "result", "data", "certificate_job", "job", "status"]
        )?,
        "RUNNING"
    );
    let orders = sim.orders();
    assert_eq!(orders.len(), 1);
    assert!(!orders[0].has_csr);
    assert_eq!(orders[0].transport, "xml");
    assert_eq!(orders[0].name, "joe.sample@example.com");
    Ok(())
}

#[tokio::test]
async fn an_xml_order_with_a_csr_flows_through_poll_confirm_and_info_with_the_chain() -> Result<()>
{
    let (cfg, clock) = manual_config();
    let sim = start(cfg).await?;
    let xml = Xml::new(&sim);
    let contact = create_contact(&xml).await?;
    let who = "dora@example.com";
    let csr = csr_for(&p256_pkey(), who);
    let (_, doc) = xml
        .task(&format!(
            "<code>400101</code><ctid>xml-ctid-7</ctid><certificate><certificate_type>MAIL</certificate_type>\
             <product>GLOBALSIGN_PERSONALSIGN_1</product><lifetime>24</lifetime><name><![CDATA[{who}]]></name>\
             <approver_email>{who}</approver_email><password>Download1234</password><has_csr>true</has_csr>\
             <csr><![CDATA[{csr}]]></csr><admin><id>{contact}</id></admin></certificate>"
        ))
        .await?;
    assert_eq!(status_code(&doc), "N400101", "{doc}");
    assert_eq!(xml_text(&doc, &[R, "ctid"])?, "xml-ctid-7");
    let job_id = xml_text(&doc, &[R, "result", "data", "certificate_job", "job", "id"])?;

    let (_, ji) = xml
        .task(&format!(
            "<code>400114</code><certificate_job><job><id>{job_id}</id></job></certificate_job>"
        ))
        .await?;
    assert_eq!(status_code(&ji), "S400114", "{ji}");
    assert_eq!(
        xml_text(
            &ji,
            &[R, "result", "data", "certificate_job", "job", "status"]
        )?,
        "RUNNING"
    );

    let (_, empty) = xml.task("<code>0905</code>").await?;
    assert_eq!(xml_text(&empty, &[R, "result", "data", "summary"])?, "0");
    assert!(xml_texts(&empty, &[R, "result", "data", "message"]).is_empty());

    clock.advance(time::Duration::seconds(1));
    let (_, poll) = xml.task("<code>0905</code>").await?;
    assert_eq!(status_code(&poll), "S0905");
    let m = [R, "result", "data", "message"];
    assert_eq!(xml_text(&poll, &[R, "result", "data", "summary"])?, "1");
    assert_eq!(
        xml_text(&poll, &[m[0], m[1], m[2], m[3], "job", "id"])?,
        job_id
    );
    assert_eq!(
        xml_text(&poll, &[m[0], m[1], m[2], m[3], "job", "status", "type"])?,
        "success"
    );
    assert_eq!(
        xml_text(&poll, &[m[0], m[1], m[2], m[3], "job", "status", "code"])?,
        "S400101"
    );
    assert_eq!(
        xml_text(&poll, &[m[0], m[1], m[2], m[3], "ctid"])?,
        "xml-ctid-7"
    );
    let cert_id = xml_text(
        &poll,
        &[
            m[0],
            m[1],
            m[2],
            m[3],
            "object",
            "data",
            "certificate",
            "id",
        ],
    )?;
    let msg_id = xml_text(&poll, &[m[0], m[1], m[2], m[3], "id"])?;
    let (_, again) = xml.task("<code>0905</code>").await?;
    assert_eq!(
        xml_text(&again, &[m[0], m[1], m[2], m[3], "id"])?,
        msg_id,
        "FIFO: same message until confirmed"
    );

    let (_, conf) = xml
        .task(&format!(
            "<code>0906</code><message><id>{msg_id}</id></message>"
        ))
        .await?;
    assert_eq!(status_code(&conf), "S0906");
    assert_eq!(xml_text(&conf, &[R, "result", "data", "summary"])?, "0");

    let (_, ji) = xml
        .task(&format!(
            "<code>400114</code><certificate_job><job><id>{job_id}</id></job></certificate_job>"
        ))
        .await?;
    assert_eq!(
        xml_text(&ji, &[R, "result", "msg", "code"])?,
        "EF300101",
        "finished jobs leave the active queue"
    );

    let (_, info) = xml
        .task(&format!(
            "<code>400104</code><certificate><id>{cert_id}</id></certificate>"
        ))
        .await?;
    assert_eq!(status_code(&info), "S400104");
    let c = [R, "result", "data", "certificate"];
    let server = xml_text(&info, &[c[0], c[1], c[2], c[3], "server"])?;
    assert!(server.starts_with("-----BEGIN CERTIFICATE-----"));
    let cas = xml_texts(
        &info,
        &[
            c[0],
            c[1],
            c[2],
            c[3],
            "certification_authority",
            "ca_certificate",
        ],
    );
    assert_eq!(cas.len(), 2);
    assert_eq!(cas[0].trim(), sim.ca_chain_pem()[0].trim());
    assert_eq!(
        xml_texts(
            &info,
            &[c[0], c[1], c[2], c[3], "certification_authority", "ca_type"]
        ),
        ["INTERMEDIATE", "ROOT"]
    );
    assert_eq!(
        xml_text(&info, &[c[0], c[1], c[2], c[3], "lifetime"])?,
        "24"
    );
    assert_eq!(xml_text(&info, &[c[0], c[1], c[2], c[3], "sha"])?, "SHA2");
    assert_eq!(
        xml_text(&info, &[c[0], c[1], c[2], c[3], "admin", "id"])?,
        contact
    );

    let (_, list) = xml
        .task("<code>400105</code><where><key>name</key><operator>like</operator><value>dora@*</value></where><key>expire</key>")
        .await?;
    assert_eq!(status_code(&list), "S400105", "{list}");
    assert_eq!(xml_text(&list, &[R, "result", "data", "summary"])?, "1");
    assert_eq!(
        xml_text(&list, &[R, "result", "data", "certificate", "id"])?,
        cert_id
    );
    assert!(!xml_text(&list, &[R, "result", "data", "certificate", "expire"])?.is_empty());
    Ok(())
}

#[tokio::test]
async fn the_info_sample_for_an_unknown_id_is_an_error_with_http_200() -> Result<()> {
    let sim = start(config()).await?;
    let xml = Xml::new(&sim);
    let (http, doc) = xml
        .raw(&fixture("xml-certificate-info.request.xml")?)
        .await?;
    assert_eq!(http, 200);
    assert_eq!(status_code(&doc), "E400104");
    assert_eq!(xml_text(&doc, &[R, "result", "status", "type"])?, "error");
    assert_eq!(xml_text(&doc, &[R, "result", "msg", "code"])?, "EF4001041");
    Ok(())
}

#[tokio::test]
async fn wrong_xml_credentials_are_an_error_document_not_an_http_error() -> Result<()> {
    let sim = start(config()).await?;
    let xml = Xml::new(&sim);
    for (user, pass, ctx) in [
        (USER, "wrong", "9"),
        ("nobody", PASSWORD, "9"),
        (USER, PASSWORD, "1"),
        (USER, PASSWORD, ""),
    ] {
        let (http, doc) = xml
            .raw(&format!(
                "<request><auth><user>{user}</user><password>{pass}</password><context>{ctx}</context></auth>\
                 <task><code>0905</code></task></request>"
            ))
            .await?;
        assert_eq!(http, 200);
        assert_eq!(status_code(&doc), "E0905");
        assert_eq!(xml_text(&doc, &[R, "result", "msg", "code"])?, "EF00010");
    }
    let (_, doc) = xml
        .raw("<request><task><code>0905</code></task></request>")
        .await?;
    assert_eq!(
        xml_text(&doc, &[R, "result", "msg", "code"])?,
        "EF00010",
        "no <auth> block at all"
    );
    Ok(())
}

#[tokio::test]
async fn hostile_or_broken_documents_are_refused_without_expanding_anything() -> Result<()> {
    let sim = start(config()).await?;
    let xml = Xml::new(&sim);
    let auth = format!(
        "<auth><user>{USER}</user><password>{PASSWORD}</password><context>9</context></auth>"
    );
    let cases = [
        format!("<?xml version=\"1.0\"?><!DOCTYPE request [<!ENTITY x \"xxxxxxxx\"><!ENTITY y \"&x;&x;&x;&x;\">]><request>{auth}<task><code>&y;</code></task></request>"),
        format!("<request>{auth}<task><code>0905</code></task>"),
        "<html><body>not xml at all".to_string(),
        String::new(),
        format!("\u{feff}<request>{auth}<task><code>0905</code></task></request>"),
        format!("<request>{auth}<task><code>&ext;</code></task></request>"),
    ];
    for body in cases {
        let (http, doc) = xml.raw(&body).await?;
        assert_eq!(http, 200, "{body}");
        assert_eq!(
            xml_text(&doc, &[R, "result", "status", "type"])?,
            "error",
            "{body}"
        );
        assert_eq!(
            xml_text(&doc, &[R, "result", "msg", "code"])?,
            "EF00001",
            "{body}: {doc}"
        );
    }
    let (_, doc) = xml.task("<code>999999</code>").await?;
    assert_eq!(xml_text(&doc, &[R, "result", "msg", "code"])?, "EF00002");
    // The /gateway path is the same gateway.
    let r = xml
        .http
        .post(format!("{}gateway", xml.url))
        .body(format!(
            "<request>{auth}<task><code>0905</code></task></request>"
        ))
        .send()
        .await?;
    let doc = r.text().await?;
    assert_eq!(status_code(&doc), "S0905");
    Ok(())
}

#[tokio::test]
async fn xml_contact_update_delete_and_prepare_order_work_like_json() -> Result<()> {
    let sim = start(config()).await?;
    let xml = Xml::new(&sim);
    let id = create_contact(&xml).await?;
    let (_, up) = xml
        .task(&format!(
            "<code>400202</code><contact><id>{id}</id><city>Regensburg</city></contact>"
        ))
        .await?;
    assert_eq!(status_code(&up), "S400202");
    let (_, list) = xml.task("<code>400205</code><key>city</key>").await?;
    assert_eq!(xml_text(&list, &[R, "result", "data", "summary"])?, "1");
    assert_eq!(
        xml_text(&list, &[R, "result", "data", "contact", "city"])?,
        "Regensburg"
    );
    let (_, del) = xml
        .task(&format!(
            "<code>400203</code><contact><id>{id}</id></contact>"
        ))
        .await?;
    assert_eq!(status_code(&del), "S400203");

    let csr = csr_for(&rsa_pkey(), "eve@example.com");
    let (_, prep) = xml
        .task(&format!("<code>400110</code><certificate_request><product>GLOBALSIGN_PERSONALSIGN_1</product><plain><![CDATA[{csr}]]></plain></certificate_request>"))
        .await?;
    assert_eq!(status_code(&prep), "S400110", "{prep}");
    let cr = [R, "result", "data", "certificate_request"];
    assert_eq!(
        xml_text(&prep, &[cr[0], cr[1], cr[2], cr[3], "algorithm"])?,
        "RSA"
    );
    assert_eq!(
        xml_text(&prep, &[cr[0], cr[1], cr[2], cr[3], "key_size"])?,
        "2048"
    );
    assert_eq!(
        xml_text(
            &prep,
            &[
                cr[0],
                cr[1],
                cr[2],
                cr[3],
                "authentication",
                "approver_email"
            ]
        )?,
        "eve@example.com"
    );
    Ok(())
}

#[tokio::test]
async fn xml_renew_reissue_revoke_and_delete_act_on_an_issued_certificate() -> Result<()> {
    let (cfg, clock) = manual_config();
    let sim = start(cfg).await?;
    let xml = Xml::new(&sim);
    let contact = create_contact(&xml).await?;
    let who = "finn@example.com";
    let order = |code: &str, extra: String| {
        format!("<code>{code}</code><certificate>{extra}<password>Download1234</password><admin><id>{contact}</id></admin></certificate>")
    };
    let csr = csr_for(&p256_pkey(), who);
    let (_, doc) = xml
        .task(&order(
            "400101",
            format!("<certificate_type>MAIL</certificate_type><product>GLOBALSIGN_PERSONALSIGN_1</product><lifetime>12</lifetime><name>{who}</name><has_csr>true</has_csr><csr><![CDATA[{csr}]]></csr>"),
        ))
        .await?;
    assert_eq!(status_code(&doc), "N400101", "{doc}");
    clock.advance(time::Duration::seconds(1));
    let (_, poll) = xml.task("<code>0905</code>").await?;
    let m = [R, "result", "data", "message"];
    let cert_id = xml_text(
        &poll,
        &[
            m[0],
            m[1],
            m[2],
            m[3],
            "object",
            "data",
            "certificate",
            "id",
        ],
    )?;
    let msg_id = xml_text(&poll, &[m[0], m[1], m[2], m[3], "id"])?;
    xml.task(&format!(
        "<code>0906</code><message><id>{msg_id}</id></message>"
    ))
    .await?;
    let serial = |doc: &str| xml_text(doc, &[R, "result", "data", "certificate", "serial_number"]);
    let info = |xml: Xml, id: String| async move {
        xml.task(&format!(
            "<code>400104</code><certificate><id>{id}</id></certificate>"
        ))
        .await
    };
    let first = serial(&info(xml.clone(), cert_id.clone()).await?.1)?;

    let (_, r) = xml
        .task(&format!("<code>400106</code><certificate><id>{cert_id}</id><csr><![CDATA[{}]]></csr></certificate>", csr_for(&p256_pkey(), who)))
        .await?;
    assert_eq!(status_code(&r), "N400106", "{r}");
    clock.advance(time::Duration::seconds(1));
    let renewed = info(xml.clone(), cert_id.clone()).await?.1;
    assert_ne!(serial(&renewed)?, first);
    assert_eq!(
        xml_text(
            &renewed,
            &[
                R,
                "result",
                "data",
                "certificate",
                "history",
                "serial_number"
            ]
        )?,
        first
    );

    let (_, r) = xml
        .task(&format!("<code>400102</code><certificate><id>{cert_id}</id><csr><![CDATA[{}]]></csr></certificate>", csr_for(&rsa_pkey(), who)))
        .await?;
    assert_eq!(status_code(&r), "N400102", "{r}");
    clock.advance(time::Duration::seconds(1));
    let reissued = info(xml.clone(), cert_id.clone()).await?.1;
    assert_eq!(
        xml_texts(
            &reissued,
            &[
                R,
                "result",
                "data",
                "certificate",
                "history",
                "serial_number"
            ]
        )
        .len(),
        2
    );

    let (_, r) = xml.task(&format!("<code>4001031</code><certificate><id>{cert_id}</id><serial_number>{first}</serial_number></certificate>")).await?;
    assert_eq!(status_code(&r), "E4001031");
    assert_eq!(xml_text(&r, &[R, "result", "msg", "code"])?, "EF4001031");

    let (_, r) = xml
        .task(&format!(
            "<code>400103</code><certificate><id>{cert_id}</id></certificate>"
        ))
        .await?;
    assert_eq!(status_code(&r), "N400103");
    assert_eq!(
        xml_text(
            &r,
            &[R, "result", "data", "certificate_job", "job", "status"]
        )?,
        "RUNNING"
    );
    clock.advance(time::Duration::seconds(1));
    let gone = info(xml.clone(), cert_id.clone()).await?.1;
    assert_eq!(status_code(&gone), "E400104");
    let tasks: Vec<String> = sim
        .orders()
        .into_iter()
        .map(|o| format!("{}:{}:{}", o.task, o.transport, o.status))
        .collect();
    assert_eq!(
        tasks,
        [
            "create:xml:SUCCESS",
            "renew:xml:SUCCESS",
            "reissue:xml:SUCCESS"
        ]
    );
    Ok(())
}

#[tokio::test]
async fn the_xml_job_list_and_history_tasks_filter_page_and_name_the_ctid() -> Result<()> {
    let (cfg, clock) = manual_config();
    let sim = start(cfg).await?;
    let xml = Xml::new(&sim);
    let contact = create_contact(&xml).await?;
    let key = p256_pkey();
    let mut jobs = Vec::new();
    for (who, ctid) in [("eva@example.com", "x-eva"), ("fin@example.com", "x-fin")] {
        let csr = csr_for(&key, who);
        let (_, doc) = xml
            .task(&format!(
                "<code>400101</code><ctid>{ctid}</ctid><certificate><certificate_type>MAIL</certificate_type>\
                 <product>GLOBALSIGN_PERSONALSIGN_1</product><lifetime>12</lifetime><name>{who}</name>\
                 <approver_email>{who}</approver_email><password>Download1234</password><has_csr>true</has_csr>\
                 <csr><![CDATA[{csr}]]></csr><admin><id>{contact}</id></admin></certificate>"
            ))
            .await?;
        assert_eq!(status_code(&doc), "N400101", "{doc}");
        jobs.push(xml_text(
            &doc,
            &[R, "result", "data", "certificate_job", "job", "id"],
        )?);
    }
    let job = [R, "result", "data", "certificate_job", "job"];
    let at = |leaf: &'static str| [job[0], job[1], job[2], job[3], job[4], leaf];

    // One job per page, the total in `<summary>` (the job list's reply shape).
    let (http, p1) = xml
        .task("<code>400115</code><view><limit>1</limit><offset>0</offset></view>")
        .await?;
    assert_eq!(http, 200);
    assert_eq!(status_code(&p1), "S400115", "{p1}");
    assert_eq!(xml_text(&p1, &[R, "result", "data", "summary"])?, "2");
    assert_eq!(xml_texts(&p1, &at("id")), [jobs[0].clone()]);
    let (_, p2) = xml
        .task("<code>400115</code><view><limit>1</limit><offset>1</offset></view>")
        .await?;
    assert_eq!(xml_texts(&p2, &at("id")), [jobs[1].clone()]);

    // By name: the job names its certificate, state and the order's ctid.
    let (_, fin) = xml
        .task(
            "<code>400115</code><where><key>object</key><operator>eq</operator>\
             <value>fin@example.com</value></where>",
        )
        .await?;
    assert_eq!(xml_text(&fin, &[R, "result", "data", "summary"])?, "1");
    assert_eq!(xml_text(&fin, &at("id"))?, jobs[1]);
    assert_eq!(xml_text(&fin, &at("object"))?, "fin@example.com");
    assert_eq!(xml_text(&fin, &at("status"))?, "RUNNING");
    assert_eq!(xml_text(&fin, &at("type"))?, "ssl");
    assert_eq!(xml_text(&fin, &at("ctid"))?, "x-fin");

    // An unknown key is an error document (HTTP 200, as AutoDNS answers one), not an empty list.
    let (http, bad) = xml
        .task("<code>400115</code><where><key>ctid</key><operator>eq</operator><value>x-fin</value></where>")
        .await?;
    assert_eq!(http, 200);
    assert_eq!(status_code(&bad), "E400115", "{bad}");
    assert_eq!(xml_text(&bad, &[R, "result", "msg", "code"])?, "EF00022");

    // Finished jobs are in the history list (400135), not the active one.
    let (_, none) = xml.task("<code>400135</code>").await?;
    assert_eq!(xml_text(&none, &[R, "result", "data", "summary"])?, "0");
    clock.advance(time::Duration::seconds(1));
    let (_, active) = xml.task("<code>400115</code>").await?;
    assert_eq!(xml_text(&active, &[R, "result", "data", "summary"])?, "0");
    let (_, done) = xml
        .task(
            "<code>400135</code><where><key>object</key><operator>eq</operator>\
             <value>eva@example.com</value></where>",
        )
        .await?;
    assert_eq!(status_code(&done), "S400135", "{done}");
    assert_eq!(xml_text(&done, &at("id"))?, jobs[0]);
    assert_eq!(xml_text(&done, &at("status"))?, "SUCCESS");
    assert_eq!(xml_text(&done, &at("ctid"))?, "x-eva");
    Ok(())
}
