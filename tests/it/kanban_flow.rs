//! The kanban workflow, through rmcp's client on an in-process server:
//! project → tasks → filter/paginate → status changes → subtasks → assign →
//! delete, plus the tool catalogue and the resources.

use crate::common;

use common::{Backend, DataDir, Server, id, titles};
use serde_json::{Value, json};

async fn tool_catalogue_has_schemas_annotations_and_output_schemas(backend: Backend) {
    let data = DataDir::on(backend);
    let server = Server::in_process(&data, &[], &[]).await;
    let tools = server.tools().await;
    // Every tool has a snapshot and every snapshot a tool (tests/it/toolsnaps.rs
    // checks their contents in-process; here the real binary lists them).
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort_unstable();
    let snapshots = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/toolsnaps"))
        .expect("tests/toolsnaps")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let stem = path.file_stem().and_then(|s| s.to_str()).expect("name");
            stem.to_owned()
        })
        .collect::<std::collections::BTreeSet<String>>();
    assert_eq!(
        names,
        snapshots.iter().map(String::as_str).collect::<Vec<_>>()
    );
    for tool in &tools {
        let schema = serde_json::Value::Object(tool.input_schema.as_ref().clone());
        assert_eq!(schema["type"], "object", "{}", tool.name);
        assert!(
            schema["properties"].is_object(),
            "{} has properties",
            tool.name
        );
        // Every argument is documented.
        for (field, property) in schema["properties"].as_object().expect("properties") {
            assert!(
                property.get("description").is_some(),
                "{}.{field} has no description",
                tool.name
            );
        }
        assert!(
            tool.description.as_deref().is_some_and(|d| d.len() > 20),
            "{}",
            tool.name
        );
        assert!(
            tool.output_schema.is_some(),
            "{} has an output schema",
            tool.name
        );
        let annotations = tool.annotations.as_ref().expect("annotations");
        let reads = tool.name.starts_with("list_")
            || tool.name.starts_with("get_")
            || tool.name.starts_with("read_")
            || tool.name.starts_with("wait_")
            || tool.name == "enhance_prompt"
            || tool.name == "show_board";
        assert_eq!(annotations.read_only_hint, Some(reads), "{}", tool.name);
        // Archiving removes the worktree's files (and with `delete_branch`
        // the branch), so it is destructive as deleting is. Merging moves
        // the base branch forward and loses nothing: not destructive, and
        // not idempotent (a second merge is refused).
        assert_eq!(
            annotations.destructive_hint,
            Some(
                tool.name.starts_with("delete_")
                    || tool.name.starts_with("remove_")
                    || tool.name.starts_with("revoke_")
                    || tool.name == "archive_session",
            ),
            "{}",
            tool.name
        );
        assert!(annotations.idempotent_hint.is_some(), "{}", tool.name);
        if tool.name == "merge_session" {
            assert_eq!(annotations.idempotent_hint, Some(false));
            assert_eq!(annotations.open_world_hint, Some(false));
        }
    }
    let create_task = tools
        .iter()
        .find(|t| t.name == "create_task")
        .expect("create_task");
    assert_eq!(
        create_task.input_schema["required"],
        json!(["project_id", "title"])
    );
    server.stop().await;
}

