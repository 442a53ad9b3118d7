//! JSON Web Tokens from the hosted web app: HS256, signed with `JWT_SECRET`.
//! Claims: `sub` (or `user`) — the user id, `workspace` — the workspace id,
//! `scopes` — a comma-separated string or a list, `exp` — expiry (required),
//! `nbf` — not before (optional). Both times allow [`LEEWAY_SECS`] of clock
//! difference between the web app and this server.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ring::hmac;
use serde::Deserialize;

use super::Scopes;

/// Seconds of clock difference allowed on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 5;

/// The claims a token must carry.
#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(alias = "user")]
    sub: String,
    workspace: String,
    scopes: ScopesClaim,
    /// Seconds since the epoch (checked by the validation; kept so open
    /// streams can end when the token does).
    exp: i64,
    /// Not before, seconds since the epoch.
    #[serde(default)]
    nbf: Option<i64>,
    /// An audience: this server names none, so a token meant for one is
    /// refused (RFC 7519 4.1.3).
    #[serde(default)]
    aud: Option<serde_json::Value>,
}

/// The JOSE header: only the algorithm matters.
#[derive(Debug, Deserialize)]
struct Header {
    alg: String,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ScopesClaim {
    Text(String),
    List(Vec<String>),
}

/// Who a valid token speaks for.
#[derive(Debug, Clone)]
pub struct JwtSubject {
    pub user_id: String,
    pub workspace_id: String,
    pub scopes: Scopes,
    /// When the token expires.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Verifies HS256 tokens with one shared secret (HMAC-SHA256 from ring,
/// the crypto provider already linked for TLS).
pub struct JwtVerifier {
    key: hmac::Key,
}

impl JwtVerifier {
    pub fn new(secret: &[u8]) -> Self {
        JwtVerifier {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// Checks signature, algorithm and expiry; returns why a token is refused.
    pub fn verify(&self, token: &str) -> Result<JwtSubject, String> {
        let invalid = |why: &str| format!("the token is not valid ({why})");
        let parts: Vec<&str> = token.split('.').collect();
        let [header, payload, signature] = parts[..] else {
            return Err(invalid("a JWT is three base64url parts separated by dots"));
        };
        let decode = |part: &str, what: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| invalid(&format!("its {what} is not base64url")))
        };
        let header: Header = serde_json::from_slice(&decode(header, "header")?)
            .map_err(|e| invalid(&format!("header: {e}")))?;
        // The algorithm is ours to choose, never the token's ("none", RS256
        // with the secret as a public key, ...).
        if header.alg != "HS256" {
            return Err(invalid(&format!(
                "it is signed with {}; this server accepts HS256 only",
                header.alg
            )));
        }
        let signed = &token[..token.len() - signature.len() - 1];
        hmac::verify(
            &self.key,
            signed.as_bytes(),
            &decode(signature, "signature")?,
        )
        .map_err(|_| "the token's signature is not valid".to_owned())?;
        let claims: Claims = serde_json::from_slice(&decode(payload, "claims")?)
            .map_err(|e| invalid(&format!("claims: {e}")))?;
        let now = chrono::Utc::now().timestamp();
        let leeway = LEEWAY_SECS as i64;
        if claims.exp < now - leeway {
            return Err("the token has expired".to_owned());
        }
        if claims.nbf.is_some_and(|nbf| nbf > now + leeway) {
            return Err(
                "the token is not valid yet (its `nbf` is in the future); check the clocks of this server and \
                 the app that issued it"
                    .to_owned(),
            );
        }
        if claims.aud.is_some() {
            return Err(invalid(
                "it names an audience (`aud`), and this server is none; issue it without one",
            ));
        }
        let scopes = match claims.scopes {
            ScopesClaim::Text(text) => Scopes::parse(&text),
            ScopesClaim::List(list) => Scopes::parse(&list.join(",")),
        }
        .map_err(|e| format!("the token's scopes are not valid: {e}"))?;
        Ok(JwtSubject {
            user_id: claims.sub,
            workspace_id: claims.workspace,
            scopes,
            expires_at: chrono::DateTime::from_timestamp(claims.exp, 0),
        })
    }
}

/// Tokens look like three base64url parts separated by dots; API keys never do.
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3 && !token.starts_with(super::KEY_PREFIX)
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    use serde_json::json;

