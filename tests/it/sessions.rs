//! Agent sessions end to end through rmcp's client: real agent processes
//! (tests/agents/agent.sh), a real git repository, logs on local disk.
//! start → worktree + setup + agent + cleanup → inreview; follow-ups that
//! resume the agent's conversation; failures, a missing executable, stop
//! escalation, timeouts, the concurrency limit, and log paging.

use crate::common;

use common::{
    Backend, DataDir, Server,
    sessions::{
        config, git, git_repo, log_page, process_kinds, read_all, wait_finished, wait_for,
        wait_output,
    },
};
use serde_json::{Value, json};

async fn start(data: &DataDir, sessions: &str) -> Server {
    let config = config(data, sessions, "");
    Server::start(
        data,
        &["--config", config.to_str().expect("utf-8 path")],
        &[],
    )
    .await
}

/// A project "app" on the git repository `repo`; returns its id.
async fn repo_project(server: &Server, repo: &std::path::Path) -> String {
    common::id(
        &server
            .call(
                "create_project",
                json!({"name": "app", "repo_path": repo.to_str()}),
            )
            .await,
    )
}

async fn task_status(server: &Server, task_id: &str) -> String {
    server.call("get_task", json!({"task_id": task_id})).await["status"]
        .as_str()
        .expect("status")
        .to_owned()
}

