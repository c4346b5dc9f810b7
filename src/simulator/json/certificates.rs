//! Certificates on the JSON API (`/v1/certificate`): the handlers, the body read into a
//! [`CertInput`], and a certificate (full or as a list row) and prepareOrder's
//! `CertificateData` rendered.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::contacts::contact;
use super::queries::query;
use super::{
    body_json, get_bool, get_contact_id, get_int, get_str, handle, owner, parse_id, put_opt, Sh,
};
use crate::secret::Secret;
use crate::simulator::engine::{ApiError, CertData, CertInput, CertView};
use crate::simulator::model::{json_date, Certificate, JobAction};

pub(super) async fn cert_create(State(sh): Sh, h: HeaderMap, body: Bytes) -> Response {
    handle(&sh, &h, "400101", |ctx| {
        let v = body_json("400101", &body, false)?;
        sh.engine.cert_create(ctx, cert_input("400101", &v)?)
    })
    .await
}

pub(super) async fn cert_info(State(sh): Sh, h: HeaderMap, Path(id): Path<String>) -> Response {
    handle(&sh, &h, "400104", |ctx| {
        sh.engine.cert_info(ctx, parse_id("400104", &id)?)
    })
    .await
}

pub(super) async fn cert_list(
    State(sh): Sh,
    h: HeaderMap,
    RawQuery(rq): RawQuery,
    body: Bytes,
) -> Response {
    handle(&sh, &h, "400105", |ctx| {
        let v = body_json("400105", &body, true)?;
        sh.engine
            .cert_list(ctx, query("400105", &v, rq.as_deref())?)
    })
    .await
}

pub(super) async fn cert_prepare(State(sh): Sh, h: HeaderMap, body: Bytes) -> Response {
    handle(&sh, &h, "400110", |_| {
        let v = body_json("400110", &body, false)?;
        let plain = get_str("400110", &v, "plain")?;
        sh.engine
            .cert_prepare(plain.as_deref(), get_str("400110", &v, "product")?)
    })
    .await
}

pub(super) async fn cert_renew(
    State(sh): Sh,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    handle(&sh, &h, "400106", |ctx| {
        let id = parse_id("400106", &id)?;
        let v = body_json("400106", &body, true)?;
        sh.engine
            .cert_renew_or_reissue(ctx, id, cert_input("400106", &v)?, JobAction::Renew)
    })
    .await
}

pub(super) async fn cert_reissue(
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

pub(super) async fn cert_delete(State(sh): Sh, h: HeaderMap, Path(id): Path<String>) -> Response {
    handle(&sh, &h, "400103", |ctx| {
        sh.engine.cert_delete(ctx, parse_id("400103", &id)?)
    })
    .await
}

pub(super) async fn cert_revoke(
    State(sh): Sh,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    handle(&sh, &h, "4001031", |ctx| {
        let id = parse_id("4001031", &id)?;
        let v = body_json("4001031", &body, true)?;
        sh.engine.cert_revoke(ctx, id, cert_input("4001031", &v)?)
    })
    .await
}

/// `Certificate` request body (§2.14).
pub(super) fn cert_input(task: &str, v: &Value) -> Result<CertInput, ApiError> {
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
        password: get_str(task, v, "password")?.map(Secret::new),
        firstname: get_str(task, v, "firstname")?,
        lastname: get_str(task, v, "lastname")?,
        organization_unit_name: get_str(task, v, "organizationUnitName")?,
        admin_id: get_contact_id(task, v, "adminContact")?,
        technical_id: get_contact_id(task, v, "technicalContact")?,
        approver_emails,
    })
}

pub(super) fn certificate(v: &CertView) -> Value {
    let c = &v.cert;
    let mut m = Map::new();
    if let Some(keys) = &v.keys {
        // List view: the default columns (id, name, owner) plus the requested keys (§2.6;
        // `created` and `updated` are keys, so only there when asked).
        m.insert("owner".into(), owner(&c.owner));
        m.insert("id".into(), json!(c.id));
        m.insert("name".into(), json!(c.name));
        list_columns(&mut m, c, keys);
        return Value::Object(m);
    }
    m.insert("created".into(), json!(json_date(c.created)));
    m.insert("updated".into(), json!(json_date(c.updated)));
    m.insert("owner".into(), owner(&c.owner));
    m.insert("id".into(), json!(c.id));
    m.insert("name".into(), json!(c.name));
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
    m.insert("histories".into(), histories(c));
    m.insert("certificationAuthority".into(), chain(v));
    if let Some(p) = &c.password {
        m.insert("password".into(), json!(p.expose()));
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

/// The requested extra columns of a certificate list row.
fn list_columns(m: &mut Map<String, Value>, c: &Certificate, keys: &[String]) {
    for k in keys {
        match k.as_str() {
            "product" => {
                m.insert("product".into(), json!(c.product));
            }
            "orderId" | "order_id" => put_opt(m, "orderId", &c.order_id),
            "certificateType" | "certificate_type" => {
                m.insert("certificateType".into(), json!(c.certificate_type));
            }
            "expire" => {
                if let Some(e) = c.expire {
                    m.insert("expire".into(), json!(json_date(e)));
                }
            }
            "created" => {
                m.insert("created".into(), json!(json_date(c.created)));
            }
            "updated" => {
                m.insert("updated".into(), json!(json_date(c.updated)));
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
}

/// `histories`: the serials a renew or reissue replaced.
fn histories(c: &Certificate) -> Value {
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
    )
}

/// `certificationAuthority`: the chain, once the CA issued.
fn chain(v: &CertView) -> Value {
    Value::Array(
        v.chain
            .iter()
            .map(|(t, pem)| json!({"caType": t, "caCertificate": pem}))
            .collect(),
    )
}

pub(super) fn cert_data(d: &CertData) -> Value {
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
