//! Bearer-token authentication for HTTP: API keys and JWTs, with a short
//! cache so a busy client costs one store lookup per key per half second,
//! not one per request. Revocation still takes effect within that window.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use super::{AuthError, Principal, TokenError, authenticate_key, hash_key, jwt};
use crate::store::{Actor, Store};

/// How long a successful authentication is reused.
pub const CACHE_TTL: Duration = Duration::from_millis(500);

pub struct Authenticator {
    store: Store,
    jwt: Option<jwt::JwtVerifier>,
    /// sha256(token) → principal and when it was checked.
    cache: Mutex<HashMap<String, (Principal, Instant)>>,
}

impl Authenticator {
    /// `jwt_secret` enables JWTs; without it only API keys are accepted.
    pub fn new(store: Store, jwt_secret: Option<&[u8]>) -> Self {
        Authenticator {
            store,
            jwt: jwt_secret.map(jwt::JwtVerifier::new),
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Principal, Instant)>> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The principal of a bearer token (an API key or a JWT).
    pub async fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        let token = token.trim();
        let digest = hash_key(token);
        if let Some((principal, at)) = self.cache().get(&digest)
            && at.elapsed() < CACHE_TTL
            && principal
                .expires_at
                .is_none_or(|expiry| expiry > chrono::Utc::now())
        {
            return Ok(principal.clone());
        }
        let principal = if jwt::looks_like_jwt(token) {
            self.authenticate_jwt(token).await?
        } else {
            authenticate_key(&self.store, token).await?
        };
        let mut cache = self.cache();
        if cache.len() > 10_000 {
            cache.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
        }
        cache.insert(digest, (principal.clone(), Instant::now()));
        Ok(principal)
    }

    async fn authenticate_jwt(&self, token: &str) -> Result<Principal, AuthError> {
        let verifier = self.jwt.as_ref().ok_or(TokenError::NotAccepted)?;
        let subject = verifier.verify(token)?;
        let actor = Actor {
            user_id: subject.user_id.into(),
            workspace_id: subject.workspace_id.into(),
            api_key_id: None,
            request_id: None,
        };
        let workspace = match self.store.workspace(&actor).await {
            Ok(workspace) => workspace,
            Err(crate::store::StoreError::NotFound { .. }) => {
                return Err(TokenError::NotAMember.into());
            }
            Err(e) => return Err(e.into()),
        };
        let Some(role) = workspace
            .members
            .iter()
            .find(|m| m.user_id == actor.user_id)
            .and_then(|m| crate::store::Role::parse(&m.role).ok())
        else {
            return Err(TokenError::NotAMember.into());
        };
        Ok(Principal {
            actor,
            workspace_name: workspace.name,
            scopes: subject.scopes.within(role),
            role,
            expires_at: subject.expires_at,
        })
    }

    /// Forgets cached authentications of these keys (they were revoked).
    pub fn forget_keys(&self, key_ids: &[crate::store::KeyId]) {
        self.cache().retain(|_, (p, _)| {
            !p.actor
                .api_key_id
                .as_ref()
                .is_some_and(|id| key_ids.contains(id))
        });
    }
}
