//! Prompt enhancement's data: the cache (`prompt_cache`, migration 0004) and
//! usage records (`usage_records`, migration 0007).
//!
//! An enhancement costs one read batch (cache row, task context and template
//! together) and, unless the cache answered, one write batch (cache row,
//! usage record and the removal of expired cache rows).

use super::{
    Actor, Batch, Result, Stmt, Store, Task, TaskId, new_id, now,
    templates::{TemplateRecord, select_template},
};

/// A task with what a prompt needs to know around it.
#[derive(Debug, Clone)]
pub struct TaskContext {
    pub task: Task,
    /// Direct subtasks, in board order.
    pub subtasks: Vec<Task>,
    pub project_name: String,
    pub project_description: String,
    /// The project's repository path, if it has one.
    pub repository: Option<String>,
}

/// What one read batch found for an enhancement or a prompt.
#[derive(Debug, Default)]
pub struct PromptInputs {
    /// The cached value (JSON text), when present and not expired.
    pub cached: Option<String>,
    /// `None` when no task was asked for, or it is not in the workspace.
    pub task: Option<TaskContext>,
    /// The workspace's (or a global) template of the name asked for.
    pub template: Option<TemplateRecord>,
}

/// A result to cache.
#[derive(Debug, Clone)]
pub struct CacheEntry {
    pub key: String,
    /// JSON text.
    pub value: String,
    pub expires_at: String,
}

/// One enhancement, for the usage records.
#[derive(Debug, Clone)]
pub struct Usage {
    pub kind: &'static str,
    pub provider: String,
    pub model: Option<String>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
}

#[derive(serde::Deserialize)]
struct ProjectBrief {
    name: String,
    description: String,
    repo_path: Option<String>,
}

impl Store {
    // Long on purpose: the three optional reads of one round trip, each
    // with its SQL written out, and their decoding.
    /// Reads, in one batch, whatever of the cache row, the task context and
    /// the template the caller asks for.
    pub async fn prompt_inputs(
        &self,
        actor: &Actor,
        cache_key: Option<&str>,
        task_id: Option<&TaskId>,
        template: Option<&str>,
    ) -> Result<PromptInputs> {
        let at = now();
        let mut batch = Batch::new();
        let cache_row = batch.push(
            Stmt::new(
                "SELECT value FROM prompt_cache WHERE key = ? AND workspace_id = ? AND expires_at > ?",
            )
            .bind(cache_key.unwrap_or(""))
            .bind(&actor.workspace_id)
            .bind(&at),
        );
        let task_row = batch.push(
            Stmt::new(concat!(
                "SELECT ",
                task_columns!(),
                " FROM tasks WHERE id = ? AND workspace_id = ?"
            ))
            .bind(task_id.map_or("", TaskId::as_str))
            .bind(&actor.workspace_id),
        );
        let subtasks = batch.push(
            Stmt::new(concat!(
                "SELECT ",
                task_columns!(),
                " FROM tasks WHERE parent_task_id = ? AND workspace_id = ? ORDER BY position, id"
            ))
            .bind(task_id.map_or("", TaskId::as_str))
            .bind(&actor.workspace_id),
        );
        let project_row = batch.push(
            Stmt::new(
                "SELECT p.name, p.description, p.repo_path FROM projects p JOIN tasks t ON t.project_id = p.id \
                 WHERE t.id = ?1 AND t.workspace_id = ?2 AND p.workspace_id = ?2",
            )
            .bind(task_id.map_or("", TaskId::as_str))
            .bind(&actor.workspace_id),
        );
        let template_row = batch.push(select_template(actor, template.unwrap_or("")));
        let results = self.read(batch).await?;
        #[derive(serde::Deserialize)]
        struct Cached {
            value: String,
        }
        let cached = if cache_key.is_some() {
            results.first::<Cached>(cache_row)?.map(|c| c.value)
        } else {
            None
        };
        let task = match (
            results.first::<Task>(task_row)?,
            results.first::<ProjectBrief>(project_row)?,
        ) {
            (Some(task), Some(project)) => Some(TaskContext {
                task,
                subtasks: results.all(subtasks)?,
                project_name: project.name,
                project_description: project.description,
                repository: project.repo_path,
            }),
            _ => None,
        };
        let template = if template.is_some() {
            results.first(template_row)?
        } else {
            None
        };
        Ok(PromptInputs {
            cached,
            task,
            template,
        })
    }

    /// Records an enhancement in one write batch: the usage record, the cache
    /// row (replacing an older one) and the removal of the workspace's
    /// expired cache rows.
    pub async fn record_enhancement(
        &self,
        actor: &Actor,
        cache: Option<CacheEntry>,
        usage: Usage,
    ) -> Result<()> {
        let at = now();
        let mut batch = Batch::new();
        batch.push(
            Stmt::new(
                "INSERT INTO usage_records (id, workspace_id, user_id, kind, provider, model, input_tokens, \
                                            output_tokens, cached, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?) ON CONFLICT DO NOTHING",
            )
            .bind(new_id())
            .bind(&actor.workspace_id)
            .bind(&actor.user_id)
            .bind(usage.kind)
            .bind(usage.provider)
            .bind(usage.model)
            .bind(usage.input_tokens)
            .bind(usage.output_tokens)
            .bind(&at),
        );
        batch.push(
            Stmt::new("DELETE FROM prompt_cache WHERE workspace_id = ? AND expires_at <= ?")
                .bind(&actor.workspace_id)
                .bind(&at),
        );
        if let Some(entry) = cache {
            batch.push(
                Stmt::new(
                    "INSERT INTO prompt_cache (key, workspace_id, value, created_at, expires_at) VALUES (?, ?, ?, ?, ?) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, created_at = excluded.created_at, \
                     expires_at = excluded.expires_at WHERE prompt_cache.workspace_id = excluded.workspace_id",
                )
                .bind(entry.key)
                .bind(&actor.workspace_id)
                .bind(entry.value)
                .bind(&at)
                .bind(entry.expires_at),
            );
        }
        self.write(batch).await?;
        Ok(())
    }
}
