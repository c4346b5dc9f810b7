//! Owns keys and bundles at rest: every entry is sealed with AES-256-GCM (NIST SP 800-38D) under
//! a key-encryption key (KEK) held in a 0600 file `kek` in a 0700 directory, created on first
//! open. Invariants: a private key is never on disk in the clear, and [`KeyStore::put`] returns
//! only once the entry is durable, so a key is persisted before its CSR is sent.
//!
//! Layout of the directory:
//!
//! - `kek`: 32 random bytes. Losing it makes every entry unreadable, so [`KeyStore::open`] refuses
//!   to mint a new one while sealed entries exist; back it up separately from the entries.
//! - `<hex sha256(name)>.sealed`: one entry. Hashing keeps any name (addresses may hold `/`,
//!   `|`, `{`...) a safe file name.
//!
//! Entry format (version 1): `b"SPKS"`, version byte `1`, name length (u16, big-endian), the
//! name (UTF-8), a 12-byte random nonce, the 16-byte GCM tag, the ciphertext. Everything before
//! the nonce is the GCM additional data, so an entry renamed or edited to claim another name
//! fails authentication instead of handing one mailbox's key to another.
//!
//! Writes are atomic (temporary file in the same directory, fsync, rename, fsync of the
//! directory), so after [`KeyStore::put`] returns the entry survives a crash or power loss.
//! [`KeyStore::remove`] overwrites the file with zeros before unlinking it; on copy-on-write or
//! flash storage the old blocks may survive, which is why entries are encrypted in the first
//! place: without the KEK they are noise.

use std::fmt;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use openssl::hash::{hash, MessageDigest};
use openssl::symm::{decrypt_aead, encrypt_aead, Cipher};

use super::{CryptoError, PrivateKey};
use crate::fsutil::{AtomicWriter, Placement, Step, WriteError};
use crate::secret::Secret;

/// The key-encryption key's file name inside the key store directory.
pub const KEK_FILE: &str = "kek";
const KEK_LEN: usize = 32;
const SUFFIX: &str = ".sealed";
const MAGIC: &[u8; 4] = b"SPKS";
const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Longest entry name; names are addresses or derived from them (≤ 254 bytes plus a suffix).
const MAX_NAME: usize = 1024;

/// Why the key store cannot do what was asked. Messages name paths and entry names, never
/// contents.
#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{path} is accessible to group or others (mode {mode:04o}) but holds key material; fix \
         it with `{fix}` and check that its owner is the user smime-provisioner runs as"
    )]
    InsecurePermissions {
        path: PathBuf,
        mode: u32,
        fix: String,
    },
    #[error("{path} must be a {expected}")]
    WrongFileType {
        path: PathBuf,
        expected: &'static str,
    },
    #[error(
        "the key-encryption key {path} is missing but {count} sealed entries exist beside it; a \
         new key could not open them, so none is created: restore {path} from backup"
    )]
    KekMissing { path: PathBuf, count: usize },
    #[error("the key-encryption key {path} is damaged ({reason}); restore it from backup")]
    KekCorrupt { path: PathBuf, reason: String },
    #[error("key store entry {name:?} ({path}) cannot be opened: {reason}")]
    Corrupt {
        name: String,
        path: PathBuf,
        reason: String,
    },
    #[error("key store entry name is not usable: {0}")]
    BadName(&'static str),
    #[error("OpenSSL failed while {doing}: {source}")]
    OpenSsl {
        doing: &'static str,
        #[source]
        source: openssl::error::ErrorStack,
    },
    #[error("key store entry {name:?} holds no usable private key: {source}")]
    BadKey {
        name: String,
        #[source]
        source: CryptoError,
    },
}

impl KeyStoreError {
    /// A stable kebab-case name for logs, the store and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            KeyStoreError::Io { .. } => "keystore-io",
            KeyStoreError::InsecurePermissions { .. } => "keystore-insecure-permissions",
            KeyStoreError::WrongFileType { .. } => "keystore-wrong-file-type",
            KeyStoreError::KekMissing { .. } => "keystore-kek-missing",
            KeyStoreError::KekCorrupt { .. } => "keystore-kek-corrupt",
            KeyStoreError::Corrupt { .. } => "keystore-entry-corrupt",
            KeyStoreError::BadName(_) => "keystore-bad-name",
            KeyStoreError::OpenSsl { .. } => "keystore-openssl-failure",
            KeyStoreError::BadKey { .. } => "keystore-bad-key",
        }
    }

    /// True for I/O failures (disk full, EIO), which may pass; false for problems a person must
    /// fix (permissions, a lost or damaged KEK, a tampered entry).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            KeyStoreError::Io { .. } | KeyStoreError::OpenSsl { .. }
        )
    }
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> KeyStoreError {
    let path = path.to_path_buf();
    move |source| KeyStoreError::Io { op, path, source }
}

