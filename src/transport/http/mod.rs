//! MCP over HTTP: Streamable HTTP at `/mcp` (rmcp's service; every protocol
//! version from 2024-11-05 to 2026-07-28 — 2026-07-28 requests are served
//! statelessly, older clients get sessions), the legacy HTTP+SSE transport at
//! `/sse` + `/messages` ([`sse`]), `/healthz`, `/metrics`, the OAuth
//! protected resource metadata and the web board at `/` ([`crate::web`]). All MCP endpoints serve the same
//! [`KanbanServer`]. This file is the router and its state; each concern of
//! the edge is its own module, in the order a request meets them:
//!
//! 1. tower-http's body deadline and request id (`X-Request-Id`), then
//!    `edge`: log span and metrics, Host and Origin checks, CORS.
//! 2. MCP endpoints only: `auth` (bearer token → `Principal`; a refusal
//!    carries a typed `WWW-Authenticate` `challenge`), the body limit
//!    (tower-http), `owners` (who owns each session, both transports),
//!    [`revocation`] (streams end with their key), `calls` (the body
//!    parsed once: scopes, rate limit, listen checks, the request timeout),
//!    then `direct` answers a plain stateless `tools/call` itself and rmcp
//!    the rest.
//!
//! `avatars` serves `POST /avatars` and `GET /avatars/{user_id}` behind the
//! same `auth`.
//!
//! Every refusal is an [`EdgeError`]. The modules import only each other's
//! leaves (`error`, `challenge`, `owners`, `calls::McpPost`), never this
//! router: each middleware gets its own part of [`HttpState`]. Below it
//! all, the accept loop of [`listener`](super::listener) (header read
//! timeout, connection cap).

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Json, Router,
    extract::{FromRef, State},
    http::{StatusCode, header},
    middleware,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tower_http::{
    limit::RequestBodyLimitLayer,
    request_id::{PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::RequestBodyDeadlineLayer,
};

use super::ratelimit::RateLimiter;
use crate::{
    auth::{Authenticator, Principal},
    metrics::Metrics,
    server::KanbanServer,
    store::Store,
};

mod auth;
mod avatars;
mod calls;
mod challenge;
mod direct;
mod edge;
mod error;
mod owners;
pub mod revocation;
pub mod sse;
mod webhooks;

pub use super::{listener::ConnectionLimits, ratelimit::RateLimit};
pub use edge::origin_allowed;
pub use error::EdgeError;
use owners::Owners;
use revocation::OpenStreams;

/// How the HTTP server is exposed and protected.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub addr: SocketAddr,
    /// Host names (or host:port) accepted in the `Host` header, besides
    /// loopback names and the address bound.
    pub allowed_hosts: Vec<String>,
    /// Browser origins allowed to call (and for CORS); any other `Origin` is 403.
    pub allowed_origins: Vec<String>,
    pub max_body_bytes: usize,
    /// Longest a request may take, from its head to its answer — reading
    /// the body included (408 when the body is not in by then, 504 when
    /// the answer is not).
    pub request_timeout: Duration,
    /// Open connections and how long a request head may take.
    pub connections: ConnectionLimits,
    pub rate_limit: Option<RateLimit>,
    /// Loopback-only mode without credentials: every request acts as the
    /// local owner. For local tools such as the conformance suite.
    pub no_auth: bool,
}

/// Everything the HTTP layer shares. Each edge module gets its own part
/// (none of them knows this type).
pub struct HttpState {
    store: Store,
    server: KanbanServer,
    options: HttpOptions,
    edge: Arc<edge::EdgeChecks>,
    auth: Arc<auth::Authentication>,
    calls: Arc<calls::CallChecks>,
    /// Open MCP sessions of both transports and who owns each.
    owners: Arc<Owners>,
    /// Open event streams, closed when their key is revoked or expires.
    streams: Arc<OpenStreams>,
    metrics: Arc<Metrics>,
    mcp_sessions: Arc<LocalSessionManager>,
    shutdown: CancellationToken,
    /// GitHub settings, for `POST /webhooks/github`.
    github: Option<Arc<crate::github::GitHub>>,
    /// Where avatars are kept (the logs' object store), if anywhere.
    objects: Option<crate::logs::LogStore>,
    /// Where `web login` leaves one-time sign-in links for the web board.
    login_dir: Option<std::path::PathBuf>,
}

