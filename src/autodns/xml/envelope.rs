//! The gateway's answers: which element of `result/data` holds each payload type
//! ([`XmlPayload`]), and the `<response>` envelope read and written around it (§1.7).

use super::*;

/// A type that can be the payload of `result/data`.
pub trait XmlPayload: Sized {
    /// Reads every item of this type from `<data>`.
    fn read_data(data: &Element) -> R<Vec<Self>>;
    /// Writes the items into `<data>`.
    fn write_data(items: &[Self], data: &mut Element);
}

impl XmlPayload for Void {
    fn read_data(_: &Element) -> R<Vec<Self>> {
        Ok(Vec::new())
    }
    fn write_data(_: &[Self], _: &mut Element) {}
}

impl XmlPayload for SslContact {
    fn read_data(data: &Element) -> R<Vec<Self>> {
        data.children_named("contact").map(read_contact).collect()
    }
    fn write_data(items: &[Self], data: &mut Element) {
        for c in items {
            data.push(write_contact("contact", c));
        }
    }
}

impl XmlPayload for Certificate {
    fn read_data(data: &Element) -> R<Vec<Self>> {
        data.children_named("certificate")
            .map(read_certificate)
            .collect()
    }
    fn write_data(items: &[Self], data: &mut Element) {
        for c in items {
            data.push(write_certificate(c));
        }
    }
}

impl XmlPayload for CertificateData {
    fn read_data(data: &Element) -> R<Vec<Self>> {
        data.children_named("certificate_request")
            .map(read_certificate_data)
            .collect()
    }
    fn write_data(items: &[Self], data: &mut Element) {
        for c in items {
            data.push(write_certificate_data(c));
        }
    }
}

impl XmlPayload for Job {
    /// `result/data/certificate_job/job` (§2.4), or a bare `<job>`.
    fn read_data(data: &Element) -> R<Vec<Self>> {
        let mut out = Vec::new();
        for cj in data.children_named("certificate_job") {
            for j in cj.children_named("job") {
                out.push(read_job(j)?);
            }
        }
        for j in data.children_named("job") {
            out.push(read_job(j)?);
        }
        Ok(out)
    }
    fn write_data(items: &[Self], data: &mut Element) {
        for j in items {
            let mut cj = Element::new("certificate_job");
            cj.push(write_job(j));
            data.push(cj);
        }
    }
}

impl XmlPayload for ObjectJob {
    fn read_data(data: &Element) -> R<Vec<Self>> {
        data.children_named("certificate_job")
            .map(read_object_job)
            .collect()
    }
    fn write_data(items: &[Self], data: &mut Element) {
        for o in items {
            data.push(write_object_job(o));
        }
    }
}

impl XmlPayload for PollMessage {
    fn read_data(data: &Element) -> R<Vec<Self>> {
        data.children_named("message")
            .map(read_poll_message)
            .collect()
    }
    fn write_data(items: &[Self], data: &mut Element) {
        for m in items {
            data.push(write_poll_message(m));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

/// Decodes a gateway answer into the envelope, without judging success (see
/// `error::check`). Any body that is not a `<response>` document is `Malformed`.
pub fn decode_response<T: XmlPayload>(
    task: &'static str,
    http_status: u16,
    body: &[u8],
) -> Result<Envelope<T>, Error> {
    let root = parse_document(body).map_err(|r| Error::malformed(task, http_status, r))?;
    decode_response_element(&root).map_err(|r| Error::malformed(task, http_status, r))
}

/// Decodes an already-parsed `<response>`.
pub fn decode_response_element<T: XmlPayload>(root: &Element) -> R<Envelope<T>> {
    if root.name != "response" {
        return Err(format!(
            "not an AutoDNS gateway answer (root element <{}>)",
            clip(&root.name)
        ));
    }
    let result = root.child("result").ok_or("no <result> in the answer")?;
    let status_el = result.child("status");
    let status = status_el.map(|s| ResponseStatus {
        code: s.text_of("code"),
        text: s.text_of("text"),
        kind: s.text_of("type").map(|t| StatusType::parse(&t)),
    });
    if status.is_none() && result.child("data").is_none() {
        return Err("<result> has neither <status> nor <data>".into());
    }
    // An empty `<object/>` says nothing; it is the same as none (and is not written back).
    let mut object = match status_el.and_then(|s| s.child("object")) {
        Some(o) => Some(read_object(o)?).filter(|o| *o != ResponseObject::default()),
        None => None,
    };
    let mut data = Vec::new();
    if let Some(d) = result.child("data") {
        if let Some(summary) = opt_u64(d, "summary")? {
            object.get_or_insert_with(ResponseObject::default).summary = Some(summary);
        }
        data = T::read_data(d)?;
    }
    let mut messages = Vec::new();
    for m in result.children_named("msg") {
        messages.push(read_msg(m)?);
    }
    Ok(Envelope {
        stid: root.text_of("stid").or_else(|| result.text_of("stid")),
        ctid: root.text_of("ctid").or_else(|| result.text_of("ctid")),
        status,
        object,
        data,
        messages,
    })
}

/// Encodes an envelope as a gateway answer. `object.summary` goes into `<data><summary>` (§1.7).
pub fn encode_response<T: XmlPayload>(env: &Envelope<T>) -> Vec<u8> {
    let mut result = Element::new("result");
    let mut data = Element::new("data");
    if let Some(s) = env.object.as_ref().and_then(|o| o.summary) {
        data.push_display("summary", Some(s));
    }
    T::write_data(&env.data, &mut data);
    result.push(data);
    for m in &env.messages {
        result.push(write_msg("msg", m));
    }
    if let Some(st) = &env.status {
        let mut s = Element::new("status");
        s.push_text("code", st.code.as_deref())
            .push_text("text", st.text.as_deref())
            .push_text("type", st.kind.as_ref().map(xml_status_type).as_deref());
        if let Some(o) = &env.object {
            if o.kind.is_some() || o.value.is_some() || o.data.is_some() {
                s.push(write_object("object", o, false));
            }
        }
        result.push(s);
    }
    let mut root = Element::new("response");
    root.push(result);
    root.push_text("stid", env.stid.as_deref())
        .push_text("ctid", env.ctid.as_deref());
    root.to_document()
}
