//! Owns the RFC 2849 LDIF parser: bytes in, [`LdifRecord`]s out, pure.
//!
//! Parser (RFC 2849): CRLF or LF line ends; a line starting with one space continues the
//! previous line (§"Notes on LDIF Syntax" 2); `#` comment lines, folded or not (note 7); an
//! optional `version: 1` first line (slapcat writes none); `attr:: base64` values (note 8);
//! `attr:< URL` values are refused, because reading local files or fetching URLs named by a
//! feed is not something this daemon should ever do; attribute descriptions with options
//! (`userCertificate;binary`); change records (`changetype: add/delete/modify/modrdn/moddn`,
//! `control:` lines). Two deliberate leniencies, both harmless to the meaning: plain values may
//! carry UTF-8 (several exporters write it unencoded) and may start with `:` or `<` after the
//! separating space. Every error carries the 1-based line number where its record line starts.

use base64::Engine as _;
use std::fmt;

/// A parse error, with the line it was found on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct LdifError {
    /// 1-based line number of the (first physical line of the) offending LDIF line.
    pub line: usize,
    pub kind: LdifErrorKind,
}

/// What is wrong at that line. Messages name attributes but never print values, since an
/// export may carry password hashes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LdifErrorKind {
    #[error("a line starting with a space continues nothing (no line before it in this record)")]
    OrphanContinuation,
    #[error("unsupported LDIF version {0:?}; only version 1 exists (RFC 2849)")]
    UnsupportedVersion(String),
    #[error("a record must start with \"dn:\"")]
    MissingDn,
    #[error("the line has no ':' separating an attribute description from its value")]
    MissingColon,
    /// The offending text is not echoed: on a mangled line it may be part of a value.
    #[error(
        "the text before ':' is not a valid attribute description (letters, digits, '-', \
         options after ';')"
    )]
    BadAttributeName,
    #[error("the value of {0:?} is not valid base64")]
    BadBase64(String),
    #[error("the DN is not valid UTF-8")]
    DnNotUtf8,
    #[error(
        "the value of {0:?} is a URL (\":<\"); URL values are refused, export the value inline"
    )]
    UrlValueRefused(String),
    #[error("the value of {0:?} contains a NUL or CR byte; such values must be base64 (\"::\")")]
    UnsafeValue(String),
    #[error("unknown changetype {0:?} (expected add, delete, modify, modrdn or moddn)")]
    UnknownChangeType(String),
    #[error("\"control:\" lines are only allowed before a changetype")]
    ControlWithoutChange,
    #[error("malformed control: {0}")]
    BadControl(String),
    #[error("a file must hold either content records or change records, not both (RFC 2849)")]
    MixedRecords,
    #[error("a changetype: add record needs at least one attribute")]
    EmptyAdd,
    #[error("a changetype: delete record must have no further lines")]
    DeleteWithContent,
    #[error("expected {0:?}")]
    Expected(&'static str),
    #[error("deleteoldrdn must be 0 or 1")]
    BadDeleteOldRdn,
    #[error("expected \"add:\", \"delete:\" or \"replace:\" in a modify record")]
    BadModOp,
    #[error("the value line names {found:?} inside the modification of {expected:?}")]
    ModAttributeMismatch { expected: String, found: String },
    #[error("the modification of {0:?} is not closed by a \"-\" line")]
    UnterminatedMod(String),
}

/// One attribute value. `Debug` hides values of password and key attributes, so a record
/// printed in a log line does not leak a password hash.
#[derive(Clone, PartialEq, Eq)]
pub struct AttrValue {
    /// The attribute description as written, with options (`userCertificate;binary`).
    pub name: String,
    /// The raw value (decoded from base64 where it was `::`).
    pub value: Vec<u8>,
}

impl AttrValue {
    /// The attribute type without options, for case-insensitive comparison.
    pub fn base_type(&self) -> &str {
        self.name.split(';').next().unwrap_or(&self.name)
    }

    /// Whether this is the attribute `ty` (case-insensitive, options ignored).
    pub fn is(&self, ty: &str) -> bool {
        self.base_type().eq_ignore_ascii_case(ty)
    }

    /// Whether this value belongs to the configured attribute `want`: `mail` matches `mail`
    /// and `mail;lang-de`; `mail;lang-de` matches only itself (options compared too).
    pub fn matches(&self, want: &str) -> bool {
        if want.contains(';') {
            self.name.eq_ignore_ascii_case(want)
        } else {
            self.is(want)
        }
    }

    /// The value as text, if it is UTF-8.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.value).ok()
    }
}

/// Attribute types whose values are secret (password hashes, Kerberos and Samba keys).
fn is_secret_attribute(base: &str) -> bool {
    let b = base.to_ascii_lowercase();
    b.contains("password") || b.contains("key") || (b.starts_with("samba") && b.ends_with("hash"))
}

