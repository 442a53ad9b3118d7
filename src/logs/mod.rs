//! Execution logs: where a session's output is kept and how it is read back.
//!
//! Keys follow the seed's R2 layout: `logs/{session_id}/execution.log` (every
//! process, both streams, in order) and `logs/{session_id}/agent_output.log`
//! (what the coding agent printed on stdout), plus `stdout.log`/`stderr.log`
//! for the whole session and `processes/{process_id}/{stdout,stderr,output}.log`
//! for each process. Two backends hold them:
//!
//! - [`local`]: files under the data directory, appended as output arrives.
//! - [`r2`]: Cloudflare R2 (any S3 API) through the small SigV4 client in
//!   [`s3`]. Objects are immutable, so a live log is a base object plus
//!   numbered chunks, joined into the base when a turn ends.
//!
//! Small objects other than logs (avatars: `avatars/{user_id}/avatar.png`)
//! are written and read whole with [`LogStore::put`] and [`LogStore::get`].
//!
//! Reads go by byte range and tails read backwards in blocks, so no read ever
//! loads a whole large log into memory. This module knows no SQL and no MCP.

mod error;
pub mod local;
pub mod r2;
pub mod s3;

use std::path::PathBuf;

use bytes::Bytes;
use serde::Deserialize;

pub use error::{LogError, Result};

/// The combined log of a session: every process, both streams.
pub const EXECUTION_LOG: &str = "execution.log";
/// What coding agents printed on stdout, turn after turn.
pub const AGENT_OUTPUT_LOG: &str = "agent_output.log";

/// Largest range one read returns, in bytes.
pub const MAX_READ_BYTES: u64 = 1024 * 1024;
/// Block size of backwards reads while looking for line starts.
const TAIL_BLOCK: u64 = 64 * 1024;

/// The key of a session-wide log file.
pub fn session_key(session_id: &str, file: &str) -> String {
    format!("logs/{session_id}/{file}")
}

/// The key of one process's log (`stdout`, `stderr` or `output` for both).
pub fn process_key(session_id: &str, process_id: &str, stream: &str) -> String {
    format!("logs/{session_id}/processes/{process_id}/{stream}.log")
}

/// The `[logs]` section of the configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsConfig {
    /// `local` (default: files under the data directory) or `r2`.
    #[serde(default)]
    pub backend: LogBackendKind,
    /// Connection to R2 (or any S3-compatible store) when `backend = "r2"`.
    #[serde(default)]
    pub r2: Option<r2::R2Config>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogBackendKind {
    #[default]
    Local,
    R2,
}

/// A range of a log, decoded as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSlice {
    /// The bytes read, as UTF-8 (invalid sequences replaced).
    pub text: String,
    /// Byte offset of the first byte returned.
    pub start: u64,
    /// Byte offset just past the last byte returned: the next cursor.
    pub end: u64,
    /// Size of the whole log when it was read.
    pub total: u64,
}

/// Where logs live. Cheap to clone.
#[derive(Clone)]
pub struct LogStore {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Local(local::LocalLogs),
    R2(r2::R2Logs),
}

impl LogStore {
    /// Logs as files under `data_dir/logs`.
    pub fn local(data_dir: PathBuf) -> Self {
        LogStore {
            backend: Backend::Local(local::LocalLogs::new(data_dir)),
        }
    }

    /// The store the configuration asks for.
    pub fn from_config(config: &LogsConfig, data_dir: PathBuf) -> Result<Self> {
        match config.backend {
            LogBackendKind::Local => Ok(LogStore::local(data_dir)),
            LogBackendKind::R2 => {
                let r2 = config.r2.as_ref().ok_or_else(|| {
                    LogError::Config(
                        "[logs] backend = \"r2\" needs a [logs.r2] section with endpoint and bucket".to_owned(),
                    )
                })?;
                Ok(LogStore {
                    backend: Backend::R2(r2::R2Logs::connect(r2)?),
                })
            }
        }
    }

    /// A short name for logs and messages ("local", "r2").
    /// Whether logs are files on this machine's disk (not shared).
    pub fn is_local(&self) -> bool {
        matches!(self.backend, Backend::Local(_))
    }

