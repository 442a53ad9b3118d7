//! Shipping a session's work with merge_session: squash, merge and rebase
//! onto a base that moved on, the base's clean checkout brought along, the
//! task moved to done and the merge shown by get_session; and every refusal
//! (conflicts, a dirty base checkout, a running session, no repository, a
//! second merge) leaving the repository exactly as it was. Real agent
//! processes (a shell script that writes the files its prompt names), real
//! git repositories, the real server in process (and once as the binary).

use std::path::{Path, PathBuf};

use crate::common;

use common::{
    Backend, DataDir, Server,
    sessions::{config, git, git_repo, wait_finished, wait_output},
};
use serde_json::{Value, json};

/// An agent that writes the files its prompt names, one `path: text` a
/// line, and ends with a final message. The runner commits its work.
const WRITER: &str = r#"set -eu
printf '%s\n' "$1" | while IFS= read -r line; do
    case "$line" in
        *": "*)
            path="${line%%: *}"
            mkdir -p "$(dirname "$path")"
            printf '%s\n' "${line#*: }" > "$path"
            ;;
    esac
done
echo "Wrote the files the prompt named."
"#;

fn executors(data: &DataDir) -> String {
    let writer = data.path().join("writer.sh");
    std::fs::write(&writer, WRITER).expect("write the writer agent");
    format!(
        "[executors.writer]\ncommand = [\"sh\", \"{}\"]\n",
        writer.display()
    )
}

fn config_args(data: &DataDir) -> PathBuf {
    let extra = executors(data);
    config(data, "", &extra)
}

async fn start(data: &DataDir) -> Server {
    let config = config_args(data);
    Server::in_process(data, &["--config", config.to_str().expect("utf-8")], &[]).await
}

/// A project on `repo` (or on no repository).
async fn project(server: &Server, repo: Option<&Path>) -> String {
    let mut args = json!({"name": "app"});
    if let Some(repo) = repo {
        args["repo_path"] = json!(repo.to_str());
    }
    common::id(&server.call("create_project", args).await)
}

/// Runs the writer on a new task of `project` with `prompt`; the finished
/// session.
async fn run(server: &Server, project: &str, title: &str, prompt: &str, executor: &str) -> Value {
    let task = server.task(project, title, json!({})).await;
    let started = server
        .call(
            "start_session",
            json!({"task_id": task, "executor": executor, "prompt": prompt}),
        )
        .await;
    let session = wait_finished(server, &common::id(&started)).await;
    assert_eq!(session["status"], "completed", "{session:#}");
    session
}

/// Commits `text` to `file` on the repository's checked-out branch.
fn commit_on_base(repo: &Path, file: &str, text: &str) {
    std::fs::write(repo.join(file), text).expect("write");
    git(repo, &["add", file]);
    git(repo, &["commit", "--quiet", "-m", &format!("base: {file}")]);
}

fn rev(repo: &Path, spec: &str) -> String {
    git(repo, &["rev-parse", spec]).trim().to_owned()
}

/// Everything a refused merge must leave as it was: every ref, the status
/// of the checkout and of the session's worktree, and both HEADs.
fn state(repo: &Path, worktree: &Path) -> String {
    format!(
        "{}\n--\n{}\n--\n{}\n--\n{}{}",
        git(repo, &["for-each-ref"]),
        git(repo, &["status", "--porcelain", "--untracked-files=all"]),
        git(
            worktree,
            &["status", "--porcelain", "--untracked-files=all"]
        ),
        git(repo, &["rev-parse", "HEAD"]),
        git(worktree, &["rev-parse", "HEAD"]),
    )
}

fn worktree_of(session: &Value) -> PathBuf {
    PathBuf::from(session["worktree_path"].as_str().expect("worktree"))
}

async fn task_status(server: &Server, session: &Value) -> Value {
    let task = server
        .call("get_task", json!({"task_id": session["task_id"]}))
        .await;
    task["status"].clone()
}

