//! GitHub in the shared store (migrations 0006 and 0016): a workspace's
//! connection (its token sealed, never in the clear: sealing is `github`'s
//! business), the repository linked to each project, the pull request each
//! session opened, and the webhook deliveries already handled. One round
//! trip per operation, so on D1 every server of a team sees the same links.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    Actor, Batch, Entity, ProjectId, PullRequestBrief, Result, Session, SessionId, Stmt, Store,
    StoreError, TaskId, WorkspaceId, audit::Audit, new_id, now, sessions::select_session,
};

/// A workspace's GitHub connection, its token still sealed.
#[derive(Debug, Clone, Deserialize)]
pub struct GitHubConnection {
    pub id: String,
    pub workspace_id: WorkspaceId,
    pub github_user_id: i64,
    pub github_login: String,
    pub token_ciphertext: String,
    pub token_nonce: String,
    pub token_key_id: String,
    pub scopes: String,
    pub created_at: String,
    pub updated_at: String,
}

/// What `github connect` stores.
#[derive(Debug, Clone)]
pub struct NewGitHubConnection {
    pub github_user_id: i64,
    pub github_login: String,
    pub token_ciphertext: String,
    pub token_nonce: String,
    pub token_key_id: String,
    pub scopes: String,
}

/// A token re-sealed by `github rotate-key`.
#[derive(Debug, Clone)]
pub struct ResealedToken {
    pub connection_id: String,
    /// The key id the row had when it was read: a row changed meanwhile is
    /// left alone.
    pub old_key_id: String,
    pub token_ciphertext: String,
    pub token_nonce: String,
    pub token_key_id: String,
}

/// A project's linked repository.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinkedRepository {
    pub owner: String,
    pub name: String,
    pub default_branch: String,
    pub project_id: Option<ProjectId>,
}

/// The pull request a session opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequestLink {
    pub session_id: SessionId,
    pub workspace_id: WorkspaceId,
    pub task_id: TaskId,
    pub owner: String,
    pub repo: String,
    pub number: i64,
    pub url: String,
    /// open, closed or merged.
    pub state: String,
    pub head: String,
    pub base: String,
    pub etag: Option<String>,
}

/// Everything `create_pull_request` needs, read in one round trip.
#[derive(Debug, Clone)]
pub struct PullRequestSource {
    pub session: Session,
    pub task_title: String,
    pub task_description: String,
    pub project_id: ProjectId,
    pub repo_path: Option<String>,
    pub repository: Option<LinkedRepository>,
    pub connection: Option<GitHubConnection>,
    pub final_message: Option<String>,
    pub existing: Option<PullRequestLink>,
}

/// Who learnt a pull request's new state: the audit rows of the tasks it
/// moves say so (GitHub, or the caller whose sync asked).
#[derive(Debug, Clone, Copy)]
pub enum StateSource<'a> {
    /// A webhook delivery (`X-GitHub-Delivery`, event): applied once per
    /// delivery id.
    Delivery { id: &'a str, event: &'a str },
    /// A caller's `sync_pull_requests`: the rows name the caller.
    CallerSync(&'a Actor),
    /// The background sync of `serve` and `runner`.
    Sync,
}

/// Where a pull request's new state moves its task.
#[derive(Debug, Clone, Copy)]
pub struct PullRequestMove<'a> {
    pub state: &'a str,
    /// The task status for that state; `None` leaves the task as it is.
    pub task_status: Option<&'a str>,
}

macro_rules! connection_columns {
    () => {
        "id, workspace_id, github_user_id, github_login, token_ciphertext, token_nonce, token_key_id, \
         scopes, created_at, updated_at"
    };
}

macro_rules! link_columns {
    () => {
        "session_id, workspace_id, task_id, owner, repo, number, url, state, head, base, etag"
    };
}

const SELECT_CONNECTION: &str = concat!(
    "SELECT ",
    connection_columns!(),
    " FROM github_connections WHERE workspace_id = ? ORDER BY updated_at DESC LIMIT 1"
);

