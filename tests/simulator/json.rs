//! The simulator's JSON API over real HTTP, with hand-written requests: authentication, every
//! task, FIFO poll semantics, jobs finishing after the delay, searches, the order log.

use anyhow::Result;
use serde_json::json;
use support::ca::{csr_for, p256_pkey, rsa_pkey};
use support::simulator::*;

#[tokio::test]
async fn hello_answers_with_the_envelope_and_an_stid_header() -> Result<()> {
    let sim = start(config()).await?;
    let api = Json::new(&sim);
    let a = api.call("GET", "/hello", None).await?;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["status"]["type"], "SUCCESS");
    let stid = a.body["stid"].as_str().unwrap_or_default().to_string();
    assert!(!stid.is_empty());
    assert_eq!(a.headers["x-domainrobot-stid"].to_str()?, stid);
    assert!(a.headers["content-type"]
        .to_str()?
        .starts_with("application/json"));
    Ok(())
}

#[tokio::test]
async fn wrong_password_unknown_user_wrong_or_missing_context_are_refused_with_401() -> Result<()> {
    let sim = start(config()).await?;
    let good = Json::new(&sim);
    let cases = [
        Json {
            password: "wrong".into(),
            ..good.clone()
        },
        Json {
            user: "nobody".into(),
            ..good.clone()
        },
        Json {
            context: Some("1".into()),
            ..good.clone()
        },
        Json {
            context: None,
            ..good.clone()
        },
    ];
    for api in cases {
        let a = api
            .call("POST", "/sslcontact/_search", Some(json!({})))
            .await?;
        assert_eq!(a.status, 401, "{:?}: {}", api.context, a.body);
        assert_eq!(a.body["status"]["type"], "ERROR");
        assert_eq!(a.code(), "E400205");
        assert_eq!(a.first_ef(), "EF00010");
    }
    // Context 4 (the SDKs' default) is accepted as well as 9.
    let four = Json {
        context: Some("4".into()),
        ..good.clone()
    };
    assert_eq!(four.call("GET", "/hello", None).await?.status, 200);
    // No User-Agent: the JSON API requires one, whatever the credentials.
    let bare = reqwest::Client::new();
    let r = bare
        .get(format!("{}/hello", good.base))
        .basic_auth(USER, Some(PASSWORD))
        .header("X-Domainrobot-Context", "9")
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 400);
    let body: serde_json::Value = r.json().await?;
    assert_eq!(body["messages"][0]["code"], "EF00003");
    // No Authorization header at all.
    let r = good.http.get(format!("{}/hello", good.base)).send().await?;
    assert_eq!(r.status().as_u16(), 401);
    Ok(())
}

#[tokio::test]
async fn ssl_contacts_can_be_created_read_updated_searched_and_deleted() -> Result<()> {
    let sim = start(config()).await?;
    let api = Json::new(&sim);
    let id = make_contact(&api).await?;
    let a = api.call("GET", &format!("/sslcontact/{id}"), None).await?;
    assert_eq!(a.code(), "S400204");
    assert_eq!(a.data0()["fname"], "Joe");
    assert_eq!(a.data0()["owner"]["context"], 9);
    assert!(a.data0()["created"].as_str().unwrap_or("").contains('T'));

    let a = api
        .call(
            "PUT",
            &format!("/sslcontact/{id}"),
            Some(json!({"lname": "Other"})),
        )
        .await?;
    assert_eq!(a.code(), "S400202");
    let a = api.call("GET", &format!("/sslcontact/{id}"), None).await?;
    assert_eq!(a.data0()["lname"], "Other");
    assert_eq!(
        a.data0()["fname"],
        "Joe",
        "fields not sent stay as they were"
    );

    let second = make_contact(&api).await?;
    let a = api
        .call("POST", "/sslcontact/_search", Some(json!({"filters": [{"key": "id", "value": second.to_string(), "operator": "EQUAL"}]})))
        .await?;
    assert_eq!(a.code(), "S400205");
    assert_eq!(a.body["object"]["summary"], 1);
    assert_eq!(a.data0()["id"], second);
    assert!(
        a.data0().get("email").is_none(),
        "list items are sparse unless keys are asked for"
    );
    let a = api
        .call("POST", "/sslcontact/_search?keys[]=email", Some(json!({})))
        .await?;
    assert_eq!(a.body["object"]["summary"], 2);
    assert_eq!(a.data0()["email"], "admin@example.com");

    let a = api
        .call("DELETE", &format!("/sslcontact/{id}"), None)
        .await?;
    assert_eq!(a.code(), "S400203");
    let a = api.call("GET", &format!("/sslcontact/{id}"), None).await?;
    assert_eq!(a.status, 404);
    assert_eq!(a.first_ef(), "EF03014");
    Ok(())
}

