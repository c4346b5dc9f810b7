//! The push endpoint's reachability (`http.listen` with `http.public_push_url`): whether a
//! request to the URL entered in the AutoDNS account arrives at this endpoint.
//!
//! With the listen address free (the daemon stopped), preflight listens there itself for the
//! moment of the check and answers with a one-time mark, then requests the public URL: the mark
//! in the answer proves the path (DNS, proxy or port forward) ends here. With the address in use
//! (the daemon running), the daemon's own refusal of an empty push (HTTP 400 or 401, which names
//! the push) stands in. The request goes out from this machine: a firewall that only blocks
//! AutoDNS's addresses cannot be seen from here, and the line says so.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::Check;
use crate::config::Config;

const KEY: &str = "http.push";
const MARK_HEADER: &str = "x-smime-provisioner-preflight";
const TIMEOUT: Duration = Duration::from_secs(10);

/// The check, or `None` when push is not configured (no `http.listen`).
pub(super) async fn check(config: &Config) -> Option<Check> {
    let listen = config.http.listen?;
    let Some(url) = &config.http.public_push_url else {
        return Some(Check::warn(
            KEY,
            format!(
                "pushes are served on {listen}, but http.public_push_url is not set, so whether \
                 AutoDNS reaches them was not checked"
            ),
            "set http.public_push_url to the push URL entered in the AutoDNS account (without \
             push, the poll queue delivers the same messages)",
        ));
    };
    let shown = shown_url(url, config);
    Some(match TcpListener::bind(listen).await {
        Ok(listener) => through_our_listener(listener, url, &shown, listen).await,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            through_the_daemon(url, &shown, listen).await
        }
        Err(e) => Check::fail(
            KEY,
            format!("cannot listen on http.listen {listen}: {e}"),
            "correct http.listen (an address of this host, a port the service user may bind)",
        ),
    })
}

/// The URL as printed: the push token, wherever it sits in the URL, is not shown.
fn shown_url(url: &url::Url, config: &Config) -> String {
    let mut s = url.to_string();
    if let Some(t) = &config.http.push_token {
        if !t.expose().is_empty() {
            s = s.replace(t.expose().as_str(), "TOKEN");
        }
    }
    s
}

fn unreachable(shown: &str, listen: SocketAddr, e: &reqwest::Error) -> Check {
    let reason = crate::cli::error_chain(e);
    Check::fail(
        KEY,
        format!("no answer from http.public_push_url {shown}: {reason}"),
        format!(
            "make {shown} reach {listen} (DNS name, firewall, reverse proxy or port forward), or \
             correct http.public_push_url to the URL that does"
        ),
    )
}

async fn through_our_listener(
    listener: TcpListener,
    url: &url::Url,
    shown: &str,
    listen: SocketAddr,
) -> Check {
    let mark = format!("{:016x}", rand::random::<u64>());
    let answering = tokio::spawn(answer_with_mark(listener, mark.clone()));
    let result = http().post(url.clone()).body("").send().await;
    answering.abort();
    match result {
        Ok(resp)
            if resp
                .headers()
                .get(MARK_HEADER)
                .and_then(|v| v.to_str().ok())
                == Some(&mark) =>
        {
            Check::ok(
                KEY,
                format!(
                    "a request to {shown} arrived at http.listen {listen} (sent from this host; \
                     a firewall that only blocks AutoDNS cannot be seen from here)"
                ),
            )
        }
        Ok(resp) => Check::fail(
            KEY,
            format!(
                "{shown} answered HTTP {}, but the request did not arrive at http.listen {listen}",
                resp.status().as_u16()
            ),
            format!("point the reverse proxy or port forward for {shown} at {listen}"),
        ),
        Err(e) => unreachable(shown, listen, &e),
    }
}

/// Answers every connection with the mark, until aborted. Reads at most 16 KiB of each request.
async fn answer_with_mark(listener: TcpListener, mark: String) {
    while let Ok((mut conn, _)) = listener.accept().await {
        let mut buf = vec![0u8; 16 * 1024];
        let mut read = 0;
        while read < buf.len() {
            match tokio::time::timeout(TIMEOUT, conn.read(&mut buf[read..])).await {
                Ok(Ok(n)) if n > 0 => read += n,
                _ => break,
            }
            if buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        let answer = format!(
            "HTTP/1.1 200 OK\r\n{MARK_HEADER}: {mark}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
        let _ = conn.write_all(answer.as_bytes()).await;
        let _ = conn.shutdown().await;
    }
}

async fn through_the_daemon(url: &url::Url, shown: &str, listen: SocketAddr) -> Check {
    match http().post(url.clone()).body("").send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap_or_default();
            if matches!(status, 400 | 401) && body.contains("push") {
                Check::ok(
                    KEY,
                    format!(
                        "{shown} reached the running daemon (it refused an empty push with HTTP \
                         {status}, as it should)"
                    ),
                )
            } else {
                Check::warn(
                    KEY,
                    format!(
                        "{shown} answered HTTP {status}; http.listen {listen} is in use, so the \
                         answer could not be traced to this endpoint"
                    ),
                    "stop the daemon and run preflight again to have the path checked end to end",
                )
            }
        }
        Err(e) => unreachable(shown, listen, &e),
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}
