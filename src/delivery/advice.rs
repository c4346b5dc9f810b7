//! Owns what the mails tell users that more than one text must say alike: which systems need
//! the `compat` encoding (the facts of `docs/crypto.md`, "Which profile for which client", from
//! `smime-facts.md` §3.3) and how to keep the file and its password. Both mails and every
//! template take these from here (`{profile_advice}`, `{keeping_advice}`), so they cannot
//! contradict each other; `tests/delivery/consistency.rs` holds them to the doc.

/// The systems that do not read the `modern` encoding and need `compat`, as `docs/crypto.md`
/// names them in the `modern` row's last column and among the `compat` row's targets.
pub const NEED_COMPAT: &[&str] = &[
    "Windows Server 2016 and older",
    "macOS 10.15 Catalina and older",
    ANDROID_NEEDS_COMPAT,
];

/// The Android releases that need `compat` (PBES2 unsupported on 9, a misleading
/// wrong-password error on 12; `smime-facts.md` §3.3).
pub const ANDROID_NEEDS_COMPAT: &str = "Android 9–12";

/// The first Android release known to read `modern`.
pub const ANDROID_READS_MODERN: &str = "Android 16";

/// How to keep the file and its password, the same words in the bundle mail and the password
/// mail: the file is the only backup of a key generated for the user (needed again on a new
/// device and for old encrypted mail after renewal), and a backup without its password is no
/// backup; kept apart, because together they are the key.
pub const KEEPING_ADVICE: &str =
    "Keep both the certificate file and its password: together they are \
your backup of the private key, and you need them again on a new device and to read old \
encrypted mail. Keep them apart: the file in this mailbox or a backup, the password in a \
password manager, never next to the file. Never forward either, and never send the two together.";

/// Width the plain-text mails are wrapped to.
const WIDTH: usize = 74;

/// "a, b and c".
fn listed(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{}, and {last}", init.join(", ")),
    }
}

/// What the user should know about the encoding `profile` of the attached file.
pub fn profile_advice(profile: &str) -> String {
    let text = match profile {
        "modern" => format!(
            "This file uses the modern encoding (AES-256, SHA-256). Current Windows, macOS, \
             iOS, Thunderbird and {ANDROID_READS_MODERN} read it; {} do not: if you use one of \
             them, reply to this mail and ask for a compatible file.",
            listed(NEED_COMPAT)
        ),
        "compat" => format!(
            "This file uses the compatible encoding (Triple-DES, SHA-1), so that older systems \
             read it too: {}.",
            listed(NEED_COMPAT)
        ),
        _ => String::new(),
    };
    wrap(&text)
}

/// [`KEEPING_ADVICE`] wrapped for the plain-text mails (in HTML a newline is a space).
pub fn keeping_advice() -> String {
    wrap(KEEPING_ADVICE)
}

/// Hard-wraps `text` at [`WIDTH`] characters, breaking at spaces only.
fn wrap(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / WIDTH);
    let mut line = 0;
    for word in text.split(' ') {
        let len = word.chars().count();
        if line > 0 && line + 1 + len > WIDTH {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_is_wrapped_without_losing_a_word() {
        for text in [
            profile_advice("modern"),
            profile_advice("compat"),
            keeping_advice(),
        ] {
            assert!(text.lines().all(|l| l.chars().count() <= WIDTH), "{text}");
            assert!(text.contains(ANDROID_NEEDS_COMPAT) || text.contains("password manager"));
        }
        let wrapped = keeping_advice();
        let flat: Vec<&str> = wrapped.split_whitespace().collect();
        assert_eq!(flat, KEEPING_ADVICE.split_whitespace().collect::<Vec<_>>());
    }

    #[test]
    fn every_system_that_needs_compat_is_named_by_both_profiles() {
        let modern = profile_advice("modern").replace('\n', " ");
        let compat = profile_advice("compat").replace('\n', " ");
        for s in NEED_COMPAT {
            assert!(modern.contains(s) && compat.contains(s), "{s}");
        }
        assert_eq!(profile_advice("other"), "");
    }
}
