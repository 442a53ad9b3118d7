//! The runner protocol: what a runner asks of the session store for the
//! sessions it claimed — claim a queued turn, record its worktree and
//! processes, beat its heartbeat (and learn of stop requests), finish the
//! turn, and mark the sessions of a dead runner interrupted. These act for
//! the system, not for a caller; their audit rows are written in the
//! session's workspace, in the name of the session's creator.

use serde::Deserialize;
use serde_json::json;

use super::{
    ClaimedTurn, ProcessKind, ProcessStatus, RunnerIdentity, RunningOwner, Session, SessionStatus,
    TurnOutcome, session_columns, session_not_found, task_back_to_todo, types::TurnContext,
};
use crate::store::{Batch, ProcessId, Result, SessionId, Stmt, Store, audit::Audit, now};

impl Store {
    /// Claims the oldest queued turn for `runner`, if there is one. One
    /// statement decides: two runners racing never both win.
    pub async fn claim_session(&self, runner: &RunnerIdentity) -> Result<Option<ClaimedTurn>> {
        let at = now();
        let claim = Stmt::new(concat!(
            "UPDATE workspace_sessions SET status = 'running', runner_id = ?1, runner_host = ?2, runner_pid = ?3, \
                 claimed_at = ?4, heartbeat_at = ?4, started_at = COALESCE(started_at, ?4), updated_at = ?4, \
                 turns = turns + 1, status_reason = NULL \
             WHERE id = (SELECT id FROM workspace_sessions WHERE status = 'queued' \
                           AND (?5 IS NULL OR workspace_id = ?5) AND (?6 IS NULL OR created_by = ?6) \
                         ORDER BY created_at, id LIMIT 1) \
               AND status = 'queued' \
             RETURNING ",
            session_columns!()
        ))
        .bind(&runner.id)
        .bind(&runner.host)
        .bind(i64::from(runner.pid))
        .bind(&at)
        .bind(runner.scope.workspace_id.as_deref())
        .bind(runner.scope.created_by.as_deref());
        let claimed = self.write_one(claim).await?;
        let Some(session) = claimed.first::<Session>()? else {
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
            approvals: context.approvals,
        }))
    }

    /// What a runner needs to know about a session's task and project.
    async fn turn_context(&self, session_id: &SessionId) -> Result<TurnContext> {
        self.read_one(
            Stmt::new(
                "SELECT s.workspace_id, p.name AS project_name, t.title AS task_title, p.repo_path, \
                        p.setup_script, p.cleanup_script, s.approvals \
                 FROM workspace_sessions s JOIN tasks t ON t.id = s.task_id JOIN projects p ON p.id = t.project_id \
                 WHERE s.id = ?",
            )
            .bind(session_id),
        )
        .await?
        .first()?
        .ok_or_else(|| session_not_found(session_id))
    }

    /// Records where the session's worktree is.
    pub async fn set_session_worktree(
        &self,
        session_id: &SessionId,
        base_branch: Option<&str>,
        branch: Option<&str>,
        worktree_path: &str,
    ) -> Result<()> {
        self.write_one(
            Stmt::new(
                "UPDATE workspace_sessions SET base_branch = ?, branch = ?, worktree_path = ?, updated_at = ? \
                 WHERE id = ?",
            )
            .bind(base_branch)
            .bind(branch)
            .bind(worktree_path)
            .bind(now())
            .bind(session_id),
        )
        .await?;
        Ok(())
    }

    /// Records the agent's own conversation id (for resuming on follow-ups).
    pub async fn set_agent_session_id(
        &self,
        session_id: &SessionId,
        agent_session_id: &str,
    ) -> Result<()> {
        self.write_one(
            Stmt::new(
                "UPDATE workspace_sessions SET agent_session_id = ?, updated_at = ? WHERE id = ?",
            )
            .bind(agent_session_id)
            .bind(now())
            .bind(session_id),
        )
        .await?;
        Ok(())
    }

    /// Adds a running process to a session; returns its id.
    pub async fn start_process(
        &self,
        session_id: &SessionId,
        kind: ProcessKind,
        turn: i64,
        command: &str,
        log_key: &str,
    ) -> Result<ProcessId> {
        let id = ProcessId::generate();
        self.write_one(
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
        )
        .await?;
        Ok(id)
    }

    pub async fn set_process_pid(&self, process_id: &ProcessId, pid: u32) -> Result<()> {
        self.write_one(
            Stmt::new("UPDATE execution_processes SET pid = ? WHERE id = ?")
                .bind(i64::from(pid))
                .bind(process_id),
        )
        .await?;
        Ok(())
    }

    pub async fn finish_process(
        &self,
        process_id: &ProcessId,
        status: ProcessStatus,
        exit_code: Option<i32>,
        error: Option<&str>,
    ) -> Result<()> {
        self.write_one(
            Stmt::new(
                "UPDATE execution_processes SET status = ?, exit_code = ?, error = ?, finished_at = ? \
                 WHERE id = ? AND status = 'running'",
            )
            .bind(status.as_str())
            .bind(exit_code.map(i64::from))
            .bind(error)
            .bind(now())
            .bind(process_id),
        )
        .await?;
        Ok(())
    }

    /// Ends a turn the runner owns, and moves the task: `inreview` when the
    /// agent succeeded, back to `todo` otherwise (only if it is still
    /// `inprogress` and nothing else runs on it), in the name of the
    /// session's creator (`updated_by` and the audit row).
    pub async fn finish_turn(
        &self,
        session_id: &SessionId,
        runner_id: &str,
        outcome: &TurnOutcome,
    ) -> Result<()> {
        let at = now();
        let update = Stmt::new(
            "UPDATE workspace_sessions SET status = ?1, status_reason = ?2, finished_at = ?3, updated_at = ?3, \
                 pending_prompt = NULL \
             WHERE id = ?4 AND runner_id = ?5 AND status = 'running'",
        )
        .bind(outcome.status.as_str())
        .bind(outcome.reason.clone())
        .bind(&at)
        .bind(session_id)
        .bind(runner_id);
        let (task, new_status) = if outcome.status == SessionStatus::Completed {
            (
                Stmt::new(
                    "UPDATE tasks SET status = 'inreview', updated_at = ?1, \
                         updated_by = (SELECT created_by FROM workspace_sessions WHERE id = ?2) \
                     WHERE id = (SELECT task_id FROM workspace_sessions WHERE id = ?2 AND finished_at = ?1 \
                                 AND runner_id = ?3) \
                       AND status = 'inprogress'",
                )
                .bind(&at)
                .bind(session_id)
                .bind(runner_id),
                "inreview",
            )
        } else {
            (
                task_back_to_todo(session_id, &at, outcome.status, Some(runner_id)),
                "todo",
            )
        };
        let mut batch = Batch::new();
        batch.push_audited(update, Audit::by_session_owner(
                session_id,
                "finish",
                "session",
                json!({ "status": outcome.status, "reason": outcome.reason, "runner_id": runner_id }),
            ));
        batch.push_audited(
            task,
            Audit::by_session_owner(
                session_id,
                "update",
                "task",
                json!({ "fields": ["status"], "status": new_status, "session_id": session_id }),
            ),
        );
        self.write(batch).await?;
        Ok(())
    }

    /// Refreshes the heartbeat of `runner`'s running sessions; returns the
    /// ids of those asked to stop.
    pub async fn heartbeat(&self, runner_id: &str) -> Result<Vec<SessionId>> {
        #[derive(Deserialize)]
        struct Beat {
            id: SessionId,
            stop_requested_at: Option<String>,
        }
        let beats = self
            .write_one(
                Stmt::new(
                    "UPDATE workspace_sessions SET heartbeat_at = ? WHERE runner_id = ? AND status = 'running' \
                     RETURNING id, stop_requested_at",
                )
                .bind(now())
                .bind(runner_id),
            )
            .await?;
        Ok(beats
            .all::<Beat>()?
            .into_iter()
            .filter(|b| b.stop_requested_at.is_some())
            .map(|b| b.id)
            .collect())
    }

    /// Every running session and who owns it (for finding orphans at start).
    pub async fn running_owners(&self) -> Result<Vec<RunningOwner>> {
        self.read_one(Stmt::new(
            "SELECT id, runner_id, runner_host, runner_pid, heartbeat_at FROM workspace_sessions \
             WHERE status = 'running'",
        ))
        .await?
        .all()
    }

    /// Marks a session whose runner died as interrupted (only if that runner
    /// still owns it), with its running processes; its logs stay readable.
    pub async fn interrupt_session(
        &self,
        session_id: &SessionId,
        runner_id: Option<&str>,
        reason: &str,
    ) -> Result<bool> {
        let at = now();
        let update = Stmt::new(
            "UPDATE workspace_sessions SET status = 'interrupted', status_reason = ?1, finished_at = ?2, \
                 updated_at = ?2 \
             WHERE id = ?3 AND status = 'running' AND runner_id IS ?4",
        )
        .bind(reason)
        .bind(&at)
        .bind(session_id)
        .bind(runner_id);
        let processes = Stmt::new(
            "UPDATE execution_processes SET status = 'interrupted', finished_at = ?1, \
                 error = 'the runner stopped while this process ran' \
             WHERE session_id = ?2 AND status = 'running' \
               AND EXISTS (SELECT 1 FROM workspace_sessions s WHERE s.id = ?2 AND s.status = 'interrupted' \
                           AND s.finished_at = ?1)",
        )
        .bind(&at)
        .bind(session_id);
        let mut batch = Batch::new();
        let updated = batch.push_audited(
            update,
            Audit::by_session_owner(
                session_id,
                "interrupt",
                "session",
                json!({ "reason": reason, "runner_id": runner_id }),
            ),
        );
        batch.push(processes);
        batch.push(task_back_to_todo(
            session_id,
            &at,
            SessionStatus::Interrupted,
            None,
        ));
        let results = self.write(batch).await?;
        Ok(results.changes(updated) > 0)
    }
}
