//! The tools this server offers: every area's tools, filtered by
//! `--toolsets` and `--read-only`, listed by the caller's scopes, and run
//! with their failures turned into tool errors or JSON-RPC errors.

use rmcp::{
    ErrorData,
    model::{CallToolResult, ContentBlock, JsonObject, Tool},
};

use super::{
    Encoding, ToolContext, ToolDef, ToolError, ToolFilter, ToolReply, Toolset, approvals,
    board_app, comments, github, keys, members, merge, projects, prompts, review, session_wait,
    sessions, tasks,
};
use crate::{
    auth::{Principal, Scope},
    mcp_error,
    store::Role,
};

/// Why `principal` may not call tool `name`, and what to do about it: the
/// refusal of every transport (HTTP answers it with a 403 before the call).
pub fn forbidden(name: &str, scope: Scope, role: Role, principal: &Principal) -> String {
    let why = if principal.is_at_least(role) {
        format!(
            "needs the `{}` scope, which these credentials lack (they carry {})",
            scope.as_str(),
            principal.scopes
        )
    } else {
        format!(
            "needs the {role} role or above; you are {} in workspace '{}'",
            principal.role, principal.workspace_name
        )
    };
    format!(
        "{name} {why}. Nothing was done; ask an admin of the workspace for a role or key that allows it, \
         or call tools/list to see the tools available to you"
    )
}

/// The tools this server offers, after `--toolsets` and `--read-only`.
pub struct Registry {
    tools: Vec<ToolDef>,
}

impl Registry {
    pub fn new(filter: &ToolFilter) -> Self {
        let tools = projects::tools()
            .into_iter()
            .chain(members::tools())
            .chain(keys::tools())
            .chain(tasks::tools())
            .chain(board_app::tools())
            .chain(comments::tools())
            .chain(sessions::tools())
            .chain(session_wait::tools())
            .chain(approvals::tools())
            .chain(review::tools())
            .chain(merge::tools())
            .chain(github::tools())
            .chain(prompts::tools())
            .filter(|def| filter.toolsets.is_empty() || filter.toolsets.contains(&def.toolset))
            .filter(|def| !filter.read_only || def.read_only)
            .collect();
        Registry { tools }
    }

    /// The tools `principal` may call.
    pub fn list(&self, principal: &Principal) -> Vec<Tool> {
        self.tools
            .iter()
            .filter(|def| principal.may(def.scope, def.role))
            .map(|def| def.tool.clone())
            .collect()
    }

    /// The scope a tool needs, if this server offers it.
    pub fn scope_of(&self, name: &str) -> Option<Scope> {
        self.tools
            .iter()
            .find(|def| def.tool.name == name)
            .map(|def| def.scope)
    }

    /// The least role in the workspace that may call tool `name`, if this
    /// server offers it.
    pub fn role_of(&self, name: &str) -> Option<Role> {
        self.tools
            .iter()
            .find(|def| def.tool.name == name)
            .map(|def| def.role)
    }

    /// What each tool this server offers needs (scope and role), in the
    /// registry's order: the source of the README's role table and the
    /// role matrix test.
    pub fn requirements(&self) -> impl Iterator<Item = (&'static str, Scope, Role, bool)> + '_ {
        self.tools
            .iter()
            .map(|def| (def.name, def.scope, def.role, def.read_only))
    }

    /// The registered name of a tool this server offers, if it does.
    pub fn known_name(&self, name: &str) -> Option<&'static str> {
        self.tools
            .iter()
            .find(|def| def.name == name)
            .map(|def| def.name)
    }

    /// The names of the tools this server offers, whoever asks.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.tools.iter().map(|def| def.name)
    }

    /// A tool's definition, whoever asks.
    pub fn get(&self, name: &str) -> Option<&Tool> {
        self.tools
            .iter()
            .find(|def| def.tool.name == name)
            .map(|def| &def.tool)
    }

    /// Whether tool `name` is offered and needs nothing of the request but
    /// its caller and arguments, so a transport may run it without rmcp's
    /// request context (no progress, no peer). Session tools are left to
    /// rmcp: they wait, stream and report progress.
    pub fn context_free(&self, name: &str) -> bool {
        self.tools
            .iter()
            .any(|def| def.name == name && def.toolset != Toolset::Sessions)
    }

    /// Runs a tool. Unknown (or hidden) tools and malformed arguments are
    /// JSON-RPC errors; everything that went wrong while doing the work is a
    /// tool result with `isError`, whose text says what to do next.
    pub async fn call(
        &self,
        ctx: ToolContext,
        name: &str,
        arguments: Option<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        self.call_encoded(ctx, name, arguments, Encoding::Tree)
            .await
            .map(|reply| reply.result)
    }

    /// [`Registry::call`], with the structured output encoded as asked.
    pub async fn call_encoded(
        &self,
        ctx: ToolContext,
        name: &str,
        arguments: Option<JsonObject>,
        encoding: Encoding,
    ) -> Result<ToolReply, ErrorData> {
        let Some(def) = self.tools.iter().find(|def| def.tool.name == name) else {
            return Err(ErrorData::invalid_params(
                format!("unknown tool '{name}'; call tools/list to see the tools available to you"),
                None,
            ));
        };
        if !ctx.principal.may(def.scope, def.role) {
            return Err(ErrorData::invalid_params(
                forbidden(name, def.scope, def.role, &ctx.principal),
                None,
            ));
        }
        let principal = ctx.principal.clone();
        let failed = |result| ToolReply {
            result,
            structured_json: None,
        };
        match (def.handler)(ctx, arguments.unwrap_or_default(), encoding).await {
            Ok(reply) => Ok(reply),
            Err(ToolError::InvalidParams(message)) => Err(ErrorData::invalid_params(
                format!("invalid arguments for {name}: {message}"),
                None,
            )),
            Err(ToolError::Failed(message)) => {
                Ok(failed(CallToolResult::error(vec![ContentBlock::text(
                    message,
                )])))
            }
            Err(ToolError::Store(err)) => {
                Ok(failed(CallToolResult::error(vec![ContentBlock::text(
                    mcp_error::store_message(&principal.workspace_name, name, &err),
                )])))
            }
        }
    }
}
