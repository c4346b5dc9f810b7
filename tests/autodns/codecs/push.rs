//! Push bodies in JSON and XML become the same poll message type.

use super::*;

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