/// An open key store. `Debug` shows the directory only. Cheap to clone (a path and 32 bytes),
/// so a clone can move into `tokio::task::spawn_blocking`: every method does blocking file I/O
/// with fsync and must not run on an async worker thread.
#[derive(Clone)]
pub struct KeyStore {
    dir: PathBuf,
    kek: Secret<[u8; KEK_LEN]>,
}

impl fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyStore")
            .field("dir", &self.dir)
            .field("kek", &self.kek)
            .finish()
    }
}

impl KeyStore {
    /// Opens (creating on first use) the store in `dir`: the directory with mode 0700 and the KEK
    /// with mode 0600. Refuses a directory or KEK that group or others can access, naming the
    /// `chmod` that fixes it.
    pub fn open(dir: impl AsRef<Path>) -> Result<KeyStore, KeyStoreError> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.exists() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(io_err("creating the key store directory", &dir))?;
        }
        let meta = fs::metadata(&dir).map_err(io_err("reading", &dir))?;
        if !meta.is_dir() {
            return Err(KeyStoreError::WrongFileType {
                path: dir,
                expected: "directory",
            });
        }
        check_private(&dir, meta.permissions().mode(), "chmod 700")?;

        let kek_path = dir.join(KEK_FILE);
        let kek = match fs::symlink_metadata(&kek_path) {
            Ok(m) => {
                if !m.file_type().is_file() {
                    return Err(KeyStoreError::WrongFileType {
                        path: kek_path,
                        expected: "regular file (not a symlink)",
                    });
                }
                check_private(&kek_path, m.permissions().mode(), "chmod 600")?;
                read_kek(&kek_path)?
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let count = sealed_files(&dir)?.len();
                if count > 0 {
                    return Err(KeyStoreError::KekMissing {
                        path: kek_path,
                        count,
                    });
                }
                create_kek(&dir, &kek_path)?
            }
            Err(e) => return Err(io_err("reading", &kek_path)(e)),
        };
        Ok(KeyStore { dir, kek })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Seals `plaintext` under `name`, replacing any entry of that name. Returns only after the
    /// entry is on stable storage.
    pub fn put(&self, name: &str, plaintext: &[u8]) -> Result<(), KeyStoreError> {
        let header = header(name)?;
        let mut nonce = [0u8; NONCE_LEN];
        openssl::rand::rand_bytes(&mut nonce).map_err(|source| KeyStoreError::OpenSsl {
            doing: "drawing a nonce",
            source,
        })?;
        let mut tag = [0u8; TAG_LEN];
        let ct = encrypt_aead(
            Cipher::aes_256_gcm(),
            self.kek.expose(),
            Some(&nonce),
            &header,
            plaintext,
            &mut tag,
        )
        .map_err(|source| KeyStoreError::OpenSsl {
            doing: "sealing an entry",
            source,
        })?;
        let mut blob = header;
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&tag);
        blob.extend_from_slice(&ct);
        let path = self.entry_path(name)?;
        write_atomic(&self.dir, &path, &blob)
    }

    /// Opens the entry `name`, or `None` if there is none.
    pub fn get(&self, name: &str) -> Result<Option<Secret<Vec<u8>>>, KeyStoreError> {
        let path = self.entry_path(name)?;
        let blob = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("reading", &path)(e)),
        };
        let corrupt = |reason: &str| KeyStoreError::Corrupt {
            name: name.to_string(),
            path: path.clone(),
            reason: reason.to_string(),
        };
        let (stored_name, header_len) = parse_header(&blob).map_err(corrupt)?;
        if stored_name != name {
            return Err(corrupt("the file is sealed under another name"));
        }
        let rest = blob.get(header_len..).ok_or_else(|| corrupt("truncated"))?;
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(corrupt("truncated"));
        }
        let (nonce, rest) = rest.split_at(NONCE_LEN);
        let (tag, ct) = rest.split_at(TAG_LEN);
        let aad = blob.get(..header_len).ok_or_else(|| corrupt("truncated"))?;
        let plain = decrypt_aead(
            Cipher::aes_256_gcm(),
            self.kek.expose(),
            Some(nonce),
            aad,
            ct,
            tag,
        )
        .map_err(|_| {
            corrupt(
                "authentication failed: the file was altered or truncated, or the kek \
                         file is not the one it was sealed with",
            )
        })?;
        Ok(Some(Secret::new(plain)))
    }

    /// Wipes and deletes the entry `name`. Returns whether there was one.
    pub fn remove(&self, name: &str) -> Result<bool, KeyStoreError> {
        let path = self.entry_path(name)?;
        let mut f = match OpenOptions::new().write(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io_err("opening for wiping", &path)(e)),
        };
        let len = f.metadata().map_err(io_err("reading", &path))?.len();
        let zeros = vec![0u8; usize::try_from(len).unwrap_or(0)];
        f.write_all(&zeros).map_err(io_err("wiping", &path))?;
        f.sync_all().map_err(io_err("syncing", &path))?;
        drop(f);
        fs::remove_file(&path).map_err(io_err("removing", &path))?;
        sync_dir(&self.dir)?;
        Ok(true)
    }

    /// The names of all entries, sorted.
    pub fn list(&self) -> Result<Vec<String>, KeyStoreError> {
        let mut names = Vec::new();
        for path in sealed_files(&self.dir)? {
            let mut head = Vec::new();
            File::open(&path)
                .and_then(|f| {
                    f.take((MAGIC.len() + 3 + MAX_NAME) as u64)
                        .read_to_end(&mut head)
                })
                .map_err(io_err("reading", &path))?;
            let (name, _) = parse_header(&head).map_err(|reason| KeyStoreError::Corrupt {
                name: String::new(),
                path: path.clone(),
                reason: reason.to_string(),
            })?;
            names.push(name);
        }
        names.sort();
        Ok(names)
    }

    /// Seals a private key (PKCS#8 PEM) under `name`.
    pub fn put_key(&self, name: &str, key: &PrivateKey) -> Result<(), KeyStoreError> {
        self.put(name, key.to_pem().expose())
    }

    /// Opens a private key sealed with [`KeyStore::put_key`].
    pub fn get_key(&self, name: &str) -> Result<Option<PrivateKey>, KeyStoreError> {
        match self.get(name)? {
            None => Ok(None),
            Some(pem) => PrivateKey::from_pem(pem.expose())
                .map(Some)
                .map_err(|source| KeyStoreError::BadKey {
                    name: name.to_string(),
                    source,
                }),
        }
    }

    fn entry_path(&self, name: &str) -> Result<PathBuf, KeyStoreError> {
        validate_name(name)?;
        let digest = hash(MessageDigest::sha256(), name.as_bytes()).map_err(|source| {
            KeyStoreError::OpenSsl {
                doing: "hashing an entry name",
                source,
            }
        })?;
        Ok(self.dir.join(format!("{}{SUFFIX}", hex::encode(digest))))
    }
}

