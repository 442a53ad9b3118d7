//! MCP resources: a project's board as markdown, a task with its subtasks, a
//! session's log and its diff; [`app`] is the board as an MCP App
//! (`ui://kanban/board`).
//! `resources/list` offers one board per project (the app is found through
//! the `_meta.ui.resourceUri` of the tools that link it, as SEP-1865 allows);
//! the templates describe the other kinds of URI. Every read is scoped to the caller's workspace.

pub mod app;

use rmcp::{
    ErrorData,
    model::{
        ListResourceTemplatesResult, ListResourcesResult, ReadResourceResult, Resource,
        ResourceContents, ResourceTemplate,
    },
};

use crate::{
    auth::Principal,
    board, mcp_error,
    sessions::Sessions,
    store::{
        Offset, Page, ProjectId, ProjectKey, SessionId, Store, StoreError, TaskId,
        page::{self, PageKey},
    },
    tools::Render,
};

/// Resources per page of `resources/list` and `resources/templates/list`.
pub const PAGE_SIZE: usize = 50;

const BOARD_TEMPLATE: &str = "kanban://projects/{project_id}/board";
const TASK_TEMPLATE: &str = "kanban://tasks/{task_id}";
const TASK_ACTIVITY_TEMPLATE: &str = "kanban://tasks/{task_id}/activity";
/// Entries of a task's activity resource: the newest (list_activity pages the rest).
const TASK_ACTIVITY_ENTRIES: u32 = 50;
const SESSION_LOG_TEMPLATE: &str = "kanban://sessions/{session_id}/log";
/// Lines of a session log resource: its tail (read_execution_log pages the rest).
const SESSION_LOG_LINES: usize = 200;
const SESSION_LOG_BYTES: u64 = 256 * 1024;
const SESSION_DIFF_TEMPLATE: &str = "kanban://sessions/{session_id}/diff";
/// The patch a diff resource shows (get_session_diff pages the rest), and
/// the most files it lists.
const SESSION_DIFF_BYTES: u64 = 64 * 1024;
const SESSION_DIFF_FILES: usize = 1000;

/// A resource URI this server understands.
#[derive(Debug, PartialEq, Eq)]
enum Uri {
    Board(ProjectId),
    Task(TaskId),
    TaskActivity(TaskId),
    SessionLog(SessionId),
    SessionDiff(SessionId),
}

/// The session id of a `kanban://sessions/{id}/log` URI.
pub fn session_log_id(uri: &str) -> Option<SessionId> {
    match parse_uri(uri)? {
        Uri::SessionLog(id) => Some(id),
        _ => None,
    }
}

fn parse_uri(uri: &str) -> Option<Uri> {
    let rest = uri.strip_prefix("kanban://")?;
    let parts: Vec<&str> = rest.split('/').collect();
    let id = |s: &str| uuid::Uuid::parse_str(s).ok();
    match parts.as_slice() {
        ["projects", project, "board"] => id(project).map(|u| Uri::Board(u.into())),
        ["tasks", task] => id(task).map(|u| Uri::Task(u.into())),
        ["tasks", task, "activity"] => id(task).map(|u| Uri::TaskActivity(u.into())),
        ["sessions", session, "log"] => id(session).map(|u| Uri::SessionLog(u.into())),
        ["sessions", session, "diff"] => id(session).map(|u| Uri::SessionDiff(u.into())),
        _ => None,
    }
}

fn all_templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new(BOARD_TEMPLATE, "project-board")
            .with_title("Project board")
            .with_description("A project's tasks grouped by status, as markdown.")
            .with_mime_type("text/markdown"),
        ResourceTemplate::new(TASK_TEMPLATE, "task")
            .with_title("Task")
            .with_description("One task with its description, subtasks and latest comments, as markdown.")
            .with_mime_type("text/markdown"),
        ResourceTemplate::new(TASK_ACTIVITY_TEMPLATE, "task-activity")
            .with_title("Task activity")
            .with_description(
                "Who did what to a task, its comments and sessions, newest first; list_activity pages and filters it.",
            )
            .with_mime_type("text/markdown"),
        ResourceTemplate::new(SESSION_LOG_TEMPLATE, "session-log")
            .with_title("Session log")
            .with_description(
                "The last lines of an agent session's execution log. Subscribe to it to be notified as output \
                 arrives; read_execution_log pages the whole log.",
            )
            .with_mime_type("text/plain"),
        ResourceTemplate::new(SESSION_DIFF_TEMPLATE, "session-diff")
            .with_title("Session diff")
            .with_description(
                "What an agent session changed against its base: the files, then the first 64 KiB of the \
                 patch; get_session_diff pages the rest.",
            )
            .with_mime_type("text/plain"),
    ]
}

