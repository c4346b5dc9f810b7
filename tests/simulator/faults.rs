//! Every fault knob of the simulator does what it says: 429 (XML: `EF00030`) above N requests
//! per second, 503
//! without processing, processed-but-unanswered requests, latency, failed jobs with `EF…`
//! messages (by name and by share), a DEFERRED phase, duplicated and foreign poll messages, and
//! HTTP push of job messages in JSON and XML.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Result};
use axum::http::HeaderMap;
use smime_provisioner::secret::Secret;
use smime_provisioner::simulator::{PushFormat, PushTarget};
use support::ca::{csr_for, p256_pkey};
use support::simulator::*;

#[tokio::test]
async fn more_than_three_requests_in_a_second_are_refused_on_both_transports_429_over_json(
) -> Result<()> {
    let (mut cfg, clock) = manual_config();
    cfg.faults.rate_limit_rps = Some(3.0);
    let sim = start(cfg).await?;
    let api = Json::new(&sim);
    for _ in 0..3 {
        assert_eq!(api.call("GET", "/hello", None).await?.status, 200);
    }
    let a = api.call("GET", "/hello", None).await?;
    assert_eq!(a.status, 429);
    assert_eq!(a.first_ef(), "EF00030");
    assert_eq!(a.headers["retry-after"], "1");
    let xml = Xml::new(&sim);
    let (http, doc) = xml.task("<code>0905</code>").await?;
    // The limit is per IP across both transports; the XML gateway answers it, like every API
    // error, with HTTP 200 and the code in the body.
    assert_eq!(http, 200);
    assert_eq!(
        xml_text(&doc, &["response", "result", "msg", "code"])?,
        "EF00030"
    );
    // The inspection endpoint is never limited.
    assert_eq!(
        reqwest::get(format!("http://{}/_simulator/orders", sim.addr()))
            .await?
            .status(),
        200
    );

    clock.advance(time::Duration::seconds(1));
    assert_eq!(
        api.call("GET", "/hello", None).await?.status,
        200,
        "a new second, a new budget"
    );
    Ok(())
}

#[tokio::test]
async fn a_5xx_share_of_one_answers_503_html_and_places_no_order() -> Result<()> {
    let mut cfg = config();
    cfg.faults.error_5xx_share = 1.0;
    let sim = start(cfg).await?;
    let api = Json::new(&sim);
    let r = api
        .http
        .post(format!("{}/certificate", api.base))
        .basic_auth(USER, Some(PASSWORD))
        .header("X-Domainrobot-Context", "9")
        .body(order_body("a@example.com", 1, "x").to_string())
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 503);
    assert!(r.headers()["content-type"]
        .to_str()?
        .starts_with("text/html"));
    assert!(r.text().await?.contains("<html>"));
    assert!(sim.orders().is_empty(), "the request never reached the API");
    Ok(())
}

#[tokio::test]
async fn a_timeout_share_of_one_processes_the_order_but_never_answers() -> Result<()> {
    let mut cfg = config();
    cfg.faults.timeout_share = 1.0;
    let sim = start(cfg).await?;
    let api = Json::new(&sim);
    let quick = Json {
        http: http_client(Duration::from_millis(500)),
        ..api.clone()
    };
    let contact_attempt = quick
        .call(
            "POST",
            "/sslcontact",
            Some(serde_json::json!({"fname": "A", "lname": "B", "email": "a@example.com"})),
        )
        .await;
    let Err(e) = contact_attempt else {
        bail!("expected the request to time out")
    };
    assert!(
        e.downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_timeout),
        "{e}"
    );
    // The contact was created although the client never heard so: an order naming the first
    // contact id the simulator hands out (37801) is accepted, not refused with EF03014.
    let csr = csr_for(&p256_pkey(), "a@example.com");
    let order = quick
        .call(
            "POST",
            "/certificate",
            Some(order_body("a@example.com", 37801, &csr)),
        )
        .await;
    assert!(order.is_err());
    let log = sim.orders();
    assert_eq!(
        log.len(),
        1,
        "the order was placed: outcome unknown to the client"
    );
    assert!(log[0].job_id.is_some(), "{:?}", log[0]);
    assert_ne!(log[0].status, "REJECTED");
    Ok(())
}

#[tokio::test]
async fn latency_delays_every_answer() -> Result<()> {
    let mut cfg = config();
    cfg.faults.latency = Duration::from_secs(60);
    let sim = start(cfg).await?;
    let api = Json::new(&sim);
    let quick = Json {
        http: http_client(Duration::from_millis(300)),
        ..api
    };
    assert!(
        quick.call("GET", "/hello", None).await.is_err(),
        "a minute of latency outlasts the client's patience"
    );
    let fast = start(config()).await?;
    let quick_fast = Json {
        http: quick.http.clone(),
        ..Json::new(&fast)
    };
    assert_eq!(quick_fast.call("GET", "/hello", None).await?.status, 200);
    Ok(())
}

