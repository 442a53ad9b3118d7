//! Live boards and logs over server-sent events.
//!
//! - **Boards**: one poller per open project, whatever the number of
//!   browsers showing it, asks the store for the board's version
//!   ([`Store::board_version`], one cheap read) every [`board_interval`]
//!   and fans a change out through a `watch` channel; each browser then
//!   fetches the columns again. The poller stops when its last browser
//!   leaves. On D1 that is one request per interval per project per
//!   server.
//! - **Session logs**: each open session page follows its log from the
//!   byte it has, through `read_execution_log`, until the session ends.
//!
//! Every stream is registered with the revocation watcher, so it closes
//! when its key is revoked or expires.

use std::{
    collections::HashMap,
    convert::Infallible,
    sync::{Arc, Mutex},
    time::Duration,
};

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
use tokio::sync::watch;

use super::{Web, WebError, pages, signin::Signed};
use crate::store::{Actor, Backend, ProjectId, Store};

/// How often a board's version is read: 250 ms on the local SQLite file (a
/// change shows within a second); 2 s on D1, where each read is a
/// Cloudflare API request (at most 150 per 5 minutes per open project).
pub fn board_interval(store: &Store) -> Duration {
    match store.kind() {
        Backend::Sqlite => Duration::from_millis(250),
        Backend::D1 => Duration::from_secs(2),
    }
}

/// The open boards' pollers.
pub struct Live {
    store: Store,
    interval: Duration,
    boards: Mutex<HashMap<ProjectId, watch::Sender<String>>>,
}

impl Live {
    pub fn new(store: Store) -> Self {
        Live {
            interval: board_interval(&store),
            store,
            boards: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ProjectId, watch::Sender<String>>> {
        self.boards
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The board's version now (drawn into the page, so its stream can tell
    /// a change made before it connected).
    pub async fn version(&self, actor: &Actor, project: &ProjectId) -> Result<String, WebError> {
        self.store
            .board_version(actor, project)
            .await
            .map_err(|e| WebError::Internal(format!("could not read the board's version: {e}")))
    }

    /// Changes of the board of `project` (which `actor` was just allowed to
    /// read); starts its poller when it is the first to watch.
    pub fn watch(self: &Arc<Self>, actor: &Actor, project: ProjectId) -> watch::Receiver<String> {
        let mut boards = self.lock();
        if let Some(sender) = boards.get(&project) {
            return sender.subscribe();
        }
        let (sender, receiver) = watch::channel(String::new());
        boards.insert(project.clone(), sender.clone());
        drop(boards);
        tokio::spawn(Arc::clone(self).poll(actor.clone(), project, sender));
        receiver
    }

    async fn poll(
        self: Arc<Self>,
        actor: Actor,
        project: ProjectId,
        sender: watch::Sender<String>,
    ) {
        loop {
            {
                // Checked under the lock `watch` takes, so no browser
                // subscribes to a poller that is going away.
                let mut boards = self.lock();
                if sender.receiver_count() == 0 {
                    boards.remove(&project);
                    return;
                }
            }
            match self.store.board_version(&actor, &project).await {
                Ok(version) => {
                    sender.send_if_modified(|seen| {
                        if *seen == version {
                            false
                        } else {
                            *seen = version;
                            true
                        }
                    });
                }
                Err(error) => {
                    tracing::warn!(%error, project = %project, "could not read the board's version")
                }
            }
            tokio::time::sleep(self.interval).await;
        }
    }
}

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
    let first = pages::read_log(&web, &signed, &session_id, Some(query.from), 256 * 1024).await?;
    let interval = board_interval(&web.live.store);
    let web2 = Arc::clone(&web);
    let principal = signed.principal.clone();
    let csrf = signed.csrf.clone();
    let stream = async_stream(move |tx| async move {
        let signed = Signed { principal, csrf };
        let mut chunk = first;
        loop {
            if chunk.end > chunk.start || !chunk.html.is_empty() {
                let data = json!({"end": chunk.end, "html": chunk.html}).to_string();
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
            chunk = match pages::read_log(&web2, &signed, &session_id, Some(chunk.end), 256 * 1024)
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
    Response::from_parts(head, web.streams.guard(&signed.principal, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_browsers_of_one_board_share_one_poller_that_stops_with_the_last() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open_sqlite(&dir.path().join("db.sqlite"))
            .await
            .expect("store");
        let live = Arc::new(Live::new(store));
        let actor = Actor {
            user_id: "u".into(),
            workspace_id: "w".into(),
            api_key_id: None,
            request_id: None,
        };
        let project = ProjectId::from("p");
        let watchers: Vec<_> = (0..3)
            .map(|_| live.watch(&actor, project.clone()))
            .collect();
        {
            let boards = live.lock();
            assert_eq!(boards.len(), 1);
            assert_eq!(boards[&project].receiver_count(), 3);
        }
        let mut first = watchers[0].clone();
        first
            .wait_for(|v| !v.is_empty())
            .await
            .expect("the poller's first look");
        drop(first);
        drop(watchers);
        // The poller notices on its next round and leaves (bounded wait).
        for _ in 0..400 {
            if live.lock().is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the poller kept running with nobody watching");
    }
}
