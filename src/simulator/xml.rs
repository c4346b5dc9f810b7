//! The XML gateway at `POST /` and `/gateway` (`autodns-api.md` §1.2, §1.7, §1.10, §2): its own
//! small document reader on quick-xml (no DTDs, no entities beyond the five predefined ones and
//! character references), dispatch on `<task><code>`, and rendering of
//! `<response><result><data/><msg/><status/></result><stid/></response>`.
//!
//! Decisions where the sources are silent (all inferred):
//! - API errors, including wrong credentials, keep HTTP 200 and say `error` in `result/status`
//!   (§1.10); only the fault layer's 429/503 change the HTTP status.
//! - The CA chain of CertificateInfo goes into repeated
//!   `<certification_authority><ca_type>INTERMEDIATE|ROOT</ca_type><ca_certificate>PEM…` blocks
//!   inside `<certificate>` (snake_case of the JSON `certificationAuthority`), so a client that
//!   collects every PEM under `result/data/certificate` (§4.5) finds leaf and chain.
//! - A job poll message is `<message><id/><owner/><created/><stid/><ctid/><job><id/><status>
//!   <code/><text/><type/></status><sub_type/><action/>…</job><object><type>certificate</type>
//!   <value>NAME</value><data><certificate>…</certificate></data></object><msg/>…</message>`
//!   (§3.3); the certificate id is `message/object/data/certificate/id`.
//! - In XML list filters `*` works as a wildcard as well as `%`.
//! - Dates are Berlin wall-clock time without a zone (§1.5).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use quick_xml::events::Event;
use quick_xml::Reader;

use super::engine::{
    ApiError, CertData, CertInput, CertView, ContactInput, Ctx, Filter, Item, JobView, ObjKind,
    ObjRef, Query, Reply, Transport,
};
use super::json::auth_status;
use super::model::{xml_date, ApiMsg, Contact, JobAction, Message, MessageBody, Owner, Redacted};
use super::Shared;

// ---- reading -----------------------------------------------------------------------------------

/// An element: name, child elements, and its own text (CDATA included).
#[derive(Debug, Clone, Default)]
pub(crate) struct Node {
    pub name: String,
    pub children: Vec<Node>,
    pub text: String,
}

const MAX_DEPTH: usize = 32;
const MAX_NODES: usize = 20_000;

impl Node {
    fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }
    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
    /// Trimmed text of the child `name`; `None` when absent or empty.
    fn text_of(&self, name: &str) -> Option<String> {
        self.child(name)
            .map(|c| c.text.trim().to_string())
            .filter(|s| !s.is_empty())
    }
}

/// Reads a document into a tree. Refuses DOCTYPEs (and with them every entity declaration) and
/// unknown entity references, so nothing is ever expanded.
pub(crate) fn parse(doc: &str) -> Result<Node, String> {
    let mut reader = Reader::from_str(doc);
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    let mut count = 0usize;
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| format!("the XML is not well-formed: {e}"))?;
        match ev {
            Event::Start(s) => {
                count += 1;
                if stack.len() >= MAX_DEPTH || count > MAX_NODES {
                    return Err("the XML document is too deeply nested or too large".into());
                }
                let name = s.local_name().as_ref().to_string();
                stack.push(Node {
                    name,
                    ..Node::default()
                });
            }
            Event::Empty(s) => {
                count += 1;
                let name = s.local_name().as_ref().to_string();
                let node = Node {
                    name,
                    ..Node::default()
                };
                match stack.last_mut() {
                    Some(p) => p.children.push(node),
                    None if root.is_none() => root = Some(node),
                    None => return Err("the XML has more than one root element".into()),
                }
            }
            Event::End(_) => {
                let node = stack.pop().ok_or("the XML has an unexpected closing tag")?;
                match stack.last_mut() {
                    Some(p) => p.children.push(node),
                    None if root.is_none() => root = Some(node),
                    None => return Err("the XML has more than one root element".into()),
                }
            }
            Event::Text(t) => {
                let s = t.xml10_content();
                match stack.last_mut() {
                    Some(p) => p.text.push_str(&s),
                    None if s.trim().is_empty() => {}
                    None => return Err("the XML has text outside the root element".into()),
                }
            }
            Event::CData(c) => {
                let s = c.into_inner();
                if let Some(p) = stack.last_mut() {
                    p.text.push_str(&s);
                }
            }
            Event::GeneralRef(r) => {
                let ch = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => quick_xml::escape::resolve_predefined_entity(&r)
                        .map(str::to_string)
                        .ok_or_else(|| format!("the XML uses the undeclared entity &{};", &*r))?,
                    Err(e) => return Err(format!("the XML has a bad character reference: {e}")),
                };
                if let Some(p) = stack.last_mut() {
                    p.text.push_str(&ch);
                }
            }
            Event::DocType(_) => {
                return Err("DOCTYPE declarations are not allowed (no DTDs, no entities)".into())
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err("the XML document ends before all elements are closed".into());
    }
    root.ok_or_else(|| "the XML document has no root element".into())
}

