//! Logs as files under the data directory: `{data_dir}/logs/{session_id}/…`.
//! A writer appends to open files; readers open, seek and read only the
//! range they need, from any process sharing the directory.

use std::{
    collections::HashMap,
    io::{Read, Seek, SeekFrom},
    path::{Component, Path, PathBuf},
};

use bytes::Bytes;
use tokio::io::AsyncWriteExt;

use super::error::{LogError, Result};

#[derive(Clone)]
pub struct LocalLogs {
    root: PathBuf,
}

impl LocalLogs {
    pub fn new(data_dir: PathBuf) -> Self {
        LocalLogs { root: data_dir }
    }

    pub fn writer(&self) -> LocalWriter {
        LocalWriter {
            root: self.root.clone(),
            files: HashMap::new(),
        }
    }

    pub async fn len(&self, key: &str) -> Result<u64> {
        match tokio::fs::metadata(path_of(&self.root, key)?).await {
            Ok(meta) => Ok(meta.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    /// Up to `limit` bytes from `start`, and the file's size.
    pub async fn read(&self, key: &str, start: u64, limit: u64) -> Result<(Bytes, u64)> {
        let path = path_of(&self.root, key)?;
        tokio::task::spawn_blocking(move || read_range(&path, start, limit))
            .await
            .map_err(|e| LogError::Io(std::io::Error::other(e)))?
    }
}

impl LocalLogs {
    /// Writes a small object whole, replacing any old one atomically (a
    /// temporary file renamed over it): readers see the old or the new.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<()> {
        let path = path_of(&self.root, key)?;
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let temporary = path.with_extension(format!("tmp-{}", uuid::Uuid::now_v7()));
        tokio::fs::write(&temporary, &bytes).await?;
        if let Err(error) = tokio::fs::rename(&temporary, &path).await {
            let _ = tokio::fs::remove_file(&temporary).await;
            return Err(error.into());
        }
        Ok(())
    }

    /// A small object whole, `None` when there is none.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        match tokio::fs::read(path_of(&self.root, key)?).await {
            Ok(bytes) => Ok(Some(Bytes::from(bytes))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

fn read_range(path: &Path, start: u64, limit: u64) -> Result<(Bytes, u64)> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Bytes::new(), 0)),
        Err(e) => return Err(e.into()),
    };
    let total = file.metadata()?.len();
    if start >= total {
        return Ok((Bytes::new(), total));
    }
    let want = limit.min(total - start);
    file.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
    file.take(want).read_to_end(&mut buf)?;
    Ok((Bytes::from(buf), total))
}

/// Keys are made by this crate, but a key is still never allowed to leave
/// the logs directory.
fn path_of(root: &Path, key: &str) -> Result<PathBuf> {
    let relative = Path::new(key);
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(LogError::Config(format!("invalid log key {key}")));
    }
    Ok(root.join(relative))
}

/// Appends to log files, keeping them open while the session runs.
pub struct LocalWriter {
    root: PathBuf,
    files: HashMap<String, tokio::io::BufWriter<tokio::fs::File>>,
}

impl LocalWriter {
    pub async fn append(&mut self, key: &str, bytes: &[u8]) -> Result<()> {
        if !self.files.contains_key(key) {
            let path = path_of(&self.root, key)?;
            if let Some(parent) = path.parent() {
                tokio::fs::create_dir_all(parent).await?;
            }
            let file = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .await?;
            self.files
                .insert(key.to_owned(), tokio::io::BufWriter::new(file));
        }
        if let Some(file) = self.files.get_mut(key) {
            file.write_all(bytes).await?;
        }
        Ok(())
    }

    pub async fn flush(&mut self) -> Result<()> {
        for file in self.files.values_mut() {
            file.flush().await?;
        }
        Ok(())
    }
}
