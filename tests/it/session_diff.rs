//! Reviewing and cleaning up a session's work through MCP: get_session_diff
//! (committed, uncommitted and untracked changes against the merge base,
//! paged by byte cursor, one path, bad input), the diff resource, and
//! archive_session and retention removing worktrees while branches stay.
//! Real agent processes (a shell script that edits the repository), a real
//! git repository, the real server in process.

use crate::common;

use common::{
    DataDir, Server,
    sessions::{config, git, git_repo, wait_finished, wait_for, wait_output},
};
use serde_json::{Value, json};

/// An agent that commits an edit, a new file, a rename and a deletion. (What
/// it leaves uncommitted, the runner commits at the end of its turn; the
/// uncommitted work of a turn still running is written by the tests, see
/// [`leave_uncommitted_work`].)
const EDITOR: &str = r#"set -e
printf '# test repo\nedited by the agent\n' > README.md
mkdir -p src
printf 'fn main() {}\n' > src/main.rs
git add -A
git -c user.email=a@example.com -c user.name=agent commit --quiet -m 'agent: first edits'
git mv old.txt moved.txt
git rm --quiet gone.txt
git -c user.email=a@example.com -c user.name=agent commit --quiet -m 'agent: rename and delete'
echo "editor: done"
"#;

/// The `editor` executor profile, running [`EDITOR`].
fn executors(data: &DataDir) -> String {
    let editor = data.path().join("editor.sh");
    std::fs::write(&editor, EDITOR).expect("write the editor agent");
    format!(
        "[executors.editor]\ncommand = [\"sh\", \"{}\"]\n",
        editor.display()
    )
}

async fn start(data: &DataDir, sessions: &str) -> Server {
    let extra = executors(data);
    let config = config(data, sessions, &extra);
    Server::in_process(
        data,
        &["--config", config.to_str().expect("utf-8 path")],
        &[],
    )
    .await
}

/// A repository with README.md, old.txt and gone.txt on main.
fn repo(data: &DataDir) -> std::path::PathBuf {
    let repo = git_repo(data.path());
    std::fs::write(repo.join("old.txt"), "one\ntwo\nthree\n").expect("write");
    std::fs::write(repo.join("gone.txt"), "gone\n").expect("write");
    git(&repo, &["add", "old.txt", "gone.txt"]);
    git(&repo, &["commit", "--quiet", "-m", "old file"]);
    repo
}

/// Starts `executor` on a new task of a project on `repo` and waits for it.
async fn run_session(server: &Server, repo: &std::path::Path, executor: &str) -> Value {
    let project = server
        .call(
            "create_project",
            json!({"name": "app", "repo_path": repo.to_str()}),
        )
        .await;
    let task = server
        .task(&common::id(&project), "Edit things", json!({}))
        .await;
    let started = server
        .call(
            "start_session",
            json!({"task_id": task, "executor": executor}),
        )
        .await;
    let session = wait_finished(server, &common::id(&started)).await;
    assert_eq!(session["status"], "completed", "{session:#}");
    session
}

/// A diff page: the structured result, with the summary (first block) as
/// `summary` and the patch (second block) as `text`.
async fn diff(server: &Server, args: Value) -> Value {
    let result = server
        .try_call("get_session_diff", args.clone())
        .await
        .unwrap_or_else(|e| panic!("get_session_diff({args}) was refused: {e:?}"));
    let blocks: Vec<String> = result
        .content
        .iter()
        .map(|b| b.as_text().expect("text").text.clone())
        .collect();
    assert_ne!(
        result.is_error,
        Some(true),
        "get_session_diff({args}): {blocks:?}"
    );
    assert_eq!(blocks.len(), 2, "the summary, then the patch: {blocks:?}");
    let mut page = result.structured_content.expect("structured");
    assert!(page.get("text").is_none(), "the patch is sent once");
    page["summary"] = json!(blocks[0]);
    page["text"] = json!(blocks[1]);
    page
}

/// Work in `worktree` that is not committed yet, as a running agent leaves it
/// between its writes and the end of its turn: an edit, an untracked file and
/// a binary file.
fn leave_uncommitted_work(worktree: &std::path::Path) {
    std::fs::write(
        worktree.join("src/main.rs"),
        "fn main() { println!(\"hi\"); }\n",
    )
    .expect("edit");
    std::fs::write(worktree.join("untracked.txt"), "untracked\n").expect("untracked");
    std::fs::write(worktree.join("blob.bin"), b"\x00\x01\x02binary").expect("binary");
}

