//! Unit tests of the SQLite store: migrations, permissions, compare-and-set transitions, the order
//! budget, the poll ledger, leases. Real SQLite files in temporary directories where the file
//! matters; the in-memory constructor elsewhere.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::display_name::DisplayName;
use crate::lifecycle::{ErrorClass, Request, Stage};
use crate::secret::Secret;
use time::macros::datetime;
use time::OffsetDateTime;

const NOW: OffsetDateTime = datetime!(2026-03-01 12:00:00.123456789 UTC);

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

fn full_record() -> MailboxRecord {
    let mut r = MailboxRecord::discovered(addr("bob@example.org"), NOW);
    r.stage = Stage::Bundled;
    r.generation = 3;
    r.present = false;
    r.gone_since = Some(NOW);
    r.request = Some(Request::Redeliver);
    r.key_ref = Some("bob@example.org/3".into());
    r.contact_id = Some(42);
    r.ctid = Some("sp-abc".into());
    r.job_id = Some(1001);
    r.certificate_id = Some(77);
    r.renew_of = Some(76);
    r.certificate_pem = Some("-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n".into());
    r.chain_pem = Some("chain".into());
    r.not_after = Some(NOW + time::Duration::days(365));
    r.serial = Some("0a1b".into());
    r.fingerprint = Some("ab".repeat(32));
    r.ordering_since = Some(NOW);
    r.lease_owner = Some("1:2".into());
    r.lease_until = Some(NOW);
    r.bundle_password = Some(Secret::new("pw".into()));
    r.bundle_sent_at = Some(NOW);
    r.delivered_at = None;
    r.next_attempt_at = Some(NOW + time::Duration::seconds(30));
    r.failure = Failure {
        attempts: 2,
        class: Some(ErrorClass::Transient),
        code: Some("http-503".into()),
        text: Some("AutoDNS answered 503".into()),
        gave_up: false,
    };
    r.display_name = Some(name("Bob Berg"));
    r
}

fn name(s: &str) -> DisplayName {
    DisplayName::parse(s).unwrap()
}

#[test]
fn a_new_file_store_runs_every_migration_and_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let store = Store::open(&state).unwrap();
    assert_eq!(
        store.schema_version().unwrap() as usize,
        migrations::MIGRATIONS.len()
    );
    let dir_mode = fs::metadata(&state).unwrap().permissions().mode() & 0o777;
    let file_mode = fs::metadata(state.join(DB_FILE))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!((dir_mode, file_mode), (0o700, 0o600));
    let journal: String = store
        .conn()
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
}

#[test]
fn reopening_keeps_the_records_and_does_not_migrate_twice() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store.observe_present(&addr("a@example.com"), NOW).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.list().unwrap().len(), 1);
    assert_eq!(store.events(&addr("a@example.com")).unwrap().len(), 1);
}

#[test]
fn a_store_written_by_a_newer_program_is_refused_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    {
        let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let err = Store::open(dir.path()).unwrap_err();
    assert!(
        matches!(err, StoreError::NewerSchema { found: 99, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("newer smime-provisioner"));
}

#[test]
fn every_field_of_a_record_round_trips() {
    let store = Store::open_in_memory().unwrap();
    let rec = full_record();
    let stored = store
        .commit(Transition {
            record: rec.clone(),
            events: vec![],
            counts_order: None,
            refunds_order: None,
        })
        .unwrap();
    assert_eq!(stored.version, 1);
    let back = store.get(&rec.address).unwrap().unwrap();
    assert_eq!(back, MailboxRecord { version: 1, ..rec });
}

#[test]
fn the_password_field_does_not_show_in_debug_output() {
    let rec = full_record();
    let shown = format!("{rec:?}");
    assert!(
        shown.contains("bundle_password: Some(Secret(<redacted>))"),
        "{shown}"
    );
}

#[test]
fn duplicate_presence_events_create_one_record_and_one_event() {
    let store = Store::open_in_memory().unwrap();
    let a = addr("a@example.com");
    assert_eq!(store.observe_present(&a, NOW).unwrap(), Observed::Created);
    assert_eq!(store.observe_present(&a, NOW).unwrap(), Observed::Unchanged);
    assert_eq!(store.list().unwrap().len(), 1);
    let kinds: Vec<String> = store
        .events(&a)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["discovered"]);
}

#[test]
fn a_mailbox_that_goes_and_returns_is_marked_and_logged() {
    let store = Store::open_in_memory().unwrap();
    let a = addr("a@example.com");
    store.observe_present(&a, NOW).unwrap();
    assert!(store.observe_gone(&a, NOW).unwrap());
    assert!(
        !store.observe_gone(&a, NOW).unwrap(),
        "second report changes nothing"
    );
    let r = store.get(&a).unwrap().unwrap();
    assert!(!r.present);
    assert_eq!(r.gone_since, Some(NOW));
    assert_eq!(store.observe_present(&a, NOW).unwrap(), Observed::Returned);
    let r = store.get(&a).unwrap().unwrap();
    assert!(r.present && r.gone_since.is_none());
    let kinds: Vec<String> = store
        .events(&a)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["discovered", "gone", "returned"]);
}

