//! MCP API keys (migration 0008). The store only ever sees a key's hash and
//! display prefix; making and hashing keys is `auth`'s business.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use serde_json::json;

use super::{
    Batch, Entity, KeyId, Result, Stmt, Store, StoreError, UserId, WorkspaceId, audit::Audit, now,
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
