//! The one mapping of store, session and key errors to what an MCP client
//! sees: the text of a tool error (which tool helps next), and the JSON-RPC
//! error of a resource, prompt or subscription request. The store and the
//! session service say what went wrong without naming MCP tools; the hints
//! that name them are worded here, keyed on the error's variant and entity.

use rmcp::{ErrorData, model::ErrorCode};

use crate::{
    sessions::SessionError,
    store::{Entity, StoreError},
};

/// What a caller is told, whatever it called, when the store does not
/// answer; `detail` is the store's own account (D1's permission error, the
/// timeout), which tells the operator what to fix.
pub fn unavailable(detail: &str) -> String {
    format!("the store cannot be reached right now ({detail}); try again")
}

/// The text of a tool error from the store, for the model and the person
/// behind it. `workspace` is the caller's workspace name; `tool` the tool
/// (or request) that failed.
pub fn store_message(workspace: &str, tool: &str, err: &StoreError) -> String {
    match err {
        StoreError::NotFound { entity, id } => not_found(*entity, id, workspace),
        StoreError::Conflict(message) | StoreError::Invalid(message) => {
            match conflict_hint(tool, err) {
                Some(hint) => format!("{message} ({hint})"),
                None => message.clone(),
            }
        }
        StoreError::Constraint(message) => {
            format!("{tool} was refused by the database ({message}); nothing was changed")
        }
        StoreError::Unavailable { .. } => {
            // The model (and the person behind it) needs the store's reason
            // and its cause: a token without D1 permission is not fixed by
            // trying again.
            let reason = err.full_message();
            tracing::warn!(tool, error = %reason, "store unavailable");
            format!("{}; nothing was changed", unavailable(&reason))
        }
        StoreError::Sql { .. } | StoreError::Decode { .. } | StoreError::Migration(_) => {
            let err = err.full_message();
            tracing::error!(tool, error = %err, "internal store error");
            format!("{tool} failed with an internal error ({err}); nothing was changed")
        }
    }
}

/// "<entity> <id> not found in workspace '<name>'; <which tool lists them>".
/// The one place that reads the kind of a not-found error.
fn not_found(entity: Entity, id: &str, workspace: &str) -> String {
    let hint = match entity {
        Entity::Project => "list_projects shows this workspace's projects.",
        Entity::Task => "list_tasks with a project_id shows that project's task ids.",
        Entity::Session => "list_sessions shows this workspace's sessions.",
        Entity::Template => "list_prompt_templates shows the templates you can use.",
        Entity::Member => "list_workspaces shows the members you can assign.",
        Entity::Approval => "list_approvals shows this workspace's pending approvals.",
        Entity::Comment => "list_comments with a task_id shows that task's comments.",
        Entity::Workspace | Entity::Process | Entity::Key | Entity::User => "check the id.",
    };
    format!("{entity} {id} not found in workspace '{workspace}'; {hint}")
}

/// Which tool gets a model past a conflict (or a refused value) `tool` ran
/// into; `None` when the store's words say all there is.
fn conflict_hint(tool: &str, err: &StoreError) -> Option<&'static str> {
    match (err, tool) {
        (StoreError::Conflict(_), "delete_task") => Some("stop_session stops it"),
        (StoreError::Conflict(_), "send_follow_up") => {
            Some("get_session shows when it has finished, stop_session stops it")
        }
        (StoreError::Conflict(_), "create_prompt_template" | "update_prompt_template") => {
            Some("update_prompt_template changes it")
        }
        _ => None,
    }
}

