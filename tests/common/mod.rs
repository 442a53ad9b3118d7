//! Shared test harness: runs the real `vibe-kanban-mcp` binary and drives it
//! with rmcp's client over stdio, on a real SQLite file in a temp directory.
#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::Output,
};

use rmcp::{
    RoleClient, ServiceExt,
    model::{CallToolRequestParams, CallToolResult, ErrorData, ReadResourceRequestParams, Tool},
    service::{RunningService, ServiceError},
    transport::{ConfigureCommandExt, TokioChildProcess},
};
use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_vibe-kanban-mcp");

/// A data directory that disappears with the test.
pub struct DataDir {
    dir: tempfile::TempDir,
}

impl DataDir {
    pub fn new() -> Self {
        DataDir {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn db(&self) -> PathBuf {
        self.path().join("kanban.db")
    }

    /// Runs a CLI subcommand against this data directory.
    pub fn cli(&self, args: &[&str]) -> Output {
        std::process::Command::new(BIN)
            .args(args)
            .arg("--data-dir")
            .arg(self.path())
            .env_remove("VK_API_KEY")
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

    /// Opens the database file directly, to check what was (not) written.
    pub fn sql(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.db()).expect("open database")
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.sql()
            .query_row(sql, [], |row| row.get(0))
            .expect("count query")
    }
}

/// A running server and the rmcp client connected to it.
pub struct Server {
    pub client: RunningService<RoleClient, ()>,
}

impl Server {
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
            cmd.env_remove("VK_API_KEY").env("VK_LOG", "error");
            for (key, value) in env {
                cmd.env(key, value);
            }
        });
        let (transport, _stderr) = TokioChildProcess::builder(command)
            .stderr(std::process::Stdio::inherit())
            .spawn()?;
        let client = ().serve(transport).await?;
        Ok(Server { client })
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

    pub async fn stop(self) {
        let _ = self.client.cancel().await;
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
pub mod sessions;
