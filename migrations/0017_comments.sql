-- Task comments: people and their agents talk about a task on the task.
-- A comment is soft-deleted (deleted_at), so the activity feed and the audit
-- rows that name it keep their meaning. An agent's comment is written in the
-- name of the member who started its session and says so (by_agent, with
-- the session).
CREATE TABLE task_comments (
    id           TEXT PRIMARY KEY NOT NULL,
    workspace_id TEXT NOT NULL REFERENCES workspace_teams (id) ON DELETE CASCADE,
    task_id      TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    author_id    TEXT REFERENCES users (id) ON DELETE SET NULL,
    body         TEXT NOT NULL CHECK (length(body) BETWEEN 1 AND 20000),
    by_agent     INTEGER NOT NULL DEFAULT 0 CHECK (by_agent IN (0, 1)),
    session_id   TEXT REFERENCES workspace_sessions (id) ON DELETE SET NULL,
    created_at   TEXT NOT NULL,
    edited_at    TEXT,
    deleted_at   TEXT
);
-- A task's comments in order, and how many are live.
CREATE INDEX idx_task_comments_task ON task_comments (task_id, created_at, id);
-- The activity feed pages a workspace's audit rows newest first.
CREATE INDEX idx_audit_logs_workspace_feed ON audit_logs (workspace_id, created_at DESC, id DESC);
