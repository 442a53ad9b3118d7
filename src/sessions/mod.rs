//! The agent runtime: sessions that run a real coding agent on a task.
//!
//! - [`profiles`]: executor profiles (built-ins and `[executors.NAME]`).
//! - [`agent_output`]: a turn's final message, usage and tool calls, read
//!   from the agent's own output as it arrives.
//! - [`worktree`]: a git worktree on its own branch per session.
//! - [`supervisor`]: child processes in their own process group, stop
//!   escalation, output forwarding.
//! - [`runner`]: claims queued turns from the store and runs them
//!   (setup → coding agent → cleanup), writing the logs.
//! - [`diff`]: what a session changed against its base, paged from a
//!   snapshot of the branch and the worktree.
//! - `cleanup`: archiving sessions (worktree removal) and retention.
//! - [`merge`]: landing a session's branch on its base branch
//!   (`merge_session`), without touching any checkout but a clean one of
//!   the base.
//! - `host`: this machine's name and whether a process on it is alive, for
//!   the runner's claims and for finding orphaned sessions.
//!
//! [`Sessions`] is what tools call: it queues, reads and stops sessions; the
//! runner (in the server process, or `vibe-kanban-mcp runner` elsewhere) does
//! the work. Nothing here knows MCP.

pub mod agent_output;
pub mod approvals;
mod cleanup;
pub mod diff;
mod diff_cache;
mod host;
pub mod merge;
pub mod profiles;
pub mod runner;
pub mod supervisor;
mod wait;
pub mod worktree;

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use serde::Deserialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{
    logs::{self, LogError, LogSlice, LogStore},
    store::{
        Actor, ApprovalId, ApprovalMode, Backend, ExecutionProcess, NewSession, Page, ProcessId,
        ProcessStatus, Session, SessionFilter, SessionId, SessionStatus, SessionTurn, Store,
        StoreError, TaskId,
    },
};

pub use cleanup::Archived;
pub use diff::{DiffPage, DiffQuery};
pub use diff_cache::{DiffFile, FileStatus};
pub use merge::{MergeStrategy, Merged};
pub use profiles::{ExecutorProfile, ProfileError, Profiles};
pub use wait::{WaitEnd, WaitProgress, WaitUntil, Waited};
pub use worktree::WorktreeError;

/// How often a watched session log is checked for new output: updates are
/// sent at most this often, however fast the agent prints.
pub const LOG_WATCH_INTERVAL: Duration = Duration::from_millis(250);
/// How often a watcher reads the session's status from the store (and
/// checks a finished session's log).
pub const STATUS_WATCH_INTERVAL: Duration = Duration::from_secs(2);
/// The same on D1, where each read is a Cloudflare API request: 6 a minute
/// per watched session instead of 30. Status changes also write lines to
/// the log, which is checked every [`LOG_WATCH_INTERVAL`] whatever the store.
pub const D1_STATUS_WATCH_INTERVAL: Duration = Duration::from_secs(10);

