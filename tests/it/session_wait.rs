//! `wait_for_session` end to end with real agent processes
//! (tests/agents/agent.sh): it returns when the agent exits, times out on
//! one that keeps running, wakes on new output, sends progress with the
//! request's token (stdio, Streamable HTTP, legacy SSE), ends at once when
//! the client cancels, outlives the HTTP request timeout, and refuses
//! sessions that are not the caller's. Results carry resource links.

use crate::common;
use crate::http_support;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use common::{
    BIN, DataDir, Server,
    sessions::{agent_script, config, wait_output},
};
use http_support::{HttpServer, http, reqwest_client};
use rmcp::{
    ClientHandler, RoleClient, ServiceExt,
    model::{
        CallToolRequest, CallToolRequestParams, CallToolResult, ClientRequest, ContentBlock,
        ProgressNotificationParam, ServerResult,
    },
    service::{NotificationContext, PeerRequestOptions, RunningService},
    transport::{
        ConfigureCommandExt, StreamableHttpClientTransport, TokioChildProcess,
        streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};
use tokio::sync::Notify;

/// Agents for waiting: `pausing` prints a line, pauses 4 s, prints
/// another, pauses 4 s and exits; `sleeper` prints one line and sleeps.
fn profiles() -> String {
    let agent = agent_script();
    format!(
        r#"
[executors.pausing]
command = ["sh", "{agent}"]
env = {{ AGENT_LINES = "2", AGENT_DELAY = "4" }}

[executors.sleeper]
command = ["sh", "{agent}"]
env = {{ AGENT_LINES = "1", AGENT_DELAY = "300" }}
"#
    )
}

fn config_path(data: &DataDir) -> String {
    config(data, "", &profiles())
        .to_str()
        .expect("utf-8 path")
        .to_owned()
}

/// A task on a fresh project; returns (create_task's result, task id).
async fn a_task(server: &Server) -> (CallToolResult, String) {
    let project = server
        .project(&format!("app {}", uuid::Uuid::now_v7()))
        .await;
    let result = server
        .try_call(
            "create_task",
            json!({"project_id": project, "title": "Wait for me"}),
        )
        .await
        .expect("create_task");
    let id = result.structured_content.as_ref().expect("structured")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    (result, id)
}

async fn start(server: &Server, task_id: &str, executor: &str) -> String {
    common::id(
        &server
            .call(
                "start_session",
                json!({"task_id": task_id, "executor": executor}),
            )
            .await,
    )
}

/// The URIs of a result's resource links.
fn links(result: &CallToolResult) -> Vec<String> {
    result
        .content
        .iter()
        .filter_map(|block| match block {
            ContentBlock::ResourceLink(link) => Some(link.uri.clone()),
            _ => None,
        })
        .collect()
}

fn session_links(session_id: &str) -> Vec<String> {
    vec![
        format!("kanban://sessions/{session_id}/log"),
        format!("kanban://sessions/{session_id}/diff"),
    ]
}

/// Calls wait_for_session, which must succeed; returns the whole result.
async fn wait(server: &Server, args: Value) -> CallToolResult {
    let result = server
        .try_call("wait_for_session", args.clone())
        .await
        .unwrap_or_else(|e| panic!("wait_for_session({args}) was refused: {e:?}"));
    assert_ne!(result.is_error, Some(true), "{}", common::text(&result));
    result
}

#[tokio::test]
async fn a_wait_returns_when_the_agent_exits_with_links_to_the_sessions_resources() {
    let data = DataDir::new();
    let cfg = config_path(&data);
    let server = Server::in_process(&data, &["--config", &cfg], &[]).await;
    let (created, task_id) = a_task(&server).await;
    assert_eq!(links(&created), [format!("kanban://tasks/{task_id}")]);
    assert!(
        common::text(&created).contains("Wait for me"),
        "the text stays"
    );

    let started = server
        .try_call("start_session", json!({"task_id": task_id}))
        .await
        .expect("start_session");
    let session_id = started.structured_content.as_ref().expect("structured")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(links(&started), session_links(&session_id));

    let result = wait(
        &server,
        json!({"session_id": session_id, "timeout_secs": 90}),
    )
    .await;
    let waited = result.structured_content.clone().expect("structured");
    assert_eq!(waited["status"], "completed", "{waited:#}");
    assert_eq!(waited["timed_out"], false);
    // What get_session returns, plus timed_out.
    assert_eq!(waited["processes"][0]["kind"], "coding_agent");
    assert!(
        waited["last_output"]
            .as_str()
            .is_some_and(|o| o.contains("agent: line 3")),
        "{waited:#}"
    );
    let got = server
        .try_call("get_session", json!({"session_id": session_id}))
        .await
        .expect("get_session");
    let mut expected = got.structured_content.clone().expect("structured");
    expected["timed_out"] = json!(false);
    assert_eq!(waited, expected);
    assert_eq!(links(&result), session_links(&session_id));
    assert_eq!(links(&got), session_links(&session_id));
    assert!(common::text(&result).contains("is completed"));

    // A finished session answers at once.
    let again = wait(&server, json!({"session_id": session_id})).await;
    assert_eq!(
        again.structured_content.expect("structured")["timed_out"],
        false
    );
    server.stop().await;
}

#[tokio::test]
async fn a_wait_times_out_while_the_agent_keeps_running_and_until_output_wakes_on_a_line() {
    let data = DataDir::new();
    let cfg = config_path(&data);
    let server = Server::in_process(&data, &["--config", &cfg], &[]).await;
    let (_, task_id) = a_task(&server).await;

    let sleeper = start(&server, &task_id, "sleeper").await;
    let result = wait(&server, json!({"session_id": sleeper, "timeout_secs": 1})).await;
    let waited = result.structured_content.clone().expect("structured");
    assert_eq!(waited["timed_out"], true, "{waited:#}");
    assert!(
        matches!(waited["status"].as_str(), Some("queued" | "running")),
        "{waited:#}"
    );
    assert!(common::text(&result).contains("Timed out after 1 s"));
    server
        .call("stop_session", json!({"session_id": sleeper}))
        .await;

    // `until: "output"` returns with the next line, while the agent still
    // runs (it pauses 4 s after it).
    let (_, task_id) = a_task(&server).await;
    let pausing = start(&server, &task_id, "pausing").await;
    wait_output(&server, &pausing, "agent: line 1").await;
    let result = wait(
        &server,
        json!({"session_id": pausing, "until": "output", "timeout_secs": 60}),
    )
    .await;
    let waited = result.structured_content.clone().expect("structured");
    assert_eq!(waited["timed_out"], false, "{waited:#}");
    assert_eq!(waited["status"], "running", "{waited:#}");
    assert!(
        waited["last_output"]
            .as_str()
            .is_some_and(|o| o.contains("agent: line 2")),
        "{waited:#}"
    );
    let done = wait(&server, json!({"session_id": pausing, "timeout_secs": 60})).await;
    assert_eq!(
        done.structured_content.expect("structured")["status"],
        "completed"
    );
    server.stop().await;
}

#[tokio::test]
async fn bad_waits_are_refused_and_nothing_waits() {
    let data = DataDir::new();
    let cfg = config_path(&data);
    let server = Server::in_process(&data, &["--config", &cfg], &[]).await;
    let unknown = uuid::Uuid::now_v7().to_string();
    let message = server
        .call_fails(
            "wait_for_session",
            json!({"session_id": unknown, "timeout_secs": 600}),
        )
        .await;
    let got = server
        .call_fails("get_session", json!({"session_id": unknown}))
        .await;
    assert_eq!(message.replace("wait_for_session", "get_session"), got);
    assert!(message.contains(&unknown), "{message}");
    for bad in [0, 601] {
        let message = server
            .call_invalid(
                "wait_for_session",
                json!({"session_id": unknown, "timeout_secs": bad}),
            )
            .await;
        assert!(message.contains("timeout_secs"), "{message}");
    }
    let message = server
        .call_invalid(
            "wait_for_session",
            json!({"session_id": unknown, "until": "forever"}),
        )
        .await;
    assert!(message.contains("until"), "{message}");
    server.stop().await;
}

/// A client that records the progress notifications it gets.
#[derive(Clone, Default)]
struct Recorder {
    progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
    arrived: Arc<Notify>,
}

impl ClientHandler for Recorder {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress.lock().expect("progress").push(params);
        self.arrived.notify_one();
    }
}