#[tokio::test]
async fn contacts_with_missing_or_malformed_fields_are_refused_with_ef_codes() -> Result<()> {
    let sim = start(config()).await?;
    let api = Json::new(&sim);
    let a = api
        .call("POST", "/sslcontact", Some(json!({"fname": "Joe"})))
        .await?;
    assert_eq!(
        (a.status, a.code(), a.first_ef()),
        (400, "E400201", "EF01000")
    );
    let a = api
        .call(
            "POST",
            "/sslcontact",
            Some(
                json!({"fname": "J", "lname": "S", "email": "a@example.com", "phone": "0941 123"}),
            ),
        )
        .await?;
    assert_eq!(a.first_ef(), "EF01001");
    assert_eq!(a.body["messages"][0]["objects"][0]["type"], "phone");
    let r = api
        .http
        .post(format!("{}/sslcontact", api.base))
        .basic_auth(USER, Some(PASSWORD))
        .header("X-Domainrobot-Context", "9")
        .body("{\"fname\": ")
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 400);
    let body: serde_json::Value = r.json().await?;
    assert_eq!(body["messages"][0]["code"], "EF00001");
    Ok(())
}

#[tokio::test]
async fn prepare_order_parses_the_csr_under_both_spellings() -> Result<()> {
    let sim = start(config()).await?;
    let api = Json::new(&sim);
    let csr = csr_for(&p256_pkey(), "alice@example.com");
    for path in ["/certificate/_prepareOrder", "/certificate/prepareOrder"] {
        let a = api
            .call(
                "POST",
                path,
                Some(json!({"plain": csr, "product": "GLOBALSIGN_PERSONALSIGN_1"})),
            )
            .await?;
        assert_eq!(a.code(), "S400110", "{path}: {}", a.body);
        assert_eq!(a.data0()["name"], "alice@example.com");
        assert_eq!(a.data0()["algorithm"], "PRIME_256_V1");
        assert_eq!(
            a.data0()["authentication"][0]["approverEmails"][0],
            "alice@example.com"
        );
    }
    let a = api
        .call(
            "POST",
            "/certificate/_prepareOrder",
            Some(json!({"plain": "not a csr"})),
        )
        .await?;
    assert_eq!((a.status, a.first_ef()), (400, "EF4001101"));
    Ok(())
}

