//! MCP over HTTP: Streamable HTTP at `/mcp` (rmcp's service; every protocol
//! version from 2024-11-05 to 2026-07-28 — 2026-07-28 requests are served
//! statelessly, older clients get sessions), the legacy HTTP+SSE transport at
//! `/sse` + `/messages`, `/healthz`, `/metrics` and the OAuth protected
//! resource metadata. All MCP endpoints serve the same [`KanbanServer`].
//!
//! The edge of the server, outermost first:
//! 1. `edge`: request id (echoed or made), Host and Origin validation,
//!    metrics and the request's log span.
//! 2. CORS, only for configured origins.
//! 3. `guard` (MCP endpoints only): bearer auth (API key or JWT), session
//!    ownership, body limit, a JSON-RPC error for a malformed body, scope
//!    check and rate limit per key and tool, and the request timeout.
//!
//! Around all of it, a deadline on reading the request body, and below it
//! the accept loop of [`listener`](super::listener) (header read timeout,
//! connection cap).

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    body::Body,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    timeout::RequestBodyDeadlineLayer,
};
use tracing::Instrument;

use super::{
    jsonrpc_errors,
    ratelimit::{RateLimiter, ToolKey},
    revocation::OpenStreams,
    sse,
};
use crate::{
    auth::{AuthError, Authenticator, Principal, Scope},
    metrics::Metrics,
    server::KanbanServer,
    store::{KeyId, Store},
};

pub use super::{listener::ConnectionLimits, ratelimit::RateLimit};

/// Longest `X-Request-Id` taken from a client.
const MAX_REQUEST_ID: usize = 128;

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

/// The request id of the request being served.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Everything the HTTP layer shares.
pub struct HttpState {
    pub store: Store,
    pub server: KanbanServer,
    pub auth: Authenticator,
    /// The principal of `--no-auth` mode.
    pub local_owner: Option<Principal>,
    pub metrics: Arc<Metrics>,
    pub limiter: RateLimiter,
    pub options: HttpOptions,
    pub sse: sse::SseSessions,
    /// Open event streams, closed when their key is revoked or expires.
    pub streams: Arc<OpenStreams>,
    /// Streamable HTTP session id → (identity, API key id) of its owner.
    bindings: Mutex<HashMap<String, (String, Option<KeyId>)>>,
    mcp_sessions: Arc<LocalSessionManager>,
    pub shutdown: CancellationToken,
}

impl HttpState {
    pub fn new(
        store: Store,
        server: KanbanServer,
        auth: Authenticator,
        local_owner: Option<Principal>,
        metrics: Arc<Metrics>,
        options: HttpOptions,
    ) -> Self {
        HttpState {
            store,
            server,
            auth,
            local_owner,
            metrics,
            limiter: RateLimiter::new(options.rate_limit),
            options,
            sse: sse::SseSessions::default(),
            streams: Arc::default(),
            bindings: Mutex::new(HashMap::new()),
            mcp_sessions: Arc::new(LocalSessionManager::default()),
            shutdown: CancellationToken::new(),
        }
    }

    fn bindings(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Option<KeyId>)>> {
        self.bindings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Closes the Streamable HTTP sessions of these (revoked) keys; returns
    /// how many.
    pub(super) async fn close_sessions_of_keys(&self, key_ids: &[KeyId]) -> usize {
        let sessions: Vec<String> = self
            .bindings()
            .iter()
            .filter(|(_, (_, key))| key.as_ref().is_some_and(|k| key_ids.contains(k)))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &sessions {
            self.bindings().remove(id);
            let _ = rmcp::transport::streamable_http_server::SessionManager::close_session(
                self.mcp_sessions.as_ref(),
                &id.as_str().into(),
            )
            .await;
        }
        sessions.len()
    }

    /// Host names accepted in `Host`.
    fn allowed_hosts(&self) -> Vec<String> {
        let mut hosts = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ];
        if !self.options.addr.ip().is_unspecified() {
            hosts.push(self.options.addr.ip().to_string());
        }
        hosts.extend(self.options.allowed_hosts.iter().cloned());
        hosts
    }
}

