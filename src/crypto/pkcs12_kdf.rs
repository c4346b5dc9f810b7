//! Owns the PKCS#12 key derivation (RFC 7292 Appendix B.2, SHA-1) as far as the product needs it:
//! to tell, before a `compat` bundle leaves, whether gpgsm 2.2 would derive the same 3DES key from
//! the password as every other implementation does.
//!
//! Why this exists: GnuPG's `minip12.c` (gpgsm 2.2, still shipped by Debian 12) updates the
//! derivation state `I_j = (I_j + B + 1) mod 2^512` with `gcry_mpi_print(GCRYMPI_FMT_USG, buf, 64,
//! …)`, which writes the *shortest* big-endian form at the start of the 64-byte block. When the
//! sum has a leading zero byte, the block is shifted left and keeps one stale byte at its end, so
//! the second SHA-1 round — needed for the 24 bytes of a 3DES key — hashes different input. gpgsm
//! then reports "decryption failed … possibly bad passphrase given" for a bundle whose password is
//! right. Each 3DES bag has two such blocks (salt and password), so about 1 bag in 128 and 1
//! `compat` bundle in 64 is affected; the salt is random, so building the bundle again fixes it.
//! The IV (ID 2, 8 bytes) and the SHA-1 MAC key (ID 3, 20 bytes) need one round and are immune.
//!
//! Nothing here decrypts: OpenSSL does all real PKCS#12 work. This only predicts gpgsm.

use openssl::sha::Sha1;

/// Block size `v` of SHA-1 in bytes (RFC 7292 B.2).
const V: usize = 64;

/// Diversifier for key material (RFC 7292 B.3: ID 1).
const ID_KEY: u8 = 1;

/// 3DES key length in bytes (pbeWithSHAAnd3-KeyTripleDES-CBC, RFC 7292 Appendix C).
const TRIPLE_DES_KEY_LEN: usize = 24;

/// How the state update of B.2 step 6C stores its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Update {
    /// As RFC 7292 says: the 64-byte block, leading zeros kept.
    Rfc,
    /// As gpgsm 2.2's `minip12.c` does: the shortest big-endian form, left-aligned, the rest of
    /// the block left as it was.
    Gpgsm22,
}

/// Whether gpgsm 2.2 derives a different 3DES key than RFC 7292 for this password, bag salt and
/// iteration count — i.e. whether gpgsm would fail to open a bag encrypted with these parameters.
///
/// `password` is taken as gpgsm's first attempt takes it: each byte becomes one BMP code unit,
/// which equals the RFC's BMPString for the ASCII passwords the product generates.
pub fn gpgsm_derives_another_3des_key(password: &str, salt: &[u8], iterations: u64) -> bool {
    let pw = bmp_ascii(password);
    derive(
        &pw,
        salt,
        iterations,
        ID_KEY,
        TRIPLE_DES_KEY_LEN,
        Update::Rfc,
    ) != derive(
        &pw,
        salt,
        iterations,
        ID_KEY,
        TRIPLE_DES_KEY_LEN,
        Update::Gpgsm22,
    )
}

/// The password as a NUL-terminated string of 16-bit big-endian code units, one per byte.
fn bmp_ascii(password: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 * password.len() + 2);
    for b in password.bytes() {
        out.extend_from_slice(&[0, b]);
    }
    out.extend_from_slice(&[0, 0]);
    out
}

/// `s` repeated to fill `V * ceil(len / V)` bytes (RFC 7292 B.2 steps 2 and 3).
fn stretch(s: &[u8]) -> Vec<u8> {
    let len = s.len().div_ceil(V) * V;
    s.iter().copied().cycle().take(len).collect()
}

