//! Agent session tools: start, inspect, list, stop, follow up, read the
//! execution log. Starting, stopping and following up need the `sessions`
//! scope; the rest only `read`.

use rmcp::model::ContentBlock;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    Effect, Render, ToolContext, ToolDef, ToolError, Toolset,
    args::{checked_count, checked_cursor, checked_text},
    tool,
};
use crate::{
    auth::Scope,
    mcp_error,
    sessions::{LogQuery, LogStream, SessionError, Sessions},
    store::{
        ExecutionProcess, ProcessId, Session, SessionFilter, SessionId, SessionKey, SessionStatus,
        page,
    },
};

/// Longest prompt, in characters.
const MAX_PROMPT: usize = 100_000;
/// Default and largest number of sessions `list_sessions` returns.
const DEFAULT_LIST: u32 = 50;
const MAX_LIST: u32 = 200;
/// Default and largest page of `read_execution_log`, in bytes.
const DEFAULT_LOG_BYTES: u64 = 64 * 1024;
const MAX_LOG_BYTES: u64 = crate::logs::MAX_READ_BYTES;
/// Most lines `tail` may ask for.
const MAX_TAIL: usize = 10_000;

/// The session tools. Long because it is their registry: a name, title,
/// description and handler per tool, and no logic.
pub(super) fn tools() -> Vec<ToolDef> {
    vec![
        tool(
            "start_session",
            "Start agent session",
            "Start a coding agent on a task. Returns at once with the session id and status (queued until a \
             runner picks it up). When the task's project has a repo_path, the agent works in its own git \
             worktree on a new branch `vk/<id>-<slug>` made from base_branch. Without a prompt, the task's title \
             and description are the prompt. The task moves to inprogress, then to inreview when the agent \
             exits 0. Follow it with get_session and read_execution_log.",
            Toolset::Sessions,
            Effect::Create,
            start_session,
        )
        .scope(Scope::Sessions),
        tool(
            "get_session",
            "Get agent session",
            "One agent session: status (queued, running, completed, failed, stopped, interrupted) with the reason, \
             branch, worktree, timestamps, each process (setup, coding agent, cleanup) with its exit code, and the \
             last lines of output.",
            Toolset::Sessions,
            Effect::Read,
            get_session,
        ),
        tool(
            "list_sessions",
            "List agent sessions",
            "Agent sessions of the workspace, newest first; filter by task and/or status. Returns up to `limit` \
             and `next_cursor` when more follow.",
            Toolset::Sessions,
            Effect::Read,
            list_sessions,
        ),
        tool(
            "stop_session",
            "Stop agent session",
            "Stop an agent session: a queued one at once; a running one gets SIGINT, then SIGTERM and SIGKILL \
             after grace periods. Returns the session once it has stopped (or is still stopping).",
            Toolset::Sessions,
            Effect::Update,
            stop_session,
        )
        .scope(Scope::Sessions),
        tool(
            "send_follow_up",
            "Send follow-up",
            "Run another agent turn in a finished session's worktree with a new prompt, resuming the agent's own \
             conversation where the executor supports it (Claude Code --resume, codex exec resume). Returns at \
             once; the session is queued again.",
            Toolset::Sessions,
            Effect::Create,
            send_follow_up,
        )
        .scope(Scope::Sessions),
        tool(
            "read_execution_log",
            "Read execution log",
            "Read a session's output while it runs or after: the whole session or one process, stdout, stderr, \
             both (all) or the agent's own output (agent_output). Page with `cursor` (a byte offset; pass back \
             `next_cursor`) and `limit` (bytes), or get the last `tail` lines. The log text is the first content \
             block, exactly as written; the structured result says where it is (`start`, `next_cursor`, \
             `total_bytes`) and `running` whether more output may come.",
            Toolset::Sessions,
            Effect::Read,
            read_execution_log,
        ),
    ]
}

fn service(ctx: &ToolContext) -> Result<&Sessions, ToolError> {
    ctx.sessions.as_ref().ok_or_else(|| {
        ToolError::Failed("agent sessions are not available on this server".to_owned())
    })
}

