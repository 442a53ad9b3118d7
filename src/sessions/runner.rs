//! The runner: claims queued turns from the store and runs them — worktree,
//! setup script, coding agent, cleanup script — writing every byte of output
//! to the session's logs. It runs inside `serve` (unless `--no-runner`) or
//! alone as `vibe-kanban-mcp runner`; several runners can share one store.

use std::{path::Path, sync::Arc, time::Duration};

use tokio::{
    sync::{Semaphore, mpsc},
    task::JoinSet,
};
use tokio_util::sync::CancellationToken;

use super::{
    Sessions,
    agent_output::{OutputParser, TurnSummary},
    approvals::{AgentTurn, agent_note, approval_tool_name},
    host::host_name,
    profiles::{ExecutorProfile, FailureHint, ProfileError},
    supervisor::{self, Ending, Output, Spec, Stream},
    worktree::{self, WorktreeError},
};
use crate::{
    logs::{self, LogStore},
    store::{
        ApprovalMode, ClaimedTurn, ProcessId, ProcessKind, ProcessStatus, RunnerIdentity,
        RunnerScope, SessionId, SessionStatus, StoreError, TurnOutcome,
    },
};

mod turn_end;

/// How often buffered log output is made readable.
const LOG_FLUSH: Duration = Duration::from_millis(200);

/// A runner started inside another command (`serve`).
pub struct RunnerHandle {
    shutdown: CancellationToken,
    join: tokio::task::JoinHandle<()>,
}

impl RunnerHandle {
    /// Stops the runner: running sessions are stopped (SIGINT, grace,
    /// SIGTERM, SIGKILL) and recorded as interrupted.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        let _ = self.join.await;
    }
}

impl Sessions {
    /// Starts a runner in the background that claims the sessions `scope`
    /// allows.
    pub fn spawn_runner(&self, scope: RunnerScope) -> RunnerHandle {
        let shutdown = CancellationToken::new();
        let sessions = self.clone();
        let token = shutdown.clone();
        let join = tokio::spawn(async move { sessions.run_runner(scope, token).await });
        RunnerHandle { shutdown, join }
    }

    /// Claims (within `scope`) and runs turns until `shutdown` is cancelled.
    pub async fn run_runner(&self, scope: RunnerScope, shutdown: CancellationToken) {
        let identity = self.start_runner(scope).await;
        let config = &self.inner.config;
        let poll_every = config.poll_interval(self.inner.store.kind());
        let slots = Arc::new(Semaphore::new(config.max_concurrent));
        let mut turns = JoinSet::new();
        let beat = tokio::spawn(heartbeat(
            self.clone(),
            identity.id.clone(),
            shutdown.clone(),
        ));
        // Retention looks as often as the orphan sweep: one read a look.
        let sweep_every = Duration::from_secs(config.stale_after_secs.max(1)) / 2;
        let retention = self.spawn_retention(&identity.scope, sweep_every, &shutdown);
        loop {
            while turns.try_join_next().is_some() {}
            let permit = tokio::select! {
                permit = Arc::clone(&slots).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
                () = shutdown.cancelled() => break,
            };
            match self.inner.store.claim_session(&identity).await {
                Ok(Some(turn)) => {
                    self.spawn_turn(&mut turns, &identity.id, turn, permit, &shutdown);
                    continue;
                }
                Ok(None) => drop(permit),
                Err(e) => {
                    drop(permit);
                    tracing::warn!(error = %e, "could not claim a queued session; retrying");
                }
            }
            tokio::select! {
                () = self.inner.local.wake.notified() => {}
                () = tokio::time::sleep(poll_every) => {}
                () = shutdown.cancelled() => break,
            }
        }
        // Every turn's token is a child of `shutdown`: they are stopping.
        while turns.join_next().await.is_some() {}
        beat.abort();
        if let Some(retention) = retention {
            retention.abort();
        }
        tracing::info!(runner = %identity.id, "runner stopped");
    }

