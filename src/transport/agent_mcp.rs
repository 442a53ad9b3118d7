//! The session's server (`vibe-kanban-mcp agent-mcp`): the stdio MCP server
//! a session's agent launches from the MCP configuration its runner gave
//! it. It acts for that one session only, proven by the turn's secret. With
//! approvals "ask" it offers the permission prompt tool Claude Code calls
//! before each tool use (`--permission-prompt-tool`): it records the request
//! as a pending approval, waits for the answer
//! ([`crate::sessions::approvals::wait_for_decision`]) and tells the agent,
//! as a text block holding `{"behavior":"allow","updatedInput":…}` or
//! `{"behavior":"deny","message":…}`.
//!
//! Always it offers [`COMMENT_TOOL`]: the agent comments on its own task as
//! it works, in the name of the member who started the session, marked as
//! written by the agent of this session.

use std::{sync::Arc, time::Duration};

use rmcp::{
    ErrorData, RoleServer, ServerHandler, ServiceExt,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
        InitializeResult, JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities,
        Tool,
    },
    service::RequestContext,
};
use serde::Deserialize;
use serde_json::json;

use crate::{
    sessions::approvals::{
        APPROVAL_TOOL, ApprovalError, Decision, decision_poll, decision_text, stored_input,
        token_hash, wait_for_decision,
    },
    store::{ApprovalRequest, MAX_COMMENT, SessionId, Store},
};

pub use crate::sessions::approvals::COMMENT_TOOL;

/// Longest tool name accepted.
const MAX_TOOL_NAME: usize = 200;

/// The approval server of one session.
#[derive(Clone)]
pub struct AgentMcp {
    store: Store,
    session_id: SessionId,
    token_hash: String,
    timeout: Duration,
    poll: Duration,
    /// Approvals "ask": the permission prompt tool is offered.
    asks: bool,
}

impl AgentMcp {
    /// The server for `session_id`, holding (the hash of) the turn's `token`.
    pub fn new(store: Store, session_id: SessionId, token: &str, timeout: Duration) -> Self {
        let poll = decision_poll(store.kind());
        AgentMcp {
            store,
            session_id,
            token_hash: token_hash(token),
            timeout,
            poll,
            asks: true,
        }
    }

    /// Without the permission prompt tool: the session's approvals are
    /// "auto", its agent asks nobody.
    pub fn without_approvals(mut self) -> Self {
        self.asks = false;
        self
    }

    fn tools(&self) -> Vec<Tool> {
        let mut tools = vec![Self::comment_tool()];
        if self.asks {
            tools.insert(0, Self::tool());
        }
        tools
    }

    /// Serves MCP on stdin/stdout until the agent closes the connection.
    pub async fn serve_stdio(self) -> anyhow::Result<()> {
        let running = self.serve(rmcp::transport::stdio()).await?;
        running.waiting().await?;
        Ok(())
    }

    fn tool() -> Tool {
        let schema = json!({
            "type": "object",
            "properties": {
                "tool_name": { "type": "string" },
                "input": { "type": "object" },
                "tool_use_id": { "type": "string" }
            },
            "required": ["tool_name", "input"]
        });
        let schema: JsonObject = match schema {
            serde_json::Value::Object(map) => map,
            _ => JsonObject::new(),
        };
        Tool::new(
            APPROVAL_TOOL,
            "Asks this session's reviewers whether a tool may run, and waits for their answer.",
            Arc::new(schema),
        )
    }

    fn comment_tool() -> Tool {
        let schema = json!({
            "type": "object",
            "properties": {
                "body": { "type": "string", "description": "Markdown, at most 20000 characters." },
                "task_id": { "type": "string", "description": "This session's task (the default); no other." }
            },
            "required": ["body"],
            "additionalProperties": false
        });
        let schema: JsonObject = match schema {
            serde_json::Value::Object(map) => map,
            _ => JsonObject::new(),
        };
        Tool::new(
            COMMENT_TOOL,
            "Comments on the task this session works on (progress, questions, findings), for the people on the board.",
            Arc::new(schema),
        )
    }

