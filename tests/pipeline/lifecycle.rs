//! Renewal and removal end to end, over real HTTP in both wire formats: the pipeline is built
//! by `wiring::build_with_clock` (the wiring `run` and the verbs use) and driven by the daemon,
//! against the bundled simulator behind a recording proxy. Pipeline and simulator share one
//! controlled clock that starts at real now, so certificates are issued, checked and renewed
//! on the same timeline while the test jumps months ahead without sleeping.
//!
//! Renewal: inside the margin before expiry, exactly one more CertificateCreate, a new key, a
//! new bundle that `openssl pkcs12` opens and that holds the new certificate; the previous key
//! stays in the key archive; `status ADDRESS` shows the renewal. Outside the margin nothing is
//! ordered. Removal: with `revoke`, after the grace period exactly one CertificateDelete of the
//! right certificate reaches the simulator (AutoDNS does not offer CertificateRevoke for
//! GlobalSign); with `keep` nothing is cancelled; a removed mailbox is not renewed;
//! a certificate AutoDNS no longer knows when the grace period ends counts as revoked.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use support::live::*;

use crate::run_verb;
use smime_provisioner::clock::{Clock, ManualClock};
use smime_provisioner::daemon::{Daemon, DaemonError, DaemonSettings, PushParser, Seen};
use smime_provisioner::mailbox::Address;
use smime_provisioner::pipeline::adapters::parse_push_notice;
use smime_provisioner::pipeline::reconcile::fmt_time;
use smime_provisioner::pipeline::wiring::{self, Wiring};
use smime_provisioner::pipeline::{ForeignMessages, Outcome, Stage};
use smime_provisioner::simulator::{SimulatorConfig, SimulatorHandle};
use smime_provisioner::store::MailboxRecord;
use support::proxy::Proxy;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const MARGIN_DAYS: i64 = 30;
const GRACE_DAYS: i64 = 7;

fn days(n: i64) -> time::Duration {
    time::Duration::days(n)
}

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

/// A daemon over the live wiring, a simulator behind a proxy, one manual clock.
struct Lifecycle {
    dir: tempfile::TempDir,
    config_path: PathBuf,
    clock: Arc<ManualClock>,
    sim: Option<SimulatorHandle>,
    proxy: Proxy,
    wiring: Option<Wiring>,
    tx: mpsc::Sender<Seen>,
    stop: CancellationToken,
    run: Option<JoinHandle<Result<(), DaemonError>>>,
}

impl Lifecycle {
    /// `removal` is the `[removal]` policy (`keep` or `revoke`).
    async fn start(wire: &str, removal: &str, seed: u64) -> Lifecycle {
        let dir = tempfile::tempdir().unwrap();
        // Real now, to the second: the simulator's CA and every certificate are made on this
        // timeline, and the XML gateway's times carry whole seconds.
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let clock = Arc::new(ManualClock::new(now));
        let mut cfg = SimulatorConfig::new(SIM_USER, SIM_PASSWORD);
        // Jobs finish at the shared clock's "now": no real waiting, no dependence on speed.
        cfg.issuance_delay = Duration::ZERO;
        cfg.seed = Some(seed);
        cfg.clock = clock.clone();
        let sim = start_simulator_with(cfg).await;
        let proxy = Proxy::start(sim.addr()).await;
        let extra = format!(
            "[renewal]\nmargin_days = {MARGIN_DAYS}\n\
             [removal]\npolicy = \"{removal}\"\ngrace_days = {GRACE_DAYS}\n"
        );
        let text = config_text(dir.path(), &proxy.url(wire), wire, &extra)
            .replace("type = \"ec-p256\"", "type = \"ec-p256\"\narchive = true");
        let config_path = dir.path().join("config.toml");
        std::fs::write(&config_path, &text).unwrap();
        let config = parse_config(&text, dir.path());
        assert!(config.keys.archive, "the test needs the key archive on");
        let wiring = wiring::build_with_clock(&config, clock.clone())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let settings = DaemonSettings {
            concurrency: 2,
            poll_interval: Duration::from_millis(100),
            resync_interval: Duration::from_millis(100),
            foreign: ForeignMessages::Confirm,
            push_token: None,
            shutdown_grace: Duration::from_secs(30),
            ..DaemonSettings::default()
        };
        let parser: PushParser = Arc::new(parse_push_notice);
        let (tx, rx) = mpsc::channel(64);
        let stop = CancellationToken::new();
        let daemon = Daemon::new(wiring.reconciler.clone(), settings, Some(parser));
        let run = tokio::spawn(daemon.run(rx, None, stop.clone()));
        Lifecycle {
            dir,
            config_path,
            clock,
            sim: Some(sim),
            proxy,
            wiring: Some(wiring),
            tx,
            stop,
            run: Some(run),
        }
    }

