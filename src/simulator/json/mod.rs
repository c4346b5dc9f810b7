//! The JSON API under `/v1` (`autodns-api.md` §1.2-§1.6, §1.9, §1.12, §2): routes, Basic auth with
//! `X-Domainrobot-Context`, `X-Domainrobot-Ctid` echo, its own parsing of request bodies into the
//! engine's inputs, and rendering of the response envelope
//! `{stid, ctid, status, object, data, messages}` with `…T…sss+hhmm` dates.
//!
//! Errors answer with a non-2xx status *and* the envelope (`status.type: ERROR`, `E…` code,
//! `messages[]` with `EF…` codes), as every SDK expects (§1.9). Unauthenticated requests get
//! 401 with the same envelope: the status is the one the Ruby gem expects; no source shows the
//! body, so the body shape is inferred from the other errors.
//!
//! Layout, the same as `xml/`: this file holds the routes, authentication, the field readers and
//! the envelope; `contacts`, `certificates`, `jobs` and `poll` hold their area's handlers, body
//! readers and renderers; `queries` reads a search.

mod certificates;
mod contacts;
mod jobs;
mod poll;
mod queries;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use serde_json::{json, Map, Value};

use super::engine::{ApiError, Ctx, Item, ObjKind, ObjRef, Reply, Transport};
use super::model::{json_date, ApiMsg, Owner};
use super::Shared;
use certificates::{
    cert_create, cert_data, cert_delete, cert_info, cert_list, cert_prepare, cert_reissue,
    cert_renew, cert_revoke, certificate,
};
use contacts::{
    contact, contact_create, contact_delete, contact_info, contact_list, contact_update,
};
pub(crate) use jobs::auth_status;
use jobs::{
    job, job_columns, job_history, job_history_list, job_info, job_list, job_resend_approver_email,
};
use poll::{poll_confirm, poll_info, poll_message};

type Sh = State<Arc<Shared>>;

/// The `/v1` routes. Both prepareOrder spellings, `_reissue` and the old `DELETE …/_revoke` are
/// accepted because SDKs use them (`autodns-api.md` §2.2).
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/hello", get(hello))
        .route("/sslcontact", post(contact_create))
        .route("/sslcontact/_search", post(contact_list))
        .route(
            "/sslcontact/{id}",
            get(contact_info).put(contact_update).delete(contact_delete),
        )
        .route("/certificate", post(cert_create))
        .route("/certificate/_search", post(cert_list))
        .route("/certificate/_prepareOrder", post(cert_prepare))
        .route("/certificate/prepareOrder", post(cert_prepare))
        .route(
            "/certificate/{id}",
            get(cert_info).put(cert_reissue).delete(cert_delete),
        )
        .route("/certificate/{id}/_renew", put(cert_renew))
        .route("/certificate/{id}/_reissue", put(cert_reissue))
        .route(
            "/certificate/{id}/_revoke",
            post(cert_revoke).delete(cert_revoke),
        )
        .route("/job/_search", post(job_list))
        .route("/job/history/_search", post(job_history_list))
        .route("/job/{id}", get(job_info))
        .route(
            "/job/{id}/_resendApproverEmail",
            put(job_resend_approver_email),
        )
        .route("/job/history/{id}", get(job_history))
        .route("/poll", get(poll_info))
        .route("/poll/{id}", put(poll_confirm))
        .fallback(unknown_route)
        .method_not_allowed_fallback(wrong_method)
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// `Authorization: Basic base64(user:password)` plus `X-Domainrobot-Context` (§1.2).
fn credentials(h: &HeaderMap) -> Option<(String, String, Option<u32>)> {
    use base64::Engine as _;
    let auth = header_str(h, "authorization")?;
    let (scheme, b64) = auth.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (user, pass) = raw.split_once(':')?;
    let context = header_str(h, "x-domainrobot-context").and_then(|c| c.trim().parse().ok());
    Some((user.to_string(), pass.to_string(), context))
}

