//! The client-side request pacer: keeps every clone of a client under AutoDNS's documented limit
//! of three requests per second per source IP (reference §1.11) while using that budget fully,
//! and lets the requests that matter most go first.
//!
//! Requests are spaced by the time the previous one was *sent*: the ideal interval `1/rate`
//! plus a 5 % margin, so that send-time jitter between the pacer and the server's clock cannot
//! make the server count four requests in one second. The state is kept as slots (one today;
//! the free time of each), so a burst model can come back without changing the callers.
//! While requests queue, the sends keep to the slot times: a waiter that wakes a little late
//! (tokio's 1 ms timer, a busy runtime) is booked from its slot's time, not its own, so the
//! lateness does not add up over a backlog; and a send held up after its grant (the state
//! file's write, a thread the machine did not run) counts its window from the send, so no two
//! sends reach the server closer than the pacing allows (issue #16 (b): both cost throughput,
//! the second four sends in one second and a 429).
//!
//! Priorities ([`Priority`]): urgent requests (orders and the lookups that protect exactly-once)
//! are served before routine ones (polls, job checks, info fetches), arrival order within each.
//! A routine request leaves one slot free for an urgent one that may come, unless routine
//! requests queue up (then throughput wins); after [`MAX_STREAK`] urgent requests in a row a
//! waiting routine one goes next, so polls are never starved.
//!
//! Restarts: with a state file (the daemon's and the verbs' clients have one in the state
//! directory) the next free time is written before each send, and a new process starts from
//! it, so the first second after a restart never adds to what the old process sent. Without a
//! file the pacer starts with every slot free.
//!
//! `Retry-After` (RFC 9110 §10.2.3) on a 429 or 503 holds every send until it has passed
//! ([`Pacer::hold`]).

use std::collections::VecDeque;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;
use tokio::time::Instant;

/// Extra length of the window, as a fraction of it: room for the server's clock granularity.
/// Network jitter needs none (see the module header).
const MARGIN: f64 = 0.05;

/// How late, as a fraction of the window, a waiter may take its slot and still be booked from
/// the slot's time rather than its own (see `State::grant`). A hundredth of the window (3.5 ms
/// at 3/s) covers tokio's 1 ms timer resolution and most wake-up delays, and keeps 80 % of
/// [`MARGIN`]: four sends at 3/s still span at least 1.0465 s.
const CATCH_UP: f64 = 0.01;

/// Most slots (requests per window). 64 keeps fast test rates cheap; the window shrinks with it.
pub const MAX_SLOTS: usize = 64;

/// Urgent requests in a row after which a waiting routine request goes first.
pub const MAX_STREAK: u32 = 8;

/// Longest `Retry-After` honoured; a longer one is cut to this (a server asking for an hour is
/// more likely misconfigured than serious, and the daemon has other work to pace).
pub const MAX_HOLD: Duration = Duration::from_secs(300);

/// How much a request matters to the pacer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Orders and the lookups that protect exactly-once: ahead of everything routine.
    Urgent,
    /// Polls, job checks, info fetches: in the budget urgent requests leave.
    Routine,
}

/// Paces requests in `k` slots per window, shared by every clone of a client.
#[derive(Debug)]
pub struct Pacer {
    window: Duration,
    slots: usize,
    state: Mutex<State>,
    changed: Notify,
    file: Option<PathBuf>,
}

#[derive(Debug)]
struct State {
    /// Per slot: `None` while its request is in flight, else the time it is free from.
    slots: Vec<Option<Instant>>,
    hold_until: Option<Instant>,
    urgent: VecDeque<u64>,
    routine: VecDeque<u64>,
    next_ticket: u64,
    /// Urgent grants in a row while a routine request waited.
    streak: u32,
}

/// What a waiter may do now.
#[derive(Debug, PartialEq, Eq)]
enum Turn {
    Go(usize),
    /// Wait until this time (or until something changes, when `None`).
    Wait(Option<Instant>),
}

impl State {
    fn queue(&mut self, p: Priority) -> &mut VecDeque<u64> {
        match p {
            Priority::Urgent => &mut self.urgent,
            Priority::Routine => &mut self.routine,
        }
    }

    /// The priority whose head is served next.
    fn next_class(&self) -> Option<Priority> {
        let routine_turn =
            !self.routine.is_empty() && (self.urgent.is_empty() || self.streak >= MAX_STREAK);
        if routine_turn {
            Some(Priority::Routine)
        } else if !self.urgent.is_empty() {
            Some(Priority::Urgent)
        } else {
            None
        }
    }

