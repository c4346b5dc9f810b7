//! Our AutoDNS client against the simulator over real HTTP on port 0, both wires: contact create,
//! certificate create with a CSR, poll until the job message, confirm, info; the certificate's
//! key matches the CSR and `openssl verify` accepts it against the simulator's chain. The other
//! simulator tests use hand-written requests; this one proves our client and the simulator agree.

use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use openssl::x509::X509;
use smime_provisioner::autodns::{CertificateOrder, Client, ClientSettings, SslContact, Wire};
use smime_provisioner::secret::Secret;
use support::ca::{csr_for, p256_pkey};
use support::simulator::*;
use support::tools::{openssl, run};

fn client(url: &str, wire: Wire) -> Result<Client> {
    let mut s = ClientSettings::new(url.parse()?, wire, USER, Secret::new(PASSWORD.to_string()));
    s.timeout = Duration::from_secs(10);
    s.requests_per_second = 50.0;
    Ok(Client::new(s)?)
}

async fn round_trip(wire: Wire) -> Result<()> {
    let sim = start(config()).await?;
    let url = match wire {
        Wire::Json => sim.json_url(),
        Wire::Xml => sim.xml_url(),
    };
    let c = client(&url, wire)?;
    if wire == Wire::Json {
        c.hello().await?; // the XML gateway has no hello task
    }
    let contact = c
        .ssl_contact_create(&SslContact {
            fname: Some("Joe".into()),
            lname: Some("Sample".into()),
            email: Some("admin@example.com".into()),
            phone: Some("+49-941-1234560".into()),
            organization: Some("Example GmbH".into()),
            country: Some("DE".into()),
            ..Default::default()
        })
        .await?;
    let contact_id = contact.id.context("contact create returned no id")?;

    let who = "roundtrip@example.com";
    let key = p256_pkey();
    let order = CertificateOrder::new(
        who,
        csr_for(&key, who),
        contact_id,
        Secret::new("Download1234".into()),
    );
    let job = c.certificate_create(&order, "ctid-roundtrip").await?;
    let job_id = job.id.context("create returned no job id")?;

    let mut found = None;
    for _ in 0..200 {
        let p = c.poll_info().await?;
        if let Some(m) = p.message {
            found = Some(m);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let Some(msg) = found else {
        bail!("no poll message within 10 s")
    };
    ensure!(
        msg.job_id() == Some(job_id),
        "message for another job: {msg:?}"
    );
    // JSON messages carry the id in `object.data.id`. The XML message shape is inferred
    // on both sides and they differ (the simulator nests `object/data/certificate/id`); the
    // client then falls back to CertificateList by name, as AutoDNS documents for poll messages.
    let cert_id = match (msg.certificate_id(), wire) {
        (Some(id), _) => id,
        (None, Wire::Xml) => {
            let hits = c.certificate_list(Some(who)).await?;
            ensure!(
                hits.len() == 1,
                "list by name found {} certificates",
                hits.len()
            );
            hits[0].id.context("listed certificate without id")?
        }
        (None, Wire::Json) => bail!("no certificate id in the JSON message: {msg:?}"),
    };
    c.poll_confirm(msg.id.context("message without id")?)
        .await?;
    ensure!(
        c.poll_info().await?.message.is_none(),
        "queue not empty after confirm"
    );

    let cert = c.certificate_info(cert_id).await?;
    let pem = cert.server.clone().context("no leaf in server")?;
    let leaf = X509::from_pem(pem.as_bytes())?;
    ensure!(
        leaf.public_key()?.public_eq(&key),
        "leaf key differs from the CSR's"
    );
    let chain: Vec<String> = cert
        .certification_authority
        .iter()
        .filter_map(|ca| ca.ca_certificate.clone())
        .collect();
    ensure!(chain.len() == 2, "chain has {} certificates", chain.len());

    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("leaf.pem"), &pem)?;
    std::fs::write(dir.path().join("intermediate.pem"), &chain[0])?;
    std::fs::write(dir.path().join("root.pem"), &chain[1])?;
    let out = run(
        openssl()
            .args([
                "verify",
                "-CAfile",
                "root.pem",
                "-untrusted",
                "intermediate.pem",
                "leaf.pem",
            ])
            .current_dir(dir.path()),
        None,
    )?;
    ensure!(
        out.status.success(),
        "openssl verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let listed = c.certificate_list(Some(who)).await?;
    ensure!(
        listed.iter().any(|x| x.id == Some(cert_id)),
        "list by name misses the certificate"
    );
    let orders = sim.orders();
    ensure!(
        orders.len() == 1
            && orders[0].has_csr
            && orders[0].ctid.as_deref() == Some("ctid-roundtrip"),
        "{orders:?}"
    );
    Ok(())
}

#[tokio::test]
async fn our_client_orders_polls_and_fetches_a_verifiable_certificate_over_json() -> Result<()> {
    round_trip(Wire::Json).await
}

#[tokio::test]
async fn our_client_orders_polls_and_fetches_a_verifiable_certificate_over_xml() -> Result<()> {
    round_trip(Wire::Xml).await
}
