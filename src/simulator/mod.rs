//! simulator: the bundled AutoDNS stand-in, the way Pebble stands in for Let's Encrypt. It serves
//! the JSON API under `/v1` and the XML gateway at `POST /` (and `/gateway`), runs certificate
//! orders as asynchronous jobs, queues poll messages (and optionally pushes them), issues real
//! X.509 S/MIME certificates from a throwaway CA, injects faults on request, and can persist its
//! state so a restart keeps orders and CA.
//!
//! It is written from `docs/autodns-api.md` (section numbers cited in comments),
//! the seed page and the samples, not from our client: it has its own request parsing
//! (`json`, `xml`) and one transport-neutral `engine`. Where the sources are silent the
//! behaviour is an inference and the comment says so.
//!
//! Layout: `model` (state, dates, persistence), `ca` (test CA and CSR checks), `engine`
//! (tasks, one file per API area: contacts, certificates, jobs, poll, queries), `json` / `xml`
//! (the two wires, split by the same areas), `faults` (latency, 5xx, timeouts, 429), `options`
//! (the `simulator` verb's flags and `run_cli`), `embedded` (one in-process simulator per state
//! directory: the claim a daemon shares with the verbs beside it).
//!
//! Inspection: `GET /_simulator/orders` lists every certificate order received (also
//! [`SimulatorHandle::orders`]), `GET /_simulator/approval-resends` every approval mail sent
//! again (also [`SimulatorHandle::approval_resends`]); they need no credentials and are never
//! subject to faults.
//!
//! | task | XML code | JSON route | success |
//! |---|---|---|---|
//! | hello | – | `GET /hello` | `S000000` |
//! | SSLContactCreate / Update / Delete / Info / List | 400201 / 400202 / 400203 / 400204 / 400205 | `POST /sslcontact`, `PUT`/`DELETE`/`GET /sslcontact/{id}`, `POST /sslcontact/_search` | `S4002xx` |
//! | CertificateCreate | 400101 | `POST /certificate` | `N400101` + job |
//! | CertificateReissue | 400102 | `PUT /certificate/{id}` (also `/_reissue`) | `N400102` + job |
//! | CertificateDelete | 400103 | `DELETE /certificate/{id}` | `N400103` + job |
//! | CertificateInfo | 400104 | `GET /certificate/{id}` | `S400104` |
//! | CertificateList | 400105 | `POST /certificate/_search` | `S400105` |
//! | CertificateRenew | 400106 | `PUT /certificate/{id}/_renew` | `N400106` + job |
//! | Approver Email Resend | – (JSON only) | `PUT /job/{id}/_resendApproverEmail` (job `DEFERRED`) | `S400118`, no data |
//! | CertificatePrepareOrder | 400110 | `POST /certificate/_prepareOrder` (also `prepareOrder`) | `S400110` |
//! | job info | 400114 | `GET /job/{id}` (unfinished), `GET /job/history/{id}` | `S300114` / `S400114` |
//! | job list / job history list | 400115 / 400135 | `POST /job/_search`, `POST /job/history/_search` | `S300115` (JSON), `S400115` / `S400135` (XML) |
//! | CertificateRevoke | 4001031 | `POST`/`DELETE /certificate/{id}/_revoke` | refused for GlobalSign |
//! | PollInfo / PollConfirm | 0905 / 0906 | `GET /poll`, `PUT /poll/{id}` | `S0905` / `S0906` |
//!
//! Inferred behaviour (the sources are silent; each is explained where it is implemented):
//! wrong credentials or context give JSON 401 / XML 200 with `EF00010`; each accepted context
//! is its own namespace (contacts, certificates, jobs and poll queue are per context); the XML chain sits in
//! `<certification_authority>` blocks; a job's poll message names the certificate in
//! `object.data` (JSON) or `object/data/certificate` (XML); jobs name the ctid of the order
//! that started them in `job.events[].ctid` (JSON, the spec's `WorkflowEvent`) or `<job><ctid>`
//! (XML, as poll messages do, §3.3); the job list holds unfinished jobs and the job history list
//! finished ones; pushes carry the poll document;
//! the `EF…` codes the simulator chose itself are listed in `engine::ef`.

