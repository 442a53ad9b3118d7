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
//!   HTTP alike. Servers take a shutdown future; only the binary's
//!   [`commands::shutdown_signal`] listens for signals.
//! - [`server`] — the one MCP handler all transports serve; resolves the caller.
//! - [`tools`] — MCP tools, one file per area, and the tool registry
//!   (schemas, annotations, argument parsing, error mapping).
//! - [`resources`] — MCP resources: project boards, tasks and live session logs.
//! - [`prompts`] — MCP prompts (the prompt templates) and argument
//!   completion.
//! - [`enhance`] — prompt enhancement: providers (offline, Workers AI,
//!   OpenAI-compatible, Anthropic), the cache, prompt templates.
//! - [`render`], [`board`] — text for people: tool result copies, boards.
//! - [`auth`] — API keys, scopes, and the [`auth::Principal`] a call runs as.
//! - [`store`] — the SQL layer: store methods build a [`store::Batch`] of
//!   fixed SQL texts (values bound once, by number) that an executor
//!   ([`store::sqlite`] for a local file, [`store::d1`] for Cloudflare D1 over
//!   its HTTP API) runs atomically in one round trip; each statement's result
//!   is read back by its [`store::ResultHandle`] ([`store::exec`]). One file
//!   per entity (`tasks.rs`, `projects.rs`, `templates.rs`, `keys.rs`, …);
//!   `sessions/` is split by caller: `types.rs`, `queries.rs` (the tools'
//!   caller-scoped queries) and `runner.rs` (claims, heartbeats, stop
//!   requests, finishing a turn). `audit.rs` builds every audit row;
//!   [`store::page`] is the one [`store::Page`] and cursor codec of every
//!   list; [`store::migrate`] applies `migrations/` like wrangler does.
//!   `ids.rs` holds the typed ids ([`store::TaskId`], [`store::ProjectId`],
//!   …) that every layer passes from the tool arguments down; a
//!   [`store::StoreError`] names an [`store::Entity`] and keeps the SQLite,
//!   D1, I/O or JSON failure under it as its source.
//! - [`sessions`] — the agent runtime: executor profiles, git worktrees,
//!   supervised processes, the runner that claims queued sessions.
//! - [`logs`] — execution logs on local disk or in R2, read by range.
//! - [`config`] — data locations, the store choice (`--store sqlite|d1`) and
//!   the TOML configuration file.
//! - [`metrics`] — counters and histograms for `/metrics`.

pub mod auth;
pub mod board;
pub mod commands;
pub mod config;
pub mod enhance;
pub mod logs;
pub mod metrics;
pub mod prompts;
pub mod render;
pub mod resources;
pub mod server;
pub mod sessions;
pub mod store;
pub mod tools;
pub mod transport;
