//! Logs in Cloudflare R2 through its S3 API (the SigV4-signed client in
//! [`super::s3`]). R2 objects are immutable, so a log is:
//!
//! - a base object at its key (absent until the first turn ends), and
//! - chunks written while a turn runs, at `{key}.chunks/{offset}` where
//!   `offset` (20 digits) is the byte position the chunk starts at.
//!
//! A reader takes the base, then the chunks that start at or after the
//! base's end. When a turn ends the writer joins base + chunks into a new
//! base (a multipart upload, streamed part by part) and deletes the chunks;
//! chunk names carry their offset, so a reader in the middle of that never
//! counts a byte twice.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use bytes::Bytes;
use serde::Deserialize;

use super::error::{LogError, Result};
use super::s3::{S3Client, S3Error, S3Settings};

/// Bytes read and sent as one part while joining a log (S3 and R2 refuse
/// parts under 5 MiB, except the last).
const COPY_BLOCK: u64 = 8 * 1024 * 1024;

/// `[logs.r2]`: an R2 bucket (or any S3-compatible store).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct R2Config {
    /// S3 endpoint, e.g. `https://<account_id>.r2.cloudflarestorage.com`.
    pub endpoint: String,
    pub bucket: String,
    /// R2 takes `auto`.
    #[serde(default = "default_region")]
    pub region: String,
    /// Access key id; `VK_R2_ACCESS_KEY_ID` overrides it.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// Secret access key; `VK_R2_SECRET_ACCESS_KEY` overrides it.
    #[serde(default)]
    pub secret_access_key: Option<String>,
    /// Write a live log's buffered output as a chunk at least this often.
    #[serde(default = "default_flush_interval_ms")]
    pub flush_interval_ms: u64,
    /// …or as soon as this many bytes are buffered.
    #[serde(default = "default_chunk_bytes")]
    pub chunk_bytes: usize,
}

fn default_region() -> String {
    "auto".to_owned()
}
fn default_flush_interval_ms() -> u64 {
    2000
}
fn default_chunk_bytes() -> usize {
    4 * 1024 * 1024
}

#[derive(Clone)]
pub struct R2Logs {
    store: S3Client,
    flush_interval: Duration,
    chunk_bytes: usize,
}

/// Where a log's bytes are right now.
pub struct Layout {
    base: Option<(String, u64)>,
    /// (start offset, size, object) in order, each starting where the last ended.
    chunks: Vec<(u64, u64, String)>,
}

impl Layout {
    pub fn total(&self) -> u64 {
        let base = self.base.as_ref().map_or(0, |b| b.1);
        self.chunks.last().map_or(base, |(at, size, _)| at + size)
    }
}

fn chunk_prefix(key: &str) -> String {
    format!("{key}.chunks/")
}

fn chunk_path(key: &str, offset: u64) -> String {
    format!("{key}.chunks/{offset:020}")
}

