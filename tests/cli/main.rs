//! Integration tests of the command line and its configuration: the config file validated with
//! every problem reported at once, the shipped example config, upper bounds on every duration,
//! setup errors (paths, modes) and their exit codes, the `enqueue` verb, `preflight`, the
//! manual pages and shell completions, and the packaged config, unit and scripts agreeing on
//! one set of paths.

mod bounds;
mod config;
mod enqueue;
mod http_limits;
mod manpages;
mod packaging;
mod preflight;
mod setup_errors;
