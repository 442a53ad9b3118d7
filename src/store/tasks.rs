//! Tasks: the board's cards, their subtasks, assignment and paging.

use serde_json::json;

use super::{
    Actor, Batch, Board, BoardColumn, Deleted, Entity, NewTask, ProjectId, Result, Stmt, Store,
    StoreError, Task, TaskChanges, TaskDetail, TaskFilter, TaskId, TaskPage, TaskStatus,
    audit::{Audit, changed_fields},
    like_contains, new_id, now,
    page::{Page, TaskKey},
};

/// Most tasks shown per column of a board; the rest are counted.
pub const BOARD_COLUMN_LIMIT: u32 = 100;
/// The newest comments a board shows, over all its tasks.
pub const BOARD_LATEST_COMMENTS: i64 = 5;

const SELECT_TASK: &str = concat!(
    "SELECT ",
    task_columns!(),
    " FROM tasks WHERE id = ? AND workspace_id = ?"
);

fn select_task(actor: &Actor, task_id: &TaskId) -> Stmt {
    Stmt::new(SELECT_TASK)
        .bind(task_id)
        .bind(&actor.workspace_id)
}

fn task_not_found(task_id: &TaskId) -> StoreError {
    StoreError::not_found(Entity::Task, task_id)
}

fn project_not_found(project_id: &ProjectId) -> StoreError {
    StoreError::not_found(Entity::Project, project_id)
}

/// Most subtasks `get_task` (and the task resource) shows.
pub const SUBTASK_LIMIT: i64 = 100;

/// The filters of `list_tasks`, shared by its count and its page: project
/// ?1 in workspace ?2; statuses ?3 (a JSON array, or NULL for all); assignee
/// ?4; parent ?5; LIKE pattern ?6; creator ?7. A task's workspace is its project's, so
/// the scope is checked once on the project (a constant subquery) rather than
/// on every row: counting and paging then run on the (project_id, …) indexes.
macro_rules! task_filter {
    () => {
        "project_id = ?1 AND (SELECT workspace_id FROM projects WHERE id = ?1) = ?2 \
         AND (?3 IS NULL OR status IN (SELECT value FROM json_each(?3))) \
         AND (?4 IS NULL OR assignee = ?4) AND (?5 IS NULL OR parent_task_id = ?5) \
         AND (?6 IS NULL OR title LIKE ?6 ESCAPE '\\' OR description LIKE ?6 ESCAPE '\\') \
         AND (?7 IS NULL OR created_by = ?7)"
    };
}

/// Where the first page starts: before every position a task can have
/// (positions are within ±(2^53 - 1)), so the keyset bound is always there.
const BEFORE_FIRST_POSITION: i64 = -(1 << 53);

impl TaskFilter {
    /// Binds ?1–?6 of [`task_filter!`].
    fn bind(&self, actor: &Actor, project_id: &ProjectId, stmt: Stmt) -> Result<Stmt> {
        // Each status once: a long list of repeats adds nothing.
        let statuses: Vec<&str> = TaskStatus::ALL
            .iter()
            .filter(|s| self.statuses.contains(s))
            .map(|s| s.as_str())
            .collect();
        let statuses = if statuses.is_empty() {
            None
        } else {
            Some(
                serde_json::to_string(&statuses)
                    .map_err(|e| StoreError::decode_by("cannot encode the statuses", e))?,
            )
        };
        Ok(stmt
            .bind(project_id)
            .bind(&actor.workspace_id)
            .bind(statuses)
            .bind(self.assignee.clone())
            .bind(self.parent_task_id.clone())
            .bind(self.query.as_deref().map(like_contains))
            .bind(self.created_by.clone()))
    }
}

