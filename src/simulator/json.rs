//! The JSON API under `/v1` (`autodns-api.md` §1.2-§1.6, §1.9, §1.12, §2): routes, Basic auth with
//! `X-Domainrobot-Context`, `X-Domainrobot-Ctid` echo, its own parsing of request bodies into the
//! engine's inputs, and rendering of the response envelope
//! `{stid, ctid, status, object, data, messages}` with `…T…sss+hhmm` dates.
//!
//! Errors answer with a non-2xx status *and* the envelope (`status.type: ERROR`, `E…` code,
//! `messages[]` with `EF…` codes), as every SDK expects (§1.9). Unauthenticated requests get
//! 401 with the same envelope: the status is the one the Ruby gem expects; no source shows the
//! body, so the body shape is inferred from the other errors.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use serde_json::{json, Map, Value};

use super::engine::{
    ApiError, CertData, CertInput, CertView, ContactInput, Ctx, Filter, Item, JobView, ObjKind,
    ObjRef, Query, Reply, Transport,
};
use super::model::{json_date, ApiMsg, Contact, JobAction, Message, MessageBody, Owner, Redacted};
use super::Shared;

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
        .route("/job/history/{id}", get(job_history))
        .route("/poll", get(poll_info))
        .route("/poll/{id}", put(poll_confirm))
        .fallback(unknown_route)
        .method_not_allowed_fallback(wrong_method)
}

// ---- plumbing ----------------------------------------------------------------------------------

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

// ---- field readers -----------------------------------------------------------------------------

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

/// `Certificate` request body (§2.14).
fn cert_input(task: &str, v: &Value) -> Result<CertInput, ApiError> {
    let lifetime = match v.get("lifetime") {
        None | Some(Value::Null) => None,
        Some(l @ Value::Object(_)) => {
            let unit = get_str(task, l, "unit")?.unwrap_or_else(|| "MONTH".into());
            let period = get_int(task, l, "period")?
                .ok_or_else(|| ApiError::required(task, "lifetime.period"))?;
            match unit.as_str() {
                "MONTH" => Some(period),
                "YEAR" => Some(period.saturating_mul(12)),
                other => {
                    return Err(ApiError::invalid(
                        task,
                        "lifetime.unit",
                        other,
                        "MONTH or YEAR",
                    ))
                }
            }
        }
        Some(other) => {
            return Err(ApiError::invalid(
                task,
                "lifetime",
                &other.to_string(),
                "an object {\"unit\": \"MONTH\", \"period\": N} is expected",
            ))
        }
    };
    let mut approver_emails = Vec::new();
    if let Some(a) = v.get("authentication").filter(|a| !a.is_null()) {
        if let Some(list) = a.get("approverEmails").and_then(Value::as_array) {
            for e in list {
                match e.as_str() {
                    Some(s) => approver_emails.push(s.to_string()),
                    None => {
                        return Err(ApiError::invalid(
                            task,
                            "authentication.approverEmails",
                            &e.to_string(),
                            "strings are expected",
                        ))
                    }
                }
            }
        }
    }
    Ok(CertInput {
        name: get_str(task, v, "name")?,
        product: get_str(task, v, "product")?,
        certificate_type: get_str(task, v, "certificateType")?,
        lifetime_months: lifetime,
        software: get_str(task, v, "software")?,
        csr: get_str(task, v, "csr")?,
        has_csr: get_bool(task, v, "hasCsr")?,
        password: get_str(task, v, "password")?.map(Redacted),
        firstname: get_str(task, v, "firstname")?,
        lastname: get_str(task, v, "lastname")?,
        organization_unit_name: get_str(task, v, "organizationUnitName")?,
        admin_id: get_contact_id(task, v, "adminContact")?,
        technical_id: get_contact_id(task, v, "technicalContact")?,
        approver_emails,
    })
}

