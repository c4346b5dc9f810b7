//! Every request and response survives an encode → decode round trip in both codecs.

use super::*;

#[test]
fn every_request_survives_a_json_round_trip() -> Result<()> {
    let mut tasks = all_tasks();
    tasks.push(Task::Hello);
    for task in tasks {
        let http = json::encode_request(&task)?;
        let back = json::decode_request(
            http.method,
            &http.path,
            http.body.as_deref().unwrap_or_default(),
        )
        .map_err(anyhow::Error::msg)?;
        assert_eq!(
            back,
            task,
            "{} via {} /{}",
            task.name(),
            http.method.as_str(),
            http.path
        );
    }
    Ok(())
}

#[test]
fn every_request_survives_an_xml_round_trip_with_its_auth_block_and_ctid() -> Result<()> {
    let auth = XmlAuth {
        user: "reseller".into(),
        password: Secret::new("p&ss<word>".into()),
        context: 9,
    };
    for task in all_tasks() {
        let req = Request {
            task,
            ctid: Some("smime-anna-gen1".into()),
        };
        let body = xml::encode_request(&auth, &req)?;
        let (a, back) = xml::decode_request(&body).map_err(anyhow::Error::msg)?;
        assert_eq!(a, auth);
        assert_eq!(back, req, "{}", req.task.name());
    }
    Ok(())
}

#[test]
fn hello_has_no_xml_form() {
    let auth = XmlAuth {
        user: "u".into(),
        password: Secret::new("p".into()),
        context: 4,
    };
    let r = xml::encode_request(
        &auth,
        &Request {
            task: Task::Hello,
            ctid: None,
        },
    );
    assert!(matches!(r, Err(Error::InvalidRequest { .. })));
}

fn both_ways<T>(env: Envelope<T>) -> Result<()>
where
    T: json::JsonPayload + xml::XmlPayload + PartialEq + std::fmt::Debug,
{
    let j = json::encode_response(&env);
    let back: Envelope<T> = json::decode_response("RoundTrip", 200, &j)?;
    assert_eq!(back, env, "JSON: {}", String::from_utf8_lossy(&j));
    let x = xml::encode_response(&env);
    let back: Envelope<T> = xml::decode_response("RoundTrip", 200, &x)?;
    assert_eq!(back, env, "XML: {}", String::from_utf8_lossy(&x));
    Ok(())
}