impl fmt::Debug for AttrValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if is_secret_attribute(self.base_type()) {
            write!(f, "{}: <redacted>", self.name)
        } else {
            match self.text() {
                Some(t) => write!(f, "{}: {t:?}", self.name),
                None => write!(f, "{}: <{} bytes>", self.name, self.value.len()),
            }
        }
    }
}

/// An LDAP control on a change record (RFC 2849 `control:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    pub oid: String,
    pub criticality: bool,
    pub value: Option<Vec<u8>>,
}

/// `add:`, `delete:` or `replace:` in a modify record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModOp {
    Add,
    Delete,
    Replace,
}

/// One modification of a modify record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Modification {
    pub op: ModOp,
    pub attribute: String,
    pub values: Vec<AttrValue>,
}

/// What a record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordBody {
    /// A content record: the entry and its attributes (what slapcat writes).
    Content(Vec<AttrValue>),
    /// `changetype: add`.
    Add {
        controls: Vec<Control>,
        attributes: Vec<AttrValue>,
    },
    /// `changetype: delete`.
    Delete { controls: Vec<Control> },
    /// `changetype: modify`.
    Modify {
        controls: Vec<Control>,
        mods: Vec<Modification>,
    },
    /// `changetype: modrdn` or `moddn`.
    ModDn {
        controls: Vec<Control>,
        new_rdn: String,
        delete_old_rdn: bool,
        new_superior: Option<String>,
    },
}

/// One LDIF record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdifRecord {
    /// Line of its `dn:` line.
    pub line: usize,
    pub dn: String,
    pub body: RecordBody,
}

impl LdifRecord {
    /// The attributes of a content or add record; empty for other change records.
    pub fn attributes(&self) -> &[AttrValue] {
        match &self.body {
            RecordBody::Content(a) | RecordBody::Add { attributes: a, .. } => a,
            _ => &[],
        }
    }

    /// The change type's LDIF name, or `None` for a content record.
    pub fn change_type(&self) -> Option<&'static str> {
        match self.body {
            RecordBody::Content(_) => None,
            RecordBody::Add { .. } => Some("add"),
            RecordBody::Delete { .. } => Some("delete"),
            RecordBody::Modify { .. } => Some("modify"),
            RecordBody::ModDn { .. } => Some("modrdn"),
        }
    }
}

/// One unfolded line and the physical line it started on.
struct Line {
    no: usize,
    text: Vec<u8>,
}

fn err(line: usize, kind: LdifErrorKind) -> LdifError {
    LdifError { line, kind }
}

/// Splits the input into records of unfolded, comment-free lines.
fn records_of(input: &[u8]) -> Result<Vec<Vec<Line>>, LdifError> {
    let mut records: Vec<Vec<Line>> = Vec::new();
    let mut current: Vec<Line> = Vec::new();
    // Whether the last logical line was a comment (its continuations are comment too).
    let mut in_comment = false;
    for (i, raw) in input.split(|&b| b == b'\n').enumerate() {
        let no = i + 1;
        let phys = raw.strip_suffix(b"\r").unwrap_or(raw);
        if let Some(rest) = phys.strip_prefix(b" ") {
            if in_comment {
                continue;
            }
            match current.last_mut() {
                Some(l) => l.text.extend_from_slice(rest),
                None => return Err(err(no, LdifErrorKind::OrphanContinuation)),
            }
            continue;
        }
        in_comment = false;
        if phys.is_empty() {
            if !current.is_empty() {
                records.push(std::mem::take(&mut current));
            }
            continue;
        }
        if phys.starts_with(b"#") {
            in_comment = true;
            continue;
        }
        current.push(Line {
            no,
            text: phys.to_vec(),
        });
    }
    if !current.is_empty() {
        records.push(current);
    }
    Ok(records)
}

