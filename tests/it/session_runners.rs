//! Sessions across processes: `serve --no-runner` only queues; two
//! `vibe-kanban-mcp runner` processes race for the queue on one SQLite file
//! and never run a turn twice; a stop reaches a runner in another process;
//! a runner that shuts down or dies leaves its sessions `interrupted`, with
//! their logs still readable.

use crate::common;

use std::{
    collections::HashMap,
    process::{Child, Command, Stdio},
};

use common::{
    BIN, DataDir, Server,
    sessions::{config, read_all, wait_finished, wait_output},
};
use serde_json::json;

fn runner(data: &DataDir, config: &std::path::Path) -> Child {
    runner_with(data, config, &[])
}

fn runner_with(data: &DataDir, config: &std::path::Path, args: &[&str]) -> Child {
    Command::new(BIN)
        .arg("runner")
        .arg("--data-dir")
        .arg(data.path())
        .arg("--config")
        .arg(config)
        .args(args)
        .env("VK_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start a runner")
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    child.wait().expect("runner exits")
}

#[tokio::test]
async fn two_runners_share_one_queue_without_running_a_turn_twice() {
    let data = DataDir::new();
    let record = data.path().join("claims.txt");
    let config = config(
        &data,
        "max_concurrent = 3",
        &format!(
            "[executors.record]\ncommand = [\"sh\", \"{}\"]\nenv = {{ AGENT_RECORD = \"{}\", AGENT_LINES = \"2\" }}\n",
            common::sessions::agent_script(),
            record.display()
        ),
    );
    let config_arg = config.to_str().expect("utf-8");
    let server = Server::start(&data, &["--config", config_arg, "--no-runner"], &[]).await;
    let project_id = server.project("race").await;
    let mut sessions = Vec::new();
    for i in 0..12 {
        let task_id = server
            .task(&project_id, &format!("Task {i}"), json!({}))
            .await;
        let started = server
            .call(
                "start_session",
                json!({"task_id": task_id, "executor": "record"}),
            )
            .await;
        sessions.push(common::id(&started));
    }
    // Without a runner, sessions only queue.
    let queued = server
        .call("list_sessions", json!({"status": ["queued"]}))
        .await;
    assert_eq!(queued["sessions"].as_array().expect("sessions").len(), 12);

    let mut runners = [runner(&data, &config), runner(&data, &config)];
    for session_id in &sessions {
        let session = wait_finished(&server, session_id).await;
        assert_eq!(session["status"], "completed", "{session:#}");
        assert_eq!(session["turns"], 1);
        assert_eq!(session["processes"].as_array().expect("processes").len(), 1);
    }
    // Every session's agent ran exactly once.
    let claims = std::fs::read_to_string(&record).expect("claims");
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for line in claims.lines() {
        let session = line.split_whitespace().next().expect("session id");
        *counts.entry(session).or_default() += 1;
    }
    assert_eq!(counts.len(), 12, "{claims}");
    assert!(counts.values().all(|n| *n == 1), "{claims}");
    assert_eq!(
        data.count("SELECT COUNT(*) FROM execution_processes"),
        12,
        "one process per session"
    );

    // A stop from the server reaches the runner process that runs it.
    let task_id = server.task(&project_id, "Stop me", json!({})).await;
    let slow = common::id(
        &server
            .call(
                "start_session",
                json!({"task_id": task_id, "executor": "slow"}),
            )
            .await,
    );
    wait_output(&server, &slow, "agent: line 2").await;
    let stopped = server
        .call("stop_session", json!({"session_id": slow}))
        .await;
    assert_eq!(stopped["status"], "stopped", "{stopped:#}");

    // Runners that shut down stop their sessions and mark them interrupted.
    let task_id = server.task(&project_id, "Shut down", json!({})).await;
    let cut = common::id(
        &server
            .call(
                "start_session",
                json!({"task_id": task_id, "executor": "slow"}),
            )
            .await,
    );
    wait_output(&server, &cut, "agent: line 2").await;
    for runner in &mut runners {
        assert!(
            terminate(runner).success(),
            "a runner exits cleanly on SIGTERM"
        );
    }
    let session = server.call("get_session", json!({"session_id": cut})).await;
    assert_eq!(session["status"], "interrupted", "{session:#}");
    assert!(
        session["status_reason"]
            .as_str()
            .expect("reason")
            .contains("runner shut down"),
        "{session:#}"
    );
    let log = read_all(&server, json!({"session_id": cut}), 1 << 20).await;
    assert!(log.contains("agent: line 2"), "{log}");
    server.stop().await;
}

