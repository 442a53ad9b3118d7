//! The D1 store against a real local D1 (miniflare behind the D1 REST API):
//! one HTTP round trip per tool call, retries that never duplicate a write,
//! clear errors (SQL, permissions, exhausted retries, timeouts, missing
//! settings) that never show the token, and the CLI on a shared store.

use crate::common;

use common::{Backend, DataDir, LocalD1, Server, id};
use serde_json::{Value, json};

/// These tests count D1 requests and inject faults into the next ones, so the
/// servers run without a session runner, whose queue polls would be counted
/// (and would take the faults).
const NO_RUNNER: &[&str] = &["--no-runner"];

/// Calls a tool and returns how many D1 requests it cost.
async fn cost(d1: &LocalD1, server: &Server, tool: &str, args: Value) -> (u64, Value) {
    d1.reset();
    let result = server.call(tool, args).await;
    (d1.requests(), result)
}

/// What every tool costs in D1 requests, as the README's "What a call costs
/// on D1" says. The test drives the list from `tools/list`: a tool without an
/// entry here fails it, and so does an entry for a tool that is gone.
const COSTS: &[(&str, u64)] = &[
    ("list_workspaces", 1),
    ("list_members", 1),
    ("add_member", 1),
    ("update_member_role", 1),
    ("remove_member", 1),
    ("create_api_key", 1),
    ("revoke_api_key", 1),
    ("list_projects", 1),
    ("get_project", 1),
    ("create_project", 1),
    ("update_project", 1),
    ("list_tasks", 1),
    ("get_task", 1),
    ("create_task", 1),
    ("update_task", 1),
    ("delete_task", 1),
    ("assign_task", 1),
    ("show_board", 1),
    ("add_comment", 1),
    ("list_comments", 1),
    ("update_comment", 1),
    ("delete_comment", 1),
    ("list_activity", 1),
    // The task and its project are read in one request, the repository is
    // checked on this machine, then the session is queued in a second.
    ("start_session", 2),
    ("get_session", 1),
    // A finished session (as here) answers after one read; a wait reads
    // once more per 5 s it waits (see below).
    ("wait_for_session", 1),
    ("list_sessions", 1),
    // A queued session (as here: no runner) stops in one request. A running
    // one costs one more when this server's runner runs it (it waits for the
    // runner, then reads once), or one read per heartbeat while a runner
    // elsewhere stops it — timing this test cannot pin down.
    ("stop_session", 1),
    ("send_follow_up", 1),
    ("read_execution_log", 1),
    ("list_approvals", 1),
    ("respond_to_approval", 1),
    // One read (the session and its project's repository) or one write
    // (record it, read it back); the rest is git on this machine.
    ("get_session_diff", 1),
    ("archive_session", 1),
    // One read (the session, its repository, task title and final message),
    // git on this machine, one write (the merge, the task done, the audit
    // rows, the archive); a refusal is the read alone (tests/it/session_merge.rs
    // measures a merge that lands).
    ("merge_session", 2),
    // A cache miss reads (cache, task, template) before the model and
    // records the usage and the cache entry after it; a hit is one read.
    ("enhance_prompt", 2),
    ("list_prompt_templates", 1),
    ("create_prompt_template", 1),
    // Changing the text or the arguments reads the current ones first, to
    // check the two together; other changes are one request.
    ("update_prompt_template", 1),
    ("delete_prompt_template", 1),
    // One read (the session, its task and repository link, the workspace's
    // connection, the final message), then git and GitHub, then one write
    // (the pull request and the task). A refusal is the read alone (below);
    // tests/it/github.rs counts the two of a pull request opened on D1.
    ("create_pull_request", 2),
    // One read (open pull requests and their connections); one write more
    // per pull request whose state changed (a 304 changes nothing).
    ("sync_pull_requests", 1),
];

