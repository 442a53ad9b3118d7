//! Reviewing and cleaning up a session's work: `get_session_diff` (what the
//! agent changed, paged like `read_execution_log`) needs `read`;
//! `archive_session` (remove a finished session's worktree) needs
//! `sessions`.

use rmcp::model::ContentBlock;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    Effect, Render, ToolContext, ToolDef, ToolError, Toolset, args::checked_count,
    sessions::service, tool,
};
use crate::{
    auth::Scope,
    sessions::{DiffFile, DiffQuery, diff::checked_path},
    store::SessionId,
};

/// Default and largest page of the patch, in bytes.
const DEFAULT_DIFF_BYTES: u64 = 64 * 1024;
const MAX_DIFF_BYTES: u64 = crate::logs::MAX_READ_BYTES;

pub(super) fn tools() -> Vec<ToolDef> {
    vec![
        tool(
            "get_session_diff",
            "Get session diff",
            "What a session changed since it branched: totals, this page's files, then the patch, paged by \
             byte `cursor`.",
            Toolset::Sessions,
            Effect::Read,
            get_session_diff,
        ),
        tool(
            "archive_session",
            "Archive agent session",
            "Remove a finished session's worktree, losing uncommitted work; its branch stays.",
            Toolset::Sessions,
            Effect::Delete,
            archive_session,
        )
        .scope(Scope::Sessions),
    ]
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiffArgs {
    /// From start_session or list_sessions.
    pub session_id: Uuid,
    /// A repo-relative file or directory.
    #[serde(default)]
    pub path: Option<String>,
    /// Default true: add uncommitted, untracked files.
    #[serde(default)]
    pub include_uncommitted: Option<bool>,
    /// 0, a `next_cursor` or a file `offset`.
    #[serde(default)]
    pub cursor: Option<u64>,
    /// Bytes, default 65536.
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_DIFF_BYTES))]
    pub limit: Option<u64>,
}

/// A page of a session's diff and the totals of the whole diff.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DiffPageOut {
    #[serde(skip)]
    pub session_id: SessionId,
    #[serde(skip)]
    pub base_branch: Option<String>,
    pub base_commit: String,
    #[serde(skip)]
    pub head_commit: String,
    /// Whether the worktree's uncommitted and untracked files are in.
    pub uncommitted: bool,
    pub total_files: u64,
    pub additions: u64,
    pub deletions: u64,
    pub total_bytes: u64,
    /// The files this page shows, each with its section's offset.
    pub files: Vec<DiffFile>,
    /// The patch, sent once as the second content block.
    #[serde(skip)]
    pub text: String,
    #[serde(skip)]
    pub note: Option<String>,
    #[serde(skip)]
    pub start: u64,
    pub next_cursor: u64,
}

async fn get_session_diff(ctx: ToolContext, args: DiffArgs) -> Result<DiffPageOut, ToolError> {
    let limit = checked_count(
        "limit",
        args.limit,
        DEFAULT_DIFF_BYTES,
        MAX_DIFF_BYTES,
        " bytes",
    )?;
    let path = args
        .path
        .as_deref()
        .map(checked_path)
        .transpose()
        .map_err(ToolError::InvalidParams)?;
    let query = DiffQuery {
        include_uncommitted: args.include_uncommitted.unwrap_or(true),
        path,
        cursor: args.cursor.unwrap_or(0),
        limit,
        all_files: false,
    };
    let session_id = SessionId::from(args.session_id);
    let page = service(&ctx)?
        .diff(&ctx.principal.actor, &session_id, &query)
        .await?;
    Ok(DiffPageOut {
        session_id,
        base_branch: page.session.base_branch,
        base_commit: page.base_commit,
        head_commit: page.head_commit,
        uncommitted: page.uncommitted,
        total_files: page.total_files,
        additions: page.additions,
        deletions: page.deletions,
        total_bytes: page.total_bytes,
        files: page.files,
        text: page.text,
        note: page.note,
        start: page.start,
        next_cursor: page.end,
    })
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArchiveArgs {
    /// A finished session.
    pub session_id: Uuid,
    /// Also delete its branch.
    #[serde(default)]
    pub delete_branch: bool,
}

/// What archiving did.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ArchiveOut {
    #[serde(skip)]
    pub session_id: SessionId,
    pub archived_at: Option<String>,
    #[serde(skip)]
    pub worktree_removed: bool,
    pub worktree_exists: bool,
    #[serde(skip)]
    pub branch: Option<String>,
    pub branch_deleted: bool,
}

async fn archive_session(ctx: ToolContext, args: ArchiveArgs) -> Result<ArchiveOut, ToolError> {
    let sessions = service(&ctx)?;
    let archived = sessions
        .archive(
            &ctx.principal.actor,
            &args.session_id.into(),
            args.delete_branch,
        )
        .await?;
    Ok(ArchiveOut {
        worktree_exists: sessions.worktree_exists(&archived.session),
        session_id: archived.session.id,
        archived_at: archived.session.archived_at,
        worktree_removed: archived.worktree_removed,
        branch: archived.session.branch,
        branch_deleted: archived.branch_deleted,
    })
}

// Readable text of this area's outputs.

impl Render for DiffPageOut {
    /// The totals and this page's files (the patch follows as its own block).
    fn render(&self) -> String {
        let mut out = format!(
            "Session {} changed {} file(s), +{} -{}, against {} (merge base {}); head {}{}.\n",
            self.session_id,
            self.total_files,
            self.additions,
            self.deletions,
            self.base_branch.as_deref().unwrap_or("its base"),
            short(&self.base_commit),
            short(&self.head_commit),
            if self.uncommitted {
                " plus uncommitted and untracked files"
            } else {
                ""
            }
        );
        if let Some(note) = &self.note {
            out.push_str(&format!("Note: {note}.\n"));
        }
        if !self.files.is_empty() {
            out.push_str("Files on this page (offset = cursor of its section):\n");
            for f in &self.files {
                let status = serde_json::to_value(f.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                out.push_str(&format!(
                    "- {status} {}{} (+{} -{}) @{}\n",
                    f.old_path
                        .as_deref()
                        .map(|old| format!("{old} -> "))
                        .unwrap_or_default(),
                    f.path,
                    f.additions,
                    f.deletions,
                    f.offset
                ));
            }
        }
        out.push_str(&format!(
            "[patch bytes {}-{} of {}{}]",
            self.start,
            self.next_cursor,
            self.total_bytes,
            if self.next_cursor < self.total_bytes {
                format!("; more: call again with cursor {}", self.next_cursor)
            } else {
                "; end of the diff".to_owned()
            }
        ));
        out
    }

    /// The totals first, then the patch text as it is.
    fn into_content(mut self) -> Vec<ContentBlock> {
        let summary = self.render();
        vec![
            ContentBlock::text(summary),
            ContentBlock::text(std::mem::take(&mut self.text)),
        ]
    }
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

impl Render for ArchiveOut {
    fn render(&self) -> String {
        let mut out = format!(
            "Session {} archived{}: worktree {}.",
            self.session_id,
            self.archived_at
                .as_deref()
                .map(|at| format!(" at {at}"))
                .unwrap_or_default(),
            if self.worktree_removed {
                "removed"
            } else if self.worktree_exists {
                "still there"
            } else {
                "already gone"
            }
        );
        match (&self.branch, self.branch_deleted) {
            (Some(branch), true) => out.push_str(&format!(" Branch {branch} deleted.")),
            (Some(branch), false) => out.push_str(&format!(
                " Branch {branch} kept: get_session_diff still shows its committed changes."
            )),
            (None, _) => {}
        }
        out
    }
}
