//! Task comments (migration 0017): markdown notes on a task by members and
//! by the agents they run. Each call is one batch: the change guarded in
//! SQL (the task is in the caller's workspace; only the author or an admin
//! edits or deletes), its audit row, the read-back and what a refusal needs
//! to say why. A deleted comment is kept (soft delete) with its body hidden.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;

use super::{
    Actor, Batch, CommentId, Entity, Result, SessionId, Stmt, Store, StoreError, TaskId, UserId,
    audit::Audit,
    now,
    page::{CommentKey, Page},
};

/// Longest comment body, in characters.
pub const MAX_COMMENT: usize = 20_000;
/// Comments `get_task` and the task resource show (the newest).
pub const LATEST_COMMENTS: i64 = 3;

/// A comment on a task.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Comment {
    pub id: CommentId,
    pub task_id: TaskId,
    pub author_id: Option<UserId>,
    /// The author's email.
    pub author: Option<String>,
    /// Markdown; empty once deleted.
    pub body: String,
    /// Written by an agent of `session_id`, for its author.
    #[serde(deserialize_with = "int_bool")]
    pub by_agent: bool,
    pub session_id: Option<SessionId>,
    pub created_at: String,
    pub edited_at: Option<String>,
    pub deleted_at: Option<String>,
}

/// One page of a task's comments, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CommentPage {
    pub comments: Vec<Comment>,
    /// Comments on the task (not deleted), over all pages.
    pub total: i64,
    pub next_cursor: Option<String>,
}

/// SQLite and D1 hand booleans back as 0 and 1.
fn int_bool<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Bool(b) => b,
        serde_json::Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        _ => false,
    })
}

/// A comment row as [`Comment`] reads it; `WHERE` follows.
macro_rules! select_comment {
    () => {
        "SELECT c.id, c.task_id, c.author_id, u.email AS author, \
                CASE WHEN c.deleted_at IS NULL THEN c.body ELSE '' END AS body, \
                c.by_agent, c.session_id, c.created_at, c.edited_at, c.deleted_at \
         FROM task_comments c LEFT JOIN users u ON u.id = c.author_id "
    };
}

fn select_comment(actor: &Actor, id: &CommentId) -> Stmt {
    Stmt::new(concat!(
        select_comment!(),
        "WHERE c.id = ? AND c.workspace_id = ?"
    ))
    .bind(id)
    .bind(&actor.workspace_id)
}

fn comment_not_found(id: &CommentId) -> StoreError {
    StoreError::not_found(Entity::Comment, id)
}

/// The newest [`LATEST_COMMENTS`] comments of task ?1 in workspace ?2, and
/// how many it has: the statements `get_task` adds to its batch.
pub(super) fn latest_comments(actor: &Actor, task_id: &TaskId) -> (Stmt, Stmt) {
    (
        Stmt::new(concat!(
            select_comment!(),
            "WHERE c.task_id = ?1 AND c.workspace_id = ?2 AND c.deleted_at IS NULL \
             ORDER BY c.created_at DESC, c.id DESC LIMIT ?3"
        ))
        .bind(task_id)
        .bind(&actor.workspace_id)
        .bind(LATEST_COMMENTS),
        Stmt::new(
            "SELECT COUNT(*) AS n FROM task_comments WHERE task_id = ? AND workspace_id = ? AND deleted_at IS NULL",
        )
        .bind(task_id)
        .bind(&actor.workspace_id),
    )
}

/// What an edit or a delete is: the statement's words and its audit action.
#[derive(Clone, Copy)]
enum Change {
    Edit,
    Delete,
}

