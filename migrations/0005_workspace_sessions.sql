-- Agent sessions: one run of a coding agent on a task, and the processes
-- (setup, coding agent, cleanup) it is made of.
CREATE TABLE workspace_sessions (
    id               TEXT PRIMARY KEY NOT NULL,
    workspace_id     TEXT NOT NULL REFERENCES workspace_teams (id) ON DELETE CASCADE,
    task_id          TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    executor         TEXT NOT NULL,
    prompt           TEXT NOT NULL DEFAULT '',
    status           TEXT NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'completed', 'failed',
                                       'stopped', 'interrupted')),
    status_reason    TEXT,
    base_branch      TEXT,
    branch           TEXT,
    worktree_path    TEXT,
    agent_session_id TEXT,
    runner_id        TEXT,
    claimed_at       TEXT,
    started_at       TEXT,
    finished_at      TEXT,
    created_by       TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
-- Runners claim the oldest queued session; tools list a task's sessions.
CREATE INDEX idx_workspace_sessions_status ON workspace_sessions (status, created_at);
CREATE INDEX idx_workspace_sessions_task ON workspace_sessions (task_id, created_at);

CREATE TABLE execution_processes (
    id          TEXT PRIMARY KEY NOT NULL,
    session_id  TEXT NOT NULL REFERENCES workspace_sessions (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('setup', 'coding_agent', 'cleanup')),
    status      TEXT NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'completed', 'failed', 'killed')),
    command     TEXT NOT NULL DEFAULT '',
    pid         INTEGER,
    exit_code   INTEGER,
    log_key     TEXT,
    started_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at TEXT
);
CREATE INDEX idx_execution_processes_session ON execution_processes (session_id, started_at);
