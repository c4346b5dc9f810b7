//! Owns the assembly of the live pipeline from a validated config: the state store, the key
//! store, the AutoDNS client (or the bundled simulator started in-process for
//! `autodns.endpoint = "simulator"`), the mailer, and the reconciler over them. The `run` daemon
//! and the one-off verbs all build the same thing here, so they behave alike.

use std::sync::Arc;

use rand::SeedableRng;

use super::adapters::{AutodnsPort, CryptoKeys, MailCourier};
use super::metrics::Metrics;
use super::ports::PortError;
use super::reconcile::{Reconciler, Settings};
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, Endpoint};
use crate::secret::Secret;
use crate::simulator::SimulatorHandle;
use crate::store::{Store, StoreError};

/// The reconciler over the real modules.
pub type LiveReconciler = Reconciler<AutodnsPort, CryptoKeys, MailCourier>;

/// The key store's directory inside the state directory.
pub const KEYS_DIR: &str = "keys";

/// Why the pipeline could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    /// The state store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A part could not be set up (key store, mailer, AutoDNS client, simulator).
    #[error("cannot set up {part}: {text}")]
    Part {
        /// Which part.
        part: &'static str,
        /// Why, readable by a mail admin.
        text: String,
    },
}

fn part(part: &'static str) -> impl Fn(PortError) -> WiringError {
    move |e| WiringError::Part {
        part,
        text: e.to_string(),
    }
}

/// The assembled pipeline.
#[derive(Debug)]
pub struct Wiring {
    /// The reconciler, shared by the daemon's workers.
    pub reconciler: Arc<LiveReconciler>,
    /// The in-process simulator, when the config asks for it; stopped when dropped.
    pub simulator: Option<SimulatorHandle>,
}

impl Wiring {
    /// Stops the in-process simulator, if any.
    pub async fn shutdown(self) {
        if let Some(s) = self.simulator {
            s.shutdown().await;
        }
    }
}

/// Assembles the pipeline on the system clock. Must run inside the tokio runtime (the SMTP
/// pool and the simulator need it).
pub async fn build(config: &Config) -> Result<Wiring, WiringError> {
    build_with_clock(config, Arc::new(SystemClock)).await
}

/// Assembles the pipeline with time from `clock`: every part that reads the time (planner,
/// backoff, renewal margin, certificate check, mail dates) reads this one. `build` passes the
/// system clock; tests pass a [`ManualClock`](crate::clock::ManualClock) to move months ahead
/// through the very wiring `run` and the verbs use.
pub async fn build_with_clock(
    config: &Config,
    clock: Arc<dyn Clock>,
) -> Result<Wiring, WiringError> {
    let store = Arc::new(Store::open(&config.state_dir)?);
    let keys = CryptoKeys::from_config(
        &config.keys,
        &config.state_dir.join(KEYS_DIR),
        Box::new(rand::rngs::StdRng::from_os_rng()),
    )
    .map_err(part("the key store"))?;
    let courier = MailCourier::from_config(config, clock.clone()).map_err(part("mail delivery"))?;

    let wire = config.autodns.wire;
    let (endpoint, user, password, simulator) = match &config.autodns.endpoint {
        Endpoint::Remote(url) => {
            let password = config
                .autodns
                .password
                .clone()
                .ok_or_else(|| WiringError::Part {
                    part: "the AutoDNS client",
                    text: "no AutoDNS password configured (autodns.password_file or password_env)"
                        .into(),
                })?;
            (url.clone(), config.autodns.user.clone(), password, None)
        }
        Endpoint::Simulator => {
            let (handle, password) = start_simulator(config, clock.clone()).await?;
            let url = match wire {
                crate::autodns::Wire::Json => handle.json_url(),
                crate::autodns::Wire::Xml => handle.xml_url(),
            };
            let url = url::Url::parse(&url).map_err(|e| WiringError::Part {
                part: "the simulator",
                text: e.to_string(),
            })?;
            (url, "simulator".to_string(), password, Some(handle))
        }
    };
    let mut settings = crate::autodns::ClientSettings::new(endpoint, wire, user, password);
    settings.context = config.autodns.context;
    settings.timeout = config.autodns.timeout;
    settings.requests_per_second = config.autodns.requests_per_second;
    let client = crate::autodns::Client::new(settings).map_err(|e| WiringError::Part {
        part: "the AutoDNS client",
        text: e.to_string(),
    })?;
    let autodns = AutodnsPort::new(
        client,
        &config.autodns,
        &config.domains,
        Box::new(rand::rngs::StdRng::from_os_rng()),
    );
    let reconciler = Reconciler::new(
        store,
        autodns,
        keys,
        courier,
        clock,
        Settings::from_config(config),
        Box::new(rand::rngs::StdRng::from_os_rng()),
        Arc::new(Metrics::default()),
    );
    Ok(Wiring {
        reconciler: Arc::new(reconciler),
        simulator,
    })
}

/// Starts the bundled simulator on a loopback port with throwaway credentials, on the
/// pipeline's clock (so the certificates it issues are valid at the pipeline's "now").
async fn start_simulator(
    config: &Config,
    clock: Arc<dyn Clock>,
) -> Result<(SimulatorHandle, Secret<String>), WiringError> {
    let sim_err = |text: String| WiringError::Part {
        part: "the simulator",
        text,
    };
    let password = {
        let mut rng = rand::rngs::StdRng::from_os_rng();
        crate::crypto::generate_download_password(&mut rng)
    };
    let mut cfg = crate::simulator::SimulatorConfig::new("simulator", password.expose().clone());
    cfg.issuance_delay = config.simulator.issuance_delay;
    cfg.state_dir = Some(config.simulator.state_dir.clone());
    cfg.clock = clock;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| sim_err(e.to_string()))?;
    let handle =
        crate::simulator::Simulator::start(cfg, listener).map_err(|e| sim_err(e.to_string()))?;
    tracing::info!(url = %handle.json_url(), "bundled AutoDNS simulator started (no money is spent)");
    Ok((handle, password))
}
