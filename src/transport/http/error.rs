//! [`EdgeError`]: every refusal the HTTP edge answers itself, before or
//! instead of the MCP handler. Each is a status, a JSON-RPC-shaped body (so
//! MCP clients show the reason instead of a bare status) and, for
//! authentication, a `WWW-Authenticate` challenge.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::challenge::Challenge;
use crate::auth::Scope;

/// JSON-RPC error code of a refusal for missing or insufficient credentials.
const CREDENTIALS: i64 = -32001;
/// JSON-RPC error code of every other refusal at the edge.
const SERVER: i64 = -32000;

/// A refusal at the HTTP edge; its text says what to do.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    #[error(
        "this Host is not allowed (DNS rebinding protection); start the server with --allowed-hosts to permit it"
    )]
    HostNotAllowed,
    #[error("this Origin is not allowed; start the server with --allowed-origins to permit it")]
    OriginNotAllowed,
    /// 401: no credentials, or credentials that are not valid (`problem`);
    /// the challenge points at the protected-resource `metadata`.
    #[error("{}", problem.as_deref().unwrap_or("this endpoint needs `Authorization: Bearer <API key or JWT>`"))]
    Unauthenticated {
        problem: Option<String>,
        metadata: String,
    },
    #[error("calling {tool} needs the `{}` scope, which these credentials lack", scope.as_str())]
    InsufficientScope { scope: Scope, tool: String },
    /// A tool the caller's role in the workspace forbids, whatever the key's
    /// scopes: the text says which role it needs.
    #[error("{0}")]
    RoleTooLow(String),
    /// A valid JWT whose `sub` is not a member of its `workspace`.
    #[error("{0}; ask an admin of the workspace to add you (add_member or `members add`)")]
    NotAMember(String),
    /// The store could not be asked about the credentials.
    #[error("credentials cannot be checked right now; try again")]
    CredentialsUnavailable,
    #[error("no local owner in --no-auth mode")]
    NoLocalOwner,
    #[error("this MCP session belongs to other credentials")]
    SessionOfOthers,
    #[error("this SSE session belongs to other credentials")]
    SseSessionOfOthers,
    #[error("no open SSE session with this id; open one with GET /sse")]
    NoSseSession,
    #[error("the SSE session has closed")]
    SseSessionClosed,
    #[error("the request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the request body could not be read: {0}")]
    UnreadableBody(String),
    #[error("the request body did not arrive within {seconds} s; send it at once")]
    BodyTimeout { seconds: u64 },
    #[error("the request took longer than {seconds} s")]
    Timeout { seconds: u64 },
    #[error("not a JSON-RPC message: {0}")]
    NotJsonRpc(String),
    /// A body that is not JSON-RPC: `reply` is the JSON-RPC error to send.
    #[error("malformed JSON-RPC")]
    Malformed { reply: Value },
    /// 429 for the call with request id `id`, with `Retry-After`.
    #[error("rate limit for {tool} reached; retry in {retry_after} s")]
    RateLimited {
        id: Value,
        tool: &'static str,
        retry_after: u64,
    },
    /// A request refused with a JSON-RPC error the handler would have sent
    /// (answered 200, as a reply to request `id`).
    #[error("refused request")]
    Refused { id: Value, error: Value },
    #[error("{0}")]
    Internal(&'static str),
}

impl EdgeError {
    pub fn status(&self) -> StatusCode {
        match self {
            EdgeError::HostNotAllowed
            | EdgeError::OriginNotAllowed
            | EdgeError::InsufficientScope { .. }
            | EdgeError::RoleTooLow(_)
            | EdgeError::NotAMember(_)
            | EdgeError::SessionOfOthers
            | EdgeError::SseSessionOfOthers => StatusCode::FORBIDDEN,
            EdgeError::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            EdgeError::CredentialsUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            EdgeError::NoLocalOwner | EdgeError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            EdgeError::NoSseSession => StatusCode::NOT_FOUND,
            EdgeError::SseSessionClosed => StatusCode::GONE,
            EdgeError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            EdgeError::UnreadableBody(_)
            | EdgeError::NotJsonRpc(_)
            | EdgeError::Malformed { .. } => StatusCode::BAD_REQUEST,
            EdgeError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            EdgeError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            EdgeError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            EdgeError::Refused { .. } => StatusCode::OK,
        }
    }

