//! The JSON-RPC reply to a `tools/call` that a transport ran itself
//! ([`KanbanServer::run_tool`](crate::server::KanbanServer::run_tool) with
//! [`Encoding::Text`](crate::tools::Encoding::Text)): written once into one
//! buffer, the structured output (already JSON text) copied in as
//! `structuredContent`, with no `Value` tree between the tool's types and
//! the bytes sent. The stateless HTTP path and the stdio path both use it,
//! so both answer what rmcp would.

use rmcp::{
    ErrorData,
    model::{CallToolResult, RequestId},
};
use serde_json::Value;

use crate::tools::ToolReply;

/// The reply to request `id`: its result, or its JSON-RPC error.
pub fn body(id: &Value, reply: Result<ToolReply, ErrorData>) -> serde_json::Result<Vec<u8>> {
    match reply {
        Ok(reply) => success(id, &reply.result, reply.structured_json.as_deref()),
        Err(error) => failure(id, error),
    }
}

/// `{"jsonrpc":"2.0","id":…,"result":…}`, the structured output (already
/// JSON text) written into the result object as `structuredContent`.
pub fn success(
    id: &Value,
    result: &CallToolResult,
    structured: Option<&str>,
) -> serde_json::Result<Vec<u8>> {
    let text_len: usize = result
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|text| text.text.len()))
        .sum();
    // Room for the text (escaping adds a little) and the structured output:
    // one allocation for the whole reply, not a growth by doubling.
    let mut body =
        Vec::with_capacity(256 + text_len + text_len / 8 + structured.map_or(0, str::len));
    body.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    serde_json::to_writer(&mut body, id)?;
    body.extend_from_slice(br#","result":"#);
    let start = body.len();
    serde_json::to_writer(&mut body, result)?;
    if let Some(structured) = structured {
        // The result is an object with at least `content`: put the field
        // before its closing brace.
        if body.len() > start + 2 && body.last() == Some(&b'}') {
            body.pop();
            body.extend_from_slice(br#","structuredContent":"#);
            body.extend_from_slice(structured.as_bytes());
            body.push(b'}');
        }
    }
    body.push(b'}');
    Ok(body)
}

/// The JSON-RPC error reply to request `id`.
pub fn failure(id: &Value, error: ErrorData) -> serde_json::Result<Vec<u8>> {
    let id: RequestId = serde_json::from_value(id.clone())?;
    let message = rmcp::model::ServerJsonRpcMessage::error(error, Some(id));
    serde_json::to_vec(&message)
}