#[tokio::test]
async fn an_order_runs_as_a_job_then_fifo_poll_info_and_confirm_deliver_its_message() -> Result<()>
{
    let (cfg, clock) = manual_config();
    let sim = start(cfg).await?;
    let api = Json::new(&sim);
    let contact = make_contact(&api).await?;
    let csr = csr_for(&p256_pkey(), "alice@example.com");

    let a = api
        .call_ctid(
            "POST",
            "/certificate",
            Some(order_body("alice@example.com", contact, &csr)),
            Some("ctid-alice-1"),
        )
        .await?;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.code(), "N400101");
    assert_eq!(a.body["status"]["type"], "NOTIFY");
    assert_eq!(a.body["ctid"], "ctid-alice-1");
    assert_eq!(a.body["object"]["value"], "alice@example.com");
    assert_eq!(a.data0()["status"], "RUNNING");
    let job_id = a.data0()["id"].as_i64().unwrap_or_default();
    assert!(
        job_id > i64::from(i32::MAX),
        "job ids exceed 32 bits as on the real API"
    );

    // While the job runs: job info answers, the queue is empty, the certificate has no PEM yet.
    let j = api.call("GET", &format!("/job/{job_id}"), None).await?;
    assert_eq!(j.code(), "S300114");
    assert_eq!(j.data0()["job"]["status"], "RUNNING");
    let cert_id = j.data0()["object"]["data"]["id"]
        .as_i64()
        .unwrap_or_default();
    let c = api
        .call("GET", &format!("/certificate/{cert_id}"), None)
        .await?;
    assert_eq!(c.data0()["serialNumber"], "NOT_SET");
    assert!(c.data0().get("server").is_none());
    let p = api.call("GET", "/poll", None).await?;
    assert_eq!(p.body["object"]["summary"], 0);
    assert!(p.body.get("data").is_none());

    // A second order so the queue holds two messages.
    let csr_b = csr_for(&p256_pkey(), "bob@example.com");
    api.call(
        "POST",
        "/certificate",
        Some(order_body("bob@example.com", contact, &csr_b)),
    )
    .await?;

    clock.advance(time::Duration::seconds(1));
    let first = api.call("GET", "/poll", None).await?;
    assert_eq!(first.code(), "S0905");
    assert_eq!(first.body["object"]["summary"], 2);
    let msg = first.data0();
    assert_eq!(msg["job"]["id"], job_id);
    assert_eq!(msg["job"]["status"], "SUCCESS");
    assert_eq!(msg["job"]["action"], "create");
    assert_eq!(msg["ctid"], "ctid-alice-1");
    assert_eq!(msg["object"]["type"], "Certificate");
    assert_eq!(msg["object"]["data"]["id"], cert_id);
    let msg_id = msg["id"].as_i64().unwrap_or_default();
    assert_eq!(first.body["object"]["value"], msg_id.to_string());

    // Unconfirmed: the same message again.
    let again = api.call("GET", "/poll", None).await?;
    assert_eq!(again.data0()["id"], msg_id);
    assert_eq!(again.body["object"]["summary"], 2);

    let conf = api.call("PUT", &format!("/poll/{msg_id}"), None).await?;
    assert_eq!(conf.code(), "S0906");
    assert_eq!(conf.body["object"]["summary"], 1);
    let next = api.call("GET", "/poll", None).await?;
    assert_ne!(next.data0()["id"], msg_id);
    assert_eq!(next.data0()["object"]["value"], "bob@example.com");
    let conf = api.call("PUT", &format!("/poll/{msg_id}"), None).await?;
    assert_eq!(
        (conf.status, conf.first_ef()),
        (404, "EF09061"),
        "a confirmed message is gone"
    );

    // Finished jobs leave the active queue and are found in the history.
    let j = api.call("GET", &format!("/job/{job_id}"), None).await?;
    assert_eq!((j.status, j.first_ef()), (404, "EF300101"));
    let h = api
        .call("GET", &format!("/job/history/{job_id}"), None)
        .await?;
    assert_eq!(h.data0()["job"]["status"], "SUCCESS");

    // The certificate now carries leaf and chain.
    let c = api
        .call("GET", &format!("/certificate/{cert_id}"), None)
        .await?;
    assert_eq!(c.code(), "S400104");
    assert_eq!(c.body["object"]["data"]["id"], cert_id);
    let d = c.data0();
    assert!(d["server"]
        .as_str()
        .unwrap_or("")
        .starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(d["certificationAuthority"][0]["caType"], "INTERMEDIATE");
    assert_eq!(d["certificationAuthority"][1]["caType"], "ROOT");
    assert_eq!(
        d["certificationAuthority"][0]["caCertificate"]
            .as_str()
            .unwrap_or(""),
        sim.ca_chain_pem()[0]
    );
    assert_ne!(d["serialNumber"], "NOT_SET");
    assert_eq!(d["lifetime"]["period"], 12);
    assert_eq!(d["certificateType"], "MAIL");
    assert_eq!(d["adminContact"]["id"], contact);
    Ok(())
}

#[tokio::test]
async fn jobs_finish_on_their_own_after_the_issuance_delay() -> Result<()> {
    let sim = start(config()).await?;
    let api = Json::new(&sim);
    let contact = make_contact(&api).await?;
    let csr = csr_for(&p256_pkey(), "carol@example.com");
    let a = api
        .call(
            "POST",
            "/certificate",
            Some(order_body("carol@example.com", contact, &csr)),
        )
        .await?;
    let job_id = a.data0()["id"].clone();
    let p = wait_for_message(&api).await?;
    assert_eq!(p.data0()["job"]["id"], job_id);
    assert_eq!(p.data0()["job"]["status"], "SUCCESS");
    Ok(())
}

