//! Pushing a session's branch to the project's `origin` with the
//! connection's token as HTTPS credentials for that one command: the token
//! reaches git through `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_0`/`GIT_CONFIG_VALUE_0`
//! (`http.extraHeader`), an environment only this child sees — never its
//! argv, the repository's `.git/config` or a log line. Never a force push.
//! git runs through [`crate::git::run_git`], like every
//! other git process of the crate.

use std::path::Path;

use base64::Engine;

use crate::git::{GitEnv, GitRun, run_git};

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(
        "the push of branch {branch} to origin was rejected: the remote branch has commits this branch lacks \
         (non-fast-forward). Nothing was pushed and no pull request was opened; bring the remote branch into \
         the session with send_follow_up (or push it by hand), then call create_pull_request again"
    )]
    Rejected { branch: String },
    #[error(
        "origin refused the GitHub connection's token for the push of branch {branch} ({detail}): it expired, \
         was revoked or may not push to this repository. Nothing was pushed or stored; connect again with a \
         token that may (`vibe-kanban-mcp github connect`; fine-grained: 'Contents: write'), then call \
         create_pull_request again"
    )]
    Unauthorized { branch: String, detail: String },
    #[error(
        "the push of branch {branch} to origin failed: {detail}. Nothing was stored; check the project's \
         origin remote and that the token may write to it (fine-grained: 'Contents: write')"
    )]
    Failed { branch: String, detail: String },
    #[error(
        "the project's repository has no `origin` remote to push to; add one (`git remote add origin \
         https://github.com/OWNER/REPO.git`)"
    )]
    NoOrigin,
    #[error("cannot run git: {0}")]
    Git(String),
}

/// Runs git in `repo` through the crate's one git runner, `env` added.
async fn git(repo: &Path, args: &[&str], vars: &[(&str, &str)]) -> Result<GitRun, PushError> {
    run_git(repo, args, GitEnv { vars, clean: false })
        .await
        .map_err(|e| PushError::Git(e.to_string()))
}

/// The URL of `repo`'s `origin` remote, if it has one.
pub async fn origin_url(repo: &Path) -> Result<Option<String>, PushError> {
    let out = git(repo, &["remote", "get-url", "origin"], &[]).await?;
    if !out.ok {
        return Ok(None);
    }
    let url = out.stdout.trim().to_owned();
    Ok((!url.is_empty()).then_some(url))
}

/// Pushes `branch` of `repo` to the same branch on `origin`.
pub async fn push_branch(repo: &Path, branch: &str, token: &str) -> Result<(), PushError> {
    if origin_url(repo).await?.is_none() {
        return Err(PushError::NoOrigin);
    }
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"));
    let header = format!("Authorization: Basic {basic}");
    let refspec = format!("refs/heads/{branch}:refs/heads/{branch}");
    let out = git(
        repo,
        &["push", "--porcelain", "origin", &refspec],
        &[
            ("GIT_ASKPASS", "true"),
            ("GIT_CONFIG_COUNT", "1"),
            ("GIT_CONFIG_KEY_0", "http.extraHeader"),
            ("GIT_CONFIG_VALUE_0", &header),
        ],
    )
    .await?;
    if out.ok {
        return Ok(());
    }
    let said = format!("{}\n{}", out.stdout, out.stderr);
    if said.contains("[rejected]")
        || said.contains("non-fast-forward")
        || said.contains("fetch first")
    {
        return Err(PushError::Rejected {
            branch: branch.to_owned(),
        });
    }
    let detail = super::redact(&said, token)
        .replace(&basic, "[redacted]")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "Done")
        .collect::<Vec<_>>()
        .join("; ");
    let branch = branch.to_owned();
    // git's words for a 401 it could not answer (its askpass is `true`).
    if said.contains("Authentication failed")
        || said.contains("could not read Username")
        || said.contains("The requested URL returned error: 401")
        || said.contains("The requested URL returned error: 403")
    {
        return Err(PushError::Unauthorized { branch, detail });
    }
    Err(PushError::Failed { branch, detail })
}
