//! Agent sessions (`workspace_sessions`) and their execution processes.
//!
//! Two kinds of callers: tools, which act for a caller and are scoped by the
//! caller's workspace like every other query; and runners, which act for the
//! system on sessions they claimed. Claiming is one atomic
//! `UPDATE … WHERE status = 'queued' … RETURNING`, so any number of runners
//! sharing one store never run the same turn twice.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    Actor, Param, Result, Stmt, StmtResult, Store, StoreError, audit, decode_all, decode_first,
    new_id, now,
};

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    /// Waiting for a runner (first turn or a follow-up).
    Queued,
    /// A runner is executing it.
    Running,
    /// The last turn's coding agent exited 0.
    Completed,
    /// A process failed, timed out or could not start; see `status_reason`.
    Failed,
    /// Stopped on request.
    Stopped,
    /// Its runner died while it ran.
    Interrupted,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Queued => "queued",
            SessionStatus::Running => "running",
            SessionStatus::Completed => "completed",
            SessionStatus::Failed => "failed",
            SessionStatus::Stopped => "stopped",
            SessionStatus::Interrupted => "interrupted",
        }
    }

    /// Whether the session is waiting or running (not finished).
    pub fn is_active(self) -> bool {
        matches!(self, SessionStatus::Queued | SessionStatus::Running)
    }
}

impl std::fmt::Display for SessionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A run of a coding agent on a task, possibly over several turns.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Session {
    pub id: String,
    pub task_id: String,
    /// The executor profile that runs the agent.
    pub executor: String,
    /// The first turn's prompt.
    pub prompt: String,
    /// The prompt of the turn waiting for a runner, if any.
    pub pending_prompt: Option<String>,
    /// Agent turns started so far.
    pub turns: i64,
    pub status: SessionStatus,
    /// Why the session failed, stopped or was interrupted.
    pub status_reason: Option<String>,
    /// The branch the worktree was made from.
    pub base_branch: Option<String>,
    /// The session's own branch (`vk/<short-id>-<slug>`).
    pub branch: Option<String>,
    /// Where the agent works.
    pub worktree_path: Option<String>,
    /// The agent's own conversation id, used to resume it on a follow-up.
    pub agent_session_id: Option<String>,
    /// The runner that owns (or last owned) the session.
    pub runner_id: Option<String>,
    /// The machine that runner is on: the worktree (and, with local logs,
    /// the logs) are there.
    pub runner_host: Option<String>,
    /// When a stop was requested, if it was.
    pub stop_requested_at: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub created_by: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// Which part of a turn a process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProcessKind {
    Setup,
    CodingAgent,
    Cleanup,
}

impl ProcessKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessKind::Setup => "setup",
            ProcessKind::CodingAgent => "coding_agent",
            ProcessKind::Cleanup => "cleanup",
        }
    }
}

/// How a process ended (or that it has not yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProcessStatus {
    Running,
    /// Exited 0.
    Completed,
    /// Exited non-zero, could not start, or timed out.
    Failed,
    /// Stopped on request.
    Killed,
    /// Its runner died while it ran.
    Interrupted,
}

impl ProcessStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessStatus::Running => "running",
            ProcessStatus::Completed => "completed",
            ProcessStatus::Failed => "failed",
            ProcessStatus::Killed => "killed",
            ProcessStatus::Interrupted => "interrupted",
        }
    }
}

/// One process of a session: setup script, coding agent or cleanup script.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ExecutionProcess {
    pub id: String,
    pub session_id: String,
    pub kind: ProcessKind,
    /// The agent turn it belongs to (1-based).
    pub turn: i64,
    pub status: ProcessStatus,
    /// The command line, for reference (the prompt is not repeated).
    pub command: String,
    pub pid: Option<i64>,
    /// Exit code, when the process exited by itself.
    pub exit_code: Option<i64>,
    /// Why it failed without an exit code (not found, timed out, signal).
    pub error: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
}

/// A session as created by `start_session`.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub task_id: String,
    pub executor: String,
    pub prompt: String,
    pub base_branch: Option<String>,
}

