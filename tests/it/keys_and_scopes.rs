//! API keys (migration 0008) end to end: create, list, use, revoke; only a
//! hash is stored; scopes, toolsets and read-only mode decide what is offered.

use crate::common;

use common::{Backend, DataDir, Server};
use serde_json::json;

fn tool_names(tools: &[rmcp::model::Tool]) -> Vec<String> {
    tools.iter().map(|t| t.name.to_string()).collect()
}

async fn key_lifecycle_and_only_a_hash_is_stored(backend: Backend) {
    let data = DataDir::on(backend);
    let created = data.cli(&[
        "keys",
        "create",
        "--workspace",
        "default",
        "--name",
        "ci",
        "--scopes",
        "read,write",
    ]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let key = String::from_utf8(created.stdout)
        .expect("utf-8")
        .trim()
        .to_owned();
    assert!(
        key.starts_with("vk_") && key.len() == 67,
        "stdout is the key alone: {key}"
    );
    let note = String::from_utf8_lossy(&created.stderr);
    assert!(
        note.contains("only time") && note.contains("read,write"),
        "{note}"
    );

    // The key works: the server acts in the key's workspace.
    let server = Server::in_process(&data, &[], &[("VK_API_KEY", &key)]).await;
    let project = server
        .call("create_project", json!({"name": "Via key"}))
        .await;
    server.stop().await;
    let api_key_id = data.rows(
        "SELECT api_key_id FROM audit_logs WHERE entity_id = ?",
        &[project["id"].clone()],
    )[0][0]
        .as_str()
        .expect("audit row names the key")
        .to_owned();

    // `keys list` shows the key's facts, never the key.
    let list = data.cli_ok(&["keys", "list"]);
    let prefix = &key[..11];
    assert!(
        list.contains("ci")
            && list.contains(prefix)
            && list.contains("read,write")
            && list.contains("active"),
        "{list}"
    );
    assert!(!list.contains(&key));
    let json_list: serde_json::Value =
        serde_json::from_str(&data.cli_ok(&["keys", "list", "--json"])).expect("json");
    // (On D1 the harness's owner key is listed too.)
    let ci = json_list
        .as_array()
        .expect("array")
        .iter()
        .find(|k| k["name"] == "ci")
        .expect("the ci key is listed");
    assert_eq!(ci["id"], api_key_id.as_str());
    assert!(ci["last_used_at"].is_string(), "use is recorded");

    // The raw key is nowhere in the database files (main file, WAL, shm; on
    // D1, the local D1's files, which live in the data directory).
    let secret = &key[11..];
    let mut files = Vec::new();
    let mut dirs = vec![data.path().to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).expect("data dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    assert!(!files.is_empty(), "the database has files to check");
    for path in files {
        let bytes = std::fs::read(&path).expect("read file");
        let haystack = String::from_utf8_lossy(&bytes);
        assert!(
            !haystack.contains(secret),
            "{} contains the raw key",
            path.display()
        );
    }

    // A second live key with the same name is refused.
    let dup = data.cli(&["keys", "create", "--workspace", "default", "--name", "ci"]);
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));

    // Revocation takes effect at once.
    let revoked = data.cli_ok(&["keys", "revoke", prefix]);
    assert!(
        revoked.contains("revoked") && revoked.contains("ci"),
        "{revoked}"
    );
    assert!(data.cli_ok(&["keys", "list"]).contains("revoked"));
    let refused = Server::try_in_process(&data, &[], &[("VK_API_KEY", &key)]).await;
    assert!(refused.is_err(), "a revoked key must not start a session");
    let board = data.cli(&["board", "Via key", "--api-key", &key]);
    assert!(!board.status.success());
    assert!(String::from_utf8_lossy(&board.stderr).contains("revoked"));

    // Wrong keys and unknown workspaces are clear errors.
    let bogus = Server::try_in_process(&data, &[], &[("VK_API_KEY", "vk_0000")]).await;
    assert!(bogus.is_err());
    let no_ws = data.cli(&["keys", "create", "--workspace", "nope", "--name", "x"]);
    assert!(String::from_utf8_lossy(&no_ws.stderr).contains("no workspace with id or slug 'nope'"));
    let bad_scope = data.cli(&[
        "keys",
        "create",
        "--workspace",
        "default",
        "--name",
        "x",
        "--scopes",
        "root",
    ]);
    assert!(String::from_utf8_lossy(&bad_scope.stderr).contains("unknown scope 'root'"));
    let not_a_key = data.cli(&["keys", "revoke", "vk_nothing"]);
    assert!(String::from_utf8_lossy(&not_a_key.stderr).contains("not found"));
}