// ---- the gateway -------------------------------------------------------------------------------

/// `POST /` and `POST /gateway`.
pub(crate) async fn gateway(State(sh): State<Arc<Shared>>, body: Bytes) -> Response {
    sh.tick();
    let bare = |e: ApiError, ctid: Option<&str>| {
        let stid = sh.engine.bare_stid();
        error_response(&e, &stid, ctid)
    };
    if body.starts_with(&[0xEF, 0xBB, 0xBF]) {
        // The manual forbids a byte order mark (`autodns-api.md` §1.4).
        return bare(
            ApiError::malformed(
                "0000",
                "The XML request must not start with a byte order mark.",
            ),
            None,
        );
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return bare(
            ApiError::malformed("0000", "The XML request is not UTF-8."),
            None,
        );
    };
    let doc = match parse(text) {
        Ok(d) => d,
        Err(why) => return bare(ApiError::malformed("0000", &why), None),
    };
    if doc.name != "request" {
        return bare(
            ApiError::malformed("0000", "The root element must be <request>."),
            None,
        );
    }
    let Some(task) = doc.child("task") else {
        return bare(
            ApiError::malformed("0000", "The request has no <task>."),
            None,
        );
    };
    let code = task.text_of("code").unwrap_or_default();
    let ctid = task.text_of("ctid");
    let auth = doc.child("auth");
    let user = auth.and_then(|a| a.text_of("user")).unwrap_or_default();
    let password = auth
        .and_then(|a| a.child("password"))
        .map(|p| p.text.clone())
        .unwrap_or_default();
    let context = auth
        .and_then(|a| a.text_of("context"))
        .and_then(|c| c.parse::<u32>().ok());
    let task_code = if code.is_empty() {
        "0000".to_string()
    } else {
        code.clone()
    };
    if !sh.engine.authenticate(&user, &password, context) {
        return bare(ApiError::authentication(&task_code), ctid.as_deref());
    }
    let ctx = sh
        .engine
        .begin(Transport::Xml, context.unwrap_or_default(), ctid);
    let result = dispatch(&sh, &ctx, &code, task);
    sh.jobs_changed();
    match result {
        Ok(r) => {
            let mut resp = respond(
                StatusCode::OK,
                render_reply(&r, &ctx.stid, ctx.ctid.as_deref()),
            );
            if r.drop_answer {
                resp.extensions_mut().insert(super::faults::DropAnswer);
            }
            resp
        }
        Err(e) => error_response(&e, &ctx.stid, ctx.ctid.as_deref()),
    }
}

fn id_in(task_code: &str, task: &Node, element: &str) -> Result<i64, ApiError> {
    let raw = task
        .child(element)
        .and_then(|c| c.text_of("id"))
        .ok_or_else(|| ApiError::required(task_code, &format!("{element}/id")))?;
    raw.parse().map_err(|_| {
        ApiError::invalid(
            task_code,
            &format!("{element}/id"),
            &raw,
            "an id is a number",
        )
    })
}

