//! Every change the board makes: a POST with the session's CSRF token,
//! turned into the tool call an MCP client would make, as the signed-in
//! principal (the tool checks the scope and writes the audit row). Plain
//! form posts are answered with a redirect back; the script's `fetch`
//! calls (header `X-VK-Fetch`) get `204`.

use std::sync::Arc;

use axum::{
    Form,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    error::WebError,
    pages::{self, Filters},
    session_actions,
    signin::{Signed, check_csrf},
    state::Web,
};
use crate::store::{Task, TaskStatus};

fn done(headers: &HeaderMap, back: String) -> Response {
    if headers.contains_key("x-vk-fetch") {
        StatusCode::NO_CONTENT.into_response()
    } else {
        Redirect::to(&back).into_response()
    }
}

fn non_empty(text: &str) -> Option<&str> {
    Some(text.trim()).filter(|t| !t.is_empty())
}

#[derive(Deserialize)]
pub struct NewTaskForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    title: String,
    #[serde(default)]
    description: String,
}

/// `POST /p/{project}/tasks`: create_task.
pub async fn create_task(
    State(web): State<Arc<Web>>,
    signed: Signed,
    headers: HeaderMap,
    Path(project_id): Path<String>,
    Form(form): Form<NewTaskForm>,
) -> Result<Response, WebError> {
    check_csrf(&signed, &headers, Some(&form.csrf))?;
    let mut args = json!({"project_id": project_id, "title": form.title.trim()});
    if let Some(description) = non_empty(&form.description) {
        args["description"] = json!(description);
    }
    web.calls
        .call::<Value>(&signed.principal, "create_task", args)
        .await?;
    Ok(done(&headers, format!("/p/{project_id}")))
}

/// `POST /t/{task}/subtasks`: create_task with the parent.
pub async fn create_subtask(
    State(web): State<Arc<Web>>,
    signed: Signed,
    headers: HeaderMap,
    Path(task_id): Path<String>,
    Form(form): Form<NewTaskForm>,
) -> Result<Response, WebError> {
    check_csrf(&signed, &headers, Some(&form.csrf))?;
    let parent = web
        .calls
        .call::<Task>(&signed.principal, "get_task", json!({"task_id": task_id}))
        .await?
        .value;
    let args = json!({"project_id": parent.project_id, "parent_task_id": task_id, "title": form.title.trim()});
    web.calls
        .call::<Value>(&signed.principal, "create_task", args)
        .await?;
    Ok(done(&headers, format!("/t/{task_id}")))
}

#[derive(Deserialize)]
pub struct EditForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    title: String,
    #[serde(default)]
    description: String,
    status: TaskStatus,
    #[serde(default)]
    assignee: String,
}

/// `POST /t/{task}`: update_task, and assign_task when the assignee changed.
pub async fn edit_task(
    State(web): State<Arc<Web>>,
    signed: Signed,
    headers: HeaderMap,
    Path(task_id): Path<String>,
    Form(form): Form<EditForm>,
) -> Result<Response, WebError> {
    check_csrf(&signed, &headers, Some(&form.csrf))?;
    let task = web
        .calls
        .call::<Task>(
            &signed.principal,
            "update_task",
            json!({"task_id": task_id, "title": form.title.trim(), "description": form.description, "status": form.status}),
        )
        .await?
        .value;
    let wanted = non_empty(&form.assignee);
    if task.assignee.as_ref().map(|a| a.as_str()) != wanted {
        web.calls
            .call::<Value>(
                &signed.principal,
                "assign_task",
                json!({"task_id": task_id, "user_id": wanted}),
            )
            .await?;
    }
    Ok(done(&headers, format!("/t/{task_id}")))
}

#[derive(Deserialize)]
pub struct MoveForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    /// Keyboard buttons: left, right, up, down.
    #[serde(default)]
    dir: String,
    /// Drag and drop: the column dropped in …
    #[serde(default)]
    status: Option<TaskStatus>,
    /// … and the card it was dropped before (empty: the end).
    #[serde(default)]
    before: String,
}

