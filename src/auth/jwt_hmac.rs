//! The HMAC signatures of JWTs (HS256, HS384, HS512) on ring, the crypto
//! crate already linked for TLS, as jsonwebtoken's crypto provider. Its own
//! providers bring a second crypto stack: "rust_crypto" compiles RSA,
//! elliptic curves and Ed25519 (about 25 crates) that this server never
//! uses, "aws_lc_rs" a large C build. Tokens of any other algorithm are
//! refused as an invalid algorithm, which the verifier does anyway (it
//! accepts HS256 only).

use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey,
    crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils},
    errors::{ErrorKind, Result},
    signature::{self, Signer, Verifier},
};

/// Makes ring's HMAC jsonwebtoken's provider for this process. Call before
/// the first `encode` or `decode`; later calls do nothing.
pub fn install() {
    static PROVIDER: CryptoProvider = CryptoProvider {
        signer_factory: signer,
        verifier_factory: verifier,
        key_utils: KeyUtils::new_unimplemented(),
    };
    // Err means a provider is already installed (this one, by an earlier call).
    let _ = PROVIDER.install_default();
}

/// One HMAC key of one algorithm: signs and verifies.
struct Hmac {
    algorithm: Algorithm,
    key: ring::hmac::Key,
}

impl Hmac {
    fn new(algorithm: &Algorithm, secret: &[u8]) -> Result<Self> {
        let digest = match algorithm {
            Algorithm::HS256 => ring::hmac::HMAC_SHA256,
            Algorithm::HS384 => ring::hmac::HMAC_SHA384,
            Algorithm::HS512 => ring::hmac::HMAC_SHA512,
            _ => return Err(ErrorKind::InvalidAlgorithm.into()),
        };
        Ok(Hmac {
            algorithm: *algorithm,
            key: ring::hmac::Key::new(digest, secret),
        })
    }
}

fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    Ok(Box::new(Hmac::new(algorithm, key.as_bytes())?))
}

fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    Ok(Box::new(Hmac::new(algorithm, key.try_get_as_bytes()?)?))
}

impl Signer<Vec<u8>> for Hmac {
    fn try_sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        Ok(ring::hmac::sign(&self.key, message).as_ref().to_vec())
    }
}

impl JwtSigner for Hmac {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

impl Verifier<Vec<u8>> for Hmac {
    fn verify(
        &self,
        message: &[u8],
        signature: &Vec<u8>,
    ) -> std::result::Result<(), signature::Error> {
        // Constant-time comparison of the expected and the given tag.
        ring::hmac::verify(&self.key, message, signature).map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Hmac {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7515 appendix A.1: an HS256 JWS and its key.
    #[test]
    fn signs_and_verifies_the_rfc_7515_example() {
        install();
        let secret = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
        let raw = base64url(secret);
        let (encoding, decoding) = (
            EncodingKey::from_secret(&raw),
            DecodingKey::from_secret(&raw),
        );
        let message = b"eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
        let signature =
            jsonwebtoken::crypto::sign(message, &encoding, Algorithm::HS256).expect("sign");
        assert_eq!(signature, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert!(
            jsonwebtoken::crypto::verify(&signature, message, &decoding, Algorithm::HS256)
                .expect("verify")
        );
        assert!(
            !jsonwebtoken::crypto::verify(&signature, b"other", &decoding, Algorithm::HS256)
                .expect("verify")
        );
        assert!(
            jsonwebtoken::crypto::sign(message, &encoding, Algorithm::RS256).is_err(),
            "only HMAC algorithms"
        );
    }

    fn base64url(text: &str) -> Vec<u8> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut bits = 0u32;
        let mut count = 0;
        let mut out = Vec::new();
        for byte in text.bytes() {
            let value = ALPHABET.iter().position(|c| *c == byte).expect("base64url") as u32;
            bits = (bits << 6) | value;
            count += 6;
            if count >= 8 {
                count -= 8;
                out.push((bits >> count) as u8);
            }
        }
        out
    }
}
