//! Orders are checked before they are sent; read retries back off exponentially up to a bound.

use super::*;
use crate::secret::Secret;
use std::time::Duration;

fn order() -> CertificateOrder {
    CertificateOrder::new(
        "anna@example.org",
        "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n",
        100,
        Secret::new("Abcdefgh12".to_string()),
    )
}

#[test]
fn a_valid_order_passes_and_becomes_a_mail_order_with_our_csr() {
    let o = order();
    assert_eq!(o.validate(), Ok(()));
    let c = o.to_certificate(None);
    assert_eq!(c.certificate_type, Some(CertificateType::Mail));
    assert_eq!(c.has_csr, Some(true));
    assert_eq!(c.csr.as_deref(), Some(o.csr_pem.as_str()));
    assert_eq!(c.product.as_deref(), Some(DEFAULT_PRODUCT));
    assert_eq!(c.approver_email.as_deref(), Some("anna@example.org"));
}

#[test]
fn download_passwords_outside_the_api_rule_are_refused_without_echoing_them() {
    for bad in ["short1", "has-dash-123", "ümlautpassword", &"a".repeat(33)] {
        let mut o = order();
        o.download_password = Secret::new(bad.to_string());
        let err = o.validate().err().unwrap_or_default();
        assert!(err.contains("download_password"), "{bad}: {err}");
        assert!(!err.contains(bad), "the password leaked into {err}");
    }
    assert!(is_download_password("Abcdefgh"));
    assert!(is_download_password(&"Z9".repeat(16)));
}

#[test]
fn an_order_without_a_csr_cannot_be_built() {
    let mut o = order();
    o.csr_pem = String::new();
    assert!(o.validate().is_err());
}

#[test]
fn backoff_doubles_up_to_the_bound() {
    let p = RetryPolicy::default();
    assert_eq!(p.backoff(0), Duration::from_millis(500));
    assert_eq!(p.backoff(1), Duration::from_secs(1));
    assert_eq!(p.backoff(10), Duration::from_secs(8));
}
