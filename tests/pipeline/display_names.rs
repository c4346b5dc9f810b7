//! Display names through the real binary: a name from the LDIF export (each attribute form,
//! base64 `displayName::` included) or from `enqueue --name` greets the user in the rendered
//! bundle mail and fills the order's first and last name as the simulator received them; a name
//! that tries to inject a mail header is refused with its reason and never reaches a header.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use smime_provisioner::simulator::{Faults, SimulatorHandle};
use support::live::*;

use crate::run_verb;

/// A config against `sim` with an LDIF source reading `ldif` (keyed by DN).
fn setup(sim: &SimulatorHandle, ldif_extra: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    setup_on(sim, "json", ldif_extra)
}

/// As [`setup`], over `wire` (`json` or `xml`).
fn setup_on(
    sim: &SimulatorHandle,
    wire: &str,
    ldif_extra: &str,
) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let ldif = dir.path().join("directory.ldif");
    let extra = format!(
        "[domains]\nallow = [\"example.com\"]\n[sources.ldif]\nenabled = true\npath = \"{}\"\n\
         key = \"dn\"\n{ldif_extra}",
        ldif.display()
    );
    let text = config_text(dir.path(), &endpoint_for(sim, wire), wire, &extra);
    let config = dir.path().join("config.toml");
    std::fs::write(&config, text).unwrap();
    std::fs::create_dir_all(dir.path().join("mail")).unwrap();
    std::fs::create_dir_all(dir.path().join("spool")).unwrap();
    (dir, config, ldif)
}

/// Runs a verb of the real binary off the runtime's threads (the simulator runs on them).
async fn verb(config: &Path, args: &[&str]) -> (i32, String, String) {
    let (config, args) = (
        config.to_path_buf(),
        args.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
    );
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_verb(&config, &args)
    })
    .await
    .unwrap()
}

/// `run --once` records what the sources list, then `provision` drives `address` to delivery.
async fn provision_listed(config: &Path, address: &str) {
    let (code, out, err) = verb(config, &["run", "--once"]).await;
    assert_eq!(code, 0, "run --once:\n{out}\n{err}");
    let (code, out, err) = verb(config, &["provision", address]).await;
    assert_eq!(code, 0, "provision {address}:\n{out}\n{err}");
}

/// The text part of the bundle mail sent to `address`.
fn bundle_text(dir: &Path, address: &str) -> String {
    let mails = outbox_mails(&dir.join("outbox"));
    mails
        .iter()
        .find(|m| m.pkcs12.is_some() && m.to.iter().any(|t| t.contains(address)))
        .map(|m| m.text.clone())
        .unwrap_or_else(|| panic!("no bundle mail to {address} in the outbox"))
}

