//! Workspace isolation: every tool and resource, called by workspace B with
//! ids that belong to workspace A, answers exactly as for ids that do not
//! exist — no data, no hint.

mod common;

use common::{Backend, DataDir, Server, id};
use serde_json::{Value, json};

/// Builds a tool's arguments around one id.
type ArgsFor<'a> = Box<dyn Fn(&str) -> Value + 'a>;

const NOWHERE: &str = "01930000-0000-7000-8000-00000000beef";

/// The same call with `foreign` and with an id that exists nowhere must give
/// the same answer (after swapping the id in the text).
fn same_answer(foreign_answer: &str, foreign: &str, nowhere_answer: &str) -> bool {
    foreign_answer.replace(foreign, NOWHERE) == nowhere_answer
}

async fn another_workspaces_ids_are_not_found_everywhere(backend: Backend) {
    let data = DataDir::on(backend);
    // Workspace A (the local default) with a project, a task and a subtask.
    let owner_a = Server::start(&data, &[], &[]).await;
    let project_a = owner_a
        .call(
            "create_project",
            json!({"name": "Secret plans", "description": "classified"}),
        )
        .await;
    let project_a = id(&project_a);
    let task_a = owner_a
        .task(
            &project_a,
            "Secret task",
            json!({"description": "do not leak"}),
        )
        .await;
    let sub_a = owner_a
        .task(
            &project_a,
            "Secret subtask",
            json!({"parent_task_id": task_a}),
        )
        .await;
    let user_a =
        owner_a.call("list_workspaces", json!({})).await["workspaces"][0]["members"][0]["user_id"]
            .as_str()
            .expect("user")
            .to_owned();
    owner_a.stop().await;

    // Workspace B, reached through its own key.
    data.create_workspace("beta", "b@example.com");
    let key_b = data.create_key("beta", "b-agent", "read,write");
    let b = Server::start(&data, &[], &[("VK_API_KEY", &key_b)]).await;
    let project_b = b.project("B project").await;
    let task_b = b.task(&project_b, "B task", json!({})).await;

    // B sees only B.
    let workspaces = b.call("list_workspaces", json!({})).await;
    assert_eq!(workspaces["workspaces"].as_array().map(Vec::len), Some(1));
    assert_eq!(workspaces["workspaces"][0]["slug"], "beta");
    let projects = b.call("list_projects", json!({})).await;
    let names: Vec<&str> = projects["projects"]
        .as_array()
        .expect("projects")
        .iter()
        .map(|p| p["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["B project"]);

    // Every tool with A's ids, next to the same call with an id from nowhere.
    let matrix: Vec<(&str, ArgsFor)> = vec![
        ("get_project", Box::new(|p| json!({"project_id": p}))),
        (
            "update_project",
            Box::new(|p| json!({"project_id": p, "description": "hijacked"})),
        ),
        ("list_tasks", Box::new(|p| json!({"project_id": p}))),
        (
            "create_task",
            Box::new(|p| json!({"project_id": p, "title": "planted"})),
        ),
    ];
    for (tool, args) in &matrix {
        let foreign = b.call_fails(tool, args(&project_a)).await;
        let nowhere = b.call_fails(tool, args(NOWHERE)).await;
        assert!(
            same_answer(&foreign, &project_a, &nowhere),
            "{tool}: '{foreign}' vs '{nowhere}'"
        );
        assert!(!foreign.contains("Secret"), "{tool} leaked data: {foreign}");
    }
    let task_matrix: Vec<(&str, ArgsFor)> = vec![
        ("get_task", Box::new(|t| json!({"task_id": t}))),
        (
            "update_task",
            Box::new(|t| json!({"task_id": t, "status": "done"})),
        ),
        ("delete_task", Box::new(|t| json!({"task_id": t}))),
        (
            "assign_task",
            Box::new(|t| json!({"task_id": t, "user_id": null})),
        ),
    ];
    for (tool, args) in &task_matrix {
        for foreign_id in [&task_a, &sub_a] {
            let foreign = b.call_fails(tool, args(foreign_id)).await;
            let nowhere = b.call_fails(tool, args(NOWHERE)).await;
            assert!(
                same_answer(&foreign, foreign_id, &nowhere),
                "{tool}: '{foreign}' vs '{nowhere}'"
            );
            assert!(!foreign.contains("Secret"), "{tool} leaked data: {foreign}");
        }
    }

    // A's ids used as references inside B's own objects.
    let references: Vec<(&str, ArgsFor, &str)> = vec![
        (
            "create_task",
            Box::new(|t| json!({"project_id": project_b, "title": "x", "parent_task_id": t})),
            task_a.as_str(),
        ),
        (
            "update_task",
            Box::new(|t| json!({"task_id": task_b, "parent_task_id": t})),
            task_a.as_str(),
        ),
        (
            "create_task",
            Box::new(|u| json!({"project_id": project_b, "title": "x", "assignee": u})),
            user_a.as_str(),
        ),
        (
            "assign_task",
            Box::new(|u| json!({"task_id": task_b, "user_id": u})),
            user_a.as_str(),
        ),
    ];
    for (tool, args, foreign_id) in &references {
        let foreign = b.call_fails(tool, args(foreign_id)).await;
        let nowhere = b.call_fails(tool, args(NOWHERE)).await;
        assert!(
            same_answer(&foreign, foreign_id, &nowhere),
            "{tool}: '{foreign}' vs '{nowhere}'"
        );
    }
    // Filters with A's ids find nothing rather than A's tasks.
    let filtered = b
        .call(
            "list_tasks",
            json!({"project_id": project_b, "parent_task_id": task_a}),
        )
        .await;
    assert_eq!(filtered["total"], 0);
    let filtered = b
        .call(
            "list_tasks",
            json!({"project_id": project_b, "assignee": user_a}),
        )
        .await;
    assert_eq!(filtered["total"], 0);

    // Resources.
    for (foreign, nowhere) in [
        (
            format!("kanban://projects/{project_a}/board"),
            format!("kanban://projects/{NOWHERE}/board"),
        ),
        (
            format!("kanban://tasks/{task_a}"),
            format!("kanban://tasks/{NOWHERE}"),
        ),
    ] {
        let foreign_err = b.read(&foreign).await.expect_err("foreign resource");
        let nowhere_err = b.read(&nowhere).await.expect_err("missing resource");
        assert_eq!(foreign_err.code, nowhere_err.code);
        assert_eq!(
            foreign_err.message.replace(&foreign, &nowhere),
            nowhere_err.message
        );
        assert!(!foreign_err.message.contains("Secret"));
    }
    let resources = b.client.list_all_resources().await.expect("resources");
    assert_eq!(resources.len(), 1);
    assert!(resources[0].uri.contains(&project_b));
    b.stop().await;

    // A's data is untouched.
    let row = data
        .rows(
            "SELECT t.title, t.status, p.description FROM tasks t JOIN projects p ON p.id = t.project_id WHERE t.id = ?",
            &[serde_json::json!(task_a)],
        )
        .pop()
        .expect("A's task is still there");
    assert_eq!(
        (
            row[0].as_str().expect("title"),
            row[1].as_str().expect("status"),
            row[2].as_str().expect("description")
        ),
        ("Secret task", "todo", "classified")
    );
    assert_eq!(
        data.count(&format!(
            "SELECT COUNT(*) FROM tasks WHERE project_id = '{project_a}'"
        )),
        2
    );
}

on_both_stores!(another_workspaces_ids_are_not_found_everywhere,);
