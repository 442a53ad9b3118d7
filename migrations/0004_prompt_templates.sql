-- Prompt templates with named placeholders ({{name}}), published as MCP
-- prompts and used by prompt enhancement. workspace_id NULL = built-in/global.
CREATE TABLE prompt_templates (
    id           TEXT PRIMARY KEY NOT NULL,
    workspace_id TEXT REFERENCES workspace_teams (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    template     TEXT NOT NULL,
    placeholders TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(placeholders)),
    created_by   TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE UNIQUE INDEX idx_prompt_templates_workspace_name
    ON prompt_templates (workspace_id, name) WHERE workspace_id IS NOT NULL;
CREATE UNIQUE INDEX idx_prompt_templates_global_name
    ON prompt_templates (name) WHERE workspace_id IS NULL;

-- Results of prompt enhancement, keyed by a hash of provider, model, template
-- and input (the hosted app's KV `cache:{hash}`), with an expiry.
CREATE TABLE prompt_cache (
    key        TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    expires_at TEXT NOT NULL
);
CREATE INDEX idx_prompt_cache_expires ON prompt_cache (expires_at);
