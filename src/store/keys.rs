//! MCP API keys (migration 0008). The store only ever sees a key's hash and
//! display prefix; making and hashing keys is `auth`'s business.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Result, Stmt, Store, StoreError, decode_all, decode_first, new_id, now};

/// A stored key, as `keys list` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ApiKeyRecord {
    pub id: String,
    pub workspace_id: String,
    pub user_id: String,
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
    pub workspace_id: String,
    pub user_id: String,
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
}

const KEY_COLUMNS: &str = "id, workspace_id, user_id, name, key_prefix, scopes, created_at, last_used_at, expires_at, revoked_at";

/// The audit row for an operator's action on a key (no acting user: the
/// operator works on the database directly).
fn key_audit(action: &str, key_id: &str) -> Stmt {
    Stmt::new(
        "INSERT INTO audit_logs (id, workspace_id, user_id, api_key_id, action, entity_type, entity_id, details, created_at) \
         SELECT ?, workspace_id, NULL, id, ?, 'api_key', id, json_object('name', name, 'key_prefix', key_prefix), ? \
         FROM mcp_api_keys WHERE id = ? AND changes() > 0 ON CONFLICT DO NOTHING",
    )
    .bind(new_id())
    .bind(action)
    .bind(now())
    .bind(key_id)
}

impl Store {
    pub async fn create_api_key(&self, new: NewApiKey) -> Result<ApiKeyRecord> {
        let id = new_id();
        let insert = Stmt::new(
            "INSERT INTO mcp_api_keys (id, workspace_id, user_id, name, key_prefix, key_hash, scopes, created_at, expires_at) \
             SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS \
               (SELECT 1 FROM mcp_api_keys WHERE workspace_id = ? AND name = ? AND revoked_at IS NULL) \
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
        .bind(new.expires_at.clone())
        .bind(&new.workspace_id)
        .bind(&new.name);
        let results = self
            .write(vec![
                insert,
                key_audit("create", &id),
                Stmt::new(format!(
                    "SELECT {KEY_COLUMNS} FROM mcp_api_keys WHERE id = ?"
                ))
                .bind(&id),
            ])
            .await?;
        decode_first(results.get(2))?.ok_or_else(|| {
            StoreError::Conflict(format!(
                "a live key named '{}' already exists in this workspace; revoke it or pick another name",
                new.name
            ))
        })
    }

    /// Keys of one workspace, or of every workspace when `workspace_id` is None.
    pub async fn list_api_keys(&self, workspace_id: Option<&str>) -> Result<Vec<ApiKeyRecord>> {
        let stmt = match workspace_id {
            Some(ws) => Stmt::new(format!(
                "SELECT {KEY_COLUMNS} FROM mcp_api_keys WHERE workspace_id = ? ORDER BY created_at, id"
            ))
            .bind(ws),
            None => Stmt::new(format!("SELECT {KEY_COLUMNS} FROM mcp_api_keys ORDER BY workspace_id, created_at, id")),
        };
        let results = self.read(vec![stmt]).await?;
        decode_all(results.first())
    }

    /// Revokes a key, found by its id or display prefix. Takes effect at once:
    /// every lookup checks `revoked_at`.
    pub async fn revoke_api_key(&self, id_or_prefix: &str) -> Result<ApiKeyRecord> {
        let found = self
            .read(vec![
                Stmt::new(format!(
                    "SELECT {KEY_COLUMNS} FROM mcp_api_keys WHERE id = ? OR key_prefix = ? ORDER BY created_at"
                ))
                .bind(id_or_prefix)
                .bind(id_or_prefix),
            ])
            .await?;
        let matches: Vec<ApiKeyRecord> = decode_all(found.first())?;
        let key = match matches.as_slice() {
            [] => {
                return Err(StoreError::NotFound {
                    kind: "API key",
                    id: id_or_prefix.to_owned(),
                });
            }
            [one] => one,
            _ => {
                return Err(StoreError::Invalid(format!(
                    "{} keys have the prefix {id_or_prefix}; revoke by id instead (see `keys list`)",
                    matches.len()
                )));
            }
        };
        let results = self
            .write(vec![
                Stmt::new(
                    "UPDATE mcp_api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                )
                .bind(now())
                .bind(&key.id),
                key_audit("revoke", &key.id),
                Stmt::new(format!(
                    "SELECT {KEY_COLUMNS} FROM mcp_api_keys WHERE id = ?"
                ))
                .bind(&key.id),
            ])
            .await?;
        decode_first(results.get(2))?.ok_or_else(|| StoreError::NotFound {
            kind: "API key",
            id: id_or_prefix.to_owned(),
        })
    }

    /// Finds the live (not revoked, not expired) key with this hash and records
    /// its use. `None` means the key is unknown, revoked or expired.
    pub async fn use_api_key(&self, key_hash: &str) -> Result<Option<KeyLookup>> {
        let at = now();
        let live = "key_hash = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)";
        let results = self
            .write(vec![
                Stmt::new(format!(
                    "UPDATE mcp_api_keys SET last_used_at = ? WHERE {live}"
                ))
                .bind(&at)
                .bind(key_hash)
                .bind(&at),
                Stmt::new(format!(
                    "SELECT {KEY_COLUMNS}, key_hash FROM mcp_api_keys WHERE {live}"
                ))
                .bind(key_hash)
                .bind(&at),
            ])
            .await?;
        decode_first(results.get(1))
    }

    /// Ids of keys revoked at or after `since` (a timestamp), with the latest
    /// revocation time seen, so a watcher can close their open sessions.
    pub async fn keys_revoked_since(&self, since: &str) -> Result<Vec<(String, String)>> {
        #[derive(Deserialize)]
        struct Revoked {
            id: String,
            revoked_at: String,
        }
        let results = self
            .read(vec![
                Stmt::new("SELECT id, revoked_at FROM mcp_api_keys WHERE revoked_at >= ? ORDER BY revoked_at")
                    .bind(since),
            ])
            .await?;
        Ok(decode_all::<Revoked>(results.first())?
            .into_iter()
            .map(|r| (r.id, r.revoked_at))
            .collect())
    }
}
