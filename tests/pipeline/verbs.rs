//! The one-off verbs through the real binary, with `autodns.endpoint = "simulator"` (each run
//! starts the bundled simulator in-process on its persisted state): `provision` delivers and is
//! a no-op the second time, `redeliver` sends the same certificate with a new password and buys
//! nothing, `reprovision` buys a new one with a new key, `revoke` revokes, and bad input is a
//! usage error (exit 2) before anything is bought.

use std::path::Path;

use support::live::*;

use crate::run_verb;
use smime_provisioner::mailbox::Address;
use smime_provisioner::pipeline::Stage;
use smime_provisioner::store::{MailboxRecord, Store};

fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let text = config_text(
        dir.path(),
        "simulator",
        "json",
        "[simulator]\nissuance_delay_ms = 200\n[domains]\nallow = [\"example.com\"]\n",
    );
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    std::fs::create_dir_all(dir.path().join("mail")).unwrap();
    (dir, path)
}

fn record(dir: &Path, a: &str) -> MailboxRecord {
    let store = Store::open(&dir.join("state")).unwrap();
    store.get(&Address::parse(a).unwrap()).unwrap().unwrap()
}

fn bundles(dir: &Path, a: &str) -> Vec<Vec<u8>> {
    outbox_bundles(&dir.join("outbox"))
        .remove(a)
        .unwrap_or_default()
}

#[test]
fn provision_delivers_in_the_foreground_and_a_second_run_buys_nothing() {
    let (dir, config) = setup();
    let a = "alice@example.com";
    let (code, out, err) = run_verb(&config, &["provision", a]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("alice@example.com: key-ready"),
        "progress lines: {out}"
    );
    assert!(out.contains("alice@example.com: delivered"), "{out}");
    let r = record(dir.path(), a);
    assert_eq!((r.stage, r.generation), (Stage::Delivered, 1));
    let got = bundles(dir.path(), a);
    assert_eq!(got.len(), 1);
    let (fp, _) = open_pkcs12(dir.path(), &got[0], &password_of(dir.path(), a));
    assert_eq!(Some(fp), r.fingerprint);

    let (code, out, _) = run_verb(&config, &["provision", a]);
    assert_eq!(code, 0, "{out}");
    let again = record(dir.path(), a);
    assert_eq!(
        (again.generation, again.certificate_id),
        (1, r.certificate_id),
        "no new order"
    );
    assert_eq!(bundles(dir.path(), a).len(), 1, "nothing mailed again");
}

#[test]
fn redeliver_reprovision_and_revoke_do_what_they_say() {
    let (dir, config) = setup();
    let a = "bob@example.com";
    assert_eq!(run_verb(&config, &["provision", a]).0, 0);
    let first = record(dir.path(), a);
    let first_password = password_of(dir.path(), a);

    let (code, out, err) = run_verb(&config, &["redeliver", a]);
    assert_eq!(code, 0, "{out}\n{err}");
    let r = record(dir.path(), a);
    assert_eq!(
        (r.generation, r.certificate_id),
        (1, first.certificate_id),
        "nothing bought"
    );
    let got = bundles(dir.path(), a);
    assert_eq!(got.len(), 2);
    let new_password = password_of(dir.path(), a);
    assert_ne!(new_password, first_password, "a fresh password");
    let opened: Vec<String> = got
        .iter()
        .filter(|b| {
            support::tools::openssl()
                .args(["pkcs12", "-noout", "-passin"])
                .arg(format!("pass:{new_password}"))
                .stderr(std::process::Stdio::null())
                .arg("-in")
                .arg({
                    let f = dir.path().join(format!("b{}.p12", rand::random::<u32>()));
                    std::fs::write(&f, b).unwrap();
                    f
                })
                .status()
                .is_ok_and(|s| s.success())
        })
        .map(|_| String::new())
        .collect();
    assert_eq!(
        opened.len(),
        1,
        "the new password opens the new bundle only"
    );

    let (code, out, err) = run_verb(&config, &["reprovision", a]);
    assert_eq!(code, 0, "{out}\n{err}");
    let r = record(dir.path(), a);
    assert_eq!((r.stage, r.generation), (Stage::Delivered, 2));
    assert_ne!(r.certificate_id, first.certificate_id, "a new certificate");
    assert_ne!(r.key_ref, first.key_ref, "a new key");

    let (code, out, err) = run_verb(&config, &["revoke", a]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(record(dir.path(), a).stage, Stage::Revoked);

    let (code, out, _) = run_verb(&config, &["status", a]);
    assert_eq!(code, 0);
    for kind in ["request-applied", "revoked", "issued", "delivered"] {
        assert!(out.contains(kind), "{kind} in the audit trail:\n{out}");
    }
}

#[test]
fn bad_addresses_and_foreign_domains_are_usage_errors_and_unknown_ones_fail() {
    let (dir, config) = setup();
    let (code, _, err) = run_verb(&config, &["provision", "not-an-address"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run_verb(&config, &["provision", "carol@elsewhere.org"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("domains.allow"), "{err}");
    let (code, _, err) = run_verb(&config, &["renew", "nobody@example.com"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not a known mailbox"), "{err}");
    assert!(
        outbox_bundles(&dir.path().join("outbox")).is_empty(),
        "nothing was bought or sent"
    );
}

#[test]
fn a_request_with_no_wait_is_recorded_for_the_daemon() {
    let (dir, config) = setup();
    let a = "dora@example.com";
    assert_eq!(run_verb(&config, &["provision", a]).0, 0);
    let (code, out, _) = run_verb(&config, &["redeliver", "--no-wait", a]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("request recorded"), "{out}");
    let r = record(dir.path(), a);
    assert_eq!(
        r.request,
        Some(smime_provisioner::pipeline::Request::Redeliver)
    );
    // `run --once` carries it out.
    let (code, out, err) = run_verb(&config, &["run", "--once"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let r = record(dir.path(), a);
    assert_eq!((r.stage, r.request), (Stage::Delivered, None));
    assert_eq!(bundles(dir.path(), a).len(), 2);
}