/// The session layer says what is wrong; [`mcp_error`] adds which tool helps.
impl From<SessionError> for ToolError {
    fn from(err: SessionError) -> Self {
        match err {
            SessionError::Store(e) => ToolError::Store(e),
            other => ToolError::Failed(mcp_error::session_message(&other)),
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StartSessionArgs {
    /// The task the agent works on.
    pub task_id: Uuid,
    /// Executor profile (e.g. claude-code, codex, gemini, or one from the configuration file); default: the
    /// configured default_executor.
    #[serde(default)]
    pub executor: Option<String>,
    /// What the agent should do; default: the task's title and description.
    #[serde(default)]
    pub prompt: Option<String>,
    /// Branch the worktree starts from; default: the repository's current branch.
    #[serde(default)]
    pub base_branch: Option<String>,
}

async fn start_session(ctx: ToolContext, args: StartSessionArgs) -> Result<Session, ToolError> {
    let prompt = args
        .prompt
        .as_deref()
        .map(|p| checked_text("prompt", p, MAX_PROMPT, false))
        .transpose()?;
    let executor = args
        .executor
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty());
    let base = args
        .base_branch
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty());
    Ok(service(&ctx)?
        .start(
            &ctx.principal.actor,
            &args.task_id.into(),
            executor,
            prompt.as_deref(),
            base,
        )
        .await?)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionIdArgs {
    /// The session's id (from start_session or list_sessions).
    pub session_id: Uuid,
}

/// A session with its processes and recent output.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SessionDetailOut {
    #[serde(flatten)]
    pub session: Session,
    /// Setup, coding agent and cleanup runs, oldest first.
    pub processes: Vec<ExecutionProcess>,
    /// The last lines of the session's combined output.
    pub last_output: String,
}

async fn get_session(ctx: ToolContext, args: SessionIdArgs) -> Result<SessionDetailOut, ToolError> {
    let detail = service(&ctx)?
        .get(&ctx.principal.actor, &args.session_id.into())
        .await?;
    Ok(SessionDetailOut {
        session: detail.session,
        processes: detail.processes,
        last_output: detail.last_output,
    })
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListSessionsArgs {
    /// Only this task's sessions.
    #[serde(default)]
    pub task_id: Option<Uuid>,
    /// Only sessions in these statuses (queued, running, completed, failed, stopped, interrupted).
    #[serde(default)]
    pub status: Option<Vec<SessionStatus>>,
    /// How many to return: default 50, at most 200.
    #[serde(default)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// Sessions, newest first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SessionList {
    pub sessions: Vec<Session>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

async fn list_sessions(ctx: ToolContext, args: ListSessionsArgs) -> Result<SessionList, ToolError> {
    let limit = checked_count("limit", args.limit, DEFAULT_LIST, MAX_LIST, "")?;
    let filter = SessionFilter {
        task_id: args.task_id.map(Into::into),
        statuses: args.status.unwrap_or_default(),
        limit,
        after: checked_cursor(
            "list_sessions",
            args.cursor.as_deref(),
            page::decode::<SessionKey>,
        )?,
    };
    let page = service(&ctx)?.list(&ctx.principal.actor, &filter).await?;
    Ok(SessionList {
        sessions: page.items,
        next_cursor: page.next_cursor,
    })
}

async fn stop_session(ctx: ToolContext, args: SessionIdArgs) -> Result<Session, ToolError> {
    Ok(service(&ctx)?
        .stop(&ctx.principal.actor, &args.session_id.into())
        .await?)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowUpArgs {
    /// The finished session to continue.
    pub session_id: Uuid,
    /// What the agent should do next.
    pub prompt: String,
}

async fn send_follow_up(ctx: ToolContext, args: FollowUpArgs) -> Result<Session, ToolError> {
    let prompt = checked_text("prompt", &args.prompt, MAX_PROMPT, true)?;
    Ok(service(&ctx)?
        .follow_up(&ctx.principal.actor, &args.session_id.into(), &prompt)
        .await?)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadLogArgs {
    /// The session whose log to read.
    pub session_id: Uuid,
    /// One process of the session (ids from get_session); default: the whole session.
    #[serde(default)]
    pub process: Option<Uuid>,
    /// all (default: stdout and stderr as they arrived), stdout, stderr, or agent_output (what coding agents
    /// printed on stdout; session-wide only).
    #[serde(default)]
    pub stream: Option<LogStream>,
    /// Byte offset to read from: 0 (default) or the `next_cursor` of a previous read.
    #[serde(default)]
    pub cursor: Option<u64>,
    /// Most bytes to return: default 65536, at most 1048576.
    #[serde(default)]
    pub limit: Option<u64>,
    /// Instead of paging, return the last N lines (at most 10000); `next_cursor` then follows the log from its
    /// current end.
    #[serde(default)]
    pub tail: Option<usize>,
}

/// A page of an execution log.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LogPageOut {
    pub session_id: SessionId,
    /// The process read, when one was asked for.
    pub process_id: Option<ProcessId>,
    pub stream: LogStream,
    /// The output, as UTF-8 text. Sent once, as the result's first content
    /// block, not in the structured result: a page can be a megabyte.
    #[serde(skip)]
    pub text: String,
    /// Byte offset of the first byte of `text`.
    pub start: u64,
    /// Pass as `cursor` to continue reading after `text`.
    pub next_cursor: u64,
    /// Size of the log in bytes when it was read.
    pub total_bytes: u64,
    /// Whether the process (or, for the whole session, the session) may still write more.
    pub running: bool,
    pub session_status: SessionStatus,
}

async fn read_execution_log(ctx: ToolContext, args: ReadLogArgs) -> Result<LogPageOut, ToolError> {
    let limit = checked_count(
        "limit",
        args.limit,
        DEFAULT_LOG_BYTES,
        MAX_LOG_BYTES,
        " bytes",
    )?;
    if let Some(tail) = args.tail {
        checked_count("tail", Some(tail), tail, MAX_TAIL, " lines")?;
        if args.cursor.is_some() {
            return Err(ToolError::InvalidParams(
                "give either `tail` (the last lines) or `cursor` (a byte offset), not both"
                    .to_owned(),
            ));
        }
    }
    let stream = args.stream.unwrap_or(LogStream::All);
    let query = LogQuery {
        process_id: args.process.map(Into::into),
        stream,
        cursor: args.cursor.unwrap_or(0),
        limit,
        tail: args.tail,
    };
    let session_id = SessionId::from(args.session_id);
    let page = service(&ctx)?
        .read_log(&ctx.principal.actor, &session_id, &query)
        .await?;
    Ok(LogPageOut {
        session_id,
        process_id: query.process_id,
        stream,
        text: page.slice.text,
        start: page.slice.start,
        next_cursor: page.slice.end,
        total_bytes: page.slice.total,
        running: page.running,
        session_status: page.session_status,
    })
}

// Readable text of this area's outputs (what the tool result's text block says).

fn session_line(session: &Session) -> String {
    let mut line = format!(
        "- [{}] session {} on task {} (executor {}, turn {})",
        session.status, session.id, session.task_id, session.executor, session.turns
    );
    if let Some(branch) = &session.branch {
        line.push_str(&format!(", branch {branch}"));
    }
    if let Some(reason) = &session.status_reason {
        line.push_str(&format!(": {reason}"));
    }
    line
}

impl Render for Session {
    fn render(&self) -> String {
        let mut out = format!(
            "Session {} [{}] on task {}\nExecutor: {} (turns so far: {})\n",
            self.id, self.status, self.task_id, self.executor, self.turns
        );
        if let Some(reason) = &self.status_reason {
            out.push_str(&format!("Reason: {reason}\n"));
        }
        if let Some(branch) = &self.branch {
            out.push_str(&format!(
                "Branch: {branch}{}\n",
                self.base_branch
                    .as_deref()
                    .map(|b| format!(" (from {b})"))
                    .unwrap_or_default()
            ));
        }
        if let Some(path) = &self.worktree_path {
            match &self.runner_host {
                Some(host) => out.push_str(&format!("Worktree: {path} (on {host})\n")),
                None => out.push_str(&format!("Worktree: {path}\n")),
            }
        }
        out.push_str(&format!("Created: {}", self.created_at));
        if let Some(at) = &self.started_at {
            out.push_str(&format!(", started: {at}"));
        }
        if let Some(at) = &self.finished_at {
            out.push_str(&format!(", finished: {at}"));
        }
        out.push('\n');
        if self.status.is_active() {
            out.push_str(&format!(
                "Follow it with get_session or read_execution_log (session_id {}), or the resource \
                 kanban://sessions/{}/log.\n",
                self.id, self.id
            ));
        }
        out
    }
}

impl Render for SessionDetailOut {
    fn render(&self) -> String {
        let mut out = self.session.render();
        if !self.processes.is_empty() {
            out.push_str("Processes:\n");
            for p in &self.processes {
                out.push_str(&format!(
                    "- {} {} (turn {}) [{}]{}{} {}\n",
                    p.kind.as_str(),
                    p.id,
                    p.turn,
                    p.status.as_str(),
                    p.exit_code
                        .map(|c| format!(" exit code {c}"))
                        .unwrap_or_default(),
                    p.error
                        .as_deref()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default(),
                    p.command
                ));
            }
        }
        if !self.last_output.is_empty() {
            out.push_str("Last output:\n");
            out.push_str(&self.last_output);
            if !self.last_output.ends_with('\n') {
                out.push('\n');
            }
        }
        out
    }
}

impl Render for SessionList {
    fn render(&self) -> String {
        if self.sessions.is_empty() {
            return "No sessions match; start_session starts one.".to_owned();
        }
        let mut out = format!("{} session(s), newest first:\n", self.sessions.len());
        for session in &self.sessions {
            out.push_str(&session_line(session));
            out.push('\n');
        }
        out
    }
}

impl Render for LogPageOut {
    /// The line that follows a page of log text: where it is and what next.
    fn render(&self) -> String {
        format!(
            "[bytes {}-{} of {}; next_cursor {}; session {}{}]",
            self.start,
            self.next_cursor,
            self.total_bytes,
            self.next_cursor,
            self.session_status,
            if self.running {
                ", still running: read again from next_cursor for more"
            } else {
                ", finished"
            }
        )
    }

    /// The log text as it is (first block), then where it is (second).
    fn into_content(mut self) -> Vec<ContentBlock> {
        let status = self.render();
        vec![
            ContentBlock::text(std::mem::take(&mut self.text)),
            ContentBlock::text(status),
        ]
    }
}
