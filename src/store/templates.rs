//! Prompt templates (migration 0004): the workspace's own rows plus global
//! rows (`workspace_id IS NULL`, read-only here). Built-in templates live in
//! code (`enhance::templates`), not in the database. Also the look-ups that
//! `completion/complete` uses to suggest task and project ids.

use serde_json::json;

use super::{
    Actor, Param, Result, Stmt, StmtResult, Store, StoreError, audit, changed_fields, changed_rows,
    decode_all, decode_first, new_id, now,
};

/// A prompt template row. `placeholders` is the JSON list of its arguments.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct TemplateRecord {
    pub id: String,
    /// `None` for a global template.
    pub workspace_id: Option<String>,
    pub name: String,
    pub description: String,
    pub template: String,
    pub placeholders: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A template as created by a caller (already validated).
#[derive(Debug, Clone)]
pub struct NewTemplate {
    pub name: String,
    pub description: String,
    pub template: String,
    /// JSON list of the template's arguments.
    pub placeholders: String,
}

/// Changes to a template; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct TemplateChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub template: Option<String>,
    pub placeholders: Option<String>,
}

/// A suggestion for a completion: an id and the title people recognise it by.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Suggestion {
    pub id: String,
    pub title: String,
}

const TEMPLATE_COLUMNS: &str =
    "id, workspace_id, name, description, template, placeholders, created_at, updated_at";

/// The template called `name` visible to the actor: the workspace's row, else
/// a global one.
pub(super) fn select_template(actor: &Actor, name: &str) -> Stmt {
    Stmt::new(format!(
        "SELECT {TEMPLATE_COLUMNS} FROM prompt_templates WHERE name = ? \
         AND (workspace_id = ? OR workspace_id IS NULL) ORDER BY workspace_id IS NULL LIMIT 1"
    ))
    .bind(name)
    .bind(&actor.workspace_id)
}

fn select_own(actor: &Actor, id: &str) -> Stmt {
    Stmt::new(format!(
        "SELECT {TEMPLATE_COLUMNS} FROM prompt_templates WHERE id = ? AND workspace_id = ?"
    ))
    .bind(id)
    .bind(&actor.workspace_id)
}

fn template_not_found(name: &str) -> StoreError {
    StoreError::NotFound {
        kind: "prompt template",
        id: format!("'{name}'"),
    }
}

fn duplicate(name: &str) -> StoreError {
    StoreError::Conflict(format!(
        "a prompt template named '{name}' already exists in this workspace; \
         choose another name or change that one with update_prompt_template"
    ))
}

fn is_global(result: Option<&StmtResult>) -> bool {
    super::first_int(result, "global") == 1
}

