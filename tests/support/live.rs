//! The live pipeline for end-to-end tests: the bundled simulator started in the test process on
//! port 0, a config file pointing at it over real HTTP (either wire format), and the reconciler
//! assembled from the real modules (typed AutoDNS client, crypto, delivery).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use smime_provisioner::clock::{Clock, SystemClock};
use smime_provisioner::config::Config;
use smime_provisioner::delivery::Mailer;
use smime_provisioner::pipeline::adapters::{AutodnsPort, CryptoKeys, MailCourier};
use smime_provisioner::pipeline::wiring::Builder;
use smime_provisioner::pipeline::{Reconciler, Settings};
use smime_provisioner::simulator::{Faults, Simulator, SimulatorConfig, SimulatorHandle};

use crate::tools;

pub const SIM_USER: &str = "e2e-user";
pub const SIM_PASSWORD: &str = "e2e-password-123";

pub type LiveReconciler = Reconciler<AutodnsPort, CryptoKeys, MailCourier>;

/// Starts the simulator with `faults` and the given issuance delay.
pub async fn start_simulator(faults: Faults, delay: Duration, seed: u64) -> SimulatorHandle {
    let mut cfg = SimulatorConfig::new(SIM_USER, SIM_PASSWORD);
    cfg.issuance_delay = delay;
    cfg.faults = faults;
    cfg.seed = Some(seed);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    Simulator::start(cfg, listener).unwrap()
}

/// The simulator's endpoint for `wire` ("json": the REST API; anything else: the XML gateway).
pub fn endpoint_for(sim: &SimulatorHandle, wire: &str) -> String {
    if wire == "json" {
        sim.json_url()
    } else {
        sim.xml_url()
    }
}

/// The config text for a daemon talking to `endpoint` over `wire`, with state, mail root,
/// outbox and password files under `dir`.
pub fn config_text(dir: &Path, endpoint: &str, wire: &str, extra: &str) -> String {
    let d = |p: &str| dir.join(p).display().to_string();
    format!(
        r#"
[state]
dir = "{state}"
[autodns]
endpoint = "{endpoint}"
wire = "{wire}"
user = "{SIM_USER}"
password_env = "SIM_PASSWORD"
timeout_secs = 5
poll_interval_secs = 1
[autodns.contact]
first = "Postmaster"
last = "Example"
email = "postmaster@example.com"
phone = "+49-941-1234560"
title = "IT"
organization = "Example GmbH"
address = "Example Street 1"
postal_code = "93047"
city = "Regensburg"
country = "DE"
state = "Bayern"
[keys]
type = "ec-p256"
[sources]
max_removal_share = 0.5
rescan_interval_secs = 2
[sources.maildir]
enabled = true
root = "{mail}"
[sources.spool]
dir = "{spool}"
[delivery]
transport = "file"
from = "Certificate Service <pki@example.com>"
[delivery.file]
dir = "{outbox}"
[delivery.password]
channel = "file"
dir = "{passwords}"
[pipeline]
backoff_base_secs = 1
backoff_max_secs = 4
max_attempts = 30
{extra}
"#,
        state = d("state"),
        mail = d("mail"),
        spool = d("spool"),
        outbox = d("outbox"),
        passwords = d("passwords"),
    )
}

/// Parses config text with the simulator password in the (fake) environment.
pub fn parse_config(text: &str, dir: &Path) -> Config {
    let env: BTreeMap<String, String> =
        [("SIM_PASSWORD".to_string(), SIM_PASSWORD.to_string())].into();
    Config::from_toml(text, Path::new("e2e.toml"), dir, &env).unwrap_or_else(|e| panic!("{e}"))
}

/// The reconciler over the real modules, delivering through `mailer` (or the config's
/// transport when `None`), passwords to files in `dir/passwords`.
pub fn live_reconciler(config: &Config, mailer: Option<Arc<dyn Mailer>>) -> LiveReconciler {
    // The in-process simulator imposes no rate limit here; pacing at AutoDNS's 3/s would only
    // make the test slow (the binary-level tests keep the configured pace).
    live_reconciler_paced(config, mailer, 100.0)
}

