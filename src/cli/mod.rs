//! Owns the command line: the verbs, global flags, logging set-up, and the mapping from a verb's
//! outcome to the process exit code (0 success, 1 a mailbox failed, 2 usage, config or setup
//! error: something an admin must fix before a retry can help).
//!
//! One file per verb; each exports a clap `Args` struct and an `async fn run(args, &Context)`.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Kept in [`crate::errors`] so modules below the CLI use it too.
pub use crate::errors::error_chain;

pub mod check_config;
pub mod completions;
pub mod confirm_removals;
pub mod enqueue;
pub mod manpages;
pub mod preflight;
pub mod provision;
pub mod redeliver;
pub mod renew;
pub mod reprovision;
pub mod resend_approval;
pub mod revoke;
pub mod run;
pub mod show;
pub mod simulator;
pub mod startup;
pub mod status;

/// Where the config file is read from when `--config` is not given.
pub const DEFAULT_CONFIG: &str = "/etc/smime-provisioner/config.toml";

/// Gives every mailbox on this mail server a publicly trusted S/MIME certificate.
#[derive(Debug, Parser)]
#[command(name = "smime-provisioner", version, about, long_about = None)]
pub struct Cli {
    /// The TOML config file.
    #[arg(long, global = true, env = "SMIME_PROVISIONER_CONFIG", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,

    /// Log line format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,

    /// Log filter, in `RUST_LOG` syntax (e.g. `info`, `smime_provisioner=debug`).
    #[arg(
        long,
        global = true,
        env = "SMIME_PROVISIONER_LOG",
        default_value = "info"
    )]
    pub log: String,

    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written to standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    Human,
    /// One JSON object per event, for log shippers.
    Json,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: sources, pipeline, delivery, renewals and the HTTP endpoint.
    Run(run::Args),
    /// Record a provisioning request for the daemon and return at once (hook entry point).
    Enqueue(enqueue::Args),
    /// Provision one address now, in the foreground; no-op if already provisioned.
    Provision(provision::Args),
    /// New key and new certificate for an address that already has one.
    Reprovision(reprovision::Args),
    /// Send the existing certificate again with a fresh PKCS#12 password; no purchase.
    ///
    /// Refused once the certificate has expired: use `renew` for a new one.
    Redeliver(redeliver::Args),
    /// Renew an address's certificate now, with a fresh key.
    Renew(renew::Args),
    /// Revoke an address's certificate.
    Revoke(revoke::Args),
    /// Ask AutoDNS to send the approval mail of an address's pending order again; orders
    /// nothing (JSON API only).
    ResendApproval(resend_approval::Args),
    /// Show mailboxes: state, expiry, last error.
    Status(status::Args),
    /// Print the public certificate of a mailbox (PEM, DER or with its chain); never the key.
    Show(show::Args),
    /// Release the removals the mass-removal guard holds back (see `status`).
    ConfirmRemovals(confirm_removals::Args),
    /// Validate the config file and report every problem at once.
    CheckConfig(check_config::Args),
    /// Prove the setup against the configured AutoDNS endpoint before the first order: login,
    /// contact, poll queue, prepareOrder per domain, budget, sources, mail. Never orders.
    Preflight(preflight::Args),
    /// Run the bundled AutoDNS simulator (trials without an account, and tests).
    Simulator(Box<simulator::Args>),
    /// Print the shell completion script for bash, zsh or fish.
    Completions(completions::Args),
    /// Write the manual pages (section 1) into a directory.
    Manpages(manpages::Args),
}

/// What every verb gets besides its own arguments.
#[derive(Debug, Clone)]
pub struct Context {
    /// The config file path (`--config`).
    pub config_path: PathBuf,
}