impl Recorder {
    /// Waits until `n` notifications have arrived (bounded: a hang guard).
    async fn until(&self, n: usize) -> Vec<ProgressNotificationParam> {
        let started = Instant::now();
        loop {
            let seen = self.progress.lock().expect("progress").clone();
            if seen.len() >= n {
                return seen;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "only {} progress notifications arrived: {seen:?}",
                seen.len()
            );
            let _ = tokio::time::timeout(Duration::from_secs(1), self.arrived.notified()).await;
        }
    }
}

/// Sends wait_for_session as a cancellable request.
async fn send_wait(
    client: &RunningService<RoleClient, Recorder>,
    args: Value,
) -> rmcp::service::RequestHandle<RoleClient> {
    let Value::Object(arguments) = args else {
        panic!("arguments must be an object")
    };
    let params = CallToolRequestParams::new("wait_for_session").with_arguments(arguments);
    client
        .peer()
        .send_cancellable_request(
            ClientRequest::CallToolRequest(CallToolRequest::new(params)),
            PeerRequestOptions::no_options(),
        )
        .await
        .expect("send wait_for_session")
}

fn structured(response: ServerResult) -> Value {
    match response {
        ServerResult::CallToolResult(result) => {
            assert_ne!(result.is_error, Some(true), "{}", common::text(&result));
            result.structured_content.expect("structured")
        }
        other => panic!("not a tool result: {other:?}"),
    }
}