impl R2Logs {
    pub fn connect(config: &R2Config) -> Result<Self> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let access_key = env("VK_R2_ACCESS_KEY_ID").or_else(|| config.access_key_id.clone());
        let secret = env("VK_R2_SECRET_ACCESS_KEY").or_else(|| config.secret_access_key.clone());
        let (Some(access_key), Some(secret)) = (access_key, secret) else {
            return Err(LogError::Config(
                "R2 logs need credentials: set access_key_id and secret_access_key in [logs.r2], or \
                 VK_R2_ACCESS_KEY_ID and VK_R2_SECRET_ACCESS_KEY"
                    .to_owned(),
            ));
        };
        // reqwest is built without a bundled crypto provider; use ring, as the
        // D1 and model clients do.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = S3Client::new(S3Settings {
            endpoint: config.endpoint.clone(),
            bucket: config.bucket.clone(),
            region: config.region.clone(),
            access_key_id: access_key,
            secret_access_key: secret,
        })
        .map_err(|e| LogError::Config(format!("invalid [logs.r2] settings: {e}")))?;
        Ok(R2Logs {
            store,
            flush_interval: Duration::from_millis(config.flush_interval_ms),
            chunk_bytes: config.chunk_bytes.max(1),
        })
    }

    pub fn writer(&self) -> R2Writer {
        R2Writer {
            logs: self.clone(),
            logs_open: HashMap::new(),
            last_flush: Instant::now(),
        }
    }

    pub async fn layout(&self, key: &str) -> Result<Layout> {
        let base = self
            .store
            .head(key)
            .await?
            .map(|size| (key.to_owned(), size));
        let base_len = base.as_ref().map_or(0, |b| b.1);
        let prefix = chunk_prefix(key);
        let mut chunks: Vec<(u64, u64, String)> = self
            .store
            .list(&prefix)
            .await?
            .into_iter()
            .filter_map(|object| {
                let offset = object.key.strip_prefix(&prefix)?.parse::<u64>().ok()?;
                Some((offset, object.size, object.key))
            })
            .collect();
        chunks.sort_by_key(|c| c.0);
        // Chunks already joined into the base are skipped; a gap means a
        // chunk is not written yet, so the log ends before it.
        let mut contiguous = Vec::with_capacity(chunks.len());
        let mut next = base_len;
        for chunk in chunks.into_iter().filter(|c| c.0 >= base_len) {
            if chunk.0 != next {
                break;
            }
            next = chunk.0 + chunk.1;
            contiguous.push(chunk);
        }
        Ok(Layout {
            base,
            chunks: contiguous,
        })
    }

    /// The bytes of `[start, end)` of the log `layout` describes.
    pub async fn read(&self, layout: &Layout, start: u64, end: u64) -> Result<Bytes> {
        if start >= end {
            return Ok(Bytes::new());
        }
        let mut segments: Vec<(u64, u64, &str)> = Vec::new();
        if let Some((path, size)) = &layout.base {
            segments.push((0, *size, path.as_str()));
        }
        segments.extend(
            layout
                .chunks
                .iter()
                .map(|(at, size, path)| (*at, *size, path.as_str())),
        );
        let mut out = Vec::with_capacity(usize::try_from(end - start).unwrap_or(0));
        for (at, size, path) in segments {
            let (from, to) = (start.max(at), end.min(at + size));
            if from >= to {
                continue;
            }
            let bytes = self.store.get_range(path, from - at, to - at).await?;
            out.extend_from_slice(&bytes);
        }
        Ok(Bytes::from(out))
    }

    /// Reads `[start, min(end, total))` of `key` and the log's size. A chunk
    /// may be joined and deleted between listing and reading: then the read
    /// is done again on the new layout.
    pub async fn read_key(&self, key: &str, start: u64, end: u64) -> Result<(Bytes, u64)> {
        let mut attempts = 0;
        loop {
            let layout = self.layout(key).await?;
            let total = layout.total();
            match self.read(&layout, start, end.min(total)).await {
                Err(LogError::Remote(S3Error::NotFound { .. })) if attempts < 3 => {
                    attempts += 1;
                }
                other => return other.map(|bytes| (bytes, total)),
            }
        }
    }

    /// Writes a small object whole (an avatar), replacing any old one.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<()> {
        self.store.put(key, bytes).await?;
        Ok(())
    }

    /// A small object whole, `None` when there is none.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        match self.store.get(key).await {
            Ok(found) => Ok(Some(found)),
            Err(S3Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Joins base + chunks into one object and deletes the chunks.
    async fn join(&self, key: &str) -> Result<()> {
        let layout = self.layout(key).await?;
        if layout.chunks.is_empty() {
            return Ok(());
        }
        let mut upload = self.store.create_multipart(key).await?;
        let total = layout.total();
        let mut at = 0;
        while at < total {
            let to = (at + COPY_BLOCK).min(total);
            let sent = match self.read(&layout, at, to).await {
                Ok(bytes) => upload.put_part(bytes).await.map_err(LogError::from),
                Err(e) => Err(e),
            };
            if let Err(e) = sent {
                // The chunks stay; the next turn's end joins them again.
                let _ = upload.abort().await;
                return Err(e);
            }
            at = to;
        }
        upload.complete().await?;
        for (_, _, path) in &layout.chunks {
            self.store.delete(path).await?;
        }
        Ok(())
    }
}