#[derive(Deserialize)]
struct TaskRow {
    title: String,
    description: String,
    project_id: ProjectId,
    repo_path: Option<String>,
}

#[derive(Deserialize)]
struct FinalMessageRow {
    final_message: Option<String>,
}

impl Store {
    /// Stores the workspace's connection, replacing the one it had (in
    /// place, so the repositories linked through it stay linked).
    pub async fn save_github_connection(
        &self,
        actor: &Actor,
        new: &NewGitHubConnection,
    ) -> Result<GitHubConnection> {
        let (workspace_id, user_id) = (&actor.workspace_id, &actor.user_id);
        let at = now();
        let id = new_id();
        let mut batch = Batch::new();
        // Another account's row of this workspace goes: one connection each.
        batch.push(
            Stmt::new(
                "DELETE FROM github_connections WHERE workspace_id = ?1 AND github_user_id <> ?2 \
                   AND EXISTS (SELECT 1 FROM github_connections c WHERE c.workspace_id = ?1 AND c.github_user_id = ?2)",
            )
            .bind(workspace_id)
            .bind(new.github_user_id),
        );
        let update = Stmt::new(
            "UPDATE github_connections SET github_user_id = ?2, github_login = ?3, token_ciphertext = ?4, \
                 token_nonce = ?5, token_key_id = ?6, scopes = ?7, user_id = ?8, updated_at = ?9 \
             WHERE id = (SELECT id FROM github_connections WHERE workspace_id = ?1 \
                         ORDER BY github_user_id = ?2 DESC, updated_at DESC LIMIT 1)",
        )
        .bind(workspace_id)
        .bind(new.github_user_id)
        .bind(&new.github_login)
        .bind(&new.token_ciphertext)
        .bind(&new.token_nonce)
        .bind(&new.token_key_id)
        .bind(&new.scopes)
        .bind(user_id)
        .bind(&at);
        batch.push_audited(
            update,
            Audit::by_actor(
                actor,
                "connect",
                "github_connection",
                workspace_id,
                json!({ "login": new.github_login }),
            ),
        );
        let insert = Stmt::new(
            "INSERT INTO github_connections (id, workspace_id, user_id, github_user_id, github_login, \
                 token_ciphertext, token_nonce, token_key_id, scopes, created_at, updated_at) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10 \
             WHERE NOT EXISTS (SELECT 1 FROM github_connections WHERE workspace_id = ?2)",
        )
        .bind(&id)
        .bind(workspace_id)
        .bind(user_id)
        .bind(new.github_user_id)
        .bind(&new.github_login)
        .bind(&new.token_ciphertext)
        .bind(&new.token_nonce)
        .bind(&new.token_key_id)
        .bind(&new.scopes)
        .bind(&at);
        batch.push_audited(
            insert,
            Audit::by_actor(
                actor,
                "connect",
                "github_connection",
                workspace_id,
                json!({ "login": new.github_login }),
            ),
        );
        let select = batch.push(Stmt::new(SELECT_CONNECTION).bind(workspace_id));
        let results = self.write(batch).await?;
        results
            .first(select)?
            .ok_or_else(|| StoreError::not_found(Entity::Workspace, workspace_id))
    }

    /// The workspace's connection, if it has one.
    pub async fn github_connection(
        &self,
        workspace_id: &WorkspaceId,
    ) -> Result<Option<GitHubConnection>> {
        self.read_one(Stmt::new(SELECT_CONNECTION).bind(workspace_id))
            .await?
            .first()
    }

    /// Removes the workspace's connection (and, with it, its repository
    /// links); whether there was one.
    pub async fn delete_github_connection(&self, actor: &Actor) -> Result<bool> {
        let workspace_id = &actor.workspace_id;
        let mut batch = Batch::new();
        let deleted = batch.push_audited(
            Stmt::new("DELETE FROM github_connections WHERE workspace_id = ?").bind(workspace_id),
            Audit::by_actor(
                actor,
                "disconnect",
                "github_connection",
                workspace_id,
                json!({}),
            ),
        );
        let results = self.write(batch).await?;
        Ok(results.changes(deleted) > 0)
    }

