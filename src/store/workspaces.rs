//! Workspaces, their members, and the local owner used when the server runs
//! on a local SQLite file without an API key.

use super::{
    Actor, Batch, Entity, Member, Result, Stmt, Store, StoreError, UserId, Workspace, WorkspaceId,
    new_id, now,
};

/// Email of the user the local SQLite default runs as.
pub const LOCAL_OWNER_EMAIL: &str = "owner@localhost";
/// Slug of the workspace created on first start.
pub const DEFAULT_WORKSPACE_SLUG: &str = "default";

macro_rules! workspace_columns {
    () => {
        "id, name, slug, created_at"
    };
}

impl Store {
    /// Makes sure the local owner and the default workspace exist (creating
    /// them on first start) and returns the owner acting in that workspace.
    pub async fn ensure_local_owner(&self) -> Result<Actor> {
        let at = now();
        let mut batch = Batch::new();
        batch.push(
            Stmt::new("INSERT INTO users (id, email, name, created_at, updated_at) VALUES (?1, ?2, 'Local owner', ?3, ?3) ON CONFLICT (email) DO NOTHING")
                .bind(new_id()).bind(LOCAL_OWNER_EMAIL).bind(&at),
        );
        batch.push(
            Stmt::new("INSERT INTO workspace_teams (id, name, slug, created_by, created_at, updated_at) \
                 SELECT ?1, 'Default', ?2, u.id, ?3, ?3 FROM users u WHERE u.email = ?4 ON CONFLICT (slug) DO NOTHING")
                .bind(new_id()).bind(DEFAULT_WORKSPACE_SLUG).bind(&at).bind(LOCAL_OWNER_EMAIL),
        );
        batch.push(
            Stmt::new("INSERT INTO workspace_members (workspace_id, user_id, role, created_at) \
                 SELECT w.id, u.id, 'owner', ? FROM workspace_teams w, users u WHERE w.slug = ? AND u.email = ? \
                 ON CONFLICT DO NOTHING")
                .bind(&at).bind(DEFAULT_WORKSPACE_SLUG).bind(LOCAL_OWNER_EMAIL),
        );
        let select = batch.push(
            Stmt::new("SELECT u.id AS user_id, w.id AS workspace_id FROM workspace_teams w, users u WHERE w.slug = ? AND u.email = ?")
                .bind(DEFAULT_WORKSPACE_SLUG).bind(LOCAL_OWNER_EMAIL),
        );
        let results = self.write(batch).await?;
        #[derive(serde::Deserialize)]
        struct Ids {
            user_id: UserId,
            workspace_id: WorkspaceId,
        }
        let ids: Ids = results
            .first(select)?
            .ok_or_else(|| StoreError::decode("the default workspace could not be created"))?;
        Ok(Actor {
            user_id: ids.user_id,
            workspace_id: ids.workspace_id,
            api_key_id: None,
            request_id: None,
        })
    }

    /// The caller's workspace with its members.
    pub async fn workspace(&self, actor: &Actor) -> Result<Workspace> {
        self.workspace_by_id(&actor.workspace_id).await
    }

    async fn workspace_by_id(&self, workspace_id: &WorkspaceId) -> Result<Workspace> {
        let mut batch = Batch::new();
        let team = batch.push(
            Stmt::new(concat!(
                "SELECT ",
                workspace_columns!(),
                " FROM workspace_teams WHERE id = ?"
            ))
            .bind(workspace_id),
        );
        let members = batch.push(
            Stmt::new(
                "SELECT u.id AS user_id, u.name, u.email, m.role FROM workspace_members m \
                 JOIN users u ON u.id = m.user_id WHERE m.workspace_id = ? ORDER BY m.created_at, u.id",
            )
            .bind(workspace_id),
        );
        let results = self.read(batch).await?;
        let mut workspace: Workspace = results
            .first(team)?
            .ok_or_else(|| StoreError::not_found(Entity::Workspace, workspace_id))?;
        workspace.members = results.all::<Member>(members)?;
        Ok(workspace)
    }

    /// Finds a workspace by id or slug (for the operator's command line).
    pub async fn find_workspace(&self, id_or_slug: &str) -> Result<Workspace> {
        let found = self
            .read_one(
                Stmt::new("SELECT id FROM workspace_teams WHERE id = ?1 OR slug = ?1 LIMIT 1")
                    .bind(id_or_slug),
            )
            .await?;
        let id = found
            .text("id")
            .ok_or_else(|| StoreError::not_found(Entity::Workspace, id_or_slug))?;
        self.workspace_by_id(&WorkspaceId::from(id)).await
    }

    /// Every workspace in the database (for the operator).
    pub async fn list_all_workspaces(&self) -> Result<Vec<Workspace>> {
        self.read_one(Stmt::new(concat!(
            "SELECT ",
            workspace_columns!(),
            " FROM workspace_teams ORDER BY created_at, id"
        )))
        .await?
        .all()
    }

    /// The workspace's owner (the user a new key acts as unless told otherwise).
    pub async fn workspace_owner(&self, workspace_id: &WorkspaceId) -> Result<UserId> {
        self.read_one(
            Stmt::new(
                "SELECT user_id FROM workspace_members WHERE workspace_id = ? \
                 ORDER BY CASE role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END, created_at LIMIT 1",
            )
            .bind(workspace_id),
        )
        .await?
        .text("user_id")
            .map(UserId::from)
            .ok_or_else(|| StoreError::Invalid(format!("workspace {workspace_id} has no members")))
    }

    /// Creates a workspace with `owner_email` as its owner (creating the user if
    /// needed). Used to set up teams and, in tests, a second workspace.
    pub async fn create_workspace(
        &self,
        name: &str,
        slug: &str,
        owner_email: &str,
        owner_name: &str,
    ) -> Result<Actor> {
        let at = now();
        let workspace_id = WorkspaceId::generate();
        let mut batch = Batch::new();
        batch.push(
            Stmt::new("INSERT INTO users (id, email, name, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (email) DO NOTHING")
                .bind(new_id()).bind(owner_email).bind(owner_name).bind(&at),
        );
        batch.push(
            Stmt::new("INSERT INTO workspace_teams (id, name, slug, created_by, created_at, updated_at) \
                 SELECT ?1, ?2, ?3, u.id, ?4, ?4 FROM users u WHERE u.email = ?5 ON CONFLICT (slug) DO NOTHING")
                .bind(&workspace_id).bind(name).bind(slug).bind(&at).bind(owner_email),
        );
        batch.push(
            Stmt::new("INSERT INTO workspace_members (workspace_id, user_id, role, created_at) \
                 SELECT ?1, u.id, 'owner', ?2 FROM users u WHERE u.email = ?3 AND EXISTS (SELECT 1 FROM workspace_teams WHERE id = ?1) \
                 ON CONFLICT DO NOTHING")
                .bind(&workspace_id).bind(&at).bind(owner_email),
        );
        let select = batch.push(
            Stmt::new("SELECT u.id AS user_id, w.id AS workspace_id FROM workspace_teams w, users u WHERE w.id = ? AND u.email = ?")
                .bind(&workspace_id).bind(owner_email),
        );
        let results = self.write(batch).await?;
        #[derive(serde::Deserialize)]
        struct Ids {
            user_id: UserId,
            workspace_id: WorkspaceId,
        }
        let ids: Ids = results.first(select)?.ok_or_else(|| {
            StoreError::Conflict(format!("a workspace with slug '{slug}' already exists"))
        })?;
        Ok(Actor {
            user_id: ids.user_id,
            workspace_id: ids.workspace_id,
            api_key_id: None,
            request_id: None,
        })
    }
}
