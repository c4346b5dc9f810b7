//! Owns the HTTP endpoint's connections: how many may be open at once, how long a client may
//! take to send its request headers and body, and the accept loop that enforces both.
//!
//! Why not `axum::serve`: it accepts every connection and never times a client out, so a few
//! hundred idle connections (no token needed) hold file descriptors until the process cannot
//! open its key files or database. Here a connection beyond [`HttpLimits::max_connections`] is
//! closed as soon as it is accepted (one descriptor for an instant), a client that has not sent
//! its complete headers within `header_timeout` (also between keep-alive requests) is
//! disconnected by hyper, and one that has not sent its body within `body_timeout` is answered
//! 408 and disconnected.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::pipeline::metrics::Metrics;

/// Largest request body read (push notifications are a few KiB); axum's default, kept.
pub const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// How long a connection still open at shutdown may take to finish its request.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// The endpoint's connection limits (`[http]` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Connections served at once; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// Time a client has to send a request's complete headers (from the connection's start or
    /// the end of its previous request).
    pub header_timeout: Duration,
    /// Time a client has to send a request's complete body once its headers are in.
    pub body_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_connections: 128,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
        }
    }
}

/// The metric counting connections closed unserved (`kind`: `refused` beyond the limit,
/// `header-timeout`, `body-timeout`).
const METRIC: &str = "http_connections_closed";

/// Serves `router` on `listener` within `limits` until `stop` fires; then stops accepting, lets
/// open connections finish their request (bounded) and returns.
pub(super) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    let m = metrics.clone();
    let router = router.layer(axum::middleware::from_fn(move |req, next| {
        read_body(req, next, limits.body_timeout, m.clone())
    }));
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let conns = TaskTracker::new();
    let mut refusals = Refusals::default();
    loop {
        let stream = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_failed(&e, &stop).await;
                    continue;
                }
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            // Closed at once: the descriptor is needed for keys, the store and mail.
            drop(stream);
            metrics.inc(METRIC, "refused");
            refusals.note(limits.max_connections);
            continue;
        };
        let (router, metrics, stop) = (router.clone(), metrics.clone(), stop.clone());
        conns.spawn(async move {
            serve_connection(stream, router, limits.header_timeout, &metrics, stop).await;
            drop(permit);
        });
    }
    drop(listener);
    conns.close();
    let _ = tokio::time::timeout(CLOSE_GRACE, conns.wait()).await;
}

/// Serves one connection with hyper's HTTP/1 server and its header read timeout.
async fn serve_connection(
    stream: TcpStream,
    router: Router,
    header_timeout: Duration,
    metrics: &Metrics,
    stop: CancellationToken,
) {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(router));
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            match tokio::time::timeout(CLOSE_GRACE, conn.as_mut()).await {
                Ok(r) => r,
                Err(_) => return,
            }
        }
    };
    if let Err(e) = result {
        if e.is_timeout() {
            metrics.inc(METRIC, "header-timeout");
            tracing::debug!("HTTP client disconnected: headers not received in time");
        } else {
            tracing::debug!("HTTP connection ended: {e}");
        }
    }
}

/// Reads the whole request body within `within` (and [`BODY_LIMIT`]) before the route runs, so
/// a client trickling its body cannot hold a connection.
async fn read_body(req: Request, next: Next, within: Duration, metrics: Arc<Metrics>) -> Response {
    let (parts, body) = req.into_parts();
    match tokio::time::timeout(within, axum::body::to_bytes(body, BODY_LIMIT)).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(_)) => close(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body larger than 2 MiB or cut off\n",
        ),
        Err(_) => {
            metrics.inc(METRIC, "body-timeout");
            close(
                StatusCode::REQUEST_TIMEOUT,
                "request body not received in time\n",
            )
        }
    }
}

fn close(status: StatusCode, text: &'static str) -> Response {
    (status, [(header::CONNECTION, "close")], text).into_response()
}

/// An accept error: a connection that failed before it was accepted is nothing to report; out
/// of descriptors or memory, wait a little (the connections we serve end by themselves).
async fn accept_failed(e: &std::io::Error, stop: &CancellationToken) {
    use std::io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted
    ) {
        return;
    }
    tracing::warn!(error = %e, "HTTP endpoint cannot accept connections; retrying");
    tokio::select! {
        _ = stop.cancelled() => {}
        _ = tokio::time::sleep(Duration::from_millis(250)) => {}
    }
}

/// Logs refused connections at most once a minute, with the count since the last line.
#[derive(Debug, Default)]
struct Refusals {
    last: Option<tokio::time::Instant>,
    since: u64,
}

impl Refusals {
    fn note(&mut self, limit: usize) {
        self.since += 1;
        let now = tokio::time::Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(60))
        {
            return;
        }
        tracing::warn!(
            refused = self.since,
            limit,
            "HTTP connection limit reached (http.max_connections); connections beyond it are \
             closed unserved"
        );
        self.last = Some(now);
        self.since = 0;
    }
}
