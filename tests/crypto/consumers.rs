//! Bundles made by `crypto::build_pkcs12` fed to the real consumers a mail user's client stands
//! for: the `openssl` CLI with its default provider (no `-legacy`), NSS `pk12util` (Thunderbird's
//! library) for both profiles, `gpgsm` for the compat profile with RSA, and S/MIME signatures made
//! with the imported key — by `openssl smime -sign`, by NSS `cmsutil` and by `gpgsm --sign` from
//! their own key stores — that `openssl smime -verify` accepts against the chain.
//!
//! Certificates come from a test CA (`support::ca`) that signs the CSR `build_csr` made.

use std::process::Command;

use anyhow::{ensure, Context, Result};
use rand::rngs::StdRng;
use rand::SeedableRng;
use smime_provisioner::crypto::{
    build_csr, build_pkcs12, check_certificate, generate_password, trips_gpgsm_kdf_defect,
    verify_pkcs12, Password, Pkcs12Profile, PrivateKey,
};
use smime_provisioner::mailbox::Address;
use support::ca::{ec_key, rsa_key, LeafSpec, TestCa};
use support::tools::{require_tool, run, run_ok, write_private};
use time::OffsetDateTime;

/// Everything one bundle test needs: the CA, the bundle bytes, its password, a temp dir.
struct Made {
    ca: &'static TestCa,
    address: Address,
    der: Vec<u8>,
    password: Password,
    leaf_pem: String,
    dir: tempfile::TempDir,
}

fn make_bundle(key: &PrivateKey, addr: &str, profile: Pkcs12Profile, seed: u64) -> Result<Made> {
    let ca = TestCa::shared();
    let address = Address::parse(addr)?;
    let csr = build_csr(key, &address)?;
    let leaf_pem = ca.issue(&csr, &LeafSpec::valid_now())?;
    check_certificate(
        &leaf_pem,
        &ca.chain(),
        key,
        &address,
        OffsetDateTime::now_utc(),
    )?;
    let password = generate_password(&mut StdRng::seed_from_u64(seed));
    let der = build_pkcs12(key, &leaf_pem, &ca.chain(), &address, &password, profile)?;
    Ok(Made {
        ca,
        address,
        der,
        password,
        leaf_pem,
        dir: tempfile::tempdir()?,
    })
}

impl Made {
    fn p12_path(&self) -> Result<std::path::PathBuf> {
        write_private(self.dir.path(), "bundle.p12", &self.der)
    }
    fn pass_file(&self) -> Result<std::path::PathBuf> {
        write_private(self.dir.path(), "pass", self.password.expose().as_bytes())
    }
}

/// `pk12util -i BUNDLE -d DB -w PASSFILE`: NSS (Thunderbird's library) importing `m`'s bundle
/// with its password file.
fn pk12util_import(m: &Made, db_arg: &str) -> Result<Command> {
    let mut c = Command::new("pk12util");
    c.arg("-i")
        .arg(m.p12_path()?)
        .args(["-d", db_arg])
        .arg("-w")
        .arg(m.pass_file()?);
    Ok(c)
}

