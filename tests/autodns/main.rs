//! Integration tests of the AutoDNS client: the JSON and XML codecs against recorded fixtures,
//! the HTTP transport against scripted servers (retries, pacing, paging, errors), and the client
//! against the bundled simulator in both wire formats.

mod against_simulator;
mod codecs;
mod transport;
