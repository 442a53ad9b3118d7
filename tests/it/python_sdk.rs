//! The server driven by the official Python MCP SDK (`mcp>=2.3,<3`) over
//! stdio, in each of the SDK's connection modes: `auto` (2026-07-28 discover
//! with fallback), `legacy` (the initialize handshake) and pinned 2026-07-28.
//!
//! The SDK lives in a virtualenv that `scripts/test` creates
//! (`target/py-venv`); `VK_TEST_PYTHON` may point at another interpreter.

use crate::common;

use std::path::PathBuf;

use common::{BIN, DataDir};

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

/// Runs `tests/python/{script}` against the binary on `data` with `args`;
/// it must pass its checks.
fn run_script(script: &str, data: &DataDir, args: &[&str]) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(script);
    let out = std::process::Command::new(python())
        .arg(&path)
        .arg(BIN)
        .arg(data.path())
        .args(args)
        .env("VK_LOG", "error")
        .output()
        .expect("run the Python client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "Python SDK client {script} {args:?} failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("checks passed"), "{stdout}");
}

fn run_python_client(mode: &str) {
    let data = DataDir::new();
    run_script("stdio_client.py", &data, &["--mode", mode]);
    assert!(
        data.count("SELECT COUNT(*) FROM tasks") >= 3,
        "the client's tasks are in the database"
    );
}

#[test]
fn python_sdk_auto_mode() {
    run_python_client("auto");
}

#[test]
fn python_sdk_legacy_handshake() {
    run_python_client("legacy");
}

#[test]
fn python_sdk_pinned_2026_07_28() {
    run_python_client("2026-07-28");
}

/// Prompts and completions through the SDK: prompts/list, prompts/get with
/// arguments, the error for a missing argument, completion/complete.
#[test]
fn python_sdk_prompts_and_completions() {
    let data = DataDir::new();
    run_script("prompts_client.py", &data, &[]);
    assert_eq!(
        data.count("SELECT COUNT(*) FROM prompt_templates WHERE name = 'hotfix'"),
        1,
        "the client's template is in the database"
    );
}

/// Agent sessions through the SDK: start, follow, read the log whole, by
/// pages and by tail (the text is the first content block), and the errors.
#[test]
fn python_sdk_agent_sessions() {
    let data = DataDir::new();
    let config = common::sessions::config(&data, "", "");
    run_script(
        "sessions_client.py",
        &data,
        &["--config", config.to_str().expect("utf-8 path")],
    );
    assert_eq!(
        data.count("SELECT COUNT(*) FROM workspace_sessions WHERE status = 'completed'"),
        1,
        "the client's session ran"
    );
}