    /// The new runner's identity, logged, after marking the sessions of dead
    /// runners as interrupted.
    async fn start_runner(&self, scope: RunnerScope) -> RunnerIdentity {
        let identity = RunnerIdentity {
            id: crate::store::new_id(),
            host: host_name(),
            pid: std::process::id(),
            scope,
        };
        tracing::info!(
            runner = %identity.id,
            host = %identity.host,
            workspace = identity.scope.workspace_id.as_deref().unwrap_or("any"),
            created_by = identity.scope.created_by.as_deref().unwrap_or("anyone"),
            "runner started"
        );
        match self.recover_orphans(Some(&identity.id)).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(count = n, "marked sessions of dead runners as interrupted"),
            Err(e) => tracing::warn!(error = %e, "could not check for interrupted sessions"),
        }
        identity
    }

    /// Runs a claimed `turn` in `turns`, stoppable on its own or with
    /// `shutdown`, holding its concurrency `permit` until it ends.
    fn spawn_turn(
        &self,
        turns: &mut JoinSet<()>,
        runner_id: &str,
        turn: ClaimedTurn,
        permit: tokio::sync::OwnedSemaphorePermit,
        shutdown: &CancellationToken,
    ) {
        let token = shutdown.child_token();
        self.register(&turn.session.id, token.clone());
        let sessions = self.clone();
        let runner_id = runner_id.to_owned();
        let shutdown = shutdown.clone();
        turns.spawn(async move {
            sessions.run_turn(&runner_id, turn, token, &shutdown).await;
            drop(permit);
        });
    }

    fn register(&self, session_id: &SessionId, token: CancellationToken) {
        self.inner
            .local
            .active
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(session_id.clone(), token);
    }

    fn unregister(&self, session_id: &SessionId) {
        self.inner
            .local
            .active
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(session_id);
        self.inner.local.finished.notify_waiters();
        self.inner.local.turn_ends.announce(session_id);
    }

    async fn run_turn(
        &self,
        runner_id: &str,
        turn: ClaimedTurn,
        stop: CancellationToken,
        shutdown: &CancellationToken,
    ) {
        let session_id = turn.session.id.clone();
        let (events, receiver) = mpsc::channel(1024);
        let writer = tokio::spawn(write_logs(
            self.inner.logs.clone(),
            session_id.clone(),
            receiver,
            Arc::clone(&self.inner.local.output),
        ));
        let log = TurnLog {
            events,
            session_id: session_id.clone(),
        };
        let started_at = crate::store::now();
        let work = TurnWork::default();
        let mut outcome = self.execute(&turn, &stop, &log, &work).await;
        if outcome.status == SessionStatus::Stopped && shutdown.is_cancelled() {
            outcome = interrupted_by_shutdown();
        }
        let record = self.close_turn(&turn, work, started_at, &log).await;
        log.note(&format!(
            "=== session {}{} ===",
            outcome.status,
            outcome
                .reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ))
        .await;
        drop(log);
        // Logs are complete (and joined, on R2) before the status says so.
        match writer.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(session = %session_id, error = %e, "could not finish the logs")
            }
            Err(e) => tracing::error!(session = %session_id, error = %e, "log writer stopped"),
        }
        // The turn's row is there before its status says it ended.
        self.record_turn(&record).await;
        self.record_end(&session_id, runner_id, &outcome).await;
        self.unregister(&session_id);
        tracing::info!(session = %session_id, status = %outcome.status, "turn finished");
    }

    /// Records the end of a turn, trying a few times: the session must not
    /// stay running because the store was briefly unreachable.
    async fn record_end(&self, session_id: &SessionId, runner_id: &str, outcome: &TurnOutcome) {
        let mut attempt = 0;
        while let Err(e) = self
            .inner
            .store
            .finish_turn(session_id, runner_id, outcome)
            .await
        {
            attempt += 1;
            tracing::warn!(session = %session_id, error = %e, attempt, "could not record the end of a turn");
            if attempt >= 5 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
        }
    }

    /// Worktree, setup, coding agent, cleanup: the outcome of one turn.
    async fn execute(
        &self,
        turn: &ClaimedTurn,
        stop: &CancellationToken,
        log: &TurnLog,
        work: &TurnWork,
    ) -> TurnOutcome {
        let session = &turn.session;
        log.note(&format!(
            "=== turn {} of session {} (executor {}) ===",
            turn.turn, session.id, session.executor
        ))
        .await;
        match self.steps(turn, stop, log, work).await {
            Ok(outcome) | Err(outcome) => outcome,
        }
    }

    /// The steps of a turn in order; `Err` is a turn that ends early with
    /// that outcome.
    async fn steps(
        &self,
        turn: &ClaimedTurn,
        stop: &CancellationToken,
        log: &TurnLog,
        work: &TurnWork,
    ) -> Result<TurnOutcome, TurnOutcome> {
        let workspace = self.workspace(turn, log).await?;
        *lock(&work.workspace) = Some(workspace.clone());
        let context = RunContext {
            turn,
            cwd: &workspace.path,
            stop,
            log,
            work,
        };
        if turn.turn == 1
            && let Some(script) = script_text(turn.setup_script.as_deref())
        {
            match self.script(&context, ProcessKind::Setup, script).await {
                Ok(Ending::Exited(0)) => {}
                Ok(ending) => return Err(script_outcome("setup script", ending)),
                Err(e) => return Err(failed(log, e).await),
            }
        }
        if stop.is_cancelled() {
            return Err(stopped());
        }
        let outcome = self.agent(&context).await?;
        match script_text(turn.cleanup_script.as_deref()) {
            Some(script) => self.cleanup(&context, script, outcome).await,
            None => Ok(outcome),
        }
    }

    /// The turn's working directory: the repository checked against the
    /// allowed roots, then the worktree made (or found again) and recorded.
    async fn workspace(
        &self,
        turn: &ClaimedTurn,
        log: &TurnLog,
    ) -> Result<worktree::Workspace, TurnOutcome> {
        let session = &turn.session;
        let repo_path = turn.repo_path.as_deref().map(Path::new);
        let allowed_roots = self.inner.config.allowed_repo_roots.as_deref();
        if let Err(e) = worktree::check_repo_root(repo_path, allowed_roots) {
            return Err(failed(log, e.into()).await);
        }
        let existing = session
            .worktree_path
            .as_deref()
            .map(|p| (Path::new(p), session.branch.as_deref()));
        let workspace = match worktree::prepare(
            &self.inner.worktree_root,
            repo_path,
            &session.id,
            &turn.task_title,
            session.base_branch.as_deref(),
            existing,
        )
        .await
        {
            Ok(workspace) => workspace,
            Err(e) => return Err(failed(log, TurnError::Worktree(e)).await),
        };
        let path_text = workspace.path.to_string_lossy().into_owned();
        if session.worktree_path.as_deref() == Some(path_text.as_str()) {
            return Ok(workspace);
        }
        if let Err(e) = self
            .inner
            .store
            .set_session_worktree(
                &session.id,
                workspace.base_branch.as_deref(),
                workspace.branch.as_deref(),
                &path_text,
            )
            .await
        {
            return Err(failed(log, TurnError::RecordWorktree(e)).await);
        }
        log.note(&format!(
            "worktree {}{}",
            path_text,
            workspace
                .branch
                .as_deref()
                .map(|b| format!(" on branch {b}"))
                .unwrap_or_default()
        ))
        .await;
        Ok(workspace)
    }

    /// Checks the agent CLI's version and runs the coding agent: the turn's
    /// outcome before cleanup.
    async fn agent(&self, context: &RunContext<'_>) -> Result<TurnOutcome, TurnOutcome> {
        let (session, log) = (&context.turn.session, context.log);
        let profile = match self.inner.profiles.get(&session.executor) {
            Ok(profile) => profile.clone(),
            Err(e) => return Err(failed(log, e.into()).await),
        };
        let (spec, display) = self.agent_spec(context, &profile);
        match check_version(&profile, &session.executor, &spec, context.stop).await {
            Ok(Some(found)) => log.note(&format!("agent CLI version: {found}")).await,
            Ok(None) => {}
            Err(VersionCheck::Stopped) => return Err(stopped()),
            Err(VersionCheck::Failed(check)) => {
                let executor = session.executor.clone();
                return Err(failed(log, TurnError::Version { executor, check }).await);
            }
        }
        // The session's server: for every turn whose profile takes an MCP
        // configuration, and every turn that asks (which needs it).
        let asks = context.turn.approvals == ApprovalMode::Ask;
        let takes_mcp = profile.mcp_args.as_ref().is_some_and(|a| !a.is_empty());
        let served = if asks || takes_mcp {
            match self.agent_turn(context.turn).await {
                Ok(served) => Some(served),
                Err(e) => return Err(failed(log, TurnError::Approvals(e)).await),
            }
        } else {
            None
        };
        let (spec, display) = match &served {
            None => (spec, display),
            Some(served) => match self.agent_spec_served(context, &profile, served) {
                Some(with_server) => with_server,
                None => {
                    self.end_agent_turn(&session.id, served.clone()).await;
                    let e = super::SessionError::CannotAsk(session.executor.clone());
                    return Err(failed(log, TurnError::Approvals(e.to_string())).await);
                }
            },
        };
        let notices = served.as_ref().filter(|s| s.asks).map(|_| {
            let (sessions, events) = (self.clone(), log.events.clone());
            let session_id = session.id.clone();
            let since = crate::store::now();
            tokio::spawn(async move {
                let note = |line: String| {
                    let events = events.clone();
                    async move {
                        let _ = events.send(LogEvent::Note(format!("{line}\n"))).await;
                    }
                };
                sessions.notice_approvals(&session_id, since, note).await;
            })
        });
        let kind = ProcessKind::CodingAgent;
        let ran = self
            .process(context, kind, spec, &display, Some(&profile))
            .await;
        if let Some(notices) = notices {
            notices.abort();
        }
        if let Some(served) = served {
            self.end_agent_turn(&session.id, served).await;
        }
        match ran {
            Ok((ending, hint)) => agent_outcome(&session.executor, &profile, ending, hint),
            Err(e) => Err(failed(log, e).await),
        }
    }

    /// [`Self::agent_spec`] for a turn whose agent has the session's
    /// server: the profile's command line with its MCP configuration (and,
    /// asking, its permission tool) and the server's secret in its
    /// environment; `None` when the profile cannot ask.
    fn agent_spec_served(
        &self,
        context: &RunContext<'_>,
        profile: &ExecutorProfile,
        served: &AgentTurn,
    ) -> Option<(Spec, String)> {
        let turn = context.turn;
        let resume = (turn.turn > 1)
            .then_some(turn.session.agent_session_id.as_deref())
            .flatten();
        let approval_tool = served.asks.then(approval_tool_name);
        let command = profile.mcp_command_line(
            &turn.prompt,
            resume,
            &served.config_file.to_string_lossy(),
            approval_tool.as_deref(),
            &agent_note(),
        )?;
        let (mut spec, _) = self.agent_spec(context, profile);
        spec.program = command.program.clone();
        spec.args = command.args.clone();
        spec.stdin = command.stdin.clone();
        spec.env.extend(served.env.iter().cloned());
        Some((spec, command.display(&turn.prompt)))
    }

    /// The coding agent's process: its command line for this turn (resuming
    /// the agent's conversation after the first), environment and limits,
    /// and the command as the logs show it.
    fn agent_spec(&self, context: &RunContext<'_>, profile: &ExecutorProfile) -> (Spec, String) {
        let turn = context.turn;
        let session = &turn.session;
        let resume = (turn.turn > 1)
            .then_some(session.agent_session_id.as_deref())
            .flatten();
        let command = profile.command_line(&turn.prompt, resume);
        let mut env = command.env.clone();
        env.insert("VK_SESSION_ID".to_owned(), session.id.to_string());
        env.insert("VK_TASK_ID".to_owned(), session.task_id.to_string());
        env.insert("VK_TURN".to_owned(), turn.turn.to_string());
        let spec = Spec {
            program: command.program.clone(),
            args: command.args.clone(),
            cwd: context.cwd.to_owned(),
            env,
            stdin: command.stdin.clone(),
            timeout: profile.timeout_secs.map(Duration::from_secs),
            grace: self.inner.config.grace(),
        };
        (spec, command.display(&turn.prompt))
    }

    /// Runs the cleanup script; a failure is added to the agent's outcome.
    async fn cleanup(
        &self,
        context: &RunContext<'_>,
        script: &str,
        outcome: TurnOutcome,
    ) -> Result<TurnOutcome, TurnOutcome> {
        match self.script(context, ProcessKind::Cleanup, script).await {
            Ok(Ending::Exited(0)) => Ok(outcome),
            Ok(Ending::Stopped(_)) => Err(stopped()),
            Ok(ending) => {
                let note = format!("the cleanup script {}", describe(&ending));
                Ok(TurnOutcome {
                    reason: Some(match outcome.reason {
                        Some(reason) => format!("{reason}; {note}"),
                        None => note,
                    }),
                    ..outcome
                })
            }
            Err(e) => Err(failed(context.log, e).await),
        }
    }

    async fn script(
        &self,
        context: &RunContext<'_>,
        kind: ProcessKind,
        script: &str,
    ) -> Result<Ending, TurnError> {
        let spec = Spec {
            program: "sh".to_owned(),
            args: vec!["-c".to_owned(), script.to_owned()],
            cwd: context.cwd.to_owned(),
            env: [
                (
                    "VK_SESSION_ID".to_owned(),
                    context.turn.session.id.to_string(),
                ),
                (
                    "VK_TASK_ID".to_owned(),
                    context.turn.session.task_id.to_string(),
                ),
            ]
            .into_iter()
            .collect(),
            stdin: None,
            timeout: None,
            grace: self.inner.config.grace(),
        };
        self.process(context, kind, spec, &format!("sh -c {script:?}"), None)
            .await
            .map(|(ending, _)| ending)
    }

    /// Runs one process of a turn: its row, its logs, its ending — and for
    /// a coding agent, the first of its profile's failure hints its output
    /// matched.
    async fn process(
        &self,
        context: &RunContext<'_>,
        kind: ProcessKind,
        spec: Spec,
        display: &str,
        agent: Option<&ExecutorProfile>,
    ) -> Result<(Ending, Option<FailureHint>), TurnError> {
        let store = &self.inner.store;
        let session_id = &context.turn.session.id;
        let prefix = format!("logs/{session_id}/processes");
        let process_id = store
            .start_process(session_id, kind, context.turn.turn, display, &prefix)
            .await
            .map_err(|source| TurnError::RecordProcess {
                kind: kind.as_str(),
                source,
            })?;
        context
            .log
            .note(&format!("--- {} started: {display} ---", kind.as_str()))
            .await;
        let (output, received) = mpsc::channel::<Output>(256);
        let forward = tokio::spawn(forward_output(
            Forward {
                events: context.log.events.clone(),
                process_id: process_id.clone(),
                kind,
                profile: agent.cloned(),
                store: store.clone(),
                session_id: session_id.clone(),
            },
            context.turn.session.agent_session_id.clone(),
            received,
        ));
        let pid_store = store.clone();
        let pid_process = process_id.clone();
        let ending = supervisor::run(spec, output, context.stop.clone(), move |pid| {
            tokio::spawn(async move {
                if let Err(e) = pid_store.set_process_pid(&pid_process, pid).await {
                    tracing::warn!(error = %e, "could not record a pid");
                }
            });
        })
        .await;
        let (hint, summary) = forward.await.unwrap_or_default();
        if let Some(summary) = summary {
            *lock(&context.work.summary) = Some(summary);
        }
        let (status, code, error) = process_end(&ending);
        if let Err(e) = store
            .finish_process(&process_id, status, code, error.as_deref())
            .await
        {
            tracing::warn!(process = %process_id, error = %e, "could not record a process's end");
        }
        context
            .log
            .note(&format!("--- {} {} ---", kind.as_str(), describe(&ending)))
            .await;
        Ok((ending, hint))
    }
}

