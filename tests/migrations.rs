//! Migrations: applied at start and by `migrate`, recorded in `d1_migrations`
//! exactly as wrangler records them; a second run is a no-op; a database with
//! a migration this binary does not know is refused.

mod common;

use common::{Backend, DataDir, Server};

const NAMES: [&str; 8] = [
    "0001_init.sql",
    "0002_task_assignment.sql",
    "0003_audit_logs.sql",
    "0004_prompt_templates.sql",
    "0005_workspace_sessions.sql",
    "0006_github_integration.sql",
    "0007_templates_billing.sql",
    "0008_mcp_api_keys.sql",
];

async fn migrate_applies_everything_once_like_wrangler(backend: Backend) {
    let data = DataDir::empty(backend);
    let first = data.cli_ok(&["migrate"]);
    for name in NAMES {
        assert!(first.contains(&format!("applied {name}")), "{first}");
    }
    let second = data.cli_ok(&["migrate"]);
    assert_eq!(second.trim(), "database is up to date (8 migrations)");

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
        (1..=8).collect::<Vec<_>>()
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
    ] {
        let n = data.rows(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
            &[serde_json::json!(table)],
        )[0][0]
            .as_i64()
            .expect("count");
        assert_eq!(n, 1, "table {table}");
    }
}

async fn a_database_from_a_newer_version_is_refused(backend: Backend) {
    let data = DataDir::empty(backend);
    data.cli_ok(&["migrate"]);
    data.exec("INSERT INTO d1_migrations (name) VALUES ('0009_from_the_future.sql')");
    for args in [&["migrate"][..], &["keys", "list"][..]] {
        let out = data.cli(args);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("0009_from_the_future.sql") && err.contains("newer"),
            "{err}"
        );
    }
}

async fn the_server_migrates_at_start_and_keeps_data_across_restarts(backend: Backend) {
    let data = DataDir::on(backend);
    let server = Server::start(&data, &[], &[]).await;
    let project_id = server.project("Durable").await;
    server.stop().await;
    assert_eq!(data.count("SELECT COUNT(*) FROM d1_migrations"), 8);
    let again = Server::start(&data, &[], &[]).await;
    let project = again
        .call("get_project", serde_json::json!({"project_id": project_id}))
        .await;
    assert_eq!(project["name"], "Durable");
    again.stop().await;
    assert_eq!(data.count("SELECT COUNT(*) FROM d1_migrations"), 8);
    assert_eq!(
        data.count("SELECT COUNT(*) FROM workspace_teams"),
        1,
        "the default workspace is made once"
    );
}

on_both_stores!(
    migrate_applies_everything_once_like_wrangler,
    a_database_from_a_newer_version_is_refused,
    the_server_migrates_at_start_and_keeps_data_across_restarts,
);
