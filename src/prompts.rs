//! MCP prompts and argument completion. Every prompt template the caller can
//! use (the built-ins, global rows and the workspace's own) is a prompt;
//! `prompts/get` renders it with the given arguments and the named task's
//! context. `completion/complete` suggests task ids, task titles and declared
//! values for prompt arguments, and ids for the resource templates.

use std::collections::BTreeMap;

use rmcp::{
    ErrorData,
    model::{
        CompleteRequestParams, CompleteResult, CompletionInfo, GetPromptResult, ListPromptsResult,
        Prompt, PromptArgument, PromptMessage, Reference, Role,
    },
};
use serde_json::Value;

use crate::{
    auth::Principal,
    enhance::{
        catalog::{self, CatalogError},
        templates::PromptTemplate,
    },
    mcp_error,
    resources::checked_cursor,
    store::{Offset, Page, Store, StoreError},
};

/// Prompts per page of `prompts/list`.
pub const PAGE_SIZE: usize = 50;

fn to_prompt(template: &PromptTemplate) -> Prompt {
    let arguments = template
        .arguments
        .iter()
        .map(|a| {
            let argument = PromptArgument::new(&a.name).with_required(a.required);
            if a.description.is_empty() {
                argument
            } else {
                argument.with_description(&a.description)
            }
        })
        .collect();
    let description = (!template.description.is_empty()).then(|| template.description.clone());
    let prompt = Prompt::new(&template.name, description, Some(arguments));
    match &template.title {
        Some(title) => prompt.with_title(title),
        None => prompt,
    }
}

/// One page of the caller's prompts (built-ins and stored templates merged,
/// by name).
pub async fn list(
    store: &Store,
    principal: &Principal,
    cursor: Option<&str>,
) -> Result<ListPromptsResult, ErrorData> {
    let start = checked_cursor::<Offset>("prompts/list", cursor)?.unwrap_or_default();
    let templates = catalog::list(store, &principal.actor)
        .await
        .map_err(|e| store_error(principal, &e))?;
    let page = Page::slice(&templates, start, PAGE_SIZE);
    let mut result = ListPromptsResult::with_all_items(page.items.iter().map(to_prompt).collect());
    result.next_cursor = page.next_cursor;
    Ok(result)
}

/// Renders a prompt. Unknown prompts, missing or unknown arguments and
/// unknown tasks are invalid-params errors whose message says what to do.
pub async fn get(
    store: &Store,
    principal: &Principal,
    name: &str,
    arguments: Option<serde_json::Map<String, Value>>,
) -> Result<GetPromptResult, ErrorData> {
    let mut values = BTreeMap::new();
    for (key, value) in arguments.unwrap_or_default() {
        let text = match value {
            Value::String(s) => s,
            Value::Null => continue,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => {
                return Err(ErrorData::invalid_params(
                    format!("prompt argument `{key}` must be a string, got {other}"),
                    None,
                ));
            }
        };
        values.insert(key, text);
    }
    let rendered = catalog::render(store, &principal.actor, name, &values)
        .await
        .map_err(|e| catalog_error(principal, e))?;
    let description = match &rendered.context {
        Some(ctx) => format!(
            "{} (task: {})",
            rendered.template.description, ctx.task.title
        ),
        None => rendered.template.description.clone(),
    };
    Ok(
        GetPromptResult::new(vec![PromptMessage::new_text(Role::User, rendered.text)])
            .with_description(description),
    )
}

/// Suggests values for a prompt argument or a resource template variable.
pub async fn complete(
    store: &Store,
    principal: &Principal,
    request: &CompleteRequestParams,
) -> Result<CompleteResult, ErrorData> {
    let argument = &request.argument;
    let values = match &request.r#ref {
        Reference::Prompt(prompt) => {
            let template = catalog::get(store, &principal.actor, &prompt.name)
                .await
                .map_err(|e| catalog_error(principal, e))?;
            catalog::complete(
                store,
                &principal.actor,
                &template,
                &argument.name,
                &argument.value,
            )
            .await
            .map_err(|e| catalog_error(principal, e))?
        }
        Reference::Resource(_) => {
            catalog::complete_resource(store, &principal.actor, &argument.name, &argument.value)
                .await
                .map_err(|e| store_error(principal, &e))?
        }
        _ => Vec::new(),
    };
    let has_more = values.len() >= catalog::MAX_SUGGESTIONS as usize;
    let info = CompletionInfo::with_pagination(values, None, has_more)
        .map_err(|e| ErrorData::internal_error(e, None))?;
    Ok(CompleteResult::new(info))
}

fn catalog_error(principal: &Principal, err: CatalogError) -> ErrorData {
    match err {
        CatalogError::Store(err) => store_error(principal, &err),
        other => ErrorData::invalid_params(other.to_string(), None),
    }
}

fn store_error(principal: &Principal, err: &StoreError) -> ErrorData {
    mcp_error::store_error(&principal.workspace_name, "prompts", err)
}
