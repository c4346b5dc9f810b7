//! The gateway's requests: the auth block, each task's code and payload, and the inverse
//! (reading a request, for round-trip tests and stand-in servers) (§1.2, §2).

use super::*;
use crate::secret::Secret;

/// The gateway's auth block (§1.2). The password is a [`Secret`]; it appears only in the encoded
/// body.
#[derive(Debug, Clone, PartialEq)]
pub struct XmlAuth {
    /// AutoDNS user.
    pub user: String,
    /// Password.
    pub password: Secret<String>,
    /// Context number.
    pub context: u32,
}

fn write_query(task: &mut Element, q: &Query) {
    // [INFER] §2.6: `<view><limit/><offset/></view>` and one `<where>` holding the first filter's
    // `<key/><operator/><value/>`, each further filter in an `<and>` child; operators in the
    // gateway's lower-case spelling (`eq`, `like`).
    if let Some(v) = &q.view {
        let mut e = Element::new("view");
        e.push_display("limit", v.limit)
            .push_display("offset", v.offset);
        task.push(e);
    }
    let condition = |name: &str, f: &QueryFilter| {
        let mut e = Element::new(name);
        e.push_text("key", f.key.as_deref())
            .push_text(
                "operator",
                f.operator.as_deref().map(xml_operator).as_deref(),
            )
            .push_text("value", f.value.as_deref());
        e
    };
    let mut filters = q.filters.iter();
    if let Some(first) = filters.next() {
        let mut w = condition("where", first);
        for f in filters {
            w.push(condition("and", f));
        }
        task.push(w);
    }
}

fn xml_operator(json: &str) -> String {
    match json.to_ascii_uppercase().as_str() {
        "EQUAL" => "eq".into(),
        "NOT_EQUAL" => "ne".into(),
        other => other.to_ascii_lowercase(),
    }
}

fn json_operator(xml: &str) -> String {
    match xml.to_ascii_lowercase().as_str() {
        "eq" => "EQUAL".into(),
        "ne" => "NOT_EQUAL".into(),
        other => other.to_ascii_uppercase(),
    }
}

fn read_query(task: &Element) -> R<Query> {
    let view = match task.child("view") {
        Some(v) => Some(QueryView {
            limit: opt_i64(v, "limit")?,
            offset: opt_i64(v, "offset")?,
        }),
        None => None,
    };
    let condition = |c: &Element| QueryFilter {
        key: c.text_of("key"),
        value: c.text_of("value"),
        operator: c.text_of("operator").map(|o| json_operator(&o)),
    };
    let mut filters = Vec::new();
    if let Some(w) = task.child("where") {
        filters.push(condition(w));
        filters.extend(w.children_named("and").map(condition));
    }
    Ok(Query { filters, view })
}

fn id_only(name: &str, id: i64) -> Element {
    let mut e = Element::new(name);
    e.push_display("id", Some(id));
    e
}

/// Encodes a request for the gateway. Fails only for `Hello`, which the gateway does not have.
pub fn encode_request(auth: &XmlAuth, req: &Request) -> Result<Vec<u8>, Error> {
    let task = &req.task;
    let code = task.xml_code().ok_or_else(|| Error::InvalidRequest {
        task: task.name(),
        reason: "the XML gateway has no such task".into(),
    })?;
    let mut t = Element::new("task");
    t.push_text("code", Some(code));
    match task {
        // Refused above (no gateway code); listed so the match stays exhaustive.
        Task::Hello | Task::JobHistory { .. } | Task::PollInfo => {}
        Task::SslContactCreate(c) => {
            t.push(write_contact("contact", c));
        }
        Task::SslContactInfo { id } => {
            t.push(id_only("contact", *id));
        }
        Task::SslContactList(q)
        | Task::CertificateList(q)
        | Task::JobList(q)
        | Task::JobHistoryList(q) => write_query(&mut t, q),
        Task::CertificatePrepareOrder(d) => {
            t.push(write_certificate_data(d));
        }
        Task::CertificateCreate(c)
        | Task::CertificateRenew(c)
        | Task::CertificateReissue(c)
        | Task::CertificateRevoke(c) => {
            t.push(write_certificate(c));
        }
        Task::CertificateInfo { id } | Task::CertificateDelete { id } => {
            t.push(id_only("certificate", *id));
        }
        Task::JobInfo { id } => {
            let mut cj = Element::new("certificate_job");
            cj.push(id_only("job", *id));
            t.push(cj);
        }
        Task::PollConfirm { id } => {
            t.push(id_only("message", *id));
        }
    }
    t.push_text("ctid", req.ctid.as_deref());

    let mut a = Element::new("auth");
    a.push_text("user", Some(&auth.user))
        .push_text("password", Some(auth.password.expose()))
        .push_display("context", Some(auth.context));
    let mut root = Element::new("request");
    root.push(a).push(t);
    Ok(root.to_document())
}