fn validate_name(name: &str) -> Result<(), KeyStoreError> {
    if name.is_empty() {
        return Err(KeyStoreError::BadName("it is empty"));
    }
    if name.len() > MAX_NAME {
        return Err(KeyStoreError::BadName("it is longer than 1024 bytes"));
    }
    Ok(())
}

fn header(name: &str) -> Result<Vec<u8>, KeyStoreError> {
    validate_name(name)?;
    let len = u16::try_from(name.len()).map_err(|_| KeyStoreError::BadName("too long"))?;
    let mut h = Vec::with_capacity(MAGIC.len() + 3 + name.len());
    h.extend_from_slice(MAGIC);
    h.push(VERSION);
    h.extend_from_slice(&len.to_be_bytes());
    h.extend_from_slice(name.as_bytes());
    Ok(h)
}

/// The name and the header's length, or why the bytes are no entry.
fn parse_header(blob: &[u8]) -> Result<(String, usize), &'static str> {
    let fixed = MAGIC.len() + 3;
    let head = blob.get(..fixed).ok_or("truncated")?;
    if &head[..MAGIC.len()] != MAGIC {
        return Err("not a sealed key store entry");
    }
    if head[MAGIC.len()] != VERSION {
        return Err("sealed by an unknown format version (a newer smime-provisioner?)");
    }
    let len = usize::from(u16::from_be_bytes([
        head[MAGIC.len() + 1],
        head[MAGIC.len() + 2],
    ]));
    let name = blob.get(fixed..fixed + len).ok_or("truncated")?;
    let name = std::str::from_utf8(name).map_err(|_| "the stored name is not UTF-8")?;
    Ok((name.to_string(), fixed + len))
}

