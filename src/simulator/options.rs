//! The `smime-provisioner simulator` verb: its flags ([`SimulatorOptions`]), their conversion into
//! a [`SimulatorConfig`], and [`run_cli`], which listens, prints the two base URLs on stdout and
//! serves until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::SystemClock;
use crate::secret::Secret;

use super::{Faults, PushFormat, PushTarget, Simulator, SimulatorConfig, SimulatorError};

/// Environment variable holding the API password when no `--password-file` is given.
pub const PASSWORD_ENV: &str = "SMIME_SIMULATOR_PASSWORD";

/// Command-line flags of the simulator. The password comes from a file or the environment, never
/// from an argument (arguments are visible in `ps`).
#[derive(Debug, Clone, clap::Args)]
pub struct SimulatorOptions {
    /// Address to listen on; port 0 picks a free port (the URLs are printed on stdout).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Keep contacts, certificates, jobs, the poll queue and the CA here (created 0700), so a
    /// restart keeps them. Without it everything lives in memory. One simulator at a time: a
    /// state another process runs a simulator on (a daemon's embedded one) is refused.
    #[arg(long, env = "SMIME_SIMULATOR_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// API user name clients must send.
    #[arg(long, env = "SMIME_SIMULATOR_USER", default_value = "simulator")]
    pub user: String,
    /// File whose first line is the API password. Without it the password is read from the
    /// environment variable SMIME_SIMULATOR_PASSWORD.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// The API password when embedding (not a flag: a password in argv is visible in `ps`).
    #[arg(skip)]
    pub password: Option<String>,
    /// Context numbers accepted (repeat or comma-separate).
    #[arg(long = "context", value_delimiter = ',', default_values_t = [4u32, 9u32])]
    pub contexts: Vec<u32>,
    /// Milliseconds a certificate job runs before it finishes.
    #[arg(long, default_value_t = 2000)]
    pub issuance_delay_ms: u64,
    /// Seed for fault draws, serial numbers and order ids (reproducible runs).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Push settings (boxed: keeps the verb's argument enum small).
    #[command(flatten, next_help_heading = "Push")]
    pub push: Box<PushOptions>,
    /// Fault injection (boxed: keeps the verb's argument enum small).
    #[command(flatten, next_help_heading = "Faults")]
    pub faults: Box<FaultOptions>,
}

/// Where finished-job messages are pushed.
#[derive(Debug, Clone, clap::Args)]
pub struct PushOptions {
    /// POST every finished-job message to this URL as well.
    #[arg(long)]
    pub push_url: Option<url::Url>,
    /// Body format of pushes.
    #[arg(long, value_enum, default_value = "json")]
    pub push_format: PushFormat,
    /// Extra push header `Name: value` (repeatable), e.g. a shared secret.
    #[arg(long = "push-header")]
    pub push_headers: Vec<String>,
}

/// Fault injection flags (see [`Faults`]).
#[derive(Debug, Clone, clap::Args)]
pub struct FaultOptions {
    /// Fault: milliseconds added before every API answer.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Fault: share (0..1) of API requests answered 503 without being processed.
    #[arg(long, default_value_t = 0.0)]
    pub error_5xx_share: f64,
    /// Fault: share (0..1) of API requests processed but never answered.
    #[arg(long, default_value_t = 0.0)]
    pub timeout_share: f64,
    /// Fault: answer 429 above this many requests per second per IP (AutoDNS documents 3).
    #[arg(long)]
    pub rate_limit_rps: Option<f64>,
    /// Fault: share (0..1) of certificate jobs that fail.
    #[arg(long, default_value_t = 0.0)]
    pub fail_job_share: f64,
    /// Fault: mailbox whose certificate jobs always fail (repeatable).
    #[arg(long = "fail-name")]
    pub fail_names: Vec<String>,
    /// Fault: milliseconds a new job sits DEFERRED before it runs.
    #[arg(long, default_value_t = 0)]
    pub deferred_for_ms: u64,
    /// Fault: queue every job message twice.
    #[arg(long)]
    pub duplicate_poll_messages: bool,
    /// Fault: unrelated messages queued ahead of each job message.
    #[arg(long, default_value_t = 0)]
    pub foreign_messages: u32,
    /// Fault: the first N certificate orders are placed but never answered.
    #[arg(long, default_value_t = 0)]
    pub drop_create_answers: u32,
    /// Fault: a new order's certificate is not listed by CertificateList until its job ends.
    #[arg(long)]
    pub unlisted_until_issued: bool,
    /// Fault: CertificatePrepareOrder refuses this field of the body (e.g. `plain`).
    #[arg(long)]
    pub refuse_field: Option<String>,
}

