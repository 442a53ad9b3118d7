//! The HTTP edge under hostile clients, over raw TCP and HTTP: memory that
//! stays bounded whatever tool names are sent, slow headers and bodies cut
//! off, `/healthz` answering while slow clients hold the connections of a
//! server at its file-descriptor limit, malformed JSON-RPC answered with
//! JSON-RPC errors, and session ownership on Streamable HTTP.

use crate::common;
use crate::http_support;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use common::DataDir;
use futures::StreamExt;
use http_support::{HttpServer, http};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// The value of a gauge or counter line in `/metrics`.
async fn metric(server: &HttpServer, name: &str) -> Option<f64> {
    let text = http()
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

async fn post_mcp(server: &HttpServer, key: &str, body: &Value) -> reqwest::Response {
    http()
        .post(server.url("/mcp"))
        .bearer_auth(key)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .json(body)
        .send()
        .await
        .expect("post")
}

#[tokio::test]
async fn made_up_tool_names_get_no_rate_limit_bucket() {
    let data = DataDir::new();
    let key = data.create_key("default", "reader", "read");
    let server = HttpServer::start(data.path(), &[], &[]);
    let long = "x".repeat(64 * 1024);
    for i in 0..200 {
        let body = json!({"jsonrpc": "2.0", "id": i, "method": "tools/call",
            "params": {"name": format!("made_up_{i}_{long}"), "arguments": {}}});
        let _ = post_mcp(&server, &key, &body).await.bytes().await;
    }
    let body = json!({"jsonrpc": "2.0", "id": "real", "method": "tools/call",
        "params": {"name": "list_projects", "arguments": {}}});
    let _ = post_mcp(&server, &key, &body).await.bytes().await;
    let buckets = metric(&server, "vk_ratelimit_buckets")
        .await
        .expect("vk_ratelimit_buckets in /metrics");
    assert_eq!(
        buckets, 2.0,
        "one bucket for list_projects and one shared by every unknown name"
    );
    let unknown_calls = metric(&server, "vk_rate_limited_total{tool=\"unknown\"}").await;
    assert!(unknown_calls.is_none(), "nothing was limited yet");
}

/// A client that connects no matter how slowly, keeps no pooled
/// connections (each request opens its own) and gives up after 20 s.
fn fresh_client() -> reqwest::Client {
    let _ = http_support::reqwest_client();
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// Reads what the server sends until it closes the connection, or gives up
/// after `limit` (then `None`: the server kept the connection open).
async fn read_until_closed(
    read: &mut (impl AsyncRead + Unpin),
    limit: Duration,
) -> Option<Vec<u8>> {
    let mut answer = Vec::new();
    match tokio::time::timeout(limit, read.read_to_end(&mut answer)).await {
        Ok(_) => Some(answer),
        Err(_) => None,
    }
}

#[tokio::test]
async fn a_client_sending_its_head_slowly_is_cut_off_at_the_header_timeout() {
    let data = DataDir::new();
    let server = HttpServer::start(data.path(), &["--header-read-timeout-secs", "1"], &[]);
    let stream = TcpStream::connect(&server.addr).await.expect("connect");
    let (mut read, mut write) = stream.into_split();
    write
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .expect("request line");
    // One header line every 200 ms: 100 of them would take 20 s.
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&sent);
    let writer = tokio::spawn(async move {
        for i in 0..100 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if write
                .write_all(format!("x-slow-{i}: 1\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
            counter.fetch_add(1, Ordering::SeqCst);
        }
        let _ = write.write_all(b"\r\n").await;
    });
    let answer = read_until_closed(&mut read, Duration::from_secs(15))
        .await
        .expect("the server closes a connection whose head is late");
    let lines = sent.load(Ordering::SeqCst);
    assert!(
        lines < 100,
        "cut off before the head was complete ({lines} lines sent)"
    );
    let text = String::from_utf8_lossy(&answer);
    assert!(
        !text.contains(" 200 "),
        "no request was served on it: {text}"
    );
    writer.abort();

    // A client that sends nothing at all is closed too.
    let mut silent = TcpStream::connect(&server.addr).await.expect("connect");
    assert!(
        read_until_closed(&mut silent, Duration::from_secs(15))
            .await
            .is_some(),
        "a silent connection is closed"
    );
}

#[tokio::test]
async fn a_body_trickling_in_gets_408_within_the_request_timeout() {
    let data = DataDir::new();
    let key = data.create_key("default", "slow", "read");
    let server = HttpServer::start(data.path(), &["--request-timeout-secs", "2"], &[]);
    let stream = TcpStream::connect(&server.addr).await.expect("connect");
    let (mut read, mut write) = stream.into_split();
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "list_projects", "arguments": {}, "_meta": {"pad": "x".repeat(100)}}})
    .to_string();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
         Mcp-Protocol-Version: 2026-07-28\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    write.write_all(head.as_bytes()).await.expect("head");
    // One byte every 250 ms: the whole body would take over 40 s.
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&sent);
    let bytes = body.into_bytes();
    let total = bytes.len();
    let writer = tokio::spawn(async move {
        for byte in bytes {
            if write.write_all(&[byte]).await.is_err() {
                return;
            }
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    let answer = read_until_closed(&mut read, Duration::from_secs(20))
        .await
        .expect("the server answers a late body and closes");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("did not arrive within 2 s"), "{text}");
    let sent = sent.load(Ordering::SeqCst);
    assert!(
        sent < total,
        "answered before the body was complete ({sent} of {total} bytes)"
    );
    writer.abort();
}

/// A client that keeps a connection busy sending its head one line every
/// 500 ms, and connects again whenever the server closes it, until `stop`.
async fn slow_client(addr: String, connects: Arc<AtomicUsize>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        let Ok(mut stream) = TcpStream::connect(&addr).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        connects.fetch_add(1, Ordering::SeqCst);
        if stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .await
            .is_err()
        {
            continue;
        }
        let mut line = 0;
        while !stop.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(500)).await;
            line += 1;
            if stream
                .write_all(format!("x-slow-{line}: 1\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_while_150_slow_clients_hold_a_server_at_128_fds() {
    let data = DataDir::new();
    // A header timeout far longer than the test: only the connection cap
    // and closing idle connections keep the server reachable.
    let server = HttpServer::start_with_fds(
        data.path(),
        &["--header-read-timeout-secs", "600"],
        &[],
        Some(128),
    );
    let connects = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..150)
        .map(|_| {
            tokio::spawn(slow_client(
                server.addr.clone(),
                Arc::clone(&connects),
                Arc::clone(&stop),
            ))
        })
        .collect();
    while connects.load(Ordering::SeqCst) < 150 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let client = fresh_client();
    for attempt in 0..5 {
        let response = client
            .get(server.url("/healthz"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("healthz {attempt} with 150 slow clients: {e}"));
        assert_eq!(response.status(), 200, "attempt {attempt}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["status"], "ok");
    }
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.abort();
    }
}

/// POSTs raw bytes to `path` as JSON; returns the status and the JSON body.
async fn post_raw(server: &HttpServer, key: &str, path: &str, body: Vec<u8>) -> (u16, Value) {
    let response = http()
        .post(server.url(path))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .body(body)
        .send()
        .await
        .expect("post");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{path}: a JSON-RPC error body, got {status} {text:?}: {e}"));
    (status, value)
}

/// Bodies no JSON parser accepts, or JSON that is no JSON-RPC message, with
/// the id and code the answer must carry.
fn malformed_bodies() -> Vec<(&'static str, Vec<u8>, Value, i64)> {
    let deep = format!(
        r#"{{"jsonrpc":"2.0","id":14,"method":"tools/list","params":{{"x":{}{}}}}}"#,
        "[".repeat(300),
        "]".repeat(300)
    );
    vec![
        (
            "a lone surrogate escape",
            br#"{"jsonrpc":"2.0","id":11,"method":"tools/list","params":{"cursor":"\ud800"}}"#.to_vec(),
            json!(11),
            -32700,
        ),
        (
            "a raw NUL",
            b"{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"tools/list\",\"params\":{\"cursor\":\"a\0b\"}}"
                .to_vec(),
            json!(12),
            -32700,
        ),
        (
            "invalid UTF-8",
            b"{\"jsonrpc\":\"2.0\",\"id\":\"u\",\"method\":\"tools/list\",\"params\":{\"cursor\":\"\xff\"}}"
                .to_vec(),
            json!("u"),
            -32700,
        ),
        ("deep nesting", deep.into_bytes(), json!(14), -32700),
        (
            "a number out of range",
            br#"{"jsonrpc":"2.0","id":15,"method":"tools/list","params":{"n":1e400}}"#.to_vec(),
            json!(15),
            -32700,
        ),
        (
            "two messages in one body",
            br#"{"jsonrpc":"2.0","id":16,"method":"ping"}{"jsonrpc":"2.0","id":17,"method":"ping"}"#
                .to_vec(),
            json!(16),
            -32700,
        ),
        ("not JSON", b"hello?".to_vec(), Value::Null, -32700),
        (
            "not a message",
            br#"{"jsonrpc":"2.0","id":18}"#.to_vec(),
            json!(18),
            -32600,
        ),
    ]
}

#[tokio::test]
async fn malformed_json_rpc_over_http_gets_400_with_a_json_rpc_error() {
    let data = DataDir::new();
    let key = data.create_key("default", "sloppy", "read");
    let server = HttpServer::start(data.path(), &[], &[]);

    // Streamable HTTP.
    for (case, body, id, code) in malformed_bodies() {
        let (status, reply) = post_raw(&server, &key, "/mcp", body).await;
        assert_eq!(status, 400, "{case}: {reply}");
        assert_eq!(reply["id"], id, "{case}: {reply}");
        assert_eq!(reply["error"]["code"], code, "{case}: {reply}");
    }

    // Legacy SSE: a session's /messages.
    let mut stream = http()
        .get(server.url("/sse"))
        .bearer_auth(&key)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("sse")
        .bytes_stream();
    let mut seen = String::new();
    let endpoint = loop {
        let chunk = stream.next().await.expect("an event").expect("bytes");
        seen.push_str(&String::from_utf8_lossy(&chunk));
        if let Some(line) = seen.lines().find(|l| l.starts_with("data: /messages")) {
            break line.trim_start_matches("data: ").to_owned();
        }
    };
    for (case, body, id, code) in malformed_bodies() {
        let (status, reply) = post_raw(&server, &key, &endpoint, body).await;
        assert_eq!(status, 400, "legacy {case}: {reply}");
        assert_eq!(reply["id"], id, "legacy {case}: {reply}");
        assert_eq!(reply["error"]["code"], code, "legacy {case}: {reply}");
    }
}

#[tokio::test]
async fn tools_call_with_malformed_params_over_http_is_invalid_params() {
    let data = DataDir::new();
    let key = data.create_key("default", "sloppy", "read");
    let server = HttpServer::start(data.path(), &[], &[]);
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "0"}
    });
    let cases = [
        ("no name", json!({"arguments": {}, "_meta": meta})),
        (
            "array arguments",
            json!({"name": "list_projects", "arguments": [1], "_meta": meta}),
        ),
        (
            "string arguments",
            json!({"name": "list_projects", "arguments": "{}", "_meta": meta}),
        ),
    ];
    for (i, (case, params)) in cases.into_iter().enumerate() {
        let name = params["name"].as_str().unwrap_or_default().to_owned();
        let body =
            json!({"jsonrpc": "2.0", "id": 30 + i, "method": "tools/call", "params": params});
        let mut request = http()
            .post(server.url("/mcp"))
            .bearer_auth(&key)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call");
        if !name.is_empty() {
            request = request.header("mcp-name", name);
        }
        let response = request.json(&body).send().await.expect("post");
        let status = response.status();
        let text = response.text().await.expect("text");
        let reply: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{case}: {status} {text:?}: {e}"));
        assert_eq!(reply["id"], 30 + i, "{case}: {reply}");
        assert_eq!(reply["error"]["code"], -32602, "{case}: {reply}");
    }
}

