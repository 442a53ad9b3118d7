//! Shipping a session's work on GitHub: `create_pull_request` (push the
//! branch, open the pull request, task → inreview) and `sync_pull_requests`
//! (ask GitHub about open pull requests; merged → done, closed → todo).
//! Both need `sessions`; the work is in [`crate::github::pulls`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Effect, Render, ToolContext, ToolDef, ToolError, Toolset, sessions::service, tool};
use crate::{
    auth::Scope,
    github::{
        GitHub,
        pulls::{self, PullError, PullRequestAsk},
    },
    store::{PullRequestLink, SessionId},
};

pub(super) fn tools() -> Vec<ToolDef> {
    // Both reach GitHub: open world.
    let open_world = |mut def: ToolDef| {
        if let Some(annotations) = def.tool.annotations.as_mut() {
            annotations.open_world_hint = Some(true);
        }
        def
    };
    vec![
        open_world(tool(
            "create_pull_request",
            "Create pull request",
            "Push a finished session's branch and open its GitHub pull request (title and body from the task \
             and the agent's final message); task → inreview. Again: the same pull request.",
            Toolset::Sessions,
            Effect::Update,
            create_pull_request,
        )
        .scope(Scope::Sessions)),
        open_world(tool(
            "sync_pull_requests",
            "Sync pull requests",
            "Ask GitHub about open pull requests: merged → task done, closed → todo, reopened → inreview.",
            Toolset::Sessions,
            Effect::Update,
            sync_pull_requests,
        )
        .scope(Scope::Sessions)),
    ]
}

fn github(ctx: &ToolContext) -> Result<&GitHub, ToolError> {
    service(ctx)?
        .github()
        .map(AsRef::as_ref)
        .ok_or_else(|| ToolError::Failed("GitHub is not set up on this server".to_owned()))
}

impl From<PullError> for ToolError {
    fn from(error: PullError) -> Self {
        match error {
            PullError::Store(e) => ToolError::Store(e),
            other => ToolError::Failed(other.to_string()),
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePullRequestArgs {
    /// From start_session or list_sessions.
    pub session_id: Uuid,
    /// Default: the task's title.
    #[serde(default)]
    pub title: Option<String>,
    /// Open it as a draft.
    #[serde(default)]
    pub draft: Option<bool>,
}

/// A session's pull request.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PullRequestOut {
    pub number: i64,
    pub url: String,
    /// open, closed or merged.
    pub state: String,
}

impl From<&PullRequestLink> for PullRequestOut {
    fn from(link: &PullRequestLink) -> Self {
        PullRequestOut {
            number: link.number,
            url: link.url.clone(),
            state: link.state.clone(),
        }
    }
}

impl Render for PullRequestOut {
    fn render(&self) -> String {
        format!(
            "Pull request #{} ({}): {}\nThe task is in review; it moves to done when the pull request merges \
             (webhook or sync_pull_requests).",
            self.number, self.state, self.url
        )
    }
}

async fn create_pull_request(
    ctx: ToolContext,
    args: CreatePullRequestArgs,
) -> Result<PullRequestOut, ToolError> {
    let github = github(&ctx)?;
    let session_id = SessionId::from(args.session_id);
    let link = pulls::create_pull_request(
        github,
        &ctx.store,
        &ctx.principal.actor,
        &ctx.principal.workspace_name,
        PullRequestAsk {
            session_id: &session_id,
            title: args.title.as_deref(),
            draft: args.draft.unwrap_or(false),
        },
    )
    .await?;
    Ok(PullRequestOut::from(&link))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// What a sync found.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SyncOut {
    pub checked: usize,
    /// GitHub said 304 Not Modified.
    pub unchanged: usize,
    pub changed: Vec<PullRequestOut>,
    pub failed: Vec<String>,
}

impl Render for SyncOut {
    fn render(&self) -> String {
        let mut text = format!(
            "Checked {} open pull request(s): {} unchanged, {} changed.",
            self.checked,
            self.unchanged,
            self.changed.len()
        );
        for pull in &self.changed {
            text.push_str(&format!(
                "\n#{} is now {}: {}",
                pull.number, pull.state, pull.url
            ));
        }
        for failure in &self.failed {
            text.push_str(&format!("\nnot checked: {failure}"));
        }
        text
    }
}

async fn sync_pull_requests(ctx: ToolContext, _args: NoArgs) -> Result<SyncOut, ToolError> {
    let github = github(&ctx)?;
    let report = pulls::sync_as(github, &ctx.store, &ctx.principal.actor).await?;
    Ok(SyncOut {
        checked: report.checked,
        unchanged: report.unchanged,
        changed: report
            .changed
            .iter()
            .map(|(link, state)| PullRequestOut {
                state: state.clone(),
                ..PullRequestOut::from(link)
            })
            .collect(),
        failed: report.failed,
    })
}
