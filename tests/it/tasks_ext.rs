//! The MCP tasks extension (`io.modelcontextprotocol/tasks`, SEP-2663):
//! `start_session` and `send_follow_up` as tasks for a client that declares
//! it, over stdio (rmcp's client on the real binary, a stand-in agent), a
//! Streamable HTTP session (rmcp's HTTP client) and stateless Streamable
//! HTTP (raw 2026-07-28 requests, each on its own);
//! `tasks/get` to the end, `notifications/tasks`, `tasks/cancel` stopping a
//! running agent, -32021 for clients without the extension, -32602 for task
//! ids that are not the caller's.

use crate::common;
use crate::http_support;

use std::time::{Duration, Instant};

use common::{BIN, DataDir, Server, sessions::config};
use http_support::{HttpServer, http, reqwest_client};
use rmcp::{
    ClientHandler, RoleClient, ServiceExt,
    model::{
        CallToolRequestParams, CallToolResponse, CancelTaskParams, ClientCapabilities,
        ClientConfig, ErrorCode, GetTaskParams, GetTaskResult, Implementation, TASKS_EXTENSION_ID,
        TaskStatusNotificationParams,
    },
    service::{NotificationContext, RunningService, ServiceError},
    transport::{
        ConfigureCommandExt, StreamableHttpClientTransport, TokioChildProcess,
        streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// A client that declares the tasks extension and passes on every
/// `notifications/tasks` it gets.
#[derive(Clone)]
struct TasksClient {
    statuses: mpsc::UnboundedSender<TaskStatusNotificationParams>,
}

impl ClientHandler for TasksClient {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder().enable_tasks().build(),
            Implementation::new("tasks-test", "0"),
        )
    }

    async fn on_task_status(
        &self,
        params: TaskStatusNotificationParams,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self.statuses.send(params);
    }
}

type Client = RunningService<RoleClient, TasksClient>;

/// `vibe-kanban-mcp serve` over stdio with the stand-in agents' profiles,
/// and a client that declared the extension.
async fn start(
    data: &DataDir,
    args: &[&str],
) -> (
    Client,
    mpsc::UnboundedReceiver<TaskStatusNotificationParams>,
) {
    let config = config(data, "", "");
    let command = tokio::process::Command::new(BIN).configure(|cmd| {
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(data.path())
            .arg("--config")
            .arg(&config)
            .args(args)
            .env_remove("VK_API_KEY")
            .env_remove("VK_STORE")
            .env("VK_LOG", "error");
    });
    let (transport, _stderr) = TokioChildProcess::builder(command)
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("spawn the server");
    let (tx, rx) = mpsc::unbounded_channel();
    let client = TasksClient { statuses: tx }
        .serve(transport)
        .await
        .expect("initialize");
    (client, rx)
}

async fn call(client: &Client, tool: &str, args: Value) -> Result<CallToolResponse, ServiceError> {
    let Value::Object(arguments) = args else {
        panic!("arguments must be an object")
    };
    client
        .call_tool_once(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments))
        .await
}

/// A tool's structured result, for the tools that never become tasks.
async fn plain(client: &Client, tool: &str, args: Value) -> Value {
    match call(client, tool, args).await.expect(tool) {
        CallToolResponse::Complete(result) => {
            assert_ne!(result.is_error, Some(true), "{tool}: {result:?}");
            result.structured_content.expect("structured content")
        }
        other => panic!("{tool}: expected a plain result, got {other:?}"),
    }
}

/// A task on a new task of a new project (no repository).
async fn task_on(client: &Client, title: &str) -> String {
    let project = plain(client, "create_project", json!({"name": title})).await;
    let task = plain(
        client,
        "create_task",
        json!({"project_id": project["id"], "title": title}),
    )
    .await;
    task["id"].as_str().expect("task id").to_owned()
}

/// The task id of a call that must have become a task.
async fn task_of(client: &Client, tool: &str, args: Value) -> String {
    match call(client, tool, args).await.expect(tool) {
        CallToolResponse::Task(handle) => {
            let wire = serde_json::to_value(&handle).expect("encode");
            assert_eq!(wire["resultType"], "task", "{wire}");
            assert_eq!(wire["status"], "working", "{wire}");
            assert!(wire["pollIntervalMs"].as_u64().is_some(), "{wire}");
            handle.task.task_id
        }
        other => panic!("{tool}: expected a task handle, got {other:?}"),
    }
}

async fn get(client: &Client, task_id: &str) -> Value {
    let task: GetTaskResult = client
        .get_task(GetTaskParams::new(task_id))
        .await
        .expect("tasks/get");
    serde_json::to_value(&task).expect("encode")
}

