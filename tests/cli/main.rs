//! Integration tests of the command line and its configuration: the config file validated with
//! every problem reported at once, the shipped example config, upper bounds on every duration,
//! setup errors (paths, modes) and their exit codes, the `enqueue` verb, `preflight`, and the
//! manual pages and shell completions.

mod bounds;
mod config;
mod enqueue;
mod http_limits;
mod manpages;
mod preflight;
mod setup_errors;