/// Who a runner is, recorded on the sessions it claims.
#[derive(Debug, Clone)]
pub struct RunnerIdentity {
    pub id: String,
    pub host: String,
    pub pid: u32,
    /// Which queued sessions it may claim.
    pub scope: RunnerScope,
}

/// Which queued sessions a runner claims. The runner inside `serve` acts
/// for one caller: it claims only that caller's sessions, so on a shared
/// store an agent runs on the machine of the person who started it, never
/// in another workspace's process. `vibe-kanban-mcp runner` claims any
/// session (or one workspace's, with `--workspace`).
#[derive(Debug, Clone, Default)]
pub struct RunnerScope {
    pub workspace_id: Option<String>,
    /// The user who started the session (`workspace_sessions.created_by`).
    pub created_by: Option<String>,
}

/// A session a runner has just claimed, with what it needs to run the turn.
#[derive(Debug, Clone)]
pub struct ClaimedTurn {
    pub session: Session,
    /// The prompt of this turn.
    pub prompt: String,
    /// 1 for the first turn.
    pub turn: i64,
    pub workspace_id: String,
    pub project_name: String,
    pub task_title: String,
    pub repo_path: Option<String>,
    pub setup_script: Option<String>,
    pub cleanup_script: Option<String>,
}

#[derive(Deserialize)]
struct TurnContext {
    workspace_id: String,
    project_name: String,
    task_title: String,
    repo_path: Option<String>,
    setup_script: Option<String>,
    cleanup_script: Option<String>,
}

/// A running session whose owner may be gone, as seen at start.
#[derive(Debug, Clone, Deserialize)]
pub struct RunningOwner {
    pub id: String,
    pub runner_id: Option<String>,
    pub runner_host: Option<String>,
    pub runner_pid: Option<i64>,
    pub heartbeat_at: Option<String>,
}

/// How a turn ended, as the runner saw it.
#[derive(Debug, Clone)]
pub struct TurnOutcome {
    pub status: SessionStatus,
    pub reason: Option<String>,
}

/// Filters of `list_sessions`.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    pub task_id: Option<String>,
    pub statuses: Vec<SessionStatus>,
    pub limit: u32,
}

const SESSION_COLUMNS: &str = "id, task_id, executor, prompt, pending_prompt, turns, status, status_reason, \
     base_branch, branch, worktree_path, agent_session_id, runner_id, runner_host, stop_requested_at, \
     started_at, finished_at, created_by, created_at, updated_at";

const PROCESS_COLUMNS: &str = "id, session_id, kind, turn, status, command, pid, exit_code, error, \
     started_at, finished_at";

fn select_session(actor: &Actor, session_id: &str) -> Stmt {
    Stmt::new(format!(
        "SELECT {SESSION_COLUMNS} FROM workspace_sessions WHERE id = ? AND workspace_id = ?"
    ))
    .bind(session_id)
    .bind(&actor.workspace_id)
}

fn select_processes(actor: &Actor, session_id: &str) -> Stmt {
    Stmt::new(format!(
        "SELECT {PROCESS_COLUMNS} FROM execution_processes WHERE session_id = ? \
         AND EXISTS (SELECT 1 FROM workspace_sessions s WHERE s.id = ? AND s.workspace_id = ?) \
         ORDER BY started_at, id"
    ))
    .bind(session_id)
    .bind(session_id)
    .bind(&actor.workspace_id)
}

fn session_not_found(session_id: &str) -> StoreError {
    StoreError::NotFound {
        kind: "session",
        id: session_id.to_owned(),
    }
}

/// An audit row for something a runner did to a session it owns: written
/// in the session's workspace, in the name of the session's creator.
fn runner_audit(
    session_id: &str,
    action: &str,
    entity_type: &str,
    details: serde_json::Value,
    guard: &'static str,
    guard_params: Vec<Param>,
) -> Stmt {
    let mut stmt = Stmt::new(format!(
        "INSERT INTO audit_logs (id, workspace_id, user_id, api_key_id, action, entity_type, entity_id, \
         details, request_id, created_at) \
         SELECT ?, s.workspace_id, s.created_by, NULL, ?, ?, \
                CASE WHEN ? = 'task' THEN s.task_id ELSE s.id END, ?, NULL, ? \
         FROM workspace_sessions s WHERE s.id = ? AND {guard} ON CONFLICT DO NOTHING"
    ))
    .bind(new_id())
    .bind(action)
    .bind(entity_type)
    .bind(entity_type)
    .bind(details.to_string())
    .bind(now())
    .bind(session_id);
    stmt.params.extend(guard_params);
    stmt
}

