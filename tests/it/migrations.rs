//! Migrations: applied at start and by `migrate`, recorded in `d1_migrations`
//! exactly as wrangler records them; a second run is a no-op; a database with
//! a migration this binary does not know is refused.

use crate::common;

use common::{Backend, DataDir, Server};

const NAMES: &[&str] = &[
    "0001_init.sql",
    "0002_task_assignment.sql",
    "0003_audit_logs.sql",
    "0004_prompt_templates.sql",
    "0005_workspace_sessions.sql",
    "0006_github_integration.sql",
    "0007_templates_billing.sql",
    "0008_mcp_api_keys.sql",
    "0009_prompt_cache_workspace.sql",
    "0010_session_runtime.sql",
    "0011_session_turns.sql",
    "0012_session_cleanup.sql",
    "0013_approvals.sql",
    "0014_members.sql",
    "0015_session_merge.sql",
    "0016_github.sql",
    "0017_comments.sql",
    "0018_audit_feed_index_only.sql",
];

async fn migrate_applies_everything_once_like_wrangler(backend: Backend) {
    let data = DataDir::empty(backend);
    let first = data.cli_ok(&["migrate"]);
    for name in NAMES {
        assert!(first.contains(&format!("applied {name}")), "{first}");
    }
    let second = data.cli_ok(&["migrate"]);
    assert_eq!(
        second.trim(),
        format!("database is up to date ({} migrations)", NAMES.len())
    );

    let rows: Vec<(i64, String, String)> = data
        .rows(
            "SELECT id, name, applied_at FROM d1_migrations ORDER BY id",
            &[],
        )
        .into_iter()
        .map(|r| {
            (
                r[0].as_i64().expect("id"),
                r[1].as_str().expect("name").to_owned(),
                r[2].as_str().expect("applied_at").to_owned(),
            )
        })
        .collect();
    let names: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(names, NAMES);
    assert_eq!(
        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        (1..=NAMES.len() as i64).collect::<Vec<_>>()
    );
    // wrangler's column: CURRENT_TIMESTAMP, "YYYY-MM-DD HH:MM:SS".
    assert_eq!(rows[0].2.len(), 19, "{}", rows[0].2);
    // The tracking table has wrangler's exact shape.
    let ddl = data.rows(
        "SELECT sql FROM sqlite_master WHERE name = 'd1_migrations'",
        &[],
    )[0][0]
        .as_str()
        .expect("ddl")
        .to_owned();
    for part in [
        "id         INTEGER PRIMARY KEY AUTOINCREMENT",
        "name       TEXT UNIQUE",
        "applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL",
    ] {
        assert!(ddl.contains(part), "{ddl}");
    }
    // Every table the design names exists.
    for table in [
        "users",
        "workspace_teams",
        "workspace_members",
        "projects",
        "tasks",
        "audit_logs",
        "prompt_templates",
        "prompt_cache",
        "workspace_sessions",
        "execution_processes",
        "github_connections",
        "connected_repositories",
        "workspace_templates",
        "subscriptions",
        "usage_records",
        "mcp_api_keys",
        "session_turns",
        "task_comments",
    ] {
        let n = data.rows(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
            &[serde_json::json!(table)],
        )[0][0]
            .as_i64()
            .expect("count");
        assert_eq!(n, 1, "table {table}");
    }
    // audit_logs keeps the indexes its reads use and no more: each one is
    // written on every mutation (0018 dropped the one the feed's made redundant).
    let indexes: Vec<String> = data
        .rows(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_logs' \
             AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name",
            &[],
        )
        .into_iter()
        .map(|r| r[0].as_str().expect("name").to_owned())
        .collect();
    assert_eq!(
        indexes,
        ["idx_audit_logs_entity", "idx_audit_logs_workspace_feed"]
    );
}

