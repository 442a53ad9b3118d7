//! Benchmark: reading a 200 MB execution log — the last 100 lines, and a
//! 1 MB range from its middle — both in the library (`LogStore`, local disk)
//! and end to end through `read_execution_log` over stdio with rmcp's client.
//!
//! Run by hand (not in CI): `cargo bench --bench logs`. It runs a real
//! session with tests/agents/agent.sh, then grows that session's
//! `execution.log` to 200 MB and reads it. Figures: BENCHMARKS.md.

use std::{
    io::Write,
    time::{Duration, Instant},
};

use rmcp::{
    ServiceExt,
    model::{
        CallToolRequestParams, CallToolResult, ContentBlock, RequestId, ServerJsonRpcMessage,
        ServerResult,
    },
    transport::{ConfigureCommandExt, TokioChildProcess},
};
use serde_json::{Value, json};
use vibe_kanban_mcp::logs::{self, LogStore};

const LOG_BYTES: u64 = 200 * 1024 * 1024;
const RANGE: u64 = 1024 * 1024;
const RUNS: usize = 200;

fn summary(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    println!(
        "{name:<55} median {:>8.3} ms   p95 {:>8.3} ms   max {:>8.3} ms   ({} runs)",
        at(0.5).as_secs_f64() * 1e3,
        at(0.95).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3,
        samples.len()
    );
}

/// VmHWM (peak resident set) of a process, in kB.
fn vm_hwm_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc status")
}