async fn squash_lands_on_a_base_that_moved_on(backend: Backend) {
    let data = DataDir::on(backend);
    let repo = git_repo(data.path());
    let server = start(&data).await;
    let project = project(&server, Some(&repo)).await;
    let session = run(
        &server,
        &project,
        "Add a feature",
        "feature.txt: hello\nREADME.md: # test repo, with a feature",
        "writer",
    )
    .await;
    let session_id = common::id(&session);
    let old_base = {
        commit_on_base(&repo, "later.txt", "on main later\n");
        rev(&repo, "main")
    };

    // The merge from a server without a runner, so only the tool's own
    // requests reach the store.
    server.stop().await;
    let config = config_args(&data);
    let server = Server::in_process(
        &data,
        &["--config", config.to_str().expect("utf-8"), "--no-runner"],
        &[],
    )
    .await;
    if let Some(d1) = data.d1() {
        d1.reset();
    }
    let merged = server
        .call("merge_session", json!({"session_id": session_id}))
        .await;
    if let Some(d1) = data.d1() {
        // COSTS in tests/it/d1_store.rs: one read, git, one write.
        assert_eq!(d1.requests(), 2, "a merge is two round trips");
    }
    let commit = merged["commit"].as_str().expect("commit").to_owned();
    assert_eq!(merged["base_branch"], "main");
    assert_eq!(merged["archived"], false);
    assert_eq!(rev(&repo, "main"), commit);
    // One commit on the base: its parent is the base as it had moved on.
    assert_eq!(rev(&repo, "main^"), old_base);
    assert_eq!(
        git(&repo, &["rev-list", "--parents", "-n", "1", &commit])
            .split_whitespace()
            .count(),
        2,
        "a squash has one parent"
    );
    let message = git(&repo, &["log", "-1", "--format=%B", &commit]);
    assert_eq!(
        message.trim_end(),
        format!(
            "Add a feature\n\nWrote the files the prompt named.\n\nVibe-Kanban-Session: {session_id}"
        )
    );
    // The repository's checkout of main (clean) came along, like a
    // fast-forward: the files are there and nothing is left to commit.
    assert_eq!(
        std::fs::read_to_string(repo.join("feature.txt")).expect("merged file"),
        "hello\n"
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("later.txt")).expect("base file"),
        "on main later\n"
    );
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");

    assert_eq!(task_status(&server, &session).await, "done");
    let shown = server
        .call("get_session", json!({"session_id": session_id}))
        .await;
    assert_eq!(shown["merge_commit"], commit.as_str(), "{shown:#}");
    assert_eq!(shown["merge_strategy"], "squash");
    assert!(shown["merged_at"].is_string(), "{shown:#}");
    let text = common::text(
        &server
            .try_call("get_session", json!({"session_id": session_id}))
            .await
            .expect("get_session"),
    );
    assert!(
        text.contains(&format!("Merged into main as commit {commit} (squash)")),
        "{text}"
    );
    let audited = data.rows(
        "SELECT entity_type, action FROM audit_logs WHERE details LIKE ?1 ORDER BY entity_type",
        &[json!(format!("%{commit}%"))],
    );
    assert_eq!(
        audited,
        vec![vec![json!("session"), json!("merge")]],
        "the merge is audited"
    );
    let task_done = data.count(&format!(
        "SELECT COUNT(*) FROM audit_logs WHERE entity_type = 'task' AND action = 'update' \
         AND details LIKE '%\"done\"%' AND details LIKE '%{session_id}%'"
    ));
    assert_eq!(task_done, 1, "the task's move to done is audited");

    // A second merge is refused with the recorded commit; nothing moves.
    let before = state(&repo, &worktree_of(&session));
    let again = server
        .call_fails("merge_session", json!({"session_id": session_id}))
        .await;
    assert!(
        again.contains("already merged into 'main'") && again.contains(&commit),
        "{again}"
    );
    assert_eq!(state(&repo, &worktree_of(&session)), before);
    server.stop().await;
}

#[tokio::test]
async fn squash_lands_on_a_base_that_moved_on_sqlite() {
    squash_lands_on_a_base_that_moved_on(Backend::Sqlite).await;
}

#[tokio::test]
async fn squash_lands_on_a_base_that_moved_on_d1() {
    squash_lands_on_a_base_that_moved_on(Backend::D1).await;
}

