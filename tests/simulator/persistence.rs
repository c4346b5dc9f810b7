//! With a state directory the simulator survives a restart: contacts, certificates, orders, the
//! poll queue, unfinished jobs and the CA are kept, in private files. Also the command-line flags
//! of the `simulator` verb and their conversion into a configuration.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use anyhow::Result;
use clap::Parser;
use smime_provisioner::simulator::{PushFormat, SimulatorError, SimulatorOptions};
use support::ca::{csr_for, p256_pkey};
use support::simulator::*;

#[tokio::test]
async fn a_restarted_simulator_keeps_orders_certificates_queue_jobs_and_ca() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("sim");
    let (mut cfg, clock) = manual_config();
    cfg.state_dir = Some(state.clone());

    let sim = start(cfg.clone()).await?;
    let api = Json::new(&sim);
    let chain = sim.ca_chain_pem();
    let contact = make_contact(&api).await?;
    api.call(
        "POST",
        "/certificate",
        Some(order_body(
            "kept@example.com",
            contact,
            &csr_for(&p256_pkey(), "kept@example.com"),
        )),
    )
    .await?;
    clock.advance(time::Duration::seconds(1));
    let p = api.call("GET", "/poll", None).await?;
    let msg_id = p.data0()["id"].clone();
    let cert_id = p.data0()["object"]["data"]["id"]
        .as_i64()
        .unwrap_or_default();
    // A second order still running when the simulator stops.
    let running = api
        .call(
            "POST",
            "/certificate",
            Some(order_body(
                "later@example.com",
                contact,
                &csr_for(&p256_pkey(), "later@example.com"),
            )),
        )
        .await?;
    let orders_before = sim.orders();
    sim.shutdown().await;

    let sim = start(cfg).await?;
    let api = Json::new(&sim);
    assert_eq!(sim.ca_chain_pem(), chain, "the same CA after a restart");
    assert_eq!(sim.orders(), orders_before);
    assert_eq!(
        api.call("GET", &format!("/sslcontact/{contact}"), None)
            .await?
            .code(),
        "S400204"
    );
    let c = api
        .call("GET", &format!("/certificate/{cert_id}"), None)
        .await?;
    assert!(c.data0()["server"]
        .as_str()
        .is_some_and(|s| s.contains("BEGIN CERTIFICATE")));
    let p = api.call("GET", "/poll", None).await?;
    assert_eq!(
        p.data0()["id"],
        msg_id,
        "the unconfirmed message is still first"
    );

    // The unfinished job completes after the restart.
    clock.advance(time::Duration::seconds(1));
    api.call("PUT", &format!("/poll/{msg_id}"), None).await?;
    let p = api.call("GET", "/poll", None).await?;
    assert_eq!(p.data0()["job"]["id"], running.data0()["id"]);
    assert_eq!(p.data0()["job"]["status"], "SUCCESS");
    // New ids do not collide with old ones.
    let second = make_contact(&api).await?;
    assert!(second > contact);

    let mode = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.permissions().mode() & 0o777);
    assert_eq!(mode(&state)?, 0o700);
    assert_eq!(mode(&state.join("state.json"))?, 0o600);
    assert_eq!(mode(&state.join("ca"))?, 0o700);
    assert_eq!(mode(&state.join("ca/intermediate.key"))?, 0o600);
    assert_eq!(mode(&state.join("ca/root.key"))?, 0o600);
    Ok(())
}

#[tokio::test]
async fn a_corrupt_state_file_is_reported_with_its_path_instead_of_being_overwritten() -> Result<()>
{
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("state.json"), "{ truncated")?;
    let mut cfg = config();
    cfg.state_dir = Some(dir.path().to_path_buf());
    let err = start(cfg)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("state.json") && err.contains("cannot be used"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("state.json"))?,
        "{ truncated"
    );
    Ok(())
}

#[tokio::test]
async fn shares_outside_zero_to_one_are_refused_at_start() -> Result<()> {
    let mut cfg = config();
    cfg.faults.fail_job_share = 1.5;
    let err = start(cfg)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("fail_job_share"), "{err}");
    Ok(())
}

