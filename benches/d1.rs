//! Tool-call latency on the D1 store, through the real binary and rmcp's
//! client, against the local D1 (miniflare) with injected network latency.
//! Shows that each tool call costs one HTTP round trip: with 20 ms added per
//! request, a call takes about 20 ms plus the server's own time.
//!
//! Then what each long-running process costs while idle, in D1 requests per
//! minute: `serve` (stdio), `serve --http` with no client, with open streams,
//! and `runner` — every background loop of the server is running in these
//! (session runner queue poll, stale-session sweep, heartbeat, revocation
//! watcher). Log watchers run only for a subscriber of a session log; their
//! cost is per watched session (see BENCHMARKS.md).
//!
//! Run by hand (not in CI), after `npm ci` in tests/d1:
//!
//! ```sh
//! cargo bench --bench d1            # 50 calls per tool; BENCH_ITERS=N to change
//! BENCH_IDLE_SECS=60                # length of each idle window (default 60)
//! BENCH_ONLY_IDLE=1                 # skip the tool rows
//! ```

// The integration tests' harness; this bench uses a part of it.
#[allow(dead_code)]
#[path = "../tests/it/common/mod.rs"]
mod common;
#[allow(dead_code)]
#[path = "../tests/it/http_support/mod.rs"]
mod http_support;

use std::time::{Duration, Instant};

use common::{Backend, DataDir, LocalD1, Server};
use http_support::HttpServer;
use serde_json::{Value, json};

const LATENCIES_MS: [u64; 2] = [0, 20];

struct Sample {
    tool: &'static str,
    latency_ms: u64,
    requests_per_call: f64,
    times: Vec<Duration>,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

async fn measure(
    d1: &LocalD1,
    server: &Server,
    tool: &'static str,
    latency_ms: u64,
    iterations: usize,
    args: impl Fn(usize) -> Value,
) -> Sample {
    d1.reset();
    d1.latency(latency_ms);
    let mut times = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let started = Instant::now();
        server.call(tool, args(i)).await;
        times.push(started.elapsed());
    }
    let requests = d1.requests();
    d1.reset();
    times.sort();
    Sample {
        tool,
        latency_ms,
        requests_per_call: requests as f64 / iterations as f64,
        times,
    }
}

