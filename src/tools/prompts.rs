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
use crate::{
    enhance::{
        EnhanceError, EnhanceInput, Enhanced,
        catalog::{self, CatalogError, Edit},
        config::ProviderKind,
        templates::{PromptTemplate, TemplateArgument, TemplateError, TemplateSource},
    },
    store::Role,
};

/// Longest template description, in characters.
const MAX_TEMPLATE_DESCRIPTION: usize = 1_000;

pub(super) fn tools() -> Vec<ToolDef> {
    vec![
        tool(
            "enhance_prompt",
            "Enhance prompt",
            "Turn a rough prompt or a task into a clear prompt for a coding agent (goal, context, constraints, \
             acceptance criteria).",
            Toolset::Prompts,
            Effect::Generate,
            enhance_prompt,
        ),
        tool(
            "list_prompt_templates",
            "List prompt templates",
            "The prompt templates you can use, built-in and the workspace's, with text and arguments; each is \
             also an MCP prompt.",
            Toolset::Prompts,
            Effect::Read,
            list_prompt_templates,
        ),
        tool(
            "create_prompt_template",
            "Create prompt template",
            "Create a workspace prompt template, also an MCP prompt and usable with enhance_prompt.",
            Toolset::Prompts,
            Effect::Create,
            create_prompt_template,
        )
        .role(Role::Admin),
        tool(
            "update_prompt_template",
            "Update prompt template",
            "Change a workspace prompt template; fields left out stay. Built-ins cannot be changed.",
            Toolset::Prompts,
            Effect::Update,
            update_prompt_template,
        )
        .role(Role::Admin),
        tool(
            "delete_prompt_template",
            "Delete prompt template",
            "Delete a workspace prompt template and its MCP prompt. Built-ins cannot be deleted.",
            Toolset::Prompts,
            Effect::Delete,
            delete_prompt_template,
        )
        .role(Role::Admin),
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
    /// Rough prompt; optional with task_id or template.
    #[serde(default)]
    pub prompt: Option<String>,
    /// A task whose details give the context.
    #[serde(default)]
    pub task_id: Option<Uuid>,
    /// A template name (from list_prompt_templates), e.g. "fix-bug".
    #[serde(default)]
    pub template: Option<String>,
    /// The template's arguments by name.
    #[serde(default)]
    pub arguments: Option<BTreeMap<String, String>>,
    /// Default: the configured one, with its fallbacks.
    #[serde(default)]
    pub provider: Option<ProviderKind>,
    /// Default: the provider's configured model.
    #[serde(default)]
    pub model: Option<String>,
    /// Ignore the cache.
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
    /// Lowercase letters, digits and dashes; unique in the workspace.
    pub name: String,
    /// What the prompt is for.
    #[serde(default)]
    pub description: Option<String>,
    /// Text with {{placeholder}}s; {{task}}, {{task_title}}, {{project}}, {{repository}} come from task_id.
    pub template: String,
    /// Placeholder details; unlisted ones are required.
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
    /// A workspace template's name.
    pub name: String,
    /// Lowercase letters, digits and dashes.
    #[serde(default)]
    pub new_name: Option<String>,
    /// What the prompt is for.
    #[serde(default)]
    pub description: Option<String>,
    /// Text with {{placeholder}}s.
    #[serde(default)]
    pub template: Option<String>,
    /// Replaces the old list.
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
    /// A workspace template's name.
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
