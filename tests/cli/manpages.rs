//! The manual pages and shell completions an install ships, through the real binary: the
//! `manpages --out DIR` verb writes pages that `man` renders without a warning, one per
//! verb, and `completions SHELL` prints scripts that bash loads and that complete the verbs.
//! Neither needs a config file: a package's build has none.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_smime-provisioner");

/// The verbs `--help` lists, as the pages and scripts must name them.
const VERBS: &[&str] = &[
    "run",
    "enqueue",
    "provision",
    "reprovision",
    "redeliver",
    "renew",
    "revoke",
    "resend-approval",
    "status",
    "show",
    "confirm-removals",
    "check-config",
    "preflight",
    "simulator",
    "completions",
    "manpages",
];

/// Runs the binary with a config path that does not exist, so a verb that read it would fail.
fn provisioner(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["--config", "/nonexistent/smime-provisioner.toml"])
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `man -l PAGE` as plain text, 80 columns; panics on any warning groff or man prints.
fn render(page: &Path) -> String {
    let out = Command::new("man")
        .args(["--warnings", "-E", "UTF-8", "-l"])
        .arg(page)
        .env("MANWIDTH", "80")
        .env("LC_ALL", "C.UTF-8")
        .output()
        .expect("man (man-db) is installed by scripts/test.sh");
    assert!(
        out.status.success(),
        "man -l {}: {}",
        page.display(),
        text(&out.stderr)
    );
    assert_eq!(text(&out.stderr), "", "man -l {} warned", page.display());
    text(&out.stdout)
}

#[test]
fn the_manpages_verb_writes_one_page_per_verb_that_man_renders() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("man1");
    let out = provisioner(&["manpages", "--out", out_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let mut pages: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    let mut expected: Vec<String> = VERBS
        .iter()
        .map(|v| format!("smime-provisioner-{v}.1"))
        .chain(["smime-provisioner.1".to_string()])
        .collect();
    expected.sort();
    assert_eq!(pages, expected);
    assert_eq!(text(&out.stdout).lines().count(), expected.len());

    let main = render(&out_dir.join("smime-provisioner.1"));
    for section in ["SYNOPSIS", "OPTIONS", "EXIT STATUS", "FILES", "ENVIRONMENT"] {
        assert!(main.contains(section), "no {section} in:\n{main}");
    }
    for verb in VERBS {
        assert!(
            main.contains(&format!("smime-provisioner-{verb}(1)")),
            "{verb} not listed in:\n{main}"
        );
    }
    assert!(main.contains("/var/spool/smime-provisioner"), "{main}");
    let enqueue = render(&out_dir.join("smime-provisioner-enqueue.1"));
    assert!(enqueue.contains("ADDRESS"), "{enqueue}");
}

#[test]
fn the_manpages_verb_reports_an_unwritable_directory_as_a_setup_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let out = provisioner(&["manpages", "--out", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("cannot write manual pages to"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_bash_completion_loads_in_bash_and_completes_verbs_and_their_arguments() {
    // Loaded as a user would, then the completion function asked as bash asks it on <Tab>.
    let script = format!(
        "set -e\nsource <('{BIN}' completions bash)\ncomplete -p smime-provisioner\n\
         complete_line() {{ COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1)); COMP_LINE=\"$*\"; \
         COMP_POINT=${{#COMP_LINE}}; COMPREPLY=(); _smime__provisioner smime-provisioner \
         \"${{COMP_WORDS[-1]}}\" \"${{COMP_WORDS[-2]}}\"; echo \"${{COMPREPLY[*]}}\"; }}\n\
         complete_line smime-provisioner che\n\
         complete_line smime-provisioner completions f\n\
         complete_line smime-provisioner run --on\n"
    );
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(lines[0].ends_with(" smime-provisioner"), "{}", lines[0]);
    assert!(lines[0].contains("-F _smime__provisioner"), "{}", lines[0]);
    assert_eq!(lines[1], "check-config");
    // After a verb: its own values and flags (clap-rs/clap#6421 broke these for hyphenated names).
    assert_eq!(lines[2], "fish");
    assert_eq!(lines[3], "--once");
}

#[test]
fn the_zsh_and_fish_scripts_name_every_verb() {
    for (shell, opening) in [
        ("zsh", "#compdef smime-provisioner"),
        ("fish", "complete -c"),
    ] {
        let out = provisioner(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", text(&out.stderr));
        let script = text(&out.stdout);
        assert!(script.contains(opening), "{shell}:\n{script}");
        for verb in VERBS {
            assert!(script.contains(verb), "{shell} script lacks {verb}");
        }
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let out = provisioner(&["completions", "powershell"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("bash"), "{}", text(&out.stderr));
}