/// The text of a tool error from the session service (its store errors go
/// through [`store_message`]).
pub fn session_message(err: &SessionError) -> String {
    match err {
        SessionError::Store(err) => {
            // The callers map store errors themselves; kept total for safety.
            err.to_string()
        }
        SessionError::Logs(e) => {
            tracing::error!(error = %e, "log storage failed");
            format!("{e}; try again shortly")
        }
        SessionError::Repository(e) if e.is_about_repo_path() => {
            format!("{e}; update_project changes the project's repo_path")
        }
        SessionError::ForeignProcess { .. } => format!("{err}; get_session lists its processes"),
        SessionError::NoBranchYet { .. } => format!("{err}; get_session shows when it runs"),
        SessionError::MergeWhileActive { .. } => {
            format!("{err}; stop it (stop_session) or wait_for_session first")
        }
        SessionError::MergeConflict { .. } => format!(
            "{err}. send_follow_up can ask the agent to merge the base into its branch and resolve them; then \
             merge_session again"
        ),
        SessionError::AlreadyMerged { .. } => format!("{err}; get_session shows the merge"),
        SessionError::CursorPastEnd { .. } => {
            format!("{err}; get_session_diff with cursor 0 starts again")
        }
        other => other.to_string(),
    }
}

/// A store error as the JSON-RPC error of a resource, prompt or
/// subscription request: what the caller asked for is wrong (-32602), or
/// the server could not do it (-32603).
pub fn store_error(workspace: &str, request: &str, err: &StoreError) -> ErrorData {
    match err {
        StoreError::NotFound { .. } | StoreError::Invalid(_) | StoreError::Conflict(_) => {
            ErrorData::invalid_params(store_message(workspace, request, err), None)
        }
        StoreError::Unavailable { message, .. } => {
            tracing::error!(request, error = %err.full_message(), "the store did not answer");
            ErrorData::internal_error(unavailable(message), None)
        }
        _ => ErrorData::internal_error(store_message(workspace, request, err), None),
    }
}

/// A resource that cannot be read for the caller: -32002 with its URI, as
/// the MCP specification has for resources (rmcp turns it into -32602 for
/// protocol 2026-07-28 and later).
pub fn resource_not_found(uri: &str, message: String) -> ErrorData {
    ErrorData::resource_not_found(message, Some(serde_json::json!({ "uri": uri })))
}

/// The JSON-RPC error of a session log resource that could not be read.
/// `not_found` words the error for a session that is not the caller's.
pub fn session_log_error(
    workspace: &str,
    uri: &str,
    err: SessionError,
    not_found: impl FnOnce() -> ErrorData,
) -> ErrorData {
    match err {
        SessionError::Store(StoreError::NotFound { .. }) => not_found(),
        SessionError::Store(err) => store_error(workspace, "resources/read", &err),
        // The log is on another machine's disk: there is nothing to read here.
        err @ SessionError::LogsElsewhere { .. } => resource_not_found(uri, err.to_string()),
        err @ SessionError::Logs(_) => ErrorData::internal_error(session_message(&err), None),
        err => ErrorData::invalid_params(session_message(&err), None),
    }
}

/// The refusal of a `resources/subscribe` for `uri`: only the logs of the
/// caller's sessions change over time.
pub fn not_subscribable(workspace: &str, uri: &str) -> ErrorData {
    ErrorData::resource_not_found(
        format!(
            "cannot subscribe to {uri}: only session logs (kanban://sessions/{{session_id}}/log) of workspace \
             '{workspace}' change over time"
        ),
        None,
    )
}

/// The refusal of a `subscriptions/listen` for the log of a session that is
/// not the caller's. Protocol 2026-07-28 reports an unknown resource as
/// invalid params (rmcp maps resources/read the same way).
pub fn not_listenable(workspace: &str, uri: &str, session_id: &str) -> ErrorData {
    ErrorData::new(
        ErrorCode::INVALID_PARAMS,
        format!(
            "cannot listen to {uri}: session {session_id} not found in workspace '{workspace}'; \
             only the logs of this workspace's sessions can be listened to (list_sessions shows them)"
        ),
        None,
    )
}