/// The key of a `method` cursor (`None` for the first page); a cursor this
/// server did not issue for that list is an invalid-params error.
pub(crate) fn checked_cursor<K: PageKey>(
    method: &str,
    cursor: Option<&str>,
) -> Result<Option<K>, ErrorData> {
    match cursor {
        None | Some("") => Ok(None),
        Some(text) => page::decode(text).map(Some).ok_or_else(|| {
            ErrorData::invalid_params(
                format!(
                    "cursor '{text}' is not one this server issued; pass the nextCursor of a previous {method} \
                     result, or leave it out for the first page"
                ),
                None,
            )
        }),
    }
}

pub fn list_templates(cursor: Option<&str>) -> Result<ListResourceTemplatesResult, ErrorData> {
    let start = checked_cursor::<Offset>("resources/templates/list", cursor)?.unwrap_or_default();
    let page = Page::slice(&all_templates(), start, PAGE_SIZE);
    let mut result = ListResourceTemplatesResult::with_all_items(page.items);
    result.next_cursor = page.next_cursor;
    Ok(result)
}

/// One board resource per project of the caller's workspace, a page at a
/// time (paged in SQL, in project name order).
pub async fn list(
    store: &Store,
    principal: &Principal,
    cursor: Option<&str>,
) -> Result<ListResourcesResult, ErrorData> {
    let after = checked_cursor::<ProjectKey>("resources/list", cursor)?;
    let page = store
        .list_projects_page(&principal.actor, after.as_ref(), PAGE_SIZE as u32)
        .await
        .map_err(|e| mcp_error::store_error(&principal.workspace_name, "resources/list", &e))?;
    let resources: Vec<Resource> = page
        .items
        .iter()
        .map(|p| {
            Resource::new(
                format!("kanban://projects/{}/board", p.id),
                format!("{} board", p.name),
            )
            .with_title(format!("Board: {}", p.name))
            .with_mime_type("text/markdown")
        })
        .collect();
    let mut result = ListResourcesResult::with_all_items(resources);
    result.next_cursor = page.next_cursor;
    Ok(result)
}

pub async fn read(
    store: &Store,
    sessions: Option<&Sessions>,
    principal: &Principal,
    uri: &str,
) -> Result<ReadResourceResult, ErrorData> {
    let workspace = &principal.workspace_name;
    let not_found = || {
        mcp_error::resource_not_found(
            uri,
            format!(
                "resource {uri} not found in workspace '{workspace}'; resources/templates/list shows the URI forms"
            ),
        )
    };
    if uri == app::BOARD_APP_URI {
        return Ok(app::read());
    }
    let parsed = parse_uri(uri).ok_or_else(not_found)?;
    if let Uri::SessionLog(session_id) = &parsed {
        let sessions = sessions.ok_or_else(not_found)?;
        let query = crate::sessions::LogQuery {
            process_id: None,
            stream: crate::sessions::LogStream::All,
            cursor: 0,
            limit: SESSION_LOG_BYTES,
            tail: Some(SESSION_LOG_LINES),
        };
        let page = sessions
            .read_log(&principal.actor, session_id, &query)
            .await
            .map_err(|e| mcp_error::session_log_error(workspace, uri, e, not_found))?;
        return Ok(ReadResourceResult::new(vec![
            ResourceContents::text(page.slice.text, uri).with_mime_type("text/plain"),
        ]));
    }
    if let Uri::SessionDiff(session_id) = &parsed {
        let sessions = sessions.ok_or_else(not_found)?;
        let text = session_diff(sessions, principal, session_id)
            .await
            .map_err(|e| mcp_error::session_log_error(workspace, uri, e, not_found))?;
        return Ok(ReadResourceResult::new(vec![
            ResourceContents::text(text, uri).with_mime_type("text/plain"),
        ]));
    }
    let text = match parsed {
        Uri::Board(project_id) => store
            .board(&principal.actor, &project_id)
            .await
            .map(|b| board::markdown(&b)),
        Uri::Task(task_id) => store
            .get_task(&principal.actor, &task_id)
            .await
            .map(|t| t.render()),
        Uri::TaskActivity(task_id) => {
            let filter = crate::store::ActivityFilter {
                scope: crate::store::ActivityScope::Task(task_id.clone()),
                actor: None,
                action: None,
                since: None,
                until: None,
                limit: TASK_ACTIVITY_ENTRIES,
                before: None,
            };
            store
                .list_activity(&principal.actor, &filter)
                .await
                .map(|page| format!("# Activity of task {task_id}\n\n{}", page.render()))
        }
        Uri::SessionLog(_) | Uri::SessionDiff(_) => return Err(not_found()),
    };
    let text = match text {
        Ok(text) => text,
        Err(StoreError::NotFound { .. }) => return Err(not_found()),
        Err(e) => return Err(mcp_error::store_error(workspace, "resources/read", &e)),
    };
    Ok(ReadResourceResult::new(vec![
        ResourceContents::text(text, uri).with_mime_type("text/markdown"),
    ]))
}

