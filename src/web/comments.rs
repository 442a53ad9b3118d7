//! A task page's discussion: its comments (oldest first, paged, markdown
//! rendered by the same safe renderer as descriptions, with author, time,
//! edited and agent markers), the form to add one, edit and delete for the
//! author or an admin, and the task's activity feed (newest first, one line
//! each). Everything goes through the comment tools (`list_comments`,
//! `add_comment`, `update_comment`, `delete_comment`, `list_activity`) as
//! the signed-in principal, so the tools' own checks decide.
//!
//! Live: the page listens to its project's board events (the board's
//! version covers comments too) and fetches `GET /t/{task}/discussion`
//! again when something changed.

use std::sync::Arc;

use axum::{
    Form,
    extract::{Path, Query, State},
    http::HeaderMap,
    response::{Html, IntoResponse, Redirect, Response},
};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    avatars::{self, People},
    error::WebError,
    render,
    signin::{Signed, check_csrf},
    state::Web,
};
use crate::store::{ActivityPage, Comment, CommentPage, Role, Task, TaskDetail};

/// Comments per page, and activity lines per page.
const COMMENTS_PER_PAGE: u32 = 50;
const ACTIVITY_PER_PAGE: u32 = 20;

/// Where the task page's lists start (cursors of the tools).
#[derive(Debug, Default, Deserialize)]
pub struct Paging {
    /// `list_comments`'s cursor: the comments after it.
    #[serde(default)]
    pub comments: Option<String>,
    /// `list_activity`'s cursor: the entries older than it.
    #[serde(default)]
    pub activity: Option<String>,
}

/// The discussion of `task` as the task page draws it: the live part
/// (comments and activity) and, for those who may comment, the form.
pub async fn section(
    web: &Web,
    signed: &Signed,
    task: &Task,
    people: &People,
    paging: &Paging,
) -> Result<Markup, WebError> {
    let version = web
        .live
        .version(&signed.principal.actor, &task.project_id)
        .await?;
    let lists = lists(web, signed, task, people, paging).await?;
    let can_comment = web.calls.may(&signed.principal, "add_comment");
    Ok(html! {
        section class="discussion" aria-labelledby="comments-h" {
            div id="discussion" data-task=(task.id) data-project=(task.project_id) data-version=(version)
                data-query=(query_of(paging)) {
                (lists)
            }
            @if can_comment {
                form method="post" action={ "/t/" (task.id) "/comments" } class="stack comment-form" {
                    input type="hidden" name="_csrf" value=(signed.csrf);
                    label for="comment-body" { "Add a comment (markdown)" }
                    textarea id="comment-body" name="body" rows="4" required maxlength="20000" {}
                    button type="submit" { "Comment" }
                }
            }
        }
    })
}

fn query_of(paging: &Paging) -> String {
    let mut parts = Vec::new();
    if let Some(c) = &paging.comments {
        parts.push(format!("comments={}", render::urlencode(c)));
    }
    if let Some(a) = &paging.activity {
        parts.push(format!("activity={}", render::urlencode(a)));
    }
    parts.join("&")
}

/// A stored time (`2026-12-01T09:30:00.000Z`) as people read it.
fn when(at: &str) -> String {
    match at.get(..16) {
        Some(minute) => format!("{} UTC", minute.replace('T', " ")),
        None => at.to_owned(),
    }
}

/// The comments and the activity of a task (the part that refreshes live).
async fn lists(
    web: &Web,
    signed: &Signed,
    task: &Task,
    people: &People,
    paging: &Paging,
) -> Result<Markup, WebError> {
    let mut args = json!({"task_id": task.id, "limit": COMMENTS_PER_PAGE});
    if let Some(cursor) = &paging.comments {
        args["cursor"] = json!(cursor);
    }
    let comments = web
        .calls
        .call::<CommentPage>(&signed.principal, "list_comments", args)
        .await?
        .value;
    let mut args = json!({"task_id": task.id, "limit": ACTIVITY_PER_PAGE});
    if let Some(cursor) = &paging.activity {
        args["cursor"] = json!(cursor);
    }
    let activity = web
        .calls
        .call::<ActivityPage>(&signed.principal, "list_activity", args)
        .await?
        .value;
    let me = signed.principal.actor.user_id.as_str();
    let admin = signed.principal.is_at_least(Role::Admin);
    let may_edit = web.calls.may(&signed.principal, "update_comment");
    let may_delete = web.calls.may(&signed.principal, "delete_comment");
    let page_of = |comments: Option<&str>, activity: Option<&str>| {
        let paging = Paging {
            comments: comments.map(str::to_owned),
            activity: activity.map(str::to_owned),
        };
        let query = query_of(&paging);
        if query.is_empty() {
            format!("/t/{}", task.id)
        } else {
            format!("/t/{}?{query}", task.id)
        }
    };
    Ok(html! {
        h2 id="comments-h" { "Comments " span class="count" { (comments.total) } }
        @if comments.comments.is_empty() {
            p class="muted" { @if paging.comments.is_some() { "No more comments." } @else { "No comments yet." } }
        }
        ol class="comments" {
            @for c in &comments.comments {
                @let mine = c.author_id.as_ref().is_some_and(|a| a.as_str() == me);
                @let editable = c.deleted_at.is_none() && (mine || admin);
                li class="comment" id={ "c-" (c.id) } {
                    (comment_head(c, people))
                    @if c.deleted_at.is_some() {
                        p class="muted" { "This comment was deleted." }
                    } @else {
                        div class="comment-body" { (render::markdown(&c.body)) }
                    }
                    @if editable && may_edit {
                        details class="comment-edit" {
                            summary { "Edit" }
                            form method="post" action={ "/c/" (c.id) } class="stack" {
                                input type="hidden" name="_csrf" value=(signed.csrf);
                                label for={ "edit-" (c.id) } { "Comment (markdown)" }
                                textarea id={ "edit-" (c.id) } name="body" rows="4" required maxlength="20000" { (c.body) }
                                button type="submit" { "Save comment" }
                            }
                        }
                    }
                    @if editable && may_delete {
                        form method="post" action={ "/c/" (c.id) "/delete" } class="inline comment-delete" {
                            input type="hidden" name="_csrf" value=(signed.csrf);
                            button type="submit" class="danger" aria-label={ "Delete the comment of " (author_name(c, people)) " from " (when(&c.created_at)) } { "Delete" }
                        }
                    }
                }
            }
        }
        @if paging.comments.is_some() || comments.next_cursor.is_some() {
            nav class="pager" aria-label="Comment pages" {
                @if paging.comments.is_some() {
                    a href=(page_of(None, paging.activity.as_deref())) { "First comments" }
                }
                @if let Some(next) = &comments.next_cursor {
                    a href=(page_of(Some(next), paging.activity.as_deref())) { "Later comments" }
                }
            }
        }
        h2 id="activity-h" { "Activity" }
        @if activity.entries.is_empty() { p class="muted" { "No activity yet." } }
        ol class="activity" aria-labelledby="activity-h" {
            @for e in &activity.entries {
                li { time datetime=(e.at) { (when(&e.at)) } " " (e.line) }
            }
        }
        @if paging.activity.is_some() || activity.next_cursor.is_some() {
            nav class="pager" aria-label="Activity pages" {
                @if paging.activity.is_some() {
                    a href=(page_of(paging.comments.as_deref(), None)) { "Newest activity" }
                }
                @if let Some(next) = &activity.next_cursor {
                    a href=(page_of(paging.comments.as_deref(), Some(next))) { "Older activity" }
                }
            }
        }
    })
}

