//! `preflight` through the real binary: against the bundled simulator over JSON and XML every
//! check passes (exit 0); against a simulator started beside the test, each fault an admin can
//! make (wrong password, wrong context, unknown contact id, a product AutoDNS does not sell, SMTP
//! relay down, missing maildir root, a field of the order body refused, a push URL that does not
//! reach the endpoint, a secret file other users can change) is one `FAIL` line with its fix and
//! exit 1; and preflight never orders (the simulator's order list and contact list stay empty).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use smime_provisioner::simulator::SimulatorHandle;
use support::simulator::{self as sim, CONTEXT, PASSWORD, USER};

const CONTACT: &str = "[autodns.contact]\nfirst = \"Postmaster\"\nlast = \"Example\"\n\
    email = \"postmaster@example.com\"\nphone = \"+49-941-1234560\"\ntitle = \"IT\"\n\
    organization = \"Example GmbH\"\naddress = \"Example Street 1\"\npostal_code = \"93047\"\n\
    city = \"Regensburg\"\ncountry = \"DE\"\nstate = \"Bayern\"\n";

/// A config under `dir` whose `[autodns]` section is `autodns` (without the contact), with
/// `contact` as `[autodns.contact]`, a maildir tree, a spool and `delivery` (default: a file
/// outbox).
fn write_config(dir: &Path, autodns: &str, contact: &str, delivery: Option<&str>) -> PathBuf {
    let delivery = delivery.unwrap_or(
        "[delivery]\ntransport = \"file\"\nfrom = \"PKI <pki@example.com>\"\n\
         [delivery.file]\ndir = \"outbox\"\n",
    );
    let config = dir.join("config.toml");
    let text = format!(
        "[state]\ndir = \"state\"\n[autodns]\n{autodns}\n{contact}\n\
         [simulator]\nissuance_delay_ms = 0\n[keys]\ntype = \"ec-p256\"\n\
         [domains]\nallow = [\"example.com\", \"example.org\"]\n\
         [sources.maildir]\nenabled = true\nroot = \"mail\"\n[sources.spool]\ndir = \"spool\"\n\
         {delivery}"
    );
    std::fs::write(&config, text).unwrap();
    std::fs::create_dir_all(dir.join("mail")).unwrap();
    config
}

/// `[autodns]` for the simulator `h` over `wire`, as `password` in `context`.
fn remote(dir: &Path, h: &SimulatorHandle, wire: &str, password: &str, context: u32) -> String {
    let pw = dir.join("autodns.password");
    std::fs::write(&pw, format!("{password}\n")).unwrap();
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    let url = if wire == "xml" {
        h.xml_url()
    } else {
        h.json_url()
    };
    format!(
        "endpoint = \"{url}\"\nwire = \"{wire}\"\nuser = \"{USER}\"\npassword_file = \"{}\"\n\
         context = {context}\ntimeout_secs = 20",
        pw.display()
    )
}