fn expected_cost(tool: &str) -> u64 {
    COSTS
        .iter()
        .find(|(name, _)| *name == tool)
        .map(|(_, cost)| *cost)
        .unwrap_or_else(|| panic!("{tool} has no entry in COSTS"))
}

#[tokio::test]
async fn every_tool_call_costs_what_the_readme_says() {
    let data = DataDir::on(Backend::D1);
    let d1 = data.d1().expect("d1");
    let server = Server::in_process(&data, NO_RUNNER, &[]).await;

    d1.reset();
    let listed: Vec<String> = server
        .tools()
        .await
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(d1.requests(), 0, "listing tools needs no database");
    let mut missing: Vec<&String> = listed
        .iter()
        .filter(|name| !COSTS.iter().any(|(tool, _)| tool == name))
        .collect();
    missing.sort();
    assert!(
        missing.is_empty(),
        "tools without a cost in COSTS (and the README): {missing:?}"
    );
    let gone: Vec<&str> = COSTS
        .iter()
        .map(|(tool, _)| *tool)
        .filter(|tool| !listed.iter().any(|name| name == tool))
        .collect();
    assert!(
        gone.is_empty(),
        "COSTS names tools that are not listed: {gone:?}"
    );

    let mut called = std::collections::BTreeSet::new();
    let mut call = async |tool: &'static str, args: Value, cost: u64| -> Value {
        let (n, result) = self::cost(d1, &server, tool, args.clone()).await;
        assert_eq!(n, cost, "{tool}({args})");
        called.insert(tool);
        result
    };
    let workspaces = call(
        "list_workspaces",
        json!({}),
        expected_cost("list_workspaces"),
    )
    .await;
    let owner = workspaces["workspaces"][0]["members"][0]["user_id"]
        .as_str()
        .expect("owner")
        .to_owned();
    let project = call("create_project", json!({"name": "Trips"}), 1).await;
    let project_id = id(&project);
    call("get_project", json!({"project_id": project_id}), 1).await;
    call("list_projects", json!({}), 1).await;
    call("list_members", json!({}), 1).await;
    call(
        "add_member",
        json!({"email": "pat@example.com", "role": "member"}),
        1,
    )
    .await;
    call(
        "update_member_role",
        json!({"member": "pat@example.com", "role": "viewer"}),
        1,
    )
    .await;
    let key = call(
        "create_api_key",
        json!({"member": "pat@example.com", "name": "pat", "scopes": "read"}),
        1,
    )
    .await;
    call("revoke_api_key", json!({"key": key["id"]}), 1).await;
    call("remove_member", json!({"member": "pat@example.com"}), 1).await;
    call(
        "update_project",
        json!({"project_id": project_id, "description": "one round trip each"}),
        1,
    )
    .await;
    let parent = call(
        "create_task",
        json!({"project_id": project_id, "title": "Parent", "assignee": owner}),
        1,
    )
    .await;
    let parent_id = id(&parent);
    let child = call(
        "create_task",
        json!({"project_id": project_id, "title": "Child", "parent_task_id": parent_id}),
        1,
    )
    .await;
    let child_id = id(&child);
    call(
        "list_tasks",
        json!({"project_id": project_id, "status": ["todo"], "limit": 1}),
        1,
    )
    .await;
    call("get_task", json!({"task_id": parent_id}), 1).await;
    call("show_board", json!({"project_id": project_id}), 1).await;
    call(
        "update_task",
        json!({"task_id": child_id, "status": "inprogress", "parent_task_id": null}),
        1,
    )
    .await;
    call(
        "update_task",
        json!({"task_id": child_id, "parent_task_id": parent_id, "position": 7}),
        1,
    )
    .await;
    call(
        "assign_task",
        json!({"task_id": child_id, "user_id": owner}),
        1,
    )
    .await;
    call(
        "assign_task",
        json!({"task_id": child_id, "user_id": null}),
        1,
    )
    .await;

    let comment = call(
        "add_comment",
        json!({"task_id": parent_id, "body": "One round trip"}),
        1,
    )
    .await;
    call(
        "list_comments",
        json!({"task_id": parent_id, "limit": 1}),
        1,
    )
    .await;
    call(
        "update_comment",
        json!({"comment_id": id(&comment), "body": "Still one"}),
        1,
    )
    .await;
    call("delete_comment", json!({"comment_id": id(&comment)}), 1).await;
    call(
        "list_activity",
        json!({"project_id": project_id, "action": "update", "limit": 2}),
        1,
    )
    .await;

    // Sessions (no runner here: a started session stays queued).
    let session = call(
        "start_session",
        json!({"task_id": child_id}),
        expected_cost("start_session"),
    )
    .await;
    let session_id = id(&session);
    call("get_session", json!({"session_id": session_id}), 1).await;
    call("list_sessions", json!({"task_id": child_id}), 1).await;
    call("read_execution_log", json!({"session_id": session_id}), 1).await;
    let stopped = call(
        "stop_session",
        json!({"session_id": session_id}),
        expected_cost("stop_session"),
    )
    .await;
    assert_eq!(stopped["status"], "stopped");
    let waited = call(
        "wait_for_session",
        json!({"session_id": session_id}),
        expected_cost("wait_for_session"),
    )
    .await;
    assert_eq!(waited["timed_out"], false);
    let queued = call(
        "send_follow_up",
        json!({"session_id": session_id, "prompt": "And the tests"}),
        expected_cost("send_follow_up"),
    )
    .await;
    assert_eq!(queued["status"], "queued", "{queued}");
    call("stop_session", json!({"session_id": session_id}), 1).await;
    // An agent's permission request (as the approval server records it).
    let approval_id = "0193a000-0000-7000-8000-0000000000a1";
    d1.query(
        "INSERT INTO session_approvals (id, session_id, workspace_id, tool_name, input, requested_at, expires_at) \
         SELECT ?1, id, workspace_id, 'Write', '{}', '2026-01-01T00:00:00.000Z', '2999-01-01T00:00:00.000Z' \
         FROM workspace_sessions WHERE id = ?2",
        &[json!(approval_id), json!(session_id)],
    );
    let pending = call("list_approvals", json!({"session_id": session_id}), 1).await;
    assert_eq!(pending["approvals"][0]["id"], approval_id, "{pending}");
    let answered = call(
        "respond_to_approval",
        json!({"approval_id": approval_id, "decision": "allow", "remember": true}),
        1,
    )
    .await;
    assert_eq!(answered["status"], "allowed", "{answered}");
    let archived = call("archive_session", json!({"session_id": session_id}), 1).await;
    assert!(archived["archived_at"].is_string(), "{archived}");

    // Prompts: a cache miss, then the same request from the cache.
    let args = json!({"prompt": "fix the login bug", "task_id": parent_id});
    let miss = call(
        "enhance_prompt",
        args.clone(),
        expected_cost("enhance_prompt"),
    )
    .await;
    assert_eq!(miss["cached"], false);
    let (n, hit) = cost(d1, &server, "enhance_prompt", args).await;
    assert_eq!((n, &hit["cached"]), (1, &json!(true)), "a cache hit");
    call("list_prompt_templates", json!({}), 1).await;
    call(
        "create_prompt_template",
        json!({"name": "release-notes", "template": "Release notes for {{version}}"}),
        1,
    )
    .await;
    call(
        "update_prompt_template",
        json!({"name": "release-notes", "description": "For users"}),
        expected_cost("update_prompt_template"),
    )
    .await;
    let (n, _) = cost(
        d1,
        &server,
        "update_prompt_template",
        json!({"name": "release-notes", "template": "Notes for {{version}}"}),
    )
    .await;
    assert_eq!(n, 2, "changing a template's text reads it first");
    call(
        "delete_prompt_template",
        json!({"name": "release-notes"}),
        1,
    )
    .await;

    let loose = call(
        "create_task",
        json!({"project_id": project_id, "title": "Loose"}),
        1,
    )
    .await;
    call("delete_task", json!({"task_id": id(&loose)}), 1).await;

    // A diff is one read whatever git finds; this session has no
    // repository, which the read is enough to say.
    d1.reset();
    let no_diff = server
        .call_fails("get_session_diff", json!({"session_id": session_id}))
        .await;
    assert!(no_diff.contains("has no repository"), "{no_diff}");
    assert_eq!(d1.requests(), expected_cost("get_session_diff"));
    called.insert("get_session_diff");
    d1.reset();
    let no_merge = server
        .call_fails("merge_session", json!({"session_id": session_id}))
        .await;
    assert!(no_merge.contains("nothing to merge"), "{no_merge}");
    assert_eq!(d1.requests(), 1, "a refused merge is one read");
    called.insert("merge_session");
    // Refused after its one read: the session has no repository.
    d1.reset();
    let no_pull = server
        .call_fails("create_pull_request", json!({"session_id": session_id}))
        .await;
    assert!(no_pull.contains("has no repository"), "{no_pull}");
    assert_eq!(d1.requests(), 1, "a refused create_pull_request");
    called.insert("create_pull_request");
    let (n, _) = cost(d1, &server, "sync_pull_requests", json!({})).await;
    assert_eq!(n, expected_cost("sync_pull_requests"), "sync_pull_requests");
    called.insert("sync_pull_requests");

    // Every listed tool was called at its listed cost.
    let not_called: Vec<&String> = listed
        .iter()
        .filter(|name| !called.contains(name.as_str()))
        .collect();
    assert!(
        not_called.is_empty(),
        "tools the test never called: {not_called:?}"
    );

    // Failures cost one round trip too, and so does reading a resource.
    d1.reset();
    server
        .call_fails("get_task", json!({"task_id": project_id}))
        .await;
    assert_eq!(d1.requests(), 1, "a not-found get_task");
    d1.reset();
    server
        .read(&format!("kanban://projects/{project_id}/board"))
        .await
        .expect("board");
    assert_eq!(d1.requests(), 1, "the board resource");

    // Every mutation wrote its audit row in its one request (the follow-up's
    // move of the child back to inprogress included).
    assert_eq!(
        data.count(&format!(
            "SELECT COUNT(*) FROM audit_logs WHERE entity_id IN ('{project_id}', '{parent_id}', '{child_id}')"
        )),
        9
    );
    server.stop().await;
}

