//! Task tools: list (filtered, paged), get with subtasks, create, update,
//! delete (with subtasks), assign.

use rmcp::model::ContentBlock;
use schemars::JsonSchema;
use serde::Deserialize;
use uuid::Uuid;

use super::{
    Effect, Render, ToolContext, ToolDef, ToolError, Toolset,
    args::{checked_count, checked_cursor, checked_text, double_option, something_to_update},
    links,
    projects::MAX_DESCRIPTION,
    tool,
};
use crate::store::{
    Deleted, NewTask, Task, TaskChanges, TaskDetail, TaskFilter, TaskId, TaskKey, TaskPage,
    TaskStatus, UserId, page,
};

/// Longest task title, in characters.
pub const MAX_TITLE: usize = 500;
/// Longest search text, in characters.
const MAX_QUERY: usize = 500;
/// Page size when none is given, and the largest allowed.
pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

pub(super) fn tools() -> Vec<ToolDef> {
    vec![
        tool(
            "list_tasks",
            "List tasks",
            "A project's tasks in board order, filtered by status, assignee, parent or text; `total` counts \
             every match.",
            Toolset::Tasks,
            Effect::Read,
            list_tasks,
        ),
        tool(
            "get_task",
            "Get task",
            "One task with its direct subtasks.",
            Toolset::Tasks,
            Effect::Read,
            get_task,
        ),
        tool(
            "create_task",
            "Create task",
            "Create a task in a project, or a subtask with parent_task_id.",
            Toolset::Tasks,
            Effect::Create,
            create_task,
        ),
        tool(
            "update_task",
            "Update task",
            "Change a task (status moves it on the board); fields left out stay.",
            Toolset::Tasks,
            Effect::Update,
            update_task,
        ),
        tool(
            "delete_task",
            "Delete task",
            "Delete a task and its subtasks for good; refused while a session is queued or running on them.",
            Toolset::Tasks,
            Effect::Delete,
            delete_task,
        ),
        tool(
            "assign_task",
            "Assign task",
            "Assign a task to a workspace member, or unassign it.",
            Toolset::Tasks,
            Effect::Update,
            assign_task,
        ),
    ]
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListTasksArgs {
    /// From list_projects.
    pub project_id: Uuid,
    /// Any of these statuses.
    #[serde(default)]
    pub status: Option<Vec<TaskStatus>>,
    /// A user id, or "me".
    #[serde(default)]
    pub assignee: Option<String>,
    /// Creator: a user id, or "me".
    #[serde(default)]
    pub created_by: Option<String>,
    /// Only this task's subtasks.
    #[serde(default)]
    pub parent_task_id: Option<Uuid>,
    /// Text in the title or description.
    #[serde(default)]
    pub query: Option<String>,
    /// Default 50.
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_LIMIT))]
    pub limit: Option<u32>,
    /// The last page's `next_cursor`.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// A user filter: "me" is the caller; anything else must be a user id.
fn user_or_me(
    ctx: &ToolContext,
    field: &str,
    value: Option<&str>,
) -> Result<Option<UserId>, ToolError> {
    match value.map(str::trim) {
        None => Ok(None),
        Some(me) if me.eq_ignore_ascii_case("me") => Ok(Some(ctx.principal.actor.user_id.clone())),
        Some(id) => Uuid::parse_str(id)
            .map(|id| Some(UserId::from(id)))
            .map_err(|_| {
                ToolError::InvalidParams(format!(
                    "`{field}` must be a user id (from list_members) or \"me\"; got '{id}'"
                ))
            }),
    }
}

