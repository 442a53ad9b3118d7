-- Shipping a session's work: `merge_session` lands the session's branch on
-- its base branch and records the commit that did it, how (merge, squash or
-- rebase) and when. A session is merged at most once: a set merge_commit
-- refuses a second merge.
ALTER TABLE workspace_sessions ADD COLUMN merge_commit TEXT;
ALTER TABLE workspace_sessions ADD COLUMN merge_strategy TEXT;
ALTER TABLE workspace_sessions ADD COLUMN merged_at TEXT;
