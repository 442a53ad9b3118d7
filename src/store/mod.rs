//! The data layer. Store methods build SQL statements and hand them, as one
//! batch, to an [`Executor`] (a local SQLite file, or Cloudflare D1 over HTTP):
//! one round trip per operation, and every mutation writes its `audit_logs`
//! row in the same batch. The store knows nothing of MCP or transports.
//!
//! Every query is scoped by the caller's workspace ([`Actor`]): an id from
//! another workspace behaves exactly like an id that does not exist.

/// Column lists, as macros so the statements that use them are fixed texts
/// built at compile time (`concat!`), never strings edited at run time.
macro_rules! task_columns {
    () => {
        "id, project_id, parent_task_id, title, description, status, position, assignee, \
         assigned_at, assigned_by, created_by, created_at, updated_at"
    };
}

mod activity;
mod approvals;
mod audit;
mod board_version;
mod comments;
pub mod d1;
mod enhance;
mod error;
pub mod exec;
mod github;
mod ids;
mod keys;
mod members;
pub mod migrate;
mod model;
pub mod page;
mod projects;
mod sessions;
pub mod sqlite;
mod tasks;
mod templates;
mod workspaces;

use std::sync::Arc;

use chrono::{SecondsFormat, Utc};

pub use activity::{ActivityEntry, ActivityFilter, ActivityPage, ActivityScope};
pub use approvals::{Approval, ApprovalDecision, ApprovalFilter, ApprovalRequest, ApprovalStatus};
pub use comments::{Comment, CommentPage, LATEST_COMMENTS, MAX_COMMENT};
pub use enhance::{CacheEntry, PromptInputs, TaskContext, Usage};
pub use error::{Cause, Entity, Result, StoreError};
pub use exec::{
    Backend, Batch, Executor, Mode, Param, ResultHandle, Results, Row, Stmt, StmtResult,
};
pub use github::{
    GitHubConnection, LinkedRepository, NewGitHubConnection, PullRequestLink, PullRequestMove,
    PullRequestSource, ResealedToken, StateSource,
};
pub use ids::{
    ApprovalId, CommentId, KeyId, ProcessId, ProjectId, SessionId, TaskId, UserId, WorkspaceId,
};
pub use keys::{ApiKeyRecord, KeyLookup, MemberKey, NewApiKey};
pub use members::{Role, normalize_email};
pub use model::*;
pub use page::{
    ActivityKey, ApprovalKey, CommentKey, Offset, Page, ProjectKey, SessionKey, TaskKey,
};
pub use sessions::ExpiredWorktree;
pub use sessions::{
    ClaimedTurn, ExecutionProcess, NewSession, ProcessKind, ProcessStatus, RunnerIdentity,
    RunnerScope, RunningOwner, Session, SessionFilter, SessionStatus, TurnOutcome,
};
pub use sessions::{FinalMessageSource, SessionTurn};
pub use sessions::{MergeRecord, MergeSource};
pub use tasks::{BOARD_COLUMN_LIMIT, SUBTASK_LIMIT};
pub use templates::{NewTemplate, Suggestion, TemplateChanges, TemplateRecord};

/// Who is acting: the scope of every query and the author of every audit row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: UserId,
    pub workspace_id: WorkspaceId,
    pub api_key_id: Option<KeyId>,
    pub request_id: Option<String>,
}

/// The kanban data store over one executor.
#[derive(Clone)]
pub struct Store {
    exec: Arc<dyn Executor>,
}

impl Store {
    pub fn new(exec: Arc<dyn Executor>) -> Self {
        Store { exec }
    }

    /// Opens the SQLite file at `path` and brings its schema up to date.
    pub async fn open_sqlite(path: &std::path::Path) -> Result<Self> {
        let store = Store::new(Arc::new(sqlite::SqliteExecutor::open(path)?));
        store.migrate().await?;
        Ok(store)
    }

    /// Connects to a Cloudflare D1 database (no request is made yet).
    pub fn d1(settings: d1::D1Settings) -> Result<Self> {
        Ok(Store::new(Arc::new(d1::D1Executor::new(settings)?)))
    }

    /// Applies pending migrations; returns the names applied.
    pub async fn migrate(&self) -> Result<Vec<&'static str>> {
        migrate::apply(self.exec.as_ref()).await
    }

    /// A trivial read, to tell whether the database answers (health checks).
    pub async fn ping(&self) -> Result<()> {
        self.read_one(Stmt::new("SELECT 1 AS ok")).await.map(|_| ())
    }

    pub fn backend(&self) -> &'static str {
        self.exec.kind().as_str()
    }

    /// Which executor runs this store's SQL.
    pub fn kind(&self) -> Backend {
        self.exec.kind()
    }

    /// Runs a read batch in one round trip.
    async fn read(&self, batch: Batch) -> Result<Results> {
        self.exec
            .batch(Mode::Read, batch.into_stmts())
            .await
            .map(Results::new)
    }

    /// Runs a write batch as one transaction, in one round trip.
    async fn write(&self, batch: Batch) -> Result<Results> {
        self.exec
            .batch(Mode::Write, batch.into_stmts())
            .await
            .map(Results::new)
    }

    /// Runs one read statement.
    async fn read_one(&self, stmt: Stmt) -> Result<StmtResult> {
        let mut batch = Batch::new();
        let handle = batch.push(stmt);
        Ok(self.read(batch).await?.take(handle))
    }

    /// Runs one write statement.
    async fn write_one(&self, stmt: Stmt) -> Result<StmtResult> {
        let mut batch = Batch::new();
        let handle = batch.push(stmt);
        Ok(self.write(batch).await?.take(handle))
    }
}

/// A new time-ordered id (UUID v7).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Now, in the one timestamp form the schema uses.
pub fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A LIKE pattern that matches `text` anywhere, literally: `%`, `_` and `\\`
/// are escaped (use with `ESCAPE '\\'`).
fn like_contains(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::like_contains;

    #[test]
    fn like_pattern_escapes_wildcards() {
        assert_eq!(like_contains("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
