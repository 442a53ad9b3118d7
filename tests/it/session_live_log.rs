//! The live session log resource through rmcp's client: a client subscribes
//! to `kanban://sessions/{id}/log` and gets `notifications/resources/updated`
//! while the agent prints (protocol 2025-11-25's resources/subscribe, and
//! 2026-07-28's subscriptions/listen); reading the resource gives the log's
//! tail.
// This connection negotiates protocol 2025-11-25 (rmcp's client over stdio),
// where resources/subscribe is how a client subscribes; rmcp marks it
// deprecated only in favour of 2026-07-28's subscriptions/listen.
#![allow(deprecated)]

use crate::common;
use crate::http_support;

use std::time::Duration;

use common::{BIN, DataDir, sessions::config};
use rmcp::{
    ClientHandler, RoleClient, ServiceExt,
    model::{
        CallToolRequestParams, ProtocolVersion, ReadResourceRequestParams, ResourceContents,
        ResourceUpdatedNotificationParam, ServerNotification, SubscribeRequestParams,
        SubscriptionFilter, UnsubscribeRequestParams,
    },
    service::{
        ClientLifecycleMode, ClientServiceExt, NotificationContext, RunningService, ServiceError,
    },
    transport::{
        ConfigureCommandExt, StreamableHttpClientTransport, TokioChildProcess,
        streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// A client that passes on every resource update it is sent.
struct Watcher {
    updates: mpsc::UnboundedSender<String>,
}

impl ClientHandler for Watcher {
    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self.updates.send(params.uri);
    }
}

async fn call(client: &RunningService<RoleClient, Watcher>, name: &str, args: Value) -> Value {
    let Value::Object(arguments) = args else {
        panic!("arguments must be an object")
    };
    let result = client
        .call_tool(CallToolRequestParams::new(name.to_owned()).with_arguments(arguments))
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_ne!(result.is_error, Some(true), "{name}: {result:?}");
    result.structured_content.expect("structured content")
}

/// `serve` on `data` with the stand-in agents' configuration.
fn serve_command(data: &DataDir) -> tokio::process::Command {
    let config = config(data, "", "");
    tokio::process::Command::new(BIN).configure(|cmd| {
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(data.path())
            .arg("--config")
            .arg(&config)
            .env_remove("VK_API_KEY")
            .env("VK_LOG", "error");
    })
}

/// A project `name` with one task whose agent prints slowly until stopped;
/// returns the project and the session id.
async fn start_chatty_session(
    client: &RunningService<RoleClient, Watcher>,
    name: &str,
) -> (Value, String) {
    let project = call(client, "create_project", json!({"name": name})).await;
    let task = call(
        client,
        "create_task",
        json!({"project_id": project["id"], "title": "Chatty"}),
    )
    .await;
    let session = call(
        client,
        "start_session",
        json!({"task_id": task["id"], "executor": "slow"}),
    )
    .await;
    let session_id = session["id"].as_str().expect("id").to_owned();
    (project, session_id)
}

async fn next_update(updates: &mut mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(60), updates.recv())
        .await
        .expect("an update arrives (hang guard)")
        .expect("client still connected")
}