fn check_private(path: &Path, mode: u32, chmod: &str) -> Result<(), KeyStoreError> {
    if mode & 0o077 != 0 {
        return Err(KeyStoreError::InsecurePermissions {
            path: path.to_path_buf(),
            mode: mode & 0o7777,
            fix: format!("{chmod} {}", path.display()),
        });
    }
    Ok(())
}

fn sealed_files(dir: &Path) -> Result<Vec<PathBuf>, KeyStoreError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("listing", dir))? {
        let entry = entry.map_err(io_err("listing", dir))?;
        let path = entry.path();
        if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(SUFFIX))
        {
            out.push(path);
        }
    }
    Ok(out)
}

fn read_kek(path: &Path) -> Result<Secret<[u8; KEK_LEN]>, KeyStoreError> {
    let bytes = Secret::new(fs::read(path).map_err(io_err("reading", path))?);
    let kek: [u8; KEK_LEN] =
        bytes
            .expose()
            .as_slice()
            .try_into()
            .map_err(|_| KeyStoreError::KekCorrupt {
                path: path.to_path_buf(),
                reason: format!("{} bytes instead of {KEK_LEN}", bytes.expose().len()),
            })?;
    Ok(Secret::new(kek))
}

/// Creates the KEK without ever exposing a partial file: written to a temporary file, synced,
/// then moved into place without replacing (a no-clobber rename or hard link fails if another
/// process won the race; the loser then reads the winner's key).
fn create_kek(dir: &Path, path: &Path) -> Result<Secret<[u8; KEK_LEN]>, KeyStoreError> {
    let mut kek = [0u8; KEK_LEN];
    openssl::rand::rand_bytes(&mut kek).map_err(|source| KeyStoreError::OpenSsl {
        doing: "drawing a key-encryption key",
        source,
    })?;
    let written = AtomicWriter::new()
        .prefix(".kek-")
        .placement(Placement::NoClobber)
        .write(dir, KEK_FILE, &kek);
    match written {
        Ok(_) => Ok(Secret::new(kek)),
        Err(e) if e.step == Step::Place && e.source.kind() == io::ErrorKind::AlreadyExists => {
            read_kek(path)
        }
        Err(e) if e.step == Step::Place => Err(io_err("creating", path)(e.source)),
        Err(e) => Err(write_err(e)),
    }
}

/// Atomic replace through [`crate::fsutil`]: temporary file (0600, same directory), write, fsync,
/// rename, fsync directory.
fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), KeyStoreError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    AtomicWriter::new()
        .prefix(".entry-")
        .write(dir, name, bytes)
        .map(drop)
        .map_err(write_err)
}

fn write_err(e: WriteError) -> KeyStoreError {
    io_err(e.step.doing(), &e.path)(e.source)
}

/// fsync of a directory makes a rename or unlink in it durable (POSIX rename(2) alone does not).
fn sync_dir(dir: &Path) -> Result<(), KeyStoreError> {
    OpenOptions::new()
        .read(true)
        .open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("syncing directory", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_damaged_headers_are_named() {
        let h = header("alice@example.com").unwrap();
        assert_eq!(
            parse_header(&h),
            Ok(("alice@example.com".to_string(), h.len()))
        );
        assert_eq!(parse_header(&h[..h.len() - 1]), Err("truncated"));
        assert_eq!(
            parse_header(b"NOPE\x01\x00\x01a"),
            Err("not a sealed key store entry")
        );
        assert!(parse_header(b"SPKS\x02\x00\x01a")
            .unwrap_err()
            .contains("version"));
        assert!(header("").is_err());
        assert!(header(&"x".repeat(MAX_NAME + 1)).is_err());
    }
}
