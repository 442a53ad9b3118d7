//! Landing a session's work on its base branch (`merge_session`) without
//! touching anyone's checkout on the way: the merged tree is computed with
//! `git merge-tree --write-tree` (git ≥ 2.38), which needs no worktree and no
//! index, the commit is made with `git commit-tree`, and the base branch is
//! moved with a compare-and-swap (`git update-ref refs/heads/BASE NEW OLD`).
//! A conflict, a base checkout with changes, or a base that moved meanwhile
//! stops the merge before any ref moves, so the repository stays as it was
//! (new objects that nothing points at are all a failed merge leaves).
//!
//! - `squash` (default): one commit on the base with the branch's changes;
//!   its message is the task title, the agent's final message and the
//!   session trailer of the per-turn commits.
//! - `merge`: a merge commit (always, even when the base has not moved) with
//!   the base and the branch as parents and the same message.
//! - `rebase`: the branch's commits (merges left out) replayed one by one
//!   onto the base, authors kept; a fast-forward when the base has not moved.
//!
//! Uncommitted work in the session's worktree is committed on the session's
//! branch first, as a turn's end would have (the diff showed it, so it is
//! what a reviewer approved). The commit is made without touching the
//! worktree's index (through the diff's private index) and the branch only
//! moves to it once the base has moved, so a refused merge changes nothing.
//! When the base branch is checked out (the project's own checkout or any
//! worktree), a checkout with uncommitted changes to tracked files refuses
//! the merge; a clean one is brought along to the new commit as
//! `git merge --ff-only` would (`git read-tree -m -u OLD NEW`).

use std::path::{Path, PathBuf};

use super::{
    Result, SessionError, Sessions, WorktreeError, host,
    worktree::{self, Author, GitRun},
};
use crate::store::{Actor, MergeRecord, Session, SessionId};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How a session's branch lands on its base branch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MergeStrategy {
    Merge,
    #[default]
    Squash,
    Rebase,
}

impl MergeStrategy {
    pub fn as_str(self) -> &'static str {
        match self {
            MergeStrategy::Merge => "merge",
            MergeStrategy::Squash => "squash",
            MergeStrategy::Rebase => "rebase",
        }
    }
}

/// What merging a session did.
#[derive(Debug, Clone)]
pub struct Merged {
    /// The session as recorded (with its merge).
    pub session: Session,
    pub base_branch: String,
    /// The base branch's new commit.
    pub commit: String,
    pub strategy: MergeStrategy,
    /// The base checkout brought along to the new commit, if there is one.
    pub checkout: Option<PathBuf>,
    /// The worktree's uncommitted work, committed on the branch first.
    pub committed_work: Option<String>,
    /// Whether the worktree was archived (removed) after the merge.
    pub archived: bool,
}

/// Git run for a merge in one directory: a clean environment, no hooks, no
/// signing, `author` as author and committer (like the per-turn commits).
struct Git<'a> {
    dir: &'a Path,
    author: &'a Author,
}