#[tokio::test]
async fn a_session_runs_setup_agent_and_cleanup_in_its_own_worktree() {
    let data = DataDir::new();
    let repo = git_repo(data.path());
    let server = start(&data, "").await;
    let project = server
        .call(
            "create_project",
            json!({
                "name": "app",
                "repo_path": repo.to_str(),
                "setup_script": "echo setting up; echo ready > setup-done.txt",
                "cleanup_script": "echo cleaning up; ls agent-notes.txt"
            }),
        )
        .await;
    let project_id = common::id(&project);
    let task_id = server
        .task(
            &project_id,
            "Add a greeting",
            json!({"description": "Say hello in the README."}),
        )
        .await;

    let started = server
        .call("start_session", json!({"task_id": task_id}))
        .await;
    let session_id = common::id(&started);
    assert!(
        matches!(started["status"].as_str(), Some("queued" | "running")),
        "{started}"
    );
    assert_eq!(started["executor"], "script");
    assert_eq!(task_status(&server, &task_id).await, "inprogress");

    let session = wait_finished(&server, &session_id).await;
    assert_eq!(session["status"], "completed", "{session:#}");
    assert_eq!(session["status_reason"], Value::Null);
    assert_eq!(
        process_kinds(&session),
        ["setup", "coding_agent", "cleanup"]
    );
    for process in session["processes"].as_array().expect("processes") {
        assert_eq!(process["status"], "completed", "{process}");
        assert_eq!(process["exit_code"], 0, "{process}");
        assert!(process["finished_at"].is_string());
        assert!(process["pid"].as_i64().is_some_and(|p| p > 0), "{process}");
    }
    // The agent got the task as its prompt.
    assert!(
        session["last_output"]
            .as_str()
            .expect("last_output")
            .contains("agent: line 3"),
        "{session:#}"
    );
    assert_eq!(
        session["prompt"],
        "Add a greeting\n\nSay hello in the README."
    );

    // Its own branch and worktree, made from main; the checkout is untouched.
    let branch = session["branch"].as_str().expect("branch");
    assert!(branch.starts_with("vk/"), "{branch}");
    assert!(branch.ends_with("-add-a-greeting"), "{branch}");
    assert_eq!(session["base_branch"], "main");
    let worktree = std::path::PathBuf::from(session["worktree_path"].as_str().expect("worktree"));
    assert_eq!(
        std::fs::read_to_string(worktree.join("agent-notes.txt")).expect("agent wrote its notes"),
        "Add a greeting\n\nSay hello in the README.\n"
    );
    assert!(
        worktree.join("setup-done.txt").exists(),
        "setup ran in the worktree"
    );
    assert!(
        !repo.join("agent-notes.txt").exists(),
        "the checkout is untouched"
    );
    assert_eq!(
        git(&worktree, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(),
        branch
    );
    assert!(git(&repo, &["branch", "--list", "vk/*"]).contains(branch));

    // The agent exited 0: the task is ready for review.
    assert_eq!(task_status(&server, &task_id).await, "inreview");

    // The combined log has every process, both streams, in order.
    let all = read_all(&server, json!({"session_id": session_id}), 1 << 20).await;
    for expected in [
        "setting up",
        "--- setup exited with code 0 ---",
        "agent: prompt: Add a greeting",
        "agent: working in",
        "agent: line 3",
        "cleaning up",
        "=== session completed ===",
    ] {
        assert!(all.contains(expected), "{expected:?} missing from\n{all}");
    }
    assert!(all.find("setting up") < all.find("agent: line 1"));
    // Paging in small pieces gives the same bytes.
    let paged = read_all(&server, json!({"session_id": session_id}), 7).await;
    assert_eq!(paged, all);

    // Streams and processes separately.
    let stderr = log_page(
        &server,
        json!({"session_id": session_id, "stream": "stderr"}),
    )
    .await;
    let stderr_text = stderr["text"].as_str().expect("text");
    assert!(stderr_text.contains("agent: working in"), "{stderr_text}");
    assert!(!stderr_text.contains("agent: line"), "{stderr_text}");
    assert_eq!(stderr["running"], false);
    let agent_output = log_page(
        &server,
        json!({"session_id": session_id, "stream": "agent_output"}),
    )
    .await;
    let agent_text = agent_output["text"].as_str().expect("text");
    assert!(agent_text.contains("agent: line 1") && !agent_text.contains("setting up"));
    let setup_id = session["processes"][0]["id"].as_str().expect("id");
    let setup_log = log_page(
        &server,
        json!({"session_id": session_id, "process": setup_id}),
    )
    .await;
    assert_eq!(setup_log["text"], "setting up\n");
    assert_eq!(setup_log["process_id"], setup_id);
    let tail = log_page(
        &server,
        json!({"session_id": session_id, "stream": "stdout", "tail": 2}),
    )
    .await;
    let tail_text = tail["text"].as_str().expect("tail");
    assert_eq!(tail_text.lines().count(), 2, "{tail_text}");
    assert_eq!(tail["next_cursor"], tail["total_bytes"]);

    // The session shows in lists by task and by status.
    let by_task = server
        .call("list_sessions", json!({"task_id": task_id}))
        .await;
    assert_eq!(by_task["sessions"][0]["id"], session_id.as_str());
    let running = server
        .call("list_sessions", json!({"status": ["running", "queued"]}))
        .await;
    assert_eq!(running["sessions"], json!([]));
    server.stop().await;
}

// Also on a real local D1: claims, heartbeats, stop requests and turn
// outcomes go through the D1 HTTP API like every other query.
on_both_stores!(a_follow_up_resumes_the_agent_in_the_same_worktree);

async fn a_follow_up_resumes_the_agent_in_the_same_worktree(backend: Backend) {
    let data = DataDir::on(backend);
    let repo = git_repo(data.path());
    let server = start(&data, "").await;
    let project = server
        .call(
            "create_project",
            json!({"name": "app", "repo_path": repo.to_str(), "setup_script": "echo setup"}),
        )
        .await;
    let task_id = server
        .task(&common::id(&project), "Write notes", json!({}))
        .await;
    let session_id = common::id(
        &server
            .call(
                "start_session",
                json!({"task_id": task_id, "prompt": "first turn"}),
            )
            .await,
    );
    let first = wait_finished(&server, &session_id).await;
    assert_eq!(first["status"], "completed");
    let conversation = first["agent_session_id"]
        .as_str()
        .expect("agent session id");
    assert!(conversation.starts_with("conversation-"), "{conversation}");

    let queued = server
        .call(
            "send_follow_up",
            json!({"session_id": session_id, "prompt": "second turn"}),
        )
        .await;
    assert!(matches!(
        queued["status"].as_str(),
        Some("queued" | "running")
    ));
    // The follow-up moves the task back to in progress. A fast second turn
    // can already have finished and moved it on to review by the time the
    // task is read; then the session must show that finished turn.
    let status = task_status(&server, &task_id).await;
    if status != "inprogress" {
        assert_eq!(status, "inreview", "the follow-up left the task {status}");
        let session = server
            .call("get_session", json!({"session_id": session_id}))
            .await;
        assert_eq!(session["turns"], 2, "{session:#}");
    }
    let second = wait_finished(&server, &session_id).await;
    assert_eq!(second["status"], "completed", "{second:#}");
    assert_eq!(second["turns"], 2);
    // Setup ran once; the second agent turn resumed the conversation.
    assert_eq!(
        process_kinds(&second),
        ["setup", "coding_agent", "coding_agent"]
    );
    assert_eq!(second["processes"][2]["turn"], 2);
    assert_eq!(second["worktree_path"], first["worktree_path"]);
    assert_eq!(second["branch"], first["branch"]);
    let log = read_all(&server, json!({"session_id": session_id}), 1 << 20).await;
    assert!(
        log.contains(&format!("agent: resumed conversation {conversation}")),
        "{log}"
    );
    let worktree = std::path::PathBuf::from(second["worktree_path"].as_str().expect("path"));
    assert_eq!(
        std::fs::read_to_string(worktree.join("agent-notes.txt")).expect("notes"),
        "first turn\nsecond turn\n"
    );
    assert_eq!(task_status(&server, &task_id).await, "inreview");

    // A follow-up while it runs is refused with what to do instead.
    let slow_task = server.task(&common::id(&project), "Slow", json!({})).await;
    let slow = common::id(
        &server
            .call(
                "start_session",
                json!({"task_id": slow_task, "executor": "slow"}),
            )
            .await,
    );
    wait_output(&server, &slow, "agent: line 2").await;
    let refused = server
        .call_fails(
            "send_follow_up",
            json!({"session_id": slow, "prompt": "more"}),
        )
        .await;
    assert!(refused.contains("is running"), "{refused}");
    assert!(refused.contains("stop_session"), "{refused}");
    server
        .call("stop_session", json!({"session_id": slow}))
        .await;
    server.stop().await;
}

#[tokio::test]
async fn prompts_reach_the_agent_on_stdin_and_sessions_run_without_a_repository() {
    let data = DataDir::new();
    let server = start(&data, "").await;
    let project_id = server.project("no repo").await;
    let task_id = server.task(&project_id, "Think", json!({})).await;
    let session_id = common::id(
        &server
            .call(
                "start_session",
                json!({"task_id": task_id, "executor": "stdin", "prompt": "read me from stdin"}),
            )
            .await,
    );
    let session = wait_finished(&server, &session_id).await;
    assert_eq!(session["status"], "completed", "{session:#}");
    assert_eq!(session["branch"], Value::Null);
    let worktree = std::path::PathBuf::from(session["worktree_path"].as_str().expect("path"));
    assert!(worktree.starts_with(data.path()), "{}", worktree.display());
    let log = read_all(&server, json!({"session_id": session_id}), 1 << 20).await;
    assert!(log.contains("agent: prompt: read me from stdin"), "{log}");
    server.stop().await;
}

#[tokio::test]
async fn failures_leave_a_clear_status_and_reason() {
    let data = DataDir::new();
    let repo = git_repo(data.path());
    let server = start(&data, "").await;
    let project_id = repo_project(&server, &repo).await;

    // The agent exits 1.
    let task_id = server.task(&project_id, "Fails", json!({})).await;
    let session_id = common::id(
        &server
            .call(
                "start_session",
                json!({"task_id": task_id, "executor": "failing"}),
            )
            .await,
    );
    let session = wait_finished(&server, &session_id).await;
    assert_eq!(session["status"], "failed");
    assert_eq!(
        session["status_reason"],
        "the coding agent exited with code 1"
    );
    assert_eq!(session["processes"][0]["status"], "failed");
    assert_eq!(session["processes"][0]["exit_code"], 1);
    assert_eq!(task_status(&server, &task_id).await, "todo");

    // The executable does not exist: a failed session, not a crash.
    let task_id = server.task(&project_id, "Missing", json!({})).await;
    let session_id = common::id(
        &server
            .call(
                "start_session",
                json!({"task_id": task_id, "executor": "missing"}),
            )
            .await,
    );
    let session = wait_finished(&server, &session_id).await;
    assert_eq!(session["status"], "failed");
    let reason = session["status_reason"].as_str().expect("reason");
    assert!(
        reason.contains("executor 'missing'")
            && reason.contains("vk-test-agent-that-is-not-installed")
            && reason.contains("not found on PATH"),
        "{reason}"
    );
    assert_eq!(session["processes"][0]["exit_code"], Value::Null);
    assert!(session["processes"][0]["error"].as_str().is_some());

    // A setup script that fails stops the turn before the agent.
    server
        .call(
            "update_project",
            json!({"project_id": project_id, "setup_script": "echo broken >&2; exit 3"}),
        )
        .await;
    let task_id = server.task(&project_id, "Setup fails", json!({})).await;
    let session_id = common::id(
        &server
            .call("start_session", json!({"task_id": task_id}))
            .await,
    );
    let session = wait_finished(&server, &session_id).await;
    assert_eq!(session["status"], "failed");
    assert_eq!(
        session["status_reason"],
        "the setup script exited with code 3"
    );
    assert_eq!(process_kinds(&session), ["setup"]);

    // The executor's timeout stops a long agent.
    server
        .call(
            "update_project",
            json!({"project_id": project_id, "setup_script": null}),
        )
        .await;
    let task_id = server.task(&project_id, "Too slow", json!({})).await;
    let session_id = common::id(
        &server
            .call(
                "start_session",
                json!({"task_id": task_id, "executor": "timeout"}),
            )
            .await,
    );
    let session = wait_finished(&server, &session_id).await;
    assert_eq!(session["status"], "failed");
    let reason = session["status_reason"].as_str().expect("reason");
    assert!(reason.contains("timeout_secs (1 s)"), "{reason}");
    assert_eq!(session["processes"][0]["status"], "killed");

    // The server still works.
    assert_eq!(task_status(&server, &task_id).await, "todo");
    server.stop().await;
}

#[tokio::test]
async fn bad_requests_are_refused_with_what_to_do() {
    let data = DataDir::new();
    let repo = git_repo(data.path());
    let server = start(&data, "").await;
    let project_id = repo_project(&server, &repo).await;
    let task_id = server.task(&project_id, "T", json!({})).await;

    let unknown = server
        .call_fails(
            "start_session",
            json!({"task_id": task_id, "executor": "nope"}),
        )
        .await;
    assert!(unknown.contains("unknown executor 'nope'"), "{unknown}");
    assert!(
        unknown.contains("claude-code") && unknown.contains("codex") && unknown.contains("gemini")
    );
    let branch = server
        .call_fails(
            "start_session",
            json!({"task_id": task_id, "base_branch": "no-such-branch"}),
        )
        .await;
    assert!(
        branch.contains("base branch 'no-such-branch' does not exist"),
        "{branch}"
    );
    let ghost = uuid_like();
    let missing = server
        .call_fails("start_session", json!({"task_id": ghost}))
        .await;
    assert!(
        missing.contains("task") && missing.contains("not found"),
        "{missing}"
    );
    let missing = server
        .call_fails("get_session", json!({"session_id": ghost}))
        .await;
    assert!(missing.contains("list_sessions"), "{missing}");
    // Nothing was started by the refused calls.
    assert_eq!(task_status(&server, &task_id).await, "todo");
    assert_eq!(data.count("SELECT COUNT(*) FROM workspace_sessions"), 0);

    let session_id = common::id(
        &server
            .call("start_session", json!({"task_id": task_id}))
            .await,
    );
    wait_finished(&server, &session_id).await;
    let again = server
        .call_fails("stop_session", json!({"session_id": session_id}))
        .await;
    assert!(again.contains("already completed"), "{again}");
    let message = server
        .call_invalid(
            "read_execution_log",
            json!({"session_id": session_id, "limit": 0}),
        )
        .await;
    assert!(message.contains("limit"), "{message}");
    let message = server
        .call_invalid(
            "read_execution_log",
            json!({"session_id": session_id, "tail": 5, "cursor": 0}),
        )
        .await;
    assert!(message.contains("tail"), "{message}");
    let message = server
        .call_invalid(
            "read_execution_log",
            json!({"session_id": session_id, "stream": "everything"}),
        )
        .await;
    assert!(message.contains("stream"), "{message}");
    let other = server
        .call_fails(
            "read_execution_log",
            json!({"session_id": session_id, "process": ghost}),
        )
        .await;
    assert!(other.contains("not part of session"), "{other}");
    let empty = server
        .call_invalid(
            "send_follow_up",
            json!({"session_id": session_id, "prompt": "  "}),
        )
        .await;
    assert!(empty.contains("prompt"), "{empty}");

    // Keys without the sessions scope see the read tools only.
    let key = data.create_key("default", "reader", "read");
    let reader = Server::start(&data, &[], &[("VK_API_KEY", key.as_str())]).await;
    let names: Vec<String> = reader
        .tools()
        .await
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    assert!(names.contains(&"get_session".to_owned()));
    assert!(!names.contains(&"start_session".to_owned()));
    assert!(!names.contains(&"stop_session".to_owned()));
    let refused = reader
        .call_invalid("start_session", json!({"task_id": task_id}))
        .await;
    assert!(refused.contains("needs the `sessions` scope"), "{refused}");
    reader.stop().await;
    let key = data.create_key("default", "writer", "write");
    let writer = Server::start(&data, &[], &[("VK_API_KEY", key.as_str())]).await;
    let names: Vec<String> = writer
        .tools()
        .await
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    assert!(
        !names.contains(&"send_follow_up".to_owned()),
        "write is not sessions"
    );
    writer.stop().await;
    server.stop().await;
}

fn uuid_like() -> String {
    "0193a000-0000-7000-8000-000000000042".to_owned()
}

#[tokio::test]
async fn stop_escalates_from_sigint_to_sigterm_for_an_agent_that_ignores_it() {
    let data = DataDir::new();
    let server = start(&data, "").await;
    let project_id = server.project("p").await;
    let task_id = server.task(&project_id, "Stubborn", json!({})).await;
    let session_id = common::id(
        &server
            .call(
                "start_session",
                json!({"task_id": task_id, "executor": "stubborn"}),
            )
            .await,
    );
    let running = wait_output(&server, &session_id, "agent: line 3").await;
    assert_eq!(running["status"], "running");
    let pid = running["processes"][0]["pid"].as_i64().expect("pid");
    let live = log_page(&server, json!({"session_id": session_id, "tail": 1})).await;
    assert_eq!(live["running"], true);

    let stopped = server
        .call("stop_session", json!({"session_id": session_id}))
        .await;
    assert_eq!(stopped["status"], "stopped", "{stopped:#}");
    assert_eq!(stopped["status_reason"], "stopped on request");
    let session = server
        .call("get_session", json!({"session_id": session_id}))
        .await;
    assert_eq!(session["processes"][0]["status"], "killed");
    assert_eq!(
        session["processes"][0]["error"],
        "was stopped on request (it ignored SIGINT; SIGTERM ended it)"
    );
    let log = read_all(&server, json!({"session_id": session_id}), 1 << 20).await;
    // SIGINT reached it and was ignored; SIGTERM ended it.
    assert!(log.contains("agent: got SIGINT, ignoring it"), "{log}");
    assert!(
        log.contains("=== session stopped: stopped on request ==="),
        "{log}"
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "agent process {pid} is gone"
    );
    assert_eq!(task_status(&server, &task_id).await, "todo");
    let after = log_page(&server, json!({"session_id": session_id, "tail": 1})).await;
    assert_eq!(after["running"], false);
    server.stop().await;
}

/// Whether a process still runs (a zombie waiting for its reaper has ended).
fn process_runs(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // The state follows the parenthesised command name.
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X'))
    })
}

