//! Bad input gets a clear error and loses nothing: unknown tools, wrong
//! types, missing fields, invalid ids and statuses, oversized text.

use crate::common;

use common::{Backend, DataDir, Server, titles};
use serde_json::json;

const MISSING: &str = "01930000-0000-7000-8000-000000000000";

async fn malformed_arguments_are_invalid_params_naming_the_field(backend: Backend) {
    let data = DataDir::on(backend);
    let server = Server::in_process(&data, &[], &[]).await;
    let project_id = server.project("Inputs").await;

    let unknown = server.call_invalid("make_coffee", json!({})).await;
    assert!(
        unknown.contains("make_coffee") && unknown.contains("tools/list"),
        "{unknown}"
    );

    let cases = [
        ("create_task", json!({"project_id": project_id}), "title"),
        (
            "create_task",
            json!({"project_id": project_id, "title": 42}),
            "title",
        ),
        (
            "create_task",
            json!({"project_id": "not-a-uuid", "title": "x"}),
            "project_id",
        ),
        (
            "create_task",
            json!({"project_id": project_id, "title": "x", "status": "doing"}),
            "status",
        ),
        (
            "create_task",
            json!({"project_id": project_id, "title": "x", "colour": "red"}),
            "colour",
        ),
        (
            "create_task",
            json!({"project_id": project_id, "title": "   "}),
            "title",
        ),
        (
            "update_task",
            json!({"task_id": MISSING}),
            "nothing to update",
        ),
        (
            "update_task",
            json!({"task_id": MISSING, "position": "first"}),
            "position",
        ),
        (
            "list_tasks",
            json!({"project_id": project_id, "limit": 0}),
            "limit",
        ),
        (
            "list_tasks",
            json!({"project_id": project_id, "limit": 201}),
            "limit",
        ),
        (
            "list_tasks",
            json!({"project_id": project_id, "limit": -3}),
            "limit",
        ),
        (
            "list_tasks",
            json!({"project_id": project_id, "cursor": "abc"}),
            "cursor",
        ),
        (
            "list_tasks",
            json!({"project_id": project_id, "status": ["todo", "later"]}),
            "status",
        ),
        ("get_task", json!({}), "task_id"),
        ("get_task", json!({"task_id": ["a"]}), "task_id"),
        ("assign_task", json!({"task_id": MISSING}), "user_id"),
        (
            "assign_task",
            json!({"task_id": MISSING, "user_id": "bob"}),
            "user_id",
        ),
        ("create_project", json!({"name": ""}), "name"),
        (
            "update_project",
            json!({"project_id": project_id}),
            "nothing to update",
        ),
    ];
    for (tool, args, field) in cases {
        let message = server.call_invalid(tool, args.clone()).await;
        assert!(
            message.contains(field),
            "{tool}({args}): message should name `{field}`: {message}"
        );
        assert!(
            message.contains(tool),
            "{tool}({args}): message should name the tool: {message}"
        );
    }
    server.stop().await;
    assert_eq!(
        data.count("SELECT COUNT(*) FROM tasks"),
        0,
        "nothing was written"
    );
}

async fn a_one_megabyte_title_is_refused_and_nothing_is_written(backend: Backend) {
    let data = DataDir::on(backend);
    let server = Server::in_process(&data, &[], &[]).await;
    let project_id = server.project("Big").await;
    let task_id = server.task(&project_id, "small", json!({})).await;
    let audit_before = data.count("SELECT COUNT(*) FROM audit_logs");

    let huge = "x".repeat(1024 * 1024);
    let message = server
        .call_invalid(
            "create_task",
            json!({"project_id": project_id, "title": huge}),
        )
        .await;
    assert!(
        message.contains("title") && message.contains("1048576") && message.contains("500"),
        "{message}"
    );
    let message = server
        .call_invalid("update_task", json!({"task_id": task_id, "title": huge}))
        .await;
    assert!(message.contains("title"), "{message}");
    let huge_description = "y".repeat(100_001);
    let message = server
        .call_invalid(
            "create_task",
            json!({"project_id": project_id, "title": "ok", "description": huge_description}),
        )
        .await;
    assert!(
        message.contains("description") && message.contains("100000"),
        "{message}"
    );

    // The server is still healthy and the data unchanged.
    let page = server
        .call("list_tasks", json!({"project_id": project_id}))
        .await;
    assert_eq!(titles(&page), ["small"]);
    server.stop().await;
    assert_eq!(data.count("SELECT COUNT(*) FROM tasks"), 1);
    assert_eq!(data.count("SELECT COUNT(*) FROM audit_logs"), audit_before);
}

