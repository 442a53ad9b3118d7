//! Who is calling and what they may do: API keys (migration 0008), scopes, and
//! the [`Principal`] every tool call runs as.

mod authenticator;
pub mod jwt;
mod jwt_hmac;
mod key_check;
mod keys;

pub use authenticator::{Authenticator, CACHE_TTL};
pub use key_check::{KeyCheck, revocation_interval};

pub use jwt::TokenError;
pub use keys::{GeneratedKey, KEY_PREFIX, generate_key, hash_key};

use std::fmt;

use crate::store::{Actor, Role, Store, StoreError};

/// A permission a key can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Read projects, tasks, sessions and logs.
    Read,
    /// Create, change and delete projects and tasks (implies read).
    Write,
    /// Start, stop and follow up agent sessions (implies read).
    Sessions,
    /// Everything.
    Admin,
}

impl Scope {
    const ALL: [Scope; 4] = [Scope::Read, Scope::Write, Scope::Sessions, Scope::Admin];

    fn bit(self) -> u8 {
        match self {
            Scope::Read => 1,
            Scope::Write => 2,
            Scope::Sessions => 4,
            Scope::Admin => 8,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Sessions => "sessions",
            Scope::Admin => "admin",
        }
    }
}

/// Why a list of scopes cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("unknown scope '{0}'; scopes are read, write, sessions, admin")]
    Unknown(String),
    #[error("no scopes given; use one or more of read, write, sessions, admin")]
    Empty,
}

/// A set of scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes(u8);

impl Scopes {
    pub fn all() -> Self {
        Scopes(Scope::ALL.iter().map(|s| s.bit()).sum())
    }

    /// Parses a comma-separated list such as `read,write`.
    pub fn parse(text: &str) -> Result<Self, ScopeError> {
        let mut bits = 0;
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let scope = Scope::ALL
                .into_iter()
                .find(|s| s.as_str().eq_ignore_ascii_case(part))
                .ok_or_else(|| ScopeError::Unknown(part.to_owned()))?;
            bits |= scope.bit();
        }
        if bits == 0 {
            return Err(ScopeError::Empty);
        }
        Ok(Scopes(bits))
    }

    /// The most a member with `role` may do, whatever a key says: viewers
    /// read, members also write and run sessions, admins and the owner may
    /// do everything.
    pub fn of_role(role: Role) -> Self {
        match role {
            Role::Viewer => Scopes(Scope::Read.bit()),
            Role::Member => Scopes(Scope::Read.bit() | Scope::Write.bit() | Scope::Sessions.bit()),
            Role::Admin | Role::Owner => Scopes::all(),
        }
    }

    /// The least role that may use `scope` at all (the inverse of
    /// [`Scopes::of_role`]): a tool needing `scope` needs this role too.
    pub fn least_role(scope: Scope) -> Role {
        match scope {
            Scope::Read => Role::Viewer,
            Scope::Write | Scope::Sessions => Role::Member,
            Scope::Admin => Role::Admin,
        }
    }

    /// The least role whose ceiling holds every one of these scopes: a key
    /// with them can be given only to a member with this role or above.
    pub fn least_role_for(self) -> Role {
        Scope::ALL
            .into_iter()
            .filter(|s| self.0 & s.bit() != 0)
            .map(Scopes::least_role)
            .max()
            .unwrap_or(Role::Viewer)
    }

    /// These scopes with what they imply spelled out (admin: all; write or
    /// sessions: read), so that two sets can be intersected.
    fn expanded(self) -> Self {
        Scopes(
            Scope::ALL
                .into_iter()
                .filter(|s| self.allows(*s))
                .map(Scope::bit)
                .sum(),
        )
    }

    /// What these scopes allow that `role` allows too: a key never carries
    /// more than its member's role.
    pub fn within(self, role: Role) -> Self {
        let (have, may) = (self.expanded().0, Scopes::of_role(role).0);
        if have & may == have {
            // Nothing to take away: keep the scopes as the key names them.
            self
        } else {
            Scopes(have & may)
        }
    }

    /// Whether these scopes allow `scope` (admin allows all; write and
    /// sessions include read).
    pub fn allows(self, scope: Scope) -> bool {
        let has = |s: Scope| self.0 & s.bit() != 0;
        has(Scope::Admin)
            || has(scope)
            || (scope == Scope::Read && (has(Scope::Write) || has(Scope::Sessions)))
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Scope::ALL
            .into_iter()
            .filter(|s| self.0 & s.bit() != 0)
            .map(Scope::as_str)
            .collect();
        f.write_str(&names.join(","))
    }
}

