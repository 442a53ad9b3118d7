//! Teams (issue 16 items 2–4, 8): admins make and revoke members' keys by
//! tool, within each member's role and audited; roles are enforced on top of
//! scopes; every change names its member, a session's own task moves too.

use crate::common;

use common::{Backend, DataDir, OWNER_EMAIL, Server, refused_soon};
use serde_json::json;

async fn admins_make_and_revoke_members_keys(backend: Backend) {
    let data = DataDir::on(backend);
    data.add_member("viewer@example.com", "viewer");
    data.add_member("admin@example.com", "admin");
    let viewer_id = data.user_id("viewer@example.com");
    let admin_id = data.user_id("admin@example.com");
    let owner = Server::in_process(&data, &[], &[]).await;
    let keys = || data.count("SELECT COUNT(*) FROM mcp_api_keys");
    let audits = || data.count("SELECT COUNT(*) FROM audit_logs");
    let (keys_before, audits_before) = (keys(), audits());

    // Scopes beyond the member's role, unknown scopes, members and bad
    // expiries: clear errors, nothing written.
    let refused = owner
        .call_fails(
            "create_api_key",
            json!({"member": "viewer@example.com", "name": "v", "scopes": "read,write"}),
        )
        .await;
    assert!(
        refused.contains("need the member role")
            && refused.contains("viewer@example.com is viewer"),
        "{refused}"
    );
    let refused = owner
        .call_invalid(
            "create_api_key",
            json!({"member": "viewer@example.com", "name": "v", "scopes": "fly"}),
        )
        .await;
    assert!(refused.contains("unknown scope 'fly'"), "{refused}");
    let refused = owner
        .call_fails(
            "create_api_key",
            json!({"member": "nobody@example.com", "name": "v", "scopes": "read"}),
        )
        .await;
    assert!(refused.contains("nobody@example.com"), "{refused}");
    let refused = owner
        .call_invalid(
            "create_api_key",
            json!({"member": "viewer@example.com", "name": "v", "scopes": "read", "expires_in_days": 0}),
        )
        .await;
    assert!(refused.contains("expires_in_days"), "{refused}");
    assert_eq!((keys(), audits()), (keys_before, audits_before));

    // A viewer's read key, shown once, attributed to the owner who made it.
    let made = owner
        .call(
            "create_api_key",
            json!({"member": "viewer@example.com", "name": "v", "scopes": "read", "expires_in_days": 30}),
        )
        .await;
    let viewer_key = made["key"].as_str().expect("the key, once").to_owned();
    assert_eq!(made["user_id"], json!(viewer_id));
    assert!(made["expires_at"].is_string(), "{made}");
    let owner_id = data.user_id(OWNER_EMAIL);
    let row = data.rows(
        "SELECT user_id, created_by, key_hash <> ?2 FROM mcp_api_keys WHERE id = ?1",
        &[made["id"].clone(), json!(viewer_key)],
    );
    assert_eq!(row, [vec![json!(viewer_id), json!(owner_id), json!(1)]]);
    let actor = data.rows(
        "SELECT user_id FROM audit_logs WHERE entity_type = 'api_key' AND entity_id = ? AND action = 'create'",
        &[made["id"].clone()],
    );
    assert_eq!(actor, [vec![json!(owner_id)]]);
    let dup = owner
        .call_fails(
            "create_api_key",
            json!({"member": viewer_id, "name": "v", "scopes": "read"}),
        )
        .await;
    assert!(dup.contains("already exists"), "{dup}");
    let as_viewer = Server::in_process(&data, &[], &[("VK_API_KEY", &viewer_key)]).await;
    let refused = as_viewer
        .call_invalid("create_api_key", json!({"name": "mine", "scopes": "read"}))
        .await;
    assert!(refused.contains("needs the admin role"), "{refused}");

    // An admin manages keys but not the owner's.
    let admin_key = data.member_key("a", "admin@example.com", "admin");
    let as_admin = Server::in_process(&data, &[], &[("VK_API_KEY", &admin_key)]).await;
    let own = as_admin
        .call(
            "create_api_key",
            json!({"name": "a2", "scopes": "read,write"}),
        )
        .await;
    assert_eq!(own["user_id"], json!(admin_id), "default: the caller");
    let refused = as_admin
        .call_fails(
            "create_api_key",
            json!({"member": OWNER_EMAIL, "name": "o", "scopes": "read"}),
        )
        .await;
    assert!(refused.contains("only the owner"), "{refused}");
    let owners_key = data.create_key("default", "owners", "read");
    let audits_now = audits();
    let refused = as_admin
        .call_fails("revoke_api_key", json!({"key": &owners_key[..11]}))
        .await;
    assert!(refused.contains("only the owner revokes it"), "{refused}");
    assert_eq!(audits(), audits_now);
    assert_eq!(
        data.count(
            "SELECT COUNT(*) FROM mcp_api_keys WHERE name = 'owners' AND revoked_at IS NULL"
        ),
        1
    );
    let refused = as_admin
        .call_fails("revoke_api_key", json!({"key": "vk_00000000"}))
        .await;
    assert!(refused.contains("vk_00000000"), "{refused}");

    // Revoking the viewer's key ends it at once, audited as the admin's act.
    let revoked = as_admin
        .call("revoke_api_key", json!({"key": made["key_prefix"]}))
        .await;
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    assert!(revoked.get("key").is_none(), "the key is never shown again");
    assert!(
        refused_soon(&as_viewer).await,
        "the revoked key still works"
    );
    let actor = data.rows(
        "SELECT user_id FROM audit_logs WHERE entity_type = 'api_key' AND entity_id = ? AND action = 'revoke'",
        &[made["id"].clone()],
    );
    assert_eq!(actor, [vec![json!(admin_id)]]);
    // Again: nothing changes, and it says when it was revoked.
    let again = as_admin
        .call("revoke_api_key", json!({"key": made["id"]}))
        .await;
    assert_eq!(again["revoked_at"], revoked["revoked_at"]);
    as_viewer.stop().await;
    as_admin.stop().await;
    owner.stop().await;
}