mod ca;
pub mod embedded;
pub(crate) mod engine;
mod faults;
mod json;
mod model;
mod options;
mod xml;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, SystemClock};
use crate::secret::Secret;

pub use model::{ApprovalResend, OrderRecord};
pub use options::{run_cli, FaultOptions, PushOptions, SimulatorOptions, PASSWORD_ENV};

use engine::Engine;
use model::{Message, Persist};

/// Everything the simulator can be told. `Debug` redacts the password and push header values.
#[derive(Clone, Debug)]
pub struct SimulatorConfig {
    /// The API user clients must authenticate as.
    pub user: String,
    /// The API password.
    pub password: Secret<String>,
    /// Context numbers accepted in `X-Domainrobot-Context` / `<auth><context>`. Default `[4, 9]`:
    /// every SDK defaults to 4, while InterNetX's SSL examples are owned by context 9 (the SSL
    /// Manager context, `autodns-api.md` §1.2), so a client may legitimately send either.
    pub contexts: Vec<u32>,
    /// How long a job runs (after any DEFERRED phase) before it succeeds or fails.
    pub issuance_delay: Duration,
    /// Where state and CA live; `None` keeps everything in memory.
    pub state_dir: Option<PathBuf>,
    /// Where finished-job messages are also POSTed.
    pub push: Option<PushTarget>,
    /// Fault injection.
    pub faults: Faults,
    /// Seed of the generator behind fault shares, serial numbers and order ids; `None` seeds from
    /// the operating system.
    pub seed: Option<u64>,
    /// Time for timestamps, job deadlines and the rate limiter.
    pub clock: Arc<dyn Clock>,
}

impl SimulatorConfig {
    /// A configuration with the given credentials and defaults otherwise: contexts 4 and 9,
    /// 2 s issuance delay, in-memory state, no push, no faults, system clock.
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> SimulatorConfig {
        SimulatorConfig {
            user: user.into(),
            password: Secret::new(password.into()),
            contexts: vec![4, 9],
            issuance_delay: Duration::from_secs(2),
            state_dir: None,
            push: None,
            faults: Faults::default(),
            seed: None,
            clock: Arc::new(SystemClock),
        }
    }
}

/// Where and how finished-job messages are pushed (`autodns-api.md` §3.5). The body is the same
/// document a PollInfo reply would carry for that message (inferred), POSTed with up to three
/// attempts; the message also stays in the poll queue.
#[derive(Clone, Debug)]
pub struct PushTarget {
    /// The receiver's URL.
    pub url: url::Url,
    /// Body format.
    pub format: PushFormat,
    /// Extra headers (e.g. a shared secret the receiver checks); values are redacted in `Debug`.
    pub headers: Vec<(String, Secret<String>)>,
}

/// Push body format, chosen per account in the AutoDNS UI (`autodns-api.md` §3.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PushFormat {
    /// The JSON PollInfo envelope.
    Json,
    /// The XML `<response>` document.
    Xml,
}

