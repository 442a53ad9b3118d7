//! The stdio server on real pipes, as an MCP client starts it: stdin and
//! stdout are pipes the server reads and writes on its event loop. Replies
//! larger than a pipe's buffer, sent while the client is not reading, all
//! arrive whole and in order; with stdout and stderr on one pipe (`2>&1`,
//! debug logging) every reply still arrives and the server exits cleanly.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::common::{BIN, DataDir};

fn initialize() -> String {
    json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "pipes", "version": "0"}},
    })
    .to_string()
}

fn call(id: u64, name: &str, arguments: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": name, "arguments": arguments}})
    .to_string()
}

/// Reads lines until the replies to ids `first..=last` have all come (rmcp
/// answers concurrent requests in any order); log lines (on a shared pipe)
/// are skipped. The replies in id order.
fn replies(reader: &mut impl BufRead, first: u64, last: u64) -> Vec<Value> {
    let mut out = std::collections::BTreeMap::new();
    let mut line = String::new();
    while (out.len() as u64) < last - first + 1 {
        line.clear();
        let read = reader.read_line(&mut line).expect("read");
        assert!(
            read > 0,
            "the server closed its output after {} replies",
            out.len()
        );
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if let Some(id) = message["id"]
            .as_u64()
            .filter(|_| message.get("jsonrpc").is_some())
        {
            assert!((first..=last).contains(&id), "unexpected reply {message}");
            assert!(out.insert(id, message).is_none(), "reply {id} came twice");
        }
    }
    out.into_values().collect()
}

#[test]
fn replies_larger_than_the_pipe_buffer_arrive_whole_while_the_client_is_not_reading() {
    let data = DataDir::new();
    let mut child = Command::new(BIN)
        .args(["serve", "--no-runner", "--data-dir"])
        .arg(data.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    writeln!(stdin, "{}", initialize()).expect("write");
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
    )
    .expect("write");
    writeln!(
        stdin,
        "{}",
        call(1, "create_project", json!({"name": "Pipes"}))
    )
    .expect("write");
    let project = replies(&mut stdout, 0, 1)[1]["result"]["structuredContent"]["id"]
        .as_str()
        .expect("project id")
        .to_owned();
    // 100 tasks of 2 KB descriptions: a page of them is ~200 KB, three times
    // a pipe's 64 KB buffer.
    let description = "d".repeat(2_000);
    let mut id = 1;
    for n in 0..100 {
        id += 1;
        let args =
            json!({"project_id": project, "title": format!("t{n}"), "description": description});
        writeln!(stdin, "{}", call(id, "create_task", args)).expect("write");
    }
    stdin.flush().expect("flush");
    // The creates are answered (rmcp runs requests concurrently) before the
    // reads start.
    replies(&mut stdout, 2, id);
    let first_list = id + 1;
    // Ten page requests sent before any reply is read: the server's writes
    // fill the pipe and must wait for room, not fail or drop bytes.
    for _ in 0..10 {
        id += 1;
        let args = json!({"project_id": project, "limit": 100});
        writeln!(stdin, "{}", call(id, "list_tasks", args)).expect("write");
    }
    stdin.flush().expect("flush");
    let all = replies(&mut stdout, first_list, id);
    assert_eq!(all.len(), 10);
    for page in &all {
        let tasks = page["result"]["structuredContent"]["tasks"]
            .as_array()
            .expect("tasks");
        assert_eq!(tasks.len(), 100);
        assert!(
            tasks
                .iter()
                .all(|t| t["description"] == description.as_str())
        );
    }
    drop(stdin);
    assert!(child.wait().expect("exit").success());
}

#[test]
fn stdout_and_stderr_on_one_pipe_carry_every_reply_and_the_logs() {
    let data = DataDir::new();
    let (reader, writer) = std::io::pipe().expect("pipe");
    let mut child = Command::new(BIN)
        .args(["serve", "--no-runner", "--log", "debug", "--data-dir"])
        .arg(data.path())
        .stdin(Stdio::piped())
        .stdout(writer.try_clone().expect("clone"))
        .stderr(writer)
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut output = BufReader::new(reader);
    writeln!(stdin, "{}", initialize()).expect("write");
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
    )
    .expect("write");
    for id in 1..=200 {
        writeln!(stdin, "{}", call(id, "list_workspaces", json!({}))).expect("write");
    }
    stdin.flush().expect("flush");
    let all = replies(&mut output, 0, 200);
    assert!(all[1..].iter().all(|r| r["result"]["isError"] != true));
    drop(stdin);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut output, &mut rest).expect("read the rest");
    assert!(child.wait().expect("exit").success(), "{rest}");
}

/// Node's `child_process` (Claude Code, many IDE clients) gives a child
/// Unix socket pairs for stdin and stdout, not pipes.
#[test]
fn stdin_and_stdout_on_unix_sockets_serve_like_pipes() {
    use std::os::unix::net::UnixStream;
    let data = DataDir::new();
    let (ours_in, theirs_in) = UnixStream::pair().expect("socket pair");
    let (ours_out, theirs_out) = UnixStream::pair().expect("socket pair");
    let mut child = Command::new(BIN)
        .args(["serve", "--no-runner", "--data-dir"])
        .arg(data.path())
        .stdin(std::os::fd::OwnedFd::from(theirs_in))
        .stdout(std::os::fd::OwnedFd::from(theirs_out))
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stdin = ours_in;
    let mut output = BufReader::new(ours_out);
    writeln!(stdin, "{}", initialize()).expect("write");
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
    )
    .expect("write");
    for id in 1..=50 {
        writeln!(stdin, "{}", call(id, "list_workspaces", json!({}))).expect("write");
    }
    let all = replies(&mut output, 0, 50);
    assert!(all[1..].iter().all(|r| r["result"]["isError"] == false));
    stdin
        .shutdown(std::net::Shutdown::Write)
        .expect("close the server's input");
    assert!(child.wait().expect("exit").success());
}
