//! SSL contacts on the JSON API (`/v1/sslcontact`): the handlers, the body read into a
//! [`ContactInput`], and a contact rendered as `SslContact`.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::queries::query;
use super::{body_json, get_str, handle, owner, parse_id, put_opt, Sh};
use crate::simulator::engine::{ApiError, ContactInput};
use crate::simulator::model::{json_date, Contact};

pub(super) async fn contact_create(State(sh): Sh, h: HeaderMap, body: Bytes) -> Response {
    handle(&sh, &h, "400201", |ctx| {
        let v = body_json("400201", &body, false)?;
        sh.engine.contact_create(ctx, contact_input("400201", &v)?)
    })
    .await
}

pub(super) async fn contact_info(State(sh): Sh, h: HeaderMap, Path(id): Path<String>) -> Response {
    handle(&sh, &h, "400204", |ctx| {
        sh.engine.contact_info(ctx, parse_id("400204", &id)?)
    })
    .await
}

pub(super) async fn contact_update(
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

pub(super) async fn contact_delete(
    State(sh): Sh,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    handle(&sh, &h, "400203", |ctx| {
        sh.engine.contact_delete(ctx, parse_id("400203", &id)?)
    })
    .await
}

pub(super) async fn contact_list(
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

/// `SslContact` request body (§2.11, §2.14).
pub(super) fn contact_input(task: &str, v: &Value) -> Result<ContactInput, ApiError> {
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

pub(super) fn contact(c: &Contact, keys: Option<&[String]>) -> Value {
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
