//! The one MCP handler every transport serves: tools, resources and server
//! info. It resolves who is calling and hands the work to `tools` and
//! `resources`; it knows nothing of stdio or HTTP. [`Checked`] (`checked.rs`)
//! adds the per-request checks of stdio; `params.rs` says what is wrong with
//! the params of a request rmcp could not read; `tasks.rs` runs
//! `start_session` and `send_follow_up` as MCP tasks (SEP-2663).

mod checked;
mod params;
mod tasks;

pub use checked::Checked;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CancelTaskParams, CompleteRequestParams,
        CompleteResult, CustomRequest, CustomResult, ErrorCode, GetPromptRequestParams,
        GetPromptResponse, GetTaskParams, GetTaskResult, Implementation, InitializeResult,
        JsonObject, ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult,
        ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse,
        ResourceUpdatedNotificationParam, ServerCapabilities, SubscribeRequestParams,
        SubscriptionFilter, Tool, UnsubscribeRequestParams, UpdateTaskParams,
    },
    service::{RequestContext, SubscriptionContext},
};

// logging/setLevel is deprecated (SEP-2577) but 2025-11-25 clients still send it.
#[allow(deprecated)]
use rmcp::model::SetLevelRequestParams;

use crate::{
    auth::{KeyCheck, Principal},
    enhance::Enhancer,
    mcp_error,
    metrics::Metrics,
    prompts, resources,
    sessions::Sessions,
    store::{Store, StoreError},
    tools::{Encoding, Registry, ToolContext, ToolFilter, ToolReply},
};