/// The whole HTTP application.
pub fn router(state: Arc<HttpState>) -> Router {
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(state.allowed_hosts())
        .with_max_request_body_bytes(state.options.max_body_bytes)
        .with_cancellation_token(state.shutdown.child_token())
        .with_legacy_session_mode(true)
        // A stateless (2026-07-28) call that only answers gets a plain JSON
        // reply instead of a one-event SSE stream; one that sends
        // notifications first still streams.
        .with_json_response(true);
    let server = state.server.clone();
    let mcp = StreamableHttpService::new(
        move || Ok(server.for_connection()),
        Arc::clone(&state.mcp_sessions),
        config,
    );

    let guarded = Router::new()
        .nest_service("/mcp", mcp)
        .route("/sse", get(sse::connect))
        .route("/messages", post(sse::message))
        .layer(middleware::from_fn_with_state(Arc::clone(&state), guard));
    let origins = state.options.allowed_origins.clone();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, _| {
            origin.to_str().is_ok_and(|o| origin_allowed(&origins, o))
        }))
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static("mcp-session-id"),
            header::HeaderName::from_static("mcp-protocol-version"),
            header::HeaderName::from_static("last-event-id"),
            header::HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            header::WWW_AUTHENTICATE,
            header::HeaderName::from_static("mcp-session-id"),
            header::HeaderName::from_static("x-request-id"),
        ]);
    Router::new()
        .merge(guarded)
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route(
            "/.well-known/oauth-protected-resource",
            get(resource_metadata),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(resource_metadata),
        )
        .layer(cors)
        .layer(middleware::from_fn_with_state(Arc::clone(&state), edge))
        // Outermost: the whole body must be in within the request timeout,
        // however slowly it trickles (the guard answers 408).
        .layer(RequestBodyDeadlineLayer::new(state.options.request_timeout))
        .with_state(state)
}

/// Serves until SIGINT/SIGTERM, then stops accepting, closes streams and
/// lets in-flight calls finish. Every write is committed before its reply,
/// so nothing acknowledged is lost.
pub async fn serve(listener: tokio::net::TcpListener, state: Arc<HttpState>) -> anyhow::Result<()> {
    tokio::spawn(super::revocation::watch(Arc::clone(&state)));
    let app = router(Arc::clone(&state));
    let shutdown_state = Arc::clone(&state);
    super::listener::serve(listener, app, state.options.connections, async move {
        super::stdio::shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        shutdown_state.shutdown.cancel();
        shutdown_state.sse.close_all();
    })
    .await;
    Ok(())
}

fn endpoint_label(path: &str) -> &'static str {
    match path {
        p if p.starts_with("/mcp") => "/mcp",
        "/sse" => "/sse",
        "/messages" => "/messages",
        "/healthz" => "/healthz",
        "/metrics" => "/metrics",
        p if p.starts_with("/.well-known/") => "/.well-known",
        _ => "other",
    }
}

fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= MAX_REQUEST_ID && v.chars().all(|c| c.is_ascii_graphic())
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

/// The outermost layer: request id, Host and Origin checks, metrics, logs.
async fn edge(State(state): State<Arc<HttpState>>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(request.headers());
    request.extensions_mut().insert(RequestId(id.clone()));
    let method = request.method().clone();
    let endpoint = endpoint_label(request.uri().path());
    let span = tracing::info_span!("request", request_id = %id, method = %method, path = %request.uri().path());
    let mut response = async {
        if let Some(refused) = check_host(&state, request.headers()) {
            return refused;
        }
        if let Some(origin) = request.headers().get(header::ORIGIN) {
            // The server's own origin (same host as the already-validated Host
            // header) is always allowed; others must be configured.
            let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok());
            let allowed = origin.to_str().is_ok_and(|o| {
                host.is_some_and(|h| same_origin(h, o)) || origin_allowed(&state.options.allowed_origins, o)
            });
            if !allowed {
                tracing::warn!(origin = ?origin, "refused a request from an origin that is not allowed");
                return refuse(
                    StatusCode::FORBIDDEN,
                    "this Origin is not allowed; start the server with --allowed-origins to permit it",
                );
            }
        }
        next.run(request).await
    }
    .instrument(span.clone())
    .await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    let status = response.status().as_u16();
    state
        .metrics
        .http_request(endpoint, method.as_str(), status, started.elapsed());
    span.in_scope(|| {
        tracing::debug!(
            status,
            elapsed_us = started.elapsed().as_micros() as u64,
            "answered"
        );
    });
    response
}

