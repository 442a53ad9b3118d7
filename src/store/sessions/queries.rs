//! What tools ask of the session store, for a caller and scoped by the
//! caller's workspace: start a session, read one, list them, stop one, queue
//! a follow-up turn.

use serde_json::json;

use super::{
    ExecutionProcess, NewSession, Session, SessionFilter, SessionStatus, select_session,
    session_columns, session_not_found, session_pull_request, task_back_to_todo,
};
use crate::store::{
    Actor, Batch, Entity, Result, ResultHandle, SessionId, Stmt, Store, StoreError,
    audit::Audit,
    now,
    page::{Page, SessionKey},
};

/// Where the first page of sessions starts: after every timestamp the
/// schema writes (newest first, so "after" means older).
const AFTER_NEWEST: &str = "9999";

impl Store {
    /// Queues a new session on a task and moves the task to `inprogress`.
    pub async fn create_session(&self, actor: &Actor, new: NewSession) -> Result<Session> {
        let id = SessionId::generate();
        let at = now();
        let insert = Stmt::new(
            "INSERT INTO workspace_sessions (id, workspace_id, task_id, executor, prompt, pending_prompt, status, \
                                             base_branch, created_by, created_at, updated_at, approvals) \
             SELECT ?1, t.workspace_id, t.id, ?2, ?3, ?3, 'queued', ?4, ?5, ?6, ?6, ?9 \
             FROM tasks t WHERE t.id = ?7 AND t.workspace_id = ?8 ON CONFLICT (id) DO NOTHING",
        )
        .bind(&id)
        .bind(&new.executor)
        .bind(&new.prompt)
        .bind(new.base_branch.clone())
        .bind(&actor.user_id)
        .bind(&at)
        .bind(&new.task_id)
        .bind(&actor.workspace_id)
        .bind(new.approvals.as_str());
        let move_task = Stmt::new(
            "UPDATE tasks SET status = 'inprogress', updated_at = ?1, updated_by = ?5 \
             WHERE id = ?2 AND workspace_id = ?3 AND status <> 'inprogress' \
               AND EXISTS (SELECT 1 FROM workspace_sessions WHERE id = ?4)",
        )
        .bind(&at)
        .bind(&new.task_id)
        .bind(&actor.workspace_id)
        .bind(&id)
        .bind(&actor.user_id);
        let mut batch = Batch::new();
        batch.push_audited(
            insert,
            Audit::by_actor(
                actor,
                "create",
                "session",
                &id,
                json!({ "task_id": new.task_id, "executor": new.executor, "approvals": new.approvals }),
            ),
        );
        batch.push_audited(
            move_task,
            Audit::by_actor(
                actor,
                "update",
                "task",
                &new.task_id,
                json!({ "fields": ["status"], "status": "inprogress", "session_id": id }),
            ),
        );
        let created = batch.push(select_session(actor, &id));
        let results = self.write(batch).await?;
        results
            .first(created)?
            .ok_or_else(|| StoreError::not_found(Entity::Task, &new.task_id))
    }

    /// A session and its processes, in the caller's workspace.
    pub async fn get_session(
        &self,
        actor: &Actor,
        session_id: &SessionId,
    ) -> Result<(Session, Vec<ExecutionProcess>)> {
        let mut batch = Batch::new();
        let (session, processes) = push_session_reads(&mut batch, actor, session_id);
        let results = self.read(batch).await?;
        let session: Session = results
            .first(session)?
            .ok_or_else(|| session_not_found(session_id))?;
        Ok((session, results.all(processes)?))
    }

    /// One page of the workspace's sessions (or one task's), newest first.
    pub async fn list_sessions(
        &self,
        actor: &Actor,
        filter: &SessionFilter,
    ) -> Result<Page<Session>> {
        let statuses = if filter.statuses.is_empty() {
            None
        } else {
            let names: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
            Some(
                serde_json::to_string(&names)
                    .map_err(|e| StoreError::decode_by("cannot encode the statuses", e))?,
            )
        };
        let (created_at, id) = filter.after.as_ref().map_or((AFTER_NEWEST, ""), |k| {
            (k.created_at.as_str(), k.id.as_str())
        });
        let mut batch = Batch::new();
        let page = batch.push(
            Stmt::new(concat!(
                "SELECT ",
                session_columns!(),
                session_pull_request!(),
                " FROM workspace_sessions WHERE workspace_id = ?1 AND (?2 IS NULL OR task_id = ?2) \
                   AND (?3 IS NULL OR status IN (SELECT value FROM json_each(?3))) \
                   AND (created_at, id) < (?4, ?5) \
                 ORDER BY created_at DESC, id DESC LIMIT ?6"
            ))
            .bind(&actor.workspace_id)
            .bind(filter.task_id.clone())
            .bind(statuses)
            .bind(created_at)
            .bind(id)
            .bind(i64::from(filter.limit) + 1),
        );
        // Whether the task asked for is there (an empty list would not say).
        let task = batch.push(
            Stmt::new(
                "SELECT ?1 IS NULL OR EXISTS (SELECT 1 FROM tasks WHERE id = ?1 AND workspace_id = ?2) AS n",
            )
            .bind(filter.task_id.clone())
            .bind(&actor.workspace_id),
        );
        let results = self.read(batch).await?;
        if let Some(task_id) = &filter.task_id
            && results.int(task, "n") == 0
        {
            return Err(StoreError::not_found(Entity::Task, task_id));
        }
        Ok(Page::from_rows(
            results.all::<Session>(page)?,
            filter.limit as usize,
            |s| SessionKey {
                created_at: s.created_at.clone(),
                id: s.id.to_string(),
            },
        ))
    }

