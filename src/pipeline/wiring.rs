//! Owns the assembly of the live pipeline from a validated config: the state store, the key
//! store, the AutoDNS client (or the bundled simulator started in-process for
//! `autodns.endpoint = "simulator"`), the mailer, and the reconciler over them. The `run` daemon
//! and the one-off verbs all build the same thing here, so they behave alike. The mailbox sources
//! are built here too ([`Sources::from_config`]), once for the daemon and `run --once`.
//!
//! There is one bundled simulator per simulator state ([`crate::simulator::embedded`]): a verb
//! run beside the daemon uses the daemon's, and whoever starts one holds the claim on the state
//! until it stops, so no second simulator ever runs on the same orders and contacts.

use std::sync::Arc;

use rand::SeedableRng;

use super::adapters::{AutodnsPort, CryptoKeys, MailCourier};
use super::metrics::Metrics;
use super::ports::PortError;
use super::reconcile::{Reconciler, Settings};
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, Endpoint, SourcesConfig};
use crate::delivery::Mailer;
use crate::secret::Secret;
pub use crate::simulator::embedded::Role as SimulatorRole;
use crate::simulator::embedded::{self, Claim, Embedded};
use crate::source::ldif::{LdifSettings, LdifSource};
use crate::source::maildir::{Layout, MaildirSettings, MaildirSource};
use crate::source::spool::SpoolSource;
use crate::source::{GuardPolicy, Listing, SourceError};
use crate::store::{Store, StoreError};

/// The reconciler over the real modules.
pub type LiveReconciler = Reconciler<AutodnsPort, CryptoKeys, MailCourier>;

/// The key store's directory inside the state directory.
pub const KEYS_DIR: &str = "keys";

/// The AutoDNS pacer's send times inside the state directory (see `autodns::pacer`).
pub const PACER_FILE: &str = "pacer";

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
    /// The in-process simulator this process started, when the config asks for the bundled
    /// simulator and no daemon already runs one on its state; stopped when dropped.
    pub simulator: Option<Embedded>,
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
    Builder::new(config).build().await
}

/// Assembles the pipeline with time from `clock`: every part that reads the time (planner,
/// backoff, renewal margin, certificate check, mail dates) reads this one. `build` passes the
/// system clock; tests pass a [`ManualClock`](crate::clock::ManualClock) to move months ahead
/// through the very wiring `run` and the verbs use.
pub async fn build_with_clock(
    config: &Config,
    clock: Arc<dyn Clock>,
) -> Result<Wiring, WiringError> {
    Builder::new(config).clock(clock).build().await
}

/// The one place that reads [`Config`] to assemble the live pipeline. `run`, the verbs and the
/// end-to-end tests all go through it; tests replace the handles (clock, mailer, randomness,
/// reconciler settings, request pace) and keep the rest of the wiring as shipped.
pub struct Builder<'a> {
    config: &'a Config,
    clock: Arc<dyn Clock>,
    mailer: Option<Arc<dyn Mailer>>,
    seed: Option<u64>,
    settings: Option<Settings>,
    requests_per_second: Option<f64>,
    role: SimulatorRole,
}

impl std::fmt::Debug for Builder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("seed", &self.seed)
            .field("requests_per_second", &self.requests_per_second)
            .finish_non_exhaustive()
    }
}

/// Where the AutoDNS client connects, and as whom.
struct Api {
    url: url::Url,
    user: String,
    password: Secret<String>,
}

impl<'a> Builder<'a> {
    /// The wiring of `config` on the system clock, the configured mail transport and
    /// randomness from the operating system.
    pub fn new(config: &'a Config) -> Self {
        Builder {
            config,
            clock: Arc::new(SystemClock),
            mailer: None,
            seed: None,
            settings: None,
            requests_per_second: None,
            role: SimulatorRole::Verb,
        }
    }

    /// Who this process is to others on the same bundled-simulator state: the daemon
    /// ([`SimulatorRole::Daemon`]) shares the simulator it starts with verbs; a one-off
    /// ([`SimulatorRole::Verb`], the default) makes others wait until it ends.
    pub fn simulator_role(mut self, role: SimulatorRole) -> Self {
        self.role = role;
        self
    }