/// The `[sessions]` section of the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionsConfig {
    /// Executor profile used when `start_session` names none.
    #[serde(default)]
    pub default_executor: Option<String>,
    /// Sessions one runner runs at once; more wait in the queue.
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent: usize,
    /// Seconds between SIGINT and SIGTERM, and between SIGTERM and SIGKILL.
    #[serde(default = "default_stop_grace")]
    pub stop_grace_secs: f64,
    /// How often an idle runner looks for queued sessions made by other
    /// processes (its own server wakes it at once). Default: 1 s on SQLite,
    /// 5 s on D1, where every look is a request.
    #[serde(default)]
    pub poll_interval_ms: Option<u64>,
    /// How often a runner proves it is alive and checks for stop requests.
    #[serde(default = "default_heartbeat")]
    pub heartbeat_interval_ms: u64,
    /// A running session whose runner was silent this long is interrupted.
    #[serde(default = "default_stale_after")]
    pub stale_after_secs: u64,
    /// Where worktrees go (default: `worktrees` in the data directory).
    #[serde(default)]
    pub worktree_dir: Option<PathBuf>,
    /// The directories whose repositories this runner works in: a session
    /// whose project's `repo_path` is not inside one of them (after symlinks
    /// and `..` are resolved) fails. Unset: any repository; `[]`: none.
    #[serde(default)]
    pub allowed_repo_roots: Option<Vec<PathBuf>>,
    /// Author (and committer) of the commit made at the end of each turn,
    /// `Name <email>`; default `vibe-kanban-mcp <vibe-kanban-mcp@localhost>`.
    #[serde(default)]
    pub commit_author: Option<String>,
    /// Minutes a permission request of an agent (approvals "ask") waits for
    /// an answer before it is denied as expired.
    #[serde(default = "default_approval_timeout")]
    pub approval_timeout_mins: f64,
    /// The approval server an asking agent launches (program and
    /// arguments). Default: this binary's `agent-mcp`.
    #[serde(default)]
    pub agent_mcp_command: Option<Vec<String>>,
    /// Days a finished session keeps its worktree before the runner
    /// archives it (its branch and logs stay). Unset: worktrees stay until
    /// archive_session (the default: removal loses uncommitted work).
    #[serde(default)]
    pub keep_worktrees_days: Option<f64>,
}

fn default_max_concurrent() -> usize {
    2
}
fn default_stop_grace() -> f64 {
    5.0
}
/// The default `poll_interval_ms` for a store backend.
fn default_poll_interval(backend: Backend) -> u64 {
    match backend {
        Backend::D1 => 5000,
        Backend::Sqlite => 1000,
    }
}
fn default_heartbeat() -> u64 {
    2000
}
fn default_stale_after() -> u64 {
    30
}
fn default_approval_timeout() -> f64 {
    30.0
}

impl Default for SessionsConfig {
    fn default() -> Self {
        SessionsConfig {
            default_executor: None,
            max_concurrent: default_max_concurrent(),
            stop_grace_secs: default_stop_grace(),
            poll_interval_ms: None,
            heartbeat_interval_ms: default_heartbeat(),
            stale_after_secs: default_stale_after(),
            worktree_dir: None,
            allowed_repo_roots: None,
            commit_author: None,
            approval_timeout_mins: default_approval_timeout(),
            agent_mcp_command: None,
            keep_worktrees_days: None,
        }
    }
}

impl SessionsConfig {
    /// How long an idle runner on `backend` waits between queue polls.
    pub fn poll_interval(&self, backend: Backend) -> Duration {
        Duration::from_millis(
            self.poll_interval_ms
                .unwrap_or_else(|| default_poll_interval(backend))
                .max(10),
        )
    }

    fn grace(&self) -> Duration {
        Duration::from_secs_f64(self.stop_grace_secs.clamp(0.0, 3600.0))
    }

    /// How long a permission request waits for an answer (at least 1 s, at
    /// most a week).
    pub fn approval_timeout(&self) -> Duration {
        Duration::from_secs_f64((self.approval_timeout_mins * 60.0).clamp(1.0, 7.0 * 86_400.0))
    }

    /// The approval server's command line: `agent_mcp_command`, else this
    /// binary's `agent-mcp` subcommand.
    pub fn agent_mcp_command(&self) -> Vec<String> {
        self.agent_mcp_command.clone().unwrap_or_else(|| {
            let program = std::env::current_exe()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|_| "vibe-kanban-mcp".to_owned());
            vec![program, "agent-mcp".to_owned()]
        })
    }
}

