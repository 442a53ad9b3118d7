//! The outer edge, for every endpoint: the request id (`X-Request-Id`,
//! echoed or made), the request's log span and metrics, the `Host` check
//! (DNS rebinding protection — the only one: rmcp's own is off), the
//! `Origin` check and CORS for configured origins.

use std::{sync::Arc, time::Instant};

use axum::{
    extract::{Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, Method, header},
    middleware::Next,
    response::Response,
};
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    request_id::{MakeRequestId, RequestId},
};
use tracing::Instrument;

use super::error::EdgeError;
use crate::metrics::Metrics;

/// What the outer edge checks against and counts in.
pub struct EdgeChecks {
    /// Host names (or host:port) accepted in `Host`.
    pub allowed_hosts: Vec<String>,
    /// Browser origins allowed besides the server's own.
    pub allowed_origins: Vec<String>,
    pub metrics: Arc<Metrics>,
}

/// The header that carries the request id, both ways.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Longest `X-Request-Id` taken from a client.
const MAX_REQUEST_ID: usize = 128;

/// Makes a request id (a UUID v7) for a request that brings none.
#[derive(Debug, Clone, Copy, Default)]
pub struct MakeRequestUuidV7;

impl MakeRequestId for MakeRequestUuidV7 {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&uuid::Uuid::now_v7().to_string())
            .ok()
            .map(RequestId::new)
    }
}

/// Drops a client's `X-Request-Id` that is empty, too long or not printable
/// ASCII, so one is made instead (runs before `SetRequestIdLayer`).
pub async fn drop_unusable_request_id(mut request: Request) -> Request {
    let usable = request.headers().get(REQUEST_ID).is_none_or(|v| {
        !v.is_empty() && v.len() <= MAX_REQUEST_ID && v.as_bytes().iter().all(u8::is_ascii_graphic)
    });
    if !usable {
        request.headers_mut().remove(REQUEST_ID);
    }
    request
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

/// The request's log span (with its id) and its metrics, whatever answers.
pub async fn observe(
    State(state): State<Arc<EdgeChecks>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let method = request.method().clone();
    let endpoint = endpoint_label(request.uri().path());
    let span = tracing::info_span!("request", request_id = %id, method = %method, path = %request.uri().path());
    let response = next.run(request).instrument(span.clone()).await;
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

/// Refuses a `Host` or an `Origin` that is not allowed.
pub async fn check_host_and_origin(
    State(state): State<Arc<EdgeChecks>>,
    request: Request,
    next: Next,
) -> Result<Response, EdgeError> {
    check_host(&state.allowed_hosts, request.headers())?;
    check_origin(&state.allowed_origins, request.headers())?;
    Ok(next.run(request).await)
}

fn check_host(allowed_hosts: &[String], headers: &HeaderMap) -> Result<(), EdgeError> {
    // Browsers always send `Host`: a request without one is no rebinding.
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return Ok(());
    };
    let name = host_name(host);
    let allowed = allowed_hosts.iter().any(|allowed| {
        allowed.eq_ignore_ascii_case(host)
            || allowed.trim_matches(['[', ']']).eq_ignore_ascii_case(name)
    });
    if allowed {
        Ok(())
    } else {
        tracing::warn!(host, "refused a request for a host that is not allowed");
        Err(EdgeError::HostNotAllowed)
    }
}

fn check_origin(allowed_origins: &[String], headers: &HeaderMap) -> Result<(), EdgeError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    // The server's own origin (same host as the already-validated Host
    // header) is always allowed; others must be configured.
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let allowed = origin.to_str().is_ok_and(|o| {
        host.is_some_and(|h| same_origin(h, o)) || origin_allowed(allowed_origins, o)
    });
    if allowed {
        Ok(())
    } else {
        tracing::warn!(origin = ?origin, "refused a request from an origin that is not allowed");
        Err(EdgeError::OriginNotAllowed)
    }
}

/// Host names accepted in `Host`: loopback names, the address bound
/// (unless it is unspecified) and the configured ones.
pub fn allowed_hosts(bound: std::net::IpAddr, configured: &[String]) -> Vec<String> {
    let mut hosts = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if !bound.is_unspecified() {
        hosts.push(bound.to_string());
    }
    hosts.extend(configured.iter().cloned());
    hosts
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

/// CORS for the configured origins only.
pub fn cors(allowed_origins: &[String]) -> CorsLayer {
    let origins = allowed_origins.to_vec();
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, _| {
            origin.to_str().is_ok_and(|o| origin_allowed(&origins, o))
        }))
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("mcp-session-id"),
            HeaderName::from_static("mcp-protocol-version"),
            HeaderName::from_static("last-event-id"),
            REQUEST_ID,
        ])
        .expose_headers([
            header::WWW_AUTHENTICATE,
            HeaderName::from_static("mcp-session-id"),
            REQUEST_ID,
        ])
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
}