fn file<'a>(page: &'a Value, path: &str) -> &'a Value {
    page["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("{path} is not in {page:#}"))
}

#[tokio::test]
async fn the_diff_has_committed_uncommitted_and_untracked_work_against_the_merge_base() {
    let data = DataDir::new();
    let repo = repo(&data);
    let server = start(&data, "").await;
    let session = run_session(&server, &repo, "editor").await;
    let session_id = common::id(&session);
    let worktree = std::path::PathBuf::from(session["worktree_path"].as_str().expect("worktree"));
    assert_eq!(session["worktree_exists"], true);
    leave_uncommitted_work(&worktree);
    // The base branch moves on after the session started: not its change.
    std::fs::write(repo.join("later.txt"), "on main later\n").expect("write");
    git(&repo, &["add", "later.txt"]);
    git(&repo, &["commit", "--quiet", "-m", "main moves on"]);
    let status_before = git(&worktree, &["status", "--porcelain"]);

    let page = diff(&server, json!({"session_id": session_id})).await;
    let mut paths: Vec<&str> = page["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["path"].as_str().expect("path"))
        .collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        [
            "README.md",
            "blob.bin",
            "gone.txt",
            "moved.txt",
            "src/main.rs",
            "untracked.txt"
        ],
        "{page:#}"
    );
    assert_eq!(file(&page, "README.md")["status"], "modified");
    assert_eq!(file(&page, "README.md")["additions"], 1);
    assert_eq!(file(&page, "README.md")["deletions"], 0);
    assert_eq!(file(&page, "gone.txt")["status"], "deleted");
    assert_eq!(file(&page, "gone.txt")["deletions"], 1);
    assert_eq!(file(&page, "moved.txt")["status"], "renamed");
    assert_eq!(file(&page, "moved.txt")["old_path"], "old.txt");
    assert_eq!(file(&page, "src/main.rs")["status"], "added");
    assert_eq!(file(&page, "src/main.rs")["additions"], 1);
    assert_eq!(file(&page, "blob.bin")["status"], "binary");
    assert_eq!(file(&page, "untracked.txt")["status"], "added");
    assert!(file(&page, "untracked.txt").get("old_path").is_none());
    assert_eq!(page["uncommitted"], true);
    assert_eq!(page["total_files"], 6);
    assert!(
        page["summary"]
            .as_str()
            .expect("summary")
            .contains("against main (merge base")
    );
    let text = page["text"].as_str().expect("patch");
    assert!(text.contains("+fn main() { println!(\"hi\"); }"), "{text}");
    assert!(text.contains("Binary files"), "{text}");
    assert!(!text.contains("later.txt"), "the base's own change: {text}");
    assert_eq!(page["total_bytes"].as_u64(), Some(text.len() as u64));
    assert_eq!(page["next_cursor"], page["total_bytes"]);
    let summary = page["summary"].as_str().expect("summary");
    assert!(
        summary.starts_with(&format!("Session {session_id} changed 6 file(s)")),
        "{summary}"
    );
    assert!(summary.contains("end of the diff"), "{summary}");
    // The worktree and its index are as the agent left them.
    assert_eq!(git(&worktree, &["status", "--porcelain"]), status_before);
    assert_eq!(git(&worktree, &["diff", "--cached", "--name-only"]), "");

    // Committed work only.
    let committed = diff(
        &server,
        json!({"session_id": session_id, "include_uncommitted": false}),
    )
    .await;
    assert_eq!(committed["uncommitted"], false);
    assert_eq!(committed["total_files"], 4, "{committed:#}");
    assert_eq!(file(&committed, "moved.txt")["old_path"], "old.txt");
    let committed_text = committed["text"].as_str().expect("patch");
    assert!(committed_text.contains("+fn main() {}"), "{committed_text}");
    assert!(!committed_text.contains("untracked"), "{committed_text}");

    // One path; a directory works too.
    let one = diff(
        &server,
        json!({"session_id": session_id, "path": "./src/main.rs"}),
    )
    .await;
    assert_eq!(one["total_files"], 1);
    assert_eq!(one["files"][0]["path"], "src/main.rs");
    let dir = diff(&server, json!({"session_id": session_id, "path": "src/"})).await;
    assert_eq!(dir["total_files"], 1);

    // Pages of a few bytes read back the whole patch, each ending on a
    // line, each listing the files it shows with their offsets.
    let mut cursor = 0;
    let mut joined = String::new();
    let mut seen = std::collections::BTreeSet::new();
    loop {
        let page = diff(
            &server,
            json!({"session_id": session_id, "cursor": cursor, "limit": 120}),
        )
        .await;
        let summary = page["summary"].as_str().expect("summary");
        assert!(
            summary.contains(&format!("[patch bytes {cursor}-")),
            "{summary}"
        );
        assert_eq!(page["total_files"], 6, "totals on every page");
        let chunk = page["text"].as_str().expect("text");
        joined.push_str(chunk);
        for f in page["files"].as_array().expect("files") {
            let offset = f["offset"].as_u64().expect("offset") as usize;
            assert!(text[offset..].starts_with("diff --git "), "{f}");
            seen.insert(f["path"].as_str().expect("path").to_owned());
        }
        let next = page["next_cursor"].as_u64().expect("next");
        if next == page["total_bytes"].as_u64().expect("total") {
            break;
        }
        assert!(chunk.ends_with('\n'), "{chunk:?}");
        assert!(next > cursor);
        cursor = next;
    }
    assert_eq!(joined, text);
    assert_eq!(seen.len(), 6);
    // A file's offset is a cursor that starts at its section.
    let offset = file(&page, "src/main.rs")["offset"]
        .as_u64()
        .expect("offset");
    let at = diff(&server, json!({"session_id": session_id, "cursor": offset})).await;
    assert!(
        at["text"]
            .as_str()
            .expect("text")
            .starts_with("diff --git a/src/main.rs")
    );
    assert_eq!(at["files"][0]["path"], "src/main.rs");
    // The end is an empty last page; past it is an error.
    let total = page["total_bytes"].as_u64().expect("total");
    let end = diff(&server, json!({"session_id": session_id, "cursor": total})).await;
    assert_eq!(
        (end["text"].as_str(), end["next_cursor"].as_u64()),
        (Some(""), Some(total))
    );
    let past = server
        .call_fails(
            "get_session_diff",
            json!({"session_id": session_id, "cursor": total + 1}),
        )
        .await;
    assert!(
        past.contains("past the end of the diff") && past.contains(&format!("{total} bytes")),
        "{past}"
    );

    // Paths outside the repository are refused.
    for bad in ["../outside.txt", "/etc/passwd", "src/../../x"] {
        let err = server
            .call_invalid(
                "get_session_diff",
                json!({"session_id": session_id, "path": bad}),
            )
            .await;
        assert!(err.contains("outside the repository"), "{bad}: {err}");
    }

    // The resource: every file, then the first page of the patch.
    let resource = server
        .read(&format!("kanban://sessions/{session_id}/diff"))
        .await
        .expect("diff resource");
    assert!(resource.contains("6 file(s) changed"), "{resource}");
    assert!(resource.contains("deleted gone.txt (+0 -1)"), "{resource}");
    assert!(
        resource.contains("renamed old.txt -> moved.txt"),
        "{resource}"
    );
    assert!(resource.ends_with(text), "{resource}");

    // An edit after the last look is in the next one (a new snapshot).
    std::fs::write(worktree.join("late.txt"), "late\n").expect("write");
    let again = diff(&server, json!({"session_id": session_id})).await;
    assert_eq!(again["total_files"], 7);
    server.stop().await;
}

#[tokio::test]
async fn sessions_without_a_diff_say_why() {
    let data = DataDir::new();
    let server = start(&data, "").await;
    // No repository: a plain directory.
    let project = server
        .call("create_project", json!({"name": "plain"}))
        .await;
    let task = server
        .task(&common::id(&project), "No repo", json!({}))
        .await;
    let started = server.call("start_session", json!({"task_id": task})).await;
    let session_id = common::id(&started);
    wait_finished(&server, &session_id).await;
    let err = server
        .call_fails("get_session_diff", json!({"session_id": session_id}))
        .await;
    assert!(
        err.contains("has no repository") && err.contains(&session_id),
        "{err}"
    );
    let err = server
        .read(&format!("kanban://sessions/{session_id}/diff"))
        .await
        .expect_err("no diff resource");
    assert!(err.message.contains("has no repository"), "{err:?}");
    // Unknown ids are not found in the caller's workspace.
    let unknown = "0193a000-0000-7000-8000-00000000dead";
    for tool in ["get_session_diff", "archive_session"] {
        let err = server
            .call_fails(tool, json!({"session_id": unknown}))
            .await;
        assert!(
            err.contains(&format!("session {unknown} not found in workspace")),
            "{tool}: {err}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn archiving_removes_the_worktree_keeps_the_branch_and_refuses_a_running_session() {
    let data = DataDir::new();
    let repo = repo(&data);
    let server = start(&data, "").await;

    // A running session is refused, and nothing changes.
    let project = server
        .call(
            "create_project",
            json!({"name": "app", "repo_path": repo.to_str()}),
        )
        .await;
    let slow_task = server.task(&common::id(&project), "Slow", json!({})).await;
    let slow = server
        .call(
            "start_session",
            json!({"task_id": slow_task, "executor": "slow"}),
        )
        .await;
    let slow_id = common::id(&slow);
    let running = wait_output(&server, &slow_id, "agent: line 2").await;
    let err = server
        .call_fails("archive_session", json!({"session_id": slow_id}))
        .await;
    assert!(
        err.contains("is running") && err.contains("Nothing was changed"),
        "{err}"
    );
    let still = server
        .call("get_session", json!({"session_id": slow_id}))
        .await;
    assert_eq!(still["archived_at"], Value::Null);
    assert_eq!(still["worktree_exists"], true);
    assert!(std::path::Path::new(running["worktree_path"].as_str().expect("path")).is_dir());
    server
        .call("stop_session", json!({"session_id": slow_id}))
        .await;

    // A finished one: the worktree goes, the branch and its diff stay.
    let task = server.task(&common::id(&project), "Edit", json!({})).await;
    let started = server
        .call(
            "start_session",
            json!({"task_id": task, "executor": "editor"}),
        )
        .await;
    let session_id = common::id(&started);
    let session = wait_finished(&server, &session_id).await;
    let worktree = std::path::PathBuf::from(session["worktree_path"].as_str().expect("path"));
    let branch = session["branch"].as_str().expect("branch").to_owned();
    let archived = server
        .call("archive_session", json!({"session_id": session_id}))
        .await;
    assert_eq!(archived["worktree_exists"], false, "{archived:#}");
    assert_eq!(archived["branch_deleted"], false);
    assert!(archived["archived_at"].is_string());
    assert!(!worktree.exists());
    assert!(!git(&repo, &["worktree", "list"]).contains(&worktree.display().to_string()));
    assert!(git(&repo, &["branch", "--list", &branch]).contains(&branch));
    let after = server
        .call("get_session", json!({"session_id": session_id}))
        .await;
    assert_eq!(after["worktree_exists"], false);
    assert_eq!(after["archived_at"], archived["archived_at"]);
    let page = diff(&server, json!({"session_id": session_id})).await;
    assert_eq!(page["uncommitted"], false, "{page:#}");
    assert_eq!(
        page["total_files"], 4,
        "the branch's committed changes: {page:#}"
    );
    assert!(
        page["summary"]
            .as_str()
            .expect("summary")
            .contains("archived")
    );

    // Again, deleting the branch: then there is nothing left to diff.
    let deleted = server
        .call(
            "archive_session",
            json!({"session_id": session_id, "delete_branch": true}),
        )
        .await;
    assert_eq!(deleted["branch_deleted"], true);
    assert_eq!(
        deleted["archived_at"], archived["archived_at"],
        "the first time stays"
    );
    assert!(!git(&repo, &["branch", "--list", &branch]).contains(&branch));
    let err = server
        .call_fails("get_session_diff", json!({"session_id": session_id}))
        .await;
    assert!(
        err.contains("no longer exists") && err.contains("nothing left to diff"),
        "{err}"
    );
    server.stop().await;
}

#[tokio::test]
async fn retention_archives_worktrees_of_old_finished_sessions() {
    let data = DataDir::new();
    let repo = repo(&data);
    let server = start(&data, "keep_worktrees_days = 2\nstale_after_secs = 3").await;
    let old = run_session(&server, &repo, "editor").await;
    let old_id = common::id(&old);
    let old_task = server
        .call("get_task", json!({"task_id": old["task_id"]}))
        .await;
    let project_id = old_task["project_id"].as_str().expect("project").to_owned();
    // A session that finished three days ago, and one that finished now.
    data.exec(&format!(
        "UPDATE workspace_sessions SET finished_at = '2000-01-01T00:00:00.000Z' WHERE id = '{old_id}'"
    ));
    let recent = {
        let task = server.task(&project_id, "Recent", json!({})).await;
        let started = server.call("start_session", json!({"task_id": task})).await;
        wait_finished(&server, &common::id(&started)).await
    };
    let archived = wait_for(&server, &old_id, "archived by retention", |s| {
        s["worktree_exists"] == false
    })
    .await;
    assert!(archived["archived_at"].is_string(), "{archived:#}");
    assert!(!std::path::Path::new(old["worktree_path"].as_str().expect("path")).exists());
    assert!(git(&repo, &["branch", "--list"]).contains(old["branch"].as_str().expect("branch")));
    let recent = server
        .call("get_session", json!({"session_id": common::id(&recent)}))
        .await;
    assert_eq!(recent["worktree_exists"], true, "{recent:#}");
    assert_eq!(recent["archived_at"], Value::Null);
    server.stop().await;
}
