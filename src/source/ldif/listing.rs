//! Owns what an LDIF export means as mailboxes: the settings (which attributes, which
//! objectClass, which key), DN normalisation, and the pure step from parsed records to a
//! [`Listing`]. The bench and the watcher share it.
//!
//! Entries are keyed by `entryUUID` (slapcat includes it; `ldapsearch` only with `+`) or by DN,
//! so a changed `mail` value is a [`SourceEvent::Changed`](crate::source::SourceEvent::Changed),
//! not a removal plus a new purchase.

use super::parse::{AttrValue, LdifRecord, RecordBody};
use crate::display_name::DisplayName;
use crate::mailbox::Address;
use crate::source::{Listing, Origin, Rejected, SourceError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What identifies an entry across exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyAttr {
    /// The operational `entryUUID` (RFC 4530): survives renames and moves. slapcat always
    /// writes it; `ldapsearch` only when asked for operational attributes (`+`).
    #[default]
    EntryUuid,
    /// The DN, normalised (case and spaces around separators). A rename that changes the DN
    /// (iRedMail puts `mail=` in the DN) then looks like a removal plus a new entry.
    Dn,
}

/// Where the export is and what to read from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdifSettings {
    pub path: PathBuf,
    /// Attributes carrying mailbox addresses; default `["mail"]`.
    pub attributes: Vec<String>,
    /// Only entries with this objectClass (case-insensitive), e.g. `mailUser` on iRedMail.
    pub object_class: Option<String>,
    pub key: KeyAttr,
    /// Attributes holding the person's name, first usable one wins; then `givenName` + `sn`.
    /// Empty: no display names. Default [`DEFAULT_DISPLAY_NAME_ATTRIBUTES`].
    pub display_name_attributes: Vec<String>,
}

/// Where a display name is looked for by default, in this order (inetOrgPerson, RFC 2798).
pub const DEFAULT_DISPLAY_NAME_ATTRIBUTES: &[&str] = &["displayName", "cn"];

impl LdifSettings {
    /// Settings with the defaults: attribute `mail`, no objectClass filter, keyed by entryUUID,
    /// display names from `displayName`, `cn`, then `givenName` + `sn`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        LdifSettings {
            path: path.into(),
            attributes: vec!["mail".into()],
            object_class: None,
            key: KeyAttr::EntryUuid,
            display_name_attributes: DEFAULT_DISPLAY_NAME_ATTRIBUTES
                .iter()
                .map(|a| a.to_string())
                .collect(),
        }
    }
}

/// Lower-cases a DN and drops the spaces around `,` `+` `=` separators that are not escaped,
/// so `uid=Bob, ou=People` and `UID=bob,ou=people` key the same entry. (Full RFC 4514
/// matching would need the schema's matching rules; this covers what exporters vary.)
pub fn normalize_dn(dn: &str) -> String {
    let mut out = String::with_capacity(dn.len());
    let mut chars = dn.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push('\\');
                if let Some(n) = chars.next() {
                    out.extend(n.to_lowercase());
                }
            }
            ',' | '+' | '=' => {
                while out.ends_with(' ') && !out.ends_with("\\ ") {
                    out.pop();
                }
                out.push(c);
                while chars.peek() == Some(&' ') {
                    chars.next();
                }
            }
            _ => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// The mailboxes in parsed `records`, keyed per `settings.key`. Pure: the bench and the watcher
/// share it. Entries without any address attribute are not mailboxes and are skipped silently;
/// invalid addresses and keyless entries are reported in [`Listing::rejected`].
pub fn listing_from_records(
    records: &[LdifRecord],
    settings: &LdifSettings,
    path: &Path,
) -> Result<Listing, SourceError> {
    let mut listing = Listing::default();
    let mut first_line: BTreeMap<String, usize> = BTreeMap::new();
    for rec in records {
        refuse_change_record(rec, path)?;
        let attrs = rec.attributes();
        if !has_object_class(attrs, settings.object_class.as_deref()) {
            continue;
        }
        let values: Vec<&AttrValue> = settings
            .attributes
            .iter()
            .flat_map(|want| attrs.iter().filter(move |a| a.matches(want)))
            .collect();
        if values.is_empty() {
            continue;
        }
        let key = match entry_key(rec, settings.key) {
            Ok(key) => key,
            Err(rejected) => {
                listing.rejected.push(rejected);
                continue;
            }
        };
        if let Some(prev) = first_line.insert(key.clone(), rec.line) {
            return Err(SourceError::DuplicateKey {
                path: path.to_path_buf(),
                key,
                first_line: prev,
                second_line: rec.line,
            });
        }
        for v in values {
            insert_value(&mut listing, rec, &key, v);
        }
        if let Some(name) = entry_name(rec, settings, &mut listing.rejected) {
            listing.set_display_name(&key, name);
        }
    }
    Ok(listing)
}