/// `SslContact` request body (§2.11, §2.14).
fn contact_input(task: &str, v: &Value) -> Result<ContactInput, ApiError> {
    let address = match v.get("address") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(vec![s.clone()]),
        Some(Value::Array(a)) => Some(
            a.iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    ApiError::invalid(task, "address", "", "a list of strings is expected")
                })?,
        ),
        Some(other) => {
            return Err(ApiError::invalid(
                task,
                "address",
                &other.to_string(),
                "a list of strings is expected",
            ))
        }
    };
    Ok(ContactInput {
        fname: get_str(task, v, "fname")?,
        lname: get_str(task, v, "lname")?,
        email: get_str(task, v, "email")?,
        phone: get_str(task, v, "phone")?,
        fax: get_str(task, v, "fax")?,
        title: get_str(task, v, "title")?,
        organization: get_str(task, v, "organization")?,
        address,
        pcode: get_str(task, v, "pcode")?,
        city: get_str(task, v, "city")?,
        country: get_str(task, v, "country")?,
        state: get_str(task, v, "state")?,
    })
}

/// `QueryFilter` list. Each filter's `link` (default AND) joins it to the filters before it;
/// when a filter has no `link`, the previous filter's `link` is used, so both placements seen in
/// client code work. A filter with nested `filters` is a parenthesised group.
fn filters(task: &str, list: &Value, prefix: &str) -> Result<Option<Filter>, ApiError> {
    let Some(arr) = list.as_array() else {
        return Err(ApiError::invalid(
            task,
            prefix,
            &list.to_string(),
            "a list of filters is expected",
        ));
    };
    let mut acc: Option<Filter> = None;
    let mut prev_link: Option<String> = None;
    for (i, f) in arr.iter().enumerate() {
        let path = format!("{prefix}[{i}]");
        let key = get_str(task, f, "key")?;
        let mut node = match key {
            Some(key) => {
                let values = match f.get("values") {
                    Some(Value::Array(a)) => a
                        .iter()
                        .map(|x| {
                            x.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| x.to_string())
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                let value = match f.get("value") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(other) => Some(other.to_string()),
                };
                let op = get_str(task, f, "operator")?.unwrap_or_else(|| "EQUAL".into());
                Some(Filter::Cond {
                    path: path.clone(),
                    key,
                    op,
                    value,
                    values,
                })
            }
            None => None,
        };
        if let Some(sub) = f.get("filters").filter(|s| !s.is_null()) {
            if let Some(group) = filters(task, sub, &format!("{path}/filters"))? {
                node = Some(match node {
                    Some(n) => Filter::And(vec![n, group]),
                    None => group,
                });
            }
        }
        let Some(node) = node else {
            return Err(ApiError::required(task, &format!("{path}/key")));
        };
        let link = get_str(task, f, "link")?
            .or(prev_link.clone())
            .unwrap_or_else(|| "AND".into());
        acc = Some(match acc {
            None => node,
            Some(a) if link.eq_ignore_ascii_case("OR") => Filter::Or(vec![a, node]),
            Some(a) => Filter::And(vec![a, node]),
        });
        prev_link = get_str(task, f, "link")?;
    }
    Ok(acc)
}

/// `Query` body plus `keys[]` query parameters (§1.12).
fn query(task: &str, body: &Value, raw_query: Option<&str>) -> Result<Query, ApiError> {
    let mut q = Query::default();
    if let Some(f) = body.get("filters").filter(|f| !f.is_null()) {
        q.filter = filters(task, f, "conditions")?;
    }
    if let Some(view) = body.get("view").filter(|v| !v.is_null()) {
        q.limit = get_int(task, view, "limit")?.map(|l| usize::try_from(l.max(0)).unwrap_or(0));
        q.offset = get_int(task, view, "offset")?
            .map(|o| usize::try_from(o.max(0)).unwrap_or(0))
            .unwrap_or(0);
    }
    if let Some(Value::Array(orders)) = body.get("orders") {
        for o in orders {
            if let Some(k) = get_str(task, o, "key")? {
                let desc =
                    get_str(task, o, "type")?.is_some_and(|t| t.eq_ignore_ascii_case("DESC"));
                q.orders.push((k, desc));
            }
        }
    }
    if let Some(raw) = raw_query {
        for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
            if k == "keys[]" || k == "keys" {
                q.keys.push(v.into_owned());
            }
        }
    }
    Ok(q)
}

// ---- handlers ----------------------------------------------------------------------------------

