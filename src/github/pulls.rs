//! Pull requests of sessions: opening one (push the branch, `POST
//! /repos/{owner}/{repo}/pulls`, record it and move the task to `inreview`)
//! and following its state (webhook or sync: merged → `done`, closed
//! unmerged → `[github] on_close`, reopened → `inreview`).

use std::{collections::HashMap, path::Path};

use super::{
    GitHub, OnClose,
    client::{ApiError, NewPull},
    crypto::{CryptoError, Sealed},
    push::{self, PushError},
};
use crate::store::{
    Actor, GitHubConnection, PullRequestLink, PullRequestMove, SessionId, SessionStatus,
    StateSource, Store, StoreError, WorkspaceId,
};

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Push(#[from] PushError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Refused before anything was done; the text says what to do.
    #[error("{0}")]
    Refused(String),
}

/// The task status a pull request's state moves its task to.
pub fn task_move(state: &str, on_close: OnClose) -> PullRequestMove<'_> {
    let task_status = match state {
        "merged" => Some("done"),
        "closed" => match on_close {
            OnClose::Todo => Some("todo"),
            OnClose::Cancelled => Some("cancelled"),
            OnClose::Keep => None,
        },
        _ => Some("inreview"),
    };
    PullRequestMove { state, task_status }
}

/// Opens the token of a connection.
pub fn token(github: &GitHub, connection: &GitHubConnection) -> Result<String, CryptoError> {
    github.keys.open(
        &Sealed {
            ciphertext: connection.token_ciphertext.clone(),
            nonce: connection.token_nonce.clone(),
            key_id: connection.token_key_id.clone(),
        },
        connection.workspace_id.as_str(),
    )
}

/// What `create_pull_request` was asked.
pub struct PullRequestAsk<'a> {
    pub session_id: &'a SessionId,
    pub title: Option<&'a str>,
    pub draft: bool,
}

/// Pushes a finished session's branch and opens its pull request (or
/// answers the one it already has, after pushing its newest commits).
/// Nothing is stored unless both worked.
pub async fn create_pull_request(
    github: &GitHub,
    store: &Store,
    actor: &Actor,
    workspace: &str,
    ask: PullRequestAsk<'_>,
) -> Result<PullRequestLink, PullError> {
    let session_id = ask.session_id;
    let source = store.pull_request_source(actor, session_id).await?;
    let session = &source.session;
    if matches!(
        session.status,
        SessionStatus::Queued | SessionStatus::Running
    ) {
        return Err(PullError::Refused(format!(
            "session {session_id} is {}: wait for it to finish (wait_for_session), then open its pull request",
            session.status
        )));
    }
    let (Some(branch), Some(repo_path)) = (session.branch.as_deref(), source.repo_path.as_deref())
    else {
        return Err(PullError::Refused(format!(
            "session {session_id} has no branch: its project {} has no repository (set repo_path with \
             update_project and start a new session)",
            source.project_id
        )));
    };
    let Some(repository) = &source.repository else {
        return Err(PullError::Refused(format!(
            "project {} has no connected GitHub repository in workspace {workspace}; run `vibe-kanban-mcp \
             github link --workspace {workspace} --project {}` (the repository is read from its origin remote)",
            source.project_id, source.project_id
        )));
    };
    let Some(connection) = &source.connection else {
        return Err(PullError::Refused(format!(
            "workspace {workspace} has no GitHub connection; run `vibe-kanban-mcp github connect --workspace \
             {workspace}`"
        )));
    };
    let repo = Path::new(repo_path);
    if !repo.exists() {
        return Err(PullError::Refused(format!(
            "the repository {repo_path} of project {} is not on this machine; call create_pull_request through \
             a server on the machine the session ran on",
            source.project_id
        )));
    }
    let token = token(github, connection)?;
    push::push_branch(repo, branch, &token).await?;
    if let Some(existing) = source.existing.filter(|e| e.state == "open") {
        return Ok(existing);
    }
    let base = session
        .base_branch
        .as_deref()
        .unwrap_or(&repository.default_branch);
    let title = ask
        .title
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .unwrap_or(&source.task_title);
    let body = pull_body(
        &source.task_description,
        source.final_message.as_deref(),
        session_id,
    );
    let pull = github
        .client
        .create_pull(
            &token,
            &repository.owner,
            &repository.name,
            &NewPull {
                title,
                body: &body,
                head: branch,
                base,
                draft: ask.draft,
            },
        )
        .await?;
    let link = PullRequestLink {
        session_id: session_id.clone(),
        workspace_id: actor.workspace_id.clone(),
        task_id: session.task_id.clone(),
        owner: repository.owner.clone(),
        repo: repository.name.clone(),
        number: pull.number,
        url: pull.html_url.clone(),
        state: pull.stored_state().to_owned(),
        head: pull.head.name.clone(),
        base: pull.base.name.clone(),
        etag: None,
    };
    Ok(store.record_pull_request(actor, &link).await?)
}

