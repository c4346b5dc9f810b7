//! `smime-provisioner simulator` as a user runs it: the real binary listens on port 0, prints its
//! JSON and XML base URLs, answers both transports, and stops cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};

const BIN: &str = env!("CARGO_BIN_EXE_smime-provisioner");

/// Starts the verb on `state` with user `trial`; returns the process and its first two stdout
/// lines (the URLs).
async fn start(state: &std::path::Path) -> Result<(std::process::Child, Vec<String>)> {
    let mut child = Command::new(BIN)
        .args([
            "simulator",
            "--listen",
            "127.0.0.1:0",
            "--user",
            "trial",
            "--issuance-delay-ms",
            "100",
        ])
        .arg("--state-dir")
        .arg(state)
        .env("SMIME_SIMULATOR_PASSWORD", "trial-password")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("start the smime-provisioner binary")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let lines = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .take(2)
            .collect::<Result<Vec<String>, _>>()
    })
    .await??;
    Ok((child, lines))
}

#[tokio::test]
async fn the_simulator_verb_prints_its_urls_serves_both_wires_and_stops_on_sigterm() -> Result<()> {
    let state = tempfile::tempdir()?;
    let (child, lines) = start(&state.path().join("sim")).await?;
    let url = |key: &str| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(&format!("{key}=")).map(str::to_string))
            .with_context(|| format!("no {key}= line in {lines:?}"))
    };
    let json_url = url("json_url")?;
    let xml_url = url("xml_url")?;
    ensure!(json_url.ends_with("/v1"), "{json_url}");

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .user_agent("simulator-cli-test/1")
        .build()?;
    let hello = http
        .get(format!("{json_url}/hello"))
        .basic_auth("trial", Some("trial-password"))
        .header("X-Domainrobot-Context", "4")
        .send()
        .await?;
    assert_eq!(hello.status().as_u16(), 200);
    let refused = http
        .get(format!("{json_url}/hello"))
        .basic_auth("trial", Some("nope"))
        .send()
        .await?;
    assert_eq!(refused.status().as_u16(), 401);
    let poll = http
        .post(&xml_url)
        .body("<request><auth><user>trial</user><password>trial-password</password><context>9</context></auth><task><code>0905</code></task></request>")
        .send()
        .await?
        .text()
        .await?;
    assert!(poll.contains("<code>S0905</code>"), "{poll}");
    assert!(
        state.path().join("sim/ca/root.pem").exists(),
        "--state-dir holds the CA"
    );
    stop(child).await
}

/// Stops the verb with SIGTERM and expects a clean exit within 5 s.
async fn stop(mut child: std::process::Child) -> Result<()> {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    ensure!(status.success(), "kill -TERM failed");
    if let Some(exit) = support::tools::exited_within(&mut child, Duration::from_secs(5)).await? {
        assert!(exit.success(), "exit status {exit:?}");
        return Ok(());
    }
    let _ = child.kill();
    bail!("the simulator did not stop within 5 s of SIGTERM")
}

#[tokio::test]
async fn a_second_simulator_on_the_same_state_is_refused_naming_the_first() -> Result<()> {
    let state = tempfile::tempdir()?;
    let dir = state.path().join("sim");
    let (first, _) = start(&dir).await?;
    let mut second = Command::new(BIN)
        .args(["simulator", "--listen", "127.0.0.1:0"])
        .arg("--state-dir")
        .arg(&dir)
        .env("SMIME_SIMULATOR_PASSWORD", "other")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let exit = support::tools::exited_within(&mut second, Duration::from_secs(10)).await?;
    let Some(exit) = exit else {
        let _ = second.kill();
        let _ = second.wait();
        stop(first).await?;
        bail!("a second simulator started on a state the first one writes");
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().context("stderr")?, &mut err)?;
    assert_eq!(exit.code(), Some(1), "{err}");
    let pid = format!("pid {}", first.id());
    assert!(
        err.contains("in use by the `simulator` verb") && err.contains(&pid),
        "{err}"
    );
    stop(first).await
}

#[test]
fn without_a_password_the_verb_fails_with_a_message_naming_the_fix() -> Result<()> {
    let out = Command::new(BIN)
        .args(["simulator", "--listen", "127.0.0.1:0"])
        .env_remove("SMIME_SIMULATOR_PASSWORD")
        .output()?;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--password-file") && err.contains("SMIME_SIMULATOR_PASSWORD"),
        "{err}"
    );
    Ok(())
}
