//! Log output of the real binary: human lines carry ANSI colours only on a terminal and never
//! with `NO_COLOR` set (journald and log files get plain text); with `--log-format json` the
//! error a verb exits with is the last event, as a structured `error` field.

use std::path::Path;
use std::process::{Command, Output};

use crate::shipped::shipped_config;

const BIN: &str = env!("CARGO_BIN_EXE_smime-provisioner");
const ESC: u8 = 0x1b;

/// `run --once` on the shipped config: it logs (the bundled simulator starting) and exits.
fn run_once(config: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("--config").arg(config).args(["run", "--once"]);
    cmd
}

/// Runs `cmd` with a pseudo-terminal as its standard error (util-linux `script`), returning
/// what the terminal showed.
fn on_a_terminal(cmd: &Command, no_color: Option<&str>) -> Vec<u8> {
    let mut line = String::new();
    if let Some(v) = no_color {
        line.push_str(&format!("NO_COLOR='{v}' "));
    }
    line.push_str(&shell_words(cmd));
    let out = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env_remove("NO_COLOR")
        .output()
        .expect("util-linux script");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    out.stdout
}

fn shell_words(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| format!("'{}'", a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn stderr_text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn human_logs_to_a_pipe_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let config = shipped_config(dir.path());
    let out = run_once(&config).env_remove("NO_COLOR").output().unwrap();
    let text = stderr_text(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("INFO"), "the pass logs something: {text}");
    assert!(!out.stderr.contains(&ESC), "{text:?}");
}

#[test]
fn human_logs_on_a_terminal_are_coloured_unless_no_color_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let config = shipped_config(dir.path());
    let cmd = run_once(&config);
    let shown = on_a_terminal(&cmd, None);
    assert!(
        shown.contains(&ESC),
        "{:?}",
        String::from_utf8_lossy(&shown)
    );
    let shown = on_a_terminal(&cmd, Some("1"));
    let text = String::from_utf8_lossy(&shown);
    assert!(text.contains("INFO"), "{text}");
    assert!(!shown.contains(&ESC), "{text:?}");
}

#[test]
fn a_failing_verb_ends_its_json_log_with_the_error_as_a_field() {
    let dir = tempfile::tempdir().unwrap();
    let config = shipped_config(dir.path());
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .args(["--log-format", "json", "provision", "bob@not-allowed.test"])
        .output()
        .unwrap();
    let text = stderr_text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    let last = text.lines().last().unwrap_or_default();
    let event: serde_json::Value =
        serde_json::from_str(last).unwrap_or_else(|e| panic!("not JSON ({e}): {last}"));
    assert_eq!(event["level"], "ERROR", "{last}");
    let error = event["fields"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("domains.allow"), "{last}");
    assert_eq!(event["fields"]["exit_code"], 2, "{last}");
    assert!(!out.stderr.contains(&ESC), "{text:?}");
}
