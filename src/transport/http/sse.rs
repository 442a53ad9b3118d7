//! The legacy HTTP+SSE transport of protocol 2024-11-05, which older clients
//! and `mcp-remote` still speak (rmcp no longer ships it): `GET /sse` opens an
//! event stream whose first event, `endpoint`, names the URL to POST messages
//! to; every server message is then a `message` event on that stream.
//!
//! Each stream is one MCP session served by the same [`KanbanServer`] as
//! every other transport. A session belongs to the principal that opened it
//! (its owner is kept in `Owners`, with the Streamable HTTP sessions):
//! `POST /messages` must carry the same credentials, and revoking that key
//! closes the stream. What the router hands in is a [`Legacy`]; this module
//! knows nothing of the rest of the HTTP server.

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    Extension,
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

use super::{
    calls::McpPost,
    error::EdgeError,
    owners::{Owners, SseSession},
};
use crate::{auth::Principal, metrics::Metrics, server::KanbanServer};

/// Messages buffered per session in each direction. The channels carry
/// boxed messages: a tokio channel allocates its first block of 32 slots
/// when it is made, and an idle stream should not hold 64 messages' worth
/// of empty slots.
const CHANNEL_CAPACITY: usize = 64;
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// What the legacy transport needs from the server it is part of.
#[derive(Clone)]
pub struct Legacy {
    pub server: KanbanServer,
    pub owners: Arc<Owners>,
    pub metrics: Arc<Metrics>,
    /// Cancelled on shutdown: every session ends.
    pub shutdown: CancellationToken,
}

/// Removes the session when its event stream ends, however it ends.
struct SessionGuard {
    id: String,
    owners: Arc<Owners>,
    metrics: Arc<Metrics>,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.owners.close_sse(&self.id);
        self.metrics.sse_session_closed();
    }
}

/// `GET /sse`: opens a session and streams its events.
pub async fn connect(
    State(state): State<Legacy>,
    Extension(principal): Extension<Principal>,
) -> Response {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (to_server, from_client) = mpsc::channel::<Box<ClientJsonRpcMessage>>(CHANNEL_CAPACITY);
    let (to_client, from_server) = mpsc::channel::<Box<ServerJsonRpcMessage>>(CHANNEL_CAPACITY);
    let closed = state.shutdown.child_token();
    spawn_service(
        state.server.for_connection(),
        &id,
        from_client,
        to_client,
        closed.clone(),
    );

    let session = SseSession {
        to_server,
        closed: closed.clone(),
    };
    state.owners.open_sse(&id, &principal, session);
    state.metrics.sse_session_opened();
    tracing::info!(session = %id, workspace = %principal.workspace_name, "legacy SSE session opened");

    let guard = SessionGuard {
        id: id.clone(),
        owners: Arc::clone(&state.owners),
        metrics: Arc::clone(&state.metrics),
    };
    Sse::new(events(&id, from_server, closed, guard))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

/// Runs the session's rmcp service: it reads what the client POSTs and
/// writes to the event stream, until `closed`. The service starts with the
/// first message the client posts (rmcp would only wait for `initialize`
/// until then), so an idle stream holds two channels and a small task, not
/// a whole rmcp service: that is what 1,000 idle streams cost.
fn spawn_service(
    server: KanbanServer,
    id: &str,
    mut from_client: mpsc::Receiver<Box<ClientJsonRpcMessage>>,
    to_client: mpsc::Sender<Box<ServerJsonRpcMessage>>,
    closed: CancellationToken,
) {
    let id = id.to_owned();
    tokio::spawn(async move {
        let first = tokio::select! {
            message = from_client.recv() => message,
            () = closed.cancelled() => None,
        };
        let Some(first) = first else {
            closed.cancel();
            return;
        };
        let incoming = Box::pin(futures::stream::once(async move { *first }).chain(
            futures::stream::unfold(from_client, |mut rx| async move {
                rx.recv().await.map(|message| (*message, rx))
            }),
        ));
        let outgoing = Box::pin(futures::sink::unfold(
            to_client,
            |tx, message: ServerJsonRpcMessage| async move {
                tx.send(Box::new(message)).await?;
                Ok::<_, mpsc::error::SendError<Box<ServerJsonRpcMessage>>>(tx)
            },
        ));
        // Boxed: the idle task above stays small; the service's state is
        // only allocated once it runs.
        let serve = Box::pin(server.serve_with_ct((outgoing, incoming), closed.clone()));
        match serve.await {
            Ok(running) => {
                let _ = running.waiting().await;
            }
            Err(error) => {
                tracing::debug!(session = %id, %error, "legacy SSE session ended before initialize")
            }
        }
        closed.cancel();
    });
}

type EventStream = std::pin::Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>>;

/// The session's events: `endpoint` first, then each server message, until
/// the session closes. `guard` lives as long as the stream.
fn events(
    id: &str,
    from_server: mpsc::Receiver<Box<ServerJsonRpcMessage>>,
    closed: CancellationToken,
    guard: SessionGuard,
) -> EventStream {
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
    Box::pin(
        futures::stream::once(async move { endpoint })
            .chain(messages)
            .map(Ok),
    )
}

#[derive(Deserialize)]
pub struct MessageQuery {
    #[serde(rename = "sessionId")]
    session_id: String,
}

/// `POST /messages?sessionId=…`: one client message for an open session.
/// The body was read and checked once by `calls`.
pub async fn message(
    State(state): State<Legacy>,
    Extension(principal): Extension<Principal>,
    Extension(post): Extension<McpPost>,
    Query(query): Query<MessageQuery>,
    request: Request,
) -> Result<StatusCode, EdgeError> {
    let (parts, _) = request.into_parts();
    let sender = state.owners.sse_sender(&query.session_id, &principal)?;
    let mut message: ClientJsonRpcMessage = serde_json::from_value(post.0.as_ref().clone())
        .map_err(|e| EdgeError::NotJsonRpc(e.to_string()))?;
    // The handler finds the caller (and the request id) in the HTTP parts,
    // exactly as for Streamable HTTP.
    if let ClientJsonRpcMessage::Request(request) = &mut message {
        request.request.extensions_mut().insert(parts);
    }
    sender
        .send(Box::new(message))
        .await
        .map_err(|_| EdgeError::SseSessionClosed)?;
    Ok(StatusCode::ACCEPTED)
}