#[tokio::test]
async fn jobs_for_listed_names_fail_with_ef400139_and_leave_no_certificate() -> Result<()> {
    let (mut cfg, clock) = manual_config();
    cfg.faults.fail_names = vec!["doomed@example.com".into()];
    let sim = start(cfg).await?;
    let api = Json::new(&sim);
    let contact = make_contact(&api).await?;
    let key = p256_pkey();
    for who in ["doomed@example.com", "fine@example.com"] {
        api.call(
            "POST",
            "/certificate",
            Some(order_body(who, contact, &csr_for(&key, who))),
        )
        .await?;
    }
    clock.advance(time::Duration::seconds(1));
    let p = api.call("GET", "/poll", None).await?;
    let m = p.data0();
    assert_eq!(m["object"]["value"], "doomed@example.com");
    assert_eq!(m["job"]["status"], "FAILED");
    assert_eq!(m["messages"][0]["code"], "EF400139");
    let cert_id = m["object"]["data"]["id"].as_i64().unwrap_or_default();
    assert_eq!(
        api.call("GET", &format!("/certificate/{cert_id}"), None)
            .await?
            .status,
        404
    );
    api.call("PUT", &format!("/poll/{}", m["id"]), None).await?;
    let p = api.call("GET", "/poll", None).await?;
    assert_eq!(p.data0()["job"]["status"], "SUCCESS");
    let statuses: Vec<String> = sim.orders().into_iter().map(|o| o.status).collect();
    assert_eq!(statuses, ["FAILED", "SUCCESS"]);

    // The XML message carries the failure too.
    let (mut cfg, clock) = manual_config();
    cfg.faults.fail_job_share = 1.0;
    let sim = start(cfg).await?;
    let api = Json::new(&sim);
    let contact = make_contact(&api).await?;
    api.call(
        "POST",
        "/certificate",
        Some(order_body(
            "any@example.com",
            contact,
            &csr_for(&key, "any@example.com"),
        )),
    )
    .await?;
    clock.advance(time::Duration::seconds(1));
    let (_, doc) = Xml::new(&sim).task("<code>0905</code>").await?;
    let m = ["response", "result", "data", "message"];
    assert_eq!(
        xml_text(&doc, &[m[0], m[1], m[2], m[3], "job", "status", "type"])?,
        "error"
    );
    assert_eq!(
        xml_text(&doc, &[m[0], m[1], m[2], m[3], "msg", "code"])?,
        "EF400139"
    );
    Ok(())
}

#[tokio::test]
async fn a_deferred_phase_shows_in_job_info_before_the_job_runs() -> Result<()> {
    let (mut cfg, clock) = manual_config();
    cfg.faults.deferred_for = Duration::from_secs(3600);
    cfg.issuance_delay = Duration::from_secs(60);
    let sim = start(cfg).await?;
    let api = Json::new(&sim);
    let contact = make_contact(&api).await?;
    let a = order_p256(&api, "h@example.com", contact).await?;
    let job = a.data0()["id"].as_i64().unwrap_or_default();
    let j = api.call("GET", &format!("/job/{job}"), None).await?;
    assert_eq!(j.data0()["job"]["status"], "DEFERRED");
    assert_eq!(j.data0()["job"]["subStatus"], "WF_EMAIL_AUTH");
    assert_eq!(
        j.data0()["authentication"][0]["status"],
        "PENDING_CUSTOMER_APPROVAL"
    );
    assert_eq!(sim.orders()[0].status, "RUNNING");

    clock.advance(time::Duration::minutes(59));
    assert_eq!(
        api.call("GET", &format!("/job/{job}"), None).await?.data0()["job"]["status"],
        "DEFERRED"
    );
    clock.advance(time::Duration::minutes(1));
    assert_eq!(
        api.call("GET", &format!("/job/{job}"), None).await?.data0()["job"]["status"],
        "RUNNING"
    );
    assert_eq!(
        api.call("GET", "/poll", None).await?.body["object"]["summary"],
        0
    );
    clock.advance(time::Duration::minutes(1));
    let p = api.call("GET", "/poll", None).await?;
    assert_eq!(p.data0()["job"]["status"], "SUCCESS");
    Ok(())
}

