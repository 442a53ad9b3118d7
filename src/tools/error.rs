//! How a tool can fail: the arguments are wrong (a JSON-RPC error), or the
//! work could not be done (a tool result with `isError`, worded by
//! [`crate::mcp_error`]).

use crate::store::StoreError;

/// How a tool can fail.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The arguments are malformed: a JSON-RPC -32602 error naming the field.
    #[error("{0}")]
    InvalidParams(String),
    /// The call was understood but cannot be done: a tool result with isError.
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}
