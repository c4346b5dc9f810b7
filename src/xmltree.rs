//! Owns the one safe XML tree reader: a document in, a small [`Element`] tree out, with nothing
//! expanded and nothing unbounded. Also owns the tree's writer, so a tree built in code serializes
//! to a document the reader reads back unchanged.
//!
//! Safety, checked by the tests at the end of this file:
//! - a `DOCTYPE` is refused, and with it every DTD and entity declaration (`a_doctype_is_refused`);
//! - only the five predefined entities and character references are resolved; any other `&name;`
//!   is an error, never an expansion (`an_undeclared_entity_is_refused_not_expanded`);
//! - nesting depth and the number of elements are bounded by [`Limits`], so hostile input cannot
//!   exhaust the stack or the heap (`nesting_deeper_than_the_limit_is_refused`,
//!   `more_elements_than_the_limit_are_refused`);
//! - truncated, multi-root and otherwise malformed documents are typed [`XmlError`]s whose text
//!   says what is wrong (`malformed_documents_are_clear_errors`).
//!
//! The tree keeps what the AutoDNS gateway and its stand-in need: local names (prefixes
//! dropped), each element's own text (CDATA unwrapped, entity-decoded) and its children in order.
//! Attributes are ignored: the gateway does not use them. Each wire mapping (client codec,
//! simulator) stays its own code on top of this tree.

use std::fmt;

use quick_xml::events::Event;
use quick_xml::Reader;

/// Bounds on a document's shape. The byte size is bounded by whoever reads the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most elements open at once (the root is the first); an empty element `<x/>` may sit
    /// one level below.
    pub max_depth: usize,
    /// Most elements accepted (`usize::MAX`: bounded only by the body size).
    pub max_elements: usize,
}

impl Default for Limits {
    /// Depth 48 (the deepest real AutoDNS shape, a contact owner inside a job inside a poll
    /// message, is under 10 levels); elements bounded only by the body size.
    fn default() -> Self {
        Limits {
            max_depth: 48,
            max_elements: usize::MAX,
        }
    }
}

/// Why a document was refused. `Display` gives a one-line reason; callers that word their
/// answers differently match on the variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XmlError {
    /// The body is not UTF-8 ([`parse_bytes`] only).
    NotUtf8(String),
    /// The tokenizer refused the input near `position` (a byte offset).
    Syntax {
        /// Byte offset where the failing token started.
        position: u64,
        /// The tokenizer's own text.
        message: String,
    },
    /// A `<!DOCTYPE …>` was present.
    Doctype,
    /// `&name;` other than the five predefined entities.
    UndeclaredEntity(String),
    /// A character reference that names no character.
    BadCharRef(String),
    /// Nesting deeper than [`Limits::max_depth`].
    TooDeep(usize),
    /// More elements than [`Limits::max_elements`].
    TooLarge(usize),
    /// An element after the root element closed.
    ContentAfterRoot,
    /// A closing tag with nothing open.
    UnexpectedClose,
    /// Non-blank text outside the root element.
    TextOutsideRoot,
    /// CDATA outside the root element.
    CdataOutsideRoot,
    /// An entity or character reference outside the root element.
    ReferenceOutsideRoot,
    /// The document ended with this element still open.
    Unclosed(String),
    /// No root element at all.
    Empty,
}

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XmlError::NotUtf8(e) => write!(f, "body is not UTF-8 ({e})"),
            XmlError::Syntax { position, message } => {
                write!(f, "XML syntax error near byte {position}: {message}")
            }
            XmlError::Doctype => {
                f.write_str("DOCTYPE declarations are refused (no DTDs, no entity expansion)")
            }
            XmlError::UndeclaredEntity(name) => write!(
                f,
                "undeclared entity &{}; (entities are not expanded)",
                clip(name)
            ),
            XmlError::BadCharRef(e) if e.is_empty() => f.write_str("bad character reference"),
            XmlError::BadCharRef(e) => write!(f, "bad character reference: {e}"),
            XmlError::TooDeep(limit) => write!(f, "elements nested deeper than {limit}"),
            XmlError::TooLarge(limit) => write!(f, "more than {limit} elements"),
            XmlError::ContentAfterRoot => f.write_str("content after the root element"),
            XmlError::UnexpectedClose => f.write_str("closing tag without an opening tag"),
            XmlError::TextOutsideRoot => f.write_str("text outside the root element"),
            XmlError::CdataOutsideRoot => f.write_str("CDATA outside the root element"),
            XmlError::ReferenceOutsideRoot => f.write_str("reference outside the root element"),
            XmlError::Unclosed(name) => {
                write!(f, "document truncated: <{}> is not closed", clip(name))
            }
            XmlError::Empty => f.write_str("empty document"),
        }
    }
}