/// Creates a private GnuPG home for one test (gpgsm refuses a group- or world-readable one).
fn make_gnupg_home(home: &std::path::Path) -> Result<()> {
    std::fs::create_dir(home)?;
    std::fs::set_permissions(home, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    Ok(())
}

/// Stops the gpg-agent gpgsm started for `home`, whatever the test's outcome.
fn stop_gpg_agent(home: &std::path::Path) {
    let _ = run(
        Command::new("gpgconf")
            .env("GNUPGHOME", home)
            .args(["--kill", "gpg-agent"]),
        None,
    );
}

/// `openssl pkcs12 -info` output for a bundle, default provider only.
fn openssl_info(m: &Made) -> Result<String> {
    require_tool("openssl", "openssl");
    let p12 = m.p12_path()?;
    let pass = m.pass_file()?;
    run_ok(
        Command::new("openssl")
            .args(["pkcs12", "-info", "-noout", "-in"])
            .arg(&p12)
            .arg("-passin")
            .arg(format!("file:{}", pass.display())),
        None,
    )
}

#[test]
fn a_modern_bundle_opens_in_the_openssl_cli_with_aes_pbkdf2_sha256_and_no_legacy_provider(
) -> Result<()> {
    for key in [rsa_key().clone(), ec_key()] {
        let m = make_bundle(&key, "alice@example.com", Pkcs12Profile::Modern, 1)?;
        let info = openssl_info(&m)?;
        ensure!(info.contains("MAC: sha256"), "{info}");
        ensure!(
            info.contains("PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC")
                && info.contains("Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC")
                && info.contains("PRF hmacWithSHA256"),
            "{info}"
        );
        ensure!(!info.contains("RC2") && !info.contains("3DES"), "{info}");
    }
    Ok(())
}

#[test]
fn a_compat_bundle_opens_in_the_openssl_cli_with_3des_and_sha1_mac_and_never_rc2() -> Result<()> {
    let m = make_bundle(rsa_key(), "bob@example.com", Pkcs12Profile::Compat, 2)?;
    let info = openssl_info(&m)?;
    ensure!(info.contains("MAC: sha1"), "{info}");
    ensure!(
        info.contains("PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC")
            && info.contains("Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC"),
        "{info}"
    );
    ensure!(!info.contains("RC2"), "{info}");
    Ok(())
}

#[test]
fn the_openssl_cli_finds_key_certificate_chain_and_friendly_name_in_the_bundle() -> Result<()> {
    let m = make_bundle(rsa_key(), "carol@example.com", Pkcs12Profile::Modern, 3)?;
    let p12 = m.p12_path()?;
    let pass = m.pass_file()?;
    let out = run_ok(
        Command::new("openssl")
            .args(["pkcs12", "-nodes", "-in"])
            .arg(&p12)
            .arg("-passin")
            .arg(format!("file:{}", pass.display())),
        None,
    )?;
    ensure!(
        out.matches("-----BEGIN CERTIFICATE-----").count() == 3,
        "leaf + 2 chain: {out}"
    );
    ensure!(
        out.matches("-----BEGIN PRIVATE KEY-----").count() == 1,
        "{out}"
    );
    ensure!(
        out.matches("friendlyName: carol@example.com").count() >= 2,
        "key and cert: {out}"
    );
    ensure!(out.contains("localKeyID"), "{out}");
    Ok(())
}

/// Imports into a fresh NSS database and returns `certutil -L` and `-K` listings.
fn nss_import(m: &Made) -> Result<String> {
    require_tool("certutil", "libnss3-tools");
    require_tool("pk12util", "libnss3-tools");
    let db = m.dir.path().join("nssdb");
    std::fs::create_dir(&db)?;
    let db_arg = format!("sql:{}", db.display());
    run_ok(
        Command::new("certutil").args(["-N", "-d", &db_arg, "--empty-password"]),
        None,
    )?;
    let out = run_ok(&mut pk12util_import(m, &db_arg)?, None)?;
    ensure!(out.contains("PKCS12 IMPORT SUCCESSFUL"), "{out}");
    let certs = run_ok(Command::new("certutil").args(["-L", "-d", &db_arg]), None)?;
    let keys = run_ok(Command::new("certutil").args(["-K", "-d", &db_arg]), None)?;
    Ok(format!("{certs}\n{keys}"))
}

#[test]
fn nss_pk12util_imports_both_profiles_with_rsa_and_p256_keys() -> Result<()> {
    let cases = [
        (rsa_key().clone(), Pkcs12Profile::Modern, "rsa"),
        (rsa_key().clone(), Pkcs12Profile::Compat, "rsa"),
        (ec_key(), Pkcs12Profile::Modern, "ec"),
        (ec_key(), Pkcs12Profile::Compat, "ec"),
    ];
    for (i, (key, profile, alg)) in cases.into_iter().enumerate() {
        let m = make_bundle(&key, "dave@example.com", profile, 10 + i as u64)?;
        let listing = nss_import(&m)?;
        ensure!(listing.contains("dave@example.com"), "{profile}: {listing}");
        ensure!(
            listing
                .lines()
                .any(|l| l.contains(alg) && l.contains("dave@example.com")),
            "{profile}: no {alg} key under the friendly name: {listing}"
        );
        ensure!(
            listing.contains("Test Email CA"),
            "chain imported: {listing}"
        );
    }
    Ok(())
}

#[test]
fn nss_pk12util_refuses_a_bundle_with_the_wrong_password() -> Result<()> {
    let mut m = make_bundle(&ec_key(), "erin@example.com", Pkcs12Profile::Modern, 20)?;
    m.password = generate_password(&mut StdRng::seed_from_u64(21));
    require_tool("pk12util", "libnss3-tools");
    let db = m.dir.path().join("nssdb");
    std::fs::create_dir(&db)?;
    let db_arg = format!("sql:{}", db.display());
    run_ok(
        Command::new("certutil").args(["-N", "-d", &db_arg, "--empty-password"]),
        None,
    )?;
    let out = run(&mut pk12util_import(&m, &db_arg)?, None)?;
    ensure!(!out.status.success(), "pk12util accepted a wrong password");
    Ok(())
}

#[test]
fn gpgsm_imports_the_compat_profile_with_an_rsa_key() -> Result<()> {
    require_tool("gpgsm", "gpgsm");
    let m = make_bundle(rsa_key(), "frank@example.com", Pkcs12Profile::Compat, 30)?;
    let home = m.dir.path().join("gnupg");
    make_gnupg_home(&home)?;
    let p12 = m.p12_path()?;
    let gpgsm = |args: &[&str]| {
        let mut c = Command::new("gpgsm");
        c.env("GNUPGHOME", &home)
            .args(["--batch", "--no-tty"])
            .args(args);
        c
    };
    let mut pw = m.password.expose().as_bytes().to_vec();
    pw.push(b'\n');
    let result = (|| -> Result<()> {
        let mut import = gpgsm(&[
            "--pinentry-mode",
            "loopback",
            "--passphrase-fd",
            "0",
            "--import",
        ]);
        import.arg(&p12);
        let out = run_ok(&mut import, Some(&pw))?;
        ensure!(out.contains("secret keys imported: 1"), "{out}");
        let listing = run_ok(&mut gpgsm(&["--list-secret-keys"]), None)?;
        ensure!(listing.contains("frank@example.com"), "{listing}");
        ensure!(listing.contains("key type: 3072 bit RSA"), "{listing}");
        let all = run_ok(&mut gpgsm(&["--list-keys"]), None)?;
        ensure!(all.contains("Test Email CA"), "chain imported: {all}");
        Ok(())
    })();
    // The import started a gpg-agent for this home; stop it whatever the outcome.
    stop_gpg_agent(&home);
    result
}

/// Extracts the key and the leaf from the bundle with the openssl CLI (what "importing" means
/// for openssl), signs a message with them, and verifies it against the test root.
fn sign_and_verify(m: &Made) -> Result<()> {
    require_tool("openssl", "openssl");
    let d = m.dir.path();
    let (p12, pass) = (m.p12_path()?, m.pass_file()?);
    let passin = format!("file:{}", pass.display());
    let key_pem = run_ok(
        Command::new("openssl")
            .args(["pkcs12", "-nocerts", "-nodes", "-in"])
            .arg(&p12)
            .args(["-passin", &passin]),
        None,
    )?;
    let cert_pem = run_ok(
        Command::new("openssl")
            .args(["pkcs12", "-clcerts", "-nokeys", "-in"])
            .arg(&p12)
            .args(["-passin", &passin]),
        None,
    )?;
    let chain_pem = run_ok(
        Command::new("openssl")
            .args(["pkcs12", "-cacerts", "-nokeys", "-in"])
            .arg(&p12)
            .args(["-passin", &passin]),
        None,
    )?;
    let key = write_private(d, "key.pem", key_pem.as_bytes())?;
    let cert = write_private(d, "cert.pem", cert_pem.as_bytes())?;
    let chain = write_private(d, "chain.pem", chain_pem.as_bytes())?;
    let root = write_private(d, "root.pem", m.ca.root_pem().as_bytes())?;
    let msg = write_private(d, "msg.txt", b"Hello from the provisioner.\r\n")?;
    let signed = d.join("signed.eml");
    run_ok(
        Command::new("openssl")
            .args(["smime", "-sign", "-in"])
            .arg(&msg)
            .arg("-signer")
            .arg(&cert)
            .arg("-inkey")
            .arg(&key)
            .arg("-certfile")
            .arg(&chain)
            .arg("-out")
            .arg(&signed),
        None,
    )?;
    let verified = d.join("verified.txt");
    let out = run_ok(
        Command::new("openssl")
            .args(["smime", "-verify", "-purpose", "smimesign", "-in"])
            .arg(&signed)
            .arg("-CAfile")
            .arg(&root)
            .arg("-out")
            .arg(&verified),
        None,
    )?;
    ensure!(out.contains("Verification successful"), "{out}");
    ensure!(
        std::fs::read(&verified)? == std::fs::read(&msg)?,
        "content changed"
    );
    ensure!(
        cert_pem.contains(&m.leaf_pem.lines().nth(1).context("leaf PEM")?[..40]),
        "leaf"
    );

    // The same signature must fail against an unrelated root: the check above can fail.
    let other = TestCa::new("Unrelated")?;
    let other_root = write_private(d, "other-root.pem", other.root_pem().as_bytes())?;
    let out = run(
        Command::new("openssl")
            .args(["smime", "-verify", "-in"])
            .arg(&signed)
            .arg("-CAfile")
            .arg(&other_root)
            .arg("-out")
            .arg(d.join("x.txt")),
        None,
    )?;
    ensure!(!out.status.success(), "verified against an unrelated root");
    Ok(())
}

#[test]
fn a_message_signed_with_the_key_from_a_modern_bundle_verifies_against_the_chain() -> Result<()> {
    for key in [rsa_key().clone(), ec_key()] {
        let m = make_bundle(&key, "grace@example.com", Pkcs12Profile::Modern, 40)?;
        sign_and_verify(&m)?;
    }
    Ok(())
}

#[test]
fn a_message_signed_with_the_key_from_a_compat_bundle_verifies_against_the_chain() -> Result<()> {
    let m = make_bundle(rsa_key(), "heidi@example.com", Pkcs12Profile::Compat, 50)?;
    sign_and_verify(&m)
}

#[test]
fn our_own_verifier_reports_what_the_bundle_holds() -> Result<()> {
    let m = make_bundle(rsa_key(), "ivan@example.com", Pkcs12Profile::Compat, 60)?;
    let summary = verify_pkcs12(&m.der, &m.password, Pkcs12Profile::Compat)?;
    ensure!(summary.profile == Pkcs12Profile::Compat);
    ensure!(
        summary.friendly_name.as_deref() == Some(m.address.as_str()),
        "{summary:?}"
    );
    ensure!(summary.chain_len == 2, "{summary:?}");
    ensure!(summary.mac_iterations == 2048, "{summary:?}");
    ensure!(summary.key_type == rsa_key().key_type(), "{summary:?}");
    Ok(())
}

/// Verifies a DER CMS signature with the openssl CLI against the test root; returns the content.
fn openssl_verify_der(m: &Made, sig_der: &std::path::Path) -> Result<Vec<u8>> {
    let d = m.dir.path();
    let root = write_private(d, "root-for-verify.pem", m.ca.root_pem().as_bytes())?;
    let content = d.join("verified-content");
    let out = run_ok(
        Command::new("openssl")
            .args([
                "smime",
                "-verify",
                "-purpose",
                "smimesign",
                "-inform",
                "DER",
                "-in",
            ])
            .arg(sig_der)
            .arg("-CAfile")
            .arg(&root)
            .arg("-out")
            .arg(&content),
        None,
    )?;
    ensure!(out.contains("Verification successful"), "{out}");
    Ok(std::fs::read(content)?)
}

#[test]
fn nss_signs_with_the_key_it_imported_and_openssl_verifies_the_signature() -> Result<()> {
    require_tool("cmsutil", "libnss3-tools");
    for (key, profile) in [
        (rsa_key().clone(), Pkcs12Profile::Modern),
        (ec_key(), Pkcs12Profile::Compat),
    ] {
        let m = make_bundle(&key, "judy@example.com", profile, 70)?;
        let d = m.dir.path();
        let db = d.join("nssdb");
        std::fs::create_dir(&db)?;
        let db_arg = format!("sql:{}", db.display());
        run_ok(
            Command::new("certutil").args(["-N", "-d", &db_arg, "--empty-password"]),
            None,
        )?;
        // Trust the test root for e-mail first (what an admin or the OS store does for a public
        // CA), then import the user's bundle the way Thunderbird does.
        let root = write_private(d, "root.pem", m.ca.root_pem().as_bytes())?;
        run_ok(
            Command::new("certutil")
                .args(["-A", "-n", "test-root", "-t", "C,C,C", "-d", &db_arg, "-i"])
                .arg(&root),
            None,
        )?;
        run_ok(&mut pk12util_import(&m, &db_arg)?, None)?;
        let msg = write_private(d, "msg.txt", b"Signed by NSS.\r\n")?;
        let sig = d.join("nss.p7m");
        run_ok(
            Command::new("cmsutil")
                .args(["-S", "-N", "judy@example.com", "-d", &db_arg, "-i"])
                .arg(&msg)
                .arg("-o")
                .arg(&sig),
            None,
        )?;
        let content = openssl_verify_der(&m, &sig)?;
        ensure!(
            content == b"Signed by NSS.\r\n",
            "{profile}: content changed"
        );
    }
    Ok(())
}

/// gpgsm 2.2 derives a wrong 3DES key for about one bag salt in 128 (src/crypto/pkcs12_kdf.rs
/// explains the defect). Bundles built the plain OpenSSL way, with the compat profile's
/// algorithms, until one trips it: the real gpgsm refuses exactly that one with the right password
/// and imports an untripped one, so the prediction matches gpgsm; and `build_pkcs12` never
/// returns a tripping bundle (without its rebuild, 300 builds would hold one with p ≈ 99%).
#[test]
fn gpgsm_refuses_a_compat_bundle_whose_salt_trips_its_key_derivation_and_build_pkcs12_never_makes_one(
) -> Result<()> {
    use openssl::{
        hash::MessageDigest, nid::Nid, pkcs12::Pkcs12, pkey::PKey, stack::Stack, x509::X509,
    };
    require_tool("gpgsm", "gpgsm");
    let m = make_bundle(rsa_key(), "lena@example.com", Pkcs12Profile::Compat, 90)?;
    let mut chain = Stack::new()?;
    for pem in m.ca.chain() {
        chain.push(X509::from_pem(pem.as_bytes())?)?;
    }
    let pkey = PKey::private_key_from_pem(rsa_key().to_pem().expose())?;
    let leaf = X509::from_pem(m.leaf_pem.as_bytes())?;
    let mut builder = Pkcs12::builder();
    builder
        .name("lena@example.com")
        .pkey(&pkey)
        .cert(&leaf)
        .ca(chain)
        .key_algorithm(Nid::PBE_WITHSHA1AND3_KEY_TRIPLEDES_CBC)
        .cert_algorithm(Nid::PBE_WITHSHA1AND3_KEY_TRIPLEDES_CBC)
        .key_iter(2048)
        .mac_iter(2048)
        .mac_md(MessageDigest::sha1());
    let (mut tripping, mut clean) = (None, None);
    for _ in 0..5000 {
        let der = builder.build2(m.password.expose())?.to_der()?;
        if trips_gpgsm_kdf_defect(&der, &m.password)? {
            tripping.get_or_insert(der);
        } else {
            clean.get_or_insert(der);
        }
        if tripping.is_some() && clean.is_some() {
            break;
        }
    }
    let tripping = tripping.context("5000 plain builds and not one tripped the defect")?;
    let clean = clean.context("no plain build was clear of the defect")?;

    let mut pw = m.password.expose().as_bytes().to_vec();
    pw.push(b'\n');
    let import = |name: &str, der: &[u8]| -> Result<std::process::Output> {
        let home = m.dir.path().join(format!("gnupg-{name}"));
        make_gnupg_home(&home)?;
        let p12 = write_private(m.dir.path(), &format!("{name}.p12"), der)?;
        let out = run(
            Command::new("gpgsm")
                .env("GNUPGHOME", &home)
                .args(["--batch", "--no-tty", "--pinentry-mode", "loopback"])
                .args(["--passphrase-fd", "0", "--import"])
                .arg(&p12),
            Some(&pw),
        );
        stop_gpg_agent(&home);
        out
    };
    let refused = import("tripping", &tripping)?;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    ensure!(
        !refused.status.success() && stderr.contains("decryption failed"),
        "gpgsm opened the bundle predicted to trip it: {stderr}"
    );
    let accepted = import("clean", &clean)?;
    let stderr = String::from_utf8_lossy(&accepted.stderr);
    ensure!(
        accepted.status.success() && stderr.contains("secret keys imported: 1"),
        "gpgsm refused a bundle predicted to be clear: {stderr}"
    );

    let address = Address::parse("lena@example.com")?;
    for _ in 0..300 {
        let der = build_pkcs12(
            rsa_key(),
            &m.leaf_pem,
            &m.ca.chain(),
            &address,
            &m.password,
            Pkcs12Profile::Compat,
        )?;
        ensure!(
            !trips_gpgsm_kdf_defect(&der, &m.password)?,
            "build_pkcs12 returned a bundle gpgsm 2.2 cannot open"
        );
    }
    Ok(())
}

#[test]
fn gpgsm_signs_with_the_key_it_imported_from_a_compat_bundle_and_openssl_verifies_it() -> Result<()>
{
    require_tool("gpgsm", "gpgsm");
    let m = make_bundle(rsa_key(), "ken@example.com", Pkcs12Profile::Compat, 80)?;
    let d = m.dir.path();
    let home = d.join("gnupg");
    make_gnupg_home(&home)?;
    // The test root is trusted for S/MIME, and the test CA publishes no CRLs.
    std::fs::write(
        home.join("trustlist.txt"),
        format!("{} S\n", m.ca.root_sha1_colons()),
    )?;
    std::fs::write(home.join("gpgsm.conf"), "disable-crl-checks\n")?;
    let mut pw = m.password.expose().as_bytes().to_vec();
    pw.push(b'\n');
    let p12 = m.p12_path()?;
    let msg = write_private(d, "msg.txt", b"Signed by gpgsm.\n")?;
    let sig = d.join("gpgsm.p7s");
    let gpgsm = || {
        let mut c = Command::new("gpgsm");
        c.env("GNUPGHOME", &home).args([
            "--batch",
            "--no-tty",
            "--pinentry-mode",
            "loopback",
            "--passphrase-fd",
            "0",
        ]);
        c
    };
    let result = (|| -> Result<()> {
        run_ok(gpgsm().arg("--import").arg(&p12), Some(&pw))?;
        run_ok(
            gpgsm()
                .args(["--local-user", "ken@example.com", "--sign", "--output"])
                .arg(&sig)
                .arg(&msg),
            Some(&pw),
        )?;
        let content = openssl_verify_der(&m, &sig)?;
        ensure!(content == b"Signed by gpgsm.\n", "content changed");
        Ok(())
    })();
    stop_gpg_agent(&home);
    result
}
