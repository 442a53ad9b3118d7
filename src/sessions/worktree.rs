//! Git worktrees: each session works on its own branch (`vk/<short-id>-<slug>`)
//! in its own directory, made from the base branch, so agents never touch
//! the project's checkout or each other's work.

use std::path::{Path, PathBuf};

use crate::git::run_git;
pub use crate::git::{GitEnv, GitRun};

/// Where a session's agent works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    pub path: PathBuf,
    /// The session's branch (none without a repository).
    pub branch: Option<String>,
    pub base_branch: Option<String>,
}

/// The short id of a session in names: the last 8 hex digits of its UUID
/// (the random part; the first digits of a v7 UUID are a timestamp).
pub fn short_id(session_id: &str) -> String {
    let hex: String = session_id.chars().filter(char::is_ascii_hexdigit).collect();
    hex[hex.len().saturating_sub(8)..].to_owned()
}

/// A branch-safe slug of a task title: lowercase letters, digits and dashes.
pub fn slug(title: &str) -> String {
    let mut slug = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= 40 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-').to_owned();
    if slug.is_empty() {
        "task".to_owned()
    } else {
        slug
    }
}

/// Whether `name` is acceptable as a branch name given by a caller.
pub fn valid_branch_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && !name.starts_with('/')
        && !name.ends_with('/')
        && !name.ends_with(".lock")
        && !name.contains("..")
        && !name.contains("@{")
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "~^:?*[\\".contains(c))
}

/// Why a session's repository or worktree cannot be used. The messages
/// name the project's `repo_path` and the configuration, never a tool: the
/// tool layer adds how to change the project.
#[derive(Debug, thiserror::Error)]
pub enum WorktreeError {
    #[error("git was not found on PATH; install git to run sessions on a repository")]
    GitMissing,
    #[error("could not run git: {0}")]
    GitSpawn(#[source] std::io::Error),
    #[error("`git {command}` failed: {stderr}")]
    Git { command: String, stderr: String },
    #[error("the project's repo_path {} is not a directory on this machine", .repo.display())]
    NotADirectory { repo: PathBuf },
    #[error("the project's repo_path {} is not a git repository; run `git init` there", .repo.display())]
    NotARepository { repo: PathBuf },
    #[error(
        "the repository {} has no current branch (detached HEAD); pass base_branch",
        .repo.display()
    )]
    DetachedHead { repo: PathBuf },
    #[error(
        "base branch '{base}' does not exist in {} (or has no commits yet); pass an existing base_branch",
        .repo.display()
    )]
    NoBase { base: String, repo: PathBuf },
    #[error(
        "the project's repo_path {} cannot be resolved on this runner ({source}), so it cannot be checked \
         against [sessions] allowed_repo_roots ({roots}); fix the project's repo_path",
        .repo.display()
    )]
    Unresolvable {
        repo: PathBuf,
        roots: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the project's repo_path {}{through} is outside the repository roots this runner accepts \
         ([sessions] allowed_repo_roots: {roots}); move the repository under one of them, point the \
         project's repo_path there, or add its directory to allowed_repo_roots in the runner's configuration",
        .repo.display()
    )]
    OutsideRoots {
        repo: PathBuf,
        /// " (it resolves to …)" when a symlink or `..` moved it.
        through: String,
        roots: String,
    },
    #[error("cannot create {what} {}: {source}", .path.display())]
    CreateDir {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<crate::git::GitError> for WorktreeError {
    fn from(error: crate::git::GitError) -> Self {
        match error {
            crate::git::GitError::Missing => WorktreeError::GitMissing,
            crate::git::GitError::Spawn(e) => WorktreeError::GitSpawn(e),
        }
    }
}

impl WorktreeError {
    /// Whether changing the project's `repo_path` is a way out.
    pub fn is_about_repo_path(&self) -> bool {
        matches!(
            self,
            WorktreeError::NotADirectory { .. }
                | WorktreeError::NotARepository { .. }
                | WorktreeError::Unresolvable { .. }
                | WorktreeError::OutsideRoots { .. }
        )
    }
}

/// Runs git in `dir` (no prompts, no stdin); its trimmed stdout.
pub(super) async fn git(dir: &Path, args: &[&str]) -> Result<String, WorktreeError> {
    let run = run_git(dir, args, GitEnv::default()).await?;
    if run.ok {
        Ok(run.stdout.trim().to_owned())
    } else {
        Err(WorktreeError::Git {
            command: args.join(" "),
            stderr: run.stderr,
        })
    }
}

/// Checks that `repo` is a git repository and `base` (or its current
/// branch) names a commit; returns the base branch to use.
pub async fn resolve_base(repo: &Path, base: Option<&str>) -> Result<String, WorktreeError> {
    let repo_buf = || repo.to_owned();
    if !repo.is_dir() {
        return Err(WorktreeError::NotADirectory { repo: repo_buf() });
    }
    git(repo, &["rev-parse", "--git-dir"])
        .await
        .map_err(|_| WorktreeError::NotARepository { repo: repo_buf() })?;
    let base = match base {
        Some(base) => base.to_owned(),
        None => git(repo, &["symbolic-ref", "--short", "HEAD"])
            .await
            .map_err(|_| WorktreeError::DetachedHead { repo: repo_buf() })?,
    };
    git(
        repo,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{base}^{{commit}}"),
        ],
    )
    .await
    .map_err(|_| WorktreeError::NoBase {
        base: base.clone(),
        repo: repo_buf(),
    })?;
    Ok(base)
}

