//! The simulator's answers beyond a clean session, held to the description: a failed job and
//! foreign poll messages (domain jobs, `domain_away` notifications), a job waiting for approval
//! (`DEFERRED`) and its approval mail re-sent, a prepareOrder of an RSA CSR, SSL contact update and delete, error envelopes
//! (unknown id, wrong password, unknown route), and the older route spellings the simulator
//! accepts for the SDKs (§2.2 of docs/autodns-api.md).

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use smime_provisioner::simulator::{Faults, Simulator, SimulatorConfig};
use support::ca::{csr_for, rsa_pkey};
use support::simulator::{Answer, Json};

use super::openapi::Spec;
use super::recorder::{self, Exchange, Recorder};
use super::{client_via, contact, finish, PASSWORD, USER};
use smime_provisioner::autodns::CertificateOrder;
use smime_provisioner::secret::Secret;

/// Routes the simulator serves that the description does not name, and the route of the
/// description each stands for. The description (5.82.7) has only `_prepareOrder`, reissue as
/// `PUT /certificate/{id}` and revoke as `POST …/_revoke`; older SDKs send the others, so the
/// simulator accepts them (docs/autodns-api.md §2.2). The client never sends them (the request
/// tests in `mod.rs` would fail); their answers are held to the named route's schema.
fn canonical(method: &str, path: &str) -> (String, String) {
    let parts: Vec<&str> = path.split('/').collect();
    match (method, parts.as_slice()) {
        ("POST", ["certificate", "prepareOrder"]) => {
            ("POST".into(), "certificate/_prepareOrder".into())
        }
        ("PUT", ["certificate", id, "_reissue"]) => ("PUT".into(), format!("certificate/{id}")),
        ("DELETE", ["certificate", id, "_revoke"]) => {
            ("POST".into(), format!("certificate/{id}/_revoke"))
        }
        _ => (method.into(), path.into()),
    }
}

/// The answer of one exchange against its route's schema (requests here are partly
/// hand-written, some deliberately wrong, so only the answers are judged).
fn answer_problems(spec: &Spec, x: &Exchange) -> Result<Vec<String>> {
    ensure!(
        x.status != recorder::NOT_FORWARDED,
        "{} /{}: the recorder could not reach the simulator",
        x.method,
        x.path
    );
    let answer: Value = serde_json::from_slice(&x.answer)
        .with_context(|| format!("{} /{}: the answer is not JSON", x.method, x.path))?;
    let (method, path) = canonical(&x.method, &x.path);
    if spec.operation(&method, &path).is_err() {
        // An unknown route: only the envelope can be judged, against any JSON answer schema.
        return Ok(spec.check_answer("GET", "hello", &answer));
    }
    Ok(spec.check_answer(&method, &path, &answer))
}

fn raw(rec: &Recorder) -> Json {
    Json {
        base: rec.json_url(),
        http: support::simulator::http_client(Duration::from_secs(10)),
        user: USER.into(),
        password: PASSWORD.into(),
        context: Some("9".into()),
    }
}

fn id_of(a: &Answer) -> Result<i64> {
    a.data0()["id"]
        .as_i64()
        .with_context(|| format!("no id in {}", a.body))
}

/// Contact update and delete, an RSA prepareOrder, the older spellings, and error answers.
async fn odd_calls(api: &Json) -> Result<()> {
    let c = api
        .call(
            "POST",
            "/sslcontact",
            Some(serde_json::to_value(contact())?),
        )
        .await?;
    let cid = id_of(&c)?;
    let mut changed = serde_json::to_value(contact())?;
    changed["city"] = json!("Berlin");
    api.call("PUT", &format!("/sslcontact/{cid}"), Some(changed))
        .await?;
    let other = id_of(
        &api.call(
            "POST",
            "/sslcontact",
            Some(serde_json::to_value(contact())?),
        )
        .await?,
    )?;
    api.call("DELETE", &format!("/sslcontact/{other}"), None)
        .await?;
    let csr = csr_for(&rsa_pkey(), "rita@example.org");
    let prepare = json!({"plain": csr, "product": "GLOBALSIGN_PERSONALSIGN_1"});
    let p = api
        .call("POST", "/certificate/_prepareOrder", Some(prepare.clone()))
        .await?;
    ensure!(
        p.data0()["algorithm"] == "RSA",
        "an RSA CSR is parsed as RSA: {}",
        p.body
    );
    api.call("POST", "/certificate/prepareOrder", Some(prepare))
        .await?;
    api.call("GET", "/certificate/987654", None).await?;
    api.call("GET", "/job/987654", None).await?;
    api.call("GET", "/job/history/987654", None).await?;
    api.call("PUT", "/poll/987654", None).await?;
    api.call("GET", "/domain/example.org", None).await?;
    let wrong = Json {
        password: "wrong".into(),
        ..api.clone()
    };
    wrong.call("GET", "/hello", None).await?;
    Ok(())
}

