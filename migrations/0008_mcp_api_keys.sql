-- MCP API keys. Only a SHA-256 hash of the key is stored, with a short
-- display prefix; the key itself is shown once, when it is created.
CREATE TABLE mcp_api_keys (
    id           TEXT PRIMARY KEY NOT NULL,
    workspace_id TEXT NOT NULL REFERENCES workspace_teams (id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    key_prefix   TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    scopes       TEXT NOT NULL,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    last_used_at TEXT,
    expires_at   TEXT,
    revoked_at   TEXT
);
-- A name is unique among a workspace's live keys.
CREATE UNIQUE INDEX idx_mcp_api_keys_workspace_name
    ON mcp_api_keys (workspace_id, name) WHERE revoked_at IS NULL;
CREATE INDEX idx_mcp_api_keys_workspace ON mcp_api_keys (workspace_id, created_at);
