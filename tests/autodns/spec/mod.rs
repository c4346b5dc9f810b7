//! The JSON wire held to InterNetX's own description of the API
//! (`tests/fixtures/autodns-openapi/domainrobot.json`, release 5.82.7, MIT): every request the
//! client can encode — every `Task`, with its optional fields set and unset — and every request
//! and answer of a whole session of the real client against the bundled simulator must name only
//! routes, methods, `keys[]` values, properties, types and enums the description names. A new
//! task or field cannot land without passing here. The validator and its rules: `openapi.rs`.

mod answers;
mod openapi;
mod recorder;

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use smime_provisioner::autodns::json::{self, HttpRequest};
use smime_provisioner::autodns::model::*;
use smime_provisioner::autodns::{
    CertificateOrder, Client, ClientSettings, JobQueue, PollMessage, Wire,
};
use smime_provisioner::crypto::csr::build_csr;
use smime_provisioner::crypto::key::{KeyType, PrivateKey};
use smime_provisioner::mailbox::Address;
use smime_provisioner::secret::Secret;
use smime_provisioner::simulator::{Simulator, SimulatorConfig, SimulatorHandle};

use openapi::Spec;
use recorder::{Exchange, Recorder};

/// The problems of one encoded request, each prefixed with the task's name.
fn request_problems(spec: &Spec, task: &Task) -> Result<Vec<String>> {
    let HttpRequest {
        method,
        path,
        query,
        body,
    } = json::encode_request(task)?;
    let body: Option<Value> = body.map(|b| serde_json::from_slice(&b)).transpose()?;
    let problems = spec.check_request(method.as_str(), &path, &query, body.as_ref());
    Ok(problems
        .into_iter()
        .map(|p| format!("{}: {p}", task.name()))
        .collect())
}

fn assert_conforms(spec: &Spec, tasks: &[Task]) -> Result<()> {
    let mut problems = Vec::new();
    for task in tasks {
        problems.extend(request_problems(spec, task)?);
    }
    ensure!(
        problems.is_empty(),
        "requests the description does not allow:\n{}",
        problems.join("\n")
    );
    Ok(())
}

/// Every task with its optional fields set (the codec tests' full samples).
fn full_tasks() -> Vec<Task> {
    let mut tasks = crate::codecs::all_tasks();
    tasks.push(Task::Hello);
    tasks.push(Task::JobHistory { id: 4309872209 });
    tasks.push(Task::JobResendApproverEmail { id: 4309872209 });
    tasks
}

/// Every task with its optional fields unset.
fn bare_tasks() -> Vec<Task> {
    let bare = |id| {
        Box::new(Certificate {
            id: Some(id),
            ..Default::default()
        })
    };
    vec![
        Task::Hello,
        Task::SslContactCreate(SslContact::default()),
        Task::SslContactInfo { id: 1 },
        Task::SslContactList(Query::default()),
        Task::CertificatePrepareOrder(CertificateData::default()),
        Task::CertificateCreate(Box::default()),
        Task::CertificateInfo { id: 1 },
        Task::CertificateList(Query::default()),
        Task::JobList(Query::default()),
        Task::JobHistoryList(Query::default()),
        Task::JobInfo { id: 1 },
        Task::JobHistory { id: 1 },
        Task::JobResendApproverEmail { id: 1 },
        Task::CertificateRenew(bare(1)),
        Task::CertificateReissue(bare(1)),
        Task::CertificateDelete { id: 1 },
        Task::CertificateRevoke(bare(1)),
        Task::PollInfo,
        Task::PollConfirm { id: 1 },
    ]
}

/// The number of `Task` variants, and each variant's number by an exhaustive match: a new
/// variant does not compile here until it is numbered, and then
/// `every_task_variant_has_a_sample_set_and_unset` fails until both lists carry a sample.
const TASK_VARIANTS: usize = 19;
fn ordinal(t: &Task) -> usize {
    match t {
        Task::Hello => 0,
        Task::SslContactCreate(_) => 1,
        Task::SslContactInfo { .. } => 2,
        Task::SslContactList(_) => 3,
        Task::CertificatePrepareOrder(_) => 4,
        Task::CertificateCreate(_) => 5,
        Task::CertificateInfo { .. } => 6,
        Task::CertificateList(_) => 7,
        Task::JobList(_) => 8,
        Task::JobHistoryList(_) => 9,
        Task::JobInfo { .. } => 10,
        Task::JobHistory { .. } => 11,
        Task::CertificateRenew(_) => 12,
        Task::CertificateReissue(_) => 13,
        Task::CertificateDelete { .. } => 14,
        Task::CertificateRevoke(_) => 15,
        Task::PollInfo => 16,
        Task::PollConfirm { .. } => 17,
        Task::JobResendApproverEmail { .. } => 18,
    }
}