/// The server's instructions, built from the tools it offers (after
/// `--toolsets` and `--read-only`): each sentence names only tools in the
/// list, so a `--toolsets tasks` server says nothing of sessions. Resources
/// and prompts are offered whatever the toolsets, so they are always named.
fn instructions(offers: impl Fn(&str) -> bool) -> String {
    // The names of `tools` this server offers, in order.
    let offered = |tools: &[&'static str]| -> Vec<&'static str> {
        tools.iter().copied().filter(|tool| offers(tool)).collect()
    };
    let mut text = vec!["A kanban board for coding work.".to_owned()];
    let projects = offered(&["list_projects", "create_project"]);
    let tasks = offered(&["list_tasks", "create_task"]).join(" / ");
    let start = match projects.as_slice() {
        [list, create] => Some(format!("{list} (or {create})")),
        [one] => Some((*one).to_owned()),
        _ => None,
    };
    match (start, tasks.is_empty()) {
        (Some(start), false) => text.push(format!("Start with {start}, then {tasks}.")),
        (Some(start), true) => text.push(format!("Start with {start}.")),
        (None, false) => text.push(format!(
            "Start with {tasks} on a project id (the project boards are listed as resources)."
        )),
        (None, true) => {}
    }
    text.push(format!(
        "Statuses are todo, inprogress, inreview, done, cancelled{}.",
        if offers("update_task") {
            "; move a task with update_task"
        } else {
            ""
        }
    ));
    let board = "The board of a project is the resource kanban://projects/{project_id}/board.";
    if offers("enhance_prompt") {
        text.push(format!(
            "{board} enhance_prompt turns a rough prompt or a task into a clear prompt for a coding \
             agent; the prompt templates are MCP prompts."
        ));
    } else {
        text.push(format!("{board} The prompt templates are MCP prompts."));
    }
    let log = "the resource kanban://sessions/{session_id}/log";
    let follow = offered(&["wait_for_session", "get_session", "read_execution_log"]);
    if offers("start_session") {
        text.push(format!(
            "start_session runs a coding agent on a task; follow it with {}{}{log}.",
            follow.join(", "),
            if follow.is_empty() { "" } else { " or " }
        ));
    } else {
        let tools = offered(&[
            "list_sessions",
            "wait_for_session",
            "get_session",
            "read_execution_log",
        ]);
        if !tools.is_empty() {
            text.push(format!(
                "Coding-agent sessions run on tasks; follow them with {} or {log}.",
                tools.join(", ")
            ));
        }
    }
    text.join(" ")
}

/// The MCP server: cheap to clone, shared by every connection of a process.
#[derive(Clone)]
pub struct KanbanServer {
    store: Store,
    registry: Arc<Registry>,
    /// What `initialize` tells the model, built from the tools offered.
    instructions: Arc<str>,
    enhancer: Arc<Enhancer>,
    /// Who a connection acts as when the request does not say (stdio: the
    /// key's principal or the local owner, fixed at start).
    principal: Option<Principal>,
    metrics: Option<Arc<Metrics>>,
    /// Agent sessions, when this server offers them.
    sessions: Option<Sessions>,
    /// Legacy `resources/subscribe` watchers of this connection, by URI.
    subscriptions: Arc<Mutex<HashMap<String, tokio::task::AbortHandle>>>,
    /// The connection principal's API key, checked again on use (stdio).
    key_check: Option<Arc<KeyCheck>>,
}

impl KanbanServer {
    pub fn new(store: Store, filter: &ToolFilter, enhancer: Arc<Enhancer>) -> Self {
        let registry = Registry::new(filter);
        KanbanServer {
            store,
            instructions: instructions(|tool| registry.get(tool).is_some()).into(),
            registry: Arc::new(registry),
            enhancer,
            principal: None,
            metrics: None,
            sessions: None,
            subscriptions: Arc::default(),
            key_check: None,
        }
    }

    /// Offers agent sessions (tools and the session log resource).
    pub fn with_sessions(mut self, sessions: Sessions) -> Self {
        self.sessions = Some(sessions);
        self
    }

    /// A copy for another connection: same store and services, its own
    /// subscriptions.
    pub fn for_connection(&self) -> Self {
        KanbanServer {
            subscriptions: Arc::default(),
            ..self.clone()
        }
    }

    /// Acts as `principal` for every request (stdio).
    pub fn with_principal(mut self, principal: Principal) -> Self {
        self.principal = Some(principal);
        self
    }

    /// Checks the connection principal's key again before each request and
    /// while a stream is open, so a revoked or expired key stops working in
    /// a running stdio server too.
    pub fn with_key_check(mut self, check: KeyCheck) -> Self {
        self.key_check = Some(Arc::new(check));
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

    /// The executor profiles start_session takes and the default one;
    /// `None` when this server runs no agent sessions.
    pub fn executors(&self) -> Option<(Vec<String>, String)> {
        self.sessions.as_ref().map(Sessions::executors)
    }

    /// The least role tool `name` needs, if this server offers it.
    pub fn tool_role(&self, name: &str) -> Option<crate::store::Role> {
        self.registry.role_of(name)
    }

    /// The principal a request acts as: over HTTP, the one the auth
    /// middleware attached to the request; otherwise the connection's.
    /// The registered name of a tool this server offers (a bounded set of
    /// `'static` names, for rate limits and metrics).
    pub fn known_tool(&self, name: &str) -> Option<&'static str> {
        self.registry.known_name(name)
    }

    fn principal(&self, context: &RequestContext<RoleServer>) -> Result<Principal, ErrorData> {
        if let Some(principal) = context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Principal>())
        {
            return Ok(principal.clone());
        }
        let mut principal = self.principal.clone().ok_or_else(|| {
            ErrorData::invalid_request("the request carries no credentials", None)
        })?;
        // stdio has no X-Request-Id: each request gets its own id (a UUID
        // v7, as HTTP makes), so audit rows and the activity feed tell the
        // calls of one connection apart.
        if principal.actor.request_id.is_none() {
            principal.actor.request_id = Some(uuid::Uuid::now_v7().to_string());
        }
        Ok(principal)
    }
}