async fn unknown_ids_are_tool_errors_that_say_what_to_do(backend: Backend) {
    let data = DataDir::on(backend);
    let server = Server::in_process(&data, &[], &[]).await;
    let project_id = server.project("Ids").await;
    let task_id = server.task(&project_id, "real", json!({})).await;

    let cases = [
        (
            "get_project",
            json!({"project_id": MISSING}),
            "list_projects",
        ),
        (
            "update_project",
            json!({"project_id": MISSING, "name": "x"}),
            "list_projects",
        ),
        (
            "list_tasks",
            json!({"project_id": MISSING}),
            "list_projects",
        ),
        (
            "create_task",
            json!({"project_id": MISSING, "title": "x"}),
            "list_projects",
        ),
        ("get_task", json!({"task_id": MISSING}), "list_tasks"),
        (
            "update_task",
            json!({"task_id": MISSING, "status": "done"}),
            "list_tasks",
        ),
        ("delete_task", json!({"task_id": MISSING}), "list_tasks"),
        (
            "assign_task",
            json!({"task_id": MISSING, "user_id": null}),
            "list_tasks",
        ),
    ];
    for (tool, args, hint) in cases {
        let message = server.call_fails(tool, args.clone()).await;
        assert!(message.contains(MISSING), "{tool}: names the id: {message}");
        assert!(
            message.contains("not found in workspace 'Default'"),
            "{tool}: {message}"
        );
        assert!(message.contains(hint), "{tool}: says what to do: {message}");
    }

    let message = server
        .call_fails(
            "create_task",
            json!({"project_id": project_id, "title": "x", "parent_task_id": MISSING}),
        )
        .await;
    assert!(
        message.contains(MISSING) && message.contains("same project"),
        "{message}"
    );
    let other_project = server.project("Elsewhere").await;
    let message = server
        .call_fails(
            "create_task",
            json!({"project_id": other_project, "title": "x", "parent_task_id": task_id}),
        )
        .await;
    assert!(message.contains("same project"), "{message}");
    let message = server
        .call_fails("create_project", json!({"name": "Ids"}))
        .await;
    assert!(message.contains("already exists"), "{message}");
    let message = server
        .call_fails(
            "update_project",
            json!({"project_id": other_project, "name": "Ids"}),
        )
        .await;
    assert!(message.contains("already exists"), "{message}");
    server.stop().await;
    assert_eq!(
        data.count("SELECT COUNT(*) FROM tasks"),
        1,
        "no failed call wrote a task"
    );
    assert_eq!(data.count("SELECT COUNT(*) FROM projects"), 2);
}

async fn arguments_sent_as_json_text_are_accepted(backend: Backend) {
    let data = DataDir::on(backend);
    let server = Server::in_process(&data, &[], &[]).await;
    let project_id = server.project("Strings").await;
    server
        .task(&project_id, "a", json!({"status": "done"}))
        .await;
    server.task(&project_id, "b", json!({})).await;
    // A client bug some hosts have: arrays and numbers arrive as JSON text.
    let page = server
        .call(
            "list_tasks",
            json!({"project_id": project_id, "status": "[\"done\"]", "limit": "10"}),
        )
        .await;
    assert_eq!(titles(&page), ["a"]);
    // A title that merely looks like JSON stays text.
    let task = server
        .call(
            "create_task",
            json!({"project_id": project_id, "title": "[not json]"}),
        )
        .await;
    assert_eq!(task["title"], "[not json]");
    server.stop().await;
}

/// The binary over raw pipes: lines in, lines out, no client library to
/// tidy up what is sent.
struct RawStdio {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
}

impl RawStdio {
    fn start(data: &DataDir) -> RawStdio {
        use std::io::BufRead;
        let mut child = std::process::Command::new(common::BIN)
            .args(["serve", "--data-dir"])
            .arg(data.path())
            .env_remove("VK_API_KEY")
            .env_remove("VK_STORE")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the server");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut raw = RawStdio {
            child,
            stdin,
            lines,
        };
        raw.send(br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#);
        let reply = raw.reply("initialize");
        assert_eq!(reply["id"], 0, "{reply}");
        raw.send(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        raw
    }

    fn send(&mut self, line: &[u8]) {
        use std::io::Write;
        self.stdin.write_all(line).expect("write");
        self.stdin.write_all(b"\n").expect("write");
        self.stdin.flush().expect("flush");
    }

    /// The next line on stdout, which must be a JSON-RPC message.
    fn reply(&mut self, case: &str) -> serde_json::Value {
        let line = self
            .lines
            .recv_timeout(std::time::Duration::from_secs(15))
            .unwrap_or_else(|_| panic!("{case}: no reply at all"));
        let reply: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("{case}: stdout carries only JSON-RPC, got {line:?}: {e}"));
        assert_eq!(reply["jsonrpc"], "2.0", "{case}: {reply}");
        reply
    }
}

