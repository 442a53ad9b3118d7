//! Tasks: the board's cards, their subtasks, assignment and paging.

use serde_json::json;

use super::{
    Actor, Board, BoardColumn, Deleted, NewTask, Param, Result, Stmt, Store, StoreError, Task,
    TaskChanges, TaskDetail, TaskFilter, TaskPage, TaskStatus, audit, changed_fields, changed_rows,
    decode_all, decode_first, first_int, new_id, now,
};

pub(super) const TASK_COLUMNS: &str = "id, project_id, parent_task_id, title, description, status, position, assignee, \
     assigned_at, assigned_by, created_by, created_at, updated_at";

/// Most tasks shown per column of a board; the rest are counted.
pub const BOARD_COLUMN_LIMIT: u32 = 100;

fn select_task(actor: &Actor, task_id: &str) -> Stmt {
    Stmt::new(format!(
        "SELECT {TASK_COLUMNS} FROM tasks WHERE id = ? AND workspace_id = ?"
    ))
    .bind(task_id)
    .bind(&actor.workspace_id)
}

fn task_not_found(task_id: &str) -> StoreError {
    StoreError::NotFound {
        kind: "task",
        id: task_id.to_owned(),
    }
}

fn project_not_found(project_id: &str) -> StoreError {
    StoreError::NotFound {
        kind: "project",
        id: project_id.to_owned(),
    }
}

/// Most subtasks `get_task` (and the task resource) shows.
pub const SUBTASK_LIMIT: i64 = 100;

/// Encodes the keyset position after `task` as an opaque cursor.
pub fn encode_cursor(task: &Task) -> String {
    hex::encode(format!("{}:{}", task.position, task.id))
}

/// Decodes a cursor made by [`encode_cursor`]; `None` when it is not one.
pub fn decode_cursor(cursor: &str) -> Option<(i64, String)> {
    let raw = String::from_utf8(hex::decode(cursor).ok()?).ok()?;
    let (position, id) = raw.split_once(':')?;
    uuid::Uuid::parse_str(id).ok()?;
    Some((position.parse().ok()?, id.to_owned()))
}

/// Escapes `%`, `_` and `\` so a search text matches literally in LIKE.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The WHERE clause shared by the count and the page of `list_tasks`.
fn filter_clause(actor: &Actor, project_id: &str, filter: &TaskFilter) -> (String, Vec<Param>) {
    // A task's workspace is its project's, so the scope is checked once on the
    // project (a constant subquery) rather than on every row: counting and
    // paging then run on the (project_id, …) indexes alone.
    let mut clause =
        String::from("project_id = ? AND (SELECT workspace_id FROM projects WHERE id = ?) = ?");
    let mut params = vec![
        Param::from(project_id),
        Param::from(project_id),
        Param::from(&actor.workspace_id),
    ];
    // Each status once: a long list of repeats must not grow the statement
    // (D1 binds at most 100 parameters per statement).
    let statuses: Vec<&TaskStatus> = TaskStatus::ALL
        .iter()
        .filter(|s| filter.statuses.contains(s))
        .collect();
    if !statuses.is_empty() {
        let marks = vec!["?"; statuses.len()].join(", ");
        clause.push_str(&format!(" AND status IN ({marks})"));
        params.extend(statuses.iter().map(|s| Param::from(s.as_str())));
    }
    if let Some(assignee) = &filter.assignee {
        clause.push_str(" AND assignee = ?");
        params.push(assignee.into());
    }
    if let Some(parent) = &filter.parent_task_id {
        clause.push_str(" AND parent_task_id = ?");
        params.push(parent.into());
    }
    if let Some(query) = &filter.query {
        clause.push_str(" AND (title LIKE ? ESCAPE '\\' OR description LIKE ? ESCAPE '\\')");
        let pattern = like_pattern(query);
        params.push(pattern.clone().into());
        params.push(pattern.into());
    }
    (clause, params)
}