async fn a_database_from_a_newer_version_is_refused(backend: Backend) {
    let data = DataDir::empty(backend);
    data.cli_ok(&["migrate"]);
    data.exec("INSERT INTO d1_migrations (name) VALUES ('0099_from_the_future.sql')");
    for args in [&["migrate"][..], &["keys", "list"][..]] {
        let out = data.cli(args);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("0099_from_the_future.sql") && err.contains("newer"),
            "{err}"
        );
    }
}

async fn the_server_migrates_at_start_and_keeps_data_across_restarts(backend: Backend) {
    let data = DataDir::on(backend);
    let server = Server::start(&data, &[], &[]).await;
    let project_id = server.project("Durable").await;
    server.stop().await;
    assert_eq!(
        data.count("SELECT COUNT(*) FROM d1_migrations"),
        NAMES.len() as i64
    );
    let again = Server::start(&data, &[], &[]).await;
    let project = again
        .call("get_project", serde_json::json!({"project_id": project_id}))
        .await;
    assert_eq!(project["name"], "Durable");
    again.stop().await;
    assert_eq!(
        data.count("SELECT COUNT(*) FROM d1_migrations"),
        NAMES.len() as i64
    );
    assert_eq!(
        data.count("SELECT COUNT(*) FROM workspace_teams"),
        1,
        "the default workspace is made once"
    );
}