fn author_name<'a>(c: &'a Comment, people: &'a People) -> &'a str {
    match (&c.author_id, &c.author) {
        (Some(id), _) if people.get(id.as_str()).is_some() => people.name(id.as_str()),
        (_, Some(email)) => email,
        _ => "a former member",
    }
}

/// Who wrote a comment and when, and whether it was edited or written by
/// an agent.
fn comment_head(c: &Comment, people: &People) -> Markup {
    html! {
        p class="comment-head" {
            @if let Some(id) = &c.author_id { (people.face(id.as_str(), false)) " " }
            strong class="author" { (author_name(c, people)) }
            " "
            time datetime=(c.created_at) class="muted" { (when(&c.created_at)) }
            @if c.by_agent {
                " "
                span class="badge agent" title="Written by a coding agent, in its member's name" {
                    @match &c.session_id {
                        Some(s) => { a href={ "/s/" (s) } { "agent" } }
                        None => { "agent" }
                    }
                }
            }
            @if let Some(edited) = &c.edited_at {
                " " span class="muted edited" title={ "Edited " (when(edited)) } { "(edited)" }
            }
        }
    }
}

/// `GET /t/{task}/discussion`: the comments and activity alone, for the
/// live refresh.
pub async fn fragment(
    State(web): State<Arc<Web>>,
    signed: Signed,
    Path(task_id): Path<String>,
    Query(paging): Query<Paging>,
) -> Result<Response, WebError> {
    let task = web
        .calls
        .call::<TaskDetail>(&signed.principal, "get_task", json!({"task_id": task_id}))
        .await?
        .value
        .task;
    let people = avatars::people(&web, &signed).await;
    let lists = lists(&web, &signed, &task, &people, &paging).await?;
    Ok(Html(lists.into_string()).into_response())
}

#[derive(Deserialize)]
pub struct CommentForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    body: String,
}

/// `POST /t/{task}/comments`: add_comment.
pub async fn add(
    State(web): State<Arc<Web>>,
    signed: Signed,
    headers: HeaderMap,
    Path(task_id): Path<String>,
    Form(form): Form<CommentForm>,
) -> Result<Response, WebError> {
    check_csrf(&signed, &headers, Some(&form.csrf))?;
    let comment = web
        .calls
        .call::<Comment>(
            &signed.principal,
            "add_comment",
            json!({"task_id": task_id, "body": form.body}),
        )
        .await?
        .value;
    Ok(Redirect::to(&format!("/t/{task_id}#c-{}", comment.id)).into_response())
}

/// `POST /c/{comment}`: update_comment (the author, or an admin).
pub async fn edit(
    State(web): State<Arc<Web>>,
    signed: Signed,
    headers: HeaderMap,
    Path(comment_id): Path<String>,
    Form(form): Form<CommentForm>,
) -> Result<Response, WebError> {
    check_csrf(&signed, &headers, Some(&form.csrf))?;
    let comment = web
        .calls
        .call::<Comment>(
            &signed.principal,
            "update_comment",
            json!({"comment_id": comment_id, "body": form.body}),
        )
        .await?
        .value;
    Ok(Redirect::to(&format!("/t/{}#c-{}", comment.task_id, comment.id)).into_response())
}

/// `POST /c/{comment}/delete`: delete_comment (the author, or an admin).
pub async fn delete(
    State(web): State<Arc<Web>>,
    signed: Signed,
    headers: HeaderMap,
    Path(comment_id): Path<String>,
    Form(form): Form<CommentForm>,
) -> Result<Response, WebError> {
    check_csrf(&signed, &headers, Some(&form.csrf))?;
    let comment = web
        .calls
        .call::<Value>(
            &signed.principal,
            "delete_comment",
            json!({"comment_id": comment_id}),
        )
        .await?
        .value;
    let task = comment["task_id"].as_str().unwrap_or_default();
    Ok(Redirect::to(&format!("/t/{task}#comments-h")).into_response())
}
