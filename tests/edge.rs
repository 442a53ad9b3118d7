//! The HTTP edge under hostile clients, over raw TCP and HTTP: memory that
//! stays bounded whatever tool names are sent, slow headers and bodies cut
//! off, `/healthz` answering while slow clients hold the connections of a
//! server at its file-descriptor limit, malformed JSON-RPC answered with
//! JSON-RPC errors, and session ownership on Streamable HTTP.

mod common;
mod http_support;

use common::DataDir;
use http_support::{HttpServer, http};
use serde_json::{Value, json};

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