#[tokio::test]
async fn orders_that_do_not_fit_the_product_or_the_csr_are_refused_and_logged_as_rejected(
) -> Result<()> {
    let sim = start(config()).await?;
    let api = Json::new(&sim);
    let contact = make_contact(&api).await?;
    let key = p256_pkey();
    let csr_other = csr_for(&key, "mallory@example.com");
    let csr = csr_for(&key, "dave@example.com");

    let a = api
        .call(
            "POST",
            "/certificate",
            Some(order_body("dave@example.com", contact, &csr_other)),
        )
        .await?;
    assert_eq!(
        (a.status, a.code(), a.first_ef()),
        (400, "E400101", "EF4001102")
    );
    assert!(a.body["messages"][0]["text"]
        .as_str()
        .unwrap_or("")
        .contains("mallory@example.com"));

    let mut b = order_body("dave@example.com", contact, &csr);
    b["lifetime"]["period"] = json!(60);
    let a = api.call("POST", "/certificate", Some(b)).await?;
    assert_eq!(a.first_ef(), "EF01001");

    let a = api
        .call(
            "POST",
            "/certificate",
            Some(order_body("dave@example.com", 999, &csr)),
        )
        .await?;
    assert_eq!((a.status, a.first_ef()), (404, "EF03014"));

    let mut b = order_body("dave@example.com", contact, &csr);
    b["certificateType"] = json!("FQDN");
    assert_eq!(
        api.call("POST", "/certificate", Some(b)).await?.first_ef(),
        "EF01001"
    );

    let mut b = order_body("dave@example.com", contact, &csr);
    b["password"] = json!("short");
    assert_eq!(
        api.call("POST", "/certificate", Some(b)).await?.first_ef(),
        "EF01001"
    );

    let mut b = order_body("dave@example.com", contact, &csr);
    b.as_object_mut().map(|o| o.remove("csr"));
    assert_eq!(
        api.call("POST", "/certificate", Some(b)).await?.first_ef(),
        "EF01000"
    );

    let orders = sim.orders();
    assert_eq!(orders.len(), 6);
    assert!(orders
        .iter()
        .all(|o| o.status == "REJECTED" && o.job_id.is_none()));
    assert_eq!(orders[0].error.as_deref(), Some("EF4001102"));
    Ok(())
}

#[tokio::test]
async fn an_order_without_a_csr_is_accepted_recorded_and_issues_nothing_to_bundle() -> Result<()> {
    let (cfg, clock) = manual_config();
    let sim = start(cfg).await?;
    let api = Json::new(&sim);
    let contact = make_contact(&api).await?;
    let body = json!({"name": "erin@example.com", "product": "GLOBALSIGN_PERSONALSIGN_1", "certificateType": "MAIL",
        "lifetime": {"unit": "MONTH", "period": 12}, "adminContact": {"id": contact}, "hasCsr": false,
        "password": "Pickup12345", "firstname": "Erin", "lastname": "Example"});
    let a = api.call("POST", "/certificate", Some(body)).await?;
    assert_eq!(a.code(), "N400101");
    clock.advance(time::Duration::seconds(1));
    let p = api.call("GET", "/poll", None).await?;
    let cert_id = p.data0()["object"]["data"]["id"]
        .as_i64()
        .unwrap_or_default();
    let c = api
        .call("GET", &format!("/certificate/{cert_id}"), None)
        .await?;
    assert!(
        c.data0().get("server").is_none(),
        "the CA holds the key: nothing in server"
    );
    assert_eq!(c.data0()["certificationAuthority"], json!([]));
    assert_eq!(c.data0()["hasCsr"], false);
    let log: Vec<serde_json::Value> =
        reqwest::get(format!("http://{}/_simulator/orders", sim.addr()))
            .await?
            .json()
            .await?;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["has_csr"], false);
    assert_eq!(log[0]["name"], "erin@example.com");
    assert_eq!(log[0]["status"], "SUCCESS");
    assert_eq!(log[0]["transport"], "json");
    Ok(())
}