#[tokio::test]
async fn stop_reaches_sigkill_for_an_agent_that_ignores_sigint_and_sigterm() {
    let data = DataDir::new();
    let server = start(&data, "").await;
    let project_id = server.project("p").await;
    let task_id = server.task(&project_id, "Immovable", json!({})).await;
    let session_id = common::id(
        &server
            .call(
                "start_session",
                json!({"task_id": task_id, "executor": "immovable"}),
            )
            .await,
    );
    let running = wait_output(&server, &session_id, "agent: line 3").await;
    let pid = running["processes"][0]["pid"].as_i64().expect("pid");
    let log = read_all(&server, json!({"session_id": session_id}), 1 << 20).await;
    let helper: i64 = log
        .lines()
        .find_map(|line| line.split("agent: helper pid ").nth(1))
        .and_then(|pid| pid.trim().parse().ok())
        .unwrap_or_else(|| panic!("the agent printed its helper's pid: {log}"));
    assert!(process_runs(pid) && process_runs(helper));

    let stopped = server
        .call("stop_session", json!({"session_id": session_id}))
        .await;
    assert_eq!(stopped["status"], "stopped", "{stopped:#}");
    let session = server
        .call("get_session", json!({"session_id": session_id}))
        .await;
    let agent = &session["processes"][0];
    assert_eq!(agent["status"], "killed", "{agent}");
    assert_eq!(
        agent["error"], "was stopped on request (it ignored SIGINT and SIGTERM; SIGKILL ended it)",
        "{agent}"
    );
    let log = read_all(&server, json!({"session_id": session_id}), 1 << 20).await;
    assert!(log.contains("agent: got SIGINT, ignoring it"), "{log}");
    assert!(log.contains("agent: got SIGTERM, ignoring it"), "{log}");
    assert!(log.contains("SIGKILL ended it"), "{log}");
    // The whole process group got SIGKILL: the agent and the helper it
    // started (which ignores SIGINT and SIGTERM too) are both gone.
    assert!(!process_runs(pid), "agent process {pid} is gone");
    assert!(!process_runs(helper), "helper process {helper} is gone");
    server.stop().await;
}

