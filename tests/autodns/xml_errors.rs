//! The XML gateway answers API errors with HTTP 200 (docs/autodns-api.md §1.10), so the class of
//! an error (not found, busy, authentication, rate limited) comes from its codes, and, for codes
//! nobody documents, from its text. Rate limited and busy are always transient, never
//! "rejected": a 429-like answer classed as a refusal would fail a mailbox for good.
//!
//! First the codec (an error body as the gateway would send it, HTTP 200), then the client over
//! XML against the simulator, which emits each class.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use smime_provisioner::autodns::model::{Envelope, Void};
use smime_provisioner::autodns::xml;
use smime_provisioner::autodns::{
    ApiError, CertificateOrder, Client, ClientSettings, Error, ErrorKind, RetryPolicy, Wire,
};
use smime_provisioner::crypto::csr::build_csr;
use smime_provisioner::crypto::key::{KeyType, PrivateKey};
use smime_provisioner::mailbox::Address;
use smime_provisioner::secret::Secret;
use smime_provisioner::simulator::{Faults, SimulatorHandle};

use crate::against_simulator::{admin_contact, simulator_with, PASSWORD, USER};

/// An XML error answer with one detail message, as the gateway sends it (HTTP 200).
fn xml_error(code: &str, text: &str) -> Result<Error> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><response><result><data/>\
         <msg><code>{code}</code><text>{text}</text><type>error</type></msg>\
         <status><code>E400104</code><text>Error.</text><type>error</type></status>\
         </result><stid>20261203-app1-1</stid></response>"
    );
    let env: Envelope<Void> = xml::decode_response("CertificateInfo", 200, body.as_bytes())?;
    if !env.is_error() {
        bail!("the body is not an error answer");
    }
    Ok(Error::Api(ApiError::from_envelope(
        "CertificateInfo",
        200,
        &env,
    )))
}

#[test]
fn the_simulators_rate_limit_code_over_xml_with_http_200_is_transient() -> Result<()> {
    let e = xml_error("EF00030", "Too many requests.")?;
    assert_eq!(e.kind(), ErrorKind::Transient, "{e}");
    assert!(!e.outcome_unknown(), "refused before acting: {e}");
    Ok(())
}

#[test]
fn an_undocumented_code_that_says_too_many_requests_is_transient_in_english_and_german(
) -> Result<()> {
    for text in [
        "Too many requests, please try again later.",
        "Request limit exceeded",
        "Zu viele Anfragen. Bitte versuchen Sie es später erneut.",
    ] {
        let e = xml_error("EF99999", text)?;
        assert_eq!(e.kind(), ErrorKind::Transient, "{text}: {e}");
        assert!(!e.outcome_unknown(), "{text}");
    }
    Ok(())
}

#[test]
fn an_undocumented_code_that_says_busy_is_transient() -> Result<()> {
    for text in [
        "The object is currently being processed.",
        "Another job is in progress for this certificate.",
        "Der Auftrag wird bereits bearbeitet.",
    ] {
        assert_eq!(
            xml_error("EF99998", text)?.kind(),
            ErrorKind::Transient,
            "{text}"
        );
    }
    Ok(())
}

#[test]
fn an_undocumented_code_that_says_not_found_is_not_found() -> Result<()> {
    for text in [
        "The certificate was not found.",
        "Object does not exist.",
        "Das Zertifikat wurde nicht gefunden.",
    ] {
        assert_eq!(
            xml_error("EF99997", text)?.kind(),
            ErrorKind::NotFound,
            "{text}"
        );
    }
    Ok(())
}

#[test]
fn an_undocumented_code_that_says_the_login_failed_is_authentication() -> Result<()> {
    for text in [
        "Authentication failed.",
        "Login failed: user or password wrong.",
        "Die Anmeldung ist fehlgeschlagen.",
    ] {
        assert_eq!(
            xml_error("EF99996", text)?.kind(),
            ErrorKind::Authentication,
            "{text}"
        );
    }
    Ok(())
}

#[test]
fn an_undocumented_refusal_stays_rejected_and_a_password_rule_is_not_a_login_failure() -> Result<()>
{
    for text in [
        "The lifetime is not allowed for this product.",
        "The download password does not meet the rules.",
    ] {
        assert_eq!(
            xml_error("EF99995", text)?.kind(),
            ErrorKind::Rejected,
            "{text}"
        );
    }
    Ok(())
}

// ---- the client over XML against the simulator ------------------------------------------------

fn xml_client(sim: &SimulatorHandle, password: &str) -> Result<Client> {
    let mut settings = ClientSettings::new(
        sim.xml_url().parse()?,
        Wire::Xml,
        USER,
        Secret::new(password.to_string()),
    );
    settings.timeout = Duration::from_secs(10);
    // One attempt: the class must show in the first answer, not after retries.
    let once = RetryPolicy {
        max_attempts: 1,
        ..Default::default()
    };
    Ok(Client::with_retry_policy(settings, once)?)
}

#[tokio::test]
async fn over_xml_a_wrong_password_is_authentication_and_an_unknown_job_is_not_found() -> Result<()>
{
    let sim = simulator_with(Faults::default()).await?;
    let wrong = xml_client(&sim, "not-the-password")?;
    let e = wrong.poll_info().await.err().context("accepted")?;
    assert_eq!(e.http_status(), Some(200), "{e}");
    assert_eq!(e.kind(), ErrorKind::Authentication, "{e}");
    let client = xml_client(&sim, PASSWORD)?;
    let e = client.job_info(987_654).await.err().context("found")?;
    assert_eq!(e.http_status(), Some(200), "{e}");
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn over_xml_a_delete_while_a_job_runs_is_busy_and_transient() -> Result<()> {
    // The order's job waits a day for approval: a delete meanwhile finds the certificate busy.
    let sim = simulator_with(Faults {
        deferred_for: Duration::from_secs(86_400),
        ..Faults::default()
    })
    .await?;
    let client = xml_client(&sim, PASSWORD)?;
    let contact_id = client
        .ssl_contact_create(&admin_contact())
        .await?
        .id
        .context("contact id")?;
    let key = PrivateKey::generate(KeyType::EcP256)?;
    let csr_pem = build_csr(&key, &Address::parse("anna@example.org")?)?;
    let order = CertificateOrder::new(
        "anna@example.org",
        csr_pem,
        contact_id,
        Secret::new("Dl0adPassw0rd".into()),
    );
    client.certificate_create(&order, "ctid-busy-1").await?;
    let cert_id = sim
        .orders()
        .first()
        .and_then(|o| o.certificate_id)
        .context("no certificate id in the order log")?;
    let e = client
        .certificate_delete(cert_id, "ctid-busy-2")
        .await
        .err()
        .context("the delete was accepted while the order's job runs")?;
    assert_eq!(e.http_status(), Some(200), "{e}");
    assert_eq!(e.kind(), ErrorKind::Transient, "{e}");
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn over_xml_the_rate_limit_answers_http_200_and_is_transient() -> Result<()> {
    let sim = simulator_with(Faults {
        rate_limit_rps: Some(0.001),
        ..Default::default()
    })
    .await?;
    let client = xml_client(&sim, PASSWORD)?;
    client.poll_info().await?;
    // The second request within the window is over the limit.
    let e = client.poll_info().await.err().context("not limited")?;
    assert_eq!(
        e.http_status(),
        Some(200),
        "over XML every error is HTTP 200: {e}"
    );
    assert_eq!(e.kind(), ErrorKind::Transient, "{e}");
    assert!(!e.outcome_unknown(), "{e}");
    sim.shutdown().await;
    Ok(())
}