impl HttpState {
    pub fn new(
        store: Store,
        server: KanbanServer,
        authenticator: Authenticator,
        local_owner: Option<Principal>,
        metrics: Arc<Metrics>,
        options: HttpOptions,
    ) -> Self {
        let mcp_sessions = Arc::new(LocalSessionManager::default());
        let edge = edge::EdgeChecks {
            allowed_hosts: edge::allowed_hosts(options.addr.ip(), &options.allowed_hosts),
            allowed_origins: options.allowed_origins.clone(),
            metrics: Arc::clone(&metrics),
        };
        let auth = auth::Authentication {
            authenticator: Arc::new(authenticator),
            no_auth: options.no_auth,
            local_owner,
        };
        let calls = calls::CallChecks {
            server: server.clone(),
            limiter: RateLimiter::new(options.rate_limit),
            metrics: Arc::clone(&metrics),
            max_body_bytes: options.max_body_bytes,
            request_timeout: options.request_timeout,
        };
        HttpState {
            store,
            server,
            edge: Arc::new(edge),
            auth: Arc::new(auth),
            calls: Arc::new(calls),
            owners: Arc::new(Owners::new(Arc::clone(&mcp_sessions))),
            streams: Arc::default(),
            metrics,
            options,
            mcp_sessions,
            shutdown: CancellationToken::new(),
            github: None,
            objects: None,
            login_dir: None,
        }
    }

    /// Accepts the one-time sign-in links `web login` writes under
    /// `data_dir` (the local store only).
    pub fn with_login_links(mut self, data_dir: std::path::PathBuf) -> Self {
        self.login_dir = Some(data_dir);
        self
    }

    /// Keeps avatars in `objects` (the logs' store) and serves `/avatars`.
    pub fn with_objects(mut self, objects: crate::logs::LogStore) -> Self {
        self.objects = Some(objects);
        self
    }

    /// Accepts GitHub's webhook deliveries with these settings.
    pub fn with_github(mut self, github: Option<Arc<crate::github::GitHub>>) -> Self {
        self.github = github;
        self
    }

    /// The web board over the same store, tool layer and credentials.
    fn web(&self) -> crate::web::Web {
        crate::web::Web::new(crate::web::WebOptions {
            store: self.store.clone(),
            server: self.server.clone(),
            authenticator: Arc::clone(&self.auth.authenticator),
            local_owner: self
                .auth
                .no_auth
                .then(|| self.auth.local_owner.clone())
                .flatten(),
            login_dir: self.login_dir.clone(),
            guard: {
                let streams = Arc::clone(&self.streams);
                Arc::new(move |principal, body| streams.guard(principal, body))
            },
            objects: self.objects.clone(),
        })
    }
}

impl FromRef<Arc<HttpState>> for avatars::Avatars {
    fn from_ref(state: &Arc<HttpState>) -> Self {
        avatars::Avatars {
            store: state.store.clone(),
            objects: state.objects.clone(),
        }
    }
}

impl FromRef<Arc<HttpState>> for sse::Legacy {
    fn from_ref(state: &Arc<HttpState>) -> Self {
        sse::Legacy {
            server: state.server.clone(),
            owners: Arc::clone(&state.owners),
            metrics: Arc::clone(&state.metrics),
            shutdown: state.shutdown.clone(),
        }
    }
}

/// rmcp's Streamable HTTP service. Its Host check is off: [`edge`] checks
/// the Host of every request, once.
fn streamable(state: &HttpState) -> StreamableHttpService<KanbanServer, LocalSessionManager> {
    let config = StreamableHttpServerConfig::default()
        .disable_allowed_hosts()
        .with_max_request_body_bytes(state.options.max_body_bytes)
        .with_cancellation_token(state.shutdown.child_token())
        .with_legacy_session_mode(true)
        // A stateless (2026-07-28) call that only answers gets a plain JSON
        // reply instead of a one-event SSE stream; one that sends
        // notifications first still streams.
        .with_json_response(true);
    let server = state.server.clone();
    StreamableHttpService::new(
        move || Ok(server.for_connection()),
        Arc::clone(&state.mcp_sessions),
        config,
    )
}

