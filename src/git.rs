//! The one place a git process of this crate starts: session worktrees and
//! their commits ([`crate::sessions::worktree`]), merges
//! ([`crate::sessions::merge`]) and pushes ([`crate::github`]) all run git
//! through [`run_git`]. It depends on nothing else in the crate, so both
//! sides can use it.

use std::path::Path;

use tokio::process::Command;

/// git could not be started at all.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("git was not found on PATH; install git to run sessions on a repository")]
    Missing,
    #[error("could not run git: {0}")]
    Spawn(#[source] std::io::Error),
}

/// How a git process starts, beyond its directory and arguments.
#[derive(Debug, Clone, Copy, Default)]
pub struct GitEnv<'a> {
    /// Added to its environment: an author, or credentials for one push
    /// (the environment is this child's alone: never argv, never a config
    /// file).
    pub vars: &'a [(&'a str, &'a str)],
    /// Start from an empty environment (PATH, HOME and TMPDIR kept), so
    /// the user's `GIT_*` variables cannot change what runs.
    pub clean: bool,
}

/// One finished git process.
#[derive(Debug, Clone)]
pub struct GitRun {
    pub ok: bool,
    pub code: Option<i32>,
    pub stdout: String,
    /// Trimmed.
    pub stderr: String,
}

/// Runs git in `dir` with `env` (no prompts, no stdin): the one place a
/// git process of this crate starts.
pub async fn run_git(dir: &Path, args: &[&str], env: GitEnv<'_>) -> Result<GitRun, GitError> {
    let mut command = Command::new("git");
    if env.clean {
        command.env_clear();
        for key in ["PATH", "HOME", "TMPDIR"] {
            if let Some(value) = std::env::var_os(key) {
                command.env(key, value);
            }
        }
    }
    command.env("GIT_TERMINAL_PROMPT", "0");
    for (key, value) in env.vars {
        command.env(key, value);
    }
    let output = command
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                GitError::Missing
            } else {
                GitError::Spawn(e)
            }
        })?;
    Ok(GitRun {
        ok: output.status.success(),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
    })
}