/// What went wrong in the session service. Messages say why and what to
/// change, without naming tools: the tool layer adds which tool helps.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Logs(#[from] LogError),
    // What reviewing and archiving a session's work can run into.
    #[error(
        "session {session_id} has no repository: its project had no repo_path when it ran, so the agent \
         worked in a plain directory and there is no diff"
    )]
    NoRepository { session_id: SessionId },
    #[error(
        "session {session_id} is {status} and has no branch yet; its diff exists once a runner has made its worktree"
    )]
    NoBranchYet {
        session_id: SessionId,
        status: SessionStatus,
    },
    #[error(
        "session {session_id}'s worktree and repository are not on this machine (it ran on {host}); ask a server there"
    )]
    WorkElsewhere { session_id: SessionId, host: String },
    #[error(
        "session {session_id}'s branch '{branch}' no longer exists and its worktree is gone (archived with \
         delete_branch): there is nothing left to diff"
    )]
    BranchGone {
        session_id: SessionId,
        branch: String,
    },
    #[error(
        "session {session_id}'s base branch '{base}' no longer exists in the repository (or shares no history \
         with the session's branch), so there is no merge base to diff against"
    )]
    BaseGone { session_id: SessionId, base: String },
    #[error(
        "cursor {cursor} is past the end of the diff ({total} bytes); pass 0, a next_cursor or a file's offset"
    )]
    CursorPastEnd { cursor: u64, total: u64 },
    #[error("{0}")]
    Diff(String),
    #[error(
        "session {session_id} is archived, but removing its worktree failed: {source}; fix that and archive it again"
    )]
    ArchiveIncomplete {
        session_id: SessionId,
        #[source]
        source: WorktreeError,
    },
    /// The executor asked for is not a profile.
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// The project's repository cannot be used as asked.
    #[error(transparent)]
    Repository(#[from] WorktreeError),
    #[error("base_branch '{0}' is not a valid git branch name")]
    InvalidBranch(String),
    #[error("prompt is empty; say what the agent should do next")]
    EmptyPrompt,
    /// Approvals "ask" with a profile that has no way to ask.
    #[error(
        "executor '{0}' cannot ask for approvals (its profile sets no approval_args); use approvals \"auto\", \
         or an executor that can ask, e.g. claude-code"
    )]
    CannotAsk(String),
    #[error("process {process_id} is not part of session {session_id}")]
    ForeignProcess {
        process_id: ProcessId,
        session_id: SessionId,
    },
    #[error("stream agent_output is session-wide; leave out `process` or use stream stdout")]
    AgentOutputOfProcess,
    /// Local logs of a session another machine ran.
    #[error(
        "session {session_id} ran on host '{host}', and its logs are on that machine's disk \
         ([logs] backend = \"local\"); read them there, or set [logs] backend = \"r2\" on every \
         machine so all of them share the logs"
    )]
    LogsElsewhere { session_id: SessionId, host: String },
    // What merging a session's work can run into (merge.rs). Each says that
    // nothing was changed where that holds.
    #[error(
        "session {session_id} is already merged into '{base}' as commit {commit} ({strategy}); nothing was changed"
    )]
    AlreadyMerged {
        session_id: SessionId,
        commit: String,
        base: String,
        strategy: String,
    },
    #[error("session {session_id} is {status}: only a finished session can be merged")]
    MergeWhileActive {
        session_id: SessionId,
        status: SessionStatus,
    },
    #[error("session {session_id} has nothing to merge: {reason}")]
    NothingToMerge {
        session_id: SessionId,
        reason: String,
    },
    #[error(
        "session {session_id}'s base '{base}' is not a local branch of {}; only a branch can be merged into",
        .repo.display()
    )]
    BaseNotBranch {
        session_id: SessionId,
        base: String,
        repo: PathBuf,
    },
    #[error(
        "the base branch '{base}' is checked out in {} and has uncommitted changes there: commit or stash in {} \
         first. Nothing was changed",
        .path.display(), .path.display()
    )]
    BaseDirty { base: String, path: PathBuf },
    #[error(
        "session {session_id}'s branch {branch} does not {} cleanly onto '{base}'{}: conflicts in {}. Nothing \
         was changed",
        if *.strategy == MergeStrategy::Rebase { "rebase" } else { "merge" },
        .commit.as_deref().map(|c| format!(" (replaying commit {c})")).unwrap_or_default(),
        .files.join(", ")
    )]
    MergeConflict {
        session_id: SessionId,
        branch: String,
        base: String,
        strategy: MergeStrategy,
        commit: Option<String>,
        files: Vec<String>,
    },
    #[error(
        "the base branch '{base}' is checked out in {} and git would not bring that checkout along: {detail}. \
         Nothing was changed; move those files away (or commit them) and merge again",
        .path.display()
    )]
    CheckoutBlocked {
        base: String,
        path: PathBuf,
        detail: String,
    },
    #[error(
        "the base branch '{base}' moved while merging ({detail}); nothing was changed, merge again"
    )]
    BaseMoved { base: String, detail: String },
    #[error(
        "session {session_id} was merged into '{base}' as commit {commit}, but recording it failed: {source}. \
         The work is on '{base}': do not merge it again; move the task to done by hand"
    )]
    MergeUnrecorded {
        session_id: SessionId,
        base: String,
        commit: String,
        #[source]
        source: Box<StoreError>,
    },
}