    /// Asks a session to stop. A queued session stops at once; a running one
    /// is stopped by its runner, which sees `stop_requested_at`.
    pub async fn request_stop(&self, actor: &Actor, session_id: &SessionId) -> Result<Session> {
        let at = now();
        let update = Stmt::new(
            "UPDATE workspace_sessions SET stop_requested_at = COALESCE(stop_requested_at, ?1), updated_at = ?1, \
                 status_reason = CASE WHEN status = 'queued' THEN 'stopped before a runner started it' \
                                      ELSE status_reason END, \
                 finished_at = CASE WHEN status = 'queued' THEN ?1 ELSE finished_at END, \
                 pending_prompt = CASE WHEN status = 'queued' THEN NULL ELSE pending_prompt END, \
                 status = CASE WHEN status = 'queued' THEN 'stopped' ELSE status END \
             WHERE id = ?2 AND workspace_id = ?3 AND status IN ('queued', 'running')",
        )
        .bind(&at)
        .bind(session_id)
        .bind(&actor.workspace_id);
        let mut batch = Batch::new();
        let updated = batch.push_audited(
            update,
            Audit::by_actor(actor, "stop", "session", session_id, json!({})),
        );
        // Only a session stopped right here (it was queued) releases its task.
        batch.push(task_back_to_todo(
            session_id,
            &at,
            SessionStatus::Stopped,
            None,
        ));
        let select = batch.push(select_session(actor, session_id));
        let results = self.write(batch).await?;
        let session: Session = results
            .first(select)?
            .ok_or_else(|| session_not_found(session_id))?;
        if results.changes(updated) == 0 {
            return Err(StoreError::Conflict(format!(
                "session {session_id} is already {}; there is nothing to stop",
                session.status
            )));
        }
        Ok(session)
    }

    /// Queues another agent turn in a finished session's worktree.
    pub async fn queue_follow_up(
        &self,
        actor: &Actor,
        session_id: &SessionId,
        prompt: &str,
        executors: &[&str],
    ) -> Result<Session> {
        let at = now();
        let known = serde_json::to_string(executors)
            .map_err(|e| StoreError::decode_by("cannot encode the executor names", e))?;
        let update = Stmt::new(
            "UPDATE workspace_sessions SET status = 'queued', pending_prompt = ?, status_reason = NULL, \
                 stop_requested_at = NULL, finished_at = NULL, updated_at = ? \
             WHERE id = ? AND workspace_id = ? \
               AND status IN ('completed', 'failed', 'stopped', 'interrupted') \
               AND executor IN (SELECT value FROM json_each(?))",
        )
        .bind(prompt)
        .bind(&at)
        .bind(session_id)
        .bind(&actor.workspace_id)
        .bind(known);
        let move_task = Stmt::new(
            "UPDATE tasks SET status = 'inprogress', updated_at = ?1, updated_by = ?4 \
             WHERE id = (SELECT task_id FROM workspace_sessions WHERE id = ?2 AND workspace_id = ?3 \
                         AND status = 'queued' AND updated_at = ?1) \
               AND status <> 'inprogress'",
        )
        .bind(&at)
        .bind(session_id)
        .bind(&actor.workspace_id)
        .bind(&actor.user_id);
        let mut batch = Batch::new();
        let updated = batch.push_audited(
            update,
            Audit::by_actor(actor, "follow_up", "session", session_id, json!({})),
        );
        batch.push_audited(
            move_task,
            Audit::by_actor_on_session(
                actor,
                session_id,
                "update",
                "task",
                json!({ "fields": ["status"], "status": "inprogress", "session_id": session_id }),
            ),
        );
        let select = batch.push(select_session(actor, session_id));
        let results = self.write(batch).await?;
        let session: Session = results
            .first(select)?
            .ok_or_else(|| session_not_found(session_id))?;
        if results.changes(updated) == 0 {
            if !executors.contains(&session.executor.as_str()) {
                return Err(StoreError::Invalid(format!(
                    "this session's executor is gone: unknown executor '{}'; the executors are: {}. \
                     Start a new session with one of them",
                    session.executor,
                    executors.join(", ")
                )));
            }
            return Err(StoreError::Conflict(format!(
                "session {session_id} is {}: a follow-up needs a finished session; wait for it or stop it first",
                session.status
            )));
        }
        Ok(session)
    }
}

/// Adds the reads of a session and its processes to `batch`.
pub(super) fn push_session_reads(
    batch: &mut Batch,
    actor: &Actor,
    session_id: &SessionId,
) -> (ResultHandle, ResultHandle) {
    let session = batch.push(select_session(actor, session_id));
    let processes = batch.push(select_processes(actor, session_id));
    (session, processes)
}

/// A session's processes, oldest first, if the session is the caller's.
fn select_processes(actor: &Actor, session_id: &SessionId) -> Stmt {
    Stmt::new(
        "SELECT id, session_id, kind, turn, status, command, pid, exit_code, error, \
                started_at, finished_at \
         FROM execution_processes WHERE session_id = ?1 \
           AND EXISTS (SELECT 1 FROM workspace_sessions s WHERE s.id = ?1 AND s.workspace_id = ?2) \
         ORDER BY started_at, id",
    )
    .bind(session_id)
    .bind(&actor.workspace_id)
}
