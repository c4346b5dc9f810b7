//! Integration tests of the command line and its configuration: the config file validated with
//! every problem reported at once, the shipped example config, upper bounds on every duration,
//! setup errors (paths, modes) and their exit codes, the `enqueue` verb, `preflight`, secrets
//! as systemd credentials, log colours and JSON errors, a verb run beside the daemon, the
//! manual pages and shell completions, and the packaged config, unit and scripts agreeing on
//! one set of paths.

mod beside_daemon;
mod bounds;
mod config;
mod credentials;
mod enqueue;
mod http_limits;
mod logging;
mod manpages;
mod notify_config;
mod packaging;
mod preflight;
mod setup_errors;
mod shipped;