/// Whether `name` is an RFC 2849 AttributeDescription: an OID or a name of letters, digits and
/// hyphens starting with a letter, followed by `;option`s of the same characters.
fn valid_description(name: &[u8]) -> bool {
    let mut parts = name.split(|&b| b == b';');
    let Some(ty) = parts.next() else { return false };
    let is_oid = !ty.is_empty()
        && ty.iter().all(|b| b.is_ascii_digit() || *b == b'.')
        && ty.first().is_some_and(u8::is_ascii_digit)
        && !ty.windows(2).any(|w| w == b"..")
        && !ty.ends_with(b".");
    let is_name = ty.first().is_some_and(u8::is_ascii_alphabetic)
        && ty.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-');
    (is_oid || is_name)
        && parts.all(|o| !o.is_empty() && o.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-'))
}

/// Parses `name: value`, `name:: base64` or refuses `name:< url`.
fn attr_value(line: &Line) -> Result<AttrValue, LdifError> {
    let t = &line.text;
    let colon = t
        .iter()
        .position(|&b| b == b':')
        .ok_or(err(line.no, LdifErrorKind::MissingColon))?;
    let name_bytes = &t[..colon];
    if !valid_description(name_bytes) {
        return Err(err(line.no, LdifErrorKind::BadAttributeName));
    }
    // valid_description admits only ASCII.
    let name = String::from_utf8_lossy(name_bytes).into_owned();
    let rest = &t[colon + 1..];
    let value = match rest.first() {
        Some(b':') => {
            let b64 = trim_fill(&rest[1..]);
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| err(line.no, LdifErrorKind::BadBase64(name.clone())))?
        }
        Some(b'<') => return Err(err(line.no, LdifErrorKind::UrlValueRefused(name))),
        _ => {
            let v = trim_fill(rest);
            if v.iter().any(|&b| b == 0 || b == b'\r') {
                return Err(err(line.no, LdifErrorKind::UnsafeValue(name)));
            }
            v.to_vec()
        }
    };
    Ok(AttrValue { name, value })
}

/// Drops the FILL (spaces) after the separator.
fn trim_fill(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|&c| c != b' ').unwrap_or(b.len());
    &b[start..]
}

/// A line's value when it must be the attribute `want` (e.g. `changetype`), as text.
fn keyword_value(line: &Line, want: &str) -> Result<Option<AttrValue>, LdifError> {
    let t = &line.text;
    let Some(colon) = t.iter().position(|&b| b == b':') else {
        return Ok(None);
    };
    if !t[..colon].eq_ignore_ascii_case(want.as_bytes()) {
        return Ok(None);
    }
    attr_value(line).map(Some)
}

fn text_value(v: &AttrValue, line: usize) -> Result<String, LdifError> {
    String::from_utf8(v.value.clone()).map_err(|_| err(line, LdifErrorKind::DnNotUtf8))
}

/// Parses an LDIF file (RFC 2849) into its records.
pub fn parse(input: &[u8]) -> Result<Vec<LdifRecord>, LdifError> {
    // A UTF-8 byte order mark (Windows tools write one) is not part of the first line.
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let mut chunks = records_of(input)?;
    // version-spec: the first line of the file, optionally followed directly by a record.
    if let Some(first) = chunks.first_mut() {
        if let Some(v) = keyword_value(&first[0], "version")? {
            if v.value.trim_ascii() != b"1" {
                let shown = String::from_utf8_lossy(&v.value).into_owned();
                return Err(err(first[0].no, LdifErrorKind::UnsupportedVersion(shown)));
            }
            first.remove(0);
            if first.is_empty() {
                chunks.remove(0);
            }
        }
    }
    let mut out = Vec::with_capacity(chunks.len());
    let mut saw_content = None;
    for lines in chunks {
        let rec = parse_record(&lines)?;
        let is_content = matches!(rec.body, RecordBody::Content(_));
        match saw_content {
            Some(c) if c != is_content => return Err(err(rec.line, LdifErrorKind::MixedRecords)),
            _ => saw_content = Some(is_content),
        }
        out.push(rec);
    }
    Ok(out)
}

fn parse_record(lines: &[Line]) -> Result<LdifRecord, LdifError> {
    let first = &lines[0];
    let dn_val = keyword_value(first, "dn")?.ok_or(err(first.no, LdifErrorKind::MissingDn))?;
    let dn = text_value(&dn_val, first.no)?;
    let mut i = 1;
    let mut controls = Vec::new();
    while let Some(l) = lines.get(i) {
        let Some(c) = keyword_value(l, "control")? else {
            break;
        };
        controls.push(parse_control(&c.value, l.no)?);
        i += 1;
    }
    let change = match lines.get(i) {
        Some(l) => keyword_value(l, "changetype")?.map(|v| (v, l.no)),
        None => None,
    };
    let Some((ct, ct_line)) = change else {
        if !controls.is_empty() {
            return Err(err(first.no, LdifErrorKind::ControlWithoutChange));
        }
        let attrs = lines[i..]
            .iter()
            .map(attr_value)
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(LdifRecord {
            line: first.no,
            dn,
            body: RecordBody::Content(attrs),
        });
    };
    i += 1;
    let rest = &lines[i..];
    let body = match ct.value.to_ascii_lowercase().as_slice() {
        b"add" => {
            let attributes = rest.iter().map(attr_value).collect::<Result<Vec<_>, _>>()?;
            if attributes.is_empty() {
                return Err(err(ct_line, LdifErrorKind::EmptyAdd));
            }
            RecordBody::Add {
                controls,
                attributes,
            }
        }
        b"delete" => {
            if let Some(l) = rest.first() {
                return Err(err(l.no, LdifErrorKind::DeleteWithContent));
            }
            RecordBody::Delete { controls }
        }
        b"modrdn" | b"moddn" => parse_moddn(controls, rest, ct_line)?,
        b"modify" => RecordBody::Modify {
            controls,
            mods: parse_mods(rest)?,
        },
        other => {
            let shown = String::from_utf8_lossy(other).into_owned();
            return Err(err(ct_line, LdifErrorKind::UnknownChangeType(shown)));
        }
    };
    Ok(LdifRecord {
        line: first.no,
        dn,
        body,
    })
}