impl std::error::Error for XmlError {}

impl From<XmlError> for String {
    fn from(e: XmlError) -> String {
        e.to_string()
    }
}

/// The first 40 characters: enough to recognise a name, too few to flood a log line.
fn clip(t: &str) -> String {
    t.chars().take(40).collect()
}

/// An XML element: local name, concatenated text (CDATA included), children in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// Local name (namespace prefix dropped).
    pub name: String,
    /// The element's own text, entity-decoded, CDATA unwrapped.
    pub text: String,
    /// Child elements.
    pub children: Vec<Element>,
    /// Write `text` as CDATA. Ignored when parsing.
    pub cdata: bool,
}

impl Element {
    /// An element with no text and no children.
    pub fn new(name: &str) -> Self {
        Element {
            name: name.to_string(),
            ..Default::default()
        }
    }

    /// An element holding text.
    pub fn leaf(name: &str, text: impl Into<String>) -> Self {
        Element {
            name: name.to_string(),
            text: text.into(),
            ..Default::default()
        }
    }

    /// The first child called `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child called `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The trimmed text of the first child called `name`; `None` if absent or empty.
    pub fn text_of(&self, name: &str) -> Option<String> {
        self.child(name).and_then(Element::trimmed)
    }

    /// The trimmed text; `None` if empty.
    pub fn trimmed(&self) -> Option<String> {
        let t = self.text.trim();
        (!t.is_empty()).then(|| t.to_string())
    }

    /// Appends a child.
    pub fn push(&mut self, child: Element) -> &mut Self {
        self.children.push(child);
        self
    }

    /// Appends `<name>v</name>` when `v` is present.
    pub fn push_text(&mut self, name: &str, v: Option<&str>) -> &mut Self {
        if let Some(v) = v {
            self.children.push(Element::leaf(name, v));
        }
        self
    }

    /// Appends `<name><![CDATA[v]]></name>` when `v` is present.
    pub fn push_cdata(&mut self, name: &str, v: Option<&str>) -> &mut Self {
        if let Some(v) = v {
            let mut e = Element::leaf(name, v);
            e.cdata = true;
            self.children.push(e);
        }
        self
    }

    /// Appends `<name>v</name>` with `v` formatted by `Display`, when present.
    pub fn push_display(&mut self, name: &str, v: Option<impl ToString>) -> &mut Self {
        if let Some(v) = v {
            self.children.push(Element::leaf(name, v.to_string()));
        }
        self
    }

    /// Serializes the element (no declaration). Empty elements are written `<name/>`.
    pub fn write_to(&self, out: &mut String) {
        out.push('<');
        out.push_str(&self.name);
        if self.text.is_empty() && self.children.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        if !self.text.is_empty() {
            if self.cdata {
                out.push_str("<![CDATA[");
                out.push_str(&self.text.replace("]]>", "]]]]><![CDATA[>"));
                out.push_str("]]>");
            } else {
                escape_into(&self.text, out);
            }
        }
        for c in &self.children {
            c.write_to(out);
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }

    /// Serializes the element as a document with an XML declaration.
    pub fn to_document(&self) -> Vec<u8> {
        let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
        self.write_to(&mut s);
        s.into_bytes()
    }
}

/// Escapes element text.
pub fn escape_into(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            // Carriage returns would be normalised away by any XML parser (XML 1.0 §2.11).
            '\r' => out.push_str("&#13;"),
            _ => out.push(c),
        }
    }
}

/// Reads a body: drops a leading UTF-8 byte order mark, requires UTF-8, then [`parse`]s.
pub fn parse_bytes(body: &[u8], limits: Limits) -> Result<Element, XmlError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let text = std::str::from_utf8(body).map_err(|e| XmlError::NotUtf8(e.to_string()))?;
    parse(text, limits)
}