/// A stateless (2026-07-28) tools/call, optionally with an `X-Request-Id`;
/// returns the response's `X-Request-Id` and the structured result.
async fn stateless_call(
    server: &HttpServer,
    key: &str,
    tool: &str,
    arguments: Value,
    request_id: Option<&str>,
) -> (String, Value) {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
    "name": tool, "arguments": arguments,
    "_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "0"}
    }}});
    let mut request = http()
        .post(server.url("/mcp"))
        .bearer_auth(key)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool);
    if let Some(id) = request_id {
        request = request.header("x-request-id", id);
    }
    let response = request.json(&body).send().await.expect("post");
    assert_eq!(response.status(), 200, "{tool}");
    let echoed = response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let reply: Value = response.json().await.expect("json");
    let result = reply["result"]["structuredContent"].clone();
    assert!(result.is_object(), "{tool}: {reply}");
    (echoed, result)
}

#[tokio::test]
async fn the_request_id_sent_or_made_lands_in_the_audit_row_of_the_change() {
    let data = DataDir::new();
    let key = data.create_key("default", "traced", "read,write");
    let server = HttpServer::start(data.path(), &[], &[]);
    let audit_id = |entity: &str| -> Value {
        let rows = data.rows(
            "SELECT request_id FROM audit_logs WHERE entity_id = ?1 AND action = 'create'",
            &[json!(entity)],
        );
        assert_eq!(rows.len(), 1, "one audit row for {entity}");
        rows[0][0].clone()
    };

    // Sent by the client: echoed and recorded.
    let (echoed, project) = stateless_call(
        &server,
        &key,
        "create_project",
        json!({"name": "Traced"}),
        Some("trace-me-42"),
    )
    .await;
    assert_eq!(echoed, "trace-me-42");
    let project_id = project["id"].as_str().expect("id").to_owned();
    assert_eq!(audit_id(&project_id), json!("trace-me-42"));

    // Not sent: made by the server, returned and recorded.
    let (made, task) = stateless_call(
        &server,
        &key,
        "create_task",
        json!({"project_id": project_id, "title": "traced"}),
        None,
    )
    .await;
    assert_eq!(made.len(), 36, "a UUID: {made}");
    let task_id = task["id"].as_str().expect("id").to_owned();
    assert_eq!(audit_id(&task_id), json!(made));
}

