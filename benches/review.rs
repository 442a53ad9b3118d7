//! Benchmarks of the review loop over stdio, against the real binary: how
//! soon `wait_for_session` answers after the coding agent exits (SQLite,
//! the runner in the server's process). Results are printed as a markdown
//! table; `BENCHMARKS.md` ("Review loop") says how to read them. Run by
//! hand, not in CI:
//!
//! ```text
//! cargo build --release && cargo bench --bench review
//! ```
//!
//! Each round creates a task, starts a session whose agent is a one-line
//! shell script that writes the wall-clock time (`date +%s%N`) to a file as
//! its last act, and calls `wait_for_session` at once. The latency is from
//! that timestamp to the moment the wait's reply line is read: it covers the
//! runner seeing the process exit, finishing the logs, recording the end in
//! the store, the waiter waking, reading the session and answering. The
//! harness speaks raw newline-delimited JSON-RPC over the child's pipes.
//!
//! Two setups: the runner inside `serve` (its turn ends wake the wait at
//! once), and `serve --no-runner` with a `vibe-kanban-mcp runner` process
//! on the same SQLite file (the wait sees the end at its next store read,
//! every 500 ms).
//!
//! - `VK_BENCH_BIN`: the binary to run (default `target/release/vibe-kanban-mcp`).
//! - `VK_BENCH_ROUNDS`: sessions to measure (default 50).

use std::{
    fs,
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};

const PROTOCOL_VERSION: &str = "2025-06-18";
const DEFAULT_ROUNDS: usize = 50;
/// Rounds run first and not counted (the first session pays for warm-up).
const WARMUP_ROUNDS: usize = 3;

fn main() -> anyhow::Result<()> {
    let bin = server_binary()?;
    let rounds = std::env::var("VK_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_ROUNDS);
    eprintln!("benchmarking {}", bin.display());
    let load_before = load_average();
    let local = measure(&bin, rounds, false)?;
    let elsewhere = measure(&bin, rounds, true)?;

    println!("## Review loop: wait_for_session wake-up ({rounds} sessions each, SQLite, stdio)\n");
    println!("binary: {}  ", bin.display());
    println!(
        "load average before: {load_before}, after: {}\n",
        load_average()
    );
    println!("| measure | min | median | p90 | max |");
    println!("|---|---|---|---|---|");
    let (mut wake, mut whole) = local;
    row("agent exit → wait reply, runner in `serve`", &mut wake);
    row(
        "start_session + wait (whole turn), runner in `serve`",
        &mut whole,
    );
    let (mut wake, mut whole) = elsewhere;
    row(
        "agent exit → wait reply, runner in another process",
        &mut wake,
    );
    row(
        "start_session + wait (whole turn), runner in another process",
        &mut whole,
    );
    Ok(())
}

/// Runs `rounds` sessions (after a few unmeasured ones); returns the
/// latencies from agent exit to reply and the whole turns. With
/// `separate_runner`, `serve --no-runner` only queues and a `runner`
/// process runs the sessions.
fn measure(
    bin: &Path,
    rounds: usize,
    separate_runner: bool,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let stamp = dir.path().join("agent-exit.ns");
    let config = dir.path().join("config.toml");
    fs::write(&config, agent_config(&stamp))?;
    let mut server = Server::spawn(bin, &data, &config, separate_runner)?;
    server.handshake()?;
    let runner = if separate_runner {
        Some(
            Command::new(bin)
                .arg("runner")
                .arg("--data-dir")
                .arg(&data)
                .arg("--config")
                .arg(&config)
                .env_remove("VK_API_KEY")
                .env_remove("VK_STORE")
                .env("VK_LOG", "error")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .context("start the runner")?,
        )
    } else {
        None
    };
    let project = server.call("create_project", json!({"name": "bench"}))?;
    let project_id = project["id"].as_str().context("project id")?.to_owned();

    let mut wake = Vec::new();
    let mut whole = Vec::new();
    for round in 0..WARMUP_ROUNDS + rounds {
        let _ = fs::remove_file(&stamp);
        let task = server.call(
            "create_task",
            json!({"project_id": project_id, "title": format!("Round {round}")}),
        )?;
        let started = Instant::now();
        let session = server.call("start_session", json!({"task_id": task["id"]}))?;
        let waited = server.call(
            "wait_for_session",
            json!({"session_id": session["id"], "timeout_secs": 60}),
        )?;
        let answered = now_ns();
        let elapsed = started.elapsed();
        ensure!(
            waited["status"] == "completed" && waited["timed_out"] == false,
            "round {round}: the session did not complete: {waited}"
        );
        let exited: u128 = fs::read_to_string(&stamp)
            .with_context(|| format!("round {round}: the agent wrote no timestamp"))?
            .trim()
            .parse()
            .context("timestamp")?;
        ensure!(
            answered >= exited,
            "round {round}: answered before the agent exited?"
        );
        if round >= WARMUP_ROUNDS {
            wake.push(Duration::from_nanos((answered - exited) as u64));
            whole.push(elapsed);
        }
    }
    server.close()?;
    if let Some(mut runner) = runner {
        // SIGTERM: the runner shuts down cleanly.
        let _ = Command::new("kill").arg(runner.id().to_string()).status();
        runner.wait()?;
    }
    Ok((wake, whole))
}

/// A configuration whose only agent writes the time to `stamp` and exits.
fn agent_config(stamp: &Path) -> String {
    format!(
        r#"[sessions]
default_executor = "stamp"

[executors.stamp]
command = ["sh", "-c", "echo working; date +%s%N > \"$VK_BENCH_STAMP\""]
env = {{ VK_BENCH_STAMP = "{}" }}
"#,
        stamp.display()
    )
}

fn row(name: &str, samples: &mut [Duration]) {
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        format_ms(samples[i])
    };
    println!(
        "| {name} | {} | {} | {} | {} |",
        at(0.0),
        at(0.5),
        at(0.9),
        at(1.0)
    );
}

