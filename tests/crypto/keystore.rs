//! The key store on a real directory: first open creates a 0700 directory and a 0600 KEK; entries
//! are sealed (no plaintext on disk), 0600, durable across reopen, listable and wipeable; unsafe
//! permissions, a lost KEK, a swapped KEK and tampered or swapped entries are refused with
//! errors that name the file and the fix.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{ensure, Context, Result};
use smime_provisioner::crypto::{KeyStore, KeyStoreError};
use support::ca::ec_key;

fn mode(p: &Path) -> Result<u32> {
    Ok(fs::metadata(p)?.permissions().mode() & 0o7777)
}

fn sealed_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    v.retain(|p| p.extension().is_some_and(|e| e == "sealed"));
    v.sort();
    Ok(v)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn first_open_creates_a_private_directory_and_kek() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("state").join("keys");
    let store = KeyStore::open(&dir)?;
    ensure!(store.dir() == dir);
    ensure!(mode(&dir)? == 0o700, "dir mode {:o}", mode(&dir)?);
    let kek = dir.join("kek");
    ensure!(mode(&kek)? == 0o600, "kek mode {:o}", mode(&kek)?);
    ensure!(fs::read(&kek)?.len() == 32);
    ensure!(!format!("{store:?}").contains("kek: ["), "{store:?}");
    Ok(())
}

#[test]
fn entries_are_sealed_private_durable_and_listed() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("keys");
    let secret = b"-----BEGIN PRIVATE KEY----- pretend key material for alice";
    {
        let store = KeyStore::open(&dir)?;
        store.put("alice@example.com/1", secret)?;
        store.put("bob|odd/name@example.com", b"bob's bundle")?;
        store.put("alice@example.com/1", b"replaced")?;
    }
    let files = sealed_files(&dir)?;
    ensure!(files.len() == 2, "{files:?}");
    for f in &files {
        ensure!(mode(f)? == 0o600, "{f:?} mode {:o}", mode(f)?);
        let bytes = fs::read(f)?;
        ensure!(!contains(&bytes, b"pretend key material") && !contains(&bytes, b"replaced"));
        ensure!(!contains(&bytes, b"bundle"));
    }
    // No temporary files are left behind.
    let all: Vec<_> = fs::read_dir(&dir)?.collect::<Result<_, _>>()?;
    ensure!(all.len() == 3, "kek + 2 entries: {all:?}");

    let store = KeyStore::open(&dir)?;
    let got = store.get("alice@example.com/1")?.context("alice")?;
    ensure!(got.expose() == b"replaced");
    ensure!(
        store
            .get("bob|odd/name@example.com")?
            .context("bob")?
            .expose()
            == b"bob's bundle"
    );
    ensure!(store.get("carol@example.com")?.is_none());
    ensure!(store.list()? == ["alice@example.com/1", "bob|odd/name@example.com"]);
    Ok(())
}

#[test]
fn remove_wipes_the_entry_and_reports_whether_there_was_one() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let store = KeyStore::open(tmp.path().join("keys"))?;
    store.put("alice", b"key")?;
    ensure!(store.remove("alice")?);
    ensure!(!store.remove("alice")?);
    ensure!(store.get("alice")?.is_none());
    ensure!(store.list()?.is_empty());
    ensure!(sealed_files(store.dir())?.is_empty());
    Ok(())
}

#[test]
fn private_keys_round_trip_through_the_store() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let store = KeyStore::open(tmp.path().join("keys"))?;
    let key = ec_key();
    store.put_key("alice@example.com", &key)?;
    let back = store.get_key("alice@example.com")?.context("key")?;
    ensure!(back.public_key_der()? == key.public_key_der()?);
    ensure!(store.get_key("nobody")?.is_none());
    store.put("not-a-key", b"hello")?;
    let err = store.get_key("not-a-key").unwrap_err();
    ensure!(err.code() == "keystore-bad-key", "{err}");
    Ok(())
}

