//! How clients reach the one [`KanbanServer`](crate::server::KanbanServer):
//! stdio today; Streamable HTTP and legacy SSE sit beside it.

pub mod stdio;
