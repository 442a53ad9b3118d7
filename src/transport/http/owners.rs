//! Who owns each open MCP session: one map for Streamable HTTP sessions
//! (rmcp's, named by `Mcp-Session-Id`) and legacy SSE sessions (ours, named
//! by `?sessionId=`). A session belongs to the credentials that opened it;
//! other credentials are refused, and revoking a key closes its sessions.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use axum::{
    extract::{Request, State},
    http::{Method, StatusCode},
    middleware::Next,
    response::Response,
};
use rmcp::{
    model::ClientJsonRpcMessage,
    transport::streamable_http_server::{SessionManager, session::local::LocalSessionManager},
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::error::EdgeError;
use crate::auth::Principal;

const SESSION_HEADER: &str = "mcp-session-id";

/// The credentials a session belongs to.
#[derive(Debug, Clone)]
struct Owner {
    /// [`Principal::identity`].
    identity: String,
    /// The API key, when the session was opened with one (revocable).
    api_key_id: Option<crate::store::KeyId>,
}

impl Owner {
    fn of(principal: &Principal) -> Self {
        Owner {
            identity: principal.identity(),
            api_key_id: principal.actor.api_key_id.clone(),
        }
    }
}

/// The transport's end of a legacy SSE session.
pub struct SseSession {
    /// Where `POST /messages` hands client messages to the session.
    pub to_server: mpsc::Sender<Box<ClientJsonRpcMessage>>,
    /// Cancelled to end the session and its event stream.
    pub closed: CancellationToken,
}

enum Kind {
    Streamable,
    Sse(SseSession),
}

struct Entry {
    owner: Owner,
    kind: Kind,
}

/// Open sessions of both HTTP transports, by session id.
pub struct Owners {
    sessions: Mutex<HashMap<String, Entry>>,
    /// rmcp's Streamable HTTP sessions, closed here on revocation.
    streamable: Arc<LocalSessionManager>,
}

impl Owners {
    pub fn new(streamable: Arc<LocalSessionManager>) -> Self {
        Owners {
            sessions: Mutex::default(),
            streamable,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a legacy SSE session opened by `principal`.
    pub fn open_sse(&self, id: &str, principal: &Principal, session: SseSession) {
        let entry = Entry {
            owner: Owner::of(principal),
            kind: Kind::Sse(session),
        };
        self.lock().insert(id.to_owned(), entry);
    }

    /// Ends and forgets a legacy SSE session (its stream ended).
    pub fn close_sse(&self, id: &str) {
        let mut sessions = self.lock();
        if let Some(Entry {
            kind: Kind::Sse(session),
            ..
        }) = sessions.get(id)
        {
            session.closed.cancel();
            sessions.remove(id);
        }
    }

    /// Where to send a message for SSE session `id`, if `principal` owns it.
    pub fn sse_sender(
        &self,
        id: &str,
        principal: &Principal,
    ) -> Result<mpsc::Sender<Box<ClientJsonRpcMessage>>, EdgeError> {
        let sessions = self.lock();
        let Some(Entry {
            owner,
            kind: Kind::Sse(session),
        }) = sessions.get(id)
        else {
            return Err(EdgeError::NoSseSession);
        };
        if owner.identity != principal.identity() {
            return Err(EdgeError::SseSessionOfOthers);
        }
        Ok(session.to_server.clone())
    }

    /// Whether `principal` may use Streamable HTTP session `id` (an id not
    /// bound yet is rmcp's to answer).
    fn check_streamable(&self, id: &str, principal: &Principal) -> Result<(), EdgeError> {
        match self.lock().get(id) {
            Some(entry) if entry.owner.identity != principal.identity() => {
                Err(EdgeError::SessionOfOthers)
            }
            _ => Ok(()),
        }
    }

    fn bind_streamable(&self, id: &str, principal: &Principal) {
        let entry = Entry {
            owner: Owner::of(principal),
            kind: Kind::Streamable,
        };
        self.lock().insert(id.to_owned(), entry);
    }

    fn forget_streamable(&self, id: &str) {
        let mut sessions = self.lock();
        if matches!(
            sessions.get(id),
            Some(Entry {
                kind: Kind::Streamable,
                ..
            })
        ) {
            sessions.remove(id);
        }
    }

    /// Closes every session opened with one of these (revoked) keys; returns
    /// how many of each transport (Streamable HTTP, SSE).
    pub async fn close_keys(&self, key_ids: &[crate::store::KeyId]) -> (usize, usize) {
        let revoked = |entry: &Entry| {
            entry
                .owner
                .api_key_id
                .as_ref()
                .is_some_and(|k| key_ids.contains(k))
        };
        let (mut streamable, mut sse) = (Vec::new(), 0);
        self.lock().retain(|id, entry| {
            if !revoked(entry) {
                return true;
            }
            match &entry.kind {
                Kind::Streamable => streamable.push(id.clone()),
                Kind::Sse(session) => {
                    session.closed.cancel();
                    sse += 1;
                }
            }
            false
        });
        for id in &streamable {
            let _ = self.streamable.close_session(&id.as_str().into()).await;
        }
        (streamable.len(), sse)
    }

    /// Ends every legacy SSE session (shutdown; rmcp ends its own).
    pub fn close_all_sse(&self) {
        self.lock().retain(|_, entry| match &entry.kind {
            Kind::Sse(session) => {
                session.closed.cancel();
                false
            }
            Kind::Streamable => true,
        });
    }
}

/// Session ownership on Streamable HTTP: a request naming a session must
/// come from its owner; a new session belongs to whoever opened it; a
/// closed one is forgotten. Needs the [`Principal`] of `auth`.
pub async fn guard(
    State(owners): State<Arc<Owners>>,
    request: Request,
    next: Next,
) -> Result<Response, EdgeError> {
    let principal = request
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or(EdgeError::Internal(
            "session ownership runs after authentication",
        ))?;
    let session = request
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(session) = &session {
        owners.check_streamable(session, &principal)?;
    }
    let method = request.method().clone();
    let mut response = next.run(request).await;
    match &session {
        // rmcp answers the DELETE with 202; clients expect 200 or 204 for a
        // finished termination.
        Some(session) if method == Method::DELETE && response.status().is_success() => {
            owners.forget_streamable(session);
            if response.status() == StatusCode::ACCEPTED {
                *response.status_mut() = StatusCode::NO_CONTENT;
            }
        }
        Some(_) => {}
        None => {
            if let Some(new) = response
                .headers()
                .get(SESSION_HEADER)
                .and_then(|v| v.to_str().ok())
            {
                owners.bind_streamable(new, &principal);
            }
        }
    }
    Ok(response)
}
