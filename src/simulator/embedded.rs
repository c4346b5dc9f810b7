//! Owns the rule "one embedded simulator per simulator state directory". With
//! `autodns.endpoint = "simulator"` the daemon and every verb would otherwise start their own
//! in-process simulator on the same state, each with its own view of contacts, orders and poll
//! messages (a verb's order unknown to the daemon's simulator: 404 on CertificateInfo).
//!
//! The claim is an exclusive `flock(2)` on `<state_dir>/embedded.lock`, held for as long as the
//! simulator runs and released by the kernel when the process dies, so a crash leaves no stale
//! lock. Its holder publishes where it serves in `<state_dir>/embedded.json` (0600, in the 0700
//! directory: it holds the throwaway simulator password) together with its role:
//!
//! - a daemon (`run`) holds it for its lifetime; a verb that finds a daemon's claim uses the
//!   daemon's simulator ([`Claim::Shared`]) instead of starting a second one;
//! - a one-off verb (or `run --once`) holds it only while it runs; anyone else who needs a
//!   simulator meanwhile, a daemon started later included, waits until it is released
//!   ([`Claim::Busy`]), then claims it and starts its own on the same state.
//!
//! The file holds no lock itself: a holder that died leaves `embedded.json` behind, which the
//! next holder removes before it starts, and which nobody trusts while no live holder has the
//! lock.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::fs::{flock, FlockOperation};
use serde::{Deserialize, Serialize};

use super::{SimulatorError, SimulatorHandle};
use crate::secret::Secret;

/// The lock file inside the simulator's state directory.
pub const LOCK_FILE: &str = "embedded.lock";
/// Where the lock's holder publishes its simulator's URLs and credentials.
pub const ENDPOINT_FILE: &str = "embedded.json";

/// Who holds the claim, which decides whether others share its simulator or wait for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The long-running daemon: others use its simulator.
    Daemon,
    /// A one-off verb: it stops its simulator when it ends, so others wait for it.
    Verb,
    /// The `simulator` verb run with `--state-dir`: its API user and settings are its own, so
    /// others wait for it too.
    Standalone,
}

impl Role {
    fn describe(self) -> &'static str {
        match self {
            Role::Daemon => "the daemon",
            Role::Verb => "a one-off verb",
            Role::Standalone => "the `simulator` verb",
        }
    }
}

/// What the holder writes to [`ENDPOINT_FILE`].
#[derive(Serialize, Deserialize)]
struct Published {
    /// `pid:start-time` of the holder (see `crate::process`).
    owner: String,
    role: Role,
    json_url: String,
    xml_url: String,
    user: String,
    password: String,
}

/// A running daemon's simulator, as it published it.
#[derive(Debug, Clone)]
pub struct SharedEndpoint {
    /// Base URL of the JSON API (`…/v1`).
    pub json_url: String,
    /// URL of the XML gateway.
    pub xml_url: String,
    /// The API user.
    pub user: String,
    /// The daemon's throwaway simulator password.
    pub password: Secret<String>,
    /// The daemon's process id.
    pub pid: String,
}

/// The outcome of one attempt to claim the simulator state.
#[derive(Debug)]
pub enum Claim {
    /// Nobody runs a simulator on this state: the caller starts one and publishes it.
    Own(EmbeddedLock),
    /// A daemon runs one: use it.
    Shared(SharedEndpoint),
    /// Someone else holds the claim and its simulator cannot be shared (a one-off verb), or it
    /// has not published yet: try again later.
    Busy {
        /// Who holds it, as far as its published file tells.
        holder: String,
    },
}

/// The held claim: only its holder runs a simulator on this state. Dropping it withdraws the
/// published endpoint, then releases the lock (closing the file).
#[derive(Debug)]
pub struct EmbeddedLock {
    _file: File,
    dir: PathBuf,
}

impl EmbeddedLock {
    /// Publishes `handle` (served with `password`) for others, as `role`.
    pub fn publish(
        &self,
        role: Role,
        handle: &SimulatorHandle,
        user: &str,
        password: &Secret<String>,
    ) -> Result<(), SimulatorError> {
        let published = Published {
            owner: crate::process::current_owner(),
            role,
            json_url: handle.json_url(),
            xml_url: handle.xml_url(),
            user: user.to_string(),
            password: password.expose().clone(),
        };
        let bytes = serde_json::to_vec(&published)
            .map_err(|e| SimulatorError::Config(format!("cannot encode the endpoint: {e}")))?;
        crate::fsutil::AtomicWriter::new()
            .write(&self.dir, ENDPOINT_FILE, &bytes)
            .map_err(|e| SimulatorError::Io {
                path: self.dir.join(ENDPOINT_FILE),
                source: std::io::Error::other(e.to_string()),
            })?;
        Ok(())
    }
}

