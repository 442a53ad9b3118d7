-- One row per finished agent turn of a session: what the agent concluded
-- (its final message, read from its own JSON output or, for plain-text
-- agents, its last lines), what it cost, and the commit that holds the
-- turn's changes on the session's branch. A table of its own rather than
-- columns on execution_processes: a turn may end before its agent starts
-- (no process), its commit is made after the cleanup script, and turns are
-- what get_session lists.
CREATE TABLE session_turns (
    session_id           TEXT NOT NULL REFERENCES workspace_sessions (id) ON DELETE CASCADE,
    -- 1-based, as execution_processes.turn.
    turn                 INTEGER NOT NULL,
    final_message        TEXT,
    -- 'agent_json': a field of the agent's JSON output; 'last_lines': the
    -- last non-empty lines it printed.
    final_message_source TEXT CHECK (final_message_source IN ('agent_json', 'last_lines')),
    -- The agent's conversation id during this turn.
    agent_session_id     TEXT,
    input_tokens         INTEGER,
    output_tokens        INTEGER,
    cost_usd             REAL,
    tool_calls           INTEGER,
    -- The commit of this turn's changes; NULL when it changed nothing.
    commit_sha           TEXT,
    started_at           TEXT NOT NULL,
    finished_at          TEXT NOT NULL,
    PRIMARY KEY (session_id, turn)
);
