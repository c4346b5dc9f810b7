//! The lost-order matching rules, one test each, without a client or a runtime.

use time::macros::datetime;

use super::*;

const INTENT: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);

fn anna() -> Address {
    Address::parse("anna@example.com").unwrap()
}

fn job(id: i64, name: &str, ctid: Option<&str>, created: Option<OffsetDateTime>) -> ObjectJob {
    ObjectJob {
        job: Some(crate::autodns::Job {
            id: Some(id),
            created: created.map(Timestamp::Zoned),
            ctid: ctid.map(str::to_string),
            ..Default::default()
        }),
        object: Some(crate::autodns::ResponseObject {
            value: Some(name.to_string()),
            data: Some(serde_json::json!({ "id": id * 10 })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn succeeded(mut j: ObjectJob) -> ObjectJob {
    if let Some(job) = j.job.as_mut() {
        job.status = Some(JobStatus::Success);
    }
    j
}

fn cert(id: i64, name: &str, created: Option<Timestamp>) -> Certificate {
    Certificate {
        id: Some(id),
        name: Some(name.to_string()),
        created,
        ..Default::default()
    }
}

fn lost<'a>(address: &'a Address, exclude: Option<i64>) -> LostOrder<'a> {
    LostOrder {
        address,
        ctid: "smp-order-1",
        since: INTENT,
        exclude,
    }
}

#[test]
fn the_running_job_with_our_ctid_is_ours_whatever_its_age() {
    let a = anna();
    let jobs = [
        job(1, "anna@example.com", None, Some(INTENT)),
        job(2, "anna@example.com", Some("smp-order-1"), None),
    ];
    let found = lost(&a, None).in_active(&jobs).unwrap();
    assert_eq!(found.job_id, Some(2));
    assert_eq!(found.certificate_id, Some(20));
    assert!(!found.issued);
}

#[test]
fn a_job_naming_another_ctid_is_never_ours() {
    let a = anna();
    let jobs = [job(
        1,
        "anna@example.com",
        Some("smp-order-0"),
        Some(INTENT),
    )];
    assert_eq!(lost(&a, None).in_active(&jobs), None);
}

#[test]
fn without_any_ctid_the_newest_recent_job_on_the_name_is_ours() {
    let a = anna();
    let jobs = [
        job(
            1,
            "anna@example.com",
            None,
            Some(INTENT - time::Duration::hours(1)),
        ),
        job(
            2,
            "anna@example.com",
            None,
            Some(INTENT + time::Duration::minutes(1)),
        ),
        job(
            3,
            "anna@example.com",
            None,
            Some(INTENT + time::Duration::minutes(2)),
        ),
        job(
            4,
            "bert@example.com",
            None,
            Some(INTENT + time::Duration::minutes(3)),
        ),
    ];
    assert_eq!(lost(&a, None).in_active(&jobs).unwrap().job_id, Some(3));
}

#[test]
fn a_job_older_than_the_intent_beyond_the_clock_skew_is_not_ours() {
    let a = anna();
    let old = [job(
        1,
        "anna@example.com",
        None,
        Some(INTENT - time::Duration::minutes(11)),
    )];
    assert_eq!(lost(&a, None).in_active(&old), None);
    let skewed = [job(
        1,
        "anna@example.com",
        None,
        Some(INTENT - time::Duration::minutes(9)),
    )];
    assert!(lost(&a, None).in_active(&skewed).is_some());
}

#[test]
fn the_excluded_certificate_is_not_reported_for_a_running_job() {
    let a = anna();
    let jobs = [job(2, "anna@example.com", Some("smp-order-1"), None)];
    let found = lost(&a, Some(20)).in_active(&jobs).unwrap();
    assert_eq!(found.job_id, Some(2));
    assert_eq!(found.certificate_id, None);
}

#[test]
fn only_a_successful_finished_job_counts() {
    let a = anna();
    let failed = [job(2, "anna@example.com", Some("smp-order-1"), None)];
    assert_eq!(lost(&a, None).in_history(&failed), (None, None));
    let done = [succeeded(job(
        2,
        "anna@example.com",
        Some("smp-order-1"),
        None,
    ))];
    assert_eq!(lost(&a, None).in_history(&done), (Some(2), Some(20)));
    assert_eq!(lost(&a, Some(20)).in_history(&done), (Some(2), None));
}

#[test]
fn the_newest_recent_listed_certificate_on_the_name_is_ours() {
    let a = anna();
    let list = [
        cert(1, "ANNA@example.com", Some(Timestamp::Zoned(INTENT))),
        cert(
            2,
            "anna@example.com",
            Some(Timestamp::Zoned(INTENT + time::Duration::minutes(5))),
        ),
        cert(
            3,
            "anna@example.com",
            Some(Timestamp::Zoned(INTENT - time::Duration::days(1))),
        ),
        cert(
            4,
            "bert@example.com",
            Some(Timestamp::Zoned(INTENT + time::Duration::hours(1))),
        ),
    ];
    assert_eq!(lost(&a, None).in_list(&list).and_then(|c| c.id), Some(2));
    assert_eq!(lost(&a, Some(2)).in_list(&list).and_then(|c| c.id), Some(1));
}

#[test]
fn a_zoneless_time_may_be_off_by_any_zone_and_an_unknown_age_counts_as_recent() {
    let a = anna();
    let naive =
        |t: OffsetDateTime| Timestamp::Naive(time::PrimitiveDateTime::new(t.date(), t.time()));
    let within = [cert(
        1,
        "anna@example.com",
        Some(naive(INTENT - time::Duration::hours(13))),
    )];
    assert!(lost(&a, None).in_list(&within).is_some());
    let beyond = [cert(
        1,
        "anna@example.com",
        Some(naive(INTENT - time::Duration::hours(15))),
    )];
    assert!(lost(&a, None).in_list(&beyond).is_none());
    let unknown = [cert(1, "anna@example.com", None)];
    assert!(lost(&a, None).in_list(&unknown).is_some());
}
