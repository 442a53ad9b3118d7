//! Comments and the activity feed (issue 16 items 5, 6 and their parts of
//! 7–8): members comment on tasks, edit and delete their own (admins any);
//! viewers read; get_task, the task resource and the board show counts and
//! the latest comments; an agent comments on its own session's task through
//! the approval server; list_activity reads the audit rows per task,
//! project or workspace with filters and paging; every mutating tool leaves
//! its audit row with the right actor; bad input is refused, nothing written.

use std::time::{Duration, Instant};

use rmcp::{RoleClient, model::CallToolRequestParams, service::RunningService};
use serde_json::{Value, json};

use crate::common;

use common::{
    BIN, Backend, DataDir, OWNER_EMAIL, Server, id,
    sessions::{config, session_server},
};

/// A server acting as `email` (a member with a key of all its role allows).
async fn as_member(data: &DataDir, email: &str, args: &[&str]) -> Server {
    let key = data.member_key(email, email, "admin");
    Server::in_process(data, args, &[("VK_API_KEY", &key)]).await
}

/// What the store holds: comments (live and deleted) and audit rows.
fn written(data: &DataDir) -> (i64, i64, String) {
    (
        data.count("SELECT COUNT(*) FROM task_comments"),
        data.count("SELECT COUNT(*) FROM audit_logs"),
        data.rows(
            "SELECT COALESCE(group_concat(body || '|' || COALESCE(edited_at, '') || '|' || COALESCE(deleted_at, ''), ';'), '') FROM (SELECT * FROM task_comments ORDER BY id)",
            &[],
        )[0][0]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

async fn comments_by_members_and_admins(backend: Backend) {
    let data = DataDir::on(backend);
    data.add_member("alice@example.com", "member");
    data.add_member("bob@example.com", "viewer");
    data.add_member("carol@example.com", "admin");
    let owner = Server::in_process(&data, &[], &[]).await;
    let alice = as_member(&data, "alice@example.com", &[]).await;
    let bob = as_member(&data, "bob@example.com", &[]).await;
    let carol = as_member(&data, "carol@example.com", &[]).await;
    let project = owner.project("Web").await;
    let task = owner.task(&project, "Fix login", json!({})).await;

    let first = alice
        .call(
            "add_comment",
            json!({"task_id": task, "body": "I can reproduce it on **Safari**."}),
        )
        .await;
    assert_eq!(first["author"], "alice@example.com", "{first:#}");
    assert_eq!(first["by_agent"], false);
    assert_eq!(first["task_id"], task.as_str());
    let second = owner
        .call(
            "add_comment",
            json!({"task_id": task, "body": "Thanks, looking at it"}),
        )
        .await;
    // The longest body there may be is taken whole.
    let longest = "x".repeat(20_000);
    let third = carol
        .call("add_comment", json!({"task_id": task, "body": longest}))
        .await;
    assert_eq!(third["body"].as_str().map(str::len), Some(20_000));

    // Oldest first, paged with the store's one cursor codec.
    let page = bob
        .call("list_comments", json!({"task_id": task, "limit": 2}))
        .await;
    assert_eq!(page["total"], 3, "{page:#}");
    assert_eq!(page["comments"][0]["id"], first["id"]);
    assert_eq!(page["comments"][1]["id"], second["id"]);
    let cursor = page["next_cursor"].as_str().expect("more").to_owned();
    let rest = bob
        .call(
            "list_comments",
            json!({"task_id": task, "limit": 2, "cursor": cursor}),
        )
        .await;
    assert_eq!(rest["comments"][0]["id"], third["id"], "{rest:#}");
    assert_eq!(rest["next_cursor"], Value::Null);

    // get_task: the count and the newest three, newest first.
    let detail = bob.call("get_task", json!({"task_id": task})).await;
    assert_eq!(detail["comment_count"], 3, "{detail:#}");
    assert_eq!(detail["latest_comments"][0]["id"], third["id"]);
    assert_eq!(detail["latest_comments"][2]["id"], first["id"]);

    // A viewer reads but does not write: the tool is not offered.
    let before = written(&data);
    let refused = bob
        .call_invalid("add_comment", json!({"task_id": task, "body": "me too"}))
        .await;
    assert!(refused.contains("needs the member role"), "{refused}");
    assert!(
        !bob.tools()
            .await
            .iter()
            .any(|t| t.name == "update_comment" || t.name == "delete_comment")
    );

    // A member edits only their own comment.
    let theirs = alice
        .call_fails(
            "update_comment",
            json!({"comment_id": id(&second), "body": "hijacked"}),
        )
        .await;
    assert!(
        theirs.contains(&format!(
            "comment {} was written by {OWNER_EMAIL}",
            id(&second)
        )) && theirs.contains("only its author or an admin or owner")
            && theirs.contains("Nothing was changed"),
        "{theirs}"
    );
    let theirs = alice
        .call_fails("delete_comment", json!({"comment_id": id(&third)}))
        .await;
    assert!(theirs.contains("carol@example.com"), "{theirs}");
    // Oversized, blank, unknown and mistyped input.
    let oversized = alice
        .call_invalid(
            "add_comment",
            json!({"task_id": task, "body": "y".repeat(20_001)}),
        )
        .await;
    assert!(
        oversized.contains("20001 characters") && oversized.contains("20000"),
        "{oversized}"
    );
    let oversized = alice
        .call_invalid(
            "update_comment",
            json!({"comment_id": id(&first), "body": "y".repeat(20_001)}),
        )
        .await;
    assert!(oversized.contains("the limit is 20000"), "{oversized}");
    let blank = alice
        .call_invalid("add_comment", json!({"task_id": task, "body": "  \n "}))
        .await;
    assert!(blank.contains("`body` must not be empty"), "{blank}");
    let unknown_task = "0193a000-0000-7000-8000-00000000dead";
    let unknown = alice
        .call_fails(
            "add_comment",
            json!({"task_id": unknown_task, "body": "hello"}),
        )
        .await;
    assert!(
        unknown.contains(&format!("task {unknown_task} not found in workspace"))
            && unknown.contains("list_tasks"),
        "{unknown}"
    );
    let unknown = alice
        .call_fails(
            "update_comment",
            json!({"comment_id": unknown_task, "body": "hello"}),
        )
        .await;
    assert!(
        unknown.contains(&format!("comment {unknown_task} not found"))
            && unknown.contains("list_comments"),
        "{unknown}"
    );
    let mistyped = alice
        .call_invalid("add_comment", json!({"task_id": "login", "body": "hi"}))
        .await;
    assert!(mistyped.contains("task_id"), "{mistyped}");
    let mistyped = alice
        .call_invalid("add_comment", json!({"task_id": task, "body": 5}))
        .await;
    assert!(mistyped.contains("body"), "{mistyped}");
    let mistyped = alice
        .call_invalid(
            "list_comments",
            json!({"task_id": task, "cursor": "not-ours"}),
        )
        .await;
    assert!(mistyped.contains("list_comments"), "{mistyped}");
    assert_eq!(written(&data), before, "refusals wrote nothing");

    // The author edits; an admin and the owner may edit anyone's.
    let edited = alice
        .call(
            "update_comment",
            json!({"comment_id": id(&first), "body": "Reproduced on Safari 18"}),
        )
        .await;
    assert_eq!(edited["body"], "Reproduced on Safari 18");
    assert!(edited["edited_at"].is_string(), "{edited:#}");
    let by_admin = carol
        .call(
            "update_comment",
            json!({"comment_id": id(&first), "body": "Reproduced on Safari 18 (and 17)"}),
        )
        .await;
    assert_eq!(by_admin["author"], "alice@example.com");
    owner
        .call("delete_comment", json!({"comment_id": id(&third)}))
        .await;

    // Deleted: hidden from the list, not editable, deleting again is a no-op.
    let deleted = alice
        .call("delete_comment", json!({"comment_id": id(&first)}))
        .await;
    assert!(deleted["deleted_at"].is_string(), "{deleted:#}");
    assert_eq!(deleted["body"], "");
    let before = written(&data);
    let again = alice
        .call("delete_comment", json!({"comment_id": id(&first)}))
        .await;
    assert_eq!(again["deleted_at"], deleted["deleted_at"]);
    let gone = alice
        .call_fails(
            "update_comment",
            json!({"comment_id": id(&first), "body": "back"}),
        )
        .await;
    assert!(
        gone.contains("was deleted at") && gone.contains("write a new comment"),
        "{gone}"
    );
    assert_eq!(written(&data), before, "nothing written");
    let page = bob.call("list_comments", json!({"task_id": task})).await;
    assert_eq!(page["total"], 1, "{page:#}");
    assert_eq!(page["comments"][0]["id"], second["id"]);

    // The task resource and the board show them.
    let resource = bob
        .read(&format!("kanban://tasks/{task}"))
        .await
        .expect("task");
    assert!(
        resource.contains("Comments: 1")
            && resource.contains("Thanks, looking at it")
            && resource.contains(OWNER_EMAIL),
        "{resource}"
    );
    let board = bob
        .read(&format!("kanban://projects/{project}/board"))
        .await
        .expect("board");
    assert!(
        board.contains("**Fix login**") && board.contains("· 1 comment(s)"),
        "{board}"
    );
    assert!(
        board.contains("## Latest comments")
            && board.contains(&format!("{OWNER_EMAIL} on **Fix login**"))
            && !board.contains("Safari"),
        "{board}"
    );

    // Each change has its audit row by its actor.
    let rows = data.rows(
        "SELECT a.action, u.email FROM audit_logs a LEFT JOIN users u ON u.id = a.user_id \
         WHERE a.entity_type = 'comment' ORDER BY a.created_at, a.id",
        &[],
    );
    let rows: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap_or_default().to_owned(),
                r[1].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("create", "alice@example.com"),
        ("create", OWNER_EMAIL),
        ("create", "carol@example.com"),
        ("update", "alice@example.com"),
        ("update", "carol@example.com"),
        ("delete", OWNER_EMAIL),
        ("delete", "alice@example.com"),
    ]
    .iter()
    .map(|(a, e)| ((*a).to_owned(), (*e).to_owned()))
    .collect();
    assert_eq!(rows, expected);
    for server in [owner, alice, bob, carol] {
        server.stop().await;
    }
}

async fn the_activity_feed(backend: Backend) {
    let data = DataDir::on(backend);
    data.add_member("alice@example.com", "member");
    let owner = Server::in_process(&data, &[], &[]).await;
    let alice = as_member(&data, "alice@example.com", &[]).await;
    let web = owner.project("Web").await;
    let other = owner.project("Other").await;
    let task = owner.task(&web, "Fix login", json!({})).await;
    let elsewhere = owner.task(&other, "Elsewhere", json!({})).await;
    let started = owner.call("list_activity", json!({"limit": 1})).await["entries"][0]["at"]
        .as_str()
        .expect("at")
        .to_owned();
    alice
        .call(
            "update_task",
            json!({"task_id": task, "status": "inreview"}),
        )
        .await;
    alice
        .call("add_comment", json!({"task_id": task, "body": "Ready"}))
        .await;
    owner
        .call(
            "update_task",
            json!({"task_id": elsewhere, "title": "Elsewhere, renamed"}),
        )
        .await;

    // A task's feed: newest first, one readable line and the fields.
    let feed = owner.call("list_activity", json!({"task_id": task})).await;
    let lines: Vec<&str> = feed["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["line"].as_str().expect("line"))
        .collect();
    assert_eq!(
        lines,
        [
            "alice@example.com commented on task 'Fix login'",
            "alice@example.com moved task 'Fix login' to inreview",
            &format!("{OWNER_EMAIL} created task 'Fix login'"),
        ],
        "{feed:#}"
    );
    let moved = &feed["entries"][1];
    assert_eq!(moved["actor"], "alice@example.com");
    assert_eq!(moved["action"], "update");
    assert_eq!(moved["object_type"], "task");
    assert_eq!(moved["object_id"], task.as_str());
    assert!(
        moved["at"].is_string() && moved.get("request_id").is_some(),
        "{moved:#}"
    );

    // A project's feed has its tasks' entries and not another project's.
    let project_feed = owner
        .call("list_activity", json!({"project_id": web}))
        .await;
    let text = project_feed.to_string();
    assert!(
        text.contains("created project 'Web'") && text.contains("moved task 'Fix login'"),
        "{project_feed:#}"
    );
    assert!(!text.contains("Elsewhere"), "{project_feed:#}");
    // The workspace's has everything, including the operator's work.
    let all = owner
        .call("list_activity", json!({"limit": 200}))
        .await
        .to_string();
    assert!(
        all.contains("renamed") && all.contains("added member alice@example.com"),
        "{all}"
    );

    // Filters: actor (email, id or "me"), action, time.
    let by_alice = owner
        .call("list_activity", json!({"actor": "Alice@Example.com"}))
        .await;
    assert_eq!(
        by_alice["entries"].as_array().map(Vec::len),
        Some(2),
        "{by_alice:#}"
    );
    let mine = alice.call("list_activity", json!({"actor": "me"})).await;
    assert_eq!(mine["entries"], by_alice["entries"]);
    let creates = owner
        .call(
            "list_activity",
            json!({"project_id": web, "action": "create"}),
        )
        .await;
    assert!(
        creates["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .all(|e| e["action"] == "create"),
        "{creates:#}"
    );
    let since = owner
        .call("list_activity", json!({"since": started, "actor": "me"}))
        .await;
    assert_eq!(
        since["entries"].as_array().map(Vec::len),
        Some(2),
        "{since:#}"
    );
    let before = owner
        .call(
            "list_activity",
            json!({"task_id": task, "until": "2000-01-01"}),
        )
        .await;
    assert_eq!(before["entries"], json!([]));

    // Paging: newest first, one at a time, every entry once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut args = json!({"task_id": task, "limit": 1});
        if let Some(c) = &cursor {
            args["cursor"] = json!(c);
        }
        let page = owner.call("list_activity", args).await;
        seen.push(
            page["entries"][0]["line"]
                .as_str()
                .expect("line")
                .to_owned(),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, lines);

    // The resource.
    let resource = alice
        .read(&format!("kanban://tasks/{task}/activity"))
        .await
        .expect("activity resource");
    assert!(
        resource.contains("alice@example.com moved task 'Fix login' to inreview"),
        "{resource}"
    );

    // Bad input.
    let unknown = "0193a000-0000-7000-8000-00000000dead";
    let err = owner
        .call_fails("list_activity", json!({"task_id": unknown}))
        .await;
    assert!(
        err.contains(&format!("task {unknown} not found in workspace")),
        "{err}"
    );
    let err = owner
        .call_invalid("list_activity", json!({"task_id": task, "project_id": web}))
        .await;
    assert!(err.contains("not both"), "{err}");
    let err = owner
        .call_invalid("list_activity", json!({"since": "yesterday"}))
        .await;
    assert!(
        err.contains("`since`") && err.contains("2026-12-01T09:30:00Z"),
        "{err}"
    );
    let comments_cursor = owner
        .call("list_comments", json!({"task_id": task, "limit": 1}))
        .await;
    assert_eq!(comments_cursor["next_cursor"], Value::Null);
    let err = owner
        .call_invalid("list_activity", json!({"cursor": "00"}))
        .await;
    assert!(err.contains("list_activity"), "{err}");
    for server in [owner, alice] {
        server.stop().await;
    }
}

on_both_stores!(comments_by_members_and_admins, the_activity_feed);

/// Over stdio (no X-Request-Id), each call still gets its own request id:
/// the activity feed's entries carry one, a different one per call, and
/// the rows a call writes share its id.
#[tokio::test]
async fn stdio_calls_carry_request_ids_into_the_activity_feed() {
    let data = DataDir::on(Backend::Sqlite);
    let owner = Server::in_process(&data, &[], &[]).await;
    let project = owner.project("Web").await;
    let task = owner.task(&project, "Fix login", json!({})).await;
    owner
        .call(
            "update_task",
            json!({"task_id": task, "status": "inreview"}),
        )
        .await;
    let feed = owner
        .call("list_activity", json!({"project_id": project}))
        .await;
    let ids: Vec<&str> = feed["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            e["request_id"]
                .as_str()
                .unwrap_or_else(|| panic!("an entry without a request id: {e:#}"))
        })
        .collect();
    assert_eq!(ids.len(), 3, "{feed:#}");
    let distinct: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(distinct.len(), 3, "one id per call: {ids:?}");
    assert!(
        ids.iter().all(|id| uuid::Uuid::parse_str(id).is_ok()),
        "{ids:?}"
    );
    assert_eq!(
        data.count("SELECT COUNT(*) FROM audit_logs WHERE request_id IS NULL"),
        0
    );
    owner.stop().await;
}

/// The arguments that make each mutating tool change something, in an
/// order where each finds what it needs. `ids` holds what earlier calls made.
fn step(tool: &str, ids: &std::collections::HashMap<&str, String>) -> Option<Value> {
    let get = |k: &str| ids.get(k).cloned().unwrap_or_default();
    Some(match tool {
        "create_project" => json!({"name": "Audited"}),
        "update_project" => json!({"project_id": get("project"), "description": "changed"}),
        "add_member" => json!({"email": "pat@example.com", "role": "member"}),
        "update_member_role" => json!({"member": "pat@example.com", "role": "viewer"}),
        "remove_member" => json!({"member": "pat@example.com"}),
        "create_task" => json!({"project_id": get("project"), "title": "Audited task"}),
        "update_task" => json!({"task_id": get("task"), "status": "inprogress"}),
        "assign_task" => json!({"task_id": get("task"), "user_id": get("me")}),
        "add_comment" => json!({"task_id": get("task"), "body": "noted"}),
        "update_comment" => json!({"comment_id": get("comment"), "body": "noted twice"}),
        "delete_comment" => json!({"comment_id": get("comment")}),
        "start_session" => json!({"task_id": get("task")}),
        "stop_session" => json!({"session_id": get("session")}),
        "send_follow_up" => json!({"session_id": get("session"), "prompt": "and the tests"}),
        "respond_to_approval" => json!({"approval_id": get("approval"), "decision": "allow"}),
        "archive_session" => json!({"session_id": get("session")}),
        "create_prompt_template" => {
            json!({"name": "audited", "template": "Notes for {{version}}"})
        }
        "update_prompt_template" => json!({"name": "audited", "description": "changed"}),
        "delete_prompt_template" => json!({"name": "audited"}),
        "delete_task" => json!({"task_id": get("task")}),
        "create_api_key" => json!({"name": "audited", "scopes": "read"}),
        "revoke_api_key" => json!({"key": get("key")}),
        _ => return None,
    })
}

/// The order the steps run in: makers before the tools that need them.
const ORDER: &[&str] = &[
    "create_project",
    "update_project",
    "add_member",
    "update_member_role",
    "remove_member",
    "create_task",
    "update_task",
    "assign_task",
    "add_comment",
    "update_comment",
    "delete_comment",
    "start_session",
    "stop_session",
    "send_follow_up",
    // The follow-up queued it again.
    "stop_session",
    "respond_to_approval",
    "archive_session",
    "create_prompt_template",
    "update_prompt_template",
    "delete_prompt_template",
    "create_api_key",
    "revoke_api_key",
    "delete_task",
];

/// Mutating tools that need more than this workspace to run, whose audit
/// rows their own tests check: a real merge (tests/it/session_merge.rs) and
/// GitHub (tests/it/github.rs, github_tools_write_their_audit_rows_by_their_caller).
const DRIVEN_ELSEWHERE: &[&str] = &["merge_session", "create_pull_request", "sync_pull_requests"];

/// Every tool that is not read-only (as the registry marks it) leaves at
/// least one audit row, and every row it leaves names the member who called
/// it (through their own key).
#[tokio::test]
async fn every_mutating_tool_writes_its_audit_row_by_its_caller() {
    let data = DataDir::on(Backend::Sqlite);
    data.add_member("ada@example.com", "admin");
    let ada = as_member(&data, "ada@example.com", &["--no-runner"]).await;
    let me = data.rows("SELECT id FROM users WHERE email = 'ada@example.com'", &[])[0][0]
        .as_str()
        .expect("user id")
        .to_owned();
    let mutating: Vec<String> = ada
        .tools()
        .await
        .iter()
        .filter(|t| t.annotations.as_ref().and_then(|a| a.read_only_hint) != Some(true))
        .map(|t| t.name.to_string())
        .collect();
    let ids_empty = std::collections::HashMap::new();
    let uncovered: Vec<&String> = mutating
        .iter()
        .filter(|t| !DRIVEN_ELSEWHERE.contains(&t.as_str()))
        .filter(|t| step(t, &ids_empty).is_none() || !ORDER.contains(&t.as_str()))
        .collect();
    assert!(
        uncovered.is_empty(),
        "mutating tools this test does not drive (add them to step() and ORDER): {uncovered:?}"
    );
    assert!(mutating.len() >= 20, "{mutating:?}");

    let mut ids = std::collections::HashMap::new();
    ids.insert("me", me.clone());
    for tool in ORDER.iter().filter(|t| mutating.iter().any(|m| m == *t)) {
        if *tool == "respond_to_approval" {
            // An agent's permission request, as the approval server records it.
            data.exec(&format!(
                "INSERT INTO session_approvals (id, session_id, workspace_id, tool_name, input, requested_at, expires_at) \
                 SELECT '0193a000-0000-7000-8000-0000000000a1', id, workspace_id, 'Write', '{{}}', \
                 '2026-01-01T00:00:00.000Z', '2999-01-01T00:00:00.000Z' FROM workspace_sessions WHERE id = '{}'",
                ids["session"]
            ));
            ids.insert(
                "approval",
                "0193a000-0000-7000-8000-0000000000a1".to_owned(),
            );
        }
        let last = data.count("SELECT COALESCE(MAX(rowid), 0) FROM audit_logs");
        let args = step(tool, &ids).expect("a step");
        let out = ada.call(tool, args.clone()).await;
        match *tool {
            "create_project" => ids.insert("project", id(&out)),
            "create_task" => ids.insert("task", id(&out)),
            "add_comment" => ids.insert("comment", id(&out)),
            "start_session" => ids.insert("session", id(&out)),
            "create_api_key" => ids.insert("key", id(&out)),
            _ => None,
        };
        let rows = data.rows(
            "SELECT user_id, request_id, action, entity_type FROM audit_logs WHERE rowid > ? ORDER BY rowid",
            &[json!(last)],
        );
        assert!(!rows.is_empty(), "{tool}({args}) wrote no audit row");
        for row in &rows {
            assert_eq!(
                row[0],
                json!(me),
                "{tool}: audit row {row:?} names another actor"
            );
        }
    }
    ada.stop().await;
}

/// The stand-in agent: saves the MCP configuration it was given and waits
/// until the test lets it finish.
const ASKING_AGENT: &str = r#"
cp "$1" "$OUT/mcp.json"
while [ ! -f "$OUT/done" ]; do sleep 0.05; done
"#;

async fn agent_comment(
    client: &RunningService<RoleClient, ()>,
    body: Value,
) -> rmcp::model::CallToolResult {
    client
        .call_tool(
            CallToolRequestParams::new("add_comment")
                .with_arguments(json!({"body": body}).as_object().expect("object").clone()),
        )
        .await
        .expect("add_comment answers")
}

/// A session's agent comments on its own task through the session's server
/// its runner configured (approvals auto: every turn of a profile with
/// `mcp_args` gets it): in the name of the member who started the session,
/// marked as the agent's, on its own task only, and only while its turn
/// runs with its secret.
#[tokio::test]
async fn an_agent_comments_on_its_own_task() {
    let data = DataDir::on(Backend::Sqlite);
    data.add_member("alice@example.com", "member");
    let out = data.path().join("agent-out");
    std::fs::create_dir_all(&out).expect("out dir");
    let script = data.path().join("asking-agent.sh");
    std::fs::write(&script, ASKING_AGENT).expect("write the agent");
    let extra = format!(
        "[executors.commenter]\ncommand = [\"sh\", \"{}\"]\nmcp_args = [\"{{mcp_config}}\"]\nenv = {{ OUT = \"{}\" }}\n",
        script.display(),
        out.display()
    );
    let config = config(
        &data,
        &format!("agent_mcp_command = [\"{BIN}\", \"agent-mcp\"]\n"),
        &extra,
    );
    let alice = as_member(
        &data,
        "alice@example.com",
        &["--config", config.to_str().expect("utf-8")],
    )
    .await;
    let project = alice.project("Agents").await;
    let task = alice.task(&project, "Write the notes", json!({})).await;
    let other = alice.task(&project, "Another task", json!({})).await;
    let session = alice
        .call(
            "start_session",
            json!({"task_id": task, "executor": "commenter"}),
        )
        .await;
    assert_ne!(session["approvals"], "ask");
    let session_id = id(&session);
    let mcp_json = out.join("mcp.json");
    let started = Instant::now();
    while !mcp_json.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the agent never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let agent = session_server(&mcp_json, None).await;
    let tools = agent.list_all_tools().await.expect("tools");
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(names, ["add_comment"], "approvals auto: nothing to ask");
    let done = agent_comment(&agent, json!("Halfway: the notes have an outline")).await;
    assert_ne!(done.is_error, Some(true), "{}", common::text(&done));
    // Another task's id is refused, with the reason; its own is fine.
    let elsewhere = agent
        .call_tool(
            CallToolRequestParams::new("add_comment").with_arguments(
                json!({"body": "not mine", "task_id": other})
                    .as_object()
                    .expect("object")
                    .clone(),
            ),
        )
        .await
        .expect("add_comment answers");
    assert_eq!(elsewhere.is_error, Some(true));
    assert!(
        common::text(&elsewhere).contains(&format!(
            "task {other} is not the task of session {session_id}"
        )),
        "{}",
        common::text(&elsewhere)
    );
    let named = agent
        .call_tool(
            CallToolRequestParams::new("add_comment").with_arguments(
                json!({"body": "Named my task", "task_id": task})
                    .as_object()
                    .expect("object")
                    .clone(),
            ),
        )
        .await
        .expect("add_comment answers");
    assert_ne!(named.is_error, Some(true), "{}", common::text(&named));
    let too_long = agent
        .call_tool(
            CallToolRequestParams::new("add_comment").with_arguments(
                json!({"body": "z".repeat(20_001)})
                    .as_object()
                    .expect("object")
                    .clone(),
            ),
        )
        .await;
    assert!(too_long.is_err(), "{too_long:?}");
    let wrong = session_server(&mcp_json, Some("not-the-secret")).await;
    let refused = agent_comment(&wrong, json!("sneaky")).await;
    assert_eq!(refused.is_error, Some(true));
    assert!(
        common::text(&refused).contains("not running this turn"),
        "{}",
        common::text(&refused)
    );

    let page = alice.call("list_comments", json!({"task_id": task})).await;
    assert_eq!(page["total"], 2, "{page:#}");
    let comment = &page["comments"][0];
    assert_eq!(comment["body"], "Halfway: the notes have an outline");
    assert_eq!(comment["author"], "alice@example.com");
    assert_eq!(comment["by_agent"], true);
    assert_eq!(comment["session_id"], session_id.as_str());
    let none = alice.call("list_comments", json!({"task_id": other})).await;
    assert_eq!(none["total"], 0, "only its own task");
    let text = common::text(
        &alice
            .try_call("get_task", json!({"task_id": task}))
            .await
            .expect("get_task"),
    );
    assert!(text.contains("by the agent of session"), "{text}");
    let feed = alice.call("list_activity", json!({"task_id": task})).await;
    assert_eq!(
        feed["entries"][1]["line"],
        format!(
            "alice@example.com commented on task 'Write the notes' (through the agent of session {session_id})"
        ),
        "{feed:#}"
    );

    // Once the turn is over, its secret comments no more.
    std::fs::write(out.join("done"), "").expect("finish the agent");
    common::sessions::wait_finished(&alice, &session_id).await;
    let late = agent_comment(&agent, json!("after the end")).await;
    assert_eq!(late.is_error, Some(true), "{}", common::text(&late));
    assert_eq!(data.count("SELECT COUNT(*) FROM task_comments"), 2);
    let _ = agent.cancel().await;
    let _ = wrong.cancel().await;
    alice.stop().await;
}