#[tokio::test]
async fn duplicated_and_foreign_messages_are_mixed_into_the_queue() -> Result<()> {
    let (mut cfg, clock) = manual_config();
    cfg.faults.duplicate_poll_messages = true;
    cfg.faults.foreign_messages = 2;
    let sim = start(cfg).await?;
    let api = Json::new(&sim);
    let contact = make_contact(&api).await?;
    let a = order_p256(&api, "i@example.com", contact).await?;
    let job = a.data0()["id"].clone();
    clock.advance(time::Duration::seconds(1));

    let mut seen = Vec::new();
    loop {
        let p = api.call("GET", "/poll", None).await?;
        let left = p.body["object"]["summary"].as_u64().unwrap_or(0);
        if left == 0 {
            break;
        }
        assert_eq!(
            left as usize,
            4 - seen.len(),
            "summary counts what is still queued"
        );
        let m = p.data0().clone();
        api.call("PUT", &format!("/poll/{}", m["id"]), None).await?;
        seen.push(m);
    }
    assert_eq!(seen.len(), 4);
    assert!(
        seen[..2].iter().all(|m| m["job"]["id"] != job),
        "foreign messages come first"
    );
    assert!(seen[..2]
        .iter()
        .any(|m| m["notify"]["type"] == "domain_away"));
    assert!(seen[..2]
        .iter()
        .any(|m| m["object"]["type"] == "Domain" && m.get("job").is_some()));
    assert_eq!(seen[2]["job"]["id"], job);
    assert_eq!(seen[3]["job"]["id"], job, "the job message comes twice");
    assert_ne!(seen[2]["id"], seen[3]["id"], "under two message ids");
    Ok(())
}

type Received = Arc<Mutex<Vec<(HeaderMap, String)>>>;

