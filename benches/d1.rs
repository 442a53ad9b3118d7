//! Tool-call latency on the D1 store, through the real binary and rmcp's
//! client, against the local D1 (miniflare) with injected network latency.
//! Shows that each tool call costs one HTTP round trip: with 20 ms added per
//! request, a call takes about 20 ms plus the server's own time.
//!
//! Run by hand (not in CI), after `npm ci` in tests/d1:
//!
//! ```sh
//! cargo bench --bench d1            # 50 calls per tool; BENCH_ITERS=N to change
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{Backend, DataDir, LocalD1, Server};
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
    let data = DataDir::on(Backend::D1);
    let d1 = data.d1().expect("d1");
    // No session runner: its queue polls would be counted with the tools.
    let server = Server::start(&data, &["--no-runner"], &[]).await;
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

    // What an idle server with its session runner costs: nothing is queued,
    // nothing runs; count D1 requests over a fixed window.
    let idle_seconds: u64 = std::env::var("BENCH_IDLE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let with_runner = Server::start(&data, &[], &[]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    d1.reset();
    tokio::time::sleep(Duration::from_secs(idle_seconds)).await;
    let idle_requests = d1.requests();
    with_runner.stop().await;

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
    println!(
        "idle server with its session runner: {idle_requests} D1 requests in {idle_seconds} s ({:.1} per minute)",
        idle_requests as f64 * 60.0 / idle_seconds as f64
    );
}
