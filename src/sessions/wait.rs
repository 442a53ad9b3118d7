//! Waiting for a session: until its turn ends (it leaves `queued` and
//! `running`) or its agent asks for an approval, or, with
//! [`WaitUntil::Output`], until it prints something new, within a timeout,
//! stoppable at once by the caller.
//!
//! A turn run by this process wakes the waiter at once: the runner announces
//! every turn end on [`super::TurnEnds`] and every flush of output on the `output`
//! notifier of `Local`, and every approval asked for or answered on
//! [`Sessions::approvals_changed`]. Changes made by other processes (a runner on another
//! machine, a stop from another server) are seen by reading the store every
//! [`SQLITE_STATUS_POLL`], or every [`D1_STATUS_POLL`] on D1, where each read
//! is a Cloudflare API request. The log, which is not in the store, is
//! checked every [`super::LOG_WATCH_INTERVAL`] when waiting for output.
//! Nothing here knows MCP: progress goes to a callback.

use std::time::Duration;

use serde::Deserialize;
use tokio::{sync::broadcast, time::Instant};
use tokio_util::sync::CancellationToken;

use super::{LAST_BYTES, LAST_LINES, LOG_WATCH_INTERVAL, Result, SessionDetail, Sessions};
use crate::{
    logs,
    store::{Actor, Backend, SessionId, SessionStatus},
};

/// How often a waiter reads the session from a SQLite store.
pub const SQLITE_STATUS_POLL: Duration = Duration::from_millis(500);
/// How often a waiter reads the session from D1: at most one request per
/// 5 s of waiting.
pub const D1_STATUS_POLL: Duration = Duration::from_secs(5);
/// Progress is reported at most this often…
pub const PROGRESS_EVERY: Duration = Duration::from_secs(2);
/// …and at least this often, even when nothing changed, so a proxy that
/// drops idle connections keeps the stream open.
pub const PROGRESS_KEEPALIVE: Duration = Duration::from_secs(15);

/// What a wait waits for.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum WaitUntil {
    /// The session leaves queued/running.
    #[default]
    Done,
    /// New log output (or the session finishing).
    Output,
}

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitEnd {
    /// What it waited for happened.
    Reached,
    /// The timeout passed first.
    TimedOut,
    /// The caller gave up (`notifications/cancelled`).
    Cancelled,
}

/// The session when the wait ended, and why it ended.
#[derive(Debug, Clone)]
pub struct Waited {
    pub detail: SessionDetail,
    pub end: WaitEnd,
}

/// Where a wait stands, for a progress report.
#[derive(Debug, Clone)]
pub struct WaitProgress {
    pub elapsed: Duration,
    pub status: SessionStatus,
    /// The last non-empty line of the session's log, if any.
    pub last_line: String,
}

/// What `until: "done"` waits for: the session has left queued/running, or
/// its agent waits for an answer to a permission request (approvals "ask").
fn done(detail: &SessionDetail) -> bool {
    !detail.session.status.is_active() || !detail.pending_approvals.is_empty()
}

impl Sessions {
    /// Waits for `session_id` as `until` says, at most `timeout`, and returns
    /// the session as [`Sessions::get`] does. A session that is not the
    /// caller's is `NotFound` at once, before anything waits. `progress` is
    /// called at most every [`PROGRESS_EVERY`] when something changed and
    /// at least every [`PROGRESS_KEEPALIVE`] (first at the start).
    pub async fn wait<P, Fut>(
        &self,
        actor: &Actor,
        session_id: &SessionId,
        until: WaitUntil,
        timeout: Duration,
        cancel: &CancellationToken,
        mut progress: Option<P>,
    ) -> Result<Waited>
    where
        P: FnMut(WaitProgress) -> Fut + Send,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let started = Instant::now();
        let deadline = started + timeout;
        let key = logs::session_key(session_id, logs::EXECUTION_LOG);
        let status_every = match self.inner.store.kind() {
            Backend::D1 => D1_STATUS_POLL,
            Backend::Sqlite => SQLITE_STATUS_POLL,
        };
        // Listen before the first read, so a turn that ends between the
        // read and the wait is not missed.
        let mut ends = self.inner.local.turn_ends.subscribe();
        let output = self.inner.local.output.notified();
        tokio::pin!(output);
        output.as_mut().enable();
        let approvals = self.approvals_changed().notified();
        tokio::pin!(approvals);
        approvals.as_mut().enable();