/// The caller of a tool: who, in which workspace, with which scopes.
#[derive(Debug, Clone)]
pub struct Principal {
    pub actor: Actor,
    pub workspace_name: String,
    /// The key's (or token's) scopes, already narrowed to what `role` allows.
    pub scopes: Scopes,
    /// The caller's role in the workspace.
    pub role: Role,
    /// When the credentials stop working: the API key's expiry or the JWT's
    /// `exp` (`None`: never). Open streams end at this moment without asking
    /// the store.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Principal {
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.allows(scope)
    }

    /// Whether the caller's role in the workspace is `least` or above
    /// (whatever the key's scopes): see [`Role::at_least`].
    pub fn is_at_least(&self, least: Role) -> bool {
        self.role.at_least(least)
    }

    /// Whether the caller may do what needs `scope` and `role`: roles are
    /// enforced on top of scopes, so both must hold.
    pub fn may(&self, scope: Scope, role: Role) -> bool {
        self.allows(scope) && self.is_at_least(role)
    }

    /// Who this is, for binding sessions and rate limits: the API key, or the
    /// user in the workspace for a JWT.
    pub fn identity(&self) -> String {
        match &self.actor.api_key_id {
            Some(key) => format!("key:{key}"),
            None => format!("user:{}@{}", self.actor.user_id, self.actor.workspace_id),
        }
    }
}

/// Why credentials were refused (or could not be checked).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the API key is not valid: it is unknown, revoked or expired")]
    InvalidKey,
    /// A JWT that is refused, and why.
    #[error(transparent)]
    InvalidToken(#[from] TokenError),
    /// The store could not be asked; nothing is known about the credentials.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The local owner of the SQLite default: all scopes in the default workspace.
pub async fn local_owner(store: &Store) -> Result<Principal, AuthError> {
    let actor = store.ensure_local_owner().await?;
    let workspace = store.workspace(&actor).await?;
    Ok(Principal {
        actor,
        workspace_name: workspace.name,
        scopes: Scopes::all(),
        role: Role::Owner,
        expires_at: None,
    })
}

/// The principal of an API key; fails for unknown, revoked or expired keys.
pub async fn authenticate_key(store: &Store, raw_key: &str) -> Result<Principal, AuthError> {
    let hash = hash_key(raw_key.trim());
    let found = store
        .use_api_key(&hash)
        .await?
        .ok_or(AuthError::InvalidKey)?;
    if !keys::hashes_match(&found.key_hash, &hash) {
        return Err(AuthError::InvalidKey);
    }
    // A key whose member left the workspace acts as no one.
    let role = found
        .member_role
        .as_deref()
        .and_then(|r| Role::parse(r).ok())
        .ok_or(AuthError::InvalidKey)?;
    let scopes = Scopes::parse(&found.key.scopes)
        .map_err(|_| AuthError::InvalidKey)?
        .within(role);
    let actor = Actor {
        user_id: found.key.user_id,
        workspace_id: found.key.workspace_id,
        api_key_id: Some(found.key.id),
        request_id: None,
    };
    let expires_at = found
        .key
        .expires_at
        .as_deref()
        .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
        .map(|at| at.with_timezone(&chrono::Utc));
    let workspace = store.workspace(&actor).await?;
    Ok(Principal {
        actor,
        workspace_name: workspace.name,
        scopes,
        role,
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_imply() {
        let rw = Scopes::parse("read, write").expect("valid");
        assert!(rw.allows(Scope::Read) && rw.allows(Scope::Write) && !rw.allows(Scope::Admin));
        let write_only = Scopes::parse("write").expect("valid");
        assert!(write_only.allows(Scope::Read));
        assert!(
            Scopes::parse("admin")
                .expect("valid")
                .allows(Scope::Sessions)
        );
        assert!(!Scopes::parse("read").expect("valid").allows(Scope::Write));
        assert_eq!(
            Scopes::parse("read,fly"),
            Err(ScopeError::Unknown("fly".to_owned()))
        );
        assert_eq!(Scopes::parse(" , "), Err(ScopeError::Empty));
        assert_eq!(
            ScopeError::Unknown("fly".to_owned()).to_string(),
            "unknown scope 'fly'; scopes are read, write, sessions, admin"
        );
        assert_eq!(rw.to_string(), "read,write");
    }

    #[test]
    fn roles_narrow_scopes() {
        let admin_key = Scopes::parse("admin").expect("valid");
        let viewer = admin_key.within(Role::Viewer);
        assert!(viewer.allows(Scope::Read) && !viewer.allows(Scope::Write));
        let member = admin_key.within(Role::Member);
        assert!(member.allows(Scope::Write) && member.allows(Scope::Sessions));
        assert!(!member.allows(Scope::Admin));
        assert!(admin_key.within(Role::Admin).allows(Scope::Admin));
        let rw = Scopes::parse("read,write").expect("valid");
        assert!(!rw.within(Role::Owner).allows(Scope::Admin));
        assert_eq!(rw.within(Role::Member).to_string(), "read,write");
    }
}
