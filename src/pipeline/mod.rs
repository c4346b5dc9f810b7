//! Owns the provisioning pipeline: the pure planner that decides the next step ([`plan`](mod@plan)), the
//! pure transitions that say what each outcome does to a record ([`transition`]), the backoff
//! schedule ([`backoff`]), the reconciler's knobs ([`settings`]), and the reconciler that claims
//! a record, calls the port and commits the transition ([`reconcile`]). The vocabulary (stages,
//! requests, error classes, event kinds) lives below, in [`crate::lifecycle`].
//!
//! Design after cert-manager's certificate controller: watch events only *enqueue* addresses;
//! the reconcile of one address is repeatable (read record → `plan` → act → commit), and a
//! periodic resync re-plans every record, so the store is the truth and events are hints.

pub mod adapters;
pub mod backoff;
pub mod drive;
/// The claim-owner token and liveness check, kept in [`crate::process`] so the simulator and
/// notify use them without depending on the pipeline.
pub use crate::process as lease;
pub mod metrics;
pub mod plan;
pub mod ports;
pub mod reconcile;
pub mod settings;
pub mod status;
pub mod transition;
pub mod wiring;

pub use crate::lifecycle::EventKind;
pub use plan::{plan, Lane, Policy, RemovalPolicy, Step};
pub use reconcile::{ForeignMessages, Outcome, PollRound, ReconcileError, Reconciler, Settings};
pub use stage::{ErrorClass, Request, Stage};

/// The vocabulary's old path: `Stage`, `Request` and `ErrorClass` live in [`crate::lifecycle`].
pub mod stage {
    pub use crate::lifecycle::stage::*;
}
