//! Tokens at rest: AES-256-GCM (ring's `aead`) under a key from the
//! environment (`VK_SECRET_KEY`, 32 bytes in base64). Each sealed token keeps
//! the id of the key that sealed it, so `github rotate-key` can re-seal every
//! row under a new key while the old one (`VK_SECRET_KEY_OLD`) still opens
//! them. The connection's workspace id is the associated data: a row copied
//! to another workspace does not open.

use base64::Engine;
use ring::{
    aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey},
    digest,
    rand::{SecureRandom, SystemRandom},
};

/// How to make a key, said wherever one is missing or malformed.
pub const MAKE_KEY: &str = "make one with `openssl rand -base64 32` and set it as VK_SECRET_KEY \
     (or put it in a file named by `[github] secret_key_file`)";

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("no encryption key for GitHub tokens: {MAKE_KEY}")]
    NoKey,
    #[error("{name} is not a valid key (it must be 32 bytes in base64): {MAKE_KEY}")]
    BadKey { name: String },
    #[error(
        "the stored GitHub token was sealed with key {wanted}, and neither VK_SECRET_KEY nor VK_SECRET_KEY_OLD \
         is that key; set the key it was sealed with, or connect again with `github connect`"
    )]
    UnknownKey { wanted: String },
    #[error(
        "the stored GitHub token could not be opened with key {key_id} (damaged or from another workspace); \
         connect again with `github connect`"
    )]
    Open { key_id: String },
    #[error("the system random number generator failed")]
    Random,
}

/// One AES-256-GCM key and its id.
pub struct SecretKey {
    id: String,
    key: LessSafeKey,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.id)
    }
}

/// A sealed token, as stored: hex ciphertext (with its tag), hex nonce, key id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub ciphertext: String,
    pub nonce: String,
    pub key_id: String,
}

impl SecretKey {
    /// A key from its base64 text; `name` says where it came from, for the error.
    pub fn from_base64(text: &str, name: &str) -> Result<Self, CryptoError> {
        let bad = || CryptoError::BadKey {
            name: name.to_owned(),
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| bad())?;
        if bytes.len() != 32 {
            return Err(bad());
        }
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| bad())?;
        Ok(SecretKey {
            id: key_id(&bytes),
            key: LessSafeKey::new(key),
        })
    }

    /// The key's id: the first 8 hex digits of its SHA-256.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Seals `token`, bound to `workspace_id`, under a fresh random nonce.
    pub fn seal(&self, token: &str, workspace_id: &str) -> Result<Sealed, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| CryptoError::Random)?;
        let mut data = token.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(workspace_id.as_bytes()),
                &mut data,
            )
            .map_err(|_| CryptoError::Random)?;
        Ok(Sealed {
            ciphertext: hex::encode(data),
            nonce: hex::encode(nonce),
            key_id: self.id.clone(),
        })
    }

    /// Opens a token this key sealed for `workspace_id`.
    pub fn open(&self, sealed: &Sealed, workspace_id: &str) -> Result<String, CryptoError> {
        let failed = || CryptoError::Open {
            key_id: self.id.clone(),
        };
        let mut data = hex::decode(&sealed.ciphertext).map_err(|_| failed())?;
        let nonce: [u8; NONCE_LEN] = hex::decode(&sealed.nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or_else(failed)?;
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(workspace_id.as_bytes()),
                &mut data,
            )
            .map_err(|_| failed())?;
        String::from_utf8(plain.to_vec()).map_err(|_| failed())
    }
}

fn key_id(bytes: &[u8]) -> String {
    hex::encode(&digest::digest(&digest::SHA256, bytes).as_ref()[..4])
}

/// The current key and, during a rotation, the previous one.
#[derive(Debug, Default)]
pub struct Keys {
    pub current: Option<SecretKey>,
    pub old: Option<SecretKey>,
}

impl Keys {
    /// The key that seals new tokens.
    pub fn sealing(&self) -> Result<&SecretKey, CryptoError> {
        self.current.as_ref().ok_or(CryptoError::NoKey)
    }

    /// Opens a sealed token with whichever key sealed it.
    pub fn open(&self, sealed: &Sealed, workspace_id: &str) -> Result<String, CryptoError> {
        let key = [&self.current, &self.old]
            .into_iter()
            .flatten()
            .find(|key| key.id == sealed.key_id)
            .ok_or_else(|| {
                if self.current.is_none() {
                    CryptoError::NoKey
                } else {
                    CryptoError::UnknownKey {
                        wanted: sealed.key_id.clone(),
                    }
                }
            })?;
        key.open(sealed, workspace_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

    #[test]
    fn seals_and_opens_only_for_its_workspace() {
        let key = SecretKey::from_base64(KEY, "VK_SECRET_KEY").expect("crypto");
        let sealed = key.seal("ghp_secret", "ws1").expect("crypto");
        assert!(!sealed.ciphertext.contains("ghp_secret"));
        assert_eq!(sealed.key_id.len(), 8);
        assert_eq!(key.open(&sealed, "ws1").expect("crypto"), "ghp_secret");
        assert!(matches!(
            key.open(&sealed, "ws2"),
            Err(CryptoError::Open { .. })
        ));
        let again = key.seal("ghp_secret", "ws1").expect("crypto");
        assert_ne!(again.nonce, sealed.nonce, "a fresh nonce every time");
    }

    #[test]
    fn refuses_keys_of_the_wrong_size() {
        assert!(matches!(
            SecretKey::from_base64("c2hvcnQ=", "VK_SECRET_KEY"),
            Err(CryptoError::BadKey { .. })
        ));
    }
}
