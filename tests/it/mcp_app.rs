//! The board as an MCP App (SEP-1865, `io.modelcontextprotocol/ui`): the
//! extension is advertised, `show_board` and `get_project` link the
//! `ui://kanban/board` resource, the resource is a self-contained HTML app,
//! and, in a real headless Chromium, the app framed by a small host page
//! (`mcp_app_host.html`, which implements the documented postMessage
//! bridge and relays `tools/call` to the real server over HTTP with the
//! user's key) moves cards by calling `update_task`.

use std::{sync::Arc, time::Duration};

use axum::{Json, Router, extract::State, response::Html, routing::get, routing::post};
use rmcp::{
    RoleClient, ServiceExt,
    model::{
        CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation,
        ReadResourceRequestParams, ResourceContents,
    },
    service::{RunningService, ServiceError},
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};

use crate::{
    common::{
        Backend, DataDir, Server,
        browser::{Browser, BrowserOptions},
        id, text,
    },
    http_support::{HttpServer, reqwest_client},
};

const APP_URI: &str = "ui://kanban/board";
const APP_MIME: &str = "text/html;profile=mcp-app";
const HOST_PAGE: &str = include_str!("mcp_app_host.html");
const WAIT: Duration = Duration::from_secs(20);

fn ui_resource_uri(tool: &rmcp::model::Tool) -> Option<String> {
    let meta = serde_json::to_value(tool.meta.as_ref()?).ok()?;
    meta["ui"]["resourceUri"].as_str().map(str::to_owned)
}

async fn the_app_is_advertised_linked_and_served(backend: Backend) {
    let data = DataDir::on(backend);
    let server = Server::in_process(&data, &[], &[]).await;

    let info = server.client.peer_info().expect("server info");
    let settings = serde_json::to_value(&info.capabilities.extensions).expect("extensions");
    assert_eq!(
        settings["io.modelcontextprotocol/ui"]["mimeTypes"],
        json!([APP_MIME]),
        "{settings}"
    );

    let tools = server.tools().await;
    for name in ["show_board", "get_project"] {
        let tool = tools
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("{name} listed"));
        assert_eq!(ui_resource_uri(tool).as_deref(), Some(APP_URI), "{name}");
    }
    assert!(
        tools
            .iter()
            .filter(|t| t.name != "show_board" && t.name != "get_project")
            .all(|t| ui_resource_uri(t).is_none()),
        "only the board tools link the app"
    );

    let read = server
        .client
        .read_resource(ReadResourceRequestParams::new(APP_URI))
        .await
        .expect("resources/read of the app");
    let [
        ResourceContents::TextResourceContents {
            uri,
            mime_type,
            text: html,
            meta,
        },
    ] = read.contents.as_slice()
    else {
        panic!("one text content: {:?}", read.contents)
    };
    assert_eq!(uri, APP_URI);
    assert_eq!(mime_type.as_deref(), Some(APP_MIME));
    assert!(html.starts_with("<!doctype html>"), "an HTML5 document");
    // Self-contained: nothing is loaded from anywhere, so the host's
    // restrictive default CSP is all it needs.
    for outside in [
        "http://",
        "https://",
        "src=",
        "@import",
        "fetch(",
        "XMLHttpRequest",
    ] {
        assert!(!html.contains(outside), "the app refers to {outside:?}");
    }
    let meta = serde_json::to_value(meta).expect("meta");
    assert_eq!(meta["ui"]["csp"]["connectDomains"], json!([]), "{meta}");

    let project_id = server.project("Launch").await;
    let first = server
        .task(&project_id, "Write <b>notes</b>", json!({}))
        .await;
    server
        .task(&project_id, "Ship", json!({"status": "inprogress"}))
        .await;
    server
        .task(&project_id, "Plan", json!({"parent_task_id": first}))
        .await;
    let result = server
        .try_call("show_board", json!({"project_id": project_id}))
        .await
        .expect("show_board");
    assert!(text(&result).starts_with("# Launch"), "{}", text(&result));
    let board = result.structured_content.expect("structured board");
    assert_eq!(board["project_id"], json!(project_id));
    assert_eq!(board["name"], json!("Launch"));
    let statuses: Vec<&str> = board["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| c["status"].as_str().expect("status"))
        .collect();
    assert_eq!(
        statuses,
        ["todo", "inprogress", "inreview", "done", "cancelled"]
    );
    let todo = &board["columns"][0];
    assert_eq!(todo["total"], json!(2));
    assert_eq!(todo["tasks"][0]["title"], json!("Write <b>notes</b>"));
    assert_eq!(todo["tasks"][1]["parent_task_id"], json!(first));
    assert_eq!(board["columns"][1]["tasks"][0]["title"], json!("Ship"));

    let missing = "0193a000-0000-7000-8000-0000000000aa";
    let refused = server
        .call_fails("show_board", json!({"project_id": missing}))
        .await;
    assert!(
        refused.contains(missing) && refused.contains("workspace 'Default'"),
        "{refused}"
    );
    server.stop().await;
}

