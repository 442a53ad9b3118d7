//! Teams (issue 16 items 1, 2, 4, 8): members added, re-roled and removed
//! from the command line and by admins' tools; a key per member that never
//! carries more than the member's role; bad input refused with nothing
//! written.

use crate::common;

use common::{Backend, DataDir, OWNER_EMAIL, Server, refused_soon};
use serde_json::json;

fn cli_err(data: &DataDir, args: &[&str]) -> String {
    let out = data.cli(args);
    assert!(!out.status.success(), "`{}` should fail", args.join(" "));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn names(tools: &[rmcp::model::Tool]) -> Vec<String> {
    tools.iter().map(|t| t.name.to_string()).collect()
}

async fn members_from_the_command_line(backend: Backend) {
    let data = DataDir::on(backend);
    let added = data.cli_ok(&[
        "members",
        "add",
        "--workspace",
        "default",
        "--email",
        "Alice@Example.com",
        "--role",
        "admin",
    ]);
    assert!(
        added.contains("alice@example.com") && added.contains("admin"),
        "{added}"
    );
    data.cli_ok(&[
        "members",
        "add",
        "--workspace",
        "default",
        "--email",
        "bob@example.com",
        "--name",
        "Bob",
        "--role",
        "viewer",
    ]);
    let list = data.cli_ok(&["members", "list", "--workspace", "default"]);
    assert!(
        list.contains(OWNER_EMAIL) && list.contains("owner"),
        "{list}"
    );
    assert!(list.contains("Bob") && list.contains("viewer"), "{list}");

    let members = "SELECT COUNT(*) FROM workspace_members";
    let audits = "SELECT COUNT(*) FROM audit_logs";
    let (before_members, before_audits) = (data.count(members), data.count(audits));
    let refusals = [
        (
            vec![
                "members",
                "add",
                "--workspace",
                "default",
                "--email",
                "bob@example.com",
                "--role",
                "member",
            ],
            "already a member",
        ),
        (
            vec![
                "members",
                "add",
                "--workspace",
                "default",
                "--email",
                "not-an-email",
                "--role",
                "member",
            ],
            "is not an email address",
        ),
        (
            vec![
                "members",
                "add",
                "--workspace",
                "default",
                "--email",
                "c@example.com",
                "--role",
                "boss",
            ],
            "unknown role 'boss'",
        ),
        (
            vec!["members", "remove", "--workspace", "default", OWNER_EMAIL],
            "cannot be removed",
        ),
        (
            vec![
                "members",
                "set-role",
                "--workspace",
                "default",
                OWNER_EMAIL,
                "--role",
                "viewer",
            ],
            "transferring the ownership",
        ),
        (
            vec![
                "members",
                "set-role",
                "--workspace",
                "default",
                "bob@example.com",
                "--role",
                "owner",
            ],
            "transfer",
        ),
        (
            vec![
                "members",
                "remove",
                "--workspace",
                "default",
                "nobody@example.com",
            ],
            "not found",
        ),
        (
            vec![
                "keys",
                "create",
                "--workspace",
                "default",
                "--name",
                "x",
                "--user",
                "nobody@example.com",
            ],
            "not a member",
        ),
    ];
    for (args, expected) in refusals {
        let err = cli_err(&data, &args);
        assert!(err.contains(expected), "`{}`: {err}", args.join(" "));
    }
    assert_eq!(data.count(members), before_members, "nothing was written");
    assert_eq!(data.count(audits), before_audits, "no audit row either");

    // Transfer: alice owns, the old owner is an admin.
    data.cli_ok(&[
        "members",
        "transfer-ownership",
        "--workspace",
        "default",
        "alice@example.com",
    ]);
    let list = data.cli_ok(&["members", "list", "--workspace", "default", "--json"]);
    let list: serde_json::Value = serde_json::from_str(&list).expect("json");
    let role = |email: &str| {
        list.as_array()
            .expect("array")
            .iter()
            .find(|m| m["email"] == email)
            .map(|m| m["role"].as_str().unwrap_or_default().to_owned())
    };
    assert_eq!(role("alice@example.com").as_deref(), Some("owner"));
    assert_eq!(role(OWNER_EMAIL).as_deref(), Some("admin"));
    assert_eq!(
        data.count("SELECT COUNT(*) FROM workspace_members WHERE role = 'owner'"),
        1
    );
}

async fn a_key_never_carries_more_than_its_members_role(backend: Backend) {
    let data = DataDir::on(backend);
    data.cli_ok(&[
        "members",
        "add",
        "--workspace",
        "default",
        "--email",
        "viewer@example.com",
        "--role",
        "viewer",
    ]);
    // An admin-scoped key of a viewer reads, and only reads.
    let key = data.member_key("viewer", "viewer@example.com", "admin");
    let server = Server::in_process(&data, &[], &[("VK_API_KEY", &key)]).await;
    let listed = names(&server.tools().await);
    assert!(listed.contains(&"list_projects".to_owned()), "{listed:?}");
    for forbidden in [
        "create_project",
        "create_task",
        "start_session",
        "add_member",
    ] {
        assert!(
            !listed.contains(&forbidden.to_owned()),
            "{forbidden} listed: {listed:?}"
        );
        let refused = server.call_invalid(forbidden, json!({"name": "x"})).await;
        assert!(
            refused.contains("role or above; you are viewer in workspace"),
            "{refused}"
        );
    }
    server.stop().await;
    assert_eq!(
        data.count("SELECT COUNT(*) FROM projects"),
        0,
        "nothing was written"
    );
}

async fn members_by_tool_attribution_and_removal(backend: Backend) {
    let data = DataDir::on(backend);
    let owner = Server::in_process(&data, &[], &[]).await;
    let alice = owner
        .call(
            "add_member",
            json!({"email": "alice@example.com", "role": "member"}),
        )
        .await;
    assert_eq!(alice["role"], "member");
    let alice_id = alice["user_id"].as_str().expect("user id").to_owned();
    let dup = owner
        .call_fails(
            "add_member",
            json!({"email": "alice@example.com", "role": "member"}),
        )
        .await;
    assert!(dup.contains("already a member"), "{dup}");
    let bad = owner
        .call_fails(
            "update_member_role",
            json!({"member": "alice@example.com", "role": "chief"}),
        )
        .await;
    assert!(bad.contains("unknown role 'chief'"), "{bad}");

    // Alice's own key: her rows are hers.
    let key = data.member_key("alice", "alice@example.com", "read,write,sessions");
    let as_alice = Server::in_process(&data, &[], &[("VK_API_KEY", &key)]).await;
    let project = as_alice
        .call("create_project", json!({"name": "Team"}))
        .await;
    let project_id = project["id"].as_str().expect("id").to_owned();
    let task = as_alice
        .task(&project_id, "Hers", json!({"assignee": alice_id}))
        .await;
    let created_by = data.rows("SELECT created_by FROM tasks WHERE id = ?", &[json!(task)]);
    assert_eq!(created_by[0][0], json!(alice_id));
    let actor = data.rows(
        "SELECT user_id FROM audit_logs WHERE entity_id = ? AND action = 'create'",
        &[json!(task)],
    );
    assert_eq!(actor[0][0], json!(alice_id));

    // "me" and the creator filter list_tasks for the caller.
    let owner_task = owner.task(&project_id, "Owner's", json!({})).await;
    let mine = as_alice
        .call(
            "list_tasks",
            json!({"project_id": project_id, "assignee": "me"}),
        )
        .await;
    assert_eq!(mine["total"], 1, "{mine}");
    assert_eq!(mine["tasks"][0]["id"], json!(task));
    let by_me = as_alice
        .call(
            "list_tasks",
            json!({"project_id": project_id, "created_by": "me"}),
        )
        .await;
    assert_eq!(by_me["total"], 1, "{by_me}");
    let by_owner = owner
        .call(
            "list_tasks",
            json!({"project_id": project_id, "created_by": "me"}),
        )
        .await;
    assert_eq!(by_owner["tasks"][0]["id"], json!(owner_task), "{by_owner}");
    let bad = as_alice
        .call_invalid(
            "list_tasks",
            json!({"project_id": project_id, "created_by": "someone"}),
        )
        .await;
    assert!(bad.contains("\"me\""), "{bad}");

    // A member may not manage members.
    let tools = names(&as_alice.tools().await);
    assert!(!tools.contains(&"remove_member".to_owned()), "{tools:?}");

    // Removing her unassigns her task and revokes her key, audited.
    let removed = owner
        .call("remove_member", json!({"member": "alice@example.com"}))
        .await;
    assert_eq!(removed["email"], "alice@example.com");
    let assignee = data.rows("SELECT assignee FROM tasks WHERE id = ?", &[json!(task)]);
    assert_eq!(assignee[0][0], serde_json::Value::Null);
    assert_eq!(
        data.count(
            "SELECT COUNT(*) FROM audit_logs WHERE action = 'unassign' AND entity_type = 'task'"
        ),
        1
    );
    assert_eq!(
        data.count(
            "SELECT COUNT(*) FROM mcp_api_keys WHERE name = 'alice' AND revoked_at IS NOT NULL"
        ),
        1
    );
    assert_eq!(
        data.count(
            "SELECT COUNT(*) FROM audit_logs WHERE action = 'revoke' AND entity_type = 'api_key'"
        ),
        1
    );
    assert!(
        refused_soon(&as_alice).await,
        "the removed member's key still works"
    );
    as_alice.stop().await;

    // The owner cannot be removed by a tool either; nothing is written.
    let audits = data.count("SELECT COUNT(*) FROM audit_logs");
    let refused = owner
        .call_fails("remove_member", json!({"member": OWNER_EMAIL}))
        .await;
    assert!(refused.contains("cannot be removed"), "{refused}");
    assert_eq!(data.count("SELECT COUNT(*) FROM audit_logs"), audits);
    owner.stop().await;
}

on_both_stores!(
    members_from_the_command_line,
    a_key_never_carries_more_than_its_members_role,
    members_by_tool_attribution_and_removal,
);

/// A role change narrows a live stdio key: the server acting as it refuses
/// the next request once it looks again (within a second).
#[tokio::test]
async fn a_role_change_narrows_a_live_key() {
    let data = DataDir::new();
    data.cli_ok(&[
        "members",
        "add",
        "--workspace",
        "default",
        "--email",
        "m@example.com",
        "--role",
        "member",
    ]);
    let key = data.member_key("m", "m@example.com", "read,write");
    let server = Server::in_process(&data, &[], &[("VK_API_KEY", &key)]).await;
    server
        .call("create_project", json!({"name": "Before"}))
        .await;
    data.cli_ok(&[
        "members",
        "set-role",
        "--workspace",
        "default",
        "m@example.com",
        "--role",
        "viewer",
    ]);
    assert!(refused_soon(&server).await, "the key kept its old role");
    server.stop().await;
    assert_eq!(data.count("SELECT COUNT(*) FROM projects"), 1);
}