#[tokio::test]
async fn a_runner_works_only_in_its_allowed_repository_roots() {
    let data = DataDir::new();
    let allowed = data.path().join("allowed");
    let inside = git_repo(&allowed);
    let outside = git_repo(&data.path().join("elsewhere"));
    std::os::unix::fs::symlink(&outside, allowed.join("link")).expect("symlink");
    let server = start(
        &data,
        &format!("allowed_repo_roots = [\"{}\"]", allowed.display()),
    )
    .await;
    let cases = [
        ("inside", inside.clone(), true),
        ("outside", outside.clone(), false),
        ("through a symlink", allowed.join("link"), false),
        (
            "through ..",
            allowed.join("..").join("elsewhere").join("repo"),
            false,
        ),
    ];
    for (name, repo, accepted) in cases {
        let project_id = common::id(
            &server
                .call(
                    "create_project",
                    json!({"name": name, "repo_path": repo.to_str(), "setup_script": "touch setup-ran"}),
                )
                .await,
        );
        let task_id = server.task(&project_id, "Work", json!({})).await;
        let session_id = common::id(
            &server
                .call("start_session", json!({"task_id": task_id}))
                .await,
        );
        let session = wait_finished(&server, &session_id).await;
        if accepted {
            assert_eq!(session["status"], "completed", "{name}: {session:#}");
            continue;
        }
        assert_eq!(session["status"], "failed", "{name}: {session:#}");
        let reason = session["status_reason"].as_str().expect("reason");
        assert!(
            reason.contains(&format!("repo_path {}", repo.display()))
                && reason.contains("[sessions] allowed_repo_roots")
                && reason.contains(&allowed.display().to_string()),
            "{name}: {reason}"
        );
        // Nothing ran: no setup script, no agent, no worktree.
        assert!(process_kinds(&session).is_empty(), "{name}: {session:#}");
        assert_eq!(session["worktree_path"], Value::Null, "{name}");
    }
    assert!(!outside.join("setup-ran").exists());
    server.stop().await;
}

