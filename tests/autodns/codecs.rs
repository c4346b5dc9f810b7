//! Codec tests of the AutoDNS client: every sample from the reference (copied into
//! `tests/fixtures/autodns/`) decodes into the expected model values, every request and response
//! survives an encode → decode round trip in both codecs, and bad bodies become typed errors.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde_json::json;
use smime_provisioner::autodns::json::{self, Method};
use smime_provisioner::autodns::model::*;
use smime_provisioner::autodns::xml::{self, XmlAuth};
use smime_provisioner::autodns::{parse_push, ApiError, Error, ErrorKind};
use smime_provisioner::secret::Secret;
use time::macros::datetime;

fn fixture(name: &str) -> Result<Vec<u8>> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/autodns")
        .join(name);
    std::fs::read(&p).with_context(|| format!("reading {}", p.display()))
}

/// The reference's XML request samples are templates with `<context>CONTEXT</context>`.
fn template_with_context(name: &str) -> Result<Vec<u8>> {
    let text = String::from_utf8(fixture(name)?)?;
    Ok(text
        .replace("<context>CONTEXT</context>", "<context>9</context>")
        .into_bytes())
}

fn zoned(s: &str) -> Option<Timestamp> {
    Timestamp::parse(s)
}

// ---------------------------------------------------------------------------------------------
// The reference samples
// ---------------------------------------------------------------------------------------------

#[test]
fn the_json_certificate_info_sample_decodes_into_a_certificate() -> Result<()> {
    let env: Envelope<Certificate> =
        json::decode_response("CertificateInfo", 200, &fixture("certificate-info.json")?)?;
    assert!(!env.is_error());
    assert_eq!(env.stid.as_deref(), Some("20220922-app2-dev-9241"));
    let st = env.status.clone().context("status")?;
    assert_eq!(st.code.as_deref(), Some("S400104"));
    assert_eq!(st.kind, Some(StatusType::Success));
    assert_eq!(
        env.object.as_ref().and_then(ResponseObject::data_id),
        Some(1658471)
    );
    let c = env.data.first().context("data[0]")?;
    assert_eq!(c.id, Some(1658471));
    assert_eq!(c.order_id.as_deref(), Some("AATL20220113011980"));
    assert_eq!(c.product.as_deref(), Some("GLOBALSIGN_DOCUMENT_SIGNING"));
    assert_eq!(c.certificate_type, Some(CertificateType::Document));
    assert_eq!(c.lifetime, Some(TimePeriod::months(12)));
    assert_eq!(c.serial_number.as_deref(), Some("NOT_SET"));
    assert_eq!(
        c.created,
        Some(Timestamp::Zoned(datetime!(2022-01-13 13:33:21 +01:00)))
    );
    assert_eq!(c.expire, zoned("2022-12-25T00:00:00.000+0100"));
    assert!(c.certification_authority.is_empty());
    assert_eq!(
        c.authentication.as_ref().and_then(|a| a.method.clone()),
        Some(AuthMethod::Org)
    );
    let admin = c.admin_contact.as_ref().context("adminContact")?;
    assert_eq!(admin.id, Some(100));
    assert_eq!(admin.address, vec!["Maximilianstrasse 6".to_string()]);
    assert_eq!(c.owner.as_ref().and_then(|o| o.context), Some(9));
    Ok(())
}

#[test]
fn the_json_400_sample_becomes_a_rejected_error_with_its_code_and_stid() -> Result<()> {
    let body = fixture("error-400-key-not-allowed.json")?;
    let env: Envelope<Certificate> = json::decode_response("CertificateList", 400, &body)?;
    let err = Error::Api(ApiError::from_envelope("CertificateList", 400, &env));
    assert_eq!(err.kind(), ErrorKind::Rejected);
    assert_eq!(err.stid(), Some("20200807-app2-dev-16317"));
    let api = err.api().context("api error")?;
    assert_eq!(api.codes().collect::<Vec<_>>(), vec!["EF00022"]);
    let shown = err.to_string();
    assert!(
        shown.contains("EF00022") && shown.contains("Schluessel nicht erlaubt"),
        "{shown}"
    );
    assert!(env.is_error());
    Ok(())
}

