//! A workspace's members and their roles (migration 0001's
//! `workspace_members`): adding people, changing roles, removing them (which
//! unassigns their tasks and revokes their keys in the same batch) and
//! handing the ownership on. Each is one batch with its audit rows; a member
//! is named by user id or email.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    Actor, Batch, Entity, Member, Result, Stmt, Store, StoreError, WorkspaceId, audit::Audit,
    new_id, now,
};

/// What a member may do in a workspace, from least to most.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads the board, tasks, sessions and logs.
    Viewer,
    /// Also changes projects and tasks and runs sessions.
    Member,
    /// Also manages members, keys, templates and workspace settings.
    Admin,
    /// Everything; one per workspace, changed only by a transfer.
    Owner,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Member, Role::Admin, Role::Owner];

    /// Whether this role may do what `least` may: the one role check
    /// ("admins and up", "author or admin" is `author || at_least(Admin)`).
    pub fn at_least(self, least: Role) -> bool {
        self >= least
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// Reads a role name; unknown names (and anything stored that is not a
    /// role) are refused with the list of roles.
    pub fn parse(text: &str) -> Result<Role> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| {
                StoreError::Invalid(format!(
                    "unknown role '{}'; roles are viewer, member, admin (owner only by transfer)",
                    text.trim()
                ))
            })
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Checks an email address well enough to catch typos and pasted junk:
/// one `@`, something before it, a dotted domain after it, no spaces.
/// Returns it trimmed and lower-cased (emails are matched that way).
pub fn normalize_email(email: &str) -> Result<String> {
    let email = email.trim().to_lowercase();
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(|c| c.is_whitespace() || c.is_control())
                && email.len() <= 254
        }
        None => false,
    };
    if !valid {
        return Err(StoreError::Invalid(format!(
            "'{email}' is not an email address; give one like name@example.com"
        )));
    }
    Ok(email)
}

/// The member named ?2 (user id or email) of workspace ?1, as a subquery.
macro_rules! target {
    () => {
        "(SELECT m.user_id FROM workspace_members m JOIN users u ON u.id = m.user_id \
          WHERE m.workspace_id = ?1 AND (u.id = ?2 OR u.email = lower(?2)))"
    };
}

const SELECT_MEMBER: &str = "SELECT u.id AS user_id, u.name, u.email, m.role FROM workspace_members m \
     JOIN users u ON u.id = m.user_id WHERE m.workspace_id = ?1 AND (u.id = ?2 OR u.email = lower(?2))";

/// The acting user, key and request of an audit row written in SQL (the
/// rows one statement writes for many tasks or keys).
fn actor_fields(by: Option<&Actor>) -> (Option<String>, Option<String>, Option<String>) {
    match by {
        Some(actor) => (
            Some(actor.user_id.to_string()),
            actor.api_key_id.as_ref().map(ToString::to_string),
            actor.request_id.clone(),
        ),
        None => (None, None, None),
    }
}

fn audit<'a>(
    by: Option<&'a Actor>,
    workspace_id: &'a WorkspaceId,
    action: &'a str,
    entity_id: &'a str,
    details: serde_json::Value,
) -> Audit<'a> {
    match by {
        Some(actor) => Audit::by_actor(actor, action, "member", entity_id, details),
        None => Audit::by_operator(workspace_id, action, "member", entity_id, details),
    }
}

fn not_a_member(who: &str) -> StoreError {
    StoreError::not_found(Entity::Member, who)
}

/// An audit id made in SQL, for rows one statement writes per task or key:
/// random, shaped like a UUID. A retried batch cannot write them twice,
/// because its guards find the member already gone.
pub(super) const SQL_ID: &str = "lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) \
     || '-8' || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))";

impl Store {
    /// The workspace's members, in the order they joined.
    pub async fn list_members(&self, workspace_id: &WorkspaceId) -> Result<Vec<Member>> {
        self.read_one(
            Stmt::new(
                "SELECT u.id AS user_id, u.name, u.email, m.role FROM workspace_members m \
                 JOIN users u ON u.id = m.user_id WHERE m.workspace_id = ? ORDER BY m.created_at, u.id",
            )
            .bind(workspace_id),
        )
        .await?
        .all()
    }