/// Runs `preflight` (plus `extra`) with `config`; the exit code and stdout + stderr.
async fn preflight(config: PathBuf, extra: &[&str]) -> (Option<i32>, String, String) {
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_smime-provisioner"))
            .arg("--config")
            .arg(&config)
            .args(["--log", "warn", "preflight"])
            .args(&extra)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

/// The one failed check of a `--json` run, with its fix: asserts that exactly `check` failed.
fn only_failure(stdout: &str, check: &str) -> (String, String) {
    let checks: Vec<Value> =
        serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let failed: Vec<&Value> = checks.iter().filter(|c| c["status"] == "FAIL").collect();
    assert_eq!(failed.len(), 1, "{stdout}");
    assert_eq!(failed[0]["check"], check, "{stdout}");
    (
        failed[0]["detail"].as_str().unwrap().to_string(),
        failed[0]["fix"].as_str().unwrap().to_string(),
    )
}

async fn passes_against_the_bundled_simulator(wire: &str) {
    let dir = tempfile::tempdir().unwrap();
    let autodns = format!("endpoint = \"simulator\"\nwire = \"{wire}\"");
    let config = write_config(dir.path(), &autodns, CONTACT, None);
    let (code, out, err) = preflight(config.clone(), &[]).await;
    assert_eq!(code, Some(0), "{out}\n{err}");
    for name in ["config", "autodns.login", "autodns.contact", "autodns.poll"] {
        assert!(out.contains(&format!("ok   {name}: ")), "{name}: {out}");
    }
    for domain in ["example.com", "example.org"] {
        let line = format!(
            "ok   autodns.prepare {domain}: AutoDNS parsed a throwaway CSR for postmaster@{domain}"
        );
        assert!(out.contains(&line), "{out}");
    }
    assert!(!out.contains("FAIL") && !out.contains("warn"), "{out}");
    // The JSON form says the same, check by check.
    let (code, out, err) = preflight(config, &["--json"]).await;
    assert_eq!(code, Some(0), "{out}\n{err}");
    let checks: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert!(checks.len() >= 10, "{out}");
    assert!(
        checks
            .iter()
            .all(|c| c["status"] == "ok" && c["fix"].is_null()),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_passes_every_check_against_the_bundled_simulator_over_json() {
    passes_against_the_bundled_simulator("json").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_passes_every_check_against_the_bundled_simulator_over_xml() {
    passes_against_the_bundled_simulator("xml").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_never_orders_nor_creates_a_contact() {
    let h = sim::start(sim::config()).await.unwrap();
    for wire in ["json", "xml"] {
        let dir = tempfile::tempdir().unwrap();
        let autodns = remote(dir.path(), &h, wire, PASSWORD, CONTEXT);
        let config = write_config(dir.path(), &autodns, CONTACT, None);
        let (code, out, err) = preflight(config, &[]).await;
        assert_eq!(code, Some(0), "{wire}: {out}\n{err}");
        assert!(out.contains("ok   autodns.prepare example.org"), "{out}");
    }
    assert!(h.orders().is_empty(), "preflight ordered: {:?}", h.orders());
    // Nor was the contact created: the account's contact list is still empty.
    let contacts = sim::Json::new(&h)
        .call("POST", "/sslcontact/_search", Some(serde_json::json!({})))
        .await
        .unwrap();
    assert_eq!(contacts.code(), "S400205", "{}", contacts.body);
    assert!(
        contacts.body["data"]
            .as_array()
            .is_none_or(|d| d.is_empty()),
        "{}",
        contacts.body
    );
    h.shutdown().await;
}

/// Runs preflight (`--json`) against a fresh simulator with the given setup and returns the
/// only failed check's detail and fix; asserts exit 1.
async fn fails_with(
    password: &str,
    context: u32,
    contact: &str,
    extra_autodns: &str,
    delivery: Option<&str>,
    check: &str,
) -> (String, String) {
    let h = sim::start(sim::config()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let autodns = format!(
        "{}\n{extra_autodns}",
        remote(dir.path(), &h, "json", password, context)
    );
    let config = write_config(dir.path(), &autodns, contact, delivery);
    let (code, out, err) = preflight(config, &["--json"]).await;
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(err.contains("nothing was ordered"), "{err}");
    assert!(h.orders().is_empty());
    h.shutdown().await;
    only_failure(&out, check)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_reports_a_wrong_password_with_its_fix() {
    let (detail, fix) = fails_with(
        "wrong-password",
        CONTEXT,
        CONTACT,
        "",
        None,
        "autodns.login",
    )
    .await;
    assert!(
        detail.contains("EF00010") || detail.contains("401"),
        "{detail}"
    );
    assert!(fix.contains("password_file"), "{fix}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_reports_a_wrong_context_with_its_fix() {
    let (_, fix) = fails_with(PASSWORD, 5, CONTACT, "", None, "autodns.login").await;
    assert!(fix.contains("autodns.context (5"), "{fix}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_reports_an_unknown_contact_id_with_its_fix() {
    let contact = "[autodns.contact]\nid = 424242\n";
    let (detail, fix) = fails_with(PASSWORD, CONTEXT, contact, "", None, "autodns.contact").await;
    assert!(
        detail.contains("SSL contact 424242 does not exist in context 9"),
        "{detail}"
    );
    assert!(fix.contains("autodns.contact.id"), "{fix}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_reports_a_refused_product_with_its_fix() {
    let product = "product = \"COMODO_POSITIVESSL\"";
    let h = sim::start(sim::config()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let autodns = format!(
        "{}\n{product}",
        remote(dir.path(), &h, "json", PASSWORD, CONTEXT)
    );
    let config = write_config(dir.path(), &autodns, CONTACT, None);
    let (code, out, err) = preflight(config, &["--json"]).await;
    assert_eq!(code, Some(1), "{out}\n{err}");
    let checks: Vec<Value> = serde_json::from_str(&out).unwrap();
    let failed: Vec<&Value> = checks.iter().filter(|c| c["status"] == "FAIL").collect();
    // One failure per allowed domain, each naming the product and the key to change.
    assert_eq!(failed.len(), 2, "{out}");
    for f in failed {
        assert!(
            f["check"].as_str().unwrap().starts_with("autodns.prepare "),
            "{out}"
        );
        assert!(
            f["detail"].as_str().unwrap().contains("COMODO_POSITIVESSL"),
            "{out}"
        );
        assert!(
            f["fix"].as_str().unwrap().contains("autodns.product"),
            "{out}"
        );
    }
    assert!(h.orders().is_empty());
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_reports_an_smtp_relay_that_is_down_with_its_fix() {
    // A loopback port nobody listens on any more.
    let port = free_port();
    let delivery = format!(
        "[delivery]\ntransport = \"smtp\"\nfrom = \"PKI <pki@example.com>\"\n\
         [delivery.smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"plain\"\n"
    );
    let (detail, fix) = fails_with(
        PASSWORD,
        CONTEXT,
        CONTACT,
        "",
        Some(&delivery),
        "delivery.smtp",
    )
    .await;
    assert!(detail.contains(&format!("127.0.0.1:{port}")), "{detail}");
    assert!(fix.contains("start the relay"), "{fix}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_reports_a_missing_maildir_root_with_its_fix() {
    let h = sim::start(sim::config()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let autodns = remote(dir.path(), &h, "json", PASSWORD, CONTEXT);
    let config = write_config(dir.path(), &autodns, CONTACT, None);
    std::fs::remove_dir(dir.path().join("mail")).unwrap();
    let (code, out, err) = preflight(config, &["--json"]).await;
    assert_eq!(code, Some(1), "{out}\n{err}");
    let (detail, fix) = only_failure(&out, "sources.maildir.root");
    assert!(detail.contains("does not exist"), "{detail}");
    assert!(fix.contains("sources.maildir.root"), "{fix}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_exits_2_when_the_config_is_unusable() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "endpoint = \"simulator\"\nrequests_per_second = 9.0",
        CONTACT,
        None,
    );
    let (code, out, err) = preflight(config, &["--json"]).await;
    assert_eq!(code, Some(2), "{out}\n{err}");
    let (detail, _) = only_failure(&out, "config");
    assert!(detail.contains("autodns.requests_per_second"), "{detail}");
}

/// `[delivery]` for a STARTTLS relay on `port` with AUTH as `pki` and `password`, trusting `ca`.
fn smtp_delivery(dir: &Path, port: u16, ca: &Path, password: &str) -> String {
    let pw = dir.join("smtp.password");
    std::fs::write(&pw, format!("{password}\n")).unwrap();
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    format!(
        "[delivery]\ntransport = \"smtp\"\nfrom = \"PKI <pki@example.com>\"\n\
         [delivery.smtp]\nhost = \"localhost\"\nport = {port}\nsecurity = \"starttls\"\n\
         user = \"pki\"\npassword_file = \"{}\"\nca_file = \"{}\"\n",
        pw.display(),
        ca.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_logs_in_to_a_starttls_relay_without_sending_and_reports_a_wrong_smtp_password() {
    let dir = tempfile::tempdir().unwrap();
    let pki = support::ca::TestCa::quick().tls_server(dir.path()).unwrap();
    let (cert, key) = (
        pki.server_cert.to_string_lossy().to_string(),
        pki.server_key.to_string_lossy().to_string(),
    );
    let server = support::mail::SmtpServer::start(
        dir.path(),
        0,
        &["--starttls", &cert, &key, "--auth", "pki:relay-secret-1"],
    )
    .unwrap();
    let autodns = "endpoint = \"simulator\"";
    let good = smtp_delivery(dir.path(), server.port, &pki.ca_cert, "relay-secret-1");
    let config = write_config(dir.path(), autodns, CONTACT, Some(&good));
    let (code, out, err) = preflight(config, &[]).await;
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(
        out.contains(&format!(
            "ok   delivery.smtp: localhost:{}: connect, EHLO, STARTTLS, AUTH: fine (no mail sent)",
            server.port
        )),
        "{out}"
    );
    assert!(server.received().unwrap().is_empty(), "preflight sent mail");

    let bad = smtp_delivery(dir.path(), server.port, &pki.ca_cert, "wrong-secret");
    let config = write_config(dir.path(), autodns, CONTACT, Some(&bad));
    let (code, out, err) = preflight(config, &["--json"]).await;
    assert_eq!(code, Some(1), "{out}\n{err}");
    let (_, fix) = only_failure(&out, "delivery.smtp");
    assert!(fix.contains("SMTP user and password"), "{fix}");
    assert!(server.received().unwrap().is_empty(), "preflight sent mail");
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_online_is_preflight() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "endpoint = \"simulator\"", CONTACT, None);
    std::fs::remove_dir(dir.path().join("mail")).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_smime-provisioner"))
            .args(["--log", "warn", "check-config", "--online"])
            .arg(&config)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Plain check-config only warns about a missing maildir root; the online form fails it.
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL sources.maildir.root"), "{stdout}");
    assert!(stdout.contains("ok   autodns.login"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_counts_the_poll_queue_and_flags_a_foreign_message_without_confirming_it() {
    let h = sim::start(sim::config()).await.unwrap();
    // Another tool of the same account orders (no ctid of ours) and its job message queues.
    let api = sim::Json::new(&h);
    let contact = sim::make_contact(&api).await.unwrap();
    let placed = sim::order_p256(&api, "other@example.net", contact)
        .await
        .unwrap();
    assert_eq!(placed.status, 200, "{}", placed.body);
    sim::wait_for_message(&api).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let autodns = format!(
        "{}\nconfirm_foreign_messages = false",
        remote(dir.path(), &h, "json", PASSWORD, CONTEXT)
    );
    let config = write_config(dir.path(), &autodns, CONTACT, None);
    let (code, out, err) = preflight(config, &[]).await;
    // A warning, not a failure.
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(
        out.contains("warn autodns.poll: 1 message(s) queued; the oldest is foreign"),
        "{out}"
    );
    assert!(
        out.contains("fix: with autodns.confirm_foreign_messages = false"),
        "{out}"
    );
    // Nothing was confirmed: the message is still queued, and preflight ordered nothing more.
    let after = api.call("GET", "/poll", None).await.unwrap();
    assert_eq!(
        after.body["object"]["summary"].as_u64(),
        Some(1),
        "{}",
        after.body
    );
    assert_eq!(h.orders().len(), 1);
    h.shutdown().await;
}

/// A loopback port nobody listens on (bound and released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_reports_a_field_the_server_refuses_with_the_field_and_its_fix() {
    let mut cfg = sim::config();
    cfg.faults.refuse_field = Some("plain".into());
    let h = sim::start(cfg).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let autodns = remote(dir.path(), &h, "json", PASSWORD, CONTEXT);
    let config = write_config(dir.path(), &autodns, CONTACT, None);
    let (code, out, err) = preflight(config, &["--json"]).await;
    assert_eq!(code, Some(1), "{out}\n{err}");
    let checks: Vec<Value> = serde_json::from_str(&out).unwrap();
    let failed: Vec<&Value> = checks.iter().filter(|c| c["status"] == "FAIL").collect();
    assert_eq!(failed.len(), 2, "one per allowed domain: {out}");
    for f in failed {
        let detail = f["detail"].as_str().unwrap();
        assert!(detail.contains("refused the field `plain`"), "{out}");
        assert!(
            detail.contains("EF01001"),
            "the server's code is kept: {out}"
        );
        assert!(f["fix"].as_str().unwrap().contains("keys.type"), "{out}");
    }
    assert!(h.orders().is_empty());
    h.shutdown().await;
}

/// `[delivery]` (the file outbox) and `[http]` listening on `listen`, with a push token file.
fn with_push(dir: &Path, listen: u16, public: &str) -> String {
    let token = dir.join("push.token");
    std::fs::write(&token, "push-token-0123456789\n").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    format!(
        "[delivery]\ntransport = \"file\"\nfrom = \"PKI <pki@example.com>\"\n\
         [delivery.file]\ndir = \"outbox\"\n[http]\nlisten = \"127.0.0.1:{listen}\"\n\
         push_token_file = \"{}\"\npublic_push_url = \"{public}\"\n",
        token.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_reports_a_push_url_that_does_not_reach_the_endpoint_with_its_fix() {
    let dir = tempfile::tempdir().unwrap();
    let autodns = "endpoint = \"simulator\"\nwire = \"json\"";
    // The public URL leads to this endpoint: ok, and the token is not printed.
    let listen = free_port();
    let reaching = format!("http://127.0.0.1:{listen}/push/push-token-0123456789");
    let http = with_push(dir.path(), listen, &reaching);
    let config = write_config(dir.path(), autodns, CONTACT, Some(&http));
    let (code, out, err) = preflight(config, &[]).await;
    assert!(
        out.contains("ok   http.push: a request to "),
        "{out}\n{err}"
    );
    assert!(!out.contains("push-token-0123456789"), "{out}");
    assert_eq!(code, Some(0), "{out}\n{err}");
    // The public URL leads nowhere: FAIL, with the fix.
    let nowhere = format!("http://127.0.0.1:{}/push", free_port());
    let http = with_push(dir.path(), free_port(), &nowhere);
    let config = write_config(dir.path(), autodns, CONTACT, Some(&http));
    let (code, out, err) = preflight(config, &["--json"]).await;
    assert_eq!(code, Some(1), "{out}\n{err}");
    let (detail, fix) = only_failure(&out, "http.push");
    assert!(
        detail.contains("no answer from http.public_push_url"),
        "{detail}"
    );
    assert!(fix.contains("reverse proxy or port forward"), "{fix}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_fails_a_secret_file_other_users_can_change_and_warns_a_group_readable_one() {
    let h = sim::start(sim::config()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let autodns = remote(dir.path(), &h, "json", PASSWORD, CONTEXT);
    let config = write_config(dir.path(), &autodns, CONTACT, None);
    let pw = dir.path().join("autodns.password");
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o660)).unwrap();
    let (code, out, err) = preflight(config.clone(), &["--json"]).await;
    assert_eq!(code, Some(1), "{out}\n{err}");
    let (detail, fix) = only_failure(&out, "autodns.password_file");
    assert!(detail.contains("can be changed by other users"), "{detail}");
    assert_eq!(fix, format!("chmod 600 {}", pw.display()));
    // Readable by the group only: a warning with the same fix, not a failure.
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o640)).unwrap();
    let (code, out, err) = preflight(config, &[]).await;
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(
        out.contains("warn autodns.password_file: ") && out.contains("is readable by its group"),
        "{out}"
    );
    assert!(h.orders().is_empty());
    h.shutdown().await;
}
