//! Integration tests of the command line and its configuration: the config file validated with
//! every problem reported at once, the shipped example config, and the `enqueue` verb.

mod config;
mod enqueue;
mod http_limits;
