//! Load benchmark of the real release binary over HTTP (issue #4, item 8;
//! issue #13, item 2):
//!
//! 1. **Throughput.** Seeds a project with [`SEED_TASKS`] tasks (descriptions
//!    of [`DESCRIPTION_CHARS`] characters) through the server, then
//!    [`CLIENTS`] keep-alive connections drive three loads one after the
//!    other on the same server: `GET /healthz` (the floor: HTTP plus one
//!    `SELECT 1`), `get_project`, and `list_tasks`, whose rates are also
//!    printed as shares of the floor's (issue #13). The calls are
//!    `tools/call list_tasks {"project_id": …, "limit": 50}` (and
//!    `get_project`) POSTs to `/mcp` in stateless mode (protocol 2026-07-28:
//!    no `initialize`, no session; every request carries
//!    `MCP-Protocol-Version`, the SEP-2243 `Mcp-Method`/`Mcp-Name` headers and
//!    the per-request `_meta` that rmcp requires).
//!
//!    The load comes from `wrk` (Debian package `wrk`) with `benches/http.lua`,
//!    which checks every reply (status 200 and, for a call, `"isError":false`
//!    plus a string of the expected result) with a plain substring search:
//!    the client runs on the same cores as the server, so it must spend as
//!    little CPU as it can, and the same for a 25 KB reply as for a 40-byte
//!    /healthz one. Without wrk (or with `VK_BENCH_CLIENT=builtin`) the
//!    harness's own reqwest clients drive the load, each with one call in
//!    flight, and say so. Each load has an unmeasured warm-up; calls
//!    completed within the measured run give calls/s and latency
//!    percentiles. The server's CPU time over the run (cores busy, CPU per
//!    call), the load client's, and the server's own tool time (from
//!    `/metrics`) are reported beside them.
//! 2. **Idle streams.** A fresh server on the same data directory; the
//!    harness opens [`STREAMS`] legacy SSE streams (`GET /sse`), reads the
//!    first `endpoint` event on each, keeps them open and reports the
//!    server's VmRSS and VmHWM before, with and after the streams.
//!
//! Everything is on loopback, every loop is bounded and the harness stops by
//! itself. The server runs with `--rate-limit 0` (the default limit of 100
//! calls/s per key and tool would otherwise cap the load). Results are
//! printed as a markdown table; `BENCHMARKS.md` says how to read them. Run
//! by hand, not in CI:
//!
//! ```text
//! cargo build --release && cargo bench --bench http
//! ```
//!
//! - `VK_BENCH_BIN`: the binary to run (default `target/release/vibe-kanban-mcp`).
//! - `VK_BENCH_CLIENTS`, `VK_BENCH_SECONDS`, `VK_BENCH_STREAMS`: override the
//!   number of connections (32), the measured seconds (10) and the number of
//!   SSE streams (1,000).
//! - `VK_BENCH_CLIENT=builtin`: the in-process client even when wrk is there.
//!
//! The load client runs on the same machine as the server and competes with
//! it for CPU; the client's CPU share is printed so that can be judged.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    fs,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, bail, ensure};
use futures::{StreamExt, stream::BoxStream};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::{Value, json};

/// Tasks in the benchmarked project.
const SEED_TASKS: usize = 60;
/// Rows per list_tasks page.
const PAGE: usize = 50;
/// Characters of each seeded task's description.
const DESCRIPTION_CHARS: usize = 200;
/// Concurrent load clients, each with one connection and one call in flight.
const CLIENTS: usize = 32;
/// Unmeasured seconds of load before the window.
const WARMUP: Duration = Duration::from_secs(2);
/// Measured seconds of load.
const SECONDS: u64 = 10;
/// Idle legacy SSE streams held open.
const STREAMS: usize = 1_000;
/// SSE streams being opened at once.
const OPEN_CONCURRENCY: usize = 32;
/// Every this many calls, a client parses a reply in full (outside its
/// timed window); the others get a cheap substring check.
const FULL_CHECK_EVERY: usize = 256;
const PROTOCOL_VERSION: &str = "2026-07-28";
const STATUSES: [&str; 5] = ["todo", "inprogress", "inreview", "done", "cancelled"];

/// Aims from issue #4, item 8.
const AIM_CALLS_PER_SECOND: f64 = 5_000.0;
const AIM_P99: Duration = Duration::from_millis(20);
const AIM_STREAMS_RSS_MB: f64 = 100.0;
/// Aims from issue #13, item 2, as shares of the `/healthz` rate of the same run.
const AIM_LIST_TASKS_SHARE: f64 = 0.30;
const AIM_GET_PROJECT_SHARE: f64 = 0.50;
/// Issue #13, item 3: what 1,000 idle SSE streams may add (per stream ≤ 20 KB).
const AIM_STREAM_KB: f64 = 20.0;

fn main() -> anyhow::Result<()> {
    // reqwest is built without a bundled crypto provider; use ring, as the
    // server does.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bin = server_binary()?;
    let settings = Settings::from_env()?;
    eprintln!("benchmarking {} ({settings:?})", bin.display());
    let machine = Machine::read();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join("data");
    let key = create_key(&bin, &data_dir)?;

    let load = {
        let server = Server::start(&bin, &data_dir)?;
        let load = runtime.block_on(load_phase(&server, &key, &settings))?;
        server.stop()?;
        load
    };
    let streams = {
        let server = Server::start(&bin, &data_dir)?;
        let streams = runtime.block_on(streams_phase(&server, &key, settings.streams))?;
        server.stop()?;
        streams
    };
    let load_after = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    print!(
        "{}",
        report(
            &bin,
            &settings,
            &machine,
            load_after.trim(),
            &load,
            &streams
        )
    );
    Ok(())
}

