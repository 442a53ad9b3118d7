//! The board's pages: projects, a project's board, a task, a session. Each
//! reads through the tool layer as the signed-in principal and renders
//! with maud, which escapes every string it is given. Controls that change
//! something are drawn only for a caller whose scopes allow the tool behind
//! them (the action is refused server-side anyway).

use std::{collections::BTreeMap, sync::Arc};

use axum::{
    extract::{Path, Query, State},
    response::{Html, IntoResponse, Json, Response},
};
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    avatars::{self, People},
    comments,
    error::WebError,
    layout::page,
    render, session_actions,
    signin::Signed,
    state::Web,
};
use crate::store::{
    Project, ProjectId, PullRequestBrief, Session, Task, TaskDetail, TaskId, TaskPage, TaskStatus,
};

/// Bytes of log a session page shows first, and each "load earlier" adds.
pub const LOG_PAGE: u64 = 64 * 1024;
/// Bytes of diff a session page shows.
const DIFF_LIMIT: u64 = 512 * 1024;

#[derive(Deserialize)]
struct ProjectList {
    projects: Vec<Project>,
}

/// `GET /`: the workspace's projects with their task counts.
pub async fn home(State(web): State<Arc<Web>>, signed: Signed) -> Result<Response, WebError> {
    let list = web
        .calls
        .call::<ProjectList>(&signed.principal, "list_projects", json!({"limit": 200}))
        .await?
        .value;
    let body = html! {
        h1 { "Projects" }
        @if list.projects.is_empty() {
            p class="muted" { "No projects yet; create one with the create_project tool." }
        }
        ul class="projects" {
            @for p in &list.projects {
                li {
                    a href={ "/p/" (p.id) } { (p.name) }
                    @if !p.description.is_empty() { p class="muted" { (p.description) } }
                    ul class="counts" aria-label="Tasks per status" {
                        @for (status, count) in counts(p) {
                            li { span class={ "dot s-" (status.as_str()) } {} (status.title()) " " strong { (count) } }
                        }
                    }
                }
            }
        }
    };
    Ok(page("Projects", &signed, body))
}

fn counts(p: &Project) -> [(TaskStatus, i64); 5] {
    let c = &p.task_counts;
    [
        (TaskStatus::Todo, c.todo),
        (TaskStatus::Inprogress, c.inprogress),
        (TaskStatus::Inreview, c.inreview),
        (TaskStatus::Done, c.done),
        (TaskStatus::Cancelled, c.cancelled),
    ]
}

/// The board's filters (query string).
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    #[serde(default)]
    pub assignee: String,
    #[serde(default)]
    pub q: String,
}

/// Every task of a project matching the filters, in board order (all pages).
pub async fn all_tasks(
    web: &Web,
    signed: &Signed,
    project_id: &str,
    filters: &Filters,
    status: Option<TaskStatus>,
) -> Result<Vec<Task>, WebError> {
    let mut tasks = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut args = json!({"project_id": project_id, "limit": 200});
        if !filters.assignee.is_empty() {
            args["assignee"] = json!(filters.assignee);
        }
        if !filters.q.trim().is_empty() {
            args["query"] = json!(filters.q.trim());
        }
        if let Some(status) = status {
            args["status"] = json!([status]);
        }
        if let Some(cursor) = &cursor {
            args["cursor"] = json!(cursor);
        }
        let page = web
            .calls
            .call::<TaskPage>(&signed.principal, "list_tasks", args)
            .await?
            .value;
        tasks.extend(page.tasks);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(tasks),
        }
    }
}

