//! Workspace isolation: every tool (driven from tools/list), every resource
//! URI form (from resources/templates/list), prompts/get and
//! completion/complete, called by workspace B with ids that belong to
//! workspace A, answer exactly as for ids that do not exist — no data, no
//! hint. Leaks are counted over all checks and must be zero.

use crate::common;

use common::{Backend, DataDir, Server, id};
use serde_json::{Value, json};

/// Builds a tool's arguments around one id (or name).
type ArgsFor<'a> = Box<dyn Fn(&str) -> Value + 'a>;

const NOWHERE: &str = "01930000-0000-7000-8000-00000000beef";
/// A prompt template name that exists nowhere.
const NO_TEMPLATE: &str = "no-such-brief";
/// A's prompt template.
const A_TEMPLATE: &str = "secret-brief";

/// How workspace B probes a tool.
enum Probe<'a> {
    /// The call with A's id (or name) and with one that exists nowhere must
    /// answer the same, once the id is swapped in the text.
    Swap {
        args: ArgsFor<'a>,
        foreign: String,
        nowhere: &'static str,
    },
    /// A call without A's ids: its answer must show nothing of A.
    Blind(Value),
    /// A call with a name A uses, which is free in B: it must succeed.
    Free(Value),
}

/// What a call answered, in one text: the result (success or tool error) or
/// the JSON-RPC error.
async fn answer(server: &Server, tool: &str, args: Value) -> String {
    match server.try_call(tool, args).await {
        Ok(result) => format!(
            "{} {} {}",
            if result.is_error == Some(true) {
                "error"
            } else {
                "ok"
            },
            common::text(&result),
            result.structured_content.unwrap_or_default()
        ),
        Err(error) => format!("rpc {}: {}", error.code.0, error.message),
    }
}

/// Counts checks and the leaks among them.
#[derive(Default)]
struct Audit {
    checks: usize,
    leaks: Vec<String>,
    markers: Vec<String>,
}

impl Audit {
    /// `text` shows nothing of workspace A.
    fn blind(&mut self, what: &str, text: &str) {
        self.checks += 1;
        if let Some(marker) = self.markers.iter().find(|m| text.contains(m.as_str())) {
            self.leaks
                .push(format!("{what} shows A's '{marker}': {text}"));
        }
    }

    /// A's id and an id from nowhere got the same answer.
    fn same(
        &mut self,
        what: &str,
        foreign: &str,
        nowhere: &str,
        with_foreign: &str,
        with_nowhere: &str,
    ) {
        self.checks += 1;
        if with_foreign.replace(foreign, nowhere) != with_nowhere {
            self.leaks.push(format!(
                "{what}: A's id answers '{with_foreign}', an id from nowhere '{with_nowhere}'"
            ));
        }
        self.blind(what, &with_foreign.replace(foreign, nowhere));
    }
}