#[test]
fn every_response_survives_a_round_trip_in_both_codecs() -> Result<()> {
    let contact_obj = ResponseObject {
        kind: Some("SslContact".into()),
        value: Some("37791".into()),
        summary: None,
        data: None,
    };
    both_ways(envelope(
        "S400201",
        StatusType::Success,
        Some(contact_obj.clone()),
        vec![full_contact()],
    ))?;
    both_ways(envelope(
        "S400204",
        StatusType::Success,
        Some(contact_obj),
        vec![full_contact()],
    ))?;
    both_ways(envelope(
        "S400205",
        StatusType::Success,
        Some(ResponseObject {
            kind: Some("SslContact".into()),
            summary: Some(2),
            ..Default::default()
        }),
        vec![
            full_contact(),
            SslContact {
                id: Some(1),
                ..Default::default()
            },
        ],
    ))?;
    both_ways(envelope(
        "S400110",
        StatusType::Success,
        None,
        vec![full_certificate_data()],
    ))?;
    for code in ["N400101", "N400106", "N400102", "N400103"] {
        both_ways(envelope(
            code,
            StatusType::Notify,
            Some(certificate_object()),
            vec![full_job(JobStatus::Running)],
        ))?;
    }
    both_ways(envelope(
        "S400104",
        StatusType::Success,
        Some(certificate_object()),
        vec![full_certificate()],
    ))?;
    both_ways(envelope(
        "S400105",
        StatusType::Success,
        Some(ResponseObject {
            summary: Some(2),
            ..Default::default()
        }),
        vec![
            full_certificate(),
            Certificate {
                id: Some(5),
                name: Some("b@example.org".into()),
                ..Default::default()
            },
        ],
    ))?;
    both_ways(envelope(
        "S300114",
        StatusType::Success,
        Some(certificate_object()),
        vec![full_object_job()],
    ))?;
    both_ways(envelope(
        "S300115",
        StatusType::Success,
        Some(ResponseObject {
            kind: Some("ObjectJob".into()),
            summary: Some(2),
            ..Default::default()
        }),
        vec![
            full_object_job(),
            ObjectJob {
                job: Some(Job {
                    id: Some(4309872100),
                    status: Some(JobStatus::Running),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ],
    ))?;
    both_ways(envelope::<Void>(
        "S4001031",
        StatusType::Success,
        None,
        vec![],
    ))?;
    both_ways(envelope(
        "S0905",
        StatusType::Success,
        Some(ResponseObject {
            kind: Some("Message".into()),
            value: Some("1005360985".into()),
            summary: Some(3),
            data: None,
        }),
        vec![full_poll_message()],
    ))?;
    both_ways(envelope(
        "S0905",
        StatusType::Success,
        None,
        vec![notify_message()],
    ))?;
    both_ways(envelope::<Void>(
        "S0906",
        StatusType::Success,
        Some(ResponseObject {
            kind: Some("Message".into()),
            value: Some("1005360985".into()),
            summary: Some(0),
            data: None,
        }),
        vec![],
    ))?;
    // An error answer with nested messages and objects.
    let mut err = envelope::<Certificate>("E400104", StatusType::Error, None, vec![]);
    err.messages = full_poll_message().messages;
    both_ways(err)?;
    Ok(())
}

#[test]
fn json_requests_carry_the_search_columns_and_the_documented_routes() -> Result<()> {
    let list = json::encode_request(&Task::CertificateList(Query::equal(
        "name",
        "a@example.org",
    )))?;
    assert_eq!(
        (list.method, list.path.as_str()),
        (Method::Post, "certificate/_search")
    );
    assert!(list
        .query
        .contains(&("keys[]".to_string(), "name".to_string())));
    let body: serde_json::Value = serde_json::from_slice(list.body.as_deref().unwrap_or_default())?;
    assert_eq!(
        body,
        json!({"filters": [{"key": "name", "value": "a@example.org", "operator": "EQUAL"}]})
    );
    // The older spellings are still understood when reading requests.
    assert!(matches!(
        json::decode_request(Method::Post, "certificate/prepareOrder", b"{}"),
        Ok(Task::CertificatePrepareOrder(_))
    ));
    assert!(matches!(
        json::decode_request(Method::Delete, "certificate/5/_revoke", b"{}"),
        Ok(Task::CertificateRevoke(_))
    ));
    Ok(())
}

#[test]
fn an_order_body_in_xml_marks_mail_and_has_csr_and_wraps_pem_in_cdata() -> Result<()> {
    let auth = XmlAuth {
        user: "u".into(),
        password: Secret::new("p".into()),
        context: 9,
    };
    let body = xml::encode_request(
        &auth,
        &Request {
            task: Task::CertificateCreate(Box::new(full_certificate())),
            ctid: Some("c1".into()),
        },
    )?;
    let text = String::from_utf8(body)?;
    for needle in [
        "<code>400101</code>",
        "<ctid>c1</ctid>",
        "<certificate_type>MAIL</certificate_type>",
        "<has_csr>true</has_csr>",
        "<csr><![CDATA[-----BEGIN CERTIFICATE REQUEST-----",
        "<lifetime>24</lifetime>",
        "<approver_email><![CDATA[anna@example.org]]></approver_email>",
    ] {
        assert!(text.contains(needle), "{needle} missing in {text}");
    }
    assert!(
        !text.contains("<authentication>"),
        "an approver-only authentication is carried by <approver_email>"
    );
    assert!(text.contains("Admin &amp; &lt;Sons&gt;"));
    Ok(())
}

#[test]
fn a_certificate_id_wrapped_in_a_certificate_block_is_found_too() -> Result<()> {
    let body = br#"<message><id>5</id><job><id>6</id><status><type>success</type></status></job>
        <object><type>certificate</type><value>anna@example.org</value>
        <data><certificate><id>150</id><name>anna@example.org</name></certificate></data></object></message>"#;
    let m = parse_push(body)?;
    assert_eq!(
        (m.id, m.job_id(), m.certificate_id()),
        (Some(5), Some(6), Some(150))
    );
    assert!(m.is_success());
    Ok(())
}
