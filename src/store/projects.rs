//! Projects: create, read, update, list — always inside the caller's workspace.

use serde_json::json;

use super::{
    Actor, Batch, Entity, NewProject, Param, Project, ProjectChanges, ProjectId, Result, Stmt,
    StmtResult, Store, StoreError, Task, TaskCounts, TaskId,
    audit::{Audit, changed_fields},
    new_id, now,
    page::{Page, ProjectKey},
};

/// Columns of a project plus its task counts, computed in the same query.
macro_rules! project_select {
    () => {
        "SELECT p.id, p.workspace_id, p.name, p.description, p.repo_path, p.setup_script, p.cleanup_script, \
         p.approvals, p.created_at, p.updated_at, \
         (SELECT COUNT(*) FROM tasks t WHERE t.project_id = p.id AND t.status = 'todo') AS todo, \
         (SELECT COUNT(*) FROM tasks t WHERE t.project_id = p.id AND t.status = 'inprogress') AS inprogress, \
         (SELECT COUNT(*) FROM tasks t WHERE t.project_id = p.id AND t.status = 'inreview') AS inreview, \
         (SELECT COUNT(*) FROM tasks t WHERE t.project_id = p.id AND t.status = 'done') AS done, \
         (SELECT COUNT(*) FROM tasks t WHERE t.project_id = p.id AND t.status = 'cancelled') AS cancelled \
         FROM projects p"
    };
}

/// One row of [`project_select!`], every column a field: no
/// `#[serde(flatten)]`, which buffers a whole row (a copy of every value)
/// before decoding it again.
#[derive(serde::Deserialize)]
struct ProjectRow {
    id: ProjectId,
    workspace_id: super::WorkspaceId,
    name: String,
    description: String,
    repo_path: Option<String>,
    #[serde(default)]
    setup_script: Option<String>,
    #[serde(default)]
    cleanup_script: Option<String>,
    #[serde(default)]
    approvals: super::ApprovalMode,
    created_at: String,
    updated_at: String,
    todo: i64,
    inprogress: i64,
    inreview: i64,
    done: i64,
    cancelled: i64,
}

impl From<ProjectRow> for Project {
    fn from(row: ProjectRow) -> Self {
        Project {
            id: row.id,
            workspace_id: row.workspace_id,
            name: row.name,
            description: row.description,
            repo_path: row.repo_path,
            setup_script: row.setup_script,
            cleanup_script: row.cleanup_script,
            approvals: row.approvals,
            created_at: row.created_at,
            updated_at: row.updated_at,
            task_counts: TaskCounts {
                todo: row.todo,
                inprogress: row.inprogress,
                inreview: row.inreview,
                done: row.done,
                cancelled: row.cancelled,
            },
        }
    }
}

fn decode_projects(result: &StmtResult) -> Result<Vec<Project>> {
    Ok(result
        .all::<ProjectRow>()?
        .into_iter()
        .map(Project::from)
        .collect())
}

pub(super) fn decode_project(result: &StmtResult) -> Result<Option<Project>> {
    Ok(result.first::<ProjectRow>()?.map(Project::from))
}

/// [`decode_project`], moving the row's values out (no second copy of its
/// text).
fn take_project(result: StmtResult) -> Result<Option<Project>> {
    Ok(result
        .into_all::<ProjectRow>()?
        .into_iter()
        .next()
        .map(Project::from))
}

pub(super) fn select_project(actor: &Actor, project_id: &ProjectId) -> Stmt {
    Stmt::new(concat!(
        project_select!(),
        " WHERE p.id = ? AND p.workspace_id = ?"
    ))
    .bind(project_id)
    .bind(&actor.workspace_id)
}

/// `update_project`'s statement. Name and description keep their value when
/// ?4 / ?5 is NULL; the three fields that can be cleared change when their
/// flag (?6, ?8, ?10) is set, to ?7, ?9, ?11; ?18 is the member who
/// changes it. A new name must be free.
const UPDATE_PROJECT: &str = "UPDATE projects SET updated_at = ?1, updated_by = ?18, name = COALESCE(?4, name), \
         description = COALESCE(?5, description), \
         repo_path = CASE WHEN ?6 THEN ?7 ELSE repo_path END, \
         setup_script = CASE WHEN ?8 THEN ?9 ELSE setup_script END, \
         cleanup_script = CASE WHEN ?10 THEN ?11 ELSE cleanup_script END, \
         approvals = COALESCE(?17, approvals) \
     WHERE id = ?2 AND workspace_id = ?3 \
       AND NOT EXISTS (SELECT 1 FROM projects o WHERE o.workspace_id = projects.workspace_id \
                       AND o.name = COALESCE(?4, projects.name) AND o.id <> projects.id)";

