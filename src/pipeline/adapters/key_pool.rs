//! Owns the key pool: keys of the configured type generated ahead, so a new mailbox's CSR and
//! order go out at once instead of waiting for a key (RSA-3072 takes ~0.3 s, with a tail past
//! 1 s).
//!
//! Pooled keys are sealed in the key store like every other key (under `pool/TYPE/RANDOM`, a
//! name no address can have) and named in the state store (`store::key_pool`), which binds each
//! to exactly one mailbox generation when taken, in one transaction. So a crash loses none
//! (sealed before it can be handed out), and none is reused (bound before the name is returned,
//! and the same generation gets the same key back after a restart). Free keys of a type no longer
//! configured are wiped when the refiller starts.
//!
//! The refill ([`KeyPool::refill`], a daemon task) runs at low priority: one key at a time on
//! the blocking pool, and only while no mailbox is waiting for a key generated on demand.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::crypto::{KeyStore, KeyType, PrivateKey};
use crate::mailbox::Address;
use crate::store::{Store, StoreError};

/// How often the refiller looks at the pool without being woken (a verb in another process may
/// have taken keys).
const RECHECK: Duration = Duration::from_secs(60);

/// The key pool over a state store and a key store.
pub struct KeyPool {
    store: Arc<Store>,
    keys: Arc<KeyStore>,
    key_type: KeyType,
    size: usize,
    refill_at: usize,
    /// Orders allowed per UTC day: the pool holds no more keys than orders are left today.
    daily_budget: u32,
    clock: Arc<dyn Clock>,
    /// Keys being generated on demand right now: the refill waits for them.
    on_demand: AtomicUsize,
    wake: Notify,
}

impl std::fmt::Debug for KeyPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPool")
            .field("key_type", &self.key_type)
            .field("size", &self.size)
            .field("refill_at", &self.refill_at)
            .finish_non_exhaustive()
    }
}

