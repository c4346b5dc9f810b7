//! Upper bounds on every duration in the config: `check-config` refuses a value beyond its
//! documented maximum (naming the key, the value and the limit), `run` refuses it the same way
//! instead of panicking on an overflow, and the maxima themselves run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const HUGE: &str = "9223372036854775807"; // i64::MAX, the largest integer TOML has

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_smime-provisioner"))
}

/// The shipped example (relative paths, so everything lands in `dir`) with the timing keys
/// set to `v(key)`; fast EC keys.
fn example_with(dir: &Path, v: impl Fn(&str) -> String) -> PathBuf {
    let text = smime_provisioner::config::EXAMPLE
        .replacen(
            "poll_interval_secs = 5\n",
            &format!(
                "poll_interval_secs = {}\ntimeout_secs = {}\njob_silence_timeout_secs = {}\n",
                v("autodns.poll_interval_secs"),
                v("autodns.timeout_secs"),
                v("autodns.job_silence_timeout_secs"),
            ),
            1,
        )
        .replacen(
            "issuance_delay_ms = 1000\n",
            &format!("issuance_delay_ms = {}\n", v("simulator.issuance_delay_ms")),
            1,
        )
        .replacen("[keys]\n", "[keys]\ntype = \"ec-p256\"\n", 1)
        .replacen(
            "[sources]\n",
            &format!(
                "[sources]\nrescan_interval_secs = {}\n",
                v("sources.rescan_interval_secs")
            ),
            1,
        )
        .replacen(
            "delay_secs = 5\n",
            &format!("delay_secs = {}\n", v("delivery.password.delay_secs")),
            1,
        )
        .replacen(
            "[pipeline]\n",
            &format!(
                "[pipeline]\nbackoff_base_secs = {}\nbackoff_max_secs = {}\n",
                v("pipeline.backoff_base_secs"),
                v("pipeline.backoff_max_secs")
            ),
            1,
        );
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The documented maximum of each timing key.
const MAXIMA: [(&str, u64); 8] = [
    ("autodns.timeout_secs", 3_600),
    ("autodns.poll_interval_secs", 86_400),
    ("autodns.job_silence_timeout_secs", 2_592_000),
    ("simulator.issuance_delay_ms", 3_600_000),
    ("sources.rescan_interval_secs", 86_400),
    ("delivery.password.delay_secs", 86_400),
    ("pipeline.backoff_base_secs", 86_400),
    ("pipeline.backoff_max_secs", 604_800),
];

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn huge_durations_are_refused_by_check_config_and_run_naming_key_value_and_limit() {
    let dir = tempfile::tempdir().unwrap();
    let config = example_with(dir.path(), |_| HUGE.to_string());
    let out = bin().arg("check-config").arg(&config).output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    for (key, max) in MAXIMA {
        assert!(
            all.contains(&format!("{key}: {HUGE} is above the maximum of {max}")),
            "{key}: {all}"
        );
    }
    // `run` validates with the same code: a config error (2), not a panic (101).
    std::fs::create_dir_all(dir.path().join("var/mail")).unwrap();
    let out = bin()
        .arg("--config")
        .arg(&config)
        .args(["run", "--once"])
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(!all.contains("panicked"), "{all}");
    assert!(all.contains("autodns.timeout_secs"), "{all}");
}

#[test]
fn smtp_timeout_and_one_past_each_maximum_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = example_with(dir.path(), |key| {
        let max = MAXIMA.iter().find(|(k, _)| *k == key).unwrap().1;
        (max + 1).to_string()
    });
    let out = bin().arg("check-config").arg(&config).output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("8 problems"), "{all}");

    let smtp = smime_provisioner::config::EXAMPLE
        .replacen("transport = \"file\"", "transport = \"smtp\"", 1)
        .replacen(
            "[delivery.smtp]\n",
            &format!("[delivery.smtp]\nhost = \"localhost\"\ntimeout_secs = {HUGE}\n"),
            1,
        );
    let path = dir.path().join("smtp.toml");
    std::fs::write(&path, smtp).unwrap();
    let out = bin().arg("check-config").arg(&path).output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains(&format!(
            "delivery.smtp.timeout_secs: {HUGE} is above the maximum of 3600"
        )),
        "{all}"
    );
}

#[test]
fn a_renewal_margin_as_long_as_the_lifetime_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("margin.toml");
    let body = smime_provisioner::config::EXAMPLE.replacen(
        "# margin_days = 30\n",
        "margin_days = 365\n",
        1,
    );
    std::fs::write(&path, body).unwrap();
    let out = bin().arg("check-config").arg(&path).output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains("renewal.margin_days: 365 is not below the shortest certificate lifetime"),
        "{all}"
    );
}

/// Every maximum at once is accepted and runs: three passes of `run --once` order (pass 1),
/// take in the completion from the poll queue (pass 1 or 2), fetch and deliver the bundle (the
/// password waits its day), computing every deadline on the way without overflow.
#[test]
fn the_maxima_themselves_run_without_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let config = example_with(dir.path(), |key| match key {
        // Issuance at once, so the third pass reaches delivery.
        "simulator.issuance_delay_ms" => "0".into(),
        _ => MAXIMA
            .iter()
            .find(|(k, _)| *k == key)
            .unwrap()
            .1
            .to_string(),
    });
    let out = bin().arg("check-config").arg(&config).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    std::fs::create_dir_all(dir.path().join("var/mail/example.com/alice")).unwrap();
    for pass in 1..=3 {
        let out = bin()
            .arg("--config")
            .arg(&config)
            .args(["run", "--once"])
            .output()
            .unwrap();
        let all = text(&out);
        assert_eq!(out.status.code(), Some(0), "pass {pass}: {all}");
        assert!(!all.contains("panicked"), "{all}");
    }
    let out = bin()
        .arg("--config")
        .arg(&config)
        .args(["status", "alice@example.com"])
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(
        all.contains("bundled"),
        "the bundle went out, the password waits: {all}"
    );
}