    fn rec(&self) -> &wiring::LiveReconciler {
        &self.wiring.as_ref().unwrap().reconciler
    }

    fn sim(&self) -> &SimulatorHandle {
        self.sim.as_ref().unwrap()
    }

    fn record(&self, a: &Address) -> MailboxRecord {
        self.rec().store().get(a).unwrap().unwrap()
    }

    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Waits until `done` holds for the record of `a`: bounded at 300 s, far above the seconds
    /// a step takes, so a loaded CI machine does not fail a correct pipeline.
    async fn wait_for(&self, a: &Address, what: &str, done: impl Fn(&MailboxRecord) -> bool) {
        for _ in 0..6000 {
            if let Some(r) = self.rec().store().get(a).unwrap() {
                if done(&r) {
                    return;
                }
                assert!(
                    !r.failure.gave_up,
                    "{a} gave up while waiting for {what}: {}",
                    r.status_label()
                );
                self.retry_now(&r);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let r = self.rec().store().get(a).unwrap();
        panic!(
            "gave up waiting for {a}: {what}; record: {:?}",
            r.map(|r| r.status_label())
        );
    }

    /// On the manual clock a retry after a transient failure (a request that timed out on a
    /// loaded machine) would wait forever: its backoff is in clock time. Move the clock to the
    /// retry, as time would. Orders are still counted exactly, so a retry that bought twice
    /// would still fail the test.
    fn retry_now(&self, r: &MailboxRecord) {
        let now = self.now();
        let claimed = r.lease_until.is_some_and(|t| t > now);
        let retrying = r.failure.code.is_some() || r.stage == Stage::Ordering;
        if let (true, false, Some(t)) = (retrying, claimed, r.next_attempt_at) {
            if t > now {
                eprintln!(
                    "{}: retry after {:?} [{:?}]: moving the clock {} ahead",
                    r.address,
                    r.failure.text,
                    r.failure.code,
                    t - now
                );
                self.clock.set(t);
            }
        }
    }

    /// The mailboxes appear; waits until each is delivered.
    async fn deliver(&self, names: &[&Address]) {
        for a in names {
            self.tx.send(Seen::Present((*a).clone())).await.unwrap();
        }
        for a in names {
            self.wait_for(a, "delivered", |r| r.stage == Stage::Delivered)
                .await;
        }
    }

    /// Certificate orders the simulator received for `a` (refused ones excluded), oldest first.
    fn orders_for(&self, a: &Address) -> Vec<smime_provisioner::simulator::OrderRecord> {
        self.sim()
            .orders()
            .into_iter()
            .filter(|o| o.name == a.as_str() && o.status != "REJECTED")
            .collect()
    }

    /// The `.p12` attachments mailed to `a`, as found in the file outbox.
    fn bundles_to(&self, a: &Address) -> Vec<Vec<u8>> {
        outbox_bundles(&self.dir.path().join("outbox"))
            .remove(a.as_str())
            .unwrap_or_default()
    }

    fn password(&self, a: &Address) -> String {
        password_of(self.dir.path(), a.as_str())
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// `smime-provisioner status ADDRESS` through the real binary, next to the running daemon.
    fn status_verb(&self, a: &Address) -> String {
        let (code, stdout, stderr) = run_verb(&self.config_path, &["status", a.as_str()]);
        assert_eq!(code, 0, "status {a}: {stdout}\n{stderr}");
        stdout
    }

    async fn stop(mut self) {
        self.stop.cancel();
        if let Some(run) = self.run.take() {
            run.await.unwrap().unwrap();
        }
        if let Some(w) = self.wiring.take() {
            w.shutdown().await;
        }
        if let Some(s) = self.sim.take() {
            s.shutdown().await;
        }
    }
}

fn dir_of(l: &Lifecycle) -> &Path {
    l.dir.path()
}

async fn renewal_inside_the_margin_buys_one_new_certificate_with_a_new_key(wire: &str, seed: u64) {
    let l = Lifecycle::start(wire, "keep", seed).await;
    let alice = addr("alice@example.com");
    let bob = addr("bob@example.com");
    l.deliver(&[&alice]).await;
    let first = l.record(&alice);
    assert_eq!(first.generation, 1);
    assert_eq!(l.orders_for(&alice).len(), 1);
    let first_bundles = l.bundles_to(&alice);
    assert_eq!(first_bundles.len(), 1, "one bundle mail for alice");
    let first_keys = open_pkcs12_keys(dir_of(&l), &first_bundles[0], &l.password(&alice));
    assert_eq!(Some(first_keys.fingerprint.clone()), first.fingerprint);
    assert_eq!(
        first_keys.key_public_key, first_keys.certificate_public_key,
        "the first bundle's key belongs to its certificate"
    );

    // Bob arrives two months later, so his certificate is due two months after alice's.
    l.clock.advance(days(60));
    l.deliver(&[&bob]).await;
    let bob_first = l.record(&bob);

    // A day before alice's margin: nothing is due and nothing is ordered.
    let expiry = first
        .not_after
        .expect("a delivered record knows its expiry");
    let margin_starts = expiry - days(MARGIN_DAYS);
    l.clock.set(margin_starts - days(1));
    assert_eq!(
        l.rec().reconcile(&alice).await.unwrap(),
        Outcome::Waiting(margin_starts),
        "outside the margin the planner waits for the margin"
    );
    let (ready, _) = l.rec().due().unwrap();
    assert!(ready.is_empty(), "nothing is due yet: {ready:?}");
    assert_eq!(l.orders_for(&alice).len(), 1, "no order outside the margin");

    // Inside the margin the daemon renews alice, and only alice.
    l.clock.set(margin_starts + days(1));
    l.wait_for(&alice, "the renewal delivered", |r| {
        r.generation == 2 && r.stage == Stage::Delivered
    })
    .await;
    let renewed = l.record(&alice);
    let orders = l.orders_for(&alice);
    assert_eq!(
        orders.len(),
        2,
        "exactly one more CertificateCreate: {orders:?}"
    );
    assert!(orders.iter().all(|o| o.task == "create"), "{orders:?}");
    assert_eq!(orders[1].certificate_id, renewed.certificate_id);
    assert_ne!(renewed.certificate_id, first.certificate_id);
    assert_eq!(renewed.renew_of, first.certificate_id);
    assert!(
        renewed.not_after.unwrap() > expiry,
        "the new certificate outlives the old one"
    );
    assert_eq!(l.orders_for(&bob).len(), 1, "bob is not due yet");
    assert_eq!(l.record(&bob).certificate_id, bob_first.certificate_id);

    // The new bundle: opens with the new password, holds the new certificate and a new key.
    let bundles = l.bundles_to(&alice);
    assert_eq!(bundles.len(), 2, "one more bundle mail for alice");
    let new_bundle = bundles
        .iter()
        .find(|b| **b != first_bundles[0])
        .expect("a bundle other than the first");
    let new_keys = open_pkcs12_keys(dir_of(&l), new_bundle, &l.password(&alice));
    assert_eq!(Some(new_keys.fingerprint.clone()), renewed.fingerprint);
    assert_eq!(
        new_keys.key_public_key, new_keys.certificate_public_key,
        "the new bundle's key belongs to the new certificate"
    );
    assert_eq!(
        new_keys.certificate_public_key,
        certificate_public_key(renewed.certificate_pem.as_deref().unwrap())
    );
    assert_ne!(
        new_keys.key_public_key, first_keys.key_public_key,
        "renewal uses a fresh key"
    );

    // The key archive keeps the previous key (to read mail encrypted to the old certificate).
    assert_eq!(
        stored_public_key(&l.state_dir(), "alice@example.com#1"),
        Some(first_keys.key_public_key.clone()),
        "the previous key stays in the archive"
    );
    assert_eq!(
        stored_public_key(&l.state_dir(), "alice@example.com#2"),
        Some(new_keys.key_public_key.clone())
    );

    // `status ADDRESS` tells the story.
    let status = l.status_verb(&alice);
    assert!(status.contains("generation:   2"), "{status}");
    let old_expiry = fmt_time(Some(expiry));
    assert!(
        status.lines().any(|l| {
            l.split_whitespace().nth(2) == Some("renewal-due") && l.contains(&old_expiry)
        }),
        "the renewal and the expiry that caused it: {status}"
    );
    assert!(status.contains("replacement order"), "{status}");
    let new_expiry = renewed.not_after.unwrap().date().to_string();
    assert!(status.contains(&new_expiry), "{status}");
    // Event lines read `TIME  gN  KIND  DETAIL`.
    let delivered_lines = status
        .lines()
        .filter(|l| l.split_whitespace().nth(2) == Some("delivered"))
        .count();
    assert_eq!(
        delivered_lines, 2,
        "both deliveries are in the trail: {status}"
    );

    // A month later alice's new certificate is far from its margin: nothing is ordered.
    l.clock.advance(days(30));
    assert!(matches!(
        l.rec().reconcile(&alice).await.unwrap(),
        Outcome::Waiting(t) if t == renewed.not_after.unwrap() - days(MARGIN_DAYS)
    ));
    let (ready, _) = l.rec().due().unwrap();
    assert!(ready.is_empty(), "nothing is due: {ready:?}");
    assert_eq!(l.orders_for(&alice).len(), 2);
    assert!(l.proxy.deletes().is_empty(), "renewal cancels nothing");
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_renewal_inside_the_margin_buys_one_new_certificate_with_a_new_key() {
    renewal_inside_the_margin_buys_one_new_certificate_with_a_new_key("json", 41).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xml_renewal_inside_the_margin_buys_one_new_certificate_with_a_new_key() {
    renewal_inside_the_margin_buys_one_new_certificate_with_a_new_key("xml", 42).await;
}

/// A mailbox leaves; after the grace period `revoke` cancels its certificate once, `keep`
/// leaves it; either way the removed mailbox is never renewed while the one that stays is.
async fn removal(wire: &str, policy: &str, seed: u64) {
    let l = Lifecycle::start(wire, policy, seed).await;
    let leaver = addr("leaver@example.com");
    let stayer = addr("stayer@example.com");
    l.deliver(&[&leaver, &stayer]).await;
    let leaver_cert = l.record(&leaver).certificate_id.unwrap();
    let stayer_first = l.record(&stayer);

    l.tx.send(Seen::Gone(leaver.clone())).await.unwrap();
    l.wait_for(&leaver, "marked gone", |r| !r.present).await;
    let gone_since = l.record(&leaver).gone_since.unwrap();

    // Inside the grace period nothing is cancelled.
    l.clock.advance(days(GRACE_DAYS - 1));
    let outcome = l.rec().reconcile(&leaver).await.unwrap();
    match policy {
        "revoke" => assert_eq!(outcome, Outcome::Waiting(gone_since + days(GRACE_DAYS))),
        _ => assert_eq!(outcome, Outcome::Idle),
    }
    assert!(l.proxy.deletes().is_empty());

    // After the grace period.
    l.clock.advance(days(2));
    if policy == "revoke" {
        l.wait_for(&leaver, "revoked", |r| r.stage == Stage::Revoked)
            .await;
        assert_eq!(
            l.proxy.deletes(),
            [leaver_cert],
            "exactly one CertificateDelete, of the leaver's certificate"
        );
        let gone = l
            .rec()
            .autodns()
            .client()
            .certificate_info(leaver_cert)
            .await;
        assert!(gone.is_err(), "cancelled at the simulator: {gone:?}");
        let status = l.status_verb(&leaver);
        assert!(status.contains("revoked"), "{status}");
    } else {
        assert_eq!(l.rec().reconcile(&leaver).await.unwrap(), Outcome::Idle);
        assert_eq!(l.record(&leaver).stage, Stage::Delivered);
        assert!(l.proxy.deletes().is_empty(), "keep cancels nothing");
    }
    assert!(
        l.proxy.revokes().is_empty(),
        "CertificateRevoke is never sent"
    );
    let kept = l
        .rec()
        .autodns()
        .client()
        .certificate_info(stayer_first.certificate_id.unwrap())
        .await;
    assert!(
        kept.is_ok(),
        "the stayer's certificate is untouched: {kept:?}"
    );

    // Both certificates reach their renewal margin: only the stayer is renewed.
    let expiry = stayer_first.not_after.unwrap();
    l.clock.set(expiry - days(MARGIN_DAYS) + days(1));
    l.wait_for(&stayer, "renewed", |r| {
        r.generation == 2 && r.stage == Stage::Delivered
    })
    .await;
    assert_eq!(
        l.rec().reconcile(&leaver).await.unwrap(),
        Outcome::Idle,
        "a removed mailbox is not renewed"
    );
    assert_eq!(
        l.orders_for(&leaver).len(),
        1,
        "one order for the leaver, ever"
    );
    assert_eq!(l.orders_for(&stayer).len(), 2);
    let leaver_now = l.record(&leaver);
    assert_eq!(leaver_now.generation, 1);
    let expected = if policy == "revoke" {
        Stage::Revoked
    } else {
        Stage::Delivered
    };
    assert_eq!(leaver_now.stage, expected);
    assert_eq!(
        l.proxy.deletes().len(),
        usize::from(policy == "revoke"),
        "renewing the stayer cancels nothing"
    );
    assert!(l.now() > expiry - days(MARGIN_DAYS));
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_a_removed_mailbox_is_revoked_once_after_the_grace_period_and_never_renewed() {
    removal("json", "revoke", 51).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xml_a_removed_mailbox_is_revoked_once_after_the_grace_period_and_never_renewed() {
    removal("xml", "revoke", 52).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_with_keep_a_removed_mailbox_keeps_its_certificate_and_is_not_renewed() {
    removal("json", "keep", 53).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xml_with_keep_a_removed_mailbox_keeps_its_certificate_and_is_not_renewed() {
    removal("xml", "keep", 54).await;
}

/// A certificate that AutoDNS no longer knows when the grace period ends (an earlier delete
/// whose answer was lost, or one made by hand) counts as revoked: the mailbox ends `revoked`,
/// not failed, and the trail says why.
async fn already_deleted_counts_as_revoked(wire: &str, seed: u64) {
    let l = Lifecycle::start(wire, "revoke", seed).await;
    let leaver = addr("leaver@example.com");
    l.deliver(&[&leaver]).await;
    let id = l.record(&leaver).certificate_id.unwrap();
    // Deleted behind the pipeline's back (through the proxy, so it is counted).
    l.rec()
        .autodns()
        .client()
        .certificate_delete(id, "by-hand")
        .await
        .unwrap();
    l.tx.send(Seen::Gone(leaver.clone())).await.unwrap();
    l.wait_for(&leaver, "marked gone", |r| !r.present).await;
    l.clock.advance(days(GRACE_DAYS + 1));
    l.wait_for(&leaver, "revoked", |r| r.stage == Stage::Revoked)
        .await;
    let r = l.record(&leaver);
    assert!(!r.failure.gave_up && r.failure.code.is_none(), "{r:?}");
    assert_eq!(
        l.proxy.deletes(),
        [id, id],
        "ours by hand, then the pipeline's"
    );
    let trail = l.rec().store().events(&leaver).unwrap();
    let revoked = trail.iter().find(|e| e.kind == "revoked").unwrap();
    assert!(
        revoked.detail.contains("no longer exists"),
        "{}",
        revoked.detail
    );
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_a_certificate_already_deleted_at_autodns_counts_as_revoked() {
    already_deleted_counts_as_revoked("json", 55).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xml_a_certificate_already_deleted_at_autodns_counts_as_revoked() {
    already_deleted_counts_as_revoked("xml", 56).await;
}
