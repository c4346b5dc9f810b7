//! Certificates the simulator issues are real: `openssl verify -CAfile root -untrusted
//! intermediate` accepts them, and `openssl x509 -text` shows the S/MIME mailbox-validated
//! profile (subject, SAN, EKU, key usage per key type, policy, validity cap), for RSA and P-256.

use std::path::Path;

use anyhow::{ensure, Result};
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use serde_json::json;
use support::ca::{csr_for, p256_pkey, rsa_pkey};
use support::simulator::*;
use support::tools::{openssl, run};

/// Orders a certificate for `who` with `key` over JSON and returns (leaf PEM, chain PEMs).
async fn issue(
    api: &Json,
    clock: &smime_provisioner::clock::ManualClock,
    who: &str,
    key: &PKey<Private>,
    months: i64,
) -> Result<(String, Vec<String>)> {
    let contact = make_contact(api).await?;
    let mut body = order_body(who, contact, &csr_for(key, who));
    body["lifetime"] = json!({"unit": "MONTH", "period": months});
    let a = api.call("POST", "/certificate", Some(body)).await?;
    ensure!(a.code() == "N400101", "order refused: {}", a.body);
    clock.advance(time::Duration::seconds(1));
    let p = api.call("GET", "/poll", None).await?;
    let id = p.data0()["object"]["data"]["id"]
        .as_i64()
        .unwrap_or_default();
    api.call("PUT", &format!("/poll/{}", p.data0()["id"]), None)
        .await?;
    let c = api.call("GET", &format!("/certificate/{id}"), None).await?;
    let leaf = c.data0()["server"].as_str().unwrap_or_default().to_string();
    let chain = c.data0()["certificationAuthority"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(|x| x["caCertificate"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Ok((leaf, chain))
}

fn openssl_text(dir: &Path, file: &str) -> Result<String> {
    let out = run(
        openssl()
            .args(["x509", "-in", file, "-noout", "-text"])
            .current_dir(dir),
        None,
    )?;
    ensure!(
        out.status.success(),
        "openssl x509 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn openssl_verify(dir: &Path) -> Result<String> {
    let out = run(
        openssl()
            .args([
                "verify",
                "-CAfile",
                "root.pem",
                "-untrusted",
                "intermediate.pem",
                "-purpose",
                "smimesign",
                "leaf.pem",
            ])
            .current_dir(dir),
        None,
    )?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        out.status.success(),
        "openssl verify refused the chain: {text}"
    );
    Ok(text)
}

fn write_all(dir: &Path, leaf: &str, chain: &[String]) -> Result<()> {
    ensure!(
        chain.len() == 2,
        "expected intermediate and root, got {}",
        chain.len()
    );
    std::fs::write(dir.join("leaf.pem"), leaf)?;
    std::fs::write(dir.join("intermediate.pem"), &chain[0])?;
    std::fs::write(dir.join("root.pem"), &chain[1])?;
    Ok(())
}

#[tokio::test]
async fn an_rsa_csr_yields_a_verifiable_smime_certificate_for_signing_and_encryption() -> Result<()>
{
    let (cfg, clock) = manual_config();
    let sim = start(cfg).await?;
    let api = Json::new(&sim);
    let key = rsa_pkey();
    let (leaf, chain) = issue(&api, &clock, "Alice.Smith@example.com", &key, 12).await?;
    assert_eq!(chain, sim.ca_chain_pem());
    let dir = tempfile::tempdir()?;
    write_all(dir.path(), &leaf, &chain)?;
    assert!(openssl_verify(dir.path())?.contains("leaf.pem: OK"));

    let text = openssl_text(dir.path(), "leaf.pem")?;
    assert!(
        text.contains(
            "Subject: CN = Alice.Smith@example.com, emailAddress = Alice.Smith@example.com"
        ),
        "{text}"
    );
    assert!(
        text.contains("email:Alice.Smith@example.com"),
        "SAN rfc822Name: {text}"
    );
    assert!(text.contains("E-mail Protection"), "{text}");
    assert!(!text.contains("TLS Web Server Authentication"));
    assert!(
        text.contains("Digital Signature, Key Encipherment"),
        "RSA key usage: {text}"
    );
    assert!(!text.contains("Key Agreement"));
    assert!(text.contains("CA:FALSE"));
    assert!(text.contains("Policy: 2.23.140.1.5.1.3"), "{text}");

    // The leaf carries the CSR's key, so our private key matches it.
    let cert = X509::from_pem(leaf.as_bytes())?;
    assert!(cert.public_key()?.public_eq(&key));
    // 12 months of validity (365 days; 366 across a leap day).
    let days = cert.not_before().diff(cert.not_after())?.days;
    assert!((365..=366).contains(&days), "validity {days} days");
    Ok(())
}

#[tokio::test]
async fn a_p256_csr_gets_key_agreement_instead_of_key_encipherment_and_36_months_are_capped_at_825_days(
) -> Result<()> {
    let (cfg, clock) = manual_config();
    let sim = start(cfg).await?;
    let api = Json::new(&sim);
    let key = p256_pkey();
    let (leaf, chain) = issue(&api, &clock, "bob@xn--bcher-kva.example", &key, 36).await?;
    let dir = tempfile::tempdir()?;
    write_all(dir.path(), &leaf, &chain)?;
    openssl_verify(dir.path())?;
    let text = openssl_text(dir.path(), "leaf.pem")?;
    assert!(
        text.contains("Digital Signature, Key Agreement"),
        "EC key usage: {text}"
    );
    assert!(!text.contains("Key Encipherment"));
    assert!(text.contains("email:bob@xn--bcher-kva.example"));
    let cert = X509::from_pem(leaf.as_bytes())?;
    assert_eq!(cert.not_before().diff(cert.not_after())?.days, 825);
    assert!(cert.public_key()?.public_eq(&key));
    Ok(())
}

#[tokio::test]
async fn the_chain_is_a_ca_pair_and_a_foreign_root_does_not_verify_the_leaf() -> Result<()> {
    let (cfg, clock) = manual_config();
    let sim = start(cfg).await?;
    let api = Json::new(&sim);
    let (leaf, chain) = issue(&api, &clock, "carol@example.com", &p256_pkey(), 12).await?;
    let dir = tempfile::tempdir()?;
    write_all(dir.path(), &leaf, &chain)?;
    let inter = openssl_text(dir.path(), "intermediate.pem")?;
    assert!(inter.contains("CA:TRUE, pathlen:0"), "{inter}");

    // A second simulator has its own throwaway root: our leaf must not verify against it.
    let other = start(config()).await?;
    std::fs::write(dir.path().join("root.pem"), &other.ca_chain_pem()[1])?;
    assert!(openssl_verify(dir.path()).is_err());
    Ok(())
}