    /// Every connection of every workspace (for `github rotate-key`).
    pub async fn all_github_connections(&self) -> Result<Vec<GitHubConnection>> {
        self.read_one(Stmt::new(concat!(
            "SELECT ",
            connection_columns!(),
            " FROM github_connections ORDER BY workspace_id, id"
        )))
        .await?
        .all()
    }

    /// Stores re-sealed tokens, all in one transaction; how many changed.
    pub async fn reseal_github_tokens(&self, tokens: &[ResealedToken]) -> Result<u64> {
        let mut batch = Batch::new();
        let handles: Vec<_> = tokens
            .iter()
            .map(|t| {
                batch.push(
                    Stmt::new(
                        "UPDATE github_connections SET token_ciphertext = ?1, token_nonce = ?2, token_key_id = ?3, \
                             updated_at = ?4 WHERE id = ?5 AND token_key_id = ?6",
                    )
                    .bind(&t.token_ciphertext)
                    .bind(&t.token_nonce)
                    .bind(&t.token_key_id)
                    .bind(now())
                    .bind(&t.connection_id)
                    .bind(&t.old_key_id),
                )
            })
            .collect();
        if handles.is_empty() {
            return Ok(0);
        }
        let results = self.write(batch).await?;
        Ok(handles.iter().map(|h| results.changes(*h)).sum())
    }

    /// Links a project of the workspace to `owner/name` through the
    /// workspace's connection (one repository per project: a link it had
    /// before is replaced).
    pub async fn link_repository(
        &self,
        actor: &Actor,
        project_id: &ProjectId,
        owner: &str,
        name: &str,
        default_branch: &str,
    ) -> Result<LinkedRepository> {
        let mut batch = Batch::new();
        let project = batch.push(
            Stmt::new("SELECT id FROM projects WHERE id = ? AND workspace_id = ?")
                .bind(project_id)
                .bind(&actor.workspace_id),
        );
        let connection = batch.push(
            Stmt::new("SELECT id FROM github_connections WHERE workspace_id = ?")
                .bind(&actor.workspace_id),
        );
        batch.push(
            Stmt::new(
                "UPDATE connected_repositories SET project_id = NULL WHERE workspace_id = ?1 AND project_id = ?2 \
                   AND NOT (owner = ?3 AND name = ?4)",
            )
            .bind(&actor.workspace_id)
            .bind(project_id)
            .bind(owner)
            .bind(name),
        );
        let upsert = Stmt::new(
            "INSERT INTO connected_repositories (id, workspace_id, connection_id, project_id, owner, name, default_branch, created_at) \
             SELECT ?1, ?2, c.id, p.id, ?4, ?5, ?6, ?7 FROM github_connections c JOIN projects p ON p.id = ?3 AND p.workspace_id = ?2 \
             WHERE c.workspace_id = ?2 ORDER BY c.updated_at DESC LIMIT 1 \
             ON CONFLICT (workspace_id, owner, name) DO UPDATE SET project_id = excluded.project_id, \
                 connection_id = excluded.connection_id, default_branch = excluded.default_branch",
        )
        .bind(new_id())
        .bind(&actor.workspace_id)
        .bind(project_id)
        .bind(owner)
        .bind(name)
        .bind(default_branch)
        .bind(now());
        batch.push_audited(
            upsert,
            Audit::by_actor(
                actor,
                "link",
                "project",
                project_id,
                json!({ "repository": format!("{owner}/{name}") }),
            ),
        );
        let results = self.write(batch).await?;
        if results.rows(project).is_empty() {
            return Err(StoreError::not_found(Entity::Project, project_id));
        }
        if results.rows(connection).is_empty() {
            return Err(StoreError::Invalid(
                "this workspace has no GitHub connection; run `vibe-kanban-mcp github connect` first".to_owned(),
            ));
        }
        Ok(LinkedRepository {
            owner: owner.to_owned(),
            name: name.to_owned(),
            default_branch: default_branch.to_owned(),
            project_id: Some(project_id.clone()),
        })
    }

