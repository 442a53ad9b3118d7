//! Harness for the HTTP transport: runs `vibe-kanban-mcp serve --http` on an
//! ephemeral loopback port and connects real clients to it.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use rmcp::{
    RoleClient, ServiceExt,
    service::RunningService,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};

pub const BIN: &str = env!("CARGO_BIN_EXE_vibe-kanban-mcp");

/// A running HTTP server process.
pub struct HttpServer {
    child: Child,
    /// "127.0.0.1:PORT"
    pub addr: String,
    /// Every line the server wrote to stderr so far.
    pub logs: Arc<Mutex<Vec<String>>>,
}

impl HttpServer {
    /// Starts the server on `data_dir` with extra `serve` arguments.
    pub fn start(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> HttpServer {
        Self::start_with_fds(data_dir, args, env, None)
    }

    /// Like [`HttpServer::start`], with the process's file descriptor limit
    /// (`RLIMIT_NOFILE`, soft and hard) set to `max_fds`.
    pub fn start_with_fds(
        data_dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        max_fds: Option<u64>,
    ) -> HttpServer {
        let mut command = Command::new(BIN);
        if let Some(max_fds) = max_fds {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit is async-signal-safe and touches no memory
            // of the parent.
            unsafe {
                command.pre_exec(move || {
                    nix::sys::resource::setrlimit(
                        nix::sys::resource::Resource::RLIMIT_NOFILE,
                        max_fds,
                        max_fds,
                    )
                    .map_err(std::io::Error::from)
                });
            }
        }
        command
            .args(["serve", "--http", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .env_remove("VK_API_KEY")
            .env("VK_LOG", "info,rmcp=error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start the server");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&logs);
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("http://").nth(1)
                    && line.contains("serving MCP on")
                    && let Some(tx) = tx.take()
                {
                    let addr = rest.split('/').next().unwrap_or_default().to_owned();
                    let _ = tx.send(addr);
                }
                sink.lock().expect("logs").push(line);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                panic!("the server did not start: {:?}", logs.lock().expect("logs"))
            });
        HttpServer { child, addr, logs }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends a signal by name (TERM, KILL, INT).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for the process to exit (bounded); returns its exit status.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn log_text(&self) -> String {
        self.logs.lock().expect("logs").join("\n")
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A reqwest client. The crate's reqwest is built without a default TLS
/// crypto provider (the server installs ring itself), so install it here too.
pub fn reqwest_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// rmcp's Streamable HTTP client, authenticated with `token`.
pub async fn client(
    server: &HttpServer,
    token: &str,
) -> anyhow::Result<RunningService<RoleClient, ()>> {
    let config = StreamableHttpClientTransportConfig::with_uri(server.url("/mcp"))
        .auth_header(token.to_owned());
    let transport = StreamableHttpClientTransport::with_client(reqwest_client(), config);
    Ok(().serve(transport).await?)
}

/// A plain HTTP client for raw requests.
pub fn http() -> reqwest::Client {
    reqwest_client()
}

/// A JSON-RPC `initialize` request body (protocol 2025-06-18).
pub fn initialize_body() -> serde_json::Value {
    serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}
    })
}
