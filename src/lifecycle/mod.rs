//! Owns the vocabulary of a mailbox's life, below both [`crate::store`] and
//! [`crate::pipeline`] (each imports it; it imports neither): the stages a mailbox moves
//! through, the operator requests, the classes of failure ([`stage`]), the kinds of its audit
//! events ([`event`]), the events hooks and the webhook are told about ([`notification`]) and
//! the removal policy ([`removal`]).
//!
//! Every name is a stable kebab-case string (STYLE.md habit 8): the same word appears in the
//! store, in log lines, in `status` and in metrics.

pub mod event;
pub mod notification;
pub mod removal;
pub mod stage;

pub use event::EventKind;
pub use notification::{HookEvent, Sink};
pub use removal::RemovalPolicy;
pub use stage::{ErrorClass, Request, Stage, UnknownName};