async fn another_workspaces_ids_are_not_found_everywhere(backend: Backend) {
    let data = DataDir::on(backend);
    // Workspace A (the local default) with a project, a task, a subtask, an
    // agent session and a prompt template.
    let sessions_config = common::sessions::config(&data, "", "");
    let config_arg = ["--config", sessions_config.to_str().expect("utf-8 path")];
    let owner_a = Server::in_process(&data, &config_arg, &[]).await;
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
    let session_a = id(&owner_a
        .call(
            "start_session",
            json!({"task_id": task_a, "prompt": "Secret prompt"}),
        )
        .await);
    common::sessions::wait_finished(&owner_a, &session_a).await;
    owner_a
        .call(
            "create_prompt_template",
            json!({"name": A_TEMPLATE, "description": "classified brief", "template": "Secret {{topic}}"}),
        )
        .await;
    let comment_a = id(&owner_a
        .call(
            "add_comment",
            json!({"task_id": task_a, "body": "classified comment"}),
        )
        .await);
    let user_a =
        owner_a.call("list_workspaces", json!({})).await["workspaces"][0]["members"][0]["user_id"]
            .as_str()
            .expect("user")
            .to_owned();
    owner_a.stop().await;
    // A's API key (its id), which B must not find or revoke.
    data.create_key("default", "a-secret-key", "read");
    let key_a = data.rows(
        "SELECT id FROM mcp_api_keys WHERE name = 'a-secret-key'",
        &[],
    )[0][0]
        .as_str()
        .expect("key id")
        .to_owned();
    // A permission request of A's agent (as the approval server records it).
    let approval_a = "0193a000-0000-7000-8000-0000000000a2";
    data.rows(
        "INSERT INTO session_approvals (id, session_id, workspace_id, tool_name, input, requested_at, expires_at) \
         SELECT ?1, id, workspace_id, 'Write', '{\"secret\":\"do not leak\"}', '2026-01-01T00:00:00.000Z', \
                '2999-01-01T00:00:00.000Z' FROM workspace_sessions WHERE id = ?2",
        &[json!(approval_a), json!(session_a)],
    );

    // Workspace B, reached through its own key; admin, so every tool is listed.
    data.create_workspace("beta", "b@example.com");
    let key_b = data.create_key("beta", "b-agent", "admin");
    let b = Server::in_process(&data, &["--no-runner"], &[("VK_API_KEY", &key_b)]).await;
    let project_b = b.project("B project").await;
    let task_b = b.task(&project_b, "B task", json!({})).await;

    // B sees only B.
    let workspaces = b.call("list_workspaces", json!({})).await;
    assert_eq!(workspaces["workspaces"].as_array().map(Vec::len), Some(1));
    assert_eq!(workspaces["workspaces"][0]["slug"], "beta");

    let mut audit = Audit {
        markers: [
            project_a.as_str(),
            task_a.as_str(),
            sub_a.as_str(),
            session_a.as_str(),
            approval_a,
            comment_a.as_str(),
            user_a.as_str(),
            key_a.as_str(),
            "a-secret-key",
            "Secret task",
            "Secret subtask",
            "Secret prompt",
            "classified",
            "do not leak",
            A_TEMPLATE,
        ]
        .iter()
        .map(|m| (*m).to_owned())
        .collect(),
        ..Audit::default()
    };

    // Every tool B is offered, driven from tools/list: a new tool without a
    // probe here fails the test.
    let swap = |args: ArgsFor<'static>, foreign: &str| Probe::Swap {
        args,
        foreign: foreign.to_owned(),
        nowhere: NOWHERE,
    };
    let tasks =
        |args: fn(&str) -> Value| vec![swap(Box::new(args), &task_a), swap(Box::new(args), &sub_a)];
    let template = |args: fn(&str) -> Value| Probe::Swap {
        args: Box::new(args),
        foreign: A_TEMPLATE.to_owned(),
        nowhere: NO_TEMPLATE,
    };
    let listed = b.tools().await;
    assert!(
        listed.len() >= 22,
        "an admin key is offered every tool: {}",
        listed.len()
    );
    let mut probed = 0;
    for tool in &listed {
        let name = tool.name.as_ref();
        let probes: Vec<Probe> = match name {
            "list_workspaces"
            | "list_projects"
            | "list_prompt_templates"
            | "list_members"
            | "sync_pull_requests" => {
                vec![Probe::Blind(json!({}))]
            }
            "get_project" => vec![swap(Box::new(|p| json!({"project_id": p})), &project_a)],
            "update_project" => vec![swap(
                Box::new(|p| json!({"project_id": p, "description": "hijacked"})),
                &project_a,
            )],
            // A name A uses is free in B: creating it shows nothing of A.
            "create_project" => vec![Probe::Free(json!({"name": "Secret plans"}))],
            "list_tasks" => vec![swap(Box::new(|p| json!({"project_id": p})), &project_a)],
            "show_board" => vec![swap(Box::new(|p| json!({"project_id": p})), &project_a)],
            "create_task" => vec![swap(
                Box::new(|p| json!({"project_id": p, "title": "planted"})),
                &project_a,
            )],
            "get_task" => tasks(|t| json!({"task_id": t})),
            "update_task" => tasks(|t| json!({"task_id": t, "status": "done"})),
            "delete_task" => tasks(|t| json!({"task_id": t})),
            "assign_task" => tasks(|t| json!({"task_id": t, "user_id": null})),
            "start_session" => tasks(|t| json!({"task_id": t})),
            "list_sessions" => {
                let mut probes = tasks(|t| json!({"task_id": t}));
                probes.push(Probe::Blind(json!({})));
                probes
            }
            "get_session"
            | "stop_session"
            | "read_execution_log"
            | "get_session_diff"
            | "archive_session"
            | "merge_session"
            | "create_pull_request" => {
                vec![swap(Box::new(|s| json!({"session_id": s})), &session_a)]
            }
            // Bounded, should it ever find A's session and wait on it.
            "wait_for_session" => vec![swap(
                Box::new(|s| json!({"session_id": s, "timeout_secs": 1})),
                &session_a,
            )],
            "list_approvals" => vec![
                swap(Box::new(|s| json!({"session_id": s})), &session_a),
                Probe::Blind(json!({"status": []})),
            ],
            "respond_to_approval" => vec![swap(
                Box::new(|a| json!({"approval_id": a, "decision": "allow"})),
                approval_a,
            )],
            "send_follow_up" => vec![swap(
                Box::new(|s| json!({"session_id": s, "prompt": "planted"})),
                &session_a,
            )],
            "enhance_prompt" => tasks(|t| json!({"prompt": "x", "task_id": t})),
            "update_prompt_template" => {
                vec![template(|n| json!({"name": n, "description": "hijacked"}))]
            }
            "delete_prompt_template" => vec![template(|n| json!({"name": n}))],
            // Run last (below): afterwards B has a template of that name.
            "create_prompt_template" => Vec::new(),
            "add_member" => vec![Probe::Free(
                json!({"email": "newcomer@example.com", "role": "member"}),
            )],
            "update_member_role" => vec![swap(
                Box::new(|u| json!({"member": u, "role": "viewer"})),
                &user_a,
            )],
            "remove_member" => vec![swap(Box::new(|u| json!({"member": u})), &user_a)],
            "create_api_key" => vec![swap(
                Box::new(|u| json!({"member": u, "name": "planted", "scopes": "read"})),
                &user_a,
            )],
            "revoke_api_key" => vec![swap(Box::new(|k| json!({"key": k})), &key_a)],
            "add_comment" => tasks(|t| json!({"task_id": t, "body": "planted"})),
            "list_comments" => tasks(|t| json!({"task_id": t})),
            "update_comment" => vec![swap(
                Box::new(|c| json!({"comment_id": c, "body": "hijacked"})),
                &comment_a,
            )],
            "delete_comment" => vec![swap(Box::new(|c| json!({"comment_id": c})), &comment_a)],
            "list_activity" => {
                let mut probes = tasks(|t| json!({"task_id": t}));
                probes.push(swap(Box::new(|p| json!({"project_id": p})), &project_a));
                probes.push(Probe::Blind(json!({"limit": 200})));
                probes
            }
            other => panic!("{other} has no isolation probe; add one to tests/it/isolation.rs"),
        };
        for probe in probes {
            match probe {
                Probe::Swap {
                    args,
                    foreign,
                    nowhere,
                } => {
                    let with_foreign = answer(&b, name, args(&foreign)).await;
                    let with_nowhere = answer(&b, name, args(nowhere)).await;
                    audit.same(name, &foreign, nowhere, &with_foreign, &with_nowhere);
                }
                Probe::Blind(args) => {
                    let text = answer(&b, name, args).await;
                    audit.blind(name, &text);
                }
                Probe::Free(args) => {
                    let text = answer(&b, name, args).await;
                    assert!(
                        text.starts_with("ok"),
                        "{name}: a name A uses is free in B: {text}"
                    );
                    audit.blind(name, &text);
                }
            }
        }
        probed += 1;
    }
    assert_eq!(probed, listed.len());
    // A's key still works for A.
    assert_eq!(
        data.count(&format!(
            "SELECT COUNT(*) FROM mcp_api_keys WHERE id = '{key_a}' AND revoked_at IS NULL"
        )),
        1
    );
    // A's approval is still waiting for A.
    assert_eq!(
        data.rows(
            "SELECT status, responded_by FROM session_approvals WHERE id = ?1",
            &[json!(approval_a)]
        ),
        vec![vec![json!("pending"), Value::Null]]
    );

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
        let with_foreign = answer(&b, tool, args(foreign_id)).await;
        let with_nowhere = answer(&b, tool, args(NOWHERE)).await;
        assert!(with_foreign.starts_with("error"), "{tool}: {with_foreign}");
        audit.same(tool, foreign_id, NOWHERE, &with_foreign, &with_nowhere);
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

    // Every resource URI form, driven from resources/templates/list.
    let templates = b
        .client
        .list_all_resource_templates()
        .await
        .expect("resources/templates/list");
    assert!(templates.len() >= 3, "{templates:?}");
    for template in &templates {
        let form = template.uri_template.as_str();
        let foreign_id = if form.contains("{project_id}") {
            &project_a
        } else if form.contains("{task_id}") {
            &task_a
        } else if form.contains("{session_id}") {
            &session_a
        } else {
            panic!("{form} has no isolation probe; add one to tests/it/isolation.rs")
        };
        let fill = |id: &str| {
            form.replace("{project_id}", id)
                .replace("{task_id}", id)
                .replace("{session_id}", id)
        };
        let read = async |uri: String| match b.read(&uri).await {
            Ok(text) => format!("ok {text}"),
            Err(error) => format!("rpc {}: {}", error.code.0, error.message),
        };
        let with_foreign = read(fill(foreign_id)).await;
        let with_nowhere = read(fill(NOWHERE)).await;
        audit.same(form, foreign_id, NOWHERE, &with_foreign, &with_nowhere);
        // Completing the template's argument offers none of A's ids.
        for (argument, typed) in [
            ("project_id", &project_a[..8]),
            ("task_id", &task_a[..8]),
            ("session_id", &session_a[..8]),
        ] {
            if !form.contains(&format!("{{{argument}}}")) {
                continue;
            }
            for typed in ["", typed] {
                let values = b
                    .client
                    .complete_resource_argument(form, argument, typed, None)
                    .await
                    .map(|c| c.values.join(" "))
                    .unwrap_or_else(|e| format!("error {e}"));
                audit.blind(
                    &format!("completion/complete {form} {argument}={typed}"),
                    &values,
                );
            }
        }
    }

    // Prompts: A's template is not one of B's prompts, and a prompt with A's
    // task answers like one with a task from nowhere.
    let prompts = b.client.list_all_prompts().await.expect("prompts/list");
    let names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
    audit.blind("prompts/list", &format!("{names:?}"));
    let get = async |name: &str, args: Value| {
        let Value::Object(arguments) = args else {
            unreachable!()
        };
        match b
            .client
            .get_prompt(rmcp::model::GetPromptRequestParams::new(name).with_arguments(arguments))
            .await
        {
            Ok(result) => format!("ok {:?}", result.messages),
            Err(e) => format!("error {e}"),
        }
    };
    let mut task_prompts = 0;
    for prompt in &prompts {
        let Some(arguments) = &prompt.arguments else {
            continue;
        };
        if !arguments.iter().any(|a| a.name == "task_id") {
            continue;
        }
        task_prompts += 1;
        let mut args = serde_json::Map::new();
        for argument in arguments {
            args.insert(argument.name.clone(), json!("something"));
        }
        let with = |task: &str| {
            let mut args = args.clone();
            args.insert("task_id".to_owned(), json!(task));
            Value::Object(args)
        };
        let with_foreign = get(&prompt.name, with(&task_a)).await;
        let with_nowhere = get(&prompt.name, with(NOWHERE)).await;
        audit.same(
            &format!("prompts/get {}", prompt.name),
            &task_a,
            NOWHERE,
            &with_foreign,
            &with_nowhere,
        );
        for typed in ["", &task_a[..8], "Secret"] {
            let values = b
                .client
                .complete_prompt_argument(prompt.name.as_str(), "task_id", typed, None)
                .await
                .map(|c| c.values.join(" "))
                .unwrap_or_else(|e| format!("error {e}"));
            audit.blind(
                &format!("completion/complete {} task_id={typed}", prompt.name),
                &values,
            );
        }
    }
    assert!(task_prompts > 0, "some prompt takes a task");
    // Built-in subjects complete with task titles: never A's.
    for prompt in &prompts {
        for argument in prompt.arguments.iter().flatten() {
            let values = b
                .client
                .complete_prompt_argument(
                    prompt.name.as_str(),
                    argument.name.as_str(),
                    "Secret",
                    None,
                )
                .await
                .map(|c| c.values.join(" "))
                .unwrap_or_else(|e| format!("error {e}"));
            audit.blind(
                &format!("completion/complete {} {}", prompt.name, argument.name),
                &values,
            );
        }
    }

    let resources = b.client.list_all_resources().await.expect("resources/list");
    assert!(resources.iter().any(|r| r.uri.contains(&project_b)));
    let uris: Vec<&str> = resources.iter().map(|r| r.uri.as_str()).collect();
    audit.blind("resources/list", &format!("{uris:?}"));

    // Last, as it gives B a template with the name A's has.
    let text = answer(
        &b,
        "create_prompt_template",
        json!({"name": A_TEMPLATE, "template": "Mine {{topic}}"}),
    )
    .await;
    assert!(text.starts_with("ok"), "a name A uses is free in B: {text}");
    audit.checks += 1;

    assert!(
        audit.leaks.is_empty(),
        "{} of {} checks leaked workspace A:\n{}",
        audit.leaks.len(),
        audit.checks,
        audit.leaks.join("\n")
    );
    eprintln!("isolation: {} checks, 0 leaks", audit.checks);

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
        // In review: A's own session finished on it; B changed nothing.
        ("Secret task", "inreview", "classified")
    );
    let session = data.rows(
        "SELECT status, turns, pending_prompt, archived_at FROM workspace_sessions WHERE id = ?",
        &[json!(session_a)],
    );
    assert_eq!(
        session,
        [vec![json!("completed"), json!(1), Value::Null, Value::Null]]
    );
    assert_eq!(
        data.count(&format!(
            "SELECT COUNT(*) FROM tasks WHERE project_id = '{project_a}'"
        )),
        2
    );
}

