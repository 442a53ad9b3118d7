//! The integration tests, one crate with a module per feature (one binary to
//! link instead of one per file). `common` runs the server and the local D1;
//! `http_support` runs the HTTP transport.

#[macro_use]
mod common;
mod http_support;

mod agent_clis;
mod approvals;
mod avatars;
mod bad_input;
mod browser_harness;
mod cli;
mod comments;
mod conformance;
mod d1_store;
mod data_limits;
mod edge;
mod enhance_providers;
mod github;
mod http;
mod http_direct;
mod isolation;
mod kanban_flow;
mod keys_and_scopes;
mod mcp_app;
mod members;
mod migrations;
mod privileged_fields;
mod prompts;
mod python_http;
mod python_sdk;
mod session_diff;
mod session_live_log;
mod session_logs_r2;
mod session_merge;
mod session_runners;
mod session_turns;
mod session_wait;
mod sessions;
mod stdio_direct;
mod stdio_pipes;
mod store_contract;
mod tasks_ext;
mod teams;
mod toolsnaps;
mod web_board;
mod web_browser;
mod web_session;
mod web_session_browser;
mod web_task;
mod wrangler_compat;
