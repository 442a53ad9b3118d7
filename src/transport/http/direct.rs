//! Stateless 2026-07-28 `tools/call`s answered without rmcp's per-request
//! machinery. rmcp serves each stateless request by parsing the body again,
//! serializing it back into a tree to check the SEP-2243 headers, starting a
//! whole service (a task, channels, a peer) for the one request, and writing
//! the tool's structured output as a `Value` tree it has to walk again. For
//! the plain, well-formed call that most traffic is, this module runs the
//! tool itself ([`KanbanServer::run_tool`], the same code rmcp's dispatch
//! calls) and writes the JSON-RPC reply once, the structured output straight
//! from the tool's types.
//!
//! Only a call whose every part is the plain case is answered here: one
//! request (no batch) at `/mcp`, no session header, `Accept` and
//! `Content-Type` as rmcp requires, `MCP-Protocol-Version`, `Mcp-Method` and
//! `Mcp-Name` present once and matching the body, no `Mcp-Param-*` headers,
//! `_meta` carrying exactly the 2026-07-28 request metadata (no progress
//! token), and a tool that needs no request context (not a session tool).
//! Anything else — including every malformed request, whose refusal rmcp
//! words — goes to rmcp unchanged, so both paths answer alike.

use axum::{
    http::{HeaderMap, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use rmcp::{
    ErrorData,
    model::{ErrorCode, JsonObject, ProtocolVersion, RequestMetaObject},
};
use serde::Deserialize;
use serde_json::Value;

use super::calls::McpPost;
use crate::{auth::Principal, server::KanbanServer, tools::Encoding, transport::tool_reply};

/// The `_meta` keys a plain 2026-07-28 request carries.
const PLAIN_META_KEYS: [&str; 3] = [
    "io.modelcontextprotocol/protocolVersion",
    "io.modelcontextprotocol/clientCapabilities",
    "io.modelcontextprotocol/clientInfo",
];

/// A `tools/call` this module answers: its id, tool and arguments.
pub struct DirectCall {
    id: Value,
    name: String,
    arguments: Option<JsonObject>,
}

/// The call in `post`, if it is the plain case this module answers (see the
/// module's doc); `None` leaves the request to rmcp.
pub fn plain_call(parts: &Parts, post: &McpPost, server: &KanbanServer) -> Option<DirectCall> {
    if parts.uri.path() != "/mcp" || parts.headers.contains_key("mcp-session-id") {
        return None;
    }
    let headers = &parts.headers;
    let version = ProtocolVersion::V_2026_07_28.as_str();
    if !accepts_json_and_sse(headers)
        || !is_json(headers)
        || only_value(headers, "mcp-protocol-version")? != version
        || only_value(headers, "mcp-method")? != "tools/call"
        || headers
            .keys()
            .any(|name| name.as_str().starts_with("mcp-param-"))
    {
        return None;
    }
    let Value::Object(message) = post.0.as_ref() else {
        return None;
    };
    if message.len() != 4
        || message.get("jsonrpc")?.as_str()? != "2.0"
        || message.get("method")?.as_str()? != "tools/call"
    {
        return None;
    }
    let id = message.get("id")?;
    let id_is_plain = match id {
        Value::Number(n) => n.as_i64().is_some(),
        Value::String(_) => true,
        _ => false,
    };
    let params = message.get("params")?.as_object()?;
    if !id_is_plain
        || !params
            .keys()
            .all(|key| matches!(key.as_str(), "name" | "arguments" | "_meta"))
    {
        return None;
    }
    let name = params.get("name")?.as_str()?;
    let arguments = match params.get("arguments") {
        None => None,
        Some(Value::Object(arguments)) => Some(arguments.clone()),
        Some(_) => return None,
    };
    let meta_value = params.get("_meta")?;
    let meta = meta_value.as_object()?;
    if !meta
        .keys()
        .all(|key| PLAIN_META_KEYS.contains(&key.as_str()))
        || meta.get(PLAIN_META_KEYS[0])?.as_str()? != version
    {
        return None;
    }
    // Read from the tree in place: no copy of the client's metadata per call.
    let meta = RequestMetaObject::deserialize(meta_value).ok()?;
    if !meta
        .missing_required_keys(&ProtocolVersion::V_2026_07_28)
        .is_empty()
        || only_value(headers, "mcp-name")? != name
        || !server.answers_directly(name)
    {
        return None;
    }
    Some(DirectCall {
        id: id.clone(),
        name: name.to_owned(),
        arguments,
    })
}

/// Runs the call and writes its JSON-RPC reply: what rmcp would send for it.
pub async fn answer(server: &KanbanServer, principal: Principal, call: DirectCall) -> Response {
    let reply = server
        .run_tool(
            principal,
            &call.name,
            call.arguments,
            Encoding::Text,
            crate::tools::CallControl::default(),
        )
        .await;
    let written = match reply {
        Ok(reply) => tool_reply::success(&call.id, &reply.result, reply.structured_json.as_deref())
            .map(|body| (StatusCode::OK, body)),
        Err(error) => error_body(&call.id, error),
    };
    match written {
        Ok((status, body)) => {
            (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Err(error) => {
            tracing::error!(%error, tool = %call.name, "could not encode a tools/call reply");
            let body = serde_json::json!({
                "jsonrpc": "2.0",
                "id": call.id,
                "error": {"code": ErrorCode::INTERNAL_ERROR.0, "message": "internal error: could not encode the result"},
            });
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response()
        }
    }
}

/// A JSON-RPC error reply with the HTTP status rmcp gives it on the
/// stateless path (404 for an unknown method, 400 for protocol errors,
/// otherwise 200 with the error in the body).
fn error_body(id: &Value, error: ErrorData) -> serde_json::Result<(StatusCode, Vec<u8>)> {
    let status = match error.code {
        ErrorCode::UNSUPPORTED_PROTOCOL_VERSION
        | ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY
        | ErrorCode::HEADER_MISMATCH => StatusCode::BAD_REQUEST,
        ErrorCode::METHOD_NOT_FOUND => StatusCode::NOT_FOUND,
        _ => StatusCode::OK,
    };
    Ok((status, tool_reply::failure(id, error)?))
}

/// Whether `Accept` names both `application/json` and `text/event-stream`
/// (rmcp answers 406 otherwise). Quality weights are left to rmcp.
fn accepts_json_and_sse(headers: &HeaderMap) -> bool {
    let (mut json, mut sse) = (false, false);
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else {
            return false;
        };
        if value.contains(';') {
            return false;
        }
        for essence in value.split(',').map(str::trim) {
            json |= essence.eq_ignore_ascii_case("application/json");
            sse |= essence.eq_ignore_ascii_case("text/event-stream");
        }
    }
    json && sse
}

/// Whether `Content-Type` is `application/json` (parameters allowed).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .split(';')
                .next()
                .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
        })
}

/// The header's one value, as text; `None` when it is absent, repeated or
/// not text.
fn only_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    value.to_str().ok()
}
