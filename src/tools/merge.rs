//! Shipping a session's work locally: `merge_session` lands a finished
//! session's branch on its base branch (squash, merge or rebase), moves its
//! task to done and can archive its worktree. Needs `sessions`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Effect, Render, ToolContext, ToolDef, ToolError, Toolset, sessions::service, tool};
use crate::{
    auth::Scope,
    sessions::MergeStrategy,
    store::{SessionId, TaskId},
};

pub(super) fn tools() -> Vec<ToolDef> {
    vec![
        // Moves a ref: not destructive (nothing is lost), not idempotent (a
        // second call is refused).
        tool(
            "merge_session",
            "Merge agent session",
            "Merge a finished session's branch into its base; the task goes done. Conflicts: refused, files \
             listed, nothing changed.",
            Toolset::Sessions,
            Effect::Create,
            merge_session,
        )
        .scope(Scope::Sessions),
    ]
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeArgs {
    /// A finished session.
    pub session_id: Uuid,
    /// Default squash.
    #[serde(default)]
    pub strategy: Option<MergeStrategy>,
    /// Also remove its worktree.
    #[serde(default)]
    pub archive: bool,
}

/// What merging did.
#[derive(Debug, Serialize, JsonSchema)]
pub struct MergeOut {
    #[serde(skip)]
    pub session_id: SessionId,
    #[serde(skip)]
    pub task_id: TaskId,
    pub base_branch: String,
    pub commit: String,
    #[serde(skip)]
    pub strategy: MergeStrategy,
    #[serde(skip)]
    pub merged_at: Option<String>,
    #[serde(skip)]
    pub checkout: Option<String>,
    #[serde(skip)]
    pub committed_work: Option<String>,
    pub archived: bool,
}

async fn merge_session(ctx: ToolContext, args: MergeArgs) -> Result<MergeOut, ToolError> {
    let merged = service(&ctx)?
        .merge(
            &ctx.principal.actor,
            &args.session_id.into(),
            args.strategy.unwrap_or_default(),
            args.archive,
        )
        .await?;
    Ok(MergeOut {
        session_id: merged.session.id,
        task_id: merged.session.task_id,
        base_branch: merged.base_branch,
        commit: merged.commit,
        strategy: merged.strategy,
        merged_at: merged.session.merged_at,
        checkout: merged.checkout.map(|p| p.display().to_string()),
        committed_work: merged.committed_work,
        archived: merged.archived,
    })
}

impl Render for MergeOut {
    fn render(&self) -> String {
        let mut out = format!(
            "Session {} merged into {} as commit {} ({}){}; task {} is done.",
            self.session_id,
            self.base_branch,
            self.commit,
            self.strategy.as_str(),
            self.merged_at
                .as_deref()
                .map(|at| format!(" at {at}"))
                .unwrap_or_default(),
            self.task_id
        );
        if let Some(commit) = &self.committed_work {
            out.push_str(&format!(
                " The worktree's uncommitted work was committed on the session's branch first ({commit})."
            ));
        }
        if let Some(path) = &self.checkout {
            out.push_str(&format!(
                " The checkout of {} at {path} now has it too.",
                self.base_branch
            ));
        }
        out.push_str(if self.archived {
            " Worktree archived."
        } else {
            " Its worktree and branch stay; archive_session removes the worktree."
        });
        out
    }
}