impl Store {
    /// Adds a comment by the caller to a task of the caller's workspace.
    pub async fn add_comment(
        &self,
        actor: &Actor,
        task_id: &TaskId,
        body: &str,
    ) -> Result<Comment> {
        let id = CommentId::generate();
        let mut batch = Batch::new();
        batch.push_audited(
            Stmt::new(
                "INSERT INTO task_comments (id, workspace_id, task_id, author_id, body, by_agent, created_at) \
                 SELECT ?1, t.workspace_id, t.id, ?2, ?3, 0, ?4 FROM tasks t WHERE t.id = ?5 AND t.workspace_id = ?6 \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(&id)
            .bind(&actor.user_id)
            .bind(body)
            .bind(now())
            .bind(task_id)
            .bind(&actor.workspace_id),
            Audit::by_actor(
                actor,
                "create",
                "comment",
                &id,
                json!({ "task_id": task_id, "chars": body.chars().count() }),
            ),
        );
        let created = batch.push(select_comment(actor, &id));
        let results = self.write(batch).await?;
        results
            .first(created)?
            .ok_or_else(|| StoreError::not_found(Entity::Task, task_id))
    }

    /// Adds a comment by the agent of a running session, on the session's
    /// task, in the name of the member who started the session. `token_hash`
    /// is the turn's secret (as the session's server holds it); a `task_id`
    /// the agent names must be the session's task.
    pub async fn add_agent_comment(
        &self,
        session_id: &SessionId,
        token_hash: &str,
        task_id: Option<&str>,
        body: &str,
    ) -> Result<Comment> {
        let id = CommentId::generate();
        let mut batch = Batch::new();
        batch.push_audited(
            Stmt::new(
                "INSERT INTO task_comments (id, workspace_id, task_id, author_id, body, by_agent, session_id, created_at) \
                 SELECT ?1, s.workspace_id, s.task_id, s.created_by, ?2, 1, s.id, ?3 FROM workspace_sessions s \
                 WHERE s.id = ?4 AND s.status = 'running' AND s.agent_token_hash = ?5 \
                   AND (?6 IS NULL OR s.task_id = ?6) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(&id)
            .bind(body)
            .bind(now())
            .bind(session_id)
            .bind(token_hash)
            .bind(task_id),
            Audit::by_session_owner(
                session_id,
                "create",
                "comment",
                json!({ "session_id": session_id, "by_agent": true, "chars": body.chars().count() }),
            )
            .on(&id),
        );
        let created = batch.push(
            Stmt::new(concat!(
                select_comment!(),
                "WHERE c.id = ? AND c.session_id = ?"
            ))
            .bind(&id)
            .bind(session_id),
        );
        // Which task the secret's session works on, to say why a comment on
        // another was refused.
        let own = batch.push(
            Stmt::new(
                "SELECT task_id FROM workspace_sessions \
                 WHERE id = ? AND status = 'running' AND agent_token_hash = ?",
            )
            .bind(session_id)
            .bind(token_hash),
        );
        let results = self.write(batch).await?;
        if let Some(comment) = results.first(created)? {
            return Ok(comment);
        }
        #[derive(Deserialize)]
        struct Own {
            task_id: TaskId,
        }
        match (results.first::<Own>(own)?, task_id) {
            (Some(own), Some(asked)) if own.task_id.as_str() != asked => {
                Err(StoreError::Invalid(format!(
                    "task {asked} is not the task of session {session_id}: its agent comments on its own task \
                     {} only (leave out task_id). Nothing was written.",
                    own.task_id
                )))
            }
            _ => Err(StoreError::Invalid(format!(
                "session {session_id} is not running this turn (or the secret is stale); \
                 an agent comments on its own task only while its turn runs. Nothing was written."
            ))),
        }
    }

    /// A task's comments, oldest first (deleted ones left out).
    pub async fn list_comments(
        &self,
        actor: &Actor,
        task_id: &TaskId,
        limit: u32,
        after: Option<&CommentKey>,
    ) -> Result<CommentPage> {
        let mut batch = Batch::new();
        let exists = batch.push(
            Stmt::new("SELECT EXISTS (SELECT 1 FROM tasks WHERE id = ? AND workspace_id = ?) AS n")
                .bind(task_id)
                .bind(&actor.workspace_id),
        );
        let (_, count) = latest_comments(actor, task_id);
        let count = batch.push(count);
        let (created_at, id) = after.map_or(("", ""), |k| (k.created_at.as_str(), k.id.as_str()));
        let page = batch.push(
            Stmt::new(concat!(
                select_comment!(),
                "WHERE c.task_id = ?1 AND c.workspace_id = ?2 AND c.deleted_at IS NULL \
                 AND (c.created_at, c.id) > (?3, ?4) ORDER BY c.created_at, c.id LIMIT ?5"
            ))
            .bind(task_id)
            .bind(&actor.workspace_id)
            .bind(created_at)
            .bind(id)
            .bind(i64::from(limit) + 1),
        );
        let results = self.read(batch).await?;
        if results.int(exists, "n") == 0 {
            return Err(StoreError::not_found(Entity::Task, task_id));
        }
        let page = Page::from_rows(results.all::<Comment>(page)?, limit as usize, |c| {
            CommentKey {
                created_at: c.created_at.clone(),
                id: c.id.to_string(),
            }
        });
        Ok(CommentPage {
            comments: page.items,
            total: results.int(count, "n"),
            next_cursor: page.next_cursor,
        })
    }

    /// Replaces a comment's body. Only its author, or an admin or owner
    /// (`as_admin`), may; a deleted comment stays deleted.
    pub async fn update_comment(
        &self,
        actor: &Actor,
        id: &CommentId,
        body: &str,
        as_admin: bool,
    ) -> Result<Comment> {
        self.change_comment(actor, id, Change::Edit, Some(body), as_admin)
            .await
    }

    /// Deletes a comment (softly: the row stays, its body is hidden). Only
    /// its author, or an admin or owner, may. Deleting it again changes
    /// nothing and answers the same.
    pub async fn delete_comment(
        &self,
        actor: &Actor,
        id: &CommentId,
        as_admin: bool,
    ) -> Result<Comment> {
        self.change_comment(actor, id, Change::Delete, None, as_admin)
            .await
    }

    async fn change_comment(
        &self,
        actor: &Actor,
        id: &CommentId,
        change: Change,
        body: Option<&str>,
        as_admin: bool,
    ) -> Result<Comment> {
        // ?1 id, ?2 workspace, ?3 caller, ?4 as admin, ?5 now, ?6 body.
        let (sql, action) = match change {
            Change::Edit => (
                "UPDATE task_comments SET body = ?6, edited_at = ?5 WHERE id = ?1 AND workspace_id = ?2 \
                 AND deleted_at IS NULL AND (author_id = ?3 OR ?4) AND body <> ?6",
                "update",
            ),
            Change::Delete => (
                "UPDATE task_comments SET deleted_at = ?5 WHERE id = ?1 AND workspace_id = ?2 \
                 AND deleted_at IS NULL AND (author_id = ?3 OR ?4) AND ?6 IS NULL",
                "delete",
            ),
        };
        let mut batch = Batch::new();
        let before = batch.push(select_comment(actor, id));
        batch.push_audited(
            Stmt::new(sql)
                .bind(id)
                .bind(&actor.workspace_id)
                .bind(&actor.user_id)
                .bind(as_admin)
                .bind(now())
                .bind(body),
            Audit::by_actor(
                actor,
                action,
                "comment",
                id,
                match body {
                    Some(body) => json!({ "chars": body.chars().count() }),
                    None => json!({}),
                },
            ),
        );
        let after = batch.push(select_comment(actor, id));
        let results = self.write(batch).await?;
        let Some(before) = results.first::<Comment>(before)? else {
            return Err(comment_not_found(id));
        };
        let own = before.author_id.as_ref() == Some(&actor.user_id);
        if !own && !as_admin {
            let author = before
                .author
                .as_deref()
                .or(before.author_id.as_deref())
                .unwrap_or("a former member");
            let verb = match change {
                Change::Edit => "edit",
                Change::Delete => "delete",
            };
            return Err(StoreError::Invalid(format!(
                "comment {id} was written by {author}; only its author or an admin or owner may {verb} it. Nothing was changed."
            )));
        }
        if let (Change::Edit, Some(deleted_at)) = (change, &before.deleted_at) {
            return Err(StoreError::Invalid(format!(
                "comment {id} was deleted at {deleted_at} and cannot be edited; write a new comment instead. Nothing was changed."
            )));
        }
        results.first(after)?.ok_or_else(|| comment_not_found(id))
    }
}
