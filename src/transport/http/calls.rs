//! What a POST to an MCP endpoint calls, read once: the body is buffered
//! (within the limit and the request deadline), parsed as JSON-RPC once, and
//! the parsed [`McpPost`] is handed on in the request's extensions (as
//! github-mcp-server's `mcp_parse` middleware does). On it: the scope of
//! every `tools/call`, the rate limit per key and tool, the workspace of a
//! `subscriptions/listen`, and the request timeout. A plain stateless
//! `tools/call` is then answered by [`direct`], everything else by rmcp.

use std::{sync::Arc, time::Duration};

use axum::{
    body::{Body, Bytes},
    extract::{Request, State},
    http::{Method, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::Value;

use super::{direct, error::EdgeError};
use crate::{
    auth::Principal,
    metrics::Metrics,
    server::KanbanServer,
    transport::{
        jsonrpc_errors,
        ratelimit::{RateLimiter, ToolKey},
    },
};

/// What the checks of a call need.
pub struct CallChecks {
    /// Which scope each tool needs, and which names are tools.
    pub server: KanbanServer,
    pub limiter: RateLimiter,
    pub metrics: Arc<Metrics>,
    pub max_body_bytes: usize,
    /// From the request head to its answer.
    pub request_timeout: Duration,
}

/// A POST body, parsed once: a JSON-RPC message or a batch of them.
#[derive(Debug, Clone)]
pub struct McpPost(pub Arc<Value>);

impl McpPost {
    /// The messages that call `method`.
    fn calling<'a>(&'a self, method: &'a str) -> impl Iterator<Item = &'a Value> {
        let messages: &[Value] = match self.0.as_ref() {
            Value::Array(items) => items,
            other => std::slice::from_ref(other),
        };
        messages
            .iter()
            .filter(move |m| m.get("method").and_then(Value::as_str) == Some(method))
    }

    /// The tool names called, with their request ids.
    pub fn tool_calls(&self) -> Vec<(String, Value)> {
        self.calling("tools/call")
            .filter_map(|m| {
                let name = m.pointer("/params/name")?.as_str()?.to_owned();
                Some((name, m.get("id").cloned().unwrap_or(Value::Null)))
            })
            .collect()
    }

    /// How long the slowest call in this body may take when that is longer
    /// than an ordinary request (`wait_for_session` waits up to its
    /// `timeout_secs`), so the request deadline does not cut a wait short.
    fn allowance(&self) -> Option<Duration> {
        self.calling("tools/call")
            .filter_map(|m| {
                let name = m.pointer("/params/name")?.as_str()?;
                crate::tools::call_allowance(name, m.pointer("/params/arguments"))
            })
            .max()
    }

    /// The `subscriptions/listen` requests, with their filters.
    fn listens(&self) -> Vec<(Value, rmcp::model::SubscriptionFilter)> {
        self.calling("subscriptions/listen")
            .filter_map(|m| {
                let filter =
                    serde_json::from_value(m.pointer("/params/notifications")?.clone()).ok()?;
                Some((m.get("id").cloned().unwrap_or(Value::Null), filter))
            })
            .collect()
    }
}

/// Reads and checks a POST body, then answers within the request deadline.
/// Other methods pass untouched (a GET is an event stream: no deadline).
pub async fn check(
    State(state): State<Arc<CallChecks>>,
    request: Request,
    next: Next,
) -> Result<Response, EdgeError> {
    if request.method() != Method::POST {
        return Ok(next.run(request).await);
    }
    // One deadline for reading the body and answering. (tower-http's
    // TimeoutLayer would start a second one after the body is in, and
    // answer without a body.) A call that waits gets its wait on top.
    let started = tokio::time::Instant::now();
    let mut deadline = started + state.request_timeout;
    let (mut parts, body) = request.into_parts();
    let principal = parts
        .extensions
        .get::<Principal>()
        .cloned()
        .ok_or(EdgeError::Internal("call checks run after authentication"))?;
    let bytes = read_body(&state, body).await?;
    let post = McpPost(Arc::new(
        jsonrpc_errors::check_body(&bytes).map_err(|reply| EdgeError::Malformed { reply })?,
    ));
    admit(&state, &principal, &post)?;
    check_listens(&state, &principal, &post).await?;
    if let Some(allowance) = post.allowance() {
        deadline = deadline.max(started + allowance);
    }
    let timed_out = |_| EdgeError::Timeout {
        seconds: (deadline - started).as_secs(),
    };
    if let Some(call) = direct::plain_call(&parts, &post, &state.server) {
        state.metrics.direct_call();
        let answer = direct::answer(&state.server, principal, call);
        return tokio::time::timeout_at(deadline, answer)
            .await
            .map_err(timed_out);
    }
    parts.extensions.insert(post);
    let request = Request::from_parts(parts, Body::from(bytes));
    tokio::time::timeout_at(deadline, next.run(request))
        .await
        .map_err(timed_out)
}

/// The whole body. Its size is capped by the `RequestBodyLimitLayer`
/// outside and its arrival by the request deadline.
async fn read_body(state: &CallChecks, body: Body) -> Result<Bytes, EdgeError> {
    axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|error| {
            if caused_by::<tower_http::timeout::TimeoutError>(&error) {
                EdgeError::BodyTimeout {
                    seconds: state.request_timeout.as_secs(),
                }
            } else if caused_by::<http_body_util::LengthLimitError>(&error) {
                EdgeError::TooLarge {
                    limit: state.max_body_bytes,
                }
            } else {
                EdgeError::UnreadableBody(error.to_string())
            }
        })
}

/// Whether `error` or one of its sources is an `E`.
fn caused_by<E: std::error::Error + 'static>(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = source {
        if error.is::<E>() {
            return true;
        }
        source = error.source();
    }
    false
}