fn dispatch(sh: &Shared, ctx: &Ctx, code: &str, task: &Node) -> Result<Reply, ApiError> {
    let e = &sh.engine;
    let cert = |t: &str| cert_input(t, task.child("certificate").unwrap_or(&Node::default()));
    match code {
        "400101" => e.cert_create(ctx, cert(code)?),
        "400102" => e.cert_renew_or_reissue(
            ctx,
            id_in(code, task, "certificate")?,
            cert(code)?,
            JobAction::Reissue,
        ),
        "400103" => e.cert_delete(ctx, id_in(code, task, "certificate")?),
        "400104" => e.cert_info(ctx, id_in(code, task, "certificate")?),
        "400105" => e.cert_list(ctx, query(code, task)?),
        "400106" => e.cert_renew_or_reissue(
            ctx,
            id_in(code, task, "certificate")?,
            cert(code)?,
            JobAction::Renew,
        ),
        "400110" => {
            let req = task.child("certificate_request");
            let plain = req.and_then(|r| r.text_of("plain"));
            e.cert_prepare(plain.as_deref(), req.and_then(|r| r.text_of("product")))
        }
        "400115" => e.job_list(ctx, query(code, task)?, false),
        "400135" => e.job_list(ctx, query(code, task)?, true),
        "400114" => {
            let job = task
                .child("certificate_job")
                .and_then(|c| c.child("job"))
                .or_else(|| task.child("job"))
                .ok_or_else(|| ApiError::required(code, "certificate_job/job/id"))?;
            let raw = job
                .text_of("id")
                .ok_or_else(|| ApiError::required(code, "certificate_job/job/id"))?;
            let id = raw
                .parse()
                .map_err(|_| ApiError::invalid(code, "job/id", &raw, "an id is a number"))?;
            e.job_info(ctx, id, code, "S400114")
        }
        "4001031" => e.cert_revoke(ctx, id_in(code, task, "certificate")?, cert(code)?),
        "400201" => {
            // The XML reply carries the new id only in `status/object/value`, with an empty
            // `<data/>` (seed page and `autodns-api.md` §2.11); JSON returns the contact.
            let input = contact_input(code, task.child("contact").unwrap_or(&Node::default()))?;
            let mut r = e.contact_create(ctx, input)?;
            r.data.clear();
            Ok(r)
        }
        "400202" => {
            let id = id_in(code, task, "contact")?;
            e.contact_update(
                ctx,
                id,
                contact_input(code, task.child("contact").unwrap_or(&Node::default()))?,
            )
        }
        "400203" => e.contact_delete(ctx, id_in(code, task, "contact")?),
        "400204" => e.contact_info(ctx, id_in(code, task, "contact")?),
        "400205" => e.contact_list(ctx, query(code, task)?),
        "0905" => Ok(e.poll_info(ctx)),
        "0906" => {
            let id = task
                .child("message")
                .and_then(|m| m.text_of("id"))
                .ok_or_else(|| ApiError::required(code, "message/id"))?;
            e.poll_confirm(ctx, &id)
        }
        "" => Err(ApiError::required("0000", "task/code")),
        other => Err(ApiError::unknown_task(other, &format!("with code {other}"))),
    }
}

fn int_of(task: &str, n: &Node, name: &str) -> Result<Option<i64>, ApiError> {
    match n.text_of(name) {
        None => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| ApiError::invalid(task, name, &s, "an integer is expected")),
    }
}

fn bool_of(task: &str, n: &Node, name: &str) -> Result<Option<bool>, ApiError> {
    match n.text_of(name).as_deref() {
        None => Ok(None),
        Some("true" | "1") => Ok(Some(true)),
        Some("false" | "0") => Ok(Some(false)),
        Some(other) => Err(ApiError::invalid(
            task,
            name,
            other,
            "true or false is expected",
        )),
    }
}

