//! Test support shared by every integration test binary (`tests/<area>/main.rs`), as a crate
//! the binaries take as the dev-dependency `support`:
//!
//! - [`ca`]: the one test CA (root → intermediate → S/MIME or TLS leaf), test keys and CSRs.
//! - [`tools`]: the one runner of external tools (`openssl`, NSS, `gpgsm`, Python).
//! - [`mail`]: real PKCS#12 bundles, Python's `email` parser as an outside judge of messages,
//!   and a real SMTP server (aiosmtpd).
//! - [`simulator`]: the bundled simulator on port 0 and hand-written JSON and XML callers.
//! - [`live`]: the whole pipeline over the real modules against the simulator.
//! - [`proxy`]: a recording HTTP proxy between the pipeline and the simulator.
//! - [`rig`]: a reconciler over the port fakes of `smime_provisioner::testkit`.

pub mod ca;
pub mod live;
pub mod mail;
pub mod proxy;
pub mod rig;
pub mod simulator;
pub mod tools;