/// Reads a document into its root element. Refuses DOCTYPE, undeclared entities, truncated and
/// multi-root documents, and anything beyond `limits`.
pub fn parse(doc: &str, limits: Limits) -> Result<Element, XmlError> {
    let mut reader = Reader::from_str(doc);
    let cfg = reader.config_mut();
    cfg.trim_text(false);
    cfg.check_end_names = true;
    cfg.expand_empty_elements = false;

    let mut tree = Builder::new(limits);
    loop {
        let position = reader.buffer_position();
        let ev = reader.read_event().map_err(|e| XmlError::Syntax {
            position,
            message: e.to_string(),
        })?;
        match ev {
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Start(s) => tree.open(Element::new(s.local_name().as_ref()))?,
            Event::Empty(s) => tree.empty(Element::new(s.local_name().as_ref()))?,
            Event::End(_) => tree.close()?,
            Event::Text(t) => tree.text(&t.xml10_content())?,
            Event::CData(c) => tree.cdata(&c.xml10_content())?,
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref()
                        .map_err(|e| XmlError::BadCharRef(e.to_string()))?
                } else {
                    Some(predefined(&r.xml10_content())?)
                };
                tree.reference(resolved.ok_or(XmlError::BadCharRef(String::new()))?)?;
            }
            Event::Eof => return tree.finish(),
        }
    }
}

/// The five entities XML predefines (XML 1.0 §4.6); anything else is refused.
fn predefined(name: &str) -> Result<char, XmlError> {
    match name {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "apos" => Ok('\''),
        "quot" => Ok('"'),
        other => Err(XmlError::UndeclaredEntity(other.to_string())),
    }
}

/// The tree under construction: the open elements, the finished root, the element count.
struct Builder {
    limits: Limits,
    stack: Vec<Element>,
    root: Option<Element>,
    count: usize,
}

impl Builder {
    fn new(limits: Limits) -> Self {
        Builder {
            limits,
            stack: Vec::new(),
            root: None,
            count: 0,
        }
    }

    fn counted(&mut self) -> Result<(), XmlError> {
        if self.root.is_some() {
            return Err(XmlError::ContentAfterRoot);
        }
        self.count += 1;
        if self.count > self.limits.max_elements {
            return Err(XmlError::TooLarge(self.limits.max_elements));
        }
        Ok(())
    }

    fn open(&mut self, e: Element) -> Result<(), XmlError> {
        self.counted()?;
        if self.stack.len() >= self.limits.max_depth {
            return Err(XmlError::TooDeep(self.limits.max_depth));
        }
        self.stack.push(e);
        Ok(())
    }

    /// An empty element never opens, so it is not held to the depth bound: the stack, which is
    /// what the bound protects, does not grow.
    fn empty(&mut self, e: Element) -> Result<(), XmlError> {
        self.counted()?;
        self.attach(e);
        Ok(())
    }

    fn close(&mut self) -> Result<(), XmlError> {
        let done = self.stack.pop().ok_or(XmlError::UnexpectedClose)?;
        self.attach(done);
        Ok(())
    }

    fn attach(&mut self, e: Element) {
        match self.stack.last_mut() {
            Some(parent) => parent.children.push(e),
            None => self.root = Some(e),
        }
    }

    fn text(&mut self, content: &str) -> Result<(), XmlError> {
        match self.stack.last_mut() {
            Some(cur) => cur.text.push_str(content),
            None if content.trim().is_empty() => {}
            None => return Err(XmlError::TextOutsideRoot),
        }
        Ok(())
    }

    fn cdata(&mut self, content: &str) -> Result<(), XmlError> {
        let cur = self.stack.last_mut().ok_or(XmlError::CdataOutsideRoot)?;
        cur.text.push_str(content);
        Ok(())
    }

    fn reference(&mut self, c: char) -> Result<(), XmlError> {
        let cur = self
            .stack
            .last_mut()
            .ok_or(XmlError::ReferenceOutsideRoot)?;
        cur.text.push(c);
        Ok(())
    }

