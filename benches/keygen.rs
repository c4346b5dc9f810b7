//! Benchmark (prints figures, asserts nothing about time): private key generation per key type,
//! single-threaded and on all cores through `crypto::generate_keys_parallel`, next to `openssl
//! speed` sign/verify rates for the same algorithms (OpenSSL 3.0's `speed` does not time key
//! generation, so its sign rate is the nearest yardstick for "how fast is this machine at this
//! algorithm"). Also the time to build and verify one PKCS#12 bundle per profile.
//!
//! Each measurement runs for a fixed time budget rather than a fixed count, so the whole run
//! stays under about two minutes even on a busy two-core machine. RSA generation time varies a
//! lot between draws (the prime search), hence the median and the slowest draw.
//!
//! Run: `cargo bench --bench keygen`.

use std::process::Command;
use std::time::{Duration, Instant};

use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::x509::extension::{BasicConstraints, ExtendedKeyUsage, SubjectAlternativeName};
use openssl::x509::{X509Name, X509Req, X509};
use rand::SeedableRng;
use smime_provisioner::crypto::{
    build_csr, build_pkcs12, generate_keys_parallel, generate_password, verify_pkcs12, KeyType,
    Pkcs12Profile, PrivateKey,
};
use smime_provisioner::mailbox::Address;

/// Time budget per key type and mode.
fn budget(kt: KeyType) -> Duration {
    match kt {
        KeyType::Rsa2048 => Duration::from_secs(4),
        KeyType::Rsa3072 => Duration::from_secs(5),
        KeyType::Rsa4096 => Duration::from_secs(6),
        KeyType::EcP256 | KeyType::EcP384 => Duration::from_secs(1),
    }
}

struct Single {
    keys: usize,
    elapsed: Duration,
    median: Duration,
    slowest: Duration,
}

fn single_threaded(kt: KeyType) -> Result<Single, String> {
    let mut times = Vec::new();
    let start = Instant::now();
    while start.elapsed() < budget(kt) || times.len() < 2 {
        let t = Instant::now();
        PrivateKey::generate(kt).map_err(|e| e.to_string())?;
        times.push(t.elapsed());
    }
    let elapsed = start.elapsed();
    times.sort();
    Ok(Single {
        keys: times.len(),
        elapsed,
        median: times[times.len() / 2],
        slowest: times[times.len() - 1],
    })
}

/// Keys per second through the product's parallel generator, in batches of one key per core
/// for RSA (seconds each) and 256 per core for EC (microseconds each, so thread start-up would
/// otherwise dominate).
fn all_cores(kt: KeyType, cores: usize) -> Result<(usize, Duration), String> {
    let batch = if kt.is_rsa() { cores } else { 256 * cores };
    let start = Instant::now();
    let mut keys = 0;
    while start.elapsed() < budget(kt) {
        keys += generate_keys_parallel(kt, batch)
            .map_err(|e| e.to_string())?
            .len();
    }
    Ok((keys, start.elapsed()))
}

/// `openssl speed` sign/s and verify/s per algorithm name, from its machine-readable output
/// (`+F2:idx:bits:sign/s:verify/s` for RSA, `+F4:...` for ECDSA).
fn openssl_speed() -> Result<Vec<(String, f64, f64)>, String> {
    let out = Command::new("openssl")
        .args([
            "speed",
            "-mr",
            "-seconds",
            "1",
            "rsa2048",
            "rsa3072",
            "rsa4096",
            "ecdsap256",
        ])
        .arg("ecdsap384")
        .output()
        .map_err(|e| format!("cannot run openssl (install the `openssl` package): {e}"))?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let mut rows = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(':').collect();
        let kind = match f.first() {
            Some(&"+F2") => "rsa",
            Some(&"+F4") => "ecdsa-p",
            _ => continue,
        };
        if f.len() < 5 {
            continue;
        }
        let sign: f64 = f[3].parse().map_err(|_| format!("odd line {line:?}"))?;
        let verify: f64 = f[4].parse().map_err(|_| format!("odd line {line:?}"))?;
        rows.push((format!("{kind}{}", f[2]), sign, verify));
    }
    Ok(rows)
}

fn speed_name(kt: KeyType) -> &'static str {
    match kt {
        KeyType::Rsa2048 => "rsa2048",
        KeyType::Rsa3072 => "rsa3072",
        KeyType::Rsa4096 => "rsa4096",
        KeyType::EcP256 => "ecdsa-p256",
        KeyType::EcP384 => "ecdsa-p384",
    }
}