/// The audit row of `update_project`, to run before the update (same
/// parameters, plus ?12 the row id, ?13 user, ?14 key, ?15 the changed
/// fields, ?16 request): written when the update will apply, with the old
/// and new values of the fields that decide what runs on a runner's machine
/// read from the row as it is before the change. Its details come from the
/// row, so it is its own statement rather than the audit builder's.
const UPDATE_PROJECT_AUDIT: &str = "INSERT INTO audit_logs (id, workspace_id, user_id, api_key_id, action, \
         entity_type, entity_id, details, request_id, created_at) \
     SELECT ?12, ?3, ?13, ?14, 'update', 'project', p.id, \
            CASE WHEN ?6 OR ?8 OR ?10 THEN json_set(?15, '$.changes', json(json_remove(json_object( \
                     'repo_path', json_object('old', p.repo_path, 'new', ?7), \
                     'setup_script', json_object('old', p.setup_script, 'new', ?9), \
                     'cleanup_script', json_object('old', p.cleanup_script, 'new', ?11)), \
                 CASE WHEN ?6 THEN '$.unchanged' ELSE '$.repo_path' END, \
                 CASE WHEN ?8 THEN '$.unchanged' ELSE '$.setup_script' END, \
                 CASE WHEN ?10 THEN '$.unchanged' ELSE '$.cleanup_script' END))) \
            ELSE ?15 END, \
            ?16, ?1 \
     FROM projects p WHERE p.id = ?2 AND p.workspace_id = ?3 \
       AND NOT EXISTS (SELECT 1 FROM projects o WHERE o.workspace_id = p.workspace_id \
                       AND o.name = COALESCE(?4, p.name) AND o.id <> p.id) \
     ON CONFLICT DO NOTHING";

fn duplicate_name(name: &str) -> StoreError {
    StoreError::Conflict(format!(
        "a project named '{name}' already exists in this workspace; choose another name or use that project"
    ))
}

impl Store {
    /// One page of the workspace's projects in name order: at most `limit`,
    /// after the project `after` when given.
    pub async fn list_projects_page(
        &self,
        actor: &Actor,
        after: Option<&ProjectKey>,
        limit: u32,
    ) -> Result<Page<Project>> {
        let rows = self
            .read_one(
                Stmt::new(concat!(
                    project_select!(),
                    " WHERE p.workspace_id = ?1 \
                       AND (?2 IS NULL OR p.name > ?2 OR (p.name = ?2 AND p.id > ?3)) \
                     ORDER BY p.name, p.id LIMIT ?4"
                ))
                .bind(&actor.workspace_id)
                .bind(after.map(|k| k.name.as_str()))
                .bind(after.map(|k| k.id.as_str()))
                .bind(i64::from(limit) + 1),
            )
            .await?;
        Ok(Page::from_rows(
            decode_projects(&rows)?,
            limit as usize,
            |p| ProjectKey {
                name: p.name.clone(),
                id: p.id.to_string(),
            },
        ))
    }

    /// Every project of the workspace, in name order.
    pub async fn list_projects(&self, actor: &Actor) -> Result<Vec<Project>> {
        let rows = self
            .read_one(
                Stmt::new(concat!(
                    project_select!(),
                    " WHERE p.workspace_id = ? ORDER BY p.name, p.id"
                ))
                .bind(&actor.workspace_id),
            )
            .await?;
        decode_projects(&rows)
    }

    pub async fn get_project(&self, actor: &Actor, project_id: &ProjectId) -> Result<Project> {
        let row = self.read_one(select_project(actor, project_id)).await?;
        take_project(row)?.ok_or_else(|| StoreError::not_found(Entity::Project, project_id))
    }

