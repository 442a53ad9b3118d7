//! JSON Web Tokens from the hosted web app: HS256, signed with `JWT_SECRET`.
//! Claims: `sub` (or `user`) — the user id, `workspace` — the workspace id,
//! `scopes` — a comma-separated string or a list, `exp` — expiry (required),
//! `nbf` — not before (optional). Both times allow [`LEEWAY_SECS`] of clock
//! difference between the web app and this server.

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde::Deserialize;

use super::{ScopeError, Scopes};

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

/// Why a JWT is refused. The text is what the client sees in the 401.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error(
        "the token is not valid yet (its `nbf` is in the future); check the clocks of this server and \
         the app that issued it"
    )]
    NotYetValid,
    #[error("the token's signature is not valid")]
    BadSignature,
    /// Anything else the decoder refused (format, algorithm, claims).
    #[error("the token is not valid ({0})")]
    Invalid(#[source] jsonwebtoken::errors::Error),
    #[error("the token's scopes are not valid: {0}")]
    Scopes(#[source] ScopeError),
    #[error("JWTs are not accepted by this server (no JWT_SECRET is configured)")]
    NotAccepted,
    #[error("the token's user is not a member of its workspace")]
    NotAMember,
}

impl From<jsonwebtoken::errors::Error> for TokenError {
    fn from(error: jsonwebtoken::errors::Error) -> Self {
        use jsonwebtoken::errors::ErrorKind;
        match error.kind() {
            ErrorKind::ExpiredSignature => TokenError::Expired,
            ErrorKind::ImmatureSignature => TokenError::NotYetValid,
            ErrorKind::InvalidSignature => TokenError::BadSignature,
            _ => TokenError::Invalid(error),
        }
    }
}

/// Verifies HS256 tokens with one shared secret.
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl JwtVerifier {
    pub fn new(secret: &[u8]) -> Self {
        super::jwt_hmac::install();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp"]);
        // A token that is not valid yet is refused like an expired one.
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        JwtVerifier {
            key: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Checks signature, algorithm and expiry; returns why a token is refused.
    pub fn verify(&self, token: &str) -> Result<JwtSubject, TokenError> {
        let data = decode::<Claims>(token, &self.key, &self.validation)?;
        let scopes = match data.claims.scopes {
            ScopesClaim::Text(text) => Scopes::parse(&text),
            ScopesClaim::List(list) => Scopes::parse(&list.join(",")),
        }
        .map_err(TokenError::Scopes)?;
        Ok(JwtSubject {
            user_id: data.claims.sub,
            workspace_id: data.claims.workspace,
            scopes,
            expires_at: chrono::DateTime::from_timestamp(data.claims.exp, 0),
        })
    }
}

/// Tokens look like three base64url parts separated by dots; API keys never do.
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3 && !token.starts_with(super::KEY_PREFIX)
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header, encode};
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
        let refused = verifier.verify(&forged).expect_err("forged");
        assert!(matches!(refused, TokenError::BadSignature), "{refused:?}");
        assert!(refused.to_string().contains("signature"));
        let expired = token(
            "s3cret",
            json!({"sub": "u1", "workspace": "w1", "scopes": "read", "exp": exp - 3600}),
        );
        let refused = verifier.verify(&expired).expect_err("expired");
        assert!(matches!(refused, TokenError::Expired), "{refused:?}");
        assert!(refused.to_string().contains("expired"));
        let no_exp = token(
            "s3cret",
            json!({"sub": "u1", "workspace": "w1", "scopes": "read"}),
        );
        assert!(verifier.verify(&no_exp).is_err());
        assert!(looks_like_jwt(&good) && !looks_like_jwt("vk_abc"));
    }

    #[test]
    fn not_before_is_checked_with_a_small_leeway() {
        let verifier = JwtVerifier::new(b"s3cret");
        let now = chrono::Utc::now().timestamp();
        let claims = |nbf: i64| json!({"sub": "u1", "workspace": "w1", "scopes": "read", "exp": now + 3600, "nbf": nbf});
        let early = token("s3cret", claims(now + 600));
        let refused = verifier.verify(&early).expect_err("not valid yet");
        assert!(matches!(refused, TokenError::NotYetValid), "{refused:?}");
        assert!(refused.to_string().contains("not valid yet"), "{refused}");
        // Within the leeway (a clock a little behind the issuer's): accepted.
        let skewed = token("s3cret", claims(now + 2));
        assert!(verifier.verify(&skewed).is_ok());
        let past = token("s3cret", claims(now - 60));
        assert!(verifier.verify(&past).is_ok());
    }
}
