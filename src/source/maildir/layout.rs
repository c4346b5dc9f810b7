//! Owns the maildir layout pattern: parsing `{domain}/{local}`-style patterns into segments and
//! matching directory names against them, capturing the domain and local part. Pure.

use crate::source::SourceError;
use std::fmt;
use std::str::FromStr;

/// A placeholder in a layout pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Placeholder {
    Domain,
    Local,
}

/// One path component of a layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Segment {
    /// A fixed name, such as the `Maildir` suffix.
    Literal(String),
    /// A name holding one or two placeholders with fixed text around and between them.
    Template {
        prefix: String,
        first: Placeholder,
        middle: String,
        second: Option<Placeholder>,
        suffix: String,
    },
}

/// Where mailboxes sit below the root, as a pattern of `/`-separated components using
/// `{domain}` and `{local}` once each, e.g. `{domain}/{local}` (PostfixAdmin/Dovecot
/// `mail_location = maildir:/var/vmail/%d/%n`), `{local}@{domain}`, or
/// `{domain}/{local}/Maildir`. Dovecot's lower-casing variables (`%Ld`) need no special case:
/// domains are normalised anyway and local parts are taken as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Layout {
    pub(super) pattern: String,
    pub(super) segments: Vec<Segment>,
}

impl fmt::Debug for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Layout({:?})", self.pattern)
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pattern)
    }
}

impl Default for Layout {
    fn default() -> Self {
        Layout::domain_slash_local()
    }
}

impl FromStr for Layout {
    type Err = SourceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Layout::parse(s)
    }
}

impl Layout {
    /// `{domain}/{local}`: PostfixAdmin's and Dovecot's default.
    pub fn domain_slash_local() -> Layout {
        Layout {
            pattern: "{domain}/{local}".into(),
            segments: vec![
                Segment::Template {
                    prefix: String::new(),
                    first: Placeholder::Domain,
                    middle: String::new(),
                    second: None,
                    suffix: String::new(),
                },
                Segment::Template {
                    prefix: String::new(),
                    first: Placeholder::Local,
                    middle: String::new(),
                    second: None,
                    suffix: String::new(),
                },
            ],
        }
    }

    /// `{local}@{domain}`: one directory per address.
    pub fn local_at_domain() -> Layout {
        Layout {
            pattern: "{local}@{domain}".into(),
            segments: vec![Segment::Template {
                prefix: String::new(),
                first: Placeholder::Local,
                middle: "@".into(),
                second: Some(Placeholder::Domain),
                suffix: String::new(),
            }],
        }
    }

    /// Parses a pattern. Each of `{domain}` and `{local}` must appear exactly once; two
    /// placeholders in one component need fixed text between them; components may not be
    /// empty, `.` or `..`, and the pattern is relative to the root.
    pub fn parse(pattern: &str) -> Result<Layout, SourceError> {
        let bad = |reason: &str| SourceError::BadLayout {
            pattern: pattern.to_string(),
            reason: reason.to_string(),
        };
        if pattern.starts_with('/') {
            return Err(bad(
                "the pattern is relative to the root and must not start with '/'",
            ));
        }
        let mut segments = Vec::new();
        let (mut domains, mut locals) = (0, 0);
        for comp in pattern.trim_end_matches('/').split('/') {
            let (seg, phs) = parse_component(comp).map_err(bad)?;
            for ph in phs {
                match ph {
                    Placeholder::Domain => domains += 1,
                    Placeholder::Local => locals += 1,
                }
            }
            segments.push(seg);
        }
        if domains != 1 || locals != 1 {
            return Err(bad("{domain} and {local} must each appear exactly once"));
        }
        Ok(Layout {
            pattern: pattern.trim_end_matches('/').to_string(),
            segments,
        })
    }

    /// Number of path components from the root to a mailbox directory.
    pub fn depth(&self) -> usize {
        self.segments.len()
    }
}

/// One component of a layout pattern as a [`Segment`], with the placeholders it holds, or why
/// it is not one.
fn parse_component(comp: &str) -> Result<(Segment, Vec<Placeholder>), &'static str> {
    if comp.is_empty() || comp == "." || comp == ".." {
        return Err("a component is empty, '.' or '..'");
    }
    let mut lits = Vec::new();
    let mut phs = Vec::new();
    let mut rest = comp;
    while let Some(open) = rest.find('{') {
        lits.push(rest[..open].to_string());
        let after = &rest[open..];
        let (ph, len) = if after.starts_with("{domain}") {
            (Placeholder::Domain, "{domain}".len())
        } else if after.starts_with("{local}") {
            (Placeholder::Local, "{local}".len())
        } else {
            return Err("only {domain} and {local} are placeholders");
        };
        phs.push(ph);
        rest = &after[len..];
    }
    lits.push(rest.to_string());
    if lits.iter().any(|l| l.contains('}')) {
        return Err("unbalanced '}'");
    }
    let seg = match phs.as_slice() {
        [] => Segment::Literal(lits.remove(0)),
        [first] => Segment::Template {
            prefix: lits[0].clone(),
            first: *first,
            middle: String::new(),
            second: None,
            suffix: lits[1].clone(),
        },
        [first, second] => {
            if lits[1].is_empty() {
                return Err("two placeholders in one component need text between them");
            }
            Segment::Template {
                prefix: lits[0].clone(),
                first: *first,
                middle: lits[1].clone(),
                second: Some(*second),
                suffix: lits[2].clone(),
            }
        }
        _ => return Err("each placeholder may appear only once"),
    };
    Ok((seg, phs))
}

/// Values captured from the path so far.
#[derive(Debug, Clone, Default)]
pub(super) struct Captures {
    pub(super) domain: Option<String>,
    pub(super) local: Option<String>,
}

impl Segment {
    /// Matches a directory name against this component, adding to the captures.
    pub(super) fn capture(&self, name: &str, caps: &Captures) -> Option<Captures> {
        match self {
            Segment::Literal(l) => (l == name).then(|| caps.clone()),
            Segment::Template {
                prefix,
                first,
                middle,
                second,
                suffix,
            } => {
                let inner = name
                    .strip_prefix(prefix.as_str())?
                    .strip_suffix(suffix.as_str())?;
                let mut out = caps.clone();
                let values: Vec<(Placeholder, &str)> = match second {
                    None => vec![(*first, inner)],
                    Some(second) => {
                        // Domains never contain the separator, local parts might ('@' cannot
                        // be in a valid one, '.' or '+' can): split on the side of the domain.
                        let (a, b) = match first {
                            Placeholder::Local => inner.rsplit_once(middle.as_str())?,
                            Placeholder::Domain => inner.split_once(middle.as_str())?,
                        };
                        vec![(*first, a), (*second, b)]
                    }
                };
                for (ph, v) in values {
                    if v.is_empty() {
                        return None;
                    }
                    match ph {
                        Placeholder::Domain => out.domain = Some(v.to_string()),
                        Placeholder::Local => out.local = Some(v.to_string()),
                    }
                }
                Some(out)
            }
        }
    }
}
