//! What reviewing and cleaning up a session's work asks of the store: a
//! session with its project's repository (for its diff), archiving one for
//! a caller, and the runner's retention sweep (finished sessions whose
//! worktrees are older than `[sessions] keep_worktrees_days`). One round
//! trip each.

use serde::Deserialize;
use serde_json::json;

use super::{RunnerScope, Session, select_session, session_not_found};
use crate::store::{
    Actor, Batch, Result, ResultHandle, SessionId, Stmt, Store, StoreError, audit::Audit, now,
};

/// The statuses of a finished session, as SQL (a macro, so every statement
/// stays one fixed text).
macro_rules! finished {
    () => {
        "('completed', 'failed', 'stopped', 'interrupted')"
    };
}

/// A session whose worktree the retention sweep removes.
#[derive(Debug, Clone, Deserialize)]
pub struct ExpiredWorktree {
    pub id: SessionId,
    pub worktree_path: String,
    pub branch: Option<String>,
    pub repo_path: Option<String>,
}

#[derive(Deserialize)]
struct RepoPath {
    repo_path: Option<String>,
}

/// The repository of a session's project, scoped to the caller.
fn select_repo_path(actor: &Actor, session_id: &SessionId) -> Stmt {
    Stmt::new(
        "SELECT p.repo_path FROM workspace_sessions s JOIN tasks t ON t.id = s.task_id \
         JOIN projects p ON p.id = t.project_id WHERE s.id = ? AND s.workspace_id = ?",
    )
    .bind(session_id)
    .bind(&actor.workspace_id)
}

/// Records that a finished session of the caller's, run on `host` (or on
/// no machine yet), is archived, with its audit row; the update's handle.
/// Shared by `archive_session` and `merge_session` with `archive`.
pub(super) fn push_archive(
    batch: &mut Batch,
    actor: &Actor,
    session_id: &SessionId,
    host: &str,
    delete_branch: bool,
) -> ResultHandle {
    let update = Stmt::new(concat!(
        "UPDATE workspace_sessions SET archived_at = COALESCE(archived_at, ?1), updated_at = ?1 \
         WHERE id = ?2 AND workspace_id = ?3 AND status IN ",
        finished!(),
        " \
           AND (runner_host IS NULL OR runner_host = ?4)"
    ))
    .bind(now())
    .bind(session_id)
    .bind(&actor.workspace_id)
    .bind(host);
    batch.push_audited(
        update,
        Audit::by_actor(
            actor,
            "archive",
            "session",
            session_id,
            json!({ "delete_branch": delete_branch }),
        ),
    )
}

impl Store {
    /// A session of the caller's and its project's `repo_path`, in one read.
    pub async fn session_with_repo(
        &self,
        actor: &Actor,
        session_id: &SessionId,
    ) -> Result<(Session, Option<String>)> {
        let mut batch = Batch::new();
        let session = batch.push(select_session(actor, session_id));
        let repo = batch.push(select_repo_path(actor, session_id));
        let results = self.read(batch).await?;
        let session: Session = results
            .first(session)?
            .ok_or_else(|| session_not_found(session_id))?;
        let repo = results.first::<RepoPath>(repo)?.and_then(|r| r.repo_path);
        Ok((session, repo))
    }

    /// Records that a finished session of the caller's is archived (keeping
    /// the first time, when archived again) and returns it with its
    /// project's `repo_path`, so the caller can remove its worktree. A queued
    /// or running session is refused, and so is one whose worktree is on a
    /// machine other than `host`: nothing changes then.
    pub async fn archive_session(
        &self,
        actor: &Actor,
        session_id: &SessionId,
        host: &str,
        delete_branch: bool,
    ) -> Result<(Session, Option<String>)> {
        let mut batch = Batch::new();
        let updated = push_archive(&mut batch, actor, session_id, host, delete_branch);
        let session = batch.push(select_session(actor, session_id));
        let repo = batch.push(select_repo_path(actor, session_id));
        let results = self.write(batch).await?;
        let session: Session = results
            .first(session)?
            .ok_or_else(|| session_not_found(session_id))?;
        if results.changes(updated) == 0 {
            if session.status.is_active() {
                return Err(StoreError::Conflict(format!(
                    "session {session_id} is {}: only a finished session can be archived; wait for it to \
                     finish or stop it first. Nothing was changed",
                    session.status
                )));
            }
            return Err(StoreError::Conflict(format!(
                "session {session_id} ran on host '{}' and its worktree is on that machine; archive it \
                 through a server running there. Nothing was changed",
                session.runner_host.as_deref().unwrap_or_default()
            )));
        }
        let repo = results.first::<RepoPath>(repo)?.and_then(|r| r.repo_path);
        Ok((session, repo))
    }

    /// Finished sessions that `scope` covers, run on `host`, not archived,
    /// that finished before `finished_before`: oldest first, at most `limit`.
    pub async fn expired_worktrees(
        &self,
        scope: &RunnerScope,
        host: &str,
        finished_before: &str,
        limit: u32,
    ) -> Result<Vec<ExpiredWorktree>> {
        self.read_one(
            Stmt::new(concat!(
                "SELECT s.id, s.worktree_path, s.branch, p.repo_path \
                 FROM workspace_sessions s JOIN tasks t ON t.id = s.task_id JOIN projects p ON p.id = t.project_id \
                 WHERE s.archived_at IS NULL AND s.finished_at < ?1 AND s.status IN ",
            finished!(),
            " \
                   AND s.worktree_path IS NOT NULL AND s.runner_host = ?2 \
                   AND (?3 IS NULL OR s.workspace_id = ?3) AND (?4 IS NULL OR s.created_by = ?4) \
                 ORDER BY s.finished_at LIMIT ?5"
            ))
            .bind(finished_before)
            .bind(host)
            .bind(scope.workspace_id.as_deref())
            .bind(scope.created_by.as_deref())
            .bind(i64::from(limit)),
        )
        .await?
        .all()
    }

    /// Records that retention archived a session, if it is still finished
    /// before `finished_before` and not archived (a follow-up queued
    /// meanwhile keeps it). Says whether it did.
    pub async fn archive_expired(
        &self,
        session_id: &SessionId,
        finished_before: &str,
        keep_days: f64,
    ) -> Result<bool> {
        let at = now();
        let update = Stmt::new(concat!(
            "UPDATE workspace_sessions SET archived_at = ?1, updated_at = ?1 \
             WHERE id = ?2 AND archived_at IS NULL AND status IN ",
            finished!(),
            " AND finished_at < ?3"
        ))
        .bind(&at)
        .bind(session_id)
        .bind(finished_before);
        let mut batch = Batch::new();
        let updated = batch.push_audited(
            update,
            Audit::by_session_owner(
                session_id,
                "archive",
                "session",
                json!({ "keep_worktrees_days": keep_days }),
            ),
        );
        let results = self.write(batch).await?;
        Ok(results.changes(updated) > 0)
    }
}
