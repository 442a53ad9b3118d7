//! Key tools for admins: a key for a member (shown once, its scopes within
//! the member's role, audited) and revoking one, which takes effect as a
//! `keys revoke` from the command line does.

use chrono::{Duration, SecondsFormat, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Effect, Render, ToolContext, ToolDef, ToolError, Toolset, tool};
use crate::{
    auth::{self, Scope, Scopes},
    store::{ApiKeyRecord, KeyId, MemberKey, UserId},
};

/// Longest expiry of a key made by a tool, in days.
const MAX_EXPIRY_DAYS: u32 = 3_650;

pub(super) fn tools() -> Vec<ToolDef> {
    vec![
        tool(
            "create_api_key",
            "Create API key",
            "Make a key for a member (admins); shown only once.",
            Toolset::Projects,
            Effect::Create,
            create_api_key,
        )
        .scope(Scope::Admin),
        tool(
            "revoke_api_key",
            "Revoke API key",
            "Revoke a key at once (admins).",
            Toolset::Projects,
            Effect::Delete,
            revoke_api_key,
        )
        .scope(Scope::Admin),
    ]
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyArgs {
    /// Email or user id; default: you.
    #[serde(default)]
    pub member: Option<String>,
    /// Unique among live keys.
    pub name: String,
    /// Within their role, e.g. read,write,sessions.
    pub scopes: String,
    /// Default: never.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

/// An API key; `key` only when just made.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ApiKey {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub id: KeyId,
    pub name: String,
    pub key_prefix: String,
    pub user_id: UserId,
    pub scopes: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl ApiKey {
    fn of(record: ApiKeyRecord, key: Option<String>) -> Self {
        ApiKey {
            key,
            id: record.id,
            name: record.name,
            key_prefix: record.key_prefix,
            user_id: record.user_id,
            scopes: record.scopes,
            expires_at: record.expires_at,
            revoked_at: record.revoked_at,
        }
    }
}

async fn create_api_key(ctx: ToolContext, args: CreateKeyArgs) -> Result<ApiKey, ToolError> {
    let scopes =
        Scopes::parse(&args.scopes).map_err(|e| ToolError::InvalidParams(e.to_string()))?;
    let name = args.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ToolError::InvalidParams(
            "name must be 1 to 200 characters".to_owned(),
        ));
    }
    let expires_at = match args.expires_in_days {
        None => None,
        Some(days) if (1..=MAX_EXPIRY_DAYS).contains(&days) => Some(
            (Utc::now() + Duration::days(i64::from(days)))
                .to_rfc3339_opts(SecondsFormat::Millis, true),
        ),
        Some(days) => {
            return Err(ToolError::InvalidParams(format!(
                "expires_in_days must be 1 to {MAX_EXPIRY_DAYS}, not {days}; leave it out for a key that does not expire"
            )));
        }
    };
    let principal = &ctx.principal;
    let member = args
        .member
        .unwrap_or_else(|| principal.actor.user_id.to_string());
    let generated = auth::generate_key().map_err(|e| {
        ToolError::Failed(format!(
            "the system random number generator failed ({e}); nothing was created, try again"
        ))
    })?;
    let record = ctx
        .store
        .create_member_key(
            &principal.actor,
            principal.role,
            MemberKey {
                member,
                name: name.to_owned(),
                key_prefix: generated.prefix,
                key_hash: generated.hash,
                scopes: scopes.to_string(),
                needs: scopes.least_role_for(),
                expires_at,
            },
        )
        .await?;
    Ok(ApiKey::of(record, Some(generated.key)))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeKeyArgs {
    /// Id or prefix (vk_…).
    pub key: String,
}

async fn revoke_api_key(ctx: ToolContext, args: RevokeKeyArgs) -> Result<ApiKey, ToolError> {
    let principal = &ctx.principal;
    let record = ctx
        .store
        .revoke_member_key(&principal.actor, principal.role, &args.key)
        .await?;
    Ok(ApiKey::of(record, None))
}

impl Render for ApiKey {
    fn render(&self) -> String {
        let mut text = match &self.key {
            Some(key) => format!(
                "API key '{}' ({}) for user {} with scopes {}: {key}\nThis is the only time the key is shown: store it now (e.g. as VK_API_KEY).",
                self.name, self.key_prefix, self.user_id, self.scopes
            ),
            None => format!(
                "API key '{}' ({}) of user {}, scopes {}",
                self.name, self.key_prefix, self.user_id, self.scopes
            ),
        };
        if let Some(at) = &self.expires_at {
            text.push_str(&format!("\nExpires {at}."));
        }
        if let Some(at) = &self.revoked_at {
            text.push_str(&format!("\nRevoked {at}: it no longer works."));
        }
        text
    }
}
