//! The simulator's business logic, shared by both transports. This file owns the engine's state
//! (one `Mutex<State>`, the seeded generator, the CA and the persistence flag) and its locking;
//! each API area is a sibling with the same shape (an `impl Engine` block with the area's tasks,
//! then the area's pure helpers and its search columns):
//! [`contacts`], [`certificates`], [`jobs`] (job state, job lists, finishing a job), [`poll`]
//! (queue, confirm, push) and [`queries`] (the search filters every list uses). [`reply`] holds
//! the answer vocabulary and the `EF…` codes, [`input`] the transport-neutral requests.
//!
//! The JSON and XML layers parse requests into the neutral inputs and render [`Reply`] /
//! [`ApiError`] in their own shapes, so a behaviour (e.g. FIFO poll semantics) is written once
//! and is the same on both wires.
//!
//! Codes: success and error status codes are the task code with `S`/`N`/`E` in front
//! (`autodns-api.md` §1.8). Detail codes taken from InterNetX sources: `EF00022` (key not
//! allowed), `EF01000` (value missing), `EF03014` (contact not found), `EF300101` (job no longer
//! active), `EF400139` (the CA rejected the order). Every other `EF…` code here is the
//! simulator's own choice, listed in [`ef`], because no source shows the real one.

mod certificates;
mod contacts;
mod input;
mod jobs;
mod poll;
mod queries;
mod reply;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};

use rand::rngs::StdRng;
use rand::Rng;
use time::OffsetDateTime;

use super::ca::Ca;
use super::model::{Certificate, OrderRecord, Owner, Persist, State};
use super::SimulatorConfig;
use crate::mailbox::Address;

pub(crate) use input::{CertInput, ContactInput, Filter, Query};
pub use reply::ef;
pub(crate) use reply::{
    ApiError, CertData, CertView, Ctx, Item, JobView, ObjKind, ObjRef, Reply, Transport,
};

// ---- the engine --------------------------------------------------------------------------------

/// State plus everything needed to act on it.
pub(crate) struct Engine {
    pub cfg: SimulatorConfig,
    state: Mutex<State>,
    ca: Ca,
    rng: Mutex<StdRng>,
    persist: Option<Persist>,
    /// Set when the state changed since the last save; the saver task clears it.
    dirty: AtomicBool,
    /// CertificateCreate answers dropped so far (fault injection).
    dropped_creates: AtomicU32,
    /// Wakes the saver task.
    pub persist_wake: tokio::sync::Notify,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Normalised form of a mailbox for comparisons; falls back to ASCII lower-case of the domain.
fn norm_addr(s: &str) -> String {
    match Address::parse(s) {
        Ok(a) => a.as_str().to_string(),
        Err(_) => s.trim().to_string(),
    }
}

impl Engine {
    pub fn new(
        cfg: SimulatorConfig,
        state: State,
        ca: Ca,
        rng: StdRng,
        persist: Option<Persist>,
    ) -> Engine {
        Engine {
            cfg,
            state: Mutex::new(state),
            ca,
            rng: Mutex::new(rng),
            persist,
            dirty: AtomicBool::new(false),
            dropped_creates: AtomicU32::new(0),
            persist_wake: tokio::sync::Notify::new(),
        }
    }

    pub fn now(&self) -> OffsetDateTime {
        self.cfg.clock.now()
    }

    pub fn chain_pem(&self) -> Vec<String> {
        self.ca.chain_pem()
    }

    /// A random draw in `[0, 1)` from the seeded generator (fault shares).
    pub fn draw(&self) -> f64 {
        lock(&self.rng).random::<f64>()
    }

    /// Checks credentials in constant time per field.
    pub fn authenticate(&self, user: &str, password: &str, context: Option<u32>) -> bool {
        let eq = |a: &[u8], b: &[u8]| a.len() == b.len() && openssl::memcmp::eq(a, b);
        let user_ok = eq(user.as_bytes(), self.cfg.user.as_bytes());
        let pass_ok = eq(password.as_bytes(), self.cfg.password.expose().as_bytes());
        let ctx_ok = context.is_some_and(|c| self.cfg.contexts.contains(&c));
        user_ok & pass_ok & ctx_ok
    }

    /// Starts a request: a fresh stid.
    pub fn begin(&self, transport: Transport, context: u32, ctid: Option<String>) -> Ctx {
        let now = self.now();
        let stid = lock(&self.state).stid(now);
        Ctx {
            transport,
            context,
            ctid,
            stid,
        }
    }

    /// A stid for an answer given before authentication (errors).
    pub fn bare_stid(&self) -> String {
        let now = self.now();
        lock(&self.state).stid(now)
    }

    fn owner(&self, ctx: &Ctx) -> Owner {
        Owner {
            user: self.cfg.user.clone(),
            context: ctx.context,
        }
    }

    /// Marks the state as changed. Saving happens behind the request, in the saver task
    /// ([`Engine::flush`]): serialising the whole state on every request would make each answer
    /// wait for it (measured: ~0.2 s per order with 300 certificates in a debug build).
    fn save(&self, _st: &State) {
        if self.persist.is_some() {
            self.dirty.store(true, Ordering::SeqCst);
            self.persist_wake.notify_one();
        }
    }

    /// Writes the state if it changed since the last write (blocking; run off the async
    /// workers). Changes made while writing set the flag again and are written next round.
    pub fn flush(&self) {
        let Some(p) = &self.persist else { return };
        if !self.dirty.swap(false, Ordering::SeqCst) {
            return;
        }
        let snapshot = lock(&self.state).clone();
        if let Err(e) = p.save(&snapshot) {
            self.dirty.store(true, Ordering::SeqCst);
            tracing::error!(error = %e, "simulator: cannot persist state");
        }
    }

    /// Every order received so far.
    pub fn orders(&self) -> Vec<OrderRecord> {
        lock(&self.state).orders.clone()
    }

    /// When the next unfinished job changes state.
    pub fn next_change(&self) -> Option<OffsetDateTime> {
        lock(&self.state).next_change()
    }

    fn cert_view(&self, st: &State, cert: &Certificate, keys: Option<Vec<String>>) -> CertView {
        // Intermediates come back only once the CA issued (`autodns-api.md` §4.5).
        let chain = match (cert.server.is_some(), self.ca.chain_pem().as_slice()) {
            (true, [inter, root]) => vec![("INTERMEDIATE", inter.clone()), ("ROOT", root.clone())],
            _ => Vec::new(),
        };
        CertView {
            cert: cert.clone(),
            admin: st.contacts.get(&cert.admin_id).cloned(),
            technical: cert.technical_id.and_then(|t| st.contacts.get(&t).cloned()),
            chain,
            keys,
        }
    }

    // ---- hello ---------------------------------------------------------------------------------

    /// `GET /hello`: checks connection and credentials only (`autodns-api.md` §1.1).
    pub fn hello(&self) -> Reply {
        Reply::ok(
            "S000000",
            "Hello. The connection and the credentials are fine.",
        )
    }
}

/// Whether an object belongs to the context the request came in with. Objects are owned by
/// user and context (`owner {user, context}`, `autodns-api.md` §2.14), and a context is its own
/// namespace, so a client that mixes contexts cannot see its own orders (inferred: no source
/// shows a cross-context lookup).
fn mine(owner: &Owner, ctx: &Ctx) -> bool {
    owner.context == ctx.context
}
