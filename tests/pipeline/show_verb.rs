//! `show ADDRESS` through the real binary: the stored public certificate as PEM (the default),
//! DER or PEM with its chain, each read back by `openssl x509`; never a private key; clear
//! errors for a mailbox without a certificate, an unknown one and bad arguments.

use std::path::Path;

use smime_provisioner::lifecycle::EventKind;
use smime_provisioner::mailbox::Address;
use smime_provisioner::pipeline::Stage;
use smime_provisioner::store::{MailboxRecord, Store, Transition};
use support::ca::{csr_for, p256_pkey, LeafSpec, TestCa};
use support::live::certificate_fingerprint;
use support::tools;

use crate::run_verb;

fn write_config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("config.toml");
    let text = format!(
        "[state]\ndir = \"{}\"\n[autodns]\nendpoint = \"simulator\"\n[autodns.contact]\nid = 100\n\
         [delivery]\ntransport = \"file\"\nfrom = \"PKI <pki@example.com>\"\n",
        dir.join("state").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// alice with a certificate from the test CA and its chain; bob with none yet. Returns alice's
/// certificate.
fn seed(dir: &Path) -> String {
    let store = Store::open(&dir.join("state")).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let ca = TestCa::shared();
    let pem = ca
        .issue(
            &csr_for(&p256_pkey(), "alice@example.com"),
            &LeafSpec::valid_now(),
        )
        .unwrap();
    let mut r = MailboxRecord::discovered(Address::parse("alice@example.com").unwrap(), now);
    r.stage = Stage::Delivered;
    r.certificate_pem = Some(pem.clone());
    r.chain_pem = Some(ca.chain().join(""));
    store
        .commit(Transition::new(r).event(EventKind::Delivered, "password sent separately"))
        .unwrap();
    let b = Address::parse("bob@example.com").unwrap();
    store.observe_present(&b, now).unwrap();
    pem
}

fn der_fingerprint(dir: &Path, der: &[u8]) -> String {
    let f = dir.join("cert.der");
    std::fs::write(&f, der).unwrap();
    let out = tools::run_stdout(
        tools::openssl()
            .args(["x509", "-inform", "DER", "-in"])
            .arg(&f),
        None,
    )
    .unwrap();
    certificate_fingerprint(&String::from_utf8(out).unwrap())
}

#[test]
fn show_prints_the_public_certificate_as_pem_der_or_with_its_chain() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let pem = seed(dir.path());
    let want = certificate_fingerprint(&pem);

    let (code, out, err) = run_verb(&config, &["show", "alice@example.com"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.matches("BEGIN CERTIFICATE").count(), 1, "{out}");
    assert_eq!(certificate_fingerprint(&out), want);
    let (code, same, _) = run_verb(&config, &["show", "--pem", "alice@example.com"]);
    assert_eq!((code, same), (0, out.clone()), "--pem is the default");

    let raw = std::process::Command::new(env!("CARGO_BIN_EXE_smime-provisioner"))
        .arg("--config")
        .arg(&config)
        .args(["show", "--der", "alice@example.com"])
        .output()
        .unwrap();
    assert!(raw.status.success());
    assert_eq!(
        raw.stdout.first(),
        Some(&0x30),
        "DER starts with a SEQUENCE"
    );
    assert_eq!(der_fingerprint(dir.path(), &raw.stdout), want);

    let (code, chain, _) = run_verb(&config, &["show", "--chain", "alice@example.com"]);
    assert_eq!(code, 0);
    assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 3, "{chain}");
    assert!(chain.starts_with(&out), "the leaf comes first");
    for text in [&out, &chain] {
        assert!(!text.contains("PRIVATE KEY"));
    }
}

#[test]
fn show_explains_a_missing_certificate_an_unknown_mailbox_and_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let (code, _, err) = run_verb(&config, &["show", "alice@example.com"]);
    assert_eq!(code, 1, "no store yet: {err}");
    assert!(err.contains("not a known mailbox"), "{err}");
    seed(dir.path());
    let (code, _, err) = run_verb(&config, &["show", "bob@example.com"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("has no certificate yet (stage discovered)"),
        "{err}"
    );
    let (code, _, err) = run_verb(&config, &["show", "nobody@example.com"]);
    assert_eq!(
        (code, err.contains("not a known mailbox")),
        (1, true),
        "{err}"
    );
    let (code, _, _) = run_verb(&config, &["show", "not-an-address"]);
    assert_eq!(code, 2);
    let (code, _, _) = run_verb(&config, &["show", "--der", "--chain", "alice@example.com"]);
    assert_eq!(code, 2, "DER holds one certificate");
}
