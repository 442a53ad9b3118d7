//! The end of a turn: the worktree's changes committed on the session's
//! branch, and the turn's row (final message, usage, commit) recorded before
//! the session's status says the turn ended.

use std::time::Duration;

use super::{TurnLog, TurnWork, lock};
use crate::{
    sessions::{Sessions, worktree},
    store::{ClaimedTurn, SessionTurn},
};

impl Sessions {
    /// Commits the turn's changes (when the session has a branch) and puts
    /// together the turn's row. A commit that fails is noted in the log; the
    /// changes stay in the worktree for the next turn's commit.
    pub(super) async fn close_turn(
        &self,
        turn: &ClaimedTurn,
        work: TurnWork,
        started_at: String,
        log: &TurnLog,
    ) -> SessionTurn {
        let workspace = lock(&work.workspace).take();
        let summary = lock(&work.summary).take().unwrap_or_default();
        let mut commit_sha = None;
        if let Some(workspace) = workspace.filter(|w| w.branch.is_some()) {
            let message =
                worktree::commit_message(&turn.task_title, turn.turn, turn.session.id.as_str());
            match worktree::commit_turn(&workspace.path, &self.inner.commit_author, &message).await
            {
                Ok(Some(sha)) => {
                    log.note(&format!("committed the turn's changes: {sha}"))
                        .await;
                    commit_sha = Some(sha);
                }
                Ok(None) => log.note("the turn changed nothing; no commit").await,
                Err(e) => {
                    log.note(&format!(
                        "could not commit the turn's changes (they stay in the worktree): {e}"
                    ))
                    .await;
                }
            }
        }
        SessionTurn {
            session_id: turn.session.id.clone(),
            turn: turn.turn,
            final_message: summary.final_message,
            final_message_source: summary.source,
            agent_session_id: summary
                .agent_session_id
                .or_else(|| turn.session.agent_session_id.clone()),
            input_tokens: summary.input_tokens,
            output_tokens: summary.output_tokens,
            cost_usd: summary.cost_usd,
            tool_calls: summary.tool_calls,
            commit_sha,
            started_at,
            finished_at: crate::store::now(),
        }
    }

    /// Records a turn's row, trying a few times like the turn's end.
    pub(super) async fn record_turn(&self, record: &SessionTurn) {
        let mut attempt = 0;
        while let Err(e) = self.inner.store.record_turn(record).await {
            attempt += 1;
            tracing::warn!(session = %record.session_id, error = %e, attempt, "could not record a turn");
            if attempt >= 5 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
        }
    }
}
