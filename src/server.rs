//! The one MCP handler every transport serves: tools, resources and server
//! info. It resolves who is calling and hands the work to `tools` and
//! `resources`; it knows nothing of stdio or HTTP.

use std::sync::Arc;

use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CompleteRequestParams, CompleteResult,
        GetPromptRequestParams, GetPromptResponse, Implementation, InitializeResult,
        ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
        PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse,
        ServerCapabilities, Tool,
    },
    service::RequestContext,
};

// logging/setLevel is deprecated (SEP-2577) but 2025-11-25 clients still send it.
#[allow(deprecated)]
use rmcp::model::SetLevelRequestParams;

use crate::{
    auth::Principal,
    enhance::Enhancer,
    metrics::Metrics,
    prompts, resources,
    store::Store,
    tools::{Registry, ToolContext, ToolFilter},
};

const INSTRUCTIONS: &str = "A kanban board for coding work. Start with list_projects (or create_project), then \
list_tasks / create_task. Statuses are todo, inprogress, inreview, done, cancelled; move a task with update_task. \
The board of a project is the resource kanban://projects/{project_id}/board. enhance_prompt turns a rough prompt \
or a task into a clear prompt for a coding agent; the prompt templates are MCP prompts.";

/// The MCP server: cheap to clone, shared by every connection of a process.
#[derive(Clone)]
pub struct KanbanServer {
    store: Store,
    registry: Arc<Registry>,
    enhancer: Arc<Enhancer>,
    /// Who a connection acts as when the request does not say (stdio: the
    /// key's principal or the local owner, fixed at start).
    principal: Option<Principal>,
    metrics: Option<Arc<Metrics>>,
}

impl KanbanServer {
    pub fn new(store: Store, filter: &ToolFilter, enhancer: Arc<Enhancer>) -> Self {
        KanbanServer {
            store,
            registry: Arc::new(Registry::new(filter)),
            enhancer,
            principal: None,
            metrics: None,
        }
    }

    /// Acts as `principal` for every request (stdio).
    pub fn with_principal(mut self, principal: Principal) -> Self {
        self.principal = Some(principal);
        self
    }

    /// Records tool calls in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The scope tool `name` needs, if this server offers it.
    pub fn tool_scope(&self, name: &str) -> Option<crate::auth::Scope> {
        self.registry.scope_of(name)
    }

    /// The principal a request acts as: over HTTP, the one the auth
    /// middleware attached to the request; otherwise the connection's.
    fn principal(&self, context: &RequestContext<RoleServer>) -> Result<Principal, ErrorData> {
        context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Principal>())
            .or(self.principal.as_ref())
            .cloned()
            .ok_or_else(|| ErrorData::invalid_request("the request carries no credentials", None))
    }
}

impl ServerHandler for KanbanServer {
    fn get_info(&self) -> InitializeResult {
        #[allow(deprecated)]
        // logging/setLevel is deprecated (SEP-2577) but 2025-11-25 clients send it
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .enable_prompts()
            .enable_completions()
            .enable_logging()
            .build();
        InitializeResult::new(capabilities)
            .with_server_info(
                Implementation::new("vibe-kanban-mcp", env!("CARGO_PKG_VERSION"))
                    .with_title("Vibe Kanban"),
            )
            .with_instructions(INSTRUCTIONS)
    }

    /// Accepted for older clients; this server's log lines go to stderr.
    #[allow(deprecated)]
    async fn set_level(
        &self,
        _request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        Ok(())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(
            self.registry.list(&self.principal(&context)?),
        ))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.registry.get(name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let ctx = ToolContext {
            store: self.store.clone(),
            principal: self.principal(&context)?,
            enhancer: Arc::clone(&self.enhancer),
        };
        let name = request.name.clone();
        let started = std::time::Instant::now();
        let result = self.registry.call(ctx, &name, request.arguments).await;
        let outcome = match &result {
            Ok(r) if r.is_error == Some(true) => "tool_error",
            Ok(_) => "ok",
            Err(_) => "invalid",
        };
        let elapsed = started.elapsed();
        if let Some(metrics) = &self.metrics {
            // Unknown tool names are not recorded: labels stay a bounded set.
            if self.registry.get(&name).is_some() {
                metrics.tool_call(&name, outcome, elapsed);
            }
        }
        tracing::debug!(tool = %name, outcome, elapsed_us = elapsed.as_micros() as u64, "tools/call");
        result.map(CallToolResponse::from)
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let cursor = request.as_ref().and_then(|r| r.cursor.as_deref());
        resources::list(&self.store, &self.principal(&context)?, cursor).await
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        resources::list_templates(request.as_ref().and_then(|r| r.cursor.as_deref()))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        resources::read(&self.store, &self.principal(&context)?, &request.uri)
            .await
            .map(ReadResourceResponse::from)
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let cursor = request.as_ref().and_then(|r| r.cursor.as_deref());
        prompts::list(&self.store, &self.principal(&context)?, cursor).await
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        prompts::get(
            &self.store,
            &self.principal(&context)?,
            &request.name,
            request.arguments,
        )
        .await
        .map(GetPromptResponse::from)
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        prompts::complete(&self.store, &self.principal(&context)?, &request).await
    }
}
