//! Shared helpers for the simulator's integration tests: start a simulator on port 0, talk to it
//! with hand-written JSON and XML requests over reqwest (not our AutoDNS client), and read XML
//! replies.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use smime_provisioner::clock::ManualClock;
use smime_provisioner::simulator::{Simulator, SimulatorConfig, SimulatorHandle};

use crate::ca::{csr_for, p256_pkey};

pub const USER: &str = "tester";
pub const PASSWORD: &str = "correct-horse-battery";
pub const CONTEXT: u32 = 9;

/// A config with test credentials, a 150 ms issuance delay and a fixed seed.
pub fn config() -> SimulatorConfig {
    let mut c = SimulatorConfig::new(USER, PASSWORD);
    c.issuance_delay = Duration::from_millis(150);
    c.seed = Some(7);
    c
}

/// A config on a manual clock standing at the real current time (so issued certificates are
/// valid for `openssl verify`); jobs finish only when the test moves the clock.
pub fn manual_config() -> (SimulatorConfig, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let mut c = config();
    c.clock = clock.clone();
    (c, clock)
}

/// Starts a simulator on 127.0.0.1:0.
pub async fn start(cfg: SimulatorConfig) -> Result<SimulatorHandle> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    Ok(Simulator::start(cfg, listener)?)
}

/// A reqwest client with a User-Agent (the JSON API requires one) and the given timeout.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent("simulator-tests/1")
        .build()
        .expect("reqwest client")
}

/// A JSON API caller with Basic auth and the context header.
#[derive(Debug, Clone)]
pub struct Json {
    pub base: String,
    pub http: reqwest::Client,
    pub user: String,
    pub password: String,
    pub context: Option<String>,
}

/// An answer: HTTP status, headers and the parsed body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["status"]["code"].as_str().unwrap_or("")
    }
    pub fn first_ef(&self) -> &str {
        self.body["messages"][0]["code"].as_str().unwrap_or("")
    }
    pub fn data0(&self) -> &Value {
        &self.body["data"][0]
    }
}

impl Json {
    pub fn new(h: &SimulatorHandle) -> Json {
        Json {
            base: h.json_url(),
            http: http_client(Duration::from_secs(20)),
            user: USER.into(),
            password: PASSWORD.into(),
            context: Some(CONTEXT.to_string()),
        }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Answer> {
        self.call_ctid(method, path, body, None).await
    }

    pub async fn call_ctid(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        ctid: Option<&str>,
    ) -> Result<Answer> {
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut req = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .basic_auth(&self.user, Some(&self.password))
            .header("accept", "application/json");
        if let Some(c) = &self.context {
            req = req.header("X-Domainrobot-Context", c);
        }
        if let Some(c) = ctid {
            req = req.header("X-Domainrobot-Ctid", c);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await?;
        let body = serde_json::from_str(&text).with_context(|| format!("not JSON: {text}"))?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}

/// The XML gateway caller.
#[derive(Debug, Clone)]
pub struct Xml {
    pub url: String,
    pub http: reqwest::Client,
}

impl Xml {
    pub fn new(h: &SimulatorHandle) -> Xml {
        Xml {
            url: h.xml_url(),
            http: http_client(Duration::from_secs(20)),
        }
    }

    /// Sends `<request><auth>…</auth><task>{task}</task></request>` with the test credentials.
    pub async fn task(&self, task: &str) -> Result<(u16, String)> {
        self.raw(&format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><request><auth><user>{USER}</user>\
             <password>{PASSWORD}</password><context>{CONTEXT}</context></auth><task>{task}</task></request>"
        ))
        .await
    }

    pub async fn raw(&self, body: &str) -> Result<(u16, String)> {
        let resp = self
            .http
            .post(&self.url)
            .header("content-type", "application/xml")
            .body(body.to_string())
            .send()
            .await?;
        Ok((resp.status().as_u16(), resp.text().await?))
    }
}

/// Texts of every element at `path` (element names from the root, e.g.
/// `["response", "result", "status", "code"]`), CDATA and entities included.
pub fn xml_texts(doc: &str, path: &[&str]) -> Vec<String> {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_str(doc);
    let mut stack: Vec<String> = Vec::new();
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    loop {
        match r.read_event() {
            Ok(Event::Start(s)) => {
                stack.push(s.local_name().as_ref().to_string());
                if stack == path {
                    cur = Some(String::new());
                }
            }
            Ok(Event::Empty(s)) => {
                stack.push(s.local_name().as_ref().to_string());
                if stack == path {
                    out.push(String::new());
                }
                stack.pop();
            }
            Ok(Event::End(_)) => {
                if stack == path {
                    if let Some(c) = cur.take() {
                        out.push(c.trim().to_string());
                    }
                }
                stack.pop();
            }
            Ok(Event::Text(t)) => {
                if let Some(c) = cur.as_mut() {
                    c.push_str(&t.xml10_content());
                }
            }
            Ok(Event::CData(t)) => {
                if let Some(c) = cur.as_mut() {
                    c.push_str(&t.into_inner());
                }
            }
            Ok(Event::GeneralRef(g)) => {
                if let Some(c) = cur.as_mut() {
                    let s = quick_xml::escape::resolve_predefined_entity(&g).unwrap_or("");
                    c.push_str(s);
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    out
}

/// The first text at `path`, or an error naming the path and the document.
pub fn xml_text(doc: &str, path: &[&str]) -> Result<String> {
    xml_texts(doc, path)
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("no {} in {doc}", path.join("/")))
}

/// Creates an SSL contact over JSON and returns its id.
pub async fn make_contact(api: &Json) -> Result<i64> {
    let a = api
        .call(
            "POST",
            "/sslcontact",
            Some(json!({"fname": "Joe", "lname": "Sample", "email": "admin@example.com",
                       "phone": "+49-941-1234560", "organization": "Example GmbH", "country": "DE"})),
        )
        .await?;
    if a.code() != "S400201" {
        bail!("contact create failed: {}", a.body);
    }
    a.data0()["id"]
        .as_i64()
        .ok_or_else(|| anyhow!("no id in {}", a.body))
}

/// A JSON CertificateCreate body for `address` with our own CSR.
pub fn order_body(address: &str, contact: i64, csr: &str) -> Value {
    json!({
        "name": address, "product": "GLOBALSIGN_PERSONALSIGN_1", "certificateType": "MAIL",
        "lifetime": {"unit": "MONTH", "period": 12}, "software": "NOT_SET",
        "adminContact": {"id": contact}, "hasCsr": true, "csr": csr,
        "password": "Download1234", "authentication": {"method": "EMAIL", "approverEmails": [address]}
    })
}

/// Sends CertificateCreate over JSON for `address`, with a CSR of a fresh P-256 key.
pub async fn order_p256(api: &Json, address: &str, contact: i64) -> Result<Answer> {
    let csr = csr_for(&p256_pkey(), address);
    api.call(
        "POST",
        "/certificate",
        Some(order_body(address, contact, &csr)),
    )
    .await
}

/// Polls until the queue is not empty (fails after 15 s instead of hanging).
pub async fn wait_for_message(api: &Json) -> Result<Answer> {
    for _ in 0..300 {
        let a = api.call("GET", "/poll", None).await?;
        if a.body["object"]["summary"].as_u64().unwrap_or(0) > 0 {
            return Ok(a);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("no poll message arrived within 15 s")
}
