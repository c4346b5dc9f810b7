//! Verbs through the real binary: `run --once` lists the LDIF export as the daemon does, and
//! `redeliver` with `keys.archive = false` refuses instead of breaking a delivered mailbox.

use std::path::Path;

use support::live::*;

use crate::run_verb;
use smime_provisioner::mailbox::Address;
use smime_provisioner::pipeline::Stage;
use smime_provisioner::store::{MailboxRecord, Store};

fn setup(keys_extra: &str, extra: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let text = config_text(
        dir.path(),
        "simulator",
        "json",
        &format!(
            "[simulator]\nissuance_delay_ms = 200\n[domains]\nallow = [\"example.com\"]\n{extra}"
        ),
    )
    .replace(
        "type = \"ec-p256\"\n",
        &format!("type = \"ec-p256\"\n{keys_extra}"),
    );
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    std::fs::create_dir_all(dir.path().join("mail")).unwrap();
    (dir, path)
}

fn record(dir: &Path, a: &str) -> Option<MailboxRecord> {
    let store = Store::open(&dir.join("state")).unwrap();
    store.get(&Address::parse(a).unwrap()).unwrap()
}

#[test]
fn run_once_provisions_the_mailboxes_of_an_ldif_export() {
    let dir0 = tempfile::tempdir().unwrap();
    let ldif = dir0.path().join("directory.ldif");
    std::fs::write(
        &ldif,
        "dn: uid=carol,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: carol\n\
         mail: carol@example.com\n\n",
    )
    .unwrap();
    let (dir, config) = setup(
        "",
        &format!(
            "[sources.ldif]\nenabled = true\npath = \"{}\"\nkey = \"dn\"\n",
            ldif.display()
        ),
    );
    let (code, out, err) = run_verb(&config, &["run", "--once"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let r = record(dir.path(), "carol@example.com")
        .unwrap_or_else(|| panic!("run --once did not list the LDIF export:\n{out}\n{err}"));
    // One pass: the mailbox is discovered, keyed and ordered (issuance comes later).
    assert!(
        matches!(r.stage, Stage::Ordered | Stage::Delivered),
        "{:?}\n{out}\n{err}",
        r.stage
    );
    assert!(r.present);
}

#[test]
fn redeliver_without_an_archived_key_is_refused_and_the_mailbox_stays_delivered() {
    let (dir, config) = setup("archive = false\n", "");
    let a = "erin@example.com";
    let (code, out, err) = run_verb(&config, &["provision", a]);
    assert_eq!(code, 0, "{out}\n{err}");
    let before = record(dir.path(), a).unwrap();
    assert_eq!(before.stage, Stage::Delivered);

    let (code, out, err) = run_verb(&config, &["redeliver", a]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("keys.archive = false"), "{err}");
    assert!(err.contains(&format!("reprovision {a}")), "{err}");

    let after = record(dir.path(), a).unwrap();
    assert_eq!(after.stage, Stage::Delivered);
    assert_eq!(after.request, None);
    assert!(!after.failure.gave_up);
    assert_eq!(after.generation, before.generation);
    assert_eq!(
        outbox_bundles(&dir.path().join("outbox"))
            .remove(a)
            .unwrap_or_default()
            .len(),
        1,
        "nothing more was sent"
    );
}