#[tokio::test]
async fn a_follow_up_is_refused_when_the_sessions_executor_is_gone() {
    let data = DataDir::new();
    let server = start(&data, "").await;
    let project_id = server.project("p").await;
    let task_id = server.task(&project_id, "Once", json!({})).await;
    let session_id = common::id(
        &server
            .call("start_session", json!({"task_id": task_id}))
            .await,
    );
    assert_eq!(
        wait_finished(&server, &session_id).await["status"],
        "completed"
    );
    server.stop().await;

    // The same store, served with only the built-in executors.
    let bare = data.path().join("bare.toml");
    std::fs::write(&bare, "[sessions]\nstop_grace_secs = 0.5\n").expect("config");
    let server = Server::start(
        &data,
        &[
            "--config",
            bare.to_str().expect("utf-8 path"),
            "--no-runner",
        ],
        &[],
    )
    .await;
    let text = server
        .call_fails(
            "send_follow_up",
            json!({"session_id": session_id, "prompt": "again"}),
        )
        .await;
    assert!(
        text.contains("executor is gone") && text.contains("unknown executor 'script'"),
        "{text}"
    );
    let session = server
        .call("get_session", json!({"session_id": session_id}))
        .await;
    assert_eq!(session["status"], "completed", "nothing was queued");
    assert_eq!(session["turns"], 1, "{session:#}");
    server.stop().await;
}