/// Where one process's output goes: the turn's log writer, and for a
/// coding agent its profile (failure hints, the agent's session id).
struct Forward {
    events: mpsc::Sender<LogEvent>,
    process_id: ProcessId,
    kind: ProcessKind,
    profile: Option<ExecutorProfile>,
    store: crate::store::Store,
    session_id: SessionId,
}

/// Passes a process's output to the log writer until it ends; records the
/// agent's session id when it first prints a new one. Returns the first
/// failure hint the output matched and, for a coding agent, what its output
/// said of the turn.
async fn forward_output(
    to: Forward,
    mut known: Option<String>,
    mut received: mpsc::Receiver<Output>,
) -> (Option<FailureHint>, Option<TurnSummary>) {
    let mut hint = None;
    let mut parser = to.profile.as_ref().map(|profile| {
        OutputParser::new(
            profile.output_format,
            profile.final_message_field.as_deref(),
            profile.session_id_field.is_some(),
        )
    });
    while let Some(piece) = received.recv().await {
        if let Some(parser) = &mut parser
            && piece.stream == Stream::Stdout
        {
            parser.feed(&piece.bytes);
        }
        if let Some(profile) = &to.profile {
            let text = String::from_utf8_lossy(&piece.bytes);
            if hint.is_none() {
                hint = profile.failure_hint(&text).cloned();
            }
            if piece.stream == Stream::Stdout
                && let Some(id) = profile.agent_session_id(&text)
                && known.as_deref() != Some(id.as_str())
            {
                if let Err(e) = to.store.set_agent_session_id(&to.session_id, &id).await {
                    tracing::warn!(session = %to.session_id, error = %e, "could not record the agent's session id");
                }
                known = Some(id);
            }
        }
        let event = LogEvent::Output {
            process_id: to.process_id.clone(),
            kind: to.kind,
            piece,
        };
        if to.events.send(event).await.is_err() {
            break;
        }
    }
    let summary = parser.map(|parser| TurnSummary {
        agent_session_id: known,
        ..parser.finish()
    });
    (hint, summary)
}

