//! What the crypto module refuses, and how it says so: certificates for another address or
//! another key, without emailProtection or with a purpose S/MIME forbids, CA certificates,
//! key usages that do not allow signing and receiving encrypted mail, certificates outside sane
//! validity, chains that do not link, hold a non-CA, have expired or that OpenSSL's path
//! validation refuses; truncated or garbage PEM from the API; wrong bundle passwords; bundles
//! from elsewhere that break the delivery rules (RC2, unencrypted certificates, no chain, another
//! profile); CSRs for addresses a certificate cannot carry. Also what it accepts: concatenated,
//! repeated, reordered or absent chains, the optional key usage and EKU values the S/MIME
//! Baseline Requirements allow, and certificates from the bundled simulator's CA.

use std::process::Command;

use anyhow::{ensure, Result};
use rand::rngs::StdRng;
use rand::SeedableRng;
use smime_provisioner::crypto::{
    build_csr, build_pkcs12, check_certificate, generate_password, split_certificates,
    verify_pkcs12, CertificateRejected, CryptoError, Password, Pkcs12Profile, PrivateKey,
};
use smime_provisioner::mailbox::Address;
use smime_provisioner::secret::Secret;
use support::ca::{ec_key, other_rsa_key, rsa_key, CaSpec, Eku, Ku, LeafSpec, TestCa};
use support::tools::{require_tool, run_ok, write_private};
use time::{Duration, OffsetDateTime};

fn addr(s: &str) -> Address {
    Address::parse(s).expect("test address")
}