#[tokio::test]
async fn merge_makes_a_merge_commit_and_archives_when_asked() {
    let data = DataDir::new();
    let repo = git_repo(data.path());
    let server = start(&data).await;
    let project = project(&server, Some(&repo)).await;
    let session = run(&server, &project, "Notes", "notes.txt: one", "writer").await;
    let session_id = common::id(&session);
    let branch = session["branch"].as_str().expect("branch").to_owned();
    let tip = rev(&repo, &branch);
    commit_on_base(&repo, "later.txt", "later\n");
    let old_base = rev(&repo, "main");

    let merged = server
        .call(
            "merge_session",
            json!({"session_id": session_id, "strategy": "merge", "archive": true}),
        )
        .await;
    let commit = merged["commit"].as_str().expect("commit");
    let parents = git(&repo, &["rev-list", "--parents", "-n", "1", commit]);
    assert_eq!(
        parents.split_whitespace().collect::<Vec<_>>(),
        [commit, old_base.as_str(), tip.as_str()],
        "a merge commit of the base and the branch"
    );
    assert_eq!(merged["archived"], true);
    assert!(!worktree_of(&session).exists(), "the worktree is archived");
    assert_eq!(rev(&repo, &branch), tip, "the branch stays");
    let shown = server
        .call("get_session", json!({"session_id": session_id}))
        .await;
    assert_eq!(shown["worktree_exists"], false);
    assert!(shown["archived_at"].is_string(), "{shown:#}");
    assert_eq!(shown["merge_strategy"], "merge");
    assert_eq!(task_status(&server, &session).await, "done");
    assert_eq!(
        std::fs::read_to_string(repo.join("notes.txt")).expect("merged"),
        "one\n"
    );
    server.stop().await;
}

#[tokio::test]
async fn rebase_replays_onto_a_moved_base_and_fast_forwards_an_unmoved_one() {
    let data = DataDir::new();
    let repo = git_repo(data.path());
    let server = start(&data).await;
    let project = project(&server, Some(&repo)).await;

    // The base moved on: the session's turn commit is replayed on top of it.
    let moved = run(&server, &project, "Moved", "a.txt: a", "writer").await;
    let branch = moved["branch"].as_str().expect("branch").to_owned();
    let turn_commit = rev(&repo, &branch);
    commit_on_base(&repo, "later.txt", "later\n");
    let old_base = rev(&repo, "main");
    let merged = server
        .call(
            "merge_session",
            json!({"session_id": common::id(&moved), "strategy": "rebase"}),
        )
        .await;
    let commit = merged["commit"].as_str().expect("commit").to_owned();
    assert_ne!(commit, turn_commit, "replayed, so a new commit");
    assert_eq!(rev(&repo, "main"), commit);
    assert_eq!(rev(&repo, "main^"), old_base);
    let format = "--format=%an <%ae>%n%B";
    assert_eq!(
        git(&repo, &["log", "-1", format, &commit]),
        git(&repo, &["log", "-1", format, &turn_commit]),
        "the turn commit's author and message are kept"
    );
    assert_eq!(
        git(&repo, &["ls-tree", "--name-only", "main"])
            .lines()
            .collect::<Vec<_>>(),
        ["README.md", "a.txt", "later.txt"]
    );

    // The base did not move: the branch's own commits land as they are.
    let unmoved = run(&server, &project, "Unmoved", "b.txt: b", "writer").await;
    let branch = unmoved["branch"].as_str().expect("branch").to_owned();
    let merged = server
        .call(
            "merge_session",
            json!({"session_id": common::id(&unmoved), "strategy": "rebase"}),
        )
        .await;
    assert_eq!(merged["commit"], rev(&repo, &branch).as_str());
    assert_eq!(rev(&repo, "main"), rev(&repo, &branch), "a fast-forward");
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    server.stop().await;
}

