//! What a session changed: its branch (and, while the worktree is there, its
//! uncommitted and untracked files) against the merge base of the branch and
//! its base branch, so a base that moved on does not show its own changes.
//!
//! The worktree's state is taken without touching its index or files: the
//! real index is copied once to a private index file per session, `git add
//! -A` brings that copy up to the worktree and `git write-tree` names the
//! result. The merge base and that tree (or the branch's commit) are the
//! key of a snapshot: the file list (numstat and name-status, `-z`) with
//! each file's byte offset in the patch, and the unified patch itself,
//! streamed by `git diff` into a file of this process's cache. A page is a
//! seek and a read of that file, so a 20 MB patch is never held in memory
//! and is built once per state of the work, not once per page.

use std::{
    path::{Component, Path, PathBuf},
    process::Stdio,
    sync::Arc,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncSeekExt, AsyncWriteExt, BufReader, BufWriter},
    process::Command,
};

use super::diff_cache::{DiffFile, FileStatus};
use super::{Result, SessionError, Sessions, WorktreeError, diff_cache::Snapshot, host};
use crate::store::{Session, SessionId};

/// What to diff and which page of the patch to read.
#[derive(Debug, Clone)]
pub struct DiffQuery {
    /// Also the worktree's uncommitted and untracked files (when it exists).
    pub include_uncommitted: bool,
    /// One file or directory, relative to the repository root (checked).
    pub path: Option<String>,
    pub cursor: u64,
    pub limit: u64,
    /// Every file in `files`, not only the page's (the diff resource).
    pub all_files: bool,
}

/// A page of a session's diff, with the totals of the whole diff.
#[derive(Debug, Clone)]
pub struct DiffPage {
    pub session: Session,
    /// The merge base of the session's branch and its base branch.
    pub base_commit: String,
    /// The commit the changes are on (the worktree's HEAD, or the branch).
    pub head_commit: String,
    /// Whether uncommitted and untracked files are included.
    pub uncommitted: bool,
    /// Why they are not, when they were asked for.
    pub note: Option<String>,
    pub total_files: u64,
    pub additions: u64,
    pub deletions: u64,
    pub total_bytes: u64,
    /// The files whose sections this page shows (wholly or in part).
    pub files: Vec<DiffFile>,
    pub text: String,
    pub start: u64,
    pub end: u64,
}

/// Checks a `path` argument: relative, inside the repository, no `..`.
/// Returns it normalised (no `./`, no trailing `/`).
pub fn checked_path(path: &str) -> std::result::Result<String, String> {
    let outside = || {
        format!(
            "path '{path}' is outside the repository: give a path relative to the repository root, such as \
             src/main.rs or src/"
        )
    };
    let trimmed = path.trim();
    if trimmed.is_empty() {
        return Err(
            "path is empty: give a file or directory relative to the repository root, or leave \
             it out for the whole diff"
                .to_owned(),
        );
    }
    if trimmed.contains('\0') {
        return Err(format!("path '{path}' contains a NUL byte"));
    }
    let mut parts = Vec::new();
    for component in Path::new(trimmed).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(outside());
            }
        }
    }
    if parts.is_empty() {
        return Err(outside());
    }
    Ok(parts.join("/"))
}

