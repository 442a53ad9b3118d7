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
    links, tool,
};
use crate::{
    auth::Scope,
    mcp_error,
    sessions::{LogQuery, LogStream, SessionError, Sessions},
    store::{
        ApprovalId, ApprovalMode, ExecutionProcess, FinalMessageSource, ProcessId, Session,
        SessionFilter, SessionId, SessionKey, SessionStatus, SessionTurn, page,
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
            "Start a coding agent on a task; returns at once, queued. With the project's repo_path it works in a \
             git worktree on a new branch. The task goes inprogress, then inreview if the agent exits 0.",
            Toolset::Sessions,
            Effect::Create,
            start_session,
        )
        .scope(Scope::Sessions),
        tool(
            "get_session",
            "Get agent session",
            "One agent session: status and why, branch, worktree, processes with exit codes, last output lines, \
             the agent's final message.",
            Toolset::Sessions,
            Effect::Read,
            get_session,
        ),
        tool(
            "list_sessions",
            "List agent sessions",
            "Agent sessions, newest first, filtered by task or status.",
            Toolset::Sessions,
            Effect::Read,
            list_sessions,
        ),
        tool(
            "stop_session",
            "Stop agent session",
            "Stop an agent session (SIGINT, then SIGTERM, SIGKILL); returns it stopped or stopping.",
            Toolset::Sessions,
            Effect::Update,
            stop_session,
        )
        .scope(Scope::Sessions),
        tool(
            "send_follow_up",
            "Send follow-up",
            "Run another agent turn in a finished session, resuming its conversation where the agent can; \
             returns at once, queued.",
            Toolset::Sessions,
            Effect::Create,
            send_follow_up,
        )
        .scope(Scope::Sessions),
        tool(
            "read_execution_log",
            "Read execution log",
            "A session's output as the first content block, while it runs or after: page by byte `cursor` \
             (pass `next_cursor` back) or take the last `tail` lines.",
            Toolset::Sessions,
            Effect::Read,
            read_execution_log,
        ),
    ]
}

pub(super) fn service(ctx: &ToolContext) -> Result<&Sessions, ToolError> {
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
    /// From list_tasks.
    pub task_id: Uuid,
    /// Profile, e.g. claude-code, codex, gemini; default: the configured one.
    #[serde(default)]
    pub executor: Option<String>,
    /// Default: the task's title and description.
    #[serde(default)]
    pub prompt: Option<String>,
    /// Default: the repository's current branch.
    #[serde(default)]
    pub base_branch: Option<String>,
    /// auto or ask (see list_approvals); default: the project's.
    #[serde(default)]
    pub approvals: Option<ApprovalMode>,
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
            args.approvals,
        )
        .await?)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionIdArgs {
    /// From start_session or list_sessions.
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
    /// The latest turn's: null while it runs or when the agent printed none.
    pub final_message: Option<String>,
    /// `agent_json` (the agent's own output) or `last_lines` (its last lines).
    #[schemars(with = "Option<String>")]
    pub final_message_source: Option<FinalMessageSource>,
    /// The latest turn's, where the agent reports them.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "TurnUsage")]
    pub usage: Option<TurnUsage>,
    /// Finished turns, oldest first.
    pub past_turns: Vec<TurnBrief>,
    /// The agent waits for respond_to_approval (status stays running).
    pub waiting_for_approval: bool,
    pub pending_approvals: Vec<ApprovalId>,
    /// False once archived (archive_session) or removed.
    pub worktree_exists: bool,
    // What merge_session recorded; absent until then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merge_commit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merge_strategy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_at: Option<String>,
}

/// What a turn cost; a field the agent does not report is left out.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TurnUsage {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "i64")]
    pub input_tokens: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "i64")]
    pub output_tokens: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "f64")]
    pub cost_usd: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "i64")]
    pub tool_calls: Option<i64>,
}

/// One finished turn: its commit on the session's branch (null: it changed
/// nothing) and where its final message came from.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TurnBrief {
    pub turn: i64,
    pub commit: Option<String>,
    #[schemars(with = "Option<String>")]
    pub source: Option<FinalMessageSource>,
}

impl SessionDetailOut {
    /// The output of `get_session` for a session's detail.
    pub fn new(detail: crate::sessions::SessionDetail) -> Self {
        let latest = detail
            .turns
            .last()
            .filter(|t| t.turn == detail.session.turns && !detail.session.status.is_active());
        let usage = latest.map(|t| TurnUsage {
            input_tokens: t.input_tokens,
            output_tokens: t.output_tokens,
            cost_usd: t.cost_usd,
            tool_calls: t.tool_calls,
        });
        SessionDetailOut {
            final_message: latest.and_then(|t| t.final_message.clone()),
            final_message_source: latest.and_then(|t| t.final_message_source),
            usage,
            past_turns: detail.turns.iter().map(TurnBrief::of).collect(),
            waiting_for_approval: !detail.pending_approvals.is_empty(),
            pending_approvals: detail.pending_approvals,
            worktree_exists: detail.worktree_exists,
            merge_commit: detail.session.merge_commit.clone(),
            merge_strategy: detail.session.merge_strategy.clone(),
            merged_at: detail.session.merged_at.clone(),
            session: detail.session,
            processes: detail.processes,
            last_output: detail.last_output,
        }
    }
}

