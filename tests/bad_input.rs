//! Bad input gets a clear error and loses nothing: unknown tools, wrong
//! types, missing fields, invalid ids and statuses, oversized text.

mod common;

use common::{Backend, DataDir, Server, titles};
use serde_json::json;

const MISSING: &str = "01930000-0000-7000-8000-000000000000";

async fn malformed_arguments_are_invalid_params_naming_the_field(backend: Backend) {
    let data = DataDir::on(backend);
    let server = Server::start(&data, &[], &[]).await;
    let project_id = server.project("Inputs").await;

    let unknown = server.call_invalid("make_coffee", json!({})).await;
    assert!(
        unknown.contains("make_coffee") && unknown.contains("tools/list"),
        "{unknown}"
    );

    let cases = [
        ("create_task", json!({"project_id": project_id}), "title"),
        (
            "create_task",
            json!({"project_id": project_id, "title": 42}),
            "title",
        ),
        (
            "create_task",
            json!({"project_id": "not-a-uuid", "title": "x"}),
            "project_id",
        ),
        (
            "create_task",
            json!({"project_id": project_id, "title": "x", "status": "doing"}),
            "status",
        ),
        (
            "create_task",
            json!({"project_id": project_id, "title": "x", "colour": "red"}),
            "colour",
        ),
        (
            "create_task",
            json!({"project_id": project_id, "title": "   "}),
            "title",
        ),
        (
            "update_task",
            json!({"task_id": MISSING}),
            "nothing to update",
        ),
        (
            "update_task",
            json!({"task_id": MISSING, "position": "first"}),
            "position",
        ),
        (
            "list_tasks",
            json!({"project_id": project_id, "limit": 0}),
            "limit",
        ),
        (
            "list_tasks",
            json!({"project_id": project_id, "limit": 201}),
            "limit",
        ),
        (
            "list_tasks",
            json!({"project_id": project_id, "limit": -3}),
            "limit",
        ),
        (
            "list_tasks",
            json!({"project_id": project_id, "cursor": "abc"}),
            "cursor",
        ),
        (
            "list_tasks",
            json!({"project_id": project_id, "status": ["todo", "later"]}),
            "status",
        ),
        ("get_task", json!({}), "task_id"),
        ("get_task", json!({"task_id": ["a"]}), "task_id"),
        ("assign_task", json!({"task_id": MISSING}), "user_id"),
        (
            "assign_task",
            json!({"task_id": MISSING, "user_id": "bob"}),
            "user_id",
        ),
        ("create_project", json!({"name": ""}), "name"),
        (
            "update_project",
            json!({"project_id": project_id}),
            "nothing to update",
        ),
    ];
    for (tool, args, field) in cases {
        let message = server.call_invalid(tool, args.clone()).await;
        assert!(
            message.contains(field),
            "{tool}({args}): message should name `{field}`: {message}"
        );
        assert!(
            message.contains(tool),
            "{tool}({args}): message should name the tool: {message}"
        );
    }
    server.stop().await;
    assert_eq!(
        data.count("SELECT COUNT(*) FROM tasks"),
        0,
        "nothing was written"
    );
}

async fn a_one_megabyte_title_is_refused_and_nothing_is_written(backend: Backend) {
    let data = DataDir::on(backend);
    let server = Server::start(&data, &[], &[]).await;
    let project_id = server.project("Big").await;
    let task_id = server.task(&project_id, "small", json!({})).await;
    let audit_before = data.count("SELECT COUNT(*) FROM audit_logs");

    let huge = "x".repeat(1024 * 1024);
    let message = server
        .call_invalid(
            "create_task",
            json!({"project_id": project_id, "title": huge}),
        )
        .await;
    assert!(
        message.contains("title") && message.contains("1048576") && message.contains("500"),
        "{message}"
    );
    let message = server
        .call_invalid("update_task", json!({"task_id": task_id, "title": huge}))
        .await;
    assert!(message.contains("title"), "{message}");
    let huge_description = "y".repeat(100_001);
    let message = server
        .call_invalid(
            "create_task",
            json!({"project_id": project_id, "title": "ok", "description": huge_description}),
        )
        .await;
    assert!(
        message.contains("description") && message.contains("100000"),
        "{message}"
    );

    // The server is still healthy and the data unchanged.
    let page = server
        .call("list_tasks", json!({"project_id": project_id}))
        .await;
    assert_eq!(titles(&page), ["small"]);
    server.stop().await;
    assert_eq!(data.count("SELECT COUNT(*) FROM tasks"), 1);
    assert_eq!(data.count("SELECT COUNT(*) FROM audit_logs"), audit_before);
}