    fn turn(&self, ticket: u64, p: Priority, now: Instant) -> Turn {
        if let Some(h) = self.hold_until.filter(|h| *h > now) {
            return Turn::Wait(Some(h));
        }
        let head = match self.next_class() {
            Some(Priority::Urgent) => self.urgent.front(),
            Some(Priority::Routine) => self.routine.front(),
            None => None,
        };
        if head != Some(&ticket) {
            return Turn::Wait(None);
        }
        let k = self.slots.len();
        // One slot stays free for an urgent request unless routine ones queue up.
        let need = if p == Priority::Routine && k >= 2 && self.routine.len() < k {
            2
        } else {
            1
        };
        let free: Vec<usize> = (0..k)
            .filter(|i| self.slots[*i].is_some_and(|t| t <= now))
            .collect();
        if free.len() >= need {
            return Turn::Go(free[0]);
        }
        let mut later: Vec<Instant> = self
            .slots
            .iter()
            .flatten()
            .copied()
            .filter(|t| *t > now)
            .collect();
        later.sort();
        Turn::Wait(later.get(need - free.len() - 1).copied())
    }

    /// Gives `slot` to `ticket` at `now`: the slot is free again one `window` after the time it
    /// was free from, or after `now` when that is more than [`CATCH_UP`] of the window earlier.
    /// So a waiter that wakes a little late (the timer's resolution, a busy runtime) does not
    /// push every later slot back, and any `k + 1` sends still span `k` windows less at most
    /// one catch-up.
    fn grant(&mut self, ticket: u64, p: Priority, slot: usize, now: Instant, window: Duration) {
        self.queue(p).retain(|t| *t != ticket);
        let catch_up = window.mul_f64(CATCH_UP);
        let from = match self.slots[slot] {
            Some(free) if free + catch_up >= now => free.min(now),
            _ => now,
        };
        self.slots[slot] = Some(from + window);
        self.streak = match p {
            Priority::Urgent if !self.routine.is_empty() => self.streak.saturating_add(1),
            _ => 0,
        };
    }
}

impl State {
    /// The request granted `slot` goes out at `now`: if something held it up since its grant
    /// (the pacing file's write, a thread the machine did not run) by more than the catch-up,
    /// the window counts from the send, so the server never sees two sends closer than the
    /// grants were.
    fn sent(&mut self, slot: usize, now: Instant, window: Duration) {
        let from_send = now + window - window.mul_f64(CATCH_UP);
        if let Some(t) = self.slots[slot].as_mut() {
            *t = (*t).max(from_send);
        }
    }
}

/// A taken slot: drop it (or call [`Permit::answered`]) once the answer has arrived.
#[derive(Debug)]
pub struct Permit<'a> {
    pacer: &'a Pacer,
    slot: usize,
}

impl Permit<'_> {
    /// The answer has arrived (the slot was booked one window from the send).
    pub fn answered(self) {}
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.pacer.release(self.slot);
    }
}

/// Removes a waiter's ticket if its `acquire` is dropped before its turn.
struct Waiting<'a> {
    pacer: &'a Pacer,
    ticket: u64,
    priority: Priority,
    done: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.pacer
                .lock()
                .queue(self.priority)
                .retain(|t| *t != self.ticket);
            self.pacer.changed.notify_waiters();
        }
    }
}

impl Pacer {
    /// A pacer for `requests_per_second` (non-positive or non-finite rates fall back to the
    /// documented 3/s), starting with every slot free.
    pub fn new(requests_per_second: f64) -> Self {
        let rps = if requests_per_second.is_finite() && requests_per_second > 0.0 {
            requests_per_second
        } else {
            3.0
        };
        // One slot: requests spaced by `1/rate` plus the margin, as evenly as the server's
        // window counts them (bursts of `rate` requests let the poll queue race the orders'
        // answers; `tests/pipeline/admin_notice.rs`).
        let slots = 1;
        let secs = slots as f64 / rps * (1.0 + MARGIN);
        let now = Instant::now();
        Pacer {
            window: Duration::from_secs_f64(secs.min(3600.0)),
            slots,
            state: Mutex::new(State {
                slots: vec![Some(now); slots],
                hold_until: None,
                urgent: VecDeque::new(),
                routine: VecDeque::new(),
                next_ticket: 0,
                streak: 0,
            }),
            changed: Notify::new(),
            file: None,
        }
    }

    /// A pacer that keeps its slots' times in `file` and starts from what an earlier process
    /// wrote there (see the module header). A missing or unreadable file starts every slot free
    /// only when it does not exist; a damaged one starts with every slot busy for one window.
    pub fn with_state_file(requests_per_second: f64, file: PathBuf) -> Self {
        let mut p = Pacer::new(requests_per_second);
        let now = Instant::now();
        let loaded = load(&file, p.slots, p.window, now);
        p.state.get_mut().unwrap_or_else(|e| e.into_inner()).slots = loaded;
        p.file = Some(file);
        p
    }