#[tokio::test]
async fn certificate_search_filters_by_name_with_like_and_pages() -> Result<()> {
    let (cfg, clock) = manual_config();
    let sim = start(cfg).await?;
    let api = Json::new(&sim);
    let contact = make_contact(&api).await?;
    let key = p256_pkey();
    for who in ["ann@one.example", "ben@one.example", "cat@two.example"] {
        let a = api
            .call(
                "POST",
                "/certificate",
                Some(order_body(who, contact, &csr_for(&key, who))),
            )
            .await?;
        assert_eq!(a.code(), "N400101");
    }
    clock.advance(time::Duration::seconds(1));
    let a = api
        .call(
            "POST",
            "/certificate/_search?keys[]=expire&keys[]=product",
            Some(
                json!({"filters": [{"key": "name", "value": "%@one.example", "operator": "LIKE"}]}),
            ),
        )
        .await?;
    assert_eq!(a.code(), "S400105");
    assert_eq!(a.body["object"]["summary"], 2);
    let names: Vec<&str> = a.body["data"]
        .as_array()
        .map(|v| v.iter().filter_map(|x| x["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["ann@one.example", "ben@one.example"]);
    assert!(a.data0()["expire"].is_string());
    assert_eq!(a.data0()["product"], "GLOBALSIGN_PERSONALSIGN_1");

    let a = api
        .call(
            "POST",
            "/certificate/_search",
            Some(json!({"filters": [
            {"key": "name", "value": "ann@one.example", "operator": "EQUAL", "link": "OR"},
            {"key": "name", "value": "cat@%", "operator": "LIKE"}],
            "view": {"limit": 1, "offset": 1}, "orders": [{"key": "name", "type": "DESC"}]})),
        )
        .await?;
    assert_eq!(
        a.body["object"]["summary"], 2,
        "summary counts all matches, not the page"
    );
    assert_eq!(a.body["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(a.data0()["name"], "ann@one.example");

    let a = api
        .call(
            "POST",
            "/certificate/_search",
            Some(json!({"filters": [{"key": "sld2", "value": "x"}]})),
        )
        .await?;
    assert_eq!((a.status, a.first_ef()), (400, "EF00022"));
    assert_eq!(
        a.body["messages"][0]["objects"][0]["type"],
        "conditions[0]/key"
    );
    Ok(())
}

#[tokio::test]
async fn renew_and_reissue_issue_new_serials_and_keep_the_old_ones_in_the_history() -> Result<()> {
    let (cfg, clock) = manual_config();
    let sim = start(cfg).await?;
    let api = Json::new(&sim);
    let contact = make_contact(&api).await?;
    let who = "fred@example.com";
    api.call(
        "POST",
        "/certificate",
        Some(order_body(who, contact, &csr_for(&p256_pkey(), who))),
    )
    .await?;
    clock.advance(time::Duration::seconds(1));
    let p = api.call("GET", "/poll", None).await?;
    let cert_id = p.data0()["object"]["data"]["id"]
        .as_i64()
        .unwrap_or_default();
    let serial1 = api
        .call("GET", &format!("/certificate/{cert_id}"), None)
        .await?
        .data0()["serialNumber"]
        .clone();

    let new_csr = csr_for(&p256_pkey(), who);
    let a = api
        .call(
            "PUT",
            &format!("/certificate/{cert_id}/_renew"),
            Some(json!({"csr": new_csr})),
        )
        .await?;
    assert_eq!(a.code(), "N400106", "{}", a.body);
    let busy = api
        .call(
            "PUT",
            &format!("/certificate/{cert_id}/_renew"),
            Some(json!({})),
        )
        .await?;
    assert_eq!(
        busy.first_ef(),
        "EF4001061",
        "a second job on a busy certificate is refused"
    );
    clock.advance(time::Duration::seconds(1));
    let c = api
        .call("GET", &format!("/certificate/{cert_id}"), None)
        .await?;
    let serial2 = c.data0()["serialNumber"].clone();
    assert_ne!(serial1, serial2);
    assert_eq!(c.data0()["histories"][0]["serialNumber"], serial1);

    let a = api
        .call(
            "PUT",
            &format!("/certificate/{cert_id}"),
            Some(json!({"csr": csr_for(&rsa_pkey(), who)})),
        )
        .await?;
    assert_eq!(a.code(), "N400102");
    clock.advance(time::Duration::seconds(1));
    let c = api
        .call("GET", &format!("/certificate/{cert_id}"), None)
        .await?;
    assert_eq!(c.data0()["histories"].as_array().map(Vec::len), Some(2));
    let wrong = api
        .call(
            "PUT",
            &format!("/certificate/{cert_id}/_reissue"),
            Some(json!({"csr": csr_for(&p256_pkey(), "x@example.com")})),
        )
        .await?;
    assert_eq!(wrong.first_ef(), "EF4001102");

    let tasks: Vec<String> = sim
        .orders()
        .into_iter()
        .map(|o| format!("{}:{}", o.task, o.status))
        .collect();
    assert_eq!(
        tasks,
        [
            "create:SUCCESS",
            "renew:SUCCESS",
            "renew:REJECTED",
            "reissue:SUCCESS",
            "reissue:REJECTED"
        ]
    );
    Ok(())
}

#[tokio::test]
async fn delete_cancels_the_certificate_revoke_is_refused_and_unknown_ids_are_404() -> Result<()> {
    let (cfg, clock) = manual_config();
    let sim = start(cfg).await?;
    let api = Json::new(&sim);
    let contact = make_contact(&api).await?;
    let who = "gina@example.com";
    api.call(
        "POST",
        "/certificate",
        Some(order_body(who, contact, &csr_for(&p256_pkey(), who))),
    )
    .await?;
    clock.advance(time::Duration::seconds(1));
    let p = api.call("GET", "/poll", None).await?;
    let cert_id = p.data0()["object"]["data"]["id"]
        .as_i64()
        .unwrap_or_default();

    let r = api
        .call(
            "POST",
            &format!("/certificate/{cert_id}/_revoke"),
            Some(json!({})),
        )
        .await?;
    assert_eq!(
        (r.status, r.code(), r.first_ef()),
        (400, "E4001031", "EF4001031")
    );

    let c = api
        .call("DELETE", &format!("/sslcontact/{contact}"), None)
        .await?;
    assert_eq!(c.first_ef(), "EF4002031", "a contact in use stays");

    let d = api
        .call("DELETE", &format!("/certificate/{cert_id}"), None)
        .await?;
    assert_eq!(d.code(), "N400103");
    clock.advance(time::Duration::seconds(1));
    let gone = api
        .call("GET", &format!("/certificate/{cert_id}"), None)
        .await?;
    assert_eq!(
        (gone.status, gone.code(), gone.first_ef()),
        (404, "E400104", "EF4001041")
    );
    let bad = api.call("GET", "/certificate/abc", None).await?;
    assert_eq!((bad.status, bad.first_ef()), (400, "EF01001"));
    let nojob = api.call("GET", "/job/12345", None).await?;
    assert_eq!(nojob.status, 404);
    let unknown = api.call("GET", "/domain/example.com", None).await?;
    assert_eq!((unknown.status, unknown.first_ef()), (404, "EF00002"));
    let wrong = api.call("PATCH", "/poll", None).await?;
    assert_eq!((wrong.status, wrong.first_ef()), (405, "EF00002"));
    Ok(())
}

#[tokio::test]
async fn each_context_is_its_own_namespace_for_contacts_certificates_jobs_and_the_queue(
) -> Result<()> {
    let (cfg, clock) = manual_config();
    let sim = start(cfg).await?;
    let nine = Json::new(&sim);
    let four = Json {
        context: Some("4".into()),
        ..nine.clone()
    };
    let contact = make_contact(&nine).await?;
    assert_eq!(
        four.call("GET", &format!("/sslcontact/{contact}"), None)
            .await?
            .status,
        404
    );
    let in_four = four
        .call("POST", "/sslcontact/_search", Some(json!({})))
        .await?;
    assert_eq!(in_four.body["object"]["summary"], 0);
    let refused = order_p256(&four, "m@example.com", contact).await?;
    assert_eq!(
        refused.first_ef(),
        "EF03014",
        "a contact of context 9 cannot be used from context 4"
    );

    let a = order_p256(&nine, "m@example.com", contact).await?;
    let job = a.data0()["id"].as_i64().unwrap_or_default();
    assert_eq!(
        four.call("GET", &format!("/job/{job}"), None).await?.status,
        404
    );
    clock.advance(time::Duration::seconds(1));
    assert_eq!(
        four.call("GET", "/poll", None).await?.body["object"]["summary"],
        0
    );
    let p = nine.call("GET", "/poll", None).await?;
    assert_eq!(p.body["object"]["summary"], 1);
    let msg = p.data0()["id"].clone();
    let cert = p.data0()["object"]["data"]["id"]
        .as_i64()
        .unwrap_or_default();
    assert_eq!(
        four.call("PUT", &format!("/poll/{msg}"), None)
            .await?
            .status,
        404
    );
    assert_eq!(
        four.call("GET", &format!("/certificate/{cert}"), None)
            .await?
            .status,
        404
    );
    assert_eq!(
        nine.call("GET", &format!("/certificate/{cert}"), None)
            .await?
            .code(),
        "S400104"
    );
    Ok(())
}

#[tokio::test]
async fn running_jobs_are_searched_by_name_status_and_page_and_move_to_the_history_when_done(
) -> Result<()> {
    let (cfg, clock) = manual_config();
    let sim = start(cfg).await?;
    let api = Json::new(&sim);
    let contact = make_contact(&api).await?;
    let key = p256_pkey();
    let mut jobs = Vec::new();
    for (who, ctid) in [
        ("ann@one.example", "c-ann"),
        ("ben@one.example", "c-ben"),
        ("cat@two.example", "c-cat"),
    ] {
        let a = api
            .call_ctid(
                "POST",
                "/certificate",
                Some(order_body(who, contact, &csr_for(&key, who))),
                Some(ctid),
            )
            .await?;
        assert_eq!(a.code(), "N400101");
        jobs.push(a.data0()["id"].as_i64().unwrap_or_default());
    }

    // Every running job, two per page; `summary` is the total.
    let page = |offset: i64| json!({"view": {"limit": 2, "offset": offset}});
    let first = api
        .call(
            "POST",
            "/job/_search?keys[]=object&keys[]=status",
            Some(page(0)),
        )
        .await?;
    assert_eq!((first.status, first.code()), (200, "S300115"));
    assert_eq!(first.body["object"]["type"], "ObjectJob");
    assert_eq!(first.body["object"]["summary"], 3);
    assert_eq!(first.body["data"].as_array().map(Vec::len), Some(2));
    let second = api.call("POST", "/job/_search", Some(page(2))).await?;
    assert_eq!(second.body["object"]["summary"], 3);
    assert_eq!(second.body["data"].as_array().map(Vec::len), Some(1));
    let mut seen: Vec<i64> = first.body["data"]
        .as_array()
        .into_iter()
        .chain(second.body["data"].as_array())
        .flatten()
        .filter_map(|j| j["job"]["id"].as_i64())
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, jobs, "the pages together hold every job once");

    // By name: the job, its state and action (asked for with `keys[]`), the ctid of the order
    // (in `events`) and the certificate.
    let ben = api
        .call(
            "POST",
            "/job/_search?keys[]=status&keys[]=action",
            Some(json!({"filters": [
                {"key": "object", "value": "ben@one.example", "operator": "EQUAL"},
                {"key": "status", "value": "RUNNING", "operator": "EQUAL"}]})),
        )
        .await?;
    assert_eq!(ben.body["object"]["summary"], 1);
    let j = ben.data0();
    assert_eq!(j["job"]["id"], jobs[1]);
    assert_eq!(j["job"]["status"], "RUNNING");
    assert_eq!(j["job"]["action"], "create");
    assert_eq!(j["job"]["events"][0]["ctid"], "c-ben");
    assert_eq!(j["object"]["type"], "Certificate");
    assert_eq!(j["object"]["value"], "ben@one.example");
    assert!(j["object"]["data"]["id"].is_i64(), "{j}");

    // The ctid is not a documented search key: refused like any other unknown key.
    let by_ctid = api
        .call(
            "POST",
            "/job/_search",
            Some(json!({"filters": [{"key": "ctid", "value": "c-ben", "operator": "EQUAL"}]})),
        )
        .await?;
    assert_eq!((by_ctid.status, by_ctid.first_ef()), (400, "EF00022"));

    // Finished jobs leave the active list for the history.
    let history = api.call("POST", "/job/history/_search", None).await?;
    assert_eq!(history.body["object"]["summary"], 0);
    clock.advance(time::Duration::seconds(1));
    let active = api.call("POST", "/job/_search", None).await?;
    assert_eq!(active.body["object"]["summary"], 0);
    let history = api
        .call(
            "POST",
            "/job/history/_search?keys[]=status",
            Some(
                json!({"filters": [{"key": "object", "value": "%@one.example", "operator": "LIKE"}],
                        "orders": [{"key": "id", "type": "DESC"}]}),
            ),
        )
        .await?;
    assert_eq!(history.code(), "S300115");
    assert_eq!(history.body["object"]["summary"], 2);
    assert_eq!(history.data0()["job"]["id"], jobs[1], "newest first");
    assert_eq!(history.data0()["job"]["status"], "SUCCESS");
    assert_eq!(history.data0()["job"]["events"][0]["ctid"], "c-ben");
    Ok(())
}