#[test]
fn the_json_poll_samples_decode_into_a_message_and_a_queue_length() -> Result<()> {
    let env: Envelope<PollMessage> =
        json::decode_response("PollInfo", 200, &fixture("poll-info.json")?)?;
    assert_eq!(env.summary(), Some(2));
    let m = env.data.first().context("message")?;
    assert_eq!(m.id, Some(1005360985));
    assert_eq!(m.job_id(), Some(4309872209));
    assert!(m.is_success());
    assert!(!m.is_failure());
    assert!(
        !m.is_certificate(),
        "a domain job is not about a certificate"
    );
    assert_eq!(m.object_value(), Some("example.com"));
    assert_eq!(m.certificate_id(), None, "the domain object carries no id");
    assert_eq!(m.stid.as_deref(), Some("20210503-app2-dev-17873"));

    let confirm: Envelope<Void> =
        json::decode_response("PollConfirm", 200, &fixture("poll-confirm.json")?)?;
    assert_eq!(confirm.summary(), Some(1));
    assert_eq!(
        confirm.object.and_then(|o| o.value).as_deref(),
        Some("1005360985")
    );
    Ok(())
}

#[test]
fn the_json_contact_list_sample_decodes_three_sparse_contacts() -> Result<()> {
    let env: Envelope<SslContact> =
        json::decode_response("SSLContactList", 200, &fixture("sslcontact-list.json")?)?;
    assert_eq!(env.summary(), Some(3));
    let ids: Vec<_> = env.data.iter().map(|c| c.id).collect();
    assert_eq!(ids, vec![Some(100), Some(37791), Some(37798)]);
    assert_eq!(env.data[1].lname.as_deref(), Some("of the Universe"));
    assert_eq!(env.data[0].email, None);
    Ok(())
}

#[test]
fn the_xml_certificate_create_request_sample_decodes_into_a_mail_order() -> Result<()> {
    let (auth, req) = xml::decode_request(&template_with_context(
        "xml-certificate-create.request.xml",
    )?)
    .map_err(anyhow::Error::msg)?;
    assert_eq!(auth.user, "USER");
    assert_eq!(auth.password.expose(), "PASSWORD");
    assert_eq!(auth.context, 9);
    let Task::CertificateCreate(c) = req.task else {
        bail!("expected CertificateCreate, got {:?}", req.task)
    };
    assert_eq!(c.certificate_type, Some(CertificateType::Mail));
    assert_eq!(c.product.as_deref(), Some("GLOBALSIGN_PERSONALSIGN_1"));
    assert_eq!(c.lifetime, Some(TimePeriod::months(36)));
    assert_eq!(c.name.as_deref(), Some("joe.sample@example.com"));
    assert_eq!(c.approver_email.as_deref(), Some("joe.sample@example.com"));
    assert_eq!(
        c.password.as_ref().map(|p| p.expose().as_str()),
        Some("****")
    );
    assert_eq!(c.firstname.as_deref(), Some("Joe"));
    assert_eq!(c.lastname.as_deref(), Some("Sample"));
    assert_eq!(
        c.organization_unit_name.as_deref(),
        Some("Development Department")
    );
    assert_eq!(c.has_csr, Some(false));
    assert_eq!(c.admin_contact.and_then(|a| a.id), Some(100));
    assert_eq!(req.ctid, None);
    Ok(())
}

#[test]
fn the_xml_certificate_create_response_sample_decodes_into_a_running_job() -> Result<()> {
    let env: Envelope<Job> = xml::decode_response(
        "CertificateCreate",
        200,
        &fixture("xml-certificate-create.response.xml")?,
    )?;
    assert!(!env.is_error());
    let st = env.status.clone().context("status")?;
    assert_eq!(st.code.as_deref(), Some("N400101"));
    assert_eq!(st.kind, Some(StatusType::Notify));
    assert_eq!(
        env.object.as_ref().and_then(|o| o.value.as_deref()),
        Some("joe.sample@example.com")
    );
    let job = env.data.first().context("job")?;
    assert_eq!(job.id, Some(123456));
    assert_eq!(job.status, Some(JobStatus::Running));
    Ok(())
}