/// Starts a session on a new task in a new project named `name`.
async fn start(server: &Server, name: &str) -> String {
    let project_id = server.project(name).await;
    let task_id = server.task(&project_id, name, json!({})).await;
    common::id(
        &server
            .call("start_session", json!({"task_id": task_id}))
            .await,
    )
}

/// The status of a session, read straight from the store.
fn status(data: &DataDir, session_id: &str) -> String {
    data.sql()
        .query_row(
            "SELECT status FROM workspace_sessions WHERE id = ?",
            [session_id],
            |row| row.get(0),
        )
        .expect("session row")
}

#[tokio::test]
async fn a_servers_runner_claims_only_its_callers_sessions() {
    let data = DataDir::new();
    let config = config(&data, "", "");
    let config_arg = config.to_str().expect("utf-8");
    // Another workspace, and a second member of the default one with a key
    // of their own.
    data.create_workspace("other", "other@example.com");
    let other_key = data.create_key("other", "other-agent", "read,write,sessions");
    data.exec("INSERT INTO users (id, email, name) VALUES ('user-bob', 'bob@example.com', 'Bob')");
    data.exec(
        "INSERT INTO workspace_members (workspace_id, user_id, role) \
         SELECT id, 'user-bob', 'member' FROM workspace_teams WHERE slug = 'default'",
    );
    let bob_key = data.create_key("default", "bob-agent", "read,write,sessions");
    data.exec("UPDATE mcp_api_keys SET user_id = 'user-bob' WHERE name = 'bob-agent'");

    // The local owner's server runs a runner (polling every 100 ms).
    let owner = Server::start(&data, &["--config", config_arg], &[]).await;
    let bob = Server::start(
        &data,
        &["--config", config_arg, "--no-runner"],
        &[("VK_API_KEY", &bob_key)],
    )
    .await;
    let other = Server::start(
        &data,
        &["--config", config_arg, "--no-runner"],
        &[("VK_API_KEY", &other_key)],
    )
    .await;
    let bobs = start(&bob, "bob's").await;
    let others = start(&other, "other workspace's").await;
    let owners = start(&owner, "owner's").await;
    let session = wait_finished(&owner, &owners).await;
    assert_eq!(session["status"], "completed", "{session:#}");
    // A runner claims the oldest queued session first: had the owner's
    // runner ignored whose sessions they are, it would have taken bob's and
    // the other workspace's (both older) before the owner's. A second owner
    // session, claimed at a later poll, shows it still leaves them alone —
    // events, not a wait of some length.
    let again = start(&owner, "owner's second").await;
    let session = wait_finished(&owner, &again).await;
    assert_eq!(session["status"], "completed", "{session:#}");
    assert_eq!(status(&data, &bobs), "queued");
    assert_eq!(status(&data, &others), "queued");

    // A runner for one workspace takes only that workspace's session…
    let mut scoped = runner_with(&data, &config, &["--workspace", "other"]);
    let session = wait_finished(&other, &others).await;
    assert_eq!(session["status"], "completed", "{session:#}");
    assert_eq!(status(&data, &bobs), "queued");
    assert!(terminate(&mut scoped).success());
    // …and an unscoped runner takes any.
    let mut any = runner(&data, &config);
    let session = wait_finished(&bob, &bobs).await;
    assert_eq!(session["status"], "completed", "{session:#}");
    assert!(terminate(&mut any).success());

    // A runner for a workspace that does not exist says so.
    let out = Command::new(BIN)
        .args(["runner", "--workspace", "nope", "--data-dir"])
        .arg(data.path())
        .output()
        .expect("run runner");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no workspace with id or slug 'nope'"),
        "{stderr}"
    );
    for server in [owner, bob, other] {
        server.stop().await;
    }
}

