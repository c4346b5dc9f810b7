//! Owns the daemon's HTTP endpoint: `/healthz`, the `/metrics` page and the AutoDNS `/push`
//! route with its token check, and binding the listener. Connections are served by
//! `accept.rs` (connection limit, header and body read timeouts).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;

use super::{DaemonError, Shared};
use crate::lifecycle::ErrorClass;
use crate::pipeline::metrics::budget_gauges;
use crate::pipeline::ports::{Autodns, Courier, Keys};
use crate::pipeline::reconcile::NoticeHandled;
use crate::pipeline::Stage;

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
        .route("/healthz", get(healthz::<A, K, C>))
        .route("/metrics", get(metrics::<A, K, C>))
        .route("/push", post(push::<A, K, C>))
        .route("/push/{token}", post(push_with_path::<A, K, C>))
        .with_state(sh)
}

/// 503 while a worker that panicked is not running again, while source events cannot be
/// recorded, or when the store cannot be read.
async fn healthz<A: Autodns, K: Keys, C: Courier>(
    State(sh): State<Arc<Shared<A, K, C>>>,
) -> (StatusCode, String) {
    if let Some(problem) = sh.health.problem() {
        return (StatusCode::SERVICE_UNAVAILABLE, problem);
    }
    if sh.intake.failing().is_some() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "cannot record source events (retrying; see the log)\n".into(),
        );
    }
    match sh.rec.store().schema_version() {
        Ok(_) => (StatusCode::OK, "ok\n".into()),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "state store unavailable\n".into(),
        ),
    }
}

async fn metrics<A: Autodns, K: Keys, C: Courier>(
    State(sh): State<Arc<Shared<A, K, C>>>,
) -> (StatusCode, String) {
    // Counted in SQL: a scrape must not read 100,000 records.
    let store = sh.rec.store();
    let counts = store.stage_counts().and_then(|(stages, gave_up)| {
        let held_back = store.count_error_class(ErrorClass::Budget.as_str())?;
        Ok((stages, gave_up, held_back))
    });
    let (stages, gave_up, held_back) = match counts {
        Ok(c) => c,
        Err(e) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("state store: {e}\n"),
            )
        }
    };
    let mut gauges: Vec<(&str, &str, u64)> = Stage::ALL
        .iter()
        .map(|s| {
            let n = stages.get(s.as_str()).copied().unwrap_or(0);
            ("mailboxes", s.as_str(), n)
        })
        .collect();
    gauges.push(("mailboxes_failed", "any", gave_up));
    gauges.push((
        "removals_held",
        "any",
        sh.rec.store().held_removals().map_or(0, |h| h.len() as u64),
    ));
    gauges.push((
        "source_writes_failing",
        "any",
        u64::from(sh.intake.failing().is_some()),
    ));
    let today = sh.rec.clock().now().date();
    gauges.extend(budget_gauges(
        sh.rec.store().orders_on(today).unwrap_or(0),
        sh.rec.settings().daily_order_budget,
        held_back,
    ));
    (StatusCode::OK, sh.rec.metrics().render(&gauges))
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
