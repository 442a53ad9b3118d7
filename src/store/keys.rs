//! MCP API keys (migration 0008). The store only ever sees a key's hash and
//! display prefix; making and hashing keys is `auth`'s business.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use serde_json::json;

use super::{
    Actor, Batch, Entity, KeyId, Result, Role, Stmt, Store, StoreError, UserId, WorkspaceId,
    audit::Audit, now,
};

/// A stored key, as `keys list` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ApiKeyRecord {
    pub id: KeyId,
    pub workspace_id: WorkspaceId,
    pub user_id: UserId,
    pub name: String,
    /// The first characters of the key, enough to recognise it.
    pub key_prefix: String,
    /// Comma-separated scopes.
    pub scopes: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// A key to store: everything but the key itself.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub workspace_id: WorkspaceId,
    pub user_id: UserId,
    pub name: String,
    pub key_prefix: String,
    pub key_hash: String,
    pub scopes: String,
    pub expires_at: Option<String>,
}

/// A live key found by its hash, with what the caller needs to act.
#[derive(Debug, Clone, Deserialize)]
pub struct KeyLookup {
    #[serde(flatten)]
    pub key: ApiKeyRecord,
    pub key_hash: String,
    /// The role of the member the key acts as (`None`: no longer a member).
    #[serde(default)]
    pub member_role: Option<String>,
}

macro_rules! key_columns {
    () => {
        "id, workspace_id, user_id, name, key_prefix, scopes, created_at, last_used_at, expires_at, revoked_at"
    };
}

const SELECT_KEY: &str = concat!("SELECT ", key_columns!(), " FROM mcp_api_keys WHERE id = ?");

/// The audit row for an operator's action on a key.
fn key_audit<'a>(
    action: &'a str,
    workspace_id: &'a WorkspaceId,
    key_id: &'a KeyId,
    name: &str,
    prefix: &str,
) -> Audit<'a> {
    Audit::by_key(
        workspace_id,
        key_id,
        action,
        json!({ "name": name, "key_prefix": prefix }),
    )
}

