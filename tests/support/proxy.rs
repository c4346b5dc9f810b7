//! A recording HTTP proxy for end-to-end tests: it sits between the pipeline's AutoDNS client
//! and the bundled simulator (both on loopback, port 0), forwards every request unchanged and
//! keeps a copy of it. It exists because the simulator's inspection API (`/_simulator/orders`)
//! lists certificate *orders* only; what else reached the simulator (a CertificateDelete, a
//! CertificateRevoke) the tests read here, decoded without the project's own codecs, so a codec
//! bug cannot hide itself.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio_util::sync::CancellationToken;

/// One request as it reached the simulator.
#[derive(Debug, Clone)]
pub struct Forwarded {
    pub method: String,
    pub path: String,
    pub body: String,
}

/// What a forwarded request asked the simulator to do, as far as these tests care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// CertificateDelete (400103) of this certificate id.
    Delete(i64),
    /// CertificateRevoke (4001031) of this certificate id.
    Revoke(i64),
    /// Anything else.
    Other,
}

impl Forwarded {
    /// Decodes the task: JSON by route (`DELETE /certificate/{id}`,
    /// `POST|DELETE /certificate/{id}/_revoke`), XML by `request/task/code` and the certificate
    /// id under the task.
    pub fn call(&self) -> Call {
        if let Some(rest) = self.path.strip_prefix("/v1/certificate/") {
            let parts: Vec<&str> = rest.split('/').collect();
            let id = parts.first().and_then(|p| p.parse::<i64>().ok());
            return match (self.method.as_str(), parts.as_slice(), id) {
                ("DELETE", [_], Some(id)) => Call::Delete(id),
                ("POST" | "DELETE", [_, "_revoke"], Some(id)) => Call::Revoke(id),
                _ => Call::Other,
            };
        }
        if self.path.starts_with("/v1") || self.method != "POST" {
            return Call::Other;
        }
        let texts = xml_texts(&self.body);
        let get = |p: &str| {
            texts
                .iter()
                .find(|(k, _)| k == p)
                .map(|(_, v)| v.trim().to_string())
        };
        let id = get("request/task/certificate/id").and_then(|v| v.parse::<i64>().ok());
        match (get("request/task/code").as_deref(), id) {
            (Some("400103"), Some(id)) => Call::Delete(id),
            (Some("4001031"), Some(id)) => Call::Revoke(id),
            _ => Call::Other,
        }
    }
}

/// Every text node of an XML document with its element path (`a/b/c`).
fn xml_texts(doc: &str) -> Vec<(String, String)> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(doc);
    let mut path: Vec<String> = Vec::new();
    let mut out = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                let name = e.local_name();
                path.push(name.into_inner().to_string())
            }
            Ok(Event::End(_)) => {
                path.pop();
            }
            Ok(Event::Text(t)) => {
                let text = t.xml10_content().to_string();
                if !text.trim().is_empty() {
                    out.push((path.join("/"), text));
                }
            }
            Ok(Event::Eof) | Err(_) => return out,
            Ok(_) => {}
        }
    }
}

#[derive(Clone)]
struct ProxyState {
    upstream: SocketAddr,
    client: reqwest::Client,
    seen: Arc<Mutex<Vec<Forwarded>>>,
}

/// A running proxy; stops when dropped.
pub struct Proxy {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Forwarded>>>,
    stop: CancellationToken,
}

impl Proxy {
    /// Starts a proxy on 127.0.0.1, port 0, forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let state = ProxyState {
            upstream,
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
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
        Proxy { addr, seen, stop }
    }

    /// Base URL of the JSON API through the proxy.
    pub fn json_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// URL of the XML gateway through the proxy.
    pub fn xml_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The endpoint for `wire` (`json` or `xml`).
    pub fn url(&self, wire: &str) -> String {
        if wire == "json" {
            self.json_url()
        } else {
            self.xml_url()
        }
    }

    /// Every request forwarded so far, in order: what was sent to the simulator, including
    /// requests its fault injection then refuses (a 503 "from the load balancer"), so with
    /// faults on, a count here is of attempts.
    pub fn forwarded(&self) -> Vec<Forwarded> {
        self.seen.lock().unwrap().clone()
    }

    /// The certificate ids of every CertificateDelete forwarded so far.
    pub fn deletes(&self) -> Vec<i64> {
        self.calls(|c| match c {
            Call::Delete(id) => Some(id),
            _ => None,
        })
    }

    /// The certificate ids of every CertificateRevoke forwarded so far.
    pub fn revokes(&self) -> Vec<i64> {
        self.calls(|c| match c {
            Call::Revoke(id) => Some(id),
            _ => None,
        })
    }

    fn calls(&self, pick: impl Fn(Call) -> Option<i64>) -> Vec<i64> {
        self.forwarded()
            .iter()
            .filter_map(|f| pick(f.call()))
            .collect()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Headers that belong to one hop and are not forwarded (RFC 9110 §7.6.1), plus the ones the
/// HTTP clients set themselves.
const HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

async fn forward(
    State(st): State<ProxyState>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    st.seen.lock().unwrap().push(Forwarded {
        method: method.to_string(),
        path: uri.path().to_string(),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let url = format!("http://{}{}", st.upstream, path_and_query);
    let mut req = st.client.request(method, url).body(body);
    for (k, v) in headers.iter() {
        if !HOP.contains(&k.as_str()) {
            req = req.header(k, v);
        }
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("proxy: {e}")).into_response(),
    };
    let status = resp.status();
    let mut out_headers = HeaderMap::new();
    for (k, v) in resp.headers().iter() {
        if !HOP.contains(&k.as_str()) {
            out_headers.append(k, v.clone());
        }
    }
    let bytes = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("proxy: {e}")).into_response(),
    };
    (status, out_headers, bytes).into_response()
}
