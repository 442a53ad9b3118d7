-- Teams: every change names the member who made it. Tasks and projects gain
-- the last member who changed them; keys, the member who created them (a
-- key's user_id is the member it acts as, who may be someone else).
ALTER TABLE tasks ADD COLUMN updated_by TEXT REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE projects ADD COLUMN updated_by TEXT REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE mcp_api_keys ADD COLUMN created_by TEXT REFERENCES users (id) ON DELETE SET NULL;
-- list_tasks filters a project's tasks by creator.
CREATE INDEX idx_tasks_project_created_by ON tasks (project_id, created_by);
-- Removing a member revokes that member's keys.
CREATE INDEX idx_mcp_api_keys_user ON mcp_api_keys (workspace_id, user_id);
-- When a member's role last changed: open streams of their keys end then,
-- like a revoked key's, so the next request runs with the new role.
ALTER TABLE workspace_members ADD COLUMN role_changed_at TEXT;
CREATE INDEX idx_workspace_members_role_changed ON workspace_members (role_changed_at);
