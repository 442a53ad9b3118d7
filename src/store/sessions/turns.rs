//! The turns of a session (`session_turns`): what each finished agent turn
//! concluded and which commit holds its changes. The runner records a turn
//! once, at its end, in one statement; tools read them with the session, in
//! the same round trip.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ExecutionProcess, Session, session_not_found};
use crate::store::{Actor, ApprovalId, Batch, Result, SessionId, Stmt, Store, now};

/// Where a turn's final message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FinalMessageSource {
    /// A field of the agent's own JSON output.
    AgentJson,
    /// The last non-empty lines the agent printed.
    LastLines,
}

impl FinalMessageSource {
    pub fn as_str(self) -> &'static str {
        match self {
            FinalMessageSource::AgentJson => "agent_json",
            FinalMessageSource::LastLines => "last_lines",
        }
    }
}

/// One finished agent turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionTurn {
    pub session_id: SessionId,
    pub turn: i64,
    pub final_message: Option<String>,
    pub final_message_source: Option<FinalMessageSource>,
    pub agent_session_id: Option<String>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub cost_usd: Option<f64>,
    pub tool_calls: Option<i64>,
    pub commit_sha: Option<String>,
    pub started_at: String,
    pub finished_at: String,
}

impl Store {
    /// Records a finished turn (again, on a retry: the row is replaced).
    pub async fn record_turn(&self, turn: &SessionTurn) -> Result<()> {
        self.write_one(
            Stmt::new(
                "INSERT INTO session_turns (session_id, turn, final_message, final_message_source, \
                     agent_session_id, input_tokens, output_tokens, cost_usd, tool_calls, commit_sha, \
                     started_at, finished_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
                 ON CONFLICT (session_id, turn) DO UPDATE SET final_message = ?3, final_message_source = ?4, \
                     agent_session_id = ?5, input_tokens = ?6, output_tokens = ?7, cost_usd = ?8, \
                     tool_calls = ?9, commit_sha = ?10, started_at = ?11, finished_at = ?12",
            )
            .bind(&turn.session_id)
            .bind(turn.turn)
            .bind(turn.final_message.clone())
            .bind(turn.final_message_source.map(FinalMessageSource::as_str))
            .bind(turn.agent_session_id.clone())
            .bind(turn.input_tokens)
            .bind(turn.output_tokens)
            .bind(turn.cost_usd)
            .bind(turn.tool_calls)
            .bind(turn.commit_sha.clone())
            .bind(&turn.started_at)
            .bind(&turn.finished_at),
        )
        .await?;
        Ok(())
    }

    /// A session in the caller's workspace with its processes, finished
    /// turns (oldest first) and pending approvals, in one round trip.
    pub async fn session_detail(
        &self,
        actor: &Actor,
        session_id: &SessionId,
    ) -> Result<(
        Session,
        Vec<ExecutionProcess>,
        Vec<SessionTurn>,
        Vec<ApprovalId>,
    )> {
        let mut batch = Batch::new();
        let (session, processes) =
            super::queries::push_session_reads(&mut batch, actor, session_id);
        let turns = batch.push(
            Stmt::new(
                "SELECT session_id, turn, final_message, final_message_source, agent_session_id, input_tokens, \
                        output_tokens, cost_usd, tool_calls, commit_sha, started_at, finished_at \
                 FROM session_turns WHERE session_id = ?1 \
                   AND EXISTS (SELECT 1 FROM workspace_sessions s WHERE s.id = ?1 AND s.workspace_id = ?2) \
                 ORDER BY turn",
            )
            .bind(session_id)
            .bind(&actor.workspace_id),
        );
        let pending = batch.push(select_pending_approvals(actor, session_id));
        let results = self.read(batch).await?;
        let session: Session = results
            .first(session)?
            .ok_or_else(|| session_not_found(session_id))?;
        let pending = results
            .all::<PendingApprovalRow>(pending)?
            .into_iter()
            .map(|row| row.id)
            .collect();
        Ok((
            session,
            results.all(processes)?,
            results.all(turns)?,
            pending,
        ))
    }
}

/// The ids of a session's pending, unexpired approvals (at most 100, oldest
/// first), if the session is the caller's.
fn select_pending_approvals(actor: &Actor, session_id: &SessionId) -> Stmt {
    Stmt::new(
        "SELECT id FROM session_approvals WHERE session_id = ?1 AND workspace_id = ?2 \
           AND status = 'pending' AND expires_at > ?3 ORDER BY requested_at, id LIMIT 100",
    )
    .bind(session_id)
    .bind(&actor.workspace_id)
    .bind(now())
}

/// One row of [`select_pending_approvals`].
#[derive(Deserialize)]
struct PendingApprovalRow {
    id: ApprovalId,
}
