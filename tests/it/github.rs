//! GitHub (issue 15): connections sealed at rest, the device flow,
//! repository links, `create_pull_request` against a real bare repository
//! and the loopback GitHub stand-in, the sync with ETags, and webhook
//! deliveries signed exactly as GitHub signs them.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

use serde_json::{Value, json};
use vibe_kanban_mcp::github::webhook;

use crate::{
    common::{
        self, BIN, Backend, DataDir, Server,
        git_http::GitHttp,
        github::{Canned, GitHubStandIn, LOGIN, TOKEN},
        id,
        sessions::{config, git, git_repo, wait_finished},
    },
    http_support::{self, HttpServer, http},
};

/// "0123456789abcdef0123456789abcdef" and another 32 bytes, in base64.
const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const NEW_KEY: &str = "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXowMTIzNDU=";
const WEBHOOK_SECRET: &str = "It's a Secret to Everybody";

/// Runs `vibe-kanban-mcp github ARGS` on `data`'s store with `env`, `stdin`
/// piped in.
fn gh(data: &DataDir, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut command = Command::new(BIN);
    command
        .arg("github")
        .args(args)
        .arg("--data-dir")
        .arg(data.path())
        .env_remove("VK_API_KEY")
        .env_remove("VK_STORE")
        .env_remove("VK_SECRET_KEY")
        .env_remove("VK_SECRET_KEY_OLD")
        .env_remove("GITHUB_CLIENT_ID")
        .envs(data.store_env())
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("run github");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("github output")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!stdout.contains(TOKEN) && !String::from_utf8_lossy(&out.stderr).contains(TOKEN));
    stdout
}

fn err(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "should fail: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains(TOKEN), "the token leaked: {stderr}");
    stderr
}

/// Every file under `dir` (the SQLite file, its -wal and -shm, the local
/// D1's persisted files) as bytes.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                found.push(path);
            }
        }
    }
    found
}

fn api_env(github: &GitHubStandIn) -> Vec<(&'static str, String)> {
    vec![
        ("GITHUB_API_URL", github.url.clone()),
        ("VK_SECRET_KEY", KEY.to_owned()),
    ]
}

fn with<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