#[test]
fn every_task_variant_has_a_sample_set_and_unset() {
    let all: std::collections::BTreeSet<usize> = (0..TASK_VARIANTS).collect();
    for (which, tasks) in [("set", full_tasks()), ("unset", bare_tasks())] {
        let seen = tasks.iter().map(ordinal).collect();
        assert_eq!(all, seen, "task variants with optional fields {which}");
    }
}

#[test]
fn every_task_with_every_optional_field_set_matches_the_description() -> Result<()> {
    assert_conforms(&Spec::load()?, &full_tasks())
}

#[test]
fn every_task_with_every_optional_field_unset_matches_the_description() -> Result<()> {
    assert_conforms(&Spec::load()?, &bare_tasks())
}

/// A request the validator must refuse, and what its message must say.
type Bad = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    Value,
    &'static str,
);

#[test]
fn the_validator_refuses_what_the_description_does_not_name() -> Result<()> {
    // The validator itself: each kind of departure is caught, with a message naming it, so
    // the tests above cannot pass by accident. `Null` bodies stand for "no body".
    let spec = Spec::load()?;
    for (method, path, query, body, expected) in body_refusals().into_iter().chain(route_refusals())
    {
        let query: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let body = Some(&body).filter(|b| !b.is_null());
        let found = spec.check_request(method, path, &query, body).join("\n");
        assert!(
            found.contains(expected),
            "{method} /{path}: wanted {expected:?}, got {found:?}"
        );
    }
    // The file spells the first and last `keys` values with a brace; both are accepted.
    let ends = [("keys[]", "parent"), ("keys[]", "action")].map(|(k, v)| (k.into(), v.into()));
    assert_eq!(
        spec.check_request("POST", "job/_search", &ends, None),
        Vec::<String>::new()
    );
    let answer = spec.check_answer("GET", "poll", &json!({"data": [{"id": 1, "jobb": {}}]}));
    assert!(
        answer.join("\n").contains("\"jobb\" is not named"),
        "{answer:?}"
    );
    Ok(())
}

/// Bodies the validator must refuse.
fn body_refusals() -> Vec<Bad> {
    vec![
        (
            "POST",
            "sslcontact",
            &[],
            json!({"fname": "A", "nickname": "B"}),
            "\"nickname\" is not named",
        ),
        (
            "POST",
            "certificate",
            &[],
            json!({"adminContact": {"idd": 1}}),
            "adminContact: property \"idd\"",
        ),
        (
            "POST",
            "certificate",
            &[],
            json!({"hasCsr": "true"}),
            "hasCsr: \"true\" is not of type boolean",
        ),
        (
            "POST",
            "certificate",
            &[],
            json!({"certificateType": "SMIME"}),
            "certificateType: \"SMIME\" is not one of",
        ),
        (
            "POST",
            "certificate",
            &[],
            json!({"authentication": {"approverEmails": "a@b"}}),
            "approverEmails: \"a@b\" is not of type array",
        ),
        (
            "POST",
            "job/_search",
            &[("keys[]", "name")],
            json!({}),
            "keys[]=name is not one of",
        ),
        (
            "POST",
            "job/_search",
            &[("sort", "id")],
            json!({}),
            "query parameter sort is not in the spec",
        ),
        (
            "POST",
            "job/_search",
            &[],
            json!({"view": {"limit": 1u64 << 40}}),
            "does not fit int32",
        ),
        (
            "POST",
            "sslcontact",
            &[],
            json!({"fname": null}),
            "fname: null",
        ),
    ]
}

