//! The HTTP server (`serve --http`) driven by the official Python MCP SDK
//! (`mcp>=2.3,<3`): Streamable HTTP at `/mcp` in the SDK's `auto` mode
//! (2026-07-28 `server/discover`) and `legacy` mode (the initialize
//! handshake), and the legacy 2024-11-05 HTTP+SSE transport at `/sse`, each
//! authenticated with an API key as a bearer token. The script also checks
//! that a wrong token is refused with 401.
//!
//! The SDK lives in a virtualenv that `scripts/test` creates
//! (`target/py-venv`); `VK_TEST_PYTHON` may point at another interpreter.

use crate::common;
use crate::http_support;

use std::path::PathBuf;

use common::DataDir;
use http_support::HttpServer;

fn python() -> PathBuf {
    if let Some(path) = std::env::var_os("VK_TEST_PYTHON") {
        return PathBuf::from(path);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/py-venv/bin/python");
    assert!(
        venv.exists(),
        "the Python MCP SDK is not installed: run `scripts/test` (it creates {}), or set VK_TEST_PYTHON",
        venv.display()
    );
    venv
}

/// Runs `tests/python/http_client.py` against a fresh server over
/// `transport` ("streamable" or "sse") in the SDK's `mode`; when `protocol`
/// is given, the SDK must negotiate that version.
fn run_python_http_client(transport: &str, mode: &str, protocol: Option<&str>) {
    let data = DataDir::new();
    let key = data.create_key("default", "python-http", "read,write");
    let server = HttpServer::start(data.path(), &[], &[]);
    let endpoint = if transport == "sse" { "/sse" } else { "/mcp" };
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/http_client.py");
    let mut command = std::process::Command::new(python());
    command
        .arg(&script)
        .arg(server.url(endpoint))
        .arg(&key)
        .args(["--transport", transport, "--mode", mode, "--timeout", "90"]);
    if let Some(protocol) = protocol {
        command.args(["--expect-protocol", protocol]);
    }
    let out = command.output().expect("run the Python client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "Python SDK HTTP client ({transport}, {mode}) failed:\n{stdout}\n{stderr}\n--- server log ---\n{}",
        server.log_text()
    );
    assert!(
        stdout.contains("python-sdk-http: ") && stdout.contains("checks passed"),
        "{stdout}"
    );

    // What the client made is in the database, attributed to its key.
    assert_eq!(
        data.count("SELECT COUNT(*) FROM projects WHERE name LIKE 'py-http-%'"),
        1,
        "the client's project is in the database"
    );
    assert_eq!(
        data.count(
            "SELECT COUNT(*) FROM tasks t JOIN projects p ON p.id = t.project_id WHERE p.name LIKE 'py-http-%'"
        ),
        2,
        "the client's two tasks are in the database"
    );
    assert_eq!(
        data.count(
            "SELECT COUNT(*) FROM audit_logs a JOIN mcp_api_keys k ON k.id = a.api_key_id \
             WHERE k.name = 'python-http' AND a.action = 'create' AND a.entity_type IN ('project', 'task')"
        ),
        3,
        "the three creations are audited under the client's key"
    );
}

#[test]
fn python_sdk_streamable_http_auto_mode() {
    run_python_http_client("streamable", "auto", Some("2026-07-28"));
}

#[test]
fn python_sdk_streamable_http_legacy_handshake() {
    run_python_http_client("streamable", "legacy", Some("2025-11-25"));
}

/// The SDK's default mode over SSE: its `server/discover` probe travels over
/// the SSE session too, so the version is whatever the server answers.
#[test]
fn python_sdk_legacy_sse_auto_mode() {
    run_python_http_client("sse", "auto", None);
}

#[test]
fn python_sdk_legacy_sse_legacy_handshake() {
    run_python_http_client("sse", "legacy", Some("2025-11-25"));
}