async fn unknown_ids_are_tool_errors_that_say_what_to_do(backend: Backend) {
    let data = DataDir::on(backend);
    let server = Server::start(&data, &[], &[]).await;
    let project_id = server.project("Ids").await;
    let task_id = server.task(&project_id, "real", json!({})).await;

    let cases = [
        (
            "get_project",
            json!({"project_id": MISSING}),
            "list_projects",
        ),
        (
            "update_project",
            json!({"project_id": MISSING, "name": "x"}),
            "list_projects",
        ),
        (
            "list_tasks",
            json!({"project_id": MISSING}),
            "list_projects",
        ),
        (
            "create_task",
            json!({"project_id": MISSING, "title": "x"}),
            "list_projects",
        ),
        ("get_task", json!({"task_id": MISSING}), "list_tasks"),
        (
            "update_task",
            json!({"task_id": MISSING, "status": "done"}),
            "list_tasks",
        ),
        ("delete_task", json!({"task_id": MISSING}), "list_tasks"),
        (
            "assign_task",
            json!({"task_id": MISSING, "user_id": null}),
            "list_tasks",
        ),
    ];
    for (tool, args, hint) in cases {
        let message = server.call_fails(tool, args.clone()).await;
        assert!(message.contains(MISSING), "{tool}: names the id: {message}");
        assert!(
            message.contains("not found in workspace 'Default'"),
            "{tool}: {message}"
        );
        assert!(message.contains(hint), "{tool}: says what to do: {message}");
    }

    let message = server
        .call_fails(
            "create_task",
            json!({"project_id": project_id, "title": "x", "parent_task_id": MISSING}),
        )
        .await;
    assert!(
        message.contains(MISSING) && message.contains("same project"),
        "{message}"
    );
    let other_project = server.project("Elsewhere").await;
    let message = server
        .call_fails(
            "create_task",
            json!({"project_id": other_project, "title": "x", "parent_task_id": task_id}),
        )
        .await;
    assert!(message.contains("same project"), "{message}");
    let message = server
        .call_fails("create_project", json!({"name": "Ids"}))
        .await;
    assert!(message.contains("already exists"), "{message}");
    let message = server
        .call_fails(
            "update_project",
            json!({"project_id": other_project, "name": "Ids"}),
        )
        .await;
    assert!(message.contains("already exists"), "{message}");
    server.stop().await;
    assert_eq!(
        data.count("SELECT COUNT(*) FROM tasks"),
        1,
        "no failed call wrote a task"
    );
    assert_eq!(data.count("SELECT COUNT(*) FROM projects"), 2);
}

async fn arguments_sent_as_json_text_are_accepted(backend: Backend) {
    let data = DataDir::on(backend);
    let server = Server::start(&data, &[], &[]).await;
    let project_id = server.project("Strings").await;
    server
        .task(&project_id, "a", json!({"status": "done"}))
        .await;
    server.task(&project_id, "b", json!({})).await;
    // A client bug some hosts have: arrays and numbers arrive as JSON text.
    let page = server
        .call(
            "list_tasks",
            json!({"project_id": project_id, "status": "[\"done\"]", "limit": "10"}),
        )
        .await;
    assert_eq!(titles(&page), ["a"]);
    // A title that merely looks like JSON stays text.
    let task = server
        .call(
            "create_task",
            json!({"project_id": project_id, "title": "[not json]"}),
        )
        .await;
    assert_eq!(task["title"], "[not json]");
    server.stop().await;
}

on_both_stores!(
    malformed_arguments_are_invalid_params_naming_the_field,
    a_one_megabyte_title_is_refused_and_nothing_is_written,
    unknown_ids_are_tool_errors_that_say_what_to_do,
    arguments_sent_as_json_text_are_accepted,
);