#[tokio::test]
async fn subscribers_are_told_as_output_arrives() {
    let data = DataDir::new();
    let command = serve_command(&data);
    let (sender, mut updates) = mpsc::unbounded_channel();
    let client = Watcher { updates: sender }
        .serve(TokioChildProcess::new(command).expect("spawn server"))
        .await
        .expect("initialize");
    let info = client.peer_info().expect("server info");
    assert!(
        info.capabilities
            .resources
            .as_ref()
            .and_then(|r| r.subscribe)
            .unwrap_or(false),
        "the server offers resources/subscribe"
    );

    let (project, session_id) = start_chatty_session(&client, "live").await;
    let session_id = session_id.as_str();
    let uri = format!("kanban://sessions/{session_id}/log");
    client
        .subscribe(SubscribeRequestParams::new(&uri))
        .await
        .expect("subscribe");

    // Updates keep coming while the agent prints, and the resource grows.
    let mut previous = String::new();
    for _ in 0..3 {
        assert_eq!(next_update(&mut updates).await, uri);
        let read = client
            .read_resource(ReadResourceRequestParams::new(&uri))
            .await
            .expect("read the log resource");
        let text = match &read.contents[0] {
            ResourceContents::TextResourceContents { text, .. } => text.clone(),
            other => panic!("unexpected contents {other:?}"),
        };
        assert_ne!(text, previous, "each update brings new output");
        previous = text;
    }
    assert!(previous.contains("agent: line"), "{previous}");

    // Stopping is an update too (the final lines and the status).
    call(&client, "stop_session", json!({"session_id": session_id})).await;
    while !client
        .read_resource(ReadResourceRequestParams::new(&uri))
        .await
        .map(|r| format!("{:?}", r.contents))
        .unwrap_or_default()
        .contains("session stopped")
    {
        next_update(&mut updates).await;
    }
    client
        .unsubscribe(UnsubscribeRequestParams::new(&uri))
        .await
        .expect("unsubscribe");

    // Only session logs of the caller's workspace can be subscribed to.
    for bad in [
        format!(
            "kanban://projects/{}/board",
            project["id"].as_str().expect("id")
        ),
        "kanban://sessions/0193a000-0000-7000-8000-000000000042/log".to_owned(),
    ] {
        match client.subscribe(SubscribeRequestParams::new(&bad)).await {
            Err(ServiceError::McpError(error)) => {
                assert!(error.message.contains("only session logs"), "{error:?}")
            }
            other => panic!("subscribing to {bad} should fail: {other:?}"),
        }
    }
    let _ = client.cancel().await;
}

