//! Projects: create, read, update, list — always inside the caller's workspace.

use serde_json::json;

use super::{
    Actor, NewProject, Param, Project, ProjectChanges, Result, Stmt, StmtResult, Store, StoreError,
    Task, TaskCounts, audit, changed_fields, changed_rows, decode_all, decode_first, new_id, now,
    tasks::TASK_COLUMNS,
};

/// Columns of a project plus its task counts, computed in the same query.
const PROJECT_SELECT: &str = "SELECT p.id, p.workspace_id, p.name, p.description, p.repo_path, p.setup_script, p.cleanup_script, \
     p.created_at, p.updated_at, \
     (SELECT COUNT(*) FROM tasks t WHERE t.project_id = p.id AND t.status = 'todo') AS todo, \
     (SELECT COUNT(*) FROM tasks t WHERE t.project_id = p.id AND t.status = 'inprogress') AS inprogress, \
     (SELECT COUNT(*) FROM tasks t WHERE t.project_id = p.id AND t.status = 'inreview') AS inreview, \
     (SELECT COUNT(*) FROM tasks t WHERE t.project_id = p.id AND t.status = 'done') AS done, \
     (SELECT COUNT(*) FROM tasks t WHERE t.project_id = p.id AND t.status = 'cancelled') AS cancelled \
     FROM projects p";

#[derive(serde::Deserialize)]
struct ProjectRow {
    #[serde(flatten)]
    project: Project,
    #[serde(flatten)]
    counts: TaskCounts,
}

fn decode_projects(result: Option<&StmtResult>) -> Result<Vec<Project>> {
    Ok(decode_all::<ProjectRow>(result)?
        .into_iter()
        .map(|row| Project {
            task_counts: row.counts,
            ..row.project
        })
        .collect())
}

/// An opaque cursor for the page after `project`.
pub fn encode_project_cursor(project: &Project) -> String {
    hex::encode(format!("{}:{}", project.id, project.name))
}

/// Decodes a cursor made by [`encode_project_cursor`] into (name, id);
/// `None` when it is not one.
pub fn decode_project_cursor(cursor: &str) -> Option<(String, String)> {
    let raw = String::from_utf8(hex::decode(cursor).ok()?).ok()?;
    let (id, name) = raw.split_once(':')?;
    uuid::Uuid::parse_str(id).ok()?;
    Some((name.to_owned(), id.to_owned()))
}

pub(super) fn decode_project(result: Option<&StmtResult>) -> Result<Option<Project>> {
    Ok(decode_first::<ProjectRow>(result)?.map(|row| Project {
        task_counts: row.counts,
        ..row.project
    }))
}

pub(super) fn select_project(actor: &Actor, project_id: &str) -> Stmt {
    Stmt::new(format!(
        "{PROJECT_SELECT} WHERE p.id = ? AND p.workspace_id = ?"
    ))
    .bind(project_id)
    .bind(&actor.workspace_id)
}

