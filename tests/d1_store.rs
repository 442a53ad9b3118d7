//! The D1 store against a real local D1 (miniflare behind the D1 REST API):
//! one HTTP round trip per tool call, retries that never duplicate a write,
//! clear errors (SQL, permissions, exhausted retries, timeouts, missing
//! settings) that never show the token, and the CLI on a shared store.

mod common;

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

#[tokio::test]
async fn every_tool_call_is_one_round_trip() {
    let data = DataDir::on(Backend::D1);
    let d1 = data.d1().expect("d1");
    let server = Server::start(&data, NO_RUNNER, &[]).await;

    d1.reset();
    server.tools().await;
    assert_eq!(d1.requests(), 0, "listing tools needs no database");

    let (n, workspaces) = cost(d1, &server, "list_workspaces", json!({})).await;
    assert_eq!(n, 1, "list_workspaces");
    let owner = workspaces["workspaces"][0]["members"][0]["user_id"]
        .as_str()
        .expect("owner")
        .to_owned();
    let (n, project) = cost(d1, &server, "create_project", json!({"name": "Trips"})).await;
    assert_eq!(n, 1, "create_project");
    let project_id = id(&project);
    let calls = [
        ("get_project", json!({"project_id": project_id})),
        ("list_projects", json!({})),
        (
            "update_project",
            json!({"project_id": project_id, "description": "one round trip each"}),
        ),
    ];
    for (tool, args) in calls {
        assert_eq!(cost(d1, &server, tool, args).await.0, 1, "{tool}");
    }
    let (n, parent) = cost(
        d1,
        &server,
        "create_task",
        json!({"project_id": project_id, "title": "Parent", "assignee": owner}),
    )
    .await;
    assert_eq!(n, 1, "create_task");
    let parent_id = id(&parent);
    let (_, child) = cost(
        d1,
        &server,
        "create_task",
        json!({"project_id": project_id, "title": "Child", "parent_task_id": parent_id}),
    )
    .await;
    let child_id = id(&child);
    let calls = [
        (
            "list_tasks",
            json!({"project_id": project_id, "status": ["todo"], "limit": 1}),
        ),
        ("get_task", json!({"task_id": parent_id})),
        (
            "update_task",
            json!({"task_id": child_id, "status": "inprogress", "parent_task_id": null}),
        ),
        (
            "update_task",
            json!({"task_id": child_id, "parent_task_id": parent_id, "position": 7}),
        ),
        (
            "assign_task",
            json!({"task_id": child_id, "user_id": owner}),
        ),
        ("assign_task", json!({"task_id": child_id, "user_id": null})),
        ("delete_task", json!({"task_id": parent_id})),
    ];
    for (tool, args) in calls {
        assert_eq!(
            cost(d1, &server, tool, args.clone()).await.0,
            1,
            "{tool}({args})"
        );
    }
    // Failures cost one round trip too, and so does reading a resource.
    d1.reset();
    server
        .call_fails("get_task", json!({"task_id": parent_id}))
        .await;
    assert_eq!(d1.requests(), 1, "a not-found get_task");
    d1.reset();
    server
        .read(&format!("kanban://projects/{project_id}/board"))
        .await
        .expect("board");
    assert_eq!(d1.requests(), 1, "the board resource");

    // Every mutation wrote its audit row in its one request.
    assert_eq!(
        data.count(&format!(
            "SELECT COUNT(*) FROM audit_logs WHERE entity_id IN ('{project_id}', '{parent_id}', '{child_id}')"
        )),
        9
    );
    server.stop().await;
}

#[tokio::test]
async fn retried_writes_are_never_duplicated() {
    let data = DataDir::on(Backend::D1);
    let d1 = data.d1().expect("d1");
    let server = Server::start(&data, NO_RUNNER, &[]).await;
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
    let server = Server::start(&data, NO_RUNNER, &[("VK_D1_MAX_ATTEMPTS", "2")]).await;
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
    let server = Server::start(
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
    let server = Server::start(&data, NO_RUNNER, &[("VK_API_KEY", &key)]).await;
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