    /// Time for every part (and for the in-process simulator).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Mail leaves through `mailer` instead of the configured transport.
    pub fn mailer(mut self, mailer: Arc<dyn Mailer>) -> Self {
        self.mailer = Some(mailer);
        self
    }

    /// Deterministic randomness: the key store, the AutoDNS port, the reconciler and the
    /// simulator credentials draw from generators seeded `seed`, `seed + 1`, `seed + 2`,
    /// `seed + 3`.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Reconciler settings instead of those mapped from the config.
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = Some(settings);
        self
    }

    /// The AutoDNS client's pace instead of `autodns.requests_per_second`.
    pub fn requests_per_second(mut self, rps: f64) -> Self {
        self.requests_per_second = Some(rps);
        self
    }

    fn rng(&self, n: u64) -> Box<dyn rand::RngCore + Send> {
        match self.seed {
            Some(s) => Box::new(rand::rngs::StdRng::seed_from_u64(s.wrapping_add(n))),
            None => Box::new(rand::rngs::StdRng::from_os_rng()),
        }
    }

    /// Assembles the pipeline, starting the bundled simulator for `autodns.endpoint =
    /// "simulator"`. Must run inside the tokio runtime (the SMTP pool and the simulator need it).
    pub async fn build(self) -> Result<Wiring, WiringError> {
        let local = self.local_parts()?;
        let (api, simulator) = match &self.config.autodns.endpoint {
            Endpoint::Remote(url) => (self.remote_api(url)?, None),
            Endpoint::Simulator => {
                let (simulator, api) = self.simulator_api().await?;
                (api, simulator)
            }
        };
        Ok(Wiring {
            reconciler: Arc::new(self.assemble(local, api)?),
            simulator,
        })
    }

    /// The reconciler for a config whose AutoDNS endpoint is a URL (a real API or a simulator
    /// started elsewhere); no runtime work is needed, so this is not async.
    pub fn build_remote(self) -> Result<LiveReconciler, WiringError> {
        let local = self.local_parts()?;
        let api = match &self.config.autodns.endpoint {
            Endpoint::Remote(url) => self.remote_api(url)?,
            Endpoint::Simulator => {
                return Err(WiringError::Part {
                    part: "the AutoDNS client",
                    text: "the bundled simulator is started by `build`, not `build_remote`".into(),
                })
            }
        };
        self.assemble(local, api)
    }

    /// The state store, the key store and the mailer, in that order.
    fn local_parts(&self) -> Result<(Arc<Store>, CryptoKeys, MailCourier), WiringError> {
        let config = self.config;
        let store = Arc::new(Store::open(&config.state_dir)?);
        let keys =
            CryptoKeys::from_config(&config.keys, &config.state_dir.join(KEYS_DIR), self.rng(0))
                .map_err(part("the key store"))?
                .with_pool(
                    store.clone(),
                    &config.keys,
                    config.autodns.daily_order_budget,
                    self.clock.clone(),
                );
        let courier =
            MailCourier::from_config_with_mailer(config, self.mailer.clone(), self.clock.clone())
                .map_err(part("mail delivery"))?;
        Ok((store, keys, courier))
    }

    fn remote_api(&self, url: &url::Url) -> Result<Api, WiringError> {
        let password = self
            .config
            .autodns
            .password
            .clone()
            .ok_or_else(|| WiringError::Part {
                part: "the AutoDNS client",
                text: "no AutoDNS password configured (autodns.password_file or password_env)"
                    .into(),
            })?;
        Ok(Api {
            url: url.clone(),
            user: self.config.autodns.user.clone(),
            password,
        })
    }

    /// The bundled simulator for this config: the running daemon's, or one started here
    /// under the claim on its state (waiting while a one-off verb holds it).
    async fn simulator_api(&self) -> Result<(Option<Embedded>, Api), WiringError> {
        let wire = self.config.autodns.wire;
        let pick = |json: String, xml: String| match wire {
            crate::autodns::Wire::Json => json,
            crate::autodns::Wire::Xml => xml,
        };
        let state = &self.config.simulator.state_dir;
        match embedded::claim(state, embedded::CLAIM_WAIT)
            .await
            .map_err(sim_err)?
        {
            Claim::Shared(s) => {
                tracing::info!(
                    url = %s.json_url,
                    pid = %s.pid,
                    "using the running daemon's bundled AutoDNS simulator"
                );
                let api = Api {
                    url: simulator_url(&pick(s.json_url, s.xml_url))?,
                    user: s.user,
                    password: s.password,
                };
                Ok((None, api))
            }
            Claim::Own(lock) => {
                let (handle, password) =
                    start_simulator(self.config, self.clock.clone(), self.rng(3)).await?;
                lock.publish(self.role, &handle, SIMULATOR_USER, &password)
                    .map_err(sim_err)?;
                let api = Api {
                    url: simulator_url(&pick(handle.json_url(), handle.xml_url()))?,
                    user: SIMULATOR_USER.to_string(),
                    password,
                };
                Ok((Some(Embedded::new(handle, lock)), api))
            }
            Claim::Busy { holder } => Err(sim_err(format!("still in use by {holder}"))),
        }
    }

    /// The AutoDNS client for `api`, with the config's context, timeout and pace; the pacer keeps
    /// its send times in `pacer_file` (so a restart does not start with a full budget).
    fn client(
        &self,
        api: Api,
        pacer_file: Option<std::path::PathBuf>,
    ) -> Result<crate::autodns::Client, WiringError> {
        let config = self.config;
        let mut settings = crate::autodns::ClientSettings::new(
            api.url,
            config.autodns.wire,
            api.user,
            api.password,
        );
        settings.context = config.autodns.context;
        settings.timeout = config.autodns.timeout;
        settings.requests_per_second = self
            .requests_per_second
            .unwrap_or(config.autodns.requests_per_second);
        settings.pacer_file = pacer_file;
        crate::autodns::Client::new(settings).map_err(|e| WiringError::Part {
            part: "the AutoDNS client",
            text: e.to_string(),
        })
    }

    /// Only the AutoDNS client (and the in-process simulator it talks to, for `autodns.endpoint =
    /// "simulator"`): no store, key store or mailer is opened. `preflight` checks the account
    /// with it before anything local is created.
    pub async fn build_client(
        self,
    ) -> Result<(crate::autodns::Client, Option<Embedded>), WiringError> {
        let (api, simulator) = match &self.config.autodns.endpoint {
            Endpoint::Remote(url) => (self.remote_api(url)?, None),
            Endpoint::Simulator => {
                // The simulator keeps its state under the state directory by default; create
                // that private first, as the store would, rather than as a side effect.
                private_dir(&self.config.state_dir)?;
                let (simulator, api) = self.simulator_api().await?;
                (api, simulator)
            }
        };
        // No pacer file: nothing local is created before preflight has checked it may be.
        match self.client(api, None) {
            Ok(c) => Ok((c, simulator)),
            Err(e) => {
                if let Some(s) = simulator {
                    s.shutdown().await;
                }
                Err(e)
            }
        }
    }

    fn assemble(
        mut self,
        (store, keys, courier): (Arc<Store>, CryptoKeys, MailCourier),
        api: Api,
    ) -> Result<LiveReconciler, WiringError> {
        let config = self.config;
        let rec_settings = self
            .settings
            .take()
            .unwrap_or_else(|| Settings::from_config(config));
        let client = self.client(api, Some(config.state_dir.join(PACER_FILE)))?;
        let metrics = Arc::new(Metrics::default());
        let autodns = AutodnsPort::new(client, &config.autodns, &config.domains, self.rng(1))
            .with_metrics(metrics.clone());
        let courier = courier.with_metrics(metrics.clone());
        Ok(Reconciler::new(
            store,
            autodns,
            keys,
            courier,
            self.clock.clone(),
            rec_settings,
            self.rng(2),
            metrics,
        ))
    }
}

