//! Benchmarks of the real release binary over stdio: cold start to the
//! `initialize` reply, sequential `tools/call` round trips on a project of
//! 10,000 tasks, the server's peak RSS (busy, and idle after `tools/list`),
//! and the same client against kanban-mcp (Python, SQLite; installed from
//! PyPI into a venv under `target/` at the start, skipped when that fails):
//! cold start, `list_tasks` of 50 tasks and durable `create_task`, with the
//! ratios. Results are printed as a markdown
//! table; `BENCHMARKS.md` says how to read them. Run by hand, not in CI:
//!
//! ```text
//! cargo build --release && cargo bench --bench stdio
//! ```
//!
//! The harness speaks raw newline-delimited JSON-RPC over the child's pipes
//! from plain blocking threads, so the figures are the server's plus two pipe
//! hops, with no client library or async runtime on the client side. Each
//! round trip is timed from just before the request is written to just after
//! its reply line is read; replies are parsed and checked outside that window.
//!
//! - `VK_BENCH_BIN`: the binary to run (default `target/release/vibe-kanban-mcp`).
//!   `cargo bench` relinks that file with the dev-dependencies' features
//!   unified in (same code paths); to time the exact binary you ship, copy it
//!   elsewhere and point `VK_BENCH_BIN` at the copy.
//! - `VK_BENCH_PEER_ONLY=1`: only the idle peak RSS and the comparison with
//!   kanban-mcp, not the 10,000-task phases.
//! - `VK_BENCH_PYTHON`: the Python that makes kanban-mcp's venv (default `python3`).
//! - `VK_BENCH_SERVER_TIMES=1`: also run the tools/call server with
//!   `--log vibe_kanban_mcp=debug` and report the server's own `elapsed_us`
//!   per call beside the round trip. Logging costs a little, so leave it off
//!   for the headline figures.

use std::{
    fmt::Write as _,
    fs,
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};

/// Cold starts per data-directory kind.
const COLD_STARTS: usize = 50;
/// Tasks in the project before list_tasks and the measured creates run.
const SEED_TASKS: usize = 10_000;
/// Measured calls per tools/call phase.
const CALLS: usize = 2_000;
/// Unmeasured calls before each list phase (caches, prepared statements).
const WARMUP_CALLS: usize = 100;
/// Rows per list_tasks page.
const PAGE: usize = 50;
const STATUSES: [&str; 5] = ["todo", "inprogress", "inreview", "done", "cancelled"];
const PROTOCOL_VERSION: &str = "2025-06-18";

fn main() -> anyhow::Result<()> {
    let bin = server_binary()?;
    let server_times = std::env::var("VK_BENCH_SERVER_TIMES").is_ok_and(|v| v == "1");
    let peer_only = std::env::var("VK_BENCH_PEER_ONLY").is_ok_and(|v| v == "1");
    eprintln!("benchmarking {}", bin.display());
    let load_before = load_average();

    let peer = install_peer();
    let mut idle = Vec::new();
    let dir = tempfile::tempdir()?;
    idle.push((
        "vibe-kanban-mcp serve",
        idle_rss(Contender::Ours.command(&bin, dir.path()))?,
    ));
    let mut pairs = Vec::new();
    if let Some(peer) = &peer {
        let dir = tempfile::tempdir()?;
        idle.push((
            "kanban-mcp",
            idle_rss(Contender::KanbanMcp.command(peer, dir.path()))?,
        ));
        pairs = compare_with_peer(&bin, peer)?;
    }
    if peer_only {
        println!(
            "\nvibe-kanban-mcp stdio benchmark (comparison only) — {} — {} — load average \
             {load_before} before, {} after",
            chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
            bin.display(),
            load_average()
        );
    } else {
        let mut rows = Vec::new();
        rows.extend(cold_starts(&bin)?);
        let (phases, peak) = tool_calls(&bin, server_times)?;
        rows.extend(phases);
        print!("{}", report(&bin, &rows, &peak, &load_before)?);
    }
    print!("{}", peer_report(&pairs, &idle)?);
    Ok(())
}

/// The 1, 5 and 15 minute load averages: how busy the machine was.
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

