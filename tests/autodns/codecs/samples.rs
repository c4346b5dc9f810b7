//! The reference samples (copied into `tests/fixtures/autodns/`) decode into the expected model
//! values.

use super::*;

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