/// Routes, methods and parameters the validator must refuse.
fn route_refusals() -> Vec<Bad> {
    vec![
        (
            "GET",
            "certificate/_searchx/1",
            &[],
            Value::Null,
            "no route",
        ),
        ("PATCH", "certificate/1", &[], Value::Null, "has no PATCH"),
        (
            "GET",
            "certificate/abc",
            &[],
            Value::Null,
            "is not an integer",
        ),
        ("GET", "poll", &[], json!({}), "declares no body"),
    ]
}

// ---------------------------------------------------------------------------------------------
// A whole session of the real client against the simulator, through a recorder
// ---------------------------------------------------------------------------------------------

pub(super) const USER: &str = "reseller";
pub(super) const PASSWORD: &str = "sim-Passw0rd";

async fn simulator() -> Result<SimulatorHandle> {
    let mut cfg = SimulatorConfig::new(USER, PASSWORD);
    cfg.issuance_delay = Duration::from_millis(200);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    Ok(Simulator::start(cfg, listener)?)
}

pub(super) fn client_via(rec: &Recorder) -> Result<Client> {
    let mut settings = ClientSettings::new(
        rec.json_url().parse()?,
        Wire::Json,
        USER,
        Secret::new(PASSWORD.to_string()),
    );
    settings.timeout = Duration::from_secs(10);
    Ok(Client::new(settings)?)
}

pub(super) fn contact() -> SslContact {
    SslContact {
        fname: Some("Hostmaster".into()),
        lname: Some("Example".into()),
        phone: Some("+49-941-1234560".into()),
        email: Some("hostmaster@example.org".into()),
        title: Some("Admin".into()),
        organization: Some("Example GmbH".into()),
        address: vec!["Example Street 1".into()],
        pcode: Some("93047".into()),
        city: Some("Regensburg".into()),
        country: Some("DE".into()),
        state: Some("Bayern".into()),
        ..Default::default()
    }
}