/// One measured series: client round trips and, when the server logged
/// them, its own time per call.
struct Series {
    name: String,
    client: Vec<Duration>,
    server: Vec<Duration>,
}

impl Series {
    fn new(name: impl Into<String>) -> Self {
        Series {
            name: name.into(),
            client: Vec::new(),
            server: Vec::new(),
        }
    }
}

/// Cold start to the `initialize` reply, in a brand-new data directory (the
/// eight migrations run) and in one that an earlier run already set up.
fn cold_starts(bin: &Path) -> anyhow::Result<Vec<Series>> {
    let mut fresh = Series::new("cold start → initialize reply, new data dir");
    for _ in 0..COLD_STARTS {
        let dir = tempfile::tempdir()?;
        fresh
            .client
            .push(cold_start(bin, &dir.path().join("data"))?);
    }
    let mut existing = Series::new("cold start → initialize reply, migrated data dir");
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    cold_start(bin, &data)?;
    for _ in 0..COLD_STARTS {
        existing.client.push(cold_start(bin, &data)?);
    }
    Ok(vec![fresh, existing])
}

/// Spawns `serve`, writes `initialize` at once and times until its reply
/// line arrives; then finishes the handshake and closes stdin.
fn cold_start(bin: &Path, data_dir: &Path) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut server = Server::spawn(bin, data_dir, None)?;
    let id = server.next_id();
    server.send(&initialize_request(id))?;
    let reply = server.read_line()?;
    let elapsed = started.elapsed();
    let reply: Value = serde_json::from_str(&reply).context("initialize reply is not JSON")?;
    ensure!(
        reply["result"]["protocolVersion"] == PROTOCOL_VERSION,
        "unexpected initialize reply: {reply}"
    );
    server.send(&initialized_notification())?;
    server.close()?;
    Ok(elapsed)
}

/// The server's memory high-water mark and what its resident set is made of
/// at the end, read before it is closed.
struct PeakRss {
    vm_hwm_kb: u64,
    vm_rss_kb: u64,
    anon_kb: u64,
    file_kb: u64,
    shmem_kb: u64,
    threads: u64,
}

/// Seeds a project through create_task, then times list_tasks three ways and
/// create_task on the full project, all on one server process.
fn tool_calls(bin: &Path, server_times: bool) -> anyhow::Result<(Vec<Series>, PeakRss)> {
    let dir = tempfile::tempdir()?;
    let log = server_times.then(|| dir.path().join("server.log"));
    let mut server = Server::spawn(bin, &dir.path().join("data"), log.as_deref())?;
    server.handshake()?;
    let mut bench = Bench {
        server,
        series: Vec::new(),
        order: Vec::new(),
    };

    let project = bench.call("create_project", json!({ "name": "bench" }))?;
    let project_id = project["structuredContent"]["id"]
        .as_str()
        .context("create_project returned no id")?
        .to_owned();
    let description = "A description of typical length: what to change, where, and how \
                       to tell it is done, in a sentence or two.";
    let create_args = |i: usize| {
        json!({
            "project_id": project_id,
            "title": format!("Task {i}: make the thing do the other thing"),
            "description": description,
            "status": STATUSES[i % STATUSES.len()],
        })
    };

    eprintln!("seeding {SEED_TASKS} tasks with create_task");
    bench.measure(
        format!("create_task, seeding 0 → {}k tasks", SEED_TASKS / 1000),
        SEED_TASKS,
        |i| ("create_task", create_args(i)),
        |_| Ok(()),
    )?;

    // What every call pays (pipes, rmcp, the registry, one small read), to
    // tell apart from what the list queries add.
    eprintln!("list_workspaces");
    for _ in 0..WARMUP_CALLS {
        bench.call("list_workspaces", json!({}))?;
    }
    bench.measure(
        "list_workspaces (floor: one small read)".to_owned(),
        CALLS,
        |_| ("list_workspaces", json!({})),
        |_| Ok(()),
    )?;

    let middle = bench.middle_cursor(&project_id)?;
    let pages = [
        (
            "list_tasks, first page of 50",
            json!({ "project_id": project_id, "limit": PAGE }),
        ),
        (
            "list_tasks, status=inprogress, 50 rows",
            json!({ "project_id": project_id, "status": ["inprogress"], "limit": PAGE }),
        ),
        (
            "list_tasks, cursor at task 5,000, 50 rows",
            json!({ "project_id": project_id, "limit": PAGE, "cursor": middle }),
        ),
    ];
    for (name, args) in pages {
        eprintln!("{name}");
        for _ in 0..WARMUP_CALLS {
            bench.call("list_tasks", args.clone())?;
        }
        bench.measure(
            name.to_owned(),
            CALLS,
            |_| ("list_tasks", args.clone()),
            |result| {
                let rows = result["structuredContent"]["tasks"]
                    .as_array()
                    .map_or(0, Vec::len);
                ensure!(rows == PAGE, "list_tasks returned {rows} rows, not {PAGE}");
                Ok(())
            },
        )?;
    }

    eprintln!("create_task on the full project");
    bench.measure(
        format!(
            "create_task, {}k → {}k tasks",
            SEED_TASKS / 1000,
            (SEED_TASKS + CALLS) / 1000
        ),
        CALLS,
        |i| ("create_task", create_args(SEED_TASKS + i)),
        |_| Ok(()),
    )?;

    let Bench {
        server,
        mut series,
        order,
    } = bench;
    let peak = server.peak_rss()?;
    server.close()?;
    if let Some(log) = log {
        attach_server_times(&log, &order, &mut series)?;
    }
    Ok((series, peak))
}

