//! Keeping a long-running caller's API key honest: a stdio server acts as the
//! key it was started with for as long as it runs, so it looks at the key
//! again on use — at most once per [`CACHE_TTL`], like the HTTP auth cache —
//! and refuses every request once the key is revoked or expired.
//!
//! The cost is bounded and follows use: an idle server asks the store
//! nothing; a busy one asks once per [`CACHE_TTL`] whatever its request rate.
//! An open stream (a `subscriptions/listen`) looks every
//! [`revocation_interval`] while it is open.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::{AuthError, CACHE_TTL, Principal, hash_key};
use crate::store::{Backend, Store};

/// How often open streams look for revoked keys on the local SQLite file:
/// a local read, cheap enough to make revocation take effect within a second.
pub const SQLITE_REVOCATION_INTERVAL: Duration = Duration::from_millis(250);
/// How often open streams look for revoked keys on D1: each look is a request
/// to the Cloudflare API (1,200 requests per 5 minutes per account), so the
/// whole server makes at most one every 5 s — 60 per 5 minutes, 5% of the
/// limit — and only while some stream is open.
pub const D1_REVOCATION_INTERVAL: Duration = Duration::from_secs(5);

/// How often open streams of `store` look for revoked keys.
pub fn revocation_interval(store: &Store) -> Duration {
    match store.kind() {
        Backend::D1 => D1_REVOCATION_INTERVAL,
        Backend::Sqlite => SQLITE_REVOCATION_INTERVAL,
    }
}

/// What the last look found.
enum Seen {
    /// Live at this instant.
    Live(Instant),
    /// Revoked, expired or deleted: final, never looked at again.
    Refused,
}

/// One API key, checked again on use while a process acts as it.
pub struct KeyCheck {
    store: Store,
    key_hash: String,
    key_id: String,
    /// The member's role when the process started acting as the key; a
    /// change ends the key's use here (the process holds its principal).
    role: crate::store::Role,
    expires_at: Option<DateTime<Utc>>,
    seen: tokio::sync::Mutex<Seen>,
}

impl KeyCheck {
    /// For `principal`, just authenticated with `raw_key`.
    pub fn new(store: Store, raw_key: &str, principal: &Principal) -> Self {
        KeyCheck {
            store,
            key_hash: hash_key(raw_key.trim()),
            key_id: principal
                .actor
                .api_key_id
                .as_deref()
                .unwrap_or_default()
                .to_owned(),
            role: principal.role,
            expires_at: principal.expires_at,
            seen: tokio::sync::Mutex::new(Seen::Live(Instant::now())),
        }
    }

    /// The key's id, for messages.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// `Ok` while the key is live. Looks in the store when the last look is
    /// older than [`CACHE_TTL`]; concurrent callers share one look.
    pub async fn check(&self) -> Result<(), AuthError> {
        let mut seen = self.seen.lock().await;
        if self.expires_at.is_some_and(|at| at <= Utc::now()) {
            *seen = Seen::Refused;
        }
        match *seen {
            Seen::Refused => return Err(AuthError::InvalidKey),
            Seen::Live(at) if at.elapsed() < CACHE_TTL => return Ok(()),
            Seen::Live(_) => {}
        }
        match self.store.use_api_key(&self.key_hash).await? {
            Some(found) if found.member_role.as_deref() != Some(self.role.as_str()) => {
                tracing::warn!(key = %self.key_id, "the role of the member this key acts as changed (or they left the workspace); start the server again to act with the new role");
                *seen = Seen::Refused;
                Err(AuthError::InvalidKey)
            }
            Some(_) => {
                *seen = Seen::Live(Instant::now());
                Ok(())
            }
            None => {
                tracing::warn!(key = %self.key_id, "the API key this server acts as was revoked or has expired");
                *seen = Seen::Refused;
                Err(AuthError::InvalidKey)
            }
        }
    }

    /// Resolves once the key is found revoked or expired, looking every
    /// `interval` (and at the expiry instant). For streams that stay open
    /// without requests.
    pub async fn ended(&self, interval: Duration) {
        loop {
            let wait = self
                .expires_at
                .map(|at| (at - Utc::now()).to_std().unwrap_or(Duration::ZERO))
                .map_or(interval, |left| left.min(interval));
            tokio::time::sleep(wait).await;
            match self.check().await {
                Err(AuthError::InvalidKey) => return,
                Err(error) => tracing::warn!(%error, "could not check the API key again"),
                Ok(()) => {}
            }
        }
    }
}