fn cert_input(task: &str, c: &Node) -> Result<CertInput, ApiError> {
    let nested_id = |name: &str| -> Result<Option<i64>, ApiError> {
        match c.child(name) {
            None => Ok(None),
            Some(n) => int_of(task, n, "id"),
        }
    };
    Ok(CertInput {
        name: c.text_of("name"),
        product: c.text_of("product"),
        certificate_type: c.text_of("certificate_type"),
        lifetime_months: int_of(task, c, "lifetime")?,
        software: c.text_of("software"),
        csr: c.text_of("csr"),
        has_csr: bool_of(task, c, "has_csr")?,
        password: c
            .child("password")
            .map(|p| Redacted(p.text.trim().to_string())),
        firstname: c.text_of("firstname"),
        lastname: c.text_of("lastname"),
        organization_unit_name: c.text_of("organization_unit_name"),
        admin_id: nested_id("admin")?,
        technical_id: nested_id("technical")?,
        approver_emails: c
            .all("approver_email")
            .map(|a| a.text.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    })
}

fn contact_input(_task: &str, c: &Node) -> Result<ContactInput, ApiError> {
    let address: Vec<String> = c
        .all("address")
        .map(|a| a.text.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    Ok(ContactInput {
        fname: c.text_of("first"),
        lname: c.text_of("last"),
        email: c.text_of("email"),
        phone: c.text_of("phone"),
        fax: c.text_of("fax"),
        title: c.text_of("title"),
        organization: c.text_of("organization"),
        address: (!address.is_empty()).then_some(address),
        pcode: c.text_of("postal_code"),
        city: c.text_of("city"),
        country: c.text_of("country"),
        state: c.text_of("state"),
    })
}

/// `<where><key/><operator/><value/><and>…</and><or>…</or></where>`, `<view>`, `<order>`, `<key>`.
fn condition(n: &Node, path: &str) -> Option<Filter> {
    let mut acc = match n.text_of("key") {
        Some(key) => {
            let op = n
                .text_of("operator")
                .unwrap_or_else(|| "eq".into())
                .to_ascii_uppercase();
            let op = match op.as_str() {
                "EQ" | "=" => "EQUAL".to_string(),
                "NE" | "!=" => "NOT_EQUAL".to_string(),
                "GT" => "GREATER".to_string(),
                "LT" => "LESS".to_string(),
                "GE" => "GREATER_EQUAL".to_string(),
                "LE" => "LESS_EQUAL".to_string(),
                _ => op,
            };
            let value = n.text_of("value").map(|v| {
                if op.contains("LIKE") {
                    v.replace('*', "%")
                } else {
                    v
                }
            });
            Some(Filter::Cond {
                path: path.to_string(),
                key,
                op,
                value,
                values: Vec::new(),
            })
        }
        None => None,
    };
    for (i, c) in n.children.iter().enumerate() {
        let or = match c.name.as_str() {
            "and" => false,
            "or" => true,
            _ => continue,
        };
        if let Some(sub) = condition(c, &format!("{path}/{}[{i}]", c.name)) {
            acc = Some(match acc {
                None => sub,
                Some(a) if or => Filter::Or(vec![a, sub]),
                Some(a) => Filter::And(vec![a, sub]),
            });
        }
    }
    acc
}

fn query(task: &str, t: &Node) -> Result<Query, ApiError> {
    let mut q = Query::default();
    if let Some(w) = t.child("where") {
        q.filter = condition(w, "where");
    }
    if let Some(v) = t.child("view") {
        q.limit = int_of(task, v, "limit")?.map(|l| usize::try_from(l.max(0)).unwrap_or(0));
        q.offset = int_of(task, v, "offset")?
            .map(|o| usize::try_from(o.max(0)).unwrap_or(0))
            .unwrap_or(0);
    }
    for o in t.all("order") {
        if let Some(k) = o.text_of("key") {
            let desc = o
                .text_of("mode")
                .is_some_and(|m| m.eq_ignore_ascii_case("desc"));
            q.orders.push((k, desc));
        }
    }
    q.keys = t
        .all("key")
        .map(|k| k.text.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    Ok(q)
}

// ---- writing -----------------------------------------------------------------------------------

/// A small XML writer: escaped text, CDATA for PEM blobs (`autodns-api.md` §1.4).
#[derive(Debug, Default)]
struct Out(String);

fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c => o.push(c),
        }
    }
    o
}

