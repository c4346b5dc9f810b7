//! Searching (`Query.filters`, `autodns-api.md` §1.12): key checks, the filter evaluator with
//! SQL `LIKE`, sorting and paging. Each area supplies its allowed keys and a column reader; this
//! file knows no object type.

use super::{ApiError, Filter, Query};

fn canon_key(k: &str) -> String {
    k.chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

pub(super) fn check_keys(task: &str, q: &Query, allowed: &[&str]) -> Result<(), ApiError> {
    for (i, k) in q.keys.iter().enumerate() {
        if !allowed.contains(&canon_key(k).as_str()) {
            return Err(ApiError::search_key(task, &format!("keys[{i}]"), k));
        }
    }
    Ok(())
}

/// SQL `LIKE`: `%` any run, `_` one character.
pub(crate) fn like(pattern: &str, text: &str, fold_case: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = if fold_case {
        (
            pattern.to_lowercase().chars().collect(),
            text.to_lowercase().chars().collect(),
        )
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    // Iterative matcher with backtracking to the last '%'.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '_' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '%')
}

/// Dates in filters may come in either API format; compare them as `YYYY-MM-DD hh:mm:ss`.
fn norm_value(v: &str) -> String {
    let v = v.trim();
    match (v.as_bytes().get(10), v.get(..19)) {
        (Some(b'T'), Some(head)) => head.replacen('T', " ", 1),
        _ => v.to_string(),
    }
}

fn compare(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<i64>(), b.parse::<i64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

fn eval(task: &str, f: &Filter, get: &dyn Fn(&str) -> Option<String>) -> Result<bool, ApiError> {
    use std::cmp::Ordering::*;
    Ok(match f {
        Filter::And(v) => {
            for x in v {
                if !eval(task, x, get)? {
                    return Ok(false);
                }
            }
            true
        }
        Filter::Or(v) => {
            for x in v {
                if eval(task, x, get)? {
                    return Ok(true);
                }
            }
            false
        }
        Filter::Cond {
            key,
            op,
            value,
            values,
            path,
        } => {
            let field = get(&canon_key(key));
            let val = value.as_deref().map(norm_value).unwrap_or_default();
            let f = field.as_deref().unwrap_or("");
            match op.to_ascii_uppercase().as_str() {
                "EQUAL" => field.is_some() && compare(f, &val) == Equal,
                "NOT_EQUAL" => field.is_none() || compare(f, &val) != Equal,
                "LIKE" => field.is_some() && like(&val, f, false),
                "NOT_LIKE" => !(field.is_some() && like(&val, f, false)),
                "ILIKE" => field.is_some() && like(&val, f, true),
                "GREATER" | "NOT_LESS_EQUAL" => field.is_some() && compare(f, &val) == Greater,
                "GREATER_EQUAL" | "NOT_LESS" => field.is_some() && compare(f, &val) != Less,
                "LESS" | "NOT_GREATER_EQUAL" => field.is_some() && compare(f, &val) == Less,
                "LESS_EQUAL" | "NOT_GREATER" => field.is_some() && compare(f, &val) != Greater,
                "IS_NULL" => field.is_none(),
                "IS_NOT_NULL" => field.is_some(),
                "IN" => {
                    field.is_some() && values.iter().any(|v| compare(f, &norm_value(v)) == Equal)
                }
                "NOT_IN" => {
                    field.is_none() || !values.iter().any(|v| compare(f, &norm_value(v)) == Equal)
                }
                other => {
                    return Err(ApiError::invalid(
                        task,
                        &format!("{path}/operator"),
                        other,
                        "unknown operator",
                    ))
                }
            }
        }
    })
}

fn check_filter_keys(task: &str, f: &Filter, allowed: &[&str]) -> Result<(), ApiError> {
    match f {
        Filter::And(v) | Filter::Or(v) => v
            .iter()
            .try_for_each(|x| check_filter_keys(task, x, allowed)),
        Filter::Cond { key, path, .. } => {
            if allowed.contains(&canon_key(key).as_str()) {
                Ok(())
            } else {
                Err(ApiError::search_key(task, &format!("{path}/key"), key))
            }
        }
    }
}

/// Filters, sorts and pages `rows`; returns the total before paging and the page.
pub(super) fn run_query<'a, T>(
    task: &str,
    q: &Query,
    rows: Vec<&'a T>,
    allowed: &[&str],
    field: impl Fn(&T, &str) -> Option<String>,
) -> Result<(usize, Vec<&'a T>), ApiError> {
    if let Some(f) = &q.filter {
        check_filter_keys(task, f, allowed)?;
    }
    for (k, _) in &q.orders {
        if !allowed.contains(&canon_key(k).as_str()) {
            return Err(ApiError::search_key(task, "orders/key", k));
        }
    }
    let mut hits = Vec::new();
    for r in rows {
        let keep = match &q.filter {
            Some(f) => eval(task, f, &|k| field(r, k))?,
            None => true,
        };
        if keep {
            hits.push(r);
        }
    }
    for (k, desc) in q.orders.iter().rev() {
        let k = canon_key(k);
        hits.sort_by(|a, b| {
            let o = compare(
                &field(a, &k).unwrap_or_default(),
                &field(b, &k).unwrap_or_default(),
            );
            if *desc {
                o.reverse()
            } else {
                o
            }
        });
    }
    let total = hits.len();
    let page = hits
        .into_iter()
        .skip(q.offset)
        .take(q.limit.unwrap_or(usize::MAX))
        .collect();
    Ok((total, page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_follows_sql_wildcards() {
        assert!(like("alice@%", "alice@example.com", false));
        assert!(like("%@example.com", "bob@example.com", false));
        assert!(like("a_ice@example.com", "alice@example.com", false));
        assert!(!like("alice@%", "Alice@example.com", false));
        assert!(like("alice@%", "Alice@example.com", true));
        assert!(like("%", "", false));
        assert!(!like("a%b", "acbd", false));
        assert!(like("a%b%", "acbd", false));
    }

    #[test]
    fn filter_dates_in_json_form_compare_like_xml_dates() {
        assert_eq!(
            norm_value("2021-01-01T00:00:00.000+0100"),
            "2021-01-01 00:00:00"
        );
        assert_eq!(norm_value("2021-01-01 00:00:00"), "2021-01-01 00:00:00");
    }
}
