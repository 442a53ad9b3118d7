//! Who is calling an MCP endpoint: bearer authentication (API key or JWT,
//! or the local owner in `--no-auth` mode), the `WWW-Authenticate`
//! [`Challenge`] of a refusal, and the RFC 9728 protected-resource metadata
//! the challenge points at.

use std::{fmt, sync::Arc};

use axum::{
    Json,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::json;
use tower_http::request_id::RequestId;

use super::{EdgeError, HttpState};
use crate::auth::{AuthError, Principal};

/// A `WWW-Authenticate: Bearer …` challenge (RFC 6750 §3) built from named
/// parameters. Each value is written as an RFC 9110 quoted-string, `"` and
/// `\` escaped, so a message can never break the header's syntax.
#[derive(Debug, Clone)]
pub struct Challenge {
    params: Vec<(&'static str, String)>,
}

impl Challenge {
    /// A bare `Bearer` challenge.
    pub fn bearer() -> Self {
        Challenge { params: Vec::new() }
    }

    /// Adds `name="value"`.
    pub fn param(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.params.push((name, value.into()));
        self
    }

    /// The header value. Characters a header cannot carry (controls,
    /// non-ASCII) become `?`.
    pub fn header_value(&self) -> HeaderValue {
        HeaderValue::from_str(&self.to_string()).unwrap_or(HeaderValue::from_static("Bearer"))
    }
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Bearer")?;
        for (i, (name, value)) in self.params.iter().enumerate() {
            let separator = if i == 0 { " " } else { ", " };
            write!(f, "{separator}{name}=\"")?;
            for c in value.chars() {
                match c {
                    '"' | '\\' => write!(f, "\\{c}")?,
                    ' '..='~' => write!(f, "{c}")?,
                    _ => f.write_str("?")?,
                }
            }
            f.write_str("\"")?;
        }
        Ok(())
    }
}

/// Authenticates the request and puts its [`Principal`] (with the request
/// id) into the request's extensions for every later layer and the handler.
pub async fn authenticate(
    State(state): State<Arc<HttpState>>,
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
async fn principal(state: &HttpState, headers: &HeaderMap) -> Result<Principal, EdgeError> {
    if state.options.no_auth {
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
        .auth
        .authenticate(token)
        .await
        .map_err(|error| match error {
            AuthError::InvalidKey => unauthenticated(Some(
                "the API key is unknown, revoked or expired".to_owned(),
            )),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_parameters_are_quoted_and_escaped() {
        let challenge = Challenge::bearer()
            .param("error", "invalid_token")
            .param("error_description", "the \"token\" is C:\\bad\nreally");
        assert_eq!(
            challenge.to_string(),
            r#"Bearer error="invalid_token", error_description="the \"token\" is C:\\bad?really""#
        );
        assert_eq!(
            challenge.header_value(),
            HeaderValue::from_static(
                r#"Bearer error="invalid_token", error_description="the \"token\" is C:\\bad?really""#
            )
        );
        assert_eq!(Challenge::bearer().to_string(), "Bearer");
    }
}
