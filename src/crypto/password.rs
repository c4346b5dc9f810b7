//! Owns bundle passwords and the AutoDNS download password.
//!
//! Bundle password — what a person types on a phone or into Outlook's import dialog, so:
//! lower-case letters and digits only, without the look-alikes `0 o 1 l i` (one case, so no
//! Shift and no `I`/`l` confusion). [`PASSWORD_ALPHABET`] has 31 symbols, each worth
//! log2(31) ≈ 4.954 bits; [`PASSWORD_CHARS`] = 24 symbols give 24 × 4.954 ≈ 118.9 bits, above
//! the 112 bits S/MIME BR §6.1.1.3 asks of a PKCS#12 that carries a generated key. They are shown
//! in six groups of four joined by `-` (`k7pm-3xq9-...`); the dashes are part of the password,
//! carry no entropy, and make it readable aloud.
//!
//! Download password — AutoDNS requires `[A-Za-z0-9]{8,32}` for the order's `password` field
//! (the API refuses anything else); we use all 32 characters (≈ 190 bits). It protects nothing
//! of ours (our key never leaves the host) but must still be unguessable.
//!
//! Randomness comes from an injected `RngCore` so tests can fix it; production passes a CSPRNG
//! (`rand::rng()`, ChaCha12 seeded from the OS).

use std::fmt;

use rand::{Rng, RngCore};

use super::CryptoError;
use crate::secret::Secret;

/// The symbols of a bundle password: digits and lower-case letters without `0 1 i l o`.
pub const PASSWORD_ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";
/// Symbols per bundle password (entropy arithmetic in the module comment).
pub const PASSWORD_CHARS: usize = 24;
/// Symbols per group.
const GROUP: usize = 4;
/// Length of the AutoDNS download password (the rule allows 8 to 32).
pub const DOWNLOAD_PASSWORD_LEN: usize = 32;
const DOWNLOAD_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A PKCS#12 password. `Debug` and `Display` redact it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(Secret<String>);

impl Password {
    /// Wraps a password that came from elsewhere (the store, an operator). Refuses an empty one
    /// (NSS rejects password-less PKCS#12, pyca/cryptography#5596) and one with a NUL byte (it
    /// cannot be passed to OpenSSL).
    pub fn from_secret(s: Secret<String>) -> Result<Password, CryptoError> {
        if s.expose().is_empty() {
            return Err(CryptoError::BadPassword("it is empty"));
        }
        if s.expose().contains('\0') {
            return Err(CryptoError::BadPassword("it contains a NUL character"));
        }
        Ok(Password(s))
    }

    /// The password text, for OpenSSL calls and the password channel.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// The password as a [`Secret`], the form the delivery module takes.
    pub fn as_secret(&self) -> &Secret<String> {
        &self.0
    }

    /// Unwraps into the [`Secret`].
    pub fn into_secret(self) -> Secret<String> {
        self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Generates a bundle password: 24 symbols from [`PASSWORD_ALPHABET`] in groups of four
/// (≈ 118.9 bits of entropy).
pub fn generate_password(rng: &mut impl RngCore) -> Password {
    let mut out = String::with_capacity(PASSWORD_CHARS + PASSWORD_CHARS / GROUP);
    for i in 0..PASSWORD_CHARS {
        if i > 0 && i % GROUP == 0 {
            out.push('-');
        }
        out.push(pick(rng, PASSWORD_ALPHABET));
    }
    Password(Secret::new(out))
}

/// Generates the AutoDNS order download password: 32 characters of `[A-Za-z0-9]`.
pub fn generate_download_password(rng: &mut impl RngCore) -> Secret<String> {
    Secret::new(
        (0..DOWNLOAD_PASSWORD_LEN)
            .map(|_| pick(rng, DOWNLOAD_ALPHABET))
            .collect(),
    )
}

/// A uniformly chosen symbol (`random_range` rejects biased draws, so no modulo bias).
fn pick(rng: &mut impl RngCore, alphabet: &[u8]) -> char {
    let i = rng.random_range(0..alphabet.len());
    char::from(alphabet.get(i).copied().unwrap_or(b'x'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn the_alphabet_has_no_ambiguous_characters_and_the_entropy_is_at_least_112_bits() {
        for ambiguous in b"01ilo" {
            assert!(
                !PASSWORD_ALPHABET.contains(ambiguous),
                "{}",
                char::from(*ambiguous)
            );
        }
        let mut sorted = PASSWORD_ALPHABET.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(
            sorted.len(),
            PASSWORD_ALPHABET.len(),
            "alphabet has duplicates"
        );
        let bits = PASSWORD_CHARS as f64 * (PASSWORD_ALPHABET.len() as f64).log2();
        assert!(bits >= 112.0, "{bits}");
    }

    #[test]
    fn a_password_is_six_groups_of_four_from_the_alphabet() {
        let pw = generate_password(&mut StdRng::seed_from_u64(7));
        let groups: Vec<&str> = pw.expose().split('-').collect();
        assert_eq!(groups.len(), 6, "{}", pw.expose());
        for g in groups {
            assert_eq!(g.len(), 4);
            assert!(g.bytes().all(|b| PASSWORD_ALPHABET.contains(&b)));
        }
    }

    #[test]
    fn passwords_depend_on_the_rng_and_every_symbol_gets_used() {
        let mut rng = StdRng::seed_from_u64(1);
        let a = generate_password(&mut rng);
        let b = generate_password(&mut rng);
        assert_ne!(a, b);
        assert_eq!(a, generate_password(&mut StdRng::seed_from_u64(1)));
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            seen.extend(
                generate_password(&mut rng)
                    .expose()
                    .bytes()
                    .filter(|&c| c != b'-'),
            );
        }
        assert_eq!(seen.len(), PASSWORD_ALPHABET.len());
    }

    #[test]
    fn download_passwords_match_the_autodns_rule() {
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..50 {
            let pw = generate_download_password(&mut rng);
            let s = pw.expose();
            assert!((8..=32).contains(&s.len()), "{}", s.len());
            assert!(s.bytes().all(|b| b.is_ascii_alphanumeric()), "{s}");
        }
    }

    #[test]
    fn passwords_do_not_show_in_debug_output() {
        let pw = generate_password(&mut StdRng::seed_from_u64(9));
        let dbg = format!("{pw:?} {:?}", pw.as_secret());
        assert!(!dbg.contains(&pw.expose()[..4]), "{dbg}");
    }

    #[test]
    fn empty_and_nul_passwords_are_refused() {
        assert!(Password::from_secret(Secret::new(String::new())).is_err());
        assert!(Password::from_secret(Secret::new("a\0b".into())).is_err());
        assert_eq!(
            Password::from_secret(Secret::new("x".into()))
                .unwrap()
                .expose(),
            "x"
        );
    }
}