/// The approval mail of the waiting job sent again (400118, answered with no data), then the job
/// driven to its (failed) end; once it has finished, a resend is an error envelope. Returns the
/// job's poll message.
async fn resend_then_finish(
    client: &smime_provisioner::autodns::Client,
    sim: &smime_provisioner::simulator::SimulatorHandle,
    job_id: i64,
) -> Result<smime_provisioner::autodns::PollMessage> {
    client.job_resend_approver_email(job_id).await?;
    let failed = finish(client, job_id).await?;
    ensure!(failed.is_failure(), "the job failed: {failed:?}");
    let again = client.job_resend_approver_email(job_id).await;
    ensure!(again.is_err(), "a finished job's mail was re-sent");
    let resends = sim.approval_resends();
    ensure!(
        resends.len() == 1 && resends[0].job_id == job_id,
        "{resends:?}"
    );
    Ok(failed)
}

/// The less common routes were among the exchanges checked.
fn ensure_exercised(exchanges: &[Exchange]) -> Result<()> {
    for (method, tail) in [
        ("PUT", "_reissue"),
        ("DELETE", "_revoke"),
        ("POST", "prepareOrder"),
        ("DELETE", "sslcontact"),
        ("PUT", "sslcontact"),
        ("PUT", "_resendApproverEmail"),
    ] {
        let seen = exchanges
            .iter()
            .any(|x| x.method == method && (x.path.ends_with(tail) || x.path.starts_with(tail)));
        ensure!(seen, "{method} …{tail} was not exercised");
    }
    Ok(())
}

#[tokio::test]
async fn failed_deferred_foreign_and_error_answers_of_the_simulator_match_the_description(
) -> Result<()> {
    let spec = Spec::load()?;
    let mut cfg = SimulatorConfig::new(USER, PASSWORD);
    cfg.issuance_delay = Duration::from_millis(200);
    cfg.faults = Faults {
        fail_names: vec!["carl@example.org".into()],
        foreign_messages: 2,
        // Long enough for job info and the approval mail resend to find it waiting.
        deferred_for: Duration::from_millis(3000),
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sim = Simulator::start(cfg, listener)?;
    let rec = Recorder::start(sim.addr()).await?;
    let client = client_via(&rec)?;
    let contact_id = client
        .ssl_contact_create(&contact())
        .await?
        .id
        .context("id")?;
    let csr = csr_for(&rsa_pkey(), "carl@example.org");
    let order = CertificateOrder::new(
        "carl@example.org",
        csr,
        contact_id,
        Secret::new("Dl0adPassw0rd".into()),
    );
    let job_id = client
        .certificate_create(&order, "spec-fail")
        .await?
        .id
        .context("job id")?;
    let deferred = client.job_info(job_id).await?;
    let status = deferred.job.and_then(|j| j.status);
    ensure!(
        status == Some(smime_provisioner::autodns::JobStatus::Deferred),
        "{status:?}"
    );
    let failed = resend_then_finish(&client, &sim, job_id).await?;
    // The legacy spellings of reissue and revoke, on the (failed) certificate if it has an id.
    let api = raw(&rec);
    if let Some(id) = failed.certificate_id() {
        api.call(
            "PUT",
            &format!("/certificate/{id}/_reissue"),
            Some(json!({})),
        )
        .await?;
        api.call("DELETE", &format!("/certificate/{id}/_revoke"), None)
            .await?;
    }
    odd_calls(&api).await?;
    let exchanges = rec.exchanges();
    let mut problems = Vec::new();
    for x in &exchanges {
        problems.extend(answer_problems(&spec, x)?);
    }
    let notify = exchanges
        .iter()
        .any(|x| x.path == "poll" && String::from_utf8_lossy(&x.answer).contains("\"notify\""));
    ensure!(
        notify,
        "a foreign notification was among the answers checked"
    );
    ensure_exercised(&exchanges)?;
    sim.shutdown().await;
    ensure!(
        problems.is_empty(),
        "{} exchanges; departures from the description:\n{}",
        exchanges.len(),
        problems.join("\n")
    );
    Ok(())
}