/// Refuses a repository outside the runner's `allowed_repo_roots` (when
/// set). Both sides are canonicalised first, so neither a symlink nor `..`
/// leads out of an allowed root; a path that cannot be resolved is refused.
pub fn check_repo_root(
    repo: Option<&Path>,
    allowed: Option<&[PathBuf]>,
) -> Result<(), WorktreeError> {
    let (Some(repo), Some(allowed)) = (repo, allowed) else {
        return Ok(());
    };
    let listed = || {
        let roots: Vec<String> = allowed.iter().map(|r| r.display().to_string()).collect();
        if roots.is_empty() {
            "none".to_owned()
        } else {
            roots.join(", ")
        }
    };
    let resolved = std::fs::canonicalize(repo).map_err(|source| WorktreeError::Unresolvable {
        repo: repo.to_owned(),
        roots: listed(),
        source,
    })?;
    let inside = allowed
        .iter()
        .any(|root| std::fs::canonicalize(root).is_ok_and(|root| resolved.starts_with(root)));
    if inside {
        return Ok(());
    }
    let through = if resolved.as_path() == repo {
        String::new()
    } else {
        format!(" (it resolves to {})", resolved.display())
    };
    Err(WorktreeError::OutsideRoots {
        repo: repo.to_owned(),
        through,
        roots: listed(),
    })
}

/// Makes (or finds again, on a follow-up) the directory a session works in.
/// With a repository: a worktree on a new branch from the base branch.
/// Without: a plain directory.
pub async fn prepare(
    root: &Path,
    repo: Option<&Path>,
    session_id: &str,
    task_title: &str,
    base_branch: Option<&str>,
    existing: Option<(&Path, Option<&str>)>,
) -> Result<Workspace, WorktreeError> {
    if let Some((path, branch)) = existing
        && path.is_dir()
    {
        return Ok(Workspace {
            path: path.to_owned(),
            branch: branch.map(str::to_owned),
            base_branch: base_branch.map(str::to_owned),
        });
    }
    let name = format!("{}-{}", short_id(session_id), slug(task_title));
    let path = existing.map_or_else(|| root.join(&name), |(p, _)| p.to_owned());
    tokio::fs::create_dir_all(root)
        .await
        .map_err(|source| WorktreeError::CreateDir {
            what: "the worktree directory",
            path: root.to_owned(),
            source,
        })?;
    let Some(repo) = repo else {
        tokio::fs::create_dir_all(&path)
            .await
            .map_err(|source| WorktreeError::CreateDir {
                what: "the session directory",
                path: path.clone(),
                source,
            })?;
        return Ok(Workspace {
            path,
            branch: None,
            base_branch: None,
        });
    };
    let base = resolve_base(repo, base_branch).await?;
    let path_text = path.to_string_lossy().into_owned();
    let branch = match existing.and_then(|(_, b)| b) {
        // A follow-up whose worktree is gone: check its branch out again.
        Some(branch) => {
            git(repo, &["worktree", "prune"]).await?;
            git(repo, &["worktree", "add", &path_text, branch]).await?;
            branch.to_owned()
        }
        None => {
            let branch = format!("vk/{name}");
            git(repo, &["worktree", "add", "-b", &branch, &path_text, &base]).await?;
            branch
        }
    };
    Ok(Workspace {
        path,
        branch: Some(branch),
        base_branch: Some(base),
    })
}

/// Who the commits of a turn are by (`[sessions] commit_author`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    pub name: String,
    pub email: String,
}

/// The author when the configuration names none.
pub const DEFAULT_AUTHOR: &str = "vibe-kanban-mcp <vibe-kanban-mcp@localhost>";

