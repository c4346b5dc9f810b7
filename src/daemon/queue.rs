//! Owns the daemon's work queue: the set of addresses waiting for, or under, work, so that an
//! address is worked on by one worker at a time (`an_address_is_queued_once_and_rerun_if_enqueued_while_running`).
//!
//! Two lanes ([`Lane`]): work already paid for (certificates to fetch, bundles to deliver,
//! orders to resolve) and operator requests are taken before work that leads to a new order, so
//! a burst of new mailboxes or a spent budget never holds up a certificate that is already
//! bought (`paid_work_is_taken_before_new_work_whatever_the_order_it_came_in`). Within a lane
//! the order is first come, first served.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use tokio::sync::Notify;

use crate::mailbox::Address;
use crate::pipeline::Lane;

/// The set of addresses waiting for, or under, work. An address is queued at most once (in the
/// highest lane it was asked for); one that is enqueued while running is re-run once after it
/// finishes.
#[derive(Debug, Default)]
pub(super) struct Queue {
    inner: Mutex<QueueState>,
    pub(super) ready: Notify,
}

#[derive(Debug, Default)]
struct QueueState {
    paid: VecDeque<Address>,
    new: VecDeque<Address>,
    /// The lane each waiting address is queued in. An address moved up to the paid lane leaves
    /// a stale entry in the new lane's deque, skipped when it comes up.
    queued: HashMap<Address, Lane>,
    running: HashSet<Address>,
    again: HashMap<Address, Lane>,
}

impl Queue {
    /// Queues `a` in the new-work lane (a source reported it: at most a new order is due).
    pub(super) fn push(&self, a: Address) {
        self.push_in(a, Lane::New);
    }

    /// Queues `a` in the paid lane (a completion arrived for it).
    pub(super) fn push_paid(&self, a: Address) {
        self.push_in(a, Lane::Paid);
    }

    /// Queues `a` in `lane`, or moves it up to `lane` if it waits in a lower one.
    pub(super) fn push_in(&self, a: Address, lane: Lane) {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if s.running.contains(&a) {
            let again = s.again.entry(a).or_insert(lane);
            *again = (*again).max(lane);
            return;
        }
        match s.queued.get(&a) {
            Some(l) if *l >= lane => return,
            _ => {}
        }
        s.queued.insert(a.clone(), lane);
        match lane {
            Lane::Paid => s.paid.push_back(a),
            Lane::New => s.new.push_back(a),
        }
        drop(s);
        self.ready.notify_one();
    }

    /// The next address to work on: paid work first.
    pub(super) fn take(&self) -> Option<Address> {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let s = &mut *s;
        for (lane, deque) in [(Lane::Paid, &mut s.paid), (Lane::New, &mut s.new)] {
            while let Some(a) = deque.pop_front() {
                if s.queued.get(&a) != Some(&lane) {
                    continue; // moved up to the paid lane, or already taken from there
                }
                s.queued.remove(&a);
                s.running.insert(a.clone());
                return Some(a);
            }
        }
        None
    }

    pub(super) fn done(&self, a: &Address) {
        let again = {
            let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            s.running.remove(a);
            s.again.remove(a)
        };
        if let Some(lane) = again {
            self.push_in(a.clone(), lane);
        }
    }

    pub(super) fn len(&self) -> usize {
        let s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        s.queued.len() + s.running.len()
    }
}
