//! Revocation and expiry of open HTTP streams. New requests are refused by
//! the auth cache's expiry (0.5 s); what stays open without new requests is
//! closed here — every event stream the server answers with: legacy SSE
//! (`GET /sse`), the Streamable HTTP `GET` stream of a session, and `POST`s
//! that stream (a 2026-07-28 `subscriptions/listen`, stateless or not).
//!
//! - **Expiry** needs no store: each stream ends at its key's `expires_at`.
//! - **Revocation** is found by one watcher for the whole server, which asks
//!   the store for keys revoked since its last look — one query, whatever the
//!   number of streams and keys — every [`revocation_interval`] (0.25 s on
//!   SQLite; 5 s on D1, where each look is a Cloudflare API request). It runs
//!   only while some stream is open: an idle server asks the store nothing.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{
    body::Body,
    extract::{Request, State},
    http::header,
    middleware::Next,
    response::Response,
};
use futures::StreamExt;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::owners::Owners;
use crate::{
    auth::{Authenticator, Principal, revocation_interval},
    store::Store,
};

/// Event streams open right now, by key.
pub struct OpenStreams {
    streams: Mutex<HashMap<u64, Open>>,
    next_id: AtomicU64,
    /// How many are open; the watcher sleeps while it is zero.
    open: watch::Sender<usize>,
}

struct Open {
    key_id: crate::store::KeyId,
    closed: CancellationToken,
}

impl Default for OpenStreams {
    fn default() -> Self {
        OpenStreams {
            streams: Mutex::default(),
            next_id: AtomicU64::new(0),
            open: watch::Sender::new(0),
        }
    }
}

impl OpenStreams {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Open>> {
        self.streams
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `body` (an event stream of `principal`), ending when the key is
    /// revoked ([`Self::close_keys`]) or expires, whichever comes first.
    pub fn guard(self: &Arc<Self>, principal: &Principal, body: Body) -> Body {
        // Keys can be revoked; other credentials (JWTs) only expire.
        let closed = CancellationToken::new();
        let registration = principal.actor.api_key_id.clone().map(|key_id| {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            self.lock().insert(
                id,
                Open {
                    key_id,
                    closed: closed.clone(),
                },
            );
            self.open.send_modify(|n| *n += 1);
            Registration {
                id,
                streams: Arc::clone(self),
            }
        });
        let expiry = principal.expires_at;
        let end = async move {
            let expired = async {
                match expiry {
                    Some(at) => {
                        let left = (at - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO);
                        tokio::time::sleep(left).await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = closed.cancelled() => {}
                () = expired => tracing::info!("closed a stream: its API key expired"),
            }
        };
        let stream = body.into_data_stream().take_until(end).map(move |chunk| {
            // Unregisters when the stream is dropped, however it ends.
            let _ = &registration;
            chunk
        });
        Body::from_stream(stream)
    }

    /// Ends the streams of these keys; returns how many.
    pub fn close_keys(&self, key_ids: &[crate::store::KeyId]) -> usize {
        let streams = self.lock();
        let mut closed = 0;
        for open in streams.values() {
            if key_ids.contains(&open.key_id) {
                open.closed.cancel();
                closed += 1;
            }
        }
        closed
    }

    /// How many streams of API keys are open.
    pub fn len(&self) -> usize {
        *self.open.borrow()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A stream's entry in [`OpenStreams`], removed on drop.
struct Registration {
    id: u64,
    streams: Arc<OpenStreams>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if self.streams.lock().remove(&self.id).is_some() {
            self.streams.open.send_modify(|n| *n = n.saturating_sub(1));
        }
    }
}

/// Every event stream (legacy SSE, a session's GET, a POST that streams)
/// ends when its key is revoked or expires. Needs the [`Principal`] of
/// `auth`.
pub async fn end_streams(
    State(streams): State<Arc<OpenStreams>>,
    request: Request,
    next: Next,
) -> Response {
    let principal = request.extensions().get::<Principal>().cloned();
    let response = next.run(request).await;
    let is_stream = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    match principal {
        Some(principal) if is_stream => {
            let (head, body) = response.into_parts();
            Response::from_parts(head, streams.guard(&principal, body))
        }
        _ => response,
    }
}

/// What the revocation watcher closes, and where it looks.
pub struct Watcher {
    pub store: Store,
    /// Its cache forgets revoked keys at once.
    pub auth: Arc<Authenticator>,
    pub streams: Arc<OpenStreams>,
    pub owners: Arc<Owners>,
    pub shutdown: CancellationToken,
}

/// Closes the streams and sessions of keys revoked while they are open: looks
/// every [`revocation_interval`] while a stream is open, never otherwise.
pub async fn watch(state: Watcher) {
    let interval = revocation_interval(&state.store);
    let mut open = state.streams.open.subscribe();
    let mut since = crate::store::now();
    // (key, when): a key whose member's role changes again is seen again.
    let mut handled: HashSet<(crate::store::KeyId, String)> = HashSet::new();
    loop {
        tokio::select! {
            waited = open.wait_for(|n| *n > 0) => if waited.is_err() { return },
            () = state.shutdown.cancelled() => return,
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = state.shutdown.cancelled() => return,
        }
        if state.streams.is_empty() {
            // Short streams (a POST answered as an event stream) came and
            // went: nothing is left to close.
            continue;
        }
        let revoked = match state.store.keys_revoked_since(&since).await {
            Ok(revoked) => revoked,
            Err(error) => {
                tracing::warn!(%error, "could not check for revoked keys");
                continue;
            }
        };
        if let Some((_, latest)) = revoked.last() {
            since.clone_from(latest);
        }
        let seen: Vec<(crate::store::KeyId, String)> = revoked
            .into_iter()
            .filter(|event| !handled.contains(event))
            .collect();
        if seen.is_empty() {
            continue;
        }
        let fresh: Vec<crate::store::KeyId> = seen.iter().map(|(id, _)| id.clone()).collect();
        state.auth.forget_keys(&fresh);
        let streams = state.streams.close_keys(&fresh);
        let (sessions, sse) = state.owners.close_keys(&fresh).await;
        tracing::info!(
            keys = fresh.len(),
            streams,
            sse,
            sessions,
            "closed the streams and sessions of revoked keys"
        );
        handled.extend(seen);
    }
}
