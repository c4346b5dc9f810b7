//! The AutoDNS client against the bundled simulator over real HTTP (port 0), in both transports:
//! contact create → certificate create with our CSR → poll until the job's message → confirm →
//! certificate info; the returned certificate carries the CSR's public key and the real
//! `openssl verify` accepts it against the simulator's chain. Also: bad credentials and an
//! unknown certificate id are classified the same way in both transports, and the simulator
//! saw exactly one order per address, with our CSR. And: an order whose answer was lost is found
//! among the running jobs by its ctid (job search, 400115 / `POST /job/_search`) and later in the
//! job history, and searches read every page.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use openssl::x509::{X509Req, X509};
use smime_provisioner::autodns::{
    CertificateOrder, Client, ClientSettings, ErrorKind, JobQueue, JobStatus, PollMessage, Query,
    SslContact, Wire, SEARCH_PAGE_SIZE,
};
use smime_provisioner::clock::ManualClock;
use smime_provisioner::crypto::csr::build_csr;
use smime_provisioner::crypto::key::{KeyType, PrivateKey};
use smime_provisioner::mailbox::Address;
use smime_provisioner::secret::Secret;
use smime_provisioner::simulator::{Simulator, SimulatorConfig, SimulatorHandle};
use support::tools::{openssl, run_ok};

pub(crate) const USER: &str = "reseller";
pub(crate) const PASSWORD: &str = "sim-Passw0rd";

async fn simulator() -> Result<SimulatorHandle> {
    let mut cfg = SimulatorConfig::new(USER, PASSWORD);
    cfg.issuance_delay = Duration::from_millis(300);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    Ok(Simulator::start(cfg, listener)?)
}

fn client(sim: &SimulatorHandle, wire: Wire, password: &str) -> Result<Client> {
    let url = match wire {
        Wire::Json => sim.json_url(),
        Wire::Xml => sim.xml_url(),
    };
    let mut settings =
        ClientSettings::new(url.parse()?, wire, USER, Secret::new(password.to_string()));
    settings.timeout = Duration::from_secs(10);
    Ok(Client::new(settings)?)
}

