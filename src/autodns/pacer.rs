//! The client-side request pacer: keeps every clone of a client under AutoDNS's documented limit
//! of three requests per second per source IP (reference §1.11) while using that budget fully.
//!
//! Requests are spaced by the time the previous one was *sent*, not by fixed sleeps: a request
//! that finds the last send far enough in the past goes out at once. The spacing is the ideal
//! interval `1/rate` plus a 5 % margin, so that send-time jitter between the pacer and the
//! server's clock cannot make the server count four requests in one second (with exact
//! `1/rate` spacing, requests at 0, ⅓, ⅔ and 1 s would put four in a closed one-second window).
//! Waiters are served in arrival order (tokio's mutex is fair).

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Extra spacing over the ideal interval, as a fraction of it.
const MARGIN: f64 = 0.05;

/// Spaces requests at least `interval` apart, shared by every clone of a client.
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    last_send: Mutex<Option<Instant>>,
}

impl Pacer {
    /// A pacer for `requests_per_second` (non-positive or non-finite rates fall back to the
    /// documented 3/s).
    pub fn new(requests_per_second: f64) -> Self {
        let rps = if requests_per_second.is_finite() && requests_per_second > 0.0 {
            requests_per_second
        } else {
            3.0
        };
        let secs = (1.0 + MARGIN) / rps;
        Pacer {
            interval: Duration::from_secs_f64(secs.min(3600.0)),
            last_send: Mutex::new(None),
        }
    }

    /// The spacing between two sends.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Waits until a request may be sent, and records the send time. Call immediately before
    /// sending.
    pub async fn acquire(&self) {
        // Holding the lock across the sleep serialises waiters in arrival order.
        let mut last = self.last_send.lock().await;
        let at = send_at(*last, Instant::now(), self.interval);
        tokio::time::sleep_until(at).await;
        *last = Some(Instant::now());
    }
}

/// When the next request may go out: at once if the last send is at least `interval` ago (or
/// there was none), else exactly `interval` after it.
pub fn send_at(last_send: Option<Instant>, now: Instant, interval: Duration) -> Instant {
    match last_send {
        Some(prev) if prev + interval > now => prev + interval,
        _ => now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn the_interval_is_a_little_longer_than_one_third_of_a_second_at_three_per_second() {
        let i = Pacer::new(3.0).interval();
        assert!(
            i > Duration::from_secs(1) / 3 && i < Duration::from_millis(360),
            "{i:?}"
        );
        assert_eq!(Pacer::new(f64::NAN).interval(), i);
        assert_eq!(Pacer::new(0.0).interval(), i);
    }

    #[test]
    fn a_request_goes_out_at_once_when_the_last_send_is_old_enough() {
        let now = Instant::now();
        let i = Duration::from_millis(350);
        assert_eq!(send_at(None, now, i), now);
        assert_eq!(send_at(Some(now - Duration::from_secs(5)), now, i), now);
        assert_eq!(send_at(Some(now - i), now, i), now);
        assert_eq!(
            send_at(Some(now - Duration::from_millis(100)), now, i),
            now + Duration::from_millis(250)
        );
    }

    #[tokio::test]
    async fn concurrent_callers_are_spaced_by_at_least_the_interval() {
        let pacer = Arc::new(Pacer::new(20.0));
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let p = pacer.clone();
            tasks.push(tokio::spawn(async move {
                p.acquire().await;
                Instant::now()
            }));
        }
        let mut times = Vec::new();
        for t in tasks {
            if let Ok(at) = t.await {
                times.push(at);
            }
        }
        times.sort();
        assert_eq!(times.len(), 6);
        // A sleep never ends early, so the spacing is a hard lower bound, not a timing guess.
        for w in times.windows(2) {
            assert!(w[1] - w[0] >= pacer.interval(), "{:?}", w[1] - w[0]);
        }
    }
}