/// `POST /t/{task}/move`: a card to another column and/or place. The new
/// position is computed from the target column's cards; when there is no
/// room between two neighbours, the cards after it move down one.
pub async fn move_task(
    State(web): State<Arc<Web>>,
    signed: Signed,
    headers: HeaderMap,
    Path(task_id): Path<String>,
    Form(form): Form<MoveForm>,
) -> Result<Response, WebError> {
    check_csrf(&signed, &headers, Some(&form.csrf))?;
    if !web.calls.may(&signed.principal, "update_task") {
        // Refused before any read: the tool call would refuse it too.
        web.calls
            .call::<Value>(
                &signed.principal,
                "update_task",
                json!({"task_id": task_id}),
            )
            .await?;
    }
    let task = web
        .calls
        .call::<Task>(&signed.principal, "get_task", json!({"task_id": task_id}))
        .await?
        .value;
    let project = task.project_id.to_string();
    let index = TaskStatus::ALL
        .iter()
        .position(|s| *s == task.status)
        .unwrap_or(0);
    let column = |status| {
        let web = &web;
        let signed = &signed;
        let project = &project;
        let task_id = &task_id;
        async move {
            Ok::<_, WebError>(
                pages::all_tasks(web, signed, project, &Filters::default(), Some(status))
                    .await?
                    .into_iter()
                    .filter(|t| t.id.as_str() != task_id && t.parent_task_id.is_none())
                    .collect::<Vec<Task>>(),
            )
        }
    };
    let (status, before): (TaskStatus, Option<String>) = match form.dir.as_str() {
        "" => (
            form.status.unwrap_or(task.status),
            non_empty(&form.before).map(str::to_owned),
        ),
        "left" | "right" => {
            let to = if form.dir == "left" {
                index.checked_sub(1)
            } else {
                Some(index + 1).filter(|i| *i < TaskStatus::ALL.len())
            };
            let Some(to) = to else {
                return Ok(done(&headers, format!("/p/{project}")));
            };
            (TaskStatus::ALL[to], None)
        }
        "up" | "down" => {
            let mut all = column(task.status).await?;
            all.push(task.clone());
            all.sort_by_key(|t| (t.position, t.id.to_string()));
            let at = all.iter().position(|t| t.id == task.id).unwrap_or(0);
            let before = if form.dir == "up" {
                match at.checked_sub(1) {
                    Some(prev) => Some(all[prev].id.to_string()),
                    None => return Ok(done(&headers, format!("/p/{project}"))),
                }
            } else {
                if at + 1 >= all.len() {
                    return Ok(done(&headers, format!("/p/{project}")));
                }
                all.get(at + 2).map(|t| t.id.to_string())
            };
            (task.status, before)
        }
        other => {
            return Err(WebError::BadRequest(format!(
                "unknown move '{other}'; use left, right, up or down"
            )));
        }
    };
    let cards = column(status).await?;
    let position = match before {
        None => cards.last().map_or(task.position, |last| last.position + 1),
        Some(before) => {
            let at = cards
                .iter()
                .position(|t| t.id.as_str() == before)
                .ok_or_else(|| {
                    WebError::BadRequest(format!(
                        "task {before} is not in the {} column of this board; reload the board",
                        status.title()
                    ))
                })?;
            let next = cards[at].position;
            match at.checked_sub(1).map(|i| cards[i].position) {
                None => next - 1,
                Some(prev) if next - prev > 1 => prev + (next - prev) / 2,
                Some(_) => {
                    // No room: the cards from `before` on move down one.
                    for card in &cards[at..] {
                        web.calls
                            .call::<Value>(
                                &signed.principal,
                                "update_task",
                                json!({"task_id": card.id, "position": card.position + 1}),
                            )
                            .await?;
                    }
                    next
                }
            }
        }
    };
    web.calls
        .call::<Value>(
            &signed.principal,
            "update_task",
            json!({"task_id": task_id, "status": status, "position": position}),
        )
        .await?;
    Ok(done(&headers, format!("/p/{project}")))
}

#[derive(Deserialize)]
pub struct StartForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    executor: String,
    #[serde(default)]
    prompt: String,
    #[serde(default)]
    approvals: String,
}

/// `POST /t/{task}/sessions`: start_session; on to the new session's page
/// (or back to the task's, which says why it was refused).
pub async fn start_session(
    State(web): State<Arc<Web>>,
    signed: Signed,
    headers: HeaderMap,
    Path(task_id): Path<String>,
    Form(form): Form<StartForm>,
) -> Result<Response, WebError> {
    check_csrf(&signed, &headers, Some(&form.csrf))?;
    let mut args = json!({"task_id": task_id});
    for (name, value) in [
        ("executor", &form.executor),
        ("prompt", &form.prompt),
        ("approvals", &form.approvals),
    ] {
        if let Some(value) = non_empty(value) {
            args[name] = json!(value);
        }
    }
    let result = web
        .calls
        .call::<Value>(&signed.principal, "start_session", args)
        .await;
    let page = match &result {
        Ok(reply) => match reply.value["id"].as_str() {
            Some(id) => format!("/s/{id}"),
            None => format!("/t/{task_id}"),
        },
        Err(_) => format!("/t/{task_id}"),
    };
    session_actions::answer(&web, &signed, &headers, &page, result)
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

/// `POST /s/{session}/stop`: stop_session.
pub async fn stop_session(
    State(web): State<Arc<Web>>,
    signed: Signed,
    headers: HeaderMap,
    Path(session_id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, WebError> {
    check_csrf(&signed, &headers, Some(&form.csrf))?;
    let result = web
        .calls
        .call::<Value>(
            &signed.principal,
            "stop_session",
            json!({"session_id": session_id}),
        )
        .await;
    let page = format!("/s/{session_id}");
    session_actions::answer(&web, &signed, &headers, &page, result)
}

#[derive(Deserialize)]
pub struct FollowUpForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    prompt: String,
}

/// `POST /s/{session}/follow-up`: send_follow_up.
pub async fn follow_up(
    State(web): State<Arc<Web>>,
    signed: Signed,
    headers: HeaderMap,
    Path(session_id): Path<String>,
    Form(form): Form<FollowUpForm>,
) -> Result<Response, WebError> {
    check_csrf(&signed, &headers, Some(&form.csrf))?;
    let result = web
        .calls
        .call::<Value>(
            &signed.principal,
            "send_follow_up",
            json!({"session_id": session_id, "prompt": form.prompt}),
        )
        .await;
    let page = format!("/s/{session_id}");
    session_actions::answer(&web, &signed, &headers, &page, result)
}

#[derive(Deserialize)]
pub struct DecisionForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    decision: String,
    #[serde(default)]
    session_id: String,
}

/// `POST /approvals/{approval}`: respond_to_approval.
pub async fn respond(
    State(web): State<Arc<Web>>,
    signed: Signed,
    headers: HeaderMap,
    Path(approval_id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Result<Response, WebError> {
    check_csrf(&signed, &headers, Some(&form.csrf))?;
    let result = web
        .calls
        .call::<Value>(
            &signed.principal,
            "respond_to_approval",
            json!({"approval_id": approval_id, "decision": form.decision}),
        )
        .await;
    // Back to the session page the form was on (an id, never a URL).
    let back = match uuid::Uuid::parse_str(&form.session_id) {
        Ok(session_id) => format!("/s/{session_id}"),
        Err(_) => "/".to_owned(),
    };
    session_actions::answer(&web, &signed, &headers, &back, result)
}