    /// What opening a pull request for a session of the caller's needs, in
    /// one read.
    pub async fn pull_request_source(
        &self,
        actor: &Actor,
        session_id: &SessionId,
    ) -> Result<PullRequestSource> {
        let mut batch = Batch::new();
        let session = batch.push(select_session(actor, session_id));
        let task = batch.push(
            Stmt::new(
                "SELECT t.title, t.description, t.project_id, p.repo_path FROM workspace_sessions s \
                 JOIN tasks t ON t.id = s.task_id JOIN projects p ON p.id = t.project_id \
                 WHERE s.id = ? AND s.workspace_id = ?",
            )
            .bind(session_id)
            .bind(&actor.workspace_id),
        );
        let repository = batch.push(
            Stmt::new(
                "SELECT r.owner, r.name, r.default_branch, r.project_id FROM connected_repositories r \
                 JOIN tasks t ON t.project_id = r.project_id JOIN workspace_sessions s ON s.task_id = t.id \
                 WHERE s.id = ? AND r.workspace_id = ? LIMIT 1",
            )
            .bind(session_id)
            .bind(&actor.workspace_id),
        );
        let connection = batch.push(Stmt::new(SELECT_CONNECTION).bind(&actor.workspace_id));
        let message = batch.push(
            Stmt::new(
                "SELECT final_message FROM session_turns WHERE session_id = ?1 AND final_message IS NOT NULL \
                   AND EXISTS (SELECT 1 FROM workspace_sessions s WHERE s.id = ?1 AND s.workspace_id = ?2) \
                 ORDER BY turn DESC LIMIT 1",
            )
            .bind(session_id)
            .bind(&actor.workspace_id),
        );
        let existing = batch.push(
            Stmt::new(concat!(
                "SELECT ",
                link_columns!(),
                " FROM session_pull_requests WHERE session_id = ? AND workspace_id = ?"
            ))
            .bind(session_id)
            .bind(&actor.workspace_id),
        );
        let results = self.read(batch).await?;
        let session: Session = results
            .first(session)?
            .ok_or_else(|| StoreError::not_found(Entity::Session, session_id))?;
        let task: TaskRow = results
            .first(task)?
            .ok_or_else(|| StoreError::not_found(Entity::Session, session_id))?;
        Ok(PullRequestSource {
            session,
            task_title: task.title,
            task_description: task.description,
            project_id: task.project_id,
            repo_path: task.repo_path,
            repository: results.first(repository)?,
            connection: results.first(connection)?,
            final_message: results
                .first::<FinalMessageRow>(message)?
                .and_then(|m| m.final_message),
            existing: results.first(existing)?,
        })
    }