/// The pull request's description: the task's, then what the agent said.
fn pull_body(description: &str, final_message: Option<&str>, session_id: &SessionId) -> String {
    let mut body = String::new();
    if !description.trim().is_empty() {
        body.push_str(description.trim());
        body.push_str("\n\n");
    }
    if let Some(message) = final_message.map(str::trim).filter(|m| !m.is_empty()) {
        body.push_str("## What the agent says\n\n");
        body.push_str(message);
        body.push_str("\n\n");
    }
    body.push_str(&format!(
        "_Opened by vibe-kanban-mcp from session {session_id}._"
    ));
    body
}

/// What one sync did.
#[derive(Debug, Default, Clone)]
pub struct SyncReport {
    /// Open pull requests asked about.
    pub checked: usize,
    /// Of those, answered 304 Not Modified.
    pub unchanged: usize,
    /// Links whose state changed: the link as it was, and its new state.
    pub changed: Vec<(PullRequestLink, String)>,
    /// Pull requests that could not be checked, and why.
    pub failed: Vec<String>,
}

/// Asks GitHub about every open pull request (of `workspace`, or of every
/// workspace) with `If-None-Match`, and applies the states that changed; the
/// tasks it moves are GitHub's doing in the activity feed.
pub async fn sync(
    github: &GitHub,
    store: &Store,
    workspace: Option<&WorkspaceId>,
) -> Result<SyncReport, StoreError> {
    sync_for(github, store, workspace, StateSource::Sync).await
}

/// [`sync`] of the caller's workspace, asked by the caller
/// (`sync_pull_requests`): the audit rows of the tasks it moves name them.
pub async fn sync_as(
    github: &GitHub,
    store: &Store,
    caller: &Actor,
) -> Result<SyncReport, StoreError> {
    sync_for(
        github,
        store,
        Some(&caller.workspace_id),
        StateSource::CallerSync(caller),
    )
    .await
}

async fn sync_for(
    github: &GitHub,
    store: &Store,
    workspace: Option<&WorkspaceId>,
    source: StateSource<'_>,
) -> Result<SyncReport, StoreError> {
    let (links, connections) = store.pull_requests_to_sync(workspace, 100).await?;
    let tokens: HashMap<&str, Result<String, CryptoError>> = connections
        .iter()
        .map(|c| (c.workspace_id.as_str(), token(github, c)))
        .collect();
    let mut report = SyncReport::default();
    for link in links {
        let name = format!("{}/{}#{}", link.owner, link.repo, link.number);
        let token = match tokens.get(link.workspace_id.as_str()) {
            Some(Ok(token)) => token,
            Some(Err(error)) => {
                report.failed.push(format!("{name}: {error}"));
                continue;
            }
            None => {
                report.failed.push(format!(
                    "{name}: workspace {} has no GitHub connection; run `github connect`",
                    link.workspace_id
                ));
                continue;
            }
        };
        report.checked += 1;
        let answer = github
            .client
            .get_pull(
                token,
                &link.owner,
                &link.repo,
                link.number,
                link.etag.as_deref(),
            )
            .await;
        match answer {
            Ok(None) => report.unchanged += 1,
            Ok(Some((pull, etag))) => {
                let state = pull.stored_state();
                let moved = store
                    .apply_pull_request_state(
                        Some(&link.workspace_id),
                        (&link.owner, &link.repo, link.number),
                        task_move(state, github.on_close),
                        etag.as_deref(),
                        source,
                    )
                    .await?;
                report
                    .changed
                    .extend(moved.into_iter().map(|l| (l, state.to_owned())));
            }
            Err(error) => report.failed.push(format!("{name}: {error}")),
        }
    }
    Ok(report)
}