impl Store {
    pub async fn create_api_key(&self, new: NewApiKey) -> Result<ApiKeyRecord> {
        let id = KeyId::generate();
        let insert = Stmt::new(
            "INSERT INTO mcp_api_keys (id, workspace_id, user_id, name, key_prefix, key_hash, scopes, created_at, expires_at) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 WHERE NOT EXISTS \
               (SELECT 1 FROM mcp_api_keys WHERE workspace_id = ?2 AND name = ?4 AND revoked_at IS NULL) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&id)
        .bind(&new.workspace_id)
        .bind(&new.user_id)
        .bind(&new.name)
        .bind(&new.key_prefix)
        .bind(&new.key_hash)
        .bind(&new.scopes)
        .bind(now())
        .bind(new.expires_at.clone());
        let mut batch = Batch::new();
        batch.push_audited(
            insert,
            key_audit("create", &new.workspace_id, &id, &new.name, &new.key_prefix),
        );
        let select = batch.push(Stmt::new(SELECT_KEY).bind(&id));
        let results = self.write(batch).await?;
        results.first(select)?.ok_or_else(|| {
            StoreError::Conflict(format!(
                "a live key named '{}' already exists in this workspace; revoke it or pick another name",
                new.name
            ))
        })
    }

    /// Keys of one workspace, or of every workspace when `workspace_id` is None.
    pub async fn list_api_keys(
        &self,
        workspace_id: Option<&WorkspaceId>,
    ) -> Result<Vec<ApiKeyRecord>> {
        let stmt = Stmt::new(concat!(
            "SELECT ",
            key_columns!(),
            " FROM mcp_api_keys WHERE ?1 IS NULL OR workspace_id = ?1 ORDER BY workspace_id, created_at, id"
        ))
        .bind(workspace_id);
        self.read_one(stmt).await?.all()
    }

    /// Revokes a key, found by its id or display prefix. Takes effect at once:
    /// every lookup checks `revoked_at`.
    pub async fn revoke_api_key(&self, id_or_prefix: &str) -> Result<ApiKeyRecord> {
        let found = self
            .read_one(
                Stmt::new(concat!(
                    "SELECT ",
                    key_columns!(),
                    " FROM mcp_api_keys WHERE id = ?1 OR key_prefix = ?1 ORDER BY created_at"
                ))
                .bind(id_or_prefix),
            )
            .await?;
        let matches: Vec<ApiKeyRecord> = found.all()?;
        let key = match matches.as_slice() {
            [] => {
                return Err(StoreError::not_found(Entity::Key, id_or_prefix));
            }
            [one] => one,
            _ => {
                return Err(StoreError::Invalid(format!(
                    "{} keys have the prefix {id_or_prefix}; revoke by id instead (see `keys list`)",
                    matches.len()
                )));
            }
        };
        let mut batch = Batch::new();
        batch.push_audited(
            Stmt::new("UPDATE mcp_api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                .bind(now())
                .bind(&key.id),
            key_audit(
                "revoke",
                &key.workspace_id,
                &key.id,
                &key.name,
                &key.key_prefix,
            ),
        );
        let select = batch.push(Stmt::new(SELECT_KEY).bind(&key.id));
        let results = self.write(batch).await?;
        results
            .first(select)?
            .ok_or_else(|| StoreError::not_found(Entity::Key, id_or_prefix))
    }

    /// Finds the live (not revoked, not expired) key with this hash and records
    /// its use. `None` means the key is unknown, revoked or expired.
    pub async fn use_api_key(&self, key_hash: &str) -> Result<Option<KeyLookup>> {
        let at = now();
        macro_rules! live {
            () => {
                "key_hash = ?1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?2)"
            };
        }
        let mut batch = Batch::new();
        batch.push(
            Stmt::new(concat!(
                "UPDATE mcp_api_keys SET last_used_at = ?2 WHERE ",
                live!()
            ))
            .bind(key_hash)
            .bind(&at),
        );
        let select = batch.push(
            Stmt::new(concat!(
                "SELECT ",
                key_columns!(),
                ", key_hash, (SELECT m.role FROM workspace_members m \
                 WHERE m.workspace_id = mcp_api_keys.workspace_id AND m.user_id = mcp_api_keys.user_id) AS member_role \
                 FROM mcp_api_keys WHERE ",
                live!()
            ))
            .bind(key_hash)
            .bind(&at),
        );
        self.write(batch).await?.first(select)
    }

    /// Ids of keys revoked at or after `since` (a timestamp), or whose
    /// member's role changed since then, with the time of that change, so a
    /// watcher can close their open sessions (which then reconnect with the
    /// new role, if any).
    pub async fn keys_revoked_since(&self, since: &str) -> Result<Vec<(KeyId, String)>> {
        #[derive(Deserialize)]
        struct Revoked {
            id: KeyId,
            revoked_at: String,
        }
        let revoked = self
            .read_one(
                Stmt::new(
                    "SELECT id, revoked_at FROM mcp_api_keys WHERE revoked_at >= ?1 \
                     UNION ALL SELECT k.id, m.role_changed_at AS revoked_at FROM workspace_members m \
                     JOIN mcp_api_keys k ON k.workspace_id = m.workspace_id AND k.user_id = m.user_id \
                     WHERE m.role_changed_at >= ?1 AND k.revoked_at IS NULL ORDER BY revoked_at",
                )
                .bind(since),
            )
            .await?;
        Ok(revoked
            .all::<Revoked>()?
            .into_iter()
            .map(|r| (r.id, r.revoked_at))
            .collect())
    }
}

/// A key an admin makes for a member with `create_api_key`: everything but
/// the key itself, and the least role its scopes need.
#[derive(Debug, Clone)]
pub struct MemberKey {
    /// The member it acts as: email or user id.
    pub member: String,
    pub name: String,
    pub key_prefix: String,
    pub key_hash: String,
    pub scopes: String,
    /// The least role whose ceiling holds `scopes`.
    pub needs: Role,
    pub expires_at: Option<String>,
}

/// The roles at or above `least`, as `,viewer,member,` for `instr`: bound as
/// text, so it compares the same on SQLite and D1 (whose params are strings).
fn roles_from(least: Role) -> String {
    let roles: String = Role::ALL
        .into_iter()
        .filter(|r| r.at_least(least))
        .map(|r| format!("{r},"))
        .collect();
    format!(",{roles}")
}

/// A member named ?2 (user id or email) of workspace ?1, with their role.
const SELECT_TARGET: &str = "SELECT u.id AS user_id, u.name, u.email, m.role FROM workspace_members m \
     JOIN users u ON u.id = m.user_id WHERE m.workspace_id = ?1 AND (u.id = ?2 OR u.email = lower(?2))";

/// The keys of workspace ?1 named ?2 (id or display prefix), with the role
/// of the member each acts as.
const SELECT_NAMED_KEYS: &str = concat!(
    "SELECT ",
    key_columns!(),
    ", (SELECT m.role FROM workspace_members m WHERE m.workspace_id = k.workspace_id AND m.user_id = k.user_id) AS member_role \
     FROM mcp_api_keys k WHERE k.workspace_id = ?1 AND (k.id = ?2 OR k.key_prefix = ?2) ORDER BY k.created_at"
);

/// A key with the role of the member it acts as.
#[derive(Debug, Deserialize)]
struct NamedKey {
    #[serde(flatten)]
    key: ApiKeyRecord,
    #[serde(default)]
    member_role: Option<String>,
}

impl Store {
    /// An admin's `create_api_key`: a key for a member of the actor's
    /// workspace whose role holds the key's scopes. Only the owner makes keys
    /// that act as the owner. One batch: the checks are in the INSERT's
    /// guard, the reads before and after it say which one failed.
    pub async fn create_member_key(
        &self,
        by: &Actor,
        by_role: Role,
        new: MemberKey,
    ) -> Result<ApiKeyRecord> {
        let id = KeyId::generate();
        let who = new.member.trim();
        let target_roles = if by_role.at_least(Role::Owner) {
            roles_from(new.needs)
        } else {
            roles_from(new.needs).replace("owner,", "")
        };
        let mut batch = Batch::new();
        let before = batch.push(Stmt::new(SELECT_TARGET).bind(&by.workspace_id).bind(who));
        batch.push_audited(
            Stmt::new(
                "INSERT INTO mcp_api_keys (id, workspace_id, user_id, name, key_prefix, key_hash, scopes, created_at, expires_at, created_by) \
                 SELECT ?3, ?1, m.user_id, ?4, ?5, ?6, ?7, ?8, ?9, ?10 FROM workspace_members m JOIN users u ON u.id = m.user_id \
                 WHERE m.workspace_id = ?1 AND (u.id = ?2 OR u.email = lower(?2)) AND instr(?11, ',' || m.role || ',') > 0 \
                   AND NOT EXISTS (SELECT 1 FROM mcp_api_keys WHERE workspace_id = ?1 AND name = ?4 AND revoked_at IS NULL) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(&by.workspace_id)
            .bind(who)
            .bind(&id)
            .bind(&new.name)
            .bind(&new.key_prefix)
            .bind(&new.key_hash)
            .bind(&new.scopes)
            .bind(now())
            .bind(new.expires_at.clone())
            .bind(&by.user_id)
            .bind(target_roles),
            Audit::by_actor(
                by,
                "create",
                "api_key",
                &id,
                json!({ "name": new.name, "key_prefix": new.key_prefix, "member": who, "scopes": new.scopes }),
            ),
        );
        let after = batch.push(Stmt::new(SELECT_KEY).bind(&id));
        let results = self.write(batch).await?;
        if let Some(key) = results.first::<ApiKeyRecord>(after)? {
            return Ok(key);
        }
        let Some(member) = results.first::<super::Member>(before)? else {
            return Err(StoreError::not_found(Entity::Member, who));
        };
        let role = Role::parse(&member.role)?;
        if role == Role::Owner && !by_role.at_least(Role::Owner) {
            return Err(StoreError::Invalid(format!(
                "only the owner makes keys that act as the owner ({}); make one for yourself or another member. Nothing was created.",
                member.email
            )));
        }
        if !role.at_least(new.needs) {
            return Err(StoreError::Invalid(format!(
                "scopes {} need the {} role, and {} is {role}; a viewer's key reads (`read`), a member's may also write and run sessions (`read,write,sessions`). Nothing was created.",
                new.scopes, new.needs, member.email
            )));
        }
        Err(StoreError::Conflict(format!(
            "a live key named '{}' already exists in this workspace; revoke it or pick another name",
            new.name
        )))
    }

    /// An admin's `revoke_api_key`: revokes a key of the actor's workspace,
    /// named by id or display prefix, at once (every lookup checks
    /// `revoked_at`). Only the owner revokes keys that act as the owner.
    /// Revoking a revoked key changes nothing and says when it was revoked.
    pub async fn revoke_member_key(
        &self,
        by: &Actor,
        by_role: Role,
        id_or_prefix: &str,
    ) -> Result<ApiKeyRecord> {
        let key = id_or_prefix.trim();
        let at = now();
        // Exactly one key by that name, and (unless the owner asks) not the
        // owner's: the guard of both statements below.
        const GUARD: &str = "k.workspace_id = ?1 AND (k.id = ?2 OR k.key_prefix = ?2) AND k.revoked_at IS NULL \
             AND (SELECT COUNT(*) FROM mcp_api_keys c WHERE c.workspace_id = ?1 AND (c.id = ?2 OR c.key_prefix = ?2)) = 1 \
             AND (?3 = 'owner' OR COALESCE((SELECT m.role FROM workspace_members m \
                  WHERE m.workspace_id = ?1 AND m.user_id = k.user_id), '') <> 'owner')";
        let mut batch = Batch::new();
        let before = batch.push(
            Stmt::new(SELECT_NAMED_KEYS)
                .bind(&by.workspace_id)
                .bind(key),
        );
        // The audit row first: it names the key the update below revokes.
        batch.push(
            Stmt::new(format!(
                "INSERT INTO audit_logs (id, workspace_id, user_id, api_key_id, action, entity_type, entity_id, details, request_id, created_at) \
                 SELECT {}, ?1, ?4, ?5, 'revoke', 'api_key', k.id, json_object('name', k.name, 'key_prefix', k.key_prefix, 'member', k.user_id), ?6, ?7 \
                 FROM mcp_api_keys k WHERE {GUARD}",
                super::members::SQL_ID
            ))
            .bind(&by.workspace_id)
            .bind(key)
            .bind(by_role.as_str())
            .bind(&by.user_id)
            .bind(by.api_key_id.as_ref())
            .bind(by.request_id.as_deref())
            .bind(&at),
        );
        batch.push(
            Stmt::new(format!(
                "UPDATE mcp_api_keys AS k SET revoked_at = ?4 WHERE {GUARD}"
            ))
            .bind(&by.workspace_id)
            .bind(key)
            .bind(by_role.as_str())
            .bind(&at),
        );
        let after = batch.push(
            Stmt::new(SELECT_NAMED_KEYS)
                .bind(&by.workspace_id)
                .bind(key),
        );
        let results = self.write(batch).await?;
        let found: Vec<NamedKey> = results.all(before)?;
        match found.as_slice() {
            [] => Err(StoreError::not_found(Entity::Key, key)),
            [one]
                if one.member_role.as_deref() == Some("owner")
                    && !by_role.at_least(Role::Owner) =>
            {
                Err(StoreError::Invalid(format!(
                    "key {} ('{}') acts as the workspace's owner; only the owner revokes it. Nothing was changed.",
                    one.key.key_prefix, one.key.name
                )))
            }
            [_] => results
                .first::<NamedKey>(after)?
                .map(|k| k.key)
                .ok_or_else(|| StoreError::not_found(Entity::Key, key)),
            many => Err(StoreError::Invalid(format!(
                "{} keys have the prefix {key}; revoke by id instead (`keys list` shows the ids)",
                many.len()
            ))),
        }
    }
}