async fn expired_keys_are_refused(backend: Backend) {
    let data = DataDir::on(backend);
    let key = data.create_key("default", "short-lived", "read");
    data.exec(
        "UPDATE mcp_api_keys SET expires_at = '2000-01-01T00:00:00.000Z' WHERE name = 'short-lived'",
    );
    assert!(
        Server::try_in_process(&data, &[], &[("VK_API_KEY", &key)])
            .await
            .is_err()
    );
    assert!(data.cli_ok(&["keys", "list"]).contains("expired"));
}

/// Calls `create_project` until the server refuses (bounded: 100 tries, 0.1 s
/// apart); returns the refusal. A server that keeps acting as the key fails.
async fn refused_soon(server: &Server) -> rmcp::model::ErrorData {
    for i in 0..100 {
        match server
            .try_call("create_project", json!({"name": format!("After {i}")}))
            .await
        {
            Err(error) => return error,
            Ok(result) => assert_ne!(result.is_error, Some(true), "{result:?}"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the running server still acts as the key after 100 calls over 10 s");
}

/// `VK_API_KEY=$K serve`, then `keys revoke`: the running server stops
/// acting as the key (it looks at the key again at most every 0.5 s), for
/// every request, with a message that says what to do.
async fn a_running_stdio_server_stops_acting_as_a_revoked_key(backend: Backend) {
    let data = DataDir::on(backend);
    let key = data.create_key("default", "running", "read,write");
    let server = Server::in_process(&data, &["--no-runner"], &[("VK_API_KEY", &key)]).await;
    server
        .call("create_project", json!({"name": "Before"}))
        .await;
    data.cli_ok(&["keys", "revoke", &key[..11]]);
    let refused = refused_soon(&server).await;
    assert!(
        refused.message.contains("revoked or has expired")
            && refused.message.contains("keys create"),
        "{refused:?}"
    );
    // Once refused, always refused, reads too.
    for tool in ["create_project", "list_projects"] {
        let again = server
            .try_call(tool, json!({"name": "Later"}))
            .await
            .expect_err("a revoked key stays refused");
        assert_eq!(again.code, refused.code);
    }
    assert!(server.client.list_all_tools().await.is_err());
    server.stop().await;
    assert_eq!(
        data.count("SELECT COUNT(*) FROM projects WHERE name = 'Later'"),
        0,
        "nothing is done as a revoked key"
    );
}

/// A key that expires while a stdio server acts as it stops working there.
async fn a_running_stdio_server_stops_acting_as_an_expired_key(backend: Backend) {
    let data = DataDir::on(backend);
    let key = data.create_key("default", "expiring", "read,write");
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(4))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    data.exec(&format!(
        "UPDATE mcp_api_keys SET expires_at = '{soon}' WHERE name = 'expiring'"
    ));
    let server = Server::in_process(&data, &["--no-runner"], &[("VK_API_KEY", &key)]).await;
    let refused = refused_soon(&server).await;
    assert!(
        refused.message.contains("revoked or has expired"),
        "{refused:?}"
    );
    let again = server
        .try_call("create_project", json!({"name": "Later"}))
        .await;
    assert!(again.is_err(), "an expired key stays refused: {again:?}");
    server.stop().await;
    assert_eq!(
        data.count("SELECT COUNT(*) FROM projects WHERE name = 'Later'"),
        0,
        "nothing is done as an expired key"
    );
}

async fn scopes_decide_which_tools_are_listed_and_callable(backend: Backend) {
    let data = DataDir::on(backend);
    let owner = Server::in_process(&data, &[], &[]).await;
    let project_id = owner.project("Scoped").await;
    owner.stop().await;

    let read_key = data.create_key("default", "reader", "read");
    let reader = Server::in_process(&data, &[], &[("VK_API_KEY", &read_key)]).await;
    let names = tool_names(&reader.tools().await);
    assert_eq!(
        names,
        [
            "list_workspaces",
            "list_projects",
            "get_project",
            "list_members",
            "list_tasks",
            "get_task",
            "show_board",
            "list_comments",
            "list_activity",
            "get_session",
            "list_sessions",
            "read_execution_log",
            "wait_for_session",
            "list_approvals",
            "get_session_diff",
            "enhance_prompt",
            "list_prompt_templates"
        ]
    );
    let listed = reader
        .call("list_tasks", json!({"project_id": project_id}))
        .await;
    assert_eq!(listed["total"], 0);
    let refused = reader
        .call_invalid(
            "create_task",
            json!({"project_id": project_id, "title": "no"}),
        )
        .await;
    assert!(refused.contains("create_task"), "{refused}");
    reader.stop().await;
    assert_eq!(data.count("SELECT COUNT(*) FROM tasks"), 0);

    let write_key = data.create_key("default", "writer", "write");
    let writer = Server::in_process(&data, &[], &[("VK_API_KEY", &write_key)]).await;
    // Write implies read; starting, stopping, following up, archiving and
    // merging sessions and answering approvals need the sessions scope; the
    // owner's key also lists the workspace's members. Comments are writes.
    let listed = writer.tools().await;
    assert_eq!(listed.len(), 29, "write implies read");
    assert!(!tool_names(&listed).contains(&"merge_session".to_owned()));
    writer.stop().await;
    let sessions_key = data.create_key("default", "agents", "sessions");
    let agents = Server::in_process(&data, &[], &[("VK_API_KEY", &sessions_key)]).await;
    let names = tool_names(&agents.tools().await);
    assert!(names.contains(&"start_session".to_owned()), "{names:?}");
    assert!(names.contains(&"archive_session".to_owned()), "{names:?}");
    assert!(names.contains(&"merge_session".to_owned()), "{names:?}");
    assert!(
        names.contains(&"respond_to_approval".to_owned()),
        "{names:?}"
    );
    assert!(!names.contains(&"create_task".to_owned()), "{names:?}");
    agents.stop().await;
    let writer = Server::in_process(&data, &[], &[("VK_API_KEY", &write_key)]).await;
    writer.stop().await;
}

async fn toolsets_and_read_only_mode_limit_the_catalogue(backend: Backend) {
    let data = DataDir::on(backend);
    let tasks_only = Server::in_process(&data, &["--toolsets", "tasks"], &[]).await;
    let names = tool_names(&tasks_only.tools().await);
    assert_eq!(
        names,
        [
            "list_tasks",
            "get_task",
            "create_task",
            "update_task",
            "delete_task",
            "assign_task",
            "show_board",
            "add_comment",
            "list_comments",
            "update_comment",
            "delete_comment",
            "list_activity"
        ]
    );
    tasks_only.call_invalid("list_projects", json!({})).await;
    tasks_only.stop().await;

    let prompts_only = Server::in_process(&data, &["--toolsets", "prompts"], &[]).await;
    let names = tool_names(&prompts_only.tools().await);
    assert_eq!(
        names,
        [
            "enhance_prompt",
            "list_prompt_templates",
            "create_prompt_template",
            "update_prompt_template",
            "delete_prompt_template"
        ]
    );
    prompts_only.stop().await;

    let read_only = Server::in_process(&data, &["--read-only"], &[]).await;
    let names = tool_names(&read_only.tools().await);
    assert_eq!(
        names,
        [
            "list_workspaces",
            "list_projects",
            "get_project",
            "list_members",
            "list_tasks",
            "get_task",
            "show_board",
            "list_comments",
            "list_activity",
            "get_session",
            "list_sessions",
            "read_execution_log",
            "wait_for_session",
            "list_approvals",
            "get_session_diff",
            "enhance_prompt",
            "list_prompt_templates"
        ]
    );
    read_only
        .call_invalid("create_project", json!({"name": "nope"}))
        .await;
    read_only.stop().await;
    assert_eq!(data.count("SELECT COUNT(*) FROM projects"), 0);

    // The environment variables are read by the binary's argument parser.
    let both = Server::start(
        &data,
        &[],
        &[("VK_TOOLSETS", "projects"), ("VK_READ_ONLY", "true")],
    )
    .await;
    assert_eq!(
        tool_names(&both.tools().await),
        [
            "list_workspaces",
            "list_projects",
            "get_project",
            "list_members"
        ]
    );
    both.stop().await;

    let bad = data.cli(&["serve", "--toolsets", "everything"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("everything"));
}

on_both_stores!(
    key_lifecycle_and_only_a_hash_is_stored,
    expired_keys_are_refused,
    a_running_stdio_server_stops_acting_as_a_revoked_key,
    a_running_stdio_server_stops_acting_as_an_expired_key,
    scopes_decide_which_tools_are_listed_and_callable,
    toolsets_and_read_only_mode_limit_the_catalogue,
);