/// Escapes LIKE wildcards so text matches literally.
fn like_contains(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl Store {
    /// The workspace's templates and the global ones, by name.
    pub async fn list_prompt_templates(&self, actor: &Actor) -> Result<Vec<TemplateRecord>> {
        let results = self
            .read(vec![
                Stmt::new(format!(
                    "SELECT {TEMPLATE_COLUMNS} FROM prompt_templates \
                     WHERE workspace_id = ? OR (workspace_id IS NULL AND name NOT IN \
                         (SELECT name FROM prompt_templates WHERE workspace_id = ?)) \
                     ORDER BY name"
                ))
                .bind(&actor.workspace_id)
                .bind(&actor.workspace_id),
            ])
            .await?;
        decode_all(results.first())
    }

    /// The template called `name` (the workspace's, else a global one).
    pub async fn get_prompt_template(
        &self,
        actor: &Actor,
        name: &str,
    ) -> Result<Option<TemplateRecord>> {
        let results = self.read(vec![select_template(actor, name)]).await?;
        decode_first(results.first())
    }

    pub async fn create_prompt_template(
        &self,
        actor: &Actor,
        new: NewTemplate,
    ) -> Result<TemplateRecord> {
        let id = new_id();
        let at = now();
        let insert = Stmt::new(
            "INSERT INTO prompt_templates (id, workspace_id, name, description, template, placeholders, \
                                           created_by, created_at, updated_at) \
             SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? \
             WHERE NOT EXISTS (SELECT 1 FROM prompt_templates WHERE workspace_id = ? AND name = ?) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&id)
        .bind(&actor.workspace_id)
        .bind(&new.name)
        .bind(&new.description)
        .bind(&new.template)
        .bind(&new.placeholders)
        .bind(&actor.user_id)
        .bind(&at)
        .bind(&at)
        .bind(&actor.workspace_id)
        .bind(&new.name);
        let audit_row = audit(
            actor,
            "create",
            "prompt_template",
            &id,
            json!({ "name": new.name }),
            Some((
                "EXISTS (SELECT 1 FROM prompt_templates WHERE id = ?)",
                vec![Param::from(&id)],
            )),
        );
        let results = self
            .write(vec![insert, audit_row, select_own(actor, &id)])
            .await?;
        decode_first(results.get(2))?.ok_or_else(|| duplicate(&new.name))
    }

    pub async fn update_prompt_template(
        &self,
        actor: &Actor,
        name: &str,
        changes: TemplateChanges,
    ) -> Result<TemplateRecord> {
        let mut sets = vec!["updated_at = ?"];
        let mut params = vec![Param::from(now())];
        let mut fields = Vec::new();
        for (field, value) in [
            ("name", &changes.name),
            ("description", &changes.description),
            ("template", &changes.template),
            ("placeholders", &changes.placeholders),
        ] {
            if let Some(value) = value {
                sets.push(match field {
                    "name" => "name = ?",
                    "description" => "description = ?",
                    "template" => "template = ?",
                    _ => "placeholders = ?",
                });
                params.push(value.into());
                fields.push(field);
            }
        }
        let mut update = Stmt::new(format!(
            "UPDATE prompt_templates SET {} WHERE workspace_id = ? AND name = ? \
             AND NOT EXISTS (SELECT 1 FROM prompt_templates o WHERE o.workspace_id = prompt_templates.workspace_id \
                             AND o.name = COALESCE(?, prompt_templates.name) AND o.id <> prompt_templates.id)",
            sets.join(", ")
        ));
        update.params = params;
        update = update
            .bind(&actor.workspace_id)
            .bind(name)
            .bind(changes.name.clone());
        let new_name = changes.name.clone().unwrap_or_else(|| name.to_owned());
        let audit_row = audit(
            actor,
            "update",
            "prompt_template",
            name,
            changed_fields(&fields),
            Some(("changes() > 0", Vec::new())),
        );
        let diagnose = Stmt::new(
            "SELECT EXISTS (SELECT 1 FROM prompt_templates WHERE workspace_id = ? AND name = ?) AS own, \
                    EXISTS (SELECT 1 FROM prompt_templates WHERE workspace_id IS NULL AND name = ?) AS global",
        )
        .bind(&actor.workspace_id)
        .bind(name)
        .bind(name);
        let results = self
            .write(vec![
                diagnose,
                update,
                audit_row,
                Stmt::new(format!(
                    "SELECT {TEMPLATE_COLUMNS} FROM prompt_templates WHERE workspace_id = ? AND name = ?"
                ))
                .bind(&actor.workspace_id)
                .bind(&new_name),
            ])
            .await?;
        if changed_rows(results.get(1)) == 0 {
            if super::first_int(results.first(), "own") == 1 {
                return Err(duplicate(&new_name));
            }
            if is_global(results.first()) {
                return Err(read_only_global(name));
            }
            return Err(template_not_found(name));
        }
        decode_first(results.get(3))?.ok_or_else(|| template_not_found(&new_name))
    }

    /// Deletes the workspace's template called `name`; returns what it was.
    pub async fn delete_prompt_template(
        &self,
        actor: &Actor,
        name: &str,
    ) -> Result<TemplateRecord> {
        let select = Stmt::new(format!(
            "SELECT {TEMPLATE_COLUMNS} FROM prompt_templates WHERE workspace_id = ? AND name = ?"
        ))
        .bind(&actor.workspace_id)
        .bind(name);
        let global = Stmt::new(
            "SELECT EXISTS (SELECT 1 FROM prompt_templates WHERE workspace_id IS NULL AND name = ?) AS global",
        )
        .bind(name);
        let audit_row = audit(
            actor,
            "delete",
            "prompt_template",
            name,
            json!({ "name": name }),
            Some((
                "EXISTS (SELECT 1 FROM prompt_templates WHERE workspace_id = ? AND name = ?)",
                vec![Param::from(&actor.workspace_id), Param::from(name)],
            )),
        );
        let delete = Stmt::new("DELETE FROM prompt_templates WHERE workspace_id = ? AND name = ?")
            .bind(&actor.workspace_id)
            .bind(name);
        let results = self.write(vec![select, global, audit_row, delete]).await?;
        match decode_first(results.first())? {
            Some(record) => Ok(record),
            None if is_global(results.get(1)) => Err(read_only_global(name)),
            None => Err(template_not_found(name)),
        }
    }

    /// Tasks of the workspace whose id starts with `text` or whose title
    /// contains it, most recently changed first.
    pub async fn suggest_tasks(
        &self,
        actor: &Actor,
        text: &str,
        limit: u32,
    ) -> Result<Vec<Suggestion>> {
        self.suggest("tasks", actor, text, limit).await
    }

    /// Projects of the workspace whose id starts with `text` or whose name
    /// contains it.
    pub async fn suggest_projects(
        &self,
        actor: &Actor,
        text: &str,
        limit: u32,
    ) -> Result<Vec<Suggestion>> {
        self.suggest("projects", actor, text, limit).await
    }

    async fn suggest(
        &self,
        table: &'static str,
        actor: &Actor,
        text: &str,
        limit: u32,
    ) -> Result<Vec<Suggestion>> {
        let title = if table == "tasks" { "title" } else { "name" };
        let text = text.trim();
        let prefix = format!("{}%", like_contains(text).trim_start_matches('%'));
        let results = self
            .read(vec![
                Stmt::new(format!(
                    "SELECT id, {title} AS title FROM {table} WHERE workspace_id = ? \
                     AND (id LIKE ? ESCAPE '\\' OR {title} LIKE ? ESCAPE '\\') \
                     ORDER BY ({title} LIKE ? ESCAPE '\\') DESC, updated_at DESC, id LIMIT ?"
                ))
                .bind(&actor.workspace_id)
                .bind(prefix.clone())
                .bind(like_contains(text))
                .bind(prefix)
                .bind(i64::from(limit)),
            ])
            .await?;
        decode_all(results.first())
    }
}

fn read_only_global(name: &str) -> StoreError {
    StoreError::Invalid(format!(
        "prompt template '{name}' is a global template shared by every workspace and cannot be changed here; \
         create a workspace template with another name instead"
    ))
}