    /// A task and its project, in one round trip (what a session start
    /// checks before it queues).
    pub async fn task_and_project(
        &self,
        actor: &Actor,
        task_id: &TaskId,
    ) -> Result<(Task, Project)> {
        let mut batch = Batch::new();
        let task = batch.push(
            Stmt::new(concat!(
                "SELECT ",
                task_columns!(),
                " FROM tasks WHERE id = ? AND workspace_id = ?"
            ))
            .bind(task_id)
            .bind(&actor.workspace_id),
        );
        let project = batch.push(
            Stmt::new(concat!(
                project_select!(),
                " WHERE p.id = (SELECT project_id FROM tasks WHERE id = ?1 AND workspace_id = ?2) \
                   AND p.workspace_id = ?2"
            ))
            .bind(task_id)
            .bind(&actor.workspace_id),
        );
        let results = self.read(batch).await?;
        let not_found = || StoreError::not_found(Entity::Task, task_id);
        let task: Task = results.first(task)?.ok_or_else(not_found)?;
        let project = decode_project(results.get(project))?.ok_or_else(not_found)?;
        Ok((task, project))
    }

    pub async fn create_project(&self, actor: &Actor, new: NewProject) -> Result<Project> {
        let id = ProjectId::generate();
        let at = now();
        let insert = Stmt::new(
            "INSERT INTO projects (id, workspace_id, name, description, repo_path, setup_script, cleanup_script, \
                                   created_by, updated_by, created_at, updated_at, approvals) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?9, ?10 \
             WHERE NOT EXISTS (SELECT 1 FROM projects WHERE workspace_id = ?2 AND name = ?3) \
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
        .bind(new.approvals.as_str());
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
            json!({ "name": new.name, "approvals": new.approvals })
        } else {
            json!({ "name": new.name, "approvals": new.approvals, "changes": privileged })
        };
        let mut batch = Batch::new();
        batch.push_audited(
            insert,
            Audit::by_actor(actor, "create", "project", &id, details),
        );
        let select = batch.push(select_project(actor, &id));
        let results = self.write(batch).await?;
        decode_project(results.get(select))?.ok_or_else(|| duplicate_name(&new.name))
    }

    pub async fn update_project(
        &self,
        actor: &Actor,
        project_id: &ProjectId,
        changes: ProjectChanges,
    ) -> Result<Project> {
        let fields: Vec<&str> = [
            ("name", changes.name.is_some()),
            ("description", changes.description.is_some()),
            ("repo_path", changes.repo_path.is_some()),
            ("setup_script", changes.setup_script.is_some()),
            ("cleanup_script", changes.cleanup_script.is_some()),
            ("approvals", changes.approvals.is_some()),
        ]
        .into_iter()
        .filter_map(|(field, changed)| changed.then_some(field))
        .collect();
        // ?1–?11, shared by the update and its audit row.
        let params = vec![
            Param::from(now()),
            Param::from(project_id),
            Param::from(&actor.workspace_id),
            Param::from(changes.name.clone()),
            Param::from(changes.description.clone()),
            Param::from(changes.repo_path.is_some()),
            Param::from(changes.repo_path.clone().flatten()),
            Param::from(changes.setup_script.is_some()),
            Param::from(changes.setup_script.clone().flatten()),
            Param::from(changes.cleanup_script.is_some()),
            Param::from(changes.cleanup_script.clone().flatten()),
        ];
        let mut update = Stmt::new(UPDATE_PROJECT);
        update.params = params.clone();
        let mut audit_row = Stmt::new(UPDATE_PROJECT_AUDIT);
        audit_row.params = params;
        let audit_row = audit_row
            .bind(new_id())
            .bind(&actor.user_id)
            .bind(actor.api_key_id.clone())
            .bind(changed_fields(&fields).to_string())
            .bind(actor.request_id.clone());
        // ?17, the update's own: the new approvals setting (the audit row's
        // fields list names it).
        let approvals = changes.approvals.map(|a| a.as_str());
        update.params.extend([
            Param::Null,
            Param::Null,
            Param::Null,
            Param::Null,
            Param::Null,
            Param::from(approvals),
        ]);
        // ?18: who changed it.
        let update = update.bind(&actor.user_id);
        // The audit row goes first, while the old values are still there;
        // its condition is the update's own, so it is written exactly when
        // the update applies.
        let mut batch = Batch::new();
        batch.push(audit_row);
        let updated = batch.push(update);
        let select = batch.push(select_project(actor, project_id));
        let results = self.write(batch).await?;
        let project = decode_project(results.get(select))?
            .ok_or_else(|| StoreError::not_found(Entity::Project, project_id))?;
        if results.changes(updated) == 0 {
            // The project exists, so the only reason the update did nothing is
            // a name taken by another project.
            return Err(duplicate_name(
                changes.name.as_deref().unwrap_or(&project.name),
            ));
        }
        Ok(project)
    }
}
