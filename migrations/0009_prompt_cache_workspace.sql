-- Prompt enhancement results are cached per workspace: one workspace's task
-- text never answers another's request, and a workspace's entries go with it.
-- The cache only holds what can be made again, so the table is rebuilt
-- empty rather than guessing an owner for old rows.
--
-- Results are keyed by a hash of workspace, provider, model, template and
-- input (the hosted app's KV `cache:{hash}`), with an expiry. `value` is JSON:
-- the text, token counts and a fingerprint of the resolved input (task
-- context, template text) it was made from.
DROP TABLE prompt_cache;
CREATE TABLE prompt_cache (
    key          TEXT PRIMARY KEY NOT NULL,
    workspace_id TEXT NOT NULL REFERENCES workspace_teams (id) ON DELETE CASCADE,
    value        TEXT NOT NULL CHECK (json_valid(value)),
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    expires_at   TEXT NOT NULL
);
CREATE INDEX idx_prompt_cache_expires ON prompt_cache (expires_at);
