//! The session buttons of the web board over HTTP (issue 17 item 4): start
//! from the task page (an executor from the profiles, a prompt), stop,
//! follow-up, merge (conflicts listed, nothing changed; then a clean merge
//! that archives), open a pull request (the loopback GitHub stand-in and a
//! real bare repository), approve or deny an asking agent's request. Each
//! POST needs the CSRF token; a viewer's is refused; a session of another
//! workspace is a 404; a button pressed in the wrong state says why on the
//! page. The server is the real binary; an MCP client on the same SQLite
//! file checks what the store says. The log's pages are here too.

use std::{path::Path, process::Command};

use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::{
    approvals::{ask, asking, pending},
    common::{
        self, BIN, DataDir, Server,
        github::{GitHubStandIn, TOKEN},
        sessions::{config, git, git_repo, wait_finished, wait_for, wait_output},
    },
    http_support::HttpServer,
    web_board::{Session, client, csrf_of, form_body, sign_in},
};

/// A form POST; returns the status, where it redirects, and the body.
async fn post(
    session: &Session,
    server: &HttpServer,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let response = client()
        .post(server.url(path))
        .header(header::COOKIE, &session.cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form_body(form))
        .send()
        .await
        .expect("post");
    let status = response.status();
    let location = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, location, response.text().await.expect("body"))
}

/// A POST that the page answers: a redirect back to `page`, whose notice
/// (shown once) is returned.
async fn pressed(
    session: &Session,
    server: &HttpServer,
    path: &str,
    form: &[(&str, &str)],
    page: &str,
) -> String {
    let (status, location, body) = post(session, server, path, form).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{path}: {body}");
    assert_eq!(location, page, "{path} goes back to its page");
    let (status, shown) = session.get(server, page).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    let notice = notice_of(&shown).unwrap_or_else(|| panic!("{path}: no notice on {page}"));
    let (_, again) = session.get(server, page).await;
    assert!(notice_of(&again).is_none(), "a notice shows once");
    notice
}

/// The notice on a page: its class ("ok" or "error") and text.
fn notice_of(page: &str) -> Option<String> {
    let at = page.find("<div class=\"notice ")?;
    let rest = &page[at..];
    Some(rest[..rest.find("</div>")?].to_owned())
}

/// Whether a page has a form posting to `action`.
fn has_form(page: &str, action: &str) -> bool {
    page.contains(&format!("action=\"{action}\""))
}

/// The session page of the web server, and an MCP client beside it.
struct Setup {
    data: DataDir,
    repo: std::path::PathBuf,
    web: HttpServer,
    mcp: Server,
    person: Session,
    csrf: String,
    viewer: Session,
    viewer_csrf: String,
    project: String,
}

/// A web server that runs sessions (the script agent), with a project on
/// a real git repository; `extra` goes into the configuration.
async fn setup(extra: &str) -> Setup {
    let data = DataDir::new();
    let person_key = data.create_key("default", "person", "read,write,sessions");
    let viewer_key = data.create_key("default", "viewer", "read");
    let repo = git_repo(data.path());
    let config = config(&data, "", extra);
    let config = config.to_str().expect("utf-8").to_owned();
    let web = HttpServer::start(data.path(), &["--config", &config], &[]);
    let mcp = Server::in_process(&data, &["--no-runner", "--config", &config], &[]).await;
    let project = common::id(
        &mcp.call(
            "create_project",
            json!({"name": "app", "repo_path": repo.to_str()}),
        )
        .await,
    );
    let person = sign_in(&web, &person_key).await;
    let csrf = person.csrf(&web).await;
    let viewer = sign_in(&web, &viewer_key).await;
    let viewer_csrf = viewer.csrf(&web).await;
    Setup {
        data,
        repo,
        web,
        mcp,
        person,
        csrf,
        viewer,
        viewer_csrf,
        project,
    }
}