#[tokio::main]
async fn main() {
    let iterations: usize = std::env::var("BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let idle_seconds: u64 = std::env::var("BENCH_IDLE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let only_idle = std::env::var("BENCH_ONLY_IDLE").is_ok_and(|v| v == "1");
    let data = DataDir::on(Backend::D1);
    let d1 = data.d1().expect("d1");
    if !only_idle {
        tool_rows(&data, d1, iterations).await;
    }
    idle_rows(&data, d1, idle_seconds).await;
}

/// D1 requests per call and latency of the project and task tools.
async fn tool_rows(data: &DataDir, d1: &LocalD1, iterations: usize) {
    // No session runner: its queue polls would be counted with the tools.
    let server = Server::start(data, &["--no-runner"], &[]).await;
    let owner =
        server.call("list_workspaces", json!({})).await["workspaces"][0]["members"][0]["user_id"]
            .as_str()
            .expect("owner")
            .to_owned();
    let project_id = server.project("Bench").await;
    let task_id = server.task(&project_id, "Seed", json!({})).await;
    for i in 0..100 {
        server
            .task(&project_id, &format!("Task {i}"), json!({}))
            .await;
    }

    let mut samples = Vec::new();
    for latency in LATENCIES_MS {
        let p = project_id.clone();
        samples.push(
            measure(
                d1,
                &server,
                "get_project",
                latency,
                iterations,
                |_| json!({"project_id": p}),
            )
            .await,
        );
        let p = project_id.clone();
        samples.push(
            measure(
                d1,
                &server,
                "list_tasks",
                latency,
                iterations,
                |_| json!({"project_id": p, "limit": 50}),
            )
            .await,
        );
        let p = project_id.clone();
        samples.push(
            measure(
                d1,
                &server,
                "create_task",
                latency,
                iterations,
                |i| json!({"project_id": p, "title": format!("Bench {latency} {i}")}),
            )
            .await,
        );
        let t = task_id.clone();
        samples.push(
            measure(d1, &server, "update_task", latency, iterations, |i| {
                let status = ["todo", "inprogress", "done"][i % 3];
                json!({"task_id": t, "status": status})
            })
            .await,
        );
        let (t, o) = (task_id.clone(), owner.clone());
        samples.push(
            measure(
                d1,
                &server,
                "assign_task",
                latency,
                iterations,
                |_| json!({"task_id": t, "user_id": o}),
            )
            .await,
        );
    }
    // delete_task, on fresh tasks.
    for latency in LATENCIES_MS {
        let mut ids = Vec::new();
        for i in 0..iterations {
            ids.push(
                server
                    .task(&project_id, &format!("Doomed {i}"), json!({}))
                    .await,
            );
        }
        samples.push(
            measure(
                d1,
                &server,
                "delete_task",
                latency,
                iterations,
                |i| json!({"task_id": ids[i]}),
            )
            .await,
        );
    }
    server.stop().await;
    println!(
        "{iterations} calls per row; D1 = miniflare on 127.0.0.1 with the added latency per request"
    );
    println!("| tool | added latency | D1 requests per call | median ms | p90 ms |");
    println!("|---|---|---|---|---|");
    for s in &samples {
        println!(
            "| `{}` | {} ms | {:.2} | {:.1} | {:.1} |",
            s.tool,
            s.latency_ms,
            s.requests_per_call,
            percentile(&s.times, 0.5),
            percentile(&s.times, 0.9)
        );
    }
}

/// D1 requests made by `d1`'s clients over `seconds` of doing nothing,
/// after a second to settle (start-up requests are not counted).
async fn count_idle(d1: &LocalD1, seconds: u64) -> u64 {
    tokio::time::sleep(Duration::from_secs(1)).await;
    d1.reset();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    d1.all_requests()
}

/// `serve --http` on the local D1 with extra arguments.
fn http_server(data: &DataDir, args: &[&str]) -> HttpServer {
    let env = data.store_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    HttpServer::start(data.path(), args, &env)
}

/// Opens `count` legacy SSE streams of `key` and keeps them open.
async fn open_streams(server: &HttpServer, key: &str, count: usize) -> Vec<reqwest::Response> {
    let mut streams = Vec::new();
    for _ in 0..count {
        let stream = http_support::http()
            .get(server.url("/sse"))
            .bearer_auth(key)
            .send()
            .await
            .expect("open /sse");
        assert_eq!(stream.status(), 200);
        streams.push(stream);
    }
    streams
}

/// What each long-running process costs in D1 requests while nobody uses it.
async fn idle_rows(data: &DataDir, d1: &LocalD1, seconds: u64) {
    let key = data.create_key("default", "idle-bench", "read");
    let mut rows: Vec<(&str, u64)> = Vec::new();

    let stdio = Server::start(data, &[], &[]).await;
    rows.push((
        "`serve` (stdio, with its session runner)",
        count_idle(d1, seconds).await,
    ));
    stdio.stop().await;
    let stdio = Server::start(data, &["--no-runner"], &[]).await;
    rows.push(("`serve --no-runner` (stdio)", count_idle(d1, seconds).await));
    stdio.stop().await;

    let http = http_server(data, &[]);
    rows.push((
        "`serve --http`, no client (with its session runner)",
        count_idle(d1, seconds).await,
    ));
    drop(http);
    let http = http_server(data, &["--no-runner"]);
    rows.push((
        "`serve --http --no-runner`, no client",
        count_idle(d1, seconds).await,
    ));
    let streams = open_streams(&http, &key, 1).await;
    rows.push((
        "`serve --http --no-runner`, 1 open SSE stream",
        count_idle(d1, seconds).await,
    ));
    let more = open_streams(&http, &key, 9).await;
    rows.push((
        "`serve --http --no-runner`, 10 open SSE streams (one key)",
        count_idle(d1, seconds).await,
    ));
    drop((streams, more));
    rows.push((
        "`serve --http --no-runner`, after the streams closed",
        count_idle(d1, seconds).await,
    ));
    drop(http);

    let mut runner = std::process::Command::new(common::BIN)
        .args(["runner", "--data-dir"])
        .arg(data.path())
        .env_remove("VK_API_KEY")
        .env("VK_LOG", "error")
        .envs(data.store_env())
        .spawn()
        .expect("start runner");
    rows.push(("`runner`", count_idle(d1, seconds).await));
    let _ = runner.kill();
    let _ = runner.wait();

    println!();
    println!("idle processes on D1: requests counted over {seconds} s after 1 s to settle");
    println!("| process | D1 requests in {seconds} s | per minute |");
    println!("|---|---|---|");
    for (what, requests) in rows {
        println!(
            "| {what} | {requests} | {:.1} |",
            requests as f64 * 60.0 / seconds as f64
        );
    }
}