/// A database made by an earlier version (migrations 0001–0008, with a
/// finished session and a cached enhancement in their old shapes) upgrades in
/// place: its board and sessions stay, the cache starts empty, and sessions
/// run on it.
#[tokio::test]
async fn a_database_of_an_earlier_version_upgrades_in_place() {
    const TASK: &str = "0190f5d2-0000-7000-8000-000000000004";
    const SESSION: &str = "0190f5d2-0000-7000-8000-000000000005";
    let data = DataDir::empty(Backend::Sqlite);
    std::fs::create_dir_all(data.path()).expect("data dir");
    let db = rusqlite::Connection::open(data.path().join("kanban.db")).expect("open");
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS d1_migrations(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, \
         applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL);",
    )
    .expect("tracking table");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    for name in &NAMES[..8] {
        let sql = std::fs::read_to_string(dir.join(name)).expect("migration file");
        db.execute_batch(&sql).expect(name);
        db.execute("INSERT INTO d1_migrations (name) VALUES (?)", [name])
            .expect("record");
    }
    db.execute_batch(
        "INSERT INTO users (id, email, name) VALUES ('0190f5d2-0000-7000-8000-000000000001', 'owner@localhost', 'Local owner');
         INSERT INTO workspace_teams (id, name, slug, created_by) VALUES ('0190f5d2-0000-7000-8000-000000000002', 'Default', 'default', '0190f5d2-0000-7000-8000-000000000001');
         INSERT INTO workspace_members (workspace_id, user_id, role) VALUES ('0190f5d2-0000-7000-8000-000000000002', '0190f5d2-0000-7000-8000-000000000001', 'owner');
         INSERT INTO projects (id, workspace_id, name) VALUES ('0190f5d2-0000-7000-8000-000000000003', '0190f5d2-0000-7000-8000-000000000002', 'Legacy');
         INSERT INTO tasks (id, workspace_id, project_id, title, status) VALUES ('0190f5d2-0000-7000-8000-000000000004', '0190f5d2-0000-7000-8000-000000000002', '0190f5d2-0000-7000-8000-000000000003', 'Old task', 'inreview');
         INSERT INTO workspace_sessions (id, workspace_id, task_id, executor, prompt, status, created_by)
             VALUES ('0190f5d2-0000-7000-8000-000000000005', '0190f5d2-0000-7000-8000-000000000002', '0190f5d2-0000-7000-8000-000000000004', 'claude-code', 'Old task', 'completed', '0190f5d2-0000-7000-8000-000000000001');
         INSERT INTO execution_processes (id, session_id, kind, status, command, exit_code)
             VALUES ('0190f5d2-0000-7000-8000-000000000006', '0190f5d2-0000-7000-8000-000000000005', 'coding_agent', 'completed', 'claude -p', 0);
         INSERT INTO prompt_cache (key, value, expires_at) VALUES ('k1', 'old', '2999-01-01T00:00:00Z');",
    )
    .expect("rows of the earlier version");
    drop(db);

    let out = data.cli_ok(&["migrate"]);
    assert!(
        out.contains("applied 0009_prompt_cache_workspace.sql"),
        "{out}"
    );
    assert!(out.contains("applied 0010_session_runtime.sql"), "{out}");
    assert!(out.contains("applied 0011_session_turns.sql"), "{out}");
    assert!(out.contains("applied 0017_comments.sql"), "{out}");
    assert!(
        out.contains("applied 0018_audit_feed_index_only.sql"),
        "{out}"
    );
    // The index 0018 dropped existed in this schema; the feed's reads, in
    // either time order, still go through an index and need no sort.
    for order in ["DESC", "ASC"] {
        let plan: Vec<String> = data
            .rows(
                &format!(
                    "EXPLAIN QUERY PLAN SELECT id FROM audit_logs WHERE workspace_id = 'w' \
                     AND created_at >= '2026' ORDER BY created_at {order}, id {order} LIMIT 50"
                ),
                &[],
            )
            .into_iter()
            .map(|r| r[3].as_str().expect("detail").to_owned())
            .collect();
        assert!(
            plan.iter()
                .any(|step| step.contains("idx_audit_logs_workspace_feed"))
                && !plan.iter().any(|step| step.contains("TEMP B-TREE")),
            "{order}: {plan:?}"
        );
    }
    assert_eq!(data.count("SELECT COUNT(*) FROM prompt_cache"), 0);
    let config = common::sessions::config(&data, "", "");
    let server = Server::start(&data, &["--config", config.to_str().expect("utf-8")], &[]).await;
    let old = server
        .call("get_session", serde_json::json!({"session_id": SESSION}))
        .await;
    assert_eq!(old["status"], "completed", "{old:#}");
    assert_eq!(old["turns"], 0);
    assert_eq!(old["processes"][0]["exit_code"], 0, "{old:#}");
    assert_eq!(old["processes"][0]["turn"], 1, "{old:#}");
    // A session of before 0011 has no turn rows: no final message, no commits.
    assert_eq!(old["past_turns"], serde_json::json!([]), "{old:#}");
    assert_eq!(old["final_message"], serde_json::Value::Null, "{old:#}");
    let task = server
        .call("get_task", serde_json::json!({"task_id": TASK}))
        .await;
    assert_eq!(task["title"], "Old task");
    assert_eq!(task["comment_count"], 0, "{task:#}");
    // The old task takes comments, and its history reads as a feed.
    server
        .call(
            "add_comment",
            serde_json::json!({"task_id": TASK, "body": "Still here after the upgrade"}),
        )
        .await;
    let task = server
        .call("get_task", serde_json::json!({"task_id": TASK}))
        .await;
    assert_eq!(task["comment_count"], 1, "{task:#}");
    assert_eq!(
        task["latest_comments"][0]["body"], "Still here after the upgrade",
        "{task:#}"
    );
    let feed = server
        .call("list_activity", serde_json::json!({"task_id": TASK}))
        .await;
    assert_eq!(
        feed["entries"][0]["line"], "owner@localhost commented on task 'Old task'",
        "{feed:#}"
    );
    // New sessions run on the upgraded schema.
    let started = server
        .call("start_session", serde_json::json!({"task_id": TASK}))
        .await;
    let session = common::sessions::wait_finished(&server, &common::id(&started)).await;
    assert_eq!(session["status"], "completed", "{session:#}");
    assert_eq!(session["past_turns"][0]["turn"], 1, "{session:#}");
    assert_eq!(session["final_message_source"], "last_lines", "{session:#}");
    server.stop().await;
}

on_both_stores!(
    migrate_applies_everything_once_like_wrangler,
    a_database_from_a_newer_version_is_refused,
    the_server_migrates_at_start_and_keeps_data_across_restarts,
);