    pub fn kind(&self) -> &'static str {
        match self.backend {
            Backend::Local(_) => "local",
            Backend::R2(_) => "r2",
        }
    }

    /// Writes a small object whole (an avatar), replacing any old one.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<()> {
        match &self.backend {
            Backend::Local(logs) => logs.put(key, bytes).await,
            Backend::R2(logs) => logs.put(key, bytes).await,
        }
    }

    /// A small object whole, `None` when there is none.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        match &self.backend {
            Backend::Local(logs) => logs.get(key).await,
            Backend::R2(logs) => logs.get(key).await,
        }
    }

    /// Opens a writer that appends to a session's logs.
    pub async fn writer(&self) -> Result<LogWriter> {
        Ok(match &self.backend {
            Backend::Local(logs) => LogWriter::Local(logs.writer()),
            Backend::R2(logs) => LogWriter::R2(logs.writer()),
        })
    }

    /// Current size of a log in bytes (0 when it does not exist yet).
    pub async fn len(&self, key: &str) -> Result<u64> {
        match &self.backend {
            Backend::Local(logs) => logs.len(key).await,
            Backend::R2(logs) => Ok(logs.layout(key).await?.total()),
        }
    }

    /// Reads up to `limit` bytes from `cursor`. The end is moved back to a
    /// character boundary, so a cursor never splits a UTF-8 sequence.
    pub async fn read(&self, key: &str, cursor: u64, limit: u64) -> Result<LogSlice> {
        let limit = limit.min(MAX_READ_BYTES);
        let (bytes, total) = match &self.backend {
            Backend::Local(logs) => logs.read(key, cursor, limit).await?,
            Backend::R2(logs) => {
                logs.read_key(key, cursor, cursor.saturating_add(limit))
                    .await?
            }
        };
        let start = cursor.min(total);
        let complete = if start + (bytes.len() as u64) < total {
            utf8_complete_prefix(&bytes)
        } else {
            bytes.len()
        };
        let kept = bytes.slice(..complete);
        Ok(LogSlice {
            text: String::from_utf8_lossy(&kept).into_owned(),
            start,
            end: start + kept.len() as u64,
            total,
        })
    }

    /// The last `lines` lines (at most `max_bytes`), read backwards in blocks.
    pub async fn tail(&self, key: &str, lines: usize, max_bytes: u64) -> Result<LogSlice> {
        let total = self.len(key).await?;
        if lines == 0 || total == 0 {
            return Ok(LogSlice {
                text: String::new(),
                start: total,
                end: total,
                total,
            });
        }
        let floor = total.saturating_sub(max_bytes.min(MAX_READ_BYTES));
        // A final newline ends the last line; it does not start another.
        let mut newlines_needed = lines;
        let mut end = total;
        let mut start = total;
        let mut first = true;
        'search: while end > floor {
            let block_start = end.saturating_sub(TAIL_BLOCK).max(floor);
            let block = self.raw(key, block_start, end).await?;
            let mut scan = block.as_ref();
            if first && scan.last() == Some(&b'\n') {
                scan = &scan[..scan.len() - 1];
            }
            first = false;
            for (index, byte) in scan.iter().enumerate().rev() {
                if *byte == b'\n' {
                    newlines_needed -= 1;
                    if newlines_needed == 0 {
                        start = block_start + index as u64 + 1;
                        break 'search;
                    }
                }
            }
            start = block_start;
            end = block_start;
        }
        let bytes = self.raw(key, start, total).await?;
        Ok(LogSlice {
            text: String::from_utf8_lossy(&bytes).into_owned(),
            start,
            end: total,
            total,
        })
    }

    /// Raw bytes of `[start, end)`.
    async fn raw(&self, key: &str, start: u64, end: u64) -> Result<Bytes> {
        match &self.backend {
            Backend::Local(logs) => Ok(logs.read(key, start, end - start).await?.0),
            Backend::R2(logs) => Ok(logs.read_key(key, start, end).await?.0),
        }
    }
}

