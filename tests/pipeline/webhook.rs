//! The webhook through the real daemon against a local receiver (Python's `http.server` on
//! 127.0.0.1, `tests/fixtures/notify/webhook_receiver.py`) that verifies the HMAC-SHA256
//! signature as `docs/hooks.md` tells a receiver to: every POST verifies, a refused one is
//! retried with the same delivery id, each event is accepted once, and a forged request fails
//! the receiver's check (so the check can fail).

use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};

use smime_provisioner::mailbox::Address;
use smime_provisioner::simulator::Faults;
use support::live::*;
use support::tools;

use crate::hooks::{daemon, mailbox, setup, stop, store, wait_for};

const SECRET: &str = "a-webhook-secret-of-some-length";

struct Receiver {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_receiver(dir: &std::path::Path, fail_first: u32) -> Receiver {
    let py = tools::require_tool("/usr/bin/python3", "python3");
    let secret = dir.join("receiver.secret");
    std::fs::write(&secret, SECRET).unwrap();
    let log = dir.join("received.jsonl");
    let mut child = Command::new(py)
        .arg(tools::fixture("notify/webhook_receiver.py"))
        .arg(&secret)
        .arg(&log)
        .arg(fail_first.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().unwrap();
    Receiver { child, port, log }
}

fn received(r: &Receiver) -> Vec<serde_json::Value> {
    std::fs::read_to_string(&r.log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn accepted(r: &Receiver, event: &str) -> usize {
    received(r)
        .iter()
        .filter(|e| e["status"] == 200 && e["event"] == event)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_receiver_verifies_every_signed_post_and_gets_each_event_once() {
    let sim = start_simulator(Faults::default(), std::time::Duration::from_millis(100), 74).await;
    let receiver_dir = tempfile::tempdir().unwrap();
    // The first POST is answered 503: it must come again, with the same delivery id.
    let rx = start_receiver(receiver_dir.path(), 1);
    let s = setup(
        "",
        |dir, _| {
            let secret = dir.join("webhook.secret");
            std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
            std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
            format!(
                "[webhook]\nurl = \"http://127.0.0.1:{}/smime\"\nsecret_file = \"{}\"\n",
                rx.port,
                secret.display()
            )
        },
        &sim.json_url(),
    );
    mailbox(&s, "alice");
    let child = daemon(&s);
    wait_for("issued and delivered accepted by the receiver", || {
        accepted(&rx, "issued") == 1 && accepted(&rx, "delivered") == 1
    })
    .await;
    stop(child).await;
    sim.shutdown().await;

    let all = received(&rx);
    assert!(all.iter().all(|e| e["verified"] == true), "{all:#?}");
    assert_eq!(all[0]["status"], 503);
    let retried = all[1..]
        .iter()
        .find(|e| e["delivery"] == all[0]["delivery"])
        .expect("the refused POST came again");
    assert_eq!(retried["status"], 200);
    assert_eq!(all.len(), 3, "one retry, then each event once: {all:#?}");
    let alice = store(&s)
        .get(&Address::parse("alice@example.com").unwrap())
        .unwrap()
        .unwrap();
    for e in &all {
        let body = &e["body"];
        assert_eq!(body["version"], 1);
        assert_eq!(body["address"], "alice@example.com");
        assert_eq!(body["event"], e["event"]);
        assert_eq!(body["id"].to_string(), e["delivery"].as_str().unwrap());
        assert_eq!(
            body["fingerprint_sha256"].as_str(),
            alice.fingerprint.as_deref()
        );
        let pem = body["certificate_pem"].as_str().unwrap();
        assert_eq!(
            Some(certificate_fingerprint(pem)),
            alice.fingerprint.clone()
        );
        assert!(!e.to_string().contains("PRIVATE KEY"));
    }

    // A request signed with another secret fails the receiver's check.
    let forged = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{}/smime", rx.port))
        .header("X-Smime-Timestamp", "1")
        .header("X-Smime-Signature", "sha256=00")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 401);
    assert_eq!(received(&rx).last().unwrap()["verified"], false);
}