    /// The window in which at most [`Pacer::slots`] requests are sent.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Requests per window.
    pub fn slots(&self) -> usize {
        self.slots
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a slot at `priority`; send right after, and drop the permit once the answer
    /// has arrived.
    pub async fn acquire(&self, priority: Priority) -> Permit<'_> {
        let mut waiting = {
            let mut st = self.lock();
            let ticket = st.next_ticket;
            st.next_ticket += 1;
            st.queue(priority).push_back(ticket);
            Waiting {
                pacer: self,
                ticket,
                priority,
                done: false,
            }
        };
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let (turn, snapshot) = {
                let mut st = self.lock();
                let now = Instant::now();
                let turn = st.turn(waiting.ticket, priority, now);
                if let Turn::Go(slot) = turn {
                    st.grant(waiting.ticket, priority, slot, now, self.window);
                }
                (turn, st.slots.clone())
            };
            match turn {
                Turn::Go(slot) => {
                    waiting.done = true;
                    self.save(&snapshot);
                    self.lock().sent(slot, Instant::now(), self.window);
                    self.changed.notify_waiters();
                    return Permit { pacer: self, slot };
                }
                Turn::Wait(Some(at)) => {
                    tokio::select! {
                        _ = changed => {}
                        _ = tokio::time::sleep_until(at) => {}
                    }
                }
                Turn::Wait(None) => changed.await,
            }
        }
    }

    fn release(&self, _slot: usize) {
        self.changed.notify_waiters();
    }

    /// Holds every send for `wait` (capped at [`MAX_HOLD`]): the server's `Retry-After`.
    pub fn hold(&self, wait: Duration) {
        let until = Instant::now() + wait.min(MAX_HOLD);
        let mut st = self.lock();
        st.hold_until = Some(st.hold_until.map_or(until, |h| h.max(until)));
    }

    fn save(&self, slots: &[Option<Instant>]) {
        let Some(file) = &self.file else { return };
        if let Err(e) = save(file, slots, Instant::now()) {
            tracing::warn!(file = %file.display(), "cannot record the request pacing: {e}");
        }
    }
}

/// Unix time in nanoseconds of instant `t`, given that `now` is `wall_now`.
fn wall_nanos(t: Instant, now: Instant, wall_now: SystemTime) -> i128 {
    let wall = wall_now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128);
    if t >= now {
        wall + (t - now).as_nanos() as i128
    } else {
        wall - (now - t).as_nanos() as i128
    }
}

/// One line per slot: `-` while in flight, else the Unix time (ns) it is free from. Written to
/// a temporary file and renamed, so a reader sees the old or the new state, never a torn one.
fn save(file: &Path, slots: &[Option<Instant>], now: Instant) -> std::io::Result<()> {
    let wall = SystemTime::now();
    let mut text = String::from("smime-provisioner pacer v1\n");
    for s in slots {
        match s {
            None => text.push_str("-\n"),
            Some(t) => text.push_str(&format!("{}\n", wall_nanos(*t, now, wall))),
        }
    }
    let tmp = file.with_extension("tmp");
    // Mode 0600 whatever the umask: every file in the state directory is the service's alone.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(text.as_bytes())?;
    drop(f);
    std::fs::rename(&tmp, file)
}

/// The slots an earlier process left in `file`: in-flight ones count as answered now. Slots the
/// file does not name are free; a damaged file makes every slot busy for one window.
fn load(file: &Path, k: usize, window: Duration, now: Instant) -> Vec<Option<Instant>> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return vec![Some(now); k],
        Err(_) => return vec![Some(now + window); k],
    };
    let wall_now = wall_nanos(now, now, SystemTime::now());
    let mut lines = text.lines();
    if lines.next() != Some("smime-provisioner pacer v1") {
        return vec![Some(now + window); k];
    }
    let mut free_at: Vec<Instant> = Vec::new();
    for line in lines {
        let at = match line {
            "-" => now + window,
            n => match n.parse::<i128>() {
                Ok(ns) if ns > wall_now => {
                    let ahead = u64::try_from(ns - wall_now).unwrap_or(u64::MAX);
                    now + Duration::from_nanos(ahead).min(window)
                }
                Ok(_) => now,
                Err(_) => return vec![Some(now + window); k],
            },
        };
        free_at.push(at);
    }
    // Fewer slots now than then (a lower rate): keep the busiest.
    free_at.sort_by(|a, b| b.cmp(a));
    free_at.resize(k, now);
    free_at.into_iter().map(Some).collect()
}

#[cfg(test)]
mod tests;
