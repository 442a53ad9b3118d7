//! The legacy HTTP+SSE transport of protocol 2024-11-05, which older clients
//! and `mcp-remote` still speak (rmcp no longer ships it): `GET /sse` opens an
//! event stream whose first event, `endpoint`, names the URL to POST messages
//! to; every server message is then a `message` event on that stream.
//!
//! Each stream is one MCP session served by the same [`KanbanServer`] as
//! every other transport. A session belongs to the principal that opened it:
//! `POST /messages` must carry the same credentials, and revoking that key
//! closes the stream.

use std::{collections::HashMap, convert::Infallible, sync::Arc, time::Duration};

use axum::{
    Extension,
    body::Bytes,
    extract::{Query, Request, State},
    http::StatusCode,
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use futures::{Stream, StreamExt};
use rmcp::{
    ServiceExt,
    model::{ClientJsonRpcMessage, GetExtensions, ServerJsonRpcMessage},
};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::http::HttpState;
use crate::{auth::Principal, server::KanbanServer};

/// Messages buffered per session in each direction.
const CHANNEL_CAPACITY: usize = 64;
const KEEP_ALIVE: Duration = Duration::from_secs(15);

struct Session {
    identity: String,
    api_key_id: Option<crate::store::KeyId>,
    to_server: mpsc::Sender<ClientJsonRpcMessage>,
    closed: CancellationToken,
}

/// Open legacy SSE sessions, by session id.
#[derive(Default)]
pub struct SseSessions {
    sessions: std::sync::Mutex<HashMap<String, Session>>,
}

impl SseSessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Closes every session opened with one of these (revoked) keys.
    pub fn close_for_keys(&self, key_ids: &[crate::store::KeyId]) -> usize {
        let mut sessions = self.lock();
        let before = sessions.len();
        sessions.retain(|_, s| {
            let revoked = s.api_key_id.as_ref().is_some_and(|id| key_ids.contains(id));
            if revoked {
                s.closed.cancel();
            }
            !revoked
        });
        before - sessions.len()
    }

    /// Closes every session (shutdown).
    pub fn close_all(&self) {
        for (_, session) in self.lock().drain() {
            session.closed.cancel();
        }
    }
}

/// Removes the session when its event stream ends, however it ends.
struct SessionGuard {
    id: String,
    state: Arc<HttpState>,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        if let Some(session) = self.state.sse.lock().remove(&self.id) {
            session.closed.cancel();
        }
        self.state.metrics.sse_session_closed();
    }
}

/// `GET /sse`: opens a session and streams its events.
pub async fn connect(
    State(state): State<Arc<HttpState>>,
    Extension(principal): Extension<Principal>,
) -> Response {
    let server: KanbanServer = state.server.for_connection();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (to_server, from_client) = mpsc::channel::<ClientJsonRpcMessage>(CHANNEL_CAPACITY);
    let (to_client, from_server) = mpsc::channel::<ServerJsonRpcMessage>(CHANNEL_CAPACITY);
    let closed = state.shutdown.child_token();

    // The rmcp service reads what clients POST and writes to the stream.
    let incoming = Box::pin(futures::stream::unfold(from_client, |mut rx| async move {
        rx.recv().await.map(|message| (message, rx))
    }));
    let outgoing = Box::pin(futures::sink::unfold(
        to_client,
        |tx, message: ServerJsonRpcMessage| async move {
            tx.send(message).await?;
            Ok::<_, mpsc::error::SendError<ServerJsonRpcMessage>>(tx)
        },
    ));
    let service_closed = closed.clone();
    let service_id = id.clone();
    tokio::spawn(async move {
        match server
            .serve_with_ct((outgoing, incoming), service_closed.clone())
            .await
        {
            Ok(running) => {
                let _ = running.waiting().await;
            }
            Err(error) => {
                tracing::debug!(session = %service_id, %error, "legacy SSE session ended before initialize")
            }
        }
        service_closed.cancel();
    });

    state.sse.lock().insert(
        id.clone(),
        Session {
            identity: principal.identity(),
            api_key_id: principal.actor.api_key_id.clone(),
            to_server,
            closed: closed.clone(),
        },
    );
    state.metrics.sse_session_opened();
    tracing::info!(session = %id, workspace = %principal.workspace_name, "legacy SSE session opened");

    let guard = SessionGuard {
        id: id.clone(),
        state: Arc::clone(&state),
    };
    let endpoint = Event::default()
        .event("endpoint")
        .data(format!("/messages?sessionId={id}"));
    let messages = futures::stream::unfold(
        (from_server, closed, guard),
        |(mut rx, closed, guard)| async move {
            tokio::select! {
                message = rx.recv() => {
                    let message = message?;
                    let event = match serde_json::to_string(&message) {
                        Ok(json) => Event::default().event("message").data(json),
                        Err(error) => {
                            tracing::error!(%error, "could not encode a server message");
                            return None;
                        }
                    };
                    Some((event, (rx, closed, guard)))
                }
                () = closed.cancelled() => None,
            }
        },
    );
    let stream: std::pin::Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>> = Box::pin(
        futures::stream::once(async move { endpoint })
            .chain(messages)
            .map(Ok),
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

#[derive(Deserialize)]
pub struct MessageQuery {
    #[serde(rename = "sessionId")]
    session_id: String,
}

/// `POST /messages?sessionId=…`: one client message for an open session.
pub async fn message(
    State(state): State<Arc<HttpState>>,
    Extension(principal): Extension<Principal>,
    Query(query): Query<MessageQuery>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes): Result<Bytes, _> =
        axum::body::to_bytes(body, state.options.max_body_bytes).await
    else {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the message is larger than the server accepts",
        );
    };
    let (sender, identity) = {
        let sessions = state.sse.lock();
        match sessions.get(&query.session_id) {
            Some(session) => (session.to_server.clone(), session.identity.clone()),
            None => {
                return error(
                    StatusCode::NOT_FOUND,
                    "no open SSE session with this id; open one with GET /sse",
                );
            }
        }
    };
    if identity != principal.identity() {
        return error(
            StatusCode::FORBIDDEN,
            "this SSE session belongs to other credentials",
        );
    }
    let mut message: ClientJsonRpcMessage = match serde_json::from_slice(&bytes) {
        Ok(message) => message,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("not a JSON-RPC message: {e}"),
            );
        }
    };
    // The handler finds the caller (and the request id) in the HTTP parts,
    // exactly as for Streamable HTTP.
    if let ClientJsonRpcMessage::Request(request) = &mut message {
        request.request.extensions_mut().insert(parts);
    }
    if sender.send(message).await.is_err() {
        return error(StatusCode::GONE, "the SSE session has closed");
    }
    StatusCode::ACCEPTED.into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    super::http::refuse(status, message)
}
