//! The activity feed: a workspace's `audit_logs` read back for people, per
//! task, project or workspace, newest first, filtered by actor, action and
//! time. Each entry is one readable line ("alice@example.com moved task 'Fix
//! login' to inreview") beside the row's structured fields. One read.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    Actor, Batch, Entity, ProjectId, Result, Stmt, Store, StoreError, TaskId, UserId,
    page::{ActivityKey, Page},
};

/// Whose activity: one task (with its comments and sessions), one project
/// (with its tasks), or the whole workspace.
#[derive(Debug, Clone)]
pub enum ActivityScope {
    Workspace,
    Project(ProjectId),
    Task(TaskId),
}

/// Filters and paging of the feed.
#[derive(Debug, Clone)]
pub struct ActivityFilter {
    pub scope: ActivityScope,
    /// A user id or an email.
    pub actor: Option<String>,
    pub action: Option<String>,
    /// Timestamps in the schema's form; `since` inclusive, `until` exclusive.
    pub since: Option<String>,
    pub until: Option<String>,
    pub limit: u32,
    pub before: Option<ActivityKey>,
}

/// One thing someone did.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ActivityEntry {
    /// Who did what to which object, in words.
    pub line: String,
    /// The actor's email (or user id).
    pub actor: Option<String>,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub at: String,
    pub request_id: Option<String>,
}

/// One page of the feed, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ActivityPage {
    pub entries: Vec<ActivityEntry>,
    pub next_cursor: Option<String>,
}

/// An audit row as the feed query reads it.
#[derive(Deserialize)]
struct Row {
    id: String,
    user_id: Option<UserId>,
    email: Option<String>,
    action: String,
    entity_type: String,
    entity_id: String,
    details: Option<String>,
    request_id: Option<String>,
    created_at: String,
    /// The object's name now (a task's title), or when it was made.
    name: Option<String>,
    /// For a comment or a session: its task's title.
    task_title: Option<String>,
}

/// The feed: workspace ?1; task ?2, project ?3 (either or neither); actor
/// ?4; action ?5; since ?6, until ?7; before (?8, ?9); limit ?10.
const SELECT_FEED: &str = "SELECT a.id, a.user_id, u.email, a.action, a.entity_type, a.entity_id, \
        a.details, a.request_id, a.created_at, \
        COALESCE(CASE a.entity_type \
            WHEN 'task' THEN (SELECT title FROM tasks WHERE id = a.entity_id) \
            WHEN 'project' THEN (SELECT name FROM projects WHERE id = a.entity_id) \
            WHEN 'prompt_template' THEN (SELECT name FROM prompt_templates WHERE id = a.entity_id) END, \
          (SELECT COALESCE(json_extract(c.details, '$.title'), json_extract(c.details, '$.name')) FROM audit_logs c \
           WHERE c.workspace_id = a.workspace_id AND c.entity_type = a.entity_type AND c.entity_id = a.entity_id \
             AND c.action = 'create' LIMIT 1)) AS name, \
        CASE a.entity_type \
            WHEN 'comment' THEN (SELECT t.title FROM task_comments c JOIN tasks t ON t.id = c.task_id WHERE c.id = a.entity_id) \
            WHEN 'session' THEN (SELECT t.title FROM workspace_sessions s JOIN tasks t ON t.id = s.task_id WHERE s.id = a.entity_id) END \
          AS task_title \
     FROM audit_logs a LEFT JOIN users u ON u.id = a.user_id \
     WHERE a.workspace_id = ?1 \
       AND (?2 IS NULL OR (a.entity_type = 'task' AND a.entity_id = ?2) \
            OR (a.entity_type = 'comment' AND a.entity_id IN (SELECT id FROM task_comments WHERE task_id = ?2)) \
            OR (a.entity_type = 'session' AND a.entity_id IN (SELECT id FROM workspace_sessions WHERE task_id = ?2))) \
       AND (?3 IS NULL OR (a.entity_type = 'project' AND a.entity_id = ?3) \
            OR json_extract(a.details, '$.project_id') = ?3 \
            OR (a.entity_type = 'task' AND a.entity_id IN (SELECT id FROM tasks WHERE project_id = ?3)) \
            OR (a.entity_type = 'comment' AND a.entity_id IN (SELECT c.id FROM task_comments c JOIN tasks t ON t.id = c.task_id WHERE t.project_id = ?3)) \
            OR (a.entity_type = 'session' AND a.entity_id IN (SELECT s.id FROM workspace_sessions s JOIN tasks t ON t.id = s.task_id WHERE t.project_id = ?3))) \
       AND (?4 IS NULL OR a.user_id = ?4 OR u.email = lower(?4)) \
       AND (?5 IS NULL OR a.action = ?5) \
       AND (?6 IS NULL OR a.created_at >= ?6) \
       AND (?7 IS NULL OR a.created_at < ?7) \
       AND (?8 IS NULL OR (a.created_at, a.id) < (?8, ?9)) \
     ORDER BY a.created_at DESC, a.id DESC LIMIT ?10";

