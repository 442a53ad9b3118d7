//! Making and hashing API keys. A key is `vk_` and 64 hex digits (32 random
//! bytes); the store keeps its SHA-256 and the first characters for display.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What every key starts with, so leaked keys are easy to recognise.
pub const KEY_PREFIX: &str = "vk_";
/// Characters of the key kept for display (`vk_` + 8 hex digits).
const DISPLAY_LEN: usize = 11;

/// A new key: shown once, then only its hash and prefix are kept.
pub struct GeneratedKey {
    pub key: String,
    pub prefix: String,
    pub hash: String,
}

pub fn generate_key() -> Result<GeneratedKey, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    let key = format!("{KEY_PREFIX}{}", hex::encode(bytes));
    Ok(GeneratedKey {
        prefix: key[..DISPLAY_LEN].to_owned(),
        hash: hash_key(&key),
        key,
    })
}

pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Compares two hashes in constant time.
pub(super) fn hashes_match(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_and_hash_stably() {
        let a = generate_key().expect("randomness");
        let b = generate_key().expect("randomness");
        assert_ne!(a.key, b.key);
        assert_eq!(a.key.len(), 3 + 64);
        assert!(a.key.starts_with(&a.prefix));
        assert_eq!(a.hash, hash_key(&a.key));
        assert!(hashes_match(&a.hash, &hash_key(&a.key)));
        assert!(!hashes_match(&a.hash, &b.hash));
    }
}
