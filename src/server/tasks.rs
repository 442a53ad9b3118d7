//! The MCP tasks extension (`io.modelcontextprotocol/tasks`, SEP-2663) over
//! agent sessions. A client that declares the extension (at `initialize` or
//! in a request's `_meta` capabilities) gets a task handle from
//! `start_session` and `send_follow_up` instead of the queued session; the
//! task is that one agent turn. Its state is read from the session each time
//! (`tasks/get`), so a task lives as long as its session, in the store, on
//! every server process, across restarts and stateless HTTP requests; the
//! task id names the session and the turn. `tasks/cancel` stops the session.
//! Session-ful connections (stdio, Streamable HTTP sessions, legacy SSE) also
//! get `notifications/tasks` as the turn moves queued → running → done.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use rmcp::{
    ErrorData, RoleServer,
    model::{
        CallToolResult, CreateTaskResult, DetailedTask, ErrorCode, JsonObject, ServerNotification,
        Task, TaskPayload, TaskStatus, TaskStatusNotification, TaskStatusNotificationParams,
    },
    service::RequestContext,
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::KanbanServer;
use crate::{
    auth::{Principal, Scope},
    store::{Backend, SessionId, SessionStatus},
    tools::ToolContext,
};

/// The tools that run as tasks for a client that declared the extension.
const TASK_TOOLS: [&str; 2] = ["start_session", "send_follow_up"];

/// How often a client should poll `tasks/get`, and how often the status
/// watcher of a session-ful connection looks: each look is one store read.
fn poll_interval(backend: Backend) -> Duration {
    match backend {
        Backend::Sqlite => Duration::from_secs(1),
        Backend::D1 => Duration::from_secs(5),
    }
}

/// A task: one agent turn of one session. Its id is
/// `{session_id}.{turn}.{created_ms}`, so that any server process can answer
/// for it from the session alone.
#[derive(Debug, Clone, PartialEq)]
struct TaskRef {
    session_id: Uuid,
    /// The turn this task follows (1 for start_session's).
    turn: i64,
    /// When the task was created, in milliseconds since the epoch.
    created_ms: i64,
}

impl TaskRef {
    fn id(&self) -> String {
        format!("{}.{}.{}", self.session_id, self.turn, self.created_ms)
    }

    fn parse(task_id: &str) -> Option<TaskRef> {
        let mut parts = task_id.split('.');
        let session_id = Uuid::parse_str(parts.next()?).ok()?;
        let turn = parts.next()?.parse().ok().filter(|t| *t >= 1)?;
        let created_ms = parts.next()?.parse().ok()?;
        parts.next().is_none().then_some(TaskRef {
            session_id,
            turn,
            created_ms,
        })
    }

    fn created_at(&self) -> String {
        Utc.timestamp_millis_opt(self.created_ms)
            .single()
            .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
            .to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

/// Whether the client of this request declared the tasks extension.
fn client_declared(context: &RequestContext<RoleServer>) -> bool {
    context
        .client_capabilities()
        .is_some_and(|caps| caps.supports_tasks())
}

/// -32602 for a task id that is not one of the caller's tasks.
fn unknown_task(principal: &Principal, task_id: &str) -> ErrorData {
    ErrorData::invalid_params(
        format!(
            "unknown task '{task_id}' in workspace {}: pass the taskId that start_session or \
             send_follow_up returned",
            principal.workspace_name
        ),
        None,
    )
}

/// The state of turn `turn` of a session, given what `get_session` says,
/// and the session status it ended with when that is this turn's end.
fn turn_state(turn: i64, turns: i64, status: SessionStatus) -> (TaskStatus, Option<SessionStatus>) {
    // `turns` counts claimed turns: a later one has started, so this one
    // is over, however the later one goes.
    if turns > turn {
        return (TaskStatus::Completed, None);
    }
    match status {
        // Not claimed yet, or running.
        SessionStatus::Queued if turns < turn => (TaskStatus::Working, None),
        SessionStatus::Running => (TaskStatus::Working, None),
        // This turn ended and a follow-up is queued behind it.
        SessionStatus::Queued => (TaskStatus::Completed, None),
        SessionStatus::Completed | SessionStatus::Failed => (TaskStatus::Completed, Some(status)),
        SessionStatus::Stopped => (TaskStatus::Cancelled, Some(status)),
        SessionStatus::Interrupted => (TaskStatus::Failed, Some(status)),
    }
}

/// The task as `tasks/get` shows it, from `get_session`'s result: while the
/// turn is queued or running, `working` with the session status as message;
/// then `completed` with `get_session`'s result inlined (`isError` when the
/// agent failed), `cancelled` when it was stopped, `failed` when its runner
/// died.
fn detailed(task: &TaskRef, backend: Backend, session: CallToolResult) -> Option<DetailedTask> {
    let fields = session.structured_content.as_ref()?;
    let status: SessionStatus = serde_json::from_value(fields.get("status")?.clone()).ok()?;
    let turns = fields.get("turns")?.as_i64()?;
    let reason = fields.get("status_reason").and_then(Value::as_str);
    let updated_at = fields
        .get("updated_at")
        .and_then(Value::as_str)
        .map_or_else(|| task.created_at(), str::to_owned);
    let (task_status, ended) = turn_state(task.turn, turns, status);
    let message = match (ended, reason) {
        (Some(ended), Some(reason)) => format!("session {ended}: {reason}"),
        (Some(ended), None) => format!("session {ended}"),
        (None, _) if task_status == TaskStatus::Working => format!("session {status}"),
        (None, _) => format!("turn {} is over; the session is {status}", task.turn),
    };
    let mut base = Task::new(task.id(), task_status, task.created_at(), updated_at)
        .with_status_message(message.clone())
        .with_poll_interval_ms(poll_interval(backend).as_millis() as u64);
    // The task lives as long as its session.
    base.ttl_ms = None;
    let payload = match task_status {
        TaskStatus::Completed => {
            let mut result = session;
            if ended == Some(SessionStatus::Failed) {
                result.is_error = Some(true);
            }
            TaskPayload::Completed {
                result: object(&result),
            }
        }
        TaskStatus::Cancelled => TaskPayload::Cancelled,
        TaskStatus::Failed => TaskPayload::Failed {
            error: object(&ErrorData::new(
                ErrorCode::INTERNAL_ERROR,
                format!(
                    "agent session {} was interrupted ({}): its runner stopped while the turn \
                     ran; get_session shows it, send_follow_up runs another turn",
                    task.session_id,
                    reason.unwrap_or("no reason recorded")
                ),
                Some(json!({"session_id": task.session_id})),
            )),
        },
        _ => TaskPayload::Working,
    };
    Some(DetailedTask::new(base, payload))
}

fn object(value: &impl serde::Serialize) -> JsonObject {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map,
        _ => JsonObject::new(),
    }
}

impl KanbanServer {
    /// Whether tool `name`, called so, runs as a task.
    pub(super) fn runs_as_task(&self, name: &str, context: &RequestContext<RoleServer>) -> bool {
        self.sessions.is_some() && TASK_TOOLS.contains(&name) && client_declared(context)
    }