#[tokio::test]
async fn extra_sessions_wait_in_the_queue_for_a_free_slot() {
    let data = DataDir::new();
    let server = start(&data, "max_concurrent = 1").await;
    let project_id = server.project("p").await;
    let first_task = server.task(&project_id, "First", json!({})).await;
    let second_task = server.task(&project_id, "Second", json!({})).await;
    let first = common::id(
        &server
            .call(
                "start_session",
                json!({"task_id": first_task, "executor": "slow"}),
            )
            .await,
    );
    wait_output(&server, &first, "agent: line 2").await;
    let second = common::id(
        &server
            .call("start_session", json!({"task_id": second_task}))
            .await,
    );
    // The one slot is taken: the second session waits…
    let queued = server
        .call("get_session", json!({"session_id": second}))
        .await;
    assert_eq!(queued["status"], "queued");
    assert_eq!(queued["processes"], json!([]));
    let listed = server
        .call("list_sessions", json!({"status": ["queued"]}))
        .await;
    assert_eq!(listed["sessions"][0]["id"], second.as_str());
    // …and runs once the first one is stopped.
    server
        .call("stop_session", json!({"session_id": first}))
        .await;
    let done = wait_finished(&server, &second).await;
    assert_eq!(done["status"], "completed");
    // A queued session can be stopped before it starts.
    let third_task = server.task(&project_id, "Third", json!({})).await;
    let blocker = common::id(
        &server
            .call(
                "start_session",
                json!({"task_id": third_task, "executor": "slow"}),
            )
            .await,
    );
    wait_output(&server, &blocker, "agent: line 1").await;
    let fourth_task = server.task(&project_id, "Fourth", json!({})).await;
    let waiting = common::id(
        &server
            .call("start_session", json!({"task_id": fourth_task}))
            .await,
    );
    let stopped = server
        .call("stop_session", json!({"session_id": waiting}))
        .await;
    assert_eq!(stopped["status"], "stopped");
    assert_eq!(
        stopped["status_reason"],
        "stopped before a runner started it"
    );
    assert_eq!(task_status(&server, &fourth_task).await, "todo");
    server
        .call("stop_session", json!({"session_id": blocker}))
        .await;
    let blocked = wait_for(&server, &waiting, "still stopped", |s| {
        s["status"] == "stopped"
    })
    .await;
    assert_eq!(
        blocked["processes"],
        json!([]),
        "a stopped queued session never runs"
    );
    server.stop().await;
}