/// The MCP endpoints and their guards. `Router::layer` wraps what is
/// already there, so the last layer listed is the first a request meets:
/// the 413 rewrite, auth, body limit, session ownership, stream
/// revocation, call checks.
fn mcp_routes(state: &Arc<HttpState>) -> Router<Arc<HttpState>> {
    Router::new()
        .nest_service("/mcp", streamable(state))
        .route("/sse", get(sse::connect))
        .route("/messages", post(sse::message))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state.calls),
            calls::check,
        ))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state.streams),
            revocation::end_streams,
        ))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state.owners),
            owners::guard,
        ))
        // Inside auth, so credentials are checked before the body's size.
        .layer(RequestBodyLimitLayer::new(state.options.max_body_bytes))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state.auth),
            auth::authenticate,
        ))
        .layer(middleware::map_response_with_state(
            Arc::clone(&state.calls),
            calls::too_large_as_json_rpc,
        ))
}

/// Avatars (`avatars.rs`): authenticated like the MCP endpoints; the upload
/// reads at most 1 MB of body itself, to say what the limit is.
fn avatar_routes(state: &Arc<HttpState>) -> Router<Arc<HttpState>> {
    Router::new()
        .route("/avatars", post(avatars::upload))
        .route("/avatars/{user_id}", get(avatars::download))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state.auth),
            auth::authenticate,
        ))
}

/// The whole HTTP application. As above, the last layer listed is the
/// outermost: the whole body must be in within the request timeout, however
/// slowly it trickles (`calls` answers 408); the request id is set before
/// anything logs and echoed on every answer, refusals included.
pub fn router(state: Arc<HttpState>) -> Router {
    let board = crate::web::routes(Arc::new(state.web()));
    Router::new()
        .merge(mcp_routes(&state))
        .route(
            "/webhooks/github",
            post(webhooks::github).layer(RequestBodyLimitLayer::new(state.options.max_body_bytes)),
        )
        .merge(avatar_routes(&state))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route(
            "/.well-known/oauth-protected-resource",
            get(auth::resource_metadata),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(auth::resource_metadata),
        )
        .with_state(Arc::clone(&state))
        // The web board at `/`: behind the same Host/Origin checks.
        .merge(board)
        .layer(edge::cors(&state.edge.allowed_origins))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state.edge),
            edge::check_host_and_origin,
        ))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state.edge),
            edge::observe,
        ))
        .layer(PropagateRequestIdLayer::new(edge::REQUEST_ID))
        .layer(SetRequestIdLayer::new(
            edge::REQUEST_ID,
            edge::MakeRequestUuidV7,
        ))
        .layer(middleware::map_request(edge::drop_unusable_request_id))
        .layer(RequestBodyDeadlineLayer::new(state.options.request_timeout))
}

/// Serves until `shutdown` resolves (the binary passes SIGINT/SIGTERM; the
/// library installs no signal handler), then stops accepting, closes
/// streams and lets in-flight calls finish. Every write is committed before
/// its reply, so nothing acknowledged is lost.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<HttpState>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    tokio::spawn(revocation::watch(revocation::Watcher {
        store: state.store.clone(),
        auth: Arc::clone(&state.auth.authenticator),
        streams: Arc::clone(&state.streams),
        owners: Arc::clone(&state.owners),
        shutdown: state.shutdown.clone(),
    }));
    let app = router(Arc::clone(&state));
    let shutdown_state = Arc::clone(&state);
    super::listener::serve(listener, app, state.options.connections, async move {
        shutdown.await;
        tracing::info!("shutting down: finishing in-flight requests");
        shutdown_state.shutdown.cancel();
        shutdown_state.owners.close_all_sse();
    })
    .await;
    Ok(())
}

async fn healthz(State(state): State<Arc<HttpState>>) -> Response {
    match state.store.ping().await {
        Ok(()) => Json(json!({"status": "ok", "store": state.store.backend()})).into_response(),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "store": state.store.backend(), "error": error.to_string()})),
        )
            .into_response(),
    }
}

async fn metrics(State(state): State<Arc<HttpState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        format!(
            "{}# HELP vk_ratelimit_buckets Rate-limit buckets held (bounded: one per key and offered tool).\n# TYPE vk_ratelimit_buckets gauge\nvk_ratelimit_buckets {}\n",
            state.metrics.render(),
            state.calls.limiter.buckets()
        ),
    )
        .into_response()
}