impl Git<'_> {
    /// Runs git as a turn's commit does ([`worktree::clean_git`]), `env`
    /// added, without optional locks.
    async fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Result<GitRun> {
        let mut vars = vec![("GIT_OPTIONAL_LOCKS", "0")];
        vars.extend_from_slice(env);
        Ok(worktree::clean_git(self.dir, self.author, args, &vars).await?)
    }

    /// Runs git; its trimmed stdout, or the failure as an error.
    async fn ok(&self, args: &[&str], env: &[(&str, &str)]) -> Result<String> {
        let run = self.run(args, env).await?;
        if run.ok {
            Ok(run.stdout.trim().to_owned())
        } else {
            Err(WorktreeError::Git {
                command: args.join(" "),
                stderr: run.stderr,
            }
            .into())
        }
    }

    /// The commit `spec` names, if it does.
    async fn commit_of(&self, spec: &str) -> Result<Option<String>> {
        let spec = format!("{spec}^{{commit}}");
        let run = self
            .run(&["rev-parse", "--verify", "--quiet", &spec], &[])
            .await?;
        Ok(run.ok.then(|| run.stdout.trim().to_owned()))
    }

    async fn tree_of(&self, commit: &str) -> Result<String> {
        self.ok(&["rev-parse", &format!("{commit}^{{tree}}")], &[])
            .await
    }

    /// The tree of merging `theirs` into `ours` (with `base` as the merge
    /// base when given), or the conflicting files.
    async fn merge_tree(
        &self,
        ours: &str,
        theirs: &str,
        base: Option<&str>,
    ) -> Result<std::result::Result<String, Vec<String>>> {
        let base_arg = base.map(|b| format!("--merge-base={b}"));
        let mut args = vec![
            "merge-tree",
            "--write-tree",
            "-z",
            "--name-only",
            "--no-messages",
        ];
        args.extend(base_arg.as_deref());
        args.extend([ours, theirs]);
        let run = self.run(&args, &[]).await?;
        let mut fields = run.stdout.split('\0').filter(|f| !f.is_empty());
        let tree = fields.next().unwrap_or_default().to_owned();
        match run.code {
            Some(0) => Ok(Ok(tree)),
            Some(1) => {
                let mut files: Vec<String> = fields.map(str::to_owned).collect();
                files.dedup();
                Ok(Err(files))
            }
            _ => Err(WorktreeError::Git {
                command: args.join(" "),
                stderr: run.stderr,
            }
            .into()),
        }
    }

    async fn commit_tree(
        &self,
        tree: &str,
        parents: &[&str],
        message: &str,
        env: &[(&str, &str)],
    ) -> Result<String> {
        let mut args = vec!["commit-tree", tree];
        for parent in parents {
            args.extend(["-p", parent]);
        }
        args.extend(["-m", message]);
        self.ok(&args, env).await
    }

    /// Whether a checkout has changes (`untracked` too, or tracked files only).
    async fn dirty(&self, untracked: bool) -> Result<bool> {
        let mode = if untracked {
            "--untracked-files=normal"
        } else {
            "--untracked-files=no"
        };
        let out = self.ok(&["status", "--porcelain", mode], &[]).await?;
        Ok(!out.is_empty())
    }

    /// The worktree (the repository's own checkout included) that has
    /// `branch` checked out, if one has.
    async fn checkout_of(&self, branch: &str) -> Result<Option<PathBuf>> {
        let list = self
            .ok(&["worktree", "list", "--porcelain", "-z"], &[])
            .await?;
        let wanted = format!("branch refs/heads/{branch}");
        let mut path = None;
        for field in list.split('\0') {
            if let Some(p) = field.strip_prefix("worktree ") {
                path = Some(PathBuf::from(p));
            } else if field == wanted {
                return Ok(path.filter(|p| p.is_dir()));
            }
        }
        Ok(None)
    }
}

/// The message of a squash or merge commit: the task title, the agent's
/// final message and the session trailer of the per-turn commits.
pub fn merge_message(task_title: &str, final_message: Option<&str>, session_id: &str) -> String {
    let title = task_title.lines().next().unwrap_or("").trim();
    let title = if title.is_empty() {
        "Agent session"
    } else {
        title
    };
    let body = final_message
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|m| format!("{m}\n\n"))
        .unwrap_or_default();
    format!("{title}\n\n{body}Vibe-Kanban-Session: {session_id}\n")
}

