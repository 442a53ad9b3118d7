//! Schema migrations, embedded in the binary and tracked in `d1_migrations`
//! exactly as `wrangler d1 migrations apply` tracks them (same table, same
//! columns, the file name as `name`), so either tool sees what the other did.

use super::{
    StoreError,
    exec::{Batch, Executor, Mode, Results, Stmt},
};

/// A migration file: its name (as recorded) and its SQL.
pub struct Migration {
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration this binary knows, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "0001_init.sql",
        sql: include_str!("../../migrations/0001_init.sql"),
    },
    Migration {
        name: "0002_task_assignment.sql",
        sql: include_str!("../../migrations/0002_task_assignment.sql"),
    },
    Migration {
        name: "0003_audit_logs.sql",
        sql: include_str!("../../migrations/0003_audit_logs.sql"),
    },
    Migration {
        name: "0004_prompt_templates.sql",
        sql: include_str!("../../migrations/0004_prompt_templates.sql"),
    },
    Migration {
        name: "0005_workspace_sessions.sql",
        sql: include_str!("../../migrations/0005_workspace_sessions.sql"),
    },
    Migration {
        name: "0006_github_integration.sql",
        sql: include_str!("../../migrations/0006_github_integration.sql"),
    },
    Migration {
        name: "0007_templates_billing.sql",
        sql: include_str!("../../migrations/0007_templates_billing.sql"),
    },
    Migration {
        name: "0008_mcp_api_keys.sql",
        sql: include_str!("../../migrations/0008_mcp_api_keys.sql"),
    },
    Migration {
        name: "0009_prompt_cache_workspace.sql",
        sql: include_str!("../../migrations/0009_prompt_cache_workspace.sql"),
    },
    Migration {
        name: "0010_session_runtime.sql",
        sql: include_str!("../../migrations/0010_session_runtime.sql"),
    },
    Migration {
        name: "0011_session_turns.sql",
        sql: include_str!("../../migrations/0011_session_turns.sql"),
    },
    Migration {
        name: "0012_session_cleanup.sql",
        sql: include_str!("../../migrations/0012_session_cleanup.sql"),
    },
    Migration {
        name: "0013_approvals.sql",
        sql: include_str!("../../migrations/0013_approvals.sql"),
    },
    Migration {
        name: "0014_members.sql",
        sql: include_str!("../../migrations/0014_members.sql"),
    },
    Migration {
        name: "0015_session_merge.sql",
        sql: include_str!("../../migrations/0015_session_merge.sql"),
    },
    Migration {
        name: "0016_github.sql",
        sql: include_str!("../../migrations/0016_github.sql"),
    },
    Migration {
        name: "0017_comments.sql",
        sql: include_str!("../../migrations/0017_comments.sql"),
    },
    Migration {
        name: "0018_audit_feed_index_only.sql",
        sql: include_str!("../../migrations/0018_audit_feed_index_only.sql"),
    },
];

/// The tracking table, byte for byte as wrangler creates it (its
/// `getCreateMigrationsTableQuery`), so the schema text SQLite keeps for it is
/// the same whichever tool made it.
const CREATE_TRACKING_TABLE: &str = "CREATE TABLE IF NOT EXISTS \"d1_migrations\"(
\t\tid         INTEGER PRIMARY KEY AUTOINCREMENT,
\t\tname       TEXT UNIQUE,
\t\tapplied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL
);";

/// Applies every migration not yet recorded, each in its own transaction with
/// its bookkeeping row. Returns the names it applied (empty on a second run).
/// A database that records a migration this binary does not know was written
/// by a newer version: it is refused rather than half-understood.
pub async fn apply(exec: &dyn Executor) -> Result<Vec<&'static str>, StoreError> {
    let mut batch = Batch::new();
    batch.push(Stmt::new(CREATE_TRACKING_TABLE));
    let names = batch.push(Stmt::new("SELECT name FROM d1_migrations ORDER BY id"));
    let results = Results::new(exec.batch(Mode::Write, batch.into_stmts()).await?);
    let applied: Vec<String> = results
        .rows(names)
        .iter()
        .filter_map(|row| row.get("name").and_then(|v| v.as_str()).map(str::to_owned))
        .collect();

    let unknown: Vec<&str> = applied
        .iter()
        .map(String::as_str)
        .filter(|name| !MIGRATIONS.iter().any(|m| m.name == *name))
        .collect();
    if !unknown.is_empty() {
        return Err(StoreError::Migration(format!(
            "the database has migration(s) {} that this binary does not know; it was written by a newer \
             vibe-kanban-mcp. Upgrade the binary, or point it at another database.",
            unknown.join(", ")
        )));
    }

    let mut newly = Vec::new();
    for migration in MIGRATIONS {
        if applied.iter().any(|name| name == migration.name) {
            continue;
        }
        let record = Stmt::new("INSERT INTO d1_migrations (name) VALUES (?)").bind(migration.name);
        if let Err(err) = exec.script(migration.sql.to_owned(), vec![record]).await {
            // Another process starting on the same new database may have
            // applied it first; that is success, not failure.
            if recorded(exec, migration.name).await? {
                continue;
            }
            return Err(StoreError::Migration(format!(
                "migration {} failed: {}",
                migration.name,
                err.full_message()
            )));
        }
        tracing::info!(migration = migration.name, "applied migration");
        newly.push(migration.name);
    }
    Ok(newly)
}

async fn recorded(exec: &dyn Executor, name: &str) -> Result<bool, StoreError> {
    let results = exec
        .batch(
            Mode::Read,
            vec![Stmt::new("SELECT COUNT(*) AS n FROM d1_migrations WHERE name = ?").bind(name)],
        )
        .await?;
    Ok(results.first().is_some_and(|r| r.int("n") > 0))
}
