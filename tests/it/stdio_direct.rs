//! `tools/call`s over stdio that the server runs itself
//! (src/transport/stdio_direct.rs) answer exactly as rmcp answers the same
//! call, and what is not the plain case is still left to rmcp. The same call
//! with a `progressToken` in its `_meta` goes through rmcp, so each case is
//! sent both ways to one server and the replies compared; the server's
//! debug log says which calls took the direct path.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{Value, json};

use crate::common::{BIN, DataDir};

/// What the direct path logs (at debug) for each call it answers.
const DIRECT_LINE: &str = "tools/call answered directly";

struct StdioServer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    log: std::path::PathBuf,
    next_id: u64,
}

impl StdioServer {
    fn start(data: &DataDir, protocol: &str) -> Self {
        let log = data.path().join("stderr.log");
        let mut child = Command::new(BIN)
            .args([
                "serve",
                "--no-runner",
                "--log",
                "vibe_kanban_mcp=debug",
                "--data-dir",
            ])
            .arg(data.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut server = StdioServer {
            child,
            stdin,
            stdout,
            log,
            next_id: 0,
        };
        let init = server.request(json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": protocol, "capabilities": {},
                       "clientInfo": {"name": "direct", "version": "0"}},
        }));
        assert!(init.get("result").is_some(), "{init}");
        server.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        server
    }

    fn send(&mut self, message: &Value) {
        writeln!(self.stdin, "{message}").expect("write");
        self.stdin.flush().expect("flush");
    }

    /// Sends `message` and reads lines up to the reply with its id.
    fn request(&mut self, message: Value) -> Value {
        let id = message["id"].clone();
        self.send(&message);
        let mut line = String::new();
        loop {
            line.clear();
            let read = self.stdout.read_line(&mut line).expect("read");
            assert!(read > 0, "the server closed stdout before answering {id}");
            let reply: Value = serde_json::from_str(&line).expect("a JSON line");
            if reply["id"] == id {
                return reply;
            }
        }
    }

    fn call(&mut self, id: Value, tool: &str, arguments: Value, meta: Option<Value>) -> Value {
        let mut params = json!({"name": tool, "arguments": arguments});
        if let Some(meta) = meta {
            params["_meta"] = meta;
        }
        self.request(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params}))
    }

    /// How many calls the direct path has answered so far.
    fn direct_calls(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .matches(DIRECT_LINE)
            .count()
    }

    /// The plain call (answered directly) and the same call with a
    /// progress token (answered by rmcp); both replies must be the same.
    fn both_ways(&mut self, tool: &str, arguments: Value) -> Value {
        self.next_id += 1;
        let id = json!(self.next_id);
        let before = self.direct_calls();
        let plain = self.call(id.clone(), tool, arguments.clone(), None);
        let after_plain = self.direct_calls();
        assert_eq!(
            after_plain,
            before + 1,
            "{tool} {arguments}: the plain call was not answered directly: {plain}"
        );
        let via_rmcp = self.call(
            id,
            tool,
            arguments.clone(),
            Some(json!({"progressToken": "p-1"})),
        );
        assert_eq!(
            self.direct_calls(),
            after_plain,
            "{tool}: a call with a progress token must go to rmcp"
        );
        assert_eq!(plain, via_rmcp, "{tool} {arguments}: direct vs rmcp");
        plain
    }
}

impl Drop for StdioServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn plain_stdio_calls_are_answered_directly_as_rmcp_answers_them() {
    let data = DataDir::new();
    let mut server = StdioServer::start(&data, "2025-06-18");
    let created = server.call(json!(100), "create_project", json!({"name": "P"}), None);
    let project_id = created["result"]["structuredContent"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("project id in {created}"))
        .to_owned();
    for i in 0..3 {
        let task = json!({"project_id": project_id, "title": format!("T{i}"), "description": "d \"quoted\"\n✓"});
        let reply = server.call(json!(200 + i), "create_task", task, None);
        assert_eq!(reply["result"]["isError"], false, "{reply}");
    }

    let page = server.both_ways("list_tasks", json!({"project_id": project_id, "limit": 2}));
    let result = &page["result"];
    assert_eq!(result["structuredContent"]["total"], 3, "{page}");
    assert_eq!(
        result["structuredContent"]["tasks"][0]["description"], "d \"quoted\"\n✓",
        "{page}"
    );
    assert!(result["content"][0]["text"].is_string(), "{page}");
    server.both_ways("get_project", json!({"project_id": project_id}));
    server.both_ways("list_projects", json!({}));
    // A tool error (unknown project) and malformed arguments (a JSON-RPC
    // error) answer alike too.
    let missing = server.both_ways(
        "get_project",
        json!({"project_id": "0193a5e2-0000-7000-8000-000000000000"}),
    );
    assert_eq!(missing["result"]["isError"], true, "{missing}");
    let malformed = server.both_ways("list_tasks", json!({"project_id": project_id, "bogus": 1}));
    assert_eq!(malformed["error"]["code"], -32602, "{malformed}");
    let unknown = server.call(json!(300), "no_such_tool", json!({}), None);
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");

    // A string id comes back as the same string.
    let reply = server.call(json!("req-9"), "list_projects", json!({}), None);
    assert_eq!(reply["id"], "req-9", "{reply}");
    assert!(reply["result"]["structuredContent"].is_object(), "{reply}");
}

#[test]
fn stdio_calls_that_are_not_the_plain_case_are_left_to_rmcp() {
    let data = DataDir::new();
    let mut server = StdioServer::start(&data, "2025-06-18");
    // A session tool (it may wait and report progress) and a call with an
    // extra field in its params go to rmcp, which answers them.
    let sessions = server.call(json!(1), "list_sessions", json!({}), None);
    assert!(sessions.get("result").is_some(), "{sessions}");
    let extra = server.request(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "list_projects", "arguments": {}, "extra": true}}));
    assert!(
        extra.get("result").is_some() || extra.get("error").is_some(),
        "{extra}"
    );
    assert_eq!(server.direct_calls(), 0, "none of these is the plain case");
    // The plain case of the same server is answered directly.
    let plain = server.call(json!(3), "list_projects", json!({}), None);
    assert!(plain["result"]["structuredContent"].is_object(), "{plain}");
    assert_eq!(server.direct_calls(), 1);
}