/// A self-signed S/MIME-shaped certificate for the CSR, plus itself as "chain", so a bundle can
/// be built without a CA. Benchmark-only.
fn self_issued(
    csr_pem: &str,
    signer: &PrivateKey,
    addr: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    let req = X509Req::from_pem(csr_pem.as_bytes())?;
    let key = openssl::pkey::PKey::private_key_from_pem(signer.to_pem().expose())?;
    let mut b = X509::builder()?;
    b.set_version(2)?;
    let mut name = X509Name::builder()?;
    name.append_entry_by_text("CN", addr)?;
    let name = name.build();
    b.set_subject_name(&name)?;
    b.set_issuer_name(&name)?;
    b.set_pubkey(req.public_key()?.as_ref())?;
    let nb = Asn1Time::days_from_now(0)?;
    let na = Asn1Time::days_from_now(365)?;
    b.set_not_before(&nb)?;
    b.set_not_after(&na)?;
    b.append_extension(BasicConstraints::new().build()?)?;
    b.append_extension(ExtendedKeyUsage::new().email_protection().build()?)?;
    let san = SubjectAlternativeName::new()
        .email(addr)
        .build(&b.x509v3_context(None, None))?;
    b.append_extension(san)?;
    b.sign(&key, MessageDigest::sha256())?;
    Ok(String::from_utf8(b.build().to_pem()?)?)
}

fn bundle_figures() -> Result<(), Box<dyn std::error::Error>> {
    let key = PrivateKey::generate(KeyType::Rsa3072)?;
    let addr = Address::parse("bench@example.com")?;
    let leaf = self_issued(&build_csr(&key, &addr)?, &key, addr.as_str())?;
    // The leaf doubles as its own "chain" entry for size purposes; dedup drops it, so add a
    // second self-signed certificate as the chain.
    let other = PrivateKey::generate(KeyType::EcP256)?;
    let chain = vec![self_issued(&build_csr(&other, &addr)?, &other, "Bench CA")?];
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    println!("\nPKCS#12 build + verify (RSA-3072 key, one chain certificate):");
    for profile in [Pkcs12Profile::Modern, Pkcs12Profile::Compat] {
        let pw = generate_password(&mut rng);
        let n = 50;
        let start = Instant::now();
        let mut size = 0;
        for _ in 0..n {
            let der = build_pkcs12(&key, &leaf, &chain, &addr, &pw, profile)?;
            size = der.len();
        }
        let per = start.elapsed() / n;
        let der = build_pkcs12(&key, &leaf, &chain, &addr, &pw, profile)?;
        let start = Instant::now();
        for _ in 0..n {
            verify_pkcs12(&der, &pw, profile)?;
        }
        let vper = start.elapsed() / n;
        println!(
            "  {profile:<7} build (incl. its own verification) {:>7.2} ms   verify alone {:>6.2} ms   {size} bytes",
            per.as_secs_f64() * 1e3,
            vper.as_secs_f64() * 1e3
        );
    }
    Ok(())
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "keygen benchmark: {cores} cores, {}",
        openssl::version::version()
    );
    println!("(figures only; nothing here asserts a time)\n");
    let speed = openssl_speed().unwrap_or_else(|e| {
        eprintln!("openssl speed failed: {e}");
        Vec::new()
    });
    println!(
        "{:<9} {:>6} {:>9} {:>10} {:>10} | {:>6} {:>9} | {:>14} {:>14}",
        "key type",
        "keys",
        "keys/s",
        "median",
        "slowest",
        "keys",
        "keys/s",
        "openssl sign/s",
        "verify/s"
    );
    println!(
        "{:<9} {:>38} | {:>16} | {:>29}",
        "",
        "single thread",
        format!("all {cores} cores"),
        "openssl speed (same alg.)"
    );
    for kt in KeyType::ALL {
        let single = match single_threaded(kt) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{kt}: generation failed: {e}");
                continue;
            }
        };
        let (pkeys, pelapsed) = all_cores(kt, cores).unwrap_or((0, Duration::from_secs(1)));
        let (sign, verify) = speed
            .iter()
            .find(|(n, _, _)| n == speed_name(kt))
            .map_or((f64::NAN, f64::NAN), |(_, s, v)| (*s, *v));
        println!(
            "{:<9} {:>6} {:>9.1} {:>8.2}ms {:>8.2}ms | {:>6} {:>9.1} | {:>14.0} {:>14.0}",
            kt.to_string(),
            single.keys,
            single.keys as f64 / single.elapsed.as_secs_f64(),
            single.median.as_secs_f64() * 1e3,
            single.slowest.as_secs_f64() * 1e3,
            pkeys,
            pkeys as f64 / pelapsed.as_secs_f64(),
            sign,
            verify,
        );
    }
    if let Err(e) = bundle_figures() {
        eprintln!("bundle figures failed: {e}");
    }
}