fn check_host(state: &HttpState, headers: &HeaderMap) -> Option<Response> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok())?;
    let name = host_name(host);
    let allowed = state.allowed_hosts().iter().any(|allowed| {
        allowed.eq_ignore_ascii_case(host)
            || allowed.trim_matches(['[', ']']).eq_ignore_ascii_case(name)
    });
    if allowed {
        None
    } else {
        tracing::warn!(host, "refused a request for a host that is not allowed");
        Some(refuse(
            StatusCode::FORBIDDEN,
            "this Host is not allowed (DNS rebinding protection); start the server with --allowed-hosts to permit it",
        ))
    }
}

/// The host part of a `Host` header value ("[::1]:8787" → "::1").
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

/// Whether `origin` is this server itself, reached through `host`.
fn same_origin(host: &str, origin: &str) -> bool {
    ["http://", "https://"].iter().any(|scheme| {
        origin
            .strip_prefix(scheme)
            .is_some_and(|rest| rest.eq_ignore_ascii_case(host))
    })
}

/// Whether `origin` (`scheme://host[:port]`) is in the allow-list; entries
/// may end in `:*` for any port.
pub fn origin_allowed(allowed: &[String], origin: &str) -> bool {
    allowed.iter().any(|entry| {
        if let Some(prefix) = entry.strip_suffix(":*") {
            origin == prefix
                || origin
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with(':'))
        } else {
            entry.eq_ignore_ascii_case(origin)
        }
    })
}

/// A refusal at the HTTP edge. The body is a JSON-RPC error, so MCP clients
/// show the reason instead of a bare status.
pub(super) fn refuse(status: StatusCode, message: &str) -> Response {
    let code = match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => -32001,
        _ => -32000,
    };
    let body = json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}});
    (status, Json(body)).into_response()
}

fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// 401 with the `WWW-Authenticate` challenge that points at the metadata.
fn unauthorized(headers: &HeaderMap, problem: Option<&str>) -> Response {
    let metadata = format!("{}/.well-known/oauth-protected-resource", base_url(headers));
    let challenge = match problem {
        Some(problem) => format!(
            "Bearer error=\"invalid_token\", error_description=\"{}\", resource_metadata=\"{metadata}\"",
            problem.replace('"', "'")
        ),
        None => format!("Bearer resource_metadata=\"{metadata}\""),
    };
    let message = problem.unwrap_or("this endpoint needs `Authorization: Bearer <API key or JWT>`");
    let mut response = refuse(StatusCode::UNAUTHORIZED, message);
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

fn insufficient_scope(scope: Scope, tool: &str) -> Response {
    let mut response = refuse(
        StatusCode::FORBIDDEN,
        &format!(
            "calling {tool} needs the `{}` scope, which these credentials lack",
            scope.as_str()
        ),
    );
    let challenge = format!(
        "Bearer error=\"insufficient_scope\", scope=\"{}\"",
        scope.as_str()
    );
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

async fn authenticate(state: &HttpState, headers: &HeaderMap) -> Result<Principal, Response> {
    if state.options.no_auth {
        return state.local_owner.clone().ok_or_else(|| {
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "no local owner in --no-auth mode",
            )
        });
    }
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(unauthorized(headers, None));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
        .map(|(_, token)| token.trim());
    let Some(token) = token else {
        return Err(unauthorized(
            headers,
            Some("the Authorization header must be `Bearer <token>`"),
        ));
    };
    match state.auth.authenticate(token).await {
        Ok(principal) => Ok(principal),
        Err(AuthError::InvalidKey) => Err(unauthorized(
            headers,
            Some("the API key is unknown, revoked or expired"),
        )),
        Err(AuthError::InvalidToken(problem)) => Err(unauthorized(headers, Some(&problem))),
        Err(AuthError::Store(error)) => {
            tracing::error!(%error, "could not check credentials");
            Err(refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "credentials cannot be checked right now; try again",
            ))
        }
    }
}

