//! A small validator of JSON requests and answers against InterNetX's Swagger 2.0 description of
//! the AutoDNS JSON API (`tests/fixtures/autodns-openapi/domainrobot.json`).
//!
//! What it checks, and the rules where Swagger 2.0 leaves room:
//! - a route is a `paths` template under `basePath` (`/certificate/{id}`), literal segments
//!   preferred over `{parameters}`; the method must be one the template names; a path parameter
//!   declared `integer` must be an integer;
//! - query parameters must be declared (`keys[]` is the `keys` array, `collectionFormat: multi`),
//!   and an array parameter's values must be in its `items.enum`. The file spells the first and
//!   last `keys` values with a stray brace (`"{parent"`, `"action}"`): the braces are stripped;
//! - a body only where the operation declares a `body` parameter, validated against its schema;
//! - schemas: `$ref` to `#/definitions/…` (siblings such as `description` are ignored, as Swagger
//!   2.0 says), `type` (`object`, `array`, `string`, `integer` — `int32` in range —, `number`,
//!   `boolean`), `enum`, `required`, `items`, `properties`. An object schema with `properties` is
//!   a **closed set**: a member it does not name is a problem (Swagger would allow it; the real API
//!   answers unknown members with EF00022 "key not allowed", see the fixture's README). An object
//!   schema without `properties` (`Void`, `JsonNoData`, `ResponseObject.data`) is free-form.
//!   JSON `null` fits no Swagger 2.0 type and is a problem. `format: date-time` is not checked:
//!   the API's own examples (`"2021-01-01 00:00:00"`) are not RFC 3339.
//! - [`EXTRA_ENUM_VALUES`]: enum values the real API is known to use beyond the file's enum,
//!   each with its source. Nothing else is let through.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::{Map, Value};

/// Values the real server sends although the file's enum does not list them, per definition.
/// `CsrHashAlgorithmConstants` (`CertificateData.algorithm`) lists only `PRIME_256_V1` and
/// `SECP_384_R1`, but InterNetX's own JS SDK test fixture of a prepareOrder answer
/// (`PrepareOrderResponse.json`) carries `"algorithm": "RSA"`, and older releases of the file
/// had `ECC|RSA|DSA` (docs/autodns-api.md, CertificateData). The field is an answer field: the
/// client never sets it; the simulator answers `RSA` for an RSA CSR as the real server does.
pub const EXTRA_ENUM_VALUES: &[(&str, &str)] = &[("CsrHashAlgorithmConstants", "RSA")];

/// The description, loaded once per test.
pub struct Spec {
    doc: Value,
}

/// What a route resolved to: the template (`/certificate/{id}`) and the operation object.
pub struct Operation<'a> {
    pub template: &'a str,
    pub op: &'a Value,
}

impl Spec {
    /// Reads the fixture.
    pub fn load() -> Result<Spec> {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/autodns-openapi/domainrobot.json");
        let text = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
        let doc: Value = serde_json::from_slice(&text).context("domainrobot.json is not JSON")?;
        Ok(Spec { doc })
    }