/// Scope and rate limit of every `tools/call`.
fn admit(state: &CallChecks, principal: &Principal, post: &McpPost) -> Result<(), EdgeError> {
    let identity = principal.identity();
    for (tool, id) in post.tool_calls() {
        // The role first: a viewer hears that the role forbids it, which
        // no other key of theirs would change.
        if let (Some(scope), Some(role)) = (
            state.server.tool_scope(&tool),
            state.server.tool_role(&tool),
        ) && !principal.is_at_least(role)
        {
            return Err(EdgeError::RoleTooLow(crate::tools::forbidden(
                &tool, scope, role, principal,
            )));
        }
        if let Some(scope) = state.server.tool_scope(&tool)
            && !principal.allows(scope)
        {
            return Err(EdgeError::InsufficientScope { scope, tool });
        }
        // Buckets are keyed by the registered name: a made-up name shares
        // the caller's one `unknown` bucket and is never stored.
        let key = state
            .server
            .known_tool(&tool)
            .map_or(ToolKey::Unknown, ToolKey::Known);
        if let Err(wait) = state.limiter.check(&identity, key) {
            state.metrics.rate_limited(key.label());
            return Err(EdgeError::RateLimited {
                id,
                tool: key.label(),
                retry_after: wait.as_secs_f64().ceil().max(1.0) as u64,
            });
        }
    }
    Ok(())
}

/// A listen for another workspace's session log is refused before rmcp
/// acknowledges it (rmcp's filter hook cannot see the caller).
async fn check_listens(
    state: &CallChecks,
    principal: &Principal,
    post: &McpPost,
) -> Result<(), EdgeError> {
    for (id, filter) in post.listens() {
        if let Err(refused) = state.server.check_listen(principal, &filter).await {
            let error = serde_json::to_value(refused)
                .map_err(|_| EdgeError::Internal("could not encode a refusal"))?;
            return Err(EdgeError::Refused { id, error });
        }
    }
    Ok(())
}

/// Answers a 413 of the body limit (whose own body is plain text) with the
/// edge's JSON-RPC refusal, as for a body found too large while reading.
pub async fn too_large_as_json_rpc(
    State(state): State<Arc<CallChecks>>,
    response: Response,
) -> Response {
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| !v.starts_with("application/json"));
    if response.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE && plain {
        return EdgeError::TooLarge {
            limit: state.max_body_bytes,
        }
        .into_response();
    }
    response
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn finds_tool_calls_in_bodies() {
        let single = McpPost(Arc::new(
            json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"list_tasks"}}),
        ));
        assert_eq!(
            single.tool_calls(),
            vec![("list_tasks".to_owned(), json!(7))]
        );
        let other = McpPost(Arc::new(
            json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}),
        ));
        assert!(other.tool_calls().is_empty());
    }
}