#[tokio::test]
async fn a_wait_on_d1_reads_the_store_at_most_once_per_5_s() {
    let data = DataDir::on(Backend::D1);
    let d1 = data.d1().expect("d1");
    let server = Server::in_process(&data, NO_RUNNER, &[]).await;
    let project_id = server.project("Waiting").await;
    let task_id = server.task(&project_id, "Never runs", json!({})).await;
    // No runner: the session stays queued, and the wait times out.
    let session = server
        .call("start_session", json!({"task_id": task_id}))
        .await;
    d1.reset();
    let waited = server
        .call(
            "wait_for_session",
            json!({"session_id": id(&session), "timeout_secs": 11}),
        )
        .await;
    assert_eq!(waited["timed_out"], true, "{waited}");
    assert_eq!(waited["status"], "queued");
    // The first read, then one per 5 s of waiting.
    let requests = d1.requests();
    assert!(
        (1..=3).contains(&requests),
        "{requests} D1 requests for an 11 s wait"
    );
    server.stop().await;
}

#[tokio::test]
async fn retried_writes_are_never_duplicated() {
    let data = DataDir::on(Backend::D1);
    let d1 = data.d1().expect("d1");
    let server = Server::in_process(&data, NO_RUNNER, &[]).await;
    let project_id = server.project("Flaky").await;

    // 429 is retried after its retry-after.
    d1.reset();
    d1.inject(json!([{"kind": "429", "retry_after": "1"}]));
    let task_id = server.task(&project_id, "After a 429", json!({})).await;
    assert_eq!(d1.requests(), 2);

    // 500 and D1's "overloaded" are retried with backoff.
    d1.reset();
    d1.inject(json!([{"kind": "500"}, {"kind": "overloaded"}]));
    server.task(&project_id, "After two 5xx", json!({})).await;
    assert_eq!(d1.requests(), 3);

    // The connection drops after the write committed: the retry must not
    // write it again, and the tool still reports success.
    d1.reset();
    d1.inject(json!([{"kind": "drop_after_commit"}]));
    let dropped = server.task(&project_id, "Committed once", json!({})).await;
    assert_eq!(d1.requests(), 2);
    assert_eq!(
        data.count("SELECT COUNT(*) FROM tasks WHERE title = 'Committed once'"),
        1
    );
    assert_eq!(
        data.count(&format!(
            "SELECT COUNT(*) FROM audit_logs WHERE entity_id = '{dropped}'"
        )),
        1
    );

    d1.reset();
    d1.inject(json!([{"kind": "drop_after_commit"}]));
    server
        .call("create_project", json!({"name": "Made once"}))
        .await;
    assert_eq!(
        data.count("SELECT COUNT(*) FROM projects WHERE name = 'Made once'"),
        1
    );

    d1.reset();
    d1.inject(json!([{"kind": "drop_after_commit"}]));
    let updated = server
        .call("update_task", json!({"task_id": task_id, "status": "done"}))
        .await;
    assert_eq!(updated["status"], "done");
    assert_eq!(
        data.count(&format!(
            "SELECT COUNT(*) FROM audit_logs WHERE entity_id = '{task_id}' AND action = 'update'"
        )),
        1
    );

    // A delete retried after it committed reports the same deletion.
    let sub = server
        .task(&project_id, "Sub", json!({"parent_task_id": dropped}))
        .await;
    d1.reset();
    d1.inject(json!([{"kind": "drop_after_commit"}]));
    let deleted = server
        .call("delete_task", json!({"task_id": dropped}))
        .await;
    assert_eq!(d1.requests(), 2);
    let mut ids: Vec<&str> = deleted["deleted_ids"]
        .as_array()
        .expect("ids")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    ids.sort();
    let mut expected = vec![dropped.as_str(), sub.as_str()];
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(
        data.count(&format!(
            "SELECT COUNT(*) FROM audit_logs WHERE entity_id = '{dropped}' AND action = 'delete'"
        )),
        1
    );
    assert_eq!(
        data.count(&format!(
            "SELECT COUNT(*) FROM tasks WHERE id IN ('{dropped}', '{sub}')"
        )),
        0
    );
    server.stop().await;
}

