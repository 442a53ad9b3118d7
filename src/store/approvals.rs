//! Approvals: the permission requests of agents that run with
//! `approvals = "ask"`, and the per-session rules that allow a tool for the
//! rest of a session. Two kinds of callers: the approval server an agent
//! launches ([`Store::request_approval`], [`Store::approval_decision`]),
//! which proves who it is with its turn's secret, and tools acting for a
//! caller ([`Store::list_approvals`], [`Store::respond_to_approval`]),
//! scoped by the caller's workspace like every other query.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    Actor, ApprovalId, Batch, Entity, Result, SessionId, Stmt, Store, StoreError,
    audit::Audit,
    now,
    page::{ApprovalKey, Page},
    sessions::session_not_found,
};

/// Where a permission request is; `expired`: nobody answered in time, and
/// the agent was told no.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalStatus {
    Pending,
    Allowed,
    Denied,
    Expired,
}

impl ApprovalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Allowed => "allowed",
            ApprovalStatus::Denied => "denied",
            ApprovalStatus::Expired => "expired",
        }
    }
}

impl std::fmt::Display for ApprovalStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An answer to a permission request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalDecision {
    Allow,
    Deny,
}

/// One permission request of an agent.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Approval {
    pub id: ApprovalId,
    pub session_id: SessionId,
    /// The tool the agent wants to use, e.g. Write or Bash.
    pub tool_name: String,
    /// Its input, as the agent sent it (cut to a preview when large).
    pub input: serde_json::Value,
    pub status: ApprovalStatus,
    /// Who answered: a user id, `rule` or `timeout`.
    pub responded_by: Option<String>,
    pub message: Option<String>,
    pub requested_at: String,
    pub expires_at: String,
    pub decided_at: Option<String>,
}

/// An approval as stored: the input is JSON text.
#[derive(Deserialize)]
struct ApprovalRow {
    id: ApprovalId,
    session_id: SessionId,
    tool_name: String,
    input: String,
    status: ApprovalStatus,
    responded_by: Option<String>,
    message: Option<String>,
    requested_at: String,
    expires_at: String,
    decided_at: Option<String>,
}

impl From<ApprovalRow> for Approval {
    fn from(row: ApprovalRow) -> Self {
        Approval {
            input: serde_json::from_str(&row.input).unwrap_or(serde_json::Value::String(row.input)),
            id: row.id,
            session_id: row.session_id,
            tool_name: row.tool_name,
            status: row.status,
            responded_by: row.responded_by,
            message: row.message,
            requested_at: row.requested_at,
            expires_at: row.expires_at,
            decided_at: row.decided_at,
        }
    }
}

/// The columns of an [`Approval`]; a pending request past its expiry reads
/// as expired, whether or not its waiter has recorded that yet (`?1` is now).
macro_rules! approval_select {
    () => {
        "SELECT id, session_id, tool_name, input, \
                CASE WHEN status = 'pending' AND expires_at <= ?1 THEN 'expired' ELSE status END AS status, \
                responded_by, message, requested_at, expires_at, decided_at \
         FROM session_approvals"
    };
}

/// A permission request as the agent's approval server records it.
#[derive(Debug, Clone)]
pub struct ApprovalRequest {
    pub session_id: SessionId,
    /// SHA-256 (hex) of the secret the server was given for the turn.
    pub token_hash: String,
    pub tool_name: String,
    /// The input as JSON text, already bounded in size.
    pub input: String,
    pub tool_use_id: Option<String>,
    /// When nobody answering means no.
    pub expires_at: String,
}

/// Filters and paging of `list_approvals`.
#[derive(Debug, Clone, Default)]
pub struct ApprovalFilter {
    pub session_id: Option<SessionId>,
    /// Any of these; empty: every status.
    pub statuses: Vec<ApprovalStatus>,
    pub limit: u32,
    pub after: Option<ApprovalKey>,
}

fn decode_one(result: &super::StmtResult) -> Result<Option<Approval>> {
    Ok(result.first::<ApprovalRow>()?.map(Approval::from))
}