async fn list_tasks(ctx: ToolContext, args: ListTasksArgs) -> Result<TaskPage, ToolError> {
    let limit = checked_count("limit", args.limit, DEFAULT_LIMIT, MAX_LIMIT, "")?;
    let after = checked_cursor(
        "list_tasks",
        args.cursor.as_deref(),
        page::decode::<TaskKey>,
    )?;
    let filter = TaskFilter {
        statuses: args.status.unwrap_or_default(),
        assignee: user_or_me(&ctx, "assignee", args.assignee.as_deref())?,
        created_by: user_or_me(&ctx, "created_by", args.created_by.as_deref())?,
        parent_task_id: args.parent_task_id.map(TaskId::from),
        query: args
            .query
            .as_deref()
            .map(|q| checked_text("query", q, MAX_QUERY, false))
            .transpose()?
            .filter(|q| !q.is_empty()),
        limit,
        after,
    };
    Ok(ctx
        .store
        .list_tasks(&ctx.principal.actor, &args.project_id.into(), &filter)
        .await?)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskIdArgs {
    /// From list_tasks.
    pub task_id: Uuid,
}

async fn get_task(ctx: ToolContext, args: TaskIdArgs) -> Result<TaskDetail, ToolError> {
    Ok(ctx
        .store
        .get_task(&ctx.principal.actor, &args.task_id.into())
        .await?)
}

async fn delete_task(ctx: ToolContext, args: TaskIdArgs) -> Result<Deleted, ToolError> {
    Ok(ctx
        .store
        .delete_task(&ctx.principal.actor, &args.task_id.into())
        .await?)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTaskArgs {
    /// From list_projects.
    pub project_id: Uuid,
    /// Short title, at most 500 characters.
    pub title: String,
    /// What needs doing, in as much detail as helps.
    #[serde(default)]
    pub description: Option<String>,
    /// Default todo.
    #[serde(default)]
    pub status: Option<TaskStatus>,
    /// Makes it a subtask of this task (same project).
    #[serde(default)]
    pub parent_task_id: Option<Uuid>,
    /// A member's user id (from list_workspaces).
    #[serde(default)]
    pub assignee: Option<Uuid>,
}

async fn create_task(ctx: ToolContext, args: CreateTaskArgs) -> Result<Task, ToolError> {
    let new = NewTask {
        project_id: args.project_id.into(),
        title: checked_text("title", &args.title, MAX_TITLE, true)?,
        description: checked_text(
            "description",
            args.description.as_deref().unwrap_or(""),
            MAX_DESCRIPTION,
            false,
        )?,
        status: args.status.unwrap_or(TaskStatus::Todo),
        parent_task_id: args.parent_task_id.map(TaskId::from),
        assignee: args.assignee.map(UserId::from),
    };
    Ok(ctx.store.create_task(&ctx.principal.actor, new).await?)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTaskArgs {
    /// From list_tasks.
    pub task_id: Uuid,
    /// New title.
    #[serde(default)]
    pub title: Option<String>,
    /// New description.
    #[serde(default)]
    pub description: Option<String>,
    /// New status.
    #[serde(default)]
    pub status: Option<TaskStatus>,
    /// A task of the same project; null makes it top-level.
    #[serde(default, deserialize_with = "double_option")]
    #[schemars(transform = super::schema::null_clears)]
    #[schemars(with = "Option<Uuid>")]
    pub parent_task_id: Option<Option<Uuid>>,
    /// Order on the board, lower first.
    #[serde(default)]
    #[schemars(range(min = -9_007_199_254_740_991_i64, max = 9_007_199_254_740_991_i64))]
    pub position: Option<i64>,
}

/// The largest position every store returns exactly (2^53 - 1).
const MAX_POSITION: i64 = 9_007_199_254_740_991;

async fn update_task(ctx: ToolContext, args: UpdateTaskArgs) -> Result<Task, ToolError> {
    let task_id = TaskId::from(args.task_id);
    let changes = TaskChanges {
        title: args
            .title
            .as_deref()
            .map(|t| checked_text("title", t, MAX_TITLE, true))
            .transpose()?,
        description: args
            .description
            .as_deref()
            .map(|d| checked_text("description", d, MAX_DESCRIPTION, false))
            .transpose()?,
        status: args.status,
        parent_task_id: args.parent_task_id.map(|p| p.map(TaskId::from)),
        position: args.position,
    };
    something_to_update(&[
        ("title", changes.title.is_some()),
        ("description", changes.description.is_some()),
        ("status", changes.status.is_some()),
        ("parent_task_id", changes.parent_task_id.is_some()),
        ("position", changes.position.is_some()),
    ])?;
    // Cloudflare D1 hands numbers back as doubles: beyond 2^53 they would
    // come back changed, so every store keeps positions in that range.
    if changes
        .position
        .is_some_and(|p| p.unsigned_abs() > MAX_POSITION.unsigned_abs())
    {
        return Err(ToolError::InvalidParams(format!(
            "field `position`: must be between -{MAX_POSITION} and {MAX_POSITION}"
        )));
    }
    if changes.parent_task_id == Some(Some(task_id.clone())) {
        return Err(ToolError::InvalidParams(
            "field `parent_task_id`: a task cannot be its own parent".to_owned(),
        ));
    }
    Ok(ctx
        .store
        .update_task(&ctx.principal.actor, &task_id, changes)
        .await?)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignTaskArgs {
    /// From list_tasks.
    pub task_id: Uuid,
    /// A member's user id or email (list_members); null unassigns.
    #[serde(deserialize_with = "double_option")]
    #[schemars(transform = super::schema::null_clears)]
    #[schemars(with = "Option<String>", required)]
    pub user_id: Option<Option<String>>,
}

async fn assign_task(ctx: ToolContext, args: AssignTaskArgs) -> Result<Task, ToolError> {
    let member = args.user_id.flatten().map(|m| m.trim().to_owned());
    let valid = |m: &str| {
        Uuid::parse_str(m).is_ok() || (m.contains('@') && crate::store::normalize_email(m).is_ok())
    };
    if member.as_deref().is_some_and(|m| !valid(m)) {
        return Err(ToolError::InvalidParams(
            "user_id must be a member's user id or email (list_members shows them), or null to unassign"
                .to_owned(),
        ));
    }
    Ok(ctx
        .store
        .assign_task(
            &ctx.principal.actor,
            &args.task_id.into(),
            member.as_deref(),
        )
        .await?)
}

// Readable text of this area's outputs (what the tool result's text block says).

fn task_line(task: &Task) -> String {
    let mut line = String::new();
    push_task_line(&mut line, task);
    line
}

/// [`task_line`] appended to `out`: a page's text is one buffer, not a
/// string per task.
fn push_task_line(out: &mut String, task: &Task) {
    for part in [
        "- [",
        task.status.as_str(),
        "] ",
        &task.title,
        " (",
        task.id.as_str(),
        ")",
    ] {
        out.push_str(part);
    }
    if let Some(assignee) = &task.assignee {
        out.push_str(" assigned to ");
        out.push_str(assignee.as_str());
    }
    if let Some(parent) = &task.parent_task_id {
        out.push_str(" subtask of ");
        out.push_str(parent.as_str());
    }
}

impl Render for Task {
    fn render(&self) -> String {
        let mut out = format!("Task {} [{}] {}\n", self.id, self.status, self.title);
        out.push_str(&format!("Project: {}\n", self.project_id));
        if let Some(parent) = &self.parent_task_id {
            out.push_str(&format!("Subtask of: {parent}\n"));
        }
        if let Some(assignee) = &self.assignee {
            out.push_str(&format!("Assigned to: {assignee}\n"));
        }
        if !self.description.is_empty() {
            out.push_str(&format!("\n{}\n", self.description));
        }
        out
    }

    /// The text, then a link to the task's resource.
    fn into_content(self) -> Vec<ContentBlock> {
        vec![
            ContentBlock::text(self.render()),
            links::task(&self.id, &self.title),
        ]
    }
}

impl Render for TaskDetail {
    fn render(&self) -> String {
        let mut out = self.task.render();
        if let Some(pr) = &self.pull_request {
            out.push_str(&format!(
                "Pull request: #{} ({}) {}\n",
                pr.number, pr.state, pr.url
            ));
        }
        if !self.subtasks.is_empty() {
            if self.subtask_count > self.subtasks.len() as i64 {
                out.push_str(&format!(
                    "\nSubtasks ({} of {}; list_tasks with parent_task_id {} pages through all):\n",
                    self.subtasks.len(),
                    self.subtask_count,
                    self.task.id
                ));
            } else {
                out.push_str("\nSubtasks:\n");
            }
            for sub in &self.subtasks {
                out.push_str(&task_line(sub));
                out.push('\n');
            }
        }
        if self.comment_count > 0 {
            out.push_str(&format!(
                "\nComments: {} (the newest {}; list_comments pages through all)\n",
                self.comment_count,
                self.latest_comments.len()
            ));
            for comment in &self.latest_comments {
                out.push_str(&super::comments::comment_text(comment));
            }
        }
        out
    }
}

impl Render for TaskPage {
    fn json_text(&self) -> serde_json::Result<String> {
        Ok(super::json_text::task_page(self))
    }

    fn render(&self) -> String {
        let mut out = String::with_capacity(40 + 100 * self.tasks.len());
        out.push_str(&format!(
            "{} of {} matching tasks:\n",
            self.tasks.len(),
            self.total
        ));
        for task in &self.tasks {
            push_task_line(&mut out, task);
            out.push('\n');
        }
        if let Some(cursor) = &self.next_cursor {
            out.push_str(&format!(
                "More: call list_tasks again with cursor \"{cursor}\".\n"
            ));
        }
        out
    }
}

impl Render for Deleted {
    fn render(&self) -> String {
        format!(
            "Deleted {} task(s): {}",
            self.deleted_ids.len(),
            self.deleted_ids
                .iter()
                .map(|id| id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}