/// The person's name of an entry: the first usable value of the configured attributes, in
/// their order, else `givenName` and `sn` joined by a space. A value that is not usable (a line
/// break, a control character, too long, not UTF-8) is reported in `rejected` with its reason
/// and the next candidate is tried; the mailbox is listed all the same.
fn entry_name(
    rec: &LdifRecord,
    settings: &LdifSettings,
    rejected: &mut Vec<Rejected>,
) -> Option<DisplayName> {
    if settings.display_name_attributes.is_empty() {
        return None;
    }
    let attrs = rec.attributes();
    let mut usable = |v: &AttrValue| match DisplayName::from_bytes(&v.value) {
        Ok(n) => Some(n),
        Err(crate::display_name::NameError::Empty) => None,
        Err(e) => {
            let origin = format!(
                "ldif entry {:?} (line {}), attribute {}",
                rec.dn, rec.line, v.name
            );
            rejected.push(name_refused(origin, &e));
            None
        }
    };
    for want in &settings.display_name_attributes {
        for v in attrs.iter().filter(|a| a.matches(want)) {
            if let Some(n) = usable(v) {
                return Some(n);
            }
        }
    }
    let first_of = |ty: &str| attrs.iter().find(|a| a.is(ty)).and_then(AttrValue::text);
    let joined = match (first_of("givenName"), first_of("sn")) {
        (Some(g), Some(s)) => format!("{g} {s}"),
        (Some(one), None) | (None, Some(one)) => one.to_string(),
        (None, None) => return None,
    };
    match DisplayName::parse(&joined) {
        Ok(n) => Some(n),
        Err(e) => {
            let origin = format!(
                "ldif entry {:?} (line {}), attributes givenName and sn",
                rec.dn, rec.line
            );
            rejected.push(name_refused(origin, &e));
            None
        }
    }
}

/// The report of a name value that is not used.
fn name_refused(origin: String, e: &crate::display_name::NameError) -> Rejected {
    Rejected {
        origin,
        reason: format!(
            "not used as the display name: the value {e}; the mailbox is served without it \
             (fix the entry in the directory)"
        ),
    }
}

/// An export holds content records; a change record (other than `add`) means the file is a
/// change log, not a snapshot, and listing it would misread removals.
fn refuse_change_record(rec: &LdifRecord, path: &Path) -> Result<(), SourceError> {
    match rec.body {
        RecordBody::Content(_) | RecordBody::Add { .. } => Ok(()),
        _ => Err(SourceError::ChangeRecordInExport {
            path: path.to_path_buf(),
            line: rec.line,
            kind: rec.change_type().unwrap_or("change"),
        }),
    }
}

/// True without a filter, or when an objectClass value equals `want` (case-insensitive).
fn has_object_class(attrs: &[AttrValue], want: Option<&str>) -> bool {
    let Some(oc) = want else {
        return true;
    };
    attrs
        .iter()
        .any(|a| a.is("objectClass") && a.text().is_some_and(|t| t.eq_ignore_ascii_case(oc)))
}

/// The entry's key, or why it has none (no `entryUUID` when keyed by it).
fn entry_key(rec: &LdifRecord, key: KeyAttr) -> Result<String, Rejected> {
    match key {
        KeyAttr::Dn => Ok(normalize_dn(&rec.dn)),
        KeyAttr::EntryUuid => rec
            .attributes()
            .iter()
            .find(|a| a.is("entryUUID"))
            .and_then(AttrValue::text)
            .map(|u| u.trim().to_ascii_lowercase())
            .ok_or_else(|| Rejected {
                origin: format!("ldif entry {:?} (line {})", rec.dn, rec.line),
                reason: "the entry has no entryUUID; export with operational attributes \
                         (slapcat, or ldapsearch with '+') or key the source by DN"
                    .into(),
            }),
    }
}

/// Lists one address value of the entry keyed `key`, or reports why it is not an address.
fn insert_value(listing: &mut Listing, rec: &LdifRecord, key: &str, v: &AttrValue) {
    let origin = Origin::Ldif {
        key: key.to_owned(),
    };
    let parsed = match v.text() {
        Some(t) => Address::parse(t).map_err(|e| e.to_string()),
        None => Err(format!("the {} value is not UTF-8", v.name)),
    };
    match parsed {
        Ok(a) => listing.insert(origin, a),
        Err(reason) => listing.rejected.push(Rejected {
            origin: format!(
                "ldif entry {:?} (line {}), attribute {}",
                rec.dn, rec.line, v.name
            ),
            reason,
        }),
    }
}