    /// Whether this server advertises the extension: it offers a tool that
    /// runs as a task.
    pub(super) fn offers_tasks(&self) -> bool {
        self.sessions.is_some()
            && TASK_TOOLS
                .iter()
                .any(|name| self.registry.get(name).is_some())
    }

    /// The task handle for a turn that `result` (of start_session or
    /// send_follow_up) queued; `None` when the call did not queue one (its
    /// error is then the answer, as without the extension).
    pub(super) fn task_handle(
        &self,
        principal: &Principal,
        result: &CallToolResult,
        context: &RequestContext<RoleServer>,
    ) -> Option<CreateTaskResult> {
        if result.is_error == Some(true) {
            return None;
        }
        let fields = result.structured_content.as_ref()?;
        let session_id = Uuid::parse_str(fields.get("id")?.as_str()?).ok()?;
        let turns = fields.get("turns")?.as_i64()?;
        let task = TaskRef {
            session_id,
            turn: turns + 1,
            created_ms: Utc::now().timestamp_millis(),
        };
        let backend = self.store.kind();
        let mut handle = Task::new(
            task.id(),
            TaskStatus::Working,
            task.created_at(),
            task.created_at(),
        )
        .with_status_message("session queued")
        .with_poll_interval_ms(poll_interval(backend).as_millis() as u64);
        handle.ttl_ms = None;
        // Only a connection of the initialize handshake (before 2026-07-28)
        // may be sent notifications outside a request; stateless requests
        // (their protocol version in `_meta`) poll tasks/get.
        if context.meta.protocol_version().is_none() {
            self.watch_task(principal.clone(), task, context.clone());
        }
        Some(CreateTaskResult::new(handle))
    }

    /// `tasks/get`: the task, read from its session now.
    pub(super) async fn task_state(
        &self,
        principal: &Principal,
        task_id: &str,
    ) -> Result<DetailedTask, ErrorData> {
        let task = TaskRef::parse(task_id).ok_or_else(|| unknown_task(principal, task_id))?;
        self.read_task(principal, &task)
            .await?
            .ok_or_else(|| unknown_task(principal, task_id))
    }

    /// The task's state; `None` when its session is not the caller's.
    async fn read_task(
        &self,
        principal: &Principal,
        task: &TaskRef,
    ) -> Result<Option<DetailedTask>, ErrorData> {
        let ctx = ToolContext {
            store: self.store.clone(),
            principal: principal.clone(),
            enhancer: std::sync::Arc::clone(&self.enhancer),
            sessions: self.sessions.clone(),
            call: crate::tools::CallControl::default(),
        };
        let mut arguments = JsonObject::new();
        arguments.insert("session_id".to_owned(), json!(task.session_id));
        let session = self
            .registry
            .call(ctx, "get_session", Some(arguments))
            .await?;
        if session.is_error == Some(true) {
            // Not found in the caller's workspace, or the store failed:
            // the tool's text says which.
            let text = session
                .content
                .iter()
                .find_map(|c| c.as_text().map(|t| t.text.clone()))
                .unwrap_or_default();
            // mcp_error's wording of a not-found store error.
            if text.contains(" not found in workspace ") {
                return Ok(None);
            }
            return Err(ErrorData::internal_error(text, None));
        }
        Ok(detailed(task, self.store.kind(), session))
    }