#[tokio::test]
async fn conflicts_are_refused_with_the_files_and_change_nothing() {
    let data = DataDir::new();
    let repo = git_repo(data.path());
    std::fs::write(repo.join("shared.txt"), "base\n").expect("write");
    git(&repo, &["add", "shared.txt"]);
    git(&repo, &["commit", "--quiet", "-m", "shared"]);
    let server = start(&data).await;
    let project = project(&server, Some(&repo)).await;
    let session = run(
        &server,
        &project,
        "Edit both",
        "README.md: agent's readme\nshared.txt: agent's line\nfree.txt: no conflict here",
        "writer",
    )
    .await;
    let session_id = common::id(&session);
    std::fs::write(repo.join("README.md"), "main's readme\n").expect("write");
    std::fs::write(repo.join("shared.txt"), "main's line\n").expect("write");
    git(
        &repo,
        &["commit", "--quiet", "-am", "main edits the same lines"],
    );
    let worktree = worktree_of(&session);
    let before = state(&repo, &worktree);

    for strategy in ["squash", "merge", "rebase"] {
        let refused = server
            .call_fails(
                "merge_session",
                json!({"session_id": session_id, "strategy": strategy}),
            )
            .await;
        assert!(
            refused.contains("conflicts in README.md, shared.txt. Nothing was changed"),
            "{strategy}: {refused}"
        );
        assert!(!refused.contains("free.txt"), "{refused}");
        assert!(refused.contains("send_follow_up"), "what to do: {refused}");
        assert_eq!(state(&repo, &worktree), before, "{strategy}");
    }
    assert_eq!(task_status(&server, &session).await, "inreview");
    let shown = server
        .call("get_session", json!({"session_id": session_id}))
        .await;
    assert!(shown.get("merge_commit").is_none(), "{shown:#}");
    server.stop().await;
}

#[tokio::test]
async fn a_dirty_base_checkout_is_refused_and_uncommitted_session_work_is_merged() {
    let data = DataDir::new();
    let repo = git_repo(data.path());
    let server = start(&data).await;
    let project = project(&server, Some(&repo)).await;
    let session = run(&server, &project, "Docs", "docs.txt: docs", "writer").await;
    let session_id = common::id(&session);
    let worktree = worktree_of(&session);
    // Someone edits the worktree after the turn: uncommitted work.
    std::fs::write(worktree.join("late.txt"), "late edit\n").expect("write");

    // The user has uncommitted changes in the checkout of main.
    std::fs::write(repo.join("README.md"), "work in progress\n").expect("write");
    let before = state(&repo, &worktree);
    let refused = server
        .call_fails("merge_session", json!({"session_id": session_id}))
        .await;
    assert!(
        refused.contains(&format!(
            "checked out in {} and has uncommitted changes there: commit or stash in {} first",
            repo.display(),
            repo.display()
        )),
        "{refused}"
    );
    assert_eq!(state(&repo, &worktree), before);
    assert_eq!(
        std::fs::read_to_string(repo.join("README.md")).expect("read"),
        "work in progress\n"
    );

    // Stashed: the merge lands, the worktree's late edit with it.
    git(&repo, &["stash", "--quiet"]);
    let branch = session["branch"].as_str().expect("branch").to_owned();
    let tip = rev(&repo, &branch);
    server
        .call("merge_session", json!({"session_id": session_id}))
        .await;
    assert_eq!(
        std::fs::read_to_string(repo.join("late.txt")).expect("merged late edit"),
        "late edit\n"
    );
    // It was committed on the session's branch first, as a turn would.
    assert_eq!(rev(&repo, &format!("{branch}^")), tip);
    assert_eq!(git(&worktree, &["status", "--porcelain"]), "");
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    server.stop().await;
}

