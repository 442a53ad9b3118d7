//! Prompt tools: enhance a prompt, and manage the workspace's prompt
//! templates (which are also published as MCP prompts).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    Effect, Render, ToolContext, ToolDef, ToolError, Toolset,
    args::{checked_text, something_to_update},
    projects::NoArgs,
    tool,
};
use crate::enhance::{
    EnhanceError, EnhanceInput, Enhanced,
    catalog::{self, CatalogError, Edit},
    config::ProviderKind,
    templates::{PromptTemplate, TemplateArgument, TemplateError, TemplateSource},
};

/// Longest template description, in characters.
const MAX_TEMPLATE_DESCRIPTION: usize = 1_000;

pub(super) fn tools() -> Vec<ToolDef> {
    vec![
        tool(
            "enhance_prompt",
            "Enhance prompt",
            "Turn a rough prompt, or a task from the board, into a clear prompt for a coding agent: goal, context \
             (task, project, repository, subtasks), constraints and acceptance criteria. Uses the server's configured \
             provider (the offline enhancer by default, or a model) and caches results. Optionally start from a prompt \
             template (see list_prompt_templates).",
            Toolset::Prompts,
            Effect::Generate,
            enhance_prompt,
        ),
        tool(
            "list_prompt_templates",
            "List prompt templates",
            "List the prompt templates you can use: the built-ins (implement-task, write-tests, review-change, fix-bug) \
             and your workspace's own, with their text and arguments. Each is also an MCP prompt of the same name.",
            Toolset::Prompts,
            Effect::Read,
            list_prompt_templates,
        ),
        tool(
            "create_prompt_template",
            "Create prompt template",
            "Create a workspace prompt template: text with {{name}} placeholders. {{task}}, {{task_title}}, {{project}} \
             and {{repository}} are filled from the task given as the task_id argument. The template becomes an MCP \
             prompt and can be used with enhance_prompt.",
            Toolset::Prompts,
            Effect::Create,
            create_prompt_template,
        ),
        tool(
            "update_prompt_template",
            "Update prompt template",
            "Change a workspace prompt template's name, description, text or arguments. Only the fields you give \
             change. Built-in templates cannot be changed.",
            Toolset::Prompts,
            Effect::Update,
            update_prompt_template,
        ),
        tool(
            "delete_prompt_template",
            "Delete prompt template",
            "Delete a workspace prompt template; its MCP prompt disappears too. Built-in templates cannot be deleted.",
            Toolset::Prompts,
            Effect::Delete,
            delete_prompt_template,
        ),
    ]
}

