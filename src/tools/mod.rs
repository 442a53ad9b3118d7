//! MCP tools. Each area has a file (`projects.rs`, `tasks.rs`) whose tools
//! all have the same shape: an argument struct (its doc comments are the
//! schema the model reads), an output type, and a short async fn that checks
//! input, calls the store and returns the output. This module turns those into
//! MCP tools: schemas, annotations, argument parsing, scope checks, and the
//! one place where errors become tool errors or JSON-RPC errors.

mod args;
mod projects;
mod prompts;
mod schema;
mod sessions;
mod tasks;

use std::{future::Future, sync::Arc};

use rmcp::{
    ErrorData,
    handler::server::common::{schema_for_input, schema_for_output},
    model::{CallToolResult, ContentBlock, JsonObject, Tool, ToolAnnotations},
};
use schemars::JsonSchema;
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    auth::{Principal, Scope},
    enhance::Enhancer,
    render::Render,
    store::{Store, StoreError},
};

pub use args::parse_arguments;
pub use projects::{ProjectList, WorkspaceList};
pub use prompts::{TemplateList, TemplateRemoved};
pub use sessions::{LogPageOut, SessionDetailOut, SessionList};

/// Groups of tools that can be switched on with `--toolsets`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Toolset {
    /// Workspaces and projects.
    Projects,
    /// Tasks, subtasks and assignment.
    Tasks,
    /// Coding-agent sessions and their execution logs.
    Sessions,
    /// Prompt enhancement and prompt templates.
    Prompts,
}

/// Which tools this server offers at all (before the caller's scopes).
#[derive(Debug, Clone, Default)]
pub struct ToolFilter {
    /// Empty = every toolset.
    pub toolsets: Vec<Toolset>,
    /// Offer only tools that change nothing.
    pub read_only: bool,
}

/// Everything a tool needs for one call.
#[derive(Clone)]
pub struct ToolContext {
    pub store: Store,
    pub principal: Principal,
    /// The agent session service, when this server runs sessions.
    pub sessions: Option<crate::sessions::Sessions>,
    /// Prompt enhancement providers and settings.
    pub enhancer: Arc<Enhancer>,
}

/// How a tool can fail.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The arguments are malformed: a JSON-RPC -32602 error naming the field.
    #[error("{0}")]
    InvalidParams(String),
    /// The call was understood but cannot be done: a tool result with isError.
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a tool does to the world, for the MCP annotations.
#[derive(Debug, Clone, Copy)]
enum Effect {
    /// Reads only.
    Read,
    /// Creates something new each call.
    Create,
    /// Changes something; calling twice with the same arguments is the same as once.
    Update,
    /// Removes something.
    Delete,
    /// Changes nothing on the board but may ask an outside model (open
    /// world); a repeated call can give a different answer.
    Generate,
}

type Handler = Arc<
    dyn Fn(
            ToolContext,
            JsonObject,
        )
            -> std::pin::Pin<Box<dyn Future<Output = Result<CallToolResult, ToolError>> + Send>>
        + Send
        + Sync,
>;

/// One tool: its MCP description, who may call it, and how to run it.
pub struct ToolDef {
    /// The registered name, also in `tool.name`; `'static`, so rate limits
    /// and metrics keyed by it hold no text a client sent.
    name: &'static str,
    pub tool: Tool,
    pub toolset: Toolset,
    pub scope: Scope,
    read_only: bool,
    handler: Handler,
}

impl ToolDef {
    /// Requires `scope` instead of the one the tool's effect implies (read
    /// for reads, write for changes): session tools need `sessions`.
    fn scope(mut self, scope: Scope) -> Self {
        self.scope = scope;
        self
    }
}

/// The MCP annotations an [`Effect`] stands for: the one place that turns
/// it into read-only, destructive, idempotent and open-world hints. The
/// title is the tool's own `title`, not repeated here.
fn annotations(effect: Effect) -> ToolAnnotations {
    match effect {
        Effect::Read => ToolAnnotations::new()
            .read_only(true)
            .destructive(false)
            .idempotent(true),
        Effect::Create => ToolAnnotations::new()
            .read_only(false)
            .destructive(false)
            .idempotent(false),
        Effect::Update => ToolAnnotations::new()
            .read_only(false)
            .destructive(false)
            .idempotent(true),
        Effect::Delete => ToolAnnotations::new()
            .read_only(false)
            .destructive(true)
            .idempotent(true),
        Effect::Generate => ToolAnnotations::new()
            .read_only(true)
            .destructive(false)
            .idempotent(false),
    }
    .open_world(matches!(effect, Effect::Generate))
}

