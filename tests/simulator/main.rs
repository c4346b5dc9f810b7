//! Integration tests of the bundled AutoDNS simulator, spoken to with hand-written JSON and XML
//! requests (not the product's client): both wire formats, issuance and its CA, injected faults,
//! persistence across restarts, its command line, and a round trip with the product's client.

mod cli;
mod client_roundtrip;
mod faults;
mod issuance;
mod json;
mod list_columns;
mod persistence;
mod xml;
mod xml_queries;