    /// Adds `email` (made a user if new; `name` defaults to the part before
    /// the `@`) to the workspace with `role`. The owner role is only given by
    /// a transfer.
    pub async fn add_member(
        &self,
        workspace_id: &WorkspaceId,
        by: Option<&Actor>,
        email: &str,
        name: Option<&str>,
        role: Role,
    ) -> Result<Member> {
        if role == Role::Owner {
            return Err(StoreError::Invalid(
                "a new member cannot be the owner; add them as admin, then transfer the ownership (`members transfer-ownership`)".to_owned(),
            ));
        }
        let email = normalize_email(email)?;
        let name = name
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| email.split('@').next().unwrap_or(&email))
            .to_owned();
        let at = now();
        let mut batch = Batch::new();
        let before = batch.push(Stmt::new(SELECT_MEMBER).bind(workspace_id).bind(&email));
        batch.push(
            Stmt::new("INSERT INTO users (id, email, name, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (email) DO NOTHING")
                .bind(new_id()).bind(&email).bind(&name).bind(&at),
        );
        batch.push_audited(
            Stmt::new(
                "INSERT INTO workspace_members (workspace_id, user_id, role, created_at) \
                 SELECT ?1, u.id, ?2, ?3 FROM users u WHERE u.email = ?4 \
                   AND EXISTS (SELECT 1 FROM workspace_teams WHERE id = ?1) ON CONFLICT DO NOTHING",
            )
            .bind(workspace_id)
            .bind(role.as_str())
            .bind(&at)
            .bind(&email),
            audit(
                by,
                workspace_id,
                "add_member",
                &email,
                json!({ "email": email, "role": role }),
            ),
        );
        let after = batch.push(Stmt::new(SELECT_MEMBER).bind(workspace_id).bind(&email));
        let results = self.write(batch).await?;
        if let Some(existing) = results.first::<Member>(before)? {
            return Err(StoreError::Conflict(format!(
                "{email} is already a member of this workspace (role {}); change their role instead (`members set-role`)",
                existing.role
            )));
        }
        results
            .first(after)?
            .ok_or_else(|| StoreError::not_found(Entity::Workspace, workspace_id))
    }

    /// Changes a member's role. The owner's role changes only by a transfer,
    /// and no one becomes owner here.
    pub async fn set_member_role(
        &self,
        workspace_id: &WorkspaceId,
        by: Option<&Actor>,
        who: &str,
        role: Role,
    ) -> Result<Member> {
        if role == Role::Owner {
            return Err(StoreError::Invalid(
                "the owner role is handed on only by a transfer (`members transfer-ownership`); nothing was changed".to_owned(),
            ));
        }
        let who = who.trim();
        let mut batch = Batch::new();
        let before = batch.push(Stmt::new(SELECT_MEMBER).bind(workspace_id).bind(who));
        batch.push_audited(
            Stmt::new(concat!(
                "UPDATE workspace_members SET role = ?3, role_changed_at = ?4 WHERE workspace_id = ?1 AND user_id = ",
                target!(),
                " AND role <> 'owner' AND role <> ?3"
            ))
            .bind(workspace_id)
            .bind(who)
            .bind(role.as_str())
            .bind(now()),
            audit(
                by,
                workspace_id,
                "set_role",
                who,
                json!({ "member": who, "role": role }),
            ),
        );
        let after = batch.push(Stmt::new(SELECT_MEMBER).bind(workspace_id).bind(who));
        let results = self.write(batch).await?;
        let Some(member) = results.first::<Member>(before)? else {
            return Err(not_a_member(who));
        };
        if member.role == Role::Owner.as_str() {
            return Err(owner_is_fixed(&member));
        }
        results.first(after)?.ok_or_else(|| not_a_member(who))
    }

    /// Removes a member: their tasks are unassigned and their keys revoked in
    /// the same batch, each with its audit row. The owner cannot be removed.
    pub async fn remove_member(
        &self,
        workspace_id: &WorkspaceId,
        by: Option<&Actor>,
        who: &str,
    ) -> Result<Member> {
        let who = who.trim();
        let at = now();
        let (user_id, api_key_id, request_id) = actor_fields(by);
        let mut batch = Batch::new();
        let before = batch.push(Stmt::new(SELECT_MEMBER).bind(workspace_id).bind(who));
        // The audit rows first: they name what the updates below change.
        batch.push(
            Stmt::new(format!(
                "INSERT INTO audit_logs (id, workspace_id, user_id, api_key_id, action, entity_type, entity_id, details, request_id, created_at) \
                 SELECT {SQL_ID}, ?1, ?3, ?4, 'unassign', 'task', t.id, json_object('assignee', NULL, 'removed_member', t.assignee), ?5, ?6 \
                 FROM tasks t WHERE t.workspace_id = ?1 AND t.assignee = {} \
                   AND (SELECT role FROM workspace_members WHERE workspace_id = ?1 AND user_id = t.assignee) <> 'owner'",
                target!()
            ))
            .bind(workspace_id)
            .bind(who)
            .bind(user_id.clone())
            .bind(api_key_id.clone())
            .bind(request_id.clone())
            .bind(&at),
        );
        batch.push(
            Stmt::new(format!(
                "INSERT INTO audit_logs (id, workspace_id, user_id, api_key_id, action, entity_type, entity_id, details, request_id, created_at) \
                 SELECT {SQL_ID}, ?1, ?3, ?4, 'revoke', 'api_key', k.id, json_object('name', k.name, 'key_prefix', k.key_prefix, 'removed_member', k.user_id), ?5, ?6 \
                 FROM mcp_api_keys k WHERE k.workspace_id = ?1 AND k.revoked_at IS NULL AND k.user_id = {} \
                   AND (SELECT role FROM workspace_members WHERE workspace_id = ?1 AND user_id = k.user_id) <> 'owner'",
                target!()
            ))
            .bind(workspace_id)
            .bind(who)
            .bind(user_id.clone())
            .bind(api_key_id)
            .bind(request_id)
            .bind(&at),
        );
        batch.push(
            Stmt::new(concat!(
                "UPDATE tasks SET assignee = NULL, assigned_at = NULL, assigned_by = NULL, updated_at = ?3, updated_by = ?4 \
                 WHERE workspace_id = ?1 AND assignee = ",
                target!(),
                " AND (SELECT role FROM workspace_members WHERE workspace_id = ?1 AND user_id = tasks.assignee) <> 'owner'"
            ))
            .bind(workspace_id)
            .bind(who)
            .bind(&at)
            .bind(user_id),
        );
        batch.push(
            Stmt::new(concat!(
                "UPDATE mcp_api_keys SET revoked_at = ?3 WHERE workspace_id = ?1 AND revoked_at IS NULL AND user_id = ",
                target!(),
                " AND (SELECT role FROM workspace_members WHERE workspace_id = ?1 AND user_id = mcp_api_keys.user_id) <> 'owner'"
            ))
            .bind(workspace_id)
            .bind(who)
            .bind(&at),
        );
        batch.push_audited(
            Stmt::new(concat!(
                "DELETE FROM workspace_members WHERE workspace_id = ?1 AND role <> 'owner' AND user_id = ",
                target!()
            ))
            .bind(workspace_id)
            .bind(who),
            audit(
                by,
                workspace_id,
                "remove_member",
                who,
                json!({ "member": who }),
            ),
        );
        let results = self.write(batch).await?;
        let Some(member) = results.first::<Member>(before)? else {
            return Err(not_a_member(who));
        };
        if member.role == Role::Owner.as_str() {
            return Err(StoreError::Invalid(format!(
                "{} is the workspace's owner and cannot be removed; transfer the ownership first (`members transfer-ownership`). Nothing was changed.",
                member.email
            )));
        }
        Ok(member)
    }

    /// Makes `who` (already a member) the owner; the previous owner becomes
    /// an admin.
    pub async fn transfer_ownership(
        &self,
        workspace_id: &WorkspaceId,
        by: Option<&Actor>,
        who: &str,
    ) -> Result<Member> {
        let who = who.trim();
        let mut batch = Batch::new();
        let before = batch.push(Stmt::new(SELECT_MEMBER).bind(workspace_id).bind(who));
        batch.push(
            Stmt::new(concat!(
                "UPDATE workspace_members SET role = 'admin', role_changed_at = ?3 WHERE workspace_id = ?1 AND role = 'owner' \
                 AND EXISTS (SELECT 1 FROM workspace_members WHERE workspace_id = ?1 AND role <> 'owner' AND user_id = ",
                target!(),
                ")"
            ))
            .bind(workspace_id)
            .bind(who)
            .bind(now()),
        );
        batch.push_audited(
            Stmt::new(concat!(
                "UPDATE workspace_members SET role = 'owner', role_changed_at = ?3 WHERE workspace_id = ?1 AND user_id = ",
                target!(),
                " AND NOT EXISTS (SELECT 1 FROM workspace_members WHERE workspace_id = ?1 AND role = 'owner')"
            ))
            .bind(workspace_id)
            .bind(who)
            .bind(now()),
            audit(
                by,
                workspace_id,
                "transfer_ownership",
                who,
                json!({ "new_owner": who }),
            ),
        );
        let after = batch.push(Stmt::new(SELECT_MEMBER).bind(workspace_id).bind(who));
        let results = self.write(batch).await?;
        let Some(member) = results.first::<Member>(before)? else {
            return Err(not_a_member(who));
        };
        if member.role == Role::Owner.as_str() {
            return Err(StoreError::Invalid(format!(
                "{} already owns this workspace; nothing was changed",
                member.email
            )));
        }
        results.first(after)?.ok_or_else(|| not_a_member(who))
    }

    /// The role of `user_id` in the workspace (`None`: not a member).
    pub async fn member_role(
        &self,
        workspace_id: &WorkspaceId,
        user_id: &str,
    ) -> Result<Option<Role>> {
        let row = self
            .read_one(
                Stmt::new(
                    "SELECT role FROM workspace_members WHERE workspace_id = ? AND user_id = ?",
                )
                .bind(workspace_id)
                .bind(user_id),
            )
            .await?;
        row.text("role").map(|r| Role::parse(&r)).transpose()
    }
}

fn owner_is_fixed(member: &Member) -> StoreError {
    StoreError::Invalid(format!(
        "{} is the workspace's owner; the owner's role changes only by transferring the ownership (`members transfer-ownership`). Nothing was changed.",
        member.email
    ))
}
