//! `wait_for_session`: blocks until a session's turn ends (or it prints
//! more), with progress notifications while it waits and an end as soon as
//! the client cancels. The waiting itself is [`Sessions::wait`]; this file
//! checks the arguments, turns progress into `notifications/progress` and
//! shapes the result: the session as `get_session` shows it plus `timed_out`.

use std::{borrow::Cow, time::Duration};

use rmcp::model::ContentBlock;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    Effect, Render, ToolContext, ToolDef, ToolError, Toolset, args::checked_count, links,
    sessions::SessionDetailOut, tool,
};
use crate::{
    sessions::{Sessions, WaitEnd, WaitProgress, WaitUntil},
    store::{SessionId, SessionStatus},
};

/// Default and longest wait, in seconds.
const DEFAULT_WAIT_SECS: u64 = 60;
pub const MAX_WAIT_SECS: u64 = 600;
/// What an HTTP request that waits gets on top of its wait before the edge
/// gives up on it: time to read the session and answer.
pub const WAIT_MARGIN: Duration = Duration::from_secs(30);
/// Longest last log line a progress message quotes, in characters.
const PROGRESS_LINE_CHARS: usize = 200;

/// The tool, after the other session tools in the catalogue.
pub(super) fn tools() -> Vec<ToolDef> {
    vec![tool(
        NAME,
        TITLE,
        DESCRIPTION,
        Toolset::Sessions,
        Effect::Read,
        wait_for_session,
    )]
}

pub(super) const NAME: &str = "wait_for_session";
pub(super) const TITLE: &str = "Wait for agent session";
pub(super) const DESCRIPTION: &str = "Block until a session leaves queued/running (until: output: until it prints more) or \
     timeout_secs pass; returns what get_session returns plus timed_out. Sends progress when asked.";

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitArgs {
    /// From start_session or list_sessions.
    pub session_id: Uuid,
    /// Default done.
    #[serde(default)]
    pub until: Option<WaitUntil>,
    /// Default 60.
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_WAIT_SECS))]
    pub timeout_secs: Option<u64>,
}

/// The session when the wait ended.
#[derive(Debug, Serialize)]
pub struct WaitOut {
    #[serde(flatten)]
    pub detail: SessionDetailOut,
    /// Whether the timeout passed before the session got there.
    pub timed_out: bool,
    /// The wait asked for, in seconds (for the text).
    #[serde(skip)]
    timeout_secs: u64,
}

/// Only what `wait_for_session` adds to get_session's output: the rest of
/// the fields are get_session's (its `outputSchema` lists them), and
/// repeating them here would cost every conversation's context their size
/// again. Extra properties are allowed, so the full result validates.
impl JsonSchema for WaitOut {
    fn schema_name() -> Cow<'static, str> {
        "WaitOut".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let status = generator.subschema_for::<SessionStatus>();
        json_schema!({
            "type": "object",
            "properties": {
                "status": status,
                "timed_out": {"type": "boolean"}
            }
        })
    }
}

/// The longest an HTTP request calling tool `name` with `arguments` may
/// take, when that is longer than an ordinary call: a wait, plus
/// [`WAIT_MARGIN`]. `None` for every other tool.
pub fn call_allowance(name: &str, arguments: Option<&serde_json::Value>) -> Option<Duration> {
    if name != NAME {
        return None;
    }
    let secs = arguments
        .and_then(|a| a.get("timeout_secs"))
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(DEFAULT_WAIT_SECS)
        .clamp(1, MAX_WAIT_SECS);
    Some(Duration::from_secs(secs) + WAIT_MARGIN)
}

pub(super) async fn wait_for_session(
    ctx: ToolContext,
    args: WaitArgs,
) -> Result<WaitOut, ToolError> {
    let timeout = checked_count(
        "timeout_secs",
        args.timeout_secs,
        DEFAULT_WAIT_SECS,
        MAX_WAIT_SECS,
        " seconds",
    )?;
    let sessions: &Sessions = super::sessions::service(&ctx)?;
    let session_id = SessionId::from(args.session_id);
    let total = timeout as f64;
    let call = ctx.call.clone();
    let progress = call.wants_progress().then(|| {
        let call = call.clone();
        move |report: WaitProgress| {
            let call = call.clone();
            async move {
                let message = progress_message(&report);
                call.progress(report.elapsed.as_secs_f64(), Some(total), message)
                    .await;
            }
        }
    });
    let waited = sessions
        .wait(
            &ctx.principal.actor,
            &session_id,
            args.until.unwrap_or_default(),
            Duration::from_secs(timeout),
            &call.cancel,
            progress,
        )
        .await?;
    if waited.end == WaitEnd::Cancelled {
        return Err(ToolError::Failed(format!(
            "the wait for session {session_id} was cancelled; call wait_for_session again to keep waiting"
        )));
    }
    Ok(WaitOut {
        detail: SessionDetailOut::new(waited.detail),
        timed_out: waited.end == WaitEnd::TimedOut,
        timeout_secs: timeout,
    })
}

/// "running; last output: agent: line 3"
fn progress_message(report: &WaitProgress) -> String {
    let line: String = report.last_line.chars().take(PROGRESS_LINE_CHARS).collect();
    if line.is_empty() {
        format!("session {}; no output yet", report.status)
    } else {
        format!("session {}; last output: {line}", report.status)
    }
}

impl Render for WaitOut {
    fn render(&self) -> String {
        let session = &self.detail.session;
        let head = if self.timed_out {
            format!(
                "Timed out after {} s; session {} is still {}: wait again, or stop_session.\n",
                self.timeout_secs, session.id, session.status
            )
        } else if session.status.is_active() {
            format!("Session {} has new output.\n", session.id)
        } else {
            format!("Session {} is {}.\n", session.id, session.status)
        };
        head + &self.detail.render()
    }

    fn into_content(self) -> Vec<ContentBlock> {
        let mut content = vec![ContentBlock::text(self.render())];
        content.extend(links::session(&self.detail.session.id));
        content
    }
}