/// Creates `dir` (and its parents) mode 0700 when it does not exist.
fn private_dir(dir: &std::path::Path) -> Result<(), WiringError> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.exists() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| WiringError::Part {
            part: "the state directory",
            text: format!("cannot create {}: {e}", dir.display()),
        })
}

/// The user the bundled simulator accepts.
const SIMULATOR_USER: &str = "simulator";

fn sim_err(text: impl ToString) -> WiringError {
    WiringError::Part {
        part: "the simulator",
        text: text.to_string(),
    }
}

fn simulator_url(url: &str) -> Result<url::Url, WiringError> {
    url::Url::parse(url).map_err(sim_err)
}

/// Starts the bundled simulator on a loopback port with throwaway credentials, on the
/// pipeline's clock (so the certificates it issues are valid at the pipeline's "now").
async fn start_simulator(
    config: &Config,
    clock: Arc<dyn Clock>,
    mut rng: Box<dyn rand::RngCore + Send>,
) -> Result<(crate::simulator::SimulatorHandle, Secret<String>), WiringError> {
    let password = crate::crypto::generate_download_password(&mut rng);
    let mut cfg = crate::simulator::SimulatorConfig::new(SIMULATOR_USER, password.expose().clone());
    cfg.issuance_delay = config.simulator.issuance_delay;
    cfg.state_dir = Some(config.simulator.state_dir.clone());
    cfg.clock = clock;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(sim_err)?;
    let handle = crate::simulator::Simulator::start(cfg, listener).map_err(sim_err)?;
    tracing::info!(url = %handle.json_url(), "bundled AutoDNS simulator started (no money is spent)");
    Ok((handle, password))
}