/// As [`live_reconciler`], with the client paced at `rps` requests per second.
pub fn live_reconciler_paced(
    config: &Config,
    mailer: Option<Arc<dyn Mailer>>,
    rps: f64,
) -> LiveReconciler {
    live_reconciler_with(config, mailer, rps, Settings::from_config(config))
}

/// As [`live_reconciler_paced`], with the reconciler's settings given (e.g. a short job check).
pub fn live_reconciler_with(
    config: &Config,
    mailer: Option<Arc<dyn Mailer>>,
    rps: f64,
    settings: Settings,
) -> LiveReconciler {
    live_reconciler_clocked(config, mailer, rps, settings, Arc::new(SystemClock))
}

/// As [`live_reconciler_with`], on `clock` (share it with the simulator, and a test moves time
/// forward instead of sleeping).
pub fn live_reconciler_clocked(
    config: &Config,
    mailer: Option<Arc<dyn Mailer>>,
    rps: f64,
    settings: Settings,
    clock: Arc<dyn Clock>,
) -> LiveReconciler {
    // The same wiring `run` uses; seeds 3, 4, 5 for the key store, the AutoDNS port and the
    // reconciler.
    let mut b = Builder::new(config)
        .clock(clock)
        .seed(3)
        .settings(settings)
        .requests_per_second(rps);
    if let Some(m) = mailer {
        b = b.mailer(m);
    }
    b.build_remote().unwrap_or_else(|e| panic!("{e}"))
}

/// The password file written for `address`.
pub fn password_of(dir: &Path, address: &str) -> String {
    let a = smime_provisioner::mailbox::Address::parse(address).unwrap();
    let name = smime_provisioner::delivery::password_file_name(&a);
    std::fs::read_to_string(dir.join("passwords").join(name))
        .unwrap_or_else(|e| panic!("no password file for {address}: {e}"))
        .trim_end()
        .to_string()
}

/// `openssl pkcs12` opens `der` with `password`: returns the SHA-256 fingerprint (lower-case
/// hex, no colons) of the certificate inside and whether a private key came out.
pub fn open_pkcs12(dir: &Path, der: &[u8], password: &str) -> (String, bool) {
    let f = dir.join(format!("check-{}.p12", rand::random::<u64>()));
    std::fs::write(&f, der).unwrap();
    let pass = format!("pass:{password}");
    let file = f.display().to_string();
    let pem = openssl(&["pkcs12", "-nodes", "-passin", &pass, "-in", &file], b"");
    (certificate_fingerprint(&pem), pem.contains("PRIVATE KEY"))
}

/// The SHA-256 fingerprint (lower-case hex, no colons) of the first certificate in `pem`, by
/// `openssl x509`; empty when openssl prints none.
pub fn certificate_fingerprint(pem: &str) -> String {
    let fp = openssl(
        &["x509", "-noout", "-fingerprint", "-sha256"],
        pem.as_bytes(),
    );
    fp.trim()
        .split_once('=')
        .map(|(_, v)| v.replace(':', "").to_ascii_lowercase())
        .unwrap_or_default()
}

/// The `.p12` attachments of the `.eml` files in `outbox`, by recipient.
pub fn outbox_bundles(outbox: &Path) -> BTreeMap<String, Vec<Vec<u8>>> {
    let mut out: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for e in std::fs::read_dir(outbox).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "eml") {
            let raw = std::fs::read(&p).unwrap();
            if let Some((to, der)) = bundle_of(&raw) {
                out.entry(to).or_default().push(der);
            }
        }
    }
    out
}