#[test]
fn a_write_based_on_a_stale_read_is_refused_and_changes_nothing() {
    let store = Store::open_in_memory().unwrap();
    let a = addr("a@example.com");
    store.observe_present(&a, NOW).unwrap();
    let read = store.get(&a).unwrap().unwrap();
    let mut first = read.clone();
    first.stage = Stage::KeyReady;
    store
        .commit(Transition {
            record: first,
            events: vec![],
            counts_order: None,
            refunds_order: None,
        })
        .unwrap();
    let mut second = read;
    second.stage = Stage::Ordering;
    let err = store
        .commit(Transition {
            record: second,
            events: vec![NewEvent::new(EventKind::OrderIntent, "x")],
            counts_order: None,
            refunds_order: None,
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }) && err.is_transient());
    assert_eq!(store.get(&a).unwrap().unwrap().stage, Stage::KeyReady);
    assert_eq!(
        store.events(&a).unwrap().len(),
        1,
        "the refused transition's event is not kept"
    );
}

#[test]
fn two_handles_on_one_file_see_each_others_writes_and_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Store::open(dir.path()).unwrap();
    let verb = Store::open(dir.path()).unwrap();
    let a = addr("a@example.com");
    daemon.observe_present(&a, NOW).unwrap();
    let seen_by_verb = verb.get(&a).unwrap().unwrap();
    let mut by_daemon = daemon.get(&a).unwrap().unwrap();
    by_daemon.stage = Stage::KeyReady;
    daemon
        .commit(Transition {
            record: by_daemon,
            events: vec![],
            counts_order: None,
            refunds_order: None,
        })
        .unwrap();
    let mut by_verb = seen_by_verb;
    by_verb.request = Some(Request::Reprovision);
    let err = verb
        .commit(Transition {
            record: by_verb,
            events: vec![],
            counts_order: None,
            refunds_order: None,
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }));
}

#[test]
fn the_daily_budget_refuses_the_order_after_the_limit_and_resets_next_day() {
    let store = Store::open_in_memory().unwrap();
    let order = |name: &str, at: OffsetDateTime| {
        let mut r = MailboxRecord::discovered(addr(name), at);
        r.stage = Stage::Ordering;
        r.ctid = Some(format!("ctid-{name}"));
        store.commit(Transition {
            record: r,
            events: vec![NewEvent::new(EventKind::OrderIntent, "")],
            counts_order: Some(2),
            refunds_order: None,
        })
    };
    order("a@example.com", NOW).unwrap();
    order("b@example.com", NOW).unwrap();
    let err = order("c@example.com", NOW).unwrap_err();
    assert!(
        matches!(err, StoreError::BudgetExhausted { limit: 2, .. }),
        "{err:?}"
    );
    assert!(
        store.get(&addr("c@example.com")).unwrap().is_none(),
        "no intent was written"
    );
    assert_eq!(store.orders_on(NOW.date()).unwrap(), 2);
    order("c@example.com", NOW + time::Duration::days(1)).unwrap();
    assert_eq!(store.orders_on(NOW.date().next_day().unwrap()).unwrap(), 1);
}