impl Sessions {
    /// Merges a finished session's branch into its base branch (see the
    /// module's notes), records it and moves its task to `done`; with
    /// `archive`, removes its worktree after.
    pub async fn merge(
        &self,
        actor: &Actor,
        session_id: &SessionId,
        strategy: MergeStrategy,
        archive: bool,
    ) -> Result<Merged> {
        let source = self.inner.store.merge_source(actor, session_id).await?;
        let session = &source.session;
        if let Some(commit) = &session.merge_commit {
            return Err(SessionError::AlreadyMerged {
                session_id: session_id.clone(),
                commit: commit.clone(),
                base: session.base_branch.clone().unwrap_or_default(),
                strategy: session.merge_strategy.clone().unwrap_or_default(),
            });
        }
        if session.status.is_active() {
            return Err(SessionError::MergeWhileActive {
                session_id: session_id.clone(),
                status: session.status,
            });
        }
        let nothing = |reason: &str| SessionError::NothingToMerge {
            session_id: session_id.clone(),
            reason: reason.to_owned(),
        };
        let Some(repo) = source.repo_path.as_deref().map(Path::new) else {
            return Err(nothing(
                "its project had no repo_path when it ran, so the agent worked in a plain directory, not on a branch",
            ));
        };
        let (Some(branch), Some(base)) =
            (session.branch.as_deref(), session.base_branch.as_deref())
        else {
            return Err(nothing(
                "it has no branch (it ended before a runner made its worktree)",
            ));
        };
        if !repo.is_dir() {
            return Err(SessionError::WorkElsewhere {
                session_id: session_id.clone(),
                host: session
                    .runner_host
                    .clone()
                    .filter(|h| *h != host::host_name())
                    .unwrap_or_else(|| "this machine, where the repository is gone".to_owned()),
            });
        }
        // One merge (or diff) of a session at a time in this process; other
        // processes meet the compare-and-swap.
        let lock = self.inner.diffs.lock_of(session_id);
        let _one_at_a_time = lock.lock().await;
        let author = &self.inner.commit_author;
        let git = Git { dir: repo, author };
        let Some(old) = git.commit_of(&format!("refs/heads/{base}")).await? else {
            return Err(SessionError::BaseNotBranch {
                session_id: session_id.clone(),
                base: base.to_owned(),
                repo: repo.to_owned(),
            });
        };
        let checkout = git.checkout_of(base).await?;
        if let Some(path) = &checkout
            && (Git { dir: path, author }).dirty(false).await?
        {
            return Err(SessionError::BaseDirty {
                base: base.to_owned(),
                path: path.clone(),
            });
        }
        let Some(tip) = git.commit_of(&format!("refs/heads/{branch}")).await? else {
            return Err(SessionError::BranchGone {
                session_id: session_id.clone(),
                branch: branch.to_owned(),
            });
        };
        // The worktree's uncommitted work, as a commit on top of the branch
        // that nothing points at yet.
        let worktree = session
            .worktree_path
            .as_deref()
            .map(Path::new)
            .filter(|w| w.is_dir());
        let mut work_commit = None;
        if let Some(dir) = worktree {
            let wt = Git { dir, author };
            if wt.commit_of("HEAD").await?.as_deref() == Some(tip.as_str())
                && wt.dirty(true).await?
            {
                let tree = self.worktree_tree(session_id, dir).await?;
                let message = format!(
                    "{} (uncommitted work, before merge)\n\nVibe-Kanban-Session: {session_id}\n",
                    first_line(&source.task_title)
                );
                work_commit = Some(git.commit_tree(&tree, &[&tip], &message, &[]).await?);
            }
        }
        let head = work_commit.clone().unwrap_or_else(|| tip.clone());
        let merge_base = git
            .ok(&["merge-base", &old, &head], &[])
            .await
            .map_err(|_| SessionError::BaseGone {
                session_id: session_id.clone(),
                base: base.to_owned(),
            })?;
        if merge_base == head {
            return Err(nothing(&format!(
                "its branch {branch} has no commits that {base} does not already have"
            )));
        }
        let conflict = |files: Vec<String>, commit: Option<String>| SessionError::MergeConflict {
            session_id: session_id.clone(),
            branch: branch.to_owned(),
            base: base.to_owned(),
            strategy,
            commit,
            files,
        };
        let message = merge_message(
            &source.task_title,
            source.final_message.as_deref(),
            session_id.as_str(),
        );
        let new = match strategy {
            MergeStrategy::Squash | MergeStrategy::Merge => {
                let tree = git
                    .merge_tree(&old, &head, None)
                    .await?
                    .map_err(|files| conflict(files, None))?;
                if strategy == MergeStrategy::Squash && tree == git.tree_of(&old).await? {
                    return Err(nothing(&format!(
                        "its changes are already on {base} (merging changes no file)"
                    )));
                }
                let parents: Vec<&str> = if strategy == MergeStrategy::Merge {
                    vec![&old, &head]
                } else {
                    vec![&old]
                };
                git.commit_tree(&tree, &parents, &message, &[]).await?
            }
            MergeStrategy::Rebase if merge_base == old => head.clone(),
            MergeStrategy::Rebase => {
                let replayed = replay(&git, &old, &head)
                    .await?
                    .map_err(|(commit, files)| conflict(files, Some(commit)))?;
                if replayed == old {
                    return Err(nothing(&format!(
                        "its commits are already on {base} (replaying them changes no file)"
                    )));
                }
                replayed
            }
        };
        // The base checkout first (it refuses to overwrite anything), then
        // the ref; the checkout goes back if the ref moved meanwhile.
        if let Some(path) = &checkout {
            let co = Git { dir: path, author };
            // Stat data only: files touched but unchanged are not changes.
            let _ = co.run(&["update-index", "-q", "--refresh"], &[]).await?;
            let moved = co.run(&["read-tree", "-m", "-u", &old, &new], &[]).await?;
            if !moved.ok {
                return Err(SessionError::CheckoutBlocked {
                    base: base.to_owned(),
                    path: path.clone(),
                    detail: moved.stderr,
                });
            }
        }
        let reflog = format!(
            "vibe-kanban-mcp merge ({}): session {session_id}",
            strategy.as_str()
        );
        let swapped = git
            .run(
                &[
                    "update-ref",
                    "-m",
                    &reflog,
                    &format!("refs/heads/{base}"),
                    &new,
                    &old,
                ],
                &[],
            )
            .await?;
        if !swapped.ok {
            if let Some(path) = &checkout {
                let back = (Git { dir: path, author })
                    .run(&["read-tree", "-m", "-u", &new, &old], &[])
                    .await?;
                if !back.ok {
                    tracing::error!(checkout = %path.display(), error = %back.stderr,
                        "could not put the base checkout back after a refused ref update");
                }
            }
            return Err(SessionError::BaseMoved {
                base: base.to_owned(),
                detail: swapped.stderr,
            });
        }
        // The session's branch takes the commit of its uncommitted work, and
        // the worktree's index follows (its files already are that commit).
        if let (Some(commit), Some(dir)) = (&work_commit, worktree) {
            let adopted = git
                .run(
                    &["update-ref", &format!("refs/heads/{branch}"), commit, &tip],
                    &[],
                )
                .await?;
            let reset = if adopted.ok {
                (Git { dir, author })
                    .run(&["reset", "-q"], &[])
                    .await?
                    .stderr
            } else {
                adopted.stderr
            };
            if !reset.is_empty() {
                tracing::warn!(session = %session_id, error = %reset,
                    "merged, but the worktree's uncommitted work is not on the session's branch");
            }
        }
        let host = host::host_name();
        let record = MergeRecord {
            task_id: &session.task_id,
            commit: &new,
            strategy: strategy.as_str(),
            base_branch: base,
            archive_on: archive.then_some(host.as_str()),
        };
        let recorded = self
            .inner
            .store
            .record_merge(actor, session_id, &record)
            .await
            .map_err(|source| SessionError::MergeUnrecorded {
                session_id: session_id.clone(),
                base: base.to_owned(),
                commit: new.clone(),
                source: Box::new(source),
            })?;
        let mut archived = false;
        if archive {
            archived = self
                .remove_worktree(Some(repo), worktree, None)
                .await
                .map_err(|source| SessionError::ArchiveIncomplete {
                    session_id: session_id.clone(),
                    source,
                })?
                .0;
        }
        self.inner.diffs.forget(session_id);
        Ok(Merged {
            session: recorded,
            base_branch: base.to_owned(),
            commit: new,
            strategy,
            checkout,
            committed_work: work_commit,
            archived,
        })
    }
}