/// A process row's status, exit code and error for how it ended.
fn process_end(ending: &Ending) -> (ProcessStatus, Option<i32>, Option<String>) {
    match ending {
        Ending::Exited(0) => (ProcessStatus::Completed, Some(0), None),
        Ending::Exited(code) => (ProcessStatus::Failed, Some(*code), None),
        Ending::Signaled(_) | Ending::SpawnFailed(_) => {
            (ProcessStatus::Failed, None, Some(describe(ending)))
        }
        Ending::Stopped(stop) => (ProcessStatus::Killed, stop.code, Some(describe(ending))),
        Ending::TimedOut(_) => (ProcessStatus::Killed, None, Some(describe(ending))),
    }
}

/// How long an agent CLI may take to print its version.
const VERSION_TIMEOUT: Duration = Duration::from_secs(60);

/// An executable as found on a PATH: where, and when it last changed.
type Executable = (std::path::PathBuf, std::time::SystemTime);

/// Versions that passed a check, by version command and executable: a CLI
/// (Gemini CLI takes seconds to print its version) is asked once per
/// process, and again once it is replaced (a new modification time).
static CHECKED_VERSIONS: std::sync::OnceLock<std::sync::Mutex<CheckedVersions>> =
    std::sync::OnceLock::new();

/// The version found, by version command and executable.
type CheckedVersions = std::collections::HashMap<(Vec<String>, Executable), String>;

