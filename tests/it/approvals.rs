//! Approvals: a session with approvals "ask" gives its agent the approval
//! server's MCP configuration; here a stand-in agent copies that
//! configuration out and waits, and the test plays the agent's side: it
//! launches the real `vibe-kanban-mcp agent-mcp` from that configuration
//! with rmcp's child-process client, calls the permission tool, and answers
//! through the main server's respond_to_approval. Allow, deny, remember,
//! timeout, answering twice, foreign and unknown ids, a key without the
//! `sessions` scope, and a secret that is not the turn's.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use rmcp::{RoleClient, model::CallToolRequestParams, service::Peer};
use serde_json::{Value, json};

use crate::common;

use common::{
    BIN, DataDir, Server,
    sessions::{config, session_server, wait_finished, wait_for},
};

/// The stand-in agent: saves the MCP configuration it was given (its first
/// argument) and its environment's approval variables, then runs until the
/// test lets it finish.
const ASKING_AGENT: &str = r#"
cp "$1" "$OUT/mcp.json"
echo "asking agent started"
while [ ! -f "$OUT/done" ]; do sleep 0.05; done
echo "asking agent done"
"#;

/// A server whose `asker` executor asks for approvals, with `sessions`
/// settings added; the agent's files go to `out`.
async fn start(data: &DataDir, sessions: &str, out: &Path) -> Server {
    let script = data.path().join("asking-agent.sh");
    std::fs::write(&script, ASKING_AGENT).expect("write the agent");
    let extra = format!(
        r#"[executors.asker]
command = ["sh", "{script}"]
approval_args = ["{{mcp_config}}"]
env = {{ OUT = "{out}" }}
"#,
        script = script.display(),
        out = out.display()
    );
    let sessions = format!("agent_mcp_command = [\"{BIN}\", \"agent-mcp\"]\n{sessions}");
    let config = config(data, &sessions, &extra);
    Server::in_process(data, &["--config", config.to_str().expect("utf-8")], &[]).await
}

/// A task, and a session on it with approvals ask; returns the session id.
async fn asking_session(server: &Server) -> String {
    let project = common::id(&server.call("create_project", json!({"name": "app"})).await);
    let task = server.task(&project, "Write the notes", json!({})).await;
    let session = server
        .call(
            "start_session",
            json!({"task_id": task, "executor": "asker", "approvals": "ask"}),
        )
        .await;
    common::id(&session)
}