async fn hello(State(sh): Sh, h: HeaderMap) -> Response {
    handle(&sh, &h, "000000", |_| Ok(sh.engine.hello())).await
}

async fn contact_create(State(sh): Sh, h: HeaderMap, body: Bytes) -> Response {
    handle(&sh, &h, "400201", |ctx| {
        let v = body_json("400201", &body, false)?;
        sh.engine.contact_create(ctx, contact_input("400201", &v)?)
    })
    .await
}

async fn contact_info(State(sh): Sh, h: HeaderMap, Path(id): Path<String>) -> Response {
    handle(&sh, &h, "400204", |ctx| {
        sh.engine.contact_info(ctx, parse_id("400204", &id)?)
    })
    .await
}

async fn contact_update(
    State(sh): Sh,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    handle(&sh, &h, "400202", |ctx| {
        let id = parse_id("400202", &id)?;
        let v = body_json("400202", &body, false)?;
        sh.engine
            .contact_update(ctx, id, contact_input("400202", &v)?)
    })
    .await
}

async fn contact_delete(State(sh): Sh, h: HeaderMap, Path(id): Path<String>) -> Response {
    handle(&sh, &h, "400203", |ctx| {
        sh.engine.contact_delete(ctx, parse_id("400203", &id)?)
    })
    .await
}

async fn contact_list(
    State(sh): Sh,
    h: HeaderMap,
    RawQuery(rq): RawQuery,
    body: Bytes,
) -> Response {
    handle(&sh, &h, "400205", |ctx| {
        let v = body_json("400205", &body, true)?;
        sh.engine
            .contact_list(ctx, query("400205", &v, rq.as_deref())?)
    })
    .await
}

async fn cert_create(State(sh): Sh, h: HeaderMap, body: Bytes) -> Response {
    handle(&sh, &h, "400101", |ctx| {
        let v = body_json("400101", &body, false)?;
        sh.engine.cert_create(ctx, cert_input("400101", &v)?)
    })
    .await
}

async fn cert_info(State(sh): Sh, h: HeaderMap, Path(id): Path<String>) -> Response {
    handle(&sh, &h, "400104", |ctx| {
        sh.engine.cert_info(ctx, parse_id("400104", &id)?)
    })
    .await
}

async fn cert_list(State(sh): Sh, h: HeaderMap, RawQuery(rq): RawQuery, body: Bytes) -> Response {
    handle(&sh, &h, "400105", |ctx| {
        let v = body_json("400105", &body, true)?;
        sh.engine
            .cert_list(ctx, query("400105", &v, rq.as_deref())?)
    })
    .await
}

async fn cert_prepare(State(sh): Sh, h: HeaderMap, body: Bytes) -> Response {
    handle(&sh, &h, "400110", |_| {
        let v = body_json("400110", &body, false)?;
        let plain = get_str("400110", &v, "plain")?;
        sh.engine
            .cert_prepare(plain.as_deref(), get_str("400110", &v, "product")?)
    })
    .await
}