#[test]
fn bad_session_configuration_stops_at_start_with_a_clear_message() {
    let data = DataDir::new();
    let path = data.path().join("bad.toml");
    for (text, expected) in [
        (
            "[sessions]\ndefault_executor = \"nope\"\n",
            "unknown executor 'nope'",
        ),
        (
            "[executors.empty]\ncommand = []\n",
            "[executors.empty] command",
        ),
        (
            "[sessions]\nmax_concurent = 2\n",
            "unknown field `max_concurent`",
        ),
        ("[logs]\nbackend = \"r2\"\n", "needs a [logs.r2] section"),
        (
            "[sessions]\nallowed_repo_roots = [\"repos\"]\n",
            "allowed_repo_roots must list absolute directories; 'repos' is relative",
        ),
    ] {
        std::fs::write(&path, text).expect("write config");
        let out = data.cli(&["runner", "--config", path.to_str().expect("utf-8")]);
        assert!(!out.status.success(), "{text}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{text}: {stderr}");
    }
}

/// A task whose agent is queued or running (on it or on a subtask) is not
/// deleted: that would orphan a live agent. Once stopped, it deletes.
#[tokio::test]
async fn a_task_with_a_live_session_is_not_deleted() {
    let data = DataDir::new();
    let server = start(&data, "").await;
    let project_id = server.project("live").await;
    let parent = server.task(&project_id, "Parent", json!({})).await;
    let child = server
        .task(&project_id, "Child", json!({"parent_task_id": parent}))
        .await;
    let session_id = common::id(
        &server
            .call(
                "start_session",
                json!({"task_id": child, "executor": "slow"}),
            )
            .await,
    );
    wait_output(&server, &session_id, "agent: line 2").await;
    for task in [&parent, &child] {
        let refused = server
            .call_fails("delete_task", json!({"task_id": task}))
            .await;
        assert!(refused.contains(&session_id), "{refused}");
        assert!(refused.contains("stop_session"), "{refused}");
    }
    assert!(refused_left_everything(&server, &child).await);
    server
        .call("stop_session", json!({"session_id": session_id}))
        .await;
    let deleted = server.call("delete_task", json!({"task_id": parent})).await;
    assert_eq!(
        deleted["deleted_ids"].as_array().expect("ids").len(),
        2,
        "{deleted}"
    );
    server.stop().await;
}