        // Read as `get_session` reads it, so the result is the same.
        let mut detail = self.get(actor, session_id).await?;
        let mut status_due = Instant::now() + status_every;
        let watch_output = until == WaitUntil::Output;
        let baseline = if watch_output {
            self.inner.logs.len(&key).await.unwrap_or(0)
        } else {
            0
        };
        let mut new_output = false;
        let mut log_due = Instant::now() + LOG_WATCH_INTERVAL;
        let mut progress_due = started;
        let mut last_report: Option<(Instant, SessionStatus, String)> = None;

        let end = loop {
            if done(&detail) || new_output {
                break WaitEnd::Reached;
            }
            let mut read_store = false;
            let mut check_log = false;
            tokio::select! {
                biased;
                () = cancel.cancelled() => break WaitEnd::Cancelled,
                ended = ends.recv() => match ended {
                    Ok(id) => read_store = &id == session_id,
                    // Missed some: one of them may be this session's.
                    Err(broadcast::error::RecvError::Lagged(_)) => read_store = true,
                    // The sender lives as long as `self`.
                    Err(broadcast::error::RecvError::Closed) => {}
                },
                () = &mut approvals => {
                    approvals.set(self.approvals_changed().notified());
                    approvals.as_mut().enable();
                    read_store = true;
                }
                () = &mut output, if watch_output => {
                    output.set(self.inner.local.output.notified());
                    output.as_mut().enable();
                    check_log = true;
                }
                () = tokio::time::sleep_until(status_due) => read_store = true,
                () = tokio::time::sleep_until(log_due), if watch_output => {
                    log_due = Instant::now() + LOG_WATCH_INTERVAL;
                    check_log = true;
                }
                () = tokio::time::sleep_until(progress_due), if progress.is_some() => {
                    progress_due = Instant::now() + PROGRESS_EVERY;
                    let line = self.last_line(&key).await;
                    let report = match &last_report {
                        None => true,
                        Some((at, status, last)) => {
                            *status != detail.session.status
                                || *last != line
                                || at.elapsed() >= PROGRESS_KEEPALIVE
                        }
                    };
                    if report && let Some(progress) = progress.as_mut() {
                        progress(WaitProgress {
                            elapsed: started.elapsed(),
                            status: detail.session.status,
                            last_line: line.clone(),
                        })
                        .await;
                        last_report = Some((Instant::now(), detail.session.status, line));
                    }
                }
                () = tokio::time::sleep_until(deadline) => break WaitEnd::TimedOut,
            }
            if check_log {
                new_output = self
                    .inner
                    .logs
                    .len(&key)
                    .await
                    .is_ok_and(|len| len > baseline);
            }
            if read_store || new_output {
                detail = self.get(actor, session_id).await?;
                status_due = Instant::now() + status_every;
            }
        };
        if end != WaitEnd::Reached {
            // The store was read up to a poll interval ago; the log is not
            // in the store and costs no request.
            detail.last_output = self
                .inner
                .logs
                .tail(&key, LAST_LINES, LAST_BYTES)
                .await?
                .text;
        }
        Ok(Waited { detail, end })
    }

    /// The last non-empty line of a log; empty when there is none (or the
    /// log cannot be read just now: progress is best effort).
    async fn last_line(&self, key: &str) -> String {
        match self.inner.logs.tail(key, 1, 4096).await {
            Ok(slice) => slice.text.trim_end().to_owned(),
            Err(_) => String::new(),
        }
    }
}
