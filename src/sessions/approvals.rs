//! The session's own MCP server, and approvals at run time. Every turn of
//! an agent whose profile takes an MCP configuration (`mcp_args`, or
//! `approval_args` when it asks) is given one (a file only the runner's
//! user can read) that launches `vibe-kanban-mcp agent-mcp`: a stdio MCP
//! server on the same store that acts for one session only, proving it with
//! a secret made for the turn (the store keeps its SHA-256), and offers
//! [`COMMENT_TOOL`] (the agent comments on its own task, in the name of the
//! member who started the session) and, with `approvals = "ask"`,
//! [`APPROVAL_TOOL`]: the agent runs with that permission prompt tool
//! instead of skipping permissions. Each permission request becomes a pending
//! approval row; the server waits for the answer ([`wait_for_decision`]) and
//! tells the agent. Meanwhile the runner notes requests and answers in the
//! session's log, so watchers of the log (resource subscribers) hear of
//! them, and wakes in-process waiters ([`Sessions::approvals_changed`]).

use std::{collections::HashMap, path::PathBuf, time::Duration};

use serde_json::json;
use sha2::{Digest, Sha256};

use super::Sessions;
use crate::store::{
    Approval, ApprovalId, ApprovalMode, ApprovalRequest, ApprovalStatus, Backend, ClaimedTurn,
    SessionId, Store, StoreError,
};

/// The approval server's name in the agent's MCP configuration.
pub const APPROVAL_SERVER: &str = "vk_session";
/// Its permission prompt tool (approvals "ask" only).
pub const APPROVAL_TOOL: &str = "approval_prompt";
/// Its tool for comments on the session's task.
pub const COMMENT_TOOL: &str = "add_comment";
/// The tool as Claude Code's `--permission-prompt-tool` names it.
pub fn approval_tool_name() -> String {
    format!("mcp__{APPROVAL_SERVER}__{APPROVAL_TOOL}")
}

/// Environment of the approval server: which session, its secret, the
/// timeout in seconds (the store settings are `VK_STORE` and `VK_DATA_DIR`).
pub const SESSION_ENV: &str = "VK_AGENT_SESSION_ID";
pub const TOKEN_ENV: &str = "VK_AGENT_TOKEN";
pub const TIMEOUT_ENV: &str = "VK_APPROVAL_TIMEOUT_SECS";
/// `ask` or `auto`: whether the server offers the permission prompt tool
/// (missing: `ask`, as configurations written before it was set).
pub const APPROVALS_ENV: &str = "VK_AGENT_APPROVALS";

/// What every turn's agent is told about its session's server (the names
/// come from the constants, as the server's configuration uses them).
pub fn agent_note() -> String {
    format!(
        "This session's MCP server {APPROVAL_SERVER} has an {COMMENT_TOOL} tool: use it to comment on the \
         task you work on (progress, questions, findings) for the people on its board. It takes a markdown \
         body, and only this session's task."
    )
}

/// Largest tool input kept in an approval row; a larger one is stored as a
/// preview (the agent still gets its whole input back when allowed).
pub const MAX_STORED_INPUT: usize = 16 * 1024;

/// How often the approval server looks for an answer: short on SQLite, at
/// least 5 s on D1, where each look is a request.
pub fn decision_poll(backend: Backend) -> Duration {
    match backend {
        Backend::Sqlite => Duration::from_millis(200),
        Backend::D1 => Duration::from_secs(5),
    }
}

/// How often a runner looks for new requests and answers of the sessions it
/// runs with approvals, to note them in the session log.
fn notice_poll(backend: Backend) -> Duration {
    match backend {
        Backend::Sqlite => Duration::from_millis(250),
        Backend::D1 => Duration::from_secs(5),
    }
}

/// The hash of an approval server's secret, as the store keeps it.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// What the agent is told about its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// No, with the reason the agent reads.
    Deny(String),
}

/// The JSON text a permission prompt tool answers with, as Claude Code
/// reads it: allow with the input to use, or deny with a message.
pub fn decision_text(decision: &Decision, input: &serde_json::Value) -> String {
    match decision {
        Decision::Allow => json!({ "behavior": "allow", "updatedInput": input }),
        Decision::Deny(message) => json!({ "behavior": "deny", "message": message }),
    }
    .to_string()
}