on_both_stores!(the_app_is_advertised_linked_and_served);

/// The test host's backend: an MCP client of the real server over HTTP,
/// holding the user's key, that declares MCP Apps support.
type Client = RunningService<RoleClient, ClientConfig>;

async fn host_client(server: &HttpServer, key: &str) -> Client {
    let mut capabilities = ClientCapabilities::default();
    let mut extensions = rmcp::model::ExtensionCapabilities::new();
    let mut settings = serde_json::Map::new();
    settings.insert("mimeTypes".to_owned(), json!([APP_MIME]));
    extensions.insert("io.modelcontextprotocol/ui".to_owned(), settings);
    capabilities.extensions = Some(extensions);
    let config = ClientConfig::new(capabilities, Implementation::new("test-host", "1"));
    let transport = StreamableHttpClientTransport::with_client(
        reqwest_client(),
        StreamableHttpClientTransportConfig::with_uri(server.url("/mcp")).auth_header(key),
    );
    config.serve(transport).await.expect("host connects")
}

fn answer<T: serde::Serialize>(result: Result<T, ServiceError>) -> Json<Value> {
    Json(match result {
        Ok(result) => json!({ "result": result }),
        Err(ServiceError::McpError(error)) => {
            json!({ "error": { "code": error.code.0, "message": error.message } })
        }
        Err(other) => json!({ "error": { "code": -32603, "message": other.to_string() } }),
    })
}

/// Serves the host page and its backend on a loopback port; returns its URL.
async fn start_host(client: Arc<Client>) -> String {
    async fn tools(State(client): State<Arc<Client>>) -> Json<Value> {
        let tools = client.list_all_tools().await.expect("tools/list");
        Json(serde_json::to_value(tools).expect("tools"))
    }
    async fn call(State(client): State<Arc<Client>>, Json(params): Json<Value>) -> Json<Value> {
        let name = params["name"].as_str().unwrap_or_default().to_owned();
        let arguments = params["arguments"].as_object().cloned().unwrap_or_default();
        let request = CallToolRequestParams::new(name).with_arguments(arguments);
        answer(client.call_tool(request).await)
    }
    async fn read(State(client): State<Arc<Client>>, Json(params): Json<Value>) -> Json<Value> {
        let uri = params["uri"].as_str().unwrap_or_default().to_owned();
        answer(
            client
                .read_resource(ReadResourceRequestParams::new(uri))
                .await,
        )
    }
    let app = Router::new()
        .route("/", get(|| async { Html(HOST_PAGE) }))
        .route("/host/tools", post(tools))
        .route("/host/call", post(call))
        .route("/host/read", post(read))
        .with_state(client);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/")
}

