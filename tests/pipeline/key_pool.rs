//! The key pool through the real binary and its real stores: a key taken from the pool belongs
//! to one mailbox generation for good, across a SIGKILL between taking it and ordering; a change
//! of the configured key type wipes the pooled keys of the old type.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use smime_provisioner::clock::SystemClock;
use smime_provisioner::crypto::{KeyStore, KeyType};
use smime_provisioner::mailbox::Address;
use smime_provisioner::pipeline::adapters::KeyPool;
use smime_provisioner::pipeline::Stage;
use smime_provisioner::simulator::Faults;
use smime_provisioner::store::{MailboxRecord, Store};
use support::live::*;

use super::sigkill::start_daemon;

fn pool(state: &Path, key_type: KeyType) -> KeyPool {
    let store = Arc::new(Store::open(state).unwrap());
    let keys = Arc::new(KeyStore::open(state.join("keys")).unwrap());
    KeyPool::new(store, keys, key_type, 4, 2, Arc::new(SystemClock))
}

fn record(state: &Path, address: &str) -> Option<MailboxRecord> {
    let store = Store::open(state).ok()?;
    store.get(&Address::parse(address).unwrap()).ok()?
}

/// Polls `done` once a second, up to `secs`; panics with the daemon log's tail otherwise.
async fn wait_for(what: &str, secs: u64, log: &Path, mut done: impl FnMut() -> bool) {
    for _ in 0..secs {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(40).collect();
    panic!(
        "{what} did not happen within {secs} s; log tail (newest first):\n{}",
        tail.join("\n")
    );
}

/// A config whose AutoDNS endpoint nobody listens on, with an existing contact id, so the
/// daemon boots, takes a key for a new mailbox and cannot order (the connection is refused:
/// nothing sent, nothing paid).
fn unreachable_config(dir: &Path) -> String {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", closed.local_addr().unwrap());
    drop(closed);
    let text = config_text(dir, &url, "json", "");
    let start = text.find("[autodns.contact]\n").unwrap();
    let end = text.find("[keys]").unwrap();
    format!(
        "{}[autodns.contact]\nid = 1\n{}",
        &text[..start],
        &text[end..]
    )
}

/// A directory with the unreachable-endpoint config written: the directory, the config file,
/// the daemon's log file and the state directory.
fn daemon_dir() -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("config.toml");
    let text = unreachable_config(dir.path());
    std::fs::write(&config_path, &text).unwrap();
    let state = parse_config(&text, dir.path()).state_dir;
    let log = dir.path().join("daemon.log");
    (dir, config_path, log, state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_key_is_used_by_exactly_one_address_across_a_sigkill_between_taking_it_and_ordering(
) {
    let (dir, config_path, log, state) = daemon_dir();
    // Two keys waiting in the pool before the daemon starts (the configured type, ec-p256).
    {
        let p = pool(&state, KeyType::EcP256);
        p.add_one().unwrap();
        p.add_one().unwrap();
    }
    std::fs::create_dir_all(dir.path().join("mail/example.com/alice")).unwrap();
    let mut child = start_daemon(&config_path, &log);
    wait_for("alice taking a pooled key", 120, &log, || {
        record(&state, "alice@example.com")
            .and_then(|r| r.key_ref)
            .is_some_and(|k| k.starts_with("pool/"))
    })
    .await;
    child.kill().unwrap(); // SIGKILL: the key is taken, no order went out
    child.wait().unwrap();
    let alice = record(&state, "alice@example.com").unwrap();
    let taken = alice.key_ref.clone().unwrap();
    assert_eq!(alice.certificate_id, None);

    // AutoDNS is reachable now, and a second mailbox arrives.
    let sim = start_simulator(Faults::default(), Duration::from_millis(200), 33).await;
    let text = config_text(dir.path(), &sim.json_url(), "json", "");
    std::fs::write(&config_path, &text).unwrap();
    std::fs::create_dir_all(dir.path().join("mail/example.com/bob")).unwrap();
    let mut child = start_daemon(&config_path, &log);
    wait_for("both mailboxes delivered", 300, &log, || {
        ["alice@example.com", "bob@example.com"]
            .iter()
            .all(|a| record(&state, a).is_some_and(|r| r.stage == Stage::Delivered))
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();

    let alice = record(&state, "alice@example.com").unwrap();
    let bob = record(&state, "bob@example.com").unwrap();
    assert_eq!(
        alice.key_ref.as_deref(),
        Some(taken.as_str()),
        "alice kept her key"
    );
    assert_ne!(
        bob.key_ref.as_deref(),
        Some(taken.as_str()),
        "bob got another key"
    );
    let holder = Store::open(&state).unwrap().pool_holder(&taken).unwrap();
    assert_eq!(
        holder,
        Some(("alice@example.com".to_string(), alice.generation))
    );
    let pooled = stored_public_key(&state, &taken).unwrap();
    let cert_key =
        |r: &MailboxRecord| certificate_public_key(r.certificate_pem.as_deref().unwrap());
    assert_eq!(
        cert_key(&alice),
        pooled,
        "alice's certificate is for the pooled key"
    );
    assert_ne!(
        cert_key(&bob),
        pooled,
        "bob's certificate is for another key"
    );
    assert_one_paid_order_each(&sim.orders());
    sim.shutdown().await;
}

/// One paid order each for alice and bob (an order refused before anything was placed is not
/// one).
fn assert_one_paid_order_each(all: &[smime_provisioner::simulator::OrderRecord]) {
    let mut paid: Vec<&str> = all
        .iter()
        .filter(|o| o.status != "REJECTED")
        .map(|o| o.name.as_str())
        .collect();
    paid.sort();
    assert_eq!(paid, ["alice@example.com", "bob@example.com"], "{all:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_key_type_wipes_pooled_keys_of_the_old_type() {
    // The daemon fills its pool with the configured type (ec-p256, pool of 4).
    let (_dir, config_path, log, state) = daemon_dir();
    let mut child = start_daemon(&config_path, &log);
    wait_for("a full pool of ec-p256 keys", 120, &log, || {
        Store::open(&state)
            .and_then(|s| s.pool_free("ec-p256"))
            .unwrap_or(0)
            == 4
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    let keys = KeyStore::open(state.join("keys")).unwrap();
    let old: Vec<String> = keys
        .list()
        .unwrap()
        .into_iter()
        .filter(|n| n.starts_with("pool/ec-p256/"))
        .collect();
    assert_eq!(old.len(), 4, "{old:?}");

    // Restarted with RSA-2048 keys: the old pool is wiped and a new one filled.
    let text = std::fs::read_to_string(&config_path).unwrap();
    std::fs::write(
        &config_path,
        text.replace("type = \"ec-p256\"", "type = \"rsa-2048\""),
    )
    .unwrap();
    let mut child = start_daemon(&config_path, &log);
    wait_for(
        "the ec-p256 keys wiped and rsa-2048 ones pooled",
        120,
        &log,
        || {
            let s = Store::open(&state).unwrap();
            s.pool_free("ec-p256").unwrap() == 0 && s.pool_free("rsa-2048").unwrap() > 0
        },
    )
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    let left: Vec<String> = keys
        .list()
        .unwrap()
        .into_iter()
        .filter(|n| n.starts_with("pool/ec-p256/"))
        .collect();
    assert!(left.is_empty(), "old keys still in the key store: {left:?}");
    for name in &old {
        assert!(keys.get(name).unwrap().is_none(), "{name} is still there");
    }
}
