//! Stateless 2026-07-28 `tools/call`s that the HTTP edge answers itself
//! (src/transport/http/direct.rs) answer exactly as rmcp answers the same
//! call, and everything that is not the plain case is still left to rmcp.
//! The same call with a `progressToken` in its `_meta` goes through rmcp, so
//! each case is sent both ways to one server and the replies compared.

use crate::common;
use crate::http_support;

use common::DataDir;
use http_support::{HttpServer, http};
use serde_json::{Value, json};

/// A reply: status, content type and the body as JSON.
#[derive(Debug, PartialEq)]
struct Reply {
    status: u16,
    content_type: String,
    body: Value,
}

/// The per-request `_meta` of a 2026-07-28 call, with `extra` keys.
fn meta(extra: &[(&str, Value)]) -> Value {
    let mut meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "0"},
    });
    for (key, value) in extra {
        meta[*key] = value.clone();
    }
    meta
}

fn call_body(id: Value, tool: &str, arguments: Value, meta: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
        "name": tool, "arguments": arguments, "_meta": meta,
    }})
}

/// POSTs `body` to `/mcp` with the stateless headers for `tool`, then
/// `headers` (which replace those of the same name).
async fn post(
    server: &HttpServer,
    key: &str,
    tool: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> Reply {
    let mut request = http()
        .post(server.url("/mcp"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body.to_string());
    let mut all = vec![
        ("accept", "application/json, text/event-stream"),
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", tool),
    ];
    for (name, value) in headers {
        all.retain(|(n, _)| n != name);
        all.push((name, value));
    }
    for (name, value) in all {
        if !value.is_empty() {
            request = request.header(name, value);
        }
    }
    let response = request.send().await.expect("post");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply {
        status,
        content_type,
        body,
    }
}

/// `vk_http_direct_calls_total` from `/metrics` (0 when absent).
async fn direct_calls(server: &HttpServer) -> u64 {
    let text = http()
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|line| line.strip_prefix("vk_http_direct_calls_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Sends the plain call (answered directly) and the same call with a
/// progress token (answered by rmcp); both replies must be the same.
async fn both_ways(server: &HttpServer, key: &str, tool: &str, arguments: Value) -> Reply {
    let before = direct_calls(server).await;
    let plain = post(
        server,
        key,
        tool,
        &call_body(json!(3), tool, arguments.clone(), meta(&[])),
        &[],
    )
    .await;
    let after_plain = direct_calls(server).await;
    assert_eq!(
        after_plain,
        before + 1,
        "{tool} {arguments}: the plain call was not answered directly: {plain:?}"
    );
    let token = meta(&[("progressToken", json!("p-1"))]);
    let via_rmcp = post(
        server,
        key,
        tool,
        &call_body(json!(3), tool, arguments.clone(), token),
        &[],
    )
    .await;
    assert_eq!(
        direct_calls(server).await,
        after_plain,
        "{tool}: a call with a progress token must go to rmcp"
    );
    assert_eq!(plain, via_rmcp, "{tool} {arguments}: direct vs rmcp");
    plain
}

#[tokio::test]
async fn plain_stateless_calls_are_answered_directly_as_rmcp_answers_them() {
    let data = DataDir::new();
    let key = data.create_key("default", "direct", "read,write");
    let server = HttpServer::start(data.path(), &[], &[]);

    // A create, once (twice would differ: the name is taken).
    let before = direct_calls(&server).await;
    let create = call_body(json!(1), "create_project", json!({"name": "P"}), meta(&[]));
    let created = post(&server, &key, "create_project", &create, &[]).await;
    assert_eq!(direct_calls(&server).await, before + 1);
    assert_eq!(created.status, 200, "{created:?}");
    assert_eq!(created.content_type, "application/json");
    let project_id = created.body["result"]["structuredContent"]["id"]
        .as_str()
        .expect("project id")
        .to_owned();
    for i in 0..3 {
        let task = json!({"project_id": project_id, "title": format!("T{i}"), "description": "d \"quoted\" ✓"});
        let reply = post(
            &server,
            &key,
            "create_task",
            &call_body(json!(i), "create_task", task, meta(&[])),
            &[],
        )
        .await;
        assert_eq!(reply.body["result"]["isError"], false, "{reply:?}");
    }

    let page = both_ways(
        &server,
        &key,
        "list_tasks",
        json!({"project_id": project_id, "limit": 2}),
    )
    .await;
    let result = &page.body["result"];
    assert_eq!(page.body["id"], 3);
    assert_eq!(result["resultType"], "complete", "{page:?}");
    assert_eq!(result["structuredContent"]["total"], 3, "{page:?}");
    assert_eq!(
        result["structuredContent"]["tasks"][0]["description"], "d \"quoted\" ✓",
        "{page:?}"
    );
    assert!(result["content"][0]["text"].is_string(), "{page:?}");

    both_ways(
        &server,
        &key,
        "get_project",
        json!({"project_id": project_id}),
    )
    .await;
    both_ways(&server, &key, "list_projects", json!({})).await;
    // A tool error (unknown project) and malformed arguments (a JSON-RPC
    // error) answer alike too.
    let missing = both_ways(
        &server,
        &key,
        "get_project",
        json!({"project_id": "0193a5e2-0000-7000-8000-000000000000"}),
    )
    .await;
    assert_eq!(missing.body["result"]["isError"], true, "{missing:?}");
    let malformed = both_ways(
        &server,
        &key,
        "list_tasks",
        json!({"project_id": project_id, "bogus": 1}),
    )
    .await;
    assert_eq!(malformed.status, 200, "{malformed:?}");
    assert_eq!(malformed.body["error"]["code"], -32602, "{malformed:?}");

    // A string id comes back as the same string.
    let reply = post(
        &server,
        &key,
        "list_projects",
        &call_body(json!("req-9"), "list_projects", json!({}), meta(&[])),
        &[],
    )
    .await;
    assert_eq!(reply.body["id"], "req-9", "{reply:?}");
}

#[tokio::test]
async fn calls_that_are_not_the_plain_case_are_left_to_rmcp() {
    let data = DataDir::new();
    let key = data.create_key("default", "direct", "read,write");
    let reader = data.create_key("default", "reader", "read");
    let server = HttpServer::start(data.path(), &[], &[]);
    let plain = call_body(json!(1), "list_projects", json!({}), meta(&[]));

    // Each is refused by rmcp (or the edge) with its own wording, as before.
    type Case<'a> = (&'a str, Value, Vec<(&'a str, &'a str)>, u16);
    let cases: Vec<Case> = vec![
        (
            "Mcp-Name names another tool",
            plain.clone(),
            vec![("mcp-name", "list_tasks")],
            400,
        ),
        (
            "no Mcp-Method",
            plain.clone(),
            vec![("mcp-method", "")],
            400,
        ),
        ("no Mcp-Name", plain.clone(), vec![("mcp-name", "")], 400),
        (
            "Accept without SSE",
            plain.clone(),
            vec![("accept", "application/json")],
            406,
        ),
        (
            "header and _meta versions differ",
            plain.clone(),
            vec![("mcp-protocol-version", "2025-11-25")],
            400,
        ),
        (
            "no client capabilities",
            call_body(
                json!(1),
                "list_projects",
                json!({}),
                json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28"}),
            ),
            vec![],
            400,
        ),
    ];
    for (case, body, headers, status) in cases {
        let before = direct_calls(&server).await;
        let reply = post(&server, &key, "list_projects", &body, &headers).await;
        assert_eq!(reply.status, status, "{case}: {reply:?}");
        assert_eq!(
            direct_calls(&server).await,
            before,
            "{case}: answered directly"
        );
    }

    // The edge's scope check still comes first.
    let create = call_body(json!(2), "create_project", json!({"name": "no"}), meta(&[]));
    let refused = post(&server, &reader, "create_project", &create, &[]).await;
    assert_eq!(refused.status, 403, "{refused:?}");

    // A plain call is answered directly; the counter moves.
    let before = direct_calls(&server).await;
    let reply = post(&server, &key, "list_projects", &plain, &[]).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(direct_calls(&server).await, before + 1);
}