/// Moves a session's task back to `todo` when a turn did not succeed and no
/// other session of the task is still active. Only a task still `inprogress`
/// moves: a person who moved it meanwhile wins.
fn task_back_to_todo(session_id: &str, at: &str) -> Stmt {
    Stmt::new(
        "UPDATE tasks SET status = 'todo', updated_at = ? \
         WHERE id = (SELECT task_id FROM workspace_sessions WHERE id = ?) AND status = 'inprogress' \
           AND NOT EXISTS (SELECT 1 FROM workspace_sessions o WHERE o.task_id = tasks.id AND o.id <> ? \
                           AND o.status IN ('queued', 'running'))",
    )
    .bind(at)
    .bind(session_id)
    .bind(session_id)
}

fn changes(result: Option<&StmtResult>) -> u64 {
    result.map_or(0, |r| r.changes)
}

impl Store {
    /// Queues a new session on a task and moves the task to `inprogress`.
    pub async fn create_session(&self, actor: &Actor, new: NewSession) -> Result<Session> {
        let id = new_id();
        let at = now();
        let insert = Stmt::new(
            "INSERT INTO workspace_sessions (id, workspace_id, task_id, executor, prompt, pending_prompt, status, \
                                             base_branch, created_by, created_at, updated_at) \
             SELECT ?, t.workspace_id, t.id, ?, ?, ?, 'queued', ?, ?, ?, ? \
             FROM tasks t WHERE t.id = ? AND t.workspace_id = ? ON CONFLICT (id) DO NOTHING",
        )
        .bind(&id)
        .bind(&new.executor)
        .bind(&new.prompt)
        .bind(&new.prompt)
        .bind(new.base_branch.clone())
        .bind(&actor.user_id)
        .bind(&at)
        .bind(&at)
        .bind(&new.task_id)
        .bind(&actor.workspace_id);
        let exists = (
            "EXISTS (SELECT 1 FROM workspace_sessions WHERE id = ?)",
            vec![Param::from(&id)],
        );
        let audit_session = audit(
            actor,
            "create",
            "session",
            &id,
            json!({ "task_id": new.task_id, "executor": new.executor }),
            Some(exists.clone()),
        );
        let move_task = Stmt::new(
            "UPDATE tasks SET status = 'inprogress', updated_at = ? \
             WHERE id = ? AND workspace_id = ? AND status <> 'inprogress' \
               AND EXISTS (SELECT 1 FROM workspace_sessions WHERE id = ?)",
        )
        .bind(&at)
        .bind(&new.task_id)
        .bind(&actor.workspace_id)
        .bind(&id);
        let audit_task = audit(
            actor,
            "update",
            "task",
            &new.task_id,
            json!({ "fields": ["status"], "status": "inprogress", "session_id": id }),
            Some(("changes() > 0", Vec::new())),
        );
        let results = self
            .write(vec![
                insert,
                audit_session,
                move_task,
                audit_task,
                select_session(actor, &id),
            ])
            .await?;
        decode_first(results.get(4))?.ok_or_else(|| StoreError::NotFound {
            kind: "task",
            id: new.task_id.clone(),
        })
    }

    /// A session and its processes, in the caller's workspace.
    pub async fn get_session(
        &self,
        actor: &Actor,
        session_id: &str,
    ) -> Result<(Session, Vec<ExecutionProcess>)> {
        let results = self
            .read(vec![
                select_session(actor, session_id),
                select_processes(actor, session_id),
            ])
            .await?;
        let session: Session =
            decode_first(results.first())?.ok_or_else(|| session_not_found(session_id))?;
        Ok((session, decode_all(results.get(1))?))
    }