impl Out {
    fn open(&mut self, name: &str) {
        self.0.push('<');
        self.0.push_str(name);
        self.0.push('>');
    }
    fn close(&mut self, name: &str) {
        self.0.push_str("</");
        self.0.push_str(name);
        self.0.push('>');
    }
    fn leaf(&mut self, name: &str, text: &str) {
        self.open(name);
        self.0.push_str(&escape(text));
        self.close(name);
    }
    fn opt(&mut self, name: &str, text: &Option<String>) {
        if let Some(t) = text {
            self.leaf(name, t);
        }
    }
    fn cdata(&mut self, name: &str, text: &str) {
        self.open(name);
        self.0.push_str("<![CDATA[");
        self.0.push_str(&text.replace("]]>", "]]]]><![CDATA[>"));
        self.0.push_str("]]>");
        self.close(name);
    }
    fn owner(&mut self, name: &str, o: &Owner) {
        self.open(name);
        self.leaf("user", &o.user);
        self.leaf("context", &o.context.to_string());
        self.close(name);
    }
}

fn kind_name(k: ObjKind) -> &'static str {
    match k {
        ObjKind::Certificate => "certificate",
        ObjKind::Contact => "contact",
        ObjKind::Message => "message",
        ObjKind::Job => "job",
    }
}

fn status(o: &mut Out, code: &str, text: &str, typ: &str, obj: Option<&ObjRef>) {
    o.open("status");
    o.leaf("code", code);
    o.leaf("text", text);
    o.leaf("type", typ);
    if let Some(ob) = obj {
        o.open("object");
        o.leaf("type", kind_name(ob.kind));
        if let Some(v) = &ob.value {
            o.leaf("value", v);
        }
        o.close("object");
    }
    o.close("status");
}

fn msg(o: &mut Out, m: &ApiMsg) {
    o.open("msg");
    o.leaf("code", &m.code);
    o.leaf("text", &m.text);
    o.leaf("type", "error");
    for (t, v) in &m.objects {
        o.open("object");
        o.leaf("type", t);
        o.leaf("value", v);
        o.close("object");
    }
    o.close("msg");
}

fn contact_fields(o: &mut Out, c: &Contact, keys: Option<&[String]>) {
    let want = |k: &str| keys.is_none_or(|ks| ks.iter().any(|x| x == k));
    o.leaf("id", &c.id.to_string());
    o.leaf("first", &c.fname);
    o.leaf("last", &c.lname);
    if want("phone") {
        o.opt("phone", &c.phone);
    }
    if want("fax") {
        o.opt("fax", &c.fax);
    }
    if want("email") {
        o.leaf("email", &c.email);
    }
    if want("title") {
        o.opt("title", &c.title);
    }
    o.opt("organization", &c.organization);
    if want("address") {
        for a in &c.address {
            o.leaf("address", a);
        }
    }
    if want("pcode") {
        o.opt("postal_code", &c.pcode);
    }
    for (k, v) in [
        ("city", &c.city),
        ("country", &c.country),
        ("state", &c.state),
    ] {
        if want(k) {
            o.opt(k, v);
        }
    }
    o.owner("owner", &c.owner);
    o.owner("updater", &c.owner);
    o.leaf("created", &xml_date(c.created));
    o.leaf("updated", &xml_date(c.updated));
}