    fn finish(mut self) -> Result<Element, XmlError> {
        if let Some(open) = self.stack.pop() {
            return Err(XmlError::Unclosed(open.name));
        }
        self.root.ok_or(XmlError::Empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(doc: &str) -> Result<Element, XmlError> {
        parse(doc, Limits::default())
    }

    #[test]
    fn a_document_becomes_a_tree_of_local_names_text_and_children() {
        let e = read(
            "<?xml version=\"1.0\"?><x:a><b>one</b><!-- c --><b/><c><![CDATA[<p>]]></c></x:a>",
        );
        let e = e.unwrap_or_default();
        assert_eq!(e.name, "a");
        assert_eq!(e.children_named("b").count(), 2);
        assert_eq!(e.text_of("b"), Some("one".to_string()));
        assert_eq!(e.text_of("c"), Some("<p>".to_string()));
    }

    #[test]
    fn predefined_and_character_references_are_decoded() {
        let e = read("<a>x &lt;&amp;&gt;&apos;&quot; &#65;&#x42;</a>").unwrap_or_default();
        assert_eq!(e.text, "x <&>'\" AB");
    }

    #[test]
    fn an_undeclared_entity_is_refused_not_expanded() {
        let err = read("<a>&xxe;</a>");
        assert_eq!(err, Err(XmlError::UndeclaredEntity("xxe".into())));
        let text = err.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("undeclared entity &xxe;"), "{text}");
    }

    #[test]
    fn a_doctype_is_refused() {
        let body = r#"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "boom">]><a>&e;</a>"#;
        assert_eq!(read(body), Err(XmlError::Doctype));
        let billion_laughs = r#"<!DOCTYPE l [<!ENTITY a "aa"><!ENTITY b "&a;&a;">]><l>&b;</l>"#;
        assert_eq!(read(billion_laughs), Err(XmlError::Doctype));
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_refused() {
        let limits = Limits {
            max_depth: 3,
            max_elements: usize::MAX,
        };
        assert!(parse("<a><b><c><d/></c></b></a>", limits).is_ok());
        assert_eq!(
            parse("<a><b><c><d></d></c></b></a>", limits),
            Err(XmlError::TooDeep(3))
        );
        let deep = "<a>".repeat(49) + &"</a>".repeat(49);
        assert_eq!(read(&deep), Err(XmlError::TooDeep(48)));
    }

    #[test]
    fn more_elements_than_the_limit_are_refused() {
        let limits = Limits {
            max_depth: 48,
            max_elements: 3,
        };
        assert!(parse("<a><b/><b/></a>", limits).is_ok());
        assert_eq!(
            parse("<a><b/><b/><b/></a>", limits),
            Err(XmlError::TooLarge(3))
        );
    }

    #[test]
    fn malformed_documents_are_clear_errors() {
        assert_eq!(
            read("<response><result><data>"),
            Err(XmlError::Unclosed("data".into()))
        );
        assert_eq!(read(""), Err(XmlError::Empty));
        assert_eq!(read("<a/><b/>"), Err(XmlError::ContentAfterRoot));
        assert_eq!(read("<a></a>stray"), Err(XmlError::TextOutsideRoot));
        assert!(matches!(read("<a></b>"), Err(XmlError::Syntax { .. })));
        assert!(matches!(
            parse_bytes(b"<a>\xff</a>", Limits::default()),
            Err(XmlError::NotUtf8(_))
        ));
        let text = read("<a><b></a>").err().map(|e| e.to_string());
        assert!(text.is_some_and(|t| t.starts_with("XML syntax error near byte")));
    }

    #[test]
    fn a_byte_order_mark_is_dropped_from_a_body() {
        let e = parse_bytes(b"\xEF\xBB\xBF<a>x</a>", Limits::default());
        assert_eq!(e.map(|e| e.text), Ok("x".to_string()));
    }

    #[test]
    fn cdata_containing_the_end_marker_survives_a_write_read_cycle() {
        let mut e = Element::leaf("csr", "a]]>b");
        e.cdata = true;
        let mut s = String::new();
        e.write_to(&mut s);
        assert_eq!(read(&s).map(|e| e.text), Ok("a]]>b".to_string()));
    }

    #[test]
    fn written_text_is_escaped_and_reads_back_unchanged() {
        let mut root = Element::new("r");
        root.push_text("t", Some("a<b>&c\r\nd"))
            .push_display("n", Some(7))
            .push(Element::new("e"));
        let doc = root.to_document();
        let back = parse_bytes(&doc, Limits::default());
        assert_eq!(back, Ok(root));
    }
}