on_both_stores!(admins_make_and_revoke_members_keys,);

/// A viewer's key (scoped `admin`, so only the role stops it) calling a
/// write tool over stdio (the real binary), Streamable HTTP and the legacy
/// SSE transport: a clear refusal naming the role, and nothing written.
#[tokio::test]
async fn a_viewer_cannot_write_over_any_transport() {
    use crate::http::SseReader;
    use crate::http_support::{HttpServer, http, initialize_body};

    let data = DataDir::new();
    data.add_member("viewer@example.com", "viewer");
    let key = data.member_key("viewer", "viewer@example.com", "admin");
    let said = "create_project needs the member role or above; you are viewer in workspace";

    // stdio, the binary as a child process.
    let stdio = Server::start(&data, &[], &[("VK_API_KEY", &key)]).await;
    let refused = stdio
        .call_invalid("create_project", json!({"name": "via stdio"}))
        .await;
    assert!(refused.contains(said), "stdio: {refused}");
    stdio.stop().await;

    // Streamable HTTP: 403 before the call runs.
    let server = HttpServer::start(data.path(), &[], &[]);
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "create_project", "arguments": {"name": "via HTTP"}}});
    let response = http()
        .post(server.url("/mcp"))
        .bearer_auth(&key)
        .header("accept", "application/json, text/event-stream")
        .json(&call)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 403);
    let body = response.text().await.expect("body");
    assert!(body.contains(said), "HTTP: {body}");

    // Legacy SSE: the POST to /messages is refused the same way.
    let stream = http()
        .get(server.url("/sse"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("sse");
    let mut events = SseReader::new(stream);
    let (_, endpoint) = events.event().await;
    let post = |body: serde_json::Value| {
        http()
            .post(server.url(&endpoint))
            .bearer_auth(&key)
            .json(&body)
            .send()
    };
    let mut init = initialize_body();
    init["params"]["protocolVersion"] = json!("2024-11-05");
    assert_eq!(post(init).await.expect("initialize").status(), 202);
    events.event().await;
    post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .await
        .expect("initialized");
    let response = post(call).await.expect("call");
    assert_eq!(response.status(), 403);
    let body = response.text().await.expect("body");
    assert!(body.contains(said), "SSE: {body}");

    assert_eq!(
        data.count("SELECT COUNT(*) FROM projects"),
        0,
        "nothing written"
    );
    assert_eq!(
        data.count(
            "SELECT COUNT(*) FROM audit_logs WHERE action = 'create' AND entity_type = 'project'"
        ),
        0
    );
}

/// The README's role × tool table is the registry's: a tool whose role or
/// scope changes, or a new tool, changes it (`UPDATE_README=1` rewrites it).
#[test]
fn the_readme_role_table_is_the_registrys() {
    use vibe_kanban_mcp::{
        auth::Scopes,
        store::Role,
        tools::{Registry, ToolFilter},
    };
    let registry = Registry::new(&ToolFilter::default());
    let mut table =
        String::from("| Tool | viewer | member | admin | owner |\n|---|---|---|---|---|\n");
    for (name, scope, least, _) in registry.requirements() {
        let cells: Vec<&str> = Role::ALL
            .into_iter()
            .map(|role| {
                if Scopes::all().within(role).allows(scope) && role.at_least(least) {
                    "yes"
                } else {
                    "—"
                }
            })
            .collect();
        table.push_str(&format!("| `{name}` | {} |\n", cells.join(" | ")));
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).expect("README");
    let (begin, end) = ("<!-- role-table:begin -->\n", "<!-- role-table:end -->");
    let start = readme
        .find(begin)
        .expect("README has the role table markers")
        + begin.len();
    let stop = readme.find(end).expect("end marker");
    if std::env::var_os("UPDATE_README").is_some() {
        let updated = format!("{}{table}{}", &readme[..start], &readme[stop..]);
        std::fs::write(&path, updated).expect("write README");
        return;
    }
    assert_eq!(
        &readme[start..stop],
        table,
        "the README's role table drifted from the registry; run UPDATE_README=1 cargo test --test it the_readme_role_table"
    );
}

/// Attribution and assignment: assign_task takes a member's email or user
/// id and refuses non-members with nothing written; every change records
/// the member who made it in `updated_by` and the audit row.
async fn changes_name_their_member_and_any_member_can_be_assigned(backend: Backend) {
    let data = DataDir::on(backend);
    data.add_member("li@example.com", "member");
    let li = data.user_id("li@example.com");
    let key = data.member_key("li", "li@example.com", "read,write");
    let owner = Server::in_process(&data, &[], &[]).await;
    let project = owner.project("Shared").await;
    let task = owner.task(&project, "Owner's task", json!({})).await;
    let as_li = Server::in_process(&data, &[], &[("VK_API_KEY", &key)]).await;

    let assigned = as_li
        .call(
            "assign_task",
            json!({"task_id": task, "user_id": "LI@example.com"}),
        )
        .await;
    assert_eq!(assigned["assignee"], json!(li));
    let by = data.rows(
        "SELECT assigned_by, updated_by FROM tasks WHERE id = ?",
        &[json!(task)],
    );
    assert_eq!(by, [vec![json!(li), json!(li)]]);
    let audits = data.count("SELECT COUNT(*) FROM audit_logs");
    let refused = as_li
        .call_fails(
            "assign_task",
            json!({"task_id": task, "user_id": "stranger@example.com"}),
        )
        .await;
    assert!(
        refused.contains("stranger@example.com not found"),
        "{refused}"
    );
    assert_eq!(data.count("SELECT COUNT(*) FROM audit_logs"), audits);
    assert_eq!(
        data.rows("SELECT assignee FROM tasks WHERE id = ?", &[json!(task)]),
        [vec![json!(li)]]
    );

    as_li
        .call(
            "update_task",
            json!({"task_id": task, "status": "inprogress"}),
        )
        .await;
    as_li
        .call(
            "update_project",
            json!({"project_id": project, "description": "Li's"}),
        )
        .await;
    let owner_id = data.user_id(OWNER_EMAIL);
    assert_eq!(
        data.rows(
            "SELECT updated_by, created_by FROM tasks WHERE id = ?",
            &[json!(task)]
        ),
        [vec![json!(li), json!(owner_id)]]
    );
    assert_eq!(
        data.rows(
            "SELECT updated_by FROM projects WHERE id = ?",
            &[json!(project)]
        ),
        [vec![json!(li)]]
    );
    let actors = data.rows(
        "SELECT DISTINCT user_id FROM audit_logs WHERE action IN ('assign', 'update')",
        &[],
    );
    assert_eq!(actors, [vec![json!(li)]]);
    // A new row names its creator as its last editor too.
    let fresh = as_li.task(&project, "Li's task", json!({})).await;
    assert_eq!(
        data.rows(
            "SELECT created_by, updated_by FROM tasks WHERE id = ?",
            &[json!(fresh)]
        ),
        [vec![json!(li), json!(li)]]
    );
    as_li.stop().await;
    owner.stop().await;
}

on_both_stores!(changes_name_their_member_and_any_member_can_be_assigned,);

/// A session's own task moves name their member: the move to inprogress on
/// start is the starter's, the moves when a turn ends (inreview after a
/// success, todo after a failure) the session's starter's, and a
/// follow-up's move back to inprogress the follow-up's sender's — in
/// `updated_by` and in each move's audit row.
async fn session_task_moves_name_their_member(backend: Backend) {
    let data = DataDir::on(backend);
    data.add_member("alice@example.com", "member");
    data.add_member("bob@example.com", "member");
    let (alice_id, bob_id) = (
        data.user_id("alice@example.com"),
        data.user_id("bob@example.com"),
    );
    let alice_key = data.member_key("alice", "alice@example.com", "read,write,sessions");
    let bob_key = data.member_key("bob", "bob@example.com", "read,write,sessions");
    let config = common::sessions::config(&data, "", "");
    let config = config.to_str().expect("utf-8");
    // The owner makes the tasks, so every later `updated_by` is a move's.
    let owner = Server::in_process(&data, &["--config", config, "--no-runner"], &[]).await;
    let project = owner.project("Shared").await;
    let task = owner.task(&project, "Ship it", json!({})).await;
    let failing = owner.task(&project, "Break it", json!({})).await;
    let moved = |task: &str| {
        data.rows(
            "SELECT status, updated_by FROM tasks WHERE id = ?",
            &[json!(task)],
        )[0]
        .clone()
    };
    let move_audits = |task: &str| {
        data.rows(
            "SELECT json_extract(details, '$.status'), user_id FROM audit_logs \
             WHERE entity_type = 'task' AND entity_id = ? AND action = 'update' ORDER BY rowid",
            &[json!(task)],
        )
    };

    let alice =
        Server::in_process(&data, &["--config", config], &[("VK_API_KEY", &alice_key)]).await;
    let session = common::id(&alice.call("start_session", json!({"task_id": task})).await);
    let done = common::sessions::wait_finished(&alice, &session).await;
    assert_eq!(done["status"], "completed", "{done:#}");
    assert_eq!(moved(&task), [json!("inreview"), json!(alice_id)]);
    let broken = common::id(
        &alice
            .call(
                "start_session",
                json!({"task_id": failing, "executor": "failing"}),
            )
            .await,
    );
    let ended = common::sessions::wait_finished(&alice, &broken).await;
    assert_eq!(ended["status"], "failed", "{ended:#}");
    assert_eq!(moved(&failing), [json!("todo"), json!(alice_id)]);
    assert_eq!(
        move_audits(&failing),
        [
            vec![json!("inprogress"), json!(alice_id)],
            vec![json!("todo"), json!(alice_id)]
        ]
    );
    alice.stop().await;

    // Bob follows up with no runner about: the task waits inprogress, his.
    let bob = Server::in_process(
        &data,
        &["--config", config, "--no-runner"],
        &[("VK_API_KEY", &bob_key)],
    )
    .await;
    bob.call(
        "send_follow_up",
        json!({"session_id": session, "prompt": "once more"}),
    )
    .await;
    assert_eq!(moved(&task), [json!("inprogress"), json!(bob_id)]);
    bob.stop().await;
    // Alice's runner (a stdio server runs its caller's sessions) finishes
    // the turn: the session's move, its starter's.
    let runner =
        Server::in_process(&data, &["--config", config], &[("VK_API_KEY", &alice_key)]).await;
    let again = common::sessions::wait_finished(&runner, &session).await;
    assert_eq!(again["status"], "completed", "{again:#}");
    assert_eq!(moved(&task), [json!("inreview"), json!(alice_id)]);
    assert_eq!(
        move_audits(&task),
        [
            vec![json!("inprogress"), json!(alice_id)],
            vec![json!("inreview"), json!(alice_id)],
            vec![json!("inprogress"), json!(bob_id)],
            vec![json!("inreview"), json!(alice_id)]
        ]
    );
    runner.stop().await;
    owner.stop().await;
}

on_both_stores!(session_task_moves_name_their_member,);
