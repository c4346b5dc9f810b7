//! The claim on a simulator state directory, in one process: each `try_claim` opens the lock
//! file anew, so its `flock` conflicts with another open exactly as another process's would.

use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::simulator::{Simulator, SimulatorConfig};

async fn simulator() -> SimulatorHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    Simulator::start(
        SimulatorConfig::new("simulator", "sim-password-1"),
        listener,
    )
    .unwrap()
}

fn own(claim: Claim) -> EmbeddedLock {
    match claim {
        Claim::Own(lock) => lock,
        other => panic!("expected to own the claim, got {other:?}"),
    }
}

fn busy(claim: Claim) -> String {
    match claim {
        Claim::Busy { holder } => holder,
        other => panic!("expected a busy claim, got {other:?}"),
    }
}

#[test]
fn the_first_claim_owns_the_state_and_a_second_waits_until_the_first_is_published() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("simulator");
    let lock = own(try_claim(&state).unwrap());
    let mode = std::fs::metadata(state.join(LOCK_FILE))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let mode = std::fs::metadata(&state).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    assert!(busy(try_claim(&state).unwrap()).contains("still starting"));
    drop(lock);
    own(try_claim(&state).unwrap());
}

#[tokio::test]
async fn a_daemons_published_simulator_is_shared_and_withdrawn_when_it_stops() {
    let dir = tempfile::tempdir().unwrap();
    let lock = own(try_claim(dir.path()).unwrap());
    let handle = simulator().await;
    let password = Secret::new("sim-password-1".to_string());
    lock.publish(Role::Daemon, &handle, "simulator", &password)
        .unwrap();
    let mode = std::fs::metadata(dir.path().join(ENDPOINT_FILE))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the endpoint holds a password");
    let embedded = Embedded::new(handle, lock);
    match try_claim(dir.path()).unwrap() {
        Claim::Shared(s) => {
            assert_eq!(s.json_url, embedded.handle().json_url());
            assert_eq!(s.xml_url, embedded.handle().xml_url());
            assert_eq!(s.user, "simulator");
            assert_eq!(s.password.expose(), "sim-password-1");
            assert_eq!(s.pid, std::process::id().to_string());
        }
        other => panic!("expected the daemon's simulator, got {other:?}"),
    }
    embedded.shutdown().await;
    assert!(!dir.path().join(ENDPOINT_FILE).exists());
    own(try_claim(dir.path()).unwrap());
}

#[tokio::test]
async fn a_verbs_simulator_is_not_shared_a_later_claim_waits_for_it_then_owns_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let lock = own(try_claim(dir.path()).unwrap());
    let handle = simulator().await;
    lock.publish(Role::Verb, &handle, "simulator", &Secret::new("pw".into()))
        .unwrap();
    let embedded = Embedded::new(handle, lock);
    let holder = busy(try_claim(dir.path()).unwrap());
    assert!(holder.contains("one-off verb"), "{holder}");
    assert!(holder.contains(&std::process::id().to_string()), "{holder}");
    // A daemon started now would wait; with no time to wait it says who holds the state.
    let err = claim(dir.path(), Duration::ZERO).await.unwrap_err();
    assert!(
        err.to_string().contains("still in use by a one-off verb"),
        "{err}"
    );
    embedded.shutdown().await;
    own(claim(dir.path(), Duration::ZERO).await.unwrap());
}

#[test]
fn an_endpoint_left_by_a_dead_holder_is_neither_shared_nor_kept() {
    let dir = tempfile::tempdir().unwrap();
    let stale = Published {
        // No process has pid 0; `owner_alive` calls it dead.
        owner: "0:1".into(),
        role: Role::Daemon,
        json_url: "http://127.0.0.1:1/v1".into(),
        xml_url: "http://127.0.0.1:1/".into(),
        user: "simulator".into(),
        password: "old".into(),
    };
    std::fs::write(
        dir.path().join(ENDPOINT_FILE),
        serde_json::to_vec(&stale).unwrap(),
    )
    .unwrap();
    // Held by a live process that has not published yet: the dead one's file is not trusted.
    let lock = own(try_claim(dir.path()).unwrap());
    assert!(
        !dir.path().join(ENDPOINT_FILE).exists(),
        "removed by the new holder"
    );
    std::fs::write(
        dir.path().join(ENDPOINT_FILE),
        serde_json::to_vec(&stale).unwrap(),
    )
    .unwrap();
    assert!(busy(try_claim(dir.path()).unwrap()).contains("still starting"));
    drop(lock);
}