#[tokio::test]
async fn running_sessions_and_sessions_without_a_repository_are_refused() {
    let data = DataDir::new();
    let repo = git_repo(data.path());
    let server = start(&data).await;
    let with_repo = project(&server, Some(&repo)).await;
    server
        .call(
            "update_project",
            json!({"project_id": with_repo, "name": "repo"}),
        )
        .await;
    let task = server.task(&with_repo, "Slow", json!({})).await;
    let started = server
        .call(
            "start_session",
            json!({"task_id": task, "executor": "slow"}),
        )
        .await;
    let session_id = common::id(&started);
    let session = wait_output(&server, &session_id, "agent: line 2").await;
    let worktree = worktree_of(&session);
    let before = state(&repo, &worktree);
    let refused = server
        .call_fails("merge_session", json!({"session_id": session_id}))
        .await;
    assert!(
        refused.contains(&format!(
            "session {session_id} is running: only a finished session can be merged; stop it \
             (stop_session) or wait_for_session first"
        )),
        "{refused}"
    );
    assert_eq!(state(&repo, &worktree), before);
    server
        .call("stop_session", json!({"session_id": session_id}))
        .await;

    let plain = project(&server, None).await;
    let session = run(&server, &plain, "No repo", "x.txt: x", "writer").await;
    let refused = server
        .call_fails("merge_session", json!({"session_id": session["id"]}))
        .await;
    assert!(
        refused.contains("has nothing to merge: its project had no repo_path"),
        "{refused}"
    );
    let unknown = "0193a000-0000-7000-8000-000000000001";
    let refused = server
        .call_fails("merge_session", json!({"session_id": unknown}))
        .await;
    assert!(
        refused.contains(&format!(
            "session {unknown} not found in workspace 'Default'"
        )),
        "names the id and the workspace: {refused}"
    );
    let invalid = server
        .call_invalid(
            "merge_session",
            json!({"session_id": session["id"], "strategy": "octopus"}),
        )
        .await;
    assert!(invalid.contains("strategy"), "{invalid}");
    server.stop().await;
}

#[tokio::test]
async fn the_binary_merges_over_stdio() {
    let data = DataDir::new();
    let repo = git_repo(data.path());
    let config = config_args(&data);
    let server = Server::start(&data, &["--config", config.to_str().expect("utf-8")], &[]).await;
    let project = project(&server, Some(&repo)).await;
    let session = run(&server, &project, "Ship it", "shipped.txt: yes", "writer").await;
    let merged = server
        .call(
            "merge_session",
            json!({"session_id": session["id"], "strategy": "squash"}),
        )
        .await;
    assert_eq!(
        rev(&repo, "main"),
        merged["commit"].as_str().expect("commit")
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("shipped.txt")).expect("merged"),
        "yes\n"
    );
    assert_eq!(task_status(&server, &session).await, "done");
    server.stop().await;
}

#[tokio::test]
async fn a_base_checked_out_in_another_worktree_comes_along_and_others_stay() {
    let data = DataDir::new();
    let repo = git_repo(data.path());
    let server = start(&data).await;
    let project = project(&server, Some(&repo)).await;
    let session = run(&server, &project, "Elsewhere", "new.txt: new", "writer").await;
    let session_id = common::id(&session);
    // The project's checkout moves to another branch; main is checked out
    // in a worktree of its own.
    git(&repo, &["checkout", "--quiet", "-b", "other"]);
    let base_tree = data.path().join("base-tree");
    git(
        &repo,
        &[
            "worktree",
            "add",
            "--quiet",
            base_tree.to_str().expect("utf-8"),
            "main",
        ],
    );
    // An untracked file where the merge would write one: refused, and it
    // stays as it is.
    std::fs::write(base_tree.join("new.txt"), "mine\n").expect("write");
    let worktree = worktree_of(&session);
    let before = state(&repo, &worktree);
    let refused = server
        .call_fails("merge_session", json!({"session_id": session_id}))
        .await;
    assert!(
        refused.contains(&format!(
            "checked out in {} and git would not bring that checkout along",
            base_tree.display()
        )) && refused.contains("new.txt"),
        "{refused}"
    );
    assert_eq!(state(&repo, &worktree), before);
    assert_eq!(
        std::fs::read_to_string(base_tree.join("new.txt")).expect("read"),
        "mine\n"
    );

    std::fs::remove_file(base_tree.join("new.txt")).expect("remove");
    let merged = server
        .call("merge_session", json!({"session_id": session_id}))
        .await;
    assert_eq!(
        rev(&base_tree, "HEAD"),
        merged["commit"].as_str().expect("commit")
    );
    assert_eq!(
        std::fs::read_to_string(base_tree.join("new.txt")).expect("merged"),
        "new\n"
    );
    assert_eq!(git(&base_tree, &["status", "--porcelain"]), "");
    // The project's checkout of the other branch is untouched.
    assert!(!repo.join("new.txt").exists());
    assert_eq!(
        git(&repo, &["symbolic-ref", "--short", "HEAD"]).trim(),
        "other"
    );
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    server.stop().await;
}