#[tokio::test]
async fn progress_over_stdio_carries_the_requests_token_and_names_the_last_line() {
    let data = DataDir::new();
    let cfg = config_path(&data);
    let command = tokio::process::Command::new(BIN).configure(|cmd| {
        cmd.args(["serve", "--config", &cfg, "--data-dir"])
            .arg(data.path())
            .env_remove("VK_API_KEY")
            .env_remove("VK_STORE")
            .env("VK_LOG", "error");
    });
    let (transport, _) = TokioChildProcess::builder(command)
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("spawn");
    let recorder = Recorder::default();
    let client = recorder.clone().serve(transport).await.expect("connect");
    let call = |name: &str, args: Value| {
        let Value::Object(arguments) = args else {
            panic!("object")
        };
        client.call_tool(CallToolRequestParams::new(name.to_owned()).with_arguments(arguments))
    };
    let project = call("create_project", json!({"name": "app"}))
        .await
        .expect("project");
    let project = project.structured_content.expect("structured")["id"].clone();
    let task = call("create_task", json!({"project_id": project, "title": "T"}))
        .await
        .expect("task");
    let task = task.structured_content.expect("structured")["id"].clone();
    let session = call(
        "start_session",
        json!({"task_id": task, "executor": "pausing"}),
    )
    .await
    .expect("start");
    let session_id = session.structured_content.expect("structured")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    recorder.progress.lock().expect("progress").clear();

    let handle = send_wait(
        &client,
        json!({"session_id": session_id, "timeout_secs": 90}),
    )
    .await;
    let token = handle.progress_token.clone();
    let waited = structured(handle.await_response().await.expect("wait"));
    assert_eq!(waited["status"], "completed", "{waited:#}");
    assert_eq!(waited["timed_out"], false);
    // The agent ran about 8 s: a report at the start and one for each
    // line it printed, 2 s apart at least.
    let seen = recorder.until(2).await;
    assert!(seen.iter().all(|p| p.progress_token == token), "{seen:?}");
    assert!(
        seen.windows(2).all(|w| w[1].progress > w[0].progress),
        "progress increases: {seen:?}"
    );
    assert!(seen.iter().all(|p| p.total == Some(90.0)), "{seen:?}");
    assert!(
        seen.iter().any(|p| p
            .message
            .as_deref()
            .is_some_and(|m| m.contains("session running; last output: agent: line"))),
        "{seen:?}"
    );
    let _ = client.cancel().await;
}

fn http_config(data: &DataDir) -> (HttpServer, String) {
    let key = data.create_key("default", "waiter", "read,write,sessions");
    let cfg = config_path(data);
    // A request timeout far below the waits: the edge must allow a wait
    // its own timeout.
    let server = HttpServer::start(
        data.path(),
        &["--config", &cfg, "--request-timeout-secs", "2"],
        &[],
    );
    (server, key)
}

async fn http_client(
    server: &HttpServer,
    key: &str,
    recorder: &Recorder,
) -> RunningService<RoleClient, Recorder> {
    let config = StreamableHttpClientTransportConfig::with_uri(server.url("/mcp"))
        .auth_header(key.to_owned());
    let transport = StreamableHttpClientTransport::with_client(reqwest_client(), config);
    recorder.clone().serve(transport).await.expect("connect")
}

async fn http_call(
    client: &RunningService<RoleClient, Recorder>,
    name: &str,
    args: Value,
) -> Value {
    let Value::Object(arguments) = args else {
        panic!("object")
    };
    let result = client
        .call_tool(CallToolRequestParams::new(name.to_owned()).with_arguments(arguments))
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_ne!(
        result.is_error,
        Some(true),
        "{name}: {}",
        common::text(&result)
    );
    result.structured_content.expect("structured")
}

