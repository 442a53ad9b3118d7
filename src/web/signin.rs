//! Signing in to the board, and the server-side sessions behind its cookie.
//!
//! - **Sign-in**: a person pastes an API key or a member's JWT once. The
//!   server keeps it in memory, under a random 256-bit session id that is
//!   the only thing the browser holds (an `HttpOnly`, `SameSite=Strict`
//!   cookie, `Secure` behind TLS, with an expiry). Every request
//!   authenticates the kept credentials again through the
//!   [`Authenticator`] (its cache lasts 0.5 s), so a revoked or expired key
//!   ends its sessions within a second; sign-out forgets the session.
//! - **One-time links**: `vibe-kanban-mcp web login` (and `web` at start)
//!   writes a random token's hash into the data directory; opening the link
//!   consumes it (the file is removed: one use) and signs in as the local
//!   owner.
//! - **CSRF**: each session has its own random token; every POST carries it
//!   (form field `_csrf` or header `X-CSRF-Token`) and is refused without
//!   it. Cross-origin requests are already refused by the edge's Origin
//!   check, and the cookie is `SameSite=Strict`.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::http::{HeaderMap, Method, header, request::Parts};
use chrono::{DateTime, Utc};
use subtle::ConstantTimeEq;

use super::error::WebError;
use crate::{
    auth::{AuthError, Authenticator, Principal, hash_key},
    store::Store,
};

/// The session cookie's name.
pub(super) const COOKIE: &str = "vk_session";
/// How long a board session lasts (capped at the credentials' own expiry).
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// How long a one-time sign-in link stays usable.
pub const LOGIN_LINK_TTL: Duration = Duration::from_secs(10 * 60);
/// The folder of pending sign-in links, under the data directory.
pub(super) const LINK_DIR: &str = "web-login";

/// What a session acts with.
#[derive(Clone)]
pub(super) enum Credential {
    /// A pasted API key or JWT, authenticated again on every request.
    Token(String),
    /// The local owner (a sign-in link, or `--no-auth`).
    Owner(Principal),
}

#[derive(Clone)]
struct Session {
    credential: Credential,
    csrf: String,
    expires_at: DateTime<Utc>,
}

/// Sign-in and the open sessions.
pub struct SignIn {
    pub(super) store: Store,
    pub(super) authenticator: Arc<Authenticator>,
    local_owner: Option<Principal>,
    pub(super) login_dir: Option<PathBuf>,
    /// sha256(session id) → session: the ids themselves are not kept.
    sessions: Mutex<HashMap<String, Session>>,
}

/// A request's signed-in caller.
pub struct Signed {
    pub principal: Principal,
    /// The session's CSRF token, for the forms of the page.
    pub csrf: String,
}

pub(super) fn random_hex() -> Result<String, WebError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| WebError::Internal(format!("no randomness for a session id: {e}")))?;
    Ok(hex::encode(bytes))
}