fn certificate(o: &mut Out, v: &CertView) {
    let c = &v.cert;
    o.open("certificate");
    o.leaf("id", &c.id.to_string());
    o.leaf("name", &c.name);
    if let Some(keys) = &v.keys {
        for k in keys {
            match k.as_str() {
                "product" => o.leaf("product", &c.product),
                "orderId" | "order_id" => o.opt("order_id", &c.order_id),
                "certificateType" | "certificate_type" => {
                    o.leaf("certificate_type", &c.certificate_type)
                }
                "expire" => o.opt("expire", &c.expire.map(xml_date)),
                "serialNumber" | "serial_number" => o.leaf(
                    "serial_number",
                    c.serial_number.as_deref().unwrap_or("NOT_SET"),
                ),
                "admin" => {
                    o.open("admin");
                    o.leaf("id", &c.admin_id.to_string());
                    o.close("admin");
                }
                _ => {}
            }
        }
        o.owner("owner", &c.owner);
        o.leaf("created", &xml_date(c.created));
        o.leaf("updated", &xml_date(c.updated));
        o.close("certificate");
        return;
    }
    o.opt("order_id", &c.order_id);
    if let Some(a) = &v.admin {
        o.open("admin");
        contact_fields(o, a, None);
        o.close("admin");
    }
    if let Some(t) = &v.technical {
        o.open("technical");
        contact_fields(o, t, None);
        o.close("technical");
    }
    o.leaf("approver_email", &c.approver_email);
    o.leaf("lifetime", &c.lifetime_months.to_string());
    o.leaf("software", &c.software);
    if let Some(csr) = &c.csr {
        o.cdata("csr", csr);
    }
    if let Some(s) = &c.server {
        o.cdata("server", s);
    }
    for (t, pem) in &v.chain {
        o.open("certification_authority");
        o.leaf("ca_type", t);
        o.cdata("ca_certificate", pem);
        o.close("certification_authority");
    }
    o.leaf(
        "serial_number",
        c.serial_number.as_deref().unwrap_or("NOT_SET"),
    );
    o.leaf("product", &c.product);
    o.leaf("certificate_type", &c.certificate_type);
    o.leaf("sha", "SHA2");
    o.opt("expire", &c.expire.map(xml_date));
    if let Some(p) = &c.password {
        o.leaf("password", &p.0);
    }
    o.opt("firstname", &c.firstname);
    o.opt("lastname", &c.lastname);
    o.opt("organization_unit_name", &c.organization_unit_name);
    o.leaf("has_csr", if c.has_csr { "true" } else { "false" });
    for h in &c.histories {
        o.open("history");
        o.leaf("serial_number", &h.serial_number);
        o.opt("order_id", &h.order_id);
        o.opt("revoked", &h.revoked.map(xml_date));
        o.close("history");
    }
    o.owner("owner", &c.owner);
    o.owner("updater", &c.owner);
    o.leaf("created", &xml_date(c.created));
    o.leaf("updated", &xml_date(c.updated));
    o.close("certificate");
}

fn job(o: &mut Out, j: &JobView) {
    o.open("job");
    o.leaf("id", &j.job.id.to_string());
    o.owner("owner", &j.job.owner);
    o.leaf("object", &j.job.name);
    o.leaf("status", j.status);
    if j.status == "DEFERRED" {
        o.leaf("sub_status", "WF_EMAIL_AUTH");
    }
    o.leaf("created", &xml_date(j.job.created));
    o.leaf("updated", &xml_date(j.updated));
    o.leaf("type", "ssl");
    o.leaf("sub_type", &j.job.product);
    o.leaf("action", j.job.action.as_str());
    o.leaf("execution", &xml_date(j.updated));
    // The job of a poll message carries the ctid of the task that started it (`autodns-api.md`
    // §3.3); job info and the job list are taken to do the same (inferred).
    o.opt("ctid", &j.job.ctid);
    o.close("job");
}