/// The refusal of a request made with a revoked or expired connection key.
pub fn key_refused(key_id: &str) -> ErrorData {
    ErrorData::new(
        ErrorCode(-32001),
        format!(
            "the API key this server acts as (key {key_id}, from VK_API_KEY or --api-key) is revoked or has expired; \
             create a new one with `vibe-kanban-mcp keys create` and restart the server with it"
        ),
        None,
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::tools::{Registry, ToolFilter};

    /// The string literals of a Rust source text, comments left out.
    fn literals(code: &str) -> Vec<String> {
        let (mut out, mut chars) = (Vec::new(), code.chars().peekable());
        while let Some(c) = chars.next() {
            match c {
                '/' if chars.peek() == Some(&'/') => {
                    chars.by_ref().take_while(|c| *c != '\n').for_each(drop);
                }
                // A char literal ('"', '\'') or a lifetime: skip one char
                // (two for an escape).
                '\'' if chars.next() == Some('\\') => {
                    chars.next();
                }
                '"' => {
                    let mut text = String::new();
                    while let Some(c) = chars.next() {
                        match c {
                            '\\' => text.extend(chars.next()),
                            '"' => break,
                            c => text.push(c),
                        }
                    }
                    out.push(text);
                }
                _ => {}
            }
        }
        out
    }

    fn sources(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("source dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                sources(&path, files);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }

    /// Only the tool layer names tools in what it tells the model: a store
    /// or session message that names one would be wrong for the resources,
    /// prompts and commands that show it too.
    #[test]
    fn the_store_and_the_session_runtime_name_no_tools() {
        let registry = Registry::new(&ToolFilter::default());
        let tools: Vec<&str> = registry.names().collect();
        assert!(tools.contains(&"get_session"), "{tools:?}");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&src.join("store"), &mut files);
        sources(&src.join("sessions"), &mut files);
        let word = |c: char| c.is_alphanumeric() || c == '_';
        let mut named = Vec::new();
        for file in &files {
            let code = std::fs::read_to_string(file).expect("read source");
            for text in literals(&code) {
                // An audit action code ("add_member") may share a tool's
                // name; only sentences that name a tool are hints.
                if text.chars().all(word) {
                    continue;
                }
                for tool in &tools {
                    let named_here = text.match_indices(tool).any(|(at, _)| {
                        let before = text[..at].chars().next_back();
                        let after = text[at + tool.len()..].chars().next();
                        !before.is_some_and(word) && !after.is_some_and(word)
                    });
                    if named_here {
                        let file = file.strip_prefix(&src).unwrap_or(file);
                        named.push(format!("src/{}: {tool} in {text:?}", file.display()));
                    }
                }
            }
        }
        assert!(
            named.is_empty(),
            "word the hint in mcp_error instead:\n{}",
            named.join("\n")
        );
    }

    #[test]
    fn hints_name_the_tool_that_helps() {
        let member = StoreError::NotFound {
            entity: Entity::Member,
            id: "u1".into(),
        };
        let message = store_message("acme", "assign_task", &member);
        assert_eq!(
            message,
            "member u1 not found in workspace 'acme'; list_workspaces shows the members you can assign."
        );
        let busy =
            StoreError::Conflict("session s1 is running: wait for it or stop it first".into());
        let message = store_message("acme", "send_follow_up", &busy);
        assert!(
            message.contains("get_session") && message.contains("stop_session"),
            "{message}"
        );
        // A conflict of another tool keeps the store's words.
        assert_eq!(
            store_message("acme", "update_task", &busy),
            "session s1 is running: wait for it or stop it first"
        );
    }

    #[test]
    fn an_unavailable_store_has_one_wording() {
        let down = StoreError::unavailable("connection refused");
        let words = "the store cannot be reached right now (connection refused); try again";
        assert_eq!(
            store_message("acme", "list_tasks", &down),
            format!("{words}; nothing was changed")
        );
        let error = store_error("acme", "prompts/get", &down);
        assert_eq!(error.code, ErrorCode::INTERNAL_ERROR);
        assert_eq!(error.message, words);
    }

    #[test]
    fn a_log_on_another_machine_is_a_resource_not_found_here() {
        let uri = "kanban://sessions/s1/log";
        let elsewhere = SessionError::LogsElsewhere {
            session_id: "s1".into(),
            host: "build-box-7".into(),
        };
        let error = session_log_error("acme", uri, elsewhere, || unreachable!());
        assert_eq!(error.code, ErrorCode::RESOURCE_NOT_FOUND);
        assert!(error.message.contains("build-box-7"), "{}", error.message);
        assert_eq!(error.data, Some(serde_json::json!({ "uri": uri })));
    }
}