impl Author {
    /// Reads `Name <email>`; `None` when it is not of that form.
    pub fn parse(text: &str) -> Option<Author> {
        let (name, rest) = text.trim().split_once('<')?;
        let email = rest.strip_suffix('>')?.trim();
        let name = name.trim();
        let bad = |s: &str| s.is_empty() || s.contains(['<', '>', '\n', '\0']);
        (!bad(name) && !bad(email) && email.contains('@')).then(|| Author {
            name: name.to_owned(),
            email: email.to_owned(),
        })
    }
}

/// Git run for a turn's commit or a merge: a clean environment (no
/// variables of an outer git, no user hooks, no signing), `author` as
/// author and committer, `extra` added, so what it writes is the same
/// whatever the runner's user has configured.
pub(super) async fn clean_git(
    dir: &Path,
    author: &Author,
    args: &[&str],
    extra: &[(&str, &str)],
) -> Result<GitRun, WorktreeError> {
    let mut vars = vec![
        ("LC_ALL", "C"),
        ("GIT_AUTHOR_NAME", author.name.as_str()),
        ("GIT_AUTHOR_EMAIL", author.email.as_str()),
        ("GIT_COMMITTER_NAME", author.name.as_str()),
        ("GIT_COMMITTER_EMAIL", author.email.as_str()),
    ];
    vars.extend_from_slice(extra);
    let mut full = vec![
        "-c",
        "core.hooksPath=/dev/null",
        "-c",
        "commit.gpgsign=false",
    ];
    full.extend_from_slice(args);
    let env = GitEnv {
        vars: &vars,
        clean: true,
    };
    Ok(run_git(dir, &full, env).await?)
}

async fn clean_git_ok(dir: &Path, author: &Author, args: &[&str]) -> Result<String, WorktreeError> {
    let run = clean_git(dir, author, args, &[]).await?;
    if run.ok {
        Ok(run.stdout.trim().to_owned())
    } else {
        Err(WorktreeError::Git {
            command: args.join(" "),
            stderr: run.stderr,
        })
    }
}

/// Commits everything a turn changed in the worktree `dir` (untracked files
/// too, except what `.gitignore` ignores) with `message`; the new commit's
/// sha, or `None` when the turn changed nothing.
pub async fn commit_turn(
    dir: &Path,
    author: &Author,
    message: &str,
) -> Result<Option<String>, WorktreeError> {
    clean_git_ok(dir, author, &["add", "--all"]).await?;
    let staged = clean_git(dir, author, &["diff", "--cached", "--quiet"], &[]).await?;
    if staged.ok {
        return Ok(None);
    }
    clean_git_ok(
        dir,
        author,
        &[
            "commit",
            "--quiet",
            "--no-verify",
            "--no-gpg-sign",
            "-m",
            message,
        ],
    )
    .await?;
    clean_git_ok(dir, author, &["rev-parse", "HEAD"])
        .await
        .map(Some)
}

/// The message of a turn's commit: the task title and turn, and the
/// session in a trailer.
pub fn commit_message(task_title: &str, turn: i64, session_id: &str) -> String {
    let title = task_title.lines().next().unwrap_or("").trim();
    let title = if title.is_empty() {
        "Agent session"
    } else {
        title
    };
    format!("{title} (turn {turn})\n\nVibe-Kanban-Session: {session_id}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_and_branch_safe() {
        assert_eq!(short_id("0193a000-0000-7000-8000-00000000abcd"), "0000abcd");
        assert_eq!(
            slug("Fix the *login* bug!! (urgent)"),
            "fix-the-login-bug-urgent"
        );
        assert_eq!(slug("???"), "task");
        assert!(slug(&"x".repeat(100)).len() <= 40);
        assert!(valid_branch_name("main"));
        assert!(valid_branch_name("release/1.2"));
        assert!(!valid_branch_name("-x"));
        assert!(!valid_branch_name("a..b"));
        assert!(!valid_branch_name("a b"));
    }

    #[test]
    fn authors_are_name_and_email() {
        assert_eq!(
            Author::parse(DEFAULT_AUTHOR),
            Some(Author {
                name: "vibe-kanban-mcp".to_owned(),
                email: "vibe-kanban-mcp@localhost".to_owned()
            })
        );
        assert_eq!(
            Author::parse("Ann <ann@example.com>").map(|a| a.name),
            Some("Ann".to_owned())
        );
        for bad in [
            "Ann",
            "<ann@example.com>",
            "Ann <ann>",
            "Ann <a@b",
            "A <a@b> x",
        ] {
            assert_eq!(Author::parse(bad), None, "{bad}");
        }
        assert_eq!(
            commit_message("Fix it\nmore", 2, "s-1"),
            "Fix it (turn 2)\n\nVibe-Kanban-Session: s-1\n"
        );
    }
}
