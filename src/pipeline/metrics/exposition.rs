//! Owns the Prometheus text exposition format (version 0.0.4) as written by `/metrics`: one
//! `# HELP` and one `# TYPE` line per family, then its samples, label values escaped
//! (https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format).

use std::fmt::Write as _;

/// The prefix of every family this program exports.
pub const PREFIX: &str = "smime_provisioner_";

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (resets when the process starts).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Buckets, sum and count.
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A page of Prometheus text being written.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
    families: Vec<String>,
}

impl Exposition {
    /// Starts the family `name` (without [`PREFIX`]; a counter's name without `_total`).
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let full = format!("{PREFIX}{name}");
        let _ = writeln!(self.out, "# HELP {full} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {full} {}", kind.as_str());
        self.families.push(full);
    }

    /// One sample of `name` (without [`PREFIX`], with any `_total`/`_bucket` suffix). Writes
    /// straight into the page: a scrape of 100,000 mailboxes writes half a million of these.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(PREFIX);
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(k);
                self.out.push_str("=\"");
                push_escaped(&mut self.out, v);
                self.out.push('"');
            }
            self.out.push('}');
        }
        self.out.push(' ');
        push_number(&mut self.out, value);
        self.out.push('\n');
    }

    /// Appends the samples of `other` (written without a family line) to this page.
    pub fn append(&mut self, other: Exposition) {
        self.out.push_str(&other.out);
    }

    /// The family names written so far, with the prefix.
    pub fn families(&self) -> &[String] {
        &self.families
    }

    /// The page.
    pub fn finish(self) -> String {
        self.out
    }
}

/// A sample value: integers without a fraction, `+Inf` for infinity.
pub fn number(v: f64) -> String {
    let mut s = String::new();
    push_number(&mut s, v);
    s
}

fn push_number(out: &mut String, v: f64) {
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
}

/// A label value with `\`, `"` and newlines escaped (the format's only escapes).
fn push_escaped(out: &mut String, v: &str) {
    if !v.contains(['\\', '"', '\n']) {
        out.push_str(v);
        return;
    }
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_family_has_help_type_and_escaped_samples() {
        let mut e = Exposition::default();
        e.family("things", Kind::Gauge, "Things, by name.");
        e.sample("things", &[("name", "a\"b\\c")], 2.0);
        e.sample("things", &[], 0.5);
        assert_eq!(
            e.finish(),
            "# HELP smime_provisioner_things Things, by name.\n\
             # TYPE smime_provisioner_things gauge\n\
             smime_provisioner_things{name=\"a\\\"b\\\\c\"} 2\n\
             smime_provisioner_things 0.5\n"
        );
        assert_eq!(number(f64::INFINITY), "+Inf");
    }
}