    /// `tasks/update`: no task of this server asks for input, so there is
    /// nothing to deliver; the task must exist.
    pub(super) async fn update_task_state(
        &self,
        principal: &Principal,
        task_id: &str,
    ) -> Result<(), ErrorData> {
        self.task_state(principal, task_id).await.map(|_| ())
    }

    /// `tasks/cancel`: stops the session while this task's turn is queued
    /// or running. Acknowledged at once; the stop (SIGINT, grace, SIGTERM,
    /// SIGKILL) goes on behind, and the next `tasks/get` says `cancelled`.
    pub(super) async fn cancel_task_state(
        &self,
        principal: &Principal,
        task_id: &str,
    ) -> Result<(), ErrorData> {
        let state = self.task_state(principal, task_id).await?;
        if state.status().is_terminal() {
            return Ok(());
        }
        if !principal.allows(Scope::Sessions) {
            return Err(ErrorData::invalid_request(
                format!(
                    "tasks/cancel stops agent session of task '{task_id}': that needs an API key \
                     with the sessions scope"
                ),
                None,
            ));
        }
        let (Some(sessions), Some(task)) = (self.sessions.clone(), TaskRef::parse(task_id)) else {
            return Ok(());
        };
        let actor = principal.actor.clone();
        let session_id = SessionId::from(task.session_id);
        tokio::spawn(async move {
            if let Err(error) = sessions.stop(&actor, &session_id).await {
                tracing::warn!(session = %session_id, %error, "tasks/cancel could not stop the session");
            }
        });
        Ok(())
    }

    /// Sends `notifications/tasks` on this connection whenever the task's
    /// status or message changes, until it ends or the client goes away.
    fn watch_task(&self, principal: Principal, task: TaskRef, context: RequestContext<RoleServer>) {
        let server = self.clone();
        let every = poll_interval(self.store.kind());
        tokio::spawn(async move {
            let mut last: Option<(TaskStatus, Option<String>)> = None;
            loop {
                tokio::time::sleep(every).await;
                if context.peer.is_transport_closed() {
                    return;
                }
                let state = match server.read_task(&principal, &task).await {
                    Ok(Some(state)) => state,
                    // Deleted: nothing more to say.
                    Ok(None) => return,
                    // The store did not answer this time: look again.
                    Err(_) => continue,
                };
                let now = (state.status(), state.task.status_message.clone());
                if last.as_ref() == Some(&now) {
                    continue;
                }
                let terminal = state.status().is_terminal();
                let notification = ServerNotification::TaskStatusNotification(
                    TaskStatusNotification::new(TaskStatusNotificationParams::new(state)),
                );
                if context.peer.send_notification(notification).await.is_err() || terminal {
                    return;
                }
                last = Some(now);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_round_trip_and_refuse_others() {
        let task = TaskRef {
            session_id: Uuid::now_v7(),
            turn: 2,
            created_ms: 1_764_000_000_000,
        };
        assert_eq!(TaskRef::parse(&task.id()), Some(task.clone()));
        for bad in [
            "",
            "nope",
            "tasks-conformance-nonexistent-12345",
            &format!("{}.0.1", task.session_id),
            &format!("{}.1", task.session_id),
            &format!("{}.1.2.3", task.session_id),
        ] {
            assert_eq!(TaskRef::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_turn_is_working_until_it_ends() {
        use SessionStatus::*;
        assert_eq!(turn_state(1, 0, Queued).0, TaskStatus::Working);
        assert_eq!(turn_state(1, 1, Running).0, TaskStatus::Working);
        assert_eq!(turn_state(1, 1, Completed).0, TaskStatus::Completed);
        assert_eq!(turn_state(1, 1, Failed).0, TaskStatus::Completed);
        assert_eq!(turn_state(1, 1, Stopped).0, TaskStatus::Cancelled);
        assert_eq!(turn_state(1, 0, Stopped).0, TaskStatus::Cancelled);
        assert_eq!(turn_state(1, 1, Interrupted).0, TaskStatus::Failed);
        // A follow-up is queued or has started: turn 1 is over, and how the
        // follow-up ends is not turn 1's outcome.
        assert_eq!(turn_state(1, 1, Queued).0, TaskStatus::Completed);
        for later in [Running, Completed, Failed, Stopped, Interrupted] {
            assert_eq!(turn_state(1, 2, later), (TaskStatus::Completed, None));
        }
        assert_eq!(turn_state(2, 1, Queued).0, TaskStatus::Working);
    }
}