impl Drop for EmbeddedLock {
    fn drop(&mut self) {
        // Withdrawn while the lock is still held, so nobody reads it after the simulator stops.
        let _ = fs::remove_file(self.dir.join(ENDPOINT_FILE));
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> SimulatorError + '_ {
    move |source| SimulatorError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One attempt to claim the simulator state in `dir` (created 0700 if missing); never waits.
pub fn try_claim(dir: &Path) -> Result<Claim, SimulatorError> {
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_error(dir))?;
    }
    let lock_path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&lock_path)
        .map_err(|e| match e.kind() {
            // Left by a verb run as another user (root from a shell): say how to avoid it.
            std::io::ErrorKind::PermissionDenied => SimulatorError::Config(format!(
                "cannot open {}: {e}; it was created by another user: run the verbs as the \
                 service user (sudo -u smime-provisioner ...) and give the file back to it",
                lock_path.display()
            )),
            _ => io_error(&lock_path)(e),
        })?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {
            // A holder that died left its endpoint behind; nobody may use it now.
            let endpoint = dir.join(ENDPOINT_FILE);
            match fs::remove_file(&endpoint) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io_error(&endpoint)(e))
                }
                _ => {}
            }
            Ok(Claim::Own(EmbeddedLock {
                _file: file,
                dir: dir.to_path_buf(),
            }))
        }
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Ok(read_published(dir)),
        Err(e) => Err(io_error(&lock_path)(e.into())),
    }
}

/// What the live holder of the claim in `dir` published.
fn read_published(dir: &Path) -> Claim {
    let starting = || Claim::Busy {
        holder: "a process that is still starting its simulator".into(),
    };
    let Ok(text) = fs::read(dir.join(ENDPOINT_FILE)) else {
        return starting();
    };
    let Ok(p) = serde_json::from_slice::<Published>(&text) else {
        return starting();
    };
    // A file left by a dead holder, not yet removed by the live one.
    if !crate::process::owner_alive(&p.owner) {
        return starting();
    }
    let pid = p.owner.split(':').next().unwrap_or_default().to_string();
    match p.role {
        Role::Daemon => Claim::Shared(SharedEndpoint {
            json_url: p.json_url,
            xml_url: p.xml_url,
            user: p.user,
            password: Secret::new(p.password),
            pid,
        }),
        role @ (Role::Verb | Role::Standalone) => Claim::Busy {
            holder: format!("{} (pid {pid})", role.describe()),
        },
    }
}

/// Claims `dir` for the `simulator` verb, refusing a state another process runs a simulator
/// on: two simulators writing one state would lose each other's jobs and poll messages.
pub fn claim_standalone(dir: &Path) -> Result<EmbeddedLock, SimulatorError> {
    let holder = match try_claim(dir)? {
        Claim::Own(lock) => return Ok(lock),
        Claim::Shared(daemon) => format!("{} (pid {})", Role::Daemon.describe(), daemon.pid),
        Claim::Busy { holder } => holder,
    };
    Err(SimulatorError::Config(format!(
        "the simulator state {} is in use by {holder}; stop it first, or give this simulator \
         another --state-dir",
        dir.display()
    )))
}

/// How long [`claim`] waits for a one-off verb to release the state: longer than a verb's
/// default `--wait-secs` (900), so a verb that runs to its own limit is outwaited.
pub const CLAIM_WAIT: Duration = Duration::from_secs(1200);

/// How often [`claim`] tries again while the state is busy.
const CLAIM_RETRY: Duration = Duration::from_millis(250);

/// Claims the simulator state in `dir`, waiting (up to `wait`) while another process holds it
/// and cannot share it. Never returns [`Claim::Busy`].
pub async fn claim(dir: &Path, wait: Duration) -> Result<Claim, SimulatorError> {
    let tries = (wait.as_millis() / CLAIM_RETRY.as_millis()).max(1);
    let mut told = false;
    for _ in 0..tries {
        match try_claim(dir)? {
            Claim::Busy { holder } => {
                if !told {
                    tracing::info!(
                        dir = %dir.display(),
                        "the embedded simulator on this state is in use by {holder}; waiting \
                         until it is released (at most {} s)",
                        wait.as_secs()
                    );
                    told = true;
                }
                tokio::time::sleep(CLAIM_RETRY).await;
            }
            done => return Ok(done),
        }
    }
    match try_claim(dir)? {
        Claim::Busy { holder } => Err(SimulatorError::Config(format!(
            "the embedded simulator on {} is still in use by {holder} after {} s; run this \
             again when it has finished",
            dir.display(),
            wait.as_secs()
        ))),
        done => Ok(done),
    }
}

/// A simulator started in this process under the claim, with the lock that keeps it the only
/// one on its state.
#[derive(Debug)]
pub struct Embedded {
    handle: SimulatorHandle,
    lock: EmbeddedLock,
}

impl Embedded {
    /// Keeps `handle` together with the `lock` it was started under.
    pub fn new(handle: SimulatorHandle, lock: EmbeddedLock) -> Embedded {
        Embedded { handle, lock }
    }

    /// The running simulator.
    pub fn handle(&self) -> &SimulatorHandle {
        &self.handle
    }

    /// Withdraws the published endpoint, stops the simulator (flushing its state), then
    /// releases the claim, so the next holder loads the final state.
    pub async fn shutdown(self) {
        let _ = fs::remove_file(self.lock.dir.join(ENDPOINT_FILE));
        self.handle.shutdown().await;
        drop(self.lock);
    }
}

#[cfg(test)]
mod tests;
