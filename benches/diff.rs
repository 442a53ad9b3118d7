//! Benchmark: `get_session_diff` of a 5,000-file / 20 MB change, end to end
//! over stdio with rmcp's client — the first page (cold: the snapshot is
//! built; then warm), a page from the middle of the patch, and one file —
//! for a change the agent committed and for one it left uncommitted.
//!
//! Run by hand (not in CI): `cargo bench --bench diff`. A real session runs
//! a generator agent (a shell script) in a real git worktree; the server is
//! this crate's binary. Figures: BENCHMARKS.md, "Review loop:
//! get_session_diff". Goal from issue 14: ≤ 50 ms per 64 KiB page.

use std::time::{Duration, Instant};

use rmcp::{
    ServiceExt,
    model::CallToolRequestParams,
    transport::{ConfigureCommandExt, TokioChildProcess},
};
use serde_json::{Value, json};

const FILES: usize = 5_000;
const LINES_PER_FILE: usize = 100;
const RUNS: usize = 50;
const PAGE: u64 = 64 * 1024;

/// The agent: 50 directories of 100 files, each 100 lines of ~40 bytes
/// (20 MB), committed when `COMMIT=1`.
const GENERATOR: &str = r#"set -e
i=0
while [ "$i" -lt 50 ]; do mkdir -p "src/dir$i"; i=$((i + 1)); done
awk -v files=FILES -v lines=LINES 'BEGIN {
    for (f = 0; f < files; f++) {
        name = sprintf("src/dir%d/file%04d.txt", f % 50, f);
        for (l = 0; l < lines; l++) printf "line %03d of file %04d: some generated text\n", l, f > name;
        close(name);
    }
}'
if [ "${COMMIT:-0}" = "1" ]; then
    git add -A
    git -c user.email=bench@example.com -c user.name=bench commit --quiet -m generated
fi
echo "generated"
"#;

fn summary(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    println!(
        "{name:<58} median {:>8.2} ms   p95 {:>8.2} ms   max {:>8.2} ms   ({} runs)",
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

fn git(dir: &std::path::Path, args: &[&str]) {
    let status = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .status()
        .expect("git");
    assert!(status.success(), "git {args:?}");
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).expect("repo");
    git(&repo, &["init", "--quiet", "--initial-branch=main"]);
    std::fs::write(repo.join("README.md"), "# bench\n").expect("readme");
    git(&repo, &["add", "README.md"]);
    git(
        &repo,
        &[
            "-c",
            "user.email=bench@example.com",
            "-c",
            "user.name=bench",
            "commit",
            "--quiet",
            "-m",
            "initial",
        ],
    );
    let generator = dir.path().join("generate.sh");
    std::fs::write(
        &generator,
        GENERATOR
            .replace("FILES", &FILES.to_string())
            .replace("LINES", &LINES_PER_FILE.to_string()),
    )
    .expect("generator");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[sessions]\ndefault_executor = \"committed\"\n\n\
             [executors.committed]\ncommand = [\"sh\", \"{g}\"]\nenv = {{ COMMIT = \"1\" }}\n\n\
             [executors.uncommitted]\ncommand = [\"sh\", \"{g}\"]\n",
            g = generator.display()
        ),
    )
    .expect("config");
    let command =
        tokio::process::Command::new(env!("CARGO_BIN_EXE_vibe-kanban-mcp")).configure(|cmd| {
            cmd.arg("serve")
                .arg("--data-dir")
                .arg(dir.path().join("data"))
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
            // A diff page's patch is its second content block.
            if let Some(text) = result.content.get(1).and_then(|c| c.as_text()) {
                out["text"] = json!(text.text);
            }
            out
        }
    };

    let project = call(
        "create_project",
        json!({"name": "bench", "repo_path": repo.to_str()}),
    )
    .await;
    for executor in ["committed", "uncommitted"] {
        let task = call(
            "create_task",
            json!({"project_id": project["id"], "title": format!("Generate ({executor})")}),
        )
        .await;
        let started = Instant::now();
        let session = call(
            "start_session",
            json!({"task_id": task["id"], "executor": executor}),
        )
        .await;
        let session_id = session["id"].as_str().expect("id").to_owned();
        loop {
            let s = call("get_session", json!({"session_id": session_id})).await;
            if s["status"] != "queued" && s["status"] != "running" {
                assert_eq!(s["status"], "completed", "{s:#}");
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        println!(
            "\n{executor}: the agent wrote {FILES} files in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let page = |cursor: u64| {
            let session_id = session_id.clone();
            let call = &call;
            async move {
                let page = call(
                    "get_session_diff",
                    json!({"session_id": session_id, "cursor": cursor, "limit": PAGE}),
                )
                .await;
                assert_eq!(page["total_files"].as_u64(), Some(FILES as u64), "{page}");
                let text = page["text"].as_str().expect("patch").len() as u64;
                assert!(
                    text > PAGE - 200 && text <= PAGE,
                    "a full page: {text} bytes"
                );
                page
            }
        };
        let cold = Instant::now();
        let first = page(0).await;
        let cold = cold.elapsed();
        let total = first["total_bytes"].as_u64().expect("total");
        println!(
            "patch: {:.1} MB, {} files, +{} lines; first page lists {} files",
            total as f64 / 1048576.0,
            first["total_files"],
            first["additions"],
            first["files"].as_array().map_or(0, Vec::len)
        );
        summary(
            &format!("{executor}: first page, cold (builds the snapshot)"),
            vec![cold],
        );
        let mut warm = Vec::new();
        for _ in 0..RUNS {
            let t = Instant::now();
            page(0).await;
            warm.push(t.elapsed());
        }
        summary(&format!("{executor}: first 64 KiB page, warm"), warm);
        let mut middle = Vec::new();
        for _ in 0..RUNS {
            let t = Instant::now();
            page(total / 2).await;
            middle.push(t.elapsed());
        }
        summary(&format!("{executor}: 64 KiB page from the middle"), middle);
        // Without looking at the worktree (no `git add -A` over 5,000
        // files): what the lookup, the merge base and the read cost.
        if executor == "committed" {
            let mut committed_only = Vec::new();
            for _ in 0..RUNS {
                let t = Instant::now();
                let page = call(
                    "get_session_diff",
                    json!({"session_id": session_id, "cursor": total / 2, "limit": PAGE,
                           "include_uncommitted": false}),
                )
                .await;
                assert!(page["text"].as_str().expect("patch").len() as u64 > PAGE - 200);
                committed_only.push(t.elapsed());
            }
            summary(
                "committed: middle page, include_uncommitted=false",
                committed_only,
            );
        }
        let mut one = Vec::new();
        for _ in 0..RUNS {
            let t = Instant::now();
            let page = call(
                "get_session_diff",
                json!({"session_id": session_id, "path": "src/dir7/file2507.txt"}),
            )
            .await;
            assert_eq!(page["total_files"], 1);
            one.push(t.elapsed());
        }
        summary(&format!("{executor}: one file (path)"), one);
    }
    let hwm_kb = vm_hwm_kb(server_pid);
    println!(
        "\nserver peak RSS (VmHWM) after every page: {:.1} MB",
        hwm_kb as f64 / 1024.0
    );
    let _ = client.cancel().await;
}
