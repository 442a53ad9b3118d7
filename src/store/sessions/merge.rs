//! What merging a session's work asks of the store: one read before the git
//! work (the session, its project's repository, its task's title and the
//! latest turn's final message) and one write after it (the merge recorded
//! on the session, the task moved to `done`, optionally the session
//! archived, each with its audit row). A session is merged at most once: the
//! write only records a merge on a session without one.

use serde::Deserialize;
use serde_json::json;

use super::{Session, review::push_archive, select_session, session_not_found};
use crate::store::{
    Actor, Batch, Result, SessionId, Stmt, Store, StoreError, TaskId, audit::Audit, now,
};

/// What a merge needs to know about a session before git runs.
#[derive(Debug, Clone)]
pub struct MergeSource {
    pub session: Session,
    pub repo_path: Option<String>,
    pub task_title: String,
    /// The latest finished turn's final message, if the agent gave one.
    pub final_message: Option<String>,
}

#[derive(Deserialize)]
struct MergeContext {
    task_title: String,
    repo_path: Option<String>,
    final_message: Option<String>,
}

/// A merge that landed, to record.
#[derive(Debug, Clone)]
pub struct MergeRecord<'a> {
    pub task_id: &'a TaskId,
    pub commit: &'a str,
    /// `merge`, `squash` or `rebase`.
    pub strategy: &'a str,
    pub base_branch: &'a str,
    /// Also record the session archived (its worktree is removed after).
    pub archive_on: Option<&'a str>,
}

impl Store {
    /// A session of the caller's with what merging it needs, in one read.
    pub async fn merge_source(&self, actor: &Actor, session_id: &SessionId) -> Result<MergeSource> {
        let mut batch = Batch::new();
        let session = batch.push(select_session(actor, session_id));
        let context = batch.push(
            Stmt::new(
                "SELECT t.title AS task_title, p.repo_path, \
                        (SELECT final_message FROM session_turns WHERE session_id = s.id \
                         ORDER BY turn DESC LIMIT 1) AS final_message \
                 FROM workspace_sessions s JOIN tasks t ON t.id = s.task_id \
                 JOIN projects p ON p.id = t.project_id WHERE s.id = ?1 AND s.workspace_id = ?2",
            )
            .bind(session_id)
            .bind(&actor.workspace_id),
        );
        let results = self.read(batch).await?;
        let session: Session = results
            .first(session)?
            .ok_or_else(|| session_not_found(session_id))?;
        let context: MergeContext = results
            .first(context)?
            .ok_or_else(|| session_not_found(session_id))?;
        Ok(MergeSource {
            session,
            repo_path: context.repo_path,
            task_title: context.task_title,
            final_message: context.final_message,
        })
    }

    /// Records a merge that landed: on the session (unless it has one
    /// already: then nothing changes and the error names the recorded
    /// commit), its task moved to `done`, and the session archived when
    /// asked. One write; returns the session as recorded.
    pub async fn record_merge(
        &self,
        actor: &Actor,
        session_id: &SessionId,
        merge: &MergeRecord<'_>,
    ) -> Result<Session> {
        let at = now();
        let mut batch = Batch::new();
        let recorded = batch.push_audited(
            Stmt::new(
                "UPDATE workspace_sessions SET merge_commit = ?1, merge_strategy = ?2, merged_at = ?3, \
                     updated_at = ?3 \
                 WHERE id = ?4 AND workspace_id = ?5 AND merge_commit IS NULL",
            )
            .bind(merge.commit)
            .bind(merge.strategy)
            .bind(&at)
            .bind(session_id)
            .bind(&actor.workspace_id),
            Audit::by_actor(
                actor,
                "merge",
                "session",
                session_id,
                json!({
                    "commit": merge.commit,
                    "strategy": merge.strategy,
                    "base_branch": merge.base_branch,
                }),
            ),
        );
        batch.push_audited(
            Stmt::new(
                "UPDATE tasks SET status = 'done', updated_at = ?1, updated_by = ?6 \
                 WHERE id = ?2 AND workspace_id = ?3 AND status <> 'done' \
                   AND EXISTS (SELECT 1 FROM workspace_sessions WHERE id = ?4 AND merge_commit = ?5 \
                               AND merged_at = ?1)",
            )
            .bind(&at)
            .bind(merge.task_id)
            .bind(&actor.workspace_id)
            .bind(session_id)
            .bind(merge.commit)
            .bind(&actor.user_id),
            Audit::by_actor(
                actor,
                "update",
                "task",
                merge.task_id,
                json!({ "fields": ["status"], "status": "done", "session_id": session_id }),
            ),
        );
        if let Some(host) = merge.archive_on {
            push_archive(&mut batch, actor, session_id, host, false);
        }
        let session = batch.push(select_session(actor, session_id));
        let results = self.write(batch).await?;
        let session: Session = results
            .first(session)?
            .ok_or_else(|| session_not_found(session_id))?;
        if results.changes(recorded) == 0 {
            return Err(StoreError::Conflict(format!(
                "session {session_id} was merged meanwhile, as commit {}; nothing more was recorded",
                session.merge_commit.as_deref().unwrap_or("?")
            )));
        }
        Ok(session)
    }
}
