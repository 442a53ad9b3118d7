//! Live boards: what changes a board's open pages hear of.
//!
//! - **Boards**: one poller per open project, whatever the number of
//!   browsers showing it, asks the store for the board's version
//!   ([`Store::board_version`], one cheap read) every [`board_interval`]
//!   and fans a change out through a `watch` channel; each browser then
//!   fetches the columns again. The poller stops when its last browser
//!   leaves. On D1 that is one request per interval per project per
//!   server.
//!
//! The event streams themselves are `streams`'.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::watch;

use super::error::WebError;
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
    pub store: Store,
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