/// A session of `executor` on a new task, started over `client`.
async fn http_session(client: &RunningService<RoleClient, Recorder>, executor: &str) -> String {
    let name = format!("{executor} {}", uuid::Uuid::now_v7());
    let project = http_call(client, "create_project", json!({"name": name})).await;
    let task = http_call(
        client,
        "create_task",
        json!({"project_id": project["id"], "title": "T"}),
    )
    .await;
    let session = http_call(
        client,
        "start_session",
        json!({"task_id": task["id"], "executor": executor}),
    )
    .await;
    session["id"].as_str().expect("id").to_owned()
}

/// The counter of wait_for_session calls that ended with `outcome`.
async fn ended_waits(server: &HttpServer, outcome: &str) -> bool {
    let text = http()
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.contains(&format!(
        "vk_tool_calls_total{{tool=\"wait_for_session\",outcome=\"{outcome}\"}} 1"
    ))
}

#[tokio::test]
async fn over_streamable_http_a_wait_outlives_the_request_timeout_and_ends_on_cancel() {
    let data = DataDir::new();
    let (server, key) = http_config(&data);
    let recorder = Recorder::default();
    let client = http_client(&server, &key, &recorder).await;

    // A session-mode wait longer than the 2 s request timeout, with
    // progress on its stream.
    let pausing = http_session(&client, "pausing").await;
    let handle = send_wait(&client, json!({"session_id": pausing, "timeout_secs": 90})).await;
    let token = handle.progress_token.clone();
    let waited = structured(handle.await_response().await.expect("wait"));
    assert_eq!(waited["status"], "completed", "{waited:#}");
    assert_eq!(waited["timed_out"], false);
    let seen = recorder.until(1).await;
    assert!(seen.iter().all(|p| p.progress_token == token), "{seen:?}");

    // A stateless (2026-07-28) wait without a progress token answers with
    // plain JSON when the agent is done, long after the request timeout.
    let pausing = http_session(&client, "pausing").await;
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
    "name": "wait_for_session",
    "arguments": {"session_id": pausing, "timeout_secs": 60},
    "_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "0"}
    }}});
    let response = http()
        .post(server.url("/mcp"))
        .bearer_auth(&key)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "wait_for_session")
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 200);
    let reply: Value = response.json().await.expect("json");
    let waited = &reply["result"]["structuredContent"];
    assert_eq!(waited["status"], "completed", "{reply:#}");
    assert_eq!(waited["timed_out"], false, "{reply:#}");

    // Cancelling a wait ends it at once, not after its 600 s.
    let sleeper = http_session(&client, "sleeper").await;
    recorder.progress.lock().expect("progress").clear();
    let handle = send_wait(&client, json!({"session_id": sleeper, "timeout_secs": 600})).await;
    recorder.until(1).await;
    assert!(!ended_waits(&server, "tool_error").await);
    handle
        .cancel(Some("enough".to_owned()))
        .await
        .expect("cancel");
    let started = Instant::now();
    while !ended_waits(&server, "tool_error").await {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the cancelled wait is still running"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    http_call(&client, "stop_session", json!({"session_id": sleeper})).await;
    let _ = client.cancel().await;
}

#[tokio::test]
async fn over_legacy_sse_a_wait_sends_progress_then_its_result() {
    use crate::http::SseReader;

    let data = DataDir::new();
    let (server, key) = http_config(&data);
    let recorder = Recorder::default();
    let client = http_client(&server, &key, &recorder).await;
    let pausing = http_session(&client, "pausing").await;

    let stream = http()
        .get(server.url("/sse"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("sse");
    let mut events = SseReader::new(stream);
    let (_, endpoint) = events.event().await;
    let url = server.url(&endpoint);
    let post = |body: Value| {
        http()
            .post(url.clone())
            .bearer_auth(&key)
            .json(&body)
            .send()
    };
    let mut init = http_support::initialize_body();
    init["params"]["protocolVersion"] = json!("2024-11-05");
    assert_eq!(post(init).await.expect("initialize").status(), 202);
    events.event().await;
    post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .await
        .expect("initialized");
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "wait_for_session",
        "arguments": {"session_id": pausing, "timeout_secs": 90},
        "_meta": {"progressToken": "sse-wait"}}});
    assert_eq!(post(call).await.expect("call").status(), 202);
    let mut progress = 0;
    let result = loop {
        let (_, data) = events.event().await;
        let message: Value = serde_json::from_str(&data).expect("json");
        if message["method"] == "notifications/progress" {
            assert_eq!(message["params"]["progressToken"], "sse-wait", "{message}");
            progress += 1;
            continue;
        }
        break message;
    };
    assert!(progress >= 1, "progress before the result");
    assert_eq!(result["id"], 2, "{result}");
    assert_eq!(result["result"]["structuredContent"]["status"], "completed");
    assert_eq!(result["result"]["structuredContent"]["timed_out"], false);
    let _ = client.cancel().await;
}