async fn time<F, Fut>(runs: usize, mut f: F) -> Vec<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    f().await; // warm-up
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        f().await;
        samples.push(started.elapsed());
    }
    samples
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = format!("{}/tests/agents/agent.sh", env!("CARGO_MANIFEST_DIR"));
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!("[sessions]\ndefault_executor = \"script\"\n\n[executors.script]\ncommand = [\"sh\", \"{agent}\"]\n"),
    )
    .expect("config");
    let command =
        tokio::process::Command::new(env!("CARGO_BIN_EXE_vibe-kanban-mcp")).configure(|cmd| {
            cmd.arg("serve")
                .arg("--data-dir")
                .arg(dir.path())
                .arg("--config")
                .arg(&config)
                .env_remove("VK_API_KEY")
                .env("VK_LOG", "error");
        });
    let transport = TokioChildProcess::new(command).expect("spawn server");
    let server_pid = transport.id().expect("the server's pid");
    let client = ().serve(transport).await.expect("initialize");
    let call = |name: &'static str, args: Value| {
        let client = &client;
        async move {
            let Value::Object(arguments) = args else {
                unreachable!()
            };
            let result = client
                .call_tool(CallToolRequestParams::new(name).with_arguments(arguments))
                .await
                .expect("call");
            assert_ne!(result.is_error, Some(true), "{name}: {result:?}");
            let mut out = result.structured_content.expect("structured");
            // A log page's text is its first content block.
            if let Some(text) = result.content.first().and_then(|c| c.as_text()) {
                out["text"] = json!(text.text);
            }
            out
        }
    };

    let project = call("create_project", json!({"name": "bench"})).await;
    let task = call(
        "create_task",
        json!({"project_id": project["id"], "title": "Bench"}),
    )
    .await;
    let session = call("start_session", json!({"task_id": task["id"]})).await;
    let session_id = session["id"].as_str().expect("id").to_owned();
    loop {
        let s = call("get_session", json!({"session_id": session_id})).await;
        if s["status"] != "queued" && s["status"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Grow the session's log to 200 MB of agent-like lines.
    let key = logs::session_key(&session_id, logs::EXECUTION_LOG);
    let path = dir.path().join(&key);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open the log");
    let mut written = std::fs::metadata(&path).expect("meta").len();
    let mut buffer = String::with_capacity(1 << 20);
    let mut line = 0u64;
    while written < LOG_BYTES {
        buffer.clear();
        while buffer.len() < (1 << 20) {
            line += 1;
            buffer.push_str(&format!(
                "{{\"type\":\"assistant\",\"line\":{line},\"text\":\"editing src/module_{:04}.rs: applying change {line}\"}}\n",
                line % 9973
            ));
        }
        file.write_all(buffer.as_bytes()).expect("write");
        written += buffer.len() as u64;
    }
    file.sync_all().expect("sync");
    println!(
        "log: {:.1} MB, {line} lines (page cache warm)",
        written as f64 / 1048576.0
    );
    let middle = written / 2;

    let store = LogStore::local(dir.path().to_owned());
    summary(
        "LogStore::tail 100 lines (library)",
        time(RUNS, || async {
            let tail = store
                .tail(&key, 100, logs::MAX_READ_BYTES)
                .await
                .expect("tail");
            assert_eq!(tail.text.lines().count(), 100);
        })
        .await,
    );
    summary(
        "LogStore::read 1 MB from the middle (library)",
        time(RUNS, || async {
            let slice = store.read(&key, middle, RANGE).await.expect("read");
            assert!(slice.end - slice.start >= RANGE - 4);
        })
        .await,
    );
    summary(
        "read_execution_log tail=100 (MCP over stdio)",
        time(RUNS, || async {
            let page = call(
                "read_execution_log",
                json!({"session_id": session_id, "tail": 100}),
            )
            .await;
            assert_eq!(page["text"].as_str().expect("text").lines().count(), 100);
        })
        .await,
    );
    summary(
        "read_execution_log 1 MB range from the middle (MCP)",
        time(RUNS / 2, || async {
            let page = call(
                "read_execution_log",
                json!({"session_id": session_id, "cursor": middle, "limit": RANGE}),
            )
            .await;
            assert!(page["next_cursor"].as_u64().expect("cursor") - middle >= RANGE - 4);
            assert!(page["text"].as_str().expect("text").len() as u64 >= RANGE - 4);
        })
        .await,
    );

    // The server never holds more than a page (1 MiB of text, plus its JSON
    // encoding and the client's copy in flight) of the 200 MB log: its peak
    // RSS over all the reads above stays far below the log's size.
    let hwm_kb = vm_hwm_kb(server_pid);
    let page_mb = logs::MAX_READ_BYTES as f64 / 1048576.0;
    println!(
        "server peak RSS (VmHWM) after every read of the {:.0} MB log: {:.1} MB (a page is at most {page_mb:.0} MB)",
        written as f64 / 1048576.0,
        hwm_kb as f64 / 1024.0
    );
    assert!(
        (hwm_kb as f64 / 1024.0) < 64.0 + 8.0 * page_mb,
        "the server's peak RSS ({hwm_kb} kB) suggests it held more than a page of the log"
    );

    // Where the end-to-end time of the 1 MiB page goes beyond the read: the
    // same result as a JSON-RPC message, encoded (the server's share) and
    // decoded into rmcp's typed message (the client's share), in-process.
    let slice = store.read(&key, middle, RANGE).await.expect("read");
    let mut result = CallToolResult::success(vec![
        ContentBlock::text(slice.text),
        ContentBlock::text("[bytes …]"),
    ]);
    result.structured_content = Some(json!({"start": middle, "next_cursor": slice.end}));
    let message =
        ServerJsonRpcMessage::response(ServerResult::CallToolResult(result), RequestId::Number(1));
    let encoded = serde_json::to_vec(&message).expect("encode");
    println!("1 MiB page as a JSON-RPC message: {} bytes", encoded.len());
    summary(
        "  of which: JSON-RPC encoding (server, serde_json)",
        time(RUNS / 2, || async {
            std::hint::black_box(serde_json::to_vec(&message).expect("encode"));
        })
        .await,
    );
    summary(
        "  of which: decoding into rmcp's typed message (client)",
        time(RUNS / 2, || async {
            let decoded: ServerJsonRpcMessage = serde_json::from_slice(&encoded).expect("decode");
            std::hint::black_box(decoded);
        })
        .await,
    );
    let _ = client.cancel().await;
}