    /// Records the pull request a session opened and moves its task to
    /// `inreview`, in one write.
    pub async fn record_pull_request(
        &self,
        actor: &Actor,
        link: &PullRequestLink,
    ) -> Result<PullRequestLink> {
        let at = now();
        let mut batch = Batch::new();
        let upsert = Stmt::new(
            "INSERT INTO session_pull_requests (session_id, workspace_id, task_id, owner, repo, number, url, state, \
                 head, base, etag, created_at, updated_at) \
             SELECT s.id, s.workspace_id, s.task_id, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11 \
             FROM workspace_sessions s WHERE s.id = ?1 AND s.workspace_id = ?2 \
             ON CONFLICT (session_id) DO UPDATE SET owner = excluded.owner, repo = excluded.repo, \
                 number = excluded.number, url = excluded.url, state = excluded.state, head = excluded.head, \
                 base = excluded.base, etag = excluded.etag, updated_at = excluded.updated_at",
        )
        .bind(&link.session_id)
        .bind(&actor.workspace_id)
        .bind(&link.owner)
        .bind(&link.repo)
        .bind(link.number)
        .bind(&link.url)
        .bind(&link.state)
        .bind(&link.head)
        .bind(&link.base)
        .bind(link.etag.clone())
        .bind(&at);
        batch.push_audited(
            upsert,
            Audit::by_actor(
                actor,
                "pull_request",
                "session",
                &link.session_id,
                json!({ "number": link.number, "url": link.url }),
            ),
        );
        let move_task = Stmt::new(
            "UPDATE tasks SET status = 'inreview', updated_at = ?1 WHERE id = ?2 AND workspace_id = ?3 \
               AND status IN ('todo', 'inprogress') AND ?4 = 'open'",
        )
        .bind(&at)
        .bind(&link.task_id)
        .bind(&actor.workspace_id)
        .bind(&link.state);
        batch.push_audited(
            move_task,
            Audit::by_actor(
                actor,
                "update",
                "task",
                &link.task_id,
                json!({ "fields": ["status"], "status": "inreview", "pull_request": link.number }),
            ),
        );
        let select = batch.push(
            Stmt::new(concat!(
                "SELECT ",
                link_columns!(),
                " FROM session_pull_requests WHERE session_id = ? AND workspace_id = ?"
            ))
            .bind(&link.session_id)
            .bind(&actor.workspace_id),
        );
        let results = self.write(batch).await?;
        results
            .first(select)?
            .ok_or_else(|| StoreError::not_found(Entity::Session, &link.session_id))
    }

    /// The pull requests still open (of one workspace, or of every one),
    /// least recently checked first, and the connections of their
    /// workspaces: what a sync needs, in one read.
    pub async fn pull_requests_to_sync(
        &self,
        workspace_id: Option<&WorkspaceId>,
        limit: i64,
    ) -> Result<(Vec<PullRequestLink>, Vec<GitHubConnection>)> {
        let mut batch = Batch::new();
        let links = batch.push(
            Stmt::new(concat!(
                "SELECT ",
                link_columns!(),
                " FROM session_pull_requests WHERE state = 'open' AND (?1 IS NULL OR workspace_id = ?1) \
                 ORDER BY updated_at, session_id LIMIT ?2"
            ))
            .bind(workspace_id)
            .bind(limit),
        );
        let connections = batch.push(
            Stmt::new(concat!(
                "SELECT ",
                connection_columns!(),
                " FROM github_connections WHERE workspace_id IN \
                   (SELECT DISTINCT workspace_id FROM session_pull_requests WHERE state = 'open' \
                      AND (?1 IS NULL OR workspace_id = ?1)) ORDER BY updated_at"
            ))
            .bind(workspace_id),
        );
        let results = self.read(batch).await?;
        Ok((results.all(links)?, results.all(connections)?))
    }