/// The first and last name of the order the simulator received for `address`.
fn order_names(sim: &SimulatorHandle, address: &str) -> (Option<String>, Option<String>) {
    let orders = sim.orders();
    let o = orders
        .iter()
        .find(|o| o.name == address)
        .unwrap_or_else(|| panic!("no order for {address}: {orders:?}"));
    (o.firstname.clone(), o.lastname.clone())
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

async fn simulator() -> SimulatorHandle {
    start_simulator(Faults::default(), Duration::from_millis(100), 71).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base64_display_name_from_ldif_greets_the_user_and_names_the_order() {
    for wire in ["json", "xml"] {
        a_base64_display_name_over(wire).await;
    }
}

async fn a_base64_display_name_over(wire: &str) {
    let sim = simulator().await;
    let (dir, config, ldif) = setup_on(&sim, wire, "");
    // `displayName::` is how exporters write non-ASCII values (RFC 2849 note 8).
    std::fs::write(
        &ldif,
        format!(
            "dn: uid=joerg,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\n\
             cn: J. Mueller\ndisplayName:: {}\ngivenName: Jörg\nsn: Müller\n\
             mail: joerg@example.com\n\n",
            b64("Jörg Müller")
        ),
    )
    .unwrap();
    provision_listed(&config, "joerg@example.com").await;
    let text = bundle_text(dir.path(), "joerg@example.com");
    assert!(text.starts_with("Hello Jörg Müller,"), "{wire}: {text}");
    assert_eq!(
        order_names(&sim, "joerg@example.com"),
        (Some("Jörg".into()), Some("Müller".into())),
        "{wire}"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cn_and_then_given_name_and_surname_stand_in_for_a_missing_display_name() {
    let sim = simulator().await;
    let (dir, config, ldif) = setup(&sim, "");
    std::fs::write(
        &ldif,
        "dn: uid=anna,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\n\
         cn: Anna Lima\nmail: anna@example.com\n\n\
         dn: uid=bo,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\n\
         givenName: Bo\nsn: Berg\nmail: bo@example.com\n\n\
         dn: uid=cy,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\n\
         mail: cy@example.com\n\n",
    )
    .unwrap();
    provision_listed(&config, "anna@example.com").await;
    provision_listed(&config, "bo@example.com").await;
    provision_listed(&config, "cy@example.com").await;
    let anna = bundle_text(dir.path(), "anna@example.com");
    assert!(anna.starts_with("Hello Anna Lima,"), "{anna}");
    let bo = bundle_text(dir.path(), "bo@example.com");
    assert!(bo.starts_with("Hello Bo Berg,"), "{bo}");
    // No name known: the address, as before, and no name parts in the order.
    let cy = bundle_text(dir.path(), "cy@example.com");
    assert!(cy.starts_with("Hello cy@example.com,"), "{cy}");
    assert_eq!(
        order_names(&sim, "anna@example.com"),
        (Some("Anna".into()), Some("Lima".into()))
    );
    assert_eq!(order_names(&sim, "cy@example.com"), (None, None));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_display_name_with_a_header_injection_is_refused_and_reaches_no_header() {
    let sim = simulator().await;
    let (dir, config, ldif) = setup(&sim, "");
    std::fs::write(
        &ldif,
        format!(
            "dn: uid=eve,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\n\
             displayName:: {}\ncn: Eve Example\nmail: eve@example.com\n\n",
            b64("Eve\r\nBcc: victim@example.net")
        ),
    )
    .unwrap();
    let (code, out, err) = verb(&config, &["run", "--once"]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        err.contains("displayName") && err.contains("line break"),
        "the refused name is reported with its reason:\n{err}"
    );
    assert!(!err.contains("victim@example.net"), "{err}");
    let (code, out, err) = verb(&config, &["provision", "eve@example.com"]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    // The next attribute in line (cn) greets instead.
    let text = bundle_text(dir.path(), "eve@example.com");
    assert!(text.starts_with("Hello Eve Example,"), "{text}");
    for e in std::fs::read_dir(dir.path().join("outbox")).unwrap() {
        let raw = std::fs::read_to_string(e.unwrap().path()).unwrap();
        let head = raw.split("\r\n\r\n").next().unwrap_or_default();
        assert!(!head.to_ascii_lowercase().contains("bcc"), "{head}");
        assert!(!raw.contains("victim@example.net"), "{raw}");
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_given_to_enqueue_greets_the_user_and_a_bad_one_enqueues_nothing() {
    let sim = simulator().await;
    let (dir, config, ldif) = setup(&sim, "");
    std::fs::write(&ldif, "").unwrap();
    let (code, out, err) = verb(
        &config,
        &["enqueue", "--name", "Rita Ora Santos", "rita@example.com"],
    )
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    let (code, out, err) = verb(
        &config,
        &[
            "enqueue",
            "--name",
            "Mal\r\nBcc: x@example.net",
            "mal@example.com",
        ],
    )
    .await;
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains("nothing enqueued") && err.contains("line break"),
        "{err}"
    );
    provision_listed(&config, "rita@example.com").await;
    let text = bundle_text(dir.path(), "rita@example.com");
    assert!(text.starts_with("Hello Rita Ora Santos,"), "{text}");
    let (code, out, err) = verb(&config, &["status", "rita@example.com"]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("  name:         Rita Ora Santos\n"), "{out}");
    assert_eq!(
        order_names(&sim, "rita@example.com"),
        (Some("Rita Ora".into()), Some("Santos".into()))
    );
    let spool: Vec<_> = std::fs::read_dir(dir.path().join("spool"))
        .unwrap()
        .collect();
    assert!(spool.is_empty(), "the bad request left no file: {spool:?}");
    sim.shutdown().await;
}
