//! A project board's version: one cheap read that changes whenever a task of
//! the project is created, changed, moved or deleted. The web board polls
//! it (one shared poller per project) instead of reloading the board.

use super::{Actor, ProjectId, Result, Stmt, Store};

impl Store {
    /// A text that differs after any change to the project's tasks: their
    /// count, latest `updated_at` and the sum of their positions (a move
    /// within the same millisecond still shows); and after any comment on
    /// them is added, edited or deleted (their count and latest time), so
    /// an open task page hears of comments. Empty when the project is not
    /// the caller's.
    pub async fn board_version(&self, actor: &Actor, project_id: &ProjectId) -> Result<String> {
        let row = self
            .read_one(
                Stmt::new(
                    "SELECT COUNT(*) || ':' || COALESCE(MAX(updated_at), '') || ':' || TOTAL(position) \
                        || ':' || (SELECT COUNT(*) || ':' || COALESCE(MAX(MAX(c.created_at, \
                                COALESCE(c.edited_at, ''), COALESCE(c.deleted_at, ''))), '') \
                            FROM task_comments c JOIN tasks ct ON ct.id = c.task_id \
                            WHERE ct.project_id = ?1 AND c.workspace_id = ?2) AS version \
                     FROM tasks WHERE project_id = ?1 AND workspace_id = ?2",
                )
                .bind(project_id)
                .bind(&actor.workspace_id),
            )
            .await?;
        Ok(row.text("version").unwrap_or_default())
    }
}