async fn cert_renew(State(sh): Sh, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Response {
    handle(&sh, &h, "400106", |ctx| {
        let id = parse_id("400106", &id)?;
        let v = body_json("400106", &body, true)?;
        sh.engine
            .cert_renew_or_reissue(ctx, id, cert_input("400106", &v)?, JobAction::Renew)
    })
    .await
}

async fn cert_reissue(
    State(sh): Sh,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    handle(&sh, &h, "400102", |ctx| {
        let id = parse_id("400102", &id)?;
        let v = body_json("400102", &body, false)?;
        sh.engine
            .cert_renew_or_reissue(ctx, id, cert_input("400102", &v)?, JobAction::Reissue)
    })
    .await
}

async fn cert_delete(State(sh): Sh, h: HeaderMap, Path(id): Path<String>) -> Response {
    handle(&sh, &h, "400103", |ctx| {
        sh.engine.cert_delete(ctx, parse_id("400103", &id)?)
    })
    .await
}

async fn cert_revoke(State(sh): Sh, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Response {
    handle(&sh, &h, "4001031", |ctx| {
        let id = parse_id("4001031", &id)?;
        let v = body_json("4001031", &body, true)?;
        sh.engine.cert_revoke(ctx, id, cert_input("4001031", &v)?)
    })
    .await
}

async fn job_list(State(sh): Sh, h: HeaderMap, RawQuery(rq): RawQuery, body: Bytes) -> Response {
    handle(&sh, &h, "300115", |ctx| {
        let v = body_json("300115", &body, true)?;
        sh.engine
            .job_list(ctx, query("300115", &v, rq.as_deref())?, false)
    })
    .await
}

async fn job_history_list(
    State(sh): Sh,
    h: HeaderMap,
    RawQuery(rq): RawQuery,
    body: Bytes,
) -> Response {
    handle(&sh, &h, "300135", |ctx| {
        let v = body_json("300135", &body, true)?;
        sh.engine
            .job_list(ctx, query("300135", &v, rq.as_deref())?, true)
    })
    .await
}

async fn job_info(State(sh): Sh, h: HeaderMap, Path(id): Path<String>) -> Response {
    handle(&sh, &h, "300114", |ctx| {
        sh.engine
            .job_info(ctx, parse_id("300114", &id)?, "300114", "S300114")
    })
    .await
}

async fn job_history(State(sh): Sh, h: HeaderMap, Path(id): Path<String>) -> Response {
    handle(&sh, &h, "300114", |ctx| {
        sh.engine.job_history(ctx, parse_id("300114", &id)?)
    })
    .await
}

async fn poll_info(State(sh): Sh, h: HeaderMap) -> Response {
    handle(&sh, &h, "0905", |ctx| Ok(sh.engine.poll_info(ctx))).await
}

async fn poll_confirm(State(sh): Sh, h: HeaderMap, Path(id): Path<String>) -> Response {
    handle(&sh, &h, "0906", |ctx| sh.engine.poll_confirm(ctx, &id)).await
}

// ---- rendering ---------------------------------------------------------------------------------

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

fn contact(c: &Contact, keys: Option<&[String]>) -> Value {
    let mut m = Map::new();
    m.insert("created".into(), json!(json_date(c.created)));
    m.insert("updated".into(), json!(json_date(c.updated)));
    // List items carry created, updated, fname, lname, organization, owner and id, plus the
    // requested keys (`autodns-api.md` §2.11); info carries everything.
    let want = |k: &str| keys.is_none_or(|ks| ks.iter().any(|x| x == k));
    m.insert("fname".into(), json!(c.fname));
    m.insert("lname".into(), json!(c.lname));
    if want("phone") {
        put_opt(&mut m, "phone", &c.phone);
    }
    if want("fax") {
        put_opt(&mut m, "fax", &c.fax);
    }
    if want("email") {
        m.insert("email".into(), json!(c.email));
    }
    if want("title") {
        put_opt(&mut m, "title", &c.title);
    }
    put_opt(&mut m, "organization", &c.organization);
    if want("address") {
        m.insert("address".into(), json!(c.address));
    }
    for (k, v) in [
        ("pcode", &c.pcode),
        ("city", &c.city),
        ("country", &c.country),
        ("state", &c.state),
    ] {
        if want(k) {
            put_opt(&mut m, k, v);
        }
    }
    m.insert("owner".into(), owner(&c.owner));
    if keys.is_none() {
        m.insert("updater".into(), owner(&c.owner));
    }
    m.insert("id".into(), json!(c.id));
    Value::Object(m)
}

fn certificate(v: &CertView) -> Value {
    let c = &v.cert;
    let mut m = Map::new();
    m.insert("created".into(), json!(json_date(c.created)));
    m.insert("updated".into(), json!(json_date(c.updated)));
    m.insert("owner".into(), owner(&c.owner));
    m.insert("id".into(), json!(c.id));
    m.insert("name".into(), json!(c.name));
    if let Some(keys) = &v.keys {
        // List view: the default columns plus the requested keys (§2.6).
        for k in keys {
            match k.as_str() {
                "product" => {
                    m.insert("product".into(), json!(c.product));
                }
                "orderId" | "order_id" => put_opt(&mut m, "orderId", &c.order_id),
                "certificateType" | "certificate_type" => {
                    m.insert("certificateType".into(), json!(c.certificate_type));
                }
                "expire" => {
                    if let Some(e) = c.expire {
                        m.insert("expire".into(), json!(json_date(e)));
                    }
                }
                "admin" => {
                    m.insert("adminContact".into(), json!({"id": c.admin_id}));
                }
                "technical" => {
                    if let Some(t) = c.technical_id {
                        m.insert("technicalContact".into(), json!({"id": t}));
                    }
                }
                "serialNumber" | "serial_number" => {
                    m.insert(
                        "serialNumber".into(),
                        json!(c.serial_number.as_deref().unwrap_or("NOT_SET")),
                    );
                }
                "authentication" => {
                    m.insert(
                        "authentication".into(),
                        json!({"method": "EMAIL", "approverEmails": [c.approver_email]}),
                    );
                }
                _ => {}
            }
        }
        return Value::Object(m);
    }
    m.insert("updater".into(), owner(&c.owner));
    put_opt(&mut m, "orderId", &c.order_id);
    if let Some(a) = &v.admin {
        m.insert("adminContact".into(), contact(a, None));
    }
    if let Some(t) = &v.technical {
        m.insert("technicalContact".into(), contact(t, None));
    }
    m.insert(
        "lifetime".into(),
        json!({"unit": "MONTH", "period": c.lifetime_months}),
    );
    m.insert("software".into(), json!(c.software));
    put_opt(&mut m, "csr", &c.csr);
    put_opt(&mut m, "server", &c.server);
    m.insert(
        "serialNumber".into(),
        json!(c.serial_number.as_deref().unwrap_or("NOT_SET")),
    );
    m.insert("product".into(), json!(c.product));
    m.insert("certificateType".into(), json!(c.certificate_type));
    m.insert("signatureHashAlgorithm".into(), json!("SHA2"));
    if let Some(e) = c.expire {
        m.insert("expire".into(), json!(json_date(e)));
        m.insert("payable".into(), json!(json_date(e)));
    }
    m.insert(
        "histories".into(),
        Value::Array(
            c.histories
                .iter()
                .map(|h| {
                    let mut x = json!({"serialNumber": h.serial_number, "orderId": h.order_id});
                    if let (Some(r), Some(o)) = (h.revoked, x.as_object_mut()) {
                        o.insert("revoked".into(), json!(json_date(r)));
                    }
                    x
                })
                .collect(),
        ),
    );
    m.insert(
        "certificationAuthority".into(),
        Value::Array(
            v.chain
                .iter()
                .map(|(t, pem)| json!({"caType": t, "caCertificate": pem}))
                .collect(),
        ),
    );
    if let Some(p) = &c.password {
        m.insert("password".into(), json!(p.0));
    }
    put_opt(&mut m, "firstname", &c.firstname);
    put_opt(&mut m, "lastname", &c.lastname);
    put_opt(&mut m, "organizationUnitName", &c.organization_unit_name);
    m.insert("hasCsr".into(), json!(c.has_csr));
    m.insert(
        "authentication".into(),
        json!({"method": "EMAIL", "approverEmails": [c.approver_email]}),
    );
    m.insert("multiyear".into(), json!(false));
    m.insert("reissueRequired".into(), json!(false));
    Value::Object(m)
}

fn job(j: &JobView) -> Value {
    let mut m = Map::new();
    m.insert("created".into(), json!(json_date(j.job.created)));
    m.insert("updated".into(), json!(json_date(j.updated)));
    m.insert("owner".into(), owner(&j.job.owner));
    m.insert("status".into(), json!(j.status));
    if j.status == "DEFERRED" {
        m.insert("subStatus".into(), json!("WF_EMAIL_AUTH"));
    }
    m.insert("execution".into(), json!(json_date(j.updated)));
    m.insert("subType".into(), json!(j.job.product));
    m.insert("action".into(), json!(j.job.action.as_str()));
    m.insert("id".into(), json!(j.job.id));
    // The spec's `Job` names the ctid of the request behind it only in its `WorkflowEvent`s
    // (`autodns-api.md` §2.14); the simulator records one event per job, the order itself.
    if let Some(c) = &j.job.ctid {
        m.insert(
            "events".into(),
            json!([{"jobId": j.job.id, "vertex": "order", "ctid": c, "object": j.job.name,
                    "type": j.job.action.as_str()}]),
        );
    }
    Value::Object(m)
}

/// `CertAuthenticationStatus` for a job: waiting for the mailbox owner, then done.
pub(crate) fn auth_status(status: &str) -> (&'static str, &'static str) {
    match status {
        "DEFERRED" => ("PENDING_CUSTOMER_APPROVAL", "VERIFICATION"),
        "RUNNING" => ("IN_PROGRESS", "CERTIFICATE"),
        "SUCCESS" => ("COMPLETED", "CERTIFICATE"),
        _ => ("COMPLETED_FAILED", "CERTIFICATE"),
    }
}

fn cert_data(d: &CertData) -> Value {
    let mut m = Map::new();
    m.insert("plain".into(), json!(d.plain));
    put_opt(&mut m, "name", &d.name);
    put_opt(&mut m, "email", &d.name);
    m.insert("keySize".into(), json!(d.key_size));
    m.insert("algorithm".into(), json!(d.algorithm));
    m.insert("signatureHashAlgorithm".into(), json!("SHA256"));
    put_opt(&mut m, "product", &d.product);
    if let Some(n) = &d.name {
        m.insert(
            "authentication".into(),
            json!([{"name": n, "method": "EMAIL", "approverEmails": [n]}]),
        );
    }
    Value::Object(m)
}

fn poll_message(msg_: &Message, cert: Option<&CertView>) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(msg_.id));
    m.insert("owner".into(), owner(&msg_.owner));
    m.insert("created".into(), json!(json_date(msg_.created)));
    match &msg_.body {
        MessageBody::CertificateJob {
            job: j,
            certificate: snap,
        } => {
            let view = JobView {
                job: (**j).clone(),
                status: j.status(msg_.created),
                updated: j.updated(msg_.created),
            };
            m.insert("job".into(), job(&view));
            m.insert("stid".into(), json!(j.stid));
            put_opt(&mut m, "ctid", &j.ctid);
            let data = match cert {
                Some(c) => certificate(c),
                None => {
                    let mut d = json!({"id": snap.id, "name": snap.name, "product": snap.product,
                        "serialNumber": snap.serial_number.as_deref().unwrap_or("NOT_SET")});
                    if let (Some(e), Some(o)) = (snap.expire, d.as_object_mut()) {
                        o.insert("expire".into(), json!(json_date(e)));
                    }
                    d
                }
            };
            m.insert(
                "object".into(),
                json!({"type": "Certificate", "value": snap.name, "data": data}),
            );
            if let Some(o) = &j.outcome {
                if !o.messages.is_empty() {
                    m.insert(
                        "messages".into(),
                        Value::Array(o.messages.iter().map(msg).collect()),
                    );
                }
            }
        }
        MessageBody::ForeignDomainJob { job_id, domain } => {
            let t = json_date(msg_.created);
            m.insert(
                "job".into(),
                json!({"created": t, "updated": t, "status": "SUCCESS", "execution": t,
                       "subType": "VGRS-TEST_com", "action": "update", "id": job_id}),
            );
            m.insert(
                "object".into(),
                json!({"type": "Domain", "value": domain, "data": {"name": domain}}),
            );
        }
        MessageBody::ForeignNotify {
            notify_type,
            domain,
        } => {
            m.insert(
                "notify".into(),
                json!({"type": notify_type, "object": {"type": "Domain", "value": domain}}),
            );
        }
    }
    Value::Object(m)
}

fn item(i: &Item) -> Value {
    match i {
        Item::Contact { contact: c, keys } => contact(c, keys.as_deref()),
        Item::Certificate(v) => certificate(v),
        Item::Job(j) => job(j),
        Item::ObjectJob { job: j, cert } => {
            let (st, step) = auth_status(j.status);
            let mut o = json!({"type": "Certificate", "value": j.job.name});
            if let (Some(c), Some(obj)) = (cert, o.as_object_mut()) {
                obj.insert("data".into(), certificate(c));
            }
            json!({"job": job(j), "object": o,
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