fn need_id(el: Option<&Element>, what: &str) -> R<i64> {
    let el = el.ok_or_else(|| format!("no <{what}> in the task"))?;
    opt_i64(el, "id")?.ok_or_else(|| format!("<{what}> has no <id>"))
}

/// Decodes a gateway request (the inverse of [`encode_request`]; for round-trip tests and for
/// anything that must read requests, such as a stand-in server).
pub fn decode_request(body: &[u8]) -> Result<(XmlAuth, Request), String> {
    let root = parse_document(body)?;
    if root.name != "request" {
        return Err(format!(
            "root element is <{}>, not <request>",
            clip(&root.name)
        ));
    }
    let a = root.child("auth").ok_or("no <auth> block")?;
    let auth = XmlAuth {
        user: a.text_of("user").unwrap_or_default(),
        password: Secret::new(a.text_of("password").unwrap_or_default()),
        context: a
            .text_of("context")
            .and_then(|c| c.parse().ok())
            .ok_or("<auth>/<context> is not a number")?,
    };
    let t = root.child("task").ok_or("no <task>")?;
    let code = t.text_of("code").ok_or("no <task>/<code>")?;
    let cert = || -> R<Box<Certificate>> {
        Ok(Box::new(read_certificate(
            t.child("certificate").ok_or("no <certificate>")?,
        )?))
    };
    let task = match code.as_str() {
        "400201" => {
            Task::SslContactCreate(read_contact(t.child("contact").ok_or("no <contact>")?)?)
        }
        "400204" => Task::SslContactInfo {
            id: need_id(t.child("contact"), "contact")?,
        },
        "400205" => Task::SslContactList(read_query(t)?),
        "400110" => Task::CertificatePrepareOrder(read_certificate_data(
            t.child("certificate_request")
                .ok_or("no <certificate_request>")?,
        )?),
        "400101" => Task::CertificateCreate(cert()?),
        "400104" => Task::CertificateInfo {
            id: need_id(t.child("certificate"), "certificate")?,
        },
        "400105" => Task::CertificateList(read_query(t)?),
        "400115" => Task::JobList(read_query(t)?),
        "400135" => Task::JobHistoryList(read_query(t)?),
        "400114" => Task::JobInfo {
            id: need_id(
                t.child("certificate_job").and_then(|c| c.child("job")),
                "certificate_job/job",
            )?,
        },
        "400106" => Task::CertificateRenew(cert()?),
        "400102" => Task::CertificateReissue(cert()?),
        "400103" => Task::CertificateDelete {
            id: need_id(t.child("certificate"), "certificate")?,
        },
        "4001031" => Task::CertificateRevoke(cert()?),
        "0905" => Task::PollInfo,
        "0906" => Task::PollConfirm {
            id: need_id(t.child("message"), "message")?,
        },
        other => return Err(format!("unknown task code {}", clip(other))),
    };
    Ok((
        auth,
        Request {
            task,
            ctid: t.text_of("ctid"),
        },
    ))
}
