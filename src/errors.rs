//! Owns how an error is told in one line: the error and its sources joined by `: ` (the verbs'
//! messages, the webhook's failure text). Below every other module, so any of them may use it.

/// Joins an error and its sources into one line.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut line = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = s.source();
    }
    line
}
