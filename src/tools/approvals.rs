//! Approval tools: the permission requests of agents that run with
//! approvals "ask", and the answers to them. Listing needs `read`;
//! answering needs the `sessions` scope, like starting and stopping agents.

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
    store::{Approval, ApprovalDecision, ApprovalFilter, ApprovalKey, ApprovalStatus, page},
};

/// Default and largest page of `list_approvals`.
const DEFAULT_LIST: u32 = 50;
const MAX_LIST: u32 = 200;
/// Longest message to the agent, in characters.
const MAX_MESSAGE: usize = 4_000;

pub(super) fn tools() -> Vec<ToolDef> {
    vec![
        tool(
            "list_approvals",
            "List approvals",
            "Agents' permission requests (approvals ask), oldest first; pending by default.",
            Toolset::Sessions,
            Effect::Read,
            list_approvals,
        ),
        tool(
            "respond_to_approval",
            "Respond to approval",
            "Allow or deny an agent's pending permission request.",
            Toolset::Sessions,
            Effect::Update,
            respond_to_approval,
        )
        .scope(Scope::Sessions),
    ]
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListApprovalsArgs {
    /// Default: the whole workspace.
    #[serde(default)]
    pub session_id: Option<Uuid>,
    /// Default [pending]; [] = all.
    #[serde(default)]
    pub status: Option<Vec<ApprovalStatus>>,
    /// Default 50.
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_LIST))]
    pub limit: Option<u32>,
    /// The last page's `next_cursor`.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// Permission requests, oldest first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ApprovalList {
    pub approvals: Vec<Approval>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

async fn list_approvals(
    ctx: ToolContext,
    args: ListApprovalsArgs,
) -> Result<ApprovalList, ToolError> {
    let limit = checked_count("limit", args.limit, DEFAULT_LIST, MAX_LIST, "")?;
    let filter = ApprovalFilter {
        session_id: args.session_id.map(Into::into),
        statuses: args.status.unwrap_or_else(|| vec![ApprovalStatus::Pending]),
        limit,
        after: checked_cursor(
            "list_approvals",
            args.cursor.as_deref(),
            page::decode::<ApprovalKey>,
        )?,
    };
    let page = ctx
        .store
        .list_approvals(&ctx.principal.actor, &filter)
        .await?;
    Ok(ApprovalList {
        approvals: page.items,
        next_cursor: page.next_cursor,
    })
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RespondArgs {
    /// From list_approvals.
    pub approval_id: Uuid,
    /// deny: the agent is told no.
    pub decision: ApprovalDecision,
    /// Told to the agent.
    #[serde(default)]
    pub message: Option<String>,
    /// Allow this tool for the rest of the session.
    #[serde(default)]
    pub remember: Option<bool>,
}

async fn respond_to_approval(ctx: ToolContext, args: RespondArgs) -> Result<Approval, ToolError> {
    let remember = args.remember.unwrap_or(false);
    if remember && args.decision == ApprovalDecision::Deny {
        return Err(ToolError::InvalidParams(
            "`remember` allows a tool for the rest of the session, so it goes with decision allow; \
             leave it out to deny"
                .to_owned(),
        ));
    }
    let message = args
        .message
        .as_deref()
        .map(|m| checked_text("message", m, MAX_MESSAGE, false))
        .transpose()?
        .filter(|m| !m.is_empty());
    let approval = ctx
        .store
        .respond_to_approval(
            &ctx.principal.actor,
            &args.approval_id.into(),
            args.decision,
            message.as_deref(),
            remember,
        )
        .await?;
    if let Some(sessions) = &ctx.sessions {
        sessions.approvals_changed().notify_waiters();
    }
    Ok(approval)
}

// Readable text of this area's outputs.

fn approval_line(approval: &Approval) -> String {
    let mut line = format!(
        "- [{}] approval {} in session {}: {} {}",
        approval.status,
        approval.id,
        approval.session_id,
        approval.tool_name,
        preview(&approval.input)
    );
    if let Some(by) = &approval.responded_by {
        line.push_str(&format!(" (by {by}"));
        if let Some(message) = &approval.message {
            line.push_str(&format!(": {message}"));
        }
        line.push(')');
    } else {
        line.push_str(&format!(" (expires {})", approval.expires_at));
    }
    line
}

/// The start of a tool input, for one line of text.
fn preview(input: &serde_json::Value) -> String {
    let text = input.to_string();
    match text.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

impl Render for Approval {
    fn render(&self) -> String {
        let mut out = approval_line(self);
        out.push('\n');
        if self.status == ApprovalStatus::Pending {
            out.push_str("Answer with respond_to_approval (decision allow or deny).\n");
        }
        out
    }
}

impl Render for ApprovalList {
    fn render(&self) -> String {
        if self.approvals.is_empty() {
            return "No approvals match (agents of sessions with approvals ask wait here)."
                .to_owned();
        }
        let mut out = format!("{} approval(s), oldest first:\n", self.approvals.len());
        for approval in &self.approvals {
            out.push_str(&approval_line(approval));
            out.push('\n');
        }
        if let Some(cursor) = &self.next_cursor {
            out.push_str(&format!(
                "More follow: call list_approvals with cursor {cursor}.\n"
            ));
        }
        out
    }
}