#[tokio::test]
async fn errors_are_clear_and_never_show_the_token() {
    let data = DataDir::on(Backend::D1);
    let d1 = data.d1().expect("d1");
    let server = Server::in_process(&data, NO_RUNNER, &[("VK_D1_MAX_ATTEMPTS", "2")]).await;
    let project_id = server.project("Errors").await;

    // The token lacks D1 permission.
    d1.inject(json!([{"kind": "403"}]));
    let denied = server.call_fails("list_projects", json!({})).await;
    assert!(
        denied.contains("lacks permission") && denied.contains("D1 Edit"),
        "{denied}"
    );
    assert!(!denied.contains(&d1.token));

    // A reply that repeats the token: whichever path quotes it, the token
    // is redacted from the message.
    for faults in [
        json!([{"kind": "echo_token", "status": 403}]),
        json!([{"kind": "echo_token", "status": 400}]),
        json!([{"kind": "echo_token", "status": 400, "plain": true}]),
        json!([{"kind": "echo_token", "status": 500}, {"kind": "echo_token", "status": 500}]),
    ] {
        d1.inject(faults.clone());
        let echoed = server.call_fails("list_projects", json!({})).await;
        assert!(!echoed.contains(&d1.token), "{faults}: {echoed}");
        assert!(echoed.contains("[redacted]"), "{faults}: {echoed}");
    }

    // Retries run out.
    d1.inject(json!([{"kind": "500"}, {"kind": "500"}]));
    let gone = server
        .call_fails("get_project", json!({"project_id": project_id}))
        .await;
    assert!(gone.contains("did not answer after 2 attempts"), "{gone}");

    // An SQL error carries SQLite's message.
    data.exec("DROP TABLE audit_logs");
    let sql = server
        .call_fails("create_project", json!({"name": "No audit table"}))
        .await;
    assert!(sql.contains("no such table: audit_logs"), "{sql}");
    assert_eq!(
        data.count("SELECT COUNT(*) FROM projects WHERE name = 'No audit table'"),
        0,
        "the batch is one transaction"
    );
    server.stop().await;
}