/// A tool input as stored: the JSON itself when small, else a preview.
pub fn stored_input(input: &serde_json::Value) -> String {
    let text = input.to_string();
    if text.len() <= MAX_STORED_INPUT {
        return text;
    }
    let mut end = MAX_STORED_INPUT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    json!({ "truncated": true, "bytes": text.len(), "preview": &text[..end] }).to_string()
}

/// Why the approval server cannot take a request.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error(
        "session {0} is not running with this approval server's secret (the turn ended, or the secret is not \
         this turn's); the request was not recorded"
    )]
    NotThisSession(SessionId),
    #[error(transparent)]
    Store(StoreError),
}

/// Records a permission request and waits for its answer: an allow-rule
/// answers at once, else a person or orchestrator does
/// (`respond_to_approval`), else the timeout does, as a no. A store that
/// does not answer for a moment is retried; the timeout still holds.
pub async fn wait_for_decision(
    store: &Store,
    request: &ApprovalRequest,
    poll: Duration,
) -> Result<(Approval, Decision), ApprovalError> {
    let approval = match store.request_approval(request).await {
        Ok(approval) => approval,
        Err(StoreError::NotFound { .. }) => {
            return Err(ApprovalError::NotThisSession(request.session_id.clone()));
        }
        Err(e) => return Err(ApprovalError::Store(e)),
    };
    tracing::info!(approval = %approval.id, session = %approval.session_id, tool = %approval.tool_name, status = %approval.status, "permission request");
    let mut current = approval;
    let timeout_message =
        "nobody answered this permission request in time, so it is denied; do not retry \
                           it unless asked to"
            .to_owned();
    let mut failures = 0u32;
    while current.status == ApprovalStatus::Pending {
        tokio::time::sleep(poll).await;
        match store.approval_decision(&current.id, &timeout_message).await {
            Ok(now) => {
                failures = 0;
                current = now;
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(approval = %current.id, error = %e, failures, "could not read an approval");
                if failures >= 30 {
                    return Err(ApprovalError::Store(e));
                }
            }
        }
    }
    let decision = match current.status {
        ApprovalStatus::Allowed => Decision::Allow,
        ApprovalStatus::Expired => Decision::Deny(
            current
                .message
                .clone()
                .unwrap_or_else(|| timeout_message.clone()),
        ),
        _ => Decision::Deny(match current.message.as_deref() {
            Some(message) if !message.trim().is_empty() => {
                format!("the user denied this: {message}")
            }
            _ => "the user denied this tool use".to_owned(),
        }),
    };
    Ok((current, decision))
}

/// A turn whose agent has the session's server: the environment and MCP
/// configuration its agent gets, and what to undo when it ends.
#[derive(Clone)]
pub(super) struct AgentTurn {
    /// The server's MCP configuration file.
    pub config_file: PathBuf,
    /// Variables for the agent (and, through it, the server).
    pub env: Vec<(String, String)>,
    /// Approvals "ask": the agent asks the server before each tool use.
    pub asks: bool,
}

impl Sessions {
    /// Wakes whoever waits on a session (e.g. `wait_for_session`): one of
    /// its approvals was asked for or answered.
    pub fn approvals_changed(&self) -> &tokio::sync::Notify {
        &self.inner.local.approvals
    }