    /// The operation for `method` on `path` (relative to the API base, e.g. `certificate/42`).
    pub fn operation(&self, method: &str, path: &str) -> Result<Operation<'_>, String> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let paths = self.doc["paths"]
            .as_object()
            .ok_or("no `paths` in the file")?;
        let best = paths
            .iter()
            .filter_map(|(t, item)| template_score(t, &segments).map(|s| (s, t, item)))
            .max_by_key(|(s, _, _)| *s);
        let (_, template, item) = best.ok_or_else(|| format!("no route /{path} in the spec"))?;
        let op = item
            .get(method.to_ascii_lowercase())
            .ok_or_else(|| format!("{template} has no {method} in the spec"))?;
        let op_ref = Operation { template, op };
        let mut problems = Vec::new();
        self.check_path_params(&op_ref, &segments, &mut problems);
        match problems.is_empty() {
            true => Ok(op_ref),
            false => Err(problems.join("; ")),
        }
    }

    /// Every way a request departs from the description (empty: it conforms).
    pub fn check_request(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Vec<String> {
        let op = match self.operation(method, path) {
            Ok(op) => op,
            Err(e) => return vec![format!("{method} /{path}: {e}")],
        };
        let mut out = Vec::new();
        let at = format!("{method} {}", op.template);
        for (name, value) in query {
            self.check_query(&op, name, value, &at, &mut out);
        }
        let body_param = params(op.op).find(|p| p["in"] == "body");
        match (body_param, body) {
            (Some(p), Some(b)) => self.check(&p["schema"], b, &format!("{at} body"), &mut out),
            (None, Some(_)) => out.push(format!("{at}: the spec declares no body")),
            (Some(p), None) if p["required"] == true => {
                out.push(format!("{at}: the spec requires a body"))
            }
            _ => {}
        }
        out
    }

    /// Every way an answer departs from the schema of the route's 200 response.
    pub fn check_answer(&self, method: &str, path: &str, body: &Value) -> Vec<String> {
        let op = match self.operation(method, path) {
            Ok(op) => op,
            Err(e) => return vec![format!("{method} /{path}: {e}")],
        };
        let at = format!("{method} {} answer", op.template);
        let Some(schema) = op.op["responses"]["200"].get("schema") else {
            return vec![format!("{at}: the spec declares no 200 schema")];
        };
        let mut out = Vec::new();
        self.check(schema, body, &at, &mut out);
        out
    }

    fn check_path_params(&self, op: &Operation<'_>, segments: &[&str], out: &mut Vec<String>) {
        let names = op.template.trim_matches('/').split('/');
        for (t, seg) in names.zip(segments) {
            let Some(name) = t.strip_prefix('{').and_then(|n| n.strip_suffix('}')) else {
                continue;
            };
            let declared = params(op.op).find(|p| p["in"] == "path" && p["name"] == name);
            match declared.map(|p| p["type"].as_str().unwrap_or_default()) {
                None => out.push(format!("{}: path parameter {name} undeclared", op.template)),
                Some("integer") if seg.parse::<i64>().is_err() => out.push(format!(
                    "{}: path parameter {name}={seg:?} is not an integer",
                    op.template
                )),
                _ => {}
            }
        }
    }

    fn check_query(
        &self,
        op: &Operation<'_>,
        name: &str,
        value: &str,
        at: &str,
        out: &mut Vec<String>,
    ) {
        let bare = name.strip_suffix("[]").unwrap_or(name);
        let Some(p) = params(op.op).find(|p| p["in"] == "query" && p["name"] == bare) else {
            out.push(format!("{at}: query parameter {name} is not in the spec"));
            return;
        };
        let allowed: Vec<&str> = p["items"]["enum"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).map(unbrace).collect())
            .unwrap_or_default();
        if !allowed.is_empty() && !allowed.contains(&value) {
            out.push(format!("{at}: {name}={value} is not one of {allowed:?}"));
        }
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> Result<&'a Value, String> {
        let mut s = schema;
        for _ in 0..16 {
            let Some(r) = s.get("$ref").and_then(Value::as_str) else {
                return Ok(s);
            };
            let name = r
                .strip_prefix("#/definitions/")
                .ok_or_else(|| format!("unsupported $ref {r}"))?;
            s = self.doc["definitions"]
                .get(name)
                .ok_or_else(|| format!("$ref {r} names no definition"))?;
        }
        Err("$ref chain too long".into())
    }

    /// Checks `v` against `schema`, pushing one line per problem, located by `at`.
    pub fn check(&self, schema: &Value, v: &Value, at: &str, out: &mut Vec<String>) {
        let definition = schema["$ref"]
            .as_str()
            .map(|r| r.trim_start_matches("#/definitions/"));
        let schema = match self.resolve(schema) {
            Ok(s) => s,
            Err(e) => return out.push(format!("{at}: {e}")),
        };
        let ty = schema.get("type").and_then(Value::as_str);
        if v.is_null() {
            return out.push(format!(
                "{at}: null where {} is expected",
                ty.unwrap_or("a value")
            ));
        }
        let fits = match ty {
            Some("object") => v.is_object(),
            Some("array") => v.is_array(),
            Some("string") => v.is_string(),
            Some("integer") => v.is_i64() || v.is_u64(),
            Some("number") => v.is_number(),
            Some("boolean") => v.is_boolean(),
            Some(other) => {
                return out.push(format!("{at}: the spec's type {other} is unknown here"))
            }
            None => true,
        };
        if !fits {
            return out.push(format!("{at}: {v} is not of type {}", ty.unwrap_or("?")));
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
            let extra = EXTRA_ENUM_VALUES
                .iter()
                .any(|(d, x)| Some(*d) == definition && v == *x);
            if !allowed.contains(v) && !extra {
                out.push(format!(
                    "{at}: {v} is not one of {}",
                    Value::from(allowed.clone())
                ));
            }
        }
        if schema["format"] == "int32" && v.as_i64().and_then(|n| i32::try_from(n).ok()).is_none() {
            out.push(format!("{at}: {v} does not fit int32"));
        }
        if let (Some(items), Some(list)) = (schema.get("items"), v.as_array()) {
            for (i, item) in list.iter().enumerate() {
                self.check(items, item, &format!("{at}[{i}]"), out);
            }
        }
        if let (Some(props), Some(obj)) = (schema.get("properties"), v.as_object()) {
            self.check_object(schema, props, obj, at, out);
        }
    }

    fn check_object(
        &self,
        schema: &Value,
        props: &Value,
        obj: &Map<String, Value>,
        at: &str,
        out: &mut Vec<String>,
    ) {
        for (name, value) in obj {
            match props.get(name) {
                Some(p) => self.check(p, value, &format!("{at}.{name}"), out),
                None => out.push(format!("{at}: property {name:?} is not named by the spec")),
            }
        }
        let required = schema["required"].as_array().into_iter().flatten();
        for name in required.filter_map(Value::as_str) {
            if !obj.contains_key(name) {
                out.push(format!("{at}: required property {name:?} is missing"));
            }
        }
    }
}

/// The parameters of an operation.
fn params(op: &Value) -> impl Iterator<Item = &Value> {
    op["parameters"].as_array().into_iter().flatten()
}

/// `"{parent"` → `"parent"`, `"action}"` → `"action"` (the file's spelling of `keys` enums).
fn unbrace(s: &str) -> &str {
    s.trim_start_matches('{').trim_end_matches('}')
}

/// How well a template matches the segments: `None` if not at all, else the number of literal
/// segments (so `/certificate/_search` beats `/certificate/{id}`).
fn template_score(template: &str, segments: &[&str]) -> Option<usize> {
    let parts: Vec<&str> = template.trim_matches('/').split('/').collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut literal = 0;
    for (t, s) in parts.iter().zip(segments) {
        if t.starts_with('{') && t.ends_with('}') {
            if s.is_empty() {
                return None;
            }
        } else if t == s {
            literal += 1;
        } else {
            return None;
        }
    }
    Some(literal)
}