/// Why the pool could not do its part; the caller falls back to generating on demand.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("key pool: {0}")]
    Store(#[from] StoreError),
    #[error("key pool: {0}")]
    KeyStore(#[from] crate::crypto::KeyStoreError),
    #[error("key pool: {0}")]
    Crypto(#[from] crate::crypto::CryptoError),
}

impl KeyPool {
    /// A pool of `size` keys of `key_type`, refilled when `refill_at` or fewer are left.
    pub fn new(
        store: Arc<Store>,
        keys: Arc<KeyStore>,
        key_type: KeyType,
        size: usize,
        refill_at: usize,
        clock: Arc<dyn Clock>,
    ) -> Self {
        KeyPool {
            store,
            keys,
            key_type,
            size,
            refill_at: refill_at.min(size.saturating_sub(1)),
            daily_budget: u32::MAX,
            clock,
            on_demand: AtomicUsize::new(0),
            wake: Notify::new(),
        }
    }

    /// Keeps no more keys in the pool than orders are left of `budget` today (a spent or zero
    /// budget generates none: no key is made that no order could use).
    pub fn with_daily_budget(mut self, budget: u32) -> Self {
        self.daily_budget = budget;
        self
    }

    /// The key bound to `address`'s `generation`, taken from the pool now or earlier (blocking:
    /// one SQLite transaction). `None` when the pool is empty.
    pub fn take(&self, address: &Address, generation: u32) -> Result<Option<String>, PoolError> {
        let now = self.clock.now();
        let name = self
            .store
            .pool_take(self.key_type.as_str(), address, generation, now)?;
        if let Some(n) = &name {
            tracing::debug!(%address, generation, key = %n, "key taken from the pool");
            self.wake.notify_one();
        }
        Ok(name)
    }

    /// Sealed keys of the configured type waiting in the pool.
    pub fn free(&self) -> Result<usize, PoolError> {
        Ok(self.store.pool_free(self.key_type.as_str())?)
    }

    /// Marks a key generated on demand as under way; the refill waits until it is dropped.
    pub fn on_demand(self: &Arc<Self>) -> OnDemand {
        self.on_demand.fetch_add(1, Ordering::SeqCst);
        OnDemand(self.clone())
    }

    /// Wipes free keys of another type than the configured one, and keys whose generation was
    /// cut short by a crash (blocking). Returns how many went.
    pub fn wipe_stale(&self) -> Result<usize, PoolError> {
        let stale = self.store.pool_stale(self.key_type.as_str())?;
        for name in &stale {
            self.keys.remove(name)?;
            self.store.pool_forget(name)?;
        }
        if !stale.is_empty() {
            tracing::info!(
                wiped = stale.len(),
                key_type = %self.key_type,
                "pooled keys of another type (or unfinished) wiped"
            );
        }
        Ok(stale.len())
    }

    /// Generates one key into the pool (blocking): reserved in the store, sealed in the key
    /// store, then marked sealed. Returns its name.
    pub fn add_one(&self) -> Result<String, PoolError> {
        let mut id = [0u8; 12];
        openssl::rand::rand_bytes(&mut id).map_err(|source| {
            crate::crypto::KeyStoreError::OpenSsl {
                doing: "drawing a pool key name",
                source,
            }
        })?;
        let name = format!("pool/{}/{}", self.key_type.as_str(), hex::encode(id));
        let key = PrivateKey::generate(self.key_type)?;
        self.store
            .pool_reserve(&name, self.key_type.as_str(), self.clock.now())?;
        self.keys.put_key(&name, &key)?;
        self.store.pool_sealed(&name)?;
        Ok(name)
    }

    /// Whether the pool should be topped up now: low (at or below the refill mark) when
    /// `topping_up` is false, else not yet full. Never beyond the orders left today.
    fn wants(&self, topping_up: bool) -> Result<bool, PoolError> {
        let today = self.clock.now().date();
        let room = self
            .daily_budget
            .saturating_sub(self.store.orders_on(today)?);
        let target = self.size.min(usize::try_from(room).unwrap_or(usize::MAX));
        let free = self.free()?;
        Ok(free < target && (topping_up || free <= self.refill_at))
    }

    /// The refill loop (a daemon task): wipes stale keys, then keeps the pool topped up until
    /// `cancel` fires. Woken by every take; errors are logged and retried a minute later.
    pub async fn refill(self: Arc<Self>, cancel: CancellationToken) {
        if self.size == 0 {
            return;
        }
        let me = self.clone();
        match tokio::task::spawn_blocking(move || me.wipe_stale()).await {
            Ok(Err(e)) => tracing::warn!("{e}"),
            Err(e) => tracing::warn!("key pool: wiping stale keys panicked: {e}"),
            Ok(Ok(_)) => {}
        }
        let mut topping_up = true;
        loop {
            let woken = self.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let busy = self.on_demand.load(Ordering::SeqCst) > 0;
            let wanted = !busy
                && self.wants(topping_up).unwrap_or_else(|e| {
                    tracing::warn!("{e}");
                    false
                });
            if wanted {
                topping_up = true;
                let me = self.clone();
                match tokio::task::spawn_blocking(move || me.add_one()).await {
                    Ok(Ok(_)) => continue,
                    Ok(Err(e)) => tracing::warn!("cannot add a key to the pool: {e}"),
                    Err(e) => tracing::warn!("key pool: generating a key panicked: {e}"),
                }
            } else if !busy {
                topping_up = false;
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = &mut woken => {}
                _ = tokio::time::sleep(RECHECK) => {}
            }
        }
    }
}

/// A key generated on demand, under way; the refill resumes when the last one is dropped.
#[derive(Debug)]
pub struct OnDemand(Arc<KeyPool>);

impl Drop for OnDemand {
    fn drop(&mut self) {
        if self.0.on_demand.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.wake.notify_one();
        }
    }
}