#[tokio::test]
async fn sessions_of_a_server_that_died_become_interrupted_at_the_next_start() {
    let data = DataDir::new();
    let config = config(&data, "", "");
    let config_arg = config.to_str().expect("utf-8");
    let first = Server::start(&data, &["--config", config_arg], &[]).await;
    let project_id = first.project("crash").await;
    let task_id = first.task(&project_id, "Long job", json!({})).await;
    let session_id = common::id(
        &first
            .call(
                "start_session",
                json!({"task_id": task_id, "executor": "slow"}),
            )
            .await,
    );
    let running = wait_output(&first, &session_id, "agent: line 3").await;
    let agent_pid = running["processes"][0]["pid"].as_i64().expect("agent pid");
    let server_pid: i64 = data
        .sql()
        .query_row("SELECT runner_pid FROM workspace_sessions", [], |row| {
            row.get(0)
        })
        .expect("runner pid");
    // The server dies without a chance to clean up.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(server_pid).expect("pid")),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("SIGKILL");
    drop(first);
    assert_eq!(
        data.count("SELECT COUNT(*) FROM workspace_sessions WHERE status = 'running'"),
        1
    );

    // A new server (even one without a runner) sees the owner is gone.
    let second = Server::start(&data, &["--config", config_arg, "--no-runner"], &[]).await;
    let session = second
        .call("get_session", json!({"session_id": session_id}))
        .await;
    assert_eq!(session["status"], "interrupted", "{session:#}");
    let reason = session["status_reason"].as_str().expect("reason");
    assert!(reason.contains("no longer running"), "{reason}");
    assert_eq!(session["processes"][0]["status"], "interrupted");
    assert!(session["finished_at"].is_string());
    // Its logs stay readable.
    let log = read_all(&second, json!({"session_id": session_id}), 1 << 20).await;
    assert!(log.contains("agent: line 3"), "{log}");
    let task = second.call("get_task", json!({"task_id": task_id})).await;
    assert_eq!(task["status"], "todo");
    // The agent did not outlive its supervisor.
    let mut gone = false;
    for _ in 0..100 {
        if !std::path::Path::new(&format!("/proc/{agent_pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{agent_pid}/stat"))
                .is_ok_and(|stat| stat.contains(") Z "))
        {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(gone, "agent {agent_pid} still runs after its server died");
    second.stop().await;
}

/// With local logs on a shared store, a session's logs are on the disk of
/// the machine that ran it: reading them elsewhere says where they are
/// instead of showing an empty log.
#[tokio::test]
async fn local_logs_of_a_session_run_elsewhere_say_where_they_are() {
    let data = DataDir::new();
    let config = config(&data, "", "");
    let config_arg = config.to_str().expect("utf-8");
    let server = Server::start(&data, &["--config", config_arg], &[]).await;
    let session_id = start(&server, "elsewhere").await;
    let session = wait_finished(&server, &session_id).await;
    assert_eq!(session["status"], "completed", "{session:#}");
    assert!(session["runner_host"].is_string(), "{session:#}");
    // As seen from another machine: the session row says where it ran, and
    // this machine has no log files for it.
    data.exec(&format!(
        "UPDATE workspace_sessions SET runner_host = 'build-box-7' WHERE id = '{session_id}'"
    ));
    std::fs::remove_dir_all(data.path().join("logs").join(&session_id)).expect("remove logs");
    let message = server
        .call_fails("read_execution_log", json!({"session_id": session_id}))
        .await;
    assert!(message.contains("ran on host 'build-box-7'"), "{message}");
    assert!(message.contains("backend = \"r2\""), "{message}");
    // The log resource says the same, as a resource that cannot be read
    // here (-32002 with its URI), not as an internal error of the server.
    let uri = format!("kanban://sessions/{session_id}/log");
    let error = server.read(&uri).await.expect_err("the log is elsewhere");
    assert_eq!(
        error.code,
        rmcp::model::ErrorCode::RESOURCE_NOT_FOUND,
        "{error:?}"
    );
    assert!(
        error.message.contains("ran on host 'build-box-7'")
            && error.message.contains("backend = \"r2\""),
        "{error:?}"
    );
    assert_eq!(error.data, Some(json!({ "uri": uri })), "{error:?}");
    server.stop().await;
}