fn template_error(err: CatalogError) -> ToolError {
    match err {
        CatalogError::Template(err @ TemplateError::MissingArguments { .. }) => {
            ToolError::InvalidParams(err.to_string())
        }
        CatalogError::Template(TemplateError::Invalid(message)) => {
            ToolError::InvalidParams(message)
        }
        CatalogError::UnknownTemplate(_) => ToolError::Failed(err.to_string()),
        CatalogError::Store(err) => ToolError::Store(err),
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnhancePromptArgs {
    /// The rough prompt to improve, e.g. "fix login crash when password empty". Optional when task_id or
    /// template says what to do.
    #[serde(default)]
    pub prompt: Option<String>,
    /// A task whose title, description, project, repository and subtasks give the context (optional).
    #[serde(default)]
    pub task_id: Option<Uuid>,
    /// A prompt template to start from, by name (see list_prompt_templates), e.g. "fix-bug" (optional).
    #[serde(default)]
    pub template: Option<String>,
    /// Values for the template's arguments, by argument name. `prompt` fills the first required argument
    /// you leave out, and `task_id` fills `task_id`.
    #[serde(default)]
    pub arguments: Option<BTreeMap<String, String>>,
    /// Which provider to use: offline, workers-ai, openai or anthropic. Default: the server's configured
    /// provider with its fallback chain; naming a provider uses only that one.
    #[serde(default)]
    pub provider: Option<ProviderKind>,
    /// The model to use with the provider (default: the one configured for it).
    #[serde(default)]
    pub model: Option<String>,
    /// Enhance again even if a cached result exists; the new result replaces it (default false).
    #[serde(default)]
    pub refresh: Option<bool>,
}

async fn enhance_prompt(ctx: ToolContext, args: EnhancePromptArgs) -> Result<Enhanced, ToolError> {
    let input = EnhanceInput {
        prompt: args.prompt,
        task_id: args.task_id.map(Into::into),
        template: args.template,
        arguments: args.arguments.unwrap_or_default(),
        provider: args.provider,
        model: args.model,
        refresh: args.refresh.unwrap_or(false),
    };
    ctx.enhancer
        .enhance(&ctx.store, &ctx.principal.actor, input)
        .await
        .map_err(|err| match err {
            EnhanceError::Invalid(message) => ToolError::InvalidParams(message),
            EnhanceError::Catalog(err) => template_error(err),
            EnhanceError::Store(err) => ToolError::Store(err),
            err @ (EnhanceError::Provider(_) | EnhanceError::AllFailed(_)) => {
                ToolError::Failed(err.to_string())
            }
        })
}

/// The prompt templates you can use.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TemplateList {
    /// Built-ins first, then global and workspace templates by name.
    pub templates: Vec<PromptTemplate>,
}

async fn list_prompt_templates(ctx: ToolContext, _: NoArgs) -> Result<TemplateList, ToolError> {
    Ok(TemplateList {
        templates: catalog::list(&ctx.store, &ctx.principal.actor).await?,
    })
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTemplateArgs {
    /// Name: lowercase letters, digits and dashes, unique in the workspace (it is also the MCP prompt name).
    pub name: String,
    /// What the prompt is for (optional).
    #[serde(default)]
    pub description: Option<String>,
    /// The text, with {{placeholder}}s. {{task}}, {{task_title}}, {{project}} and {{repository}} come from
    /// the task_id argument; every other placeholder is an argument.
    pub template: String,
    /// Declarations of the placeholders (optional): description, whether required, suggested values.
    /// Placeholders not listed become required arguments without a description.
    #[serde(default)]
    pub arguments: Option<Vec<TemplateArgument>>,
}

async fn create_prompt_template(
    ctx: ToolContext,
    args: CreateTemplateArgs,
) -> Result<PromptTemplate, ToolError> {
    let description = checked_text(
        "description",
        args.description.as_deref().unwrap_or(""),
        MAX_TEMPLATE_DESCRIPTION,
        false,
    )?;
    catalog::create(
        &ctx.store,
        &ctx.principal.actor,
        args.name.trim(),
        &description,
        &args.template,
        args.arguments.unwrap_or_default(),
    )
    .await
    .map_err(template_error)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTemplateArgs {
    /// The name of the workspace template to change.
    pub name: String,
    /// A new name (lowercase letters, digits and dashes).
    #[serde(default)]
    pub new_name: Option<String>,
    /// A new description.
    #[serde(default)]
    pub description: Option<String>,
    /// New text, with {{placeholder}}s.
    #[serde(default)]
    pub template: Option<String>,
    /// A new list of argument declarations (replaces the old list).
    #[serde(default)]
    pub arguments: Option<Vec<TemplateArgument>>,
}

async fn update_prompt_template(
    ctx: ToolContext,
    args: UpdateTemplateArgs,
) -> Result<PromptTemplate, ToolError> {
    something_to_update(&[
        ("new_name", args.new_name.is_some()),
        ("description", args.description.is_some()),
        ("template", args.template.is_some()),
        ("arguments", args.arguments.is_some()),
    ])?;
    let edit = Edit {
        name: args.new_name.map(|n| n.trim().to_owned()),
        description: args
            .description
            .as_deref()
            .map(|d| checked_text("description", d, MAX_TEMPLATE_DESCRIPTION, false))
            .transpose()?,
        template: args.template,
        arguments: args.arguments,
    };
    catalog::update(&ctx.store, &ctx.principal.actor, args.name.trim(), edit)
        .await
        .map_err(template_error)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteTemplateArgs {
    /// The name of the workspace template to delete.
    pub name: String,
}

/// What delete_prompt_template removed.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TemplateRemoved {
    /// The deleted template's name.
    pub name: String,
    /// The deleted template's id.
    pub id: Option<String>,
}

async fn delete_prompt_template(
    ctx: ToolContext,
    args: DeleteTemplateArgs,
) -> Result<TemplateRemoved, ToolError> {
    let removed = catalog::delete(&ctx.store, &ctx.principal.actor, args.name.trim())
        .await
        .map_err(template_error)?;
    Ok(TemplateRemoved {
        name: removed.name,
        id: removed.id,
    })
}

// Readable text of this area's outputs (what the tool result's text block says).

impl Render for Enhanced {
    fn render(&self) -> String {
        let mut out = self.enhanced_prompt.clone();
        out.push_str(&format!(
            "\n\n---\nProvider: {} (model {}){}",
            self.provider,
            self.model,
            if self.cached { ", from the cache" } else { "" }
        ));
        if let (Some(input), Some(output)) = (self.input_tokens, self.output_tokens) {
            out.push_str(&format!(", {input} input + {output} output tokens"));
        }
        for failed in &self.fallback_from {
            out.push_str(&format!(
                "\nFell back from {}: {}",
                failed.provider, failed.error
            ));
        }
        out
    }
}

impl Render for PromptTemplate {
    fn render(&self) -> String {
        let mut out = format!("Prompt template {} [{}]", self.name, source_name(self));
        if !self.description.is_empty() {
            out.push_str(&format!(": {}", self.description));
        }
        out.push('\n');
        for argument in &self.arguments {
            out.push_str(&format!(
                "- argument `{}`{}{}\n",
                argument.name,
                if argument.required {
                    " (required)"
                } else {
                    " (optional)"
                },
                if argument.description.is_empty() {
                    String::new()
                } else {
                    format!(": {}", argument.description)
                }
            ));
        }
        out.push_str(&format!("\n{}", self.template));
        out
    }
}

fn source_name(template: &PromptTemplate) -> &'static str {
    match template.source {
        TemplateSource::Builtin => "built-in",
        TemplateSource::Global => "global",
        TemplateSource::Workspace => "workspace",
    }
}

impl Render for TemplateList {
    fn render(&self) -> String {
        let mut out = format!("{} prompt templates:\n", self.templates.len());
        for template in &self.templates {
            let arguments: Vec<String> = template
                .arguments
                .iter()
                .map(|a| {
                    if a.required {
                        a.name.clone()
                    } else {
                        format!("{}?", a.name)
                    }
                })
                .collect();
            out.push_str(&format!(
                "- {} [{}]({}): {}\n",
                template.name,
                source_name(template),
                arguments.join(", "),
                template.description
            ));
        }
        out
    }
}

impl Render for TemplateRemoved {
    fn render(&self) -> String {
        format!("Deleted prompt template {}", self.name)
    }
}