/// Polls `tasks/get` until `done` holds for the task.
async fn poll_until(client: &Client, task_id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let task = get(client, task_id).await;
        if done(&task) {
            return task;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "task {task_id} never got there: {task:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn terminal(task: &Value) -> bool {
    ["completed", "failed", "cancelled"].contains(&task["status"].as_str().unwrap_or_default())
}

fn error_code(error: ServiceError) -> (ErrorCode, String) {
    match error {
        ServiceError::McpError(error) => (error.code, error.message.into_owned()),
        other => panic!("expected a JSON-RPC error, got {other}"),
    }
}

#[tokio::test]
async fn a_session_and_its_follow_up_run_as_tasks_with_status_notifications() {
    let data = DataDir::new();
    let (client, mut statuses) = start(&data, &[]).await;
    let info = client.peer_info().expect("server info");
    assert!(
        info.capabilities
            .extensions
            .as_ref()
            .is_some_and(|e| e.contains_key(TASKS_EXTENSION_ID)),
        "{:?}",
        info.capabilities
    );
    let task_id = task_on(&client, "Write notes").await;
    let first = task_of(&client, "start_session", json!({"task_id": task_id})).await;
    // The task exists as soon as its handle does.
    let now = get(&client, &first).await;
    assert_eq!(now["taskId"], first.as_str());
    let done = poll_until(&client, &first, terminal).await;
    assert_eq!(done["status"], "completed", "{done:#}");
    // The result is get_session's.
    let session = &done["result"]["structuredContent"];
    assert_eq!(session["status"], "completed", "{done:#}");
    assert_eq!(session["turns"], 1, "{done:#}");
    assert!(session["processes"].is_array(), "{done:#}");
    assert_ne!(done["result"]["isError"], true, "{done:#}");
    let session_id = session["id"].as_str().expect("session id").to_owned();

    // The connection was told, ending with the result.
    let last = last_status(&mut statuses, &first).await;
    assert_eq!(last["status"], "completed", "{last:#}");
    assert_eq!(
        last["result"]["structuredContent"]["id"],
        session_id.as_str()
    );

    // A follow-up is another task: turn 2 of the same session.
    let second = task_of(
        &client,
        "send_follow_up",
        json!({"session_id": session_id, "prompt": "and more"}),
    )
    .await;
    assert_ne!(second, first);
    let done = poll_until(&client, &second, terminal).await;
    assert_eq!(done["status"], "completed", "{done:#}");
    assert_eq!(done["result"]["structuredContent"]["turns"], 2, "{done:#}");
    // The first turn's task still reads as it ended.
    assert_eq!(get(&client, &first).await["status"], "completed");
    client.cancel().await.expect("close");
}

/// The `notifications/tasks` that ends task `task_id` (the first that is
/// not `working`), after any `working` ones.
async fn last_status(
    statuses: &mut mpsc::UnboundedReceiver<TaskStatusNotificationParams>,
    task_id: &str,
) -> Value {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let status = statuses.recv().await.expect("notifications");
            let wire = serde_json::to_value(&status).expect("encode");
            assert_eq!(wire["taskId"], task_id, "{wire}");
            if wire["status"] != "working" {
                return wire;
            }
        }
    })
    .await
    .expect("a notifications/tasks for the end of the turn")
}