on_both_stores!(another_workspaces_ids_are_not_found_everywhere,);

/// The role matrix (issue 16 item 3): every tool × every role × own and
/// foreign ids. Which tools a role may call comes from the registry's own
/// metadata (each tool's scope and least role), so the expectations cannot
/// drift from the code; the matrix counts wrong allows (a forbidden tool
/// listed, or a call that ran or wrote), wrong refusals and leaks of the
/// other workspace, and all must be zero.
async fn every_tool_for_every_role(backend: Backend) {
    use vibe_kanban_mcp::{
        auth::Scopes,
        store::Role,
        tools::{Registry, ToolFilter},
    };
    let data = DataDir::on(backend);
    // The other workspace, with a project, a task and a (queued) session.
    data.create_workspace("beta", "b@example.com");
    let key_b = data.create_key("beta", "b-owner", "admin");
    let b = Server::in_process(&data, &["--no-runner"], &[("VK_API_KEY", &key_b)]).await;
    let project_b = b
        .call("create_project", json!({"name": "Foreign secret"}))
        .await;
    let project_b = id(&project_b);
    let task_b = b.task(&project_b, "Foreign secret task", json!({})).await;
    let session_b = id(&b.call("start_session", json!({"task_id": task_b})).await);
    let user_b = b.call("list_members", json!({})).await["members"][0]["user_id"]
        .as_str()
        .expect("user")
        .to_owned();
    b.stop().await;

    // Ours: one member of each role, each with an admin-scoped key, so the
    // role alone decides; a spare member for the member tools to work on.
    let owner = Server::in_process(&data, &["--no-runner"], &[]).await;
    let project = id(&owner.call("create_project", json!({"name": "Ours"})).await);
    let task = owner.task(&project, "Our task", json!({})).await;
    owner.stop().await;
    let mut keys = vec![(
        Role::Owner,
        data.create_key("default", "owner-key", "admin"),
    )];
    for role in [Role::Viewer, Role::Member, Role::Admin] {
        let email = format!("{role}@example.com");
        data.cli_ok(&[
            "members",
            "add",
            "--workspace",
            "default",
            "--email",
            &email,
            "--role",
            role.as_str(),
        ]);
        let key = data.cli_ok(&[
            "keys",
            "create",
            "--workspace",
            "default",
            "--name",
            role.as_str(),
            "--scopes",
            "admin",
            "--user",
            &email,
        ]);
        keys.push((role, key.trim().to_owned()));
    }
    data.cli_ok(&[
        "members",
        "add",
        "--workspace",
        "default",
        "--email",
        "spare@example.com",
        "--role",
        "viewer",
    ]);

    let registry = Registry::new(&ToolFilter::default());
    let needs: Vec<_> = registry.requirements().collect();
    let markers = [
        project_b.as_str(),
        task_b.as_str(),
        session_b.as_str(),
        user_b.as_str(),
        "Foreign secret",
    ];
    let mut checks = 0;
    let mut wrong = Vec::new();
    let mut calls = 0;
    for (role, key) in &keys {
        let allowed =
            |scope, least: Role| Scopes::all().within(*role).allows(scope) && role.at_least(least);
        let server = Server::in_process(&data, &["--no-runner"], &[("VK_API_KEY", key)]).await;
        let listed: Vec<String> = server
            .tools()
            .await
            .iter()
            .map(|t| t.name.to_string())
            .collect();
        let tools = registry_tools(&server, &data).await;
        for (name, scope, least, read_only) in &needs {
            let may = allowed(*scope, *least);
            checks += 1;
            if listed.iter().any(|l| l == name) != may {
                wrong.push(format!("{role}: {name} listed {} but may {may}", !may));
            }
            // The policy in words, against the metadata.
            let policy = match role {
                Role::Viewer => *read_only,
                Role::Member => !admin_area(name, *read_only),
                Role::Admin | Role::Owner => true,
            };
            checks += 1;
            if may != policy {
                wrong.push(format!(
                    "{role}: {name} may {may}, the policy says {policy}"
                ));
            }
            let schema = &tools[*name];
            for (side, ids) in [
                (
                    "own",
                    [
                        project.as_str(),
                        task.as_str(),
                        NOWHERE,
                        "spare@example.com",
                    ],
                ),
                (
                    "foreign",
                    [
                        project_b.as_str(),
                        task_b.as_str(),
                        session_b.as_str(),
                        user_b.as_str(),
                    ],
                ),
            ] {
                calls += 1;
                let args = fill(name, schema, ids, calls);
                let audits = data.count("SELECT COUNT(*) FROM audit_logs");
                let text = answer(&server, name, args.clone()).await;
                let refused = text.contains("Nothing was done; ask an admin");
                checks += 1;
                if may && refused {
                    wrong.push(format!("{role} refused {name}({args}): {text}"));
                }
                if !may && (!refused || data.count("SELECT COUNT(*) FROM audit_logs") != audits) {
                    wrong.push(format!("{role} ran {name}({args}): {text}"));
                }
                if side == "foreign" {
                    checks += 1;
                    if let Some(marker) = markers
                        .iter()
                        .find(|m| text.contains(*m) && !args.to_string().contains(*m))
                    {
                        wrong.push(format!(
                            "{role}: {name} shows the other workspace's '{marker}': {text}"
                        ));
                    }
                }
            }
        }
        server.stop().await;
    }
    assert!(
        wrong.is_empty(),
        "{} of {checks} role checks went wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    eprintln!(
        "role matrix: {} tools x {} roles, {checks} checks, 0 wrong",
        needs.len(),
        keys.len()
    );
}