impl Store {
    pub async fn list_tasks(
        &self,
        actor: &Actor,
        project_id: &str,
        filter: &TaskFilter,
    ) -> Result<TaskPage> {
        let (clause, params) = filter_clause(actor, project_id, filter);
        let mut count = Stmt::new(format!("SELECT COUNT(*) AS n FROM tasks WHERE {clause}"));
        count.params = params.clone();
        let mut page_sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE {clause}");
        let mut page_params = params;
        if let Some((position, id)) = &filter.after {
            page_sql.push_str(" AND (position, id) > (?, ?)");
            page_params.push(Param::Int(*position));
            page_params.push(id.into());
        }
        page_sql.push_str(" ORDER BY position, id LIMIT ?");
        page_params.push(Param::Int(i64::from(filter.limit) + 1));
        let mut page = Stmt::new(page_sql);
        page.params = page_params;
        let exists = Stmt::new(
            "SELECT EXISTS (SELECT 1 FROM projects WHERE id = ? AND workspace_id = ?) AS n",
        )
        .bind(project_id)
        .bind(&actor.workspace_id);

        let results = self.read(vec![exists, count, page]).await?;
        if first_int(results.first(), "n") == 0 {
            return Err(project_not_found(project_id));
        }
        let total = first_int(results.get(1), "n");
        let mut tasks: Vec<Task> = decode_all(results.get(2))?;
        let next_cursor = if tasks.len() > filter.limit as usize {
            tasks.truncate(filter.limit as usize);
            tasks.last().map(encode_cursor)
        } else {
            None
        };
        Ok(TaskPage {
            tasks,
            total,
            next_cursor,
        })
    }

    /// A task with its first [`SUBTASK_LIMIT`] direct subtasks and how many
    /// it has, in one round trip.
    pub async fn get_task(&self, actor: &Actor, task_id: &str) -> Result<TaskDetail> {
        let results = self
            .read(vec![
                select_task(actor, task_id),
                Stmt::new(format!(
                    "SELECT {TASK_COLUMNS} FROM tasks WHERE parent_task_id = ? AND workspace_id = ? \
                     ORDER BY position, id LIMIT ?"
                ))
                .bind(task_id)
                .bind(&actor.workspace_id)
                .bind(SUBTASK_LIMIT),
                Stmt::new("SELECT COUNT(*) AS n FROM tasks WHERE parent_task_id = ? AND workspace_id = ?")
                    .bind(task_id)
                    .bind(&actor.workspace_id),
            ])
            .await?;
        let task: Task = decode_first(results.first())?.ok_or_else(|| task_not_found(task_id))?;
        Ok(TaskDetail {
            task,
            subtasks: decode_all(results.get(1))?,
            subtask_count: first_int(results.get(2), "n"),
        })
    }

    pub async fn create_task(&self, actor: &Actor, new: NewTask) -> Result<Task> {
        let id = new_id();
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
                                assignee, assigned_at, assigned_by, created_by, created_at, updated_at) \
             SELECT ?, p.workspace_id, p.id, ?, ?, ?, ?, \
                    (SELECT MIN(COALESCE(MAX(position), 0) + 1, 9007199254740991) FROM tasks WHERE project_id = p.id), \
                    ?, ?, ?, ?, ?, ? \
             FROM projects p WHERE p.id = ? AND p.workspace_id = ? \
               AND (? IS NULL OR EXISTS (SELECT 1 FROM tasks pt WHERE pt.id = ? AND pt.project_id = p.id)) \
               AND (? IS NULL OR EXISTS (SELECT 1 FROM workspace_members m WHERE m.workspace_id = p.workspace_id AND m.user_id = ?)) \
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
            .bind(&at)
            .bind(&new.project_id)
            .bind(&actor.workspace_id)
            .bind(new.parent_task_id.clone())
            .bind(new.parent_task_id.clone())
            .bind(new.assignee.clone())
            .bind(new.assignee.clone());
        let audit_row = audit(
            actor,
            "create",
            "task",
            &id,
            json!({ "project_id": new.project_id, "title": new.title, "status": new.status }),
            Some((
                "EXISTS (SELECT 1 FROM tasks WHERE id = ?)",
                vec![Param::from(&id)],
            )),
        );
        let diagnose = Stmt::new(
            "SELECT EXISTS (SELECT 1 FROM projects WHERE id = ? AND workspace_id = ?) AS project_ok, \
                    (? IS NULL OR EXISTS (SELECT 1 FROM tasks WHERE id = ? AND project_id = ? AND workspace_id = ?)) AS parent_ok, \
                    (? IS NULL OR EXISTS (SELECT 1 FROM workspace_members WHERE workspace_id = ? AND user_id = ?)) AS assignee_ok",
        )
        .bind(&new.project_id)
        .bind(&actor.workspace_id)
        .bind(new.parent_task_id.clone())
        .bind(new.parent_task_id.clone())
        .bind(&new.project_id)
        .bind(&actor.workspace_id)
        .bind(new.assignee.clone())
        .bind(&actor.workspace_id)
        .bind(new.assignee.clone());