#[test]
fn the_xml_certificate_info_samples_decode() -> Result<()> {
    let (_, req) = xml::decode_request(&template_with_context("xml-certificate-info.request.xml")?)
        .map_err(anyhow::Error::msg)?;
    assert_eq!(req.task, Task::CertificateInfo { id: 150 });

    let env: Envelope<Certificate> = xml::decode_response(
        "CertificateInfo",
        200,
        &fixture("xml-certificate-info.response.xml")?,
    )?;
    let c = env.data.first().context("certificate")?;
    assert_eq!(c.id, Some(150));
    assert_eq!(c.order_id.as_deref(), Some("PC201607129800"));
    assert_eq!(c.name.as_deref(), Some("joe.doe@example.com"));
    assert_eq!(c.approver_email.as_deref(), Some("joe.doe@example.com"));
    assert_eq!(c.lifetime, Some(TimePeriod::months(36)));
    assert_eq!(c.software.as_deref(), Some("NOT_SET"));
    assert_eq!(
        c.server.as_deref(),
        Some("-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----")
    );
    assert!(
        c.certification_authority.is_empty(),
        "the leaf is not part of the chain"
    );
    assert_eq!(c.product.as_deref(), Some("GLOBALSIGN_PERSONALSIGN_1"));
    assert_eq!(c.signature_hash_algorithm.as_deref(), Some("SHA2"));
    assert_eq!(
        c.expire,
        Some(Timestamp::Naive(datetime!(2017-12-31 23:59:59)))
    );
    assert_eq!(
        c.password.as_ref().map(|p| p.expose().as_str()),
        Some("test1234")
    );
    assert_eq!(c.organization_unit_name.as_deref(), Some("marketing"));
    let admin = c.admin_contact.as_ref().context("admin")?;
    assert_eq!(
        (admin.id, admin.fname.as_deref(), admin.pcode.as_deref()),
        (Some(100), Some("Joe"), Some("93047"))
    );
    assert_eq!(
        admin.owner.as_ref().and_then(|o| o.user.as_deref()),
        Some("USER")
    );
    assert_eq!(
        admin.created,
        Some(Timestamp::Naive(datetime!(2015-11-25 10:35:41)))
    );
    Ok(())
}

#[test]
fn the_xml_contact_create_samples_decode_and_the_new_id_is_in_the_status_object() -> Result<()> {
    let (_, req) = xml::decode_request(&template_with_context("xml-contact-create.request.xml")?)
        .map_err(anyhow::Error::msg)?;
    let Task::SslContactCreate(c) = req.task else {
        bail!("expected SSLContactCreate, got {:?}", req.task)
    };
    assert_eq!(c.fname.as_deref(), Some("Joe"));
    assert_eq!(c.lname.as_deref(), Some("Sample"));
    assert_eq!(c.address, vec!["Example Street 36000".to_string()]);
    assert_eq!(c.pcode.as_deref(), Some("12345"));
    assert_eq!(c.country.as_deref(), Some("DE"));

    let env: Envelope<SslContact> = xml::decode_response(
        "SSLContactCreate",
        200,
        &fixture("xml-contact-create.response.xml")?,
    )?;
    assert!(env.data.is_empty());
    let o = env.object.context("object")?;
    assert_eq!(
        (o.kind.as_deref(), o.value.as_deref()),
        (Some("contact"), Some("100"))
    );
    Ok(())
}

#[test]
fn an_xml_poll_answer_with_a_certificate_job_gives_job_ctid_and_certificate_id() -> Result<()> {
    let env: Envelope<PollMessage> =
        xml::decode_response("PollInfo", 200, &fixture("xml-poll-info.response.xml")?)?;
    assert_eq!(env.summary(), Some(2));
    assert_eq!(env.stid.as_deref(), Some("20261128-app1-42"));
    let m = env.data.first().context("message")?;
    assert_eq!(m.id, Some(1005360999));
    assert_eq!(m.job_id(), Some(123456));
    assert_eq!(m.ctid(), Some("smime-anna-1"));
    assert_eq!(m.certificate_id(), Some(150));
    assert!(m.is_success() && m.is_certificate());
    Ok(())
}

#[test]
fn an_xml_error_answer_keeps_status_code_detail_code_and_stid() -> Result<()> {
    let env: Envelope<ObjectJob> = xml::decode_response(
        "CertificateJobInfo",
        200,
        &fixture("xml-error-not-found.response.xml")?,
    )?;
    assert!(env.is_error());
    let err = Error::Api(ApiError::from_envelope("CertificateJobInfo", 200, &env));
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.status_code(), Some("E400114"));
    assert_eq!(err.stid(), Some("20261128-app1-43"));
    assert!(err.to_string().contains("EF300101"));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Malformed bodies