/// Runs git in `dir` with extra environment; its stdout (not trimmed).
async fn git_raw(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &Path)],
) -> std::result::Result<Vec<u8>, WorktreeError> {
    let mut command = Command::new("git");
    command
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .stdin(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().await.map_err(spawn_error)?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(WorktreeError::Git {
            command: args.join(" "),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

async fn git_line(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> Option<String> {
    let out = git_raw(dir, args, env).await.ok()?;
    let line = String::from_utf8_lossy(&out).trim().to_owned();
    (!line.is_empty()).then_some(line)
}

fn spawn_error(e: std::io::Error) -> WorktreeError {
    if e.kind() == std::io::ErrorKind::NotFound {
        WorktreeError::GitMissing
    } else {
        WorktreeError::GitSpawn(e)
    }
}

/// The `git diff` arguments shared by the list and the patch.
fn diff_args<'a>(
    format: &'a [&'a str],
    base: &'a str,
    new: &'a str,
    path: Option<&'a str>,
) -> Vec<&'a str> {
    let mut args = vec!["diff", "--no-color", "--no-ext-diff", "--no-textconv", "-M"];
    args.extend_from_slice(format);
    args.extend([base, new, "--"]);
    if let Some(path) = path {
        args.push(path);
    }
    args
}

/// One `--numstat -z` record: additions and deletions (`None` for binary),
/// the path and the path before a rename.
type NumStat = (Option<u64>, Option<u64>, String, Option<String>);

fn parse_numstat(out: &[u8]) -> Vec<NumStat> {
    let mut records = Vec::new();
    let mut tokens = out.split(|b| *b == 0);
    while let Some(token) = tokens.next() {
        if token.is_empty() {
            continue;
        }
        let text = String::from_utf8_lossy(token);
        let mut fields = text.splitn(3, '\t');
        let (Some(added), Some(deleted), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let (path, old) = if path.is_empty() {
            let old = tokens
                .next()
                .map(|t| String::from_utf8_lossy(t).into_owned());
            let new = tokens
                .next()
                .map(|t| String::from_utf8_lossy(t).into_owned())
                .unwrap_or_default();
            (new, old)
        } else {
            (path.to_owned(), None)
        };
        records.push((added.parse().ok(), deleted.parse().ok(), path, old));
    }
    records
}

/// The status letters of `--name-status -z`, in order.
fn parse_name_status(out: &[u8]) -> Vec<u8> {
    let mut letters = Vec::new();
    let mut tokens = out.split(|b| *b == 0);
    while let Some(token) = tokens.next() {
        let Some(&letter) = token.first() else {
            continue;
        };
        letters.push(letter);
        // Renames and copies name two paths; the others one.
        let paths = if matches!(letter, b'R' | b'C') { 2 } else { 1 };
        for _ in 0..paths {
            tokens.next();
        }
    }
    letters
}

fn status_of(letter: u8, binary: bool, renamed: bool) -> FileStatus {
    if binary {
        return FileStatus::Binary;
    }
    match letter {
        b'A' => FileStatus::Added,
        b'D' => FileStatus::Deleted,
        b'R' | b'C' if renamed => FileStatus::Renamed,
        _ => FileStatus::Modified,
    }
}

/// Streams `git diff` into `file`; returns its size and the offset of each
/// file's `diff --git` header, in order.
async fn write_patch(dir: &Path, args: &[&str], file: &Path) -> Result<(u64, Vec<u64>)> {
    let mut child = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(spawn_error)?;
    let (Some(stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(
            WorktreeError::GitSpawn(std::io::Error::other("git diff has no output pipes")).into(),
        );
    };
    let errors = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    let io = |e: std::io::Error| {
        SessionError::Diff(format!("cannot write the patch to {}: {e}", file.display()))
    };
    let mut out =
        BufWriter::with_capacity(256 * 1024, tokio::fs::File::create(file).await.map_err(io)?);
    let mut reader = BufReader::with_capacity(256 * 1024, stdout);
    let mut line = Vec::with_capacity(4096);
    let mut offsets = Vec::new();
    let mut size = 0u64;
    loop {
        line.clear();
        let read = reader.read_until(b'\n', &mut line).await.map_err(io)?;
        if read == 0 {
            break;
        }
        if line.starts_with(b"diff --git ") {
            offsets.push(size);
        }
        out.write_all(&line).await.map_err(io)?;
        size += read as u64;
    }
    out.flush().await.map_err(io)?;
    let status = child.wait().await.map_err(spawn_error)?;
    if !status.success() {
        return Err(WorktreeError::Git {
            command: args.join(" "),
            stderr: errors.await.unwrap_or_default().trim().to_owned(),
        }
        .into());
    }
    Ok((size, offsets))
}

/// Where a session's work is on this machine.
struct Place {
    /// Where git runs: the worktree, or (archived) the repository.
    dir: PathBuf,
    worktree: bool,
}

impl Sessions {
    /// A page of what `session_id` changed against its base.
    pub async fn diff(
        &self,
        actor: &crate::store::Actor,
        session_id: &SessionId,
        query: &DiffQuery,
    ) -> Result<DiffPage> {
        let (session, repo) = self
            .inner
            .store
            .session_with_repo(actor, session_id)
            .await?;
        let place = self.place(&session, repo.as_deref())?;
        let cache = &self.inner.diffs;
        let lock = cache.lock_of(session_id);
        let _one_at_a_time = lock.lock().await;
        let dir = place.dir.as_path();
        let head_ref = if place.worktree {
            "HEAD".to_owned()
        } else {
            session.branch.clone().unwrap_or_default()
        };
        let base_branch = session.base_branch.clone().unwrap_or_default();
        let head_spec = format!("{head_ref}^{{commit}}");
        let worktree_tree = query.include_uncommitted && place.worktree;
        // Three git processes at once: the head, the merge base, and the
        // worktree's tree (the one that looks at every file).
        let head_args = ["rev-parse", "--verify", "--quiet", head_spec.as_str()];
        let base_args = ["merge-base", base_branch.as_str(), head_spec.as_str()];
        let (head, base, tree) = tokio::join!(
            git_line(dir, &head_args, &[]),
            git_line(dir, &base_args, &[]),
            async {
                if worktree_tree {
                    Some(self.worktree_tree(session_id, dir).await)
                } else {
                    None
                }
            }
        );
        let Some(head) = head else {
            return Err(SessionError::BranchGone {
                session_id: session_id.clone(),
                branch: head_ref,
            });
        };
        let Some(base) = base else {
            return Err(SessionError::BaseGone {
                session_id: session_id.clone(),
                base: base_branch,
            });
        };
        let (new, uncommitted, note) = match tree {
            Some(tree) => (tree?, true, None),
            None if query.include_uncommitted => {
                let note = "the worktree is gone (archived): these are the branch's committed changes only";
                (head.clone(), false, Some(note.to_owned()))
            }
            None => (head.clone(), false, None),
        };
        let pathspec = query.path.as_deref().map(|p| format!(":(literal){p}"));
        let key = format!(
            "{session_id}-{base}-{new}-{}",
            query.path.as_deref().map(short_hash).unwrap_or_default()
        );
        let snapshot = match cache.get(&key) {
            Some(snapshot) => snapshot,
            None => {
                let snapshot = Arc::new(
                    self.snapshot(dir, &key, &base, &new, pathspec.as_deref())
                        .await?,
                );
                cache.insert(key, Arc::clone(&snapshot));
                snapshot
            }
        };
        if query.cursor > snapshot.total_bytes {
            return Err(SessionError::CursorPastEnd {
                cursor: query.cursor,
                total: snapshot.total_bytes,
            });
        }
        let (text, end) = read_page(
            &snapshot.patch,
            query.cursor,
            query.limit,
            snapshot.total_bytes,
        )
        .await?;
        let files = if query.all_files {
            snapshot.files.clone()
        } else {
            page_files(&snapshot, query.cursor, end)
        };
        Ok(DiffPage {
            session,
            base_commit: base,
            head_commit: head,
            uncommitted,
            note,
            total_files: snapshot.files.len() as u64,
            additions: snapshot.additions,
            deletions: snapshot.deletions,
            total_bytes: snapshot.total_bytes,
            files,
            text,
            start: query.cursor,
            end,
        })
    }

    /// Where the session's work is on this machine, or why it is not.
    fn place(&self, session: &Session, repo: Option<&str>) -> Result<Place> {
        let session_id = &session.id;
        if session.branch.is_none() {
            return Err(if repo.is_none() {
                SessionError::NoRepository {
                    session_id: session_id.clone(),
                }
            } else {
                SessionError::NoBranchYet {
                    session_id: session_id.clone(),
                    status: session.status,
                }
            });
        }
        if let Some(worktree) = session.worktree_path.as_deref().map(Path::new)
            && worktree.is_dir()
        {
            return Ok(Place {
                dir: worktree.to_owned(),
                worktree: true,
            });
        }
        if let Some(repo) = repo.map(Path::new)
            && repo.is_dir()
        {
            return Ok(Place {
                dir: repo.to_owned(),
                worktree: false,
            });
        }
        Err(SessionError::WorkElsewhere {
            session_id: session_id.clone(),
            host: session
                .runner_host
                .clone()
                .filter(|h| *h != host::host_name())
                .unwrap_or_else(|| "this machine, where the repository is gone".to_owned()),
        })
    }

    /// The tree of the worktree as it is now, uncommitted and untracked
    /// files included, through the session's private index.
    pub(super) async fn worktree_tree(
        &self,
        session_id: &SessionId,
        worktree: &Path,
    ) -> Result<String> {
        let cache = &self.inner.diffs;
        let index = cache.index_of(session_id);
        tokio::fs::create_dir_all(&cache.dir).await.map_err(|e| {
            SessionError::Diff(format!("cannot create {}: {e}", cache.dir.display()))
        })?;
        if !index.exists() {
            // A copy of the real index knows the files' stat data, so `add
            // -A` hashes only what changed; without one, start from HEAD.
            let real = git_line(
                worktree,
                &["rev-parse", "--path-format=absolute", "--git-path", "index"],
                &[],
            )
            .await;
            let copied = match real {
                Some(real) => tokio::fs::copy(&real, &index).await.is_ok(),
                None => false,
            };
            if !copied {
                git_raw(
                    worktree,
                    &["read-tree", "HEAD"],
                    &[("GIT_INDEX_FILE", &index)],
                )
                .await?;
            }
        }
        let env = [("GIT_INDEX_FILE", index.as_path())];
        git_raw(worktree, &["add", "-A", "--ignore-errors"], &env).await?;
        let tree = git_raw(worktree, &["write-tree"], &env).await?;
        Ok(String::from_utf8_lossy(&tree).trim().to_owned())
    }

    /// Builds the file list and the patch of `base`..`new`.
    async fn snapshot(
        &self,
        dir: &Path,
        key: &str,
        base: &str,
        new: &str,
        path: Option<&str>,
    ) -> Result<Snapshot> {
        let cache = &self.inner.diffs;
        tokio::fs::create_dir_all(&cache.dir).await.map_err(|e| {
            SessionError::Diff(format!("cannot create {}: {e}", cache.dir.display()))
        })?;
        let patch = cache.dir.join(format!("{}.patch", short_hash(key)));
        let numstat_args = diff_args(&["--numstat", "-z"], base, new, path);
        let status_args = diff_args(&["--name-status", "-z"], base, new, path);
        let patch_args = diff_args(&[], base, new, path);
        let (numstat, statuses, written) = tokio::join!(
            git_raw(dir, &numstat_args, &[]),
            git_raw(dir, &status_args, &[]),
            write_patch(dir, &patch_args, &patch),
        );
        let (numstat, statuses) = (parse_numstat(&numstat?), parse_name_status(&statuses?));
        let (total_bytes, offsets) = written?;
        let snapshot_files = numstat
            .into_iter()
            .enumerate()
            .map(|(i, (added, deleted, path, old_path))| {
                let binary = added.is_none() || deleted.is_none();
                let letter = statuses.get(i).copied().unwrap_or(b'M');
                DiffFile {
                    status: status_of(letter, binary, old_path.is_some()),
                    path,
                    old_path,
                    additions: added.unwrap_or(0),
                    deletions: deleted.unwrap_or(0),
                    // The patch has one header per file, in the same order.
                    offset: offsets.get(i).copied().unwrap_or(total_bytes),
                }
            })
            .collect::<Vec<_>>();
        Ok(Snapshot {
            patch,
            additions: snapshot_files.iter().map(|f| f.additions).sum(),
            deletions: snapshot_files.iter().map(|f| f.deletions).sum(),
            files: snapshot_files,
            total_bytes,
        })
    }
}

/// A short, stable name for a text (file names of the cache).
fn short_hash(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(text.as_bytes())[..12])
}

/// Reads up to `limit` bytes of the patch from `start`, ending after the
/// last whole line that fits (or, for one longer line, at a character
/// boundary). Returns the text and where the next page starts.
async fn read_page(patch: &Path, start: u64, limit: u64, total: u64) -> Result<(String, u64)> {
    let want = limit.min(total - start);
    if want == 0 {
        return Ok((String::new(), start));
    }
    let io = |e: std::io::Error| {
        SessionError::Diff(format!("cannot read the patch {}: {e}", patch.display()))
    };
    let mut file = tokio::fs::File::open(patch).await.map_err(io)?;
    file.seek(std::io::SeekFrom::Start(start))
        .await
        .map_err(io)?;
    let mut bytes = vec![0; usize::try_from(want).unwrap_or(usize::MAX)];
    file.read_exact(&mut bytes).await.map_err(io)?;
    if start + want < total {
        let cut = match bytes.iter().rposition(|b| *b == b'\n') {
            Some(newline) => newline + 1,
            None => utf8_prefix(&bytes),
        };
        bytes.truncate(cut);
    }
    let end = start + bytes.len() as u64;
    Ok((String::from_utf8_lossy(&bytes).into_owned(), end))
}

/// The longest prefix of `bytes` that does not end inside a UTF-8 sequence.
fn utf8_prefix(bytes: &[u8]) -> usize {
    let len = bytes.len();
    for back in 1..=3.min(len) {
        let width = match bytes[len - back] {
            0x00..=0x7f => return len,
            0x80..=0xbf => continue,
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            _ => 4,
        };
        return if width > back { len - back } else { len };
    }
    len
}

/// The files whose sections overlap `[start, end)`.
fn page_files(snapshot: &Snapshot, start: u64, end: u64) -> Vec<DiffFile> {
    let files = &snapshot.files;
    // The last file whose section starts at or before `start`.
    let first = files
        .partition_point(|f| f.offset <= start)
        .saturating_sub(1);
    files[first..]
        .iter()
        .enumerate()
        .take_while(|(_, f)| f.offset < end)
        .filter(|(i, _)| {
            let next = files
                .get(first + i + 1)
                .map_or(snapshot.total_bytes, |g| g.offset);
            next > start
        })
        .map(|(_, f)| f.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_outside_the_repository_are_refused() {
        assert_eq!(checked_path("src/main.rs").as_deref(), Ok("src/main.rs"));
        assert_eq!(checked_path("./src/").as_deref(), Ok("src"));
        for bad in ["../x", "/etc/passwd", "src/../../x", ".", ""] {
            assert!(checked_path(bad).is_err(), "{bad}");
        }
        assert!(
            checked_path("../x")
                .expect_err("outside")
                .contains("outside the repository")
        );
    }

    #[test]
    fn numstat_and_name_status_records_parse() {
        let numstat = b"1\t2\ta.txt\0-\t-\timg.png\0" as &[u8];
        let mut renamed = numstat.to_vec();
        renamed.extend_from_slice(b"3\t0\t\0old.rs\0new.rs\0");
        let parsed = parse_numstat(&renamed);
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[0], (Some(1), Some(2), "a.txt".to_owned(), None));
        assert_eq!(parsed[1], (None, None, "img.png".to_owned(), None));
        assert_eq!(
            parsed[2],
            (
                Some(3),
                Some(0),
                "new.rs".to_owned(),
                Some("old.rs".to_owned())
            )
        );
        assert_eq!(
            parse_name_status(b"M\0a.txt\0A\0img.png\0R090\0old.rs\0new.rs\0D\0gone\0"),
            b"MARD"
        );
    }
}