/// Why the session service cannot start with this configuration.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error("[sessions] max_concurrent must be at least 1")]
    NoSlots,
    #[error(
        "[sessions] allowed_repo_roots must list absolute directories; '{}' is relative",
        .0.display()
    )]
    RelativeRoot(PathBuf),
    #[error(
        "[sessions] commit_author {0:?} is not of the form \"Name <email>\", e.g. \"{default}\"",
        default = worktree::DEFAULT_AUTHOR
    )]
    BadAuthor(String),
    #[error(
        "[sessions] keep_worktrees_days must be a positive number of days (it is {0}); leave it out to keep worktrees"
    )]
    BadRetention(f64),
}

/// Announces the session of every turn that ended in this process (after
/// its end is recorded), so waiters here wake at once. A waiter that falls
/// behind reads the store once instead.
struct TurnEnds(tokio::sync::broadcast::Sender<SessionId>);

impl Default for TurnEnds {
    fn default() -> Self {
        TurnEnds(tokio::sync::broadcast::channel(64).0)
    }
}

impl TurnEnds {
    fn announce(&self, session_id: &SessionId) {
        // No receiver: nobody waits, nothing to do.
        let _ = self.0.send(session_id.clone());
    }

    /// Turn ends from now on.
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<SessionId> {
        self.0.subscribe()
    }
}

pub type Result<T, E = SessionError> = std::result::Result<T, E>;

/// A session with its processes and the last lines of its output.
#[derive(Debug, Clone)]
pub struct SessionDetail {
    pub session: Session,
    /// Whether the session's worktree is still there ([`Sessions::worktree_exists`]).
    pub worktree_exists: bool,
    pub processes: Vec<ExecutionProcess>,
    pub last_output: String,
    /// Finished agent turns, oldest first.
    pub turns: Vec<SessionTurn>,
    /// Permission requests of the agent waiting for an answer.
    pub pending_approvals: Vec<ApprovalId>,
}

/// Which log `read_log` reads.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum LogStream {
    /// stdout and stderr, interleaved as they arrived.
    All,
    Stdout,
    Stderr,
    /// Only what coding agents printed on stdout (session-wide).
    AgentOutput,
}

/// How to read a log: a page from a cursor, or the last lines.
#[derive(Debug, Clone)]
pub struct LogQuery {
    pub process_id: Option<ProcessId>,
    pub stream: LogStream,
    pub cursor: u64,
    pub limit: u64,
    pub tail: Option<usize>,
}

/// A page of a log.
#[derive(Debug, Clone)]
pub struct LogPage {
    pub slice: LogSlice,
    /// Whether the process (or, without one, the session) may still write.
    pub running: bool,
    pub session_status: SessionStatus,
}

