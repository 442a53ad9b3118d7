//! Cleaning up after sessions: `archive_session` removes a finished
//! session's worktree (`git worktree remove --force`, then `prune`) and, when
//! asked, its branch; the runner's retention loop does the same for sessions
//! that finished more than `[sessions] keep_worktrees_days` ago. The session,
//! its logs and (unless deleted) its branch stay, so its diff stays readable
//! from the branch. Worktrees are on the machine whose runner made them, so
//! only a server or runner on that machine removes them.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use tokio_util::sync::CancellationToken;

use super::{Result, SessionError, Sessions, WorktreeError, host, worktree::git};
use crate::store::{Actor, RunnerScope, Session, SessionId};

/// Sessions the retention loop archives per look; more wait for the next.
const RETENTION_BATCH: u32 = 20;

/// What archiving a session did.
#[derive(Debug, Clone)]
pub struct Archived {
    pub session: Session,
    /// Whether the worktree was there and is now gone.
    pub worktree_removed: bool,
    pub branch_deleted: bool,
}

impl Sessions {
    /// Whether a session's worktree still exists, as far as this machine
    /// can tell: looked at on disk when it is (or was made) here; for a
    /// session another machine ran, whether it has not been archived.
    pub fn worktree_exists(&self, session: &Session) -> bool {
        let Some(path) = session.worktree_path.as_deref() else {
            return false;
        };
        match session.runner_host.as_deref() {
            Some(other) if other != host::host_name() => session.archived_at.is_none(),
            _ => Path::new(path).is_dir(),
        }
    }

    /// Archives a finished session: records it, removes its worktree and,
    /// with `delete_branch`, its branch. Archiving again finishes what a
    /// failed attempt left (or deletes the branch later).
    pub async fn archive(
        &self,
        actor: &Actor,
        session_id: &SessionId,
        delete_branch: bool,
    ) -> Result<Archived> {
        let (session, repo) = self
            .inner
            .store
            .archive_session(actor, session_id, &host::host_name(), delete_branch)
            .await?;
        let repo = repo.map(PathBuf::from);
        let removed = self
            .remove_worktree(
                repo.as_deref(),
                session.worktree_path.as_deref().map(Path::new),
                session.branch.as_deref().filter(|_| delete_branch),
            )
            .await
            .map_err(|source| SessionError::ArchiveIncomplete {
                session_id: session_id.clone(),
                source,
            })?;
        self.inner.diffs.forget(session_id);
        Ok(Archived {
            session,
            worktree_removed: removed.0,
            branch_deleted: removed.1,
        })
    }

    /// Removes a worktree (a plain session directory only when it is under
    /// this runner's worktree directory) and, when given, the branch.
    /// Returns whether each was there and is now gone.
    pub(super) async fn remove_worktree(
        &self,
        repo: Option<&Path>,
        worktree: Option<&Path>,
        branch: Option<&str>,
    ) -> std::result::Result<(bool, bool), WorktreeError> {
        let repo = repo.filter(|r| r.is_dir());
        let worktree = worktree.filter(|w| w.is_dir());
        let mut removed = false;
        if let Some(path) = worktree {
            let text = path.to_string_lossy();
            match repo {
                Some(repo) if path.join(".git").is_file() => {
                    git(repo, &["worktree", "remove", "--force", &text]).await?;
                    removed = true;
                }
                _ => {
                    // No repository: a plain directory this runner made.
                    let root = std::fs::canonicalize(&self.inner.worktree_root).ok();
                    let inside = std::fs::canonicalize(path)
                        .ok()
                        .zip(root)
                        .is_some_and(|(p, root)| p != root && p.starts_with(&root));
                    if inside {
                        tokio::fs::remove_dir_all(path).await.map_err(|source| {
                            WorktreeError::CreateDir {
                                what: "(removing) the session directory",
                                path: path.to_owned(),
                                source,
                            }
                        })?;
                        removed = true;
                    }
                }
            }
        }
        let Some(repo) = repo else {
            return Ok((removed, false));
        };
        git(repo, &["worktree", "prune"]).await?;
        let mut deleted = false;
        if let Some(branch) = branch {
            let exists = git(
                repo,
                &[
                    "rev-parse",
                    "--verify",
                    "--quiet",
                    &format!("refs/heads/{branch}"),
                ],
            )
            .await
            .is_ok();
            if exists {
                git(repo, &["branch", "-D", branch]).await?;
                deleted = true;
            }
        }
        Ok((removed, deleted))
    }

    /// Starts the retention loop when `[sessions] keep_worktrees_days` is
    /// set: every `every`, one look for finished sessions of `scope` on this
    /// machine older than that, each archived (one write) and its worktree
    /// removed. Nothing runs, and nothing is asked of the store, when unset.
    pub(super) fn spawn_retention(
        &self,
        scope: &RunnerScope,
        every: Duration,
        shutdown: &CancellationToken,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let days = self.inner.config.keep_worktrees_days?;
        let sessions = self.clone();
        let scope = scope.clone();
        let shutdown = shutdown.clone();
        Some(tokio::spawn(async move {
            loop {
                if let Err(e) = sessions.archive_expired(&scope, days).await {
                    tracing::warn!(error = %e, "could not archive old worktrees");
                }
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    () = shutdown.cancelled() => return,
                }
            }
        }))
    }

    /// One retention pass; returns how many sessions it archived.
    pub async fn archive_expired(&self, scope: &RunnerScope, days: f64) -> Result<usize> {
        let age = chrono::Duration::milliseconds((days * 86_400_000.0) as i64);
        let before =
            (chrono::Utc::now() - age).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let store = &self.inner.store;
        let expired = store
            .expired_worktrees(scope, &host::host_name(), &before, RETENTION_BATCH)
            .await?;
        let mut archived = 0;
        for session in expired {
            if !store.archive_expired(&session.id, &before, days).await? {
                continue;
            }
            let repo = session.repo_path.as_deref().map(Path::new);
            match self
                .remove_worktree(repo, Some(Path::new(&session.worktree_path)), None)
                .await
            {
                Ok(_) => {
                    tracing::info!(session = %session.id, days, "archived an old session's worktree");
                    archived += 1;
                }
                Err(e) => {
                    tracing::warn!(session = %session.id, error = %e, "could not remove an old worktree")
                }
            }
            self.inner.diffs.forget(&session.id);
        }
        Ok(archived)
    }
}