/// The recipient and `.p12` attachment of a raw bundle mail (parsed by Python's `email`
/// package, as a mail client would), or `None` for a mail without one.
pub fn bundle_of(raw: &[u8]) -> Option<(String, Vec<u8>)> {
    use base64::Engine;
    let py = tools::require_tool("/usr/bin/python3", "python3");
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("m.eml");
    std::fs::write(&f, raw).unwrap();
    let script = tools::fixture("delivery/mime_dump.py");
    let out = std::process::Command::new(&py)
        .arg(script)
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let to = v["addresses"]["To"][0]["addr_spec"].as_str()?.to_string();
    let part = v["parts"]
        .as_array()?
        .iter()
        .find(|p| p["content_type"] == "application/pkcs12")?;
    let der = base64::engine::general_purpose::STANDARD
        .decode(part["data_b64"].as_str()?)
        .ok()?;
    Some((to, der))
}

/// Starts the simulator with `faults` and the given issuance delay on `clock`: its jobs finish
/// when the test moves the clock past their delay, not when real time passes.
pub async fn start_simulator_clocked(
    faults: Faults,
    delay: Duration,
    seed: u64,
    clock: Arc<dyn Clock>,
) -> SimulatorHandle {
    let mut cfg = SimulatorConfig::new(SIM_USER, SIM_PASSWORD);
    cfg.issuance_delay = delay;
    cfg.faults = faults;
    cfg.seed = Some(seed);
    cfg.clock = clock;
    start_simulator_with(cfg).await
}

/// Starts the simulator with a full configuration (a shared clock, a push target), on
/// 127.0.0.1 port 0.
pub async fn start_simulator_with(cfg: SimulatorConfig) -> SimulatorHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    Simulator::start(cfg, listener).unwrap()
}

/// Runs `openssl` with `args` on `input`, and returns stdout; fails the test with openssl's
/// stderr when it refuses.
fn openssl(args: &[&str], input: &[u8]) -> String {
    let out = tools::run_stdout(tools::openssl().args(args), Some(input))
        .unwrap_or_else(|e| panic!("{e}"));
    String::from_utf8(out).unwrap()
}

/// What `openssl pkcs12` finds in a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleKeys {
    /// SHA-256 fingerprint of the certificate (lower-case hex, no colons).
    pub fingerprint: String,
    /// The certificate's public key (PEM, from `openssl x509 -pubkey`).
    pub certificate_public_key: String,
    /// The public half of the private key in the bundle (PEM, from `openssl pkey -pubout`).
    pub key_public_key: String,
}

/// Opens `der` with `password` through the `openssl` CLI (default provider, as a mail admin
/// would check it) and reads the certificate's and the private key's public keys.
pub fn open_pkcs12_keys(dir: &Path, der: &[u8], password: &str) -> BundleKeys {
    let (fingerprint, has_key) = open_pkcs12(dir, der, password);
    assert!(has_key, "the bundle holds no private key");
    let f = dir.join(format!("keys-{}.p12", rand::random::<u64>()));
    std::fs::write(&f, der).unwrap();
    let pass = format!("pass:{password}");
    let file = f.display().to_string();
    let pem = openssl(&["pkcs12", "-nodes", "-passin", &pass, "-in", &file], b"");
    std::fs::remove_file(&f).unwrap();
    BundleKeys {
        fingerprint,
        certificate_public_key: openssl(&["x509", "-pubkey", "-noout"], pem.as_bytes()),
        key_public_key: openssl(&["pkey", "-pubout"], pem.as_bytes()),
    }
}

/// The public key (PEM) of a certificate in PEM.
pub fn certificate_public_key(cert_pem: &str) -> String {
    openssl(&["x509", "-pubkey", "-noout"], cert_pem.as_bytes())
}

/// The public key (PEM) of a private key held by the pipeline's key store.
pub fn stored_public_key(state_dir: &Path, key_name: &str) -> Option<String> {
    let store = smime_provisioner::crypto::KeyStore::open(state_dir.join("keys")).unwrap();
    let key = store.get_key(key_name).unwrap()?;
    let der = key.public_key_der().unwrap();
    let pem = openssl(&["pkey", "-pubin", "-inform", "DER", "-pubout"], &der);
    Some(pem)
}