/// `GET /p/{project}`: the board.
pub async fn board(
    State(web): State<Arc<Web>>,
    signed: Signed,
    Path(project_id): Path<String>,
    Query(filters): Query<Filters>,
) -> Result<Response, WebError> {
    let project = web
        .calls
        .call::<Project>(
            &signed.principal,
            "get_project",
            json!({"project_id": project_id}),
        )
        .await?
        .value;
    let version = web
        .live
        .version(&signed.principal.actor, &project.id)
        .await?;
    let tasks = all_tasks(&web, &signed, &project_id, &filters, None).await?;
    let people = avatars::people(&web, &signed).await;
    let members = people.names();
    let pulls = pull_requests(&web, &signed, &project.id).await;
    let can_edit = web.calls.may(&signed.principal, "update_task");
    let body = html! {
        nav class="crumbs" aria-label="Breadcrumb" { a href="/" { "Projects" } " / " span { (project.name) } }
        h1 { (project.name) }
        div class="toolbar" {
            form method="get" class="filters" role="search" {
                label for="f-assignee" { "Assignee" }
                select id="f-assignee" name="assignee" {
                    option value="" { "Anyone" }
                    @for (id, name) in &members {
                        option value=(id) selected[filters.assignee == *id] { (name) }
                    }
                }
                label for="f-q" { "Text" }
                input id="f-q" type="search" name="q" value=(filters.q) placeholder="Title or description";
                button type="submit" { "Filter" }
            }
            @if can_edit {
                form method="post" action={ "/p/" (project.id) "/tasks" } class="new-task" {
                    input type="hidden" name="_csrf" value=(signed.csrf);
                    label for="new-title" { "New task" }
                    input id="new-title" name="title" required maxlength="500" placeholder="What needs doing?";
                    button type="submit" { "Add" }
                }
            }
        }
        p id="live" class="muted" aria-live="polite" {}
        div id="board" class="board" data-project=(project.id) data-csrf=(signed.csrf)
            data-edit=(if can_edit { "1" } else { "0" }) data-version=(version)
            data-query=(query_string(&filters)) {
            (columns_markup(&tasks, &people, &pulls, can_edit))
        }
    };
    Ok(page(&project.name, &signed, body))
}

fn query_string(filters: &Filters) -> String {
    let mut parts = Vec::new();
    if !filters.assignee.is_empty() {
        parts.push(format!("assignee={}", render::urlencode(&filters.assignee)));
    }
    if !filters.q.is_empty() {
        parts.push(format!("q={}", render::urlencode(&filters.q)));
    }
    parts.join("&")
}

/// `GET /p/{project}/columns`: the columns alone, for the live refresh.
pub async fn columns(
    State(web): State<Arc<Web>>,
    signed: Signed,
    Path(project_id): Path<String>,
    Query(filters): Query<Filters>,
) -> Result<Response, WebError> {
    let tasks = all_tasks(&web, &signed, &project_id, &filters, None).await?;
    let people = avatars::people(&web, &signed).await;
    let pulls = pull_requests(&web, &signed, &ProjectId::from(project_id)).await;
    let can_edit = web.calls.may(&signed.principal, "update_task");
    Ok(Html(columns_markup(&tasks, &people, &pulls, can_edit).into_string()).into_response())
}

/// Each task's newest pull request, for the cards (none when it cannot be
/// read: the board still shows).
async fn pull_requests(
    web: &Web,
    signed: &Signed,
    project_id: &ProjectId,
) -> BTreeMap<TaskId, PullRequestBrief> {
    match web
        .live
        .store
        .project_pull_requests(&signed.principal.actor, project_id)
        .await
    {
        Ok(pulls) => pulls.into_iter().collect(),
        Err(error) => {
            tracing::warn!(project = %project_id, %error, "could not read the board's pull requests");
            BTreeMap::new()
        }
    }
}

/// A pull request as a small badge: "#12 open", linked to GitHub.
fn pull_request_badge(pr: &PullRequestBrief) -> Markup {
    let label = format!("#{} {}", pr.number, pr.state);
    let class = format!("pr pr-{}", pr.state);
    // Only a web address is a link (the URL is GitHub's, but a link is
    // never a script).
    let linkable = pr.url.starts_with("https://") || pr.url.starts_with("http://");
    html! {
        @if linkable {
            a class=(class) href=(pr.url) title="Pull request on GitHub" { (label) }
        } @else {
            span class=(class) { (label) }
        }
    }
}

