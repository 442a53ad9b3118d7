-- GitHub connections and the repositories linked to projects. Access tokens
-- are stored encrypted (ciphertext + nonce), never in the clear.
CREATE TABLE github_connections (
    id                 TEXT PRIMARY KEY NOT NULL,
    workspace_id       TEXT NOT NULL REFERENCES workspace_teams (id) ON DELETE CASCADE,
    user_id            TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    github_user_id     INTEGER NOT NULL,
    github_login       TEXT NOT NULL,
    token_ciphertext   TEXT NOT NULL,
    token_nonce        TEXT NOT NULL,
    scopes             TEXT NOT NULL DEFAULT '',
    token_expires_at   TEXT,
    created_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (workspace_id, github_user_id)
);

CREATE TABLE connected_repositories (
    id             TEXT PRIMARY KEY NOT NULL,
    workspace_id   TEXT NOT NULL REFERENCES workspace_teams (id) ON DELETE CASCADE,
    connection_id  TEXT NOT NULL REFERENCES github_connections (id) ON DELETE CASCADE,
    project_id     TEXT REFERENCES projects (id) ON DELETE SET NULL,
    owner          TEXT NOT NULL,
    name           TEXT NOT NULL,
    default_branch TEXT NOT NULL DEFAULT 'main',
    created_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (workspace_id, owner, name)
);
CREATE INDEX idx_connected_repositories_project ON connected_repositories (project_id);