/// One mail in the file outbox as a mail client shows it (parsed by Python's `email`).
#[derive(Debug, Clone)]
pub struct OutboxMail {
    pub to: Vec<String>,
    pub subject: String,
    pub auto_submitted: Option<String>,
    /// The `.p12` attachment, if any.
    pub pkcs12: Option<Vec<u8>>,
    pub text: String,
}

/// Every `.eml` file in `outbox`, parsed.
pub fn outbox_mails(outbox: &Path) -> Vec<OutboxMail> {
    use base64::Engine;
    let py = tools::require_tool("/usr/bin/python3", "python3");
    let script = tools::fixture("delivery/mime_dump.py");
    let Ok(entries) = std::fs::read_dir(outbox) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "eml") {
            continue;
        }
        let run = std::process::Command::new(&py)
            .arg(&script)
            .arg(&p)
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
        let to = v["addresses"]["To"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x["addr_spec"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let parts = v["parts"].as_array().cloned().unwrap_or_default();
        let pkcs12 = parts
            .iter()
            .find(|p| p["content_type"] == "application/pkcs12")
            .and_then(|p| p["data_b64"].as_str())
            .map(|b| base64::engine::general_purpose::STANDARD.decode(b).unwrap());
        let text = parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n");
        out.push(OutboxMail {
            to,
            subject: v["headers"]["Subject"].as_str().unwrap_or("").to_string(),
            auto_submitted: v["headers"]["Auto-Submitted"].as_str().map(str::to_string),
            pkcs12,
            text,
        });
    }
    out
}

/// Starts `BIN --config CONFIG run` (pass `env!("CARGO_BIN_EXE_smime-provisioner")`) with debug
/// logs appended to `log` and the simulator password in its environment.
pub fn spawn_daemon(bin: &str, config: &Path, log: &Path) -> std::process::Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    std::process::Command::new(bin)
        .arg("--config")
        .arg(config)
        .arg("--log")
        .arg("smime_provisioner=debug")
        .arg("run")
        .env("SIM_PASSWORD", SIM_PASSWORD)
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// Waits until `done` holds, looking every 100 ms for at most `secs` seconds, then fails the test
/// naming `what` (bounded: a test never hangs on a daemon that does not act).
pub async fn wait_until(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    for _ in 0..secs * 10 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("gave up waiting for: {what}");
}

/// A daemon over `rec` run in this test's runtime (no sources, no HTTP endpoint).
pub struct InProcessDaemon {
    /// Where the test reports mailboxes, as a source would.
    pub tx: tokio::sync::mpsc::Sender<smime_provisioner::daemon::Seen>,
    /// Cancel to stop it, then await `run`.
    pub stop: tokio_util::sync::CancellationToken,
    pub run: tokio::task::JoinHandle<Result<(), smime_provisioner::daemon::DaemonError>>,
}

/// Starts a daemon over `rec` with `concurrency` workers, polling every `poll` and resyncing
/// every 300 ms, foreign poll messages confirmed, and room for `queue` reported mailboxes.
pub fn start_daemon_in_process(
    rec: Arc<LiveReconciler>,
    concurrency: usize,
    poll: Duration,
    queue: usize,
) -> InProcessDaemon {
    use smime_provisioner::daemon::{Daemon, DaemonSettings};
    let settings = DaemonSettings {
        concurrency,
        poll_interval: poll,
        resync_interval: Duration::from_millis(300),
        foreign: smime_provisioner::pipeline::ForeignMessages::Confirm,
        ..DaemonSettings::default()
    };
    let (tx, rx) = tokio::sync::mpsc::channel(queue);
    let stop = tokio_util::sync::CancellationToken::new();
    let run = tokio::spawn(Daemon::new(rec, settings, None).run(rx, None, stop.clone()));
    InProcessDaemon { tx, stop, run }
}