fn cert_data(o: &mut Out, d: &CertData) {
    o.open("certificate_request");
    o.cdata("plain", &d.plain);
    o.opt("name", &d.name);
    o.opt("email", &d.name);
    o.leaf("key_size", &d.key_size.to_string());
    o.leaf("algorithm", d.algorithm);
    o.leaf("signature_hash_algorithm", "SHA256");
    o.opt("product", &d.product);
    if let Some(n) = &d.name {
        o.open("authentication");
        o.leaf("name", n);
        o.leaf("method", "EMAIL");
        o.leaf("approver_email", n);
        o.close("authentication");
    }
    o.close("certificate_request");
}

fn poll_message(o: &mut Out, m: &Message, cert: Option<&CertView>) {
    o.open("message");
    o.leaf("id", &m.id.to_string());
    o.owner("owner", &m.owner);
    o.leaf("created", &xml_date(m.created));
    match &m.body {
        MessageBody::CertificateJob {
            job: j,
            certificate: snap,
        } => {
            o.leaf("stid", &j.stid);
            o.opt("ctid", &j.ctid);
            let ok = j.outcome.as_ref().is_some_and(|x| x.success);
            o.open("job");
            o.leaf("id", &j.id.to_string());
            o.opt("ctid", &j.ctid);
            o.open("status");
            o.leaf(
                "code",
                &format!("{}{}", if ok { 'S' } else { 'E' }, j.action.task_code()),
            );
            o.leaf(
                "text",
                if ok {
                    "The certificate job was completed successfully."
                } else {
                    "The certificate job failed."
                },
            );
            o.leaf("type", if ok { "success" } else { "error" });
            o.close("status");
            o.leaf("sub_type", &j.product);
            o.leaf("action", j.action.as_str());
            o.leaf("created", &xml_date(j.created));
            o.leaf("updated", &xml_date(j.updated(m.created)));
            o.leaf("execution", &xml_date(j.updated(m.created)));
            o.close("job");
            o.open("object");
            o.leaf("type", "certificate");
            o.leaf("value", &snap.name);
            o.open("data");
            match cert {
                Some(c) => certificate(o, c),
                None => {
                    o.open("certificate");
                    o.leaf("id", &snap.id.to_string());
                    o.leaf("name", &snap.name);
                    o.leaf("product", &snap.product);
                    o.leaf(
                        "serial_number",
                        snap.serial_number.as_deref().unwrap_or("NOT_SET"),
                    );
                    o.opt("expire", &snap.expire.map(xml_date));
                    o.close("certificate");
                }
            }
            o.close("data");
            o.close("object");
            if let Some(out) = &j.outcome {
                for x in &out.messages {
                    msg(o, x);
                }
            }
        }
        MessageBody::ForeignDomainJob { job_id, domain } => {
            o.open("job");
            o.leaf("id", &job_id.to_string());
            o.open("status");
            o.leaf("code", "S0102");
            o.leaf("text", "The domain was updated successfully.");
            o.leaf("type", "success");
            o.close("status");
            o.leaf("sub_type", "VGRS-TEST_com");
            o.leaf("action", "update");
            o.close("job");
            o.open("object");
            o.leaf("type", "domain");
            o.leaf("value", domain);
            o.close("object");
        }
        MessageBody::ForeignNotify {
            notify_type,
            domain,
        } => {
            o.open("notify");
            o.leaf("type", notify_type);
            o.open("object");
            o.leaf("type", "domain");
            o.leaf("value", domain);
            o.close("object");
            o.close("notify");
        }
    }
    o.close("message");
}