impl TurnBrief {
    fn of(turn: &SessionTurn) -> Self {
        TurnBrief {
            turn: turn.turn,
            commit: turn.commit_sha.clone(),
            source: turn.final_message_source,
        }
    }
}

async fn get_session(ctx: ToolContext, args: SessionIdArgs) -> Result<SessionDetailOut, ToolError> {
    let detail = service(&ctx)?
        .get(&ctx.principal.actor, &args.session_id.into())
        .await?;
    Ok(SessionDetailOut::new(detail))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListSessionsArgs {
    /// From list_tasks.
    #[serde(default)]
    pub task_id: Option<Uuid>,
    /// Any of these statuses.
    #[serde(default)]
    pub status: Option<Vec<SessionStatus>>,
    /// Default 50.
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_LIST))]
    pub limit: Option<u32>,
    /// The last page's `next_cursor`.
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
    /// A finished session.
    pub session_id: Uuid,
    /// What the agent does next.
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
    /// From start_session or list_sessions.
    pub session_id: Uuid,
    /// One process (from get_session); default: all.
    #[serde(default)]
    pub process: Option<Uuid>,
    /// Default all (stdout and stderr); agent_output: what agents printed.
    #[serde(default)]
    pub stream: Option<LogStream>,
    /// Byte offset: 0 or a `next_cursor`.
    #[serde(default)]
    pub cursor: Option<u64>,
    /// Bytes, default 65536.
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_LOG_BYTES))]
    pub limit: Option<u64>,
    /// The last N lines.
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_TAIL))]
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
    if let Some(pr) = &session.pull_request {
        line.push_str(&format!(", pull request #{} {}", pr.number, pr.state));
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
        if let Some(pr) = &self.pull_request {
            out.push_str(&format!(
                "Pull request: #{} ({}) {}\n",
                pr.number, pr.state, pr.url
            ));
        }
        if let Some(at) = &self.archived_at {
            out.push_str(&format!("Archived: {at} (worktree removed)\n"));
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
                "Follow it with wait_for_session, get_session or read_execution_log (session_id {}), or the \
                 resource kanban://sessions/{}/log.\n",
                self.id, self.id
            ));
        }
        out
    }

    /// The text, then links to the session's log and diff resources.
    fn into_content(self) -> Vec<ContentBlock> {
        let mut content = vec![ContentBlock::text(self.render())];
        content.extend(links::session(&self.id));
        content
    }
}

impl Render for SessionDetailOut {
    fn render(&self) -> String {
        let mut out = self.session.render();
        if self.waiting_for_approval {
            out.push_str(&format!(
                "Waiting for approval: {} (list_approvals shows them; respond_to_approval answers)\n",
                self.pending_approvals
                    .iter()
                    .map(ApprovalId::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
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
        for t in &self.past_turns {
            out.push_str(&format!(
                "Turn {}: {}{}\n",
                t.turn,
                t.commit
                    .as_deref()
                    .map_or("no changes".to_owned(), |c| format!("commit {c}")),
                t.source
                    .map(|s| format!(", final message from {}", s.as_str()))
                    .unwrap_or_default()
            ));
        }
        if let Some(usage) = &self.usage {
            let parts: Vec<String> = [
                usage.input_tokens.map(|n| format!("{n} input tokens")),
                usage.output_tokens.map(|n| format!("{n} output tokens")),
                usage.cost_usd.map(|c| format!("${c:.4}")),
                usage.tool_calls.map(|n| format!("{n} tool calls")),
            ]
            .into_iter()
            .flatten()
            .collect();
            if !parts.is_empty() {
                out.push_str(&format!("Last turn: {}\n", parts.join(", ")));
            }
        }
        if let Some(commit) = &self.merge_commit {
            out.push_str(&format!(
                "Merged into {} as commit {commit} ({}){}\n",
                self.session.base_branch.as_deref().unwrap_or("its base"),
                self.merge_strategy.as_deref().unwrap_or("?"),
                self.merged_at
                    .as_deref()
                    .map(|at| format!(" at {at}"))
                    .unwrap_or_default()
            ));
        }
        if let Some(message) = &self.final_message {
            out.push_str("Final message:\n");
            out.push_str(message);
            out.push('\n');
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

    /// The text, then links to the session's log and diff resources.
    fn into_content(self) -> Vec<ContentBlock> {
        let mut content = vec![ContentBlock::text(self.render())];
        content.extend(links::session(&self.session.id));
        content
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
