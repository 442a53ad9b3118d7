//! The diff snapshots of this process: each state of a session's work (a
//! merge base and a tree) keeps its file list and a patch file in a directory
//! of this process's own, the oldest going first; plus each session's private
//! index file. [`super::diff`] builds the snapshots and reads pages of them.

use std::{
    collections::{HashMap, VecDeque},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use schemars::JsonSchema;
use serde::Serialize;

use super::host;
use crate::store::SessionId;

/// Snapshots kept per process; the oldest goes (with its patch file) first.
const CACHED_SNAPSHOTS: usize = 16;

/// How a file changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    Added,
    Modified,
    Deleted,
    Renamed,
    /// Not text: no line counts, and the patch says only that it differs.
    Binary,
}

/// One changed file.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DiffFile {
    pub path: String,
    /// The path before a rename.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_path: Option<String>,
    pub status: FileStatus,
    pub additions: u64,
    pub deletions: u64,
    /// Where its section starts in the patch: a `cursor`.
    pub offset: u64,
}

/// The file list and patch of one state of a session's work.
pub(super) struct Snapshot {
    pub(super) patch: PathBuf,
    pub(super) files: Vec<DiffFile>,
    pub(super) total_bytes: u64,
    pub(super) additions: u64,
    pub(super) deletions: u64,
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.patch);
    }
}

/// Snapshots by key, and their keys oldest first.
type Snapshots = (HashMap<String, Arc<Snapshot>>, VecDeque<String>);

/// This process's diff snapshots and private index files.
pub(super) struct DiffCache {
    pub(super) dir: PathBuf,
    snapshots: Mutex<Snapshots>,
    /// One at a time per session: its private index is shared.
    locks: Mutex<HashMap<SessionId, Arc<tokio::sync::Mutex<()>>>>,
}

impl DiffCache {
    /// A cache in a directory of its own under `data_dir/diff-cache`; the
    /// directories of processes that are gone are removed.
    pub(super) fn new(data_dir: &Path) -> Self {
        let root = data_dir.join("diff-cache");
        if let Ok(entries) = std::fs::read_dir(&root) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let pid = name.split('-').next().and_then(|p| p.parse::<i64>().ok());
                if pid.is_none_or(|pid| !host::process_alive(pid)) {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        let unique = crate::store::new_id();
        let dir = root.join(format!(
            "{}-{}",
            std::process::id(),
            &unique[unique.len() - 8..]
        ));
        DiffCache {
            dir,
            snapshots: Mutex::default(),
            locks: Mutex::default(),
        }
    }

    pub(super) fn lock_of(&self, session_id: &SessionId) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(session_id.clone())
            .or_default()
            .clone()
    }

    pub(super) fn get(&self, key: &str) -> Option<Arc<Snapshot>> {
        self.snapshots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0
            .get(key)
            .cloned()
    }

    pub(super) fn insert(&self, key: String, snapshot: Arc<Snapshot>) {
        let mut guard = self
            .snapshots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (map, order) = &mut *guard;
        if map.insert(key.clone(), snapshot).is_none() {
            order.push_back(key);
        }
        while order.len() > CACHED_SNAPSHOTS {
            if let Some(old) = order.pop_front() {
                // Its file goes when the last page reading it is done.
                map.remove(&old);
            }
        }
    }

    /// Forgets a session: its snapshots and its private index.
    pub(super) fn forget(&self, session_id: &SessionId) {
        let prefix = format!("{session_id}-");
        let mut guard = self
            .snapshots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (map, order) = &mut *guard;
        map.retain(|key, _| !key.starts_with(&prefix));
        order.retain(|key| !key.starts_with(&prefix));
        let _ = std::fs::remove_file(self.index_of(session_id));
    }

    pub(super) fn index_of(&self, session_id: &SessionId) -> PathBuf {
        self.dir.join(format!("{session_id}.index"))
    }
}

impl Drop for DiffCache {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