/// A tools/call session that remembers which series each call was measured
/// in, to pair the server's log lines with them later.
struct Bench {
    server: Server,
    series: Vec<Series>,
    /// The series of every call made, in call order; `None` for unmeasured calls.
    order: Vec<Option<usize>>,
}

impl Bench {
    /// An unmeasured call; returns its `result`.
    fn call(&mut self, tool: &str, args: Value) -> anyhow::Result<Value> {
        let reply = self.server.call(tool, args)?;
        self.order.push(None);
        Ok(reply.result)
    }

    /// Makes `count` sequential calls, timing each round trip, as one series.
    /// `check` sees each `result`, outside the timed window.
    fn measure(
        &mut self,
        name: String,
        count: usize,
        request: impl Fn(usize) -> (&'static str, Value),
        check: impl Fn(&Value) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let mut measured = Series::new(name);
        measured.client.reserve(count);
        for i in 0..count {
            let (tool, args) = request(i);
            let reply = self.server.call(tool, args)?;
            self.order.push(Some(self.series.len()));
            measured.client.push(reply.elapsed);
            check(&reply.result).with_context(|| format!("{} call {i}", measured.name))?;
        }
        self.series.push(measured);
        Ok(())
    }

    /// The `next_cursor` after the first half of the seeded tasks, found by paging.
    fn middle_cursor(&mut self, project_id: &str) -> anyhow::Result<String> {
        const STEP: usize = 200;
        let mut cursor = Value::Null;
        for _ in 0..SEED_TASKS / 2 / STEP {
            let mut args = json!({ "project_id": project_id, "limit": STEP });
            if !cursor.is_null() {
                args["cursor"] = cursor;
            }
            cursor = self.call("list_tasks", args)?["structuredContent"]["next_cursor"].take();
            ensure!(
                cursor.is_string(),
                "list_tasks returned no next_cursor while paging to the middle"
            );
        }
        cursor
            .as_str()
            .map(str::to_owned)
            .context("no pages to walk")
    }
}

/// Pairs the server's `tools/call ... elapsed_us=N` debug lines, which come
/// in call order, with the series each call was measured in.
fn attach_server_times(
    log: &Path,
    order: &[Option<usize>],
    series: &mut [Series],
) -> anyhow::Result<()> {
    let text = fs::read_to_string(log).with_context(|| format!("reading {}", log.display()))?;
    let times: Vec<Duration> = text
        .lines()
        .filter(|line| line.contains(" tools/call "))
        .filter_map(|line| line.split_once("elapsed_us=")?.1.parse().ok())
        .map(Duration::from_micros)
        .collect();
    ensure!(
        times.len() == order.len(),
        "the server logged {} tools/call lines for {} calls",
        times.len(),
        order.len()
    );
    for (time, index) in times.into_iter().zip(order) {
        if let Some(index) = index {
            series[*index].server.push(time);
        }
    }
    Ok(())
}

/// A reply and how long its round trip took.
struct Reply {
    result: Value,
    elapsed: Duration,
}

/// A `vibe-kanban-mcp serve` child spoken to in raw JSON-RPC lines.
struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    last_id: u64,
    line: String,
}

