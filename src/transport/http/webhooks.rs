//! `POST /webhooks/github`: GitHub's deliveries. Not behind the MCP
//! authentication but behind the signature: a delivery whose
//! `X-Hub-Signature-256` does not sign its body with `GITHUB_WEBHOOK_SECRET`
//! gets 401 and changes nothing. The body is limited like every request's.
//! What a delivery does is [`crate::github::webhook`]'s.

use std::sync::Arc;

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::HttpState;
use crate::github::webhook::{self, Outcome};

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

pub async fn github(
    State(state): State<Arc<HttpState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(github) = state.github.as_deref() else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "GitHub is not set up on this server",
        );
    };
    let Some(secret) = github.webhook_secret.as_deref() else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "webhooks are off on this server: set GITHUB_WEBHOOK_SECRET to the webhook's secret",
        );
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if !webhook::verify(secret, &body, header("x-hub-signature-256")) {
        tracing::warn!(
            "a GitHub webhook delivery with a missing or wrong X-Hub-Signature-256 was refused"
        );
        return refuse(
            StatusCode::UNAUTHORIZED,
            "X-Hub-Signature-256 is missing or does not sign this body with the webhook secret",
        );
    }
    let (Some(event), Some(delivery)) = (header("x-github-event"), header("x-github-delivery"))
    else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "X-GitHub-Event and X-GitHub-Delivery are required",
        );
    };
    if event == "ping" {
        return Json(json!({ "ok": "pong" })).into_response();
    }
    match webhook::handle(github, &state.store, event, delivery, &body).await {
        Ok(Outcome::Moved(links, pr_state)) => {
            for link in &links {
                tracing::info!(
                    delivery, pull_request = %format!("{}/{}#{}", link.owner, link.repo, link.number),
                    state = %pr_state, task = %link.task_id, "webhook moved a task"
                );
            }
            Json(json!({ "moved": links.len(), "state": pr_state })).into_response()
        }
        Ok(Outcome::Unknown(name)) => {
            tracing::info!(delivery, pull_request = %name, "webhook: no session's pull request (or a redelivery); nothing changed");
            (StatusCode::ACCEPTED, Json(json!({ "moved": 0 }))).into_response()
        }
        Ok(Outcome::Ignored(what)) => {
            tracing::debug!(delivery, %what, "webhook ignored");
            (StatusCode::ACCEPTED, Json(json!({ "ignored": what }))).into_response()
        }
        Err(webhook::WebhookError::BadBody { event, detail }) => refuse(
            StatusCode::BAD_REQUEST,
            &format!("the {event} event's body is not what GitHub sends: {detail}"),
        ),
        Err(error) => {
            tracing::error!(delivery, %error, "webhook delivery failed; GitHub may redeliver it");
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the delivery could not be stored; redeliver it",
            )
        }
    }
}