    /// Readies a turn whose agent gets the session's server (asking for
    /// approvals when `turn` says so): a new secret (its hash stored with
    /// the session), and the server's MCP configuration in a file only this
    /// user can read.
    pub(super) async fn agent_turn(&self, turn: &ClaimedTurn) -> Result<AgentTurn, String> {
        let session_id = &turn.session.id;
        let asks = turn.approvals == ApprovalMode::Ask;
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| format!("cannot make the session server's secret: {e}"))?;
        let token = hex::encode(bytes);
        self.inner
            .store
            .set_agent_token(session_id, Some(&token_hash(&token)))
            .await
            .map_err(|e| format!("cannot record the session server's secret: {e}"))?;
        let timeout = self.inner.config.approval_timeout().as_secs().max(1);
        let mut command = self.inner.config.agent_mcp_command();
        let program = if command.is_empty() {
            String::new()
        } else {
            command.remove(0)
        };
        let server_env: HashMap<&str, String> = [
            ("VK_STORE", self.inner.store.kind().as_str().to_owned()),
            (
                "VK_DATA_DIR",
                self.inner.data_dir.to_string_lossy().into_owned(),
            ),
            (SESSION_ENV, session_id.to_string()),
            (TOKEN_ENV, token.clone()),
            (TIMEOUT_ENV, timeout.to_string()),
            (APPROVALS_ENV, turn.approvals.as_str().to_owned()),
        ]
        .into_iter()
        .collect();
        let config = json!({
            "mcpServers": {
                APPROVAL_SERVER: {
                    "type": "stdio",
                    "command": program,
                    "args": command,
                    "env": server_env,
                }
            }
        });
        let dir = self.inner.data_dir.join("agent-mcp");
        let config_file = dir.join(format!("{session_id}.json"));
        write_private(&dir, &config_file, config.to_string().as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", config_file.display()))?;
        Ok(AgentTurn {
            config_file,
            env: vec![
                (SESSION_ENV.to_owned(), session_id.to_string()),
                (TOKEN_ENV.to_owned(), token),
            ],
            asks,
        })
    }

    /// Ends a turn whose agent had the session's server: its secret is
    /// void, its configuration file gone, and requests still pending are
    /// expired (their agent is gone).
    pub(super) async fn end_agent_turn(&self, session_id: &SessionId, turn: AgentTurn) {
        let _ = std::fs::remove_file(&turn.config_file);
        let message = "the agent's turn ended before this request was answered";
        match self
            .inner
            .store
            .end_turn_approvals(session_id, message)
            .await
        {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(session = %session_id, count = n, "pending approvals expired at the end of the turn");
                self.inner.local.approvals.notify_waiters();
            }
            Err(e) => {
                tracing::warn!(session = %session_id, error = %e, "could not end the turn's approvals")
            }
        }
    }

    /// Notes a session's permission requests and their answers in its log
    /// (`note`) until cancelled; wakes in-process waiters on each.
    pub(super) async fn notice_approvals<F, Fut>(
        &self,
        session_id: &SessionId,
        since: String,
        note: F,
    ) where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let every = notice_poll(self.inner.store.kind());
        let mut seen: HashMap<ApprovalId, ApprovalStatus> = HashMap::new();
        loop {
            tokio::time::sleep(every).await;
            let approvals = match self
                .inner
                .store
                .session_approvals_since(session_id, &since)
                .await
            {
                Ok(approvals) => approvals,
                Err(e) => {
                    tracing::debug!(session = %session_id, error = %e, "could not read approvals");
                    continue;
                }
            };
            let mut changed = false;
            for approval in approvals {
                if seen.get(&approval.id) == Some(&approval.status) {
                    continue;
                }
                changed = true;
                seen.insert(approval.id.clone(), approval.status);
                note(approval_line(&approval)).await;
            }
            if changed {
                self.inner.local.approvals.notify_waiters();
            }
        }
    }
}

/// The session log's line for a request or its answer.
fn approval_line(approval: &Approval) -> String {
    match approval.status {
        ApprovalStatus::Pending => format!(
            "--- approval {} pending: the agent asks to use {}; waiting for an allow or deny (expires {}) ---",
            approval.id, approval.tool_name, approval.expires_at
        ),
        status => format!(
            "--- approval {} for {}: {} by {} ---",
            approval.id,
            approval.tool_name,
            status,
            approval.responded_by.as_deref().unwrap_or("someone")
        ),
    }
}

/// Writes `bytes` to `file` (in `dir`, made if missing) readable by this
/// user only: it holds a secret.
fn write_private(
    dir: &std::path::Path,
    file: &std::path::Path,
    bytes: &[u8],
) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options.open(file)?;
    out.write_all(bytes)
}
