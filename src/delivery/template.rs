//! Owns the message templates: the embedded defaults (`templates/*`), loading overrides from
//! files, and the small `{variable}` language they use.
//!
//! Syntax: `{name}` is replaced by the variable's value; `{{` is a literal `{`. A `{` that does
//! not start `{name}` (CSS in an HTML template, a lone brace) is kept as it is. Each template
//! kind has a fixed set of variables; any other `{name}` is refused when the template is loaded,
//! with its line and column, so a typo is a config error at start-up and never a message with a
//! literal `{adress}` in it. In HTML templates every value is HTML-escaped.
//!
//! The password is a variable of the password mail's body only: the bundle templates and both
//! subjects cannot name it (a subject shows up in mail logs and message lists), and the
//! password template must name it, or the user would get a mail without a password.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;

/// Default body of the bundle mail, plain text.
pub const DEFAULT_BUNDLE_TEXT: &str = include_str!("../../templates/bundle.txt");
/// Default body of the bundle mail, HTML alternative.
pub const DEFAULT_BUNDLE_HTML: &str = include_str!("../../templates/bundle.html");
/// Default body of the password mail, plain text.
pub const DEFAULT_PASSWORD_TEXT: &str = include_str!("../../templates/password.txt");
/// Default subject of the bundle mail.
pub const DEFAULT_SUBJECT: &str = "Your S/MIME certificate for {address}";
/// Default subject of the password mail.
pub const DEFAULT_PASSWORD_SUBJECT: &str = "Password for the S/MIME certificate of {address}";

/// Which template a text is, deciding its variables and escaping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateKind {
    /// Plain-text body of the bundle mail.
    BundleText,
    /// HTML body of the bundle mail (values are HTML-escaped).
    BundleHtml,
    /// Subject of the bundle mail.
    BundleSubject,
    /// Plain-text body of the password mail.
    PasswordText,
    /// Subject of the password mail.
    PasswordSubject,
}

const BUNDLE_VARS: &[&str] = &[
    "address",
    "display_name",
    "expires",
    "fingerprint",
    "profile",
    "profile_advice",
    "keeping_advice",
    "filename",
];
const PASSWORD_TEXT_VARS: &[&str] = &[
    "address",
    "recipient",
    "filename",
    "password",
    "keeping_advice",
];
const PASSWORD_SUBJECT_VARS: &[&str] = &["address", "recipient", "filename"];

impl TemplateKind {
    /// The variables this kind of template may use.
    pub fn variables(self) -> &'static [&'static str] {
        match self {
            TemplateKind::BundleText | TemplateKind::BundleHtml | TemplateKind::BundleSubject => {
                BUNDLE_VARS
            }
            TemplateKind::PasswordText => PASSWORD_TEXT_VARS,
            TemplateKind::PasswordSubject => PASSWORD_SUBJECT_VARS,
        }
    }

    fn required(self) -> &'static [&'static str] {
        match self {
            TemplateKind::PasswordText => &["password"],
            _ => &[],
        }
    }

    fn label(self) -> &'static str {
        match self {
            TemplateKind::BundleText => "bundle mail text template",
            TemplateKind::BundleHtml => "bundle mail HTML template",
            TemplateKind::BundleSubject => "bundle mail subject",
            TemplateKind::PasswordText => "password mail template",
            TemplateKind::PasswordSubject => "password mail subject",
        }
    }
}

/// Why a template cannot be used. Reported at load time with where the problem is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error(
        "{source_name} (the {kind}), line {line}, column {column}: unknown variable {{{name}}}; \
         this template can use {known} (write {{{{ for a literal brace)"
    )]
    UnknownVariable {
        source_name: String,
        kind: &'static str,
        line: usize,
        column: usize,
        name: String,
        known: String,
    },
    #[error("{source_name} (the {kind}) never uses {{{name}}}, so the mail would be useless")]
    MissingVariable {
        source_name: String,
        kind: &'static str,
        name: &'static str,
    },
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("a {got} was given where the {expected} belongs")]
    WrongKind {
        expected: &'static str,
        got: &'static str,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Var(&'static str),
}