    /// Sessions of the workspace (or of one task), newest first.
    pub async fn list_sessions(
        &self,
        actor: &Actor,
        filter: &SessionFilter,
    ) -> Result<Vec<Session>> {
        let mut sql =
            format!("SELECT {SESSION_COLUMNS} FROM workspace_sessions WHERE workspace_id = ?");
        let mut params = vec![Param::from(&actor.workspace_id)];
        if let Some(task_id) = &filter.task_id {
            sql.push_str(" AND task_id = ?");
            params.push(task_id.into());
        }
        if !filter.statuses.is_empty() {
            let marks = vec!["?"; filter.statuses.len()].join(", ");
            sql.push_str(&format!(" AND status IN ({marks})"));
            params.extend(filter.statuses.iter().map(|s| Param::from(s.as_str())));
        }
        sql.push_str(" ORDER BY created_at DESC, id DESC LIMIT ?");
        params.push(Param::Int(i64::from(filter.limit)));
        let mut stmt = Stmt::new(sql);
        stmt.params = params;
        let mut batch = vec![stmt];
        if let Some(task_id) = &filter.task_id {
            batch.push(
                Stmt::new(
                    "SELECT EXISTS (SELECT 1 FROM tasks WHERE id = ? AND workspace_id = ?) AS n",
                )
                .bind(task_id)
                .bind(&actor.workspace_id),
            );
        }
        let results = self.read(batch).await?;
        if let Some(task_id) = &filter.task_id
            && super::first_int(results.get(1), "n") == 0
        {
            return Err(StoreError::NotFound {
                kind: "task",
                id: task_id.clone(),
            });
        }
        decode_all(results.first())
    }

