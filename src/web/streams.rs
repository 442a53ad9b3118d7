//! The board's event streams (server-sent events): a board's changes (from
//! its shared poller in `live`) and a session's log as it is written
//! (each open session page follows its log from the byte it has, through
//! `read_execution_log`, until the session ends). Every stream ends when
//! its key is revoked or expires.

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    extract::{Path, Query, State},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use futures::Stream;
use serde::Deserialize;
use serde_json::json;

use super::{error::WebError, live::board_interval, pages, signin::Signed, state::Web};
use crate::store::ProjectId;

#[derive(Deserialize)]
pub struct Since {
    /// The version the page was drawn at.
    #[serde(default)]
    since: String,
}

/// `GET /p/{project}/events?since=V`: a `board` event whenever the board
/// changes (at once when it is no longer at version V).
pub async fn board_events(
    State(web): State<Arc<Web>>,
    signed: Signed,
    Path(project_id): Path<String>,
    Query(Since { since }): Query<Since>,
) -> Result<Response, WebError> {
    // The same check as the page: the project must be the caller's.
    web.calls
        .call::<serde_json::Value>(
            &signed.principal,
            "get_project",
            json!({"project_id": project_id}),
        )
        .await?;
    let mut changes = web
        .live
        .watch(&signed.principal.actor, ProjectId::from(project_id));
    let stream = async_stream(move |tx| async move {
        // The poller's first look, compared with what the page shows.
        let first = tokio::select! {
            first = changes.wait_for(|v| !v.is_empty()) => match first {
                Ok(first) => first.clone(),
                Err(_) => return,
            },
            () = tx.closed() => return,
        };
        changes.borrow_and_update();
        if first != since
            && tx
                .send(Event::default().event("board").data(first))
                .await
                .is_err()
        {
            return;
        }
        loop {
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                // The browser left: drop the receiver, so the poller can stop.
                () = tx.closed() => return,
            }
            let version = changes.borrow_and_update().clone();
            if tx
                .send(Event::default().event("board").data(version))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    Ok(guarded(&web, &signed, stream))
}

#[derive(Deserialize)]
pub struct LogFrom {
    from: u64,
}

/// `GET /s/{session}/events?from=N`: the log as it is written from byte N
/// (`log` events with HTML), then `end` when the session has finished.
pub async fn log_events(
    State(web): State<Arc<Web>>,
    signed: Signed,
    Path(session_id): Path<String>,
    Query(query): Query<LogFrom>,
) -> Result<Response, WebError> {
    // Refused here, before the stream opens, when not the caller's.
    let first = pages::read_log(
        &web,
        &signed,
        &session_id,
        Some(query.from),
        256 * 1024,
        pages::Align::None,
    )
    .await?;
    let interval = board_interval(&web.live.store);
    let web2 = Arc::clone(&web);
    let principal = signed.principal.clone();
    let csrf = signed.csrf.clone();
    let stream = async_stream(move |tx| async move {
        let signed = Signed { principal, csrf };
        let mut chunk = first;
        loop {
            if chunk.end > chunk.start || !chunk.html.is_empty() {
                let data = json!({"start": chunk.start, "end": chunk.end, "total": chunk.total, "html": chunk.html})
                    .to_string();
                if tx
                    .send(Event::default().event("log").data(data))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            let finished = !chunk.running && chunk.end >= chunk.total;
            if finished {
                let session = web2
                    .calls
                    .call::<serde_json::Value>(
                        &signed.principal,
                        "get_session",
                        json!({"session_id": session_id}),
                    )
                    .await;
                let status = session
                    .ok()
                    .and_then(|s| s.value["status"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                if !matches!(status.as_str(), "queued" | "running") {
                    let _ = tx.send(Event::default().event("end").data(status)).await;
                    return;
                }
            }
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = tx.closed() => return,
            }
            chunk = match pages::read_log(
                &web2,
                &signed,
                &session_id,
                Some(chunk.end),
                256 * 1024,
                pages::Align::None,
            )
            .await
            {
                Ok(next) => next,
                Err(error) => {
                    let _ = tx
                        .send(Event::default().event("error").data(error.to_string()))
                        .await;
                    return;
                }
            };
        }
    });
    Ok(guarded(&web, &signed, stream))
}

/// The events an async task sends, as a stream.
fn async_stream<F, Fut>(run: F) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static
where
    F: FnOnce(tokio::sync::mpsc::Sender<Event>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(run(tx));
    futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|event| (Ok(event), rx))
    })
}

/// An event stream that ends when the caller's key is revoked or expires.
fn guarded(
    web: &Web,
    signed: &Signed,
    stream: impl Stream<Item = Result<Event, Infallible>> + Send + 'static,
) -> Response {
    let response = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    let (head, body) = response.into_parts();
    Response::from_parts(head, (web.guard)(&signed.principal, body))
}