/// Where `program` is found the way the agent's spawn will find it: on the
/// `PATH` of its environment (else ours), or relative to its directory.
fn find_executable(program: &str, agent: &Spec) -> Option<Executable> {
    let candidates: Vec<std::path::PathBuf> = if program.contains('/') {
        vec![agent.cwd.join(program)]
    } else {
        let path = agent
            .env
            .get("PATH")
            .cloned()
            .or_else(|| std::env::var("PATH").ok())
            .unwrap_or_default();
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .collect()
    };
    candidates.into_iter().find_map(|candidate| {
        let meta = std::fs::metadata(&candidate).ok()?;
        #[cfg(unix)]
        let runnable = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0;
        #[cfg(not(unix))]
        let runnable = true;
        (meta.is_file() && runnable).then_some(())?;
        Some((candidate, meta.modified().ok()?))
    })
}

/// Why a turn does not start after the version check.
enum VersionCheck {
    Stopped,
    Failed(VersionError),
}

/// Why an agent CLI's version is not good enough to start a turn.
#[derive(Debug, thiserror::Error)]
enum VersionError {
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error("`{shown}` printed no version within {} s", VERSION_TIMEOUT.as_secs())]
    Silent { shown: String },
    #[error(
        "`{program}` is not installed (not found on PATH){install}, or put it on the PATH of \
         [executors.{name}] env"
    )]
    NotInstalled {
        program: String,
        install: String,
        name: String,
    },
    #[error("cannot run `{shown}`: {source}")]
    CannotRun {
        shown: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{shown}` failed ({status}): {output}{install}")]
    Failed {
        shown: String,
        status: std::process::ExitStatus,
        output: String,
        install: String,
    },
}

/// Why a turn ends before its coding agent has run; the message is the
/// session's reason and the log's last note.
#[derive(Debug, thiserror::Error)]
enum TurnError {
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// The repository is outside the runner's allowed roots.
    #[error(transparent)]
    Repository(#[from] WorktreeError),
    #[error("could not prepare the worktree: {0}")]
    Worktree(#[source] WorktreeError),
    #[error("could not record the worktree: {0}")]
    RecordWorktree(#[source] StoreError),
    #[error("could not record the {kind} process: {source}")]
    RecordProcess {
        kind: &'static str,
        #[source]
        source: StoreError,
    },
    #[error("approvals: {0}")]
    Approvals(String),
    #[error("executor '{executor}': {check}")]
    Version {
        executor: String,
        #[source]
        check: VersionError,
    },
}

/// Runs the profile's `version_command` (with the agent's environment, in
/// its working directory) when it sets a `min_version`: the version found,
/// or why the agent cannot start — missing, too old, or broken. A version
/// that passed is remembered for that executable until it changes.
async fn check_version(
    profile: &ExecutorProfile,
    name: &str,
    agent: &Spec,
    stop: &CancellationToken,
) -> Result<Option<String>, VersionCheck> {
    let (Some(command), Some(_)) = (&profile.version_command, &profile.min_version) else {
        return Ok(None);
    };
    let Some(program) = command.first() else {
        return Ok(None);
    };
    let install = profile
        .install_hint
        .as_deref()
        .map(|hint| format!("; install it: {hint}"))
        .unwrap_or_default();
    let key = find_executable(program, agent).map(|exe| (command.clone(), exe));
    let cache = CHECKED_VERSIONS.get_or_init(Default::default);
    let cached = key.as_ref().and_then(|key| {
        cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .cloned()
    });
    if let Some(found) = cached {
        return profile
            .check_version(name, &found)
            .map(Some)
            .map_err(|e| VersionCheck::Failed(e.into()));
    }
    let text = print_version(command, name, &install, agent, stop).await?;
    let found = profile
        .check_version(name, &text)
        .map_err(|e| VersionCheck::Failed(e.into()))?;
    if let Some(key) = key {
        cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, found.clone());
    }
    Ok(Some(found))
}

/// Runs `version_command` with the agent's environment, in its working
/// directory: what it printed (stdout, then stderr), or why that failed.
async fn print_version(
    command: &[String],
    name: &str,
    install: &str,
    agent: &Spec,
    stop: &CancellationToken,
) -> Result<String, VersionCheck> {
    let Some((program, args)) = command.split_first() else {
        return Ok(String::new());
    };
    let mut check = tokio::process::Command::new(program);
    check
        .args(args)
        .current_dir(&agent.cwd)
        .envs(&agent.env)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let shown = command.join(" ");
    let output = tokio::select! {
        output = tokio::time::timeout(VERSION_TIMEOUT, check.output()) => output,
        () = stop.cancelled() => return Err(VersionCheck::Stopped),
    };
    let output = match output {
        Err(_) => return Err(VersionCheck::Failed(VersionError::Silent { shown })),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(VersionCheck::Failed(VersionError::NotInstalled {
                program: program.clone(),
                install: install.to_owned(),
                name: name.to_owned(),
            }));
        }
        Ok(Err(source)) => {
            return Err(VersionCheck::Failed(VersionError::CannotRun {
                shown,
                source,
            }));
        }
        Ok(Ok(output)) => output,
    };
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if !output.status.success() {
        return Err(VersionCheck::Failed(VersionError::Failed {
            shown,
            status: output.status,
            output: text.trim().to_owned(),
            install: install.to_owned(),
        }));
    }
    Ok(text)
}

struct RunContext<'a> {
    turn: &'a ClaimedTurn,
    cwd: &'a Path,
    stop: &'a CancellationToken,
    log: &'a TurnLog,
    work: &'a TurnWork,
}

/// What the steps of a turn leave for its end: the worktree it ran in and
/// what the coding agent's output said.
#[derive(Default)]
struct TurnWork {
    workspace: std::sync::Mutex<Option<worktree::Workspace>>,
    summary: std::sync::Mutex<Option<TurnSummary>>,
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Words for how a process ended, after "the coding agent …".
fn describe(ending: &Ending) -> String {
    match ending {
        Ending::Exited(0) => "exited with code 0".to_owned(),
        Ending::Exited(code) => format!("exited with code {code}"),
        Ending::Signaled(signal) => format!("was killed by signal {signal}"),
        Ending::SpawnFailed(message) => format!("could not start: {message}"),
        Ending::Stopped(stop) => {
            let steps = match stop.signal {
                supervisor::Signal::Interrupt => "SIGINT ended it".to_owned(),
                supervisor::Signal::Terminate => "it ignored SIGINT; SIGTERM ended it".to_owned(),
                supervisor::Signal::Kill => {
                    "it ignored SIGINT and SIGTERM; SIGKILL ended it".to_owned()
                }
            };
            match stop.code {
                Some(code) => format!("was stopped on request ({steps}, exit code {code})"),
                None => format!("was stopped on request ({steps})"),
            }
        }
        Ending::TimedOut(limit) => format!(
            "ran longer than the executor's timeout_secs ({} s) and was stopped",
            limit.as_secs()
        ),
    }
}

/// The turn's outcome from how its coding agent ended; `Err` when it was
/// stopped (cleanup does not run then).
fn agent_outcome(
    executor: &str,
    profile: &ExecutorProfile,
    ending: Ending,
    hint: Option<FailureHint>,
) -> Result<TurnOutcome, TurnOutcome> {
    Ok(match ending {
        Ending::Exited(0) => TurnOutcome {
            status: SessionStatus::Completed,
            reason: None,
        },
        Ending::Stopped(_) => return Err(stopped()),
        Ending::SpawnFailed(message) => TurnOutcome {
            status: SessionStatus::Failed,
            reason: Some(format!(
                "executor '{executor}': {message}{}",
                profile
                    .install_hint
                    .as_deref()
                    .map(|hint| format!(" (to install it: {hint})"))
                    .unwrap_or_default()
            )),
        },
        other => TurnOutcome {
            status: SessionStatus::Failed,
            reason: Some(match hint {
                Some(hint) => format!("the coding agent {}: {}", describe(&other), hint.reason),
                None => format!("the coding agent {}", describe(&other)),
            }),
        },
    })
}

/// A setup or cleanup script worth running (set and not blank).
fn script_text(script: Option<&str>) -> Option<&str> {
    script.filter(|s| !s.trim().is_empty())
}

fn script_outcome(what: &str, ending: Ending) -> TurnOutcome {
    match ending {
        Ending::Stopped(_) => stopped(),
        other => TurnOutcome {
            status: SessionStatus::Failed,
            reason: Some(format!("the {what} {}", describe(&other))),
        },
    }
}

/// A turn stopped because its runner shut down, not on request.
fn interrupted_by_shutdown() -> TurnOutcome {
    TurnOutcome {
        status: SessionStatus::Interrupted,
        reason: Some(
            "interrupted: the runner shut down while the session ran; a follow-up turn continues in \
             the same worktree"
                .to_owned(),
        ),
    }
}

fn stopped() -> TurnOutcome {
    TurnOutcome {
        status: SessionStatus::Stopped,
        reason: Some("stopped on request".to_owned()),
    }
}

async fn failed(log: &TurnLog, error: TurnError) -> TurnOutcome {
    let message = error.to_string();
    log.note(&message).await;
    TurnOutcome {
        status: SessionStatus::Failed,
        reason: Some(message),
    }
}

/// Refreshes this runner's heartbeat, passes on stop requests made by other
/// processes, and looks for sessions of dead runners now and then.
async fn heartbeat(sessions: Sessions, runner_id: String, shutdown: CancellationToken) {
    let config = &sessions.inner.config;
    let every = Duration::from_millis(config.heartbeat_interval_ms.max(50));
    let sweep_every = Duration::from_secs(config.stale_after_secs.max(1)) / 2;
    let mut last_sweep = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.cancelled() => return,
        }
        let idle = sessions
            .inner
            .local
            .active
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_empty();
        // With nothing running there is nothing to prove alive: an idle
        // runner costs no store round trips beyond its queue polls.
        let beat = if idle {
            Ok(Vec::new())
        } else {
            sessions.inner.store.heartbeat(&runner_id).await
        };
        match beat {
            Ok(stopping) => {
                for session_id in stopping {
                    let token = sessions
                        .inner
                        .local
                        .active
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .get(&session_id)
                        .cloned();
                    if let Some(token) = token {
                        token.cancel();
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
        }
        if last_sweep.elapsed() >= sweep_every {
            last_sweep = tokio::time::Instant::now();
            if let Err(e) = sessions.recover_orphans(Some(&runner_id)).await {
                tracing::warn!(error = %e, "could not check for interrupted sessions");
            }
        }
    }
}

/// Something to write to a session's logs.
enum LogEvent {
    /// A line of our own (process started/ended) for `execution.log`.
    Note(String),
    Output {
        process_id: ProcessId,
        kind: ProcessKind,
        piece: Output,
    },
}

/// The sending side of a turn's log writer.
struct TurnLog {
    events: mpsc::Sender<LogEvent>,
    session_id: SessionId,
}

impl TurnLog {
    async fn note(&self, text: &str) {
        let _ = self.events.send(LogEvent::Note(format!("{text}\n"))).await;
        tracing::debug!(session = %self.session_id, "{text}");
    }
}

/// Appends one event to the logs it belongs in: a note to `execution.log`;
/// output also to the session's stream log, the process's logs and, for a
/// coding agent's stdout, `agent_output.log`.
async fn write_event(
    writer: &mut logs::LogWriter,
    session_id: &str,
    event: LogEvent,
) -> Result<(), logs::LogError> {
    let execution = logs::session_key(session_id, logs::EXECUTION_LOG);
    let (process_id, kind, piece) = match event {
        LogEvent::Note(text) => return writer.append(&execution, text.as_bytes()).await,
        LogEvent::Output {
            process_id,
            kind,
            piece,
        } => (process_id, kind, piece),
    };
    let stream = piece.stream.as_str();
    let mut keys = vec![
        execution,
        logs::session_key(session_id, &format!("{stream}.log")),
        logs::process_key(session_id, &process_id, "output"),
        logs::process_key(session_id, &process_id, stream),
    ];
    if kind == ProcessKind::CodingAgent && piece.stream == Stream::Stdout {
        keys.push(logs::session_key(session_id, logs::AGENT_OUTPUT_LOG));
    }
    for key in &keys {
        writer.append(key, &piece.bytes).await?;
    }
    Ok(())
}

/// Writes a turn's output to every log it belongs in, flushing often so
/// readers see it live; wakes `flushed`'s waiters after each flush of new
/// output.
async fn write_logs(
    logs: LogStore,
    session_id: SessionId,
    mut events: mpsc::Receiver<LogEvent>,
    flushed: Arc<tokio::sync::Notify>,
) -> Result<(), logs::LogError> {
    let mut writer = logs.writer().await?;
    let mut tick = tokio::time::interval(LOG_FLUSH);
    let mut failure = None;
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            _ = tick.tick() => {
                if let Err(e) = writer.flush().await {
                    failure.get_or_insert(e);
                }
                continue;
            }
        };
        let Some(event) = event else { break };
        let result = write_event(&mut writer, &session_id, event).await;
        if let Err(e) = result {
            // Keep draining so the processes never block on a full channel.
            failure.get_or_insert(e);
        }
        if events.is_empty() {
            match writer.flush().await {
                Ok(()) => flushed.notify_waiters(),
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
    }
    let finished = writer.finish().await;
    match failure {
        Some(e) => Err(e),
        None => finished,
    }
}