fn format_ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// `VK_BENCH_BIN`, else the release build of this crate.
fn server_binary() -> anyhow::Result<PathBuf> {
    let bin = match std::env::var_os("VK_BENCH_BIN") {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/vibe-kanban-mcp"),
    };
    if !bin.is_file() {
        bail!(
            "server binary {} not found: run `cargo build --release` first, or set VK_BENCH_BIN \
             to the binary to benchmark",
            bin.display()
        );
    }
    Ok(bin)
}

/// The server process and its pipes.
struct Server {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
}

impl Server {
    fn spawn(
        bin: &Path,
        data_dir: &Path,
        config: &Path,
        no_runner: bool,
    ) -> anyhow::Result<Server> {
        let mut child = Command::new(bin)
            .arg("serve")
            .args(no_runner.then_some("--no-runner"))
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--config")
            .arg(config)
            .env_remove("VK_API_KEY")
            .env_remove("VK_STORE")
            .env("VK_LOG", "error")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("start {}", bin.display()))?;
        let stdin = child.stdin.take().context("stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("stdout")?);
        Ok(Server {
            child,
            stdin,
            stdout,
            next_id: 1,
        })
    }

    fn send(&mut self, message: &Value) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(message)?;
        line.push(b'\n');
        self.stdin.write_all(&line)?;
        self.stdin.flush()?;
        Ok(())
    }

    /// The reply to request `id` (notifications before it are skipped).
    fn reply(&mut self, id: u64) -> anyhow::Result<Value> {
        loop {
            let mut line = String::new();
            ensure!(
                self.stdout.read_line(&mut line)? > 0,
                "the server closed stdout"
            );
            let message: Value = serde_json::from_str(&line).context("reply is not JSON")?;
            if message["id"] == id {
                return Ok(message);
            }
        }
    }

    fn handshake(&mut self) -> anyhow::Result<()> {
        let id = self.take_id();
        self.send(&json!({
            "jsonrpc": "2.0", "id": id, "method": "initialize",
            "params": {"protocolVersion": PROTOCOL_VERSION, "capabilities": {},
                       "clientInfo": {"name": "bench", "version": "1"}}
        }))?;
        self.reply(id)?;
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
    }

    /// Calls a tool that must succeed; returns its structured content.
    fn call(&mut self, name: &str, arguments: Value) -> anyhow::Result<Value> {
        let id = self.take_id();
        self.send(&json!({
            "jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": name, "arguments": arguments}
        }))?;
        let reply = self.reply(id)?;
        let result = &reply["result"];
        ensure!(
            !result.is_null() && result["isError"] != true,
            "{name} failed: {reply}"
        );
        Ok(result["structuredContent"].clone())
    }

    fn take_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn close(mut self) -> anyhow::Result<()> {
        drop(self.stdin);
        self.child.wait()?;
        Ok(())
    }
}