/// The words: admins also manage members, keys and templates.
fn admin_area(tool: &str, read_only: bool) -> bool {
    !read_only
        && (tool.ends_with("_member")
            || tool.ends_with("_member_role")
            || tool.ends_with("_api_key")
            || tool.ends_with("_prompt_template"))
}

/// Every tool's input schema by name, whoever may call it (the owner's
/// listing has them all).
async fn registry_tools(
    _server: &Server,
    data: &DataDir,
) -> std::collections::HashMap<String, Value> {
    let owner = Server::in_process(data, &["--no-runner"], &[]).await;
    let tools = owner
        .tools()
        .await
        .into_iter()
        .map(|t| (t.name.to_string(), Value::Object((*t.input_schema).clone())))
        .collect();
    owner.stop().await;
    tools
}

/// A tool's required arguments, filled with `ids` (project, task, session,
/// member) and harmless values; a new required argument without a filler
/// fails the test.
fn fill(tool: &str, schema: &Value, ids: [&str; 4], n: usize) -> Value {
    let [project, task, session, member] = ids;
    let mut args = serde_json::Map::new();
    for field in schema["required"].as_array().into_iter().flatten() {
        let field = field.as_str().expect("name");
        let value = match field {
            "project_id" => json!(project),
            "task_id" => json!(task),
            "session_id" => json!(session),
            "approval_id" => json!(NOWHERE),
            "member" => json!(member),
            "user_id" => json!(if member.contains('@') {
                Value::Null
            } else {
                json!(member)
            }),
            "name" => json!(format!("matrix-{n}")),
            "title" | "prompt" => json!("matrix"),
            "template" => json!("Matrix {{topic}}"),
            "email" => json!(format!("new-{n}@example.com")),
            "role" => json!("viewer"),
            "decision" => json!("allow"),
            "scopes" => json!("read"),
            "key" => json!("vk_deadbeef"),
            "body" => json!("matrix"),
            "comment_id" => json!(NOWHERE),
            other => panic!(
                "{tool}: no filler for required argument '{other}'; add one to tests/it/isolation.rs"
            ),
        };
        args.insert(field.to_owned(), value);
    }
    if tool == "wait_for_session" {
        args.insert("timeout_secs".to_owned(), json!(1));
    }
    Value::Object(args)
}

on_both_stores!(every_tool_for_every_role,);
