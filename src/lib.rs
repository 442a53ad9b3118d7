//! vibe-kanban-mcp: an MCP server that gives AI tools a kanban board.
//!
//! # Layout
//!
//! Dependencies point one way, from the outside in:
//!
//! - `main.rs` — command-line parsing only; calls [`commands`].
//! - [`commands`] — what each subcommand does (serve, runner, migrate, keys,
//!   board, workspaces).
//! - [`transport`] — how clients reach the server: [`transport::stdio`]
//!   (our own line reader), [`transport::listener`] (the accept loop: header
//!   timeout, connection cap) and [`transport::http`], one module per edge
//!   concern: `mod.rs` (router, state, `serve`), `edge` (request id,
//!   Host/Origin, CORS, metrics), `auth` (bearer auth, the
//!   `WWW-Authenticate` challenge), `calls` (the body parsed once: scopes,
//!   rate limit, timeout), `owners` (who owns each session of both
//!   transports), [`transport::http::revocation`] (open streams end when
//!   their key is revoked or expires), [`transport::http::sse`] (the legacy
//!   HTTP+SSE transport) and `error` ([`transport::http::EdgeError`], every
//!   refusal); `jsonrpc_errors` answers malformed messages on stdio and
//!   HTTP alike. A plain `tools/call` skips rmcp's per-request service:
//!   `http/direct.rs` (stateless HTTP) and `stdio_direct.rs` run the tool
//!   and `tool_reply` writes its reply once. [`transport::agent_mcp`] is the
//!   session's server every session's agent launches (`agent-mcp`: comments,
//!   approvals "ask"). Servers take a shutdown future; only the binary's
//!   [`commands::shutdown_signal`] listens for signals.
//! - [`server`] — the one MCP handler all transports serve; resolves the caller.
//!   `server/checked.rs` adds stdio's per-request key and listen checks
//!   ([`server::Checked`]); `server/params.rs` words malformed params;
//!   `server/tasks.rs` is the MCP tasks extension (SEP-2663) over agent
//!   sessions.
//! - [`tools`] — MCP tools, one file per area, each output type with its
//!   readable text ([`tools::Render`]) beside it; `registry.rs` offers and
//!   runs them (schemas, annotations, argument parsing, scopes);
//!   `json_text.rs` writes a page of tasks' JSON by hand (the hot output).
//! - [`resources`] — MCP resources: project boards, tasks and live session logs.
//! - [`prompts`] — MCP prompts (the prompt templates) and argument
//!   completion.
//! - [`mcp_error`] — the one mapping of store, session and key errors to
//!   tool error text and JSON-RPC errors, shared by tools, resources,
//!   prompts and the server; the hints that name tools are worded there.
//! - [`enhance`] — prompt enhancement: providers (offline, Workers AI,
//!   OpenAI-compatible, Anthropic), the cache, prompt templates.
//! - [`board`] — a project's board drawn for people: markdown (the board
//!   resource) and terminal columns.
//! - [`auth`] — API keys, scopes, and the [`auth::Principal`] a call runs as.
//! - [`store`] — the SQL layer: store methods build a [`store::Batch`] of
//!   fixed SQL texts (values bound once, by number) that an executor
//!   ([`store::sqlite`] for a local file, [`store::d1`] for Cloudflare D1 over
//!   its HTTP API) runs atomically in one round trip; each statement's result
//!   is read back by its [`store::ResultHandle`] ([`store::exec`]). One file
//!   per entity (`tasks.rs`, `projects.rs`, `templates.rs`, `keys.rs`,
//!   `approvals.rs`, …);
//!   `sessions/` is split by caller: `types.rs`, `queries.rs` (the tools'
//!   caller-scoped queries) and `runner.rs` (claims, heartbeats, stop
//!   requests, finishing a turn), `turns.rs` (each finished turn's
//!   final message, usage and commit) and `merge.rs` (what a merge reads
//!   before git and records after). `audit.rs` builds every audit row;
//!   [`store::page`] is the one [`store::Page`] and cursor codec of every
//!   list; [`store::migrate`] applies `migrations/` like wrangler does.
//!   `ids.rs` holds the typed ids ([`store::TaskId`], [`store::ProjectId`],
//!   …) that every layer passes from the tool arguments down; a
//!   [`store::StoreError`] names an [`store::Entity`] and keeps the SQLite,
//!   D1, I/O or JSON failure under it as its source.
//! - [`sessions`] — the agent runtime: executor profiles, git worktrees
//!   (and each turn's commit), supervised processes, the runner that claims
//!   queued sessions, `agent_output`, which reads a turn's final message and
//!   usage from the agent's own output, [`sessions::approvals`] (the
//!   session's server for each turn, asking agents' permission requests) and [`sessions::merge`] (landing a
//!   session's branch on its base: merge-tree, commit-tree, a
//!   compare-and-swap of the base ref).
//! - [`git`] — the one place a git process starts (worktrees, turn
//!   commits, merges, pushes); it depends on nothing else in the crate.
//! - [`github`] — GitHub connections (tokens sealed with AES-256-GCM),
//!   the REST calls, pushing a session's branch, pull requests, webhook
//!   deliveries and the sync of pull request states.
//! - [`logs`] — execution logs on local disk or in R2, read by range, and
//!   the other small objects kept there.
//! - [`avatars`] — members' avatars: checked, re-encoded small and kept in
//!   the logs' object store; initials for those without one.
//! - [`config`] — data locations, the store choice (`--store sqlite|d1`) and
//!   the TOML configuration file.
//! - [`metrics`] — counters and histograms for `/metrics`.
//! - [`web`] — the web board at `/`: server-rendered pages (maud) that call
//!   the tools as the signed-in principal, sign-in sessions and CSRF, the
//!   live board and log streams, the embedded script and stylesheet.

pub mod auth;
pub mod avatars;
pub mod board;
pub mod commands;
pub mod config;
pub mod enhance;
pub mod git;
pub mod github;
pub mod logs;
pub mod mcp_error;
pub mod metrics;
pub mod prompts;
pub mod resources;
pub mod server;
pub mod sessions;
pub mod store;
pub mod tools;
pub mod transport;
pub mod web;