impl SimulatorOptions {
    /// Reads the password (file, then [`SimulatorOptions::password`], then the environment
    /// variable [`PASSWORD_ENV`]) and assembles the configuration.
    pub fn into_config(self) -> Result<SimulatorConfig, SimulatorError> {
        let env = match std::env::var(PASSWORD_ENV) {
            Ok(v) => Some(v),
            Err(std::env::VarError::NotPresent) => None,
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(SimulatorError::Config(format!(
                    "{PASSWORD_ENV} is not valid UTF-8"
                )))
            }
        };
        self.into_config_with_env(env)
    }

    /// [`SimulatorOptions::into_config`] with the environment's password passed in.
    pub fn into_config_with_env(
        self,
        env_password: Option<String>,
    ) -> Result<SimulatorConfig, SimulatorError> {
        let password = match (&self.password_file, &self.password) {
            (Some(path), _) => {
                let raw = std::fs::read_to_string(path).map_err(|source| SimulatorError::Io {
                    path: path.clone(),
                    source,
                })?;
                raw.lines()
                    .next()
                    .unwrap_or("")
                    .trim_end_matches('\r')
                    .to_string()
            }
            (None, Some(p)) => p.clone(),
            (None, None) => match env_password {
                Some(p) => p,
                None => return Err(SimulatorError::Config(
                    "no API password: pass --password-file FILE or set SMIME_SIMULATOR_PASSWORD"
                        .into(),
                )),
            },
        };
        if password.is_empty() {
            return Err(SimulatorError::Config("the API password is empty".into()));
        }
        let push_opts = *self.push;
        let f = *self.faults;
        let push = match push_opts.push_url {
            Some(url) => {
                let mut headers = Vec::new();
                for h in &push_opts.push_headers {
                    let (k, v) = h.split_once(':').ok_or_else(|| {
                        SimulatorError::Config(format!(
                            "--push-header {k:?} must look like 'Name: value'",
                            k = h.split(':').next().unwrap_or("")
                        ))
                    })?;
                    headers.push((k.trim().to_string(), Secret::new(v.trim().to_string())));
                }
                Some(PushTarget {
                    url,
                    format: push_opts.push_format,
                    headers,
                })
            }
            None if !push_opts.push_headers.is_empty() => {
                return Err(SimulatorError::Config(
                    "--push-header needs --push-url".into(),
                ))
            }
            None => None,
        };
        Ok(SimulatorConfig {
            user: self.user,
            password: Secret::new(password),
            contexts: self.contexts,
            issuance_delay: Duration::from_millis(self.issuance_delay_ms),
            state_dir: self.state_dir,
            push,
            faults: Faults {
                latency: Duration::from_millis(f.latency_ms),
                error_5xx_share: f.error_5xx_share,
                timeout_share: f.timeout_share,
                rate_limit_rps: f.rate_limit_rps,
                fail_job_share: f.fail_job_share,
                fail_names: f.fail_names,
                deferred_for: Duration::from_millis(f.deferred_for_ms),
                duplicate_poll_messages: f.duplicate_poll_messages,
                foreign_messages: f.foreign_messages,
                drop_create_answers: f.drop_create_answers,
                unlisted_until_issued: f.unlisted_until_issued,
                refuse_field: f.refuse_field,
            },
            seed: self.seed,
            clock: Arc::new(SystemClock),
        })
    }
}

/// Runs the simulator until SIGINT or SIGTERM. Prints `json_url=…` and `xml_url=…` lines on
/// stdout once it listens, so scripts can pick them up.
pub async fn run_cli(opts: SimulatorOptions) -> Result<(), SimulatorError> {
    let listen = opts.listen;
    let cfg = opts.into_config()?;
    // Held until the simulator has stopped: nobody else runs one on this state meanwhile.
    let lock = match &cfg.state_dir {
        Some(dir) => Some(super::embedded::claim_standalone(dir)?),
        None => None,
    };
    let user = cfg.user.clone();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| SimulatorError::Listen {
            addr: listen.to_string(),
            source,
        })?;
    let handle = Simulator::start(cfg, listener)?;
    if let Some(lock) = &lock {
        // Tells whoever finds the state busy who holds it. Nobody else uses this simulator, so
        // its password is not written down.
        let none = crate::secret::Secret::new(String::new());
        lock.publish(super::embedded::Role::Standalone, &handle, &user, &none)?;
    }
    println!("json_url={}", handle.json_url());
    println!("xml_url={}", handle.xml_url());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|source| SimulatorError::Io {
            path: PathBuf::from("<SIGTERM handler>"),
            source,
        })?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    handle.shutdown().await;
    drop(lock);
    Ok(())
}
