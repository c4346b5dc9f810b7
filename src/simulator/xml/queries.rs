//! Searches on the XML gateway: `<where>`, `<view>`, `<order>` and `<key>` read into a
//! [`Query`].

use super::int_of;
use crate::simulator::engine::{ApiError, Filter, Query};
use crate::xmltree::Element as Node;

/// `<where><key/><operator/><value/><and>…</and><or>…</or></where>`, `<view>`, `<order>`, `<key>`.
pub(super) fn condition(n: &Node, path: &str) -> Option<Filter> {
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

pub(super) fn query(task: &str, t: &Node) -> Result<Query, ApiError> {
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
