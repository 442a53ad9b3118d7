//! The session buttons of the task and session pages: start, stop,
//! follow-up, approve or deny, merge, open a pull request. Each is a form
//! POST with the CSRF token that becomes the tool call an MCP client would
//! make (`run_tool` as the signed-in principal: the tool's own scope,
//! validation and audit row). A form post is answered with a redirect back
//! to the page, which then shows the tool's reply or its error once (a
//! notice kept for that browser session and page: reloading does not post
//! again). Who may press what is [`Buttons`]: the caller's scopes and the
//! session's state.

use std::sync::Arc;

use axum::{
    Form,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    calls::Reply,
    error::WebError,
    notices::Notice,
    signin::{Signed, check_csrf},
    state::Web,
};
use crate::store::Session;

/// A notice as HTML: a status line people and screen readers notice.
pub fn notice(notice: Option<&Notice>) -> Markup {
    html! {
        @if let Some(n) = notice {
            div class={ "notice " (if n.ok { "ok" } else { "error" }) } role=(if n.ok { "status" } else { "alert" }) {
                p { (n.text) }
                @if !n.files.is_empty() {
                    p { "Conflicting files:" }
                    ul class="conflicts" { @for f in &n.files { li { code { (f) } } } }
                }
            }
        }
    }
}

/// The files a refused merge names (`… conflicts in a.txt, b/c.rs. Nothing
/// was changed …`, the session layer's wording).
pub fn conflict_files(message: &str) -> Vec<String> {
    let Some((_, rest)) = message.split_once(" conflicts in ") else {
        return Vec::new();
    };
    let Some((files, _)) = rest.split_once(". Nothing was changed") else {
        return Vec::new();
    };
    files.split(", ").map(str::to_owned).collect()
}

/// Answers an action whose tool call gave `result`: a script's fetch gets
/// 204 or the error; a form post goes back to `page` (its notice says what
/// happened). Refusals that are not the tool's answer (CSRF, scope, not
/// found) stay errors.
pub fn answer(
    web: &Web,
    signed: &Signed,
    headers: &HeaderMap,
    page: &str,
    result: Result<Reply<Value>, WebError>,
) -> Result<Response, WebError> {
    let fetch = headers.contains_key("x-vk-fetch");
    let notice = match result {
        Ok(_) if fetch => return Ok(StatusCode::NO_CONTENT.into_response()),
        Ok(reply) => Notice {
            ok: true,
            text: reply.texts.join("\n"),
            files: Vec::new(),
        },
        Err(WebError::BadRequest(text)) if !fetch => Notice {
            ok: false,
            files: conflict_files(&text),
            text,
        },
        Err(error) => return Err(error),
    };
    web.notices.put(signed, page, notice);
    Ok(Redirect::to(page).into_response())
}

/// Which session buttons a page draws: the tools the caller may call, on
/// a session in a state where they apply.
pub struct Buttons {
    pub stop: bool,
    pub follow_up: bool,
    pub merge: bool,
    pub pull_request: bool,
    pub respond: bool,
}

impl Buttons {
    pub fn of(web: &Web, signed: &Signed, session: &Session, merged: bool) -> Buttons {
        let may = |tool| web.calls.may(&signed.principal, tool);
        let active = session.status.is_active();
        let finished_branch = !active && session.branch.is_some() && !merged;
        Buttons {
            stop: active && may("stop_session"),
            // Archived too: a follow-up checks the branch out again.
            follow_up: !active && may("send_follow_up"),
            merge: finished_branch && may("merge_session"),
            pull_request: finished_branch && may("create_pull_request"),
            respond: may("respond_to_approval"),
        }
    }
}

