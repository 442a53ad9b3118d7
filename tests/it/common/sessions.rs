//! Helpers for the agent-session tests: a configuration file whose executor
//! profiles run `tests/agents/agent.sh`, a real git repository, and waiting
//! for a session to reach a state (polling through the MCP client).

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use rmcp::{
    RoleClient, ServiceExt,
    service::RunningService,
    transport::{ConfigureCommandExt, TokioChildProcess},
};
use serde_json::{Value, json};

use super::{DataDir, Server};

/// The stand-in agent script.
pub fn agent_script() -> String {
    format!("{}/tests/agents/agent.sh", env!("CARGO_MANIFEST_DIR"))
}

/// A configuration with one executor profile per agent behaviour the tests
/// need. `extra` is appended (more sections or settings).
pub fn config(data: &DataDir, sessions: &str, extra: &str) -> PathBuf {
    let agent = agent_script();
    let text = format!(
        r#"[sessions]
default_executor = "script"
stop_grace_secs = 0.5
poll_interval_ms = 100
heartbeat_interval_ms = 200
{sessions}

[executors.script]
command = ["sh", "{agent}"]
resume_command = ["sh", "{agent}", "--resume", "{{agent_session_id}}"]
session_id_field = "session_id"

[executors.stdin]
command = ["sh", "{agent}"]
prompt_via = "stdin"
env = {{ AGENT_STDIN = "1" }}

[executors.failing]
command = ["sh", "{agent}"]
env = {{ AGENT_EXIT = "1" }}

[executors.slow]
command = ["sh", "{agent}"]
env = {{ AGENT_LINES = "100000", AGENT_DELAY = "0.05" }}

[executors.stubborn]
command = ["sh", "{agent}"]
env = {{ AGENT_LINES = "100000", AGENT_DELAY = "0.05", AGENT_TRAP = "int" }}

[executors.immovable]
command = ["sh", "{agent}"]
env = {{ AGENT_LINES = "100000", AGENT_DELAY = "0.05", AGENT_TRAP = "int,term", AGENT_CHILD = "1" }}

[executors.timeout]
command = ["sh", "{agent}"]
timeout_secs = 1
env = {{ AGENT_LINES = "100000", AGENT_DELAY = "0.05" }}

[executors.missing]
command = ["vk-test-agent-that-is-not-installed", "--go"]

{extra}
"#
    );
    let path = data.path().join("config.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// A git repository with one commit on `main`.
pub fn git_repo(dir: &Path) -> PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).expect("repo dir");
    git(&repo, &["init", "--quiet", "--initial-branch=main"]);
    git(&repo, &["config", "user.email", "test@example.com"]);
    git(&repo, &["config", "user.name", "Test"]);
    std::fs::write(repo.join("README.md"), "# test repo\n").expect("write readme");
    git(&repo, &["add", "README.md"]);
    git(&repo, &["commit", "--quiet", "-m", "initial"]);
    repo
}

pub fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls get_session until `done` holds; panics with the last state after a
/// generous limit (a hang guard, not a timing assertion).
pub async fn wait_for(
    server: &Server,
    session_id: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let session = server
            .call("get_session", json!({"session_id": session_id}))
            .await;
        if done(&session) {
            return session;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "session {session_id} never became {what}: {session:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the session has finished its turn (any final status).
pub async fn wait_finished(server: &Server, session_id: &str) -> Value {
    wait_for(server, session_id, "finished", |s| {
        !matches!(s["status"].as_str(), Some("queued" | "running"))
    })
    .await
}

/// Waits until the session runs and its agent has printed `line`.
pub async fn wait_output(server: &Server, session_id: &str, line: &str) -> Value {
    wait_for(server, session_id, &format!("printing {line:?}"), |s| {
        s["last_output"].as_str().is_some_and(|o| o.contains(line))
    })
    .await
}

/// Reads a page of a log: the structured result, with the log text (sent
/// once, as the first content block) put in as `text`.
pub async fn log_page(server: &Server, args: Value) -> Value {
    let result = server
        .try_call("read_execution_log", args.clone())
        .await
        .unwrap_or_else(|e| panic!("read_execution_log({args}) was refused: {e:?}"));
    assert_ne!(
        result.is_error,
        Some(true),
        "read_execution_log({args}) failed: {result:?}"
    );
    let blocks: Vec<String> = result
        .content
        .iter()
        .map(|block| block.as_text().expect("text content").text.clone())
        .collect();
    assert_eq!(
        blocks.len(),
        2,
        "the log text, then where it is: {blocks:?}"
    );
    assert!(blocks[1].starts_with("[bytes "), "{}", blocks[1]);
    let mut page = result.structured_content.expect("structured content");
    assert!(page.get("text").is_none(), "the text is sent once: {page}");
    page["text"] = json!(blocks[0]);
    page
}

/// Reads a whole log by following `next_cursor` in pages of `limit` bytes.
pub async fn read_all(server: &Server, mut args: Value, limit: u64) -> String {
    let mut text = String::new();
    let mut cursor = 0;
    loop {
        args["cursor"] = json!(cursor);
        args["limit"] = json!(limit);
        let page = log_page(server, args.clone()).await;
        let chunk = page["text"].as_str().expect("text");
        text.push_str(chunk);
        let next = page["next_cursor"].as_u64().expect("next_cursor");
        if next == cursor || next >= page["total_bytes"].as_u64().expect("total") {
            return text;
        }
        cursor = next;
    }
}

/// The kinds of a session's processes, in order.
pub fn process_kinds(session: &Value) -> Vec<String> {
    session["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .map(|p| p["kind"].as_str().expect("kind").to_owned())
        .collect()
}

/// The session's server (`agent-mcp`) as the agent launches it from the
/// `mcp.json` its runner gave it, with `token` in place of the turn's
/// secret when given.
pub async fn session_server(
    mcp_json: &Path,
    token: Option<&str>,
) -> RunningService<RoleClient, ()> {
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(mcp_json).expect("mcp.json")).expect("json");
    let server = &config["mcpServers"]["vk_session"];
    assert_eq!(server["type"], "stdio", "{config:#}");
    let program = server["command"].as_str().expect("command").to_owned();
    let args: Vec<String> = server["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("arg").to_owned())
        .collect();
    let mut env: Vec<(String, String)> = server["env"]
        .as_object()
        .expect("env")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("env value").to_owned()))
        .collect();
    if let Some(token) = token {
        env.retain(|(k, _)| k != "VK_AGENT_TOKEN");
        env.push(("VK_AGENT_TOKEN".to_owned(), token.to_owned()));
    }
    let transport =
        TokioChildProcess::new(tokio::process::Command::new(program).configure(|cmd| {
            cmd.args(&args)
                .envs(env)
                .stderr(std::process::Stdio::null());
        }))
        .expect("spawn agent-mcp");
    ().serve(transport).await.expect("agent-mcp initializes")
}