/// Opens a Streamable HTTP session (2025-06-18) with `key`; returns its id.
async fn open_session(server: &HttpServer, key: &str) -> String {
    let response = http()
        .post(server.url("/mcp"))
        .bearer_auth(key)
        .header("accept", "application/json, text/event-stream")
        .json(&http_support::initialize_body())
        .send()
        .await
        .expect("initialize");
    assert_eq!(response.status(), 200);
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let _ = response.bytes().await;
    let response = http()
        .post(server.url("/mcp"))
        .bearer_auth(key)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-06-18")
        .json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .send()
        .await
        .expect("initialized");
    assert!(response.status().is_success(), "{}", response.status());
    session
}

#[tokio::test]
async fn another_key_on_a_streamable_http_session_is_403() {
    let data = DataDir::new();
    let owner = data.create_key("default", "owner", "read,write");
    let other = data.create_key("default", "other", "read,write");
    let server = HttpServer::start(data.path(), &[], &[]);
    let session = open_session(&server, &owner).await;
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "list_projects", "arguments": {}}});

    let post = |key: String| {
        let session = session.clone();
        let call = call.clone();
        let url = server.url("/mcp");
        async move {
            http()
                .post(url)
                .bearer_auth(key)
                .header("accept", "application/json, text/event-stream")
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", "2025-06-18")
                .json(&call)
                .send()
                .await
                .expect("post")
        }
    };
    let refused = post(other.clone()).await;
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.expect("json");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("belongs to other credentials"),
        "{body}"
    );
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let response = http()
            .request(method.clone(), server.url("/mcp"))
            .bearer_auth(&other)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", "2025-06-18")
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 403, "{method} with another key");
    }

    // The owner's session was neither served to nor closed by the other key.
    let served = post(owner).await;
    assert_eq!(served.status(), 200);
    let text = served.text().await.expect("text");
    assert!(text.contains("\"projects\""), "{text}");
}