impl Store {
    /// A page of the activity feed, newest first. A task or project that
    /// is gone still has its history (the audit rows outlive it); one that
    /// this workspace never had is "not found".
    pub async fn list_activity(
        &self,
        actor: &Actor,
        filter: &ActivityFilter,
    ) -> Result<ActivityPage> {
        let (task, project) = match &filter.scope {
            ActivityScope::Workspace => (None, None),
            ActivityScope::Project(id) => (None, Some(id.as_str())),
            ActivityScope::Task(id) => (Some(id.as_str()), None),
        };
        let mut batch = Batch::new();
        let known = batch.push(
            Stmt::new(
                "SELECT CASE WHEN ?2 IS NOT NULL THEN \
                        EXISTS (SELECT 1 FROM tasks WHERE id = ?2 AND workspace_id = ?1) \
                        OR EXISTS (SELECT 1 FROM audit_logs WHERE workspace_id = ?1 AND entity_type = 'task' AND entity_id = ?2) \
                      WHEN ?3 IS NOT NULL THEN \
                        EXISTS (SELECT 1 FROM projects WHERE id = ?3 AND workspace_id = ?1) \
                        OR EXISTS (SELECT 1 FROM audit_logs WHERE workspace_id = ?1 AND entity_type = 'project' AND entity_id = ?3) \
                      ELSE 1 END AS n",
            )
            .bind(&actor.workspace_id)
            .bind(task)
            .bind(project),
        );
        let (before_at, before_id) = match &filter.before {
            Some(k) => (Some(k.created_at.as_str()), Some(k.id.as_str())),
            None => (None, None),
        };
        let rows = batch.push(
            Stmt::new(SELECT_FEED)
                .bind(&actor.workspace_id)
                .bind(task)
                .bind(project)
                .bind(filter.actor.as_deref())
                .bind(filter.action.as_deref())
                .bind(filter.since.as_deref())
                .bind(filter.until.as_deref())
                .bind(before_at)
                .bind(before_id)
                .bind(i64::from(filter.limit) + 1),
        );
        let results = self.read(batch).await?;
        if results.int(known, "n") == 0 {
            return Err(match &filter.scope {
                ActivityScope::Task(id) => StoreError::not_found(Entity::Task, id),
                ActivityScope::Project(id) => StoreError::not_found(Entity::Project, id),
                ActivityScope::Workspace => {
                    StoreError::not_found(Entity::Workspace, &actor.workspace_id)
                }
            });
        }
        let rows: Vec<Row> = results.all(rows)?;
        let page = Page::from_rows(rows, filter.limit as usize, |r| ActivityKey {
            created_at: r.created_at.clone(),
            id: r.id.clone(),
        });
        Ok(ActivityPage {
            entries: page.items.into_iter().map(entry).collect(),
            next_cursor: page.next_cursor,
        })
    }
}

fn entry(row: Row) -> ActivityEntry {
    let details: serde_json::Value = row
        .details
        .as_deref()
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or_default();
    ActivityEntry {
        line: line(&row, &details),
        actor: row.email.or(row.user_id.map(String::from)),
        action: row.action,
        object_type: row.entity_type,
        object_id: row.entity_id,
        at: row.created_at,
        request_id: row.request_id,
    }
}