// ---------------------------------------------------------------------------------------------

fn kind_of<T>(r: Result<T, Error>) -> Option<ErrorKind> {
    r.err().map(|e| e.kind())
}

#[test]
fn truncated_xml_is_malformed_not_a_panic() -> Result<()> {
    let full = fixture("xml-certificate-info.response.xml")?;
    for cut in [1, 10, full.len() / 3, full.len() / 2, full.len() - 12] {
        let r = xml::decode_response::<Certificate>("CertificateInfo", 200, &full[..cut]);
        assert_eq!(kind_of(r), Some(ErrorKind::Malformed), "cut at {cut}");
    }
    Ok(())
}

#[test]
fn an_html_error_page_is_malformed_in_both_codecs_and_transient_when_the_status_is_502(
) -> Result<()> {
    let page = fixture("html-error-page.html")?;
    assert_eq!(
        kind_of(xml::decode_response::<Certificate>(
            "CertificateInfo",
            200,
            &page
        )),
        Some(ErrorKind::Malformed)
    );
    assert_eq!(
        kind_of(json::decode_response::<Certificate>(
            "CertificateInfo",
            200,
            &page
        )),
        Some(ErrorKind::Malformed)
    );
    assert_eq!(
        kind_of(json::decode_response::<Certificate>(
            "CertificateInfo",
            502,
            &page
        )),
        Some(ErrorKind::Transient)
    );
    // Without a DOCTYPE the page parses as XML, but it is not a <response>.
    let bare = b"<html><body><h1>Service Unavailable</h1></body></html>";
    let err = xml::decode_response::<Certificate>("CertificateInfo", 200, bare)
        .err()
        .context("must fail")?;
    assert!(err.to_string().contains("root element <html>"), "{err}");
    Ok(())
}

#[test]
fn an_empty_body_is_malformed_in_both_codecs() {
    for body in [&b""[..], b"  \n"] {
        assert_eq!(
            kind_of(xml::decode_response::<Job>("CertificateCreate", 200, body)),
            Some(ErrorKind::Malformed)
        );
        assert_eq!(
            kind_of(json::decode_response::<Job>("CertificateCreate", 200, body)),
            Some(ErrorKind::Malformed)
        );
    }
    // An empty 401 is still about the credentials.
    assert_eq!(
        kind_of(json::decode_response::<Job>("CertificateCreate", 401, b"")),
        Some(ErrorKind::Authentication)
    );
}

#[test]
fn xml_with_a_doctype_and_entities_is_refused_without_expansion() -> Result<()> {
    let body = fixture("xml-doctype-entity.xml")?;
    let err = xml::decode_response::<Void>("CertificateInfo", 200, &body)
        .err()
        .context("must be refused")?;
    assert_eq!(err.kind(), ErrorKind::Malformed);
    let shown = err.to_string();
    assert!(shown.contains("DOCTYPE"), "{shown}");
    assert!(
        !shown.contains("lollol") && !shown.contains("root:"),
        "{shown}"
    );
    // A push body is refused the same way.
    assert_eq!(
        parse_push(&body).err().map(|e| e.kind()),
        Some(ErrorKind::Malformed)
    );
    Ok(())
}