    /// Applies GitHub's state of pull request `owner/repo#number` to every
    /// session link of it (of `workspace_id` only, when given) and moves their
    /// tasks, each move with its audit row, in one write; from a webhook
    /// delivery, only once per delivery id (a redelivery changes nothing).
    /// Returns the links that changed.
    pub async fn apply_pull_request_state(
        &self,
        workspace_id: Option<&WorkspaceId>,
        target: (&str, &str, i64),
        change: PullRequestMove<'_>,
        etag: Option<&str>,
        source: StateSource<'_>,
    ) -> Result<Vec<PullRequestLink>> {
        let (owner, repo, number) = target;
        let delivery = match source {
            StateSource::Delivery { id, event } => Some((id, event)),
            _ => None,
        };
        let at = now();
        let mut batch = Batch::new();
        let fresh = delivery.map(|(id, event)| {
            batch.push(
                Stmt::new(
                    "INSERT INTO github_webhook_deliveries (delivery_id, event, received_at) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (delivery_id) DO NOTHING",
                )
                .bind(id)
                .bind(event)
                .bind(&at),
            )
        });
        let delivery_id = delivery.map(|(id, _)| id);
        // Changed links are read before the update (by state), so the answer
        // names only what this call moved.
        let changed = batch.push(
            Stmt::new(concat!(
                "SELECT ",
                link_columns!(),
                " FROM session_pull_requests WHERE owner = ?1 AND repo = ?2 AND number = ?3 \
                   AND (?4 IS NULL OR workspace_id = ?4) AND state <> ?5 \
                   AND (?6 IS NULL OR EXISTS (SELECT 1 FROM github_webhook_deliveries d WHERE d.delivery_id = ?6 AND d.received_at = ?7))"
            ))
            .bind(owner)
            .bind(repo)
            .bind(number)
            .bind(workspace_id)
            .bind(change.state)
            .bind(delivery_id)
            .bind(&at),
        );
        if let Some(status) = change.task_status {
            // The audit rows first, with the move's own conditions: one per
            // task the next statement moves.
            batch.push(move_audit(
                source,
                (owner, repo, number),
                workspace_id,
                change,
                status,
                &at,
            ));
            batch.push(
                Stmt::new(
                    "UPDATE tasks SET status = ?1, updated_at = ?2 WHERE id IN \
                       (SELECT task_id FROM session_pull_requests WHERE owner = ?3 AND repo = ?4 AND number = ?5 \
                          AND (?6 IS NULL OR workspace_id = ?6) AND state <> ?7) \
                       AND status <> ?1 AND status <> 'cancelled' \
                       AND (?8 IS NULL OR EXISTS (SELECT 1 FROM github_webhook_deliveries d WHERE d.delivery_id = ?8 AND d.received_at = ?2))",
                )
                .bind(status)
                .bind(&at)
                .bind(owner)
                .bind(repo)
                .bind(number)
                .bind(workspace_id)
                .bind(change.state)
                .bind(delivery_id),
            );
        }
        batch.push(
            Stmt::new(
                "UPDATE session_pull_requests SET state = ?1, etag = COALESCE(?2, etag), updated_at = ?3 \
                 WHERE owner = ?4 AND repo = ?5 AND number = ?6 AND (?7 IS NULL OR workspace_id = ?7) \
                   AND (?8 IS NULL OR EXISTS (SELECT 1 FROM github_webhook_deliveries d WHERE d.delivery_id = ?8 AND d.received_at = ?3))",
            )
            .bind(change.state)
            .bind(etag)
            .bind(&at)
            .bind(owner)
            .bind(repo)
            .bind(number)
            .bind(workspace_id)
            .bind(delivery_id),
        );
        let results = self.write(batch).await?;
        if let Some(fresh) = fresh
            && results.changes(fresh) == 0
        {
            return Ok(Vec::new());
        }
        results.all(changed)
    }

    /// Marks a pull request checked (its ETag unchanged: GitHub said 304).
    pub async fn touch_pull_request(&self, session_id: &SessionId) -> Result<()> {
        self.write_one(
            Stmt::new("UPDATE session_pull_requests SET updated_at = ?1 WHERE session_id = ?2")
                .bind(now())
                .bind(session_id),
        )
        .await?;
        Ok(())
    }
}

/// A task's newest pull request (of any of its sessions), if the task is
/// the caller's.
pub(super) fn select_task_pull_request(actor: &Actor, task_id: &TaskId) -> Stmt {
    Stmt::new(
        "SELECT number, url, state FROM session_pull_requests WHERE task_id = ? AND workspace_id = ? \
         ORDER BY created_at DESC, session_id DESC LIMIT 1",
    )
    .bind(task_id)
    .bind(&actor.workspace_id)
}