/// The entry in words: who, did what, to which object.
fn line(row: &Row, details: &serde_json::Value) -> String {
    let by_github = details.get("by").and_then(serde_json::Value::as_str) == Some("github");
    let who = row
        .email
        .clone()
        .or_else(|| row.user_id.as_ref().map(ToString::to_string))
        .unwrap_or_else(|| if by_github { "GitHub" } else { "the operator" }.to_owned());
    let kind = row.entity_type.replace('_', " ");
    let object = match &row.name {
        Some(name) => format!("{kind} '{}'", one_line(name)),
        None => format!("{kind} {}", row.entity_id),
    };
    let on_task = match &row.task_title {
        Some(title) => format!(" on task '{}'", one_line(title)),
        None => String::new(),
    };
    let text = |key: &str| details.get(key).and_then(serde_json::Value::as_str);
    let what = match (row.entity_type.as_str(), row.action.as_str()) {
        ("task", "update") if text("status").is_some() && by_github => format!(
            "moved {object} to {}: pull request {}#{} {}",
            text("status").unwrap_or_default(),
            text("repository").unwrap_or("?"),
            details
                .get("pull_request")
                .and_then(serde_json::Value::as_i64)
                .unwrap_or_default(),
            text("state").unwrap_or("changed")
        ),
        ("task", "update") if text("status").is_some() => {
            format!("moved {object} to {}", text("status").unwrap_or_default())
        }
        ("task", "assign") => format!(
            "assigned {object} to {}",
            text("assignee").unwrap_or("someone")
        ),
        ("task", "unassign") => format!("unassigned {object}"),
        ("task", "delete") => {
            let n = details
                .get("deleted_ids")
                .and_then(serde_json::Value::as_array)
                .map_or(1, Vec::len);
            if n > 1 {
                format!("deleted {object} and {} subtask(s)", n - 1)
            } else {
                format!("deleted {object}")
            }
        }
        ("comment", "create") if details.get("by_agent").is_some() => {
            format!(
                "commented{on_task} (through the agent of session {})",
                text("session_id").unwrap_or("?")
            )
        }
        ("comment", "create") => format!("commented{on_task}"),
        ("comment", "update") => format!("edited a comment{on_task}"),
        ("comment", "delete") => format!("deleted a comment{on_task}"),
        ("session", action) => format!("{} session {}{on_task}", verb(action), row.entity_id),
        (_, "update") => match details.get("fields").and_then(serde_json::Value::as_array) {
            Some(fields) if !fields.is_empty() => format!(
                "updated {object} ({})",
                fields
                    .iter()
                    .filter_map(serde_json::Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => format!("updated {object}"),
        },
        (_, action) => format!("{} {object}", verb(action)),
    };
    format!("{who} {what}")
}

/// An audit action as a past-tense verb.
fn verb(action: &str) -> String {
    match action {
        "create" => "created".to_owned(),
        "update" => "updated".to_owned(),
        "delete" => "deleted".to_owned(),
        "stop" => "stopped".to_owned(),
        "archive" => "archived".to_owned(),
        "interrupt" => "interrupted".to_owned(),
        "finish" => "finished".to_owned(),
        "follow_up" => "sent a follow-up to".to_owned(),
        "respond" => "answered an approval of".to_owned(),
        "request_approval" => "asked for approval in".to_owned(),
        "revoke" => "revoked".to_owned(),
        "set_role" => "changed the role of".to_owned(),
        "add_member" => "added".to_owned(),
        "remove_member" => "removed".to_owned(),
        "transfer_ownership" => "made owner".to_owned(),
        other => other.replace('_', " "),
    }
}

fn one_line(text: &str) -> String {
    let line: String = text.replace(['\n', '\r'], " ");
    if line.chars().count() > 80 {
        let mut cut: String = line.chars().take(79).collect();
        cut.push('…');
        cut
    } else {
        line
    }
}
