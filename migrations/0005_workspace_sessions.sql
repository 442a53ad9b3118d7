-- Agent sessions: one run of a coding agent on a task, and the processes
-- (setup, coding agent, cleanup) it is made of.

-- Optional shell scripts a project runs in a session's worktree before and
-- after the coding agent (e.g. `npm ci`, `cargo fmt`).
ALTER TABLE projects ADD COLUMN setup_script TEXT;
ALTER TABLE projects ADD COLUMN cleanup_script TEXT;

-- A session is queued until a runner claims it (one atomic
-- `UPDATE … WHERE status = 'queued' … RETURNING`), running while its runner
-- supervises it, then completed / failed / stopped, or interrupted when its
-- runner died. A follow-up puts it back in the queue with `pending_prompt`.
CREATE TABLE workspace_sessions (
    id                TEXT PRIMARY KEY NOT NULL,
    workspace_id      TEXT NOT NULL REFERENCES workspace_teams (id) ON DELETE CASCADE,
    task_id           TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    executor          TEXT NOT NULL,
    prompt            TEXT NOT NULL DEFAULT '',
    -- The prompt of the turn waiting for a runner (first turn or follow-up).
    pending_prompt    TEXT,
    -- Agent turns claimed so far (1 after the first run, 2 after a follow-up…).
    turns             INTEGER NOT NULL DEFAULT 0,
    status            TEXT NOT NULL DEFAULT 'queued'
                      CHECK (status IN ('queued', 'running', 'completed', 'failed',
                                        'stopped', 'interrupted')),
    status_reason     TEXT,
    base_branch       TEXT,
    branch            TEXT,
    worktree_path     TEXT,
    -- The agent's own conversation id, used to resume it on a follow-up.
    agent_session_id  TEXT,
    -- Which runner owns a running session, and proof that it is alive: a
    -- runner refreshes heartbeat_at while it works; host + pid let a restart on
    -- the same machine see at once that the owner is gone.
    runner_id         TEXT,
    runner_host       TEXT,
    runner_pid        INTEGER,
    heartbeat_at      TEXT,
    stop_requested_at TEXT,
    claimed_at        TEXT,
    started_at        TEXT,
    finished_at       TEXT,
    created_by        TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
-- Runners claim the oldest queued session; tools list a task's sessions.
CREATE INDEX idx_workspace_sessions_status ON workspace_sessions (status, created_at);
CREATE INDEX idx_workspace_sessions_task ON workspace_sessions (task_id, created_at);
CREATE INDEX idx_workspace_sessions_workspace ON workspace_sessions (workspace_id, created_at);

CREATE TABLE execution_processes (
    id          TEXT PRIMARY KEY NOT NULL,
    session_id  TEXT NOT NULL REFERENCES workspace_sessions (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('setup', 'coding_agent', 'cleanup')),
    -- The agent turn this process belongs to (1-based).
    turn        INTEGER NOT NULL DEFAULT 1,
    status      TEXT NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'completed', 'failed', 'killed', 'interrupted')),
    command     TEXT NOT NULL DEFAULT '',
    pid         INTEGER,
    exit_code   INTEGER,
    -- Why it failed when there is no exit code (not found, timed out, …).
    error       TEXT,
    -- Prefix of the process's own logs (stdout.log, stderr.log, output.log).
    log_key     TEXT,
    started_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at TEXT
);
CREATE INDEX idx_execution_processes_session ON execution_processes (session_id, started_at);