#[tokio::test]
async fn slow_requests_time_out_as_configured() {
    let data = DataDir::on(Backend::D1);
    let d1 = data.d1().expect("d1");
    let server = Server::in_process(
        &data,
        NO_RUNNER,
        &[("VK_D1_TIMEOUT_SECS", "0.5"), ("VK_D1_MAX_ATTEMPTS", "1")],
    )
    .await;
    d1.latency(3000);
    let slow = server.call_fails("list_projects", json!({})).await;
    assert!(slow.contains("timed out"), "{slow}");
    d1.reset();
    server.call("list_projects", json!({})).await;
    server.stop().await;
}

#[tokio::test]
async fn start_errors_name_what_is_missing_and_hide_the_token() {
    let data = DataDir::on(Backend::D1);
    let d1 = data.d1().expect("d1");

    // Missing settings, all named at once.
    let out = std::process::Command::new(common::BIN)
        .args(["keys", "list", "--store", "d1"])
        .env_remove("CLOUDFLARE_ACCOUNT_ID")
        .env_remove("VK_D1_DATABASE_ID")
        .env("CLOUDFLARE_API_TOKEN", "secret-token-value")
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("CLOUDFLARE_ACCOUNT_ID") && err.contains("VK_D1_DATABASE_ID"),
        "{err}"
    );
    assert!(!err.contains("secret-token-value"));

    // A wrong token is refused with a clear message, without echoing it.
    let out = std::process::Command::new(common::BIN)
        .args(["keys", "list"])
        .envs(d1.env())
        .env("CLOUDFLARE_API_TOKEN", "wrong-token-value")
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("refused the API token"), "{err}");
    assert!(!err.contains("wrong-token-value") && !err.contains(&d1.token));

    // A shared store has no local owner: serve and board need a key, and
    // say so before any request is made.
    d1.reset();
    for args in [&["serve"][..], &["board", "Anything"][..]] {
        let out = std::process::Command::new(common::BIN)
            .args(args)
            .envs(d1.env())
            .env_remove("VK_API_KEY")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            err.contains("VK_API_KEY") && err.contains("keys create"),
            "{err}"
        );
    }
    assert_eq!(d1.requests(), 0);

    // Nothing the binary printed on any of these paths shows the token.
    let out = data.cli(&["keys", "list"]);
    assert!(out.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains(&d1.token));
}