/// Each task's newest pull request, for the tasks of a project of the
/// caller's.
pub(super) fn select_project_pull_requests(actor: &Actor, project_id: &ProjectId) -> Stmt {
    Stmt::new(
        "SELECT task_id, number, url, state FROM (SELECT task_id, number, url, state, \
             ROW_NUMBER() OVER (PARTITION BY task_id ORDER BY created_at DESC, session_id DESC) AS rn \
           FROM session_pull_requests WHERE workspace_id = ?2 \
             AND task_id IN (SELECT id FROM tasks WHERE project_id = ?1 AND workspace_id = ?2)) \
         WHERE rn = 1",
    )
    .bind(project_id)
    .bind(&actor.workspace_id)
}

/// A row of [`select_project_pull_requests`].
#[derive(Deserialize)]
pub(super) struct TaskPullRequest {
    task_id: TaskId,
    number: i64,
    url: String,
    state: String,
}

pub(super) fn pull_requests_by_task(
    rows: Vec<TaskPullRequest>,
) -> std::collections::HashMap<TaskId, PullRequestBrief> {
    rows.into_iter()
        .map(|row| {
            let brief = PullRequestBrief {
                number: row.number,
                url: row.url,
                state: row.state,
            };
            (row.task_id, brief)
        })
        .collect()
}

impl Store {
    /// Each task's newest pull request in a project of the caller's (the
    /// web board's cards), in one read.
    pub async fn project_pull_requests(
        &self,
        actor: &Actor,
        project_id: &ProjectId,
    ) -> Result<std::collections::HashMap<TaskId, PullRequestBrief>> {
        let rows = self
            .read_one(select_project_pull_requests(actor, project_id))
            .await?
            .all()?;
        Ok(pull_requests_by_task(rows))
    }
}

/// The audit rows of the tasks [`Store::apply_pull_request_state`] is about
/// to move (in its batch, right before the move, with the same conditions).
/// From a webhook or the background sync the actor is GitHub (no user,
/// `"by": "github"`); from a caller's sync, the caller.
fn move_audit(
    source: StateSource<'_>,
    (owner, repo, number): (&str, &str, i64),
    workspace_id: Option<&WorkspaceId>,
    change: PullRequestMove<'_>,
    status: &str,
    at: &str,
) -> Stmt {
    let mut details = json!({
        "fields": ["status"],
        "status": status,
        "by": "github",
        "repository": format!("{owner}/{repo}"),
        "pull_request": number,
        "state": change.state,
    });
    let (caller, delivery) = match source {
        StateSource::Delivery { id, .. } => {
            details["delivery"] = json!(id);
            (None, Some(id))
        }
        StateSource::CallerSync(actor) => {
            details["via"] = json!("sync_pull_requests");
            (Some(actor), None)
        }
        StateSource::Sync => {
            details["via"] = json!("sync");
            (None, None)
        }
    };
    Stmt::new(format!(
        "INSERT INTO audit_logs (id, workspace_id, user_id, api_key_id, action, entity_type, entity_id, details, \
             request_id, created_at) \
         SELECT {}, t.workspace_id, ?9, ?10, 'update', 'task', t.id, json_set(?11, '$.from', t.status), ?12, ?2 \
         FROM tasks t WHERE t.id IN \
             (SELECT task_id FROM session_pull_requests WHERE owner = ?3 AND repo = ?4 AND number = ?5 \
                AND (?6 IS NULL OR workspace_id = ?6) AND state <> ?7) \
           AND t.status <> ?1 AND t.status <> 'cancelled' \
           AND (?8 IS NULL OR EXISTS (SELECT 1 FROM github_webhook_deliveries d WHERE d.delivery_id = ?8 AND d.received_at = ?2))",
        super::members::SQL_ID
    ))
    .bind(status)
    .bind(at)
    .bind(owner)
    .bind(repo)
    .bind(number)
    .bind(workspace_id)
    .bind(change.state)
    .bind(delivery)
    .bind(caller.map(|a| a.user_id.as_str()))
    .bind(caller.and_then(|a| a.api_key_id.as_ref().map(|k| k.as_str())))
    .bind(details.to_string())
    .bind(caller.and_then(|a| a.request_id.as_deref()))
}