/// RFC 7292 Appendix B.2 with SHA-1 (`u` = 20, `v` = 64), `n` bytes for diversifier `id`.
fn derive(
    bmp_password: &[u8],
    salt: &[u8],
    iterations: u64,
    id: u8,
    n: usize,
    update: Update,
) -> Vec<u8> {
    let d = [id; V];
    let mut i = stretch(salt);
    i.extend(stretch(bmp_password));
    let mut out = Vec::with_capacity(n + 20);
    loop {
        let mut h = Sha1::new();
        h.update(&d);
        h.update(&i);
        let mut a = h.finish();
        for _ in 1..iterations.max(1) {
            a = openssl::sha::sha1(&a);
        }
        out.extend_from_slice(&a);
        if out.len() >= n {
            out.truncate(n);
            return out;
        }
        let b: Vec<u8> = a.iter().copied().cycle().take(V).collect();
        for block in i.chunks_mut(V) {
            add_b_plus_one(block, &b, update);
        }
    }
}

/// `block = (block + b + 1) mod 2^(8·V)`, stored as `update` says (B.2 step 6C).
fn add_b_plus_one(block: &mut [u8], b: &[u8], update: Update) {
    let mut sum = [0u8; V];
    let mut carry = 1u16;
    for k in (0..V).rev() {
        let s = u16::from(block[k]) + u16::from(b[k]) + carry;
        sum[k] = (s & 0xff) as u8;
        carry = s >> 8;
    }
    match update {
        Update::Rfc => block.copy_from_slice(&sum),
        Update::Gpgsm22 => {
            let zeros = sum.iter().take_while(|&&x| x == 0).count();
            let significant = &sum[zeros..];
            block[..significant.len()].copy_from_slice(significant);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc(password: &str, salt: &str, iterations: u64, id: u8, n: usize) -> String {
        let salt = hex::decode(salt).unwrap();
        hex::encode(derive(
            &bmp_ascii(password),
            &salt,
            iterations,
            id,
            n,
            Update::Rfc,
        ))
    }

    /// The vectors other PKCS#12 implementations test against (password "smeg", one iteration).
    #[test]
    fn the_derivation_matches_the_published_pkcs12_test_vectors() {
        assert_eq!(
            rfc("smeg", "0A58CF64530D823F", 1, 1, 24),
            "8aaae6297b6cb04642ab5b077851284eb7128f1a2a7fbca3"
        );
        assert_eq!(rfc("smeg", "0A58CF64530D823F", 1, 2, 8), "79993dfe048d3b76");
        assert_eq!(
            rfc("smeg", "642B99AB44FB4B1F", 1, 1, 24),
            "f3a95fec48d7711e985cfe67908c5ab79fa3d7c5caa5d966"
        );
    }

    #[test]
    fn gpgsm_differs_exactly_when_an_updated_block_starts_with_a_zero_byte() {
        let pw = "abcd-efgh-jkmn-pqrs-tuvw-xyz2";
        let bmp = bmp_ascii(pw);
        let mut tripping = 0;
        for n in 0..2048u16 {
            let [hi, lo] = n.to_be_bytes();
            let salt = [hi, lo, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77];
            let differs = gpgsm_derives_another_3des_key(pw, &salt, 3);
            // Recompute the one state update by hand and look at its leading bytes.
            let mut i = stretch(&salt);
            i.extend(stretch(&bmp));
            let mut h = Sha1::new();
            h.update(&[1u8; V]);
            h.update(&i);
            let mut a = h.finish();
            for _ in 1..3 {
                a = openssl::sha::sha1(&a);
            }
            let b: Vec<u8> = a.iter().copied().cycle().take(V).collect();
            let leading_zero = i.chunks(V).any(|block| {
                let mut copy = block.to_vec();
                add_b_plus_one(&mut copy, &b, Update::Rfc);
                copy[0] == 0
            });
            assert_eq!(differs, leading_zero, "salt {}", hex::encode(salt));
            tripping += usize::from(differs);
        }
        // Two blocks, each with a leading zero about once in 256: about 16 of 2048 salts.
        assert!(
            (4..=48).contains(&tripping),
            "{tripping} of 2048 salts trip gpgsm"
        );
    }
}