/// Builds a tool from a typed async fn.
fn tool<A, O, F, Fut>(
    name: &'static str,
    title: &str,
    description: &'static str,
    toolset: Toolset,
    effect: Effect,
    run: F,
) -> ToolDef
where
    A: DeserializeOwned + JsonSchema + Send + 'static,
    O: Serialize + JsonSchema + Render + 'static,
    F: Fn(ToolContext, A) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, ToolError>> + Send + 'static,
{
    // A schema that is not an object is a programming error caught by the
    // tests that list every tool; fall back to an empty object meanwhile.
    let mut input_schema = schema_for_input::<A>()
        .map(|s| schema::compact_input(&s))
        .unwrap_or_default();
    // Tools without arguments still get `"properties": {}`: some clients
    // expect the key to be there.
    input_schema
        .entry("properties")
        .or_insert_with(|| serde_json::Value::Object(JsonObject::new()));
    let input_schema = Arc::new(input_schema);
    let annotations = annotations(effect);
    let tool = Tool::new(name, description, input_schema.clone())
        .with_title(title)
        .with_raw_output_schema(Arc::new(schema::compact_output(&schema_for_output::<O>())))
        .with_annotations(annotations);
    let run = Arc::new(run);
    let handler: Handler = Arc::new(move |ctx, arguments| {
        let run = Arc::clone(&run);
        let schema = Arc::clone(&input_schema);
        Box::pin(async move {
            let args: A = parse_arguments(&schema, arguments)?;
            let output = run(ctx, args).await?;
            let structured = serde_json::to_value(&output).map_err(|e| {
                ToolError::Failed(format!("internal error: could not encode the result: {e}"))
            })?;
            let mut result = CallToolResult::success(output.into_content());
            result.structured_content = Some(structured);
            Ok(result)
        })
    });
    ToolDef {
        name,
        tool,
        toolset,
        scope: if matches!(effect, Effect::Read | Effect::Generate) {
            Scope::Read
        } else {
            Scope::Write
        },
        read_only: matches!(effect, Effect::Read | Effect::Generate),
        handler,
    }
}

/// The tools this server offers, after `--toolsets` and `--read-only`.
pub struct Registry {
    tools: Vec<ToolDef>,
}

impl Registry {
    pub fn new(filter: &ToolFilter) -> Self {
        let tools = projects::tools()
            .into_iter()
            .chain(tasks::tools())
            .chain(sessions::tools())
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
            .filter(|def| principal.allows(def.scope))
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

    /// The registered name of a tool this server offers, if it does.
    pub fn known_name(&self, name: &str) -> Option<&'static str> {
        self.tools
            .iter()
            .find(|def| def.name == name)
            .map(|def| def.name)
    }

    /// A tool's definition, whoever asks.
    pub fn get(&self, name: &str) -> Option<&Tool> {
        self.tools
            .iter()
            .find(|def| def.tool.name == name)
            .map(|def| &def.tool)
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
        let Some(def) = self
            .tools
            .iter()
            .find(|def| def.tool.name == name && ctx.principal.allows(def.scope))
        else {
            return Err(ErrorData::invalid_params(
                format!("unknown tool '{name}'; call tools/list to see the tools available to you"),
                None,
            ));
        };
        let principal = ctx.principal.clone();
        match (def.handler)(ctx, arguments.unwrap_or_default()).await {
            Ok(result) => Ok(result),
            Err(ToolError::InvalidParams(message)) => Err(ErrorData::invalid_params(
                format!("invalid arguments for {name}: {message}"),
                None,
            )),
            Err(ToolError::Failed(message)) => {
                Ok(CallToolResult::error(vec![ContentBlock::text(message)]))
            }
            Err(ToolError::Store(err)) => Ok(CallToolResult::error(vec![ContentBlock::text(
                store_message(&principal, name, &err),
            )])),
        }
    }
}

/// Words for a store error, for the model and the person behind it.
pub fn store_message(principal: &Principal, tool: &str, err: &StoreError) -> String {
    let workspace = &principal.workspace_name;
    match err {
        StoreError::NotFound { kind, id } => {
            let hint = match *kind {
                "project" => "list_projects shows this workspace's projects.",
                "task" => "list_tasks with a project_id shows that project's task ids.",
                "session" => "list_sessions shows this workspace's sessions.",
                "prompt template" => "list_prompt_templates shows the templates you can use.",
                _ => "check the id.",
            };
            format!("{kind} {id} not found in workspace '{workspace}'; {hint}")
        }
        StoreError::Conflict(message) | StoreError::Invalid(message) => message.clone(),
        StoreError::Constraint(message) => {
            format!("{tool} was refused by the database ({message}); nothing was changed")
        }
        StoreError::Unavailable(message) => {
            tracing::warn!(tool, error = %message, "store unavailable");
            format!(
                "the database is unavailable right now ({message}); nothing was changed, try again shortly"
            )
        }
        StoreError::Sql(_) | StoreError::Decode(_) | StoreError::Migration(_) => {
            tracing::error!(tool, error = %err, "internal store error");
            format!("{tool} failed with an internal error ({err}); nothing was changed")
        }
    }
}
