//! The XML gateway codec: pure functions between the typed model and gateway bodies (no IO).
//!
//! Request shape (reference §1.2): `<request><auth>…</auth><task><code>…</code><ctid>…</ctid>
//! payload</task></request>`. Response shape (§1.7): `<response><result><data>…</data><msg>…</msg>
//! <status>…</status></result><stid>…</stid></response>`. Element names per task follow §2.3–§2.14
//! and the seed page; names the sources never show are marked **[INFER]** where they are used.
//!
//! Safety: documents are read by the shared reader [`crate::xmltree`], which refuses any
//! `DOCTYPE` (and with it every entity declaration) and never expands entities: only the five
//! predefined ones and character references are resolved; any other `&name;` is an error.
//! Nesting depth is bounded ([`MAX_DEPTH`]) so hostile input cannot exhaust the stack.
//!
//! Leading and trailing whitespace of a value is not significant (the gateway's samples indent
//! freely), so values are trimmed; a PEM comes back without its final newline.
//!
//! Parsing goes through a small element tree ([`Element`]) rather than serde, because the gateway
//! mixes shapes serde handles poorly (a job `status` that is text in one answer and a
//! `{code,text,type}` block in another, repeated elements, PEM in CDATA).
//!
//! Files: this one holds the reader's bounds and the field helpers; [`certificate`] maps
//! contacts and certificates, [`job`] jobs and poll messages, [`envelope`] the `<response>`
//! around every payload, [`request`] the `<request>` with its task. Everything is re-exported
//! here, so `autodns::xml::f` names every function.

use super::error::Error;
use super::model::*;
use crate::xmltree::{self, Limits};

pub mod certificate;
pub mod envelope;
pub mod job;
pub mod request;

pub use certificate::*;
pub use envelope::*;
pub use job::*;
pub use request::*;

pub use crate::xmltree::Element;

/// Deepest nesting accepted. The deepest real shape (a certificate's contact owner inside a job
/// inside a poll message) is under 10 levels.
const MAX_DEPTH: usize = 48;

/// The gateway's bounds: depth as above; the element count is bounded by the transport's body
/// cap (`client::settings::MAX_BODY`) rather than here.
const LIMITS: Limits = Limits {
    max_depth: MAX_DEPTH,
    max_elements: usize::MAX,
};

/// Parses a document into its root element with the shared reader ([`crate::xmltree`]): refuses
/// DOCTYPE, undeclared entities, truncated and multi-root documents, and nesting deeper than
/// [`MAX_DEPTH`]. A leading byte order mark is dropped.
pub fn parse_document(body: &[u8]) -> Result<Element, String> {
    xmltree::parse_bytes(body, LIMITS).map_err(String::from)
}

// Field helpers shared by the element mappings below.

type R<T> = Result<T, String>;

fn opt_i64(el: &Element, name: &str) -> R<Option<i64>> {
    match el.text_of(name) {
        None => Ok(None),
        Some(t) => t
            .parse::<i64>()
            .map(Some)
            .map_err(|_| format!("<{}>/<{name}> is not an integer: {:?}", el.name, clip(&t))),
    }
}

fn opt_u64(el: &Element, name: &str) -> R<Option<u64>> {
    match el.text_of(name) {
        None => Ok(None),
        Some(t) => t
            .parse::<u64>()
            .map(Some)
            .map_err(|_| format!("<{}>/<{name}> is not a count: {:?}", el.name, clip(&t))),
    }
}

fn opt_date(el: &Element, name: &str) -> R<Option<Timestamp>> {
    match el.text_of(name) {
        None => Ok(None),
        Some(t) => Timestamp::parse(&t)
            .map(Some)
            .ok_or_else(|| format!("<{}>/<{name}> is not a date: {:?}", el.name, clip(&t))),
    }
}

fn opt_bool(el: &Element, name: &str) -> R<Option<bool>> {
    match el.text_of(name) {
        None => Ok(None),
        Some(t) => parse_bool(&t)
            .map(Some)
            .ok_or_else(|| format!("<{}>/<{name}> is not a boolean: {:?}", el.name, clip(&t))),
    }
}

fn clip(t: &str) -> String {
    t.chars().take(40).collect()
}

fn date_text(t: &Option<Timestamp>) -> Option<String> {
    t.as_ref().map(Timestamp::to_api_string)
}

#[cfg(test)]
mod tests;
