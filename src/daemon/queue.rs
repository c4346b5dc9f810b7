//! Owns the daemon's work queue: the set of addresses waiting for, or under, work, so that an
//! address is worked on by one worker at a time (`an_address_is_queued_once_and_rerun_if_enqueued_while_running`).

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use tokio::sync::Notify;

use crate::mailbox::Address;

/// The set of addresses waiting for, or under, work. An address is queued at most once; one
/// that is enqueued while running is re-run once after it finishes.
#[derive(Debug, Default)]
pub(super) struct Queue {
    inner: Mutex<QueueState>,
    pub(super) ready: Notify,
}

#[derive(Debug, Default)]
struct QueueState {
    order: VecDeque<Address>,
    queued: HashSet<Address>,
    running: HashSet<Address>,
    again: HashSet<Address>,
}

impl Queue {
    pub(super) fn push(&self, a: Address) {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if s.running.contains(&a) {
            s.again.insert(a);
        } else if s.queued.insert(a.clone()) {
            s.order.push_back(a);
            drop(s);
            self.ready.notify_one();
        }
    }

    pub(super) fn take(&self) -> Option<Address> {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let a = s.order.pop_front()?;
        s.queued.remove(&a);
        s.running.insert(a.clone());
        Some(a)
    }

    pub(super) fn done(&self, a: &Address) {
        let again = {
            let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            s.running.remove(a);
            s.again.remove(a)
        };
        if again {
            self.push(a.clone());
        }
    }

    pub(super) fn len(&self) -> usize {
        let s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        s.order.len() + s.running.len()
    }
}
