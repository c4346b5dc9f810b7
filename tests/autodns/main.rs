//! Integration tests of the AutoDNS client: the JSON and XML codecs against recorded fixtures,
//! the HTTP transport against scripted servers (retries, pacing, paging, errors), the client
//! against the bundled simulator in both wire formats, and the JSON wire against InterNetX's
//! OpenAPI description, and the class of each XML error.

mod against_simulator;
mod codecs;
mod spec;
mod transport;
mod xml_errors;
