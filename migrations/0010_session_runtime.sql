-- What running agent sessions needs beyond 0005: per-project setup and
-- cleanup scripts, follow-up turns, runner ownership with heartbeats, stop
-- requests across processes, and interrupted processes. Existing sessions and
-- processes are kept.

-- Optional shell scripts a project runs in a session's worktree before and
-- after the coding agent (e.g. `npm ci`, `cargo fmt`).
ALTER TABLE projects ADD COLUMN setup_script TEXT;
ALTER TABLE projects ADD COLUMN cleanup_script TEXT;

-- A session is queued until a runner claims it (one atomic
-- `UPDATE … WHERE status = 'queued' … RETURNING`), running while its runner
-- supervises it, then completed / failed / stopped, or interrupted when its
-- runner died. A follow-up puts it back in the queue with `pending_prompt`.
-- The prompt of the turn waiting for a runner (first turn or follow-up).
ALTER TABLE workspace_sessions ADD COLUMN pending_prompt TEXT;
-- Agent turns claimed so far (1 after the first run, 2 after a follow-up…).
ALTER TABLE workspace_sessions ADD COLUMN turns INTEGER NOT NULL DEFAULT 0;
-- Which runner owns a running session, and proof that it is alive: a runner
-- refreshes heartbeat_at while it works; host + pid let a restart on the same
-- machine see at once that the owner is gone.
ALTER TABLE workspace_sessions ADD COLUMN runner_host TEXT;
ALTER TABLE workspace_sessions ADD COLUMN runner_pid INTEGER;
ALTER TABLE workspace_sessions ADD COLUMN heartbeat_at TEXT;
ALTER TABLE workspace_sessions ADD COLUMN stop_requested_at TEXT;
CREATE INDEX idx_workspace_sessions_workspace ON workspace_sessions (workspace_id, created_at);

-- execution_processes gains a turn, an error text and the `interrupted`
-- status; SQLite cannot change a CHECK constraint in place, so the table is
-- rebuilt with its rows (nothing references it).
CREATE TABLE execution_processes_next (
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
INSERT INTO execution_processes_next
    (id, session_id, kind, status, command, pid, exit_code, log_key, started_at, finished_at)
SELECT id, session_id, kind, status, command, pid, exit_code, log_key, started_at, finished_at
FROM execution_processes;
DROP TABLE execution_processes;
ALTER TABLE execution_processes_next RENAME TO execution_processes;
CREATE INDEX idx_execution_processes_session ON execution_processes (session_id, started_at);
