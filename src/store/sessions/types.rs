//! The session store's types: sessions, their processes and statuses, and
//! what tools and runners pass in and get back.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::store::{
    ProcessId, PullRequestBrief, SessionId, TaskId, UserId, WorkspaceId, page::SessionKey,
};

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    /// Waiting for a runner (first turn or a follow-up).
    Queued,
    /// A runner is executing it.
    Running,
    /// The last turn's coding agent exited 0.
    Completed,
    /// A process failed, timed out or could not start; see `status_reason`.
    Failed,
    /// Stopped on request.
    Stopped,
    /// Its runner died while it ran.
    Interrupted,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Queued => "queued",
            SessionStatus::Running => "running",
            SessionStatus::Completed => "completed",
            SessionStatus::Failed => "failed",
            SessionStatus::Stopped => "stopped",
            SessionStatus::Interrupted => "interrupted",
        }
    }

    /// Whether the session is waiting or running (not finished).
    pub fn is_active(self) -> bool {
        matches!(self, SessionStatus::Queued | SessionStatus::Running)
    }
}

impl std::fmt::Display for SessionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A run of a coding agent on a task, possibly over several turns.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Session {
    pub id: SessionId,
    pub task_id: TaskId,
    /// The executor profile that runs the agent.
    pub executor: String,
    /// The first turn's prompt.
    pub prompt: String,
    /// The prompt of the turn waiting for a runner, if any.
    pub pending_prompt: Option<String>,
    /// Agent turns started so far.
    pub turns: i64,
    pub status: SessionStatus,
    /// Why the session failed, stopped or was interrupted.
    pub status_reason: Option<String>,
    /// The branch the worktree was made from.
    pub base_branch: Option<String>,
    /// The session's own branch (`vk/<short-id>-<slug>`).
    pub branch: Option<String>,
    /// Where the agent works.
    pub worktree_path: Option<String>,
    /// The agent's own conversation id, used to resume it on a follow-up.
    pub agent_session_id: Option<String>,
    /// The runner that owns (or last owned) the session.
    pub runner_id: Option<String>,
    /// The machine that runner is on: the worktree (and, with local logs,
    /// the logs) are there.
    pub runner_host: Option<String>,
    /// When a stop was requested, if it was.
    pub stop_requested_at: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// When its worktree was removed (archive_session or retention).
    pub archived_at: Option<String>,
    pub created_by: Option<UserId>,
    pub created_at: String,
    pub updated_at: String,
    // What merge_session recorded (0015). Not in the serialized session, so
    // the tools that return a session keep their size; get_session shows them.
    #[serde(default, skip_serializing)]
    #[schemars(skip)]
    pub merge_commit: Option<String>,
    #[serde(default, skip_serializing)]
    #[schemars(skip)]
    pub merge_strategy: Option<String>,
    #[serde(default, skip_serializing)]
    #[schemars(skip)]
    pub merged_at: Option<String>,
    /// The pull request create_pull_request opened for it; absent until then.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "pull_request_column"
    )]
    #[schemars(with = "PullRequestBrief")]
    pub pull_request: Option<PullRequestBrief>,
}

/// The session read carries its pull request as one JSON text column
/// (`json_object(...)` of a subquery, so the read stays one statement); a
/// session as a tool returned it carries an object.
fn pull_request_column<'de, D>(deserializer: D) -> Result<Option<PullRequestBrief>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error;
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(text) => {
            serde_json::from_str(&text).map(Some).map_err(Error::custom)
        }
        other => serde_json::from_value(other)
            .map(Some)
            .map_err(Error::custom),
    }
}

/// Which part of a turn a process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProcessKind {
    Setup,
    CodingAgent,
    Cleanup,
}

impl ProcessKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessKind::Setup => "setup",
            ProcessKind::CodingAgent => "coding_agent",
            ProcessKind::Cleanup => "cleanup",
        }
    }
}

