//! Comment tools (add, list oldest first, edit, delete: the author or an
//! admin) and the activity feed (`list_activity`, newest first), which
//! reads the audit rows every change writes.

use schemars::JsonSchema;
use serde::Deserialize;
use uuid::Uuid;

use super::{
    Effect, Render, ToolContext, ToolDef, ToolError, Toolset,
    args::{checked_count, checked_cursor, checked_text},
    tool,
};
use crate::store::{
    ActivityFilter, ActivityKey, ActivityPage, ActivityScope, Comment, CommentId, CommentKey,
    CommentPage, MAX_COMMENT, Role, page,
};

/// Page size when none is given, and the largest allowed.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 200;
/// Longest actor or action filter.
const MAX_FILTER: usize = 254;

pub(super) fn tools() -> Vec<ToolDef> {
    vec![
        tool(
            "add_comment",
            "Add comment",
            "Comment on a task (markdown).",
            Toolset::Tasks,
            Effect::Create,
            add_comment,
        ),
        tool(
            "list_comments",
            "List comments",
            "A task's comments, oldest first.",
            Toolset::Tasks,
            Effect::Read,
            list_comments,
        ),
        tool(
            "update_comment",
            "Update comment",
            "Edit a comment (its author or an admin).",
            Toolset::Tasks,
            Effect::Update,
            update_comment,
        ),
        tool(
            "delete_comment",
            "Delete comment",
            "Delete a comment (its author or an admin).",
            Toolset::Tasks,
            Effect::Delete,
            delete_comment,
        ),
        tool(
            "list_activity",
            "List activity",
            "Who changed what, newest first.",
            Toolset::Tasks,
            Effect::Read,
            list_activity,
        ),
    ]
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddCommentArgs {
    /// From list_tasks.
    pub task_id: Uuid,
    /// Markdown, at most 20000 characters.
    pub body: String,
}

fn checked_body(body: &str) -> Result<String, ToolError> {
    checked_text("body", body, MAX_COMMENT, true)
}

async fn add_comment(ctx: ToolContext, args: AddCommentArgs) -> Result<Comment, ToolError> {
    let body = checked_body(&args.body)?;
    Ok(ctx
        .store
        .add_comment(&ctx.principal.actor, &args.task_id.into(), &body)
        .await?)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListCommentsArgs {
    /// From list_tasks.
    pub task_id: Uuid,
    /// Default 50.
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_LIMIT))]
    pub limit: Option<u32>,
    /// The last page's `next_cursor`.
    #[serde(default)]
    pub cursor: Option<String>,
}

async fn list_comments(ctx: ToolContext, args: ListCommentsArgs) -> Result<CommentPage, ToolError> {
    let limit = checked_count("limit", args.limit, DEFAULT_LIMIT, MAX_LIMIT, "")?;
    let after = checked_cursor(
        "list_comments",
        args.cursor.as_deref(),
        page::decode::<CommentKey>,
    )?;
    Ok(ctx
        .store
        .list_comments(
            &ctx.principal.actor,
            &args.task_id.into(),
            limit,
            after.as_ref(),
        )
        .await?)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCommentArgs {
    /// From list_comments.
    pub comment_id: Uuid,
    /// The new markdown.
    pub body: String,
}

/// Admins and the owner may change anyone's comment.
fn as_admin(ctx: &ToolContext) -> bool {
    ctx.principal.role >= Role::Admin
}

async fn update_comment(ctx: ToolContext, args: UpdateCommentArgs) -> Result<Comment, ToolError> {
    let body = checked_body(&args.body)?;
    Ok(ctx
        .store
        .update_comment(
            &ctx.principal.actor,
            &CommentId::from(args.comment_id),
            &body,
            as_admin(&ctx),
        )
        .await?)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentIdArgs {
    /// From list_comments.
    pub comment_id: Uuid,
}

async fn delete_comment(ctx: ToolContext, args: CommentIdArgs) -> Result<Comment, ToolError> {
    Ok(ctx
        .store
        .delete_comment(
            &ctx.principal.actor,
            &CommentId::from(args.comment_id),
            as_admin(&ctx),
        )
        .await?)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListActivityArgs {
    /// Only this task.
    #[serde(default)]
    pub task_id: Option<Uuid>,
    /// Only this project.
    #[serde(default)]
    pub project_id: Option<Uuid>,
    /// Email, user id or "me".
    #[serde(default)]
    pub actor: Option<String>,
    /// E.g. update.
    #[serde(default)]
    pub action: Option<String>,
    /// RFC 3339, inclusive.
    #[serde(default)]
    pub since: Option<String>,
    /// RFC 3339, exclusive.
    #[serde(default)]
    pub until: Option<String>,
    /// Default 50.
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_LIMIT))]
    pub limit: Option<u32>,
    /// The last page's `next_cursor`.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// A time argument in the one form the audit rows use (UTC, milliseconds).
/// A bare date is that day's midnight, UTC.
fn checked_time(field: &str, value: Option<&str>) -> Result<Option<String>, ToolError> {
    let Some(text) = value.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let parsed = chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
        })
        .map_err(|_| {
            ToolError::InvalidParams(format!(
                "field `{field}` is '{text}', not a time; give one like 2026-12-01T09:30:00Z (or a date, 2026-12-01)"
            ))
        })?;
    Ok(Some(
        parsed.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    ))
}