#[derive(Debug, Clone)]
struct Settings {
    clients: usize,
    seconds: u64,
    streams: usize,
    client: LoadClient,
}

/// What drives the load.
#[derive(Debug, Clone, Copy)]
enum LoadClient {
    /// wrk (C, epoll, one thread per core): little CPU taken from the server.
    Wrk,
    /// This harness's own reqwest clients.
    Builtin,
}

impl LoadClient {
    /// wrk if it runs and `VK_BENCH_CLIENT` does not say `builtin`.
    fn choose() -> anyhow::Result<Self> {
        match std::env::var("VK_BENCH_CLIENT").as_deref() {
            Ok("builtin") => return Ok(LoadClient::Builtin),
            Ok("wrk") | Err(_) => {}
            Ok(other) => bail!("VK_BENCH_CLIENT={other}: use wrk or builtin"),
        }
        let found = Command::new("wrk")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !found {
            eprintln!(
                "wrk is not installed (Debian: apt-get install wrk): falling back to the \
                 in-process load client. It parses replies and competes with the server for \
                 CPU, which favours the floor's tiny /healthz replies: read the shares as \
                 lower than with wrk."
            );
            return Ok(LoadClient::Builtin);
        }
        Ok(LoadClient::Wrk)
    }

    fn describe(self) -> String {
        match self {
            LoadClient::Wrk => format!(
                "wrk, {} threads, every reply checked by benches/http.lua",
                Machine::cores()
            ),
            LoadClient::Builtin => "the harness's in-process reqwest clients (wrk not used)".into(),
        }
    }
}

impl Settings {
    fn from_env() -> anyhow::Result<Self> {
        fn var(name: &str, default: u64, max: u64) -> anyhow::Result<u64> {
            let Ok(text) = std::env::var(name) else {
                return Ok(default);
            };
            let value: u64 = text
                .parse()
                .with_context(|| format!("{name}={text} is not a number"))?;
            ensure!((1..=max).contains(&value), "{name} must be 1..={max}");
            Ok(value)
        }
        Ok(Settings {
            clients: var("VK_BENCH_CLIENTS", CLIENTS as u64, 1_024)? as usize,
            seconds: var("VK_BENCH_SECONDS", SECONDS, 300)?,
            streams: var("VK_BENCH_STREAMS", STREAMS as u64, 10_000)? as usize,
            client: LoadClient::choose()?,
        })
    }
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

/// What the machine looked like when the run started.
struct Machine {
    cores: usize,
    kernel: String,
    loadavg: String,
    /// Other compilers running when the benchmark started (shared machine).
    rustc: usize,
}

impl Machine {
    fn cores() -> usize {
        std::thread::available_parallelism().map_or(1, usize::from)
    }

    fn read() -> Self {
        let rustc = fs::read_dir("/proc")
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|e| {
                        fs::read_to_string(e.path().join("comm"))
                            .is_ok_and(|comm| comm.trim() == "rustc")
                    })
                    .count()
            })
            .unwrap_or(0);
        Machine {
            cores: Machine::cores(),
            kernel: fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            loadavg: fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            rustc,
        }
    }
}