/// A session's diff as text: the totals, every file (up to a limit), then
/// the first page of the patch.
async fn session_diff(
    sessions: &Sessions,
    principal: &Principal,
    session_id: &SessionId,
) -> Result<String, crate::sessions::SessionError> {
    let query = crate::sessions::DiffQuery {
        include_uncommitted: true,
        path: None,
        cursor: 0,
        limit: SESSION_DIFF_BYTES,
        all_files: true,
    };
    let page = sessions.diff(&principal.actor, session_id, &query).await?;
    let mut out = format!(
        "Session {session_id}: {} file(s) changed, +{} -{}, against {} (merge base {}){}.\n",
        page.total_files,
        page.additions,
        page.deletions,
        page.session.base_branch.as_deref().unwrap_or("its base"),
        page.base_commit,
        if page.uncommitted {
            ", uncommitted and untracked files included"
        } else {
            ", committed changes only"
        }
    );
    for file in page.files.iter().take(SESSION_DIFF_FILES) {
        let status = serde_json::to_value(file.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let renamed = file
            .old_path
            .as_deref()
            .map(|old| format!("{old} -> "))
            .unwrap_or_default();
        out.push_str(&format!(
            "{status} {renamed}{} (+{} -{})\n",
            file.path, file.additions, file.deletions
        ));
    }
    if page.files.len() > SESSION_DIFF_FILES {
        out.push_str(&format!(
            "... and {} more file(s); get_session_diff pages them with the patch\n",
            page.files.len() - SESSION_DIFF_FILES
        ));
    }
    out.push_str(&format!(
        "--- patch, bytes {}-{} of {}{} ---\n",
        page.start,
        page.end,
        page.total_bytes,
        if page.end < page.total_bytes {
            format!(": get_session_diff with cursor {} reads on", page.end)
        } else {
            String::new()
        }
    ));
    out.push_str(&page.text);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_parse_only_in_their_known_forms() {
        let id = "0193a000-0000-7000-8000-000000000001";
        assert_eq!(
            parse_uri(&format!("kanban://projects/{id}/board")),
            Some(Uri::Board(id.into()))
        );
        assert_eq!(
            parse_uri(&format!("kanban://tasks/{id}")),
            Some(Uri::Task(id.into()))
        );
        assert_eq!(parse_uri("kanban://tasks/not-a-uuid"), None);
        assert_eq!(
            session_log_id(&format!("kanban://sessions/{id}/log")),
            Some(id.into())
        );
        assert_eq!(session_log_id(&format!("kanban://tasks/{id}")), None);
        assert_eq!(parse_uri(&format!("kanban://projects/{id}")), None);
        assert_eq!(parse_uri(&format!("file://tasks/{id}")), None);
    }

    #[test]
    fn cursors_of_another_list_or_made_up_are_invalid_params() {
        let first = list_templates(None).expect("first page");
        assert_eq!(first.resource_templates.len(), 5);
        assert_eq!(first.next_cursor, None);
        for bad in [
            "x",
            "50",
            &page::encode(ProjectKey {
                name: "a".into(),
                id: crate::store::new_id(),
            }),
        ] {
            let err = list_templates(Some(bad)).expect_err(bad);
            assert_eq!(err.code, rmcp::model::ErrorCode::INVALID_PARAMS);
            assert!(
                err.message.contains("not one this server issued")
                    && err.message.contains("resources/templates/list"),
                "{}",
                err.message
            );
        }
        let project = page::encode(Offset(0));
        let err =
            checked_cursor::<ProjectKey>("resources/list", Some(&project)).expect_err("foreign");
        assert!(err.message.contains("resources/list"), "{}", err.message);
    }
}