fn item(o: &mut Out, i: &Item) {
    match i {
        Item::Contact { contact: c, keys } => {
            o.open("contact");
            contact_fields(o, c, keys.as_deref());
            o.close("contact");
        }
        Item::Certificate(v) => certificate(o, v),
        Item::Job(j) => {
            // CertificateCreate and friends: `certificate_job/job/{id,status}` ([BRIEF]).
            o.open("certificate_job");
            o.open("job");
            o.leaf("id", &j.job.id.to_string());
            o.leaf("status", j.status);
            o.close("job");
            o.close("certificate_job");
        }
        Item::ObjectJob { job: j, cert } => {
            o.open("certificate_job");
            job(o, j);
            let (st, step) = auth_status(j.status);
            o.open("authentication");
            o.leaf("status", st);
            o.leaf("step", step);
            o.close("authentication");
            if let Some(c) = cert {
                certificate(o, c);
            }
            o.close("certificate_job");
        }
        Item::CertData(d) => cert_data(o, d),
        Item::Poll { message, cert } => poll_message(o, message, cert.as_deref()),
    }
}

fn envelope_tail(o: &mut Out, stid: &str, ctid: Option<&str>) {
    o.close("result");
    o.leaf("stid", stid);
    if let Some(c) = ctid {
        o.leaf("ctid", c);
    }
    o.close("response");
}

/// A successful `<response>` (also the body of an XML push).
pub(crate) fn render_reply(r: &Reply, stid: &str, ctid: Option<&str>) -> String {
    let mut o = Out(String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"));
    o.open("response");
    o.open("result");
    if r.data.is_empty() && r.summary.is_none() {
        o.0.push_str("<data/>");
    } else {
        o.open("data");
        if let Some(s) = r.summary {
            o.leaf("summary", &s.to_string());
        }
        for i in &r.data {
            item(&mut o, i);
        }
        o.close("data");
    }
    status(
        &mut o,
        &r.code,
        &r.text,
        if r.notify { "notify" } else { "success" },
        r.object.as_ref(),
    );
    envelope_tail(&mut o, stid, ctid);
    o.0
}

fn respond(code: StatusCode, body: String) -> Response {
    let mut resp = (code, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml; charset=utf-8"),
    );
    resp
}

/// An error `<response>`; HTTP 200 (see the module comment).
pub(crate) fn error_response(e: &ApiError, stid: &str, ctid: Option<&str>) -> Response {
    let mut o = Out(String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"));
    o.open("response");
    o.open("result");
    o.0.push_str("<data/>");
    for m in &e.messages {
        msg(&mut o, m);
    }
    status(&mut o, &e.code, &e.text, "error", e.object.as_deref());
    envelope_tail(&mut o, stid, ctid);
    respond(StatusCode::OK, o.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdata_and_predefined_entities_become_text() {
        let n = parse("<request><a><![CDATA[x<y]]></a><b>a &amp; b &#65;</b></request>").unwrap();
        assert_eq!(n.text_of("a").unwrap(), "x<y");
        assert_eq!(n.text_of("b").unwrap(), "a & b A");
    }

    #[test]
    fn doctype_and_custom_entities_are_refused() {
        let bomb =
            "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"aaaa\">]><request>&a;</request>";
        assert!(parse(bomb).unwrap_err().contains("DOCTYPE"));
        assert!(parse("<request>&a;</request>")
            .unwrap_err()
            .contains("undeclared entity"));
    }

    #[test]
    fn broken_documents_are_refused() {
        assert!(parse("<request><task>").is_err());
        assert!(parse("").is_err());
        assert!(parse("<a></b>").is_err());
        assert!(parse("<a/><b/>").is_err());
    }

    #[test]
    fn writer_escapes_text_and_splits_cdata_terminators() {
        let mut o = Out::default();
        o.leaf("a", "<&>");
        o.cdata("b", "x]]>y");
        assert_eq!(
            o.0,
            "<a>&lt;&amp;&gt;</a><b><![CDATA[x]]]]><![CDATA[>y]]></b>"
        );
        let back = parse(&format!("<r>{}</r>", o.0)).unwrap();
        assert_eq!(back.text_of("b").unwrap(), "x]]>y");
    }
}