fn first_line(text: &str) -> &str {
    let line = text.lines().next().unwrap_or("").trim();
    if line.is_empty() {
        "Agent session"
    } else {
        line
    }
}

/// Replays the commits of `head` that `onto` lacks (merges left out,
/// oldest first) onto `onto`, each with its author and message; the new
/// tip, or the commit that conflicts and its files. A commit whose changes
/// are already there is dropped, as `git rebase` drops it.
async fn replay(
    git: &Git<'_>,
    onto: &str,
    head: &str,
) -> Result<std::result::Result<String, (String, Vec<String>)>> {
    let range = format!("{onto}..{head}");
    let list = git
        .ok(&["rev-list", "--reverse", "--no-merges", &range], &[])
        .await?;
    let mut tip = onto.to_owned();
    for commit in list.lines().map(str::trim).filter(|c| !c.is_empty()) {
        let parent = git.ok(&["rev-parse", &format!("{commit}^")], &[]).await?;
        let tree = match git.merge_tree(&tip, commit, Some(&parent)).await? {
            Ok(tree) => tree,
            Err(files) => return Ok(Err((commit.to_owned(), files))),
        };
        if tree == git.tree_of(&tip).await? {
            continue;
        }
        let info = git
            .ok(
                &[
                    "show",
                    "-s",
                    "--date=raw",
                    "--format=%an%x00%ae%x00%ad%x00%B",
                    commit,
                ],
                &[],
            )
            .await?;
        let mut fields = info.splitn(4, '\0');
        let (name, email, date, message) = (
            fields.next().unwrap_or_default(),
            fields.next().unwrap_or_default(),
            fields.next().unwrap_or_default(),
            fields.next().unwrap_or_default(),
        );
        let env = [
            ("GIT_AUTHOR_NAME", name),
            ("GIT_AUTHOR_EMAIL", email),
            ("GIT_AUTHOR_DATE", date),
        ];
        tip = git.commit_tree(&tree, &[&tip], message, &env).await?;
    }
    Ok(Ok(tip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_the_title_the_final_message_and_the_trailer() {
        assert_eq!(
            merge_message("Fix login\nmore", Some("  Fixed it.\n"), "s-1"),
            "Fix login\n\nFixed it.\n\nVibe-Kanban-Session: s-1\n"
        );
        assert_eq!(
            merge_message(" ", None, "s-1"),
            "Agent session\n\nVibe-Kanban-Session: s-1\n"
        );
    }
}
