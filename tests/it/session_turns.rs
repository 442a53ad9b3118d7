//! What each agent turn leaves: its final message (a declared JSON field of
//! the agent's output, or its last plain-text lines) and a commit of its
//! changes on the session's branch — untracked files included, ignored ones
//! not, no hooks run, by the configured author — and no commit for a turn
//! that changed nothing. Fast cases with shell agents; the real CLIs are in
//! agent_clis.rs.

use crate::common;

use common::{
    Backend, DataDir, Server,
    sessions::{config, git, git_repo, read_all, wait_finished},
};
use serde_json::{Value, json};

/// A shell agent: it appends its prompt to notes.txt (unless the prompt
/// asks for nothing), writes an ignored build.log, and ends with two plain
/// lines. The prompt is its `$0`.
const WRITER: &str = r#"[executors.writer]
command = ["sh", "-c", "case \"$0\" in *nothing*) echo 'nothing to change';; *) echo \"$0\" >> notes.txt; echo scratch > build.log; echo 'plain line A'; echo 'plain line B';; esac"]
session_id_field = "session_id"
"#;

/// A shell agent that prints JSON lines with its final message in `summary`.
const SUMMARIZER: &str = r#"[executors.summarizer]
command = ["sh", "-c", "echo '{\"summary\":\"first thought\"}'; echo \"$0\" > summary.txt; echo '{\"type\":\"x\",\"summary\":\"Done: wrote summary.txt\"}'; echo 'trailing noise'"]
final_message_field = "summary"
"#;

async fn start(data: &DataDir, sessions: &str, extra: &str) -> Server {
    let config = config(data, sessions, extra);
    Server::start(
        data,
        &["--config", config.to_str().expect("utf-8 path")],
        &[],
    )
    .await
}

/// A repository that ignores build.log and whose pre-commit hook refuses
/// every commit (a turn's commit must not run it).
fn repo_with_hook(data: &DataDir) -> std::path::PathBuf {
    let repo = git_repo(data.path());
    std::fs::write(repo.join(".gitignore"), "build.log\n").expect("gitignore");
    git(&repo, &["add", ".gitignore"]);
    git(&repo, &["commit", "--quiet", "-m", "ignore build.log"]);
    let hook = repo.join(".git/hooks/pre-commit");
    std::fs::write(&hook, "#!/bin/sh\necho 'the hook ran' >&2\nexit 1\n").expect("hook");
    std::fs::set_permissions(
        &hook,
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
    )
    .expect("chmod hook");
    repo
}

async fn start_on(
    server: &Server,
    project: &str,
    title: &str,
    executor: &str,
    prompt: &str,
) -> String {
    let task = server.task(project, title, json!({})).await;
    common::id(
        &server
            .call(
                "start_session",
                json!({"task_id": task, "executor": executor, "prompt": prompt}),
            )
            .await,
    )
}

on_both_stores!(a_turn_commits_its_changes_and_a_turn_without_changes_commits_nothing);

async fn a_turn_commits_its_changes_and_a_turn_without_changes_commits_nothing(backend: Backend) {
    let data = DataDir::on(backend);
    let repo = repo_with_hook(&data);
    let server = start(&data, "", WRITER).await;
    let project = common::id(
        &server
            .call(
                "create_project",
                json!({"name": "app", "repo_path": repo.to_str()}),
            )
            .await,
    );
    let session_id = start_on(&server, &project, "Write the notes", "writer", "add a note").await;
    let first = wait_finished(&server, &session_id).await;
    let log = read_all(&server, json!({"session_id": session_id}), 1 << 20).await;
    assert_eq!(first["status"], "completed", "{first:#}\n{log}");
    // The plain-text agent's last lines are its final message.
    assert_eq!(
        first["final_message"], "plain line A\nplain line B",
        "{first:#}"
    );
    assert_eq!(first["final_message_source"], "last_lines");
    let sha = first["past_turns"][0]["commit"]
        .as_str()
        .unwrap_or_else(|| panic!("turn 1 made no commit: {first:#}\n{log}"))
        .to_owned();
    assert_eq!(
        first["past_turns"],
        json!([{"turn": 1, "commit": sha, "source": "last_lines"}])
    );
    assert!(
        log.contains(&format!("committed the turn's changes: {sha}")),
        "{log}"
    );
    let worktree = std::path::PathBuf::from(first["worktree_path"].as_str().expect("worktree"));
    let branch = first["branch"].as_str().expect("branch");
    // The commit is the branch's head, holds the new (untracked) file and
    // not the ignored one, and its message names the task, turn and session.
    assert_eq!(git(&repo, &["rev-parse", branch]).trim(), sha);
    let stat = git(
        &worktree,
        &["show", "--stat", "--format=%an <%ae>%n%B", &sha],
    );
    assert!(stat.contains("notes.txt"), "{stat}");
    assert!(!stat.contains("build.log"), "{stat}");
    assert!(
        stat.starts_with(
            "vibe-kanban-mcp <vibe-kanban-mcp@localhost>\nWrite the notes (turn 1)\n\n\
             Vibe-Kanban-Session: "
        ) && stat.contains(&session_id),
        "{stat}"
    );
    assert_eq!(
        git(&worktree, &["status", "--porcelain"]),
        "",
        "all committed but ignored files"
    );
    assert!(worktree.join("build.log").exists());

    // A turn that changes nothing makes no commit.
    server
        .call(
            "send_follow_up",
            json!({"session_id": session_id, "prompt": "change nothing"}),
        )
        .await;
    let second = wait_finished(&server, &session_id).await;
    assert_eq!(second["status"], "completed", "{second:#}");
    assert_eq!(second["final_message"], "nothing to change");
    assert_eq!(
        second["past_turns"],
        json!([
            {"turn": 1, "commit": sha, "source": "last_lines"},
            {"turn": 2, "commit": null, "source": "last_lines"}
        ])
    );
    assert_eq!(
        git(&repo, &["rev-parse", branch]).trim(),
        sha,
        "no new commit"
    );
    let log = read_all(&server, json!({"session_id": session_id}), 1 << 20).await;
    assert!(log.contains("the turn changed nothing; no commit"), "{log}");
    assert!(!log.contains("the hook ran"), "{log}");
    server.stop().await;
}