/// The tasks' status and position, straight from the SQLite file.
fn stored(data: &DataDir, task_id: &str) -> (String, i64) {
    let row = &data.rows(
        "SELECT status, position FROM tasks WHERE id = ?",
        &[json!(task_id)],
    )[0];
    (
        row[0].as_str().expect("status").to_owned(),
        row[1].as_i64().expect("position"),
    )
}

/// Waits until the app shows `count` cards in column `status`; returns their titles.
async fn wait_for_column(browser: &Browser, status: &str, count: usize) -> Value {
    let script = format!(
        "const cards = [...document.querySelectorAll('.column[data-status=\"{status}\"] .card')]; \
         return cards.length === {count} && !document.getElementById('board').hasAttribute('aria-busy') \
           && cards.map(c => c.firstChild.textContent);"
    );
    browser
        .wait_for(&format!("{count} card(s) in {status}"), &script, WAIT)
        .await
}

#[tokio::test]
async fn moving_a_card_in_the_app_moves_the_task() {
    let data = DataDir::new();
    let key = data.create_key("default", "chat host", "read,write");
    let server = HttpServer::start(data.path(), &["--no-runner"], &[]);
    let client = Arc::new(host_client(&server, &key).await);
    let call = async |name: &str, args: Value| -> Value {
        let Value::Object(arguments) = args else {
            unreachable!()
        };
        client
            .call_tool(CallToolRequestParams::new(name.to_owned()).with_arguments(arguments))
            .await
            .expect(name)
            .structured_content
            .expect("structured")
    };
    let project_id = id(&call("create_project", json!({"name": "Launch"})).await);
    let mut tasks = Vec::new();
    for title in ["Write notes", "<img src=x onerror=alert(1)>", "Ship it"] {
        let task = call(
            "create_task",
            json!({"project_id": project_id, "title": title}),
        )
        .await;
        tasks.push(id(&task));
    }
    let host = start_host(Arc::clone(&client)).await;

    let browser = Browser::with(BrowserOptions {
        window: (1100, 800),
        ..BrowserOptions::default()
    })
    .await;
    browser
        .goto(&format!("{host}?tool=show_board&project={project_id}"))
        .await;
    let frame = browser.find("#app").await;
    browser.enter_frame(&frame).await;
    let todo = wait_for_column(&browser, "todo", 3).await;
    // Titles are text, never markup.
    assert_eq!(
        todo,
        json!(["Write notes", "<img src=x onerror=alert(1)>", "Ship it"])
    );
    assert_eq!(
        browser
            .execute("return document.querySelectorAll('img').length;", vec![])
            .await,
        json!(0)
    );

    // Drag the first card onto the In progress column (the events a drag
    // and drop fires, with a real DataTransfer).
    browser
        .execute(
            "const card = document.querySelector(`.card[data-id=\"${arguments[0]}\"]`);
             const column = document.querySelector('.column[data-status=\"inprogress\"]');
             const box = column.getBoundingClientRect();
             const dataTransfer = new DataTransfer();
             const at = { bubbles: true, cancelable: true, dataTransfer,
                          clientX: box.left + 10, clientY: box.top + 40 };
             card.dispatchEvent(new DragEvent('dragstart', at));
             column.dispatchEvent(new DragEvent('dragover', at));
             column.dispatchEvent(new DragEvent('drop', at));
             card.dispatchEvent(new DragEvent('dragend', at));",
            vec![json!(tasks[0])],
        )
        .await;
    assert_eq!(
        wait_for_column(&browser, "inprogress", 1).await,
        json!(["Write notes"])
    );
    assert_eq!(stored(&data, &tasks[0]).0, "inprogress");

    // The keyboard way: focus the card and press → (it joins the end of
    // In progress), then Alt+↑ (it goes before "Write notes").
    let third = browser
        .find(&format!(".card[data-id=\"{}\"]", tasks[2]))
        .await;
    browser.send_keys(&third, "\u{E014}").await;
    assert_eq!(
        wait_for_column(&browser, "inprogress", 2).await,
        json!(["Write notes", "Ship it"])
    );
    let moved = browser
        .find(&format!(".card[data-id=\"{}\"]", tasks[2]))
        .await;
    browser.send_keys(&moved, "\u{E00A}\u{E013}\u{E00A}").await;
    browser
        .wait_for(
            "Ship it first in In progress",
            "const cards = [...document.querySelectorAll('.column[data-status=\"inprogress\"] .card')];
             return cards.length === 2 && cards[0].firstChild.textContent === 'Ship it';",
            WAIT,
        )
        .await;
    let (status, shipped) = stored(&data, &tasks[2]);
    assert_eq!(status, "inprogress");
    assert!(
        shipped < stored(&data, &tasks[0]).1,
        "Ship it is ordered before Write notes"
    );
    assert_eq!(stored(&data, &tasks[1]).0, "todo");

    // Everything went through the bridge: the handshake, then tools/call.
    browser.leave_frames().await;
    let log = browser
        .execute("return [window.hostErrors, window.bridgeLog];", vec![])
        .await;
    assert_eq!(log[0], json!([]), "host errors");
    let methods: Vec<&str> = log[1]
        .as_array()
        .expect("log")
        .iter()
        .filter_map(|m| m["method"].as_str())
        .collect();
    assert_eq!(
        methods[..2],
        ["ui/initialize", "ui/notifications/initialized"]
    );
    let calls: Vec<&str> = log[1]
        .as_array()
        .expect("log")
        .iter()
        .filter(|m| m["method"] == "tools/call")
        .filter_map(|m| m["params"]["name"].as_str())
        .collect();
    assert!(
        calls.iter().filter(|c| **c == "update_task").count() == 3,
        "{calls:?}"
    );
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    browser.screenshot(&dir.join("mcp_app_board.png")).await;
}