/// `control: OID [true|false] [value-spec]` (RFC 2849 `control` production).
fn parse_control(v: &[u8], line: usize) -> Result<Control, LdifError> {
    let bad = |m: &str| err(line, LdifErrorKind::BadControl(m.to_string()));
    let text = std::str::from_utf8(v).map_err(|_| bad("not text"))?;
    let (head, value) = match text.find(':') {
        Some(p) => (&text[..p], Some(&text[p..])),
        None => (text, None),
    };
    let mut words = head.split_whitespace();
    let oid = words.next().ok_or_else(|| bad("no OID"))?;
    if !oid
        .split('.')
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad("the OID is not dotted digits"));
    }
    let criticality = match words.next() {
        None => false,
        Some("true") => true,
        Some("false") => false,
        Some(_) => return Err(bad("criticality must be true or false")),
    };
    if words.next().is_some() {
        return Err(bad("unexpected text after the criticality"));
    }
    let value = match value {
        None => None,
        Some(v) => {
            let fake = Line {
                no: line,
                text: format!("control{v}").into_bytes(),
            };
            Some(attr_value(&fake)?.value)
        }
    };
    Ok(Control {
        oid: oid.to_string(),
        criticality,
        value,
    })
}

fn parse_moddn(
    controls: Vec<Control>,
    rest: &[Line],
    ct_line: usize,
) -> Result<RecordBody, LdifError> {
    let want = |idx: usize, name: &'static str| -> Result<(AttrValue, usize), LdifError> {
        let l = rest
            .get(idx)
            .ok_or(err(ct_line, LdifErrorKind::Expected(name)))?;
        let v = keyword_value(l, name)?.ok_or(err(l.no, LdifErrorKind::Expected(name)))?;
        Ok((v, l.no))
    };
    let (rdn, rdn_line) = want(0, "newrdn")?;
    let new_rdn = text_value(&rdn, rdn_line)?;
    let (del, del_line) = want(1, "deleteoldrdn")?;
    let delete_old_rdn = match del.value.as_slice() {
        b"0" => false,
        b"1" => true,
        _ => return Err(err(del_line, LdifErrorKind::BadDeleteOldRdn)),
    };
    let new_superior = match rest.get(2) {
        None => None,
        Some(_) => {
            let (sup, sup_line) = want(2, "newsuperior")?;
            Some(text_value(&sup, sup_line)?)
        }
    };
    if let Some(l) = rest.get(3) {
        return Err(err(
            l.no,
            LdifErrorKind::Expected("end of the modrdn record"),
        ));
    }
    Ok(RecordBody::ModDn {
        controls,
        new_rdn,
        delete_old_rdn,
        new_superior,
    })
}

fn parse_mods(rest: &[Line]) -> Result<Vec<Modification>, LdifError> {
    let mut mods = Vec::new();
    let mut i = 0;
    while let Some(l) = rest.get(i) {
        let spec = attr_value(l).map_err(|e| match e.kind {
            LdifErrorKind::MissingColon => err(l.no, LdifErrorKind::BadModOp),
            _ => e,
        })?;
        let op = match spec.name.to_ascii_lowercase().as_str() {
            "add" => ModOp::Add,
            "delete" => ModOp::Delete,
            "replace" => ModOp::Replace,
            _ => return Err(err(l.no, LdifErrorKind::BadModOp)),
        };
        let attribute = String::from_utf8(spec.value)
            .ok()
            .filter(|a| valid_description(a.as_bytes()))
            .ok_or_else(|| err(l.no, LdifErrorKind::BadAttributeName))?;
        i += 1;
        let mut values = Vec::new();
        loop {
            let Some(v) = rest.get(i) else {
                return Err(err(l.no, LdifErrorKind::UnterminatedMod(attribute)));
            };
            i += 1;
            if v.text == b"-" {
                break;
            }
            let av = attr_value(v)?;
            if !av.name.eq_ignore_ascii_case(&attribute) {
                return Err(err(
                    v.no,
                    LdifErrorKind::ModAttributeMismatch {
                        expected: attribute.clone(),
                        found: av.name,
                    },
                ));
            }
            values.push(av);
        }
        mods.push(Modification {
            op,
            attribute,
            values,
        });
    }
    Ok(mods)
}
