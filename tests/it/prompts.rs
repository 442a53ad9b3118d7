//! Prompt templates, MCP prompts and the offline enhancer through rmcp's
//! client on an in-process server: template tools and their errors, prompts/list
//! and prompts/get, completion, and enhance_prompt's cache and usage records.

use crate::common;

use common::{DataDir, Server};
use rmcp::{model::GetPromptRequestParams, service::ServiceError};
use serde_json::{Value, json};

async fn get_prompt(server: &Server, name: &str, args: Value) -> Result<String, rmcp::ErrorData> {
    let Value::Object(arguments) = args else {
        panic!("arguments must be an object")
    };
    match server
        .client
        .get_prompt(GetPromptRequestParams::new(name).with_arguments(arguments))
        .await
    {
        Ok(result) => Ok(result
            .messages
            .iter()
            .map(|m| match m.content.as_text() {
                Some(text) => text.text.clone(),
                None => panic!("unexpected content {:?}", m.content),
            })
            .collect()),
        Err(ServiceError::McpError(error)) => Err(error),
        Err(other) => panic!("prompts/get {name}: transport failure: {other}"),
    }
}

#[tokio::test]
async fn builtin_and_workspace_templates_are_tools_and_prompts() {
    let data = DataDir::new();
    let server = Server::in_process(&data, &[], &[]).await;

    let listed = server.call("list_prompt_templates", json!({})).await;
    let names: Vec<&str> = listed["templates"]
        .as_array()
        .expect("templates")
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        ["implement-task", "write-tests", "review-change", "fix-bug"]
    );
    assert_eq!(
        data.count("SELECT COUNT(*) FROM prompt_templates"),
        0,
        "built-ins need no row"
    );

    let created = server
        .call(
            "create_prompt_template",
            json!({
                "name": "release-notes",
                "description": "Release notes for a version",
                "template": "Write release notes for {{version}}.\nAudience: {{audience}}\n{{task}}",
                "arguments": [
                    {"name": "version", "description": "The version, e.g. 1.4.0"},
                    {"name": "audience", "description": "Who reads them", "required": false,
                     "suggestions": ["users", "operators"]}
                ]
            }),
        )
        .await;
    assert_eq!(created["source"], "workspace");
    let args: Vec<(String, bool)> = created["arguments"]
        .as_array()
        .expect("arguments")
        .iter()
        .map(|a| {
            (
                a["name"].as_str().expect("name").to_owned(),
                a["required"].as_bool().expect("required"),
            )
        })
        .collect();
    assert_eq!(
        args,
        [
            ("version".to_owned(), true),
            ("audience".to_owned(), false),
            ("task_id".to_owned(), true)
        ],
        "{{{{task}}}} adds a required task_id"
    );
    assert_eq!(
        data.count(
            "SELECT COUNT(*) FROM audit_logs WHERE entity_type = 'prompt_template' AND action = 'create'"
        ),
        1
    );

    // It is an MCP prompt, with its arguments.
    let prompts = server
        .client
        .list_all_prompts()
        .await
        .expect("prompts/list");
    let release = prompts
        .iter()
        .find(|p| p.name == "release-notes")
        .expect("release-notes is a prompt");
    let prompt_args = release.arguments.as_ref().expect("arguments");
    assert_eq!(prompt_args.len(), 3);
    assert_eq!(prompt_args[1].required, Some(false));
    assert!(
        prompts
            .iter()
            .any(|p| p.name == "fix-bug" && p.title.as_deref() == Some("Fix bug"))
    );

    // Rendering with a task: context placeholders come from the task.
    let project = server.project("Shop").await;
    server
        .call(
            "update_project",
            json!({"project_id": project, "repo_path": "/srv/shop"}),
        )
        .await;
    let task = server
        .task(
            &project,
            "Checkout total is wrong",
            json!({"description": "VAT is added twice for EU orders."}),
        )
        .await;
    server
        .task(
            &project,
            "Reproduce with a EU cart",
            json!({"parent_task_id": task}),
        )
        .await;
    let text = get_prompt(
        &server,
        "release-notes",
        json!({"version": "1.4.0", "task_id": task}),
    )
    .await
    .expect("rendered");
    assert!(
        text.starts_with(
            "Write release notes for 1.4.0.\nTask: Checkout total is wrong (status todo"
        ),
        "{text}"
    );
    assert!(
        !text.contains("Audience"),
        "an empty optional line is left out: {text}"
    );
    assert!(
        text.contains("VAT is added twice") && text.contains("- [todo] Reproduce with a EU cart"),
        "{text}"
    );

    let text = get_prompt(&server, "implement-task", json!({"task_id": task}))
        .await
        .expect("built-in renders");
    assert!(
        text.contains("Project: Shop\nRepository: /srv/shop"),
        "{text}"
    );
    assert!(!text.contains("Notes:"), "{text}");

    // Missing, unknown and bad arguments are -32602 errors that say what to do.
    let missing = get_prompt(&server, "release-notes", json!({"task_id": task}))
        .await
        .expect_err("version is required");
    assert_eq!(missing.code.0, -32602);
    assert!(missing.message.contains("`version`"), "{}", missing.message);
    let missing = get_prompt(&server, "fix-bug", json!({}))
        .await
        .expect_err("symptom is required");
    assert!(
        missing
            .message
            .contains("prompt 'fix-bug' needs the argument `symptom`"),
        "{}",
        missing.message
    );
    let unknown = get_prompt(
        &server,
        "fix-bug",
        json!({"symptom": "x", "severity": "high"}),
    )
    .await
    .expect_err("unknown argument");
    assert!(
        unknown.message.contains("`severity`"),
        "{}",
        unknown.message
    );
    let no_task = get_prompt(
        &server,
        "implement-task",
        json!({"task_id": "01930000-0000-7000-8000-000000000000"}),
    )
    .await
    .expect_err("unknown task");
    assert!(
        no_task
            .message
            .contains("01930000-0000-7000-8000-000000000000 not found"),
        "{}",
        no_task.message
    );
    let bad_id = get_prompt(&server, "implement-task", json!({"task_id": "checkout"}))
        .await
        .expect_err("not a uuid");
    assert!(bad_id.message.contains("task_id"), "{}", bad_id.message);
    let nope = get_prompt(&server, "no-such-prompt", json!({}))
        .await
        .expect_err("unknown prompt");
    assert!(
        nope.message.contains("list_prompt_templates"),
        "{}",
        nope.message
    );

    // Completion: task ids, task titles, declared suggestions.
    let ids = server
        .client
        .complete_prompt_argument("implement-task", "task_id", "checkout", None)
        .await
        .expect("completion");
    assert_eq!(ids.values, vec![task.clone()]);
    let prefix = &task[..8];
    let ids = server
        .client
        .complete_prompt_argument("implement-task", "task_id", prefix, None)
        .await
        .expect("completion");
    assert!(ids.values.contains(&task), "{:?}", ids.values);
    let titles = server
        .client
        .complete_prompt_argument("fix-bug", "symptom", "Check", None)
        .await
        .expect("completion");
    assert_eq!(titles.values, ["Checkout total is wrong"]);
    let audience = server
        .client
        .complete_prompt_argument("release-notes", "audience", "op", None)
        .await
        .expect("completion");
    assert_eq!(audience.values, ["operators"]);
    let boards = server
        .client
        .complete_resource_argument(
            "kanban://projects/{project_id}/board",
            "project_id",
            "sh",
            None,
        )
        .await
        .expect("completion");
    assert_eq!(boards.values, vec![project.clone()]);

    // Update, rename and delete; the prompt follows.
    let updated = server
        .call(
            "update_prompt_template",
            json!({"name": "release-notes", "new_name": "changelog", "template": "Changelog for {{version}}"}),
        )
        .await;
    assert_eq!(updated["name"], "changelog");
    let names: Vec<&str> = updated["arguments"]
        .as_array()
        .expect("arguments")
        .iter()
        .map(|a| a["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["version"], "arguments follow the new text");
    let text = get_prompt(&server, "changelog", json!({"version": "2.0"}))
        .await
        .expect("renamed prompt");
    assert_eq!(text, "Changelog for 2.0");
    let deleted = server
        .call("delete_prompt_template", json!({"name": "changelog"}))
        .await;
    assert_eq!(deleted["name"], "changelog");
    let prompts = server
        .client
        .list_all_prompts()
        .await
        .expect("prompts/list");
    assert_eq!(prompts.len(), 4, "only the built-ins are left");
    server.stop().await;
}

#[tokio::test]
async fn template_errors_are_clear_and_change_nothing() {
    let data = DataDir::new();
    let server = Server::in_process(&data, &[], &[]).await;
    let reserved = server
        .call_invalid(
            "create_prompt_template",
            json!({"name": "fix-bug", "template": "mine {{x}}"}),
        )
        .await;
    assert!(reserved.contains("built-in"), "{reserved}");
    let bad_name = server
        .call_invalid(
            "create_prompt_template",
            json!({"name": "My Template", "template": "x"}),
        )
        .await;
    assert!(bad_name.contains("lowercase"), "{bad_name}");
    let unused = server
        .call_invalid(
            "create_prompt_template",
            json!({"name": "t", "template": "Hello {{who}}", "arguments": [{"name": "whom"}]}),
        )
        .await;
    assert!(unused.contains("never uses {{whom}}"), "{unused}");
    let empty = server
        .call_invalid(
            "create_prompt_template",
            json!({"name": "t", "template": "   "}),
        )
        .await;
    assert!(empty.contains("`template`"), "{empty}");

    server
        .call(
            "create_prompt_template",
            json!({"name": "greet", "template": "Hello {{who}}"}),
        )
        .await;
    let duplicate = server
        .call_fails(
            "create_prompt_template",
            json!({"name": "greet", "template": "Hi {{who}}"}),
        )
        .await;
    assert!(duplicate.contains("already exists"), "{duplicate}");
    server
        .call(
            "create_prompt_template",
            json!({"name": "wave", "template": "Wave at {{who}}"}),
        )
        .await;
    let taken = server
        .call_fails(
            "update_prompt_template",
            json!({"name": "wave", "new_name": "greet"}),
        )
        .await;
    assert!(taken.contains("already exists"), "{taken}");
    let builtin = server
        .call_invalid(
            "update_prompt_template",
            json!({"name": "implement-task", "description": "mine"}),
        )
        .await;
    assert!(builtin.contains("built-in"), "{builtin}");
    let builtin = server
        .call_invalid("delete_prompt_template", json!({"name": "write-tests"}))
        .await;
    assert!(builtin.contains("built-in"), "{builtin}");
    let missing = server
        .call_fails("delete_prompt_template", json!({"name": "nothing-here"}))
        .await;
    assert!(
        missing.contains("'nothing-here' not found") && missing.contains("list_prompt_templates"),
        "{missing}"
    );
    let nothing = server
        .call_invalid("update_prompt_template", json!({"name": "greet"}))
        .await;
    assert!(nothing.contains("nothing to update"), "{nothing}");
    assert_eq!(
        data.count("SELECT COUNT(*) FROM prompt_templates"),
        2,
        "only greet and wave were stored"
    );

    // Another workspace sees neither the templates nor the prompts.
    data.create_workspace("other", "other@example.com");
    let key = data.create_key("other", "k", "read,write");
    let other = Server::in_process(&data, &[], &[("VK_API_KEY", &key)]).await;
    let prompts = other.client.list_all_prompts().await.expect("prompts/list");
    assert_eq!(prompts.len(), 4, "{prompts:?}");
    let gone = other
        .call_fails("delete_prompt_template", json!({"name": "greet"}))
        .await;
    assert!(gone.contains("not found"), "{gone}");
    other.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn offline_enhancement_is_cached_and_recorded() {
    let data = DataDir::new();
    let server = Server::in_process(&data, &[], &[]).await;
    let project = server.project("Accounts").await;
    let task = server
        .task(
            &project,
            "Login crashes on empty password",
            json!({"description": "Submitting the form with an empty password gives a 500."}),
        )
        .await;

    let first = server
        .call(
            "enhance_prompt",
            json!({"prompt": "pls fix this, don't change the API", "task_id": task}),
        )
        .await;
    assert_eq!(first["provider"], "offline");
    assert_eq!(first["model"], "structured-v1");
    assert_eq!(first["cached"], false);
    let text = first["enhanced_prompt"].as_str().expect("text");
    assert!(text.starts_with("## Goal\nFix this.\n"), "{text}");
    assert!(
        text.contains("- Task: Login crashes on empty password (status todo"),
        "{text}"
    );
    assert!(text.contains("- Don't change the API."), "{text}");
    assert!(
        text.contains("fails before the fix"),
        "bug criteria: {text}"
    );
    assert_eq!(
        data.count("SELECT COUNT(*) FROM usage_records WHERE kind = 'enhance_prompt' AND provider = 'offline'"),
        1
    );

    let again = server
        .call(
            "enhance_prompt",
            json!({"prompt": "pls fix this, don't change the API", "task_id": task}),
        )
        .await;
    assert_eq!(again["cached"], true);
    assert_eq!(again["enhanced_prompt"], first["enhanced_prompt"]);
    assert_eq!(
        data.count("SELECT COUNT(*) FROM usage_records"),
        1,
        "a cache hit writes nothing"
    );

    // A changed task is a different input: the cache does not answer.
    server
        .call(
            "update_task",
            json!({"task_id": task, "description": "Empty password gives a 500; the log shows a None unwrap."}),
        )
        .await;
    let changed = server
        .call(
            "enhance_prompt",
            json!({"prompt": "pls fix this, don't change the API", "task_id": task}),
        )
        .await;
    assert_eq!(changed["cached"], false);
    assert!(
        changed["enhanced_prompt"]
            .as_str()
            .expect("text")
            .contains("None unwrap")
    );
    let refreshed = server
        .call(
            "enhance_prompt",
            json!({"prompt": "pls fix this, don't change the API", "task_id": task, "refresh": true}),
        )
        .await;
    assert_eq!(refreshed["cached"], false);
    assert_eq!(data.count("SELECT COUNT(*) FROM usage_records"), 3);
    assert_eq!(
        data.count("SELECT COUNT(*) FROM prompt_cache"),
        1,
        "one key, replaced"
    );

    // A built-in template sets the kind of work; `prompt` fills its argument.
    let tests = server
        .call(
            "enhance_prompt",
            json!({"template": "write-tests", "prompt": "the password validator", "task_id": task,
                   "arguments": {"framework": "pytest"}}),
        )
        .await;
    let text = tests["enhanced_prompt"].as_str().expect("text");
    assert!(
        text.starts_with("## Goal\nWrite tests for: the password validator.\n"),
        "{text}"
    );
    assert!(
        text.contains("\n- Framework: pytest\n"),
        "other arguments are context: {text}"
    );
    assert_eq!(tests["template"], "write-tests");

    // Errors.
    let nothing = server.call_invalid("enhance_prompt", json!({})).await;
    assert!(
        nothing.contains("`prompt`") && nothing.contains("`task_id`"),
        "{nothing}"
    );
    let missing = server
        .call_invalid("enhance_prompt", json!({"template": "review-change"}))
        .await;
    assert!(missing.contains("`change`"), "{missing}");
    let unknown = server
        .call_fails("enhance_prompt", json!({"prompt": "x", "template": "nope"}))
        .await;
    assert!(unknown.contains("'nope' not found"), "{unknown}");
    let no_task = server
        .call_fails(
            "enhance_prompt",
            json!({"prompt": "x", "task_id": "01930000-0000-7000-8000-000000000000"}),
        )
        .await;
    assert!(no_task.contains("not found"), "{no_task}");
    let model = server
        .call_invalid("enhance_prompt", json!({"prompt": "x", "model": "gpt-4o"}))
        .await;
    assert!(model.contains("offline enhancer has no models"), "{model}");
    let provider = server
        .call_fails(
            "enhance_prompt",
            json!({"prompt": "x", "provider": "anthropic"}),
        )
        .await;
    assert!(provider.contains("ANTHROPIC_API_KEY"), "{provider}");
    let bad_provider = server
        .call_invalid("enhance_prompt", json!({"prompt": "x", "provider": "gpt"}))
        .await;
    assert!(bad_provider.contains("provider"), "{bad_provider}");
    server.stop().await;
}

#[tokio::test]
async fn read_only_keys_can_enhance_but_not_change_templates() {
    let data = DataDir::new();
    data.cli_ok(&["migrate"]);
    let key = data.create_key("default", "reader", "read");
    let server = Server::in_process(&data, &[], &[("VK_API_KEY", &key)]).await;
    let names: Vec<String> = server
        .tools()
        .await
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    assert!(names.contains(&"enhance_prompt".to_owned()), "{names:?}");
    assert!(
        names.contains(&"list_prompt_templates".to_owned()),
        "{names:?}"
    );
    assert!(
        !names.contains(&"create_prompt_template".to_owned()),
        "{names:?}"
    );
    let enhanced = server
        .call(
            "enhance_prompt",
            json!({"prompt": "add a dark mode toggle"}),
        )
        .await;
    assert!(
        enhanced["enhanced_prompt"]
            .as_str()
            .expect("text")
            .starts_with("## Goal\nAdd a dark mode toggle.\n")
    );
    server.stop().await;
}