/// The log a query reads, and whether its writer (the process, or without
/// one the session) may still add to it.
fn log_key(
    session_id: &SessionId,
    session: &Session,
    processes: &[ExecutionProcess],
    query: &LogQuery,
) -> Result<(String, bool)> {
    Ok(match &query.process_id {
        Some(process_id) => {
            let process = processes
                .iter()
                .find(|p| &p.id == process_id)
                .ok_or_else(|| SessionError::ForeignProcess {
                    process_id: process_id.clone(),
                    session_id: session_id.to_owned(),
                })?;
            let stream = match query.stream {
                LogStream::All => "output",
                LogStream::Stdout => "stdout",
                LogStream::Stderr => "stderr",
                LogStream::AgentOutput => {
                    return Err(SessionError::AgentOutputOfProcess);
                }
            };
            (
                logs::process_key(session_id, process_id, stream),
                process.status == ProcessStatus::Running,
            )
        }
        None => {
            let file = match query.stream {
                LogStream::All => logs::EXECUTION_LOG,
                LogStream::Stdout => "stdout.log",
                LogStream::Stderr => "stderr.log",
                LogStream::AgentOutput => logs::AGENT_OUTPUT_LOG,
            };
            (
                logs::session_key(session_id, file),
                session.status.is_active(),
            )
        }
    })
}

/// Lines of `execution.log` shown by `get_session`.
const LAST_LINES: usize = 20;
const LAST_BYTES: u64 = 16 * 1024;

/// Whoever runs sessions in this process, so a stop or a new session takes
/// effect at once instead of at the next poll.
#[derive(Default)]
struct Local {
    wake: Notify,
    /// Stop tokens of the sessions this process runs.
    active: Mutex<HashMap<SessionId, CancellationToken>>,
    /// Woken whenever a turn run here has recorded its end.
    finished: Notify,
    /// Woken when an approval of a session run here is asked for or answered.
    approvals: Notify,
    /// Woken whenever a turn run here has flushed output to its logs
    /// (`wait_for_session` with `until: "output"`).
    output: std::sync::Arc<Notify>,
    /// The session of every turn end recorded here (`wait_for_session`).
    turn_ends: TurnEnds,
}

struct Inner {
    store: Store,
    logs: LogStore,
    profiles: Profiles,
    config: SessionsConfig,
    worktree_root: PathBuf,
    local: Local,
    commit_author: worktree::Author,
    /// Where the approval server's configuration files go, and the data
    /// directory it is told.
    data_dir: PathBuf,
    diffs: diff_cache::DiffCache,
}

/// The session service. Cheap to clone.
#[derive(Clone)]
pub struct Sessions {
    inner: Arc<Inner>,
    /// GitHub settings (create_pull_request, the pull request sync).
    github: Option<Arc<crate::github::GitHub>>,
}

