//! Checks the certificate checks' helpers on hand-made certificates.

use super::*;
use openssl::ec::{EcGroup, EcKey};
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::BasicConstraints;
use openssl::x509::X509Name;

fn p256() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("P-256");
    PKey::from_ec_key(EcKey::generate(&group).expect("EC key")).expect("PKey")
}

/// A self-signed certificate with the given basicConstraints (None: no extension).
fn cert_with(bc: Option<BasicConstraints>) -> Vec<u8> {
    let key = p256();
    let mut name = X509Name::builder().expect("name");
    name.append_entry_by_nid(Nid::COMMONNAME, "t").expect("CN");
    let name = name.build();
    let mut b = X509::builder().expect("builder");
    b.set_version(2).expect("version");
    b.set_subject_name(&name).expect("subject");
    b.set_issuer_name(&name).expect("issuer");
    b.set_pubkey(&key).expect("key");
    b.set_not_before(&Asn1Time::from_unix(0).expect("t"))
        .expect("nb");
    b.set_not_after(&Asn1Time::days_from_now(1).expect("t"))
        .expect("na");
    if let Some(bc) = bc {
        b.append_extension(bc.build().expect("bc")).expect("bc");
    }
    b.sign(&key, MessageDigest::sha256()).expect("sign");
    b.build().to_der().expect("DER")
}

#[test]
fn basic_constraints_ca_reads_true_false_and_absent() {
    let mut ca = BasicConstraints::new();
    ca.critical().ca().pathlen(0);
    assert_eq!(basic_constraints_ca(&cert_with(Some(ca))), Ok(true));
    let mut leaf = BasicConstraints::new();
    leaf.critical();
    assert_eq!(basic_constraints_ca(&cert_with(Some(leaf))), Ok(false));
    assert_eq!(basic_constraints_ca(&cert_with(None)), Ok(false));
}

#[test]
fn every_prefix_of_a_certificate_fails_cleanly_when_reading_basic_constraints() {
    let mut ca = BasicConstraints::new();
    ca.ca();
    let der = cert_with(Some(ca));
    for cut in 0..der.len() {
        // The outer SEQUENCE's length always claims more than a strict prefix holds.
        assert!(basic_constraints_ca(&der[..cut]).is_err(), "prefix {cut}");
    }
    assert_eq!(basic_constraints_ca(&der), Ok(true));
    assert!(basic_constraints_ca(&[]).is_err());
    assert!(basic_constraints_ca(b"not DER at all").is_err());
}
