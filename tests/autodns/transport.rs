//! Transport tests of the AutoDNS client against a small scripted HTTP server started by each
//! test on 127.0.0.1 port 0: what goes over the wire (auth, headers, routes, gateway body), what
//! is retried and what never is, how HTTP failures are classified, and that the pacer never lets
//! more than three requests into any one-second window.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use serde_json::{json, Value};
use smime_provisioner::autodns::model::{SslContact, Task};
use smime_provisioner::autodns::xml;
use smime_provisioner::autodns::{
    CertificateOrder, Client, ClientSettings, Error, ErrorKind, JobStatus, RetryPolicy, Wire,
};
use smime_provisioner::secret::Secret;

const USER: &str = "reseller";
const PASSWORD: &str = "s3cr3t-Passw0rd";
const DOWNLOAD_PASSWORD: &str = "Dl0adPassw0rd";
const CSR: &str =
    "-----BEGIN CERTIFICATE REQUEST-----\nMIIBczCCARkCAQAw\n-----END CERTIFICATE REQUEST-----\n";

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    method: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// A scripted answer.
#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    body: Vec<u8>,
    content_type: &'static str,
    delay: Duration,
    stid_header: Option<&'static str>,
    retry_after: Option<&'static str>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Self {
        Reply {
            status,
            body: body.to_string().into_bytes(),
            content_type: "application/json; charset=UTF-8",
            delay: Duration::ZERO,
            stid_header: None,
            retry_after: None,
        }
    }
    fn xml(status: u16, body: &str) -> Self {
        Reply {
            status,
            body: body.as_bytes().to_vec(),
            content_type: "application/xml",
            delay: Duration::ZERO,
            stid_header: None,
            retry_after: None,
        }
    }
    fn raw(status: u16, body: &[u8], content_type: &'static str) -> Self {
        Reply {
            status,
            body: body.to_vec(),
            content_type,
            delay: Duration::ZERO,
            stid_header: None,
            retry_after: None,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    seen: Vec<Seen>,
    script: VecDeque<Reply>,
    default: Option<Reply>,
}

/// The scripted server: answers from the script in order, then the default answer forever.
struct Mock {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Mock {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Mock {
    async fn start(script: Vec<Reply>, default: Option<Reply>) -> Result<Mock> {
        let state = Arc::new(Mutex::new(State {
            seen: Vec::new(),
            script: script.into(),
            default,
        }));
        let s = state.clone();
        let app = Router::new().fallback(move |req: axum::extract::Request| {
            let s = s.clone();
            async move { answer(s, req).await }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Mock { addr, state, task })
    }

    fn seen(&self) -> Vec<Seen> {
        self.state
            .lock()
            .map(|s| s.seen.clone())
            .unwrap_or_default()
    }

    fn client(&self, wire: Wire, retry: RetryPolicy) -> Result<Client> {
        let endpoint = match wire {
            Wire::Json => format!("http://{}/v1", self.addr),
            Wire::Xml => format!("http://{}/", self.addr),
        };
        let mut settings = ClientSettings::new(
            endpoint.parse()?,
            wire,
            USER,
            Secret::new(PASSWORD.to_string()),
        );
        settings.timeout = Duration::from_secs(5);
        settings.user_agent = "smime-provisioner-test/1".into();
        Ok(Client::with_retry_policy(settings, retry)?)
    }
}

async fn answer(state: Arc<Mutex<State>>, req: axum::extract::Request) -> Response {
    let at = Instant::now();
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    let reply = {
        let Ok(mut s) = state.lock() else {
            return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "poisoned").into_response();
        };
        s.seen.push(Seen {
            at,
            method: parts.method.to_string(),
            path: parts.uri.path().to_string(),
            query: parts.uri.query().map(str::to_string),
            headers: parts.headers.clone(),
            body,
        });
        let next = s.script.pop_front();
        next.or_else(|| s.default.clone())
    };
    let Some(reply) = reply else {
        return (axum::http::StatusCode::IM_A_TEAPOT, "script exhausted").into_response();
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let status = axum::http::StatusCode::from_u16(reply.status)
        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, [("content-type", reply.content_type)], reply.body).into_response();
    if let Some(wait) = reply.retry_after {
        resp.headers_mut()
            .insert("retry-after", axum::http::HeaderValue::from_static(wait));
    }
    if let Some(stid) = reply.stid_header {
        resp.headers_mut().insert(
            "x-domainrobot-stid",
            axum::http::HeaderValue::from_static(stid),
        );
    }
    resp
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        first_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(20),
    }
}

fn order() -> CertificateOrder {
    let mut o = CertificateOrder::new(
        "anna@example.org",
        CSR,
        100,
        Secret::new(DOWNLOAD_PASSWORD.to_string()),
    );
    o.technical_contact_id = Some(101);
    o.firstname = Some("Anna".into());
    o.lastname = Some("Example".into());
    o
}

fn job_reply() -> Reply {
    Reply::json(
        200,
        json!({
            "stid": "20261128-app1-1",
            "ctid": "smime-anna-1",
            "status": {"code": "N400101", "text": "Certificate order was started.", "type": "NOTIFY"},
            "object": {"type": "Certificate", "value": "anna@example.org"},
            "data": [{"id": 4309872209i64, "status": "RUNNING"}]
        }),
    )
}

fn certificate_reply(id: i64) -> Reply {
    Reply::json(
        200,
        json!({
            "stid": "20261128-app1-2",
            "status": {"code": "S400104", "type": "SUCCESS"},
            "data": [{"id": id, "name": "anna@example.org", "server": "-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----",
                      "certificationAuthority": [{"caType": "INTERMEDIATE", "caCertificate": "-----BEGIN CERTIFICATE-----\nMIJ\n-----END CERTIFICATE-----"}]}]
        }),
    )
}

fn assert_no_secret(text: &str) {
    assert!(!text.contains(PASSWORD), "API password leaked: {text}");
    assert!(
        !text.contains(DOWNLOAD_PASSWORD),
        "download password leaked: {text}"
    );
}

// ---------------------------------------------------------------------------------------------
// What goes over the wire
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_json_order_carries_basic_auth_context_ctid_user_agent_and_a_mail_body_with_our_csr(
) -> Result<()> {
    let mock = Mock::start(vec![job_reply()], None).await?;
    let client = mock.client(Wire::Json, fast_retries())?;
    let job = client.certificate_create(&order(), "smime-anna-1").await?;
    assert_eq!(
        (job.id, job.status),
        (Some(4309872209), Some(JobStatus::Running))
    );

    let seen = mock.seen();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v1/certificate")
    );
    let expected_auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    assert_eq!(r.header("authorization"), Some(expected_auth.as_str()));
    assert_eq!(r.header("x-domainrobot-context"), Some("9"));
    assert_eq!(r.header("x-domainrobot-ctid"), Some("smime-anna-1"));
    assert_eq!(r.header("user-agent"), Some("smime-provisioner-test/1"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = r.json();
    assert_eq!(body["certificateType"], "MAIL");
    assert_eq!(body["hasCsr"], true);
    // The CSR as InterNetX's SDKs send it: header, one base64 line, footer, joined by CRLF.
    assert_eq!(
        body["csr"],
        "-----BEGIN CERTIFICATE REQUEST-----\r\nMIIBczCCARkCAQAw\r\n-----END CERTIFICATE REQUEST-----"
    );
    assert_eq!(body["name"], "anna@example.org");
    assert_eq!(body["product"], "GLOBALSIGN_PERSONALSIGN_1");
    assert_eq!(body["lifetime"], json!({"unit": "MONTH", "period": 12}));
    assert_eq!(body["password"], DOWNLOAD_PASSWORD);
    assert_eq!(body["adminContact"], json!({"id": 100}));
    assert_eq!(body["technicalContact"], json!({"id": 101}));
    assert_eq!(
        body["authentication"],
        json!({"method": "EMAIL", "approverEmails": ["anna@example.org"]})
    );
    assert_eq!(body["firstname"], "Anna");
    Ok(())
}

#[tokio::test]
async fn an_xml_order_posts_the_auth_block_task_code_and_ctid_to_the_gateway_url() -> Result<()> {
    let reply = Reply::xml(
        200,
        r#"<response><result><data><certificate_job><job><id>123456</id><status>RUNNING</status></job></certificate_job></data>
        <status><code>N400101</code><type>notify</type><object><type>certificate</type><value>anna@example.org</value></object></status></result></response>"#,
    );
    let mock = Mock::start(vec![reply], None).await?;
    let client = mock.client(Wire::Xml, fast_retries())?;
    let job = client.certificate_create(&order(), "smime-anna-1").await?;
    assert_eq!(job.id, Some(123456));

    let seen = mock.seen();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/"));
    assert!(r
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/xml")));
    assert_eq!(
        r.header("authorization"),
        None,
        "the gateway authenticates in the body"
    );
    let (auth, req) = xml::decode_request(&r.body).map_err(anyhow::Error::msg)?;
    assert_eq!(
        (
            auth.user.as_str(),
            auth.password.expose().as_str(),
            auth.context
        ),
        (USER, PASSWORD, 9)
    );
    assert_eq!(req.ctid.as_deref(), Some("smime-anna-1"));
    let Task::CertificateCreate(c) = req.task else {
        anyhow::bail!("not a create: {:?}", req.task)
    };
    assert_eq!(c.has_csr, Some(true));
    assert_eq!(c.csr.as_deref(), Some(CSR.trim()));
    assert_eq!(c.approver_email.as_deref(), Some("anna@example.org"));
    assert_eq!(
        c.password.as_ref().map(|p| p.expose().as_str()),
        Some(DOWNLOAD_PASSWORD)
    );
    Ok(())
}

#[tokio::test]
async fn an_xml_contact_create_takes_the_new_id_from_the_status_object() -> Result<()> {
    let reply = Reply::xml(
        200,
        r#"<response><result><data/><status><code>S400201</code><text>Contact was successfully created.</text>
        <type>success</type><object><type>contact</type><value>4711</value></object></status></result></response>"#,
    );
    let mock = Mock::start(vec![reply], None).await?;
    let client = mock.client(Wire::Xml, fast_retries())?;
    let contact = SslContact {
        fname: Some("Anna".into()),
        lname: Some("Admin".into()),
        email: Some("hostmaster@example.org".into()),
        ..Default::default()
    };
    let created = client.ssl_contact_create(&contact).await?;
    assert_eq!(created.id, Some(4711));
    assert_eq!(created.email.as_deref(), Some("hostmaster@example.org"));
    Ok(())
}

#[tokio::test]
async fn json_routes_of_reads_and_poll_confirm_follow_the_reference() -> Result<()> {
    let ok = Reply::json(
        200,
        json!({"status": {"code": "S0", "type": "SUCCESS"}, "object": {"summary": 0}}),
    );
    let mock = Mock::start(vec![certificate_reply(7)], Some(ok)).await?;
    let client = mock.client(Wire::Json, fast_retries())?;
    let cert = client.certificate_info(7).await?;
    assert_eq!(cert.certification_authority.len(), 1);
    client.certificate_list(Some("anna@example.org")).await?;
    client.poll_info().await?;
    client.poll_confirm(1005360985).await?;
    client.hello().await?;
    let routes: Vec<(String, String)> = mock
        .seen()
        .iter()
        .map(|s| (s.method.clone(), s.path.clone()))
        .collect();
    let expected = [
        ("GET", "/v1/certificate/7"),
        ("POST", "/v1/certificate/_search"),
        ("GET", "/v1/poll"),
        ("PUT", "/v1/poll/1005360985"),
        ("GET", "/v1/hello"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(routes, expected);
    let list = &mock.seen()[1];
    assert!(
        list.query
            .as_deref()
            .is_some_and(|q| q.contains("keys%5B%5D=name")),
        "{:?}",
        list.query
    );
    assert_eq!(
        list.json()["filters"][0],
        json!({"key": "name", "value": "anna@example.org", "operator": "EQUAL"})
    );
    Ok(())
}

#[tokio::test]
async fn an_empty_poll_queue_gives_no_message_and_zero_queued() -> Result<()> {
    let empty = Reply::json(
        200,
        json!({"status": {"code": "S0905", "type": "SUCCESS"}, "object": {"type": "Message", "summary": 0}}),
    );
    let mock = Mock::start(vec![empty], None).await?;
    let info = mock.client(Wire::Json, fast_retries())?.poll_info().await?;
    assert_eq!((info.message, info.queued), (None, 0));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Retries
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_read_is_retried_after_5xx_and_an_html_error_page_then_succeeds() -> Result<()> {
    let html = Reply::raw(
        502,
        b"<!DOCTYPE html><html><body>Bad Gateway</body></html>",
        "text/html",
    );
    let script = vec![
        Reply::json(503, json!({"status": {"type": "ERROR", "code": "E400104"}})),
        html,
        certificate_reply(9),
    ];
    let mock = Mock::start(script, None).await?;
    let cert = mock
        .client(Wire::Json, fast_retries())?
        .certificate_info(9)
        .await?;
    assert_eq!(cert.id, Some(9));
    assert_eq!(mock.seen().len(), 3);
    Ok(())
}

#[tokio::test]
async fn reads_give_up_after_the_bounded_number_of_attempts() -> Result<()> {
    let mock = Mock::start(
        vec![],
        Some(Reply::json(503, json!({"status": {"type": "ERROR"}}))),
    )
    .await?;
    let err = mock
        .client(Wire::Json, fast_retries())?
        .certificate_info(9)
        .await
        .err()
        .context("must fail")?;
    assert!(err.is_transient());
    assert_eq!(mock.seen().len(), 3);
    Ok(())
}

#[tokio::test]
async fn an_order_answered_with_5xx_is_not_retried_and_its_outcome_is_unknown() -> Result<()> {
    for wire in [Wire::Json, Wire::Xml] {
        let mock = Mock::start(vec![], Some(Reply::raw(500, b"oops", "text/plain"))).await?;
        let client = mock.client(wire, fast_retries())?;
        let err = client
            .certificate_create(&order(), "c1")
            .await
            .err()
            .context("must fail")?;
        assert_eq!(err.kind(), ErrorKind::Transient);
        assert!(err.outcome_unknown(), "{err}");
        let id = 5;
        let err2 = client
            .certificate_renew(id, &order(), "c2")
            .await
            .err()
            .context("must fail")?;
        assert!(err2.outcome_unknown());
        client
            .certificate_reissue(id, &order(), "c3")
            .await
            .err()
            .context("must fail")?;
        client
            .certificate_delete(id, "c4")
            .await
            .err()
            .context("must fail")?;
        client
            .certificate_revoke(id, "0A")
            .await
            .err()
            .context("must fail")?;
        client
            .ssl_contact_create(&SslContact::default())
            .await
            .err()
            .context("must fail")?;
        assert_eq!(
            mock.seen().len(),
            6,
            "{wire:?}: every state-changing call went out exactly once"
        );
        assert_no_secret(&err.to_string());
    }
    Ok(())
}

#[tokio::test]
async fn an_order_that_times_out_is_sent_once_and_reported_as_outcome_unknown() -> Result<()> {
    let mut slow = job_reply();
    slow.delay = Duration::from_secs(3);
    let mock = Mock::start(vec![], Some(slow)).await?;
    let endpoint = format!("http://{}/v1", mock.addr);
    let mut settings = ClientSettings::new(
        endpoint.parse()?,
        Wire::Json,
        USER,
        Secret::new(PASSWORD.to_string()),
    );
    settings.timeout = Duration::from_millis(300);
    let client = Client::with_retry_policy(settings, fast_retries())?;
    let err = client
        .certificate_create(&order(), "c1")
        .await
        .err()
        .context("must time out")?;
    assert!(
        matches!(
            err,
            Error::Network {
                timed_out: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.outcome_unknown() && err.is_transient());
    assert_eq!(mock.seen().len(), 1);
    Ok(())
}

#[tokio::test]
async fn an_invalid_download_password_is_refused_before_anything_is_sent() -> Result<()> {
    let mock = Mock::start(vec![], Some(job_reply())).await?;
    let mut o = order();
    o.download_password = Secret::new("bad pass!".into());
    let err = mock
        .client(Wire::Json, fast_retries())?
        .certificate_create(&o, "c1")
        .await
        .err()
        .context("must fail")?;
    assert!(matches!(err, Error::InvalidRequest { .. }), "{err:?}");
    assert!(!err.to_string().contains("bad pass!"));
    assert!(mock.seen().is_empty());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Error classification over HTTP
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn bad_credentials_are_an_authentication_error_in_both_transports() -> Result<()> {
    let json_401 = Reply::json(
        401,
        json!({"stid": "s-401", "status": {"code": "E0001", "text": "Authentication failed.", "type": "ERROR"},
               "messages": [{"code": "EF02021", "text": "Login failed.", "status": "ERROR"}]}),
    );
    let mock = Mock::start(vec![], Some(json_401)).await?;
    let err = mock
        .client(Wire::Json, fast_retries())?
        .hello()
        .await
        .err()
        .context("must fail")?;
    assert_eq!(err.kind(), ErrorKind::Authentication);
    assert_eq!(
        mock.seen().len(),
        1,
        "authentication errors are not retried"
    );
    let shown = err.to_string();
    assert!(
        shown.contains("credentials") && shown.contains("EF02021") && shown.contains("s-401"),
        "{shown}"
    );
    assert_no_secret(&shown);

    let mock = Mock::start(vec![], Some(Reply::raw(401, b"", "text/plain"))).await?;
    let err = mock
        .client(Wire::Xml, fast_retries())?
        .poll_info()
        .await
        .err()
        .context("must fail")?;
    assert_eq!(err.kind(), ErrorKind::Authentication);
    assert_no_secret(&format!("{err} {err:?}"));
    Ok(())
}

#[tokio::test]
async fn an_unknown_certificate_id_is_not_found_with_the_api_codes() -> Result<()> {
    let r404 = Reply::json(
        404,
        json!({"stid": "s-404", "status": {"code": "E400104", "text": "Certificate not found.", "type": "ERROR"},
               "object": {"type": "Certificate", "value": "424242"},
               "messages": [{"code": "EF400104", "text": "The certificate does not exist.", "status": "ERROR"}]}),
    );
    let mock = Mock::start(vec![], Some(r404)).await?;
    let err = mock
        .client(Wire::Json, fast_retries())?
        .certificate_info(424242)
        .await
        .err()
        .context("must fail")?;
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.status_code(), Some("E400104"));
    assert_eq!(err.http_status(), Some(404));
    assert_eq!(mock.seen().len(), 1, "not-found is final, not retried");
    assert_eq!(
        err.api().map(|a| a.codes().collect::<Vec<_>>()),
        Some(vec!["EF400104"])
    );
    Ok(())
}

#[tokio::test]
async fn malformed_answers_become_typed_errors_with_the_stid_header() -> Result<()> {
    let cases: Vec<(Wire, Reply, ErrorKind)> = vec![
        (
            Wire::Xml,
            Reply::xml(200, "<response><result><data><certificate><id>1</id>"),
            ErrorKind::Malformed,
        ),
        (
            Wire::Json,
            Reply::raw(200, b"", "application/json"),
            ErrorKind::Malformed,
        ),
        (
            Wire::Xml,
            Reply::raw(200, b"", "application/xml"),
            ErrorKind::Malformed,
        ),
        (
            Wire::Json,
            Reply::raw(200, b"<html><body>Maintenance</body></html>", "text/html"),
            ErrorKind::Malformed,
        ),
        (
            Wire::Xml,
            Reply::raw(200, b"<html><body>Maintenance</body></html>", "text/html"),
            ErrorKind::Malformed,
        ),
        (
            Wire::Xml,
            Reply::xml(
                200,
                r#"<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><response>&x;</response>"#,
            ),
            ErrorKind::Malformed,
        ),
    ];
    for (wire, mut reply, kind) in cases {
        reply.stid_header = Some("20261128-stid-h");
        let body = String::from_utf8_lossy(&reply.body).to_string();
        let mock = Mock::start(vec![], Some(reply)).await?;
        // An order: a malformed answer must not be retried, and its outcome is unknown.
        let err = mock
            .client(wire, fast_retries())?
            .certificate_create(&order(), "c1")
            .await
            .err()
            .context("must fail")?;
        assert_eq!(err.kind(), kind, "{wire:?} {body}: {err}");
        assert!(err.outcome_unknown());
        assert_eq!(err.stid(), Some("20261128-stid-h"), "{err}");
        assert_eq!(mock.seen().len(), 1);
    }
    Ok(())
}

#[tokio::test]
async fn a_429_is_transient_and_known_not_to_have_been_carried_out() -> Result<()> {
    let mock = Mock::start(
        vec![],
        Some(Reply::raw(429, b"Too Many Requests", "text/plain")),
    )
    .await?;
    let err = mock
        .client(Wire::Json, fast_retries())?
        .certificate_create(&order(), "c1")
        .await
        .err()
        .context("must fail")?;
    assert!(err.is_transient());
    let mock = Mock::start(
        vec![],
        Some(Reply::json(
            429,
            json!({"status": {"type": "ERROR", "code": "E0"}}),
        )),
    )
    .await?;
    let err = mock
        .client(Wire::Json, fast_retries())?
        .certificate_create(&order(), "c1")
        .await
        .err()
        .context("must fail")?;
    assert!(err.is_transient() && !err.outcome_unknown(), "{err}");
    Ok(())
}

#[tokio::test]
async fn the_client_debug_output_shows_no_password() -> Result<()> {
    let mock = Mock::start(vec![], None).await?;
    let client = mock.client(Wire::Json, fast_retries())?;
    assert_no_secret(&format!("{client:?} {:?}", order()));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Pacing
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_pacer_never_lets_more_than_three_requests_into_any_one_second_window() -> Result<()> {
    let ok = Reply::json(
        200,
        json!({"status": {"code": "S0905", "type": "SUCCESS"}, "object": {"summary": 0}}),
    );
    let mock = Mock::start(vec![], Some(ok)).await?;
    let client = mock.client(Wire::Json, fast_retries())?;
    // Three clones hammer the server at once, as the daemon's tasks would.
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..4 {
                c.poll_info().await?;
            }
            Ok::<_, Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let mut times: Vec<Instant> = mock.seen().iter().map(|s| s.at).collect();
    times.sort();
    assert_eq!(times.len(), 12);
    // Count arrival timestamps: for every request, how many arrived within the one second
    // starting at it (inclusive).
    let worst = times
        .iter()
        .enumerate()
        .map(|(i, t)| {
            times[i..]
                .iter()
                .filter(|u| u.duration_since(*t) <= Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0);
    assert!(worst <= 3, "{worst} requests arrived within one second");
    let span = times[times.len() - 1].duration_since(times[0]);
    println!(
        "pacer: 12 requests over {:.3} s = {:.2} requests/s (budget 3/s), worst 1 s window held {worst}",
        span.as_secs_f64(),
        11.0 / span.as_secs_f64()
    );
    Ok(())
}

/// RFC 9110 §10.2.3: a 429 or 503 with `Retry-After` holds every request, the retry of a read
/// included, until the wait has passed; the client's own backoff (10 ms here) is shorter.
#[tokio::test]
async fn retry_after_on_a_429_or_503_holds_the_next_request_that_long() -> Result<()> {
    let ok = Reply::json(
        200,
        json!({"status": {"code": "S0905", "type": "SUCCESS"}, "object": {"summary": 0}}),
    );
    for status in [429, 503] {
        let mut busy = Reply::raw(status, b"slow down", "text/plain");
        busy.retry_after = Some("1");
        let mock = Mock::start(vec![busy], Some(ok.clone())).await?;
        mock.client(Wire::Json, fast_retries())?.poll_info().await?;
        let seen = mock.seen();
        assert_eq!(seen.len(), 2, "{status}: one refusal, one retry");
        let gap = seen[1].at.duration_since(seen[0].at);
        // A sleep never ends early, so this is a bound, not a timing guess.
        assert!(
            gap >= Duration::from_secs(1),
            "{status}: retried after {gap:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn an_order_to_an_endpoint_nobody_listens_on_is_transient_and_known_not_sent() -> Result<()> {
    // Bind, note the port, close: nothing listens there any more.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let endpoint = format!("http://127.0.0.1:{port}/v1");
    let settings = ClientSettings::new(
        endpoint.parse()?,
        Wire::Json,
        USER,
        Secret::new(PASSWORD.to_string()),
    );
    let client = Client::with_retry_policy(settings, fast_retries())?;
    let err = client
        .certificate_create(&order(), "c1")
        .await
        .err()
        .context("must fail")?;
    assert!(
        matches!(err, Error::Network { not_sent: true, .. }),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert!(
        !err.outcome_unknown(),
        "a refused connection cannot have placed an order"
    );
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    assert_no_secret(&err.to_string());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Searches read every page (`view.limit/offset`) and never a truncated list
// ---------------------------------------------------------------------------------------------

fn unpaced_client(mock: &Mock, wire: Wire) -> Result<Client> {
    let endpoint = match wire {
        Wire::Json => format!("http://{}/v1", mock.addr),
        Wire::Xml => format!("http://{}/", mock.addr),
    };
    let mut settings = ClientSettings::new(
        endpoint.parse()?,
        wire,
        USER,
        Secret::new(PASSWORD.to_string()),
    );
    settings.timeout = Duration::from_secs(5);
    // Many pages in a row; the documented 3/s pace is tested elsewhere.
    settings.requests_per_second = 1000.0;
    Ok(Client::with_retry_policy(settings, fast_retries())?)
}

fn json_job_page(first_id: i64, n: i64, summary: Option<i64>) -> Reply {
    let data: Vec<Value> = (first_id..first_id + n)
        .map(|id| {
            json!({"job": {"id": id, "status": "RUNNING", "action": "create"},
                          "object": {"type": "Certificate", "value": format!("u{id}@example.org")}})
        })
        .collect();
    let mut body = json!({"status": {"code": "S300115", "type": "SUCCESS"},
                          "object": {"type": "ObjectJob"}, "data": data});
    if let Some(s) = summary {
        body["object"]["summary"] = json!(s);
    }
    Reply::json(200, body)
}

#[tokio::test]
async fn a_json_job_search_pages_with_limit_and_offset_until_the_reported_total() -> Result<()> {
    use smime_provisioner::autodns::{JobQueue, Query, SEARCH_PAGE_SIZE};
    let mock = Mock::start(
        vec![
            json_job_page(1, SEARCH_PAGE_SIZE, Some(SEARCH_PAGE_SIZE + 40)),
            json_job_page(SEARCH_PAGE_SIZE + 1, 40, Some(SEARCH_PAGE_SIZE + 40)),
        ],
        None,
    )
    .await?;
    let client = unpaced_client(&mock, Wire::Json)?;
    let q = Query::equal("object", "u1@example.org");
    let jobs = client.job_search(&q, JobQueue::Active).await?;
    let ids: Vec<i64> = jobs.iter().filter_map(|j| j.job_id()).collect();
    assert_eq!(ids, (1..=SEARCH_PAGE_SIZE + 40).collect::<Vec<_>>());
    let seen = mock.seen();
    assert_eq!(seen.len(), 2, "two pages, then the total is reached");
    for (i, s) in seen.iter().enumerate() {
        assert_eq!(
            (s.method.as_str(), s.path.as_str()),
            ("POST", "/v1/job/_search")
        );
        let body = s.json();
        assert_eq!(body["view"]["limit"], SEARCH_PAGE_SIZE);
        assert_eq!(body["view"]["offset"], SEARCH_PAGE_SIZE * i as i64);
        assert_eq!(
            body["filters"][0]["key"], "object",
            "the filter goes on every page"
        );
        assert!(s
            .query
            .as_deref()
            .is_some_and(|q| q.contains("keys%5B%5D=object")));
    }
    Ok(())
}

#[tokio::test]
async fn a_search_that_does_not_end_is_an_error_not_a_truncated_list() -> Result<()> {
    use smime_provisioner::autodns::{JobQueue, Query, SEARCH_MAX_PAGES, SEARCH_PAGE_SIZE};
    // A server that ignores the view and always answers a full page without a total.
    let mock = Mock::start(vec![], Some(json_job_page(1, SEARCH_PAGE_SIZE, None))).await?;
    let client = unpaced_client(&mock, Wire::Json)?;
    let err = client
        .job_search(&Query::default(), JobQueue::History)
        .await
        .err()
        .context("an endless search must fail")?;
    assert_eq!(err.kind(), ErrorKind::Malformed, "{err}");
    assert!(err.to_string().contains("did not end"), "{err}");
    assert_eq!(mock.seen().len(), SEARCH_MAX_PAGES, "bounded");
    assert!(mock
        .seen()
        .iter()
        .all(|s| s.path == "/v1/job/history/_search"));
    Ok(())
}

#[tokio::test]
async fn an_xml_job_history_search_pages_until_a_short_page() -> Result<()> {
    use smime_provisioner::autodns::{JobQueue, Query, SEARCH_PAGE_SIZE};
    let page = |first: i64, n: i64| {
        let jobs: String = (first..first + n)
            .map(|id| {
                format!(
                    "<certificate_job><job><id>{id}</id><object>u{id}@example.org</object>\
                     <status>SUCCESS</status><ctid>c-{id}</ctid></job></certificate_job>"
                )
            })
            .collect();
        Reply::xml(
            200,
            &format!(
                "<response><result><data>{jobs}</data><status><code>S400135</code>\
                 <type>success</type></status></result></response>"
            ),
        )
    };
    let mock = Mock::start(
        vec![page(1, SEARCH_PAGE_SIZE), page(SEARCH_PAGE_SIZE + 1, 3)],
        None,
    )
    .await?;
    let client = unpaced_client(&mock, Wire::Xml)?;
    let jobs = client
        .job_search(&Query::default(), JobQueue::History)
        .await?;
    assert_eq!(jobs.len() as i64, SEARCH_PAGE_SIZE + 3);
    let first_of_page_two = format!("c-{}", SEARCH_PAGE_SIZE + 1);
    assert_eq!(
        jobs[SEARCH_PAGE_SIZE as usize].ctid(),
        Some(first_of_page_two.as_str())
    );
    let seen = mock.seen();
    assert_eq!(seen.len(), 2);
    for (i, s) in seen.iter().enumerate() {
        let (_, req) = xml::decode_request(&s.body).map_err(anyhow::Error::msg)?;
        assert_eq!(req.task.xml_code(), Some("400135"));
        let Task::JobHistoryList(q) = req.task else {
            anyhow::bail!("not a job history search: {:?}", req.task)
        };
        let view = q.view.context("a view on every page")?;
        assert_eq!(view.limit, Some(SEARCH_PAGE_SIZE));
        assert_eq!(view.offset, Some(SEARCH_PAGE_SIZE * i as i64));
    }
    Ok(())
}

#[tokio::test]
async fn a_server_that_caps_its_pages_below_our_limit_is_still_read_to_the_total() -> Result<()> {
    use smime_provisioner::autodns::{JobQueue, Query};
    // 120 jobs, at most 50 per answer whatever we ask for.
    let mock = Mock::start(
        vec![
            json_job_page(1, 50, Some(120)),
            json_job_page(51, 50, Some(120)),
            json_job_page(101, 20, Some(120)),
        ],
        None,
    )
    .await?;
    let client = unpaced_client(&mock, Wire::Json)?;
    let jobs = client
        .job_search(&Query::default(), JobQueue::Active)
        .await?;
    let ids: Vec<i64> = jobs.iter().filter_map(|j| j.job_id()).collect();
    assert_eq!(ids, (1..=120).collect::<Vec<_>>());
    let offsets: Vec<Value> = mock
        .seen()
        .iter()
        .map(|s| s.json()["view"]["offset"].clone())
        .collect();
    assert_eq!(
        offsets,
        [json!(0), json!(50), json!(100)],
        "offset = items read"
    );
    Ok(())
}

#[tokio::test]
async fn an_empty_page_short_of_the_reported_total_is_an_error_not_a_shorter_list() -> Result<()> {
    use smime_provisioner::autodns::{JobQueue, Query};
    let mock = Mock::start(
        vec![
            json_job_page(1, 30, Some(45)),
            json_job_page(31, 0, Some(45)),
        ],
        None,
    )
    .await?;
    let client = unpaced_client(&mock, Wire::Json)?;
    let err = client
        .job_search(&Query::default(), JobQueue::Active)
        .await
        .err()
        .context("a list short of its total must not pass as complete")?;
    assert_eq!(err.kind(), ErrorKind::Malformed, "{err}");
    assert!(err.to_string().contains("reports 45 items"), "{err}");
    Ok(())
}