/// The messages of a parsed POST body (a single message or a batch) that
/// call `method`.
fn messages_calling<'a>(body: &'a Value, method: &'a str) -> impl Iterator<Item = &'a Value> {
    let messages: &[Value] = match body {
        Value::Array(items) => items,
        other => std::slice::from_ref(other),
    };
    messages
        .iter()
        .filter(move |m| m.get("method").and_then(Value::as_str) == Some(method))
}

/// The tool names a POST body calls, with their request ids.
fn called_tools(body: &Value) -> Vec<(String, Value)> {
    messages_calling(body, "tools/call")
        .filter_map(|m| {
            let name = m.pointer("/params/name")?.as_str()?.to_owned();
            Some((name, m.get("id").cloned().unwrap_or(Value::Null)))
        })
        .collect()
}

/// Whether reading a body failed on the request deadline.
fn body_timed_out(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = source {
        if error.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = error.source();
    }
    false
}

/// The `subscriptions/listen` requests of a POST body, with their filters.
fn listen_filters(body: &Value) -> Vec<(Value, rmcp::model::SubscriptionFilter)> {
    messages_calling(body, "subscriptions/listen")
        .filter_map(|m| {
            let filter =
                serde_json::from_value(m.pointer("/params/notifications")?.clone()).ok()?;
            Some((m.get("id").cloned().unwrap_or(Value::Null), filter))
        })
        .collect()
}

/// Auth, session ownership, body limit, scopes, rate limit and timeout for
/// the MCP endpoints.
async fn guard(State(state): State<Arc<HttpState>>, request: Request, next: Next) -> Response {
    // One deadline for reading the body and answering.
    let deadline = tokio::time::Instant::now() + state.options.request_timeout;
    let mut principal = match authenticate(&state, request.headers()).await {
        Ok(principal) => principal,
        Err(refused) => return refused,
    };
    principal.actor.request_id = request.extensions().get::<RequestId>().map(|r| r.0.clone());
    let identity = principal.identity();

    let session = request
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(session) = &session
        && let Some((owner, _)) = state.bindings().get(session)
        && *owner != identity
    {
        return refuse(
            StatusCode::FORBIDDEN,
            "this MCP session belongs to other credentials",
        );
    }

    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(principal.clone());
    let method = parts.method.clone();
    let is_post = method == Method::POST;
    let request = if is_post {
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let too_large = || {
            refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!(
                    "the request body is larger than {} bytes",
                    state.options.max_body_bytes
                ),
            )
        };
        if declared.is_some_and(|n| n > state.options.max_body_bytes) {
            return too_large();
        }
        let bytes = match axum::body::to_bytes(body, state.options.max_body_bytes).await {
            Ok(bytes) => bytes,
            Err(error) if body_timed_out(&error) => {
                return refuse(
                    StatusCode::REQUEST_TIMEOUT,
                    &format!(
                        "the request body did not arrive within {} s; send it at once",
                        state.options.request_timeout.as_secs()
                    ),
                );
            }
            Err(_) => return too_large(),
        };
        let body = match jsonrpc_errors::check_body(&bytes) {
            Ok(body) => body,
            Err(reply) => return (StatusCode::BAD_REQUEST, Json(reply)).into_response(),
        };
        for (tool, id) in called_tools(&body) {
            if let Some(scope) = state.server.tool_scope(&tool)
                && !principal.allows(scope)
            {
                return insufficient_scope(scope, &tool);
            }
            // Buckets are keyed by the registered name: a made-up name
            // shares the caller's one `unknown` bucket and is never stored.
            let key = state
                .server
                .known_tool(&tool)
                .map_or(ToolKey::Unknown, ToolKey::Known);
            if let Err(wait) = state.limiter.check(&identity, key) {
                state.metrics.rate_limited(key.label());
                let tool = key.label();
                let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
                let mut response = (
                    StatusCode::TOO_MANY_REQUESTS,
                    Json(json!({
                        "jsonrpc": "2.0",
                        "id": id,
                        "error": {"code": -32000, "message": format!("rate limit for {tool} reached; retry in {seconds} s")}
                    })),
                )
                    .into_response();
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
                return response;
            }
        }
        // A listen for another workspace's session log is refused before
        // rmcp acknowledges it (rmcp's filter hook cannot see the caller).
        for (id, filter) in listen_filters(&body) {
            if let Err(refused) = state.server.check_listen(&principal, &filter).await {
                let body = json!({"jsonrpc": "2.0", "id": id, "error": refused});
                return (StatusCode::OK, Json(body)).into_response();
            }
        }
        Request::from_parts(parts, Body::from(bytes))
    } else {
        Request::from_parts(parts, body)
    };

    let response = if is_post {
        match tokio::time::timeout_at(deadline, next.run(request)).await {
            Ok(response) => response,
            Err(_) => refuse(
                StatusCode::GATEWAY_TIMEOUT,
                &format!(
                    "the request took longer than {} s",
                    state.options.request_timeout.as_secs()
                ),
            ),
        }
    } else {
        next.run(request).await
    };

    // A closed session needs no owner any more. rmcp answers the DELETE with
    // 202; clients expect 200 or 204 for a finished termination.
    let mut response = response;
    if let Some(session) = &session
        && method == Method::DELETE
        && response.status().is_success()
    {
        state.bindings().remove(session);
        if response.status() == StatusCode::ACCEPTED {
            *response.status_mut() = StatusCode::NO_CONTENT;
        }
    }
    // Every event stream (legacy SSE, a session's GET, a POST that streams)
    // ends when its key is revoked or expires.
    let is_stream = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if is_stream {
        let (head, body) = response.into_parts();
        response = Response::from_parts(head, state.streams.guard(&principal, body));
    }
    // A new Streamable HTTP session belongs to whoever opened it.
    if session.is_none()
        && let Some(new_session) = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
    {
        state.bindings().insert(
            new_session.to_owned(),
            (identity, principal.actor.api_key_id.clone()),
        );
    }
    response
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
            state.limiter.buckets()
        ),
    )
        .into_response()
}

