//! Searches on the JSON API: `Query.filters` (and the `?keys[]=` query string) read into a
//! [`Query`].

use serde_json::Value;

use super::{get_int, get_str};
use crate::simulator::engine::{ApiError, Filter, Query};

/// `QueryFilter` list. Each filter's `link` (default AND) joins it to the filters before it;
/// when a filter has no `link`, the previous filter's `link` is used, so both placements seen in
/// client code work. A filter with nested `filters` is a parenthesised group.
pub(super) fn filters(task: &str, list: &Value, prefix: &str) -> Result<Option<Filter>, ApiError> {
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
pub(super) fn query(task: &str, body: &Value, raw_query: Option<&str>) -> Result<Query, ApiError> {
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
