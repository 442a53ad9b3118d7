//! Agent sessions (`workspace_sessions`) and their execution processes.
//!
//! Two kinds of callers, one file each: tools ([`queries`]), which act for a
//! caller and are scoped by the caller's workspace like every other query;
//! and runners ([`runner`]), which act for the system on sessions they
//! claimed. Claiming is one atomic `UPDATE … WHERE status = 'queued' …
//! RETURNING`, so any number of runners sharing one store never run the same
//! turn twice. What both share is here.

mod merge;
mod queries;
mod review;
mod runner;
mod turns;
mod types;

pub use turns::{FinalMessageSource, SessionTurn};

pub use merge::{MergeRecord, MergeSource};
pub use review::ExpiredWorktree;
pub use types::{
    ClaimedTurn, ExecutionProcess, NewSession, ProcessKind, ProcessStatus, RunnerIdentity,
    RunnerScope, RunningOwner, Session, SessionFilter, SessionStatus, TurnOutcome,
};

use super::{Actor, Entity, SessionId, Stmt, StoreError};

/// The columns of a [`Session`].
macro_rules! session_columns {
    () => {
        "id, task_id, executor, prompt, pending_prompt, turns, status, status_reason, \
         base_branch, branch, worktree_path, agent_session_id, runner_id, runner_host, stop_requested_at, \
         started_at, finished_at, archived_at, created_by, created_at, updated_at, \
         merge_commit, merge_strategy, merged_at"
    };
}
pub(super) use session_columns;

/// A [`Session`]'s pull request, as one more column of a read `FROM
/// workspace_sessions` (a subquery: the read stays one statement).
macro_rules! session_pull_request {
    () => {
        ", (SELECT json_object('number', p.number, 'url', p.url, 'state', p.state) \
           FROM session_pull_requests p WHERE p.session_id = workspace_sessions.id) AS pull_request"
    };
}
pub(super) use session_pull_request;

pub(in crate::store) fn select_session(actor: &Actor, session_id: &SessionId) -> Stmt {
    Stmt::new(concat!(
        "SELECT ",
        session_columns!(),
        session_pull_request!(),
        " FROM workspace_sessions WHERE id = ? AND workspace_id = ?"
    ))
    .bind(session_id)
    .bind(&actor.workspace_id)
}

pub(in crate::store) fn session_not_found(session_id: &SessionId) -> StoreError {
    StoreError::not_found(Entity::Session, session_id)
}

/// Moves a session's task back to `todo` after the session ended at `at`
/// with `ended` (not a success), if `runner_id` (when given) owned it, and no
/// other session of the task is still active. Only a task still `inprogress`
/// moves: a person who moved it meanwhile wins. The one statement that does
/// this, for a stop, a failed turn and an interrupted one; the move is the
/// session's creator's (`updated_by`), as its audit row says.
fn task_back_to_todo(
    session_id: &SessionId,
    at: &str,
    ended: SessionStatus,
    runner_id: Option<&str>,
) -> Stmt {
    Stmt::new(
        "UPDATE tasks SET status = 'todo', updated_at = ?2, \
             updated_by = (SELECT created_by FROM workspace_sessions WHERE id = ?1) \
         WHERE id = (SELECT task_id FROM workspace_sessions WHERE id = ?1 AND status = ?3 AND finished_at = ?2 \
                     AND (?4 IS NULL OR runner_id = ?4)) \
           AND status = 'inprogress' \
           AND NOT EXISTS (SELECT 1 FROM workspace_sessions o WHERE o.task_id = tasks.id AND o.id <> ?1 \
                           AND o.status IN ('queued', 'running'))",
    )
    .bind(session_id)
    .bind(at)
    .bind(ended.as_str())
    .bind(runner_id)
}