/// A custom executor's `final_message_field`: the last line with it is the
/// final message (source agent_json). The configured author signs the
/// commit; a project without a repository makes no commits.
#[tokio::test]
async fn a_declared_field_is_the_final_message_and_the_author_is_configurable() {
    let data = DataDir::new();
    let repo = git_repo(data.path());
    let server = start(
        &data,
        "commit_author = \"Review Bot <review-bot@example.com>\"",
        SUMMARIZER,
    )
    .await;
    let project = common::id(
        &server
            .call(
                "create_project",
                json!({"name": "app", "repo_path": repo.to_str()}),
            )
            .await,
    );
    let session_id = start_on(&server, &project, "Summarize", "summarizer", "sum it up").await;
    let session = wait_finished(&server, &session_id).await;
    assert_eq!(session["status"], "completed", "{session:#}");
    assert_eq!(
        session["final_message"], "Done: wrote summary.txt",
        "{session:#}"
    );
    assert_eq!(session["final_message_source"], "agent_json");
    let sha = session["past_turns"][0]["commit"]
        .as_str()
        .expect("a commit");
    let worktree = std::path::PathBuf::from(session["worktree_path"].as_str().expect("worktree"));
    assert_eq!(
        git(
            &worktree,
            &["show", "-s", "--format=%an <%ae>|%cn <%ce>", sha]
        )
        .trim(),
        "Review Bot <review-bot@example.com>|Review Bot <review-bot@example.com>"
    );
    // The readable text says it too.
    let text = common::text(
        &server
            .try_call("get_session", json!({"session_id": session_id}))
            .await
            .expect("get_session"),
    );
    assert!(
        text.contains("Final message:\nDone: wrote summary.txt")
            && text.contains(&format!(
                "Turn 1: commit {sha}, final message from agent_json"
            )),
        "{text}"
    );

    // Without a repository: the final message, no commit.
    let plain = server.project("plain").await;
    let session_id = start_on(&server, &plain, "No repo", "summarizer", "sum it up").await;
    let session = wait_finished(&server, &session_id).await;
    assert_eq!(
        session["final_message"], "Done: wrote summary.txt",
        "{session:#}"
    );
    assert_eq!(
        session["past_turns"],
        json!([{"turn": 1, "commit": null, "source": "agent_json"}])
    );
    server.stop().await;
}

/// While a turn runs, the previous turn's final message is not shown as
/// this one's; an agent that printed nothing has none.
#[tokio::test]
async fn no_final_message_while_running_or_when_the_agent_printed_none() {
    let data = DataDir::new();
    let server = start(
        &data,
        "",
        "[executors.silent]\ncommand = [\"sh\", \"-c\", \"exit 0\"]\n",
    )
    .await;
    let project = server.project("p").await;
    let session_id = start_on(&server, &project, "Quiet", "silent", "hush").await;
    let session = wait_finished(&server, &session_id).await;
    assert_eq!(session["status"], "completed", "{session:#}");
    assert_eq!(session["final_message"], Value::Null, "{session:#}");
    assert_eq!(session["final_message_source"], Value::Null);
    assert_eq!(session["past_turns"][0]["turn"], 1);

    let slow = start_on(&server, &project, "Slow", "slow", "take your time").await;
    let running = common::sessions::wait_output(&server, &slow, "agent: line 2").await;
    assert_eq!(running["final_message"], Value::Null, "{running:#}");
    assert_eq!(running["past_turns"], json!([]), "{running:#}");
    server
        .call("stop_session", json!({"session_id": slow}))
        .await;
    let stopped = wait_finished(&server, &slow).await;
    assert_eq!(stopped["status"], "stopped");
    assert_eq!(
        stopped["past_turns"][0]["turn"], 1,
        "a stopped turn is recorded: {stopped:#}"
    );
    server.stop().await;
}

/// A commit_author that is not `Name <email>`, or an output format the
/// server does not read, stops the runner at start, saying what it needs.
#[test]
fn bad_turn_settings_are_refused_at_start() {
    let data = DataDir::new();
    for (sessions, extra, expected) in [
        (
            "commit_author = \"just a name\"",
            "",
            "[sessions] commit_author \"just a name\" is not of the form \"Name <email>\"",
        ),
        (
            "",
            "[executors.odd]\ncommand = [\"odd\"]\noutput_format = \"yaml\"\n",
            "unknown variant `yaml`, expected one of `claude-stream-json`, `codex-json`, `gemini-stream-json`",
        ),
    ] {
        let path = config(&data, sessions, extra);
        let out = data.cli(&["runner", "--config", path.to_str().expect("utf-8")]);
        assert!(!out.status.success(), "{sessions}{extra}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{stderr}");
    }
}