/// Fault injection knobs. Shares are probabilities in `[0, 1]` drawn from the seeded generator.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Added before every API answer.
    pub latency: Duration,
    /// Share of API requests answered `503` with an HTML page, *without* being processed (as a
    /// failing load balancer in front of the API would).
    pub error_5xx_share: f64,
    /// Share of API requests that are processed but never answered: the connection hangs until
    /// the client gives up (or the simulator stops). This is the "outcome unknown" case.
    pub timeout_share: f64,
    /// More than this many requests per second from one IP are answered `429`
    /// (`autodns-api.md` §1.11: the real limit is 3).
    pub rate_limit_rps: Option<f64>,
    /// Share of certificate jobs that end `FAILED` with an `EF400139` message.
    pub fail_job_share: f64,
    /// Mailbox addresses whose certificate jobs always fail.
    pub fail_names: Vec<String>,
    /// How long a new job sits `DEFERRED` (waiting for the mailbox owner's approval) before it
    /// runs for `issuance_delay`.
    pub deferred_for: Duration,
    /// Queue every job message twice (two message ids, same content).
    pub duplicate_poll_messages: bool,
    /// Unrelated messages (domain jobs and `domain_away` notifications) queued ahead of each job
    /// message.
    pub foreign_messages: u32,
    /// The first this many CertificateCreate requests that place an order are carried out (the
    /// order stands, its job runs) but never answered: the connection hangs until the client
    /// gives up. The deterministic form of a lost order answer.
    pub drop_create_answers: u32,
    /// CertificateList leaves out a newly ordered certificate until its job has finished, so an
    /// order of unknown outcome can only be found through the job list. Whether the real API
    /// lists an unissued order is not documented (`autodns-api.md` §7); this is the harder case.
    pub unlisted_until_issued: bool,
    /// CertificatePrepareOrder refuses the field of this name (`EF01001`, the field named in
    /// the message's object) whatever its value: how a real server refusing a field of the
    /// order body looks (`preflight` reports the field and its fix).
    pub refuse_field: Option<String>,
}

/// Why the simulator could not start or keep its state.
#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    /// A file or directory could not be read or written.
    #[error("simulator: {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The state file exists but cannot be used.
    #[error(
        "simulator: the state file {path} cannot be used ({reason}); move it away to start fresh"
    )]
    CorruptState { path: PathBuf, reason: String },
    /// The test CA could not be created, loaded or used.
    #[error("simulator CA: {what}: {reason}")]
    Ca { what: &'static str, reason: String },
    /// The configuration or command line is unusable.
    #[error("simulator configuration: {0}")]
    Config(String),
    /// The listening socket failed.
    #[error("simulator: cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// Started outside a Tokio runtime.
    #[error("simulator: must be started inside a Tokio runtime")]
    NoRuntime,
}

/// State shared by the HTTP handlers, the job driver and the push worker.
pub(crate) struct Shared {
    pub engine: Engine,
    pub limiter: faults::RateLimiter,
    pub cancel: CancellationToken,
    push_tx: Option<mpsc::UnboundedSender<Message>>,
    wake: tokio::sync::Notify,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Finishes due jobs and hands their messages to the push worker.
    pub fn tick(&self) {
        for m in self.engine.advance() {
            if let Some(tx) = &self.push_tx {
                let _ = tx.send(m);
            }
        }
    }

    /// Tells the driver a new job exists.
    pub fn jobs_changed(&self) {
        self.wake.notify_one();
    }
}

/// The embeddable simulator.
#[derive(Debug)]
pub struct Simulator;

impl Simulator {
    /// Starts serving on `listener` (bind port 0 in tests). Loads or creates state and CA under
    /// `cfg.state_dir`. Must be called inside a Tokio runtime.
    pub fn start(
        cfg: SimulatorConfig,
        listener: tokio::net::TcpListener,
    ) -> Result<SimulatorHandle, SimulatorError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(SimulatorError::NoRuntime);
        }
        validate(&cfg)?;
        let addr = listener
            .local_addr()
            .map_err(|source| SimulatorError::Listen {
                addr: "the given listener".into(),
                source,
            })?;
        let persist = cfg.state_dir.as_deref().map(Persist::open).transpose()?;
        let state = match &persist {
            Some(p) => p.load()?,
            None => model::State::default(),
        };
        let ca = ca::Ca::load_or_create(persist.as_ref().map(|p| p.dir()), cfg.clock.now())?;
        let rng = match cfg.seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_os_rng(),
        };
        let cancel = CancellationToken::new();
        let (push_tx, push_rx) = match &cfg.push {
            Some(_) => {
                let (tx, rx) = mpsc::unbounded_channel();
                (Some(tx), Some(rx))
            }
            None => (None, None),
        };
        let push = cfg.push.clone();
        let shared = Arc::new(Shared {
            engine: Engine::new(cfg, state, ca, rng, persist),
            limiter: faults::RateLimiter::default(),
            cancel: cancel.clone(),
            push_tx,
            wake: tokio::sync::Notify::new(),
        });

        let tasks = spawn_tasks(&shared, listener, push.zip(push_rx));
        tracing::info!(%addr, "AutoDNS simulator listening");
        Ok(SimulatorHandle {
            addr,
            shared,
            cancel,
            tasks,
        })
    }
}

