//! The state store does not keep a delivered bundle's PKCS#12 password on disk: once the record stops holding it, neither the database file nor its WAL
//! contains the password's bytes.

use smime_provisioner::mailbox::Address;
use smime_provisioner::secret::Secret;
use smime_provisioner::store::{Store, Transition};
use time::macros::datetime;

fn files_contain(dir: &std::path::Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
            hits.push(path.display().to_string());
        }
    }
    hits
}

#[test]
fn a_cleared_bundle_password_is_not_left_in_the_database_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let a = Address::parse("pw@example.com").unwrap();
    let now = datetime!(2026-03-01 12:00 UTC);
    store.observe_present(&a, now).unwrap();
    let password = "a3h8-ruef-ffdz-s8kb-28pg-8fs9";

    // Held between the two delivery mails, and rewritten a few times meanwhile (claims).
    let mut r = store.get(&a).unwrap().unwrap();
    r.bundle_password = Some(Secret::new(password.to_string()));
    let mut r = store.commit(Transition::new(r)).unwrap();
    for i in 0..3 {
        r.lease_owner = Some(format!("owner-{i}"));
        r = store.commit(Transition::new(r)).unwrap();
    }
    assert!(
        !files_contain(dir.path(), password).is_empty(),
        "the password should be on disk while held (else this test proves nothing)"
    );

    // Delivered: the record lets go of it.
    r.bundle_password = None;
    r.lease_owner = None;
    store.commit(Transition::new(r)).unwrap();
    let hits = files_contain(dir.path(), password);
    assert!(
        hits.is_empty(),
        "cleared password still on disk in {hits:?}"
    );
    assert!(store.get(&a).unwrap().unwrap().bundle_password.is_none());
}