async fn handle(
    sh: &Shared,
    h: &HeaderMap,
    task: &str,
    op: impl FnOnce(&Ctx) -> Result<Reply, ApiError>,
) -> Response {
    sh.tick();
    let ctid = header_str(h, "x-domainrobot-ctid").map(str::to_string);
    if header_str(h, "user-agent").is_none_or(|ua| ua.trim().is_empty()) {
        // "A User-Agent header is mandatory" (JSON API Basics, `autodns-api.md` §1.2).
        let stid = sh.engine.bare_stid();
        let e = ApiError::new(
            400,
            task,
            "The request is incomplete.",
            super::engine::ef::USER_AGENT_MISSING,
            "The User-Agent header is missing; the JSON API requires one.".into(),
        );
        return error_response(&e, &stid, ctid.as_deref());
    }
    let ctx = match credentials(h) {
        Some((u, p, c)) if sh.engine.authenticate(&u, &p, c) => {
            sh.engine
                .begin(Transport::Json, c.unwrap_or_default(), ctid)
        }
        _ => {
            let stid = sh.engine.bare_stid();
            return error_response(&ApiError::authentication(task), &stid, ctid.as_deref());
        }
    };
    let result = op(&ctx);
    sh.jobs_changed();
    match result {
        Ok(r) => reply_response(&r, &ctx.stid, ctx.ctid.as_deref()),
        Err(e) => error_response(&e, &ctx.stid, ctx.ctid.as_deref()),
    }
}

fn respond(status: StatusCode, body: String, stid: &str) -> Response {
    let mut resp = (status, body).into_response();
    let hs = resp.headers_mut();
    hs.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    hs.insert(header::CONTENT_LANGUAGE, HeaderValue::from_static("en"));
    if let Ok(v) = HeaderValue::from_str(stid) {
        hs.insert("x-domainrobot-stid", v);
    }
    resp
}

fn reply_response(r: &Reply, stid: &str, ctid: Option<&str>) -> Response {
    let mut resp = respond(StatusCode::OK, render_reply(r, stid, ctid), stid);
    if r.drop_answer {
        resp.extensions_mut().insert(super::faults::DropAnswer);
    }
    resp
}

/// An error envelope with the error's HTTP status.
pub(crate) fn error_response(e: &ApiError, stid: &str, ctid: Option<&str>) -> Response {
    let status = StatusCode::from_u16(e.http).unwrap_or(StatusCode::BAD_REQUEST);
    let mut env = Map::new();
    env.insert("stid".into(), json!(stid));
    if let Some(c) = ctid {
        env.insert("ctid".into(), json!(c));
    }
    env.insert(
        "messages".into(),
        Value::Array(e.messages.iter().map(msg).collect()),
    );
    env.insert(
        "status".into(),
        json!({"code": e.code, "text": e.text, "type": "ERROR"}),
    );
    if let Some(o) = &e.object {
        env.insert("object".into(), object(o, None));
    }
    respond(status, Value::Object(env).to_string(), stid)
}

async fn unknown_route(sh: Sh, uri: axum::http::Uri, method: axum::http::Method) -> Response {
    let stid = sh.engine.bare_stid();
    let e = ApiError::unknown_task("0000", &format!("{method} {}", uri.path()));
    error_response(&e, &stid, None)
}

async fn wrong_method(sh: Sh, uri: axum::http::Uri, method: axum::http::Method) -> Response {
    let stid = sh.engine.bare_stid();
    let mut e = ApiError::unknown_task("0000", &format!("{method} {}", uri.path()));
    e.http = 405;
    error_response(&e, &stid, None)
}

fn parse_id(task: &str, raw: &str) -> Result<i64, ApiError> {
    raw.trim()
        .parse::<i64>()
        .map_err(|_| ApiError::invalid(task, "id", raw, "an id is a number"))
}

fn body_json(task: &str, body: &Bytes, allow_empty: bool) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return if allow_empty {
            Ok(Value::Object(Map::new()))
        } else {
            Err(ApiError::malformed(
                task,
                "The request body is empty; a JSON object was expected.",
            ))
        };
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::malformed(task, &format!("The request body is not valid JSON: {e}"))
    })?;
    match v {
        Value::Object(_) => Ok(v),
        Value::Null if allow_empty => Ok(Value::Object(Map::new())),
        _ => Err(ApiError::malformed(
            task,
            "The request body must be a JSON object.",
        )),
    }
}

fn get_str(task: &str, v: &Value, key: &str) -> Result<Option<String>, ApiError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::invalid(
            task,
            key,
            &other.to_string(),
            "a string is expected",
        )),
    }
}

