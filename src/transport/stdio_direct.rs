//! `tools/call`s over stdio answered without rmcp's per-request machinery,
//! as [`http::direct`](super::http) does for stateless HTTP calls. rmcp
//! turns each request line into its typed message, runs the tool with its
//! structured output as a `Value` tree (a map per row), and serializes
//! that tree again; for the plain call this module runs the tool itself
//! ([`KanbanServer::run_tool`], the same code rmcp's dispatch calls, after
//! the same key check) and writes the reply once ([`tool_reply`]).
//!
//! Only the plain case is answered here: a session rmcp has initialized for
//! a protocol before 2026-07-28, a request with exactly `jsonrpc`, `id` (an
//! integer or a string), `method: "tools/call"` and `params` holding only
//! `name` and `arguments` (no `_meta`: no progress token, no task), and a
//! tool that needs no request context (not a session tool). Everything
//! else goes to rmcp unchanged, so both paths answer alike.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use rmcp::model::{ErrorCode, JsonObject, ProtocolVersion, ServerJsonRpcMessage, ServerResult};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::tool_reply;
use crate::{server::KanbanServer, tools::Encoding};

/// The direct path of one stdio connection.
#[derive(Clone)]
pub struct Direct {
    server: KanbanServer,
    /// Set once rmcp has answered `initialize` for a protocol that keeps a
    /// session; until then every line goes to rmcp.
    ready: Arc<AtomicBool>,
}

/// A `tools/call` this module answers: its id, tool and arguments.
pub struct DirectCall {
    id: Value,
    name: String,
    arguments: Option<JsonObject>,
}

impl Direct {
    pub fn new(server: KanbanServer) -> Self {
        Direct {
            server,
            ready: Arc::default(),
        }
    }

    /// Sees each message rmcp sends before it is written: its `initialize`
    /// reply opens the direct path for a session of a protocol before
    /// 2026-07-28 (later ones carry per-request metadata that rmcp checks).
    /// A request the client sends after reading that reply finds it open.
    pub fn replied(&self, message: &ServerJsonRpcMessage) {
        if let ServerJsonRpcMessage::Response(response) = message
            && let ServerResult::InitializeResult(result) = &response.result
        {
            let stateful = result.protocol_version < ProtocolVersion::V_2026_07_28;
            self.ready.store(stateful, Ordering::Release);
        }
    }

    /// The call in `message` if it is the plain case (see the module's
    /// doc); otherwise the message back, for rmcp.
    pub fn take(&self, message: Value) -> Result<DirectCall, Value> {
        if !self.is_plain(&message) {
            return Err(message);
        }
        // `is_plain` checked the shape: take its parts apart.
        let mut message = match message {
            Value::Object(message) => message,
            other => return Err(other),
        };
        let mut params = match message.remove("params") {
            Some(Value::Object(params)) => params,
            _ => Map::new(),
        };
        let name = match params.remove("name") {
            Some(Value::String(name)) => name,
            _ => String::new(),
        };
        let arguments = match params.remove("arguments") {
            Some(Value::Object(arguments)) => Some(arguments),
            _ => None,
        };
        Ok(DirectCall {
            id: message.remove("id").unwrap_or(Value::Null),
            name,
            arguments,
        })
    }

    fn is_plain(&self, message: &Value) -> bool {
        if !self.ready.load(Ordering::Acquire) || self.server.connection_principal().is_none() {
            return false;
        }
        let Value::Object(message) = message else {
            return false;
        };
        if message.len() != 4
            || message.get("jsonrpc").and_then(Value::as_str) != Some("2.0")
            || message.get("method").and_then(Value::as_str) != Some("tools/call")
        {
            return false;
        }
        let id_is_plain = match message.get("id") {
            Some(Value::Number(n)) => n.as_i64().is_some(),
            Some(Value::String(_)) => true,
            _ => false,
        };
        let Some(Value::Object(params)) = message.get("params") else {
            return false;
        };
        id_is_plain
            && params
                .keys()
                .all(|key| matches!(key.as_str(), "name" | "arguments"))
            && matches!(params.get("arguments"), None | Some(Value::Object(_)))
            && params
                .get("name")
                .and_then(Value::as_str)
                .is_some_and(|name| self.server.answers_directly(name))
    }

    /// Runs the call on its own task (as rmcp runs each request) and queues
    /// its reply line for stdout.
    pub fn answer(&self, call: DirectCall, replies: mpsc::Sender<Vec<u8>>) {
        let server = self.server.clone();
        tokio::spawn(async move {
            let reply = match (server.check_key().await, server.connection_principal()) {
                (Err(refused), _) => Err(refused),
                (Ok(()), Some(principal)) => {
                    server
                        .run_tool(
                            principal.clone(),
                            &call.name,
                            call.arguments,
                            Encoding::Text,
                            crate::tools::CallControl::default(),
                        )
                        .await
                }
                (Ok(()), None) => Err(rmcp::ErrorData::invalid_request(
                    "the request carries no credentials",
                    None,
                )),
            };
            // The direct path serves protocols before 2026-07-28 only, whose
            // results carry no `resultType`: rmcp strips it for them too.
            let reply = reply.map(|mut reply| {
                reply
                    .result
                    .result_type
                    .take_if(|result_type| result_type.is_complete());
                reply
            });
            let line = tool_reply::body(&call.id, reply).unwrap_or_else(|error| {
                tracing::error!(%error, tool = %call.name, "could not encode a tools/call reply");
                serde_json::json!({
                    "jsonrpc": "2.0",
                    "id": call.id,
                    "error": {"code": ErrorCode::INTERNAL_ERROR.0, "message": "internal error: could not encode the result"},
                })
                .to_string()
                .into_bytes()
            });
            tracing::debug!(tool = %call.name, "tools/call answered directly");
            // A closed stdout ends the session anyway.
            let _ = replies.send(line).await;
        });
    }
}