/// `keys create` on the data directory (which also migrates it); returns the key.
fn create_key(bin: &Path, data_dir: &Path) -> anyhow::Result<String> {
    let output = Command::new(bin)
        .args([
            "keys",
            "create",
            "--workspace",
            "default",
            "--name",
            "bench",
        ])
        .args(["--scopes", "read,write", "--data-dir"])
        .arg(data_dir)
        .env_remove("VK_API_KEY")
        .stdin(Stdio::null())
        .output()
        .context("running keys create")?;
    ensure!(
        output.status.success(),
        "keys create failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let key = String::from_utf8(output.stdout)?.trim().to_owned();
    ensure!(key.starts_with("vk_"), "keys create printed {key:?}");
    Ok(key)
}

/// A `vibe-kanban-mcp serve --http 127.0.0.1:0 --rate-limit 0` child.
struct Server {
    child: Child,
    /// "127.0.0.1:PORT"
    addr: String,
    /// The last lines the server wrote to stderr, for error messages.
    logs: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(bin: &Path, data_dir: &Path) -> anyhow::Result<Self> {
        let mut child = Command::new(bin)
            .args(["serve", "--http", "127.0.0.1:0", "--rate-limit", "0"])
            .args(["--log", "info,rmcp=error", "--data-dir"])
            .arg(data_dir)
            .env_remove("VK_API_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let stderr = child.stderr.take().context("child has no stderr")?;
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&logs);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("serving MCP on")
                    && let Some(rest) = line.split("http://").nth(1)
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(rest.split('/').next().unwrap_or_default().to_owned());
                }
                if let Ok(mut logs) = sink.lock() {
                    if logs.len() >= 50 {
                        logs.remove(0);
                    }
                    logs.push(line);
                }
            }
        });
        let mut server = Server {
            child,
            addr: String::new(),
            logs,
        };
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => server.addr = addr,
            Err(_) => bail!("the server did not start: {}", server.log_tail()),
        }
        Ok(server)
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log_tail(&self) -> String {
        self.logs.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    fn memory(&self) -> anyhow::Result<Memory> {
        Memory::of(self.pid())
    }

    /// SIGTERM, then a bounded wait for the graceful exit.
    fn stop(mut self) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .context("running kill")?;
        ensure!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait()? {
                ensure!(status.success(), "the server exited with {status}");
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the server did not exit within 15 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only if `stop` was not reached (an error on the way).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// VmRSS and VmHWM from /proc/PID/status, in kB.
#[derive(Clone, Copy)]
struct Memory {
    rss_kb: u64,
    hwm_kb: u64,
}

impl Memory {
    fn of(pid: u32) -> anyhow::Result<Self> {
        let path = format!("/proc/{pid}/status");
        let status = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let field = |name: &str| -> anyhow::Result<u64> {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .with_context(|| format!("no {name} in {path}"))
        };
        Ok(Memory {
            rss_kb: field("VmRSS:")?,
            hwm_kb: field("VmHWM:")?,
        })
    }
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// User + system CPU time of a process (all its threads) so far.
fn cpu_time(pid: &str) -> anyhow::Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let stat = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // Fields after the command name, which is in parentheses; utime and
    // stime are fields 14 and 15, i.e. the 12th and 13th after it.
    let rest = stat.rsplit_once(')').context("malformed stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields
        .get(11)
        .and_then(|u| u.parse::<u64>().ok())
        .zip(fields.get(12).and_then(|s| s.parse::<u64>().ok()))
        .map(|(u, s)| u + s)
        .context("no utime/stime in stat")?;
    // USER_HZ is 100 on every Linux architecture this runs on.
    Ok(Duration::from_millis(ticks * 10))
}

// ---------------------------------------------------------------------------
// Stateless tools/call
// ---------------------------------------------------------------------------

/// The headers every stateless POST carries.
fn mcp_headers(key: &str, tool: &str) -> anyhow::Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {key}"))?,
    );
    headers.insert(
        ACCEPT,
        HeaderValue::from_static("application/json, text/event-stream"),
    );
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(
        "mcp-protocol-version",
        HeaderValue::from_static(PROTOCOL_VERSION),
    );
    // SEP-2243: rmcp refuses a 2026-07-28 request without these.
    headers.insert("mcp-method", HeaderValue::from_static("tools/call"));
    headers.insert("mcp-name", HeaderValue::from_str(tool)?);
    Ok(headers)
}

/// A 2026-07-28 `tools/call` body: the protocol version and the client's
/// capabilities ride in every request's `_meta` instead of a handshake.
fn call_body(id: u64, tool: &str, arguments: &Value) -> Vec<u8> {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "tools/call",
        "params": {
            "name": tool,
            "arguments": arguments,
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": PROTOCOL_VERSION,
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "vibe-kanban-mcp-bench", "version": "0"},
            },
        },
    })
    .to_string()
    .into_bytes()
}

/// The JSON-RPC message in a reply body: plain JSON, or the `data:` line of
/// an SSE stream carrying one message.
fn reply_message(body: &[u8]) -> anyhow::Result<Value> {
    let text = std::str::from_utf8(body).context("reply is not UTF-8")?;
    let json = match text.trim_start().strip_prefix('{') {
        Some(_) => text.to_owned(),
        None => text
            .lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .map(str::trim)
            .find(|data| data.starts_with('{'))
            .with_context(|| format!("no data line in reply: {text:.300}"))?
            .to_owned(),
    };
    serde_json::from_str(&json).context("reply data is not JSON")
}

/// One stateless call, checked in full; returns the tool's `structuredContent`.
async fn call(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    tool: &str,
    arguments: Value,
) -> anyhow::Result<Value> {
    let response = http
        .post(url)
        .headers(mcp_headers(key, tool)?)
        .body(call_body(1, tool, &arguments))
        .send()
        .await
        .with_context(|| format!("{tool}: request failed"))?;
    let status = response.status();
    ensure!(
        response.headers().get("mcp-session-id").is_none(),
        "{tool}: the server opened a session for a stateless request"
    );
    let body = response.bytes().await?;
    ensure!(
        status.is_success(),
        "{tool}: HTTP {status}: {}",
        String::from_utf8_lossy(&body)
    );
    let mut message = reply_message(&body)?;
    let mut result = message
        .get_mut("result")
        .map(Value::take)
        .with_context(|| format!("{tool} failed: {message}"))?;
    ensure!(
        result["isError"] != true,
        "{tool} returned a tool error: {}",
        result["content"]
    );
    Ok(result["structuredContent"].take())
}

fn load_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(10))
        .build()
        .context("HTTP client")
}

// ---------------------------------------------------------------------------
// Phase 1: list_tasks throughput
// ---------------------------------------------------------------------------

struct LoadResult {
    /// `GET /healthz` (one `SELECT 1`): the server's own HTTP floor.
    healthz: Driven,
    get_project: Driven,
    list: Driven,
    /// Bytes of one list_tasks reply.
    reply_bytes: usize,
    /// Mean time inside the list_tasks tool, from the server's histogram.
    tool_mean: Option<Duration>,
    /// Upper bucket bounds holding the 50th and 99th percentile tool time.
    tool_p50_bound: Option<f64>,
    tool_p99_bound: Option<f64>,
    memory_after: Memory,
    memory_before: Memory,
}

/// What one load client measured: `(completion offset from start, latency)`.
struct ClientRun {
    samples: Vec<(Duration, Duration)>,
    /// `(completion offset, error kind)`.
    errors: Vec<(Duration, String)>,
}

/// One request the load clients repeat: a GET, or a POST of a body.
#[derive(Clone)]
struct Request {
    url: String,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
    /// Every reply must contain each of these.
    expect: Vec<String>,
    /// `list_tasks` rows to find when a reply is parsed in full, if any.
    rows: Option<usize>,
}

