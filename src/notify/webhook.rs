//! Owns the webhook: one JSON POST per notification, signed with HMAC-SHA256 under a shared
//! secret so the receiver can tell it came from us and was not replayed later
//! (`docs/hooks.md#webhook`).
//!
//! Headers: `X-Smime-Event` (the event name), `X-Smime-Delivery` (the notification id: the same
//! on every retry, so a receiver can drop duplicates), `X-Smime-Timestamp` (Unix seconds of this
//! attempt) and `X-Smime-Signature: sha256=HEX`, where HEX is the lower-case HMAC-SHA256 of
//! `TIMESTAMP + "." + BODY` (the body's exact bytes) under the secret. A 2xx answer finishes the
//! notification; anything else is retried with the pipeline's backoff.

use std::time::Duration;

use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use serde::Serialize;

use crate::errors::error_chain;
use crate::pipeline::status::fmt_time;
use crate::secret::Secret;
use crate::store::Notification;

/// The version of the JSON body's shape.
pub const BODY_VERSION: u32 = 1;

/// The JSON body of one notification (field by field in `docs/hooks.md#webhook`).
#[derive(Debug, Serialize)]
pub struct Body<'a> {
    /// [`BODY_VERSION`].
    pub version: u32,
    /// The notification id (also `X-Smime-Delivery`).
    pub id: i64,
    /// The event name.
    pub event: &'a str,
    /// The mailbox.
    pub address: &'a str,
    /// The certificate generation.
    pub generation: u32,
    /// When the event was recorded (RFC 3339).
    pub at: String,
    /// The certificate's serial, hex.
    pub serial: Option<&'a str>,
    /// Its expiry (RFC 3339).
    pub not_after: Option<String>,
    /// Its SHA-256 fingerprint, hex.
    pub fingerprint_sha256: Option<&'a str>,
    /// The leaf certificate, PEM.
    pub certificate_pem: Option<&'a str>,
    /// The chain, PEM.
    pub chain_pem: Option<&'a str>,
    /// Why the mailbox failed (`failed` only).
    pub error: Option<&'a str>,
}

impl<'a> Body<'a> {
    /// The body for `n`.
    pub fn of(n: &'a Notification) -> Self {
        Body {
            version: BODY_VERSION,
            id: n.id,
            event: n.event.as_str(),
            address: n.address.as_str(),
            generation: n.generation,
            at: fmt_time(Some(n.at)),
            serial: n.serial.as_deref(),
            not_after: n.not_after.map(|t| fmt_time(Some(t))),
            fingerprint_sha256: n.fingerprint.as_deref(),
            certificate_pem: n.certificate_pem.as_deref(),
            chain_pem: n.chain_pem.as_deref(),
            error: n.error.as_deref(),
        }
    }
}

/// `sha256=HEX`: the signature of `body` sent at `timestamp` under `secret`.
pub fn signature(secret: &Secret<String>, timestamp: i64, body: &[u8]) -> Result<String, String> {
    let key = PKey::hmac(secret.expose().as_bytes()).map_err(|e| e.to_string())?;
    let mut signer = Signer::new(MessageDigest::sha256(), &key).map_err(|e| e.to_string())?;
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    let mac = signer
        .sign_oneshot_to_vec(&signed)
        .map_err(|e| e.to_string())?;
    Ok(format!("sha256={}", hex::encode(mac)))
}

/// Posts notifications to one URL.
#[derive(Debug)]
pub struct Webhook {
    client: reqwest::Client,
    url: url::Url,
    secret: Secret<String>,
}

impl Webhook {
    /// A poster to `url`, each request bounded by `timeout`; redirects are not followed (a
    /// signed body goes only where the config says).
    pub fn new(url: url::Url, secret: Secret<String>, timeout: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("smime-provisioner/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot set up the webhook client: {e}"))?;
        Ok(Webhook {
            client,
            url,
            secret,
        })
    }

    /// Posts `n` signed at `timestamp` (Unix seconds). `Err` with a readable reason unless the
    /// receiver answered 2xx.
    pub async fn post(&self, n: &Notification, timestamp: i64) -> Result<(), String> {
        let body = serde_json::to_vec(&Body::of(n)).map_err(|e| e.to_string())?;
        let sig = signature(&self.secret, timestamp, &body)?;
        let answer = self
            .client
            .post(self.url.clone())
            .header("Content-Type", "application/json")
            .header("X-Smime-Event", n.event.as_str())
            .header("X-Smime-Delivery", n.id.to_string())
            .header("X-Smime-Timestamp", timestamp.to_string())
            .header("X-Smime-Signature", sig)
            .body(body)
            .send()
            .await
            .map_err(|e| format!("POST {} failed: {}", self.url, error_chain(&e)))?;
        let status = answer.status();
        if status.is_success() {
            return Ok(());
        }
        let text = answer.text().await.unwrap_or_default();
        let text: String = text.chars().take(300).collect();
        Err(format!(
            "POST {} answered {status}: {}",
            self.url,
            text.trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hmac_of_timestamp_dot_body() {
        // Reference: `printf '1.x' | openssl dgst -sha256 -hmac Jefe`.
        let s = Secret::new("Jefe".to_string());
        assert_eq!(
            signature(&s, 1, b"x").unwrap(),
            "sha256=2f7ccbd0f043456ad29514b2d24a8aa345ec6673a5db1b44e91c8ac99d1841e3"
        );
        assert_ne!(
            signature(&s, 1, b"x").unwrap(),
            signature(&s, 2, b"x").unwrap(),
            "the timestamp is signed"
        );
    }
}
