//! Dates print back as read, open enums keep unknown values, secrets stay out of `Debug`.

use super::*;
use crate::secret::Secret;
use time::macros::datetime;

#[test]
fn json_dates_without_a_colon_in_the_offset_parse_and_print_back_identically() {
    let t = Timestamp::parse("2022-01-13T13:33:21.000+0100");
    assert_eq!(
        t,
        Some(Timestamp::Zoned(datetime!(2022-01-13 13:33:21 +01:00)))
    );
    assert_eq!(
        t.map(|t| t.to_api_string()).as_deref(),
        Some("2022-01-13T13:33:21.000+0100")
    );
}

#[test]
fn sub_millisecond_precision_and_offset_seconds_are_not_lost_in_printing() {
    let t = Timestamp::parse("2022-01-13T13:33:21.123456+0100");
    assert_eq!(
        t.map(|t| t.to_api_string()).as_deref(),
        Some("2022-01-13T13:33:21.123456+0100")
    );
}

#[test]
fn xml_dates_stay_naive_and_print_back_identically() {
    let t = Timestamp::parse("2017-12-31 23:59:59");
    assert_eq!(t, Some(Timestamp::Naive(datetime!(2017-12-31 23:59:59))));
    assert_eq!(
        t.map(|t| t.to_api_string()).as_deref(),
        Some("2017-12-31 23:59:59")
    );
}

#[test]
fn rfc3339_dates_with_colon_or_z_are_accepted_too() {
    assert_eq!(
        Timestamp::parse("2022-01-13T12:33:21Z"),
        Some(Timestamp::Zoned(datetime!(2022-01-13 12:33:21 UTC)))
    );
    assert_eq!(
        Timestamp::parse("2022-01-13T13:33:21+01:00"),
        Some(Timestamp::Zoned(datetime!(2022-01-13 13:33:21 +01:00)))
    );
    assert_eq!(Timestamp::parse("CREATED"), None);
}

#[test]
fn unknown_enum_values_are_kept_and_known_ones_parse_case_insensitively() {
    assert_eq!(JobStatus::parse("success"), JobStatus::Success);
    assert_eq!(JobStatus::parse("DEFFERED"), JobStatus::Deferred);
    assert_eq!(
        JobStatus::parse("HALF_DONE"),
        JobStatus::Unknown("HALF_DONE".to_string())
    );
    assert_eq!(JobStatus::parse("HALF_DONE").as_str(), "HALF_DONE");
}

#[test]
fn the_download_password_does_not_show_in_debug_output() {
    let c = Certificate {
        password: Some(Secret::new("Sup3rS3cretPw".to_string())),
        ..Default::default()
    };
    assert!(!format!("{c:?}").contains("Sup3rS3cretPw"));
}

#[test]
fn poll_message_accessors_read_job_object_and_ctid() {
    let m: PollMessage = serde_json::from_value(serde_json::json!({
        "id": "77",
        "job": {"id": 4309872209i64, "status": "SUCCESS"},
        "ctid": "order-1",
        "object": {"type": "Certificate", "value": "a@example.org", "data": {"id": "1658050"}}
    }))
    .unwrap_or_default();
    assert_eq!(m.id, Some(77));
    assert_eq!(m.job_id(), Some(4309872209));
    assert_eq!(m.certificate_id(), Some(1658050));
    assert_eq!(m.ctid(), Some("order-1"));
    assert!(m.is_success() && !m.is_failure() && m.is_certificate());
}