/// Latency percentiles of the calls in a window.
#[derive(Default, Clone, Copy)]
struct Latency {
    p50: Duration,
    p95: Duration,
    p99: Duration,
    min: Duration,
    max: Duration,
}

impl Latency {
    fn of(sorted: &[Duration]) -> Self {
        Latency {
            p50: percentile(sorted, 50.0),
            p95: percentile(sorted, 95.0),
            p99: percentile(sorted, 99.0),
            min: sorted.first().copied().unwrap_or_default(),
            max: sorted.last().copied().unwrap_or_default(),
        }
    }
}

/// What [`drive`] measured over its window.
struct Driven {
    window: Duration,
    /// Calls completed and checked in the window.
    calls: usize,
    latency: Latency,
    errors: BTreeMap<String, usize>,
    server_cpu: Duration,
    client_cpu: Duration,
    metrics_start: String,
    metrics_end: String,
}

impl Driven {
    fn per_second(&self) -> f64 {
        self.calls as f64 / self.window.as_secs_f64()
    }
}

/// Drives the load with wrk when the run uses it, else with the in-process
/// client.
async fn drive(server: &Server, settings: &Settings, request: &Request) -> anyhow::Result<Driven> {
    match settings.client {
        LoadClient::Wrk => drive_wrk(server, settings, request).await,
        LoadClient::Builtin => drive_builtin(server, settings, request).await,
    }
}

/// The wrk script beside this file.
fn wrk_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/http.lua")
}

/// What one wrk run printed on its `VK_WRK` line.
struct WrkRun {
    fields: BTreeMap<String, u64>,
    /// wrk's CPU time (user + system), read just before it exited.
    cpu: Duration,
}

impl WrkRun {
    fn get(&self, name: &str) -> u64 {
        self.fields.get(name).copied().unwrap_or(0)
    }

    fn micros(&self, name: &str) -> Duration {
        Duration::from_micros(self.get(name))
    }
}