/// One column per status with its count; subtasks show on their parent's
/// page, not as cards.
///
/// Cards are kept small (a 500-task board is one page): the move buttons
/// are not drawn per card; the script puts one set into the card that has
/// focus, and Shift+arrows move it. Without the script, a task page's
/// status field moves it.
fn columns_markup(
    tasks: &[Task],
    people: &People,
    pulls: &BTreeMap<TaskId, PullRequestBrief>,
    can_edit: bool,
) -> Markup {
    html! {
        @for status in TaskStatus::ALL.iter() {
            @let cards: Vec<&Task> = tasks.iter().filter(|t| t.status == *status && t.parent_task_id.is_none()).collect();
            section class="column" data-status=(status.as_str()) aria-labelledby={ "h-" (status.as_str()) } {
                h2 id={ "h-" (status.as_str()) } {
                    span class={ "dot s-" (status.as_str()) } {}
                    (status.title()) " "
                    span class="count" aria-label={ (cards.len()) " tasks" } { (cards.len()) }
                }
                ol class="cards" data-status=(status.as_str()) {
                    @for task in &cards {
                        li class="card" tabindex="0" draggable=[can_edit.then_some("true")] data-id=(task.id) {
                            a class="title" href={ "/t/" (task.id) } { (task.title) }
                            @if let Some(assignee) = &task.assignee {
                                (people.face(assignee.as_str(), true))
                            }
                            @if let Some(pr) = pulls.get(&task.id) { (pull_request_badge(pr)) }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct SessionList {
    sessions: Vec<Session>,
}

/// `GET /t/{task}`: a task with its description, subtasks and sessions.
pub async fn task(
    State(web): State<Arc<Web>>,
    signed: Signed,
    Path(task_id): Path<String>,
    Query(paging): Query<comments::Paging>,
) -> Result<Response, WebError> {
    let detail = web
        .calls
        .call::<TaskDetail>(&signed.principal, "get_task", json!({"task_id": task_id}))
        .await?
        .value;
    let sessions = if web.calls.may(&signed.principal, "list_sessions") {
        web.calls
            .call::<SessionList>(
                &signed.principal,
                "list_sessions",
                json!({"task_id": task_id}),
            )
            .await
            .map(|r| r.value.sessions)
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let people = avatars::people(&web, &signed).await;
    let members = people.names();
    let can_edit = web.calls.may(&signed.principal, "update_task");
    let can_start = web.calls.may(&signed.principal, "start_session");
    let notice = web.notices.take(&signed, &format!("/t/{task_id}"));
    let task = &detail.task;
    let discussion = comments::section(&web, &signed, task, &people, &paging).await?;
    let body = html! {
        nav class="crumbs" aria-label="Breadcrumb" {
            a href="/" { "Projects" } " / "
            a href={ "/p/" (task.project_id) } { "Board" }
            @if let Some(parent) = &task.parent_task_id { " / " a href={ "/t/" (parent) } { "Parent task" } }
        }
        h1 { (task.title) }
        p class="meta" {
            span class={ "badge s-" (task.status.as_str()) } { (task.status.title()) }
            " · "
            @match &task.assignee {
                Some(a) => { "Assigned to " (people.face(a.as_str(), false)) " " (people.name(a.as_str())) }
                None => { "Unassigned" }
            }
        }
        section class="description" aria-label="Description" {
            @if task.description.trim().is_empty() { p class="muted" { "No description." } }
            @else { (render::markdown(&task.description)) }
        }
        @if can_edit {
            details class="edit" {
                summary { "Edit task" }
                form method="post" action={ "/t/" (task.id) } class="stack" {
                    input type="hidden" name="_csrf" value=(signed.csrf);
                    label for="e-title" { "Title" }
                    input id="e-title" name="title" value=(task.title) required maxlength="500";
                    label for="e-desc" { "Description (markdown)" }
                    textarea id="e-desc" name="description" rows="8" { (task.description) }
                    label for="e-status" { "Status" }
                    select id="e-status" name="status" {
                        @for s in TaskStatus::ALL { option value=(s.as_str()) selected[s == task.status] { (s.title()) } }
                    }
                    label for="e-assignee" { "Assignee" }
                    select id="e-assignee" name="assignee" {
                        option value="" selected[task.assignee.is_none()] { "Nobody" }
                        @for (id, name) in &members {
                            option value=(id) selected[task.assignee.as_ref().is_some_and(|a| a.as_str() == id)] { (name) }
                        }
                    }
                    button type="submit" { "Save" }
                }
            }
        }
        h2 { "Subtasks " span class="count" { (detail.subtask_count) } }
        ul class="subtasks" {
            @for sub in &detail.subtasks {
                li { span class={ "badge s-" (sub.status.as_str()) } { (sub.status.title()) } " " a href={ "/t/" (sub.id) } { (sub.title) } }
            }
        }
        @if can_edit {
            form method="post" action={ "/t/" (task.id) "/subtasks" } class="inline" {
                input type="hidden" name="_csrf" value=(signed.csrf);
                label for="sub-title" { "New subtask" }
                input id="sub-title" name="title" required maxlength="500";
                button type="submit" { "Add subtask" }
            }
        }
        h2 { "Sessions" }
        (session_actions::notice(notice.as_ref()))
        @if sessions.is_empty() { p class="muted" { "No agent sessions on this task." } }
        ul class="sessions" {
            @for s in &sessions {
                li {
                    span class={ "badge r-" (s.status.as_str()) } { (s.status.as_str()) } " "
                    a href={ "/s/" (s.id) } { (s.executor) " · " (s.created_at) }
                    @if let Some(branch) = &s.branch { " · " code { (branch) } }
                    @if let Some(pr) = &s.pull_request { " · " (pull_request_badge(pr)) }
                }
            }
        }
        @if can_start {
            (session_actions::start_form(&web, &signed, task.id.as_str()))
        }
        (discussion)
    };
    Ok(page(&task.title, &signed, body))
}

#[derive(Deserialize)]
struct SessionDetail {
    #[serde(flatten)]
    session: Session,
    #[serde(default)]
    final_message: Option<String>,
    #[serde(default)]
    processes: Vec<Value>,
    #[serde(default)]
    merge_commit: Option<String>,
    #[serde(default)]
    merge_strategy: Option<String>,
    #[serde(default)]
    merged_at: Option<String>,
}

#[derive(Deserialize)]
struct Approvals {
    approvals: Vec<Value>,
}

/// A page of the log: where it starts, where it ends, as HTML.
#[derive(serde::Serialize)]
pub struct LogChunk {
    pub start: u64,
    pub end: u64,
    pub total: u64,
    pub running: bool,
    pub html: String,
}

#[derive(Deserialize)]
struct LogMeta {
    #[serde(default)]
    start: u64,
    next_cursor: u64,
    total_bytes: u64,
    #[serde(default)]
    running: bool,
}

/// Which edge of a page may be moved to a line boundary, so that pages
/// meet between lines (an ANSI colour or a line is not cut in two).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Live output: only an unfinished escape sequence at the end waits
    /// for the next read.
    None,
    /// A page before what is shown: it starts after its first newline.
    Start,
    /// A page after what is shown: it ends at its last newline.
    End,
}

/// Reads `[cursor, cursor + limit)` of a session's log (or its last page
/// when `cursor` is `None`) through `read_execution_log`, never more than
/// `limit` bytes, with the edge `align` names moved to a line boundary.
pub async fn read_log(
    web: &Web,
    signed: &Signed,
    session_id: &str,
    cursor: Option<u64>,
    limit: u64,
    align: Align,
) -> Result<LogChunk, WebError> {
    let args = match cursor {
        Some(cursor) => {
            json!({"session_id": session_id, "cursor": cursor, "limit": limit.clamp(1, 1 << 20)})
        }
        None => json!({"session_id": session_id, "tail": 400}),
    };
    let reply = web
        .calls
        .call::<LogMeta>(&signed.principal, "read_execution_log", args)
        .await?;
    let text = reply.texts.first().cloned().unwrap_or_default();
    let meta = reply.value;
    let start = cursor.unwrap_or(meta.start);
    // Offsets into the text are offsets into the log only when it was
    // valid UTF-8 (a replaced byte changes the length): otherwise it is
    // shown as read.
    let exact = text.len() as u64 == meta.next_cursor.saturating_sub(start);
    let (mut from, mut to) = (0, text.len());
    if exact {
        if cursor.is_none() && text.len() as u64 > limit {
            // A long tail is cut to a page that starts at a line.
            from = text.len() - limit as usize;
            from = (from..text.len())
                .find(|i| text.is_char_boundary(*i))
                .unwrap_or(from);
            if let Some(newline) = text[from..].find('\n') {
                from += newline + 1;
            }
        }
        if align == Align::Start
            && start > 0
            && let Some(newline) = text.find('\n')
            && newline + 1 < text.len()
        {
            from = from.max(newline + 1);
        }
        let unfinished = meta.running || meta.next_cursor < meta.total_bytes;
        if unfinished {
            if align == Align::End
                && let Some(newline) = text[from..].rfind('\n')
            {
                to = from + newline + 1;
            }
            to = from + render::complete_escapes(&text[from..to]);
        }
    }
    Ok(LogChunk {
        start: start + from as u64,
        end: if exact {
            start + to as u64
        } else {
            meta.next_cursor
        },
        total: meta.total_bytes,
        running: meta.running,
        html: render::ansi(&text[from..to]),
    })
}

#[derive(Deserialize)]
pub struct LogQuery {
    /// The page that ends here (exclusive): "load earlier".
    #[serde(default)]
    before: Option<u64>,
    /// The page that starts here: "start of log", "load later".
    #[serde(default)]
    from: Option<u64>,
}

/// `GET /s/{session}/log?before=N` or `?from=N`: the page of log before
/// byte N or from it (neither: the last page), as JSON (`start`, `end`, `total`, `running`,
/// `html`). Pages meet between lines.
pub async fn log_page(
    State(web): State<Arc<Web>>,
    signed: Signed,
    Path(session_id): Path<String>,
    Query(query): Query<LogQuery>,
) -> Result<Response, WebError> {
    let chunk = match (query.before, query.from) {
        (Some(before), None) => {
            let start = before.saturating_sub(LOG_PAGE);
            let mut chunk = read_log(
                &web,
                &signed,
                &session_id,
                Some(start),
                (before - start).max(1),
                Align::Start,
            )
            .await?;
            chunk.end = chunk.end.min(before);
            chunk
        }
        (None, Some(from)) => {
            read_log(&web, &signed, &session_id, Some(from), LOG_PAGE, Align::End).await?
        }
        (None, None) => read_log(&web, &signed, &session_id, None, LOG_PAGE, Align::None).await?,
        (Some(_), Some(_)) => {
            return Err(WebError::BadRequest(
                "give `before` (the page before byte N) or `from` (the page from byte N), not both"
                    .to_owned(),
            ));
        }
    };
    Ok(Json(chunk).into_response())
}

/// `GET /s/{session}`: status, log (live), final message, diff, controls.
pub async fn session(
    State(web): State<Arc<Web>>,
    signed: Signed,
    Path(session_id): Path<String>,
) -> Result<Response, WebError> {
    let detail = web
        .calls
        .call::<SessionDetail>(
            &signed.principal,
            "get_session",
            json!({"session_id": session_id}),
        )
        .await?
        .value;
    let s = &detail.session;
    let log = read_log(&web, &signed, &session_id, None, LOG_PAGE, Align::None).await?;
    let diff = match web
        .calls
        .call::<Value>(
            &signed.principal,
            "get_session_diff",
            json!({"session_id": session_id, "limit": DIFF_LIMIT}),
        )
        .await
    {
        Ok(reply) => Ok(reply.texts.get(1).cloned().unwrap_or_default()),
        Err(error) => Err(error.to_string()),
    };
    let approvals = if web.calls.may(&signed.principal, "list_approvals") {
        web.calls
            .call::<Approvals>(
                &signed.principal,
                "list_approvals",
                json!({"session_id": session_id}),
            )
            .await
            .map(|r| r.value.approvals)
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let buttons = session_actions::Buttons::of(&web, &signed, s, detail.merge_commit.is_some());
    let notice = web.notices.take(&signed, &format!("/s/{session_id}"));
    let active = s.status.is_active();
    let body = html! {
        nav class="crumbs" aria-label="Breadcrumb" { a href="/" { "Projects" } " / " a href={ "/t/" (s.task_id) } { "Task" } }
        h1 { "Session " code { (s.id.as_str().get(..8).unwrap_or(s.id.as_str())) } }
        dl class="facts" {
            dt { "Status" } dd { span id="session-status" class={ "badge r-" (s.status.as_str()) } { (s.status.as_str()) }
                @if let Some(reason) = &s.status_reason { " " span class="muted" { (reason) } } }
            dt { "Executor" } dd { (s.executor) }
            dt { "Branch" } dd { @if let Some(b) = &s.branch { code { (b) } } @else { "—" } }
            @if let Some(pr) = &s.pull_request { dt { "Pull request" } dd { (pull_request_badge(pr)) } }
            dt { "Turns" } dd { (s.turns) }
            @if let Some(commit) = &detail.merge_commit {
                dt { "Merged" } dd {
                    "into " code { (s.base_branch.as_deref().unwrap_or("")) } " as " code { (commit.get(..12).unwrap_or(commit)) }
                    @if let Some(strategy) = &detail.merge_strategy { " (" (strategy) ")" }
                    @if let Some(at) = &detail.merged_at { " at " (at) }
                }
            }
            dt { "Processes" } dd {
                @for p in &detail.processes {
                    span class="proc" { (p["kind"].as_str().unwrap_or("")) " " (p["status"].as_str().unwrap_or(""))
                        @if let Some(code) = p["exit_code"].as_i64() { " (exit " (code) ")" } } " "
                }
            }
        }
        (session_actions::notice(notice.as_ref()))
        (session_actions::controls(&signed, s, &buttons))
        @if !approvals.is_empty() {
            h2 { "Pending approvals" }
            ul class="approvals" {
                @for a in &approvals {
                    li {
                        code { (a["tool_name"].as_str().unwrap_or("")) } " "
                        span class="muted" { (a["input"].to_string().chars().take(300).collect::<String>()) }
                        @if buttons.respond {
                            @for (decision, label) in [("allow", "Approve"), ("deny", "Deny")] {
                                form method="post" action={ "/approvals/" (a["id"].as_str().unwrap_or("")) } class="inline" {
                                    input type="hidden" name="_csrf" value=(signed.csrf);
                                    input type="hidden" name="session_id" value=(s.id);
                                    button type="submit" name="decision" value=(decision) { (label) }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 id="log-h" { "Execution log" }
        div class="log-wrap" {
            // Always drawn, enabled or not: nothing moves while the log streams.
            div class="log-nav" role="toolbar" aria-label="Log pages" aria-controls="log" {
                button id="log-first" type="button" disabled[log.start == 0] { "Start of log" }
                button id="log-earlier" type="button" disabled[log.start == 0] { "Load earlier" }
                button id="log-later" type="button" disabled { "Load later" }
                button id="log-last" type="button" disabled { "Back to the tail" }
                label class="follow" { input id="log-follow" type="checkbox" checked; " Follow the tail" }
            }
            pre id="log" class="log" tabindex="0" aria-labelledby="log-h" data-session=(s.id)
                data-start=(log.start) data-end=(log.end) data-total=(log.total)
                data-live=(if active || log.running { "1" } else { "0" }) {
                span class="pg" data-start=(log.start) data-end=(log.end) { (PreEscaped(&log.html)) }
            }
            p id="log-range" class="log-range muted" {
                "Bytes " (log.start) "–" (log.end) " of " (log.total)
            }
        }
        h2 { "Final message" }
        @match &detail.final_message {
            Some(m) => { div class="final" { (render::markdown(m)) } }
            None => { p class="muted" { @if active { "The agent is still working." } @else { "No final message." } } }
        }
        h2 { "Diff" }
        @match &diff {
            Ok(patch) => { div id="diff" { (render::diff(patch)) } }
            Err(e) => { p class="muted" { (e) } }
        }
    };
    Ok(page("Session", &signed, body))
}
