//! Prompt templates (migration 0004): the workspace's own rows plus global
//! rows (`workspace_id IS NULL`, read-only here). Built-in templates live in
//! code (`enhance::templates`), not in the database. Also the look-ups that
//! `completion/complete` uses to suggest task and project ids.

use serde_json::json;

use super::{
    Actor, Batch, Entity, Result, Stmt, StmtResult, Store, StoreError,
    audit::{Audit, changed_fields},
    like_contains, new_id, now,
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

macro_rules! template_columns {
    () => {
        "id, workspace_id, name, description, template, placeholders, created_at, updated_at"
    };
}

/// The workspace's own template called ?2 (in workspace ?1).
const SELECT_OWN_BY_NAME: &str = concat!(
    "SELECT ",
    template_columns!(),
    " FROM prompt_templates WHERE workspace_id = ?1 AND name = ?2"
);

/// The template called `name` visible to the actor: the workspace's row, else
/// a global one.
pub(super) fn select_template(actor: &Actor, name: &str) -> Stmt {
    Stmt::new(concat!(
        "SELECT ",
        template_columns!(),
        " FROM prompt_templates WHERE name = ? \
         AND (workspace_id = ? OR workspace_id IS NULL) ORDER BY workspace_id IS NULL LIMIT 1"
    ))
    .bind(name)
    .bind(&actor.workspace_id)
}

fn select_own(actor: &Actor, id: &str) -> Stmt {
    Stmt::new(concat!(
        "SELECT ",
        template_columns!(),
        " FROM prompt_templates WHERE id = ? AND workspace_id = ?"
    ))
    .bind(id)
    .bind(&actor.workspace_id)
}

fn template_not_found(name: &str) -> StoreError {
    StoreError::NotFound {
        entity: Entity::Template,
        id: format!("'{name}'"),
    }
}

fn duplicate(name: &str) -> StoreError {
    StoreError::Conflict(format!(
        "a prompt template named '{name}' already exists in this workspace; \
         choose another name or change that one"
    ))
}

fn is_global(result: &StmtResult) -> bool {
    result.int("global") == 1
}

impl Store {
    /// The workspace's templates and the global ones, by name.
    pub async fn list_prompt_templates(&self, actor: &Actor) -> Result<Vec<TemplateRecord>> {
        self.read_one(
            Stmt::new(concat!(
                "SELECT ",
                template_columns!(),
                " FROM prompt_templates \
                 WHERE workspace_id = ?1 OR (workspace_id IS NULL AND name NOT IN \
                     (SELECT name FROM prompt_templates WHERE workspace_id = ?1)) \
                 ORDER BY name"
            ))
            .bind(&actor.workspace_id),
        )
        .await?
        .all()
    }

    /// The template called `name` (the workspace's, else a global one).
    pub async fn get_prompt_template(
        &self,
        actor: &Actor,
        name: &str,
    ) -> Result<Option<TemplateRecord>> {
        self.read_one(select_template(actor, name)).await?.first()
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
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8 \
             WHERE NOT EXISTS (SELECT 1 FROM prompt_templates WHERE workspace_id = ?2 AND name = ?3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&id)
        .bind(&actor.workspace_id)
        .bind(&new.name)
        .bind(&new.description)
        .bind(&new.template)
        .bind(&new.placeholders)
        .bind(&actor.user_id)
        .bind(&at);
        let mut batch = Batch::new();
        batch.push_audited(
            insert,
            Audit::by_actor(
                actor,
                "create",
                "prompt_template",
                &id,
                json!({ "name": new.name }),
            ),
        );
        let select = batch.push(select_own(actor, &id));
        let results = self.write(batch).await?;
        results.first(select)?.ok_or_else(|| duplicate(&new.name))
    }

    // Long on purpose: one round trip's statements (the change, its audit
    // row, the read-back and the diagnosis of a refusal) with their SQL
    // written out in full; split up, one batch would be read in pieces.
    pub async fn update_prompt_template(
        &self,
        actor: &Actor,
        name: &str,
        changes: TemplateChanges,
    ) -> Result<TemplateRecord> {
        let fields: Vec<&str> = [
            ("name", &changes.name),
            ("description", &changes.description),
            ("template", &changes.template),
            ("placeholders", &changes.placeholders),
        ]
        .into_iter()
        .filter_map(|(field, value)| value.as_ref().map(|_| field))
        .collect();
        // A field left out keeps its value; a new name must be free.
        let update = Stmt::new(
            "UPDATE prompt_templates SET updated_at = ?1, name = COALESCE(?4, name), \
                 description = COALESCE(?5, description), template = COALESCE(?6, template), \
                 placeholders = COALESCE(?7, placeholders) \
             WHERE workspace_id = ?2 AND name = ?3 \
             AND NOT EXISTS (SELECT 1 FROM prompt_templates o WHERE o.workspace_id = prompt_templates.workspace_id \
                             AND o.name = COALESCE(?4, prompt_templates.name) AND o.id <> prompt_templates.id)",
        )
        .bind(now())
        .bind(&actor.workspace_id)
        .bind(name)
        .bind(changes.name.clone())
        .bind(changes.description.clone())
        .bind(changes.template.clone())
        .bind(changes.placeholders.clone());
        let new_name = changes.name.clone().unwrap_or_else(|| name.to_owned());
        let mut batch = Batch::new();
        let diagnose = batch.push(
            Stmt::new(
                "SELECT EXISTS (SELECT 1 FROM prompt_templates WHERE workspace_id = ?1 AND name = ?2) AS own, \
                        EXISTS (SELECT 1 FROM prompt_templates WHERE workspace_id IS NULL AND name = ?2) AS global",
            )
            .bind(&actor.workspace_id)
            .bind(name),
        );
        let updated = batch.push_audited(
            update,
            Audit::by_actor(
                actor,
                "update",
                "prompt_template",
                name,
                changed_fields(&fields),
            ),
        );
        let select = batch.push(
            Stmt::new(SELECT_OWN_BY_NAME)
                .bind(&actor.workspace_id)
                .bind(&new_name),
        );
        let results = self.write(batch).await?;
        if results.changes(updated) == 0 {
            if results.int(diagnose, "own") == 1 {
                return Err(duplicate(&new_name));
            }
            if is_global(results.get(diagnose)) {
                return Err(read_only_global(name));
            }
            return Err(template_not_found(name));
        }
        results
            .first(select)?
            .ok_or_else(|| template_not_found(&new_name))
    }

    /// Deletes the workspace's template called `name`; returns what it was.
    pub async fn delete_prompt_template(
        &self,
        actor: &Actor,
        name: &str,
    ) -> Result<TemplateRecord> {
        let mut batch = Batch::new();
        let select = batch.push(
            Stmt::new(SELECT_OWN_BY_NAME)
                .bind(&actor.workspace_id)
                .bind(name),
        );
        let global = batch.push(
            Stmt::new(
                "SELECT EXISTS (SELECT 1 FROM prompt_templates WHERE workspace_id IS NULL AND name = ?) AS global",
            )
            .bind(name),
        );
        batch.push_audited(
            Stmt::new("DELETE FROM prompt_templates WHERE workspace_id = ? AND name = ?")
                .bind(&actor.workspace_id)
                .bind(name),
            Audit::by_actor(
                actor,
                "delete",
                "prompt_template",
                name,
                json!({ "name": name }),
            ),
        );
        let results = self.write(batch).await?;
        match results.first(select)? {
            Some(record) => Ok(record),
            None if is_global(results.get(global)) => Err(read_only_global(name)),
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
        self.suggest(Suggest::Tasks, actor, text, limit).await
    }

    /// Projects of the workspace whose id starts with `text` or whose name
    /// contains it.
    pub async fn suggest_projects(
        &self,
        actor: &Actor,
        text: &str,
        limit: u32,
    ) -> Result<Vec<Suggestion>> {
        self.suggest(Suggest::Projects, actor, text, limit).await
    }

    async fn suggest(
        &self,
        table: Suggest,
        actor: &Actor,
        text: &str,
        limit: u32,
    ) -> Result<Vec<Suggestion>> {
        let text = text.trim();
        let prefix = format!("{}%", like_contains(text).trim_start_matches('%'));
        // ?2: the id prefix (and the title prefix ranked first), ?3: the title text.
        let sql = match table {
            Suggest::Tasks => {
                "SELECT id, title FROM tasks WHERE workspace_id = ?1 \
                 AND (id LIKE ?2 ESCAPE '\\' OR title LIKE ?3 ESCAPE '\\') \
                 ORDER BY (title LIKE ?2 ESCAPE '\\') DESC, updated_at DESC, id LIMIT ?4"
            }
            Suggest::Projects => {
                "SELECT id, name AS title FROM projects WHERE workspace_id = ?1 \
                 AND (id LIKE ?2 ESCAPE '\\' OR name LIKE ?3 ESCAPE '\\') \
                 ORDER BY (name LIKE ?2 ESCAPE '\\') DESC, updated_at DESC, id LIMIT ?4"
            }
        };
        self.read_one(
            Stmt::new(sql)
                .bind(&actor.workspace_id)
                .bind(prefix)
                .bind(like_contains(text))
                .bind(i64::from(limit)),
        )
        .await?
        .all()
    }
}

/// Which table `completion/complete` suggests from.
#[derive(Debug, Clone, Copy)]
enum Suggest {
    Tasks,
    Projects,
}

fn read_only_global(name: &str) -> StoreError {
    StoreError::Invalid(format!(
        "prompt template '{name}' is a global template shared by every workspace and cannot be changed here; \
         create a workspace template with another name instead"
    ))
}
