//! Owns the daemon's HTTP endpoint: `/livez`, `/readyz` (and its alias `/healthz`; the checks
//! are in `health.rs`), the `/metrics` page and the AutoDNS `/push` route with its token check,
//! and binding the listener. Connections are served by
//! `accept.rs` (connection limit, header and body read timeouts).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;

use super::{DaemonError, Shared};
use crate::pipeline::metrics::scrape::{self, ScrapeInput};
use crate::pipeline::ports::{Autodns, Courier, Keys};
use crate::pipeline::reconcile::NoticeHandled;

/// Serves the endpoint on `listener` until `stop` fires, within the configured connection
/// limits ([`super::HttpLimits`]).
pub(super) async fn serve<A, K, C>(
    listener: TcpListener,
    sh: Arc<Shared<A, K, C>>,
    stop: tokio_util::sync::CancellationToken,
) where
    A: Autodns + 'static,
    K: Keys + 'static,
    C: Courier + 'static,
{
    let (limits, metrics) = (sh.settings.http, sh.rec.metrics().clone());
    super::accept::serve(listener, router(sh), limits, metrics, stop).await;
}

fn router<A, K, C>(sh: Arc<Shared<A, K, C>>) -> Router
where
    A: Autodns + 'static,
    K: Keys + 'static,
    C: Courier + 'static,
{
    Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz::<A, K, C>))
        .route("/healthz", get(readyz::<A, K, C>))
        .route("/metrics", get(metrics::<A, K, C>))
        .route("/push", post(push::<A, K, C>))
        .route("/push/{token}", post(push_with_path::<A, K, C>))
        .with_state(sh)
}

/// 200 while the process answers.
async fn livez() -> (StatusCode, &'static str) {
    (StatusCode::OK, "ok\n")
}

/// 200 when every readiness check passes, 503 naming each failing check otherwise
/// ([`super::health`]). `/healthz` answers the same.
async fn readyz<A: Autodns + 'static, K: Keys + 'static, C: Courier + 'static>(
    State(sh): State<Arc<Shared<A, K, C>>>,
) -> (StatusCode, String) {
    let checks = tokio::task::spawn_blocking(move || super::health::readiness(&sh)).await;
    match checks {
        Ok(checks) => match super::health::body(&checks) {
            (true, text) => (StatusCode::OK, text),
            (false, text) => (StatusCode::SERVICE_UNAVAILABLE, text),
        },
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("FAIL readiness: the checks did not finish: {e}\n"),
        ),
    }
}

/// The Prometheus page ([`scrape::render`]), built off the async workers: with 100,000 mailboxes
/// it reads the store's scrape index for a while.
async fn metrics<A: Autodns + 'static, K: Keys + 'static, C: Courier + 'static>(
    State(sh): State<Arc<Shared<A, K, C>>>,
) -> (StatusCode, [(HeaderName, &'static str); 1], String) {
    let input = ScrapeInput {
        now: sh.rec.clock().now(),
        renew_before: sh.rec.settings().policy.renew_before,
        daily_order_budget: sh.rec.settings().daily_order_budget,
        source_writes_failing: sh.intake.failing().is_some(),
    };
    let page = tokio::task::spawn_blocking(move || {
        scrape::render(sh.rec.store(), sh.rec.metrics(), input)
    })
    .await;
    let ctype = [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")];
    match page {
        Ok(Ok(text)) => (StatusCode::OK, ctype, text),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            ctype,
            format!("state store: {e}\n"),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            ctype,
            format!("scrape failed: {e}\n"),
        ),
    }
}

/// Constant-time comparison, so the token cannot be guessed byte by byte from response times.
pub(super) fn token_matches(given: &str, expected: &str) -> bool {
    let (g, e) = (given.as_bytes(), expected.as_bytes());
    let mut diff = g.len() ^ e.len();
    for (i, b) in e.iter().enumerate() {
        diff |= usize::from(g.get(i).copied().unwrap_or(0) ^ b);
    }
    diff == 0
}

#[derive(Debug, serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

async fn push<A: Autodns, K: Keys, C: Courier>(
    State(sh): State<Arc<Shared<A, K, C>>>,
    Query(q): Query<TokenQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let header = headers
        .get("x-push-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    handle_push(&sh, q.token.or(header), &body).await
}

async fn push_with_path<A: Autodns, K: Keys, C: Courier>(
    State(sh): State<Arc<Shared<A, K, C>>>,
    Path(token): Path<String>,
    body: Bytes,
) -> (StatusCode, &'static str) {
    handle_push(&sh, Some(token), &body).await
}

/// A push feeds the same handler as the poll consumer ([`Reconciler::handle_notice`]: the
/// result stored, the admin told of a give-up); duplicates are harmless there. The answer
/// waits for that handler, so a 200 means the result is stored; an AutoDNS retry after a slow
/// answer is a duplicate.
async fn handle_push<A: Autodns, K: Keys, C: Courier>(
    sh: &Shared<A, K, C>,
    token: Option<String>,
    body: &[u8],
) -> (StatusCode, &'static str) {
    let (Some(expected), Some(parser)) = (&sh.settings.push_token, &sh.push_parser) else {
        return (StatusCode::NOT_FOUND, "push is not configured\n");
    };
    if !token.is_some_and(|t| token_matches(&t, expected.expose())) {
        sh.rec.metrics().inc("push", "unauthorized");
        return (StatusCode::UNAUTHORIZED, "wrong or missing push token\n");
    }
    let notice = match parser(body) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!("push body not understood: {e}");
            sh.rec.metrics().inc("push", "malformed");
            return (StatusCode::BAD_REQUEST, "push body not understood\n");
        }
    };
    match sh.rec.handle_notice(&notice).await {
        Ok(h) => {
            sh.rec.metrics().inc("push", h.name());
            if let NoticeHandled::Applied(a) = h {
                sh.queue.push_paid(a);
            }
            (StatusCode::OK, "ok\n")
        }
        Err(e) => {
            tracing::error!("cannot store a push: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "state store unavailable; retry\n",
            )
        }
    }
}

/// Binds the HTTP endpoint's listener.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, DaemonError> {
    Ok(TcpListener::bind(addr).await?)
}