fn get_int(task: &str, v: &Value, key: &str) -> Result<Option<i64>, ApiError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| ApiError::invalid(task, key, &n.to_string(), "an integer is expected")),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ApiError::invalid(task, key, s, "an integer is expected")),
        Some(other) => Err(ApiError::invalid(
            task,
            key,
            &other.to_string(),
            "an integer is expected",
        )),
    }
}

fn get_bool(task: &str, v: &Value, key: &str) -> Result<Option<bool>, ApiError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s == "true" => Ok(Some(true)),
        Some(Value::String(s)) if s == "false" => Ok(Some(false)),
        Some(other) => Err(ApiError::invalid(
            task,
            key,
            &other.to_string(),
            "true or false is expected",
        )),
    }
}

fn get_contact_id(task: &str, v: &Value, key: &str) -> Result<Option<i64>, ApiError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(c @ Value::Object(_)) => get_int(task, c, "id").map_err(|_| {
            ApiError::invalid(task, &format!("{key}.id"), "", "an integer is expected")
        }),
        Some(other) => Err(ApiError::invalid(
            task,
            key,
            &other.to_string(),
            "an object {\"id\": …} is expected",
        )),
    }
}

async fn hello(State(sh): Sh, h: HeaderMap) -> Response {
    handle(&sh, &h, "000000", |_| Ok(sh.engine.hello())).await
}

fn kind_name(k: ObjKind) -> &'static str {
    match k {
        ObjKind::Certificate => "Certificate",
        ObjKind::Contact => "SslContact",
        ObjKind::Message => "Message",
        ObjKind::Job => "ObjectJob",
    }
}

fn object(o: &ObjRef, summary: Option<usize>) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), json!(kind_name(o.kind)));
    if let Some(v) = &o.value {
        m.insert("value".into(), json!(v));
    }
    if let Some(s) = summary {
        m.insert("summary".into(), json!(s));
    }
    if let Some((id, name, software)) = &o.cert_summary {
        m.insert(
            "data".into(),
            json!({"id": id, "name": name, "software": software}),
        );
    }
    Value::Object(m)
}

fn msg(m: &ApiMsg) -> Value {
    json!({
        "text": m.text,
        "objects": m.objects.iter().map(|(t, v)| json!({"type": t, "value": v})).collect::<Vec<_>>(),
        "code": m.code,
        "status": "ERROR",
    })
}

fn owner(o: &Owner) -> Value {
    json!({"context": o.context, "user": o.user})
}

fn put_opt(m: &mut Map<String, Value>, k: &str, v: &Option<String>) {
    if let Some(v) = v {
        m.insert(k.into(), json!(v));
    }
}

fn item(i: &Item) -> Value {
    match i {
        Item::Contact { contact: c, keys } => contact(c, keys.as_deref()),
        Item::Certificate(v) => certificate(v),
        Item::Job(j) => job(j),
        Item::ObjectJob { job: j, cert, keys } => {
            let (st, step) = auth_status(j.status);
            let mut o = json!({"type": "Certificate", "value": j.job.name});
            if let (Some(c), Some(obj)) = (cert, o.as_object_mut()) {
                obj.insert("data".into(), certificate(c));
            }
            json!({"job": job_columns(j, keys.as_deref()), "object": o,
                   "authentication": [{"status": st, "step": step, "updated": json_date(j.updated)}]})
        }
        Item::CertData(d) => cert_data(d),
        Item::Poll { message, cert } => poll_message(message, cert.as_deref()),
    }
}

/// The envelope of a successful reply (also the body of a JSON push).
pub(crate) fn render_reply(r: &Reply, stid: &str, ctid: Option<&str>) -> String {
    let mut env = Map::new();
    env.insert("stid".into(), json!(stid));
    if let Some(c) = ctid {
        env.insert("ctid".into(), json!(c));
    }
    env.insert(
        "status".into(),
        json!({"code": r.code, "text": r.text, "type": if r.notify { "NOTIFY" } else { "SUCCESS" }}),
    );
    if let Some(o) = &r.object {
        env.insert("object".into(), object(o, r.summary));
    }
    if !r.data.is_empty() {
        env.insert(
            "data".into(),
            Value::Array(r.data.iter().map(item).collect()),
        );
    }
    Value::Object(env).to_string()
}
