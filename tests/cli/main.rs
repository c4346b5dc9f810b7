//! Integration tests of the command line and its configuration: the config file validated with
//! every problem reported at once, the shipped example config, upper bounds on every duration,
//! setup errors (paths, modes) and their exit codes, the `enqueue` verb, and `preflight`; secrets
//! as systemd credentials, log colours and JSON errors, and a verb run beside the daemon.

mod beside_daemon;
mod bounds;
mod config;
mod credentials;
mod enqueue;
mod http_limits;
mod logging;
mod notify_config;
mod preflight;
mod setup_errors;
mod shipped;
