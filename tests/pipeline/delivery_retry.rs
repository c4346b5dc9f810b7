//! How the pipeline treats delivery refusals, through the real reconciler and the bundled
//! simulator: a recipient the mail server does not know yet (550 5.1.1, e.g. Postfix `hash:` maps
//! not rebuilt) and a refused SMTP login are retried with backoff and end delivered once the
//! server accepts; any other permanent refusal fails the mailbox at once with the server's text.

use std::sync::Arc;
use std::time::Duration;

use smime_provisioner::daemon::Seen;
use smime_provisioner::delivery::{DeliveryError, Mailer, RecordingMailer};
use smime_provisioner::mailbox::Address;
use smime_provisioner::pipeline::Stage;
use smime_provisioner::simulator::Faults;
use smime_provisioner::store::{MailboxRecord, Store};
use support::live::*;

/// Runs the daemon on one mailbox, with `recorder` as the mailer, until `done` holds for its
/// record (or fails after two minutes); returns the record and its event kinds.
async fn run_until(
    recorder: Arc<RecordingMailer>,
    seed: u64,
    done: impl Fn(&MailboxRecord) -> bool,
) -> (MailboxRecord, Vec<(String, String)>, Arc<Store>) {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_simulator(Faults::default(), Duration::from_millis(100), seed).await;
    let config = parse_config(
        &config_text(dir.path(), &sim.json_url(), "json", ""),
        dir.path(),
    );
    let mailer: Arc<dyn Mailer> = recorder;
    let rec = Arc::new(live_reconciler(&config, Some(mailer)));
    let store = rec.store().clone();
    let InProcessDaemon { tx, stop, run } =
        start_daemon_in_process(rec, 2, Duration::from_millis(200), 8);
    let address = Address::parse("newbie@example.com").unwrap();
    tx.send(Seen::Present(address.clone())).await.unwrap();
    let mut record = None;
    for _ in 0..1200 {
        if let Some(r) = store.get(&address).unwrap() {
            if done(&r) {
                record = Some(r);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    run.await.unwrap().unwrap();
    sim.shutdown().await;
    let record = record.unwrap_or_else(|| {
        panic!(
            "the mailbox never reached the expected state: {:?}",
            store.get(&address).unwrap()
        )
    });
    let events = store
        .events(&address)
        .unwrap()
        .into_iter()
        .map(|e| (e.kind, e.detail))
        .collect();
    (record, events, store)
}

fn postfix_unknown_user() -> DeliveryError {
    DeliveryError::from_reply(
        "127.0.0.1:25",
        550,
        "5.1.1 <newbie@example.com>: Recipient address rejected: User unknown in virtual mailbox table",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recipient_the_mail_server_does_not_know_yet_is_retried_and_delivered() {
    let recorder = Arc::new(RecordingMailer::new());
    recorder.fail_next(postfix_unknown_user());
    recorder.fail_next(postfix_unknown_user());
    let (record, events, _) =
        run_until(recorder.clone(), 41, |r| r.stage == Stage::Delivered).await;
    assert!(!record.failure.gave_up);
    let retried: Vec<_> = events
        .iter()
        .filter(|(k, d)| k == "step-failed" && d.contains("[smtp-recipient-unknown]"))
        .collect();
    assert_eq!(retried.len(), 2, "{events:?}");
    assert!(
        retried[0]
            .1
            .contains("User unknown in virtual mailbox table"),
        "the server's text is kept: {retried:?}"
    );
    assert_eq!(recorder.attempts(), 3, "two refusals, then the bundle mail");
    assert_eq!(
        recorder.sent().len(),
        1,
        "one bundle mail (password to a file)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_smtp_login_is_retried_so_fixing_the_setting_heals_the_mailbox() {
    let recorder = Arc::new(RecordingMailer::new());
    let auth = || DeliveryError::from_reply("relay:587", 535, "5.7.8 Error: authentication failed");
    recorder.fail_next(auth());
    recorder.fail_next(auth());
    let (record, events, _) =
        run_until(recorder.clone(), 42, |r| r.stage == Stage::Delivered).await;
    assert!(!record.failure.gave_up);
    let retried = events
        .iter()
        .filter(|(k, d)| k == "step-failed" && d.contains("[smtp-auth-rejected]"))
        .count();
    assert_eq!(retried, 2, "{events:?}");
    assert_eq!(recorder.sent().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_other_permanent_refusal_fails_the_mailbox_at_once_with_the_servers_text() {
    let recorder = Arc::new(RecordingMailer::new());
    recorder.fail_always(DeliveryError::from_reply(
        "127.0.0.1:25",
        550,
        "5.7.1 <newbie@example.com>: Relay access denied",
    ));
    let (record, events, _) = run_until(recorder.clone(), 43, |r| r.failure.gave_up).await;
    assert_eq!(
        record.stage,
        Stage::Bundled,
        "the bundle is kept for redeliver"
    );
    assert_eq!(record.failure.attempts, 1, "not retried");
    assert_eq!(
        record.failure.code.as_deref(),
        Some("smtp-permanent-rejection")
    );
    assert!(
        record
            .failure
            .text
            .as_deref()
            .is_some_and(|t| t.contains("Relay access denied")),
        "{record:?}"
    );
    assert!(events.iter().any(|(k, _)| k == "gave-up"), "{events:?}");
    assert_eq!(recorder.attempts(), 1);
    assert!(recorder.sent().is_empty());
}