/// A push receiver on port 0 that records what it gets.
async fn receiver() -> Result<(String, Received, tokio::task::JoinHandle<()>)> {
    let got: Received = Arc::default();
    let store = got.clone();
    let app = axum::Router::new().route(
        "/push",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let store = store.clone();
            async move {
                store.lock().map(|mut g| g.push((headers, body))).ok();
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/push", listener.local_addr()?);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((url, got, task))
}

async fn wait_pushed(got: &Received) -> Result<(HeaderMap, String)> {
    for _ in 0..200 {
        if let Some(first) = got.lock().ok().and_then(|g| g.first().cloned()) {
            return Ok(first);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("nothing was pushed within 10 s")
}

#[tokio::test]
async fn finished_jobs_are_pushed_as_json_poll_documents_with_the_configured_headers() -> Result<()>
{
    let (url, got, rx_task) = receiver().await?;
    let mut cfg = config();
    cfg.push = Some(PushTarget {
        url: url.parse()?,
        format: PushFormat::Json,
        headers: vec![("X-Push-Token".into(), Secret::new("tok-123".into()))],
    });
    let sim = start(cfg).await?;
    let api = Json::new(&sim);
    let contact = make_contact(&api).await?;
    let a = order_p256(&api, "j@example.com", contact).await?;
    let (headers, body) = wait_pushed(&got).await?;
    assert_eq!(headers["x-push-token"], "tok-123");
    assert!(headers["content-type"]
        .to_str()?
        .starts_with("application/json"));
    let v: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!(v["status"]["code"], "S0905");
    assert_eq!(v["data"][0]["job"]["id"], a.data0()["id"]);
    assert_eq!(v["data"][0]["job"]["status"], "SUCCESS");
    // Pushed messages stay in the poll queue as well.
    assert_eq!(
        api.call("GET", "/poll", None).await?.data0()["id"],
        v["data"][0]["id"]
    );
    rx_task.abort();
    Ok(())
}

#[tokio::test]
async fn pushes_can_be_xml_documents() -> Result<()> {
    let (url, got, rx_task) = receiver().await?;
    let mut cfg = config();
    cfg.push = Some(PushTarget {
        url: url.parse()?,
        format: PushFormat::Xml,
        headers: Vec::new(),
    });
    let sim = start(cfg).await?;
    let api = Json::new(&sim);
    let contact = make_contact(&api).await?;
    order_p256(&api, "k@example.com", contact).await?;
    let (headers, body) = wait_pushed(&got).await?;
    assert!(headers["content-type"]
        .to_str()?
        .starts_with("application/xml"));
    let m = ["response", "result", "data", "message"];
    assert_eq!(
        xml_text(&body, &[m[0], m[1], m[2], m[3], "object", "value"])?,
        "k@example.com"
    );
    assert_eq!(
        xml_text(&body, &[m[0], m[1], m[2], m[3], "job", "status", "type"])?,
        "success"
    );
    rx_task.abort();
    Ok(())
}

#[tokio::test]
async fn a_refused_push_is_retried_with_the_same_message() -> Result<()> {
    let got: Received = Arc::default();
    let store = got.clone();
    let app = axum::Router::new().route(
        "/push",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let store = store.clone();
            async move {
                let n = store.lock().map(|mut g| {
                    g.push((headers, body));
                    g.len()
                });
                if n.unwrap_or(0) == 1 {
                    axum::http::StatusCode::SERVICE_UNAVAILABLE
                } else {
                    axum::http::StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/push", listener.local_addr()?);
    let rx_task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let mut cfg = config();
    cfg.push = Some(PushTarget {
        url: url.parse()?,
        format: PushFormat::Json,
        headers: Vec::new(),
    });
    let sim = start(cfg).await?;
    let api = Json::new(&sim);
    let contact = make_contact(&api).await?;
    order_p256(&api, "l@example.com", contact).await?;
    let mut bodies = Vec::new();
    for _ in 0..200 {
        bodies = got
            .lock()
            .map(|g| g.iter().map(|(_, b)| b.clone()).collect())
            .unwrap_or_default();
        if bodies.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(bodies.len(), 2, "one refused attempt, one accepted retry");
    let ids: Vec<serde_json::Value> = bodies
        .iter()
        .map(|b| serde_json::from_str::<serde_json::Value>(b).map(|v| v["data"][0]["id"].clone()))
        .collect::<Result<_, _>>()?;
    assert_eq!(ids[0], ids[1]);
    rx_task.abort();
    Ok(())
}

#[tokio::test]
async fn a_dropped_create_answer_leaves_a_running_job_that_only_the_job_list_shows() -> Result<()> {
    let (mut cfg, clock) = manual_config();
    cfg.faults.drop_create_answers = 1;
    cfg.faults.unlisted_until_issued = true;
    let sim = start(cfg).await?;
    let api = Json::new(&sim);
    let contact = make_contact(&api).await?;
    let quick = Json {
        http: http_client(Duration::from_millis(500)),
        ..api.clone()
    };
    let lost = quick
        .call_ctid(
            "POST",
            "/certificate",
            Some(order_body(
                "lou@example.com",
                contact,
                &csr_for(&p256_pkey(), "lou@example.com"),
            )),
            Some("lou-1"),
        )
        .await;
    let Err(e) = lost else {
        bail!("expected the first order's answer to be dropped")
    };
    assert!(
        e.downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_timeout),
        "{e}"
    );
    // Only the first answer is dropped.
    let second = order_p256(&api, "max@example.com", contact).await?;
    assert_eq!(second.code(), "N400101");
    let log = sim.orders();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0].status, "RUNNING", "the lost order stands");

    let by_name = |name: &str| serde_json::json!({"filters": [{"key": "name", "value": name, "operator": "EQUAL"}]});
    let listed = api
        .call(
            "POST",
            "/certificate/_search",
            Some(by_name("lou@example.com")),
        )
        .await?;
    assert_eq!(
        listed.body["object"]["summary"], 0,
        "not listed while running"
    );
    let jobs = api
        .call(
            "POST",
            "/job/_search",
            Some(serde_json::json!({"filters": [
                {"key": "object", "value": "lou@example.com", "operator": "EQUAL"}]})),
        )
        .await?;
    assert_eq!(jobs.body["object"]["summary"], 1);
    assert_eq!(jobs.data0()["job"]["id"].as_i64(), log[0].job_id);
    assert_eq!(jobs.data0()["job"]["events"][0]["ctid"], "lou-1");

    clock.advance(time::Duration::seconds(1));
    let listed = api
        .call(
            "POST",
            "/certificate/_search",
            Some(by_name("lou@example.com")),
        )
        .await?;
    assert_eq!(listed.body["object"]["summary"], 1, "listed once issued");
    Ok(())
}

#[tokio::test]
async fn the_job_search_routes_are_behind_the_same_fault_layer() -> Result<()> {
    let mut cfg = config();
    cfg.faults.error_5xx_share = 1.0;
    let sim = start(cfg).await?;
    let http = http_client(Duration::from_secs(10));
    for path in ["/job/_search", "/job/history/_search"] {
        let resp = http
            .post(format!("{}{path}", sim.json_url()))
            .basic_auth(USER, Some(PASSWORD))
            .header("X-Domainrobot-Context", CONTEXT.to_string())
            .body("{}")
            .send()
            .await?;
        assert_eq!(resp.status().as_u16(), 503, "{path}");
        assert!(resp.text().await?.contains("Service Unavailable"));
    }
    let (status, body) = Xml::new(&sim).task("<code>400115</code>").await?;
    assert_eq!(status, 503, "{body}");
    Ok(())
}
