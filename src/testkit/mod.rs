//! Fakes of the pipeline's ports (`pipeline::ports`), for tests of the reconciler and the daemon
//! without AutoDNS, OpenSSL or a mail server. They implement the same traits as the adapters over
//! the real modules, so the reconciler cannot tell them apart; what they cannot show (real X.509,
//! real mail) the integration tests show against the bundled simulator.
//!
//! Built only with the `testkit` feature, which the integration tests enable through their
//! support crate (`tests/support`); a release build holds none of this.

mod autodns;
mod courier;
mod crash;
mod keys;

pub use autodns::{FakeAutodns, FakeState, OrderFault, PlacedOrder};
pub use courier::{RecordingCourier, Sent};
pub use crash::{Crashy, Tripwire};
pub use keys::FakeKeys;
