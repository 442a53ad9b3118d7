//! The records the store reads and writes. They double as the structured
//! output of the MCP tools, so every field carries a doc comment: it becomes
//! the field's description in the tool's output schema.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ProjectId, TaskId, UserId, WorkspaceId};

/// A task's place on the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    Todo,
    Inprogress,
    Inreview,
    Done,
    Cancelled,
}

impl TaskStatus {
    /// Every status, in board column order.
    pub const ALL: [TaskStatus; 5] = [
        TaskStatus::Todo,
        TaskStatus::Inprogress,
        TaskStatus::Inreview,
        TaskStatus::Done,
        TaskStatus::Cancelled,
    ];

    /// The status a `tasks.status` value names, as [`TaskStatus::as_str`]
    /// writes it.
    pub fn of_column(text: &str) -> Option<TaskStatus> {
        TaskStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Todo => "todo",
            TaskStatus::Inprogress => "inprogress",
            TaskStatus::Inreview => "inreview",
            TaskStatus::Done => "done",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    /// The column heading people read.
    pub fn title(self) -> &'static str {
        match self {
            TaskStatus::Todo => "To do",
            TaskStatus::Inprogress => "In progress",
            TaskStatus::Inreview => "In review",
            TaskStatus::Done => "Done",
            TaskStatus::Cancelled => "Cancelled",
        }
    }
}

impl std::fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A member of a workspace.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Member {
    /// User id; pass it to `assign_task`.
    pub user_id: UserId,
    pub name: String,
    pub email: String,
    /// owner, admin, member or viewer.
    pub role: String,
}

/// A workspace (team) and its members.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    pub slug: String,
    pub created_at: String,
    /// People in the workspace; tasks can be assigned to them.
    #[serde(default)]
    pub members: Vec<Member>,
}

/// Number of tasks in each status.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct TaskCounts {
    pub todo: i64,
    pub inprogress: i64,
    pub inreview: i64,
    pub done: i64,
    pub cancelled: i64,
}

/// A project: a board of tasks, optionally tied to a local git repository.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Project {
    pub id: ProjectId,
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub description: String,
    /// Local path of the project's git repository, if any.
    pub repo_path: Option<String>,
    /// Shell script run in an agent session's worktree before the agent.
    #[serde(default)]
    pub setup_script: Option<String>,
    /// Shell script run in the worktree after each agent turn.
    #[serde(default)]
    pub cleanup_script: Option<String>,
    /// Its sessions' default: ask = agents ask before using tools.
    #[serde(default)]
    pub approvals: super::ApprovalMode,
    pub created_at: String,
    pub updated_at: String,
    /// How many tasks the project has in each status.
    #[serde(default)]
    pub task_counts: TaskCounts,
}

/// A task on a project's board.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Task {
    pub id: TaskId,
    pub project_id: ProjectId,
    /// The parent task when this is a subtask.
    pub parent_task_id: Option<TaskId>,
    pub title: String,
    pub description: String,
    pub status: TaskStatus,
    /// Order on the board (ascending).
    pub position: i64,
    /// User id of the assignee, if any.
    pub assignee: Option<UserId>,
    pub assigned_at: Option<String>,
    pub assigned_by: Option<UserId>,
    pub created_by: Option<UserId>,
    pub created_at: String,
    pub updated_at: String,
}

/// A page of tasks or a board decodes thousands of these: by position, not
/// by serde's name matching (the same result, tested in `store::tasks`).
impl super::exec::FromRow for Task {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "project_id",
        "parent_task_id",
        "title",
        "description",
        "status",
        "position",
        "assignee",
        "assigned_at",
        "assigned_by",
        "created_by",
        "created_at",
        "updated_at",
    ];

    fn from_cells(mut cells: std::vec::IntoIter<serde_json::Value>) -> Option<Self> {
        use super::exec::{cell_int, cell_opt_text, cell_text};
        // Fields are evaluated in the order written: the columns' order.
        Some(Task {
            id: cell_text(cells.next())?.into(),
            project_id: cell_text(cells.next())?.into(),
            parent_task_id: cell_opt_text(cells.next())?.map(TaskId::from),
            title: cell_text(cells.next())?,
            description: cell_text(cells.next())?,
            status: TaskStatus::of_column(&cell_text(cells.next())?)?,
            position: cell_int(cells.next())?,
            assignee: cell_opt_text(cells.next())?.map(UserId::from),
            assigned_at: cell_opt_text(cells.next())?,
            assigned_by: cell_opt_text(cells.next())?.map(UserId::from),
            created_by: cell_opt_text(cells.next())?.map(UserId::from),
            created_at: cell_text(cells.next())?,
            updated_at: cell_text(cells.next())?,
        })
    }
}