#[test]
fn a_group_readable_kek_is_refused_with_the_chmod_that_fixes_it() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("keys");
    KeyStore::open(&dir)?;
    let kek = dir.join("kek");
    fs::set_permissions(&kek, fs::Permissions::from_mode(0o640))?;
    let err = KeyStore::open(&dir).unwrap_err();
    ensure!(
        matches!(err, KeyStoreError::InsecurePermissions { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    ensure!(
        msg.contains(&format!("chmod 600 {}", kek.display())),
        "{msg}"
    );
    ensure!(msg.contains("0640"), "{msg}");
    fs::set_permissions(&kek, fs::Permissions::from_mode(0o600))?;
    KeyStore::open(&dir)?;
    Ok(())
}

#[test]
fn a_world_accessible_directory_is_refused_with_the_chmod_that_fixes_it() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("keys");
    fs::create_dir(&dir)?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
    let err = KeyStore::open(&dir).unwrap_err().to_string();
    ensure!(
        err.contains(&format!("chmod 700 {}", dir.display())),
        "{err}"
    );
    ensure!(
        !dir.join("kek").exists(),
        "no KEK may be written into an open directory"
    );
    Ok(())
}

#[test]
fn a_missing_kek_is_not_silently_replaced_while_entries_exist() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("keys");
    KeyStore::open(&dir)?.put("alice", b"key")?;
    fs::remove_file(dir.join("kek"))?;
    let err = KeyStore::open(&dir).unwrap_err();
    ensure!(err.code() == "keystore-kek-missing", "{err}");
    ensure!(err.to_string().contains("restore"), "{err}");
    ensure!(!dir.join("kek").exists());
    Ok(())
}

#[test]
fn a_different_kek_or_a_tampered_entry_fails_authentication() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("keys");
    let store = KeyStore::open(&dir)?;
    store.put("alice", b"alice key")?;
    let file = sealed_files(&dir)?.pop().context("entry")?;

    let mut bytes = fs::read(&file)?;
    let last = bytes.len() - 1;
    bytes[last] ^= 0x80;
    fs::write(&file, &bytes)?;
    let err = store.get("alice").unwrap_err();
    ensure!(err.code() == "keystore-entry-corrupt", "{err}");
    ensure!(err.to_string().contains("authentication failed"), "{err}");

    store.put("alice", b"alice key")?;
    fs::write(dir.join("kek"), [7u8; 32])?;
    let reopened = KeyStore::open(&dir)?;
    let err = reopened.get("alice").unwrap_err().to_string();
    ensure!(err.contains("kek file is not the one"), "{err}");
    Ok(())
}

#[test]
fn one_mailboxs_entry_cannot_be_passed_off_as_anothers() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("keys");
    let store = KeyStore::open(&dir)?;
    store.put("alice@example.com", b"alice key")?;
    let alice_file = sealed_files(&dir)?.pop().context("alice")?;
    store.put("bobby@example.com", b"bob key")?;
    let bob_file = sealed_files(&dir)?
        .into_iter()
        .find(|p| *p != alice_file)
        .context("bob")?;

    // Copy alice's file over bob's: the header still names alice.
    fs::copy(&alice_file, &bob_file)?;
    let err = store.get("bobby@example.com").unwrap_err().to_string();
    ensure!(err.contains("sealed under another name"), "{err}");

    // Rewrite the header to claim bob (same length): the GCM tag no longer matches.
    let mut forged = fs::read(&alice_file)?;
    let pos = forged
        .windows(5)
        .position(|w| w == b"alice")
        .context("name in header")?;
    forged[pos..pos + 5].copy_from_slice(b"bobby");
    fs::write(&bob_file, &forged)?;
    let err = store.get("bobby@example.com").unwrap_err().to_string();
    ensure!(err.contains("authentication failed"), "{err}");
    Ok(())
}

#[test]
fn concurrent_first_opens_agree_on_one_kek() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("keys");
    let stores: Vec<KeyStore> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(|| KeyStore::open(&dir))).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect::<Result<_, _>>()
    })?;
    stores[0].put("alice", b"key")?;
    for s in &stores {
        ensure!(
            s.get("alice")?
                .context("readable by every handle")?
                .expose()
                == b"key"
        );
    }
    Ok(())
}

#[test]
fn empty_names_are_refused() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let store = KeyStore::open(tmp.path().join("keys"))?;
    let err = store.put("", b"x").unwrap_err();
    ensure!(err.code() == "keystore-bad-name", "{err}");
    Ok(())
}