impl SignIn {
    pub fn new(
        store: Store,
        authenticator: Arc<Authenticator>,
        local_owner: Option<Principal>,
        login_dir: Option<PathBuf>,
    ) -> Self {
        SignIn {
            store,
            authenticator,
            local_owner,
            login_dir,
            sessions: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Opens a session; returns its id (for the cookie) and its lifetime.
    pub(super) fn open(
        &self,
        credential: Credential,
        principal: &Principal,
    ) -> Result<(String, i64), WebError> {
        let id = random_hex()?;
        let mut expires_at = Utc::now()
            + chrono::Duration::from_std(SESSION_TTL).unwrap_or(chrono::Duration::hours(12));
        if let Some(at) = principal.expires_at {
            expires_at = expires_at.min(at);
        }
        let session = Session {
            credential,
            csrf: random_hex()?,
            expires_at,
        };
        let mut sessions = self.lock();
        let now = Utc::now();
        sessions.retain(|_, s| s.expires_at > now);
        sessions.insert(hash_key(&id), session);
        Ok((id, (expires_at - now).num_seconds().max(0)))
    }

    /// Ends the session of this cookie value (sign-out).
    pub(super) fn close(&self, id: &str) {
        self.lock().remove(&hash_key(id));
    }

    /// The caller of a request with this cookie header, if signed in.
    pub(super) async fn signed(&self, headers: &HeaderMap) -> Result<Option<Signed>, WebError> {
        if let Some(owner) = &self.local_owner {
            // `--no-auth`: everyone is the local owner; the CSRF token is
            // still needed (a per-process token, in every page).
            return Ok(Some(Signed {
                principal: owner.clone(),
                csrf: self.no_auth_csrf(),
            }));
        }
        let Some(id) = cookie(headers, COOKIE) else {
            return Ok(None);
        };
        let key = hash_key(&id);
        let Some(session) = self.lock().get(&key).cloned() else {
            return Ok(None);
        };
        if session.expires_at <= Utc::now() {
            self.lock().remove(&key);
            return Ok(None);
        }
        let principal = match &session.credential {
            Credential::Owner(owner) => owner.clone(),
            Credential::Token(token) => match self.authenticator.authenticate(token).await {
                Ok(principal) => principal,
                Err(AuthError::Store(error)) => {
                    return Err(WebError::Internal(format!(
                        "could not check your credentials: {error}"
                    )));
                }
                Err(_) => {
                    // Revoked, expired, or no longer a member: the session ends.
                    self.lock().remove(&key);
                    return Ok(None);
                }
            },
        };
        Ok(Some(Signed {
            principal,
            csrf: session.csrf,
        }))
    }

    fn no_auth_csrf(&self) -> String {
        static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        TOKEN
            .get_or_init(|| random_hex().unwrap_or_else(|_| uuid::Uuid::new_v4().to_string()))
            .clone()
    }
}

/// A cookie's value from the request's `Cookie` headers.
pub(super) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Whether the browser reached us over TLS (directly or through a proxy
/// that says so): the cookie is then `Secure`.
fn behind_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

pub(super) fn session_cookie(headers: &HeaderMap, value: &str, max_age: i64) -> String {
    format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if behind_tls(headers) { "; Secure" } else { "" }
    )
}

impl SignIn {
    /// The signed-in caller of a request: a page without a session is sent
    /// to the sign-in form; an action or stream gets 401.
    pub async fn caller(&self, parts: &Parts) -> Result<Signed, WebError> {
        match self.signed(&parts.headers).await? {
            Some(mut signed) => {
                signed.principal.actor.request_id = parts
                    .headers
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                Ok(signed)
            }
            None if parts.method == Method::GET && !is_fetch(&parts.headers) => {
                Err(WebError::SignInFirst)
            }
            None => Err(WebError::SessionEnded),
        }
    }
}

/// Requests the board's script makes (fragments, streams) say so; they get
/// a 401 instead of a redirect to the sign-in page.
fn is_fetch(headers: &HeaderMap) -> bool {
    headers.contains_key("x-vk-fetch")
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/event-stream"))
}

/// Refuses a mutation whose CSRF token (form field or header) is not the
/// session's.
pub fn check_csrf(
    signed: &Signed,
    headers: &HeaderMap,
    form: Option<&str>,
) -> Result<(), WebError> {
    let sent = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .or(form)
        .unwrap_or_default();
    if !sent.is_empty() && bool::from(sent.as_bytes().ct_eq(signed.csrf.as_bytes())) {
        Ok(())
    } else {
        tracing::warn!(user = %signed.principal.actor.user_id, "refused a board request without a valid CSRF token");
        Err(WebError::Csrf)
    }
}

/// Writes a one-time sign-in link's token under `data_dir` and returns the
/// token (the link is `{base}/login?token={token}`).
pub fn write_login_link(data_dir: &Path) -> anyhow::Result<String> {
    let dir = data_dir.join(LINK_DIR);
    std::fs::create_dir_all(&dir)?;
    let token = random_hex().map_err(|e| anyhow::anyhow!("{e}"))?;
    let expires = Utc::now()
        + chrono::Duration::from_std(LOGIN_LINK_TTL).unwrap_or(chrono::Duration::minutes(10));
    std::fs::write(dir.join(hash_key(&token)), expires.to_rfc3339())?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; vk_session=abc; b=2".parse().expect("header"),
        );
        assert_eq!(cookie(&headers, COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, "vk"), None);
    }

    #[test]
    fn the_cookie_is_secure_behind_tls() {
        let mut headers = HeaderMap::new();
        let plain = session_cookie(&headers, "x", 60);
        assert!(plain.contains("HttpOnly") && plain.contains("SameSite=Strict"));
        assert!(!plain.contains("Secure"));
        headers.insert("x-forwarded-proto", "https".parse().expect("header"));
        assert!(session_cookie(&headers, "x", 60).ends_with("; Secure"));
    }
}
