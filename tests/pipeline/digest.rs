//! The daily digest mail: its content from a store with issued, renewed, failed and expiring
//! mailboxes and a budget count (the mail read back by Python's `email` package, as a client
//! would); due from its hour; sent once a day, also across a restart (a new notifier on the same
//! store); the next day's covers only what happened since.

use std::sync::Arc;

use smime_provisioner::clock::{Clock, ManualClock};
use smime_provisioner::delivery::{Mailer, RecordingMailer};
use smime_provisioner::lifecycle::EventKind;
use smime_provisioner::mailbox::Address;
use smime_provisioner::notify::Notifier;
use smime_provisioner::pipeline::Stage;
use smime_provisioner::store::{MailboxRecord, Store, Transition};
use support::live::{config_text, parse_config};
use support::mail::{mime_dump, parts_of};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

/// A mailbox at `stage` whose record and event are written at `at`.
fn record(address: &str, stage: Stage, at: OffsetDateTime) -> MailboxRecord {
    let mut r = MailboxRecord::discovered(Address::parse(address).unwrap(), at);
    r.stage = stage;
    r.updated_at = at;
    r
}

fn seed(store: &Store, now: OffsetDateTime) {
    let mut alice = record("alice@example.com", Stage::Issued, now - Duration::hours(1));
    alice.not_after = Some(now + Duration::days(20));
    alice.serial = Some("0a".into());
    let mut t = Transition::new(alice).event(EventKind::Issued, "certificate 1 fetched");
    t.counts_order = Some(50);
    store.commit(t).unwrap();

    let mut bob = record("bob@example.com", Stage::Issued, now - Duration::hours(2));
    bob.not_after = Some(now + Duration::days(365));
    bob.renew_of = Some(9);
    bob.generation = 2;
    store
        .commit(Transition::new(bob).event(EventKind::Issued, "certificate 2 fetched"))
        .unwrap();

    let mut carol = record(
        "carol@example.com",
        Stage::KeyReady,
        now - Duration::hours(3),
    );
    carol.failure.gave_up = true;
    store
        .commit(Transition::new(carol).event(
            EventKind::GaveUp,
            "order: the order's job failed [job-failed:EF400139]",
        ))
        .unwrap();

    // Three days ago: before the first digest's day.
    let dave = record("dave@example.com", Stage::Issued, now - Duration::days(3));
    store
        .commit(Transition::new(dave).event(EventKind::Issued, "certificate 3 fetched"))
        .unwrap();
}

fn notifier(
    dir: &std::path::Path,
    store: &Arc<Store>,
    clock: &Arc<ManualClock>,
    mailer: &Arc<RecordingMailer>,
) -> Notifier {
    let text = config_text(
        dir,
        "http://127.0.0.1:9/v1",
        "json",
        "[digest]\nenabled = true\nhour_utc = 7\n",
    )
    .replace(
        "[delivery]\n",
        "[delivery]\nadmin_address = \"admin@example.com\"\n",
    );
    let config = parse_config(&text, dir);
    let clock: Arc<dyn Clock> = clock.clone();
    let mailer: Arc<dyn Mailer> = mailer.clone();
    Notifier::from_config(&config, store.clone(), clock, Some(mailer)).unwrap()
}

/// The subject and plain text of the `n`th mail sent.
fn mail(dir: &std::path::Path, mailer: &RecordingMailer, n: usize) -> (String, String, String) {
    let sent = mailer.sent();
    let dump = mime_dump(dir, &sent[n].raw).unwrap();
    // Mail lines end in CRLF on the wire.
    let text = parts_of(&dump, "text/plain")[0]["text"]
        .as_str()
        .unwrap()
        .replace("\r\n", "\n");
    (
        dump["headers"]["Subject"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        sent[n].to.join(","),
        text,
    )
}

#[tokio::test]
async fn the_digest_reports_the_day_and_is_sent_once_a_day_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("state")).unwrap());
    let clock = Arc::new(ManualClock::new(datetime!(2026-12-03 06:30 UTC)));
    let mailer = Arc::new(RecordingMailer::new());
    seed(&store, datetime!(2026-12-03 08:00 UTC));
    let n = notifier(dir.path(), &store, &clock, &mailer);
    assert!(!n.send_digest_if_due().await.unwrap(), "before hour_utc");

    clock.set(datetime!(2026-12-03 08:00 UTC));
    assert!(n.send_digest_if_due().await.unwrap());
    let (subject, to, text) = mail(dir.path(), &mailer, 0);
    assert_eq!(to, "admin@example.com");
    assert_eq!(
        subject,
        "smime-provisioner digest 2026-12-03: 1 issued, 1 renewed, 1 failed, 1 expiring"
    );
    for want in [
        "Issued: 1\n  alice@example.com  expires 2026-12-23\n",
        "Renewed: 1\n  bob@example.com  expires 2027-12-03\n",
        "Failed (waiting for an operator): 1\n  carol@example.com  order: the order's job \
         failed [job-failed:EF400139]\n",
        "Expiring within the renewal margin (30 days): 1\n  alice@example.com  expires \
         2026-12-23  issued\n",
        "Order budget: 1 of 50 used today (UTC); 0 yesterday.",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    assert!(!text.contains("dave@"), "older than the period:\n{text}");

    assert!(!n.send_digest_if_due().await.unwrap(), "once a day");
    let restarted = notifier(dir.path(), &store, &clock, &mailer);
    assert!(
        !restarted.send_digest_if_due().await.unwrap(),
        "a restart does not send it again"
    );
    assert_eq!(mailer.sent().len(), 1);

    clock.advance(Duration::days(1));
    assert!(restarted.send_digest_if_due().await.unwrap());
    let (subject, _, text) = mail(dir.path(), &mailer, 1);
    assert!(
        subject.contains("2026-12-04: 0 issued, 0 renewed, 0 failed"),
        "{subject}"
    );
    assert!(text.contains("Issued: 0\n"), "{text}");
    assert!(
        text.contains("Order budget: 0 of 50 used today (UTC); 1 yesterday."),
        "{text}"
    );
}
