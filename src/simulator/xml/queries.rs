//! Searches on the XML gateway: `<where>`, `<view>`, `<order>` and `<key>` read into a
//! [`Query`], in the shapes InterNetX's "List Inquire" help pages document
//! (`docs/autodns-api.md` §1.13): one condition (`key`, `operator`, `value`) directly in
//! `<where>`, or several, each in its own `<and>` (or `<or>`) child, nested as deep as needed
//! ("and" binds before "or"); the operators `eq ne like gt lt ge le`, `like` with `*` wildcards.
//! An element holding both a condition and `<and>`/`<or>` children is refused, as is any other
//! operator spelling: the simulator must not accept what the gateway documents no meaning for.

use super::int_of;
use crate::simulator::engine::{ApiError, Filter, Query};
use crate::xmltree::Element as Node;

/// The gateway's operators and the engine's (JSON) names for them ("Running List Inquiries").
const OPERATORS: [(&str, &str); 7] = [
    ("eq", "EQUAL"),
    ("ne", "NOT_EQUAL"),
    ("like", "LIKE"),
    ("gt", "GREATER"),
    ("lt", "LESS"),
    ("ge", "GREATER_EQUAL"),
    ("le", "LESS_EQUAL"),
];

/// One `key`/`operator`/`value` condition; the operator defaults to `eq`.
fn leaf(task: &str, n: &Node, path: &str) -> Result<Filter, ApiError> {
    let key = n.text_of("key").ok_or_else(|| {
        ApiError::invalid(
            task,
            &format!("{path}/key"),
            "",
            "a condition needs a <key>",
        )
    })?;
    let value = n.text_of("value").ok_or_else(|| {
        ApiError::invalid(
            task,
            &format!("{path}/value"),
            &key,
            "a condition needs a <value>",
        )
    })?;
    let spelt = n.text_of("operator").unwrap_or_else(|| "eq".into());
    let op = OPERATORS
        .iter()
        .find(|(x, _)| *x == spelt)
        .map(|(_, j)| *j)
        .ok_or_else(|| {
            ApiError::invalid(
                task,
                &format!("{path}/operator"),
                &spelt,
                "unknown operator; the gateway's operators are eq, ne, like, gt, lt, ge, le",
            )
        })?;
    let value = if op == "LIKE" {
        value.replace('*', "%")
    } else {
        value
    };
    Ok(Filter::Cond {
        path: path.to_string(),
        key,
        op: op.to_string(),
        value: Some(value),
        values: Vec::new(),
    })
}

/// `<where>` or one of its `<and>`/`<or>` children, read recursively.
pub(super) fn condition(task: &str, n: &Node, path: &str) -> Result<Filter, ApiError> {
    let is_leaf = ["key", "operator", "value"]
        .iter()
        .any(|k| n.child(k).is_some());
    let groups: Vec<(usize, &Node)> = n
        .children
        .iter()
        .enumerate()
        .filter(|(_, c)| c.name == "and" || c.name == "or")
        .collect();
    match (is_leaf, groups.is_empty()) {
        (true, true) => return leaf(task, n, path),
        (true, false) => {
            return Err(ApiError::invalid(
                task,
                path,
                n.text_of("key").as_deref().unwrap_or_default(),
                "a condition (key, operator, value) and <and>/<or> children in one element: \
                 <where> takes one condition, or each condition in its own <and> (List Inquire)",
            ))
        }
        (false, true) => {
            return Err(ApiError::invalid(
                task,
                path,
                "",
                "no condition: <where> takes a key, operator and value, or <and>/<or> children",
            ))
        }
        (false, false) => {}
    }
    let (mut ands, mut ors) = (Vec::new(), Vec::new());
    for (i, c) in groups {
        let sub = condition(task, c, &format!("{path}/{}[{i}]", c.name))?;
        if c.name == "and" {
            ands.push(sub);
        } else {
            ors.push(sub);
        }
    }
    // "and" binds before "or" (List Inquire): the `<and>`s together are one alternative.
    if !ands.is_empty() {
        ors.insert(0, Filter::And(ands));
    }
    Ok(match ors.len() {
        1 => ors.remove(0),
        _ => Filter::Or(ors),
    })
}

pub(super) fn query(task: &str, t: &Node) -> Result<Query, ApiError> {
    let mut q = Query::default();
    if let Some(w) = t.child("where") {
        q.filter = Some(condition(task, w, "where")?);
    }
    if let Some(v) = t.child("view") {
        q.limit = int_of(task, v, "limit")?.map(|l| usize::try_from(l.max(0)).unwrap_or(0));
        q.offset = int_of(task, v, "offset")?
            .map(|o| usize::try_from(o.max(0)).unwrap_or(0))
            .unwrap_or(0);
    }
    for o in t.children_named("order") {
        if let Some(k) = o.text_of("key") {
            let desc = o
                .text_of("mode")
                .is_some_and(|m| m.eq_ignore_ascii_case("desc"));
            q.orders.push((k, desc));
        }
    }
    q.keys = t
        .children_named("key")
        .map(|k| k.text.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    Ok(q)
}