#[tokio::test]
async fn durations_beyond_a_year_and_absurd_rates_are_refused_at_start() -> Result<()> {
    let mut cfg = config();
    cfg.faults.deferred_for = Duration::from_secs(u64::MAX / 4);
    let err = start(cfg)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("deferred_for"), "{err}");
    let mut cfg = config();
    cfg.faults.rate_limit_rps = Some(1e-300);
    let err = start(cfg)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("rate_limit_rps"), "{err}");
    Ok(())
}

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    sim: SimulatorOptions,
}

#[test]
fn flags_become_a_configuration_with_the_password_from_a_file() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "file-secret\n")?;
    let cli = Cli::try_parse_from([
        "sim",
        "--listen",
        "127.0.0.1:0",
        "--user",
        "u1",
        "--password-file",
        pw.to_str().unwrap_or(""),
        "--context",
        "4,9,7",
        "--issuance-delay-ms",
        "250",
        "--seed",
        "3",
        "--push-url",
        "http://127.0.0.1:9/push",
        "--push-format",
        "xml",
        "--push-header",
        "X-Token: abc",
        "--latency-ms",
        "5",
        "--error-5xx-share",
        "0.1",
        "--timeout-share",
        "0.2",
        "--rate-limit-rps",
        "3",
        "--fail-job-share",
        "0.3",
        "--fail-name",
        "a@example.com",
        "--fail-name",
        "b@example.com",
        "--deferred-for-ms",
        "1000",
        "--duplicate-poll-messages",
        "--foreign-messages",
        "2",
    ])?;
    let cfg = cli.sim.into_config()?;
    assert_eq!(cfg.user, "u1");
    assert_eq!(cfg.password.expose(), "file-secret");
    assert_eq!(cfg.contexts, [4, 9, 7]);
    assert_eq!(cfg.issuance_delay, Duration::from_millis(250));
    assert_eq!(cfg.seed, Some(3));
    let push = cfg.push.clone().expect("push configured");
    assert_eq!(push.format, PushFormat::Xml);
    assert_eq!(push.headers[0].0, "X-Token");
    assert_eq!(push.headers[0].1.expose(), "abc");
    let f = &cfg.faults;
    assert_eq!(f.latency, Duration::from_millis(5));
    assert_eq!(
        (f.error_5xx_share, f.timeout_share, f.fail_job_share),
        (0.1, 0.2, 0.3)
    );
    assert_eq!(f.rate_limit_rps, Some(3.0));
    assert_eq!(f.fail_names, ["a@example.com", "b@example.com"]);
    assert_eq!(f.deferred_for, Duration::from_secs(1));
    assert!(f.duplicate_poll_messages);
    assert_eq!(f.foreign_messages, 2);
    let shown = format!("{cfg:?}");
    assert!(
        !shown.contains("file-secret") && !shown.contains("abc"),
        "Debug redacts secrets: {shown}"
    );
    Ok(())
}

#[test]
fn defaults_accept_contexts_four_and_nine_and_a_missing_password_is_a_clear_error() -> Result<()> {
    let cli = Cli::try_parse_from(["sim"])?;
    assert_eq!(cli.sim.contexts, [4, 9]);
    assert_eq!(cli.sim.listen.port(), 0);
    let mut opts = cli.sim;
    let err = opts.clone().into_config_with_env(None).err();
    assert!(
        matches!(err, Some(SimulatorError::Config(ref m)) if m.contains("--password-file")),
        "{err:?}"
    );
    assert_eq!(
        opts.clone()
            .into_config_with_env(Some("from-env".into()))?
            .password
            .expose(),
        "from-env"
    );
    opts.password = Some("embedded".into());
    assert_eq!(opts.into_config()?.password.expose(), "embedded");
    assert!(
        Cli::try_parse_from(["sim", "--password", "x"]).is_err(),
        "no password flag on argv"
    );
    Ok(())
}