impl Server {
    /// Starts `serve --data-dir data_dir`; with `log`, at debug level with
    /// stderr to that file, else with stderr discarded.
    fn spawn(bin: &Path, data_dir: &Path, log: Option<&Path>) -> anyhow::Result<Self> {
        let mut command = Command::new(bin);
        command.arg("serve").arg("--data-dir").arg(data_dir);
        match log {
            Some(log) => {
                command
                    .args(["--log", "vibe_kanban_mcp=debug"])
                    .stderr(fs::File::create(log)?);
            }
            None => {
                command.stderr(Stdio::null());
            }
        }
        Self::start(command)
    }

    /// Starts any stdio MCP server: `command` with its stdin and stdout piped.
    fn start(mut command: Command) -> anyhow::Result<Self> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {:?}", command.get_program()))?;
        let stdin = child.stdin.take().context("child has no stdin")?;
        let stdout = child.stdout.take().context("child has no stdout")?;
        Ok(Server {
            child,
            stdin: Some(stdin),
            stdout: BufReader::new(stdout),
            last_id: 0,
            line: String::new(),
        })
    }

    fn next_id(&mut self) -> u64 {
        self.last_id += 1;
        self.last_id
    }

    /// Writes one message as one line.
    fn send(&mut self, message: &str) -> anyhow::Result<()> {
        let stdin = self.stdin.as_mut().context("stdin already closed")?;
        stdin.write_all(message.as_bytes())?;
        stdin.write_all(b"\n")?;
        stdin.flush().context("writing to the server")
    }

    /// Reads the next line the server writes.
    fn read_line(&mut self) -> anyhow::Result<String> {
        self.line.clear();
        let read = self
            .stdout
            .read_line(&mut self.line)
            .context("reading from the server")?;
        ensure!(read > 0, "the server closed stdout (did it crash?)");
        Ok(std::mem::take(&mut self.line))
    }

    fn handshake(&mut self) -> anyhow::Result<()> {
        let id = self.next_id();
        self.send(&initialize_request(id))?;
        self.reply(id)?;
        self.send(&initialized_notification())
    }

    /// Reads lines until the reply to `id`, skipping notifications.
    fn reply(&mut self, id: u64) -> anyhow::Result<Value> {
        loop {
            let line = self.read_line()?;
            let message: Value = serde_json::from_str(&line).context("reply is not JSON")?;
            if message["id"] == id {
                return Ok(message);
            }
            ensure!(message["id"].is_null(), "reply to another request: {line}");
        }
    }

    /// One timed `tools/call`; a JSON-RPC error or a tool error fails the run.
    fn call(&mut self, tool: &str, arguments: Value) -> anyhow::Result<Reply> {
        let id = self.next_id();
        let request = json!({
            "jsonrpc": "2.0",
            "id": id,
            "method": "tools/call",
            "params": { "name": tool, "arguments": arguments },
        })
        .to_string();
        let started = Instant::now();
        self.send(&request)?;
        // Notifications are not expected here; `reply` skips them if they come.
        let line = self.read_line()?;
        let elapsed = started.elapsed();
        let mut message: Value = serde_json::from_str(&line).context("reply is not JSON")?;
        if message["id"] != id {
            ensure!(message["id"].is_null(), "reply to another request: {line}");
            message = self.reply(id)?;
        }
        let result = message
            .get_mut("result")
            .map(Value::take)
            .with_context(|| format!("{tool} failed: {message}"))?;
        ensure!(
            result["isError"] != true,
            "{tool} returned a tool error: {}",
            result["content"]
        );
        Ok(Reply { result, elapsed })
    }

    /// Memory figures from /proc/<pid>/status.
    fn peak_rss(&self) -> anyhow::Result<PeakRss> {
        let path = format!("/proc/{}/status", self.child.id());
        let status = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let field = |name: &str| -> anyhow::Result<u64> {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .with_context(|| format!("no {name} in {path}"))
        };
        Ok(PeakRss {
            vm_hwm_kb: field("VmHWM")?,
            vm_rss_kb: field("VmRSS")?,
            anon_kb: field("RssAnon")?,
            file_kb: field("RssFile")?,
            shmem_kb: field("RssShmem")?,
            threads: field("Threads")?,
        })
    }

    /// Closes stdin, which ends the session, and waits for a clean exit.
    fn close(mut self) -> anyhow::Result<()> {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait()? {
                ensure!(status.success(), "the server exited with {status}");
                return Ok(());
            }
            if Instant::now() > deadline {
                self.child.kill()?;
                bail!("the server did not exit within 10 s of stdin closing");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

fn initialize_request(id: u64) -> String {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": { "name": "vibe-kanban-mcp-bench", "version": "0" },
        },
    })
    .to_string()
}