#[tokio::test]
async fn get_project_opens_the_board_and_a_reader_cannot_move_cards() {
    let data = DataDir::new();
    let writer = data.create_key("default", "writer", "read,write");
    let reader = data.create_key("default", "reader", "read");
    let server = HttpServer::start(data.path(), &["--no-runner"], &[]);
    let setup = host_client(&server, &writer).await;
    let args = |v: Value| v.as_object().cloned().expect("object");
    let project = setup
        .call_tool(
            CallToolRequestParams::new("create_project")
                .with_arguments(args(json!({"name": "Ops"}))),
        )
        .await
        .expect("create_project")
        .structured_content
        .expect("project");
    let project_id = id(&project);
    let task = setup
        .call_tool(
            CallToolRequestParams::new("create_task").with_arguments(args(
                json!({"project_id": project_id, "title": "Rotate keys"}),
            )),
        )
        .await
        .expect("create_task")
        .structured_content
        .expect("task");
    let task_id = id(&task);

    let client = Arc::new(host_client(&server, &reader).await);
    let host = start_host(client).await;
    let browser = Browser::start().await;
    // get_project's result is a project: the app asks for its board.
    browser
        .goto(&format!("{host}?tool=get_project&project={project_id}"))
        .await;
    browser.enter_frame(&browser.find("#app").await).await;
    assert_eq!(
        wait_for_column(&browser, "todo", 1).await,
        json!(["Rotate keys"])
    );
    let card = browser.find(".card").await;
    browser.send_keys(&card, "\u{E014}").await;
    // The reader's key has no write scope: the server refuses update_task,
    // the app says so and the task stays where it was.
    let status = browser
        .wait_for(
            "the refusal shown",
            "const s = document.getElementById('status'); return s.classList.contains('error') && s.textContent;",
            WAIT,
        )
        .await;
    assert!(!status.as_str().expect("text").is_empty(), "{status}");
    let row = &data.rows("SELECT status FROM tasks WHERE id = ?", &[json!(task_id)])[0];
    assert_eq!(row[0], json!("todo"));
}
