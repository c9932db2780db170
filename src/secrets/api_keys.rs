//! Tollgate API keys: `tg-` plus 192 random bits, stored only as a SHA-256 digest.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A freshly generated key: the secret (shown once) and what is stored.
pub struct NewKey {
    pub secret: String,
    pub hash: [u8; 32],
    /// What the console shows: `tg-` and the first characters.
    pub prefix: String,
}

pub fn generate(kind_prefix: &str) -> NewKey {
    let bytes: [u8; 24] = rand::random();
    let secret = format!("{kind_prefix}{}", URL_SAFE_NO_PAD.encode(bytes));
    let prefix = secret.chars().take(kind_prefix.len() + 6).collect();
    NewKey { hash: digest(&secret), secret, prefix }
}

pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Constant-time equality of two digests.
pub fn digests_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_prefixed_and_hashed() {
        let a = generate("tg-");
        let b = generate("tg-");
        assert!(a.secret.starts_with("tg-"));
        assert!(a.secret.len() >= 3 + 32, "at least 128 bits of randomness");
        assert_ne!(a.secret, b.secret);
        assert_eq!(a.hash, digest(&a.secret));
        assert!(digests_equal(&a.hash, &digest(&a.secret)));
        assert!(!digests_equal(&a.hash, &b.hash));
        assert!(a.secret.starts_with(&a.prefix));
    }
}
