-- Task assignment: who a task is assigned to, when, and by whom.
ALTER TABLE tasks ADD COLUMN assignee TEXT REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE tasks ADD COLUMN assigned_at TEXT;
ALTER TABLE tasks ADD COLUMN assigned_by TEXT REFERENCES users (id) ON DELETE SET NULL;
CREATE INDEX idx_tasks_project_assignee ON tasks (project_id, assignee);