/// Protocol 2026-07-28: a client opens a `subscriptions/listen` stream for a
/// session log and gets `notifications/resources/updated` on it while the
/// agent prints; URIs that never change are left out of the acknowledgment.
#[tokio::test]
async fn listeners_of_the_2026_protocol_are_told_on_their_stream() {
    let data = DataDir::new();
    let command = serve_command(&data);
    let (sender, _updates) = mpsc::unbounded_channel();
    let client = Watcher { updates: sender }
        .serve_with_lifecycle(
            TokioChildProcess::new(command).expect("spawn server"),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("server/discover");
    assert_eq!(
        client.peer_info().expect("server info").protocol_version,
        ProtocolVersion::V_2026_07_28
    );

    let (project, session_id) = start_chatty_session(&client, "listen").await;
    let session_id = session_id.as_str();
    let uri = format!("kanban://sessions/{session_id}/log");
    let board = format!(
        "kanban://projects/{}/board",
        project["id"].as_str().expect("id")
    );
    let mut subscription = client
        .peer()
        .listen(
            SubscriptionFilter::builder()
                .resource_subscriptions(vec![uri.clone(), board])
                .build(),
        )
        .await
        .expect("subscriptions/listen is acknowledged");
    assert_eq!(
        subscription.acknowledged().resource_subscriptions,
        Some(vec![uri.clone()]),
        "only the session log is a resource that changes"
    );

    for _ in 0..3 {
        let notification = tokio::time::timeout(Duration::from_secs(60), subscription.next())
            .await
            .expect("an update arrives (hang guard)")
            .expect("stream open")
            .expect("a notification");
        match notification {
            ServerNotification::ResourceUpdatedNotification(updated) => {
                assert_eq!(updated.params.uri, uri)
            }
            other => panic!("unexpected notification {other:?}"),
        }
    }
    call(&client, "stop_session", json!({"session_id": session_id})).await;
    drop(subscription);
    let _ = client.cancel().await;
}

/// A 2026-07-28 client (discover, no initialize) of `serve` on `data`,
/// acting as `key` when given.
async fn discover_client(data: &DataDir, key: Option<&str>) -> RunningService<RoleClient, Watcher> {
    let mut command = serve_command(data);
    if let Some(key) = key {
        command.env("VK_API_KEY", key);
    }
    let (sender, _updates) = mpsc::unbounded_channel();
    Watcher { updates: sender }
        .serve_with_lifecycle(
            TokioChildProcess::new(command).expect("spawn server"),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("server/discover")
}

fn log_filter(uri: &str) -> SubscriptionFilter {
    SubscriptionFilter::builder()
        .resource_subscriptions(vec![uri.to_owned()])
        .build()
}

/// The listen must be refused (not acknowledged), naming the workspace.
async fn assert_listen_refused(client: &RunningService<RoleClient, Watcher>, uri: &str, how: &str) {
    match client.peer().listen(log_filter(uri)).await {
        Err(ServiceError::McpError(error)) => {
            assert_eq!(error.code.0, -32602, "{how}: {error:?}");
            assert!(
                error.message.contains(uri)
                    && error.message.contains("not found in workspace 'rival'"),
                "{how}: {error:?}"
            );
        }
        Err(other) => panic!("{how}: listening to {uri} failed without a refusal: {other}"),
        Ok(subscription) => panic!(
            "{how}: listening to {uri} was acknowledged: {:?}",
            subscription.acknowledged()
        ),
    }
}

/// `subscriptions/listen` to another workspace's session log, or to a
/// made-up one, is refused like `resources/subscribe` — over stdio and over
/// HTTP — and nothing about the session is delivered.
#[tokio::test]
async fn listening_to_another_workspaces_session_is_refused() {
    let data = DataDir::new();
    let owner = discover_client(&data, None).await;
    let (_, session_id) = start_chatty_session(&owner, "theirs").await;
    let theirs = format!("kanban://sessions/{session_id}/log");
    let made_up = "kanban://sessions/0193a000-0000-7000-8000-000000000042/log".to_owned();
    data.create_workspace("rival", "rival@example.com");
    let rival_key = data.create_key("rival", "rival", "read");

    let rival = discover_client(&data, Some(&rival_key)).await;
    for uri in [&theirs, &made_up] {
        assert_listen_refused(&rival, uri, "stdio").await;
    }
    let _ = rival.cancel().await;

    let config = config(&data, "", "");
    let server = http_support::HttpServer::start(
        data.path(),
        &["--config", config.to_str().expect("utf-8")],
        &[],
    );
    let transport = StreamableHttpClientTransport::with_client(
        http_support::reqwest_client(),
        StreamableHttpClientTransportConfig::with_uri(server.url("/mcp")).auth_header(rival_key),
    );
    let (sender, _updates) = mpsc::unbounded_channel();
    let rival = Watcher { updates: sender }
        .serve_with_lifecycle(
            transport,
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("server/discover over HTTP");
    for uri in [&theirs, &made_up] {
        assert_listen_refused(&rival, uri, "HTTP").await;
    }
    let _ = rival.cancel().await;
    call(&owner, "stop_session", json!({"session_id": session_id})).await;
    let _ = owner.cancel().await;
}

/// A stdio server acting as a key that gets revoked ends that key's open
/// `subscriptions/listen` stream, although the agent keeps printing.
#[tokio::test]
async fn revoking_the_key_ends_a_stdio_listen_stream() {
    let data = DataDir::new();
    let key = data.create_key("default", "listener", "read,write,sessions");
    let client = discover_client(&data, Some(&key)).await;
    let (_, session_id) = start_chatty_session(&client, "listen").await;
    let uri = format!("kanban://sessions/{session_id}/log");
    let mut subscription = client
        .peer()
        .listen(log_filter(&uri))
        .await
        .expect("subscriptions/listen is acknowledged");
    let first = tokio::time::timeout(Duration::from_secs(60), subscription.next())
        .await
        .expect("an update arrives (hang guard)");
    assert!(matches!(first, Ok(Some(_))), "{first:?}");

    data.cli_ok(&["keys", "revoke", &key[..11]]);
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match subscription.next().await {
                Ok(Some(_)) => continue,
                ended => return ended,
            }
        }
    })
    .await
    .expect("the listen stream of a revoked key must end, not stay open");
    match ended {
        Err(ServiceError::McpError(error)) => {
            assert!(
                error.message.contains("revoked or has expired"),
                "{error:?}"
            )
        }
        other => panic!("the stream should end with the refusal: {other:?}"),
    }
    drop(subscription);
    let _ = client.cancel().await;
}