impl Sessions {
    pub fn new(
        store: Store,
        logs: LogStore,
        executors: &BTreeMap<String, ExecutorProfile>,
        config: SessionsConfig,
        data_dir: &Path,
    ) -> Result<Self, SetupError> {
        let profiles = Profiles::new(executors, config.default_executor.as_deref())?;
        if config.max_concurrent == 0 {
            return Err(SetupError::NoSlots);
        }
        if let Some(relative) = config
            .allowed_repo_roots
            .iter()
            .flatten()
            .find(|root| !root.is_absolute())
        {
            return Err(SetupError::RelativeRoot(relative.clone()));
        }
        let author = config
            .commit_author
            .as_deref()
            .unwrap_or(worktree::DEFAULT_AUTHOR);
        let commit_author = worktree::Author::parse(author)
            .ok_or_else(|| SetupError::BadAuthor(author.to_owned()))?;
        if let Some(days) = config.keep_worktrees_days
            && !(days.is_finite() && days > 0.0)
        {
            return Err(SetupError::BadRetention(days));
        }
        let worktree_root = config
            .worktree_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("worktrees"));
        Ok(Sessions {
            inner: Arc::new(Inner {
                store,
                logs,
                profiles,
                config,
                worktree_root,
                local: Local::default(),
                commit_author,
                data_dir: data_dir.to_owned(),
                diffs: diff_cache::DiffCache::new(data_dir),
            }),
            github: None,
        })
    }

    /// Reaches GitHub with these settings (create_pull_request, the sync).
    pub fn with_github(mut self, github: crate::github::GitHub) -> Self {
        self.github = Some(Arc::new(github));
        self
    }

    /// The GitHub settings, when this service has them.
    pub fn github(&self) -> Option<&Arc<crate::github::GitHub>> {
        self.github.as_ref()
    }

    /// The executor profiles this service can run (built-ins and the
    /// configuration's), by name, and the default one's name.
    pub fn executors(&self) -> (Vec<String>, String) {
        let names = self.inner.profiles.names();
        let names = names.into_iter().map(str::to_owned).collect();
        (names, self.inner.profiles.default_name().to_owned())
    }

    /// The store this service works on.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn logs(&self) -> &LogStore {
        &self.inner.logs
    }

    /// Queues a session on a task. Without a prompt, the task's title and
    /// description are the prompt; without `approvals`, the project's setting.
    pub async fn start(
        &self,
        actor: &Actor,
        task_id: &TaskId,
        executor: Option<&str>,
        prompt: Option<&str>,
        base_branch: Option<&str>,
        approvals: Option<ApprovalMode>,
    ) -> Result<Session> {
        let executor = executor.unwrap_or(self.inner.profiles.default_name());
        let profile = self.inner.profiles.get(executor)?;
        // One read for both; the write that queues the session is the other
        // round trip.
        let (task, project) = self.inner.store.task_and_project(actor, task_id).await?;
        let approvals = approvals.unwrap_or(project.approvals);
        if approvals == ApprovalMode::Ask && profile.approval_args.is_none() {
            return Err(SessionError::CannotAsk(executor.to_owned()));
        }
        if let Some(base) = base_branch
            && !worktree::valid_branch_name(base)
        {
            return Err(SessionError::InvalidBranch(base.to_owned()));
        }
        // Check the repository now when it is on this machine, so a wrong
        // path or branch is an answer, not a failed session later.
        if let Some(repo) = project.repo_path.as_deref() {
            let repo = Path::new(repo);
            if repo.exists() {
                worktree::resolve_base(repo, base_branch).await?;
            }
        }
        let prompt = match prompt.map(str::trim).filter(|p| !p.is_empty()) {
            Some(prompt) => prompt.to_owned(),
            None if task.description.trim().is_empty() => task.title.clone(),
            None => format!("{}\n\n{}", task.title, task.description.trim()),
        };
        let session = self
            .inner
            .store
            .create_session(
                actor,
                NewSession {
                    task_id: task.id.clone(),
                    executor: executor.to_owned(),
                    prompt,
                    base_branch: base_branch.map(str::to_owned),
                    approvals,
                },
            )
            .await?;
        self.inner.local.wake.notify_one();
        Ok(session)
    }

    pub async fn get(&self, actor: &Actor, session_id: &SessionId) -> Result<SessionDetail> {
        let (session, processes, turns, pending_approvals) =
            self.inner.store.session_detail(actor, session_id).await?;
        let key = logs::session_key(&session.id, logs::EXECUTION_LOG);
        let last_output = self
            .inner
            .logs
            .tail(&key, LAST_LINES, LAST_BYTES)
            .await?
            .text;
        Ok(SessionDetail {
            worktree_exists: self.worktree_exists(&session),
            session,
            processes,
            last_output,
            turns,
            pending_approvals,
        })
    }

    pub async fn list(&self, actor: &Actor, filter: &SessionFilter) -> Result<Page<Session>> {
        Ok(self.inner.store.list_sessions(actor, filter).await?)
    }

    /// Stops a session: a queued one at once; a running one through its
    /// runner (SIGINT, grace, SIGTERM, SIGKILL). Waits, within reason, until
    /// it has stopped.
    pub async fn stop(&self, actor: &Actor, session_id: &SessionId) -> Result<Session> {
        let session = self.inner.store.request_stop(actor, session_id).await?;
        if session.status != SessionStatus::Running {
            // A queued session stopped at once: its waiters here need not
            // wait for their next look at the store.
            self.inner.local.turn_ends.announce(session_id);
            return Ok(session);
        }
        // Two grace periods, a heartbeat for a runner elsewhere to notice,
        // and a little slack.
        let grace = self.inner.config.grace();
        let heartbeat = Duration::from_millis(self.inner.config.heartbeat_interval_ms.max(50));
        let wait = grace * 2 + heartbeat + Duration::from_secs(3);
        if let Some(token) = self.local_token(session_id) {
            // Run by this process: wait for its runner to record the end,
            // then read the session once — no store reads meanwhile.
            token.cancel();
            let ended = async {
                loop {
                    let finished = self.inner.local.finished.notified();
                    if self.local_token(session_id).is_none() {
                        return;
                    }
                    finished.await;
                }
            };
            let _ = tokio::time::timeout(wait, ended).await;
            return Ok(self.inner.store.get_session(actor, session_id).await?.0);
        }
        // Run elsewhere: its runner sees the request at its next heartbeat;
        // look once per heartbeat until it has stopped.
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            tokio::time::sleep(heartbeat).await;
            let (session, _) = self.inner.store.get_session(actor, session_id).await?;
            if session.status != SessionStatus::Running || tokio::time::Instant::now() >= deadline {
                return Ok(session);
            }
        }
    }

    /// Queues another agent turn in the session's worktree.
    pub async fn follow_up(
        &self,
        actor: &Actor,
        session_id: &SessionId,
        prompt: &str,
    ) -> Result<Session> {
        let prompt = prompt.trim();
        if prompt.is_empty() {
            return Err(SessionError::EmptyPrompt);
        }
        // One round trip: the store queues the turn only when the session's
        // executor is one this server knows.
        let executors = self.inner.profiles.names();
        let session = self
            .inner
            .store
            .queue_follow_up(actor, session_id, prompt, &executors)
            .await?;
        self.inner.local.wake.notify_one();
        Ok(session)
    }

    /// Reads a session's log (or one process's) by cursor, or its tail.
    pub async fn read_log(
        &self,
        actor: &Actor,
        session_id: &SessionId,
        query: &LogQuery,
    ) -> Result<LogPage> {
        let (session, processes) = self.inner.store.get_session(actor, session_id).await?;
        let (key, running) = log_key(session_id, &session, &processes, query)?;
        let slice = match query.tail {
            Some(lines) => {
                self.inner
                    .logs
                    .tail(&key, lines, logs::MAX_READ_BYTES)
                    .await?
            }
            None => {
                self.inner
                    .logs
                    .read(&key, query.cursor, query.limit)
                    .await?
            }
        };
        if slice.total == 0 && self.inner.logs.is_local() {
            // Local logs are on the disk of the machine that ran the turn.
            if let Some(host) = session
                .runner_host
                .as_deref()
                .filter(|host| *host != host::host_name())
            {
                return Err(SessionError::LogsElsewhere {
                    session_id: session_id.to_owned(),
                    host: host.to_owned(),
                });
            }
        }
        Ok(LogPage {
            slice,
            running,
            session_status: session.status,
        })
    }

    /// Calls `notify` whenever a session's log grows or its status changes,
    /// at most once per [`LOG_WATCH_INTERVAL`]: output that arrives in a
    /// burst is one notification. The log's size is checked every tick; the
    /// store only every [`STATUS_WATCH_INTERVAL`] ([`D1_STATUS_WATCH_INTERVAL`]
    /// on D1, where each look is a request), which is soon enough because
    /// status changes also write lines to the log. Ends when `notify` says
    /// the client is gone, and when the session is not the caller's (another
    /// workspace's, deleted or made up): nothing is ever sent for it. A store
    /// that does not answer for a moment is not a reason to stop.
    pub async fn watch_log<F, Fut>(&self, actor: &Actor, session_id: &SessionId, notify: F)
    where
        F: Fn() -> Fut + Send,
        Fut: std::future::Future<Output = bool> + Send,
    {
        let key = logs::session_key(session_id, logs::EXECUTION_LOG);
        let status_every = if self.inner.store.kind() == Backend::D1 {
            D1_STATUS_WATCH_INTERVAL
        } else {
            STATUS_WATCH_INTERVAL
        };
        let mut last_status = match self.status_of(actor, session_id).await {
            Ok(status) => Some(status),
            Err(StoreError::NotFound { .. }) => return,
            Err(_) => None,
        };
        let mut last_len = self.inner.logs.len(&key).await.ok();
        let mut status_checked = tokio::time::Instant::now();
        loop {
            // Until the status is known (the store did not answer), look
            // only as often as the status is read.
            let active = last_status.is_some_and(|s| s.is_active());
            tokio::time::sleep(if active {
                LOG_WATCH_INTERVAL
            } else {
                status_every
            })
            .await;
            let mut changed = false;
            if status_checked.elapsed() >= status_every {
                status_checked = tokio::time::Instant::now();
                match self.status_of(actor, session_id).await {
                    Ok(now) if Some(now) != last_status => {
                        changed = last_status.is_some();
                        last_status = Some(now);
                    }
                    Ok(_) => {}
                    Err(StoreError::NotFound { .. }) => return,
                    Err(_) => {}
                }
            }
            if last_status.is_none() {
                // Not known to be the caller's yet: look at nothing else.
                continue;
            }
            let len = self.inner.logs.len(&key).await.ok();
            changed |= len.is_some() && len != last_len;
            last_len = len.or(last_len);
            if changed && !notify().await {
                return;
            }
        }
    }

    /// The session's status if it is the caller's; `NotFound` when it is
    /// not (another workspace's, deleted, or made up).
    pub async fn status_of(
        &self,
        actor: &Actor,
        session_id: &SessionId,
    ) -> Result<SessionStatus, StoreError> {
        let (session, _) = self.inner.store.get_session(actor, session_id).await?;
        Ok(session.status)
    }

    fn local_token(&self, session_id: &SessionId) -> Option<CancellationToken> {
        self.inner
            .local
            .active
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(session_id)
            .cloned()
    }

    /// Marks sessions whose runner is gone as interrupted; returns how many.
    /// A runner is gone when it ran on this host and its process no longer
    /// exists, or when its heartbeat is older than `stale_after_secs`.
    pub async fn recover_orphans(&self, except_runner: Option<&str>) -> Result<usize> {
        let host = host::host_name();
        let stale = chrono::Duration::seconds(
            i64::try_from(self.inner.config.stale_after_secs).unwrap_or(i64::MAX / 2),
        );
        let now = chrono::Utc::now();
        let mut interrupted = 0;
        for owner in self.inner.store.running_owners().await? {
            if owner.runner_id.is_some() && owner.runner_id.as_deref() == except_runner {
                continue;
            }
            let process_gone = owner.runner_host.as_deref() == Some(host.as_str())
                && owner
                    .runner_pid
                    .is_some_and(|pid| !host::process_alive(pid));
            let silent = owner
                .heartbeat_at
                .as_deref()
                .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
                .is_none_or(|at| now.signed_duration_since(at) > stale);
            if !(process_gone || silent) {
                continue;
            }
            let reason = if process_gone {
                format!(
                    "interrupted: its runner (process {} on {host}) is no longer running; the logs stay readable, \
                     and a follow-up turn continues in the same worktree",
                    owner.runner_pid.unwrap_or_default()
                )
            } else {
                format!(
                    "interrupted: its runner stopped reporting for more than {} s; the logs stay readable, \
                     and a follow-up turn continues in the same worktree",
                    self.inner.config.stale_after_secs
                )
            };
            if self
                .inner
                .store
                .interrupt_session(&owner.id, owner.runner_id.as_deref(), &reason)
                .await?
            {
                tracing::warn!(session = %owner.id, %reason, "session interrupted");
                interrupted += 1;
            }
        }
        Ok(interrupted)
    }
}