#[tokio::test]
async fn the_cli_sets_up_an_empty_shared_store() {
    let data = DataDir::empty(Backend::D1);
    // No local owner is made on a shared store: the first workspace comes
    // from the CLI, then a key for it, then a server acting as that key.
    assert_eq!(data.cli_ok(&["workspaces", "list"]).trim(), "");
    let ws = data.create_workspace("platform", "lead@example.com");
    assert!(data.cli_ok(&["workspaces", "list"]).contains(&ws));
    assert_eq!(data.count("SELECT COUNT(*) FROM users"), 1);
    let key = data.create_key("platform", "agent", "read,write");
    let server = Server::in_process(&data, NO_RUNNER, &[("VK_API_KEY", &key)]).await;
    let workspaces = server.call("list_workspaces", json!({})).await;
    assert_eq!(workspaces["workspaces"][0]["slug"], "platform");
    let project_id = server.project("Shared").await;
    // Big values go through intact: a 100,000-character description and the
    // largest position (2^53 - 1, stored as an integer); beyond it is refused
    // because D1 would hand it back changed.
    let description = "d".repeat(100_000);
    let task = server
        .call(
            "create_task",
            json!({"project_id": project_id, "title": "Big", "description": description}),
        )
        .await;
    assert_eq!(task["description"].as_str().map(str::len), Some(100_000));
    let moved = server
        .call(
            "update_task",
            json!({"task_id": id(&task), "position": 9_007_199_254_740_991_i64}),
        )
        .await;
    assert_eq!(moved["position"], json!(9_007_199_254_740_991_i64));
    let too_far = server
        .call_invalid(
            "update_task",
            json!({"task_id": id(&task), "position": 9_007_199_254_740_992_i64}),
        )
        .await;
    assert!(too_far.contains("position"), "{too_far}");
    assert_eq!(
        data.count("SELECT COUNT(*) FROM tasks WHERE typeof(position) = 'integer'"),
        1
    );
    // A filter with many repeated statuses stays within D1's 100 parameters.
    let statuses = vec!["todo"; 300];
    let page = server
        .call(
            "list_tasks",
            json!({"project_id": project_id, "status": statuses}),
        )
        .await;
    assert_eq!(page["total"], 1);
    server.stop().await;
    let board = data.cli(&["board", "Shared", "--api-key", &key]);
    assert!(
        board.status.success(),
        "{}",
        String::from_utf8_lossy(&board.stderr)
    );
    assert!(String::from_utf8_lossy(&board.stdout).contains("Big"));
}