/// Refuses settings the simulator cannot honour: shares outside `[0, 1]`, an absurd rate limit,
/// delays over a year, no accepted context.
fn validate(cfg: &SimulatorConfig) -> Result<(), SimulatorError> {
    for (name, share) in [
        ("error_5xx_share", cfg.faults.error_5xx_share),
        ("timeout_share", cfg.faults.timeout_share),
        ("fail_job_share", cfg.faults.fail_job_share),
    ] {
        if !(0.0..=1.0).contains(&share) {
            return Err(SimulatorError::Config(format!(
                "{name} must be between 0 and 1, not {share}"
            )));
        }
    }
    if let Some(r) = cfg.faults.rate_limit_rps {
        if !(r.is_finite() && (0.001..=1_000_000.0).contains(&r)) {
            return Err(SimulatorError::Config(format!(
                "rate_limit_rps must be between 0.001 and 1000000, not {r}"
            )));
        }
    }
    // Deadlines are `now + duration`; a year is more than any test or trial needs and keeps
    // the date arithmetic far from overflow.
    let year = Duration::from_secs(365 * 24 * 3600);
    for (name, d) in [
        ("issuance_delay", cfg.issuance_delay),
        ("deferred_for", cfg.faults.deferred_for),
        ("latency", cfg.faults.latency),
    ] {
        if d > year {
            return Err(SimulatorError::Config(format!(
                "{name} must be at most a year"
            )));
        }
    }
    if cfg.contexts.is_empty() {
        return Err(SimulatorError::Config(
            "at least one context must be accepted".into(),
        ));
    }
    Ok(())
}

/// Spawns the server (which flushes the state when it stops), the job driver, the saver and,
/// with a push target, the push worker.
fn spawn_tasks(
    shared: &Arc<Shared>,
    listener: tokio::net::TcpListener,
    push: Option<(PushTarget, mpsc::UnboundedReceiver<Message>)>,
) -> Vec<JoinHandle<()>> {
    let app = router(shared.clone());
    let token = shared.cancel.clone();
    let last = shared.clone();
    let server = tokio::spawn(async move {
        let serve = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { token.cancelled().await });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "simulator server stopped");
        }
        flush(&last).await;
    });
    let driver = tokio::spawn(drive_jobs(shared.clone()));
    let saver = tokio::spawn(save_state(shared.clone()));
    let mut tasks = vec![server, driver, saver];
    if let Some((target, rx)) = push {
        tasks.push(tokio::spawn(push_worker(shared.clone(), target, rx)));
    }
    tasks
}

fn router(shared: Arc<Shared>) -> Router {
    let api = Router::new()
        .nest("/v1", json::routes())
        .route("/", post(xml::gateway))
        .route("/gateway", post(xml::gateway))
        .route("/gateway/", post(xml::gateway))
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            faults::layer,
        ));
    api.route("/_simulator/orders", get(orders_endpoint))
        .route("/_simulator/approval-resends", get(resends_endpoint))
        .with_state(shared)
}

async fn orders_endpoint(
    axum::extract::State(sh): axum::extract::State<Arc<Shared>>,
) -> axum::Json<Vec<OrderRecord>> {
    sh.tick();
    axum::Json(sh.engine.orders())
}

async fn resends_endpoint(
    axum::extract::State(sh): axum::extract::State<Arc<Shared>>,
) -> axum::Json<Vec<ApprovalResend>> {
    axum::Json(sh.engine.approval_resends())
}