struct OpenLog {
    /// Where the next chunk starts.
    offset: u64,
    buffer: Vec<u8>,
}

/// Buffers a session's output and writes it as chunks.
pub struct R2Writer {
    logs: R2Logs,
    logs_open: HashMap<String, OpenLog>,
    last_flush: Instant,
}

impl R2Writer {
    pub async fn append(&mut self, key: &str, bytes: &[u8]) -> Result<()> {
        if !self.logs_open.contains_key(key) {
            // Output continues a log an earlier turn (maybe another runner) left.
            let offset = self.logs.layout(key).await?.total();
            self.logs_open.insert(
                key.to_owned(),
                OpenLog {
                    offset,
                    buffer: Vec::new(),
                },
            );
        }
        let full = match self.logs_open.get_mut(key) {
            Some(log) => {
                log.buffer.extend_from_slice(bytes);
                log.buffer.len() >= self.logs.chunk_bytes
            }
            None => false,
        };
        if full {
            self.write_chunk(key).await?;
        }
        Ok(())
    }

    async fn write_chunk(&mut self, key: &str) -> Result<()> {
        let Some(log) = self.logs_open.get_mut(key) else {
            return Ok(());
        };
        if log.buffer.is_empty() {
            return Ok(());
        }
        let bytes = std::mem::take(&mut log.buffer);
        let len = bytes.len() as u64;
        let path = chunk_path(key, log.offset);
        self.logs.store.put(&path, Bytes::from(bytes)).await?;
        log.offset += len;
        Ok(())
    }

    /// Writes buffered output as chunks, at most once per flush interval.
    pub async fn flush(&mut self) -> Result<()> {
        if self.last_flush.elapsed() < self.logs.flush_interval {
            return Ok(());
        }
        self.flush_now().await
    }

    async fn flush_now(&mut self) -> Result<()> {
        let keys: Vec<String> = self.logs_open.keys().cloned().collect();
        for key in keys {
            self.write_chunk(&key).await?;
        }
        self.last_flush = Instant::now();
        Ok(())
    }

    pub async fn finish(mut self) -> Result<()> {
        self.flush_now().await?;
        for key in self.logs_open.keys() {
            self.logs.join(key).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    /// Every HTTP client here (D1, R2, model providers, rmcp's client in
    /// tests) uses rustls with ring. A second provider is a long C build and
    /// megabytes of binary, and creeps back in through a dependency's feature
    /// (object_store's "aws" pulled aws-lc-rs): the lock file must not list one.
    #[test]
    fn one_tls_crypto_provider_is_linked() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock");
        let lock = std::fs::read_to_string(path).expect("Cargo.lock");
        let packages: Vec<&str> = lock
            .lines()
            .filter_map(|line| line.strip_prefix("name = \""))
            .filter_map(|rest| rest.strip_suffix('"'))
            .collect();
        assert!(packages.contains(&"ring"), "ring is the crypto provider");
        let others: Vec<&&str> = packages
            .iter()
            .filter(|name| {
                matches!(
                    **name,
                    "aws-lc-rs" | "aws-lc-sys" | "aws-lc-fips-sys" | "openssl-sys" | "native-tls"
                )
            })
            .collect();
        assert!(
            others.is_empty(),
            "a second TLS crypto provider is in Cargo.lock: {others:?}. Find what pulls it in with \
             `cargo tree -e features -i <name>` and turn that feature off (reqwest: \
             \"rustls-no-provider\")"
        );
    }
}
