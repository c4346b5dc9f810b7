//! The XML gateway at `POST /` and `/gateway` (`autodns-api.md` §1.2, §1.7, §1.10, §2): requests
//! read with the shared [`crate::xmltree`] reader (no DTDs, no entities beyond the five
//! predefined ones and character references; depth and element count bounded), dispatch on
//! `<task><code>`, and rendering of
//! `<response><result><data/><msg/><status/></result><stid/></response>`.
//!
//! Decisions where the sources are silent (all inferred):
//! - API errors, including wrong credentials, keep HTTP 200 and say `error` in `result/status`
//!   (§1.10), the fault layer's rate limit too (`EF00030`); only its 503 changes the HTTP
//!   status.
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
//!
//! Layout, the same as `json/`: this file holds the gateway (authentication, dispatch on the task
//! code), the writer and the envelope; `contacts`, `certificates`, `jobs`, `poll` and `queries`
//! read and write their area's elements.

mod certificates;
mod contacts;
mod jobs;
mod poll;
mod queries;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::engine::{ApiError, Ctx, Item, ObjKind, ObjRef, Reply, Transport};
use super::json::auth_status;
use super::model::{ApiMsg, JobAction, Owner};
use super::Shared;
use crate::xmltree::{self, Element as Node, Limits};
use certificates::{cert_data, cert_input, certificate};
use contacts::{contact_fields, contact_input};
use jobs::job;
use poll::poll_message;
use queries::query;

/// The gateway's bounds on a request document: deeper than any real AutoDNS request, and far
/// more elements than a task carries.
const LIMITS: Limits = Limits {
    max_depth: 32,
    max_elements: 20_000,
};

/// Reads a request into a tree with the shared safe reader (no DTDs, no entity expansion).
fn parse(doc: &str) -> Result<Node, String> {
    xmltree::parse(doc, LIMITS).map_err(|e| format!("the XML request is refused: {e}"))
}

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

fn item(o: &mut Out, i: &Item) {
    match i {
        Item::Contact { contact: c, keys } => {
            o.open("contact");
            contact_fields(o, c, keys.as_deref());
            o.close("contact");
        }
        Item::Certificate(v) => certificate(o, v),
        Item::Job(j) => {
            // CertificateCreate and friends: `certificate_job/job/{id,status}` (the public
            // InterNetX help page on ordering S/MIME certificates).
            o.open("certificate_job");
            o.open("job");
            o.leaf("id", &j.job.id.to_string());
            o.leaf("status", j.status);
            o.close("job");
            o.close("certificate_job");
        }
        Item::ObjectJob { job: j, cert, .. } => {
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

    #[test]
    fn cdata_and_predefined_entities_become_text() {
        let n = parse("<request><a><![CDATA[x<y]]></a><b>a &amp; b &#65;</b></request>").unwrap();
        assert_eq!(n.text_of("a").unwrap(), "x<y");
        assert_eq!(n.text_of("b").unwrap(), "a & b A");
    }

    #[test]
    fn doctype_custom_entities_and_depth_are_refused() {
        let bomb =
            "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"aaaa\">]><request>&a;</request>";
        assert!(parse(bomb).unwrap_err().contains("DOCTYPE"));
        assert!(parse("<request>&a;</request>")
            .unwrap_err()
            .contains("undeclared entity"));
        let deep = format!("{}{}", "<a>".repeat(33), "</a>".repeat(33));
        assert!(parse(&deep).unwrap_err().contains("nested deeper than 32"));
    }

    #[test]
    fn broken_documents_are_refused() {
        assert!(parse("<request><task>").is_err());
        assert!(parse("").is_err());
        assert!(parse("<a></b>").is_err());
        assert!(parse("<a/><b/>").is_err());
    }
}
