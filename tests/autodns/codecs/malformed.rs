//! Bad bodies (truncated, HTML, empty, hostile XML, the wrong shape) become typed errors, never
//! panics.

use super::*;

/// How a codec's decoder judges `body` with `status` as a CertificateInfo answer.
fn info_kind<R>(
    decode: impl FnOnce(&'static str, u16, &[u8]) -> Result<R, Error>,
    status: u16,
    body: &[u8],
) -> Option<ErrorKind> {
    kind_of(decode("CertificateInfo", status, body))
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
        info_kind(xml::decode_response::<Certificate>, 200, &page),
        Some(ErrorKind::Malformed)
    );
    assert_eq!(
        info_kind(json::decode_response::<Certificate>, 200, &page),
        Some(ErrorKind::Malformed)
    );
    assert_eq!(
        info_kind(json::decode_response::<Certificate>, 502, &page),
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
            info_kind(json::decode_response::<Certificate>, 200, body),
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