fn initialized_notification() -> String {
    json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }).to_string()
}

/// The nearest-rank percentile of sorted `samples`.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// µs below 1 ms, else ms.
fn show(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1_000.0 {
        format!("{us:.0} µs")
    } else {
        format!("{:.2} ms", us / 1000.0)
    }
}

fn report(
    bin: &Path,
    rows: &[Series],
    peak: &PeakRss,
    load_before: &str,
) -> Result<String, std::fmt::Error> {
    let with_server = rows.iter().any(|s| !s.server.is_empty());
    let mb = |kb: u64| kb as f64 / 1024.0;
    let mut out = String::new();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    writeln!(
        out,
        "\nvibe-kanban-mcp stdio benchmark — {} — {} — {cores} cores, kernel {}, \
         load average {load_before} before, {} after\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        bin.display(),
        kernel.trim(),
        load_average()
    )?;
    write!(out, "| measurement | n | p50 | p95 | p99 | min | max |")?;
    if with_server {
        write!(out, " server p50 | server p95 |")?;
    }
    write!(out, "\n|---|--:|--:|--:|--:|--:|--:|")?;
    if with_server {
        write!(out, "--:|--:|")?;
    }
    out.push('\n');
    for series in rows {
        let mut client = series.client.clone();
        client.sort_unstable();
        let (Some(min), Some(max)) = (client.first(), client.last()) else {
            continue;
        };
        write!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            series.name,
            client.len(),
            show(percentile(&client, 50.0)),
            show(percentile(&client, 95.0)),
            show(percentile(&client, 99.0)),
            show(*min),
            show(*max),
        )?;
        if with_server {
            let mut server = series.server.clone();
            server.sort_unstable();
            if server.is_empty() {
                write!(out, " – | – |")?;
            } else {
                write!(
                    out,
                    " {} | {} |",
                    show(percentile(&server, 50.0)),
                    show(percentile(&server, 95.0))
                )?;
            }
        }
        out.push('\n');
    }
    writeln!(
        out,
        "| peak RSS of the tools/call server (VmHWM) | 1 | {:.1} MB | | | | |{}",
        mb(peak.vm_hwm_kb),
        if with_server { " | |" } else { "" }
    )?;
    writeln!(
        out,
        "\nAt the end the server's VmRSS was {:.1} MB: {:.1} MB anonymous, {:.1} MB file-backed \
         (binary, libraries, WAL index), {:.1} MB shared memory; {} threads. Round trips are sequential, one request \
         in flight.",
        mb(peak.vm_rss_kb),
        mb(peak.anon_kb),
        mb(peak.file_kb),
        mb(peak.shmem_kb),
        peak.threads
    )?;
    Ok(out)
}

/// kanban-mcp, the peer the stdio figures are compared with: a Python MCP
/// server over SQLite, installed from PyPI into a venv under `target/`.
const PEER_PACKAGE: &str = "kanban-mcp==0.2.0";
/// Tasks in each server's project for the compared `list_tasks`.
const PEER_TASKS: usize = 50;
/// Cold starts per server in the comparison.
const PEER_COLD_STARTS: usize = 20;
/// Measured calls per server and compared phase, made in rounds that
/// alternate between the two servers so both see the same machine.
const PEER_LIST_CALLS: usize = 1_000;
const PEER_CREATE_CALLS: usize = 500;
const PEER_ROUNDS: usize = 10;