impl Store {
    /// Records a permission request of a running session's agent, which
    /// proves it is that session's with the hash of its turn's secret. A
    /// tool the session has an allow-rule for is allowed at once (by
    /// `rule`). `NotFound` when the session is not running or the secret is
    /// not its current one.
    pub async fn request_approval(&self, request: &ApprovalRequest) -> Result<Approval> {
        let id = ApprovalId::generate();
        let at = now();
        let insert = Stmt::new(
            "INSERT INTO session_approvals (id, session_id, workspace_id, tool_name, input, tool_use_id, status, \
                                            responded_by, requested_at, expires_at, decided_at) \
             SELECT ?1, s.id, s.workspace_id, ?3, ?4, ?5, \
                    CASE WHEN r.tool_name IS NULL THEN 'pending' ELSE 'allowed' END, \
                    CASE WHEN r.tool_name IS NULL THEN NULL ELSE 'rule' END, ?6, ?7, \
                    CASE WHEN r.tool_name IS NULL THEN NULL ELSE ?6 END \
             FROM workspace_sessions s \
             LEFT JOIN session_allow_rules r ON r.session_id = s.id AND r.tool_name = ?3 \
             WHERE s.id = ?2 AND s.status = 'running' AND s.agent_token_hash = ?8 \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&id)
        .bind(&request.session_id)
        .bind(&request.tool_name)
        .bind(&request.input)
        .bind(request.tool_use_id.clone())
        .bind(&at)
        .bind(&request.expires_at)
        .bind(&request.token_hash);
        let mut batch = Batch::new();
        batch.push_audited(
            insert,
            Audit::by_session_owner(
                &request.session_id,
                "request_approval",
                "session",
                json!({ "approval_id": id, "tool_name": request.tool_name }),
            ),
        );
        let select = batch.push(
            Stmt::new(concat!(approval_select!(), " WHERE id = ?2"))
                .bind(&at)
                .bind(&id),
        );
        let results = self.write(batch).await?;
        decode_one(results.get(select))?.ok_or_else(|| session_not_found(&request.session_id))
    }

    /// The request as it stands, for the agent's approval server that made
    /// it: a pending one past its expiry is recorded as expired (by
    /// `timeout`) in the same round trip.
    pub async fn approval_decision(
        &self,
        id: &ApprovalId,
        timeout_message: &str,
    ) -> Result<Approval> {
        let at = now();
        let expire = Stmt::new(
            "UPDATE session_approvals SET status = 'expired', responded_by = 'timeout', message = ?3, \
                 decided_at = ?1 \
             WHERE id = ?2 AND status = 'pending' AND expires_at <= ?1",
        )
        .bind(&at)
        .bind(id)
        .bind(timeout_message);
        let mut batch = Batch::new();
        batch.push(expire);
        let select = batch.push(
            Stmt::new(concat!(approval_select!(), " WHERE id = ?2"))
                .bind(&at)
                .bind(id),
        );
        let results = self.write(batch).await?;
        decode_one(results.get(select))?.ok_or_else(|| StoreError::not_found(Entity::Approval, id))
    }

    /// Every request of a session since `since` (oldest first, at most 200),
    /// for the runner that notes them in the session's log.
    pub async fn session_approvals_since(
        &self,
        session_id: &SessionId,
        since: &str,
    ) -> Result<Vec<Approval>> {
        let rows = self
            .read_one(
                Stmt::new(concat!(
                    approval_select!(),
                    " WHERE session_id = ?2 AND requested_at >= ?3 ORDER BY requested_at, id LIMIT 200"
                ))
                .bind(now())
                .bind(session_id)
                .bind(since),
            )
            .await?;
        Ok(rows
            .all::<ApprovalRow>()?
            .into_iter()
            .map(Approval::from)
            .collect())
    }

    /// Sets (or with `None` clears) the hash of the secret of the running
    /// turn's approval server.
    pub async fn set_agent_token(&self, session_id: &SessionId, hash: Option<&str>) -> Result<()> {
        self.write_one(
            Stmt::new("UPDATE workspace_sessions SET agent_token_hash = ? WHERE id = ?")
                .bind(hash)
                .bind(session_id),
        )
        .await?;
        Ok(())
    }

    /// At the end of a turn: its secret is void, and requests still pending
    /// are expired with `message` (their agent is gone).
    pub async fn end_turn_approvals(&self, session_id: &SessionId, message: &str) -> Result<u64> {
        let at = now();
        let mut batch = Batch::new();
        batch.push(
            Stmt::new("UPDATE workspace_sessions SET agent_token_hash = NULL WHERE id = ?")
                .bind(session_id),
        );
        let expired = batch.push(
            Stmt::new(
                "UPDATE session_approvals SET status = 'expired', responded_by = 'timeout', message = ?1, \
                     decided_at = ?2 \
                 WHERE session_id = ?3 AND status = 'pending'",
            )
            .bind(message)
            .bind(&at)
            .bind(session_id),
        );
        Ok(self.write(batch).await?.changes(expired))
    }

    /// Answers a pending request of the caller's workspace; with `remember`
    /// (allow only), later requests of the session for the same tool are
    /// allowed at once. Unknown, foreign, answered and expired requests are
    /// errors that change nothing.
    pub async fn respond_to_approval(
        &self,
        actor: &Actor,
        id: &ApprovalId,
        decision: ApprovalDecision,
        message: Option<&str>,
        remember: bool,
    ) -> Result<Approval> {
        let at = now();
        let status = match decision {
            ApprovalDecision::Allow => ApprovalStatus::Allowed,
            ApprovalDecision::Deny => ApprovalStatus::Denied,
        };
        let update = Stmt::new(
            "UPDATE session_approvals SET status = ?1, responded_by = ?2, message = ?3, decided_at = ?4 \
             WHERE id = ?5 AND workspace_id = ?6 AND status = 'pending' AND expires_at > ?4",
        )
        .bind(status.as_str())
        .bind(&actor.user_id)
        .bind(message)
        .bind(&at)
        .bind(id)
        .bind(&actor.workspace_id);
        // Only the answer just given here makes a rule.
        let rule = Stmt::new(
            "INSERT INTO session_allow_rules (session_id, tool_name, created_by, created_at) \
             SELECT session_id, tool_name, ?1, ?2 FROM session_approvals \
             WHERE id = ?3 AND workspace_id = ?4 AND status = 'allowed' AND decided_at = ?2 \
               AND responded_by = ?1 AND ?5 \
             ON CONFLICT DO NOTHING",
        )
        .bind(&actor.user_id)
        .bind(&at)
        .bind(id)
        .bind(&actor.workspace_id)
        .bind(remember);
        let mut batch = Batch::new();
        let updated = batch.push_audited(
            update,
            Audit::by_actor(
                actor,
                "respond",
                "approval",
                id,
                json!({ "decision": status, "remember": remember }),
            ),
        );
        batch.push(rule);
        let select = batch.push(
            Stmt::new(concat!(
                approval_select!(),
                " WHERE id = ?2 AND workspace_id = ?3"
            ))
            .bind(&at)
            .bind(id)
            .bind(&actor.workspace_id),
        );
        let results = self.write(batch).await?;
        let approval = decode_one(results.get(select))?
            .ok_or_else(|| StoreError::not_found(Entity::Approval, id))?;
        if results.changes(updated) == 0 {
            return Err(StoreError::Conflict(match approval.status {
                ApprovalStatus::Expired => format!(
                    "approval {id} expired at {} and the agent was told no; nothing changed. If the session \
                     still runs, its agent asks again when it retries",
                    approval
                        .decided_at
                        .as_deref()
                        .unwrap_or(&approval.expires_at)
                ),
                other => format!(
                    "approval {id} was already answered: {other} by {} at {}; nothing changed",
                    approval.responded_by.as_deref().unwrap_or("someone"),
                    approval.decided_at.as_deref().unwrap_or("an earlier time")
                ),
            }));
        }
        Ok(approval)
    }

    /// One page of the workspace's requests (or one session's), oldest first.
    pub async fn list_approvals(
        &self,
        actor: &Actor,
        filter: &ApprovalFilter,
    ) -> Result<Page<Approval>> {
        let statuses = if filter.statuses.is_empty() {
            None
        } else {
            let names: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
            Some(
                serde_json::to_string(&names)
                    .map_err(|e| StoreError::decode_by("cannot encode the statuses", e))?,
            )
        };
        let (requested_at, id) = filter
            .after
            .as_ref()
            .map_or(("", ""), |k| (k.requested_at.as_str(), k.id.as_str()));
        let mut batch = Batch::new();
        // The status filter applies to the status as read (expired included).
        let page = batch.push(
            Stmt::new(concat!(
                "SELECT * FROM (",
                approval_select!(),
                " WHERE workspace_id = ?2 AND (?3 IS NULL OR session_id = ?3) \
                   AND (requested_at, id) > (?5, ?6)) \
                 WHERE (?4 IS NULL OR status IN (SELECT value FROM json_each(?4))) \
                 ORDER BY requested_at, id LIMIT ?7"
            ))
            .bind(now())
            .bind(&actor.workspace_id)
            .bind(filter.session_id.clone())
            .bind(statuses)
            .bind(requested_at)
            .bind(id)
            .bind(i64::from(filter.limit) + 1),
        );
        let session = batch.push(
            Stmt::new(
                "SELECT ?1 IS NULL OR EXISTS (SELECT 1 FROM workspace_sessions WHERE id = ?1 AND workspace_id = ?2) AS n",
            )
            .bind(filter.session_id.clone())
            .bind(&actor.workspace_id),
        );
        let results = self.read(batch).await?;
        if let Some(session_id) = &filter.session_id
            && results.int(session, "n") == 0
        {
            return Err(session_not_found(session_id));
        }
        let rows: Vec<Approval> = results
            .all::<ApprovalRow>(page)?
            .into_iter()
            .map(Approval::from)
            .collect();
        Ok(Page::from_rows(rows, filter.limit as usize, |a| {
            ApprovalKey {
                requested_at: a.requested_at.clone(),
                id: a.id.to_string(),
            }
        }))
    }
}
