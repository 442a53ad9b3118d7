//! `vibe-kanban-mcp migrate --store d1` and `wrangler d1 migrations apply`
//! keep the same books: a local D1 migrated by wrangler is up to date for
//! us, and one migrated by us has nothing left to apply for wrangler. Both
//! run on the same local D1 files (wrangler's `--persist-to` layout), with
//! the wrangler that tests/d1/package-lock.json pins.

use crate::common;

use std::{path::Path, process::Output};

use common::{BIN, LocalD1};
use serde_json::Value;

const MIGRATION_COUNT: usize = 14;

/// Runs wrangler against the local D1 persisted in `dir`.
fn wrangler(dir: &Path, database_id: &str, args: &[&str]) -> Output {
    let migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    std::fs::write(
        dir.join("wrangler.toml"),
        format!(
            "name = \"kanban-compat\"\ncompatibility_date = \"2025-01-01\"\n\n[[d1_databases]]\n\
             binding = \"DB\"\ndatabase_name = \"kanban\"\ndatabase_id = \"{database_id}\"\n\
             migrations_dir = \"{}\"\n",
            migrations.display()
        ),
    )
    .expect("write wrangler.toml");
    let cli = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/d1/node_modules/wrangler/bin/wrangler.js");
    let out = std::process::Command::new(common::node())
        .arg(cli)
        .args(args)
        .args(["--local", "--persist-to"])
        .arg(dir)
        .current_dir(dir)
        .env("CI", "true")
        .env("WRANGLER_SEND_METRICS", "false")
        .env("XDG_CONFIG_HOME", dir.join("wrangler-config"))
        .env("WRANGLER_LOG_PATH", dir.join("wrangler-logs"))
        .output()
        .expect("run wrangler");
    assert!(
        out.status.success(),
        "wrangler {} failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn ours(d1: &LocalD1, args: &[&str]) -> String {
    let out = std::process::Command::new(BIN)
        .args(args)
        .env_remove("VK_API_KEY")
        .envs(d1.env())
        .output()
        .expect("run vibe-kanban-mcp");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The `d1_migrations` rows (id, name, applied_at) and the table's DDL as
/// SQLite keeps it.
fn books(d1: &LocalD1) -> (Vec<Vec<Value>>, String) {
    let rows = d1.query(
        "SELECT id, name, applied_at FROM d1_migrations ORDER BY id",
        &[],
    );
    let ddl = d1.query(
        "SELECT sql FROM sqlite_master WHERE name = 'd1_migrations'",
        &[],
    )[0][0]
        .as_str()
        .expect("ddl")
        .to_owned();
    (rows, ddl)
}

fn assert_wrangler_format(rows: &[Vec<Value>], ddl: &str) {
    assert_eq!(rows.len(), MIGRATION_COUNT);
    for (index, row) in rows.iter().enumerate() {
        assert_eq!(row[0].as_i64(), Some(index as i64 + 1), "{row:?}");
        assert!(
            row[1].as_str().is_some_and(|n| n.ends_with(".sql")),
            "{row:?}"
        );
        // CURRENT_TIMESTAMP: "YYYY-MM-DD HH:MM:SS".
        assert_eq!(row[2].as_str().map(str::len), Some(19), "{row:?}");
    }
    let words = ddl.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        words.starts_with("CREATE TABLE \"d1_migrations\"(")
            && words.contains("id INTEGER PRIMARY KEY AUTOINCREMENT")
            && words.contains("name TEXT UNIQUE")
            && words.contains("applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL"),
        "{ddl}"
    );
}

#[test]
fn migrations_agree_with_wrangler_both_ways() {
    // wrangler first: we find nothing to do, and the store works.
    let by_wrangler = tempfile::tempdir().expect("temp dir");
    wrangler(
        by_wrangler.path(),
        common::HARNESS_DATABASE_ID,
        &["d1", "migrations", "apply", "kanban"],
    );
    let d1 = LocalD1::start(Some(by_wrangler.path()));
    assert_eq!(d1.database_id, common::HARNESS_DATABASE_ID);
    assert_eq!(
        ours(&d1, &["migrate"]).trim(),
        format!("database is up to date ({MIGRATION_COUNT} migrations)")
    );
    let workspace = ours(
        &d1,
        &[
            "workspaces",
            "create",
            "--name",
            "Team",
            "--slug",
            "team",
            "--owner-email",
            "lead@example.com",
        ],
    );
    assert!(!workspace.trim().is_empty());
    let (wrangler_rows, wrangler_ddl) = books(&d1);
    drop(d1);

    // Us first: wrangler finds nothing to apply.
    let by_us = tempfile::tempdir().expect("temp dir");
    let d1 = LocalD1::start(Some(by_us.path()));
    let applied = ours(&d1, &["migrate"]);
    assert_eq!(applied.lines().count(), MIGRATION_COUNT, "{applied}");
    let (our_rows, our_ddl) = books(&d1);
    drop(d1);
    let listed = wrangler(
        by_us.path(),
        common::HARNESS_DATABASE_ID,
        &["d1", "migrations", "list", "kanban"],
    );
    let stdout = String::from_utf8_lossy(&listed.stdout);
    assert!(stdout.contains("No migrations to apply"), "{stdout}");

    // The books have the same shape and the same names, in the same order.
    assert_wrangler_format(&wrangler_rows, &wrangler_ddl);
    assert_wrangler_format(&our_rows, &our_ddl);
    assert_eq!(our_ddl, wrangler_ddl, "the same table text, byte for byte");
    let names = |rows: &[Vec<Value>]| -> Vec<String> {
        rows.iter()
            .map(|r| r[1].as_str().expect("name").to_owned())
            .collect()
    };
    assert_eq!(names(&our_rows), names(&wrangler_rows));
}
