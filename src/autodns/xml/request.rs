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

/// Columns asked for with `<key>` on a certificate list (400105), so recovery by name sees when
/// each certificate was created ("Running List Inquiries": columns beyond a row's default come
/// only when asked; the JSON codec asks for the same with `keys[]`).
const CERTIFICATE_LIST_KEYS: &[&str] =
    &["name", "product", "created", "expire", "certificate_type"];
/// Columns asked for on the job lists (400115 / 400135): the JSON codec's, in the gateway's
/// snake_case (`sub_status` as the job list example spells the element) [INFER].
const JOB_LIST_KEYS: &[&str] = &[
    "created",
    "updated",
    "status",
    "sub_status",
    "object",
    "action",
];
/// Columns asked for on the contact list (400205): the e-mail an existing contact is matched by.
const CONTACT_LIST_KEYS: &[&str] = &["email"];

/// The gateway's spelling of a JSON operator ("Running List Inquiries": `eq ne like gt lt ge
/// le`); `None` for the JSON operators the gateway does not document.
fn xml_operator(json: &str) -> Option<&'static str> {
    Some(match json.to_ascii_uppercase().as_str() {
        "EQUAL" => "eq",
        "NOT_EQUAL" => "ne",
        "LIKE" => "like",
        "GREATER" => "gt",
        "LESS" => "lt",
        "GREATER_EQUAL" => "ge",
        "LESS_EQUAL" => "le",
        _ => return None,
    })
}

fn json_operator(xml: &str) -> Option<&'static str> {
    Some(match xml {
        "eq" => "EQUAL",
        "ne" => "NOT_EQUAL",
        "like" => "LIKE",
        "gt" => "GREATER",
        "lt" => "LESS",
        "ge" => "GREATER_EQUAL",
        "le" => "LESS_EQUAL",
        _ => return None,
    })
}

/// One condition under `name` (`where` or `and`); `like` takes `*` where JSON takes `%`.
fn write_condition(name: &str, f: &QueryFilter, task: &'static str) -> Result<Element, Error> {
    let op = match f.operator.as_deref() {
        None => None,
        Some(o) => Some(xml_operator(o).ok_or_else(|| Error::InvalidRequest {
            task,
            reason: format!(
                "the XML gateway has no operator {o} (it has eq, ne, like, gt, lt, ge, le)"
            ),
        })?),
    };
    let value = match op {
        Some("like") => f.value.as_ref().map(|v| v.replace('%', "*")),
        _ => f.value.clone(),
    };
    let mut e = Element::new(name);
    e.push_text("key", f.key.as_deref())
        .push_text("operator", op)
        .push_text("value", value.as_deref());
    Ok(e)
}

/// A search as the "List Inquire" pages document it (§1.13): `<view><limit/><offset/></view>`;
/// one condition directly in `<where>`, several each in an `<and>` inside one `<and>` under
/// `<where>` (the SSL manual's wording); then one `<key>` per extra column.
fn write_query(t: &mut Element, q: &Query, keys: &[&str], task: &'static str) -> Result<(), Error> {
    if let Some(v) = &q.view {
        let mut e = Element::new("view");
        e.push_display("limit", v.limit)
            .push_display("offset", v.offset);
        t.push(e);
    }
    match q.filters.as_slice() {
        [] => {}
        [one] => {
            t.push(write_condition("where", one, task)?);
        }
        several => {
            let mut all = Element::new("and");
            for f in several {
                all.push(write_condition("and", f, task)?);
            }
            let mut w = Element::new("where");
            w.push(all);
            t.push(w);
        }
    }
    for k in keys {
        t.push_text("key", Some(k));
    }
    Ok(())
}

/// The conditions under `el` (`<where>` or an `<and>`), flattened: a condition, or `<and>`
/// children read in turn. A condition beside `<and>` children (the shape this client once sent)
/// and `<or>` (which [`Query`] cannot hold) are refused.
fn read_conditions(el: &Element, out: &mut Vec<QueryFilter>) -> R<()> {
    if el.child("or").is_some() {
        return Err(format!(
            "<{}> has <or> children, which are not supported",
            el.name
        ));
    }
    let is_leaf = ["key", "operator", "value"]
        .iter()
        .any(|k| el.child(k).is_some());
    let ands: Vec<&Element> = el.children_named("and").collect();
    match (is_leaf, ands.is_empty()) {
        (true, true) => {
            let operator = match el.text_of("operator") {
                None => None,
                Some(o) => Some(
                    json_operator(&o)
                        .ok_or_else(|| format!("unknown operator {:?}", clip(&o)))?
                        .to_string(),
                ),
            };
            let value = match operator.as_deref() {
                Some("LIKE") => el.text_of("value").map(|v| v.replace('*', "%")),
                _ => el.text_of("value"),
            };
            out.push(QueryFilter {
                key: el.text_of("key"),
                value,
                operator,
            });
            Ok(())
        }
        (true, false) => Err(format!(
            "<{}> mixes a condition with <and> children: <where> takes one condition, or each \
             condition in its own <and>",
            el.name
        )),
        (false, true) => Err(format!("<{}> holds no condition", el.name)),
        (false, false) => ands.into_iter().try_for_each(|a| read_conditions(a, out)),
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
    let mut filters = Vec::new();
    if let Some(w) = task.child("where") {
        read_conditions(w, &mut filters)?;
    }
    Ok(Query { filters, view })
}

fn id_only(name: &str, id: i64) -> Element {
    let mut e = Element::new(name);
    e.push_display("id", Some(id));
    e
}

/// Encodes a request for the gateway. Fails for the JSON-only tasks (`Hello`, `JobHistory`,
/// `JobResendApproverEmail`), which the gateway does not have.
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
        Task::Hello
        | Task::JobHistory { .. }
        | Task::JobResendApproverEmail { .. }
        | Task::PollInfo => {}
        Task::SslContactCreate(c) => {
            t.push(write_contact("contact", c));
        }
        Task::SslContactInfo { id } => {
            t.push(id_only("contact", *id));
        }
        Task::SslContactList(q) => write_query(&mut t, q, CONTACT_LIST_KEYS, task.name())?,
        Task::CertificateList(q) => write_query(&mut t, q, CERTIFICATE_LIST_KEYS, task.name())?,
        Task::JobList(q) | Task::JobHistoryList(q) => {
            write_query(&mut t, q, JOB_LIST_KEYS, task.name())?
        }
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
