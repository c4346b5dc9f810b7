//! Owns the bindings of the pipeline's ports to the real modules, one file per port:
//! [`CryptoKeys`] (`keys.rs`, the `crypto` module, with its [`KeyPool`] of keys generated ahead
//! in `key_pool.rs`), [`MailCourier`] (`courier.rs`, the
//! `delivery` module) and [`AutodnsPort`] (`autodns.rs`, the AutoDNS client), whose lost-order
//! matching is the pure `lost_order.rs`. Each maps its module's own classified error onto a
//! [`PortError`](crate::pipeline::ports::PortError), keeping its stable code.

mod autodns;
mod courier;
pub mod key_pool;
mod keys;
mod lost_order;

pub use autodns::{notice_of, parse_push_notice, AutodnsPort};
pub use courier::MailCourier;
pub use key_pool::KeyPool;
pub use keys::CryptoKeys;

use crate::pipeline::ErrorClass;

/// The port's error class for a module error that is (or is not) transient.
fn class(transient: bool) -> ErrorClass {
    if transient {
        ErrorClass::Transient
    } else {
        ErrorClass::Permanent
    }
}