#[test]
fn records_are_found_by_job_id_and_by_ctid() {
    let store = Store::open_in_memory().unwrap();
    let rec = full_record();
    store
        .commit(Transition {
            record: rec.clone(),
            events: vec![],
            counts_order: None,
            refunds_order: None,
        })
        .unwrap();
    assert_eq!(
        store.find_by_job(1001).unwrap().unwrap().address,
        rec.address
    );
    assert_eq!(
        store.find_by_ctid("sp-abc").unwrap().unwrap().address,
        rec.address
    );
    assert!(store.find_by_job(1).unwrap().is_none());
}

#[test]
fn a_poll_message_is_noted_once_and_confirmed_later() {
    let store = Store::open_in_memory().unwrap();
    let a = addr("a@example.com");
    assert!(store
        .note_poll_message(5, Some(9), Some(&a), "issued", NOW)
        .unwrap());
    assert!(!store
        .note_poll_message(5, Some(9), Some(&a), "issued", NOW)
        .unwrap());
    assert_eq!(store.poll_message(5).unwrap().unwrap().confirmed_at, None);
    store.mark_poll_confirmed(5, NOW).unwrap();
    let e = store.poll_message(5).unwrap().unwrap();
    assert_eq!(
        (e.job_id, e.address.as_deref(), e.confirmed_at),
        (Some(9), Some(a.as_str()), Some(NOW))
    );
}

#[test]
fn leases_of_dead_owners_are_released_and_live_ones_kept() {
    let store = Store::open_in_memory().unwrap();
    for (name, owner) in [("a@example.com", "dead"), ("b@example.com", "alive")] {
        let mut r = MailboxRecord::discovered(addr(name), NOW);
        r.lease_owner = Some(owner.into());
        r.lease_until = Some(NOW + time::Duration::minutes(5));
        store
            .commit(Transition {
                record: r,
                events: vec![],
                counts_order: None,
                refunds_order: None,
            })
            .unwrap();
    }
    assert_eq!(store.release_dead_leases(|o| o == "alive").unwrap(), 1);
    assert!(store
        .get(&addr("a@example.com"))
        .unwrap()
        .unwrap()
        .lease_owner
        .is_none());
    assert!(store
        .get(&addr("b@example.com"))
        .unwrap()
        .unwrap()
        .lease_owner
        .is_some());
}

#[test]
fn an_unknown_stage_in_the_file_is_reported_not_a_panic() {
    let store = Store::open_in_memory().unwrap();
    store.observe_present(&addr("a@example.com"), NOW).unwrap();
    store
        .conn()
        .execute("UPDATE mailbox SET stage = 'shipped'", [])
        .unwrap();
    let err = store.list().unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    assert!(err.to_string().contains("shipped"));
}

#[test]
fn settings_are_stored_and_overwritten() {
    let store = Store::open_in_memory().unwrap();
    assert_eq!(store.setting("autodns.contact_id").unwrap(), None);
    store.set_setting("autodns.contact_id", "1").unwrap();
    store.set_setting("autodns.contact_id", "2").unwrap();
    assert_eq!(
        store.setting("autodns.contact_id").unwrap().as_deref(),
        Some("2")
    );
}

#[test]
fn an_order_that_was_certainly_not_placed_gives_its_budget_back() {
    let store = Store::open_in_memory().unwrap();
    let mut r = MailboxRecord::discovered(addr("a@example.com"), NOW);
    r.stage = Stage::Ordering;
    let mut t = Transition::new(r);
    t.counts_order = Some(5);
    let mut r = store.commit(t).unwrap();
    assert_eq!(store.orders_on(NOW.date()).unwrap(), 1);
    r.stage = Stage::KeyReady;
    let mut t = Transition::new(r).event(EventKind::OrderRefused, "429");
    t.refunds_order = Some(NOW.date());
    store.commit(t).unwrap();
    assert_eq!(store.orders_on(NOW.date()).unwrap(), 0);
}

