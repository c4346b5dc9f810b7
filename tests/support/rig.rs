//! A reconciler over the port fakes of `smime_provisioner::testkit`, with a manual clock, a
//! seeded RNG and crash points on every port call.

use std::sync::Arc;

use smime_provisioner::clock::ManualClock;
use smime_provisioner::mailbox::Address;
use smime_provisioner::pipeline::metrics::Metrics;
use smime_provisioner::pipeline::{Reconciler, Settings};
use smime_provisioner::store::Store;
use smime_provisioner::testkit::{Crashy, FakeAutodns, FakeKeys, RecordingCourier, Tripwire};
use time::OffsetDateTime;

pub const T0: OffsetDateTime = time::macros::datetime!(2026-03-02 09:00 UTC);

pub fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

pub type TestReconciler =
    Reconciler<Crashy<FakeAutodns>, Crashy<FakeKeys>, Crashy<RecordingCourier>>;

/// A reconciler over fakes with a manual clock and a seeded RNG.
pub struct Rig {
    pub store: Arc<Store>,
    pub autodns: FakeAutodns,
    pub keys: FakeKeys,
    pub courier: RecordingCourier,
    pub clock: Arc<ManualClock>,
    pub trip: Arc<Tripwire>,
    pub rec: TestReconciler,
}

impl Rig {
    pub fn new(autodns: FakeAutodns, settings: Settings) -> Rig {
        Rig::on_store(
            Arc::new(Store::open_in_memory().unwrap()),
            autodns,
            settings,
            7,
        )
    }

    pub fn on_store(store: Arc<Store>, autodns: FakeAutodns, settings: Settings, seed: u64) -> Rig {
        let clock = Arc::new(ManualClock::new(T0));
        let keys = FakeKeys::new(clock.clone());
        Rig::with_parts(
            store,
            autodns,
            keys,
            RecordingCourier::default(),
            clock,
            settings,
            seed,
        )
    }

    /// A reconciler over existing fakes (a "restarted process" shares them with the dead one).
    pub fn with_parts(
        store: Arc<Store>,
        autodns: FakeAutodns,
        keys: FakeKeys,
        courier: RecordingCourier,
        clock: Arc<ManualClock>,
        settings: Settings,
        seed: u64,
    ) -> Rig {
        use rand::SeedableRng;
        let trip = Arc::new(Tripwire::default());
        let rec = Reconciler::new(
            store.clone(),
            Crashy {
                inner: autodns.clone(),
                trip: trip.clone(),
            },
            Crashy {
                inner: keys.clone(),
                trip: trip.clone(),
            },
            Crashy {
                inner: courier.clone(),
                trip: trip.clone(),
            },
            clock.clone(),
            settings,
            Box::new(rand::rngs::StdRng::seed_from_u64(seed)),
            Arc::new(Metrics::default()),
        );
        Rig {
            store,
            autodns,
            keys,
            courier,
            clock,
            trip,
            rec,
        }
    }

    pub fn add(&self, a: &Address) {
        use smime_provisioner::clock::Clock;
        self.store.observe_present(a, self.clock.now()).unwrap();
    }

    pub fn record(&self, a: &Address) -> smime_provisioner::store::MailboxRecord {
        self.store.get(a).unwrap().unwrap()
    }

    pub fn event_kinds(&self, a: &Address) -> Vec<String> {
        self.store
            .events(a)
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }

    /// Reconciles `a`, drains the poll queue, and repeats until nothing changes (bounded).
    pub async fn settle(&self, a: &Address) {
        use smime_provisioner::pipeline::{ForeignMessages, Outcome, PollRound};
        for _ in 0..20 {
            let out = self.rec.reconcile(a).await.unwrap();
            let mut polled = false;
            while let Ok(PollRound::Handled(_)) = self.rec.poll_once(ForeignMessages::Confirm).await
            {
                polled = true;
            }
            if !polled && !matches!(out, Outcome::Done(_) | Outcome::Conflict(_)) {
                break;
            }
        }
    }
}