/// Polls until the message of `job_id` arrives (bounded: 100 polls), confirming it.
pub(super) async fn finish(client: &Client, job_id: i64) -> Result<PollMessage> {
    for _ in 0..100 {
        let info = client.poll_info().await?;
        if let Some(m) = info.message {
            client.poll_confirm(m.id.context("message id")?).await?;
            if m.job_id() == Some(job_id) {
                return Ok(m);
            }
        } else {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    anyhow::bail!("no message for job {job_id} after 100 polls")
}

/// Drives every client call once: contact, prepareOrder, order (technical contact and name
/// parts set), job searches and infos, poll, certificate info and search, renew, reissue
/// (optional fields unset), revoke, delete.
async fn session(client: &Client, address: &str) -> Result<()> {
    client.hello().await?;
    let contact_id = client
        .ssl_contact_create(&contact())
        .await?
        .id
        .context("contact id")?;
    client.ssl_contact_list().await?;
    client.ssl_contact_info(contact_id).await?;
    let key = PrivateKey::generate(KeyType::EcP256)?;
    let csr = build_csr(&key, &Address::parse(address)?)?;
    client
        .certificate_prepare_order(&csr, "GLOBALSIGN_PERSONALSIGN_1")
        .await?;
    let password = || Secret::new("Dl0adPassw0rd".to_string());
    let mut order = CertificateOrder::new(address, csr.clone(), contact_id, password());
    order.technical_contact_id = Some(contact_id);
    order.firstname = Some("Anna".into());
    order.lastname = Some("Example".into());
    order.organization_unit_name = Some("Sales".into());
    let job = client.certificate_create(&order, "spec-gen1").await?;
    let job_id = job.id.context("job id")?;
    let by_name = Query::equal("object", address);
    client.job_search(&by_name, JobQueue::Active).await?;
    let _ = client.job_info(job_id).await;
    let message = finish(client, job_id).await?;
    let _ = client.job_history(job_id).await;
    client.job_search(&by_name, JobQueue::History).await?;
    let id = message
        .certificate_id()
        .context("certificate id in the message")?;
    let cert = client.certificate_info(id).await?;
    client.certificate_list(Some(address)).await?;
    client.certificate_list(None).await?;
    let plain = CertificateOrder::new(address, csr, contact_id, password());
    let renewal = client.certificate_renew(id, &plain, "spec-gen2").await?;
    finish(client, renewal.id.context("renew job id")?).await?;
    let reissue = client.certificate_reissue(id, &plain, "spec-gen3").await?;
    finish(client, reissue.id.context("reissue job id")?).await?;
    // The simulator refuses revoke for PersonalSign (EF4001031, as the real API does for
    // products without revocation); the request and the error answer are recorded all the same.
    let serial = cert.serial_number.as_deref().unwrap_or("00");
    let _ = client.certificate_revoke(id, serial).await;
    client.certificate_delete(id, "spec-del").await?;
    Ok(())
}

/// The problems of one recorded exchange: its request, and its answer when it is a success
/// (error answers carry no `data`; their envelope is checked all the same).
fn exchange_problems(spec: &Spec, x: &Exchange) -> Result<Vec<String>> {
    ensure!(
        x.status != recorder::NOT_FORWARDED,
        "{} /{}: the recorder could not reach the simulator",
        x.method,
        x.path
    );
    let body: Option<Value> = match x.request.is_empty() {
        true => None,
        false => Some(serde_json::from_slice(&x.request)?),
    };
    let mut out = spec.check_request(&x.method, &x.path, &x.query, body.as_ref());
    let answer: Value = serde_json::from_slice(&x.answer)
        .with_context(|| format!("{} /{}: the answer is not JSON", x.method, x.path))?;
    out.extend(spec.check_answer(&x.method, &x.path, &answer));
    Ok(out)
}

#[tokio::test]
async fn a_whole_session_of_the_client_against_the_simulator_matches_the_description() -> Result<()>
{
    let spec = Spec::load()?;
    let sim = simulator().await?;
    let rec = Recorder::start(sim.addr()).await?;
    let client = client_via(&rec)?;
    session(&client, "anna@example.org").await?;
    let exchanges = rec.exchanges();
    let mut problems = Vec::new();
    let mut routes = std::collections::BTreeSet::new();
    for x in &exchanges {
        problems.extend(exchange_problems(&spec, x)?);
        if let Ok(op) = spec.operation(&x.method, &x.path) {
            routes.insert(format!("{} {}", x.method, op.template));
        }
    }
    // Every route the client knows was exercised (the session is not silently shorter).
    for route in [
        "GET /hello",
        "POST /sslcontact",
        "POST /sslcontact/_search",
        "GET /sslcontact/{id}",
        "POST /certificate/_prepareOrder",
        "POST /certificate",
        "POST /job/_search",
        "GET /job/{id}",
        "GET /job/history/{id}",
        "POST /job/history/_search",
        "GET /poll",
        "PUT /poll/{id}",
        "GET /certificate/{id}",
        "POST /certificate/_search",
        "PUT /certificate/{id}/_renew",
        "PUT /certificate/{id}",
        "POST /certificate/{id}/_revoke",
        "DELETE /certificate/{id}",
    ] {
        ensure!(
            routes.contains(route),
            "{route} was not exercised: {routes:?}"
        );
    }
    sim.shutdown().await;
    ensure!(
        problems.is_empty(),
        "{} exchanges; departures from the description:\n{}",
        exchanges.len(),
        problems.join("\n")
    );
    Ok(())
}

/// InterNetX's own published answer samples (`tests/fixtures/autodns/`, copied from public
/// InterNetX material) against the description: a check of the validator's strictness against
/// the real server's output, not of our code.
#[test]
fn internetx_published_answer_samples_match_the_description() -> Result<()> {
    let spec = Spec::load()?;
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/autodns");
    let mut problems = Vec::new();
    for (file, method, path) in [
        ("certificate-info.json", "GET", "certificate/1658471"),
        ("poll-info.json", "GET", "poll"),
        ("poll-confirm.json", "PUT", "poll/1005360985"),
        ("sslcontact-list.json", "POST", "sslcontact/_search"),
        (
            "error-400-key-not-allowed.json",
            "POST",
            "certificate/_search",
        ),
    ] {
        let body: Value = serde_json::from_slice(&std::fs::read(dir.join(file))?)?;
        problems.extend(
            spec.check_answer(method, path, &body)
                .into_iter()
                .map(|p| format!("{file}: {p}")),
        );
    }
    ensure!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(())
}
