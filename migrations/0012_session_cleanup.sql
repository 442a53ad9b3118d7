-- Cleaning up after agent sessions: `archive_session` (or the runner's
-- retention, `[sessions] keep_worktrees_days`) removes a finished session's
-- worktree and records when. The session, its branch (unless asked to delete
-- it) and its logs stay, so its diff stays readable from the branch.
ALTER TABLE workspace_sessions ADD COLUMN archived_at TEXT;
-- The retention sweep looks for finished sessions not archived yet, oldest
-- first; archived ones drop out of this index.
CREATE INDEX idx_workspace_sessions_unarchived ON workspace_sessions (finished_at)
    WHERE archived_at IS NULL;
