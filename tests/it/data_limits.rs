//! Limits the data keeps whatever callers do: task positions stay inside the
//! documented ±(2^53 − 1), and the SQLite data files are private to the OS
//! user that runs the server (directory 0700, database and its -wal/-shm 0600).

use crate::common;

use std::{
    os::unix::fs::PermissionsExt,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::{BIN, Backend, DataDir, Server, id};
use serde_json::json;

/// The largest position every store returns exactly (2^53 − 1).
const MAX_POSITION: i64 = 9_007_199_254_740_991;

on_both_stores!(new_tasks_never_leave_the_position_range);

async fn new_tasks_never_leave_the_position_range(backend: Backend) {
    let data = DataDir::on(backend);
    let server = Server::in_process(&data, &[], &[]).await;
    let project_id = server.project("Edge").await;
    let first = server.task(&project_id, "first", json!({})).await;
    server
        .call(
            "update_task",
            json!({"task_id": first, "position": MAX_POSITION}),
        )
        .await;
    let second = server
        .call(
            "create_task",
            json!({"project_id": project_id, "title": "second"}),
        )
        .await;
    assert_eq!(second["position"], MAX_POSITION, "{second}");
    let third = server
        .call(
            "create_task",
            json!({"project_id": project_id, "title": "third"}),
        )
        .await;
    assert_eq!(third["position"], MAX_POSITION, "{third}");
    // Sharing the last place, they keep the order they were made in.
    let page = server
        .call("list_tasks", json!({"project_id": project_id}))
        .await;
    assert_eq!(common::titles(&page), ["first", "second", "third"]);
    let stored = data.rows(
        "SELECT MAX(position) FROM tasks WHERE project_id = ?",
        &[json!(project_id)],
    );
    assert_eq!(stored[0][0], json!(MAX_POSITION));
    assert_eq!(id(&third).len(), 36);
    server.stop().await;
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn a_new_data_directory_and_its_database_are_private() {
    let temp = tempfile::tempdir().expect("temp dir");
    // Open to others, as a home directory often is.
    std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let data_dir = temp.path().join("fresh").join("data");
    // A stdio server that stays up while its files are looked at.
    let mut child = Command::new(BIN)
        .arg("serve")
        .arg("--no-runner")
        .arg("--data-dir")
        .arg(&data_dir)
        .env_remove("VK_API_KEY")
        .env_remove("VK_STORE")
        .env("VK_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start serve");
    let db = data_dir.join("kanban.db");
    let wal = data_dir.join("kanban.db-wal");
    let shm = data_dir.join("kanban.db-shm");
    // The migrations at start open a WAL transaction: both companions appear.
    let started = Instant::now();
    while !(wal.exists() && shm.exists()) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the server never opened its database in {}",
            data_dir.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(mode(&data_dir), 0o700, "the data directory");
    assert_eq!(
        mode(data_dir.parent().expect("parent")),
        0o700,
        "a parent it made"
    );
    for file in [&db, &wal, &shm] {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
    drop(child.stdin.take());
    child.wait().expect("serve exits when stdin closes");
}

#[test]
fn an_existing_directory_keeps_its_mode_but_the_database_is_made_private() {
    let temp = tempfile::tempdir().expect("temp dir");
    let data_dir = temp.path().join("shared");
    std::fs::create_dir(&data_dir).expect("dir");
    std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o750)).expect("chmod");
    let db = data_dir.join("kanban.db");
    // A database an older version left readable by everyone.
    std::fs::write(&db, b"").expect("empty database file");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = Command::new(BIN)
        .arg("migrate")
        .arg("--data-dir")
        .arg(&data_dir)
        .env_remove("VK_API_KEY")
        .env_remove("VK_STORE")
        .output()
        .expect("run migrate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        mode(&data_dir),
        0o750,
        "a directory the user made is left as it is"
    );
    assert_eq!(mode(&db), 0o600);
}

#[test]
fn the_default_data_directory_is_ours_and_is_made_private() {
    let temp = tempfile::tempdir().expect("temp dir");
    // The platform default on Linux: $XDG_DATA_HOME/vibe-kanban-mcp, here
    // as an older version left it, open to everyone.
    let data_dir = temp.path().join("vibe-kanban-mcp");
    std::fs::create_dir(&data_dir).expect("dir");
    std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = Command::new(BIN)
        .arg("migrate")
        .env("XDG_DATA_HOME", temp.path())
        .env_remove("VK_DATA_DIR")
        .env_remove("VK_API_KEY")
        .env_remove("VK_STORE")
        .output()
        .expect("run migrate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode(&data_dir), 0o700);
    assert_eq!(mode(&data_dir.join("kanban.db")), 0o600);
}