    /// Adds the agent's comment to the session's task; the text says what
    /// was written or why nothing was.
    async fn comment(&self, arguments: JsonObject) -> Result<CallToolResult, ErrorData> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct CommentArgs {
            body: String,
            #[serde(default)]
            task_id: Option<String>,
        }
        let args: CommentArgs = serde_json::from_value(serde_json::Value::Object(arguments))
            .map_err(|e| {
                ErrorData::invalid_params(
                    format!(
                        "invalid arguments for {COMMENT_TOOL}: {e}; it takes a `body` (markdown) and optionally \
                         `task_id` (this session's task)"
                    ),
                    None,
                )
            })?;
        let body = args.body.trim();
        let chars = body.chars().count();
        if body.is_empty() || chars > MAX_COMMENT {
            return Err(ErrorData::invalid_params(
                format!(
                    "field `body` is {chars} characters long; it must hold 1 to {MAX_COMMENT}. Nothing was written."
                ),
                None,
            ));
        }
        match self
            .store
            .add_agent_comment(
                &self.session_id,
                &self.token_hash,
                args.task_id.as_deref(),
                body,
            )
            .await
        {
            Ok(comment) => Ok(CallToolResult::success(vec![ContentBlock::text(format!(
                "Comment {} added to task {}.",
                comment.id, comment.task_id
            ))])),
            Err(e) => {
                tracing::warn!(session = %self.session_id, error = %e, "agent comment refused");
                Ok(CallToolResult::error(vec![ContentBlock::text(
                    e.full_message(),
                )]))
            }
        }
    }

    /// The answer to one permission request, as the agent reads it.
    async fn decide(&self, request: PermissionRequest) -> String {
        let input = request.input.unwrap_or_else(|| json!({}));
        let tool_name: String = request.tool_name.chars().take(MAX_TOOL_NAME).collect();
        let expires_at = chrono::Utc::now()
            + chrono::Duration::from_std(self.timeout).unwrap_or(chrono::Duration::minutes(30));
        let row = ApprovalRequest {
            session_id: self.session_id.clone(),
            token_hash: self.token_hash.clone(),
            tool_name,
            input: stored_input(&input),
            tool_use_id: request.tool_use_id,
            expires_at: expires_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        };
        let decision = match wait_for_decision(&self.store, &row, self.poll).await {
            Ok((_, decision)) => decision,
            Err(e @ ApprovalError::NotThisSession(_)) => Decision::Deny(e.to_string()),
            Err(ApprovalError::Store(e)) => {
                tracing::error!(session = %self.session_id, error = %e, "approval store failed");
                Decision::Deny(format!(
                    "the permission request could not be recorded or answered ({e}); it is denied"
                ))
            }
        };
        decision_text(&decision, &input)
    }
}

/// What Claude Code sends the permission prompt tool.
#[derive(Deserialize)]
struct PermissionRequest {
    tool_name: String,
    #[serde(default)]
    input: Option<serde_json::Value>,
    #[serde(default)]
    tool_use_id: Option<String>,
}

impl ServerHandler for AgentMcp {
    fn get_info(&self) -> InitializeResult {
        InitializeResult::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "vibe-kanban-mcp-approvals",
                env!("CARGO_PKG_VERSION"),
            ))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools().into_iter().find(|tool| tool.name == name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if request.name == COMMENT_TOOL {
            return self
                .comment(request.arguments.unwrap_or_default())
                .await
                .map(CallToolResponse::from);
        }
        if request.name != APPROVAL_TOOL || !self.asks {
            let offered: Vec<String> = self.tools().iter().map(|t| t.name.to_string()).collect();
            return Err(ErrorData::invalid_params(
                format!(
                    "unknown tool '{}'; this session's server has {} (session {} runs with approvals {})",
                    request.name,
                    offered.join(" and "),
                    self.session_id,
                    if self.asks { "ask" } else { "auto" }
                ),
                None,
            ));
        }
        let arguments = serde_json::Value::Object(request.arguments.unwrap_or_default());
        let permission: PermissionRequest = serde_json::from_value(arguments).map_err(|e| {
            ErrorData::invalid_params(
                format!("invalid arguments for {APPROVAL_TOOL}: {e}; it takes tool_name and input"),
                None,
            )
        })?;
        let text = self.decide(permission).await;
        Ok(CallToolResponse::from(CallToolResult::success(vec![
            ContentBlock::text(text),
        ])))
    }
}
