//! Fault injection in front of both API transports: the per-IP rate limit (429 over JSON, an
//! `EF00030` error with HTTP 200 over XML), a share of 503
//! answers from a "load balancer", added latency, and requests that are processed but never
//! answered. `/_simulator/*` is outside this layer so tests can always inspect.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use super::engine::ApiError;
use super::{json, xml, Shared};

/// Marks an answer the fault layer must not send (the request was carried out; see
/// `Faults::drop_create_answers`). Set by the transports as a response extension.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DropAnswer;

/// Sliding-window limiter per client IP, timed by the injected clock (so tests need no sleeps).
///
/// `rps` = N allows `k = max(1, floor(N))` requests in any window of `k / N` seconds: 3 rps means
/// at most 3 requests in any second, which is how AutoDNS states its limit (`autodns-api.md`
/// §1.11); 0.5 rps means one request per 2 s. Refused requests do not count.
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    seen: Mutex<HashMap<IpAddr, VecDeque<OffsetDateTime>>>,
    /// Requests refused so far (answered 429).
    refused: std::sync::atomic::AtomicU64,
}

impl RateLimiter {
    /// Records and admits the request, or refuses it.
    pub fn admit(&self, ip: IpAddr, now: OffsetDateTime, rps: f64) -> bool {
        let k = (rps.floor() as usize).max(1);
        // `rps` is validated to 0.001..=10^6 at start; saturate anyway rather than panic.
        let window = time::Duration::saturating_seconds_f64(k as f64 / rps);
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let q = seen.entry(ip).or_default();
        while q.front().is_some_and(|t| *t <= now - window) {
            q.pop_front();
        }
        if q.len() >= k {
            self.refused
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return false;
        }
        q.push_back(now);
        true
    }
}

impl RateLimiter {
    /// Requests answered 429 since the simulator started.
    pub fn refused(&self) -> u64 {
        self.refused.load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn is_json(req: &Request) -> bool {
    req.uri().path().starts_with("/v1")
}

/// The middleware.
pub(crate) async fn layer(
    State(sh): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let faults = sh.engine.cfg.faults.clone();
    let json = is_json(&req);
    if let Some(rps) = faults.rate_limit_rps {
        if !sh.limiter.admit(peer.ip(), sh.engine.now(), rps) {
            let err = ApiError::rate_limited("0000", rps);
            let stid = sh.engine.bare_stid();
            // JSON answers 429 (§1.9); the XML gateway answers every API error with HTTP 200
            // and the code in the body (§1.10), so the client must classify it by its code.
            let mut resp = if json {
                let mut r = json::error_response(&err, &stid, None);
                *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
                r
            } else {
                xml::error_response(&err, &stid, None)
            };
            resp.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            return resp;
        }
    }
    if faults.error_5xx_share > 0.0 && sh.engine.draw() < faults.error_5xx_share {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/html; charset=iso-8859-1")],
            "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n<title>503 Service Unavailable</title>\n</head><body>\n<h1>Service Unavailable</h1>\n<p>The server is temporarily unable to service your request due to maintenance downtime or capacity problems. Please try again later.</p>\n</body></html>\n",
        )
            .into_response();
    }
    if !faults.latency.is_zero() {
        tokio::select! {
            _ = sh.cancel.cancelled() => {}
            _ = tokio::time::sleep(faults.latency) => {}
        }
    }
    let hang = faults.timeout_share > 0.0 && sh.engine.draw() < faults.timeout_share;
    let resp = next.run(req).await;
    if hang || resp.extensions().get::<DropAnswer>().is_some() {
        // The work is done (an order placed stays placed); the answer never comes.
        sh.cancel.cancelled().await;
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use time::macros::datetime;

    #[test]
    fn three_per_second_admits_three_in_any_second_and_not_a_fourth() {
        let l = RateLimiter::default();
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let t0 = datetime!(2026-01-01 0:00 UTC);
        let ms = time::Duration::milliseconds;
        assert!(l.admit(ip, t0, 3.0));
        assert!(l.admit(ip, t0 + ms(100), 3.0));
        assert!(l.admit(ip, t0 + ms(200), 3.0));
        assert!(!l.admit(ip, t0 + ms(999), 3.0));
        assert!(l.admit(ip, t0 + ms(1000), 3.0));
        let other = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
        assert!(l.admit(other, t0 + ms(999), 3.0), "limits are per IP");
    }

    #[test]
    fn fractional_rates_space_requests_out() {
        let l = RateLimiter::default();
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let t0 = datetime!(2026-01-01 0:00 UTC);
        assert!(l.admit(ip, t0, 0.5));
        assert!(!l.admit(ip, t0 + time::Duration::milliseconds(1999), 0.5));
        assert!(l.admit(ip, t0 + time::Duration::seconds(2), 0.5));
    }
}
