//! A recording HTTP proxy between our AutoDNS client and the bundled simulator: it forwards every
//! request unchanged and keeps the exchange — method, path, query, request body, HTTP status and
//! answer body, exactly as they crossed the wire — so the spec tests can hold both directions of
//! a real session against the OpenAPI description.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio_util::sync::CancellationToken;

/// The status recorded when the simulator could not be reached at all.
pub const NOT_FORWARDED: u16 = 599;

/// One request and its answer.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: String,
    /// Path under `/v1/`, no leading slash (`certificate/42`).
    pub path: String,
    /// Query pairs, percent-decoded (`keys[]`, `created`).
    pub query: Vec<(String, String)>,
    pub request: Vec<u8>,
    pub status: u16,
    pub answer: Vec<u8>,
}

#[derive(Clone)]
struct RecorderState {
    upstream: SocketAddr,
    http: reqwest::Client,
    seen: Arc<Mutex<Vec<Exchange>>>,
}

/// A running recorder; stops when dropped.
pub struct Recorder {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Exchange>>>,
    stop: CancellationToken,
}

impl Recorder {
    /// Starts on 127.0.0.1, port 0, forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> anyhow::Result<Recorder> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let state = RecorderState {
            upstream,
            http: reqwest::Client::builder().no_proxy().build()?,
            seen: seen.clone(),
        };
        let app = axum::Router::new().fallback(forward).with_state(state);
        let stop = CancellationToken::new();
        let token = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { token.cancelled().await })
                .await;
        });
        Ok(Recorder { addr, seen, stop })
    }

    /// Base URL of the JSON API through the recorder.
    pub fn json_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every exchange so far, in order.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn forward(
    State(st): State<RecorderState>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let url = format!("http://{}{}", st.upstream, path_and_query);
    let mut req = st.http.request(method.clone(), url).body(body.to_vec());
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            req = req.header(name, value);
        }
    }
    let (status, answer) = match req.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            (
                status,
                r.bytes().await.map(|b| b.to_vec()).unwrap_or_default(),
            )
        }
        Err(e) => (NOT_FORWARDED, format!("recorder: {e}").into_bytes()),
    };
    let query = uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let exchange = Exchange {
        method: method.as_str().to_string(),
        path: uri
            .path()
            .trim_start_matches("/v1")
            .trim_matches('/')
            .to_string(),
        query,
        request: body.to_vec(),
        status,
        answer: answer.clone(),
    };
    if let Ok(mut seen) = st.seen.lock() {
        seen.push(exchange);
    }
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    (code, [("content-type", "application/json")], answer).into_response()
}