/// Statements name a value they use twice (`?1 … ?1`) and bind it once: the
/// D1 executor sends the parameters so that numbered ones land where SQLite
/// puts them, in a batch and alone, on the real local D1 and on SQLite.
#[tokio::test]
async fn numbered_parameters_bind_once_on_both_executors() {
    use std::{sync::Arc, time::Duration};
    use vibe_kanban_mcp::store::{
        Executor, Mode, Stmt,
        d1::{ApiToken, D1Executor, D1Settings},
        sqlite::SqliteExecutor,
    };

    let d1 = LocalD1::start(None);
    let settings = D1Settings {
        api_base: d1.api_base.clone(),
        account_id: d1.account_id.clone(),
        database_id: d1.database_id.clone(),
        api_token: ApiToken::new(d1.token.clone()),
        timeout: Duration::from_secs(10),
        max_attempts: 1,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(10),
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let executors: Vec<Arc<dyn Executor>> = vec![
        Arc::new(D1Executor::new(settings).expect("d1 executor")),
        Arc::new(SqliteExecutor::open(&dir.path().join("db.sqlite")).expect("sqlite")),
    ];
    for exec in executors {
        let stmt = || {
            Stmt::new("SELECT ?2 AS b, ?1 AS a, ?1 || ?2 || ?1 AS aba, ?3 IS NULL AS none")
                .bind("x")
                .bind("y")
                .bind(Option::<String>::None)
        };
        for count in [1, 2] {
            let results = exec
                .batch(Mode::Read, (0..count).map(|_| stmt()).collect())
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", exec.kind()));
            assert_eq!(results.len(), count, "{}", exec.kind());
            for result in results {
                let row = &result.rows[0];
                assert_eq!(row["a"], "x", "{}", exec.kind());
                assert_eq!(row["b"], "y", "{}", exec.kind());
                assert_eq!(row["aba"], "xyx", "{}", exec.kind());
                assert_eq!(row["none"], 1, "{}", exec.kind());
            }
        }
    }
}