impl Store {
    pub async fn list_tasks(
        &self,
        actor: &Actor,
        project_id: &ProjectId,
        filter: &TaskFilter,
    ) -> Result<TaskPage> {
        let mut batch = Batch::new();
        let exists = batch.push(
            Stmt::new(
                "SELECT EXISTS (SELECT 1 FROM projects WHERE id = ? AND workspace_id = ?) AS n",
            )
            .bind(project_id)
            .bind(&actor.workspace_id),
        );
        let count = batch.push(filter.bind(
            actor,
            project_id,
            Stmt::new(concat!(
                "SELECT COUNT(*) AS n FROM tasks WHERE ",
                task_filter!()
            )),
        )?);
        let (position, id) = filter
            .after
            .as_ref()
            .map_or((BEFORE_FIRST_POSITION, ""), |k| (k.position, k.id.as_str()));
        let page = batch.push(
            filter
                .bind(
                    actor,
                    project_id,
                    Stmt::new(concat!(
                        "SELECT ",
                        task_columns!(),
                        " FROM tasks WHERE ",
                        task_filter!(),
                        " AND (position, id) > (?8, ?9) ORDER BY position, id LIMIT ?10"
                    )),
                )?
                .bind(position)
                .bind(id)
                .bind(i64::from(filter.limit) + 1),
        );

        let mut results = self.read(batch).await?;
        if results.int(exists, "n") == 0 {
            return Err(project_not_found(project_id));
        }
        let page = Page::from_rows(
            results.take_rows::<Task>(page)?,
            filter.limit as usize,
            |t| TaskKey {
                position: t.position,
                id: t.id.to_string(),
            },
        );
        Ok(TaskPage {
            tasks: page.items,
            total: results.int(count, "n"),
            next_cursor: page.next_cursor,
        })
    }

    /// A task with its first [`SUBTASK_LIMIT`] direct subtasks and how many
    /// it has, in one round trip.
    pub async fn get_task(&self, actor: &Actor, task_id: &TaskId) -> Result<TaskDetail> {
        let mut batch = Batch::new();
        let task = batch.push(select_task(actor, task_id));
        let subtasks = batch.push(
            Stmt::new(concat!(
                "SELECT ",
                task_columns!(),
                " FROM tasks WHERE parent_task_id = ? AND workspace_id = ? ORDER BY position, id LIMIT ?"
            ))
            .bind(task_id)
            .bind(&actor.workspace_id)
            .bind(SUBTASK_LIMIT),
        );
        let count = batch.push(
            Stmt::new(
                "SELECT COUNT(*) AS n FROM tasks WHERE parent_task_id = ? AND workspace_id = ?",
            )
            .bind(task_id)
            .bind(&actor.workspace_id),
        );
        let (latest, comments) = super::comments::latest_comments(actor, task_id);
        let (latest, comments) = (batch.push(latest), batch.push(comments));
        let pull_request = batch.push(super::github::select_task_pull_request(actor, task_id));
        let results = self.read(batch).await?;
        let task: Task = results
            .first(task)?
            .ok_or_else(|| task_not_found(task_id))?;
        Ok(TaskDetail {
            task,
            subtasks: results.all(subtasks)?,
            subtask_count: results.int(count, "n"),
            comment_count: results.int(comments, "n"),
            latest_comments: results.all(latest)?,
            pull_request: results.first(pull_request)?,
        })
    }

