//! JSON searches answer with the default columns only, and with more only when `keys[]` asks
//! for them (`autodns-api.md` §1.12, §2.6, §2.12): a certificate or job row carries `created`
//! only when asked, as the real server's sparse rows do. Contact rows keep `created` and
//! `updated` by default, as InterNetX's own contact list sample shows (§2.11).

use anyhow::Result;
use serde_json::{json, Value};
use support::simulator::*;

fn rows(a: &Answer) -> Vec<Value> {
    a.body["data"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_certificate_row_has_created_only_when_keys_ask_for_it() -> Result<()> {
    let sim = start(config()).await?;
    let api = Json::new(&sim);
    let contact = make_contact(&api).await?;
    order_p256(&api, "ann@example.com", contact).await?;

    let plain = api
        .call("POST", "/certificate/_search", Some(json!({})))
        .await?;
    assert_eq!(plain.code(), "S400105");
    let row = plain.data0();
    assert_eq!(row["name"], "ann@example.com");
    assert!(row["id"].is_i64(), "{row}");
    for column in ["created", "updated", "product", "expire"] {
        assert!(row.get(column).is_none(), "{column} without keys[]: {row}");
    }

    let asked = api
        .call(
            "POST",
            "/certificate/_search?keys[]=created&keys[]=product",
            Some(json!({})),
        )
        .await?;
    let row = asked.data0();
    assert!(row["created"].is_string(), "{row}");
    assert_eq!(row["product"], "GLOBALSIGN_PERSONALSIGN_1");
    assert!(
        row.get("updated").is_none(),
        "updated was not asked for: {row}"
    );
    Ok(())
}

#[tokio::test]
async fn a_job_row_has_created_and_status_only_when_keys_ask_for_them() -> Result<()> {
    let sim = start(config()).await?;
    let api = Json::new(&sim);
    let contact = make_contact(&api).await?;
    order_p256(&api, "ben@example.com", contact).await?;

    let plain = api.call("POST", "/job/_search", Some(json!({}))).await?;
    assert_eq!(plain.code(), "S300115");
    let row = plain.data0();
    assert!(row["job"]["id"].is_i64(), "{row}");
    assert_eq!(row["object"]["value"], "ben@example.com");
    for column in ["created", "updated", "status", "action"] {
        assert!(
            row["job"].get(column).is_none(),
            "{column} without keys[]: {row}"
        );
    }

    let asked = api
        .call(
            "POST",
            "/job/_search?keys[]=created&keys[]=status",
            Some(json!({})),
        )
        .await?;
    let job = &asked.data0()["job"];
    assert!(job["created"].is_string(), "{job}");
    assert_eq!(job["status"], "RUNNING");
    assert!(
        job.get("action").is_none(),
        "action was not asked for: {job}"
    );
    Ok(())
}

#[tokio::test]
async fn a_contact_row_keeps_the_columns_of_internetx_own_sample() -> Result<()> {
    let sim = start(config()).await?;
    let api = Json::new(&sim);
    make_contact(&api).await?;
    let a = api
        .call("POST", "/sslcontact/_search", Some(json!({})))
        .await?;
    let all = rows(&a);
    let row = all.first().cloned().unwrap_or_default();
    for column in ["created", "updated", "fname", "lname", "id", "owner"] {
        assert!(row.get(column).is_some(), "{column} missing: {row}");
    }
    assert!(row.get("email").is_none(), "email without keys[]: {row}");
    Ok(())
}
