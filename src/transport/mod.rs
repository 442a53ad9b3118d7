//! How clients reach the one [`KanbanServer`](crate::server::KanbanServer):
//! stdio for local agents, HTTP (Streamable HTTP and legacy SSE) for remote
//! clients.

pub mod agent_mcp;
pub mod http;
mod jsonrpc_errors;
pub mod listener;
mod ratelimit;
pub mod stdio;
mod stdio_direct;
mod tool_reply;