    use super::*;

    fn token(secret: &str, claims: serde_json::Value) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("encode")
    }

    #[test]
    fn verifies_signature_expiry_and_scopes() {
        let verifier = JwtVerifier::new(b"s3cret");
        let exp = chrono::Utc::now().timestamp() + 60;
        let good = token(
            "s3cret",
            json!({"sub": "u1", "workspace": "w1", "scopes": ["read"], "exp": exp}),
        );
        let subject = verifier.verify(&good).expect("valid");
        assert_eq!(
            (subject.user_id.as_str(), subject.workspace_id.as_str()),
            ("u1", "w1")
        );
        assert!(!subject.scopes.allows(super::super::Scope::Write));
        let other_user_claim = token(
            "s3cret",
            json!({"user": "u2", "workspace": "w1", "scopes": "read,write", "exp": exp}),
        );
        assert_eq!(
            verifier.verify(&other_user_claim).expect("valid").user_id,
            "u2"
        );

        let forged = token(
            "wrong",
            json!({"sub": "u1", "workspace": "w1", "scopes": "read", "exp": exp}),
        );
        assert!(
            verifier
                .verify(&forged)
                .expect_err("forged")
                .contains("signature")
        );
        let expired = token(
            "s3cret",
            json!({"sub": "u1", "workspace": "w1", "scopes": "read", "exp": exp - 3600}),
        );
        assert!(
            verifier
                .verify(&expired)
                .expect_err("expired")
                .contains("expired")
        );
        let no_exp = token(
            "s3cret",
            json!({"sub": "u1", "workspace": "w1", "scopes": "read"}),
        );
        assert!(verifier.verify(&no_exp).is_err());
        let for_someone_else = token(
            "s3cret",
            json!({"sub": "u1", "workspace": "w1", "scopes": "read", "exp": exp, "aud": "other"}),
        );
        assert!(verifier.verify(&for_someone_else).is_err());
        assert!(looks_like_jwt(&good) && !looks_like_jwt("vk_abc"));
    }

    #[test]
    fn only_hs256_is_accepted_whatever_the_header_says() {
        let verifier = JwtVerifier::new(b"s3cret");
        let exp = chrono::Utc::now().timestamp() + 60;
        let claims = json!({"sub": "u1", "workspace": "w1", "scopes": "read", "exp": exp});
        let encoded = |value: &serde_json::Value| URL_SAFE_NO_PAD.encode(value.to_string());
        // alg "none" with no signature, and HS384 signed with the right secret.
        let unsigned = format!("{}.{}.", encoded(&json!({"alg": "none"})), encoded(&claims));
        assert!(verifier.verify(&unsigned).is_err());
        let hs384 = encode(
            &Header::new(Algorithm::HS384),
            &claims,
            &EncodingKey::from_secret(b"s3cret"),
        )
        .expect("encode");
        let refused = verifier.verify(&hs384).expect_err("HS384");
        assert!(refused.contains("HS256"), "{refused}");
        // A tampered payload under the original signature.
        let good = token("s3cret", claims.clone());
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        parts[1] =
            encoded(&json!({"sub": "admin", "workspace": "w1", "scopes": "admin", "exp": exp}));
        assert!(
            verifier
                .verify(&parts.join("."))
                .expect_err("tampered")
                .contains("signature")
        );
        assert!(verifier.verify("a.b").is_err() && verifier.verify("a.b.c.d").is_err());
    }

    #[test]
    fn not_before_is_checked_with_a_small_leeway() {
        let verifier = JwtVerifier::new(b"s3cret");
        let now = chrono::Utc::now().timestamp();
        let claims = |nbf: i64| json!({"sub": "u1", "workspace": "w1", "scopes": "read", "exp": now + 3600, "nbf": nbf});
        let early = token("s3cret", claims(now + 600));
        let refused = verifier.verify(&early).expect_err("not valid yet");
        assert!(refused.contains("not valid yet"), "{refused}");
        // Within the leeway (a clock a little behind the issuer's): accepted.
        let skewed = token("s3cret", claims(now + 2));
        assert!(verifier.verify(&skewed).is_ok());
        let past = token("s3cret", claims(now - 60));
        assert!(verifier.verify(&past).is_ok());
    }
}
