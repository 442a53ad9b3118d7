//! MCP tools. Each area has a file (`projects.rs`, `tasks.rs`) whose tools
//! all have the same shape: an argument struct (its doc comments are the
//! schema the model reads), an output type with its readable text (a
//! [`Render`] impl beside it), and a short async fn that checks input, calls
//! the store and returns the output. This module turns those into MCP tools
//! (schemas, annotations, argument parsing); [`Registry`] (`registry.rs`)
//! offers and runs them, and [`crate::mcp_error`] words their errors.

mod approvals;
mod args;
mod board_app;
mod call;
mod comments;
mod error;
mod github;
mod json_text;
mod keys;
mod links;
mod members;
mod merge;
mod projects;
mod prompts;
mod registry;
mod review;
mod schema;
mod session_wait;
mod sessions;
mod tasks;

use std::{future::Future, sync::Arc};

use rmcp::{
    handler::server::common::{schema_for_input, schema_for_output},
    model::{CallToolResult, ContentBlock, JsonObject, Tool, ToolAnnotations},
};
use schemars::JsonSchema;
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    auth::{Principal, Scope, Scopes},
    enhance::Enhancer,
    store::{Role, Store},
};

pub use args::parse_arguments;
pub use call::CallControl;
pub use error::ToolError;
pub use registry::{Registry, forbidden};
pub use session_wait::call_allowance;

/// A readable text copy of a tool's structured output: what a person (or a
/// model that prefers prose) reads next to its JSON. Each output type has
/// its impl beside it, in its tool's module.
pub trait Render {
    fn render(&self) -> String;

    /// The structured output as compact JSON text: serde_json's, unless the
    /// type writes the same bytes faster itself (a page of tasks does).
    fn json_text(&self) -> serde_json::Result<String>
    where
        Self: Serialize,
    {
        to_json_text(self)
    }

    /// The content blocks of a tool result: by default, the rendering. An
    /// output whose bulk is text that is not in its structured form (an
    /// execution log page) puts that text here, so it is sent once.
    fn into_content(self) -> Vec<ContentBlock>
    where
        Self: Sized,
    {
        vec![ContentBlock::text(self.render())]
    }
}

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
    /// The request's cancellation and progress channel.
    pub call: CallControl,
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

/// How a call hands back its structured output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// A `serde_json::Value` in the result's `structured_content`, which is
    /// what rmcp serializes.
    Tree,
    /// Compact JSON text beside the result, for a transport that writes the
    /// reply itself: no tree is built (a map per row) only to be walked once.
    Text,
}

/// A tool's result. With [`Encoding::Text`] its structured output is in
/// `structured_json` and `result.structured_content` is `None`.
#[derive(Debug)]
pub struct ToolReply {
    pub result: CallToolResult,
    pub structured_json: Option<String>,
}

/// Compact JSON of `value`, written into a buffer that starts large enough
/// for a typical result (a page of tasks grows it a few times, not a dozen).
fn to_json_text<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let mut text = Vec::with_capacity(4096);
    serde_json::to_writer(&mut text, value)?;
    // serde_json writes UTF-8 only.
    String::from_utf8(text).map_err(serde::ser::Error::custom)
}

type Handler = Arc<
    dyn Fn(
            ToolContext,
            JsonObject,
            Encoding,
        ) -> std::pin::Pin<Box<dyn Future<Output = Result<ToolReply, ToolError>> + Send>>
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
    /// The least role in the workspace that may call it, on top of `scope`.
    pub role: Role,
    read_only: bool,
    handler: Handler,
}

impl ToolDef {
    /// Requires `scope` instead of the one the tool's effect implies (read
    /// for reads, write for changes): session tools need `sessions`.
    fn scope(mut self, scope: Scope) -> Self {
        self.scope = scope;
        self.role = self.role.max(Scopes::least_role(scope));
        self
    }

    /// Requires `role` or above in the workspace (admins for templates and
    /// workspace settings), whatever the key's scopes allow.
    fn role(mut self, role: Role) -> Self {
        self.role = role;
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
    let handler: Handler = Arc::new(move |ctx, arguments, encoding| {
        let run = Arc::clone(&run);
        let schema = Arc::clone(&input_schema);
        Box::pin(async move {
            let args: A = parse_arguments(&schema, arguments)?;
            let output = run(ctx, args).await?;
            let failed = |e: serde_json::Error| {
                ToolError::Failed(format!("internal error: could not encode the result: {e}"))
            };
            let (tree, text) = match encoding {
                Encoding::Tree => (Some(serde_json::to_value(&output).map_err(failed)?), None),
                Encoding::Text => (None, Some(output.json_text().map_err(failed)?)),
            };
            let mut result = CallToolResult::success(output.into_content());
            result.structured_content = tree;
            Ok(ToolReply {
                result,
                structured_json: text,
            })
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
        role: if matches!(effect, Effect::Read | Effect::Generate) {
            Role::Viewer
        } else {
            Role::Member
        },
        read_only: matches!(effect, Effect::Read | Effect::Generate),
        handler,
    }
}