    /// The `WWW-Authenticate` challenge this refusal carries, if any.
    fn challenge(&self) -> Option<Challenge> {
        match self {
            EdgeError::Unauthenticated { problem, metadata } => {
                let challenge = Challenge::bearer();
                let challenge = match problem {
                    Some(problem) => challenge
                        .param("error", "invalid_token")
                        .param("error_description", problem),
                    None => challenge,
                };
                Some(challenge.param("resource_metadata", metadata))
            }
            EdgeError::InsufficientScope { scope, .. } => Some(
                Challenge::bearer()
                    .param("error", "insufficient_scope")
                    .param("scope", scope.as_str()),
            ),
            _ => None,
        }
    }

    /// The JSON-RPC body: the reply prepared for it, or an error object
    /// carrying this refusal's text.
    fn body(&self) -> Value {
        match self {
            EdgeError::Malformed { reply } => reply.clone(),
            EdgeError::Refused { id, error } => {
                json!({"jsonrpc": "2.0", "id": id, "error": error})
            }
            EdgeError::RateLimited { id, .. } => {
                json!({"jsonrpc": "2.0", "id": id, "error": {"code": SERVER, "message": self.to_string()}})
            }
            _ => {
                let code = match self.status() {
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => CREDENTIALS,
                    _ => SERVER,
                };
                json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": self.to_string()}})
            }
        }
    }
}

impl IntoResponse for EdgeError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), Json(self.body())).into_response();
        if let Some(challenge) = self.challenge() {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge.header_value());
        }
        if let EdgeError::RateLimited { retry_after, .. } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        if self.leaves_body_unread() {
            // The request's body was not read, so the connection cannot
            // carry another request: say so, or a client that reuses it
            // (the Python SDK retrying after a 401) meets a closed socket
            // instead of our answer.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

impl EdgeError {
    /// Whether this refusal is sent before the request's body is read.
    fn leaves_body_unread(&self) -> bool {
        matches!(
            self,
            EdgeError::HostNotAllowed
                | EdgeError::OriginNotAllowed
                | EdgeError::Unauthenticated { .. }
                | EdgeError::CredentialsUnavailable
                | EdgeError::NoLocalOwner
                | EdgeError::SessionOfOthers
                | EdgeError::SseSessionOfOthers
                | EdgeError::NoSseSession
                | EdgeError::SseSessionClosed
                | EdgeError::TooLarge { .. }
                | EdgeError::UnreadableBody(_)
                | EdgeError::BodyTimeout { .. }
                | EdgeError::Internal(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_keep_their_status_code_and_text() {
        let refused = EdgeError::InsufficientScope {
            scope: Scope::Write,
            tool: "create_task".to_owned(),
        };
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert_eq!(refused.body()["error"]["code"], CREDENTIALS);
        assert_eq!(
            refused.body()["error"]["message"],
            "calling create_task needs the `write` scope, which these credentials lack"
        );
        let response = refused.into_response();
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            "Bearer error=\"insufficient_scope\", scope=\"write\""
        );
        // Its body was read: the connection stays open.
        assert!(response.headers().get(header::CONNECTION).is_none());
        let unauthenticated = EdgeError::Unauthenticated {
            problem: None,
            metadata: "http://127.0.0.1/.well-known/oauth-protected-resource".to_owned(),
        }
        .into_response();
        assert_eq!(unauthenticated.headers()[header::CONNECTION], "close");

        let limited = EdgeError::RateLimited {
            id: json!(7),
            tool: "list_tasks",
            retry_after: 3,
        };
        assert_eq!(limited.body()["id"], 7);
        assert_eq!(limited.body()["error"]["code"], SERVER);
        let response = limited.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "3");

        let missing = EdgeError::Unauthenticated {
            problem: None,
            metadata: "http://127.0.0.1:1/.well-known/oauth-protected-resource".to_owned(),
        };
        assert_eq!(
            missing.to_string(),
            "this endpoint needs `Authorization: Bearer <API key or JWT>`"
        );
        assert_eq!(
            missing.into_response().headers()[header::WWW_AUTHENTICATE],
            "Bearer resource_metadata=\"http://127.0.0.1:1/.well-known/oauth-protected-resource\""
        );
    }
}