/// Appends to logs; one per running session. Writes are buffered: call
/// [`LogWriter::flush`] to make them visible to readers, and
/// [`LogWriter::finish`] when the turn ends.
pub enum LogWriter {
    Local(local::LocalWriter),
    R2(r2::R2Writer),
}

impl LogWriter {
    pub async fn append(&mut self, key: &str, bytes: &[u8]) -> Result<()> {
        match self {
            LogWriter::Local(w) => w.append(key, bytes).await,
            LogWriter::R2(w) => w.append(key, bytes).await,
        }
    }

    /// Makes everything appended so far readable.
    pub async fn flush(&mut self) -> Result<()> {
        match self {
            LogWriter::Local(w) => w.flush().await,
            LogWriter::R2(w) => w.flush().await,
        }
    }

    /// Flushes and, on R2, joins each log's chunks into one object.
    pub async fn finish(self) -> Result<()> {
        match self {
            LogWriter::Local(mut w) => w.flush().await,
            LogWriter::R2(w) => w.finish().await,
        }
    }
}

/// The length of the longest prefix of `bytes` that does not end inside a
/// UTF-8 sequence (invalid bytes elsewhere are left for lossy decoding).
fn utf8_complete_prefix(bytes: &[u8]) -> usize {
    // A sequence is at most 4 bytes: look at the last 3 for a lead byte whose
    // sequence runs past the end.
    let len = bytes.len();
    for back in 1..=3.min(len) {
        let byte = bytes[len - back];
        let width = match byte {
            0x00..=0x7f => return len,
            0x80..=0xbf => continue,
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            _ => 4,
        };
        return if width > back { len - back } else { len };
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_prefix_stops_before_a_cut_sequence() {
        assert_eq!(utf8_complete_prefix(b"abc"), 3);
        let e_acute = "é".as_bytes();
        assert_eq!(utf8_complete_prefix(&[b'a', e_acute[0]]), 1);
        assert_eq!(utf8_complete_prefix(&[b'a', e_acute[0], e_acute[1]]), 3);
        let euro = "€".as_bytes();
        assert_eq!(utf8_complete_prefix(&euro[..2]), 0);
        assert_eq!(utf8_complete_prefix(euro), 3);
    }

    #[tokio::test]
    async fn local_reads_ranges_and_tails_without_reading_everything() {
        let dir = tempfile::tempdir().expect("temp dir");
        let logs = LogStore::local(dir.path().to_owned());
        let key = session_key("s1", EXECUTION_LOG);
        let mut writer = logs.writer().await.expect("writer");
        let mut expected = String::new();
        for i in 0..10_000 {
            let line = format!("line {i}\n");
            writer.append(&key, line.as_bytes()).await.expect("append");
            expected.push_str(&line);
        }
        writer.finish().await.expect("finish");
        assert_eq!(logs.len(&key).await.expect("len"), expected.len() as u64);
        let tail = logs.tail(&key, 3, MAX_READ_BYTES).await.expect("tail");
        assert_eq!(tail.text, "line 9997\nline 9998\nline 9999\n");
        assert_eq!(tail.end, expected.len() as u64);
        let slice = logs.read(&key, 7, 14).await.expect("read");
        assert_eq!(slice.text, &expected[7..21]);
        assert_eq!((slice.start, slice.end), (7, 21));
        let past = logs.read(&key, 1 << 40, 10).await.expect("read past end");
        assert_eq!(past.text, "");
        assert_eq!(past.end, expected.len() as u64);
        let missing = logs.tail("logs/none/execution.log", 5, 1000).await;
        assert_eq!(missing.expect("missing log is empty").total, 0);
        // More lines asked than exist: the whole log.
        let short = session_key("s2", EXECUTION_LOG);
        let mut writer = logs.writer().await.expect("writer");
        writer.append(&short, b"a\nb").await.expect("append");
        writer.finish().await.expect("finish");
        assert_eq!(
            logs.tail(&short, 10, 1000).await.expect("tail").text,
            "a\nb"
        );
        assert_eq!(logs.tail(&short, 1, 1000).await.expect("tail").text, "b");
    }
}