/// The audit row of `update_project`, to run before the update: written when
/// the update will apply (the project is in the caller's workspace and the
/// new name is free), with the old and new values of the privileged fields
/// read from the row as it is before the change.
fn update_audit(
    actor: &Actor,
    project_id: &str,
    fields: &[&str],
    privileged: Vec<(&'static str, Param)>,
    new_name: Option<String>,
) -> Stmt {
    let details = if privileged.is_empty() {
        "?".to_owned()
    } else {
        let changes: Vec<String> = privileged
            .iter()
            .map(|(column, _)| format!("'{column}', json_object('old', p.{column}, 'new', ?)"))
            .collect();
        format!(
            "json_set(?, '$.changes', json_object({}))",
            changes.join(", ")
        )
    };
    let mut stmt = Stmt::new(format!(
        "INSERT INTO audit_logs (id, workspace_id, user_id, api_key_id, action, entity_type, entity_id, details, \
         request_id, created_at) \
         SELECT ?, ?, ?, ?, 'update', 'project', p.id, {details}, ?, ? FROM projects p \
         WHERE p.id = ? AND p.workspace_id = ? \
           AND NOT EXISTS (SELECT 1 FROM projects o WHERE o.workspace_id = p.workspace_id \
                           AND o.name = COALESCE(?, p.name) AND o.id <> p.id) \
         ON CONFLICT DO NOTHING"
    ))
    .bind(new_id())
    .bind(&actor.workspace_id)
    .bind(&actor.user_id)
    .bind(actor.api_key_id.clone())
    .bind(changed_fields(fields).to_string());
    stmt.params
        .extend(privileged.into_iter().map(|(_, value)| value));
    stmt.bind(actor.request_id.clone())
        .bind(now())
        .bind(project_id)
        .bind(&actor.workspace_id)
        .bind(new_name)
}

fn duplicate_name(name: &str) -> StoreError {
    StoreError::Conflict(format!(
        "a project named '{name}' already exists in this workspace; choose another name or use that project"
    ))
}

impl Store {
    /// One page of the workspace's projects in name order: at most `limit`,
    /// after the project `after` (name, id) when given; and whether more follow.
    pub async fn list_projects_page(
        &self,
        actor: &Actor,
        after: Option<&(String, String)>,
        limit: u32,
    ) -> Result<(Vec<Project>, bool)> {
        let (name, id) = after.map_or((None, None), |(n, i)| (Some(n.as_str()), Some(i.as_str())));
        let results = self
            .read(vec![
                Stmt::new(format!(
                    "{PROJECT_SELECT} WHERE p.workspace_id = ? \
                       AND (? IS NULL OR p.name > ? OR (p.name = ? AND p.id > ?)) \
                     ORDER BY p.name, p.id LIMIT ?"
                ))
                .bind(&actor.workspace_id)
                .bind(name)
                .bind(name)
                .bind(name)
                .bind(id)
                .bind(i64::from(limit) + 1),
            ])
            .await?;
        let mut projects = decode_projects(results.first())?;
        let more = projects.len() > limit as usize;
        projects.truncate(limit as usize);
        Ok((projects, more))
    }

    /// Every project of the workspace, in name order.
    pub async fn list_projects(&self, actor: &Actor) -> Result<Vec<Project>> {
        let results = self
            .read(vec![
                Stmt::new(format!(
                    "{PROJECT_SELECT} WHERE p.workspace_id = ? ORDER BY p.name, p.id"
                ))
                .bind(&actor.workspace_id),
            ])
            .await?;
        decode_projects(results.first())
    }

    pub async fn get_project(&self, actor: &Actor, project_id: &str) -> Result<Project> {
        let results = self.read(vec![select_project(actor, project_id)]).await?;
        decode_project(results.first())?.ok_or_else(|| StoreError::NotFound {
            kind: "project",
            id: project_id.to_owned(),
        })
    }

    /// A task and its project, in one round trip (what a session start
    /// checks before it queues).
    pub async fn task_and_project(&self, actor: &Actor, task_id: &str) -> Result<(Task, Project)> {
        let results = self
            .read(vec![
                Stmt::new(format!(
                    "SELECT {TASK_COLUMNS} FROM tasks WHERE id = ? AND workspace_id = ?"
                ))
                .bind(task_id)
                .bind(&actor.workspace_id),
                Stmt::new(format!(
                    "{PROJECT_SELECT} WHERE p.id = (SELECT project_id FROM tasks WHERE id = ? AND workspace_id = ?) \
                       AND p.workspace_id = ?"
                ))
                .bind(task_id)
                .bind(&actor.workspace_id)
                .bind(&actor.workspace_id),
            ])
            .await?;
        let not_found = || StoreError::NotFound {
            kind: "task",
            id: task_id.to_owned(),
        };
        let task: Task = decode_first(results.first())?.ok_or_else(not_found)?;
        let project = decode_project(results.get(1))?.ok_or_else(not_found)?;
        Ok((task, project))
    }

    pub async fn create_project(&self, actor: &Actor, new: NewProject) -> Result<Project> {
        let id = new_id();
        let at = now();
        let insert = Stmt::new(
            "INSERT INTO projects (id, workspace_id, name, description, repo_path, setup_script, cleanup_script, \
                                   created_by, created_at, updated_at) \
             SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM projects WHERE workspace_id = ? AND name = ?) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&id)
        .bind(&actor.workspace_id)
        .bind(&new.name)
        .bind(&new.description)
        .bind(new.repo_path.clone())
        .bind(new.setup_script.clone())
        .bind(new.cleanup_script.clone())
        .bind(&actor.user_id)
        .bind(&at)
        .bind(&at)
        .bind(&actor.workspace_id)
        .bind(&new.name);
        // Fields that decide what runs on a runner's machine are recorded
        // with their values, so the audit log shows who planted what.
        let privileged: serde_json::Map<String, serde_json::Value> = [
            ("repo_path", &new.repo_path),
            ("setup_script", &new.setup_script),
            ("cleanup_script", &new.cleanup_script),
        ]
        .into_iter()
        .filter_map(|(field, value)| {
            value
                .as_ref()
                .map(|v| (field.to_owned(), json!({ "old": null, "new": v })))
        })
        .collect();
        let details = if privileged.is_empty() {
            json!({ "name": new.name })
        } else {
            json!({ "name": new.name, "changes": privileged })
        };
        let audit_row = audit(
            actor,
            "create",
            "project",
            &id,
            details,
            Some((
                "EXISTS (SELECT 1 FROM projects WHERE id = ?)",
                vec![Param::from(&id)],
            )),
        );
        let results = self
            .write(vec![insert, audit_row, select_project(actor, &id)])
            .await?;
        decode_project(results.get(2))?.ok_or_else(|| duplicate_name(&new.name))
    }

    pub async fn update_project(
        &self,
        actor: &Actor,
        project_id: &str,
        changes: ProjectChanges,
    ) -> Result<Project> {
        let mut sets = vec!["updated_at = ?"];
        let mut params = vec![Param::from(now())];
        let mut fields = Vec::new();
        // (column, new value) of the fields that decide what runs on a
        // runner's machine: audited with their old and new values.
        let mut privileged: Vec<(&'static str, Param)> = Vec::new();
        if let Some(name) = &changes.name {
            sets.push("name = ?");
            params.push(name.into());
            fields.push("name");
        }
        if let Some(description) = &changes.description {
            sets.push("description = ?");
            params.push(description.into());
            fields.push("description");
        }
        if let Some(repo_path) = &changes.repo_path {
            sets.push("repo_path = ?");
            params.push(repo_path.clone().into());
            fields.push("repo_path");
            privileged.push(("repo_path", repo_path.clone().into()));
        }
        if let Some(script) = &changes.setup_script {
            sets.push("setup_script = ?");
            params.push(script.clone().into());
            fields.push("setup_script");
            privileged.push(("setup_script", script.clone().into()));
        }
        if let Some(script) = &changes.cleanup_script {
            sets.push("cleanup_script = ?");
            params.push(script.clone().into());
            fields.push("cleanup_script");
            privileged.push(("cleanup_script", script.clone().into()));
        }
        let mut update = Stmt::new(format!(
            "UPDATE projects SET {} WHERE id = ? AND workspace_id = ? \
             AND NOT EXISTS (SELECT 1 FROM projects o WHERE o.workspace_id = projects.workspace_id \
                             AND o.name = COALESCE(?, projects.name) AND o.id <> projects.id)",
            sets.join(", ")
        ));
        update.params = params;
        update = update
            .bind(project_id)
            .bind(&actor.workspace_id)
            .bind(changes.name.clone());
        // The audit row goes first, while the old values are still there;
        // its condition is the update's own, so it is written exactly when
        // the update applies.
        let audit_row = update_audit(actor, project_id, &fields, privileged, changes.name.clone());
        let results = self
            .write(vec![audit_row, update, select_project(actor, project_id)])
            .await?;
        let project = decode_project(results.get(2))?.ok_or_else(|| StoreError::NotFound {
            kind: "project",
            id: project_id.to_owned(),
        })?;
        if changed_rows(results.get(1)) == 0 {
            // The project exists, so the only reason the update did nothing is
            // a name taken by another project.
            return Err(duplicate_name(
                changes.name.as_deref().unwrap_or(&project.name),
            ));
        }
        Ok(project)
    }
}
