-- Workspace templates (reusable project/task layouts), subscriptions and
-- usage records (e.g. tokens spent on prompt enhancement).
CREATE TABLE workspace_templates (
    id           TEXT PRIMARY KEY NOT NULL,
    workspace_id TEXT REFERENCES workspace_teams (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    content      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(content)),
    created_by   TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX idx_workspace_templates_workspace ON workspace_templates (workspace_id, name);

CREATE TABLE subscriptions (
    id                     TEXT PRIMARY KEY NOT NULL,
    workspace_id           TEXT NOT NULL UNIQUE REFERENCES workspace_teams (id) ON DELETE CASCADE,
    plan                   TEXT NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'pro', 'team', 'enterprise')),
    status                 TEXT NOT NULL DEFAULT 'active'
                           CHECK (status IN ('active', 'trialing', 'past_due', 'cancelled')),
    external_customer_id   TEXT,
    external_subscription_id TEXT,
    current_period_end     TEXT,
    created_at             TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at             TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE usage_records (
    id            TEXT PRIMARY KEY NOT NULL,
    workspace_id  TEXT NOT NULL REFERENCES workspace_teams (id) ON DELETE CASCADE,
    user_id       TEXT REFERENCES users (id) ON DELETE SET NULL,
    kind          TEXT NOT NULL,
    provider      TEXT,
    model         TEXT,
    input_tokens  INTEGER,
    output_tokens INTEGER,
    cached        INTEGER NOT NULL DEFAULT 0 CHECK (cached IN (0, 1)),
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX idx_usage_records_workspace_time ON usage_records (workspace_id, created_at);