async fn connect_seals_the_token_at_rest(backend: Backend) {
    let github = GitHubStandIn::start().await;
    let data = DataDir::on(backend);
    let url = github.url.clone();
    // No key: refused before anything is asked or stored.
    let refused = err(&gh(
        &data,
        &["connect", "--token-stdin"],
        &[("GITHUB_API_URL", &url)],
        TOKEN,
    ));
    assert!(refused.contains("openssl rand -base64 32"), "{refused}");
    assert!(github.seen().is_empty(), "GitHub was not asked");

    let env = api_env(&github);
    let said = ok(&gh(
        &data,
        &["connect", "--token-stdin"],
        &with(&env),
        &format!("{TOKEN}\n"),
    ));
    assert!(
        said.contains(LOGIN) && said.contains("repo, read:org"),
        "{said}"
    );
    assert_eq!(
        github.seen()[0].authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    // The raw token is in no file of the data directory (SQLite, -wal,
    // -shm, the local D1's files) and in no D1 row.
    let leaked = files_containing(data.path(), TOKEN.as_bytes());
    assert!(leaked.is_empty(), "the token is in {leaked:?}");
    if let Some(d1) = data.d1() {
        let rows = d1.query("SELECT * FROM github_connections", &[]);
        assert_eq!(rows.len(), 1);
        assert!(!format!("{rows:?}").contains(TOKEN), "{rows:?}");
        assert!(!format!("{rows:?}").contains(&TOKEN[4..20]));
    } else {
        let rows = data.rows(
            "SELECT token_ciphertext, token_key_id FROM github_connections",
            &[],
        );
        assert_eq!(rows.len(), 1);
        assert!(!format!("{rows:?}").contains(&TOKEN[4..20]), "{rows:?}");
    }
    let status = ok(&gh(&data, &["status"], &with(&env), ""));
    assert!(
        status.contains(LOGIN) && status.contains("repo, read:org"),
        "{status}"
    );

    // Rotation: the new key seals, the old one opens what it sealed.
    let rotate_env = [
        ("VK_SECRET_KEY", NEW_KEY),
        ("VK_SECRET_KEY_OLD", KEY),
        ("GITHUB_API_URL", url.as_str()),
    ];
    let rotated = ok(&gh(&data, &["rotate-key"], &rotate_env, ""));
    assert!(rotated.contains("Re-sealed 1 token"), "{rotated}");
    let status = ok(&gh(
        &data,
        &["status"],
        &[("VK_SECRET_KEY", NEW_KEY), ("GITHUB_API_URL", &url)],
        "",
    ));
    assert!(status.contains(LOGIN), "{status}");
    let stale = err(&gh(&data, &["status"], &with(&env), ""));
    assert!(stale.contains("VK_SECRET_KEY_OLD"), "{stale}");
    assert!(files_containing(data.path(), TOKEN.as_bytes()).is_empty());

    // A revoked token: status says so, in words that say what to do.
    github.revoke_all();
    let status = ok(&gh(
        &data,
        &["status"],
        &[("VK_SECRET_KEY", NEW_KEY), ("GITHUB_API_URL", &url)],
        "",
    ));
    assert!(
        status.contains("expired or was revoked") && status.contains("github connect"),
        "{status}"
    );

    let gone = ok(&gh(&data, &["disconnect"], &[], ""));
    assert!(gone.contains("Disconnected"), "{gone}");
    let none = err(&gh(&data, &["status"], &[("VK_SECRET_KEY", NEW_KEY)], ""));
    assert!(
        none.contains("not connected") && none.contains("github connect"),
        "{none}"
    );
}

#[tokio::test]
async fn device_flow_polls_until_the_user_approves() {
    let github = GitHubStandIn::start().await;
    let data = DataDir::new();
    let env = [
        ("GITHUB_API_URL", github.url.as_str()),
        ("GITHUB_WEB_URL", github.url.as_str()),
        ("GITHUB_CLIENT_ID", "Iv1.standin"),
        ("VK_SECRET_KEY", KEY),
    ];
    github.device_polls(vec![
        json!({"error": "authorization_pending"}),
        json!({"error": "slow_down", "interval": 2}),
        json!({"access_token": TOKEN, "token_type": "bearer", "scope": "repo"}),
    ]);
    let out = gh(&data, &["connect"], &env, "");
    let said = ok(&out);
    assert!(said.contains(LOGIN), "{said}");
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(
        note.contains("WDJB-MJHT") && note.contains("https://github.com/login/device"),
        "{note}"
    );
    let polls: Vec<_> = github
        .seen()
        .into_iter()
        .filter(|s| s.path == "/login/oauth/access_token")
        .collect();
    assert_eq!(polls.len(), 3, "polled until the token came");
    assert!(
        polls[0]
            .body
            .as_str()
            .unwrap_or_default()
            .contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code")
    );

    // Denied: nothing stored, a clear word.
    github.device_polls(vec![json!({"error": "access_denied"})]);
    let data = DataDir::new();
    let denied = err(&gh(&data, &["connect"], &env, ""));
    assert!(denied.contains("denied"), "{denied}");
    // Without a client id and without --token-stdin: how to give a token.
    let none = err(&gh(&data, &["connect"], &[("VK_SECRET_KEY", KEY)], ""));
    assert!(
        none.contains("--token-stdin") && none.contains("GITHUB_CLIENT_ID"),
        "{none}"
    );
}

/// A repository whose `origin` names `acme/widgets` on GitHub (its fetch
/// URL) and pushes to a real bare repository (its push URL).
fn repo_with_origin(dir: &Path, fetch_url: &str) -> (PathBuf, PathBuf) {
    let repo = git_repo(dir);
    let bare = dir.join("origin.git");
    let out = Command::new("git")
        .args(["init", "--quiet", "--bare", "--initial-branch=main"])
        .arg(&bare)
        .output()
        .expect("git init --bare");
    assert!(out.status.success());
    git(&repo, &["remote", "add", "origin", fetch_url]);
    git(
        &repo,
        &[
            "remote",
            "set-url",
            "--push",
            "origin",
            bare.to_str().expect("utf-8"),
        ],
    );
    git(&repo, &["push", "--quiet", "origin", "main"]);
    (repo, bare)
}

fn github_config(data: &DataDir, github: &GitHubStandIn, extra: &str) -> PathBuf {
    github_config_syncing(data, github, 0, extra)
}

/// [`github_config`] with the runner's sync every `sync_secs` (0: off).
fn github_config_syncing(
    data: &DataDir,
    github: &GitHubStandIn,
    sync_secs: u64,
    extra: &str,
) -> PathBuf {
    let key_file = data.path().join("secret.key");
    std::fs::write(&key_file, KEY).expect("key file");
    config(
        data,
        "",
        &format!(
            "[github]\napi_url = \"{}\"\nsecret_key_file = \"{}\"\nsync_interval_secs = {sync_secs}\n{extra}",
            github.url,
            key_file.display()
        ),
    )
}

/// Connects and links; returns the in-process server, project and repo.
async fn shipped_setup(
    backend: Backend,
    github: &GitHubStandIn,
) -> (DataDir, Server, String, PathBuf, PathBuf) {
    let data = DataDir::on(backend);
    let (repo, bare) = repo_with_origin(data.path(), "git@github.com:acme/widgets.git");
    let config = github_config(&data, github, "");
    let server =
        Server::in_process(&data, &["--config", config.to_str().expect("utf-8")], &[]).await;
    let project = id(&server
        .call(
            "create_project",
            json!({"name": "app", "repo_path": repo.to_str()}),
        )
        .await);
    ok(&gh(
        &data,
        &["connect", "--token-stdin"],
        &with(&api_env(github)),
        TOKEN,
    ));
    let linked = ok(&gh(
        &data,
        &["link", "--project", "app"],
        &with(&api_env(github)),
        "",
    ));
    assert!(
        linked.contains("acme/widgets"),
        "read from the ssh origin: {linked}"
    );
    (data, server, project, repo, bare)
}

async fn finished_session(server: &Server, project: &str, title: &str) -> (String, String) {
    let task = server
        .task(
            project,
            title,
            json!({"description": "Make the widgets spin."}),
        )
        .await;
    let session = server.call("start_session", json!({"task_id": task})).await;
    let session_id = id(&session);
    wait_finished(server, &session_id).await;
    (task, session_id)
}

async fn task_status(server: &Server, task: &str) -> String {
    server.call("get_task", json!({"task_id": task})).await["status"]
        .as_str()
        .expect("status")
        .to_owned()
}

async fn a_pull_request_ships_the_session_and_its_state_moves_the_task(backend: Backend) {
    let github = GitHubStandIn::start().await;
    let (data, server, project, _repo, bare) = shipped_setup(backend, &github).await;
    let (task, session_id) = finished_session(&server, &project, "Spin widgets").await;
    assert_eq!(task_status(&server, &task).await, "inreview");
    // Without a runner from here on: its polls are not the tools' requests.
    server.stop().await;
    let config = data.path().join("config.toml");
    let server = Server::in_process(
        &data,
        &["--config", config.to_str().expect("utf-8"), "--no-runner"],
        &[],
    )
    .await;
    if let Some(d1) = data.d1() {
        d1.reset();
    }
    let pr = server
        .call(
            "create_pull_request",
            json!({"session_id": session_id, "draft": true}),
        )
        .await;
    if let Some(d1) = data.d1() {
        assert_eq!(
            d1.requests(),
            2,
            "one read and one write, apart from git and GitHub"
        );
    }
    assert_eq!(pr["number"], 1);
    assert_eq!(pr["state"], "open");
    assert_eq!(pr["url"], "https://github.com/acme/widgets/pull/1");
    // The session, its task and the board show it, each still one read.
    let shown =
        json!({"number": 1, "url": "https://github.com/acme/widgets/pull/1", "state": "open"});
    if let Some(d1) = data.d1() {
        d1.reset();
    }
    let session = server
        .call("get_session", json!({"session_id": session_id}))
        .await;
    assert_eq!(session["pull_request"], shown, "{session}");
    let detail = server.call("get_task", json!({"task_id": task})).await;
    assert_eq!(detail["pull_request"], shown, "{detail}");
    if let Some(d1) = data.d1() {
        assert_eq!(d1.requests(), 2, "get_session and get_task: one read each");
    }
    let listed = server.call("list_sessions", json!({"task_id": task})).await;
    assert_eq!(listed["sessions"][0]["pull_request"], shown, "{listed}");
    let text = common::text(
        &server
            .try_call("get_session", json!({"session_id": session_id}))
            .await
            .expect("get_session"),
    );
    assert!(
        text.contains("Pull request: #1 (open) https://github.com/acme/widgets/pull/1"),
        "{text}"
    );
    let board = server
        .read(&format!("kanban://projects/{project}/board"))
        .await
        .expect("board");
    assert!(
        board.contains("[#1 open](https://github.com/acme/widgets/pull/1)"),
        "{board}"
    );
    let columns = data.cli_ok(&["board", "app", "--width", "30"]);
    assert!(columns.contains("Spin widgets #1 open"), "{columns}");
    let pulls = github.pulls();
    assert_eq!(pulls.len(), 1);
    let pull = &pulls[0];
    assert_eq!(pull.title, "Spin widgets");
    assert_eq!(pull.base, "main");
    assert!(pull.draft);
    assert!(
        pull.body.contains("Make the widgets spin."),
        "{}",
        pull.body
    );
    assert!(pull.head.starts_with("vk/"), "{}", pull.head);
    // The branch is on the remote, at the session's commit.
    let pushed = git(&bare, &["rev-parse", &format!("refs/heads/{}", pull.head)]);
    assert_eq!(pushed.trim().len(), 40);
    // The token went to GitHub only, never into the repository's config.
    let git_config = std::fs::read_to_string(_repo.join(".git/config")).expect("config");
    assert!(
        !git_config.contains(TOKEN) && !git_config.contains("extraHeader"),
        "{git_config}"
    );

    // Again: the same pull request, no second one.
    let again = server
        .call("create_pull_request", json!({"session_id": session_id}))
        .await;
    assert_eq!(again["number"], 1);
    assert_eq!(github.pulls().len(), 1);

    // The sync: the first GET learns the ETag, the next is a 304.
    let first = server.call("sync_pull_requests", json!({})).await;
    if let Some(d1) = data.d1() {
        d1.reset();
    }
    assert_eq!(
        (first["checked"].as_u64(), first["unchanged"].as_u64()),
        (Some(1), Some(0))
    );
    let second = server.call("sync_pull_requests", json!({})).await;
    assert_eq!(second["unchanged"], 1, "{second}");
    if let Some(d1) = data.d1() {
        assert_eq!(d1.requests(), 1, "a 304 costs its read only");
    }
    let gets: Vec<_> = github
        .seen()
        .into_iter()
        .filter(|s| s.path == "/repos/acme/widgets/pulls/1")
        .collect();
    assert!(
        gets[1].if_none_match.is_some(),
        "the stored ETag is sent back"
    );
    assert!(gets.iter().all(|g| g.method == "GET"));
    assert_eq!(task_status(&server, &task).await, "inreview");

    github.set_pull(1, "closed", true);
    let merged = server.call("sync_pull_requests", json!({})).await;
    assert_eq!(merged["changed"][0]["state"], "merged", "{merged}");
    assert_eq!(task_status(&server, &task).await, "done");
    let session = server
        .call("get_session", json!({"session_id": session_id}))
        .await;
    assert_eq!(session["pull_request"]["state"], "merged", "{session}");
    let detail = server.call("get_task", json!({"task_id": task})).await;
    assert_eq!(detail["pull_request"]["state"], "merged", "{detail}");
    let after = server.call("sync_pull_requests", json!({})).await;
    assert_eq!(
        after["checked"], 0,
        "a merged pull request is not asked about again"
    );
    assert!(files_containing(data.path(), TOKEN.as_bytes()).is_empty());
    server.stop().await;
}

crate::on_both_stores!(
    connect_seals_the_token_at_rest,
    a_pull_request_ships_the_session_and_its_state_moves_the_task,
);

#[tokio::test]
async fn create_pull_request_faults_say_what_to_do_and_store_nothing() {
    let github = GitHubStandIn::start().await;
    let data = DataDir::new();
    let (repo, bare) = repo_with_origin(data.path(), "https://github.com/acme/widgets.git");
    let config = github_config(&data, &github, "");
    let server =
        Server::in_process(&data, &["--config", config.to_str().expect("utf-8")], &[]).await;
    let project = id(&server
        .call(
            "create_project",
            json!({"name": "app", "repo_path": repo.to_str()}),
        )
        .await);
    let (task, session) = finished_session(&server, &project, "Faults").await;
    let call = json!({"session_id": session});

    let said = server.call_fails("create_pull_request", call.clone()).await;
    assert!(
        said.contains("no connected GitHub repository") && said.contains("github link"),
        "{said}"
    );
    let unlinked = err(&gh(&data, &["link", "--project", "app"], &[], ""));
    assert!(unlinked.contains("github connect"), "{unlinked}");
    ok(&gh(
        &data,
        &["connect", "--token-stdin"],
        &with(&api_env(&github)),
        TOKEN,
    ));
    // A repository GitHub does not know (or the token cannot read): said
    // so, nothing linked.
    let env = api_env(&github);
    let missing = err(&gh(
        &data,
        &["link", "--project", "app", "--repo", "acme/nothing-here"],
        &with(&env),
        "",
    ));
    assert!(
        missing.contains("acme/nothing-here")
            && missing.contains("does not exist or the token cannot read it"),
        "{missing}"
    );
    assert_eq!(data.count("SELECT COUNT(*) FROM connected_repositories"), 0);
    // The default branch is the one GitHub says the repository has.
    github.set_default_branch("trunk");
    let linked = ok(&gh(
        &data,
        &["link", "--project", project.as_str()],
        &with(&env),
        "",
    ));
    assert!(
        linked.contains("acme/widgets") && linked.contains("default branch trunk"),
        "read from the https origin: {linked}"
    );
    assert!(
        github
            .seen()
            .iter()
            .any(|s| s.method == "GET" && s.path == "/repos/acme/widgets"),
        "GitHub was asked"
    );
    assert_eq!(
        data.rows("SELECT default_branch FROM connected_repositories", &[]),
        vec![vec![json!("trunk")]]
    );

    let faults = [
        (Canned::error(401, "Bad credentials"), "github connect"),
        (
            Canned::error(403, "Resource not accessible by personal access token"),
            "Pull requests: write",
        ),
        (Canned::error(404, "Not Found"), "Contents: write"),
        (
            Canned::error(403, "API rate limit exceeded for user ID 4242.")
                .header("x-ratelimit-remaining", "0")
                .header("x-ratelimit-reset", "1798761600"),
            "x-ratelimit-reset",
        ),
        (
            Canned::error(403, "You have exceeded a secondary rate limit.")
                .header("retry-after", "60"),
            "in 60 s",
        ),
    ];
    for (fault, hint) in faults {
        github.fail_next("/repos/acme/widgets/pulls", fault);
        let said = server.call_fails("create_pull_request", call.clone()).await;
        assert!(said.contains(hint), "{hint}: {said}");
        assert!(!said.contains(TOKEN), "{said}");
        assert_eq!(task_status(&server, &task).await, "inreview");
    }
    assert!(github.pulls().is_empty(), "no pull request was opened");
    assert_eq!(
        data.count("SELECT COUNT(*) FROM session_pull_requests"),
        0,
        "nothing stored"
    );

    // A rejected push: the remote branch moved on.
    let branch = server
        .call("get_session", json!({"session_id": session}))
        .await["branch"]
        .as_str()
        .expect("branch")
        .to_owned();
    let other = data.path().join("other");
    let out = Command::new("git")
        .args(["clone", "--quiet"])
        .arg(&bare)
        .arg(&other)
        .output()
        .expect("clone");
    assert!(out.status.success());
    git(&other, &["config", "user.email", "o@example.com"]);
    git(&other, &["config", "user.name", "O"]);
    // The failed calls above pushed the branch; someone adds to it.
    git(&other, &["checkout", "--quiet", &branch]);
    std::fs::write(other.join("theirs.txt"), "theirs\n").expect("write");
    git(&other, &["add", "theirs.txt"]);
    git(&other, &["commit", "--quiet", "-m", "theirs"]);
    git(&other, &["push", "--quiet", "origin", &branch]);
    let said = server.call_fails("create_pull_request", call.clone()).await;
    assert!(
        said.contains("rejected") && said.contains("non-fast-forward"),
        "{said}"
    );
    assert!(github.pulls().is_empty());
    assert_eq!(data.count("SELECT COUNT(*) FROM session_pull_requests"), 0);

    // An already existing pull request (opened by hand) is the answer.
    git(&other, &["push", "--quiet", "--delete", "origin", &branch]);
    let created = server.call("create_pull_request", call.clone()).await;
    assert_eq!(created["number"], 1);
    server.stop().await;
}

async fn delivery(
    url: &str,
    event: &str,
    id: &str,
    body: &Value,
    secret: &str,
) -> reqwest::StatusCode {
    let body = serde_json::to_vec(body).expect("json");
    http()
        .post(url)
        .header("x-github-event", event)
        .header("x-github-delivery", id)
        .header("x-hub-signature-256", webhook::sign(secret, &body))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("delivery")
        .status()
}

fn pr_event(action: &str, number: i64, merged: bool) -> Value {
    json!({
        "action": action,
        "number": number,
        "pull_request": {"number": number, "state": if action == "reopened" { "open" } else { "closed" }, "merged": merged},
        "repository": {"name": "widgets", "full_name": "acme/widgets", "owner": {"login": "acme"}},
    })
}

#[tokio::test]
async fn webhook_deliveries_move_tasks_once_and_only_when_signed() {
    let github = GitHubStandIn::start().await;
    let (data, server, project, _repo, _bare) = shipped_setup(Backend::Sqlite, &github).await;
    let (task, session) = finished_session(&server, &project, "Hooked").await;
    server
        .call("create_pull_request", json!({"session_id": session}))
        .await;
    server.stop().await;

    let served = HttpServer::start(
        data.path(),
        &["--no-auth", "--no-runner"],
        &[
            ("GITHUB_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("VK_SECRET_KEY", KEY),
        ],
    );
    let url = served.url("/webhooks/github");
    let status = || {
        data.rows("SELECT status FROM tasks WHERE id = ?1", &[json!(task)])[0][0]
            .as_str()
            .expect("status")
            .to_owned()
    };
    let merged = pr_event("closed", 1, true);
    // Wrong secret, no signature, a changed body: 401, nothing changes.
    let wrong = delivery(&url, "pull_request", "d-0", &merged, "not the secret").await;
    assert_eq!(wrong, 401);
    let unsigned = http()
        .post(&url)
        .header("x-github-event", "pull_request")
        .header("x-github-delivery", "d-0")
        .body(merged.to_string())
        .send()
        .await
        .expect("send");
    assert_eq!(unsigned.status(), 401);
    assert_eq!(status(), "inreview");
    assert_eq!(
        data.count("SELECT COUNT(*) FROM github_webhook_deliveries"),
        0
    );

    // The web board's card and the session page show the pull request.
    let page = |path: String| {
        let url = served.url(&path);
        async move {
            let reply = http().get(&url).send().await.expect("page");
            assert_eq!(reply.status(), 200, "{url}");
            reply.text().await.expect("page text")
        }
    };
    let pr_url = "https://github.com/acme/widgets/pull/1";
    let board = page(format!("/p/{project}")).await;
    assert!(
        board.contains(&format!(r#"<a class="pr pr-open" href="{pr_url}""#))
            && board.contains("#1 open"),
        "{board}"
    );
    let session_page = page(format!("/s/{session}")).await;
    assert!(session_page.contains("#1 open"), "{session_page}");

    let ok = delivery(&url, "pull_request", "d-1", &merged, WEBHOOK_SECRET).await;
    assert_eq!(ok, 200);
    assert_eq!(status(), "done");
    // The merge shows where the pull request shows.
    let session_page = page(format!("/s/{session}")).await;
    assert!(session_page.contains("#1 merged"), "{session_page}");
    let task_page = page(format!("/t/{task}")).await;
    assert!(task_page.contains("#1 merged"), "{task_page}");
    let columns = page(format!("/p/{project}/columns")).await;
    assert!(columns.contains("#1 merged"), "{columns}");
    // The move is GitHub's in the activity feed, with the delivery.
    let github_moves = || {
        data.rows(
            "SELECT user_id, json_extract(details, '$.delivery'), json_extract(details, '$.status') \
             FROM audit_logs WHERE entity_id = ?1 AND json_extract(details, '$.by') = 'github' ORDER BY rowid",
            &[json!(task)],
        )
    };
    assert_eq!(
        github_moves(),
        vec![vec![Value::Null, json!("d-1"), json!("done")]]
    );
    let reader = Server::in_process(&data, &["--no-runner"], &[]).await;
    let feed = reader
        .call("list_activity", json!({"task_id": task, "limit": 1}))
        .await;
    assert_eq!(
        feed["entries"][0]["line"],
        "GitHub moved task 'Hooked' to done: pull request acme/widgets#1 merged",
        "{feed}"
    );
    reader.stop().await;
    let reopened = delivery(
        &url,
        "pull_request",
        "d-2",
        &pr_event("reopened", 1, false),
        WEBHOOK_SECRET,
    )
    .await;
    assert_eq!(reopened, 200);
    assert_eq!(status(), "inreview");
    // GitHub redelivers d-1: it changes nothing a second time.
    let again = delivery(&url, "pull_request", "d-1", &merged, WEBHOOK_SECRET).await;
    assert_eq!(again, 202);
    assert_eq!(status(), "inreview");
    assert_eq!(
        github_moves().len(),
        2,
        "d-1 and d-2 moved it; the redelivery wrote nothing"
    );
    // A pull request no session opened: accepted, nothing changes.
    let unknown = delivery(
        &url,
        "pull_request",
        "d-3",
        &pr_event("closed", 99, true),
        WEBHOOK_SECRET,
    )
    .await;
    assert_eq!(unknown, 202);
    assert_eq!(status(), "inreview");
    // Closed without merging: back to todo (the default of `on_close`).
    let closed = delivery(
        &url,
        "pull_request",
        "d-4",
        &pr_event("closed", 1, false),
        WEBHOOK_SECRET,
    )
    .await;
    assert_eq!(closed, 200);
    assert_eq!(status(), "todo");
    let logs = served.log_text();
    assert!(
        !logs.contains(WEBHOOK_SECRET) && !logs.contains(TOKEN),
        "{logs}"
    );
}

/// create_pull_request and sync_pull_requests, called by a member through
/// their own key: every audit row they leave names that member (the task a
/// sync moves says GitHub's pull request moved it).
#[tokio::test]
async fn github_tools_write_their_audit_rows_by_their_caller() {
    let github = GitHubStandIn::start().await;
    let (data, server, project, _repo, _bare) = shipped_setup(Backend::Sqlite, &github).await;
    let (task, session) = finished_session(&server, &project, "Audited").await;
    server.stop().await;
    data.cli_ok(&[
        "members",
        "add",
        "--workspace",
        "default",
        "--email",
        "ada@example.com",
        "--role",
        "member",
    ]);
    let key = data.cli_ok(&[
        "keys",
        "create",
        "--workspace",
        "default",
        "--name",
        "ada",
        "--scopes",
        "read,write,sessions",
        "--user",
        "ada@example.com",
    ]);
    let ada_id =
        data.rows("SELECT id FROM users WHERE email = 'ada@example.com'", &[])[0][0].clone();
    let config = data.path().join("config.toml");
    let ada = Server::in_process(
        &data,
        &["--config", config.to_str().expect("utf-8"), "--no-runner"],
        &[("VK_API_KEY", key.trim())],
    )
    .await;
    let rows_after = |last: i64| {
        data.rows(
            "SELECT user_id, action, entity_type, json_extract(details, '$.by') FROM audit_logs \
             WHERE rowid > ?1 ORDER BY rowid",
            &[json!(last)],
        )
    };
    let last_row = || data.count("SELECT COALESCE(MAX(rowid), 0) FROM audit_logs");

    let last = last_row();
    ada.call("create_pull_request", json!({"session_id": session}))
        .await;
    let rows = rows_after(last);
    // (The task is in review already: the finished turn moved it.)
    assert!(rows.iter().any(|r| r[1] == "pull_request"), "{rows:?}");
    assert!(rows.iter().all(|r| r[0] == ada_id), "{rows:?}");

    github.set_pull(1, "closed", true);
    let last = last_row();
    let synced = ada.call("sync_pull_requests", json!({})).await;
    assert_eq!(synced["changed"][0]["state"], "merged", "{synced}");
    let rows = rows_after(last);
    assert!(!rows.is_empty(), "sync_pull_requests wrote no audit row");
    assert!(
        rows.iter().all(|r| r[0] == ada_id && r[3] == "github"),
        "{rows:?}"
    );
    let feed = ada
        .call("list_activity", json!({"task_id": task, "limit": 1}))
        .await;
    assert_eq!(
        feed["entries"][0]["line"],
        "ada@example.com moved task 'Audited' to done: pull request acme/widgets#1 merged",
        "{feed}"
    );
    ada.stop().await;
}

/// The runner's own sync (no caller) moves a merged pull request's task,
/// and the activity feed says GitHub did.
#[tokio::test]
async fn the_runners_sync_moves_the_task_as_github() {
    let github = GitHubStandIn::start().await;
    let (data, server, project, _repo, _bare) = shipped_setup(Backend::Sqlite, &github).await;
    let (task, session) = finished_session(&server, &project, "Polled").await;
    server
        .call("create_pull_request", json!({"session_id": session}))
        .await;
    server.stop().await;
    github.set_pull(1, "closed", true);
    let config = github_config_syncing(&data, &github, 1, "");
    let server =
        Server::in_process(&data, &["--config", config.to_str().expect("utf-8")], &[]).await;
    // The runner asks GitHub every second; the task moving is the event.
    let mut status = String::new();
    for _ in 0..300 {
        status = task_status_of(&data, &task);
        if status == "done" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, "done", "the runner's sync moved the task");
    let rows = data.rows(
        "SELECT user_id, json_extract(details, '$.via'), json_extract(details, '$.pull_request') \
         FROM audit_logs WHERE entity_id = ?1 AND json_extract(details, '$.by') = 'github'",
        &[json!(task)],
    );
    assert_eq!(rows, vec![vec![Value::Null, json!("sync"), json!(1)]]);
    let feed = server
        .call("list_activity", json!({"task_id": task, "limit": 1}))
        .await;
    assert_eq!(
        feed["entries"][0]["line"],
        "GitHub moved task 'Polled' to done: pull request acme/widgets#1 merged",
        "{feed}"
    );
    server.stop().await;
}

/// A tool call over an rmcp client: its text, and whether it failed.
async fn call_over(
    client: &rmcp::service::RunningService<rmcp::RoleClient, ()>,
    name: &str,
    args: Value,
) -> (bool, String) {
    let Value::Object(arguments) = args else {
        panic!("arguments must be an object")
    };
    let result = client
        .call_tool(
            rmcp::model::CallToolRequestParams::new(name.to_owned()).with_arguments(arguments),
        )
        .await
        .expect("call");
    (result.is_error == Some(true), common::text(&result))
}

/// create_pull_request pushes over real smart HTTP (`git http-backend`
/// behind a server that wants the token): the branch lands, the token went
/// as credentials of that one push; a revoked token is a clear error and
/// pushes nothing; the token is in no git config, log line or error text.
#[tokio::test]
async fn pushes_over_http_with_the_token_and_never_writes_it_down() {
    let github = GitHubStandIn::start().await;
    let data = DataDir::new();
    let repo = git_repo(data.path());
    let root = data.path().join("served");
    let bare = root.join("widgets.git");
    std::fs::create_dir_all(&root).expect("served dir");
    let out = Command::new("git")
        .args(["init", "--quiet", "--bare", "--initial-branch=main"])
        .arg(&bare)
        .output()
        .expect("git init --bare");
    assert!(out.status.success());
    git(&bare, &["config", "http.receivepack", "true"]);
    git(
        &repo,
        &["push", "--quiet", bare.to_str().expect("utf-8"), "main"],
    );
    let served_git = GitHttp::start(&root, TOKEN);
    git(
        &repo,
        &[
            "remote",
            "add",
            "origin",
            "https://github.com/acme/widgets.git",
        ],
    );
    let push_url = format!("{}/widgets.git", served_git.url);
    git(&repo, &["remote", "set-url", "--push", "origin", &push_url]);
    // Without credentials the server says 401 and lets nothing in.
    let anonymous = Command::new("git")
        .arg("-C")
        .arg(&repo)
        .args(["push", "--quiet", "origin", "main:refs/heads/anonymous"])
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "true")
        .output()
        .expect("git push");
    assert!(!anonymous.status.success());
    assert!(served_git.seen().iter().all(|r| !r.authorized));

    let config = github_config(&data, &github, "");
    let server =
        Server::in_process(&data, &["--config", config.to_str().expect("utf-8")], &[]).await;
    let project = id(&server
        .call(
            "create_project",
            json!({"name": "app", "repo_path": repo.to_str()}),
        )
        .await);
    ok(&gh(
        &data,
        &["connect", "--token-stdin"],
        &with(&api_env(&github)),
        TOKEN,
    ));
    ok(&gh(
        &data,
        &["link", "--project", "app"],
        &with(&api_env(&github)),
        "",
    ));
    let (_, shipped) = finished_session(&server, &project, "Ship over HTTP").await;
    let (refused_task, refused) = finished_session(&server, &project, "Revoked").await;
    server.stop().await;

    let key = data.create_key("default", "shipper", "read,write,sessions");
    let served = HttpServer::start(
        data.path(),
        &["--config", config.to_str().expect("utf-8"), "--no-runner"],
        &[("VK_LOG", "debug,rmcp=error,hyper=info,reqwest=info")],
    );
    let client = http_support::client(&served, &key).await.expect("client");
    let (failed, said) = call_over(
        &client,
        "create_pull_request",
        json!({"session_id": shipped}),
    )
    .await;
    assert!(!failed, "{said}");
    assert!(said.contains("#1"), "{said}");
    let head = github.pulls()[0].head.clone();
    let pushed = git(&bare, &["rev-parse", &format!("refs/heads/{head}")]);
    assert_eq!(
        pushed.trim().len(),
        40,
        "the branch is on the served repository"
    );
    let receive: Vec<_> = served_git
        .seen()
        .into_iter()
        .filter(|r| r.path.ends_with("/git-receive-pack") && r.method == "POST")
        .collect();
    assert!(
        !receive.is_empty() && receive.iter().all(|r| r.authorized),
        "{receive:?}"
    );

    // The token is revoked: the push is refused, nothing lands or opens.
    served_git.accept_only("ghp_TheNewTokenSomeoneElseHas000000000000");
    let (failed, said) = call_over(
        &client,
        "create_pull_request",
        json!({"session_id": refused}),
    )
    .await;
    assert!(failed, "{said}");
    assert!(
        said.contains("refused the GitHub connection's token") && said.contains("github connect"),
        "{said}"
    );
    assert!(!said.contains(TOKEN), "{said}");
    let branches = git(
        &bare,
        &["for-each-ref", "--format=%(refname)", "refs/heads"],
    );
    assert_eq!(
        branches.lines().count(),
        2,
        "main and the shipped branch only: {branches}"
    );
    assert_eq!(github.pulls().len(), 1, "no pull request was opened");
    assert_eq!(task_status_of(&data, &refused_task), "inreview");
    client.cancel().await.expect("close");

    // Written down nowhere: git configs, logs, the data directory.
    let basic = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{TOKEN}"))
    };
    for config in [repo.join(".git/config"), bare.join("config")] {
        let text = std::fs::read_to_string(&config).expect("git config");
        assert!(
            !text.contains(TOKEN) && !text.contains(&basic) && !text.contains("extraHeader"),
            "{}: {text}",
            config.display()
        );
    }
    let logs = served.log_text();
    assert!(
        logs.contains("create_pull_request"),
        "debug logs were on: {logs}"
    );
    assert!(!logs.contains(TOKEN) && !logs.contains(&basic), "{logs}");
    assert!(files_containing(data.path(), TOKEN.as_bytes()).is_empty());
}

fn task_status_of(data: &DataDir, task: &str) -> String {
    data.rows("SELECT status FROM tasks WHERE id = ?1", &[json!(task)])[0][0]
        .as_str()
        .expect("status")
        .to_owned()
}