/// A parsed template: literal text and known variables.
#[derive(Clone, PartialEq, Eq)]
pub struct Template {
    kind: TemplateKind,
    segments: Vec<Segment>,
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Template")
            .field("kind", &self.kind)
            .field("segments", &self.segments.len())
            .finish()
    }
}

impl Template {
    /// Parses `text` as a template of `kind`. `source_name` (a file path, or "embedded ...")
    /// names it in errors.
    pub fn parse(kind: TemplateKind, source_name: &str, text: &str) -> Result<Self, TemplateError> {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(pos) = rest.find('{') {
            literal.push_str(&rest[..pos]);
            let after = &rest[pos + 1..];
            if let Some(tail) = after.strip_prefix('{') {
                literal.push('{');
                rest = tail;
                continue;
            }
            let ident_len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if ident_len > 0 && after[ident_len..].starts_with('}') {
                let name = &after[..ident_len];
                let Some(var) = kind.variables().iter().find(|v| **v == name) else {
                    let offset = text.len() - rest.len() + pos;
                    let before = &text[..offset];
                    let line = before.matches('\n').count() + 1;
                    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                    return Err(TemplateError::UnknownVariable {
                        source_name: source_name.to_string(),
                        kind: kind.label(),
                        line,
                        column,
                        name: name.to_string(),
                        known: kind
                            .variables()
                            .iter()
                            .map(|v| format!("{{{v}}}"))
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                };
                if !literal.is_empty() {
                    segments.push(Segment::Literal(std::mem::take(&mut literal)));
                }
                segments.push(Segment::Var(var));
                rest = &after[ident_len + 1..];
            } else {
                literal.push('{');
                rest = after;
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        for name in kind.required() {
            if !segments.contains(&Segment::Var(name)) {
                return Err(TemplateError::MissingVariable {
                    source_name: source_name.to_string(),
                    kind: kind.label(),
                    name,
                });
            }
        }
        Ok(Template { kind, segments })
    }

    /// Reads and parses a template file.
    pub fn from_file(kind: TemplateKind, path: &Path) -> Result<Self, TemplateError> {
        let text = std::fs::read_to_string(path).map_err(|e| TemplateError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Template::parse(kind, &path.display().to_string(), &text)
    }

    /// The kind this template was parsed as.
    pub fn kind(&self) -> TemplateKind {
        self.kind
    }

    /// Fills in the variables. `value` is asked only for names of this template's kind; HTML
    /// templates escape what it returns.
    pub(crate) fn render<'v>(&self, value: impl Fn(&str) -> Cow<'v, str>) -> String {
        let mut out = String::new();
        for seg in &self.segments {
            match seg {
                Segment::Literal(s) => out.push_str(s),
                Segment::Var(name) => {
                    let v = value(name);
                    if self.kind == TemplateKind::BundleHtml {
                        html_escape_into(&v, &mut out);
                    } else {
                        out.push_str(&v);
                    }
                }
            }
        }
        out
    }
}

/// Escapes the five characters that matter in HTML text and attribute values.
fn html_escape_into(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
}

/// The three message bodies: text + HTML for the bundle mail, text for the password mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Templates {
    pub(crate) bundle_text: Template,
    pub(crate) bundle_html: Template,
    pub(crate) password_text: Template,
}

impl Templates {
    /// The defaults compiled into the binary (`templates/` in the source tree).
    pub fn embedded() -> Result<Templates, TemplateError> {
        Ok(Templates {
            bundle_text: Template::parse(
                TemplateKind::BundleText,
                "embedded templates/bundle.txt",
                DEFAULT_BUNDLE_TEXT,
            )?,
            bundle_html: Template::parse(
                TemplateKind::BundleHtml,
                "embedded templates/bundle.html",
                DEFAULT_BUNDLE_HTML,
            )?,
            password_text: Template::parse(
                TemplateKind::PasswordText,
                "embedded templates/password.txt",
                DEFAULT_PASSWORD_TEXT,
            )?,
        })
    }

    /// Loads each template from its file where one is given, the embedded default otherwise
    /// (config keys `delivery.template_text_file`, `template_html_file`,
    /// `password_template_file`).
    pub fn load(
        bundle_text: Option<&Path>,
        bundle_html: Option<&Path>,
        password_text: Option<&Path>,
    ) -> Result<Templates, TemplateError> {
        let mut t = Templates::embedded()?;
        if let Some(p) = bundle_text {
            t.bundle_text = Template::from_file(TemplateKind::BundleText, p)?;
        }
        if let Some(p) = bundle_html {
            t.bundle_html = Template::from_file(TemplateKind::BundleHtml, p)?;
        }
        if let Some(p) = password_text {
            t.password_text = Template::from_file(TemplateKind::PasswordText, p)?;
        }
        Ok(t)
    }

    /// Builds from already parsed templates; each must be of its slot's kind.
    pub fn new(
        bundle_text: Template,
        bundle_html: Template,
        password_text: Template,
    ) -> Result<Templates, TemplateError> {
        let check = |t: &Template, want: TemplateKind| {
            if t.kind == want {
                Ok(())
            } else {
                Err(TemplateError::WrongKind {
                    expected: want.label(),
                    got: t.kind.label(),
                })
            }
        };
        check(&bundle_text, TemplateKind::BundleText)?;
        check(&bundle_html, TemplateKind::BundleHtml)?;
        check(&password_text, TemplateKind::PasswordText)?;
        Ok(Templates {
            bundle_text,
            bundle_html,
            password_text,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(t: &Template) -> String {
        t.render(|name| Cow::Owned(format!("<{name}>")))
    }

    #[test]
    fn embedded_templates_parse() {
        let t = Templates::embedded().unwrap();
        assert_eq!(t.password_text.kind(), TemplateKind::PasswordText);
        Template::parse(TemplateKind::BundleSubject, "s", DEFAULT_SUBJECT).unwrap();
        Template::parse(TemplateKind::PasswordSubject, "s", DEFAULT_PASSWORD_SUBJECT).unwrap();
    }

    #[test]
    fn variables_are_replaced_and_double_braces_and_css_stay_literal() {
        let t = Template::parse(
            TemplateKind::BundleText,
            "t",
            "Hi {address}, {{address}} p { color: red } {",
        )
        .unwrap();
        assert_eq!(render(&t), "Hi <address>, {address}} p { color: red } {");
    }

    #[test]
    fn html_values_are_escaped_but_the_template_markup_is_not() {
        let t = Template::parse(TemplateKind::BundleHtml, "t", "<b>{display_name}</b>").unwrap();
        let out = t.render(|_| Cow::Borrowed("Tom & <Jerry>"));
        assert_eq!(out, "<b>Tom &amp; &lt;Jerry&gt;</b>");
    }

    #[test]
    fn an_unknown_variable_is_reported_with_line_column_and_the_known_ones() {
        let err = Template::parse(TemplateKind::BundleText, "/etc/x.txt", "ok\n  {adress}\n")
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(&err, TemplateError::UnknownVariable { line: 2, column: 3, name, .. } if name == "adress"),
            "{err:?}"
        );
        assert!(
            msg.contains("/etc/x.txt") && msg.contains("{address}"),
            "{msg}"
        );
    }

    #[test]
    fn the_password_cannot_appear_in_the_bundle_mail_or_any_subject() {
        for kind in [
            TemplateKind::BundleText,
            TemplateKind::BundleHtml,
            TemplateKind::BundleSubject,
            TemplateKind::PasswordSubject,
        ] {
            let err = Template::parse(kind, "t", "pw: {password}").unwrap_err();
            assert!(
                matches!(err, TemplateError::UnknownVariable { .. }),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn a_password_template_without_the_password_is_refused() {
        let err =
            Template::parse(TemplateKind::PasswordText, "p.txt", "Hello {address}").unwrap_err();
        assert!(matches!(
            err,
            TemplateError::MissingVariable {
                name: "password",
                ..
            }
        ));
    }

    #[test]
    fn files_override_the_defaults_and_missing_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw.txt");
        std::fs::write(&p, "Code for {address}: {password}\n").unwrap();
        let t = Templates::load(None, None, Some(&p)).unwrap();
        assert_eq!(render(&t.password_text), "Code for <address>: <password>\n");
        let missing = dir.path().join("nope.txt");
        let err = Templates::load(Some(&missing), None, None).unwrap_err();
        assert!(err.to_string().contains("nope.txt"), "{err}");
    }
}