impl ServerHandler for KanbanServer {
    fn get_info(&self) -> InitializeResult {
        #[allow(deprecated)]
        // logging/setLevel is deprecated (SEP-2577) but 2025-11-25 clients send it
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .enable_resources_subscribe()
            .enable_prompts()
            .enable_completions()
            .enable_logging();
        // The tasks extension (SEP-2663), for start_session and send_follow_up.
        let mut capabilities = if self.offers_tasks() {
            capabilities.enable_tasks().build()
        } else {
            capabilities.build()
        };
        // MCP Apps (SEP-1865): the board app that show_board links to.
        capabilities.extensions.get_or_insert_default().insert(
            resources::app::UI_EXTENSION.to_owned(),
            resources::app::extension_settings(),
        );
        InitializeResult::new(capabilities)
            .with_server_info(
                Implementation::new("vibe-kanban-mcp", env!("CARGO_PKG_VERSION"))
                    .with_title("Vibe Kanban"),
            )
            .with_instructions(self.instructions.as_ref())
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
        let principal = self.principal(&context)?;
        let name = request.name.clone();
        let result = self
            .run_tool(
                principal.clone(),
                &name,
                request.arguments,
                Encoding::Tree,
                crate::tools::CallControl::of_request(&context),
            )
            .await
            .map(|reply| reply.result);
        if let Ok(queued) = &result
            && self.runs_as_task(&name, &context)
            && let Some(handle) = self.task_handle(&principal, queued, &context)
        {
            return Ok(CallToolResponse::Task(handle));
        }
        result.map(CallToolResponse::from)
    }

    /// Tasks extension (`server/tasks.rs`): a task is one agent turn.
    async fn get_task(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        let principal = self.principal(&context)?;
        let task = self.task_state(&principal, &request.task_id).await?;
        Ok(GetTaskResult::new(task))
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let principal = self.principal(&context)?;
        self.update_task_state(&principal, &request.task_id).await
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let principal = self.principal(&context)?;
        self.cancel_task_state(&principal, &request.task_id).await
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
        resources::read(
            &self.store,
            self.sessions.as_ref(),
            &self.principal(&context)?,
            &request.uri,
        )
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

    /// Protocol 2026-07-28 `subscriptions/listen`: session logs are the
    /// resources that change.
    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        self.sessions.as_ref()?;
        let uris: Vec<String> = requested
            .resource_subscriptions
            .iter()
            .flatten()
            .filter(|uri| resources::session_log_id(uri).is_some())
            .cloned()
            .collect();
        Some(
            SubscriptionFilter::builder()
                .resource_subscriptions(uris)
                .build(),
        )
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let Some(sessions) = self.sessions.clone() else {
            context.cancelled().await;
            return Ok(());
        };
        let principal = self.principal(context.request_context())?;
        // Transports refuse this before the acknowledgment; checked again
        // here so no path can listen to another workspace's session.
        self.check_listen(&principal, context.accepted()).await?;
        let mut watchers = tokio::task::JoinSet::new();
        for uri in context.accepted().resource_subscriptions.iter().flatten() {
            let Some(session_id) = resources::session_log_id(uri) else {
                continue;
            };
            let sink = context.sink().clone();
            let uri = uri.clone();
            let sessions = sessions.clone();
            let actor = principal.actor.clone();
            watchers.spawn(async move {
                sessions
                    .watch_log(&actor, &session_id, move || {
                        let sink = sink.clone();
                        let uri = uri.clone();
                        async move { sink.notify_resource_updated(uri).await.is_ok() }
                    })
                    .await
            });
        }
        let key_ended = async {
            match &self.key_check {
                Some(check) => {
                    check
                        .ended(crate::auth::revocation_interval(&self.store))
                        .await
                }
                None => std::future::pending().await,
            }
        };
        let outcome = tokio::select! {
            () = context.cancelled() => Ok(()),
            () = key_ended => Err(mcp_error::key_refused(
                self.key_check.as_deref().map(KeyCheck::key_id).unwrap_or_default()
            )),
        };
        watchers.shutdown().await;
        outcome
    }