/// The seam for in-process tests: `transport::http::serve` on port 0 with a
/// shutdown future the test owns. Triggering it ends an open legacy SSE
/// stream and makes `serve` return, with no signal involved.
#[tokio::test]
async fn http_serve_in_process_stops_when_its_shutdown_future_resolves() {
    use vibe_kanban_mcp::{
        auth::{self, Authenticator},
        enhance::{Enhancer, config::EnhanceSettings},
        metrics::Metrics,
        server::KanbanServer,
        store::Store,
        tools::ToolFilter,
        transport::http::{ConnectionLimits, HttpOptions, HttpState, serve},
    };

    let data = DataDir::new();
    let store = Store::open_sqlite(&data.db()).await.expect("store");
    let owner = auth::local_owner(&store).await.expect("local owner");
    let enhancer = Enhancer::new(EnhanceSettings::default()).expect("enhancer");
    let server = KanbanServer::new(store.clone(), &ToolFilter::default(), Arc::new(enhancer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let options = HttpOptions {
        addr,
        allowed_hosts: Vec::new(),
        allowed_origins: Vec::new(),
        max_body_bytes: 1 << 20,
        request_timeout: Duration::from_secs(30),
        connections: ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 16,
        },
        rate_limit: None,
        no_auth: true,
    };
    let authenticator = Authenticator::new(store.clone(), None);
    let metrics = Arc::new(Metrics::default());
    let state = HttpState::new(store, server, authenticator, Some(owner), metrics, options);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(serve(listener, Arc::new(state), async {
        let _ = stopped.await;
    }));

    let healthz = http()
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(healthz.status(), 200);
    let sse = http()
        .get(format!("http://{addr}/sse"))
        .send()
        .await
        .expect("sse");
    assert_eq!(sse.status(), 200);
    let mut events = sse.bytes_stream();
    let first = events.next().await.expect("an event").expect("bytes");
    assert!(
        String::from_utf8_lossy(&first).contains("event: endpoint"),
        "{first:?}"
    );

    stop.send(()).expect("the server is running");
    // The open stream ends (no more events, no error), then serve returns.
    while let Some(chunk) = events.next().await {
        let chunk = chunk.expect("the stream ends cleanly");
        assert!(
            !String::from_utf8_lossy(&chunk).contains("event: message"),
            "{chunk:?}"
        );
    }
    serving
        .await
        .expect("serve did not panic")
        .expect("serve returns Ok");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is closed after serve returns"
    );
}
