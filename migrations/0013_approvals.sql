-- Approvals: a person or an orchestrator in the loop. With `approvals = 'ask'`
-- an agent asks before it uses a tool (Claude Code's permission prompt tool),
-- and every request waits as a row here until someone answers it.

-- 'auto': agents run without asking (as before); 'ask': they ask.
ALTER TABLE projects ADD COLUMN approvals TEXT NOT NULL DEFAULT 'auto'
    CHECK (approvals IN ('auto', 'ask'));
-- The session's own setting, fixed when it starts (start_session's argument,
-- else its project's).
ALTER TABLE workspace_sessions ADD COLUMN approvals TEXT NOT NULL DEFAULT 'auto'
    CHECK (approvals IN ('auto', 'ask'));
-- SHA-256 (hex) of the secret the running turn's agent presents to the
-- approval server it launches; a new one each turn, never the secret itself.
ALTER TABLE workspace_sessions ADD COLUMN agent_token_hash TEXT;

CREATE TABLE session_approvals (
    id           TEXT PRIMARY KEY NOT NULL,
    session_id   TEXT NOT NULL REFERENCES workspace_sessions (id) ON DELETE CASCADE,
    workspace_id TEXT NOT NULL REFERENCES workspace_teams (id) ON DELETE CASCADE,
    -- What the agent wants to run, and its input (JSON, bounded in size).
    tool_name    TEXT NOT NULL,
    input        TEXT NOT NULL DEFAULT '{}',
    tool_use_id  TEXT,
    status       TEXT NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'allowed', 'denied', 'expired')),
    -- The user who answered, or 'rule' (an allow-rule of the session) or
    -- 'timeout'.
    responded_by TEXT,
    message      TEXT,
    requested_at TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    decided_at   TEXT
);
CREATE INDEX idx_session_approvals_workspace ON session_approvals (workspace_id, status, requested_at);
CREATE INDEX idx_session_approvals_session ON session_approvals (session_id, requested_at);

-- "Allow this tool for the rest of the session": later requests for the
-- tool are allowed at once (and still recorded).
CREATE TABLE session_allow_rules (
    session_id TEXT NOT NULL REFERENCES workspace_sessions (id) ON DELETE CASCADE,
    tool_name  TEXT NOT NULL,
    created_by TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (session_id, tool_name)
);
