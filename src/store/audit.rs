//! The one builder of `audit_logs` rows. Every mutation writes its row in the
//! same batch, right after the mutation ([`Batch::push_audited`]), through
//! [`Audit`]: for a caller ([`Audit::by_actor`]), for a
//! runner acting on a session it owns ([`Audit::by_session_owner`], in the
//! session's workspace and its creator's name) or for an operator's work on
//! an API key ([`Audit::by_key`]). The row is written only when the statement
//! just before it changed something (`changes() > 0`), so a change that did
//! not happen leaves no record; the id is made here, so a retried batch cannot
//! write it twice.

use serde_json::Value as Json;

use super::{Actor, Batch, KeyId, ResultHandle, SessionId, Stmt, WorkspaceId, new_id, now};

impl Batch {
    /// Appends a mutation and, right after it, its audit row (which is
    /// written only if the mutation changed a row). Returns the mutation's
    /// handle.
    pub(super) fn push_audited(&mut self, stmt: Stmt, audit: Audit<'_>) -> ResultHandle {
        let handle = self.push(stmt);
        self.push(audit.stmt());
        handle
    }
}

/// One audit row, described; [`Audit::stmt`] turns it into the statement.
pub(super) struct Audit<'a> {
    workspace_id: Option<&'a str>,
    user_id: Option<&'a str>,
    api_key_id: Option<&'a str>,
    request_id: Option<&'a str>,
    /// Author and workspace come from this session's row when set.
    session_id: Option<&'a str>,
    action: &'a str,
    entity_type: &'a str,
    /// `None` with a session: the session's id, or its task's for a task row.
    entity_id: Option<&'a str>,
    details: Json,
}

/// The one `INSERT INTO audit_logs`. ?2, ?3 and ?7 fall back to the session
/// row (?11) when it is given.
const INSERT_AUDIT: &str = "INSERT INTO audit_logs (id, workspace_id, user_id, api_key_id, action, entity_type, \
     entity_id, details, request_id, created_at) \
     SELECT ?1, COALESCE(?2, s.workspace_id), COALESCE(?3, s.created_by), ?4, ?5, ?6, \
            COALESCE(?7, CASE WHEN ?6 = 'task' THEN s.task_id ELSE s.id END), ?8, ?9, ?10 \
     FROM (SELECT 1) LEFT JOIN workspace_sessions s ON s.id = ?11 \
     WHERE (?11 IS NULL OR s.id IS NOT NULL) AND changes() > 0 \
     ON CONFLICT DO NOTHING";

impl<'a> Audit<'a> {
    /// A caller's action, in the caller's workspace.
    pub(super) fn by_actor(
        actor: &'a Actor,
        action: &'a str,
        entity_type: &'a str,
        entity_id: &'a (impl AsRef<str> + ?Sized),
        details: Json,
    ) -> Self {
        Audit {
            workspace_id: Some(actor.workspace_id.as_str()),
            user_id: Some(actor.user_id.as_str()),
            api_key_id: actor.api_key_id.as_ref().map(KeyId::as_str),
            request_id: actor.request_id.as_deref(),
            session_id: None,
            action,
            entity_type,
            entity_id: Some(entity_id.as_ref()),
            details,
        }
    }

    /// What a runner did to a session it owns (`entity_type` "session" or
    /// "task"), in the name of the session's creator.
    pub(super) fn by_session_owner(
        session_id: &'a SessionId,
        action: &'a str,
        entity_type: &'a str,
        details: Json,
    ) -> Self {
        Audit {
            workspace_id: None,
            user_id: None,
            api_key_id: None,
            request_id: None,
            session_id: Some(session_id.as_str()),
            action,
            entity_type,
            entity_id: None,
            details,
        }
    }

    /// A caller's action on a session or (`entity_type` "task") its task,
    /// when the statement knows the session only (e.g. a follow-up moving
    /// the task): the caller acts, the session names the task.
    pub(super) fn by_actor_on_session(
        actor: &'a Actor,
        session_id: &'a SessionId,
        action: &'a str,
        entity_type: &'a str,
        details: Json,
    ) -> Self {
        Audit {
            entity_id: None,
            session_id: Some(session_id.as_str()),
            ..Audit::by_actor(actor, action, entity_type, session_id, details)
        }
    }

    /// An operator's action on a key (no acting user: the operator works on
    /// the database directly).
    pub(super) fn by_key(
        workspace_id: &'a WorkspaceId,
        key_id: &'a KeyId,
        action: &'a str,
        details: Json,
    ) -> Self {
        Audit {
            workspace_id: Some(workspace_id.as_str()),
            user_id: None,
            api_key_id: Some(key_id.as_str()),
            request_id: None,
            session_id: None,
            action,
            entity_type: "api_key",
            entity_id: Some(key_id.as_str()),
            details,
        }
    }

    /// An operator's action in a workspace from the command line (no acting
    /// user: the operator works on the database directly).
    pub(super) fn by_operator(
        workspace_id: &'a WorkspaceId,
        action: &'a str,
        entity_type: &'a str,
        entity_id: &'a (impl AsRef<str> + ?Sized),
        details: Json,
    ) -> Self {
        Audit {
            workspace_id: Some(workspace_id.as_str()),
            user_id: None,
            api_key_id: None,
            request_id: None,
            session_id: None,
            action,
            entity_type,
            entity_id: Some(entity_id.as_ref()),
            details,
        }
    }

    /// The same row about `entity_id` (a runner's row about something
    /// other than the session or its task, e.g. an agent's comment).
    pub(super) fn on(mut self, entity_id: &'a (impl AsRef<str> + ?Sized)) -> Self {
        self.entity_id = Some(entity_id.as_ref());
        self
    }

    fn stmt(self) -> Stmt {
        Stmt::new(INSERT_AUDIT)
            .bind(new_id())
            .bind(self.workspace_id)
            .bind(self.user_id)
            .bind(self.api_key_id)
            .bind(self.action)
            .bind(self.entity_type)
            .bind(self.entity_id)
            .bind(self.details.to_string())
            .bind(self.request_id)
            .bind(now())
            .bind(self.session_id)
    }
}

/// Audit details that record which fields a change touched.
pub(super) fn changed_fields(fields: &[&str]) -> Json {
    serde_json::json!({ "fields": fields })
}
