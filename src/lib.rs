//! smime-provisioner: gives every mailbox on a mail server a publicly trusted S/MIME certificate.
//!
//! Map of the modules, in data-flow order (`docs/ARCHITECTURE.md` tells the same at length):
//!
//! ```text
//!  source/ ──events──▶ pipeline/ ──▶ crypto/ (key, CSR)      store/ (SQLite: records, events)
//!  maildir, ldif,      plan(record, now) -> step             ▲
//!  spool (enqueue)     reconcile: act + persist ─────────────┘
//!                          │            ▲
//!                          ▼            │ poll / push
//!                      autodns/ ◀──HTTP──▶ AutoDNS (or simulator/)
//!                          │
//!                          ▼
//!                      crypto/ (check cert, PKCS#12) ──▶ delivery/ (mail + password channel)
//! ```
//!
//! - [`mailbox`]: the validated address type; [`display_name`]: the checked person's name
//!   (from LDIF or `enqueue --name`) for greetings and the order's first and last name.
//! - [`config`]: TOML config, raw serde structs validated into typed values.
//! - [`cli`]: one file per verb; [`daemon`]: the `run` verb's boot order, loops, work queue,
//!   HTTP endpoint and shutdown.
//! - [`autodns`]: typed AutoDNS model, JSON and XML codecs, HTTP transport, errors.
//! - [`simulator`]: the bundled AutoDNS stand-in (both transports, jobs, poll, push, a test CA).
//! - [`crypto`]: keys, CSRs, PKCS#12 profiles, passwords, at-rest encryption. The only OpenSSL user.
//! - [`source`]: where mailboxes come from (maildir tree, LDIF export, enqueue spool), the
//!   pure admission of their events and the mass-removal guard.
//! - [`delivery`]: message composition and transports, password channels.
//! - [`notify`]: what the admin's tools are told (hook commands, the signed webhook, the daily
//!   digest mail), run by the daemon from the store's notification outbox.
//! - [`lifecycle`]: the vocabulary below store and pipeline (stages, requests, error classes,
//!   event kinds, removal policy).
//! - [`store`]: SQLite state and migrations; [`pipeline`]: planner, transitions, reconciler,
//!   ports and their adapters, and the wiring every verb and the daemon build from config.
//! - [`secret`], [`clock`], [`xmltree`]: redacting wrapper, injected time, safe XML tree reader;
//!   [`errors`]: an error and its sources told in one line;
//!   [`fsutil`]: the atomic 0600 file writer; [`memory`]: the heap given back after big jobs;
//!   [`process`]: this process's claim-owner token and whether a claim's owner still runs.
//! - `testkit` (feature `testkit`, for tests only): fakes of the pipeline's ports.

pub mod autodns;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod daemon;
pub mod delivery;
pub mod display_name;
pub mod errors;
pub mod fsutil;
pub mod lifecycle;
pub mod mailbox;
pub mod memory;
pub mod notify;
pub mod pipeline;
pub mod process;
pub mod secret;
pub mod simulator;
pub mod source;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod xmltree;