/// Runs wrk for `seconds` with `request` ([`wrk_script`] checks every reply).
fn run_wrk(settings: &Settings, request: &Request, seconds: u64) -> anyhow::Result<WrkRun> {
    let body_file = tempfile::NamedTempFile::new()?;
    if let Some(body) = &request.body {
        fs::write(body_file.path(), body)?;
    }
    let threads = settings.clients.min(Machine::cores().max(1));
    let mut command = Command::new("wrk");
    command
        .arg(format!("--threads={threads}"))
        .arg(format!("--connections={}", settings.clients))
        .arg(format!("--duration={seconds}s"))
        .arg("--timeout=10s")
        .arg("--script")
        .arg(wrk_script())
        .env(
            "VK_WRK_BODY_FILE",
            if request.body.is_some() {
                body_file.path().as_os_str()
            } else {
                std::ffi::OsStr::new("")
            },
        )
        .env("VK_WRK_EXPECT", request.expect.join("\n"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in &request.headers {
        command.arg("--header").arg(format!(
            "{}: {}",
            name.as_str(),
            value.to_str().context("a header value is not text")?
        ));
    }
    command.arg(&request.url);
    let mut child = command.spawn().context("cannot run wrk")?;
    let pid = child.id().to_string();
    let mut cpu = Duration::ZERO;
    // wrk's CPU time, read until it exits (it prints only at the very end).
    while child.try_wait()?.is_none() {
        if let Ok(now) = cpu_time(&pid) {
            cpu = now;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "wrk failed ({}): {stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("VK_WRK "))
        .with_context(|| format!("wrk printed no VK_WRK line: {stdout}"))?;
    let fields = line
        .split_whitespace()
        .filter_map(|pair| pair.split_once('='))
        .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
        .collect();
    Ok(WrkRun { fields, cpu })
}

/// `settings.clients` keep-alive connections from wrk: a warm-up run, then
/// the measured run, with the server's CPU and metrics at its edges.
async fn drive_wrk(
    server: &Server,
    settings: &Settings,
    request: &Request,
) -> anyhow::Result<Driven> {
    let http = load_client()?;
    let warmup = {
        let (settings, request) = (settings.clone(), request.clone());
        tokio::task::spawn_blocking(move || run_wrk(&settings, &request, WARMUP.as_secs()))
    };
    warmup.await??;
    let server_pid = server.pid().to_string();
    let metrics_start = scrape(&http, server).await?;
    let cpu_start = cpu_time(&server_pid)?;
    let run = {
        let (settings, request) = (settings.clone(), request.clone());
        tokio::task::spawn_blocking(move || run_wrk(&settings, &request, settings.seconds))
    };
    let run = run.await??;
    let cpu_end = cpu_time(&server_pid)?;
    let metrics_end = scrape(&http, server).await?;
    let mut errors = BTreeMap::new();
    for (kind, field) in [
        ("HTTP status not 200", "bad_status"),
        ("unexpected reply", "bad_body"),
        ("transport", "errors"),
    ] {
        if run.get(field) > 0 {
            errors.insert(kind.to_owned(), run.get(field) as usize);
        }
    }
    Ok(Driven {
        window: run.micros("duration_us"),
        calls: run.get("ok") as usize,
        latency: Latency {
            p50: run.micros("p50_us"),
            p95: run.micros("p95_us"),
            p99: run.micros("p99_us"),
            min: run.micros("min_us"),
            max: run.micros("max_us"),
        },
        errors,
        server_cpu: cpu_end.saturating_sub(cpu_start),
        client_cpu: run.cpu,
        metrics_start,
        metrics_end,
    })
}

/// Runs `settings.clients` clients, each repeating `request` on its own
/// keep-alive connection, for the warm-up and the measured window: the
/// in-process client, used when wrk is not installed.
async fn drive_builtin(
    server: &Server,
    settings: &Settings,
    request: &Request,
) -> anyhow::Result<Driven> {
    let http = load_client()?;
    let started = Instant::now();
    let window = Duration::from_secs(settings.seconds);
    let window_start = WARMUP;
    let window_end = WARMUP + window;
    let mut clients = Vec::with_capacity(settings.clients);
    for _ in 0..settings.clients {
        let client = load_client()?;
        let request = request.clone();
        clients.push(tokio::spawn(async move {
            let mut run = ClientRun {
                samples: Vec::with_capacity(1 << 16),
                errors: Vec::new(),
            };
            let mut calls = 0usize;
            while started.elapsed() < window_end {
                calls += 1;
                let sent = Instant::now();
                let outcome = async {
                    let builder = match &request.body {
                        Some(body) => client.post(&request.url).body(body.clone()),
                        None => client.get(&request.url),
                    };
                    let response = builder
                        .headers(request.headers.clone())
                        .send()
                        .await
                        .map_err(|e| format!("transport: {}", error_kind(&e)))?;
                    let status = response.status();
                    let reply = response
                        .bytes()
                        .await
                        .map_err(|e| format!("reading body: {}", error_kind(&e)))?;
                    Ok::<_, String>((status, reply))
                }
                .await;
                let elapsed = sent.elapsed();
                let at = started.elapsed();
                let checked = outcome.and_then(|(status, reply)| {
                    if !status.is_success() {
                        return Err(format!("HTTP {status}"));
                    }
                    let text = std::str::from_utf8(&reply).map_err(|_| "not UTF-8".to_owned())?;
                    if !request.expect.iter().all(|e| text.contains(e.as_str())) {
                        return Err("unexpected reply".to_owned());
                    }
                    if let Some(page) = request.rows
                        && calls.is_multiple_of(FULL_CHECK_EVERY)
                    {
                        let message = reply_message(&reply).map_err(|e| e.to_string())?;
                        let rows = message["result"]["structuredContent"]["tasks"]
                            .as_array()
                            .map_or(0, Vec::len);
                        if rows != page {
                            return Err(format!("{rows} rows"));
                        }
                    }
                    Ok(())
                });
                match checked {
                    Ok(()) => run.samples.push((at, elapsed)),
                    Err(kind) => run.errors.push((at, kind)),
                }
            }
            run
        }));
    }

    // CPU and the server's metrics at the window's edges.
    let server_pid = server.pid().to_string();
    tokio::time::sleep_until((started + window_start).into()).await;
    let cpu_start = (cpu_time(&server_pid)?, cpu_time("self")?);
    let metrics_start = scrape(&http, server).await?;
    tokio::time::sleep_until((started + window_end).into()).await;
    let cpu_end = (cpu_time(&server_pid)?, cpu_time("self")?);
    let metrics_end = scrape(&http, server).await?;

    let mut latencies = Vec::new();
    let mut errors = BTreeMap::new();
    let in_window = |at: &Duration| *at >= window_start && *at < window_end;
    for client in clients {
        let run = client.await.context("a load client panicked")?;
        latencies.extend(
            run.samples
                .iter()
                .filter(|(at, _)| in_window(at))
                .map(|(_, l)| *l),
        );
        for (at, kind) in run.errors {
            if in_window(&at) {
                *errors.entry(kind).or_insert(0) += 1;
            }
        }
    }
    latencies.sort_unstable();
    Ok(Driven {
        window,
        calls: latencies.len(),
        latency: Latency::of(&latencies),
        errors,
        server_cpu: cpu_end.0.saturating_sub(cpu_start.0),
        client_cpu: cpu_end.1.saturating_sub(cpu_start.1),
        metrics_start,
        metrics_end,
    })
}

async fn load_phase(server: &Server, key: &str, settings: &Settings) -> anyhow::Result<LoadResult> {
    let http = load_client()?;
    let url = server.url("/mcp");
    let project = call(&http, &url, key, "create_project", json!({"name": "bench"})).await?;
    let project_id = project["id"]
        .as_str()
        .context("create_project returned no id")?
        .to_owned();
    eprintln!("seeding {SEED_TASKS} tasks through the server");
    let description: String = "A description of typical length: what to change, where, and how \
                               to tell it is done, in a sentence or two. "
        .chars()
        .cycle()
        .take(DESCRIPTION_CHARS)
        .collect();
    for i in 0..SEED_TASKS {
        call(
            &http,
            &url,
            key,
            "create_task",
            json!({
                "project_id": project_id,
                "title": format!("Task {i}: make the thing do the other thing"),
                "description": description,
                "status": STATUSES[i % STATUSES.len()],
            }),
        )
        .await?;
    }
    let arguments = json!({"project_id": project_id, "limit": PAGE});
    let page = call(&http, &url, key, "list_tasks", arguments.clone()).await?;
    let rows = page["tasks"].as_array().map_or(0, Vec::len);
    ensure!(
        rows == PAGE && page["total"] == SEED_TASKS,
        "list_tasks returned {rows} rows of {}",
        page["total"]
    );
    // The exact reply, for its size and the cheap check.
    let body = call_body(1, "list_tasks", &arguments);
    let headers = mcp_headers(key, "list_tasks")?;
    let reply_bytes = http
        .post(&url)
        .headers(headers.clone())
        .body(body.clone())
        .send()
        .await?
        .bytes()
        .await?
        .len();
    let memory_before = server.memory()?;

    eprintln!(
        "{} clients × GET /healthz: {} s warm-up, {} s measured",
        settings.clients,
        WARMUP.as_secs(),
        settings.seconds
    );
    let healthz = drive(
        server,
        settings,
        &Request {
            url: server.url("/healthz"),
            headers: HeaderMap::new(),
            body: None,
            expect: vec!["\"status\":\"ok\"".to_owned()],
            rows: None,
        },
    )
    .await?;

    eprintln!("{} clients × get_project", settings.clients);
    let get_project_args = json!({"project_id": project_id});
    call(&http, &url, key, "get_project", get_project_args.clone()).await?;
    let get_project = drive(
        server,
        settings,
        &Request {
            url: url.clone(),
            headers: mcp_headers(key, "get_project")?,
            body: Some(call_body(1, "get_project", &get_project_args)),
            expect: vec!["\"isError\":false".to_owned(), project_id.clone()],
            rows: None,
        },
    )
    .await?;

    eprintln!("{} clients × list_tasks", settings.clients);
    let list = drive(
        server,
        settings,
        &Request {
            url,
            headers,
            body: Some(body),
            expect: vec![
                "\"isError\":false".to_owned(),
                format!("\"total\":{SEED_TASKS}"),
            ],
            rows: Some(PAGE),
        },
    )
    .await?;
    let tool = ToolHistogram::delta(&list.metrics_start, &list.metrics_end, "list_tasks");
    Ok(LoadResult {
        healthz,
        get_project,
        list,
        reply_bytes,
        tool_mean: tool.as_ref().map(ToolHistogram::mean),
        tool_p50_bound: tool.as_ref().and_then(|t| t.bound(0.50)),
        tool_p99_bound: tool.as_ref().and_then(|t| t.bound(0.99)),
        memory_after: server.memory()?,
        memory_before,
    })
}

fn error_kind(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else if error.is_body() || error.is_decode() {
        "body"
    } else {
        "other"
    }
}

async fn scrape(http: &reqwest::Client, server: &Server) -> anyhow::Result<String> {
    let response = http.get(server.url("/metrics")).send().await?;
    ensure!(
        response.status().is_success(),
        "/metrics: {}",
        response.status()
    );
    Ok(response.text().await?)
}

/// The change in one tool's `vk_tool_call_duration_seconds` histogram.
struct ToolHistogram {
    sum: f64,
    count: f64,
    /// `(le, cumulative count)`, in order.
    buckets: Vec<(f64, f64)>,
}

impl ToolHistogram {
    fn parse(text: &str, tool: &str) -> Option<Self> {
        let name = "vk_tool_call_duration_seconds";
        let label = format!("tool=\"{tool}\"");
        let mut histogram = ToolHistogram {
            sum: 0.0,
            count: 0.0,
            buckets: Vec::new(),
        };
        for line in text.lines().filter(|l| l.contains(&label)) {
            let (series, value) = line.rsplit_once(' ')?;
            let value: f64 = value.parse().ok()?;
            if series.starts_with(&format!("{name}_sum")) {
                histogram.sum = value;
            } else if series.starts_with(&format!("{name}_count")) {
                histogram.count = value;
            } else if series.starts_with(&format!("{name}_bucket")) {
                let le = series.split("le=\"").nth(1)?.split('"').next()?;
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                histogram.buckets.push((le, value));
            }
        }
        (histogram.count > 0.0).then_some(histogram)
    }

    fn delta(before: &str, after: &str, tool: &str) -> Option<Self> {
        let before = Self::parse(before, tool)?;
        let after = Self::parse(after, tool)?;
        let buckets = after
            .buckets
            .iter()
            .zip(&before.buckets)
            .map(|((le, a), (_, b))| (*le, a - b))
            .collect();
        let delta = ToolHistogram {
            sum: after.sum - before.sum,
            count: after.count - before.count,
            buckets,
        };
        (delta.count > 0.0).then_some(delta)
    }

    fn mean(&self) -> Duration {
        Duration::from_secs_f64(self.sum / self.count)
    }

    /// The upper bound (seconds) of the bucket holding quantile `q`.
    fn bound(&self, q: f64) -> Option<f64> {
        let target = q * self.count;
        self.buckets
            .iter()
            .find(|(_, cumulative)| *cumulative >= target)
            .map(|(le, _)| *le)
    }
}

// ---------------------------------------------------------------------------
// Phase 2: idle legacy SSE streams
// ---------------------------------------------------------------------------

struct StreamsResult {
    count: usize,
    idle: Memory,
    open: Memory,
    /// Open sessions as the server counts them (`vk_sse_sessions`).
    server_sessions: Option<i64>,
    closed: Memory,
    open_time: Duration,
    /// Time from GET to the `endpoint` event, per stream.
    endpoint_latencies: Vec<Duration>,
}

type EventStream = BoxStream<'static, reqwest::Result<axum::body::Bytes>>;

async fn streams_phase(server: &Server, key: &str, count: usize) -> anyhow::Result<StreamsResult> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(10))
        .build()
        .context("HTTP client")?;
    // Settle: one request so the server has served something, then idle.
    let health = http.get(server.url("/healthz")).send().await?;
    ensure!(
        health.status().is_success(),
        "/healthz: {}",
        health.status()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = server.memory()?;

    eprintln!("opening {count} idle legacy SSE streams");
    let url = server.url("/sse");
    let started = Instant::now();
    let opened: Vec<anyhow::Result<(EventStream, Duration)>> = futures::stream::iter(0..count)
        .map(|_| open_stream(&http, &url, key))
        .buffer_unordered(OPEN_CONCURRENCY)
        .collect()
        .await;
    let open_time = started.elapsed();
    let mut streams = Vec::with_capacity(count);
    let mut endpoint_latencies = Vec::with_capacity(count);
    for result in opened {
        let (stream, latency) = result.with_context(|| server.log_tail())?;
        streams.push(stream);
        endpoint_latencies.push(latency);
    }
    endpoint_latencies.sort_unstable();
    // Let every session's task settle before reading memory.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let open = server.memory()?;
    let server_sessions = scrape(&http, server).await.ok().and_then(|text| {
        text.lines()
            .find_map(|l| l.strip_prefix("vk_sse_sessions "))
            .and_then(|v| v.trim().parse().ok())
    });
    drop(streams);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let closed = server.memory()?;
    Ok(StreamsResult {
        count,
        idle,
        open,
        server_sessions,
        closed,
        open_time,
        endpoint_latencies,
    })
}

/// Opens one `GET /sse` and reads until its `endpoint` event.
async fn open_stream(
    http: &reqwest::Client,
    url: &str,
    key: &str,
) -> anyhow::Result<(EventStream, Duration)> {
    let started = Instant::now();
    let response = tokio::time::timeout(
        Duration::from_secs(10),
        http.get(url)
            .bearer_auth(key)
            .header(ACCEPT, "text/event-stream")
            .send(),
    )
    .await
    .context("GET /sse timed out")??;
    ensure!(
        response.status().is_success(),
        "GET /sse: {}",
        response.status()
    );
    let mut stream: EventStream = response.bytes_stream().boxed();
    let mut seen = Vec::new();
    let deadline = started + Duration::from_secs(10);
    loop {
        let chunk = tokio::time::timeout_at(deadline.into(), stream.next())
            .await
            .context("no endpoint event within 10 s")?
            .context("the stream ended before its endpoint event")??;
        seen.extend_from_slice(&chunk);
        let text = String::from_utf8_lossy(&seen);
        if let Some(at) = text.find("event: endpoint")
            && let Some(end) = text[at..].find("\n\n")
        {
            let event = &text[at..at + end];
            ensure!(
                event.contains("data: /messages?sessionId="),
                "unexpected endpoint event: {event}"
            );
            return Ok((stream, started.elapsed()));
        }
        ensure!(
            seen.len() < 64 * 1024,
            "no endpoint event in the first 64 KiB"
        );
    }
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

/// The nearest-rank percentile of sorted `samples`.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// µs below 10 ms, else ms.
fn show(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 10_000.0 {
        format!("{us:.0} µs")
    } else {
        format!("{:.1} ms", us / 1000.0)
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "yes" } else { "**no**" }
}

fn report(
    bin: &Path,
    settings: &Settings,
    machine: &Machine,
    load_after: &str,
    load: &LoadResult,
    streams: &StreamsResult,
) -> String {
    let mut out = String::new();
    let list = &load.list;
    let lat = &list.latency;
    let errors: usize = list.errors.values().sum();
    let per_second = list.per_second();
    let cores = |d: &Driven| d.server_cpu.as_secs_f64() / d.window.as_secs_f64();
    let cpu_per_call = |d: &Driven, cpu: Duration| {
        if d.calls == 0 {
            Duration::ZERO
        } else {
            cpu / d.calls as u32
        }
    };
    let failed = |d: &Driven| d.errors.values().sum::<usize>();
    let bound = |b: Option<f64>| {
        b.map_or("–".to_owned(), |s| {
            if s.is_infinite() {
                "> 5 s".to_owned()
            } else {
                format!("≤ {}", show(Duration::from_secs_f64(s)))
            }
        })
    };

    let _ = writeln!(
        out,
        "\nvibe-kanban-mcp HTTP benchmark — {} — {} — {} cores, kernel {}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        bin.display(),
        machine.cores,
        machine.kernel
    );
    let _ = writeln!(
        out,
        "load average at start: {} ({} rustc processes running); at end: {load_after}",
        machine.loadavg, machine.rustc
    );
    let _ = writeln!(out, "load client: {}\n", settings.client.describe());
    let _ = writeln!(out, "| measurement | result | aim | met |");
    let _ = writeln!(out, "|---|--:|--:|:-:|");
    let healthz = load.healthz.per_second();
    let share = |rate: f64| if healthz > 0.0 { rate / healthz } else { 0.0 };
    let _ = writeln!(
        out,
        "| GET /healthz (the floor: HTTP + one `SELECT 1`), {} clients: req/s; p50 / p99 | {healthz:.0} (failed: {}); {} / {} | | |",
        settings.clients,
        failed(&load.healthz),
        show(load.healthz.latency.p50),
        show(load.healthz.latency.p99),
    );
    let get_project = load.get_project.per_second();
    let _ = writeln!(
        out,
        "| get_project calls/s; share of /healthz; p50 / p99 | {get_project:.0}; **{:.0} %**; {} / {} | ≥ {:.0} % | {} |",
        100.0 * share(get_project),
        show(load.get_project.latency.p50),
        show(load.get_project.latency.p99),
        100.0 * AIM_GET_PROJECT_SHARE,
        verdict(share(get_project) >= AIM_GET_PROJECT_SHARE && failed(&load.get_project) == 0)
    );
    let _ = writeln!(
        out,
        "| list_tasks share of /healthz | **{:.0} %** | ≥ {:.0} % | {} |",
        100.0 * share(per_second),
        100.0 * AIM_LIST_TASKS_SHARE,
        verdict(share(per_second) >= AIM_LIST_TASKS_SHARE && errors == 0)
    );
    let _ = writeln!(
        out,
        "| list_tasks (limit {PAGE} of {SEED_TASKS}, {DESCRIPTION_CHARS}-character descriptions), {} clients, stateless 2026-07-28: calls/s over {:.1} s | {per_second:.0} | ≥ {AIM_CALLS_PER_SECOND:.0} | {} |",
        settings.clients,
        list.window.as_secs_f64(),
        verdict(per_second >= AIM_CALLS_PER_SECOND && errors == 0)
    );
    let _ = writeln!(
        out,
        "| latency p50 / p95 / p99 | {} / {} / {} | p99 ≤ {} | {} |",
        show(lat.p50),
        show(lat.p95),
        show(lat.p99),
        show(AIM_P99),
        verdict(list.calls > 0 && lat.p99 <= AIM_P99)
    );
    let _ = writeln!(
        out,
        "| latency min / max | {} / {} | | |",
        show(lat.min),
        show(lat.max),
    );
    let error_text = |d: &Driven| {
        if d.errors.is_empty() {
            "0".to_owned()
        } else {
            d.errors
                .iter()
                .map(|(kind, n)| format!("{n} {kind}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let _ = writeln!(
        out,
        "| calls completed / failed in the window (/healthz; get_project; list_tasks) | {} / {}; {} / {}; {} / {} | 0 failed | {} |",
        load.healthz.calls,
        error_text(&load.healthz),
        load.get_project.calls,
        error_text(&load.get_project),
        list.calls,
        error_text(list),
        verdict(errors == 0 && failed(&load.get_project) == 0 && failed(&load.healthz) == 0)
    );
    let _ = writeln!(
        out,
        "| list_tasks reply size | {:.1} KB | | |",
        load.reply_bytes as f64 / 1024.0
    );
    for (name, driven) in [
        ("/healthz", &load.healthz),
        ("get_project", &load.get_project),
        ("list_tasks", list),
    ] {
        let _ = writeln!(
            out,
            "| {name}: server cores busy / server CPU per call; load client cores busy / per call | {:.2} / {}; {:.2} / {} | | |",
            cores(driven),
            show(cpu_per_call(driven, driven.server_cpu)),
            driven.client_cpu.as_secs_f64() / driven.window.as_secs_f64(),
            show(cpu_per_call(driven, driven.client_cpu)),
        );
    }
    let _ = writeln!(
        out,
        "| server time in the list_tasks tool: mean / p50 / p99 (`/metrics` buckets) | {} / {} / {} | | |",
        load.tool_mean.map_or("–".to_owned(), show),
        bound(load.tool_p50_bound),
        bound(load.tool_p99_bound),
    );
    let _ = writeln!(
        out,
        "| server RSS before → after the load (VmRSS), VmHWM | {:.1} → {:.1} MB, {:.1} MB | | |",
        mb(load.memory_before.rss_kb),
        mb(load.memory_after.rss_kb),
        mb(load.memory_after.hwm_kb)
    );
    let el = &streams.endpoint_latencies;
    let _ = writeln!(
        out,
        "| fresh server, idle: VmRSS / VmHWM | {:.1} / {:.1} MB | | |",
        mb(streams.idle.rss_kb),
        mb(streams.idle.hwm_kb)
    );
    let _ = writeln!(
        out,
        "| {} idle SSE streams open: VmRSS / VmHWM | {:.1} / {:.1} MB | < {AIM_STREAMS_RSS_MB:.0} MB | {} |",
        streams.count,
        mb(streams.open.rss_kb),
        mb(streams.open.hwm_kb),
        verdict(
            mb(streams.open.hwm_kb) < AIM_STREAMS_RSS_MB
                && streams.server_sessions == Some(streams.count as i64)
        )
    );
    let per_stream_kb = streams.open.rss_kb.saturating_sub(streams.idle.rss_kb) as f64
        / streams.count.max(1) as f64;
    let _ = writeln!(
        out,
        "| RSS per stream (VmRSS delta / streams) | {per_stream_kb:.1} KB | ≤ {AIM_STREAM_KB:.0} KB | {} |",
        verdict(per_stream_kb <= AIM_STREAM_KB)
    );
    let _ = writeln!(
        out,
        "| sessions the server counts (`vk_sse_sessions`) | {} | {} | {} |",
        streams
            .server_sessions
            .map_or("–".to_owned(), |n| n.to_string()),
        streams.count,
        verdict(streams.server_sessions == Some(streams.count as i64))
    );
    let _ = writeln!(
        out,
        "| time to open all streams ({OPEN_CONCURRENCY} at a time); GET → endpoint event p50 / p99 | {} ; {} / {} | | |",
        show(streams.open_time),
        show(percentile(el, 50.0)),
        show(percentile(el, 99.0))
    );
    let _ = writeln!(
        out,
        "| VmRSS 1 s after the streams closed | {:.1} MB | | |",
        mb(streams.closed.rss_kb)
    );
    let _ = writeln!(
        out,
        "\nServer: `serve --http 127.0.0.1:0 --rate-limit 0`. The load client shares the machine's \
         {} cores with the server. Latency is from sending the request to the last byte of the \
         reply, on keep-alive connections, one call in flight per client.",
        machine.cores
    );
    out
}