    /// Asks a session to stop. A queued session stops at once; a running one
    /// is stopped by its runner, which sees `stop_requested_at`.
    pub async fn request_stop(&self, actor: &Actor, session_id: &str) -> Result<Session> {
        let at = now();
        let update = Stmt::new(
            "UPDATE workspace_sessions SET stop_requested_at = COALESCE(stop_requested_at, ?), updated_at = ?, \
                 status_reason = CASE WHEN status = 'queued' THEN 'stopped before a runner started it' \
                                      ELSE status_reason END, \
                 finished_at = CASE WHEN status = 'queued' THEN ? ELSE finished_at END, \
                 pending_prompt = CASE WHEN status = 'queued' THEN NULL ELSE pending_prompt END, \
                 status = CASE WHEN status = 'queued' THEN 'stopped' ELSE status END \
             WHERE id = ? AND workspace_id = ? AND status IN ('queued', 'running')",
        )
        .bind(&at)
        .bind(&at)
        .bind(&at)
        .bind(session_id)
        .bind(&actor.workspace_id);
        let audit_row = audit(
            actor,
            "stop",
            "session",
            session_id,
            json!({}),
            Some(("changes() > 0", Vec::new())),
        );
        // Only a session stopped right here (it was queued) releases its task.
        let task = Stmt::new(
            "UPDATE tasks SET status = 'todo', updated_at = ? \
             WHERE id = (SELECT task_id FROM workspace_sessions WHERE id = ? AND workspace_id = ? \
                         AND status = 'stopped' AND finished_at = ?) \
               AND status = 'inprogress' \
               AND NOT EXISTS (SELECT 1 FROM workspace_sessions o WHERE o.task_id = tasks.id AND o.id <> ? \
                               AND o.status IN ('queued', 'running'))",
        )
        .bind(&at)
        .bind(session_id)
        .bind(&actor.workspace_id)
        .bind(&at)
        .bind(session_id);
        let results = self
            .write(vec![
                update,
                audit_row,
                task,
                select_session(actor, session_id),
            ])
            .await?;
        let session: Session =
            decode_first(results.get(3))?.ok_or_else(|| session_not_found(session_id))?;
        if changes(results.first()) == 0 {
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
        session_id: &str,
        prompt: &str,
        executors: &[&str],
    ) -> Result<Session> {
        let at = now();
        let known = serde_json::to_string(executors)
            .map_err(|e| StoreError::Decode(format!("cannot encode the executor names: {e}")))?;
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
        let audit_row = audit(
            actor,
            "follow_up",
            "session",
            session_id,
            json!({}),
            Some(("changes() > 0", Vec::new())),
        );
        let move_task = Stmt::new(
            "UPDATE tasks SET status = 'inprogress', updated_at = ? \
             WHERE id = (SELECT task_id FROM workspace_sessions WHERE id = ? AND workspace_id = ? \
                         AND status = 'queued' AND updated_at = ?) \
               AND status <> 'inprogress'",
        )
        .bind(&at)
        .bind(session_id)
        .bind(&actor.workspace_id)
        .bind(&at);
        let results = self
            .write(vec![
                update,
                audit_row,
                move_task,
                select_session(actor, session_id),
            ])
            .await?;
        let session: Session =
            decode_first(results.get(3))?.ok_or_else(|| session_not_found(session_id))?;
        if changes(results.first()) == 0 {
            if !executors.contains(&session.executor.as_str()) {
                return Err(StoreError::Invalid(format!(
                    "this session's executor is gone: unknown executor '{}'; the executors are: {}. \
                     Start a new session with one of them",
                    session.executor,
                    executors.join(", ")
                )));
            }
            return Err(StoreError::Conflict(format!(
                "session {session_id} is {}: a follow-up needs a finished session; wait for it (get_session) \
                 or stop it (stop_session) first",
                session.status
            )));
        }
        Ok(session)
    }

    /// Claims the oldest queued turn for `runner`, if there is one. One
    /// statement decides: two runners racing never both win.
    pub async fn claim_session(&self, runner: &RunnerIdentity) -> Result<Option<ClaimedTurn>> {
        let at = now();
        let claim = Stmt::new(format!(
            "UPDATE workspace_sessions SET status = 'running', runner_id = ?, runner_host = ?, runner_pid = ?, \
                 claimed_at = ?, heartbeat_at = ?, started_at = COALESCE(started_at, ?), updated_at = ?, \
                 turns = turns + 1, status_reason = NULL \
             WHERE id = (SELECT id FROM workspace_sessions WHERE status = 'queued' \
                           AND (? IS NULL OR workspace_id = ?) AND (? IS NULL OR created_by = ?) \
                         ORDER BY created_at, id LIMIT 1) \
               AND status = 'queued' \
             RETURNING {SESSION_COLUMNS}"
        ))
        .bind(&runner.id)
        .bind(&runner.host)
        .bind(i64::from(runner.pid))
        .bind(&at)
        .bind(&at)
        .bind(&at)
        .bind(&at)
        .bind(runner.scope.workspace_id.as_deref())
        .bind(runner.scope.workspace_id.as_deref())
        .bind(runner.scope.created_by.as_deref())
        .bind(runner.scope.created_by.as_deref());
        let results = self.write(vec![claim]).await?;
        let Some(session) = decode_first::<Session>(results.first())? else {
            return Ok(None);
        };
        let context = self.turn_context(&session.id).await;
        let context = match context {
            Ok(context) => context,
            Err(e) => {
                // Never leave a claimed session running with nobody on it.
                let outcome = TurnOutcome {
                    status: SessionStatus::Failed,
                    reason: Some(format!(
                        "could not read the session's task and project: {e}"
                    )),
                };
                self.finish_turn(&session.id, &runner.id, &outcome).await?;
                return Err(e);
            }
        };
        let prompt = session
            .pending_prompt
            .clone()
            .unwrap_or_else(|| session.prompt.clone());
        Ok(Some(ClaimedTurn {
            turn: session.turns,
            prompt,
            session,
            workspace_id: context.workspace_id,
            project_name: context.project_name,
            task_title: context.task_title,
            repo_path: context.repo_path,
            setup_script: context.setup_script,
            cleanup_script: context.cleanup_script,
        }))
    }

    /// What a runner needs to know about a session's task and project.
    async fn turn_context(&self, session_id: &str) -> Result<TurnContext> {
        let results = self
            .read(vec![
                Stmt::new(
                    "SELECT s.workspace_id, p.name AS project_name, t.title AS task_title, p.repo_path, \
                            p.setup_script, p.cleanup_script \
                     FROM workspace_sessions s JOIN tasks t ON t.id = s.task_id JOIN projects p ON p.id = t.project_id \
                     WHERE s.id = ?",
                )
                .bind(session_id),
            ])
            .await?;
        decode_first(results.first())?.ok_or_else(|| session_not_found(session_id))
    }

    /// Records where the session's worktree is.
    pub async fn set_session_worktree(
        &self,
        session_id: &str,
        base_branch: Option<&str>,
        branch: Option<&str>,
        worktree_path: &str,
    ) -> Result<()> {
        self.write(vec![
            Stmt::new(
                "UPDATE workspace_sessions SET base_branch = ?, branch = ?, worktree_path = ?, updated_at = ? \
                 WHERE id = ?",
            )
            .bind(base_branch)
            .bind(branch)
            .bind(worktree_path)
            .bind(now())
            .bind(session_id),
        ])
        .await?;
        Ok(())
    }

    /// Records the agent's own conversation id (for resuming on follow-ups).
    pub async fn set_agent_session_id(
        &self,
        session_id: &str,
        agent_session_id: &str,
    ) -> Result<()> {
        self.write(vec![
            Stmt::new(
                "UPDATE workspace_sessions SET agent_session_id = ?, updated_at = ? WHERE id = ?",
            )
            .bind(agent_session_id)
            .bind(now())
            .bind(session_id),
        ])
        .await?;
        Ok(())
    }

    /// Adds a running process to a session; returns its id.
    pub async fn start_process(
        &self,
        session_id: &str,
        kind: ProcessKind,
        turn: i64,
        command: &str,
        log_key: &str,
    ) -> Result<String> {
        let id = new_id();
        self.write(vec![
            Stmt::new(
                "INSERT INTO execution_processes (id, session_id, kind, turn, status, command, log_key, started_at) \
                 VALUES (?, ?, ?, ?, 'running', ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            )
            .bind(&id)
            .bind(session_id)
            .bind(kind.as_str())
            .bind(turn)
            .bind(command)
            .bind(log_key)
            .bind(now()),
        ])
        .await?;
        Ok(id)
    }

    pub async fn set_process_pid(&self, process_id: &str, pid: u32) -> Result<()> {
        self.write(vec![
            Stmt::new("UPDATE execution_processes SET pid = ? WHERE id = ?")
                .bind(i64::from(pid))
                .bind(process_id),
        ])
        .await?;
        Ok(())
    }

    pub async fn finish_process(
        &self,
        process_id: &str,
        status: ProcessStatus,
        exit_code: Option<i32>,
        error: Option<&str>,
    ) -> Result<()> {
        self.write(vec![
            Stmt::new(
                "UPDATE execution_processes SET status = ?, exit_code = ?, error = ?, finished_at = ? \
                 WHERE id = ? AND status = 'running'",
            )
            .bind(status.as_str())
            .bind(exit_code.map(i64::from))
            .bind(error)
            .bind(now())
            .bind(process_id),
        ])
        .await?;
        Ok(())
    }

    /// Ends a turn the runner owns, and moves the task: `inreview` when the
    /// agent succeeded, back to `todo` otherwise (only if it is still
    /// `inprogress` and nothing else runs on it).
    pub async fn finish_turn(
        &self,
        session_id: &str,
        runner_id: &str,
        outcome: &TurnOutcome,
    ) -> Result<()> {
        let at = now();
        let update = Stmt::new(
            "UPDATE workspace_sessions SET status = ?, status_reason = ?, finished_at = ?, updated_at = ?, \
                 pending_prompt = NULL \
             WHERE id = ? AND runner_id = ? AND status = 'running'",
        )
        .bind(outcome.status.as_str())
        .bind(outcome.reason.clone())
        .bind(&at)
        .bind(&at)
        .bind(session_id)
        .bind(runner_id);
        let audit_session = runner_audit(
            session_id,
            "finish",
            "session",
            json!({ "status": outcome.status, "reason": outcome.reason, "runner_id": runner_id }),
            "changes() > 0",
            Vec::new(),
        );
        let finished_here = "s.finished_at = ? AND s.runner_id = ?";
        let guard_params = vec![Param::from(&at), Param::from(runner_id)];
        let (task, new_status) = if outcome.status == SessionStatus::Completed {
            (
                Stmt::new(
                    "UPDATE tasks SET status = 'inreview', updated_at = ? \
                     WHERE id = (SELECT task_id FROM workspace_sessions WHERE id = ? AND finished_at = ? \
                                 AND runner_id = ?) \
                       AND status = 'inprogress'",
                )
                .bind(&at)
                .bind(session_id)
                .bind(&at)
                .bind(runner_id),
                "inreview",
            )
        } else {
            {
                let mut stmt = task_back_to_todo(session_id, &at);
                stmt.sql = format!(
                    "{} AND EXISTS (SELECT 1 FROM workspace_sessions s WHERE s.id = ? AND {finished_here})",
                    stmt.sql
                )
                .into();
                stmt = stmt.bind(session_id);
                stmt.params.extend(guard_params.clone());
                (stmt, "todo")
            }
        };
        let audit_task = runner_audit(
            session_id,
            "update",
            "task",
            json!({ "fields": ["status"], "status": new_status, "session_id": session_id }),
            "changes() > 0",
            Vec::new(),
        );
        self.write(vec![update, audit_session, task, audit_task])
            .await?;
        Ok(())
    }

    /// Refreshes the heartbeat of `runner`'s running sessions; returns the
    /// ids of those asked to stop.
    pub async fn heartbeat(&self, runner_id: &str) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Beat {
            id: String,
            stop_requested_at: Option<String>,
        }
        let results = self
            .write(vec![
                Stmt::new(
                    "UPDATE workspace_sessions SET heartbeat_at = ? WHERE runner_id = ? AND status = 'running' \
                     RETURNING id, stop_requested_at",
                )
                .bind(now())
                .bind(runner_id),
            ])
            .await?;
        Ok(decode_all::<Beat>(results.first())?
            .into_iter()
            .filter(|b| b.stop_requested_at.is_some())
            .map(|b| b.id)
            .collect())
    }

    /// Every running session and who owns it (for finding orphans at start).
    pub async fn running_owners(&self) -> Result<Vec<RunningOwner>> {
        let results = self
            .read(vec![Stmt::new(
                "SELECT id, runner_id, runner_host, runner_pid, heartbeat_at FROM workspace_sessions \
                 WHERE status = 'running'",
            )])
            .await?;
        decode_all(results.first())
    }

    /// Marks a session whose runner died as interrupted (only if that runner
    /// still owns it), with its running processes; its logs stay readable.
    pub async fn interrupt_session(
        &self,
        session_id: &str,
        runner_id: Option<&str>,
        reason: &str,
    ) -> Result<bool> {
        let at = now();
        let update = Stmt::new(
            "UPDATE workspace_sessions SET status = 'interrupted', status_reason = ?, finished_at = ?, \
                 updated_at = ? \
             WHERE id = ? AND status = 'running' AND runner_id IS ?",
        )
        .bind(reason)
        .bind(&at)
        .bind(&at)
        .bind(session_id)
        .bind(runner_id);
        let audit_row = runner_audit(
            session_id,
            "interrupt",
            "session",
            json!({ "reason": reason, "runner_id": runner_id }),
            "changes() > 0",
            Vec::new(),
        );
        let processes = Stmt::new(
            "UPDATE execution_processes SET status = 'interrupted', finished_at = ?, \
                 error = 'the runner stopped while this process ran' \
             WHERE session_id = ? AND status = 'running' \
               AND EXISTS (SELECT 1 FROM workspace_sessions s WHERE s.id = ? AND s.status = 'interrupted' \
                           AND s.finished_at = ?)",
        )
        .bind(&at)
        .bind(session_id)
        .bind(session_id)
        .bind(&at);
        let mut task = task_back_to_todo(session_id, &at);
        task.sql = format!(
            "{} AND EXISTS (SELECT 1 FROM workspace_sessions s WHERE s.id = ? AND s.status = 'interrupted' \
             AND s.finished_at = ?)",
            task.sql
        )
        .into();
        task = task.bind(session_id).bind(&at);
        let results = self.write(vec![update, audit_row, processes, task]).await?;
        Ok(changes(results.first()) > 0)
    }
}
