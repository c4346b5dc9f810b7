//! The gateway's XML reader: a small document tree on quick-xml that refuses DTDs and entities
//! beyond the five predefined ones and character references, and bounds depth and size.

use quick_xml::events::Event;
use quick_xml::Reader;

/// An element: name, child elements, and its own text (CDATA included).
#[derive(Debug, Clone, Default)]
pub(crate) struct Node {
    pub name: String,
    pub children: Vec<Node>,
    pub text: String,
}

const MAX_DEPTH: usize = 32;

const MAX_NODES: usize = 20_000;

impl Node {
    pub(super) fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }
    pub(super) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
    /// Trimmed text of the child `name`; `None` when absent or empty.
    pub(super) fn text_of(&self, name: &str) -> Option<String> {
        self.child(name)
            .map(|c| c.text.trim().to_string())
            .filter(|s| !s.is_empty())
    }
}

/// Reads a document into a tree. Refuses DOCTYPEs (and with them every entity declaration) and
/// unknown entity references, so nothing is ever expanded.
pub(crate) fn parse(doc: &str) -> Result<Node, String> {
    let mut reader = Reader::from_str(doc);
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    let mut count = 0usize;
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| format!("the XML is not well-formed: {e}"))?;
        match ev {
            Event::Start(s) => {
                count += 1;
                if stack.len() >= MAX_DEPTH || count > MAX_NODES {
                    return Err("the XML document is too deeply nested or too large".into());
                }
                let name = s.local_name().as_ref().to_string();
                stack.push(Node {
                    name,
                    ..Node::default()
                });
            }
            Event::Empty(s) => {
                count += 1;
                let name = s.local_name().as_ref().to_string();
                let node = Node {
                    name,
                    ..Node::default()
                };
                match stack.last_mut() {
                    Some(p) => p.children.push(node),
                    None if root.is_none() => root = Some(node),
                    None => return Err("the XML has more than one root element".into()),
                }
            }
            Event::End(_) => {
                let node = stack.pop().ok_or("the XML has an unexpected closing tag")?;
                match stack.last_mut() {
                    Some(p) => p.children.push(node),
                    None if root.is_none() => root = Some(node),
                    None => return Err("the XML has more than one root element".into()),
                }
            }
            Event::Text(t) => {
                let s = t.xml10_content();
                match stack.last_mut() {
                    Some(p) => p.text.push_str(&s),
                    None if s.trim().is_empty() => {}
                    None => return Err("the XML has text outside the root element".into()),
                }
            }
            Event::CData(c) => {
                let s = c.into_inner();
                if let Some(p) = stack.last_mut() {
                    p.text.push_str(&s);
                }
            }
            Event::GeneralRef(r) => {
                let ch = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => quick_xml::escape::resolve_predefined_entity(&r)
                        .map(str::to_string)
                        .ok_or_else(|| format!("the XML uses the undeclared entity &{};", &*r))?,
                    Err(e) => return Err(format!("the XML has a bad character reference: {e}")),
                };
                if let Some(p) = stack.last_mut() {
                    p.text.push_str(&ch);
                }
            }
            Event::DocType(_) => {
                return Err("DOCTYPE declarations are not allowed (no DTDs, no entities)".into())
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err("the XML document ends before all elements are closed".into());
    }
    root.ok_or_else(|| "the XML document has no root element".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdata_and_predefined_entities_become_text() {
        let n = parse("<request><a><![CDATA[x<y]]></a><b>a &amp; b &#65;</b></request>").unwrap();
        assert_eq!(n.text_of("a").unwrap(), "x<y");
        assert_eq!(n.text_of("b").unwrap(), "a & b A");
    }

    #[test]
    fn doctype_and_custom_entities_are_refused() {
        let bomb =
            "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"aaaa\">]><request>&a;</request>";
        assert!(parse(bomb).unwrap_err().contains("DOCTYPE"));
        assert!(parse("<request>&a;</request>")
            .unwrap_err()
            .contains("undeclared entity"));
    }

    #[test]
    fn broken_documents_are_refused() {
        assert!(parse("<request><task>").is_err());
        assert!(parse("").is_err());
        assert!(parse("<a></b>").is_err());
        assert!(parse("<a/><b/>").is_err());
    }
}