#[test]
fn json_of_the_wrong_shape_is_malformed() {
    for body in [&b"[]"[..], b"\"ok\"", b"{\"hello\": 1}", b"{\"status\": 5}"] {
        assert_eq!(
            kind_of(json::decode_response::<Certificate>(
                "CertificateInfo",
                200,
                body
            )),
            Some(ErrorKind::Malformed),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn an_error_envelope_whose_data_does_not_fit_still_reports_the_api_codes() -> Result<()> {
    let body = json!({
        "stid": "s-1",
        "status": {"code": "E400104", "type": "ERROR"},
        "messages": [{"code": "EF400104", "text": "not found"}],
        "data": ["not a certificate"]
    });
    let env: Envelope<Certificate> =
        json::decode_response("CertificateInfo", 404, body.to_string().as_bytes())?;
    assert!(env.is_error());
    assert!(env.data.is_empty());
    assert_eq!(
        env.messages.first().and_then(|m| m.code.as_deref()),
        Some("EF400104")
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Push bodies
// ---------------------------------------------------------------------------------------------

#[test]
fn push_bodies_in_json_and_xml_become_the_same_poll_message_type() -> Result<()> {
    let j = parse_push(&fixture("push-job-success.json")?)?;
    assert_eq!(
        (j.id, j.job_id(), j.certificate_id(), j.ctid()),
        (
            Some(1005361000),
            Some(123457),
            Some(151),
            Some("smime-bert-1")
        )
    );
    assert!(j.is_success());

    let x = parse_push(&fixture("xml-poll-info.response.xml")?)?;
    assert_eq!(
        (x.id, x.job_id(), x.certificate_id(), x.ctid()),
        (
            Some(1005360999),
            Some(123456),
            Some(150),
            Some("smime-anna-1")
        )
    );

    // A bare message (not wrapped in an envelope) is accepted in both formats.
    let bare_json = serde_json::to_vec(&j)?;
    assert_eq!(parse_push(&bare_json)?, j);
    let mut s = String::new();
    xml::write_poll_message(&x).write_to(&mut s);
    assert_eq!(parse_push(s.as_bytes())?, x);
    Ok(())
}

#[test]
fn push_bodies_that_carry_no_message_are_refused() {
    for body in [
        &b""[..],
        b"hello",
        b"{}",
        b"{\"status\":{\"type\":\"SUCCESS\"}}",
        b"<response><result><data/></result></response>",
        b"<foo/>",
    ] {
        assert_eq!(
            parse_push(body).err().map(|e| e.kind()),
            Some(ErrorKind::Malformed),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Round trips: builders
// ---------------------------------------------------------------------------------------------

// Values in normal form: the XML codec trims surrounding whitespace of every value (a PEM's
// final newline is not significant), so builders carry none.
const CSR: &str = "-----BEGIN CERTIFICATE REQUEST-----\nMIIBczCCARkCAQAwHDEaMBgGA1UEAwwRYW5uYUBleGFtcGxlLm9yZzBZ\n-----END CERTIFICATE REQUEST-----";
const LEAF: &str = "-----BEGIN CERTIFICATE-----\nMIIBleaf\n-----END CERTIFICATE-----";
const INTERMEDIATE: &str = "-----BEGIN CERTIFICATE-----\nMIIBinter\n-----END CERTIFICATE-----";
const ROOT: &str = "-----BEGIN CERTIFICATE-----\nMIIBroot\n-----END CERTIFICATE-----";

fn naive(s: &str) -> Option<Timestamp> {
    Timestamp::parse(s)
}

fn user() -> Option<BasicUser> {
    Some(BasicUser {
        context: Some(9),
        user: Some("reseller".into()),
    })
}

fn full_contact() -> SslContact {
    SslContact {
        id: Some(37791),
        created: naive("2022-02-17 10:03:07"),
        updated: zoned("2022-03-30T10:05:03.000+0200"),
        owner: user(),
        updater: user(),
        fname: Some("Anna".into()),
        lname: Some("Admin & <Sons>".into()),
        phone: Some("+49-941-1234560".into()),
        fax: Some("+49-941-1234561".into()),
        email: Some("hostmaster@example.org".into()),
        title: Some("Ms".into()),
        organization: Some("Example GmbH".into()),
        address: vec!["Main Street 1".into(), "Building B".into()],
        pcode: Some("93047".into()),
        city: Some("Regensburg".into()),
        country: Some("DE".into()),
        state: Some("Bayern".into()),
    }
}

fn full_certificate() -> Certificate {
    Certificate {
        id: Some(1658050),
        created: naive("2026-11-28 10:00:00"),
        updated: zoned("2026-11-28T10:05:00.000+0100"),
        owner: user(),
        updater: user(),
        partner_order_id: Some("IX-CC-4299720353".into()),
        order_id: Some("PC201607129800".into()),
        admin_contact: Some(full_contact()),
        technical_contact: Some(SslContact {
            id: Some(100),
            ..Default::default()
        }),
        name: Some("anna@example.org".into()),
        lifetime: Some(TimePeriod::months(24)),
        software: Some("NOT_SET".into()),
        comment: Some("issued by smime-provisioner".into()),
        csr: Some(CSR.into()),
        server: Some(LEAF.into()),
        serial_number: Some("0A1B2C".into()),
        product: Some("GLOBALSIGN_PERSONALSIGN_1".into()),
        certificate_type: Some(CertificateType::Mail),
        signature_hash_algorithm: Some("SHA2".into()),
        expire: naive("2028-11-28 23:59:59"),
        payable: zoned("2028-11-28T00:00:00.000+0100"),
        subject_alternative_names: vec![SubjectAlternativeName {
            name: Some("anna@example.org".into()),
            approver_email: Some("anna@example.org".into()),
        }],
        certification_authority: vec![
            CaCertificate {
                ca_type: Some(CaType::Intermediate),
                ca_certificate: Some(INTERMEDIATE.into()),
                ..Default::default()
            },
            CaCertificate {
                ca_type: Some(CaType::Unknown("CROSS".into())),
                ca_certificate: Some(ROOT.into()),
                created: naive("2020-01-01 00:00:00"),
                updated: None,
            },
        ],
        password: Some(Secret::new("Abc123def456".into())),
        firstname: Some("Anna".into()),
        lastname: Some("Example".into()),
        organization_unit_name: Some("Sales".into()),
        authentication: Some(CertAuthentication {
            method: Some(AuthMethod::Email),
            approver_emails: vec!["anna@example.org".into()],
            ..Default::default()
        }),
        has_csr: Some(true),
        approver_email: Some("anna@example.org".into()),
    }
}

fn full_certificate_data() -> CertificateData {
    CertificateData {
        plain: Some(CSR.into()),
        name: Some("anna@example.org".into()),
        key_size: Some(3072),
        country_code: Some("DE".into()),
        state: Some("Bayern".into()),
        city: Some("Regensburg".into()),
        organization: Some("Example GmbH".into()),
        organization_unit: Some("Sales".into()),
        email: Some("anna@example.org".into()),
        product: Some("GLOBALSIGN_PERSONALSIGN_1".into()),
        algorithm: Some("RSA".into()),
        signature_hash_algorithm: Some("SHA256".into()),
        authentication: vec![
            CertAuthentication {
                name: Some("example.org".into()),
                method: Some(AuthMethod::Dns),
                dns: Some("_dnsauth.example.org\t300\tIN\tTXT\t\"token\"".into()),
                provisioning: Some(true),
                ..Default::default()
            },
            CertAuthentication {
                name: Some("anna@example.org".into()),
                method: Some(AuthMethod::Email),
                approver_emails: vec!["anna@example.org".into(), "admin@example.org".into()],
                file_name: Some("x/.well-known/pki-validation/fileauth.txt".into()),
                file_content: Some("abc".into()),
                provisioning: Some(false),
                ..Default::default()
            },
        ],
    }
}

fn full_job(status: JobStatus) -> Job {
    Job {
        id: Some(4309872209),
        created: naive("2026-11-28 10:00:00"),
        updated: zoned("2026-11-28T10:05:00.000+0100"),
        owner: user(),
        updater: user(),
        status: Some(status),
        sub_status: Some("WF_EMAIL_AUTH".into()),
        execution: naive("2026-11-28 10:04:59"),
        sub_type: Some("GLOBALSIGN_PERSONALSIGN_1".into()),
        action: Some("create".into()),
        ctid: Some("smime-anna-gen1".into()),
        events: Vec::new(),
    }
}

fn certificate_object() -> ResponseObject {
    ResponseObject {
        kind: Some("Certificate".into()),
        value: Some("anna@example.org".into()),
        summary: None,
        data: Some(json!({"id": 1658050, "name": "anna@example.org", "orderId": "PC2016"})),
    }
}

fn full_poll_message() -> PollMessage {
    PollMessage {
        id: Some(1005360985),
        owner: user(),
        job: Some(full_job(JobStatus::Failed)),
        notify: None,
        stid: Some("20261128-app2-1".into()),
        ctid: Some("smime-anna-gen1".into()),
        messages: vec![Message {
            text: Some("Validation failed".into()),
            notice: None,
            messages: vec![Message {
                code: Some("EF400139".into()),
                text: Some("nested".into()),
                ..Default::default()
            }],
            objects: vec![GenericObject {
                kind: Some("Certificate".into()),
                value: Some("anna@example.org".into()),
            }],
            code: Some("EF01000".into()),
            status: Some(StatusType::Error),
        }],
        flags: Some("none".into()),
        notice: Some("note".into()),
        created: naive("2026-11-28 10:05:00"),
        object: Some(certificate_object()),
    }
}

fn notify_message() -> PollMessage {
    PollMessage {
        id: Some(77),
        notify: Some(NotifyMessage {
            kind: Some("domain_away".into()),
            object: Some(ResponseObject {
                kind: Some("Domain".into()),
                value: Some("example.com".into()),
                summary: None,
                data: None,
            }),
        }),
        ..Default::default()
    }
}

fn full_object_job() -> ObjectJob {
    ObjectJob {
        job: Some(full_job(JobStatus::Deferred)),
        object: Some(certificate_object()),
        authentication: vec![AuthenticationStatus {
            status: Some("IN_PROGRESS".into()),
            step: Some("CONSUMER_AUTHENTICATION".into()),
            updated: naive("2026-11-28 10:01:00"),
        }],
        notices: vec!["waiting for the approval mail".into()],
    }
}

fn status(code: &str, kind: StatusType) -> Option<ResponseStatus> {
    Some(ResponseStatus {
        code: Some(code.into()),
        text: Some(format!("text of {code}")),
        kind: Some(kind),
    })
}

fn envelope<T>(
    code: &str,
    kind: StatusType,
    object: Option<ResponseObject>,
    data: Vec<T>,
) -> Envelope<T> {
    Envelope {
        stid: Some("20261128-app1-7".into()),
        ctid: Some("ctid-7".into()),
        status: status(code, kind),
        object,
        data,
        messages: Vec::new(),
    }
}

pub(crate) fn all_tasks() -> Vec<Task> {
    let with_id = |id| {
        let mut c = full_certificate();
        c.id = Some(id);
        Box::new(c)
    };
    vec![
        Task::SslContactCreate(full_contact()),
        Task::SslContactInfo { id: 37791 },
        Task::SslContactList(Query::default()),
        Task::SslContactList(Query {
            filters: vec![
                QueryFilter {
                    key: Some("email".into()),
                    value: Some("hostmaster@%".into()),
                    operator: Some("LIKE".into()),
                },
                QueryFilter {
                    key: Some("country".into()),
                    value: Some("DE".into()),
                    operator: Some("EQUAL".into()),
                },
            ],
            view: Some(QueryView {
                limit: Some(50),
                offset: Some(100),
            }),
        }),
        Task::CertificatePrepareOrder(full_certificate_data()),
        Task::CertificateCreate(Box::new(Certificate {
            id: None,
            ..full_certificate()
        })),
        Task::CertificateInfo { id: 1658050 },
        Task::CertificateList(Query::equal("name", "anna@example.org")),
        Task::JobInfo { id: 4309872209 },
        Task::JobList(Query::equal("object", "anna@example.org").page(100, 200)),
        Task::JobHistoryList(
            Query::equal("object", "anna@example.org")
                .and("created", "GREATER_EQUAL", "2026-11-28 09:50:00")
                .page(100, 0),
        ),
        Task::CertificateRenew(with_id(1658050)),
        Task::CertificateReissue(with_id(1658051)),
        Task::CertificateDelete { id: 1658052 },
        Task::CertificateRevoke(Box::new(Certificate {
            id: Some(1658053),
            serial_number: Some("0A1B2C".into()),
            ..Default::default()
        })),
        Task::PollInfo,
        Task::PollConfirm { id: 1005360985 },
    ]
}

// ---------------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Job list (400115 / 400135, `POST /job/_search`)
// ---------------------------------------------------------------------------------------------

#[test]
fn the_json_job_list_fixture_gives_job_ids_states_names_ctids_and_the_total() -> Result<()> {
    let env: Envelope<ObjectJob> =
        json::decode_response("CertificateJobList", 200, &fixture("job-list.json")?)?;
    assert!(!env.is_error());
    assert_eq!(
        env.summary(),
        Some(3),
        "object.summary is the total, not the page"
    );
    assert_eq!(env.data.len(), 2);
    let running = &env.data[0];
    assert_eq!(running.job_id(), Some(4309872209));
    assert_eq!(running.status(), Some(&JobStatus::Running));
    assert_eq!(
        running.ctid(),
        Some("smp-anna-g1-7f3a"),
        "ctid from job.events[]"
    );
    assert_eq!(running.object_name(), Some("anna@example.org"));
    assert_eq!(running.certificate_id(), Some(1658050));
    assert_eq!(
        running.created(),
        zoned("2026-11-28T10:00:01.000+0100").as_ref()
    );
    let deferred = &env.data[1];
    assert_eq!(
        deferred.job_id(),
        Some(4309872100),
        "a string id is read too"
    );
    assert_eq!(deferred.status(), Some(&JobStatus::Deferred), "DEFFERED");
    assert_eq!(deferred.ctid(), None);
    assert_eq!(deferred.object_name(), Some("bob@example.org"));
    assert_eq!(deferred.certificate_id(), None);
    Ok(())
}

#[test]
fn the_xml_job_list_fixture_reads_the_manuals_shape_with_the_name_inside_the_job() -> Result<()> {
    let env: Envelope<ObjectJob> = xml::decode_response(
        "CertificateJobList",
        200,
        &fixture("xml-job-list.response.xml")?,
    )?;
    assert!(!env.is_error());
    assert_eq!(
        env.status.as_ref().and_then(|s| s.code.as_deref()),
        Some("S400115")
    );
    assert_eq!(env.summary(), Some(2));
    assert_eq!(env.stid.as_deref(), Some("20261128-app2-dev-31416"));
    let first = env.data.first().context("first job")?;
    assert_eq!(first.job_id(), Some(4309872209));
    assert_eq!(first.status(), Some(&JobStatus::Deferred), "DEFFERED");
    assert_eq!(first.ctid(), Some("smp-anna-g1-7f3a"));
    assert_eq!(first.object_name(), Some("anna@example.org"));
    assert_eq!(first.created(), naive("2026-11-28 10:00:01").as_ref());
    assert_eq!(
        first.job.as_ref().and_then(|j| j.sub_status.as_deref()),
        Some("WF_EMAIL_AUTH")
    );
    let second = env.data.get(1).context("second job")?;
    assert_eq!(second.job_id(), Some(4309872100));
    assert_eq!(second.status(), Some(&JobStatus::Running));
    assert_eq!(second.ctid(), None);
    assert_eq!(second.object_name(), Some("bob@example.org"));
    Ok(())
}

#[test]
fn the_xml_job_list_request_fixture_decodes_into_a_paged_search_by_name() -> Result<()> {
    let (auth, req) = xml::decode_request(&template_with_context("xml-job-list.request.xml")?)
        .map_err(anyhow::Error::msg)?;
    assert_eq!(auth.context, 9);
    assert_eq!(
        req.task,
        Task::JobList(Query::equal("object", "anna@example.org").page(100, 0))
    );
    assert_eq!(req.task.xml_code(), Some("400115"));
    assert!(req.task.is_idempotent(), "a search may be retried");
    Ok(())
}

#[test]
fn job_searches_use_the_documented_routes_and_codes_and_ask_for_the_name_column() -> Result<()> {
    let q = Query::equal("object", "anna@example.org").page(100, 300);
    let active = json::encode_request(&Task::JobList(q.clone()))?;
    assert_eq!(
        (active.method, active.path.as_str()),
        (Method::Post, "job/_search")
    );
    assert!(active
        .query
        .contains(&("keys[]".to_string(), "object".to_string())));
    let body: serde_json::Value =
        serde_json::from_slice(active.body.as_deref().unwrap_or_default())?;
    assert_eq!(
        body,
        json!({"filters": [{"key": "object", "value": "anna@example.org", "operator": "EQUAL"}],
               "view": {"limit": 100, "offset": 300}})
    );
    let history = json::encode_request(&Task::JobHistoryList(q.clone()))?;
    assert_eq!(
        (history.method, history.path.as_str()),
        (Method::Post, "job/history/_search")
    );
    assert_eq!(Task::JobHistoryList(q).xml_code(), Some("400135"));
    Ok(())
}

#[test]
fn a_job_without_a_ctid_of_its_own_takes_the_first_event_ctid_and_blank_ones_do_not_count() {
    let mut j = Job {
        events: vec![
            WorkflowEvent {
                ctid: Some("  ".into()),
                ..Default::default()
            },
            WorkflowEvent {
                ctid: Some("smp-1".into()),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    assert_eq!(
        j.ctid(),
        Some("smp-1"),
        "the blank ctid of the first event is skipped"
    );
    j.events.remove(1);
    assert_eq!(j.ctid(), None, "a blank ctid is no ctid");
    j.ctid = Some("own".into());
    assert_eq!(j.ctid(), Some("own"), "the job's own ctid wins");
}
