//! The data layer. Store methods build SQL statements and hand them, as one
//! batch, to an [`Executor`] (a local SQLite file, or Cloudflare D1 over HTTP):
//! one round trip per operation, and every mutation writes its `audit_logs`
//! row in the same batch. The store knows nothing of MCP or transports.
//!
//! Every query is scoped by the caller's workspace ([`Actor`]): an id from
//! another workspace behaves exactly like an id that does not exist.

pub mod d1;
mod enhance;
pub mod exec;
mod keys;
pub mod migrate;
mod model;
mod projects;
mod sessions;
pub mod sqlite;
mod tasks;
mod templates;
mod workspaces;

use std::sync::Arc;

use chrono::{SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use serde_json::json;

pub use enhance::{CacheEntry, PromptInputs, TaskContext, Usage};
pub use exec::{Executor, Mode, Param, Row, Stmt, StmtResult};
pub use keys::{ApiKeyRecord, KeyLookup, NewApiKey};
pub use model::*;
pub use projects::{decode_project_cursor, encode_project_cursor};
pub use sessions::{
    ClaimedTurn, ExecutionProcess, NewSession, ProcessKind, ProcessStatus, RunnerIdentity,
    RunnerScope, RunningOwner, Session, SessionFilter, SessionStatus, TurnOutcome,
};
pub use tasks::{BOARD_COLUMN_LIMIT, SUBTASK_LIMIT, decode_cursor, encode_cursor};
pub use templates::{NewTemplate, Suggestion, TemplateChanges, TemplateRecord};

/// What went wrong in the data layer. Messages name the thing and say what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{kind} {id} not found in this workspace")]
    NotFound { kind: &'static str, id: String },
    /// The request conflicts with what is stored (a duplicate name, a cycle).
    #[error("{0}")]
    Conflict(String),
    /// A value the caller gave is not acceptable.
    #[error("{0}")]
    Invalid(String),
    #[error("constraint violated: {0}")]
    Constraint(String),
    #[error("SQL error: {0}")]
    Sql(String),
    #[error("{0}")]
    Migration(String),
    /// The database cannot be reached or opened right now.
    #[error("{0}")]
    Unavailable(String),
    #[error("unexpected data from the database: {0}")]
    Decode(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Who is acting: the scope of every query and the author of every audit row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: String,
    pub workspace_id: String,
    pub api_key_id: Option<String>,
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
        self.read(vec![Stmt::new("SELECT 1 AS ok")])
            .await
            .map(|_| ())
    }

    pub fn backend(&self) -> &'static str {
        self.exec.kind()
    }

    async fn read(&self, stmts: Vec<Stmt>) -> Result<Vec<StmtResult>> {
        self.exec.batch(Mode::Read, stmts).await
    }

    async fn write(&self, stmts: Vec<Stmt>) -> Result<Vec<StmtResult>> {
        self.exec.batch(Mode::Write, stmts).await
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

/// Decodes every row of a statement result into `T`.
fn decode_all<T: DeserializeOwned>(result: Option<&StmtResult>) -> Result<Vec<T>> {
    result
        .map(|r| r.rows.iter().map(decode_row).collect())
        .unwrap_or_else(|| Ok(Vec::new()))
}

fn decode_first<T: DeserializeOwned>(result: Option<&StmtResult>) -> Result<Option<T>> {
    result
        .and_then(|r| r.rows.first())
        .map(decode_row)
        .transpose()
}

fn decode_row<T: DeserializeOwned>(row: &Row) -> Result<T> {
    serde_json::from_value(serde_json::Value::Object(row.clone()))
        .map_err(|e| StoreError::Decode(e.to_string()))
}

/// Reads an integer column of the first row (used by existence checks).
fn first_int(result: Option<&StmtResult>, column: &str) -> i64 {
    result
        .and_then(|r| r.rows.first())
        .and_then(|row| row.get(column))
        .and_then(|v| v.as_i64())
        .unwrap_or(0)
}

/// Reads a text column of the first row.
fn first_str(result: Option<&StmtResult>, column: &str) -> Option<String> {
    result
        .and_then(|r| r.rows.first())
        .and_then(|row| row.get(column))
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

/// Rows changed by a statement (0 when the batch had no such statement).
fn changed_rows(result: Option<&StmtResult>) -> u64 {
    result.map_or(0, |r| r.changes)
}

/// The audit row for a mutation, written only when `guard` (an SQL condition
/// with its own parameters) holds at the time the batch runs — so a change that
/// did not happen leaves no record. The id is made here, so a retried batch
/// cannot write it twice.
fn audit(
    actor: &Actor,
    action: &str,
    entity_type: &str,
    entity_id: &str,
    details: serde_json::Value,
    guard: Option<(&'static str, Vec<Param>)>,
) -> Stmt {
    let (condition, guard_params) = guard.unwrap_or(("1", Vec::new()));
    let sql = format!(
        "INSERT INTO audit_logs (id, workspace_id, user_id, api_key_id, action, entity_type, entity_id, details, \
         request_id, created_at) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE {condition} ON CONFLICT DO NOTHING"
    );
    let mut stmt = Stmt::new(sql)
        .bind(new_id())
        .bind(&actor.workspace_id)
        .bind(&actor.user_id)
        .bind(actor.api_key_id.clone())
        .bind(action)
        .bind(entity_type)
        .bind(entity_id)
        .bind(details.to_string())
        .bind(actor.request_id.clone())
        .bind(now());
    stmt.params.extend(guard_params);
    stmt
}

/// Audit details that record which fields a change touched.
fn changed_fields(fields: &[&str]) -> serde_json::Value {
    json!({ "fields": fields })
}