/// The two servers of the comparison; the harness, the client code and the
/// workload are the same for both, only the tool names and arguments differ.
#[derive(Clone, Copy, PartialEq)]
enum Contender {
    Ours,
    KanbanMcp,
}

/// Installs kanban-mcp into `target/kanban-mcp-venv` (once) and returns its
/// `kanban-mcp` executable, or `None` with the reason printed when it cannot
/// be installed (no Python, offline).
fn install_peer() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/kanban-mcp-venv");
    let exe = venv.join("bin/kanban-mcp");
    let skip = |why: String| {
        eprintln!(
            "skipping the comparison with kanban-mcp: {why}. It needs python3 with venv and \
             access to PyPI once; the venv stays in {} for later runs.",
            venv.display()
        );
        None
    };
    let python = std::env::var("VK_BENCH_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    if !venv.join("bin/pip").is_file() {
        eprintln!("creating a venv for kanban-mcp in {}", venv.display());
        match Command::new(&python)
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .output()
        {
            Ok(out) if out.status.success() => {}
            Ok(out) => {
                return skip(format!(
                    "`{python} -m venv` failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            Err(e) => return skip(format!("cannot run {python}: {e}")),
        }
    }
    let installed = Command::new(venv.join("bin/pip"))
        .args(["show", "--quiet", "kanban-mcp"])
        .output()
        .is_ok_and(|out| out.status.success() && exe.is_file());
    if !installed {
        eprintln!("pip install {PEER_PACKAGE}");
        match Command::new(venv.join("bin/pip"))
            .args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                PEER_PACKAGE,
            ])
            .output()
        {
            Ok(out) if out.status.success() && exe.is_file() => {}
            Ok(out) => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                let last = stderr.lines().last().unwrap_or("").trim().to_owned();
                return skip(format!(
                    "`pip install {PEER_PACKAGE}` failed (offline?): {last}"
                ));
            }
            Err(e) => return skip(format!("cannot run pip: {e}")),
        }
    }
    Some(exe)
}

impl Contender {
    fn name(self) -> &'static str {
        match self {
            Contender::Ours => "vibe-kanban-mcp",
            Contender::KanbanMcp => "kanban-mcp",
        }
    }

    /// The server's command on a data directory of its own. kanban-mcp keeps
    /// its database at `KANBAN_SQLITE_PATH` and logs to `$HOME/.kanban_mcp`.
    fn command(self, exe: &Path, dir: &Path) -> Command {
        let mut command = Command::new(exe);
        match self {
            Contender::Ours => {
                command.arg("serve").arg("--data-dir").arg(dir.join("data"));
            }
            Contender::KanbanMcp => {
                command
                    .env("HOME", dir)
                    .env("KANBAN_BACKEND", "sqlite")
                    .env("KANBAN_SQLITE_PATH", dir.join("kanban.db"))
                    .env_remove("KANBAN_PROJECT_DIR")
                    .env_remove("CLAUDE_PROJECT_DIR")
                    .current_dir(dir);
            }
        }
        command.stderr(Stdio::null());
        command
    }

    /// Makes the project the calls work on; returns what names it in them
    /// (our project id; kanban-mcp keeps a current project per process).
    fn open_project(self, server: &mut Server, dir: &Path) -> anyhow::Result<Value> {
        match self {
            Contender::Ours => {
                let reply = server.call("create_project", json!({ "name": "bench" }))?;
                Ok(reply.result["structuredContent"]["id"].clone())
            }
            Contender::KanbanMcp => {
                let project = dir.join("project");
                fs::create_dir_all(&project)?;
                server.call(
                    "set_current_project",
                    json!({ "project_dir": project.to_string_lossy() }),
                )?;
                Ok(Value::Null)
            }
        }
    }

    /// A durable create of task `i` with a 200-character description.
    fn create(self, project: &Value, i: usize) -> (&'static str, Value) {
        let title = format!("Task {i}: make the thing do the other thing");
        let description = peer_description(i);
        match self {
            Contender::Ours => (
                "create_task",
                json!({ "project_id": project, "title": title, "description": description }),
            ),
            Contender::KanbanMcp => (
                "new_item",
                json!({ "item_type": "issue", "title": title, "description": description }),
            ),
        }
    }

    /// The first page of 50 tasks.
    fn list(self, project: &Value) -> (&'static str, Value) {
        match self {
            Contender::Ours => (
                "list_tasks",
                json!({ "project_id": project, "limit": PAGE }),
            ),
            Contender::KanbanMcp => ("list_items", json!({ "limit": PAGE })),
        }
    }

    /// How many tasks a list reply holds (kanban-mcp answers with JSON text).
    fn rows(self, result: &Value) -> anyhow::Result<usize> {
        match self {
            Contender::Ours => Ok(result["structuredContent"]["tasks"]
                .as_array()
                .map_or(0, Vec::len)),
            Contender::KanbanMcp => {
                let text = result["content"][0]["text"]
                    .as_str()
                    .context("list_items returned no text")?;
                let body: Value = serde_json::from_str(text).context("list_items text")?;
                Ok(body["items"].as_array().map_or(0, Vec::len))
            }
        }
    }
}