    /// Legacy `resources/subscribe` (protocol versions before 2026-07-28).
    #[allow(deprecated)]
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let principal = self.principal(&context)?;
        let not_found = || mcp_error::not_subscribable(&principal.workspace_name, &request.uri);
        let (Some(sessions), Some(session_id)) = (
            self.sessions.clone(),
            resources::session_log_id(&request.uri),
        ) else {
            return Err(not_found());
        };
        // The session must be the caller's.
        match sessions.status_of(&principal.actor, &session_id).await {
            Ok(_) => {}
            Err(StoreError::NotFound { .. }) => return Err(not_found()),
            Err(error) => {
                let workspace = &principal.workspace_name;
                return Err(mcp_error::store_error(
                    workspace,
                    "resources/subscribe",
                    &error,
                ));
            }
        }
        let peer = context.peer.clone();
        let uri = request.uri.clone();
        let task = tokio::spawn(async move {
            sessions
                .watch_log(&principal.actor, &session_id, move || {
                    let peer = peer.clone();
                    let uri = uri.clone();
                    async move {
                        peer.notify_resource_updated(ResourceUpdatedNotificationParam::new(uri))
                            .await
                            .is_ok()
                    }
                })
                .await
        });
        let previous = self
            .subscriptions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(request.uri, task.abort_handle());
        if let Some(previous) = previous {
            previous.abort();
        }
        Ok(())
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if let Some(task) = self
            .subscriptions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&request.uri)
        {
            task.abort();
        }
        Ok(())
    }

    /// A request rmcp could not read as one it knows. For a method of the
    /// MCP protocol that means its params are malformed (`tools/call`
    /// without a `name`, `arguments` that is not an object): -32602 that
    /// says what is wrong, not "method not found".
    async fn on_custom_request(
        &self,
        request: CustomRequest,
        _context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        match params::malformed_params(&request.method, request.params.as_ref()) {
            Some(problem) => Err(ErrorData::invalid_params(
                format!("invalid params for {}: {problem}", request.method),
                None,
            )),
            None => Err(ErrorData::new(
                ErrorCode::METHOD_NOT_FOUND,
                format!("unknown method '{}'", request.method),
                None,
            )),
        }
    }
}

impl KanbanServer {
    /// Runs tool `name` for `principal` and records the call (metrics, the
    /// debug line): `tools/call` for rmcp's dispatch, and for a transport
    /// that answers a stateless call itself ([`Self::answers_directly`]).
    pub async fn run_tool(
        &self,
        principal: Principal,
        name: &str,
        arguments: Option<JsonObject>,
        encoding: Encoding,
        call: crate::tools::CallControl,
    ) -> Result<ToolReply, ErrorData> {
        let ctx = ToolContext {
            store: self.store.clone(),
            principal,
            enhancer: Arc::clone(&self.enhancer),
            sessions: self.sessions.clone(),
            call,
        };
        let started = std::time::Instant::now();
        let result = self
            .registry
            .call_encoded(ctx, name, arguments, encoding)
            .await;
        let outcome = match &result {
            Ok(r) if r.result.is_error == Some(true) => "tool_error",
            Ok(_) => "ok",
            Err(_) => "invalid",
        };
        let elapsed = started.elapsed();
        if let Some(metrics) = &self.metrics {
            // Unknown tool names are not recorded: labels stay a bounded set.
            if let Some(name) = self.registry.known_name(name) {
                metrics.tool_call(name, outcome, elapsed);
            }
        }
        tracing::debug!(tool = %name, outcome, elapsed_us = elapsed.as_micros() as u64, "tools/call");
        result
    }

    /// Whether a call of tool `name` may be run with [`Self::run_tool`]
    /// outside rmcp's dispatch: it is offered and needs no request context.
    pub fn answers_directly(&self, name: &str) -> bool {
        self.registry.context_free(name)
    }

    /// Refuses a listen for the log of a session that is not the caller's
    /// (another workspace's, deleted or made up), naming the workspace. Other
    /// URIs are left to [`ServerHandler::accepted_subscription_filter`], which
    /// leaves them out of the acknowledgment.
    pub async fn check_listen(
        &self,
        principal: &Principal,
        requested: &SubscriptionFilter,
    ) -> Result<(), ErrorData> {
        let Some(sessions) = &self.sessions else {
            return Ok(());
        };
        for uri in requested.resource_subscriptions.iter().flatten() {
            let Some(session_id) = resources::session_log_id(uri) else {
                continue;
            };
            match sessions.status_of(&principal.actor, &session_id).await {
                Ok(_) => {}
                Err(StoreError::NotFound { .. }) => {
                    let workspace = &principal.workspace_name;
                    return Err(mcp_error::not_listenable(workspace, uri, &session_id));
                }
                Err(error) => {
                    let workspace = &principal.workspace_name;
                    return Err(mcp_error::store_error(
                        workspace,
                        "subscriptions/listen",
                        &error,
                    ));
                }
            }
        }
        Ok(())
    }
}