async fn list_activity(
    ctx: ToolContext,
    args: ListActivityArgs,
) -> Result<ActivityPage, ToolError> {
    let scope = match (args.task_id, args.project_id) {
        (Some(_), Some(_)) => {
            return Err(ToolError::InvalidParams(
                "give `task_id` or `project_id`, not both (a task's feed is part of its project's)"
                    .to_owned(),
            ));
        }
        (Some(task), None) => ActivityScope::Task(task.into()),
        (None, Some(project)) => ActivityScope::Project(project.into()),
        (None, None) => ActivityScope::Workspace,
    };
    let filter_text = |field: &str, value: Option<&str>| {
        value
            .map(|v| checked_text(field, v, MAX_FILTER, false))
            .transpose()
            .map(|v| v.filter(|v| !v.is_empty()))
    };
    let actor = filter_text("actor", args.actor.as_deref())?.map(|a| {
        if a.eq_ignore_ascii_case("me") {
            ctx.principal.actor.user_id.to_string()
        } else {
            a
        }
    });
    let filter = ActivityFilter {
        scope,
        actor,
        action: filter_text("action", args.action.as_deref())?.map(|a| a.to_lowercase()),
        since: checked_time("since", args.since.as_deref())?,
        until: checked_time("until", args.until.as_deref())?,
        limit: checked_count("limit", args.limit, DEFAULT_LIMIT, MAX_LIMIT, "")?,
        before: checked_cursor(
            "list_activity",
            args.cursor.as_deref(),
            page::decode::<ActivityKey>,
        )?,
    };
    Ok(ctx
        .store
        .list_activity(&ctx.principal.actor, &filter)
        .await?)
}

// Readable text of this area's outputs.

/// One comment as a few lines of text.
pub(super) fn comment_text(comment: &Comment) -> String {
    let author = comment.author.as_deref().unwrap_or("a former member");
    let mut head = format!("{author} at {}", comment.created_at);
    if comment.by_agent {
        head.push_str(&format!(
            " (by the agent of session {})",
            comment
                .session_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default()
        ));
    }
    if let Some(edited) = &comment.edited_at {
        head.push_str(&format!(", edited {edited}"));
    }
    head.push_str(&format!(" [comment {}]", comment.id));
    match &comment.deleted_at {
        Some(deleted) => format!("{head}: deleted at {deleted}\n"),
        None => format!("{head}:\n{}\n", comment.body),
    }
}

impl Render for Comment {
    fn render(&self) -> String {
        format!("On task {}: {}", self.task_id, comment_text(self))
    }
}

impl Render for CommentPage {
    fn render(&self) -> String {
        let mut out = format!(
            "{} of {} comment(s), oldest first:\n",
            self.comments.len(),
            self.total
        );
        for comment in &self.comments {
            out.push_str(&comment_text(comment));
        }
        if let Some(cursor) = &self.next_cursor {
            out.push_str(&format!(
                "More: call list_comments again with cursor \"{cursor}\".\n"
            ));
        }
        out
    }
}

impl Render for ActivityPage {
    fn render(&self) -> String {
        if self.entries.is_empty() {
            return "No activity matches.\n".to_owned();
        }
        let mut out = String::new();
        for entry in &self.entries {
            out.push_str(&format!("- {} {}\n", entry.at, entry.line));
        }
        if let Some(cursor) = &self.next_cursor {
            out.push_str(&format!(
                "More: call list_activity again with cursor \"{cursor}\".\n"
            ));
        }
        out
    }
}