    // Long on purpose: one round trip's statements (the change, its audit
    // row, the read-back and the diagnosis of a refusal) with their SQL
    // written out in full; split up, one batch would be read in pieces.
    pub async fn create_task(&self, actor: &Actor, new: NewTask) -> Result<Task> {
        let id = TaskId::generate();
        let at = now();
        let (assigned_at, assigned_by) = match &new.assignee {
            Some(_) => (Some(at.clone()), Some(actor.user_id.clone())),
            None => (None, None),
        };
        // A new task goes last: one past the highest position, but never
        // past MAX_POSITION (it then shares the last place and sorts after
        // the others by its time-ordered id).
        let insert = Stmt::new(
            "INSERT INTO tasks (id, workspace_id, project_id, parent_task_id, title, description, status, position, \
                                assignee, assigned_at, assigned_by, created_by, updated_by, created_at, updated_at) \
             SELECT ?1, p.workspace_id, p.id, ?2, ?3, ?4, ?5, \
                    (SELECT MIN(COALESCE(MAX(position), 0) + 1, 9007199254740991) FROM tasks WHERE project_id = p.id), \
                    ?6, ?7, ?8, ?9, ?9, ?10, ?10 \
             FROM projects p WHERE p.id = ?11 AND p.workspace_id = ?12 \
               AND (?2 IS NULL OR EXISTS (SELECT 1 FROM tasks pt WHERE pt.id = ?2 AND pt.project_id = p.id)) \
               AND (?6 IS NULL OR EXISTS (SELECT 1 FROM workspace_members m WHERE m.workspace_id = p.workspace_id AND m.user_id = ?6)) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&id)
        .bind(new.parent_task_id.clone())
        .bind(&new.title)
        .bind(&new.description)
        .bind(new.status.as_str())
        .bind(new.assignee.clone())
        .bind(assigned_at)
        .bind(assigned_by)
        .bind(&actor.user_id)
        .bind(&at)
        .bind(&new.project_id)
        .bind(&actor.workspace_id);
        let mut batch = Batch::new();
        batch.push_audited(
            insert,
            Audit::by_actor(
                actor,
                "create",
                "task",
                &id,
                json!({ "project_id": new.project_id, "title": new.title, "status": new.status }),
            ),
        );
        let created = batch.push(select_task(actor, &id));
        let diagnosis = batch.push(
            Stmt::new(
                "SELECT EXISTS (SELECT 1 FROM projects WHERE id = ?1 AND workspace_id = ?2) AS project_ok, \
                        (?3 IS NULL OR EXISTS (SELECT 1 FROM tasks WHERE id = ?3 AND project_id = ?1 AND workspace_id = ?2)) AS parent_ok, \
                        (?4 IS NULL OR EXISTS (SELECT 1 FROM workspace_members WHERE workspace_id = ?2 AND user_id = ?4)) AS assignee_ok",
            )
            .bind(&new.project_id)
            .bind(&actor.workspace_id)
            .bind(new.parent_task_id.clone())
            .bind(new.assignee.clone()),
        );

        let results = self.write(batch).await?;
        if let Some(task) = results.first(created)? {
            return Ok(task);
        }
        if results.int(diagnosis, "project_ok") == 0 {
            return Err(project_not_found(&new.project_id));
        }
        if results.int(diagnosis, "parent_ok") == 0 {
            return Err(StoreError::Invalid(format!(
                "parent task {} not found in project {}; a subtask's parent must be a task of the same project",
                new.parent_task_id.as_deref().unwrap_or_default(),
                new.project_id
            )));
        }
        Err(not_a_member(new.assignee.as_deref().unwrap_or_default()))
    }

    // Long on purpose: one round trip's statements (the change, its audit
    // row, the read-back and the diagnosis of a refusal) with their SQL
    // written out in full; split up, one batch would be read in pieces.
    pub async fn update_task(
        &self,
        actor: &Actor,
        task_id: &TaskId,
        changes: TaskChanges,
    ) -> Result<Task> {
        let fields = changes.fields();
        let new_parent = changes.parent_task_id.clone().flatten();
        // A field left out keeps its value. The parent can be set to NULL, so
        // ?6 says whether it changes and ?7 is the new one; a new parent must
        // be in the same project and must not be the task itself or one of its
        // descendants (that would make a cycle).
        let update = Stmt::new(
            "UPDATE tasks SET updated_at = ?1, updated_by = ?10, title = COALESCE(?4, title), \
                 description = COALESCE(?5, description), \
                 parent_task_id = CASE WHEN ?6 THEN ?7 ELSE parent_task_id END, \
                 status = COALESCE(?8, status), position = COALESCE(?9, position) \
             WHERE id = ?2 AND workspace_id = ?3 \
               AND (?7 IS NULL OR ( \
                   EXISTS (SELECT 1 FROM tasks pt WHERE pt.id = ?7 AND pt.project_id = tasks.project_id) \
                   AND NOT EXISTS (WITH RECURSIVE anc(id) AS (SELECT ?7 UNION SELECT t.parent_task_id FROM tasks t \
                                   JOIN anc ON t.id = anc.id WHERE t.parent_task_id IS NOT NULL) \
                                   SELECT 1 FROM anc WHERE anc.id = tasks.id)))",
        )
        .bind(now())
        .bind(task_id)
        .bind(&actor.workspace_id)
        .bind(changes.title.clone())
        .bind(changes.description.clone())
        .bind(changes.parent_task_id.is_some())
        .bind(new_parent.clone())
        .bind(changes.status.map(|s| s.as_str()))
        .bind(changes.position)
        .bind(&actor.user_id);
        let mut details = changed_fields(&fields);
        if let Some(status) = changes.status {
            details["status"] = json!(status);
        }
        let mut batch = Batch::new();
        let updated = batch.push_audited(
            update,
            Audit::by_actor(actor, "update", "task", task_id, details),
        );
        let select = batch.push(select_task(actor, task_id));
        let diagnosis = batch.push(
            Stmt::new(
                "SELECT EXISTS (SELECT 1 FROM tasks t JOIN tasks pt ON pt.project_id = t.project_id \
                                WHERE t.id = ? AND t.workspace_id = ? AND pt.id = ?) AS parent_ok",
            )
            .bind(task_id)
            .bind(&actor.workspace_id)
            .bind(new_parent.clone()),
        );

        let results = self.write(batch).await?;
        let task: Task = results
            .first(select)?
            .ok_or_else(|| task_not_found(task_id))?;
        if results.changes(updated) > 0 {
            return Ok(task);
        }
        let parent = new_parent.as_ref().map(TaskId::as_str).unwrap_or_default();
        if results.int(diagnosis, "parent_ok") == 0 {
            return Err(StoreError::Invalid(format!(
                "parent task {parent} not found in project {}; a subtask's parent must be a task of the same project",
                task.project_id
            )));
        }
        Err(StoreError::Conflict(format!(
            "task {parent} is task {task_id} itself or one of its subtasks; making it the parent would create a cycle"
        )))
    }

    // Long on purpose: one round trip's statements (the change, its audit
    // row, the read-back and the diagnosis of a refusal) with their SQL
    // written out in full; split up, one batch would be read in pieces.
    /// Deletes the task and its subtree. The audit row records the ids it
    /// deleted and the result is read back from that row, so a batch retried
    /// after it committed (the reply was lost) reports the same deletion
    /// instead of "not found".
    pub async fn delete_task(&self, actor: &Actor, task_id: &TaskId) -> Result<Deleted> {
        // The task ?1 (in workspace ?2) and its subtasks, at any depth.
        macro_rules! subtree {
            () => {
                "WITH RECURSIVE sub(id) AS (SELECT id FROM tasks WHERE id = ?1 AND workspace_id = ?2 \
                 UNION ALL SELECT t.id FROM tasks t JOIN sub ON t.parent_task_id = sub.id) SELECT id FROM sub"
            };
        }
        // An agent session that is queued or running on the task or a
        // subtask keeps it: deleting would orphan a live agent.
        macro_rules! idle {
            () => {
                concat!(
                    "NOT EXISTS (SELECT 1 FROM workspace_sessions s WHERE s.task_id IN (",
                    subtree!(),
                    ") AND s.status IN ('queued', 'running'))"
                )
            };
        }
        let audit_id = new_id();
        let mut batch = Batch::new();
        let busy = batch.push(
            Stmt::new(concat!(
                "SELECT s.id, s.status, s.task_id FROM workspace_sessions s WHERE s.task_id IN (",
                subtree!(),
                ") AND s.status IN ('queued', 'running') LIMIT 1"
            ))
            .bind(task_id)
            .bind(&actor.workspace_id),
        );
        // Its details (the deleted ids) are computed here, so this row is
        // written by its own statement rather than by the audit builder.
        batch.push(
            Stmt::new(concat!(
                "INSERT INTO audit_logs (id, workspace_id, user_id, api_key_id, action, entity_type, entity_id, details, \
                                         request_id, created_at) \
                 SELECT ?3, ?2, ?4, ?5, 'delete', 'task', ?1, json_object('deleted_ids', json(ids)), ?6, ?7 \
                 FROM (SELECT json_group_array(id) AS ids, COUNT(*) AS n FROM (",
                subtree!(),
                ")) WHERE n > 0 AND ",
                idle!(),
                " ON CONFLICT DO NOTHING"
            ))
            .bind(task_id)
            .bind(&actor.workspace_id)
            .bind(&audit_id)
            .bind(&actor.user_id)
            .bind(actor.api_key_id.clone())
            .bind(actor.request_id.clone())
            .bind(now()),
        );
        let recorded =
            batch.push(Stmt::new("SELECT details FROM audit_logs WHERE id = ?").bind(&audit_id));
        batch.push(
            Stmt::new(concat!(
                "DELETE FROM tasks WHERE id IN (",
                subtree!(),
                ") AND ",
                idle!()
            ))
            .bind(task_id)
            .bind(&actor.workspace_id),
        );
        let results = self.write(batch).await?;
        #[derive(serde::Deserialize)]
        struct Busy {
            id: String,
            status: String,
            task_id: TaskId,
        }
        if let Some(busy) = results.first::<Busy>(busy)? {
            let on = if &busy.task_id == task_id {
                "it".to_owned()
            } else {
                format!("its subtask {}", busy.task_id)
            };
            return Err(StoreError::Conflict(format!(
                "task {task_id} was not deleted: agent session {} is {} on {on}; stop it first",
                busy.id, busy.status
            )));
        }
        #[derive(serde::Deserialize)]
        struct Details {
            details: String,
        }
        #[derive(serde::Deserialize)]
        struct DeletedIds {
            deleted_ids: Vec<TaskId>,
        }
        let Some(row) = results.first::<Details>(recorded)? else {
            return Err(task_not_found(task_id));
        };
        let ids: DeletedIds = serde_json::from_str(&row.details)
            .map_err(|e| StoreError::decode_by("audit details of a delete", e))?;
        Ok(Deleted {
            deleted_ids: ids.deleted_ids,
        })
    }

    /// Assigns the task to `user_id` (a workspace member), or unassigns it.
    pub async fn assign_task(
        &self,
        actor: &Actor,
        task_id: &TaskId,
        user_id: Option<&str>,
    ) -> Result<Task> {
        let user_id = user_id.map(str::trim);
        let at = now();
        let (assigned_at, assigned_by) = match user_id {
            Some(_) => (Some(at.clone()), Some(actor.user_id.clone())),
            None => (None, None),
        };
        let update = Stmt::new(
            "UPDATE tasks SET assignee = (SELECT m.user_id FROM workspace_members m JOIN users u ON u.id = m.user_id \
                   WHERE m.workspace_id = ?6 AND (u.id = ?1 OR u.email = lower(?1))), \
                 assigned_at = ?2, assigned_by = ?3, updated_at = ?4, updated_by = ?7 \
             WHERE id = ?5 AND workspace_id = ?6 \
               AND (?1 IS NULL OR EXISTS (SELECT 1 FROM workspace_members m JOIN users u ON u.id = m.user_id \
                   WHERE m.workspace_id = ?6 AND (u.id = ?1 OR u.email = lower(?1))))",
        )
        .bind(user_id)
        .bind(assigned_at)
        .bind(assigned_by)
        .bind(&at)
        .bind(task_id)
        .bind(&actor.workspace_id)
        .bind(&actor.user_id);
        let action = if user_id.is_some() {
            "assign"
        } else {
            "unassign"
        };
        let mut batch = Batch::new();
        let updated = batch.push_audited(
            update,
            Audit::by_actor(
                actor,
                action,
                "task",
                task_id,
                json!({ "assignee": user_id }),
            ),
        );
        let select = batch.push(select_task(actor, task_id));
        let results = self.write(batch).await?;
        let task = results
            .first(select)?
            .ok_or_else(|| task_not_found(task_id))?;
        if results.changes(updated) == 0 {
            return Err(not_a_member(user_id.unwrap_or_default()));
        }
        Ok(task)
    }

    /// A project's board: tasks grouped by status, at most
    /// [`BOARD_COLUMN_LIMIT`] per column (the project's counts tell the rest).
    pub async fn board(&self, actor: &Actor, project_id: &ProjectId) -> Result<Board> {
        let mut batch = Batch::new();
        let project = batch.push(super::projects::select_project(actor, project_id));
        let tasks = batch.push(
            Stmt::new(concat!(
                "SELECT ",
                task_columns!(),
                " FROM (SELECT ",
                task_columns!(),
                ", ROW_NUMBER() OVER (PARTITION BY status ORDER BY position, id) AS rn \
                 FROM tasks WHERE project_id = ? AND workspace_id = ?) WHERE rn <= ? ORDER BY position, id"
            ))
            .bind(project_id)
            .bind(&actor.workspace_id)
            .bind(i64::from(BOARD_COLUMN_LIMIT)),
        );
        let comments = batch.push(
            Stmt::new(
                "SELECT task_id, COUNT(*) AS n FROM task_comments WHERE workspace_id = ?2 AND deleted_at IS NULL \
                 AND task_id IN (SELECT id FROM tasks WHERE project_id = ?1) GROUP BY task_id",
            )
            .bind(project_id)
            .bind(&actor.workspace_id),
        );
        let latest = batch.push(
            Stmt::new(
                "SELECT c.task_id, t.title, u.email AS author, c.body, c.created_at FROM task_comments c \
                 JOIN tasks t ON t.id = c.task_id LEFT JOIN users u ON u.id = c.author_id \
                 WHERE t.project_id = ?1 AND c.workspace_id = ?2 AND c.deleted_at IS NULL \
                 ORDER BY c.created_at DESC, c.id DESC LIMIT ?3",
            )
            .bind(project_id)
            .bind(&actor.workspace_id)
            .bind(BOARD_LATEST_COMMENTS),
        );
        let pull_requests = batch.push(super::github::select_project_pull_requests(
            actor, project_id,
        ));
        let mut results = self.read(batch).await?;
        #[derive(serde::Deserialize)]
        struct Count {
            task_id: TaskId,
            n: i64,
        }
        let comment_counts = results
            .all::<Count>(comments)?
            .into_iter()
            .map(|c| (c.task_id, c.n))
            .collect();
        let latest_comments = results.all(latest)?;
        let project = super::projects::decode_project(results.get(project))?
            .ok_or_else(|| project_not_found(project_id))?;
        let tasks: Vec<Task> = results.take_rows(tasks)?;
        let columns = TaskStatus::ALL
            .iter()
            .map(|status| BoardColumn {
                status: *status,
                tasks: tasks
                    .iter()
                    .filter(|t| t.status == *status)
                    .cloned()
                    .collect(),
            })
            .collect();
        Ok(Board {
            project,
            columns,
            comment_counts,
            latest_comments,
            pull_requests: super::github::pull_requests_by_task(results.all(pull_requests)?),
        })
    }
}

fn not_a_member(user_id: &str) -> StoreError {
    StoreError::not_found(Entity::Member, user_id)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::{Value, json};

    use super::super::exec::{FromRow, Row, StmtResult};
    use super::*;

    /// Two task rows as SQLite hands them (`task_columns!` order), one with
    /// every optional column set and one with them NULL.
    fn sqlite_rows() -> StmtResult {
        let columns: Arc<[String]> = task_columns!()
            .split(',')
            .map(|c| c.trim().to_owned())
            .collect();
        let full = json!([
            "t1",
            "p1",
            "t0",
            "Title \"quoted\"",
            "line\nbreak",
            "inreview",
            7,
            "u1",
            "2026-12-01T00:00:00.000Z",
            "u2",
            "u3",
            "2026-11-30T00:00:00.000Z",
            "2026-12-02T00:00:00.000Z"
        ]);
        let bare = json!([
            "t2",
            "p1",
            null,
            "Bare",
            "",
            "todo",
            8,
            null,
            null,
            null,
            null,
            "2026-11-30T00:00:00.000Z",
            "2026-11-30T00:00:00.000Z"
        ]);
        let rows = [full, bare]
            .into_iter()
            .map(|values| match values {
                Value::Array(values) => Row::new(Arc::clone(&columns), values),
                _ => unreachable!(),
            })
            .collect();
        StmtResult { rows, changes: 0 }
    }

    /// The same rows as D1 answers them: objects, whose columns serde_json
    /// keeps in name order.
    fn d1_rows() -> StmtResult {
        let maps = sqlite_rows()
            .rows
            .iter()
            .map(|row| {
                row.iter()
                    .map(|(name, value)| (name.to_owned(), value.clone()))
                    .collect()
            })
            .collect();
        StmtResult {
            rows: Row::from_maps(maps),
            changes: 0,
        }
    }

    fn as_json(tasks: &[Task]) -> Value {
        serde_json::to_value(tasks).expect("tasks serialize")
    }

    #[test]
    fn task_columns_are_the_columns_the_statements_select() {
        let selected: Vec<&str> = task_columns!().split(',').map(str::trim).collect();
        assert_eq!(selected, Task::COLUMNS);
    }

    #[test]
    fn tasks_decode_by_position_as_serde_decodes_them_in_either_column_order() {
        let by_serde = as_json(&sqlite_rows().into_all::<Task>().expect("serde decode"));
        assert_eq!(by_serde[0]["parent_task_id"], "t0");
        assert_eq!(by_serde[1]["assignee"], Value::Null);
        let sqlite = as_json(&sqlite_rows().into_rows::<Task>().expect("sqlite order"));
        assert_eq!(sqlite, by_serde);
        let d1 = d1_rows();
        assert_ne!(d1.rows[0].iter().next().map(|(name, _)| name), Some("id"));
        assert_eq!(
            as_json(&d1.into_rows::<Task>().expect("d1 order")),
            by_serde
        );
    }

    #[test]
    fn a_cell_of_the_wrong_type_or_a_missing_column_is_a_decode_error() {
        for (column, value) in [
            ("status", json!("archived")),
            ("position", json!("7")),
            ("title", Value::Null),
            ("assignee", json!(3)),
        ] {
            let mut result = sqlite_rows();
            let row = &result.rows[0];
            let values: Vec<Value> = row
                .iter()
                .map(|(name, v)| {
                    if name == column {
                        value.clone()
                    } else {
                        v.clone()
                    }
                })
                .collect();
            let columns: Arc<[String]> = row.iter().map(|(name, _)| name.to_owned()).collect();
            result.rows[0] = Row::new(columns, values);
            let error = result.into_rows::<Task>().expect_err(column);
            assert!(
                matches!(error, StoreError::Decode { .. }),
                "{column}: {error}"
            );
        }
        let mut result = sqlite_rows();
        let columns: Arc<[String]> = ["id", "title"].map(str::to_owned).into();
        result.rows = vec![Row::new(columns, vec![json!("t1"), json!("T")])];
        let error = result.into_rows::<Task>().expect_err("no project_id");
        assert!(error.to_string().contains("project_id"), "{error}");
    }
}
