//! The tool layer, typed for pages: each board read and action is a call of
//! an MCP tool as the signed-in principal, so the scope checks, workspace
//! scoping, validation and audit rows are the tools' own. A tool's failure
//! comes back as a [`WebError`] carrying the tool's own words.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::WebError;
use crate::{
    auth::{Principal, Scope},
    server::KanbanServer,
    store::Role,
    tools::{CallControl, Encoding},
};

/// Calls tools for the board.
pub struct Calls {
    pub server: KanbanServer,
}

/// A tool's structured output and its text blocks.
pub struct Reply<T> {
    pub value: T,
    pub texts: Vec<String>,
}

impl Calls {
    /// Whether `principal` may call tool `name`: its scope and its least
    /// role in the workspace, as the tool layer checks them (a viewer with
    /// a key that names `write` may still change nothing). Tools this
    /// server does not offer are never allowed.
    pub fn may(&self, principal: &Principal, name: &str) -> bool {
        match (self.server.tool_scope(name), self.server.tool_role(name)) {
            (Some(scope), Some(role)) => principal.may(scope, role),
            _ => false,
        }
    }

    /// Runs tool `name` with `arguments` as `principal`.
    pub async fn call<T: DeserializeOwned>(
        &self,
        principal: &Principal,
        name: &str,
        arguments: Value,
    ) -> Result<Reply<T>, WebError> {
        if !self.may(principal, name) {
            let scope = self.server.tool_scope(name).map_or("", Scope::as_str);
            let role = self.server.tool_role(name).unwrap_or(Role::Owner);
            return Err(WebError::Forbidden(if principal.is_at_least(role) {
                format!(
                    "you may not do this: {name} needs the {scope} scope, and you signed in with {} in workspace '{}'",
                    principal.scopes, principal.workspace_name
                )
            } else {
                format!(
                    "you may not do this: {name} needs the {role} role or above, and you are {} in workspace '{}'; ask an admin for another role",
                    principal.role, principal.workspace_name
                )
            }));
        }
        let arguments = match arguments {
            Value::Object(map) => Some(map),
            _ => None,
        };
        let reply = self
            .server
            .run_tool(
                principal.clone(),
                name,
                arguments,
                Encoding::Tree,
                CallControl::default(),
            )
            .await
            .map_err(|error| WebError::BadRequest(error.message.to_string()))?;
        let texts: Vec<String> = reply
            .result
            .content
            .iter()
            .filter_map(|block| block.as_text().map(|text| text.text.clone()))
            .collect();
        if reply.result.is_error == Some(true) {
            let message = texts.join("\n");
            return Err(if message.contains("not found in workspace") {
                WebError::NotFound(message)
            } else {
                WebError::BadRequest(message)
            });
        }
        let structured = reply.result.structured_content.unwrap_or(Value::Null);
        let value = serde_json::from_value(structured).map_err(|error| {
            WebError::Internal(format!("could not read the result of {name}: {error}"))
        })?;
        Ok(Reply { value, texts })
    }
}