/// The task is still there with its session.
async fn refused_left_everything(server: &Server, task_id: &str) -> bool {
    let listed = server
        .call("list_sessions", json!({"task_id": task_id}))
        .await;
    task_status(server, task_id).await == "inprogress"
        && listed["sessions"].as_array().is_some_and(|s| s.len() == 1)
}

// list_sessions pages newest first with `limit` and `next_cursor`, like
// list_tasks and list_projects; a cursor of another list is refused.
on_both_stores!(sessions_are_listed_in_pages_newest_first);

async fn sessions_are_listed_in_pages_newest_first(backend: Backend) {
    let data = DataDir::on(backend);
    let config = config(&data, "", "");
    // No runner: the sessions stay queued, so nothing changes under the pages.
    let server = Server::start(
        &data,
        &[
            "--config",
            config.to_str().expect("utf-8 path"),
            "--no-runner",
        ],
        &[],
    )
    .await;
    let project_id = server.project("paged").await;
    let task_id = server.task(&project_id, "Many sessions", json!({})).await;
    let mut started = Vec::new();
    for n in 0..5 {
        let session = server
            .call(
                "start_session",
                json!({"task_id": task_id, "executor": "stdin", "prompt": format!("turn {n}")}),
            )
            .await;
        started.push(common::id(&session));
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut args = json!({"task_id": task_id, "limit": 2});
        if let Some(cursor) = &cursor {
            args["cursor"] = json!(cursor);
        }
        let page = server.call("list_sessions", args).await;
        pages += 1;
        for session in page["sessions"].as_array().expect("sessions") {
            seen.push(session["id"].as_str().expect("id").to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    started.reverse();
    assert_eq!(seen, started, "newest first, each once");
    assert_eq!(pages, 3);
    let all = server.call("list_sessions", json!({})).await;
    assert_eq!(all["sessions"].as_array().expect("sessions").len(), 5);
    assert!(all.get("next_cursor").is_none(), "{all}");

    server.project("second").await;
    let projects = server.call("list_projects", json!({"limit": 1})).await;
    let foreign = projects["next_cursor"].as_str().expect("a project cursor");
    let message = server
        .call_invalid("list_sessions", json!({"cursor": foreign}))
        .await;
    assert!(
        message.contains("list_sessions") && message.contains("next_cursor"),
        "{message}"
    );
    server.stop().await;
}