/// A 200-character task description, different for every task.
fn peer_description(i: usize) -> String {
    let mut text = format!(
        "Task {i}. Change the parser so that a line that cannot be read is answered with an \
         error that names it, keep reading the next line, and add a test that sends both kinds"
    );
    while text.len() < 200 {
        text.push('.');
    }
    text.truncate(200);
    text
}

/// One server of the comparison, with its project set up.
struct Contestant {
    kind: Contender,
    server: Server,
    project: Value,
    created: usize,
    _dir: tempfile::TempDir,
}

/// Our server and kanban-mcp driven the same way in one run: cold start,
/// `list_tasks` of 50 tasks, durable `create_task`. Returns (ours, theirs)
/// series in the same order.
fn compare_with_peer(bin: &Path, peer: &Path) -> anyhow::Result<Vec<(Series, Series)>> {
    let exe = |kind| match kind {
        Contender::Ours => bin,
        Contender::KanbanMcp => peer,
    };
    let kinds = [Contender::Ours, Contender::KanbanMcp];

    // Cold starts alternate between the two, each on its own set-up data dir.
    eprintln!("comparison: cold starts");
    let dirs = [tempfile::tempdir()?, tempfile::tempdir()?];
    let mut cold =
        kinds.map(|kind| Series::new(format!("cold start → initialize reply ({})", kind.name())));
    for round in 0..=PEER_COLD_STARTS {
        for (index, kind) in kinds.into_iter().enumerate() {
            let started = Instant::now();
            let mut server = Server::start(kind.command(exe(kind), dirs[index].path()))?;
            let id = server.next_id();
            server.send(&initialize_request(id))?;
            let reply = server.reply(id)?;
            let elapsed = started.elapsed();
            ensure!(
                reply["result"]["protocolVersion"].is_string(),
                "{}: unexpected initialize reply: {reply}",
                kind.name()
            );
            server.send(&initialized_notification())?;
            server.close()?;
            // The first start of each creates its database; it is not timed.
            if round > 0 {
                cold[index].client.push(elapsed);
            }
        }
    }

    let mut contestants = Vec::new();
    for kind in kinds {
        let dir = tempfile::tempdir()?;
        let mut server = Server::start(kind.command(exe(kind), dir.path()))?;
        server.handshake()?;
        let project = kind.open_project(&mut server, dir.path())?;
        let mut contestant = Contestant {
            kind,
            server,
            project,
            created: 0,
            _dir: dir,
        };
        eprintln!("comparison: seeding {PEER_TASKS} tasks in {}", kind.name());
        for _ in 0..PEER_TASKS {
            contestant.create()?;
        }
        for _ in 0..WARMUP_CALLS {
            contestant.list()?;
        }
        contestants.push(contestant);
    }

    eprintln!("comparison: list_tasks");
    let mut list = kinds.map(|kind| Series::new(format!("list_tasks, 50 of 50 ({})", kind.name())));
    for _ in 0..PEER_ROUNDS {
        for (index, contestant) in contestants.iter_mut().enumerate() {
            for _ in 0..PEER_LIST_CALLS / PEER_ROUNDS {
                list[index].client.push(contestant.list()?);
            }
        }
    }
    eprintln!("comparison: create_task");
    let mut create =
        kinds.map(|kind| Series::new(format!("create_task, durable ({})", kind.name())));
    for _ in 0..PEER_ROUNDS {
        for (index, contestant) in contestants.iter_mut().enumerate() {
            for _ in 0..PEER_CREATE_CALLS / PEER_ROUNDS {
                create[index].client.push(contestant.create()?);
            }
        }
    }
    for contestant in contestants {
        contestant.server.close()?;
    }
    Ok([cold, list, create]
        .into_iter()
        .map(|[ours, theirs]| (ours, theirs))
        .collect())
}