#[tokio::test]
async fn a_streamable_http_session_gets_status_notifications() {
    let data = DataDir::new();
    let config = config(&data, "", "");
    let key = data.create_key("default", "tasks", "read,write,sessions");
    let server = HttpServer::start(
        data.path(),
        &["--config", config.to_str().expect("utf-8 path")],
        &[],
    );
    let transport = StreamableHttpClientTransport::with_client(
        reqwest_client(),
        StreamableHttpClientTransportConfig::with_uri(server.url("/mcp")).auth_header(key),
    );
    let (tx, mut statuses) = mpsc::unbounded_channel();
    let client = TasksClient { statuses: tx }
        .serve(transport)
        .await
        .expect("initialize over HTTP");
    let task_id = task_on(&client, "Over a session").await;
    let task = task_of(&client, "start_session", json!({"task_id": task_id})).await;
    let last = last_status(&mut statuses, &task).await;
    assert_eq!(last["status"], "completed", "{last:#}");
    assert_eq!(
        last["result"]["structuredContent"]["status"], "completed",
        "{last:#}"
    );
    assert_eq!(get(&client, &task).await["status"], "completed");
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn tasks_cancel_stops_the_running_agent() {
    let data = DataDir::new();
    let (client, _statuses) = start(&data, &[]).await;
    let task_id = task_on(&client, "Slow work").await;
    let task = task_of(
        &client,
        "start_session",
        json!({"task_id": task_id, "executor": "slow"}),
    )
    .await;
    let running = poll_until(&client, &task, |t| {
        t["statusMessage"] == "session running" || terminal(t)
    })
    .await;
    assert_eq!(running["status"], "working", "{running:#}");
    client
        .cancel_task(CancelTaskParams::new(task.clone()))
        .await
        .expect("tasks/cancel");
    let ended = poll_until(&client, &task, terminal).await;
    assert_eq!(ended["status"], "cancelled", "{ended:#}");
    let session_id = task.split('.').next().expect("session id in the task id");
    let session = plain(&client, "get_session", json!({"session_id": session_id})).await;
    assert_eq!(session["status"], "stopped", "{session:#}");
    // Cancelling an ended task is acknowledged again.
    client
        .cancel_task(CancelTaskParams::new(task))
        .await
        .expect("tasks/cancel of an ended task");
    client.cancel().await.expect("close");
}

/// A task is its session's turn, read from the store: it outlives the
/// server process that made it.
#[tokio::test]
async fn a_task_outlives_the_server_process_that_made_it() {
    let data = DataDir::new();
    let (client, _statuses) = start(&data, &["--no-runner"]).await;
    let task_id = task_on(&client, "Queued only").await;
    let task = task_of(&client, "start_session", json!({"task_id": task_id})).await;
    client.cancel().await.expect("close");
    let (client, _statuses) = start(&data, &["--no-runner"]).await;
    let now = get(&client, &task).await;
    assert_eq!(now["status"], "working", "{now:#}");
    assert_eq!(now["statusMessage"], "session queued", "{now:#}");
    client
        .cancel_task(CancelTaskParams::new(task.clone()))
        .await
        .expect("tasks/cancel");
    let ended = poll_until(&client, &task, terminal).await;
    assert_eq!(ended["status"], "cancelled", "{ended:#}");
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn bad_task_ids_are_invalid_params_that_say_what_to_pass() {
    let data = DataDir::new();
    let (client, _statuses) = start(&data, &[]).await;
    let made_up = format!("{}.1.1764000000000", uuid::Uuid::now_v7());
    for id in ["nope", "", made_up.as_str()] {
        let (code, message) =
            error_code(client.get_task(GetTaskParams::new(id)).await.expect_err(id));
        assert_eq!(code, ErrorCode::INVALID_PARAMS, "{id}: {message}");
        assert!(
            message.contains(&format!("unknown task '{id}' in workspace"))
                && message.contains("start_session"),
            "{message}"
        );
        let (code, _) = error_code(
            client
                .cancel_task(CancelTaskParams::new(id))
                .await
                .expect_err(id),
        );
        assert_eq!(code, ErrorCode::INVALID_PARAMS);
    }
    // A call that queues nothing is its plain error, not a task.
    match call(
        &client,
        "start_session",
        json!({"task_id": uuid::Uuid::now_v7()}),
    )
    .await
    .expect("start_session")
    {
        CallToolResponse::Complete(result) => assert_eq!(result.is_error, Some(true)),
        other => panic!("expected the tool's error, got {other:?}"),
    }
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn a_client_without_the_extension_gets_32021_and_plain_results() {
    let data = DataDir::new();
    let config = config(&data, "", "");
    let server = Server::in_process(
        &data,
        &["--config", config.to_str().expect("utf-8 path")],
        &[],
    )
    .await;
    let project = server.project("plain").await;
    let task = server.task(&project, "Plain", json!({})).await;
    let session = server.call("start_session", json!({"task_id": task})).await;
    assert_eq!(session["status"], "queued", "{session:#}");
    let turn = format!("{}.1.1764000000000", common::id(&session));
    let error = server
        .client
        .get_task(GetTaskParams::new(turn.clone()))
        .await
        .expect_err("tasks/get without the extension");
    assert_eq!(
        error_code(error).0,
        ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY
    );
    let error = server
        .client
        .cancel_task(CancelTaskParams::new(turn))
        .await
        .expect_err("tasks/cancel without the extension");
    assert_eq!(
        error_code(error).0,
        ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY
    );
    server.stop().await;
}

/// One stateless 2026-07-28 request; `tasks` says whether its `_meta`
/// declares the extension.
async fn stateless(
    server: &HttpServer,
    key: &str,
    method: &str,
    params: Value,
    tasks: bool,
) -> Value {
    let capabilities = if tasks {
        json!({"extensions": {TASKS_EXTENSION_ID: {}}})
    } else {
        json!({})
    };
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": capabilities,
        "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "0"}
    });
    let mut request = http()
        .post(server.url("/mcp"))
        .bearer_auth(key)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    // The routing header names the tool, or the task (SEP-2243).
    if let Some(name) = params["name"].as_str().or(params["taskId"].as_str()) {
        request = request.header("mcp-name", name);
    }
    let response = request
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        .send()
        .await
        .expect("post");
    response.json().await.expect("a JSON reply")
}

#[tokio::test]
async fn stateless_http_requests_share_tasks_within_a_workspace_only() {
    let data = DataDir::new();
    let config = config(&data, "", "");
    let key = data.create_key("default", "tasks", "read,write,sessions");
    data.create_workspace("other", "other@example.com");
    let other = data.create_key("other", "other", "read,write,sessions");
    let server = HttpServer::start(
        data.path(),
        &["--config", config.to_str().expect("utf-8 path")],
        &[],
    );
    let call = |key: &str, tool: &str, arguments: Value, tasks: bool| {
        let key = key.to_owned();
        let server = &server;
        let tool = tool.to_owned();
        async move {
            stateless(
                server,
                &key,
                "tools/call",
                json!({"name": tool, "arguments": arguments}),
                tasks,
            )
            .await
        }
    };
    let project = call(&key, "create_project", json!({"name": "http"}), true).await;
    let project_id = &project["result"]["structuredContent"]["id"];
    let task = call(
        &key,
        "create_task",
        json!({"project_id": project_id, "title": "Over HTTP"}),
        true,
    )
    .await;
    let task_id = &task["result"]["structuredContent"]["id"];
    // Without the extension in this request's _meta: the plain result.
    let plain = call(&key, "start_session", json!({"task_id": task_id}), false).await;
    assert_eq!(
        plain["result"]["structuredContent"]["status"], "queued",
        "{plain}"
    );
    assert!(plain["result"].get("taskId").is_none(), "{plain}");
    // With it: a task handle, readable by later requests of the workspace.
    let handle = call(&key, "start_session", json!({"task_id": task_id}), true).await;
    assert_eq!(handle["result"]["resultType"], "task", "{handle}");
    let task_id = handle["result"]["taskId"]
        .as_str()
        .expect("taskId")
        .to_owned();
    let started = Instant::now();
    let done = loop {
        let reply = stateless(&server, &key, "tasks/get", json!({"taskId": task_id}), true).await;
        let status = reply["result"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(!status.is_empty(), "{reply}");
        if status != "working" {
            break reply;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{reply}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(done["result"]["status"], "completed", "{done}");
    assert_eq!(
        done["result"]["result"]["structuredContent"]["status"], "completed",
        "{done}"
    );
    // Another workspace's key: no such task.
    let foreign = stateless(
        &server,
        &other,
        "tasks/get",
        json!({"taskId": task_id}),
        true,
    )
    .await;
    assert_eq!(foreign["error"]["code"], -32602, "{foreign}");
    assert!(
        foreign["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("workspace other")),
        "{foreign}"
    );
    // Without the extension in the request: -32021.
    let undeclared = stateless(
        &server,
        &key,
        "tasks/get",
        json!({"taskId": task_id}),
        false,
    )
    .await;
    assert_eq!(undeclared["error"]["code"], -32021, "{undeclared}");

    // Cancelling stops an agent: a key without the sessions scope may look,
    // not stop.
    let slow = call(
        &key,
        "start_session",
        json!({"task_id": task["result"]["structuredContent"]["id"], "executor": "slow"}),
        true,
    )
    .await;
    let slow = slow["result"]["taskId"]
        .as_str()
        .expect("taskId")
        .to_owned();
    let reader = data.create_key("default", "reader", "read");
    let seen = stateless(&server, &reader, "tasks/get", json!({"taskId": slow}), true).await;
    assert_eq!(seen["result"]["status"], "working", "{seen}");
    let refused = stateless(
        &server,
        &reader,
        "tasks/cancel",
        json!({"taskId": slow}),
        true,
    )
    .await;
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("sessions scope")),
        "{refused}"
    );
    let cancelled = stateless(&server, &key, "tasks/cancel", json!({"taskId": slow}), true).await;
    assert_eq!(cancelled["result"]["resultType"], "complete", "{cancelled}");
    let started = Instant::now();
    loop {
        let reply = stateless(&server, &key, "tasks/get", json!({"taskId": slow}), true).await;
        if reply["result"]["status"] == "cancelled" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{reply}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