/// How a process ended (or that it has not yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProcessStatus {
    Running,
    /// Exited 0.
    Completed,
    /// Exited non-zero, could not start, or timed out.
    Failed,
    /// Stopped on request.
    Killed,
    /// Its runner died while it ran.
    Interrupted,
}

impl ProcessStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessStatus::Running => "running",
            ProcessStatus::Completed => "completed",
            ProcessStatus::Failed => "failed",
            ProcessStatus::Killed => "killed",
            ProcessStatus::Interrupted => "interrupted",
        }
    }
}

/// One process of a session: setup script, coding agent or cleanup script.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ExecutionProcess {
    pub id: ProcessId,
    pub session_id: SessionId,
    pub kind: ProcessKind,
    /// The agent turn it belongs to (1-based).
    pub turn: i64,
    pub status: ProcessStatus,
    /// The command line, for reference (the prompt is not repeated).
    pub command: String,
    pub pid: Option<i64>,
    /// Exit code, when the process exited by itself.
    pub exit_code: Option<i64>,
    /// Why it failed without an exit code (not found, timed out, signal).
    pub error: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
}

/// A session as created by `start_session`.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub task_id: TaskId,
    pub executor: String,
    pub prompt: String,
    pub base_branch: Option<String>,
    /// Whether the agent asks before it uses a tool.
    pub approvals: crate::store::ApprovalMode,
}

/// Who a runner is, recorded on the sessions it claims.
#[derive(Debug, Clone)]
pub struct RunnerIdentity {
    pub id: String,
    pub host: String,
    pub pid: u32,
    /// Which queued sessions it may claim.
    pub scope: RunnerScope,
}

/// Which queued sessions a runner claims. The runner inside `serve` acts
/// for one caller: it claims only that caller's sessions, so on a shared
/// store an agent runs on the machine of the person who started it, never
/// in another workspace's process. `vibe-kanban-mcp runner` claims any
/// session (or one workspace's, with `--workspace`).
#[derive(Debug, Clone, Default)]
pub struct RunnerScope {
    pub workspace_id: Option<WorkspaceId>,
    /// The user who started the session (`workspace_sessions.created_by`).
    pub created_by: Option<UserId>,
}

/// A session a runner has just claimed, with what it needs to run the turn.
#[derive(Debug, Clone)]
pub struct ClaimedTurn {
    pub session: Session,
    /// The prompt of this turn.
    pub prompt: String,
    /// 1 for the first turn.
    pub turn: i64,
    pub workspace_id: WorkspaceId,
    pub project_name: String,
    pub task_title: String,
    pub repo_path: Option<String>,
    pub setup_script: Option<String>,
    pub cleanup_script: Option<String>,
    /// The session's approvals setting.
    pub approvals: crate::store::ApprovalMode,
}

/// What a runner needs to know about a session's task and project.
#[derive(Deserialize)]
pub(super) struct TurnContext {
    pub workspace_id: WorkspaceId,
    pub project_name: String,
    pub task_title: String,
    pub repo_path: Option<String>,
    pub setup_script: Option<String>,
    pub cleanup_script: Option<String>,
    #[serde(default)]
    pub approvals: crate::store::ApprovalMode,
}

/// A running session whose owner may be gone, as seen at start.
#[derive(Debug, Clone, Deserialize)]
pub struct RunningOwner {
    pub id: SessionId,
    pub runner_id: Option<String>,
    pub runner_host: Option<String>,
    pub runner_pid: Option<i64>,
    pub heartbeat_at: Option<String>,
}

/// How a turn ended, as the runner saw it.
#[derive(Debug, Clone)]
pub struct TurnOutcome {
    pub status: SessionStatus,
    pub reason: Option<String>,
}

/// Filters and paging of `list_sessions`.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    pub task_id: Option<TaskId>,
    pub statuses: Vec<SessionStatus>,
    pub limit: u32,
    /// Where the page starts (the cursor of the previous page).
    pub after: Option<SessionKey>,
}