/// RFC 9728 protected resource metadata: how to authenticate here.
async fn resource_metadata(headers: HeaderMap) -> Response {
    Json(json!({
        "resource": format!("{}/mcp", base_url(&headers)),
        "bearer_methods_supported": ["header"],
        "scopes_supported": ["read", "write", "sessions", "admin"],
        "resource_name": "vibe-kanban-mcp",
        "resource_documentation": "Create an API key with `vibe-kanban-mcp keys create` and send it as `Authorization: Bearer <key>`."
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_match_exactly_or_with_any_port() {
        let allowed = vec![
            "https://app.example.com".to_owned(),
            "http://localhost:*".to_owned(),
        ];
        assert!(origin_allowed(&allowed, "https://app.example.com"));
        assert!(!origin_allowed(
            &allowed,
            "https://app.example.com.evil.net"
        ));
        assert!(origin_allowed(&allowed, "http://localhost:6274"));
        assert!(origin_allowed(&allowed, "http://localhost"));
        assert!(!origin_allowed(&allowed, "http://localhost.evil.net:80"));
        assert!(!origin_allowed(&[], "http://localhost:1"));
        assert!(same_origin("127.0.0.1:8787", "http://127.0.0.1:8787"));
        assert!(!same_origin("127.0.0.1:8787", "http://127.0.0.1:9999"));
        assert!(!same_origin("127.0.0.1:8787", "http://evil.example"));
    }

    #[test]
    fn host_names_drop_the_port() {
        assert_eq!(host_name("127.0.0.1:8787"), "127.0.0.1");
        assert_eq!(host_name("[::1]:8787"), "::1");
        assert_eq!(host_name("example.com"), "example.com");
    }

    #[test]
    fn finds_tool_calls_in_bodies() {
        let single =
            json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"list_tasks"}});
        assert_eq!(
            called_tools(&single),
            vec![("list_tasks".to_owned(), json!(7))]
        );
        let other = json!({"jsonrpc":"2.0","id":1,"method":"tools/list"});
        assert!(called_tools(&other).is_empty());
    }
}