/// A task with its direct subtasks.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TaskDetail {
    #[serde(flatten)]
    pub task: Task,
    /// Direct subtasks, in board order: the first 100 (`SUBTASK_LIMIT`);
    /// `list_tasks` with `parent_task_id` pages through all of them.
    pub subtasks: Vec<Task>,
    /// How many direct subtasks the task has.
    pub subtask_count: i64,
    /// Comments on the task; list_comments pages them.
    pub comment_count: i64,
    /// The newest 3, newest first.
    pub latest_comments: Vec<super::Comment>,
    /// The newest pull request of the task's sessions, if one was opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "PullRequestBrief")]
    pub pull_request: Option<PullRequestBrief>,
}

/// One page of tasks.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TaskPage {
    pub tasks: Vec<Task>,
    /// How many tasks match the filters, over all pages.
    pub total: i64,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Filters and paging for listing tasks.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub statuses: Vec<TaskStatus>,
    pub assignee: Option<UserId>,
    pub parent_task_id: Option<TaskId>,
    pub query: Option<String>,
    pub limit: u32,
    pub after: Option<super::page::TaskKey>,
    /// Only tasks this user created.
    pub created_by: Option<UserId>,
}

/// A project as created by a caller.
#[derive(Debug, Clone, Default)]
pub struct NewProject {
    pub name: String,
    pub description: String,
    pub repo_path: Option<String>,
    pub setup_script: Option<String>,
    pub cleanup_script: Option<String>,
    pub approvals: super::ApprovalMode,
}

/// Changes to a project; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProjectChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    /// `Some(None)` clears the repository path.
    pub repo_path: Option<Option<String>>,
    /// `Some(None)` removes the setup script.
    pub setup_script: Option<Option<String>>,
    /// `Some(None)` removes the cleanup script.
    pub cleanup_script: Option<Option<String>>,
    pub approvals: Option<super::ApprovalMode>,
}

/// A task as created by a caller.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub project_id: ProjectId,
    pub title: String,
    pub description: String,
    pub status: TaskStatus,
    pub parent_task_id: Option<TaskId>,
    pub assignee: Option<UserId>,
}

/// Changes to a task; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct TaskChanges {
    pub title: Option<String>,
    pub description: Option<String>,
    pub status: Option<TaskStatus>,
    /// `Some(None)` makes the task top-level again.
    pub parent_task_id: Option<Option<TaskId>>,
    pub position: Option<i64>,
}

impl TaskChanges {
    /// Names of the fields this change sets, for audit rows and messages.
    pub fn fields(&self) -> Vec<&'static str> {
        let mut fields = Vec::new();
        if self.title.is_some() {
            fields.push("title");
        }
        if self.description.is_some() {
            fields.push("description");
        }
        if self.status.is_some() {
            fields.push("status");
        }
        if self.parent_task_id.is_some() {
            fields.push("parent_task_id");
        }
        if self.position.is_some() {
            fields.push("position");
        }
        fields
    }
}

/// What `delete_task` removed.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Deleted {
    /// Ids of every task removed: the task and all its subtasks.
    pub deleted_ids: Vec<TaskId>,
}

/// A project's tasks grouped by status (board columns, in order).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Board {
    pub project: Project,
    pub columns: Vec<BoardColumn>,
    /// Comments per task (tasks without any are left out).
    #[serde(default)]
    pub comment_counts: std::collections::HashMap<TaskId, i64>,
    /// The project's newest comments, newest first.
    #[serde(default)]
    pub latest_comments: Vec<BoardComment>,
    /// Each task's newest pull request (tasks without one are left out).
    #[serde(default)]
    pub pull_requests: std::collections::HashMap<TaskId, PullRequestBrief>,
}

/// A comment as the board shows it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct BoardComment {
    pub task_id: TaskId,
    /// The task's title.
    pub title: String,
    pub author: Option<String>,
    pub body: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct BoardColumn {
    pub status: TaskStatus,
    pub tasks: Vec<Task>,
}

/// Whether a session's agent asks before it uses a tool: `auto` runs
/// without asking, with `ask` every permission request waits for an answer.
/// (No doc comments on the variants: they would grow every tool schema.)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalMode {
    #[default]
    Auto,
    Ask,
}

impl ApprovalMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalMode::Auto => "auto",
            ApprovalMode::Ask => "ask",
        }
    }
}

/// A session's pull request as the session, its task and the board show it
/// (0016's `session_pull_requests`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PullRequestBrief {
    pub number: i64,
    pub url: String,
    /// open, closed or merged.
    pub state: String,
}