impl Setup {
    /// Starts a session from the task page as the person; returns its id.
    async fn start(&self, task: &str, fields: &[(&str, &str)]) -> String {
        let mut form = vec![("_csrf", self.csrf.as_str())];
        form.extend_from_slice(fields);
        let (status, location, body) = post(
            &self.person,
            &self.web,
            &format!("/t/{task}/sessions"),
            &form,
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
        location
            .strip_prefix("/s/")
            .unwrap_or_else(|| panic!("start goes to the session page, not {location}"))
            .to_owned()
    }
}

#[tokio::test]
async fn start_stop_and_follow_up_from_the_pages() {
    let t = setup("").await;
    let task = t.mcp.task(&t.project, "Count slowly", json!({})).await;
    let task_page = format!("/t/{task}");

    // The task page offers the configured profiles, the default marked.
    let (_, page) = t.person.get(&t.web, &task_page).await;
    assert!(
        page.contains("<select id=\"executor\" name=\"executor\">"),
        "{page}"
    );
    assert!(
        page.contains("<option value=\"script\" selected>script (default)</option>"),
        "{page}"
    );
    assert!(
        page.contains("<option value=\"slow\">slow</option>"),
        "{page}"
    );
    assert!(page.contains("<textarea id=\"prompt\" name=\"prompt\""));
    // A viewer sees no start form, and its forged start is refused.
    let (_, viewer_page) = t.viewer.get(&t.web, &task_page).await;
    assert!(!has_form(&viewer_page, &format!("/t/{task}/sessions")));
    let path = format!("/t/{task}/sessions");
    let (status, _, _) = post(&t.viewer, &t.web, &path, &[("_csrf", &t.viewer_csrf)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Without the CSRF token: refused before anything runs.
    let (status, _, body) = post(&t.person, &t.web, &path, &[("executor", "slow")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("CSRF"), "{body}");
    // An unknown profile: back on the task page, which says which exist.
    let refused = pressed(
        &t.person,
        &t.web,
        &path,
        &[("_csrf", &t.csrf), ("executor", "nonesuch")],
        &task_page,
    )
    .await;
    assert!(
        refused.contains("notice error")
            && refused.contains("nonesuch")
            && refused.contains("slow"),
        "{refused}"
    );
    let none = t.mcp.call("list_sessions", json!({"task_id": task})).await;
    assert_eq!(none["sessions"], json!([]), "nothing was started");

    let id = t
        .start(
            &task,
            &[("executor", "slow"), ("prompt", "Count to a thousand")],
        )
        .await;
    let session_page = format!("/s/{id}");
    let (_, page) = t.person.get(&t.web, &session_page).await;
    let started = notice_of(&page).expect("the start's notice");
    assert!(
        started.contains("notice ok") && started.contains(&id),
        "{started}"
    );
    let running = wait_output(&t.mcp, &id, "agent: line 2").await;
    assert_eq!(running["prompt"], "Count to a thousand");
    assert_eq!(running["executor"], "slow");

    // Running: Stop, and nothing that needs it finished.
    let (_, page) = t.person.get(&t.web, &session_page).await;
    assert!(has_form(&page, &format!("/s/{id}/stop")), "{page}");
    for finished_only in ["follow-up", "merge", "pull-request"] {
        assert!(
            !has_form(&page, &format!("/s/{id}/{finished_only}")),
            "{finished_only} while running"
        );
    }
    // Merging a running session (a forged POST): the tool's reason, shown.
    let said = pressed(
        &t.person,
        &t.web,
        &format!("/s/{id}/merge"),
        &[("_csrf", &t.csrf), ("strategy", "squash")],
        &session_page,
    )
    .await;
    assert!(
        said.contains("notice error") && said.contains("stop it"),
        "{said}"
    );
    // A viewer sees no buttons and cannot stop it.
    let (_, viewer_page) = t.viewer.get(&t.web, &session_page).await;
    assert!(!viewer_page.contains("<form method=\"post\" action=\"/s/"));
    let (status, _, _) = post(
        &t.viewer,
        &t.web,
        &format!("/s/{id}/stop"),
        &[("_csrf", &t.viewer_csrf)],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = post(&t.person, &t.web, &format!("/s/{id}/stop"), &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no CSRF token");
    assert_eq!(
        t.mcp.call("get_session", json!({"session_id": id})).await["status"],
        "running"
    );

    let stopped = pressed(
        &t.person,
        &t.web,
        &format!("/s/{id}/stop"),
        &[("_csrf", &t.csrf)],
        &session_page,
    )
    .await;
    assert!(stopped.contains("notice ok"), "{stopped}");
    let session = wait_finished(&t.mcp, &id).await;
    assert_eq!(session["status"], "stopped");
    let (_, page) = t.person.get(&t.web, &session_page).await;
    assert!(!has_form(&page, &format!("/s/{id}/stop")));
    assert!(has_form(&page, &format!("/s/{id}/follow-up")));
    // Stopping it again: the tool's words, on the page.
    let again = pressed(
        &t.person,
        &t.web,
        &format!("/s/{id}/stop"),
        &[("_csrf", &t.csrf)],
        &session_page,
    )
    .await;
    assert!(
        again.contains("notice error")
            && again.contains("already stopped; there is nothing to stop"),
        "{again}"
    );

    // A follow-up runs another turn.
    let queued = pressed(
        &t.person,
        &t.web,
        &format!("/s/{id}/follow-up"),
        &[("_csrf", &t.csrf), ("prompt", "Now count backwards")],
        &session_page,
    )
    .await;
    assert!(queued.contains("notice ok"), "{queued}");
    let second = wait_for(&t.mcp, &id, "on its second turn", |s| s["turns"] == 2).await;
    assert_eq!(second["turns"], 2);
    let stop = t.mcp.call("stop_session", json!({"session_id": id})).await;
    assert_ne!(stop["status"], "running");
    t.mcp.stop().await;
}

#[tokio::test]
async fn another_workspaces_session_is_not_found_by_any_button() {
    let t = setup("").await;
    t.data.create_workspace("other", "other@example.com");
    let outsider_key = t
        .data
        .create_key("other", "outsider", "read,write,sessions");
    let outsider = sign_in(&t.web, &outsider_key).await;
    let csrf = outsider.csrf(&t.web).await;
    let task = t.mcp.task(&t.project, "Private", json!({})).await;
    let id = t.start(&task, &[]).await;
    wait_finished(&t.mcp, &id).await;

    let (status, page) = outsider.get(&t.web, &format!("/s/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{page}");
    for (action, fields) in [
        ("stop", vec![]),
        ("follow-up", vec![("prompt", "more")]),
        ("merge", vec![("strategy", "merge")]),
        ("pull-request", vec![]),
    ] {
        let mut form = vec![("_csrf", csrf.as_str())];
        form.extend(fields);
        let (status, _, body) = post(&outsider, &t.web, &format!("/s/{id}/{action}"), &form).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{action}: {body}");
        assert!(
            body.contains("not found in workspace") && !body.contains("Private"),
            "{action}: {body}"
        );
    }
    let (status, _, _) = post(
        &outsider,
        &t.web,
        &format!("/t/{task}/sessions"),
        &[("_csrf", &csrf)],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let session = t.mcp.call("get_session", json!({"session_id": id})).await;
    assert_eq!(
        (session["turns"].as_i64(), session["merged_at"].as_str()),
        (Some(1), None)
    );
    t.mcp.stop().await;
}

#[tokio::test]
async fn merge_lists_conflicts_and_changes_nothing_then_merges_and_archives() {
    let t = setup("").await;
    let task = t.mcp.task(&t.project, "Write the notes", json!({})).await;
    let id = t.start(&task, &[]).await;
    let session = wait_finished(&t.mcp, &id).await;
    assert_eq!(session["status"], "completed");
    let page_path = format!("/s/{id}");
    let (_, page) = t.person.get(&t.web, &page_path).await;
    assert!(has_form(&page, &format!("/s/{id}/merge")), "{page}");
    for option in ["squash", "merge", "rebase"] {
        assert!(
            page.contains(&format!("<option value=\"{option}\"")),
            "{option}"
        );
    }
    assert!(page.contains("name=\"archive\""));
    let (_, viewer_page) = t.viewer.get(&t.web, &page_path).await;
    assert!(!has_form(&viewer_page, &format!("/s/{id}/merge")));
    let (status, _, _) = post(
        &t.viewer,
        &t.web,
        &format!("/s/{id}/merge"),
        &[("_csrf", &t.viewer_csrf)],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // main meanwhile wrote the same file differently: a conflict.
    std::fs::write(t.repo.join("agent-notes.txt"), "main's own notes\n").expect("write");
    git(&t.repo, &["add", "agent-notes.txt"]);
    git(&t.repo, &["commit", "--quiet", "-m", "main's notes"]);
    let main_before = git(&t.repo, &["rev-parse", "main"]);
    let merge_path = format!("/s/{id}/merge");
    let conflict = pressed(
        &t.person,
        &t.web,
        &merge_path,
        &[("_csrf", &t.csrf), ("strategy", "merge")],
        &page_path,
    )
    .await;
    assert!(
        conflict.contains("notice error") && conflict.contains("Nothing was changed"),
        "{conflict}"
    );
    assert!(
        conflict.contains("<ul class=\"conflicts\"><li><code>agent-notes.txt</code></li></ul>"),
        "the conflicting files, listed: {conflict}"
    );
    assert_eq!(git(&t.repo, &["rev-parse", "main"]), main_before);
    let task_now = t.mcp.call("get_task", json!({"task_id": task})).await;
    assert_eq!(task_now["status"], "inreview");

    // Without main's commit it merges; archived as asked.
    git(&t.repo, &["reset", "--quiet", "--hard", "HEAD~1"]);
    let merged = pressed(
        &t.person,
        &t.web,
        &merge_path,
        &[("_csrf", &t.csrf), ("strategy", "merge"), ("archive", "1")],
        &page_path,
    )
    .await;
    assert!(
        merged.contains("notice ok")
            && merged.contains("merged into main")
            && merged.contains("Worktree archived"),
        "{merged}"
    );
    let notes = git(&t.repo, &["show", "main:agent-notes.txt"]);
    assert!(notes.contains("Write the notes"), "{notes}");
    let task_now = t.mcp.call("get_task", json!({"task_id": task})).await;
    assert_eq!(task_now["status"], "done");
    let session = t.mcp.call("get_session", json!({"session_id": id})).await;
    assert_eq!(session["worktree_exists"], false);
    assert_eq!(session["merge_strategy"], "merge");
    // Merged: the page says so and offers no merge or pull request.
    let (_, page) = t.person.get(&t.web, &page_path).await;
    assert!(page.contains("<dt>Merged</dt>"), "{page}");
    assert!(!has_form(&page, &merge_path));
    assert!(!has_form(&page, &format!("/s/{id}/pull-request")));
    let twice = pressed(
        &t.person,
        &t.web,
        &merge_path,
        &[("_csrf", &t.csrf)],
        &page_path,
    )
    .await;
    assert!(
        twice.contains("notice error") && twice.contains("already"),
        "{twice}"
    );
    t.mcp.stop().await;
}

/// "0123456789abcdef0123456789abcdef", in base64: the sealing key.
const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// `vibe-kanban-mcp github ARGS` on `data`'s store, `stdin` piped in.
fn github_cli(data: &DataDir, args: &[&str], env: &[(&str, &str)], stdin: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .arg("github")
        .args(args)
        .arg("--data-dir")
        .arg(data.path())
        .env_remove("VK_API_KEY")
        .env_remove("VK_STORE")
        .env_remove("GITHUB_CLIENT_ID")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run github");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("stdin");
    let out = child.wait_with_output().expect("github output");
    assert!(
        out.status.success(),
        "github {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `repo`'s origin names acme/widgets on GitHub and pushes to a real bare
/// repository.
fn add_origin(dir: &Path, repo: &Path) {
    let bare = dir.join("origin.git");
    let out = Command::new("git")
        .args(["init", "--quiet", "--bare", "--initial-branch=main"])
        .arg(&bare)
        .output()
        .expect("git init --bare");
    assert!(out.status.success());
    git(
        repo,
        &[
            "remote",
            "add",
            "origin",
            "https://github.com/acme/widgets.git",
        ],
    );
    git(
        repo,
        &[
            "remote",
            "set-url",
            "--push",
            "origin",
            bare.to_str().expect("utf-8"),
        ],
    );
    git(repo, &["push", "--quiet", "origin", "main"]);
}

#[tokio::test]
async fn a_pull_request_opens_from_the_session_page_and_says_what_is_missing() {
    let github = GitHubStandIn::start().await;
    let key_dir = tempfile::tempdir().expect("tempdir");
    let key_file = key_dir.path().join("secret.key");
    std::fs::write(&key_file, KEY).expect("key file");
    let t = setup(&format!(
        "[github]\napi_url = \"{}\"\nsecret_key_file = \"{}\"\nsync_interval_secs = 0\n",
        github.url,
        key_file.display()
    ))
    .await;
    add_origin(t.data.path(), &t.repo);
    let task = t.mcp.task(&t.project, "Spin widgets", json!({})).await;
    let id = t.start(&task, &[]).await;
    wait_finished(&t.mcp, &id).await;
    let page_path = format!("/s/{id}");
    let pr_path = format!("/s/{id}/pull-request");
    let (_, page) = t.person.get(&t.web, &page_path).await;
    assert!(has_form(&page, &pr_path), "{page}");
    assert!(page.contains("name=\"draft\""));
    let (_, viewer_page) = t.viewer.get(&t.web, &page_path).await;
    assert!(!has_form(&viewer_page, &pr_path));

    // No repository linked yet: the tool says what to do, on the page.
    let missing = pressed(
        &t.person,
        &t.web,
        &pr_path,
        &[("_csrf", &t.csrf), ("draft", "1")],
        &page_path,
    )
    .await;
    assert!(
        missing.contains("notice error")
            && missing.contains("no connected GitHub repository")
            && missing.contains("github link"),
        "{missing}"
    );
    assert!(github.pulls().is_empty());
    let (status, _, _) = post(&t.person, &t.web, &pr_path, &[("draft", "1")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no CSRF token");

    let env = [
        ("GITHUB_API_URL", github.url.as_str()),
        ("VK_SECRET_KEY", KEY),
    ];
    github_cli(&t.data, &["connect", "--token-stdin"], &env, TOKEN);
    github_cli(&t.data, &["link", "--project", "app"], &env, "");
    let opened = pressed(
        &t.person,
        &t.web,
        &pr_path,
        &[("_csrf", &t.csrf), ("draft", "1")],
        &page_path,
    )
    .await;
    assert!(
        opened.contains("notice ok")
            && opened.contains("Pull request #1")
            && opened.contains("https://github.com/acme/widgets/pull/1"),
        "{opened}"
    );
    let pulls = github.pulls();
    assert_eq!(pulls.len(), 1);
    assert!(pulls[0].draft, "the draft checkbox");
    assert_eq!(pulls[0].title, "Spin widgets");
    t.mcp.stop().await;
}

#[tokio::test]
async fn an_asking_agents_request_is_approved_from_the_session_page() {
    let t = asking("").await;
    let person_key = t
        .data
        .create_key("default", "person", "read,write,sessions");
    let viewer_key = t.data.create_key("default", "viewer", "read");
    let config = t.data.path().join("config.toml");
    let config = config.to_str().expect("utf-8");
    // The in-process server runs the agent; the web server only serves.
    let web = HttpServer::start(t.data.path(), &["--config", config, "--no-runner"], &[]);
    let person = sign_in(&web, &person_key).await;
    let viewer = sign_in(&web, &viewer_key).await;
    let agent = common::sessions::session_server(&t.out.join("mcp.json"), None).await;
    let asked = tokio::spawn({
        let agent = agent.peer().clone();
        async move { ask(&agent, "Bash", json!({"command": "rm -rf build"})).await }
    });
    let approval = pending(&t.server, &t.session, "Bash").await;
    let approval_id = approval["id"].as_str().expect("id").to_owned();
    let page_path = format!("/s/{}", t.session);
    let (_, page) = person.get(&web, &page_path).await;
    let respond = format!("/approvals/{approval_id}");
    assert!(has_form(&page, &respond), "{page}");
    assert!(
        page.contains("rm -rf build"),
        "the request's input is shown"
    );
    assert!(page.contains(">Approve</button>") && page.contains(">Deny</button>"));
    let (_, viewer_page) = viewer.get(&web, &page_path).await;
    assert!(viewer_page.contains("rm -rf build"));
    assert!(
        !has_form(&viewer_page, &respond),
        "a viewer sees no buttons"
    );
    let viewer_csrf = csrf_of(&viewer_page);
    let (status, _, _) = post(
        &viewer,
        &web,
        &respond,
        &[("_csrf", &viewer_csrf), ("decision", "allow")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = post(&person, &web, &respond, &[("decision", "allow")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no CSRF token");

    let csrf = csrf_of(&page);
    let form = [
        ("_csrf", csrf.as_str()),
        ("decision", "deny"),
        ("session_id", t.session.as_str()),
    ];
    let denied = pressed(&person, &web, &respond, &form, &page_path).await;
    assert!(denied.contains("notice ok"), "{denied}");
    let answer = asked.await.expect("the agent's call");
    assert_eq!(answer["behavior"], "deny", "{answer}");
    // Answered: no buttons; answering again says why.
    let (_, page) = person.get(&web, &page_path).await;
    assert!(!has_form(&page, &respond));
    let twice = pressed(&person, &web, &respond, &form, &page_path).await;
    assert!(twice.contains("notice error"), "{twice}");
    let _ = agent.cancel().await;
    t.finish().await;
}

/// Writes a finished session's log as `lines` numbered lines; returns its
/// size.
fn write_log(data: &DataDir, session: &str, lines: usize) -> u64 {
    use std::io::Write;
    let path = data.path().join("logs").join(session).join("execution.log");
    assert!(path.exists(), "{} exists", path.display());
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).expect("log"));
    for i in 1..=lines {
        writeln!(file, "\u{1b}[32mline {i:09}\u{1b}[0m of a long log").expect("write");
    }
    file.flush().expect("flush");
    std::fs::metadata(&path).expect("size").len()
}

/// A log page's JSON.
async fn log_json(session: &Session, server: &HttpServer, path: &str) -> Value {
    let response = client()
        .get(server.url(path))
        .header(header::COOKIE, &session.cookie)
        .header("x-vk-fetch", "1")
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("json")
}

#[tokio::test]
async fn log_pages_meet_between_lines_back_to_the_start() {
    let t = setup("").await;
    let task = t.mcp.task(&t.project, "Log a lot", json!({})).await;
    let id = t.start(&task, &[]).await;
    wait_finished(&t.mcp, &id).await;
    let total = write_log(&t.data, &id, 20_000);
    let line = |i: usize| format!("line {i:09}");

    // The session page shows the last page, from a line's start.
    let (_, page) = t.person.get(&t.web, &format!("/s/{id}")).await;
    assert!(page.contains(&line(20_000)), "the tail");
    assert!(!page.contains(&line(1)), "not the whole log");
    assert!(page.contains(&format!("of {total}")), "where the page is");

    // From the start, forward: each page ends at a line's end.
    let mut at = 0;
    let mut pages = 0;
    let mut seen = String::new();
    while at < total {
        let chunk = log_json(&t.person, &t.web, &format!("/s/{id}/log?from={at}")).await;
        assert_eq!(chunk["start"], at);
        let end = chunk["end"].as_u64().expect("end");
        assert!(end > at && end - at <= 64 * 1024);
        let html = chunk["html"].as_str().expect("html");
        assert!(
            html.ends_with("of a long log\n"),
            "a page ends at a line's end"
        );
        assert!(!html.contains('\u{1b}'), "colours became spans");
        seen.push_str(html);
        at = end;
        pages += 1;
    }
    assert!(pages > 10);
    assert_eq!(
        seen.matches("of a long log\n").count(),
        20_000,
        "no line lost or doubled"
    );

    // From the end, backwards to byte 0: each page starts at a line's start.
    let mut before = total;
    let mut back = String::new();
    while before > 0 {
        let chunk = log_json(&t.person, &t.web, &format!("/s/{id}/log?before={before}")).await;
        assert_eq!(chunk["end"], before);
        let html = chunk["html"].as_str().expect("html");
        assert!(
            html.starts_with("<span class=\"c2\">line "),
            "a page starts at a line's start: {}",
            &html[..80.min(html.len())]
        );
        back.insert_str(0, html);
        before = chunk["start"].as_u64().expect("start");
    }
    assert_eq!(back, seen, "backwards and forwards, the same log");
    let (status, _, _) = post(&t.person, &t.web, &format!("/s/{id}/log"), &[]).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    t.mcp.stop().await;
}

#[tokio::test]
async fn a_notice_is_for_its_own_browser_session_only() {
    let t = setup("").await;
    let task = t.mcp.task(&t.project, "Once", json!({})).await;
    let id = t.start(&task, &[]).await;
    wait_finished(&t.mcp, &id).await;
    let page_path = format!("/s/{id}");
    // The person's start left its notice; the viewer's view has none.
    let (_, viewer_page) = t.viewer.get(&t.web, &page_path).await;
    assert!(notice_of(&viewer_page).is_none());
    let (_, page) = t.person.get(&t.web, &page_path).await;
    assert!(notice_of(&page).is_some_and(|n| n.contains("notice ok")));
    // Bad input: the tool's words, on the page.
    let said = pressed(
        &t.person,
        &t.web,
        &format!("/s/{id}/follow-up"),
        &[("_csrf", &t.csrf), ("prompt", " ")],
        &page_path,
    )
    .await;
    assert!(
        said.contains("notice error") && said.contains("prompt"),
        "{said}"
    );
    t.mcp.stop().await;
}
