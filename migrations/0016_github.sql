-- GitHub, for real: the key a connection's token is sealed with, the pull
-- request a session opened, and the webhook deliveries already handled.

-- The id of the key (first 8 hex digits of its SHA-256) that sealed
-- token_ciphertext (AES-256-GCM, hex) with token_nonce (hex), so a key can be
-- rotated: `github rotate-key` re-seals every row under the new key.
ALTER TABLE github_connections ADD COLUMN token_key_id TEXT NOT NULL DEFAULT '';

-- The pull request a session's branch was opened as (one per session).
-- state: open, closed (unmerged) or merged, as GitHub last reported it.
CREATE TABLE session_pull_requests (
    session_id   TEXT PRIMARY KEY NOT NULL REFERENCES workspace_sessions (id) ON DELETE CASCADE,
    workspace_id TEXT NOT NULL REFERENCES workspace_teams (id) ON DELETE CASCADE,
    task_id      TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    owner        TEXT NOT NULL COLLATE NOCASE,
    repo         TEXT NOT NULL COLLATE NOCASE,
    number       INTEGER NOT NULL,
    url          TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed', 'merged')),
    head         TEXT NOT NULL,
    base         TEXT NOT NULL,
    -- GitHub's ETag of the last GET, sent back as If-None-Match by the sync.
    etag         TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX idx_session_pull_requests_number ON session_pull_requests (owner, repo, number);
CREATE INDEX idx_session_pull_requests_state ON session_pull_requests (workspace_id, state);

-- Webhook deliveries handled, by X-GitHub-Delivery: a redelivery changes
-- nothing twice.
CREATE TABLE github_webhook_deliveries (
    delivery_id TEXT PRIMARY KEY NOT NULL,
    event       TEXT NOT NULL,
    received_at TEXT NOT NULL
);