/// A leaf for `key` and `address` issued by the shared test CA with `spec`.
fn issue(key: &PrivateKey, address: &Address, spec: &LeafSpec) -> Result<String> {
    let csr = build_csr(key, address)?;
    TestCa::shared().issue(&csr, spec)
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

// ---- certificates -------------------------------------------------------------------------

#[test]
fn a_good_certificate_is_accepted_and_described() -> Result<()> {
    let key = ec_key();
    let a = addr("Alice.Smith@Example.COM");
    let leaf = issue(&key, &a, &LeafSpec::valid_now())?;
    let info = check_certificate(&leaf, &TestCa::shared().chain(), &key, &a, now())?;
    ensure!(info.subject_email == "Alice.Smith@example.com", "{info:?}");
    ensure!(
        info.issuer == "C=DE, O=smime-provisioner tests, CN=Test Email CA",
        "{info:?}"
    );
    ensure!(info.sha256_fingerprint.len() == 64, "{info:?}");
    ensure!(info
        .serial_hex
        .chars()
        .all(|c| c.is_ascii_hexdigit() && !c.is_uppercase()));
    ensure!(
        (info.not_after - info.not_before).whole_days() == 365,
        "{info:?}"
    );
    Ok(())
}

#[test]
fn a_certificate_for_another_address_is_refused_naming_both() -> Result<()> {
    let key = ec_key();
    let ours = addr("alice@example.com");
    let mut spec = LeafSpec::valid_now();
    spec.emails = Some(vec!["mallory@example.com".into()]);
    let leaf = issue(&key, &ours, &spec)?;
    let err = check_certificate(&leaf, &[], &key, &ours, now()).unwrap_err();
    ensure!(
        matches!(err, CertificateRejected::AddressMismatch { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    ensure!(
        msg.contains("alice@example.com") && msg.contains("mallory@example.com"),
        "{msg}"
    );
    ensure!(!err.is_transient());
    Ok(())
}

#[test]
fn the_local_part_is_compared_exactly_and_the_domain_without_case() -> Result<()> {
    let key = ec_key();
    let ours = addr("Alice@example.com");
    let mut spec = LeafSpec::valid_now();
    spec.emails = Some(vec!["Alice@EXAMPLE.com".into()]);
    let leaf = issue(&key, &ours, &spec)?;
    ensure!(check_certificate(&leaf, &[], &key, &ours, now()).is_ok());
    spec.emails = Some(vec!["alice@example.com".into()]);
    let leaf = issue(&key, &ours, &spec)?;
    let err = check_certificate(&leaf, &[], &key, &ours, now()).unwrap_err();
    ensure!(err.code() == "certificate-address-mismatch", "{err}");
    Ok(())
}

#[test]
fn a_certificate_whose_subject_names_another_mailbox_is_refused() -> Result<()> {
    let key = ec_key();
    let ours = addr("alice@example.com");
    // The CSR (and so the subject) is for mallory; the CA put alice into the SAN.
    let csr = build_csr(&key, &addr("mallory@example.com"))?;
    let mut spec = LeafSpec::valid_now();
    spec.emails = Some(vec!["alice@example.com".into()]);
    let leaf = TestCa::shared().issue(&csr, &spec)?;
    let err = check_certificate(&leaf, &[], &key, &ours, now()).unwrap_err();
    ensure!(err.code() == "certificate-address-mismatch", "{err}");
    ensure!(
        err.to_string()
            .contains("mallory@example.com (subject emailAddress)"),
        "{err}"
    );
    Ok(())
}

#[test]
fn a_certificate_listing_a_second_mailbox_beside_ours_is_refused() -> Result<()> {
    let key = ec_key();
    let ours = addr("alice@example.com");
    let mut spec = LeafSpec::valid_now();
    spec.emails = Some(vec!["alice@example.com".into(), "bob@example.com".into()]);
    let leaf = issue(&key, &ours, &spec)?;
    let err = check_certificate(&leaf, &[], &key, &ours, now()).unwrap_err();
    ensure!(err.to_string().contains("bob@example.com"), "{err}");
    Ok(())
}

#[test]
fn a_certificate_for_another_key_is_refused_and_cannot_be_bundled() -> Result<()> {
    let ours = rsa_key();
    let a = addr("alice@example.com");
    // The CA signed a CSR made with a different key for the same address.
    let leaf = issue(other_rsa_key(), &a, &LeafSpec::valid_now())?;
    let err = check_certificate(&leaf, &TestCa::shared().chain(), ours, &a, now()).unwrap_err();
    ensure!(err == CertificateRejected::KeyMismatch, "{err:?}");
    ensure!(
        err.to_string().contains("not the key we generated"),
        "{err}"
    );
    let pw = generate_password(&mut StdRng::seed_from_u64(1));
    let err = build_pkcs12(
        ours,
        &leaf,
        &TestCa::shared().chain(),
        &a,
        &pw,
        Pkcs12Profile::Modern,
    )
    .unwrap_err();
    ensure!(err.code() == "certificate-key-mismatch", "{err}");
    Ok(())
}

#[test]
fn a_certificate_without_email_protection_is_refused() -> Result<()> {
    let key = ec_key();
    let a = addr("alice@example.com");
    for (eku, needle) in [
        (Eku::ServerAuthOnly, "does not include emailProtection"),
        (Eku::Absent, "no extended key usage"),
    ] {
        let mut spec = LeafSpec::valid_now();
        spec.eku = eku;
        let leaf = issue(&key, &a, &spec)?;
        let err = check_certificate(&leaf, &[], &key, &a, now()).unwrap_err();
        ensure!(err.code() == "certificate-not-for-email", "{err}");
        ensure!(err.to_string().contains(needle), "{err}");
    }
    Ok(())
}

#[test]
fn expired_future_and_overlong_certificates_are_refused_with_dates() -> Result<()> {
    let key = ec_key();
    let a = addr("alice@example.com");
    let t = now();
    let cases = [
        (
            t - Duration::days(400),
            t - Duration::days(35),
            "certificate-expired",
            "expired at",
        ),
        (
            t + Duration::hours(3),
            t + Duration::days(300),
            "certificate-not-yet-valid",
            "clock",
        ),
        (
            t - Duration::days(1),
            t + Duration::days(900),
            "certificate-validity-too-long",
            "825",
        ),
    ];
    for (nb, na, code, needle) in cases {
        let spec = LeafSpec {
            not_before: nb,
            not_after: na,
            ..LeafSpec::valid_now()
        };
        let leaf = issue(&key, &a, &spec)?;
        let err = check_certificate(&leaf, &[], &key, &a, t).unwrap_err();
        ensure!(err.code() == code, "{code}: {err}");
        ensure!(err.to_string().contains(needle), "{err}");
    }
    // Within the five-minute skew a not-before ahead of our clock is accepted; beyond it the
    // certificate is refused, as transient (the same certificate is checked again later).
    let spec = LeafSpec {
        not_before: t + Duration::minutes(4),
        ..LeafSpec::valid_at(t)
    };
    let leaf = issue(&key, &a, &spec)?;
    check_certificate(&leaf, &[], &key, &a, t)?;
    let spec = LeafSpec {
        not_before: t + Duration::minutes(6),
        ..LeafSpec::valid_at(t)
    };
    let leaf = issue(&key, &a, &spec)?;
    let err = check_certificate(&leaf, &[], &key, &a, t).unwrap_err();
    ensure!(err.code() == "certificate-not-yet-valid", "{err}");
    ensure!(err.to_string().contains("more than 5 minutes"), "{err}");
    ensure!(err.is_transient(), "{err:?}");
    // The same certificate checked with a clock 400 days later has expired.
    let leaf = issue(&key, &a, &LeafSpec::valid_now())?;
    let err = check_certificate(&leaf, &[], &key, &a, t + Duration::days(400)).unwrap_err();
    ensure!(err.code() == "certificate-expired", "{err}");
    Ok(())
}

#[test]
fn a_chain_from_another_ca_is_refused() -> Result<()> {
    let key = ec_key();
    let a = addr("alice@example.com");
    let leaf = issue(&key, &a, &LeafSpec::valid_now())?;
    let other = TestCa::new("Other")?;
    let err = check_certificate(&leaf, &other.chain(), &key, &a, now()).unwrap_err();
    ensure!(err.code() == "certificate-chain-mismatch", "{err}");
    ensure!(err.to_string().contains("Other Email CA"), "{err}");
    Ok(())
}

// ---- what makes a mail client accept the certificate (S/MIME BR §7.1.2.3) ------------------

#[test]
fn a_ca_certificate_issued_for_the_mailbox_key_is_refused() -> Result<()> {
    let key = ec_key();
    let a = addr("alice@example.com");
    let spec = LeafSpec {
        ca: true,
        ..LeafSpec::valid_now()
    };
    let leaf = issue(&key, &a, &spec)?;
    let err = check_certificate(&leaf, &TestCa::shared().chain(), &key, &a, now()).unwrap_err();
    ensure!(err == CertificateRejected::IsCa, "{err:?}");
    ensure!(err.code() == "certificate-is-ca", "{err}");
    ensure!(
        err.to_string().contains("basicConstraints cA=TRUE")
            && err.to_string().contains("§7.1.2.3 d"),
        "{err}"
    );
    ensure!(!err.is_transient());
    Ok(())
}

#[test]
fn server_auth_code_signing_time_stamping_and_any_eku_beside_email_protection_are_refused(
) -> Result<()> {
    let key = ec_key();
    let a = addr("alice@example.com");
    for purpose in [
        "serverAuth",
        "codeSigning",
        "timeStamping",
        "anyExtendedKeyUsage",
    ] {
        let spec = LeafSpec {
            eku: Eku::EmailProtectionAnd(purpose),
            ..LeafSpec::valid_now()
        };
        let leaf = issue(&key, &a, &spec)?;
        let err = check_certificate(&leaf, &TestCa::shared().chain(), &key, &a, now()).unwrap_err();
        ensure!(
            err == CertificateRejected::ForbiddenExtendedKeyUsage {
                purposes: vec![purpose.to_string()]
            },
            "{purpose}: {err:?}"
        );
        ensure!(err.code() == "certificate-forbidden-eku", "{err}");
        ensure!(err.to_string().contains("§7.1.2.3 f"), "{err}");
    }
    Ok(())
}

#[test]
fn client_auth_beside_email_protection_is_accepted_as_multipurpose() -> Result<()> {
    // GlobalSign's PersonalSign carries clientAuth too; S/MIME BR §7.1.2.3 f allows other
    // purposes in Multipurpose certificates.
    let key = ec_key();
    let a = addr("alice@example.com");
    let spec = LeafSpec {
        eku: Eku::EmailProtectionAnd("clientAuth"),
        ..LeafSpec::valid_now()
    };
    let leaf = issue(&key, &a, &spec)?;
    check_certificate(&leaf, &TestCa::shared().chain(), &key, &a, now())?;
    Ok(())
}

/// Issues a leaf with exactly `bits` of key usage for `key` and checks it.
fn check_with_key_usage(key: &PrivateKey, ku: Ku) -> Result<Result<(), CertificateRejected>> {
    let a = addr("alice@example.com");
    let spec = LeafSpec {
        key_usage: ku,
        ..LeafSpec::valid_now()
    };
    let leaf = issue(key, &a, &spec)?;
    Ok(check_certificate(&leaf, &TestCa::shared().chain(), key, &a, now()).map(|_| ()))
}

#[test]
fn an_rsa_certificate_needs_digital_signature_and_key_encipherment() -> Result<()> {
    let key = rsa_key();
    let cases: [(&[&str], &str); 4] = [
        (&["digitalSignature"], "lacks keyEncipherment"),
        // keyAgreement is the EC way to receive mail; an RSA key cannot do key agreement.
        (
            &["digitalSignature", "keyAgreement"],
            "lacks keyEncipherment",
        ),
        (&["keyEncipherment"], "lacks digitalSignature"),
        (
            &["digitalSignature", "keyEncipherment", "keyCertSign"],
            "grants keyCertSign",
        ),
    ];
    for (bits, needle) in cases {
        let err = check_with_key_usage(key, Ku::Exactly(bits))?.unwrap_err();
        ensure!(err.code() == "certificate-key-usage", "{bits:?}: {err}");
        ensure!(err.to_string().contains(needle), "{bits:?}: {err}");
        ensure!(err.to_string().contains("§7.1.2.3 e"), "{err}");
        ensure!(!err.is_transient());
    }
    let err = check_with_key_usage(key, Ku::Absent)?.unwrap_err();
    ensure!(err.to_string().contains("no key usage extension"), "{err}");
    // The optional bits of the Multipurpose dual-use row are accepted.
    check_with_key_usage(
        key,
        Ku::Exactly(&[
            "digitalSignature",
            "keyEncipherment",
            "nonRepudiation",
            "dataEncipherment",
        ]),
    )??;
    Ok(())
}

#[test]
fn an_ec_certificate_needs_digital_signature_and_key_agreement() -> Result<()> {
    let key = ec_key();
    let cases: [(&[&str], &str); 4] = [
        // An EC key cannot encipher: keyEncipherment does not let anyone encrypt mail to it.
        (
            &["digitalSignature", "keyEncipherment"],
            "lacks keyAgreement",
        ),
        (&["digitalSignature"], "lacks keyAgreement"),
        (&["keyAgreement"], "lacks digitalSignature"),
        (
            &["digitalSignature", "keyAgreement", "cRLSign"],
            "grants cRLSign",
        ),
    ];
    for (bits, needle) in cases {
        let err = check_with_key_usage(&key, Ku::Exactly(bits))?.unwrap_err();
        ensure!(err.code() == "certificate-key-usage", "{bits:?}: {err}");
        ensure!(err.to_string().contains(needle), "{bits:?}: {err}");
    }
    check_with_key_usage(
        &key,
        Ku::Exactly(&[
            "digitalSignature",
            "keyAgreement",
            "nonRepudiation",
            "encipherOnly",
        ]),
    )??;
    Ok(())
}

#[test]
fn a_chain_whose_issuer_has_our_issuers_name_but_another_key_is_refused() -> Result<()> {
    // Same subject names as the shared CA ("Test Email CA"), different keys: names match,
    // signatures do not.
    let key = ec_key();
    let a = addr("alice@example.com");
    let leaf = issue(&key, &a, &LeafSpec::valid_now())?;
    let twin = TestCa::with_spec("Test", &CaSpec::default())?;
    let err = check_certificate(&leaf, &twin.chain(), &key, &a, now()).unwrap_err();
    ensure!(err.code() == "certificate-chain-mismatch", "{err}");
    ensure!(
        err.to_string()
            .contains("with a key that verifies the certificate's signature"),
        "{err}"
    );
    Ok(())
}

#[test]
fn a_chain_whose_root_did_not_sign_the_intermediate_is_refused() -> Result<()> {
    let key = ec_key();
    let a = addr("alice@example.com");
    let ca = TestCa::shared();
    let leaf = issue(&key, &a, &LeafSpec::valid_now())?;
    let twin = TestCa::with_spec("Test", &CaSpec::default())?;
    let chain = vec![ca.intermediate_pem(), twin.root_pem()];
    let err = check_certificate(&leaf, &chain, &key, &a, now()).unwrap_err();
    ensure!(err.code() == "certificate-chain-mismatch", "{err}");
    let msg = err.to_string();
    ensure!(
        msg.contains("ends at \"C=DE, O=smime-provisioner tests, CN=Test Email CA\"")
            && msg.contains("[\"C=DE, O=smime-provisioner tests, CN=Test Root CA\"] do not belong"),
        "{msg}"
    );
    // An unrelated extra certificate after a good chain is refused the same way.
    let mut extra = ca.chain();
    extra.push(TestCa::with_spec("Stray", &CaSpec::default())?.root_pem());
    let err = check_certificate(&leaf, &extra, &key, &a, now()).unwrap_err();
    ensure!(err.to_string().contains("Stray Root CA"), "{err}");
    Ok(())
}

#[test]
fn a_chain_in_any_order_is_accepted_when_it_links() -> Result<()> {
    let key = ec_key();
    let a = addr("alice@example.com");
    let ca = TestCa::shared();
    let leaf = issue(&key, &a, &LeafSpec::valid_now())?;
    check_certificate(
        &leaf,
        &[ca.root_pem(), ca.intermediate_pem()],
        &key,
        &a,
        now(),
    )?;
    // Only the intermediate (no root): it is the trust anchor of the check.
    check_certificate(&leaf, &[ca.intermediate_pem()], &key, &a, now())?;
    Ok(())
}

#[test]
fn a_chain_certificate_that_is_not_a_ca_is_refused_naming_it() -> Result<()> {
    let key = ec_key();
    let a = addr("alice@example.com");
    let ca = TestCa::with_spec(
        "NotCa",
        &CaSpec {
            intermediate_is_ca: false,
            ..CaSpec::default()
        },
    )?;
    let leaf = ca.issue(&build_csr(&key, &a)?, &LeafSpec::valid_now())?;
    let err = check_certificate(&leaf, &ca.chain(), &key, &a, now()).unwrap_err();
    ensure!(
        err == CertificateRejected::ChainNotCa {
            subject: "C=DE, O=smime-provisioner tests, CN=NotCa Email CA".into()
        },
        "{err:?}"
    );
    ensure!(err.code() == "certificate-chain-not-ca", "{err}");
    Ok(())
}

#[test]
fn chain_certificates_are_checked_against_the_injected_clock() -> Result<()> {
    let key = ec_key();
    let a = addr("alice@example.com");
    let t = now();
    let ca = TestCa::with_spec(
        "Short",
        &CaSpec {
            intermediate_validity: Some((t - Duration::days(10), t + Duration::days(100))),
            ..CaSpec::default()
        },
    )?;
    let csr = build_csr(&key, &a)?;
    let leaf = ca.issue(&csr, &LeafSpec::valid_at(t))?;
    check_certificate(&leaf, &ca.chain(), &key, &a, t)?;
    // 200 days later the leaf is still valid, its intermediate is not.
    let err = check_certificate(&leaf, &ca.chain(), &key, &a, t + Duration::days(200)).unwrap_err();
    ensure!(err.code() == "certificate-chain-expired", "{err}");
    ensure!(err.to_string().contains("Short Email CA"), "{err}");
    ensure!(!err.is_transient());

    // An intermediate that starts tomorrow is not yet valid (transient: check again later).
    let future = TestCa::with_spec(
        "Future",
        &CaSpec {
            intermediate_validity: Some((t + Duration::days(1), t + Duration::days(900))),
            ..CaSpec::default()
        },
    )?;
    let leaf = future.issue(&csr, &LeafSpec::valid_at(t))?;
    let err = check_certificate(&leaf, &future.chain(), &key, &a, t).unwrap_err();
    ensure!(err.code() == "certificate-chain-not-yet-valid", "{err}");
    ensure!(err.is_transient(), "{err:?}");
    check_certificate(&leaf, &future.chain(), &key, &a, t + Duration::days(2))?;
    Ok(())
}

#[test]
fn openssl_path_validation_refuses_what_mail_clients_refuse() -> Result<()> {
    let key = ec_key();
    let a = addr("alice@example.com");
    let csr = build_csr(&key, &a)?;
    let cases = [
        (
            // NSS and Windows chain EKUs: a CA limited to TLS servers cannot issue mail certs.
            "intermediate for TLS servers only",
            CaSpec {
                intermediate_eku: Some("serverAuth"),
                ..CaSpec::default()
            },
            "unsuitable certificate purpose",
        ),
        (
            "root allowing no intermediate",
            CaSpec {
                root_pathlen: Some(0),
                ..CaSpec::default()
            },
            "path length constraint exceeded",
        ),
        (
            "intermediate without keyCertSign",
            CaSpec {
                intermediate_cert_sign: false,
                ..CaSpec::default()
            },
            "invalid CA certificate",
        ),
    ];
    for (what, spec, reason) in cases {
        let ca = TestCa::with_spec("Odd", &spec)?;
        let leaf = ca.issue(&csr, &LeafSpec::valid_now())?;
        let err = check_certificate(&leaf, &ca.chain(), &key, &a, now()).unwrap_err();
        ensure!(err.code() == "certificate-chain-rejected", "{what}: {err}");
        ensure!(err.to_string().contains(reason), "{what}: {err}");
        ensure!(err
            .to_string()
            .starts_with("mail clients would not accept the chain"));
    }
    // An intermediate restricted to emailProtection is what S/MIME CAs use, and passes.
    let ca = TestCa::with_spec(
        "Mail",
        &CaSpec {
            intermediate_eku: Some("emailProtection"),
            ..CaSpec::default()
        },
    )?;
    let leaf = ca.issue(&csr, &LeafSpec::valid_now())?;
    check_certificate(&leaf, &ca.chain(), &key, &a, now())?;
    Ok(())
}

#[test]
fn concatenated_repeated_and_empty_chains_are_tolerated() -> Result<()> {
    let key = ec_key();
    let a = addr("alice@example.com");
    let ca = TestCa::shared();
    let leaf = issue(&key, &a, &LeafSpec::valid_now())?;
    let concatenated = vec![format!("{}\n{}", ca.intermediate_pem(), ca.root_pem())];
    let with_leaf_repeated = vec![leaf.clone(), ca.intermediate_pem(), String::new()];
    for chain in [
        ca.chain(),
        concatenated.clone(),
        with_leaf_repeated,
        vec![],
        vec![" \n".into()],
    ] {
        check_certificate(&leaf, &chain, &key, &a, now())?;
    }
    // Leaf and chain in one string, as some APIs return them.
    let all_in_one = format!("{leaf}{}", ca.intermediate_pem());
    check_certificate(&all_in_one, &[], &key, &a, now())?;
    ensure!(split_certificates(&concatenated)?.len() == 2);
    // A bundle can be built from the concatenated form and holds the two chain certificates.
    let pw = generate_password(&mut StdRng::seed_from_u64(2));
    let der = build_pkcs12(&key, &leaf, &concatenated, &a, &pw, Pkcs12Profile::Modern)?;
    ensure!(verify_pkcs12(&der, &pw, Pkcs12Profile::Modern)?.chain_len == 2);
    Ok(())
}

#[test]
fn truncated_garbage_and_missing_pem_get_clear_errors() -> Result<()> {
    let key = ec_key();
    let a = addr("alice@example.com");
    let leaf = issue(&key, &a, &LeafSpec::valid_now())?;
    let truncated = &leaf[..leaf.len() / 2];
    let body_cut = leaf.replacen("-----END CERTIFICATE-----", "", 1);
    let bad_base64 = leaf.replacen("MII", "M!I", 1);
    let cases: [(&str, &str, &str); 5] = [
        (
            truncated,
            "certificate-malformed",
            "the certificate is not a readable PEM",
        ),
        (&body_cut, "certificate-malformed", "truncated or garbled"),
        (&bad_base64, "certificate-malformed", "the certificate"),
        (
            "<html>502 Bad Gateway</html>",
            "certificate-malformed",
            "no -----BEGIN CERTIFICATE",
        ),
        ("", "certificate-missing", "holds no certificate"),
    ];
    for (input, code, needle) in cases {
        let err = check_certificate(input, &[], &key, &a, now()).unwrap_err();
        ensure!(err.code() == code, "{input:?}: {err}");
        ensure!(err.to_string().contains(needle), "{input:?}: {err}");
        ensure!(err.is_transient(), "a re-fetch may fix {input:?}");
    }
    let chain = vec![TestCa::shared().intermediate_pem(), "garbage".to_string()];
    let err = check_certificate(&leaf, &chain, &key, &a, now()).unwrap_err();
    ensure!(err.to_string().contains("the chain (entry 2)"), "{err}");
    // The same errors reach build_pkcs12's caller, wrapped in CryptoError.
    let pw = generate_password(&mut StdRng::seed_from_u64(3));
    let err = build_pkcs12(&key, truncated, &[], &a, &pw, Pkcs12Profile::Modern).unwrap_err();
    ensure!(matches!(
        err,
        CryptoError::Certificate(CertificateRejected::Malformed { .. })
    ));
    Ok(())
}

// ---- bundles --------------------------------------------------------------------------------

fn good_bundle(key: &PrivateKey, profile: Pkcs12Profile) -> Result<(Vec<u8>, Password, String)> {
    let a = addr("alice@example.com");
    let leaf = issue(key, &a, &LeafSpec::valid_now())?;
    let pw = generate_password(&mut StdRng::seed_from_u64(4));
    let der = build_pkcs12(key, &leaf, &TestCa::shared().chain(), &a, &pw, profile)?;
    Ok((der, pw, leaf))
}

#[test]
fn a_wrong_password_is_rejected_as_such() -> Result<()> {
    let (der, pw, _) = good_bundle(&ec_key(), Pkcs12Profile::Modern)?;
    let wrong = generate_password(&mut StdRng::seed_from_u64(99));
    ensure!(wrong != pw);
    let err = verify_pkcs12(&der, &wrong, Pkcs12Profile::Modern).unwrap_err();
    ensure!(matches!(err, CryptoError::WrongPassword), "{err:?}");
    ensure!(!err.to_string().contains(wrong.expose()), "{err}");
    Ok(())
}

#[test]
fn a_bundle_checked_against_the_other_profile_is_refused() -> Result<()> {
    let (der, pw, _) = good_bundle(&ec_key(), Pkcs12Profile::Compat)?;
    let err = verify_pkcs12(&der, &pw, Pkcs12Profile::Modern)
        .unwrap_err()
        .to_string();
    ensure!(
        err.contains("those of the compat profile, but modern is configured"),
        "{err}"
    );
    Ok(())
}

#[test]
fn an_empty_chain_cannot_be_bundled() -> Result<()> {
    let key = ec_key();
    let a = addr("alice@example.com");
    let leaf = issue(&key, &a, &LeafSpec::valid_now())?;
    let pw = generate_password(&mut StdRng::seed_from_u64(5));
    let err = build_pkcs12(&key, &leaf, &[], &a, &pw, Pkcs12Profile::Modern).unwrap_err();
    ensure!(
        err.to_string()
            .contains("no issuing chain for alice@example.com"),
        "{err}"
    );
    Ok(())
}

#[test]
fn a_truncated_or_flipped_bundle_is_refused() -> Result<()> {
    let (der, pw, _) = good_bundle(&ec_key(), Pkcs12Profile::Modern)?;
    let err = verify_pkcs12(&der[..der.len() - 10], &pw, Pkcs12Profile::Modern).unwrap_err();
    ensure!(err.code() == "bad-bundle", "{err}");
    // One flipped bit inside the signed content breaks the MAC.
    let mut flipped = der.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x01;
    ensure!(verify_pkcs12(&flipped, &pw, Pkcs12Profile::Modern).is_err());
    Ok(())
}

/// Bundles made by the openssl CLI that break one rule each are refused with that rule.
#[test]
fn foreign_bundles_with_rc2_plain_certificates_or_no_chain_are_refused() -> Result<()> {
    require_tool("openssl", "openssl");
    let key = rsa_key();
    let (_, _, leaf) = good_bundle(key, Pkcs12Profile::Modern)?;
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let key_file = write_private(d, "key.pem", key.to_pem().expose())?;
    let leaf_file = write_private(d, "leaf.pem", leaf.as_bytes())?;
    let chain_file = write_private(d, "chain.pem", TestCa::shared().chain().concat().as_bytes())?;
    let pass = "abcd-efgh-jkmn-pqrs";
    let pw = Password::from_secret(Secret::new(pass.to_string()))?;
    let export = |name: &str, extra: &[&str], with_chain: bool| -> Result<Vec<u8>> {
        let out = d.join(name);
        let mut cmd = Command::new("openssl");
        cmd.args(["pkcs12", "-export", "-name", "alice@example.com", "-inkey"])
            .arg(&key_file)
            .arg("-in")
            .arg(&leaf_file)
            .args(["-passout", &format!("pass:{pass}")])
            .args(extra)
            .arg("-out")
            .arg(&out);
        if with_chain {
            cmd.arg("-certfile").arg(&chain_file);
        }
        run_ok(&mut cmd, None)?;
        Ok(std::fs::read(out)?)
    };
    // The default CLI export equals our modern profile and passes.
    let plain_modern = export("modern.p12", &[], true)?;
    ensure!(verify_pkcs12(&plain_modern, &pw, Pkcs12Profile::Modern)?.chain_len == 2);

    let cases: Vec<(&str, Vec<u8>, Pkcs12Profile, &str)> = vec![
        (
            "unencrypted certificates",
            export("nocertpbe.p12", &["-certpbe", "NONE"], true)?,
            Pkcs12Profile::Modern,
            "unencrypted certificate",
        ),
        (
            "no chain",
            export("nochain.p12", &[], false)?,
            Pkcs12Profile::Modern,
            "no chain certificate",
        ),
        (
            "SHA-1 MAC with AES bags",
            export("mixed.p12", &["-macalg", "sha1"], true)?,
            Pkcs12Profile::Modern,
            "match no profile",
        ),
    ];
    for (what, der, profile, needle) in cases {
        let err = verify_pkcs12(&der, &pw, profile).unwrap_err().to_string();
        ensure!(err.contains(needle), "{what}: {err}");
    }
    // RC2 needs OpenSSL's legacy provider to even create; where the CLI has it, the result is
    // refused by our verifier. (Debian's libssl3 ships the provider.)
    let rc2 = export("rc2.p12", &["-legacy"], true)?;
    let err = verify_pkcs12(&rc2, &pw, Pkcs12Profile::Compat)
        .unwrap_err()
        .to_string();
    ensure!(
        err.contains("it uses RC2 (1.2.840.113549.1.12.1.6)"),
        "{err}"
    );
    Ok(())
}

// ---- CSRs ---------------------------------------------------------------------------------

#[test]
fn the_csr_carries_the_address_in_cn_email_and_san_signed_with_sha256() -> Result<()> {
    require_tool("openssl", "openssl");
    for (key, sig) in [
        (rsa_key().clone(), "sha256WithRSAEncryption"),
        (ec_key(), "ecdsa-with-SHA256"),
    ] {
        let a = addr("o'brien+tag@Example.org");
        let csr = build_csr(&key, &a)?;
        let dir = tempfile::tempdir()?;
        let f = write_private(dir.path(), "req.pem", csr.as_bytes())?;
        let text = run_ok(
            Command::new("openssl")
                .args(["req", "-verify", "-noout", "-text", "-in"])
                .arg(&f),
            None,
        )?;
        ensure!(text.contains("self-signature verify OK"), "{text}");
        ensure!(
            // The CLI quotes values holding characters such as `'` and `+`.
            text.contains(
                "Subject: CN = \"o'brien+tag@example.org\", emailAddress = \"o'brien+tag@example.org\""
            ),
            "{text}"
        );
        ensure!(text.contains("email:o'brien+tag@example.org"), "{text}");
        ensure!(
            text.contains(&format!("Signature Algorithm: {sig}")),
            "{text}"
        );
    }
    Ok(())
}

#[test]
fn an_address_longer_than_a_common_name_allows_is_refused_before_any_order() -> Result<()> {
    let local = "a".repeat(60);
    let a = addr(&format!("{local}@example.com"));
    let err = build_csr(&ec_key(), &a).unwrap_err();
    ensure!(err.code() == "address-not-representable", "{err}");
    let msg = err.to_string();
    ensure!(msg.contains(&local) && msg.contains("at most 64"), "{msg}");
    // 64 characters exactly still fits.
    let fits = addr(&format!(
        "{}@example.com",
        "b".repeat(64 - "@example.com".len())
    ));
    ensure!(fits.as_str().len() == 64);
    build_csr(&ec_key(), &fits)?;
    Ok(())
}

#[test]
fn no_prefix_or_bit_flip_of_a_bundle_makes_the_verifier_panic_or_accept() -> Result<()> {
    let (der, pw, _) = good_bundle(&ec_key(), Pkcs12Profile::Modern)?;
    for cut in 0..der.len() {
        ensure!(
            verify_pkcs12(&der[..cut], &pw, Pkcs12Profile::Modern).is_err(),
            "prefix {cut}"
        );
    }
    // Flipping any one of the first 200 bytes (the PFX framing and the first bags' headers and
    // algorithm identifiers) is refused too.
    for i in 0..200.min(der.len()) {
        let mut bad = der.clone();
        bad[i] ^= 0x04;
        ensure!(
            verify_pkcs12(&bad, &pw, Pkcs12Profile::Modern).is_err(),
            "flip at {i}"
        );
    }
    Ok(())
}

// ---- the bundled simulator's certificates -------------------------------------------------

/// Orders a certificate for our own key and CSR from the bundled simulator over its JSON API (as
/// the pipeline's AutoDNS client would) and returns the leaf, the chain and the simulator's now.
async fn simulator_certificate(
    key: &PrivateKey,
    a: &Address,
) -> Result<(String, Vec<String>, OffsetDateTime)> {
    use smime_provisioner::clock::Clock;
    let (cfg, clock) = support::simulator::manual_config();
    let sim = support::simulator::start(cfg).await?;
    let api = support::simulator::Json::new(&sim);
    let contact = support::simulator::make_contact(&api).await?;
    let body = support::simulator::order_body(a.as_str(), contact, &build_csr(key, a)?);
    let ordered = api.call("POST", "/certificate", Some(body)).await?;
    ensure!(
        ordered.code() == "N400101",
        "order refused: {}",
        ordered.body
    );
    // The job finishes once the simulator's clock passes its issuance delay.
    clock.advance(Duration::seconds(1));
    let poll = api.call("GET", "/poll", None).await?;
    let id = poll.data0()["object"]["data"]["id"].as_i64();
    let Some(id) = id else {
        anyhow::bail!("no issuance message after the clock moved: {}", poll.body);
    };
    let got = api.call("GET", &format!("/certificate/{id}"), None).await?;
    let leaf = got.data0()["server"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let chain: Vec<String> = got.data0()["certificationAuthority"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(|x| x["caCertificate"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    ensure!(
        chain == sim.ca_chain_pem(),
        "the simulator's chain: {chain:?}"
    );
    let now = clock.now();
    sim.shutdown().await;
    Ok((leaf, chain, now))
}

#[tokio::test]
async fn certificates_from_the_bundled_simulator_pass_every_check() -> Result<()> {
    // The product's default key type and the fast EC one: the simulator gives RSA keys
    // keyEncipherment and EC keys keyAgreement, and both must pass.
    for (key, address) in [
        (rsa_key().clone(), "alice@example.com"),
        (ec_key(), "bob@xn--bcher-kva.example"),
    ] {
        let a = addr(address);
        let (leaf, chain, now) = simulator_certificate(&key, &a).await?;
        let info = check_certificate(&leaf, &chain, &key, &a, now)?;
        ensure!(info.subject_email == address, "{info:?}");
        ensure!(
            info.issuer.contains("Simulator S/MIME Intermediate CA"),
            "{info:?}"
        );
        // Still accepted the day before it expires, refused from then on.
        let last_day = info.not_after - Duration::days(1);
        check_certificate(&leaf, &chain, &key, &a, last_day)?;
        let err = check_certificate(&leaf, &chain, &key, &a, info.not_after).unwrap_err();
        ensure!(err.code() == "certificate-expired", "{err}");
        // And a bundle of it verifies in the configured profile.
        let pw = generate_password(&mut StdRng::seed_from_u64(6));
        let der = build_pkcs12(&key, &leaf, &chain, &a, &pw, Pkcs12Profile::Modern)?;
        ensure!(verify_pkcs12(&der, &pw, Pkcs12Profile::Modern)?.chain_len == 2);
    }
    Ok(())
}