#[test]
fn an_update_retries_a_lost_race_on_a_fresh_read_and_keeps_the_winners_write() {
    let store = Store::open_in_memory().unwrap();
    let a = addr("a@example.com");
    store.observe_present(&a, NOW).unwrap();
    let mut reads = 0;
    let done = store
        .update(&a, |mut r| {
            reads += 1;
            if reads == 1 {
                // Another writer commits between this read and this write.
                let mut other = r.clone();
                other.stage = Stage::KeyReady;
                store.commit(Transition::new(other)).unwrap();
            }
            r.request = Some(Request::Renew);
            Ok::<_, StoreError>(Update::Write(Transition::new(r), reads))
        })
        .unwrap();
    assert_eq!(
        done,
        Some(2),
        "the second decision, on a fresh read, is written"
    );
    let r = store.get(&a).unwrap().unwrap();
    assert_eq!(
        (r.stage, r.request),
        (Stage::KeyReady, Some(Request::Renew))
    );
}

#[test]
fn an_update_gives_up_after_its_bound_and_says_so_for_an_unknown_address() {
    let store = Store::open_in_memory().unwrap();
    let a = addr("a@example.com");
    assert_eq!(
        store
            .update(&a, |_| Ok::<_, StoreError>(Update::Keep(())))
            .unwrap(),
        None
    );
    store.observe_present(&a, NOW).unwrap();
    let mut reads = 0;
    let err = store
        .update(&a, |r| {
            reads += 1;
            let mut stale = r.clone();
            stale.version -= 1;
            Ok::<_, StoreError>(Update::Write(Transition::new(stale), ()))
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert_eq!(reads, UPDATE_TRIES);
}

#[test]
fn an_event_kind_this_program_does_not_know_is_read_back_as_its_text() {
    let store = Store::open_in_memory().unwrap();
    let a = addr("a@example.com");
    store.observe_present(&a, NOW).unwrap();
    store
        .conn()
        .execute("UPDATE event SET kind = 'teleported'", [])
        .unwrap();
    let events = store.events(&a).unwrap();
    assert_eq!(events[0].kind, "teleported");
    assert_eq!(events[0].known_kind(), None);
}

/// Claims `name` (stage `discovered`) for key generation at `at`, reserving an order of `limit`.
fn claim_for_key(
    store: &Store,
    name: &str,
    at: OffsetDateTime,
    limit: u32,
) -> Result<MailboxRecord, StoreError> {
    let a = addr(name);
    if store.get(&a).unwrap().is_none() {
        store.observe_present(&a, at).unwrap();
    }
    let mut r = store.get(&a).unwrap().unwrap();
    r.lease_owner = Some("1:1".into());
    r.lease_until = Some(at + time::Duration::minutes(10));
    r.updated_at = at;
    store.commit_reserving_order(Transition::new(r), limit)
}

#[test]
fn a_key_claim_reserves_an_order_counting_keys_waiting_and_keys_being_made() {
    let store = Store::open_in_memory().unwrap();
    // Two orders a day: one key under way and one key waiting fill it.
    let a = claim_for_key(&store, "a@example.com", NOW, 2).unwrap();
    let err = claim_for_key(&store, "c@example.com", NOW, 1).unwrap_err();
    assert!(
        matches!(err, StoreError::BudgetExhausted { limit: 1, .. }),
        "a key being made counts"
    );
    let mut a = a;
    a.stage = Stage::KeyReady;
    a.lease_owner = None;
    a.lease_until = None;
    let a = store.commit(Transition::new(a)).unwrap();
    claim_for_key(&store, "b@example.com", NOW, 2).unwrap();
    let err = claim_for_key(&store, "c@example.com", NOW, 2).unwrap_err();
    assert!(
        matches!(err, StoreError::BudgetExhausted { limit: 2, .. }),
        "{err:?}"
    );
    // An expired claim of a dead process, a removed mailbox and one that gave up wait for no order.
    let later = NOW + time::Duration::minutes(11);
    let mut a = a;
    a.present = false;
    store.commit(Transition::new(a)).unwrap();
    claim_for_key(&store, "c@example.com", later, 2).unwrap();
    // Orders already counted today count too; none at all with a budget of 0.
    let mut o = MailboxRecord::discovered(addr("o@example.com"), later);
    o.stage = Stage::Ordering;
    o.ctid = Some("ctid-o".into());
    let mut intent = Transition::new(o);
    intent.counts_order = Some(10);
    store.commit(intent).unwrap();
    let err = claim_for_key(&store, "d@example.com", later, 2).unwrap_err();
    assert!(
        matches!(err, StoreError::BudgetExhausted { limit: 2, .. }),
        "{err:?}"
    );
    claim_for_key(&store, "d@example.com", later, 3).unwrap();
    let err = claim_for_key(&store, "e@example.com", later, 0).unwrap_err();
    assert!(matches!(err, StoreError::BudgetExhausted { limit: 0, .. }));
    assert!(
        err.to_string().contains("`autodns.daily_order_budget = 0`"),
        "{err}"
    );
    assert!(store
        .get(&addr("e@example.com"))
        .unwrap()
        .unwrap()
        .lease_owner
        .is_none());
}

#[test]
fn an_alert_is_first_once_per_period() {
    let store = Store::open_in_memory().unwrap();
    assert!(store.first_alert("alert.x", "2026-03-01").unwrap());
    assert!(!store.first_alert("alert.x", "2026-03-01").unwrap());
    assert!(store.first_alert("alert.y", "2026-03-01").unwrap());
    assert!(store.first_alert("alert.x", "2026-03-02").unwrap());
    assert!(!store.first_alert("alert.x", "2026-03-02").unwrap());
}

#[test]
fn the_budget_error_names_the_config_key() {
    let e = StoreError::BudgetExhausted {
        limit: 5,
        day: NOW.date(),
    };
    let text = e.to_string();
    assert!(text.contains("`autodns.daily_order_budget`"), "{text}");
    assert!(!text.contains("pipeline.daily_order_budget"), "{text}");
}

#[test]
fn a_reported_name_is_stored_and_a_change_of_it_makes_a_stale_write_conflict() {
    let store = Store::open_in_memory().unwrap();
    let guard = crate::source::GuardPolicy::default();
    let bob = addr("bob@example.org");
    let listed: std::collections::BTreeSet<Address> = [bob.clone()].into();
    let named = |n: &str| [(bob.clone(), name(n))].into();
    store
        .apply_named_listing("ldif", &listed, &named("Bob Berg"), true, NOW, &guard)
        .unwrap();
    let first = store.get(&bob).unwrap().unwrap();
    assert_eq!(first.display_name, Some(name("Bob Berg")));

    // The same name again, or a listing that knows none, changes nothing.
    store
        .apply_named_listing("ldif", &listed, &named("Bob Berg"), true, NOW, &guard)
        .unwrap();
    store
        .apply_listing("maildir", &listed, true, NOW, &guard)
        .unwrap();
    assert_eq!(store.get(&bob).unwrap().unwrap(), first);

    // A new name bumps the version: a step that read the record before cannot write the old
    // name back.
    store
        .apply_named_listing("ldif", &listed, &named("Bob Berg-Lund"), true, NOW, &guard)
        .unwrap();
    let renamed = store.get(&bob).unwrap().unwrap();
    assert_eq!(renamed.display_name, Some(name("Bob Berg-Lund")));
    let stale = store.commit(Transition::new(first));
    assert!(
        matches!(stale, Err(StoreError::Conflict { .. })),
        "{stale:?}"
    );

    // A request names its person in the same transaction as it records the mailbox.
    let carol = addr("carol@example.org");
    store
        .observe_present_named(&carol, Some(&name("Carol Cruz")), NOW)
        .unwrap();
    let rec = store.get(&carol).unwrap().unwrap();
    assert_eq!(rec.display_name, Some(name("Carol Cruz")));
}

#[test]
fn a_store_from_before_display_names_is_upgraded_and_keeps_its_records() {
    let dir = tempfile::tempdir().unwrap();
    {
        // The schema as the two migrations before display names left it, with one mailbox.
        let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
        for sql in &migrations::MIGRATIONS[..2] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 2).unwrap();
        conn.execute(
            "INSERT INTO mailbox (address, stage, generation, version, present, created_at, \
             updated_at) VALUES ('old@example.org', 'delivered', 1, 4, 1, 0, 0)",
            [],
        )
        .unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let old = store.get(&addr("old@example.org")).unwrap().unwrap();
    assert_eq!(
        (old.stage, old.version, old.display_name),
        (Stage::Delivered, 4, None)
    );
    store
        .observe_present_named(&old.address, Some(&name("Olga Old")), NOW)
        .unwrap();
    let named = store.get(&old.address).unwrap().unwrap();
    assert_eq!(named.display_name, Some(name("Olga Old")));
}