impl Drop for RawStdio {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn every_malformed_line_on_stdio_gets_a_json_rpc_error_and_the_session_goes_on() {
    let data = DataDir::new();
    let mut raw = RawStdio::start(&data);
    let deep = format!(
        r#"{{"jsonrpc":"2.0","id":14,"method":"tools/call","params":{{"name":"list_projects","arguments":{{"x":{}{}}}}}}}"#,
        "[".repeat(300),
        "]".repeat(300)
    );
    let cases: Vec<(&str, Vec<u8>, serde_json::Value, i64)> = vec![
        (
            "a lone surrogate escape",
            br#"{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"create_project","arguments":{"name":"cut \ud83d"}}}"#.to_vec(),
            json!(11),
            -32700,
        ),
        (
            "a raw NUL",
            b"{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"tools/list\",\"params\":{\"cursor\":\"a\0b\"}}".to_vec(),
            json!(12),
            -32700,
        ),
        (
            "invalid UTF-8",
            b"{\"jsonrpc\":\"2.0\",\"id\":\"utf8\",\"method\":\"tools/list\",\"params\":{\"cursor\":\"\xff\xfe\"}}".to_vec(),
            json!("utf8"),
            -32700,
        ),
        ("nesting past the parser's depth", deep.into_bytes(), json!(14), -32700),
        (
            "a number out of range",
            br#"{"jsonrpc":"2.0","id":15,"method":"tools/call","params":{"name":"list_projects","arguments":{"limit":1e400}}}"#.to_vec(),
            json!(15),
            -32700,
        ),
        ("text that is not JSON", b"hello?".to_vec(), serde_json::Value::Null, -32700),
        (
            "JSON that is not a message",
            br#"{"jsonrpc":"2.0","id":18}"#.to_vec(),
            json!(18),
            -32600,
        ),
        (
            "a batch",
            br#"[{"jsonrpc":"2.0","id":24,"method":"ping"}]"#.to_vec(),
            serde_json::Value::Null,
            -32600,
        ),
        (
            "tools/call without a name",
            br#"{"jsonrpc":"2.0","id":19,"method":"tools/call","params":{"arguments":{}}}"#.to_vec(),
            json!(19),
            -32602,
        ),
        (
            "tools/call with array arguments",
            br#"{"jsonrpc":"2.0","id":20,"method":"tools/call","params":{"name":"list_projects","arguments":[1]}}"#.to_vec(),
            json!(20),
            -32602,
        ),
        (
            "tools/call with string arguments",
            br#"{"jsonrpc":"2.0","id":21,"method":"tools/call","params":{"name":"list_projects","arguments":"{}"}}"#.to_vec(),
            json!(21),
            -32602,
        ),
    ];
    for (case, line, id, code) in cases {
        raw.send(&line);
        let reply = raw.reply(case);
        assert_eq!(reply["id"], id, "{case}: {reply}");
        assert_eq!(reply["error"]["code"], code, "{case}: {reply}");
        let message = reply["error"]["message"].as_str().expect("message");
        assert!(!message.is_empty(), "{case}: {reply}");
    }

    // Two messages on one line: each is answered.
    raw.send(
        br#"{"jsonrpc":"2.0","id":16,"method":"ping"} {"jsonrpc":"2.0","id":17,"method":"ping"}"#,
    );
    let mut ids = [
        raw.reply("first of two")["id"].clone(),
        raw.reply("second of two")["id"].clone(),
    ];
    ids.sort_by_key(|id| id.as_i64());
    assert_eq!(ids, [json!(16), json!(17)]);

    // A line over the limit is refused, not kept, and names its id.
    let mut huge = br#"{"jsonrpc":"2.0","id":22,"method":"tools/call","params":{"name":"list_projects","arguments":{"pad":""#.to_vec();
    huge.extend(std::iter::repeat_n(b'x', 9 * 1024 * 1024));
    huge.extend_from_slice(b"\"}}}");
    raw.send(&huge);
    let reply = raw.reply("a 9 MiB line");
    assert_eq!(reply["id"], 22, "{reply}");
    assert_eq!(reply["error"]["code"], -32600, "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .expect("message")
            .contains("MiB"),
        "{reply}"
    );

    // The session is still there and answers.
    raw.send(br#"{"jsonrpc":"2.0","id":23,"method":"tools/call","params":{"name":"list_projects","arguments":{}}}"#);
    let reply = raw.reply("a good call after all that");
    assert_eq!(reply["id"], 23, "{reply}");
    assert!(
        reply["result"]["structuredContent"]["projects"].is_array(),
        "{reply}"
    );
    assert_eq!(
        data.count("SELECT COUNT(*) FROM projects"),
        0,
        "the cut name was not written"
    );
}

on_both_stores!(
    malformed_arguments_are_invalid_params_naming_the_field,
    a_one_megabyte_title_is_refused_and_nothing_is_written,
    unknown_ids_are_tool_errors_that_say_what_to_do,
    arguments_sent_as_json_text_are_accepted,
);