impl Contestant {
    fn create(&mut self) -> anyhow::Result<Duration> {
        let (tool, args) = self.kind.create(&self.project, self.created);
        self.created += 1;
        Ok(self.server.call(tool, args)?.elapsed)
    }

    fn list(&mut self) -> anyhow::Result<Duration> {
        let (tool, args) = self.kind.list(&self.project);
        let reply = self.server.call(tool, args)?;
        let rows = self.kind.rows(&reply.result)?;
        ensure!(
            rows == PAGE,
            "{}: {tool} returned {rows} rows, not {PAGE}",
            self.kind.name()
        );
        Ok(reply.elapsed)
    }
}

/// Peak RSS of an idle server: `serve --data-dir <empty dir>`, `initialize`,
/// `notifications/initialized` and `tools/list`, then 2 s of nothing.
fn idle_rss(command: Command) -> anyhow::Result<PeakRss> {
    let mut server = Server::start(command)?;
    server.handshake()?;
    let id = server.next_id();
    server.send(&json!({ "jsonrpc": "2.0", "id": id, "method": "tools/list" }).to_string())?;
    let reply = server.reply(id)?;
    ensure!(
        reply["result"]["tools"].is_array(),
        "tools/list failed: {reply}"
    );
    std::thread::sleep(Duration::from_secs(2));
    let peak = server.peak_rss()?;
    server.close()?;
    Ok(peak)
}

/// The comparison as a markdown table, with theirs ÷ ours for each row.
fn peer_report(
    pairs: &[(Series, Series)],
    idle: &[(&str, PeakRss)],
) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    let sorted = |series: &Series| {
        let mut samples = series.client.clone();
        samples.sort_unstable();
        samples
    };
    if !pairs.is_empty() {
        writeln!(
            out,
            "\nvibe-kanban-mcp against {PEER_PACKAGE} over stdio, same client, same run \
             (rounds alternate between the two servers):\n"
        )?;
        writeln!(
            out,
            "| measurement | n | vibe-kanban-mcp p50 | p99 | kanban-mcp p50 | p99 | p50 ratio | p99 ratio |"
        )?;
        writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|")?;
        for (ours, theirs) in pairs {
            let (a, b) = (sorted(ours), sorted(theirs));
            if a.is_empty() || b.is_empty() {
                continue;
            }
            let ratio = |p| percentile(&b, p).as_secs_f64() / percentile(&a, p).as_secs_f64();
            let name = ours.name.replace(" (vibe-kanban-mcp)", "");
            writeln!(
                out,
                "| {name} | {} | {} | {} | {} | {} | **{:.1}×** | {:.1}× |",
                a.len(),
                show(percentile(&a, 50.0)),
                show(percentile(&a, 99.0)),
                show(percentile(&b, 50.0)),
                show(percentile(&b, 99.0)),
                ratio(50.0),
                ratio(99.0),
            )?;
        }
    }
    let mb = |kb: u64| kb as f64 / 1024.0;
    for (name, peak) in idle {
        writeln!(
            out,
            "\nIdle {name} (initialize + tools/list, 2 s): VmHWM {:.1} MB, VmRSS {:.1} MB \
             ({:.1} MB anonymous, {:.1} MB file-backed), {} threads.",
            mb(peak.vm_hwm_kb),
            mb(peak.vm_rss_kb),
            mb(peak.anon_kb),
            mb(peak.file_kb),
            peak.threads
        )?;
    }
    Ok(out)
}