/// Waits until `path` exists (the agent has written it).
async fn wait_file(path: &Path) {
    let started = Instant::now();
    while !path.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Calls the permission tool as Claude Code does; returns its answer (the
/// JSON in its text block).
pub(crate) async fn ask(client: &Peer<RoleClient>, tool: &str, input: Value) -> Value {
    let arguments = json!({"tool_name": tool, "input": input, "tool_use_id": "toolu_1"});
    let call = client.call_tool(
        CallToolRequestParams::new("approval_prompt")
            .with_arguments(arguments.as_object().expect("object").clone()),
    );
    // A hang guard, not a timing assertion: an answer that never comes.
    let result = tokio::time::timeout(Duration::from_secs(90), call)
        .await
        .unwrap_or_else(|_| panic!("approval_prompt for {tool} never answered"))
        .expect("approval_prompt answers");
    serde_json::from_str(&common::text(&result)).expect("the answer is JSON")
}

/// Waits until the workspace has a pending approval for `tool`; returns it.
pub(crate) async fn pending(server: &Server, session_id: &str, tool: &str) -> Value {
    let started = Instant::now();
    loop {
        let list = server
            .call("list_approvals", json!({"session_id": session_id}))
            .await;
        if let Some(found) = list["approvals"]
            .as_array()
            .expect("approvals")
            .iter()
            .find(|a| a["tool_name"] == tool)
        {
            return found.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no pending approval for {tool}: {list:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) struct Asking {
    pub(crate) data: DataDir,
    pub(crate) out: PathBuf,
    pub(crate) server: Server,
    pub(crate) session: String,
}

pub(crate) async fn asking(sessions: &str) -> Asking {
    let data = DataDir::new();
    let out = data.path().join("agent-out");
    std::fs::create_dir_all(&out).expect("out dir");
    let server = start(&data, sessions, &out).await;
    let session = asking_session(&server).await;
    wait_file(&out.join("mcp.json")).await;
    Asking {
        data,
        out,
        server,
        session,
    }
}

impl Asking {
    /// Lets the agent finish; returns the finished session.
    pub(crate) async fn finish(&self) -> Value {
        std::fs::write(self.out.join("done"), "").expect("done");
        wait_finished(&self.server, &self.session).await
    }
}

#[tokio::test]
async fn allow_and_deny_reach_the_agent_and_show_in_get_session() {
    let t = asking("").await;
    let agent = session_server(&t.out.join("mcp.json"), None).await;
    let input = json!({"file_path": "notes.txt", "content": "hello"});

    let asked = tokio::spawn({
        let agent = agent.peer().clone();
        let input = input.clone();
        async move { ask(&agent, "Write", input).await }
    });
    let approval = pending(&t.server, &t.session, "Write").await;
    assert_eq!(approval["status"], "pending");
    assert_eq!(approval["input"], input);
    let id = common::id(&approval);
    // The session still runs, and says it waits.
    let session = wait_for(&t.server, &t.session, "waiting for approval", |s| {
        s["waiting_for_approval"] == true
    })
    .await;
    assert_eq!(session["status"], "running");
    assert_eq!(session["pending_approvals"], json!([id]));
    // The request is noted in the session log (what log watchers see).
    wait_for(&t.server, &t.session, "noting the request", |s| {
        s["last_output"]
            .as_str()
            .is_some_and(|o| o.contains(&format!("approval {id} pending")))
    })
    .await;

    let answered = t
        .server
        .call(
            "respond_to_approval",
            json!({"approval_id": id, "decision": "allow"}),
        )
        .await;
    assert_eq!(answered["status"], "allowed");
    let answer = asked.await.expect("ask");
    assert_eq!(
        answer,
        json!({"behavior": "allow", "updatedInput": input}),
        "the agent gets its input back"
    );
    let session = t
        .server
        .call("get_session", json!({"session_id": t.session}))
        .await;
    assert_eq!(session["waiting_for_approval"], false);

    // Deny, with a message the agent reads.
    let asked = tokio::spawn({
        let agent = agent.peer().clone();
        async move { ask(&agent, "Bash", json!({"command": "rm -rf /"})).await }
    });
    let id = common::id(&pending(&t.server, &t.session, "Bash").await);
    let denied = t
        .server
        .call(
            "respond_to_approval",
            json!({"approval_id": id, "decision": "deny", "message": "not that"}),
        )
        .await;
    assert_eq!(denied["status"], "denied");
    assert_eq!(denied["message"], "not that");
    let answer = asked.await.expect("ask");
    assert_eq!(answer["behavior"], "deny");
    assert!(
        answer["message"]
            .as_str()
            .expect("message")
            .contains("not that"),
        "{answer}"
    );

    // Answering again changes nothing and says so.
    let twice = t
        .server
        .call_fails(
            "respond_to_approval",
            json!({"approval_id": id, "decision": "allow"}),
        )
        .await;
    assert!(twice.contains("already answered: denied"), "{twice}");
    let all = t
        .server
        .call(
            "list_approvals",
            json!({"session_id": t.session, "status": []}),
        )
        .await;
    let statuses: Vec<&str> = all["approvals"]
        .as_array()
        .expect("approvals")
        .iter()
        .map(|a| a["status"].as_str().expect("status"))
        .collect();
    assert_eq!(statuses, ["allowed", "denied"]);

    drop(agent);
    let finished = t.finish().await;
    assert_eq!(finished["status"], "completed", "{finished:#}");
    drop(t.data);
}

#[tokio::test]
async fn remember_allows_the_tool_for_the_rest_of_the_session() {
    let t = asking("").await;
    let agent = session_server(&t.out.join("mcp.json"), None).await;
    let asked = tokio::spawn({
        let agent = agent.peer().clone();
        async move { ask(&agent, "Edit", json!({"file_path": "a"})).await }
    });
    let id = common::id(&pending(&t.server, &t.session, "Edit").await);
    // remember goes with allow only.
    let refused = t
        .server
        .call_invalid(
            "respond_to_approval",
            json!({"approval_id": id, "decision": "deny", "remember": true}),
        )
        .await;
    assert!(refused.contains("decision allow"), "{refused}");
    t.server
        .call(
            "respond_to_approval",
            json!({"approval_id": id, "decision": "allow", "remember": true}),
        )
        .await;
    assert_eq!(asked.await.expect("ask")["behavior"], "allow");

    // The same tool again: allowed at once, still recorded, by the rule.
    let again = ask(agent.peer(), "Edit", json!({"file_path": "b"})).await;
    assert_eq!(again["behavior"], "allow");
    let all = t
        .server
        .call(
            "list_approvals",
            json!({"session_id": t.session, "status": ["allowed"]}),
        )
        .await;
    let by: Vec<&str> = all["approvals"]
        .as_array()
        .expect("approvals")
        .iter()
        .map(|a| a["responded_by"].as_str().expect("responded_by"))
        .collect();
    assert_eq!(by.len(), 2, "{all:#}");
    assert_eq!(by[1], "rule");
    // Another tool still asks.
    let other = tokio::spawn({
        let agent = agent.peer().clone();
        async move { ask(&agent, "Bash", json!({"command": "ls"})).await }
    });
    pending(&t.server, &t.session, "Bash").await;
    // The turn ends while it waits: the request expires, the agent hears no.
    drop(agent);
    let finished = t.finish().await;
    assert_eq!(finished["status"], "completed", "{finished:#}");
    assert_eq!(finished["waiting_for_approval"], false);
    other.abort();
    let expired = t
        .server
        .call(
            "list_approvals",
            json!({"session_id": t.session, "status": ["expired"]}),
        )
        .await;
    assert_eq!(expired["approvals"].as_array().expect("list").len(), 1);
}

#[tokio::test]
async fn an_unanswered_request_expires_as_denied() {
    // 0.02 min: the shortest timeout, 1.2 s.
    let t = asking("approval_timeout_mins = 0.02").await;
    let agent = session_server(&t.out.join("mcp.json"), None).await;
    let answer = ask(agent.peer(), "Write", json!({"file_path": "late.txt"})).await;
    assert_eq!(answer["behavior"], "deny");
    assert!(
        answer["message"]
            .as_str()
            .expect("message")
            .contains("nobody answered"),
        "{answer}"
    );
    let list = t
        .server
        .call(
            "list_approvals",
            json!({"session_id": t.session, "status": ["expired"]}),
        )
        .await;
    let approval = &list["approvals"][0];
    assert_eq!(approval["responded_by"], "timeout");
    let late = t
        .server
        .call_fails(
            "respond_to_approval",
            json!({"approval_id": common::id(approval), "decision": "allow"}),
        )
        .await;
    assert!(late.contains("expired"), "{late}");
    assert!(late.contains("nothing changed"), "{late}");
    drop(agent);
    t.finish().await;
}

#[tokio::test]
async fn foreign_unknown_and_unscoped_answers_are_refused() {
    let t = asking("").await;
    let agent = session_server(&t.out.join("mcp.json"), None).await;
    let asked = tokio::spawn({
        let agent = agent.peer().clone();
        async move { ask(&agent, "Write", json!({"file_path": "x"})).await }
    });
    let id = common::id(&pending(&t.server, &t.session, "Write").await);

    // Made up: not found, and nothing changes.
    let unknown = t
        .server
        .call_fails(
            "respond_to_approval",
            json!({"approval_id": "0193a000-0000-7000-8000-000000000000", "decision": "allow"}),
        )
        .await;
    assert!(
        unknown.contains("approval 0193a000-0000-7000-8000-000000000000 not found"),
        "{unknown}"
    );
    // Another workspace's key neither sees nor answers it.
    t.data.create_workspace("other", "other@example.com");
    let other_key = t.data.create_key("other", "other", "read,write,sessions");
    let config = t.data.path().join("config.toml");
    let other = Server::in_process(
        &t.data,
        &["--config", config.to_str().expect("utf-8"), "--no-runner"],
        &[("VK_API_KEY", &other_key)],
    )
    .await;
    let foreign = other
        .call_fails(
            "respond_to_approval",
            json!({"approval_id": id, "decision": "allow"}),
        )
        .await;
    assert!(
        foreign.contains(&format!("approval {id} not found")),
        "{foreign}"
    );
    let seen = other.call("list_approvals", json!({})).await;
    assert_eq!(seen["approvals"], json!([]));
    let session = other
        .call_fails("list_approvals", json!({"session_id": t.session}))
        .await;
    assert!(session.contains("not found"), "{session}");
    // A key of this workspace without the sessions scope can list, not answer.
    let reader = t.data.create_key("default", "reader", "read,write");
    let reading = Server::in_process(
        &t.data,
        &["--config", config.to_str().expect("utf-8"), "--no-runner"],
        &[("VK_API_KEY", &reader)],
    )
    .await;
    let listed = reading.call("list_approvals", json!({})).await;
    assert_eq!(listed["approvals"][0]["id"], id.as_str());
    let names: Vec<String> = reading
        .tools()
        .await
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    assert!(
        !names.contains(&"respond_to_approval".to_owned()),
        "{names:?}"
    );
    let refused = reading
        .call_invalid(
            "respond_to_approval",
            json!({"approval_id": id, "decision": "allow"}),
        )
        .await;
    assert!(refused.contains("needs the `sessions` scope"), "{refused}");
    // Still pending after all that.
    assert_eq!(
        pending(&t.server, &t.session, "Write").await["status"],
        "pending"
    );

    // An approval server with a secret that is not the turn's records nothing.
    let impostor = session_server(&t.out.join("mcp.json"), Some("not-the-secret")).await;
    let answer = ask(impostor.peer(), "Bash", json!({"command": "ls"})).await;
    assert_eq!(answer["behavior"], "deny");
    assert!(
        answer["message"]
            .as_str()
            .expect("message")
            .contains("secret"),
        "{answer}"
    );

    t.server
        .call(
            "respond_to_approval",
            json!({"approval_id": id, "decision": "allow"}),
        )
        .await;
    assert_eq!(asked.await.expect("ask")["behavior"], "allow");
    let all = t
        .server
        .call(
            "list_approvals",
            json!({"session_id": t.session, "status": []}),
        )
        .await;
    assert_eq!(all["approvals"].as_array().expect("list").len(), 1);
    drop((agent, impostor));
    t.finish().await;
}

#[tokio::test]
async fn approvals_come_from_the_project_and_need_an_executor_that_can_ask() {
    let data = DataDir::new();
    let out = data.path().join("agent-out");
    let server = start(&data, "", &out).await;
    let project = server
        .call("create_project", json!({"name": "app", "approvals": "ask"}))
        .await;
    assert_eq!(project["approvals"], "ask");
    let task = server.task(&common::id(&project), "Do it", json!({})).await;
    // The stand-in `script` executor has no approval_args: it cannot ask.
    let refused = server
        .call_fails(
            "start_session",
            json!({"task_id": task, "executor": "script"}),
        )
        .await;
    assert!(refused.contains("cannot ask for approvals"), "{refused}");
    // Overridden per session, it runs as before.
    let session = server
        .call(
            "start_session",
            json!({"task_id": task, "executor": "script", "approvals": "auto"}),
        )
        .await;
    wait_finished(&server, &common::id(&session)).await;
    let updated = server
        .call(
            "update_project",
            json!({"project_id": common::id(&project), "approvals": "auto"}),
        )
        .await;
    assert_eq!(updated["approvals"], "auto");
}