/// The session page's forms for `buttons`.
pub fn controls(signed: &Signed, session: &Session, buttons: &Buttons) -> Markup {
    let base = session.base_branch.as_deref().unwrap_or("its base branch");
    html! {
        div class="actions" {
            @if buttons.stop {
                form method="post" action={ "/s/" (session.id) "/stop" } {
                    input type="hidden" name="_csrf" value=(signed.csrf);
                    button type="submit" class="danger" { "Stop" }
                }
            }
            @if buttons.follow_up {
                form method="post" action={ "/s/" (session.id) "/follow-up" } class="stack" {
                    input type="hidden" name="_csrf" value=(signed.csrf);
                    label for="follow" { "Follow-up" }
                    textarea id="follow" name="prompt" rows="3" required placeholder="What should the agent do next?" {}
                    div { button type="submit" { "Send follow-up" } }
                }
            }
            @if buttons.merge {
                form method="post" action={ "/s/" (session.id) "/merge" } class="inline" {
                    input type="hidden" name="_csrf" value=(signed.csrf);
                    label for="strategy" { "Merge into " code { (base) } }
                    select id="strategy" name="strategy" {
                        option value="squash" selected { "Squash" }
                        option value="merge" { "Merge commit" }
                        option value="rebase" { "Rebase" }
                    }
                    label { input type="checkbox" name="archive" value="1"; " Archive the worktree" }
                    button type="submit" { "Merge" }
                }
            }
            @if buttons.pull_request {
                form method="post" action={ "/s/" (session.id) "/pull-request" } class="inline" {
                    input type="hidden" name="_csrf" value=(signed.csrf);
                    label { input type="checkbox" name="draft" value="1"; " Draft" }
                    button type="submit" { "Open a pull request" }
                }
            }
        }
    }
}

/// The task page's form that starts a session: an executor from the
/// server's profiles, an optional prompt, the approvals mode.
pub fn start_form(web: &Web, signed: &Signed, task_id: &str) -> Markup {
    let (executors, default) = web.calls.server.executors().unwrap_or_default();
    html! {
        form method="post" action={ "/t/" (task_id) "/sessions" } class="stack start" {
            input type="hidden" name="_csrf" value=(signed.csrf);
            label for="executor" { "Executor" }
            select id="executor" name="executor" {
                @for name in &executors {
                    option value=(name) selected[*name == default] { (name) @if *name == default { " (default)" } }
                }
            }
            label for="prompt" { "Prompt (optional: the task's title and description)" }
            textarea id="prompt" name="prompt" rows="3" {}
            label for="approvals" { "Approvals" }
            select id="approvals" name="approvals" {
                option value="" { "The project's setting" }
                option value="auto" { "Auto: the agent runs its tools" }
                option value="ask" { "Ask: approve each tool here" }
            }
            div { button type="submit" { "Start session" } }
        }
    }
}

#[derive(Deserialize)]
pub struct MergeForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    strategy: String,
    #[serde(default)]
    archive: String,
}

/// `POST /s/{session}/merge`: merge_session.
pub async fn merge(
    State(web): State<Arc<Web>>,
    signed: Signed,
    headers: HeaderMap,
    Path(session_id): Path<String>,
    Form(form): Form<MergeForm>,
) -> Result<Response, WebError> {
    check_csrf(&signed, &headers, Some(&form.csrf))?;
    let mut args = json!({"session_id": session_id, "archive": !form.archive.is_empty()});
    if !form.strategy.is_empty() {
        args["strategy"] = json!(form.strategy);
    }
    let result = web
        .calls
        .call::<Value>(&signed.principal, "merge_session", args)
        .await;
    answer(&web, &signed, &headers, &format!("/s/{session_id}"), result)
}

#[derive(Deserialize)]
pub struct PullRequestForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    draft: String,
}

/// `POST /s/{session}/pull-request`: create_pull_request.
pub async fn pull_request(
    State(web): State<Arc<Web>>,
    signed: Signed,
    headers: HeaderMap,
    Path(session_id): Path<String>,
    Form(form): Form<PullRequestForm>,
) -> Result<Response, WebError> {
    check_csrf(&signed, &headers, Some(&form.csrf))?;
    let args = json!({"session_id": session_id, "draft": !form.draft.is_empty()});
    let result = web
        .calls
        .call::<Value>(&signed.principal, "create_pull_request", args)
        .await;
    answer(&web, &signed, &headers, &format!("/s/{session_id}"), result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_merge_names_its_files() {
        let said = "session 1's branch vk/1-x does not merge cleanly onto 'main': conflicts in README.md, \
                    src/shared.txt. Nothing was changed. send_follow_up can ask the agent";
        assert_eq!(conflict_files(said), ["README.md", "src/shared.txt"]);
        assert!(conflict_files("task 1 not found in workspace 'default'").is_empty());
    }
}
