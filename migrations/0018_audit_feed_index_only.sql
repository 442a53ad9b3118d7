-- Every mutation writes an audit row, and each index on audit_logs is one
-- more b-tree page written (and synced) per write. The feed's index from
-- 0017, (workspace_id, created_at DESC, id DESC), serves every read the
-- older (workspace_id, created_at) index did: an equality on the workspace
-- and a range or order on the time, in either direction.
DROP INDEX IF EXISTS idx_audit_logs_workspace_time;