/// Why a source could not be started.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the {source_name} source: {text}")]
pub struct SourceStartError {
    /// `maildir`, `ldif` or `spool`.
    pub source_name: &'static str,
    /// Why.
    pub text: String,
}

/// The configured mailbox sources, built once from `[sources]`: the daemon starts watchers from
/// them (`daemon::start_sources`), `run --once` takes their full listings.
#[derive(Debug)]
pub struct Sources {
    /// The maildir tree, when `sources.maildir.enabled`.
    pub maildir: Option<MaildirSettings>,
    /// The LDIF export, when `sources.ldif.enabled`.
    pub ldif: Option<LdifSettings>,
    /// The enqueue spool, always present.
    pub spool: SpoolSource,
    /// The mass-removal guard the store applies to every source's removals
    /// (`sources.max_removal_share`, `removals_always_allowed`, `removal_window_secs`).
    pub guard: GuardPolicy,
}

impl Sources {
    /// The sources `[sources]` configures. Creates the spool directory if missing.
    pub fn from_config(cfg: &SourcesConfig) -> Result<Sources, SourceStartError> {
        let maildir = match &cfg.maildir {
            Some(m) => Some(MaildirSettings {
                root: m.root.clone(),
                layout: Layout::parse(&m.layout).map_err(|e| SourceStartError {
                    source_name: "maildir",
                    text: e.to_string(),
                })?,
                rescan_interval: cfg.rescan_interval,
            }),
            None => None,
        };
        let ldif = cfg.ldif.as_ref().map(|l| LdifSettings {
            path: l.path.clone(),
            attributes: l.attributes.clone(),
            object_class: l.object_class.clone(),
            key: l.key,
            display_name_attributes: l.display_name_attributes.clone(),
        });
        let spool = SpoolSource::new(&cfg.spool_dir).map_err(|e| SourceStartError {
            source_name: "spool",
            text: e.to_string(),
        })?;
        let guard = GuardPolicy {
            max_removal_share: cfg.max_removal_share,
            removals_always_allowed: cfg.removals_always_allowed,
            window: cfg.removal_window,
        };
        Ok(Sources {
            maildir,
            ldif,
            spool,
            guard,
        })
    }

    /// A fresh maildir watcher with the guard, if configured.
    pub fn maildir_source(&self) -> Option<MaildirSource> {
        let settings = self.maildir.clone()?;
        Some(MaildirSource::new(settings).with_guard(self.guard))
    }

    /// A fresh LDIF watcher with the guard, if configured.
    pub fn ldif_source(&self) -> Option<LdifSource> {
        let settings = self.ldif.clone()?;
        Some(LdifSource::new(settings).with_guard(self.guard))
    }

    /// What every source lists now, by source name: maildir, LDIF, spool, in that order
    /// (blocking IO).
    pub fn full_listings(&self) -> Result<Vec<(&'static str, Listing)>, SourceError> {
        let mut listings = Vec::new();
        if let Some(m) = self.maildir_source() {
            listings.push(("maildir", m.full_listing()?));
        }
        if let Some(l) = self.ldif_source() {
            listings.push(("ldif", l.full_listing()?));
        }
        listings.push(("spool", self.spool.full_listing()?));
        Ok(listings)
    }
}