/// Why a verb did not succeed; decides the exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Wrong arguments or a config that does not validate: exit 2.
    #[error("{0}")]
    Usage(String),
    /// The config file has problems: exit 2. Each line names its key.
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    /// The installation does not match the config (a missing or unwritable directory, an
    /// unsafe mode): exit 2, like a config error — retrying cannot help until an admin fixes it.
    #[error("{0}")]
    Setup(String),
    /// A mailbox (or the run as a whole) failed: exit 1.
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) | CliError::Config(_) | CliError::Setup(_) => 2,
            CliError::Failed(_) => 1,
        }
    }

    /// A failure with the whole error chain on one line (`a: b: c`).
    pub fn failed(err: &(dyn std::error::Error + 'static)) -> Self {
        CliError::Failed(error_chain(err))
    }
}

/// Whether human log lines get ANSI colours: only on a terminal, and never with `NO_COLOR` set
/// to anything but the empty string (no-color.org). Files, pipes and journald get plain text.
pub fn use_colour(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Sets up `tracing` on standard error.
fn init_logging(format: LogFormat, filter: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let colour = use_colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.with_ansi(colour).try_init(),
        LogFormat::Json => builder.with_ansi(false).json().try_init(),
    };
}

/// Reports the error a verb ends with: one plain `error: ...` line for people, or for
/// `--log-format json` a last JSON event whose `error` and `exit_code` fields carry it, so a
/// log shipper keeps the reason as data and not only inside the message text.
fn report_error(format: LogFormat, e: &CliError) {
    match format {
        // A filter that hides errors (`--log off`) must not hide why the command failed.
        LogFormat::Json if tracing::enabled!(tracing::Level::ERROR) => tracing::error!(
            error = %e,
            exit_code = e.exit_code(),
            "the command failed"
        ),
        LogFormat::Human | LogFormat::Json => eprintln!("error: {e}"),
    }
}

/// Parses the command line, runs the verb, returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    init_logging(cli.log_format, &cli.log);
    if cli.command.only_reports() {
        default_sigpipe();
    }
    crate::memory::limit_arenas();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    let ctx = Context {
        config_path: cli.config,
    };
    let result = runtime.block_on(dispatch(cli.command, &ctx));
    match result {
        Ok(()) => 0,
        Err(e) => {
            report_error(cli.log_format, &e);
            e.exit_code()
        }
    }
}

impl Command {
    /// A verb that only prints what it reads (changes nothing): when its reader goes away
    /// (`status --json | grep -q …`), it may end there, as `ls | head` does.
    fn only_reports(&self) -> bool {
        matches!(
            self,
            Command::Status(_)
                | Command::Show(_)
                | Command::Completions(_)
                | Command::CheckConfig(_)
                | Command::Preflight(_)
        )
    }
}

/// Restores the default action of SIGPIPE, which Rust's runtime ignores: a write to a closed
/// pipe then ends the process quietly instead of panicking in `print!`. Only for the verbs that
/// merely report; the daemon and the verbs that order or deliver keep getting `EPIPE` as an error.
#[allow(unsafe_code)]
fn default_sigpipe() {
    // SAFETY: signal(2) with SIG_DFL installs no handler code; it is called before the runtime
    // starts any thread.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Runs one verb.
pub async fn dispatch(command: Command, ctx: &Context) -> Result<(), CliError> {
    match command {
        Command::Run(a) => run::run(a, ctx).await,
        Command::Enqueue(a) => enqueue::run(a, ctx).await,
        Command::Provision(a) => provision::run(a, ctx).await,
        Command::Reprovision(a) => reprovision::run(a, ctx).await,
        Command::Redeliver(a) => redeliver::run(a, ctx).await,
        Command::Renew(a) => renew::run(a, ctx).await,
        Command::Revoke(a) => revoke::run(a, ctx).await,
        Command::ResendApproval(a) => resend_approval::run(a, ctx).await,
        Command::Status(a) => status::run(a, ctx).await,
        Command::Show(a) => show::run(a, ctx).await,
        Command::ConfirmRemovals(a) => confirm_removals::run(a, ctx).await,
        Command::CheckConfig(a) => check_config::run(a, ctx).await,
        Command::Preflight(a) => preflight::run(a, ctx).await,
        Command::Simulator(a) => simulator::run(*a, ctx).await,
        Command::Completions(a) => completions::run(a, ctx).await,
        Command::Manpages(a) => manpages::run(a, ctx).await,
    }
}