async fn project_task_lifecycle(backend: Backend) {
    let data = DataDir::on(backend);
    let server = Server::in_process(&data, &[], &[]).await;

    // The local owner works in the default workspace.
    let workspaces = server.call("list_workspaces", json!({})).await;
    let workspace = &workspaces["workspaces"][0];
    assert_eq!(workspace["slug"], "default");
    let owner = workspace["members"][0]["user_id"]
        .as_str()
        .expect("owner")
        .to_owned();

    // Projects.
    let project = server
        .call(
            "create_project",
            json!({"name": "Website", "description": "The public site", "repo_path": "/srv/site"}),
        )
        .await;
    let project_id = id(&project);
    assert_eq!(project["repo_path"], "/srv/site");
    let renamed = server
        .call(
            "update_project",
            json!({"project_id": project_id, "name": "Web", "repo_path": null}),
        )
        .await;
    assert_eq!(
        (renamed["name"].as_str(), renamed["repo_path"].is_null()),
        (Some("Web"), true)
    );
    assert_eq!(
        renamed["description"], "The public site",
        "untouched fields stay"
    );
    let listed = server.call("list_projects", json!({})).await;
    assert_eq!(listed["projects"].as_array().map(Vec::len), Some(1));

    // Tasks in board order; filters; paging.
    let mut ids = Vec::new();
    for (i, title) in [
        "Design header",
        "Write copy",
        "Fix footer links",
        "Add search",
        "Deploy",
    ]
    .iter()
    .enumerate()
    {
        let status = ["todo", "inprogress", "todo", "inreview", "todo"][i];
        ids.push(
            server
                .task(
                    &project_id,
                    title,
                    json!({"status": status, "description": format!("details of {title}")}),
                )
                .await,
        );
    }
    let all = server
        .call("list_tasks", json!({"project_id": project_id}))
        .await;
    assert_eq!(all["total"], 5);
    assert_eq!(
        titles(&all),
        [
            "Design header",
            "Write copy",
            "Fix footer links",
            "Add search",
            "Deploy"
        ]
    );
    assert!(all["next_cursor"].is_null());

    let todo = server
        .call(
            "list_tasks",
            json!({"project_id": project_id, "status": ["todo"]}),
        )
        .await;
    assert_eq!(
        titles(&todo),
        ["Design header", "Fix footer links", "Deploy"]
    );
    assert_eq!(todo["total"], 3);

    let two = server
        .call(
            "list_tasks",
            json!({"project_id": project_id, "status": ["todo", "inreview"]}),
        )
        .await;
    assert_eq!(two["total"], 4);

    let search = server
        .call(
            "list_tasks",
            json!({"project_id": project_id, "query": "FOOTER"}),
        )
        .await;
    assert_eq!(titles(&search), ["Fix footer links"]);
    let in_description = server
        .call(
            "list_tasks",
            json!({"project_id": project_id, "query": "details of Deploy"}),
        )
        .await;
    assert_eq!(titles(&in_description), ["Deploy"]);
    let wildcard = server
        .call(
            "list_tasks",
            json!({"project_id": project_id, "query": "%"}),
        )
        .await;
    assert_eq!(
        wildcard["total"], 0,
        "LIKE wildcards in the query match literally"
    );

    let mut seen = Vec::new();
    let mut cursor = Value::Null;
    loop {
        let page = server
            .call(
                "list_tasks",
                json!({"project_id": project_id, "limit": 2, "cursor": cursor}),
            )
            .await;
        assert_eq!(page["total"], 5);
        seen.extend(titles(&page));
        cursor = page["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    assert_eq!(seen, titles(&all), "pages cover every task once, in order");

    // Status changes move tasks between columns.
    let moved = server
        .call("update_task", json!({"task_id": ids[0], "status": "done"}))
        .await;
    assert_eq!(moved["status"], "done");
    assert_eq!(moved["title"], "Design header");
    let project_now = server
        .call("get_project", json!({"project_id": project_id}))
        .await;
    assert_eq!(
        project_now["task_counts"],
        json!({"todo": 2, "inprogress": 1, "inreview": 1, "done": 1, "cancelled": 0})
    );

    // Subtasks.
    let sub_a = server
        .task(
            &project_id,
            "Header logo",
            json!({"parent_task_id": ids[0]}),
        )
        .await;
    let sub_b = server
        .task(
            &project_id,
            "Header menu",
            json!({"parent_task_id": ids[0]}),
        )
        .await;
    let grandchild = server
        .task(&project_id, "Menu icons", json!({"parent_task_id": sub_b}))
        .await;
    let detail = server.call("get_task", json!({"task_id": ids[0]})).await;
    let subtask_titles: Vec<&str> = detail["subtasks"]
        .as_array()
        .expect("subtasks")
        .iter()
        .map(|t| t["title"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(subtask_titles, ["Header logo", "Header menu"]);
    let only_subtasks = server
        .call(
            "list_tasks",
            json!({"project_id": project_id, "parent_task_id": ids[0]}),
        )
        .await;
    assert_eq!(only_subtasks["total"], 2);

    // Re-parenting: a cycle is refused, detaching works.
    let cycle = server
        .call_fails(
            "update_task",
            json!({"task_id": ids[0], "parent_task_id": grandchild}),
        )
        .await;
    assert!(cycle.contains("cycle"), "{cycle}");
    let detached = server
        .call(
            "update_task",
            json!({"task_id": sub_a, "parent_task_id": null}),
        )
        .await;
    assert!(detached["parent_task_id"].is_null());
    let repositioned = server
        .call("update_task", json!({"task_id": ids[4], "position": -1}))
        .await;
    assert_eq!(repositioned["position"], -1);
    let first = server
        .call("list_tasks", json!({"project_id": project_id, "limit": 1}))
        .await;
    assert_eq!(titles(&first), ["Deploy"]);

    // Assignment.
    let assigned = server
        .call("assign_task", json!({"task_id": ids[1], "user_id": owner}))
        .await;
    assert_eq!(assigned["assignee"], owner.as_str());
    assert_eq!(assigned["assigned_by"], owner.as_str());
    let mine = server
        .call(
            "list_tasks",
            json!({"project_id": project_id, "assignee": owner}),
        )
        .await;
    assert_eq!(titles(&mine), ["Write copy"]);
    let stranger = "01930000-0000-7000-8000-0000000000aa";
    let refused = server
        .call_fails(
            "assign_task",
            json!({"task_id": ids[1], "user_id": stranger}),
        )
        .await;
    assert!(
        refused.contains(stranger) && refused.contains("list_workspaces"),
        "{refused}"
    );
    let unassigned = server
        .call("assign_task", json!({"task_id": ids[1], "user_id": null}))
        .await;
    assert!(unassigned["assignee"].is_null() && unassigned["assigned_at"].is_null());

    // Deleting a task removes its whole subtree in one go.
    let deleted = server.call("delete_task", json!({"task_id": ids[0]})).await;
    let mut removed: Vec<String> = deleted["deleted_ids"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|v| v.as_str().unwrap_or("").to_owned())
        .collect();
    removed.sort();
    let mut expected = vec![ids[0].clone(), sub_b.clone(), grandchild.clone()];
    expected.sort();
    assert_eq!(removed, expected);
    let gone = server
        .call_fails("get_task", json!({"task_id": grandchild}))
        .await;
    assert!(
        gone.contains(&grandchild) && gone.contains("not found"),
        "{gone}"
    );
    let after = server
        .call("list_tasks", json!({"project_id": project_id}))
        .await;
    assert_eq!(
        after["total"], 5,
        "four originals left plus the detached subtask"
    );

    // The board resource shows the columns.
    let board = server
        .read(&format!("kanban://projects/{project_id}/board"))
        .await
        .expect("board");
    assert!(board.starts_with("# Web"), "{board}");
    for heading in [
        "## To do (3)",
        "## In progress (1)",
        "## In review (1)",
        "## Done (0)",
        "## Cancelled (0)",
    ] {
        assert!(board.contains(heading), "missing {heading} in\n{board}");
    }
    assert!(board.contains("Write copy") && !board.contains("Design header"));
    let task_text = server
        .read(&format!("kanban://tasks/{}", ids[3]))
        .await
        .expect("task resource");
    assert!(task_text.contains("Add search") && task_text.contains("details of Add search"));
    server.stop().await;

    // Every mutation left exactly one audit row, written by the owner.
    assert_eq!(
        data.count(
            "SELECT COUNT(*) FROM audit_logs WHERE entity_type = 'task' AND action = 'create'"
        ),
        8
    );
    assert_eq!(
        data.count("SELECT COUNT(*) FROM audit_logs WHERE action = 'delete'"),
        1
    );
    assert_eq!(
        data.count("SELECT COUNT(*) FROM audit_logs WHERE action IN ('assign', 'unassign')"),
        2
    );
    assert_eq!(
        data.count(
            "SELECT COUNT(*) FROM audit_logs WHERE entity_type = 'task' AND action = 'update'"
        ),
        3,
        "the refused cycle wrote no audit row"
    );
    assert_eq!(
        data.count(&format!(
            "SELECT COUNT(*) FROM audit_logs WHERE user_id <> '{owner}'"
        )),
        0
    );
}

async fn resources_are_listed_and_templated(backend: Backend) {
    let data = DataDir::on(backend);
    let server = Server::in_process(&data, &[], &[]).await;
    let mut project_ids = Vec::new();
    for n in 0..60 {
        project_ids.push(server.project(&format!("project {n:02}")).await);
    }
    // list_all_resources follows next_cursor through every page.
    let resources = server
        .client
        .list_all_resources()
        .await
        .expect("resources/list");
    assert_eq!(resources.len(), 60);
    assert!(
        resources
            .iter()
            .all(|r| r.uri.starts_with("kanban://projects/") && r.uri.ends_with("/board"))
    );
    let first_page = server
        .client
        .list_resources(None)
        .await
        .expect("first page");
    assert_eq!(first_page.resources.len(), 50);
    assert!(first_page.next_cursor.is_some());

    let templates = server
        .client
        .list_all_resource_templates()
        .await
        .expect("templates");
    let uris: Vec<&str> = templates.iter().map(|t| t.uri_template.as_str()).collect();
    assert_eq!(
        uris,
        [
            "kanban://projects/{project_id}/board",
            "kanban://tasks/{task_id}",
            "kanban://tasks/{task_id}/activity",
            "kanban://sessions/{session_id}/log",
            "kanban://sessions/{session_id}/diff"
        ]
    );

    let missing = server
        .read("kanban://tasks/01930000-0000-7000-8000-000000000000")
        .await
        .expect_err("missing");
    assert!(missing.message.contains("not found"), "{missing:?}");
    let malformed = server
        .read("kanban://nothing/here")
        .await
        .expect_err("malformed");
    assert!(
        malformed.message.contains("kanban://nothing/here"),
        "{malformed:?}"
    );
    server.stop().await;
}

async fn board_command_prints_columns(backend: Backend) {
    let data = DataDir::on(backend);
    let server = Server::in_process(&data, &[], &[]).await;
    let project_id = server.project("Terminal").await;
    server.task(&project_id, "Plan the work", json!({})).await;
    server
        .task(&project_id, "Do the work", json!({"status": "inprogress"}))
        .await;
    server
        .task(&project_id, "Ship it", json!({"status": "done"}))
        .await;
    server.stop().await;

    for by in [project_id.as_str(), "terminal"] {
        let out = data.cli_ok(&["board", by, "--width", "20"]);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("Terminal"), "{out}");
        assert!(
            lines[2].starts_with("To do (1)") && lines[2].contains("In progress (1)"),
            "{out}"
        );
        let row = lines[4];
        assert!(
            row.contains("Plan the work") && row.contains("Do the work") && row.contains("Ship it"),
            "{out}"
        );
    }
    let unknown = data.cli(&["board", "nope"]);
    assert!(!unknown.status.success());
    let err = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        err.contains("no project named 'nope'") && err.contains("Terminal"),
        "{err}"
    );
}

/// list_projects pages in name order: `limit`, `next_cursor` until the last
/// page, and clear errors for a bad limit or cursor.
async fn projects_are_listed_in_pages(backend: Backend) {
    let data = DataDir::on(backend);
    let server = Server::in_process(&data, &[], &[]).await;
    // Names that share a prefix and contain the cursor's separator.
    for name in ["b: two", "a", "b", "b: one", "c"] {
        server.project(name).await;
    }
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut args = json!({"limit": 2});
        if let Some(cursor) = &cursor {
            args["cursor"] = json!(cursor);
        }
        let page = server.call("list_projects", args).await;
        pages += 1;
        for project in page["projects"].as_array().expect("projects") {
            names.push(project["name"].as_str().expect("name").to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(names, ["a", "b", "b: one", "b: two", "c"]);
    assert_eq!(pages, 3);
    let all = server.call("list_projects", json!({})).await;
    assert_eq!(all["projects"].as_array().expect("projects").len(), 5);
    assert!(all.get("next_cursor").is_none(), "{all}");

    let message = server
        .call_invalid("list_projects", json!({"limit": 0}))
        .await;
    assert!(message.contains("between 1 and 200"), "{message}");
    let message = server
        .call_invalid("list_projects", json!({"cursor": "not-a-cursor"}))
        .await;
    assert!(message.contains("next_cursor"), "{message}");
    server.stop().await;
}

on_both_stores!(
    projects_are_listed_in_pages,
    tool_catalogue_has_schemas_annotations_and_output_schemas,
    project_task_lifecycle,
    resources_are_listed_and_templated,
    board_command_prints_columns,
);

/// A task with more subtasks than get_task shows: the first 100 in board
/// order, the count of all, and list_tasks with parent_task_id for the rest.
#[tokio::test]
async fn many_subtasks_are_capped_and_counted() {
    let data = DataDir::new();
    let server = Server::in_process(&data, &[], &[]).await;
    let project_id = server.project("Big").await;
    let parent = server.task(&project_id, "Epic", json!({})).await;
    for i in 0..102 {
        server
            .task(
                &project_id,
                &format!("Step {i:03}"),
                json!({"parent_task_id": parent}),
            )
            .await;
    }
    let result = server
        .try_call("get_task", json!({"task_id": parent}))
        .await
        .expect("get_task");
    let text = common::text(&result);
    let detail = result.structured_content.expect("structured");
    assert_eq!(detail["subtasks"].as_array().expect("subtasks").len(), 100);
    assert_eq!(detail["subtask_count"], 102);
    assert_eq!(detail["subtasks"][0]["title"], "Step 000");
    assert!(text.contains("100 of 102"), "{text}");
    assert!(text.contains("parent_task_id"), "{text}");

    let mut seen = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut args = json!({"project_id": project_id, "parent_task_id": parent, "limit": 50});
        if let Some(c) = &cursor {
            args["cursor"] = json!(c);
        }
        let page = server.call("list_tasks", args).await;
        seen += page["tasks"].as_array().expect("tasks").len();
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, 102);
    server.stop().await;
}
