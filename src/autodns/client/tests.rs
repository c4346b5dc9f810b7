//! Orders are checked before they are sent; read retries back off exponentially up to a bound.

use super::*;
use crate::secret::Secret;
use std::time::Duration;

fn order() -> CertificateOrder {
    CertificateOrder::new(
        "anna@example.org",
        "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n",
        100,
        Secret::new("Abcdefgh12".to_string()),
    )
}

#[test]
fn a_valid_order_passes_and_becomes_a_mail_order_with_our_csr() {
    let o = order();
    assert_eq!(o.validate(), Ok(()));
    let c = o.to_certificate(None);
    assert_eq!(c.certificate_type, Some(CertificateType::Mail));
    assert_eq!(c.has_csr, Some(true));
    assert_eq!(
        c.csr.as_deref(),
        Some("-----BEGIN CERTIFICATE REQUEST-----\r\nMIIB\r\n-----END CERTIFICATE REQUEST-----")
    );
    assert_eq!(c.product.as_deref(), Some(DEFAULT_PRODUCT));
    assert_eq!(c.approver_email.as_deref(), Some("anna@example.org"));
}

#[test]
fn download_passwords_outside_the_api_rule_are_refused_without_echoing_them() {
    for bad in ["short1", "has-dash-123", "ümlautpassword", &"a".repeat(33)] {
        let mut o = order();
        o.download_password = Secret::new(bad.to_string());
        let err = o.validate().err().unwrap_or_default();
        assert!(err.contains("download_password"), "{bad}: {err}");
        assert!(!err.contains(bad), "the password leaked into {err}");
    }
    assert!(is_download_password("Abcdefgh"));
    assert!(is_download_password(&"Z9".repeat(16)));
}

#[test]
fn an_order_without_a_csr_cannot_be_built() {
    let mut o = order();
    o.csr_pem = String::new();
    assert!(o.validate().is_err());
}

#[test]
fn backoff_doubles_up_to_the_bound() {
    let p = RetryPolicy::default();
    assert_eq!(p.backoff(0), Duration::from_millis(500));
    assert_eq!(p.backoff(1), Duration::from_secs(1));
    assert_eq!(p.backoff(10), Duration::from_secs(8));
}

/// The create body as each encoder writes it: (JSON `technicalContact.id`, JSON `csr`, XML
/// `<technical><id>`, the XML document as sent; an XML reader folds the CRLF in `<csr>` to LF,
/// so the CSR is checked in the bytes on the wire).
fn encoded(o: &CertificateOrder) -> (Option<i64>, Option<String>, Option<String>, Option<String>) {
    use crate::autodns::{json, xml};
    let task = Task::CertificateCreate(Box::new(o.to_certificate(None)));
    let j = json::encode_request(&task).ok().and_then(|r| r.body);
    let j: serde_json::Value = j
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let auth = xml::XmlAuth {
        user: "u".into(),
        password: Secret::new("p".into()),
        context: 9,
    };
    let x = xml::encode_request(&auth, &Request { task, ctid: None }).unwrap_or_default();
    let cert = xml::parse_document(&x)
        .ok()
        .and_then(|r| r.child("task")?.child("certificate").cloned());
    (
        j["technicalContact"]["id"].as_i64(),
        j["csr"].as_str().map(str::to_string),
        cert.as_ref()
            .and_then(|c| c.child("technical")?.text_of("id")),
        String::from_utf8(x).ok(),
    )
}

#[test]
fn without_a_technical_contact_the_admin_contact_is_sent_as_both_in_json_and_xml() {
    let o = order();
    assert_eq!(o.technical_contact_id, None);
    let (json_tech, _, xml_tech, _) = encoded(&o);
    assert_eq!(json_tech, Some(100), "JSON technicalContact");
    assert_eq!(xml_tech.as_deref(), Some("100"), "XML <technical>");
    let mut own = order();
    own.technical_contact_id = Some(7);
    let (json_tech, _, xml_tech, _) = encoded(&own);
    assert_eq!((json_tech, xml_tech.as_deref()), (Some(7), Some("7")));
}

#[test]
fn the_csr_is_sent_as_the_sdks_send_it_header_body_footer_joined_by_crlf() {
    // InterNetX/js-domainrobot-sdk src/services/CertificateService.js `prepareCsr`: strip CR and
    // LF, then join header, base64 and footer with "\r\n".
    let want = "-----BEGIN CERTIFICATE REQUEST-----\r\nMIIBaaaabbbbcccc==\r\n\
                -----END CERTIFICATE REQUEST-----";
    for sent in [
        "-----BEGIN CERTIFICATE REQUEST-----\nMIIBaaaa\nbbbbcccc==\n-----END CERTIFICATE REQUEST-----\n",
        "  -----BEGIN CERTIFICATE REQUEST-----\r\nMIIBaaaabbbb\r\ncccc==\r\n-----END CERTIFICATE REQUEST-----\r\n",
        "-----BEGIN CERTIFICATE REQUEST-----MIIBaaaabbbbcccc==-----END CERTIFICATE REQUEST-----",
    ] {
        let mut o = order();
        o.csr_pem = sent.to_string();
        let (_, json_csr, _, xml_csr) = encoded(&o);
        assert_eq!(json_csr.as_deref(), Some(want), "JSON, from {sent:?}");
        let cdata = format!("<csr><![CDATA[{want}]]></csr>");
        let xml_doc = xml_csr.unwrap_or_default();
        assert!(xml_doc.contains(&cdata), "XML, from {sent:?}: {xml_doc}");
    }
    // Not a single CERTIFICATE REQUEST block: left alone, as the SDKs leave it.
    let other =
        "-----BEGIN NEW CERTIFICATE REQUEST-----\nMIIB\n-----END NEW CERTIFICATE REQUEST-----\n";
    assert_eq!(order::sdk_csr(other), other);
}
