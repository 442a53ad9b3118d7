//! The templates a caller can use — built-ins, global rows and the
//! workspace's own — and what the MCP surface does with them: list, change,
//! render as a prompt, and suggest argument values for completion.

use std::collections::BTreeMap;

use serde_json::Value;

use super::templates::{
    self, PromptTemplate, TASK_ID, TemplateArgument, TemplateError, TemplateSource,
};
use crate::store::{
    Actor, NewTemplate, Store, StoreError, TaskContext, TaskId, TaskStatus, TemplateChanges,
    TemplateRecord,
};

/// Most values one completion returns (the MCP limit is 100).
pub const MAX_SUGGESTIONS: u32 = 20;

/// How using a template can fail.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(
        "prompt template '{0}' not found in this workspace; list_prompt_templates (or prompts/list) shows the templates you can use"
    )]
    UnknownTemplate(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A database row as a template. Arguments are stored as a JSON list of
/// objects; hand-written global rows may list bare names, or nothing (then
/// the text's placeholders are the arguments).
pub fn from_record(record: TemplateRecord) -> PromptTemplate {
    let declared: Vec<TemplateArgument> = match serde_json::from_str::<Value>(&record.placeholders)
    {
        Ok(Value::Array(items)) => items
            .into_iter()
            .filter_map(|item| match item {
                Value::String(name) => Some(TemplateArgument {
                    name,
                    description: String::new(),
                    required: true,
                    suggestions: Vec::new(),
                }),
                other => serde_json::from_value(other).ok(),
            })
            .collect(),
        _ => Vec::new(),
    };
    let arguments =
        templates::resolve_arguments(&record.template, declared.clone()).unwrap_or(declared);
    PromptTemplate {
        name: record.name,
        title: None,
        description: record.description,
        template: record.template,
        arguments,
        source: if record.workspace_id.is_some() {
            TemplateSource::Workspace
        } else {
            TemplateSource::Global
        },
        id: Some(record.id),
        created_at: Some(record.created_at),
        updated_at: Some(record.updated_at),
    }
}

/// Built-ins first, then the workspace's and global templates by name.
pub async fn list(store: &Store, actor: &Actor) -> Result<Vec<PromptTemplate>, StoreError> {
    let mut all = templates::builtins();
    all.extend(
        store
            .list_prompt_templates(actor)
            .await?
            .into_iter()
            .filter(|r| !templates::is_builtin(&r.name))
            .map(from_record),
    );
    Ok(all)
}

/// The template called `name`.
pub async fn get(store: &Store, actor: &Actor, name: &str) -> Result<PromptTemplate, CatalogError> {
    if let Some(builtin) = templates::builtin(name) {
        return Ok(builtin);
    }
    store
        .get_prompt_template(actor, name)
        .await?
        .map(from_record)
        .ok_or_else(|| CatalogError::UnknownTemplate(name.to_owned()))
}

/// A new workspace template, validated.
pub async fn create(
    store: &Store,
    actor: &Actor,
    name: &str,
    description: &str,
    text: &str,
    declared: Vec<TemplateArgument>,
) -> Result<PromptTemplate, CatalogError> {
    templates::check_name(name)?;
    let arguments = templates::resolve_arguments(text, declared)?;
    let record = store
        .create_prompt_template(
            actor,
            NewTemplate {
                name: name.to_owned(),
                description: description.to_owned(),
                template: text.to_owned(),
                placeholders: encode_arguments(&arguments),
            },
        )
        .await?;
    Ok(from_record(record))
}

/// Changes to a workspace template; `arguments` replaces the declared list.
pub struct Edit {
    pub name: Option<String>,
    pub description: Option<String>,
    pub template: Option<String>,
    pub arguments: Option<Vec<TemplateArgument>>,
}

pub async fn update(
    store: &Store,
    actor: &Actor,
    name: &str,
    edit: Edit,
) -> Result<PromptTemplate, CatalogError> {
    if templates::is_builtin(name) {
        return Err(built_in_is_read_only(name));
    }
    if let Some(new_name) = &edit.name {
        templates::check_name(new_name)?;
    }
    let placeholders = if edit.template.is_some() || edit.arguments.is_some() {
        // The text and the declarations are checked together, so the current
        // row supplies whichever of the two this edit leaves alone.
        let current = get(store, actor, name).await?;
        let text = edit.template.clone().unwrap_or(current.template);
        let declared = match edit.arguments {
            Some(declared) => declared,
            // Keep the declarations of placeholders the new text still
            // uses; `task_id` comes back by itself if the text needs a task.
            None => {
                let used = templates::placeholders(&text);
                current
                    .arguments
                    .into_iter()
                    .filter(|a| used.contains(&a.name))
                    .collect()
            }
        };
        Some(encode_arguments(&templates::resolve_arguments(
            &text, declared,
        )?))
    } else {
        None
    };
    let record = store
        .update_prompt_template(
            actor,
            name,
            TemplateChanges {
                name: edit.name,
                description: edit.description,
                template: edit.template,
                placeholders,
            },
        )
        .await?;
    Ok(from_record(record))
}

pub async fn delete(
    store: &Store,
    actor: &Actor,
    name: &str,
) -> Result<PromptTemplate, CatalogError> {
    if templates::is_builtin(name) {
        return Err(built_in_is_read_only(name));
    }
    Ok(from_record(
        store.delete_prompt_template(actor, name).await?,
    ))
}

fn built_in_is_read_only(name: &str) -> CatalogError {
    CatalogError::Template(TemplateError::Invalid(format!(
        "'{name}' is a built-in template and cannot be changed or deleted; \
         create a workspace template with another name to use different text"
    )))
}

fn encode_arguments(arguments: &[TemplateArgument]) -> String {
    serde_json::to_string(arguments).unwrap_or_else(|_| "[]".to_owned())
}

/// A template rendered as a prompt.
pub struct Rendered {
    pub template: PromptTemplate,
    pub text: String,
    pub context: Option<TaskContext>,
}

/// Renders `name` with `values` in one read (template and task together).
/// Missing required arguments, unknown arguments and unknown tasks are errors.
pub async fn render(
    store: &Store,
    actor: &Actor,
    name: &str,
    values: &BTreeMap<String, String>,
) -> Result<Rendered, CatalogError> {
    let builtin = templates::builtin(name);
    let task_id = values
        .get(TASK_ID)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    let task_id = task_id
        .map(|id| {
            uuid::Uuid::parse_str(&id).map(TaskId::from).map_err(|_| {
                TemplateError::Invalid(format!(
                    "argument `task_id` must be a task id (a UUID), got '{id}'; completion suggests your tasks' ids"
                ))
            })
        })
        .transpose()?;
    let inputs = store
        .prompt_inputs(
            actor,
            None,
            task_id.as_ref(),
            builtin.is_none().then_some(name),
        )
        .await?;
    let template = match builtin {
        Some(template) => template,
        None => inputs
            .template
            .map(from_record)
            .ok_or_else(|| CatalogError::UnknownTemplate(name.to_owned()))?,
    };
    templates::check_arguments(&template, values)?;
    if let Some(id) = &task_id
        && inputs.task.is_none()
    {
        return Err(CatalogError::Store(StoreError::not_found(
            crate::store::Entity::Task,
            id,
        )));
    }
    let text = templates::render(&template, values, inputs.task.as_ref());
    Ok(Rendered {
        template,
        text,
        context: inputs.task,
    })
}

/// Values to offer for `argument` of `template`, given what was typed so far:
/// task ids for `task_id`, task titles for the built-ins' subject argument,
/// the declared suggestions otherwise.
pub async fn complete(
    store: &Store,
    actor: &Actor,
    template: &PromptTemplate,
    argument: &str,
    typed: &str,
) -> Result<Vec<String>, CatalogError> {
    let Some(spec) = template.arguments.iter().find(|a| a.name == argument) else {
        return Ok(Vec::new());
    };
    if spec.name == TASK_ID {
        return Ok(store
            .suggest_tasks(actor, typed, MAX_SUGGESTIONS)
            .await?
            .into_iter()
            .map(|s| s.id)
            .collect());
    }
    if template.completes_with_titles(argument) {
        return Ok(store
            .suggest_tasks(actor, typed, MAX_SUGGESTIONS)
            .await?
            .into_iter()
            .map(|s| s.title)
            .collect());
    }
    let typed = typed.trim().to_lowercase();
    Ok(spec
        .suggestions
        .iter()
        .filter(|s| s.to_lowercase().starts_with(&typed))
        .cloned()
        .collect())
}

/// Values for a resource template's `task_id` or `project_id`, or a status.
pub async fn complete_resource(
    store: &Store,
    actor: &Actor,
    argument: &str,
    typed: &str,
) -> Result<Vec<String>, StoreError> {
    Ok(match argument {
        "task_id" => store
            .suggest_tasks(actor, typed, MAX_SUGGESTIONS)
            .await?
            .into_iter()
            .map(|s| s.id)
            .collect(),
        "project_id" => store
            .suggest_projects(actor, typed, MAX_SUGGESTIONS)
            .await?
            .into_iter()
            .map(|s| s.id)
            .collect(),
        "status" => TaskStatus::ALL
            .iter()
            .map(|s| s.as_str().to_owned())
            .filter(|s| s.starts_with(typed.trim()))
            .collect(),
        _ => Vec::new(),
    })
}
