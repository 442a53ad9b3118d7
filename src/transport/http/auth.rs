//! Who is calling an MCP endpoint: bearer authentication (API key or JWT,
//! or the local owner in `--no-auth` mode), refused with a
//! `WWW-Authenticate` [`Challenge`](super::challenge::Challenge), and the
//! RFC 9728 protected-resource metadata the challenge points at.

use std::sync::Arc;

use axum::{
    Json,
    extract::{Request, State},
    http::{HeaderMap, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::json;
use tower_http::request_id::RequestId;

use super::error::EdgeError;
use crate::auth::{AuthError, Authenticator, Principal};

/// How requests are authenticated.
pub struct Authentication {
    pub authenticator: Arc<Authenticator>,
    /// `--no-auth`: every request acts as `local_owner`.
    pub no_auth: bool,
    pub local_owner: Option<Principal>,
}

/// Authenticates the request and puts its [`Principal`] (with the request
/// id) into the request's extensions for every later layer and the handler.
pub async fn authenticate(
    State(state): State<Arc<Authentication>>,
    mut request: Request,
    next: Next,
) -> Result<Response, EdgeError> {
    let mut principal = principal(&state, request.headers()).await?;
    principal.actor.request_id = request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .map(str::to_owned);
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}

/// The principal of the request's bearer token.
async fn principal(state: &Authentication, headers: &HeaderMap) -> Result<Principal, EdgeError> {
    if state.no_auth {
        return state.local_owner.clone().ok_or(EdgeError::NoLocalOwner);
    }
    let unauthenticated = |problem: Option<String>| EdgeError::Unauthenticated {
        problem,
        metadata: format!("{}/.well-known/oauth-protected-resource", base_url(headers)),
    };
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(unauthenticated(None));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
        .map(|(_, token)| token.trim());
    let Some(token) = token else {
        return Err(unauthenticated(Some(
            "the Authorization header must be `Bearer <token>`".to_owned(),
        )));
    };
    state
        .authenticator
        .authenticate(token)
        .await
        .map_err(|error| match error {
            AuthError::InvalidKey => unauthenticated(Some(
                "the API key is unknown, revoked or expired".to_owned(),
            )),
            // A good token for someone outside its workspace: known, but
            // not allowed here (403, no challenge: new credentials of the
            // same person would not help).
            AuthError::InvalidToken(problem @ crate::auth::TokenError::NotAMember) => {
                EdgeError::NotAMember(problem.to_string())
            }
            AuthError::InvalidToken(problem) => unauthenticated(Some(problem.to_string())),
            AuthError::Store(error) => {
                tracing::error!(%error, "could not check credentials");
                EdgeError::CredentialsUnavailable
            }
        })
}

/// This server's URL as the client reached it.
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// RFC 9728 protected resource metadata: how to authenticate here.
pub async fn resource_metadata(headers: HeaderMap) -> Response {
    Json(json!({
        "resource": format!("{}/mcp", base_url(&headers)),
        "bearer_methods_supported": ["header"],
        "scopes_supported": ["read", "write", "sessions", "admin"],
        "resource_name": "vibe-kanban-mcp",
        "resource_documentation": "Create an API key with `vibe-kanban-mcp keys create` and send it as `Authorization: Bearer <key>`."
    }))
    .into_response()
}