pub(crate) fn admin_contact() -> SslContact {
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

/// Polls until the message of `job_id` arrives, confirming unrelated messages on the way.
/// Bounded: gives up after 100 polls (the pacer spaces them by about a third of a second).
async fn wait_for_job(client: &Client, job_id: i64) -> Result<PollMessage> {
    for _ in 0..100 {
        let info = client.poll_info().await?;
        match info.message {
            Some(m) if m.job_id() == Some(job_id) => return Ok(m),
            Some(other) => {
                let id = other.id.context("a poll message without an id")?;
                client.poll_confirm(id).await?;
            }
            None => {}
        }
    }
    bail!("no poll message for job {job_id} after 100 polls")
}

fn openssl_verify(dir: &Path, leaf: &str, chain: &[String]) -> Result<String> {
    ensure!(
        chain.len() >= 2,
        "expected intermediate and root, got {} certificates",
        chain.len()
    );
    let leaf_path = dir.join("leaf.pem");
    let inter_path = dir.join("intermediate.pem");
    let root_path = dir.join("root.pem");
    std::fs::write(&leaf_path, leaf)?;
    std::fs::write(&inter_path, &chain[0])?;
    std::fs::write(&root_path, &chain[chain.len() - 1])?;
    run_ok(
        openssl()
            .args(["verify", "-purpose", "smimesign", "-CAfile"])
            .arg(&root_path)
            .arg("-untrusted")
            .arg(&inter_path)
            .arg(&leaf_path),
        None,
    )
    .context("openssl verify")
}

async fn order_and_fetch(wire: Wire, address: &str) -> Result<()> {
    let sim = simulator().await?;
    let client = client(&sim, wire, PASSWORD)?;
    client.hello().await?;

    let contact = client.ssl_contact_create(&admin_contact()).await?;
    let contact_id = contact.id.context("contact id")?;
    let listed = client.ssl_contact_list().await?;
    ensure!(
        listed.iter().any(|c| c.id == Some(contact_id)),
        "the new contact is listed"
    );
    let info = client.ssl_contact_info(contact_id).await?;
    assert_eq!(info.email.as_deref(), Some("hostmaster@example.org"));

    let key = PrivateKey::generate(KeyType::EcP256)?;
    let csr_pem = build_csr(&key, &Address::parse(address)?)?;
    let prepared = client
        .certificate_prepare_order(&csr_pem, "GLOBALSIGN_PERSONALSIGN_1")
        .await?;
    ensure!(
        prepared.plain.is_some() || prepared.name.is_some(),
        "prepareOrder echoes the CSR: {prepared:?}"
    );

    let mut order = CertificateOrder::new(
        address,
        csr_pem.clone(),
        contact_id,
        Secret::new("Dl0adPassw0rd".into()),
    );
    order.technical_contact_id = Some(contact_id);
    let ctid = format!("smime-{address}-gen1");
    let job = client.certificate_create(&order, &ctid).await?;
    let job_id = job.id.context("job id")?;

    let message = wait_for_job(&client, job_id).await?;
    ensure!(
        message.is_success(),
        "job message says failure: {message:?}"
    );
    assert_eq!(message.ctid(), Some(ctid.as_str()));
    let message_id = message.id.context("message id")?;
    client.poll_confirm(message_id).await?;
    let after = client.poll_info().await?;
    ensure!(
        after.message.as_ref().and_then(|m| m.id) != Some(message_id),
        "the confirmed message is gone"
    );

    // The simulator puts the certificate id into the message (`object.data.id`), in XML
    // wrapped in `<data><certificate>`: the accessor must find it in both.
    let certificate_id = message
        .certificate_id()
        .context("no certificate id in the job's poll message")?;
    let job_info = client.job_info(job_id).await;
    if let Err(e) = &job_info {
        // A finished job may have left the active queue: that is "not found", nothing else.
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    }

    let cert = client.certificate_info(certificate_id).await?;
    assert_eq!(cert.name.as_deref(), Some(address));
    let leaf_pem = cert.server.clone().context("no leaf in `server`")?;
    let leaf = X509::from_pem(leaf_pem.as_bytes())?;
    let csr = X509Req::from_pem(csr_pem.as_bytes())?;
    ensure!(
        leaf.public_key()?.public_eq(&*csr.public_key()?),
        "the certificate does not carry the CSR's public key"
    );
    let chain: Vec<String> = cert
        .certification_authority
        .iter()
        .filter_map(|c| c.ca_certificate.clone())
        .collect();
    let dir = tempfile::tempdir()?;
    let verdict = openssl_verify(dir.path(), &leaf_pem, &chain)?;
    assert!(verdict.contains("OK"), "{verdict}");
    // The chain the API returned is the simulator's own.
    let expected: Vec<String> = sim
        .ca_chain_pem()
        .iter()
        .map(|p| p.trim().to_string())
        .collect();
    let got: Vec<String> = chain.iter().map(|p| p.trim().to_string()).collect();
    assert_eq!(got, expected);

    let found = client.certificate_list(Some(address)).await?;
    ensure!(
        found.iter().any(|c| c.id == Some(certificate_id)),
        "list by name finds the certificate"
    );

    let orders: Vec<_> = sim
        .orders()
        .into_iter()
        .filter(|o| o.name == address)
        .collect();
    assert_eq!(
        orders.len(),
        1,
        "exactly one order for {address}: {orders:?}"
    );
    assert!(
        orders.iter().all(|o| o.has_csr),
        "the client only ever orders with its own CSR"
    );
    assert_eq!(orders[0].ctid.as_deref(), Some(ctid.as_str()));
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_json_order_is_issued_for_our_key_and_verifies_against_the_simulators_chain() -> Result<()>
{
    order_and_fetch(Wire::Json, "anna@example.org").await
}

#[tokio::test]
async fn an_xml_order_is_issued_for_our_key_and_verifies_against_the_simulators_chain() -> Result<()>
{
    order_and_fetch(Wire::Xml, "bert@example.org").await
}

#[tokio::test]
async fn bad_credentials_and_unknown_ids_are_classified_alike_in_both_transports() -> Result<()> {
    let sim = simulator().await?;
    for wire in [Wire::Json, Wire::Xml] {
        let wrong = client(&sim, wire, "not-the-password")?;
        let err = wrong
            .hello()
            .await
            .err()
            .context("wrong credentials must fail")?;
        assert_eq!(err.kind(), ErrorKind::Authentication, "{wire:?}: {err}");
        assert!(!err.to_string().contains(PASSWORD));

        let right = client(&sim, wire, PASSWORD)?;
        let err = right
            .certificate_info(987654)
            .await
            .err()
            .context("unknown id must fail")?;
        assert_eq!(err.kind(), ErrorKind::NotFound, "{wire:?}: {err}");
        assert!(
            err.status_code().is_some_and(|c| c.starts_with('E')),
            "{wire:?}: {err}"
        );
    }
    sim.shutdown().await;
    Ok(())
}

pub(crate) async fn simulator_with(
    faults: smime_provisioner::simulator::Faults,
) -> Result<SimulatorHandle> {
    let mut cfg = SimulatorConfig::new(USER, PASSWORD);
    cfg.issuance_delay = Duration::from_millis(300);
    cfg.faults = faults;
    cfg.seed = Some(7);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    Ok(Simulator::start(cfg, listener)?)
}

/// Restarts of a process: each round builds a new client (as a restarted daemon would) on the
/// same state file and sends three requests at once. The simulator refuses a fourth request in
/// any second, and nothing is retried, so one early request would surface as a 429.
#[tokio::test]
async fn a_restarted_client_goes_on_from_the_last_sends_and_draws_no_429() -> Result<()> {
    let sim = simulator_with(smime_provisioner::simulator::Faults {
        rate_limit_rps: Some(3.0),
        ..Default::default()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    for round in 0..4 {
        let mut settings = ClientSettings::new(
            sim.json_url().parse()?,
            Wire::Json,
            USER,
            Secret::new(PASSWORD.into()),
        );
        settings.pacer_file = Some(dir.path().join("pacer"));
        let no_retry = smime_provisioner::autodns::RetryPolicy {
            max_attempts: 1,
            ..Default::default()
        };
        let client = Client::with_retry_policy(settings, no_retry)?;
        let sends = (0..3).map(|_| client.poll_info());
        for r in futures::future::join_all(sends).await {
            r.with_context(|| format!("round {round}: the simulator refused a request"))?;
        }
    }
    sim.shutdown().await;
    Ok(())
}

async fn contact_and_order(client: &Client, address: &str, ctid: &str) -> Result<i64> {
    let contact_id = client
        .ssl_contact_create(&admin_contact())
        .await?
        .id
        .context("contact id")?;
    let key = PrivateKey::generate(KeyType::EcP256)?;
    let csr_pem = build_csr(&key, &Address::parse(address)?)?;
    let order = CertificateOrder::new(
        address,
        csr_pem,
        contact_id,
        Secret::new("Dl0adPassw0rd".into()),
    );
    client
        .certificate_create(&order, ctid)
        .await?
        .id
        .context("job id")
}

#[tokio::test]
async fn the_pacer_keeps_a_busy_client_under_the_simulators_three_per_second_limit() -> Result<()> {
    let sim = simulator_with(smime_provisioner::simulator::Faults {
        rate_limit_rps: Some(3.0),
        ..Default::default()
    })
    .await?;
    for wire in [Wire::Json, Wire::Xml] {
        let url = match wire {
            Wire::Json => sim.json_url(),
            Wire::Xml => sim.xml_url(),
        };
        let settings = ClientSettings::new(url.parse()?, wire, USER, Secret::new(PASSWORD.into()));
        // No retries: a single 429 would surface as an error.
        let no_retry = smime_provisioner::autodns::RetryPolicy {
            max_attempts: 1,
            ..Default::default()
        };
        let client = Client::with_retry_policy(settings, no_retry)?;
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let c = client.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..3 {
                    c.poll_info().await?;
                }
                Ok::<_, smime_provisioner::autodns::Error>(())
            }));
        }
        for t in tasks {
            t.await?
                .with_context(|| format!("{wire:?}: the simulator refused a paced request"))?;
        }
        // The limiter is real: an unpaced burst from the same IP is refused. The burst is sent
        // at once (not one after another), so a slow machine cannot spread it over the window.
        let http = reqwest::Client::new();
        let sends = (0..12).map(|_| {
            http.get(format!("{}/hello", sim.json_url()))
                .basic_auth(USER, Some(PASSWORD))
                .header("X-Domainrobot-Context", "9")
                .send()
        });
        let mut burst = 0;
        for r in futures::future::join_all(sends).await {
            if r?.status().as_u16() == 429 {
                burst += 1;
            }
        }
        assert!(burst > 0, "a simultaneous burst of 12 was never refused");
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_failed_job_reaches_the_client_as_a_failure_with_its_detail_code_in_both_transports(
) -> Result<()> {
    let sim = simulator_with(smime_provisioner::simulator::Faults {
        fail_names: vec!["carl@example.org".into(), "dora@example.org".into()],
        foreign_messages: 1,
        ..Default::default()
    })
    .await?;
    for (wire, address) in [
        (Wire::Json, "carl@example.org"),
        (Wire::Xml, "dora@example.org"),
    ] {
        let client = client(&sim, wire, PASSWORD)?;
        let job_id = contact_and_order(&client, address, &format!("fail-{address}")).await?;
        let m = wait_for_job(&client, job_id).await?;
        assert!(m.is_failure() && !m.is_success(), "{wire:?}: {m:?}");
        let codes: Vec<&str> = m
            .messages
            .iter()
            .filter_map(|x| x.code.as_deref())
            .collect();
        assert!(
            codes.contains(&"EF400139"),
            "{wire:?}: failure detail missing: {m:?}"
        );
        client.poll_confirm(m.id.context("message id")?).await?;
    }
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_deferred_job_shows_its_state_in_job_info_in_both_transports() -> Result<()> {
    let sim = simulator_with(smime_provisioner::simulator::Faults {
        deferred_for: Duration::from_secs(60),
        ..Default::default()
    })
    .await?;
    for (wire, address) in [
        (Wire::Json, "erik@example.org"),
        (Wire::Xml, "fia@example.org"),
    ] {
        let client = client(&sim, wire, PASSWORD)?;
        let job_id = contact_and_order(&client, address, &format!("deferred-{address}")).await?;
        let info = client.job_info(job_id).await?;
        let job = info.job.clone().context("job")?;
        assert_eq!(job.id, Some(job_id), "{wire:?}");
        assert_eq!(
            job.status,
            Some(smime_provisioner::autodns::JobStatus::Deferred),
            "{wire:?}: {info:?}"
        );
        let queue = client.poll_info().await?;
        assert_eq!(
            queue.message, None,
            "{wire:?}: nothing is queued while the job waits"
        );
    }
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn an_order_whose_answer_never_comes_is_sent_once_and_reported_as_outcome_unknown(
) -> Result<()> {
    let sim = simulator_with(smime_provisioner::simulator::Faults::default()).await?;
    let hanging = simulator_with(smime_provisioner::simulator::Faults {
        timeout_share: 1.0,
        ..Default::default()
    })
    .await?;
    // The hanging simulator processes every request but never answers, so the contact comes from
    // a healthy one; whether the hanging one accepts or refuses the order does not matter here,
    // only that it received it exactly once.
    let mut settings = ClientSettings::new(
        hanging.json_url().parse()?,
        Wire::Json,
        USER,
        Secret::new(PASSWORD.into()),
    );
    settings.timeout = Duration::from_millis(800);
    let client = Client::new(settings)?;
    let key = PrivateKey::generate(KeyType::EcP256)?;
    let csr_pem = build_csr(&key, &Address::parse("gus@example.org")?)?;
    let contact_id = client_for_contact(&sim).await?;
    let order = CertificateOrder::new(
        "gus@example.org",
        csr_pem,
        contact_id,
        Secret::new("Dl0adPassw0rd".into()),
    );
    let err = client
        .certificate_create(&order, "gus-gen1")
        .await
        .err()
        .context("must time out")?;
    assert!(err.outcome_unknown() && err.is_transient(), "{err}");
    let orders = hanging.orders();
    assert_eq!(
        orders.len(),
        1,
        "the order was received exactly once: {orders:?}"
    );
    assert_eq!(orders[0].ctid.as_deref(), Some("gus-gen1"));
    sim.shutdown().await;
    hanging.shutdown().await;
    Ok(())
}

async fn client_for_contact(sim: &SimulatorHandle) -> Result<i64> {
    client(sim, Wire::Json, PASSWORD)?
        .ssl_contact_create(&admin_contact())
        .await?
        .id
        .context("contact id")
}

/// A simulator on a manual clock standing at the real time: jobs run until the test moves it.
async fn simulator_on_clock(
    faults: smime_provisioner::simulator::Faults,
) -> Result<(SimulatorHandle, std::sync::Arc<ManualClock>)> {
    let clock = std::sync::Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let mut cfg = SimulatorConfig::new(USER, PASSWORD);
    cfg.issuance_delay = Duration::from_secs(60);
    cfg.faults = faults;
    cfg.seed = Some(11);
    cfg.clock = clock.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    Ok((Simulator::start(cfg, listener)?, clock))
}

fn fast_client(sim: &SimulatorHandle, wire: Wire, timeout: Duration) -> Result<Client> {
    let url = match wire {
        Wire::Json => sim.json_url(),
        Wire::Xml => sim.xml_url(),
    };
    let mut settings =
        ClientSettings::new(url.parse()?, wire, USER, Secret::new(PASSWORD.to_string()));
    settings.timeout = timeout;
    // The in-process simulator imposes no limit here; pacing at 3/s would only slow the test.
    settings.requests_per_second = 1000.0;
    Ok(Client::new(settings)?)
}

#[tokio::test]
async fn a_lost_order_answer_is_found_among_running_jobs_by_its_ctid_in_both_transports(
) -> Result<()> {
    for wire in [Wire::Json, Wire::Xml] {
        let (sim, clock) = simulator_on_clock(smime_provisioner::simulator::Faults {
            drop_create_answers: 1,
            unlisted_until_issued: true,
            ..Default::default()
        })
        .await?;
        // A patient client for everything but the order, whose answer is dropped: a short
        // timeout there only shortens the test.
        let client = fast_client(&sim, wire, Duration::from_secs(20))?;
        let impatient = fast_client(&sim, wire, Duration::from_secs(2))?;
        let address = "ida@example.org";
        let contact_id = client
            .ssl_contact_create(&admin_contact())
            .await?
            .id
            .context("contact id")?;
        let key = PrivateKey::generate(KeyType::EcP256)?;
        let order = CertificateOrder::new(
            address,
            build_csr(&key, &Address::parse(address)?)?,
            contact_id,
            Secret::new("Dl0adPassw0rd".into()),
        );
        let err = impatient
            .certificate_create(&order, "ida-gen1")
            .await
            .err()
            .context("the order's answer must be lost")?;
        assert!(err.outcome_unknown(), "{wire:?}: {err}");
        let placed = sim.orders();
        assert_eq!(placed.len(), 1, "{wire:?}: {placed:?}");
        let job_id = placed[0].job_id.context("the order started a job")?;

        // The certificate list does not show the running order (the fault), the job list does.
        assert!(client.certificate_list(Some(address)).await?.is_empty());
        let by_name = Query::equal("object", address);
        let running = client.job_search(&by_name, JobQueue::Active).await?;
        assert_eq!(running.len(), 1, "{wire:?}: {running:?}");
        let j = &running[0];
        assert_eq!(j.job_id(), Some(job_id), "{wire:?}");
        assert_eq!(j.ctid(), Some("ida-gen1"), "{wire:?}");
        assert_eq!(j.object_name(), Some(address), "{wire:?}");
        assert_eq!(j.status(), Some(&JobStatus::Running), "{wire:?}");
        assert!(client
            .job_search(&by_name, JobQueue::History)
            .await?
            .is_empty());
        let other = Query::equal("object", "someone-else@example.org");
        assert!(client
            .job_search(&other, JobQueue::Active)
            .await?
            .is_empty());

        // Once the job ends it leaves the active list for the history, still with its ctid, and
        // the certificate is listed by name.
        clock.advance(time::Duration::minutes(2));
        assert!(client
            .job_search(&by_name, JobQueue::Active)
            .await?
            .is_empty());
        let done = client.job_search(&by_name, JobQueue::History).await?;
        assert_eq!(done.len(), 1, "{wire:?}: {done:?}");
        assert_eq!(done[0].job_id(), Some(job_id));
        assert_eq!(done[0].ctid(), Some("ida-gen1"));
        assert_eq!(done[0].status(), Some(&JobStatus::Success));
        let listed = client.certificate_list(Some(address)).await?;
        assert_eq!(listed.len(), 1, "{wire:?}");
        assert_eq!(listed[0].id, placed[0].certificate_id);
        sim.shutdown().await;
    }
    Ok(())
}

#[tokio::test]
async fn job_and_certificate_searches_read_every_page_in_both_transports() -> Result<()> {
    let (sim, _clock) = simulator_on_clock(Default::default()).await?;
    let json = fast_client(&sim, Wire::Json, Duration::from_secs(10))?;
    let contact_id = json
        .ssl_contact_create(&admin_contact())
        .await?
        .id
        .context("contact id")?;
    // More orders than one page holds, so every search needs a second page.
    let n = usize::try_from(SEARCH_PAGE_SIZE)? + 7;
    let key = PrivateKey::generate(KeyType::EcP256)?;
    let mut jobs = std::collections::BTreeSet::new();
    for i in 0..n {
        let address = format!("u{i:03}@example.org");
        let csr_pem = build_csr(&key, &Address::parse(&address)?)?;
        let order = CertificateOrder::new(
            address.as_str(),
            csr_pem,
            contact_id,
            Secret::new("Dl0adPassw0rd".into()),
        );
        let job = json
            .certificate_create(&order, &format!("page-{i}"))
            .await?;
        jobs.insert(job.id.context("job id")?);
    }
    assert_eq!(jobs.len(), n);
    for wire in [Wire::Json, Wire::Xml] {
        let client = fast_client(&sim, wire, Duration::from_secs(10))?;
        let listed = client
            .job_search(&Query::default(), JobQueue::Active)
            .await?;
        let ids: std::collections::BTreeSet<i64> =
            listed.iter().filter_map(|j| j.job_id()).collect();
        assert_eq!(listed.len(), n, "{wire:?}: one item per job, none twice");
        assert_eq!(ids, jobs, "{wire:?}: every running job, across the pages");
        let certs = client.certificate_list(None).await?;
        let names: std::collections::BTreeSet<String> =
            certs.iter().filter_map(|c| c.name.clone()).collect();
        assert_eq!(certs.len(), n, "{wire:?}");
        assert_eq!(names.len(), n, "{wire:?}: every certificate once");
    }
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn xml_lookups_by_name_ask_for_created_and_several_conditions_pass_the_gateway() -> Result<()>
{
    let (sim, _clock) = simulator_on_clock(Default::default()).await?;
    let client = fast_client(&sim, Wire::Xml, Duration::from_secs(10))?;
    let contact_id = client
        .ssl_contact_create(&admin_contact())
        .await?
        .id
        .context("contact id")?;
    // The contact is found again by its e-mail (a column the list shows only when asked).
    let contacts = client.ssl_contact_list().await?;
    let listed = contacts
        .iter()
        .find(|c| c.id == Some(contact_id))
        .context("the contact is listed")?;
    assert_eq!(listed.email.as_deref(), Some("hostmaster@example.org"));
    let key = PrivateKey::generate(KeyType::EcP256)?;
    for address in ["kai@example.org", "lea@example.org"] {
        let order = CertificateOrder::new(
            address,
            build_csr(&key, &Address::parse(address)?)?,
            contact_id,
            Secret::new("Dl0adPassw0rd".into()),
        );
        client
            .certificate_create(&order, &format!("{address}-gen1"))
            .await?;
    }
    // By name, with `<key>created</key>`: the row carries the creation time the lost-order
    // recovery needs to tell a fresh order from an old one.
    let found = client.certificate_list(Some("kai@example.org")).await?;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].name.as_deref(), Some("kai@example.org"));
    assert!(found[0].created.is_some(), "no created column: {found:?}");
    // Two conditions (`<where><and><and>…</and><and>…</and></and></where>`, operator `ge`).
    let q = Query::equal("object", "lea@example.org").and(
        "created",
        "GREATER_EQUAL",
        "2000-01-01 00:00:00",
    );
    let jobs = client.job_search(&q, JobQueue::Active).await?;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0].object_name(), Some("lea@example.org"));
    assert!(jobs[0].created().is_some());
    sim.shutdown().await;
    Ok(())
}