        let results = self
            .write(vec![insert, audit_row, select_task(actor, &id), diagnose])
            .await?;
        if let Some(task) = decode_first(results.get(2))? {
            return Ok(task);
        }
        let diagnosis = results.get(3);
        if first_int(diagnosis, "project_ok") == 0 {
            return Err(project_not_found(&new.project_id));
        }
        if first_int(diagnosis, "parent_ok") == 0 {
            return Err(StoreError::Invalid(format!(
                "parent task {} not found in project {}; a subtask's parent must be a task of the same project",
                new.parent_task_id.as_deref().unwrap_or_default(),
                new.project_id
            )));
        }
        Err(not_a_member(new.assignee.as_deref().unwrap_or_default()))
    }

    pub async fn update_task(
        &self,
        actor: &Actor,
        task_id: &str,
        changes: TaskChanges,
    ) -> Result<Task> {
        let fields = changes.fields();
        let at = now();
        let mut sets = vec!["updated_at = ?"];
        let mut params = vec![Param::from(&at)];
        if let Some(title) = &changes.title {
            sets.push("title = ?");
            params.push(title.into());
        }
        if let Some(description) = &changes.description {
            sets.push("description = ?");
            params.push(description.into());
        }
        if let Some(status) = changes.status {
            sets.push("status = ?");
            params.push(status.as_str().into());
        }
        if let Some(parent) = &changes.parent_task_id {
            sets.push("parent_task_id = ?");
            params.push(parent.clone().into());
        }
        if let Some(position) = changes.position {
            sets.push("position = ?");
            params.push(Param::Int(position));
        }
        let mut sql = format!(
            "UPDATE tasks SET {} WHERE id = ? AND workspace_id = ?",
            sets.join(", ")
        );
        params.push(task_id.into());
        params.push((&actor.workspace_id).into());
        let new_parent = changes.parent_task_id.clone().flatten();
        if let Some(parent) = &new_parent {
            // The new parent must be in the same project and must not be the
            // task itself or one of its descendants (that would make a cycle).
            sql.push_str(
                " AND EXISTS (SELECT 1 FROM tasks pt WHERE pt.id = ? AND pt.project_id = tasks.project_id) \
                  AND NOT EXISTS (WITH RECURSIVE anc(id) AS (SELECT ? UNION SELECT t.parent_task_id FROM tasks t \
                                  JOIN anc ON t.id = anc.id WHERE t.parent_task_id IS NOT NULL) \
                                  SELECT 1 FROM anc WHERE anc.id = tasks.id)",
            );
            params.push(parent.into());
            params.push(parent.into());
        }
        let mut update = Stmt::new(sql);
        update.params = params;
        let mut details = changed_fields(&fields);
        if let Some(status) = changes.status {
            details["status"] = json!(status);
        }
        let audit_row = audit(
            actor,
            "update",
            "task",
            task_id,
            details,
            Some(("changes() > 0", Vec::new())),
        );
        let diagnose = Stmt::new(
            "SELECT EXISTS (SELECT 1 FROM tasks t JOIN tasks pt ON pt.project_id = t.project_id \
                            WHERE t.id = ? AND t.workspace_id = ? AND pt.id = ?) AS parent_ok",
        )
        .bind(task_id)
        .bind(&actor.workspace_id)
        .bind(new_parent.clone());

        let results = self
            .write(vec![
                update,
                audit_row,
                select_task(actor, task_id),
                diagnose,
            ])
            .await?;
        let task: Task = decode_first(results.get(2))?.ok_or_else(|| task_not_found(task_id))?;
        if changed_rows(results.first()) > 0 {
            return Ok(task);
        }
        let parent = new_parent.unwrap_or_default();
        if first_int(results.get(3), "parent_ok") == 0 {
            return Err(StoreError::Invalid(format!(
                "parent task {parent} not found in project {}; a subtask's parent must be a task of the same project",
                task.project_id
            )));
        }
        Err(StoreError::Conflict(format!(
            "task {parent} is task {task_id} itself or one of its subtasks; making it the parent would create a cycle"
        )))
    }

    /// Deletes the task and its subtree. The audit row records the ids it
    /// deleted and the result is read back from that row, so a batch retried
    /// after it committed (the reply was lost) reports the same deletion
    /// instead of "not found".
    pub async fn delete_task(&self, actor: &Actor, task_id: &str) -> Result<Deleted> {
        const SUBTREE: &str = "WITH RECURSIVE sub(id) AS (SELECT id FROM tasks WHERE id = ? AND workspace_id = ? \
             UNION ALL SELECT t.id FROM tasks t JOIN sub ON t.parent_task_id = sub.id) SELECT id FROM sub";
        // An agent session that is queued or running on the task or a
        // subtask keeps it: deleting would orphan a live agent.
        let busy = format!(
            "SELECT s.id, s.status, s.task_id FROM workspace_sessions s \
             WHERE s.task_id IN ({SUBTREE}) AND s.status IN ('queued', 'running') LIMIT 1"
        );
        let idle = format!(
            "NOT EXISTS (SELECT 1 FROM workspace_sessions s WHERE s.task_id IN ({SUBTREE}) \
             AND s.status IN ('queued', 'running'))"
        );
        let audit_id = new_id();
        let audit_row = Stmt::new(format!(
            "INSERT INTO audit_logs (id, workspace_id, user_id, api_key_id, action, entity_type, entity_id, details, \
                                     request_id, created_at) \
             SELECT ?, ?, ?, ?, 'delete', 'task', ?, json_object('deleted_ids', json(ids)), ?, ? \
             FROM (SELECT json_group_array(id) AS ids, COUNT(*) AS n FROM ({SUBTREE})) WHERE n > 0 AND {idle} \
             ON CONFLICT DO NOTHING"
        ))
        .bind(&audit_id)
        .bind(&actor.workspace_id)
        .bind(&actor.user_id)
        .bind(actor.api_key_id.clone())
        .bind(task_id)
        .bind(actor.request_id.clone())
        .bind(now())
        .bind(task_id)
        .bind(&actor.workspace_id)
        .bind(task_id)
        .bind(&actor.workspace_id);
        let results = self
            .write(vec![
                Stmt::new(busy).bind(task_id).bind(&actor.workspace_id),
                audit_row,
                Stmt::new("SELECT details FROM audit_logs WHERE id = ?").bind(&audit_id),
                Stmt::new(format!(
                    "DELETE FROM tasks WHERE id IN ({SUBTREE}) AND {idle}"
                ))
                .bind(task_id)
                .bind(&actor.workspace_id)
                .bind(task_id)
                .bind(&actor.workspace_id),
            ])
            .await?;
        #[derive(serde::Deserialize)]
        struct Busy {
            id: String,
            status: String,
            task_id: String,
        }
        if let Some(busy) = decode_first::<Busy>(results.first())? {
            let on = if busy.task_id == task_id {
                "it".to_owned()
            } else {
                format!("its subtask {}", busy.task_id)
            };
            return Err(StoreError::Conflict(format!(
                "task {task_id} was not deleted: agent session {} is {} on {on}; stop it with stop_session \
                 (session_id {}) first",
                busy.id, busy.status, busy.id
            )));
        }
        #[derive(serde::Deserialize)]
        struct Details {
            details: String,
        }
        #[derive(serde::Deserialize)]
        struct DeletedIds {
            deleted_ids: Vec<String>,
        }
        let Some(row) = decode_first::<Details>(results.get(2))? else {
            return Err(task_not_found(task_id));
        };
        let ids: DeletedIds = serde_json::from_str(&row.details)
            .map_err(|e| StoreError::Decode(format!("audit details of a delete: {e}")))?;
        Ok(Deleted {
            deleted_ids: ids.deleted_ids,
        })
    }

    /// Assigns the task to `user_id` (a workspace member), or unassigns it.
    pub async fn assign_task(
        &self,
        actor: &Actor,
        task_id: &str,
        user_id: Option<&str>,
    ) -> Result<Task> {
        let at = now();
        let (assigned_at, assigned_by) = match user_id {
            Some(_) => (Some(at.clone()), Some(actor.user_id.clone())),
            None => (None, None),
        };
        let update = Stmt::new(
            "UPDATE tasks SET assignee = ?, assigned_at = ?, assigned_by = ?, updated_at = ? \
             WHERE id = ? AND workspace_id = ? \
               AND (? IS NULL OR EXISTS (SELECT 1 FROM workspace_members m WHERE m.workspace_id = tasks.workspace_id AND m.user_id = ?))",
        )
        .bind(user_id)
        .bind(assigned_at)
        .bind(assigned_by)
        .bind(&at)
        .bind(task_id)
        .bind(&actor.workspace_id)
        .bind(user_id)
        .bind(user_id);
        let action = if user_id.is_some() {
            "assign"
        } else {
            "unassign"
        };
        let audit_row = audit(
            actor,
            action,
            "task",
            task_id,
            json!({ "assignee": user_id }),
            Some(("changes() > 0", Vec::new())),
        );
        let results = self
            .write(vec![update, audit_row, select_task(actor, task_id)])
            .await?;
        let task = decode_first(results.get(2))?.ok_or_else(|| task_not_found(task_id))?;
        if changed_rows(results.first()) == 0 {
            return Err(not_a_member(user_id.unwrap_or_default()));
        }
        Ok(task)
    }

    /// A project's board: tasks grouped by status, at most
    /// [`BOARD_COLUMN_LIMIT`] per column (the project's counts tell the rest).
    pub async fn board(&self, actor: &Actor, project_id: &str) -> Result<Board> {
        let results = self
            .read(vec![
                super::projects::select_project(actor, project_id),
                Stmt::new(format!(
                    "SELECT {TASK_COLUMNS} FROM (SELECT {TASK_COLUMNS}, \
                       ROW_NUMBER() OVER (PARTITION BY status ORDER BY position, id) AS rn \
                       FROM tasks WHERE project_id = ? AND workspace_id = ?) WHERE rn <= ? ORDER BY position, id"
                ))
                .bind(project_id)
                .bind(&actor.workspace_id)
                .bind(i64::from(BOARD_COLUMN_LIMIT)),
            ])
            .await?;
        let project = super::projects::decode_project(results.first())?
            .ok_or_else(|| project_not_found(project_id))?;
        let tasks: Vec<Task> = decode_all(results.get(1))?;
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
        Ok(Board { project, columns })
    }
}

fn not_a_member(user_id: &str) -> StoreError {
    StoreError::Invalid(format!(
        "user {user_id} is not a member of this workspace; list_workspaces shows the members you can assign"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let id = new_id();
        let encoded = hex::encode(format!("42:{id}"));
        assert_eq!(decode_cursor(&encoded), Some((42, id)));
        assert_eq!(decode_cursor("zz"), None);
        assert_eq!(decode_cursor(&hex::encode("42:not-a-uuid")), None);
    }

    #[test]
    fn like_pattern_escapes_wildcards() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