/// Finishes jobs when they are due: sleeps until the next deadline (at most 100 ms, so a
/// settable clock moved by a test is noticed soon) or until a new job arrives.
async fn drive_jobs(sh: Arc<Shared>) {
    loop {
        let now = sh.engine.now();
        let wait = sh
            .engine
            .next_change()
            .map(|t| {
                (t - now).clamp(
                    time::Duration::milliseconds(1),
                    time::Duration::milliseconds(100),
                )
            })
            .unwrap_or(time::Duration::milliseconds(100));
        let wait = Duration::from_millis(u64::try_from(wait.whole_milliseconds()).unwrap_or(100));
        tokio::select! {
            _ = sh.cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
            _ = sh.wake.notified() => {}
        }
        sh.tick();
    }
}

/// Writes the state file whenever it changed, one write at a time. The final write happens
/// when the server has answered its last request (see [`Simulator::start`]) and again in
/// [`SimulatorHandle::shutdown`]; a crash can lose the changes of the write in progress.
async fn save_state(sh: Arc<Shared>) {
    loop {
        tokio::select! {
            _ = sh.cancel.cancelled() => return,
            _ = sh.engine.persist_wake.notified() => {}
        }
        flush(&sh).await;
    }
}

/// Runs [`Engine::flush`] off the async workers.
async fn flush(sh: &Arc<Shared>) {
    let worker = sh.clone();
    let _ = tokio::task::spawn_blocking(move || worker.engine.flush()).await;
}

/// POSTs each finished-job message to the push target, up to three attempts (1 s, 2 s apart).
async fn push_worker(
    sh: Arc<Shared>,
    target: PushTarget,
    mut rx: mpsc::UnboundedReceiver<Message>,
) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "simulator push disabled: cannot build an HTTP client");
            return;
        }
    };
    loop {
        let m = tokio::select! {
            _ = sh.cancel.cancelled() => return,
            m = rx.recv() => match m { Some(m) => m, None => return },
        };
        let reply = sh.engine.push_reply(&m);
        let stid = sh.engine.bare_stid();
        let (body, ctype) = match target.format {
            PushFormat::Json => (
                json::render_reply(&reply, &stid, None),
                "application/json; charset=UTF-8",
            ),
            PushFormat::Xml => (
                xml::render_reply(&reply, &stid, None),
                "application/xml; charset=UTF-8",
            ),
        };
        for attempt in 0..3u64 {
            if attempt > 0 {
                tokio::select! {
                    _ = sh.cancel.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(attempt)) => {}
                }
            }
            let mut req = client
                .post(target.url.clone())
                .header("content-type", ctype)
                .body(body.clone());
            for (k, v) in &target.headers {
                req = req.header(k.as_str(), v.expose().as_str());
            }
            match req.send().await {
                Ok(r) if r.status().is_success() => break,
                Ok(r) => {
                    tracing::warn!(status = %r.status(), message = m.id, "simulator push refused")
                }
                Err(e) => tracing::warn!(error = %e, message = m.id, "simulator push failed"),
            }
        }
    }
}

/// A running simulator. Dropping it stops the server; [`SimulatorHandle::shutdown`] also waits.
pub struct SimulatorHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for SimulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatorHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl SimulatorHandle {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL of the JSON API: `http://ADDR/v1`.
    pub fn json_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// URL of the XML gateway: `http://ADDR/`.
    pub fn xml_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The CA chain in PEM: intermediate, then root.
    pub fn ca_chain_pem(&self) -> Vec<String> {
        self.shared.engine.chain_pem()
    }

    /// Every approval mail sent again (same data as `GET /_simulator/approval-resends`).
    pub fn approval_resends(&self) -> Vec<ApprovalResend> {
        self.shared.engine.approval_resends()
    }

    /// Requests refused by the rate limit (HTTP 429) since start.
    pub fn rate_limited(&self) -> u64 {
        self.shared.limiter.refused()
    }

    /// Every certificate order received (same data as `GET /_simulator/orders`).
    pub fn orders(&self) -> Vec<OrderRecord> {
        self.shared.tick();
        self.shared.engine.orders()
    }

    /// Stops serving and waits for the server, job driver and push worker to end.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        flush(&self.shared).await;
    }
}

impl Drop for SimulatorHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
