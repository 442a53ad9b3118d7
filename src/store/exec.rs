//! The executor boundary: a store method builds a list of statements and an
//! executor runs the list atomically, in one round trip, and hands back the
//! rows of every statement. SQLite (local file) and D1 (HTTP) both sit behind
//! [`Executor`], so the SQL is written once.

use std::{borrow::Cow, future::Future, pin::Pin};

use serde::Serialize;
use serde_json::{Map, Value as Json};

use super::StoreError;

/// One bound parameter. D1 takes JSON scalars, SQLite takes the same four kinds.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Param {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl From<&str> for Param {
    fn from(value: &str) -> Self {
        Param::Text(value.to_owned())
    }
}
impl From<String> for Param {
    fn from(value: String) -> Self {
        Param::Text(value)
    }
}
impl From<&String> for Param {
    fn from(value: &String) -> Self {
        Param::Text(value.clone())
    }
}
impl From<i64> for Param {
    fn from(value: i64) -> Self {
        Param::Int(value)
    }
}
impl From<bool> for Param {
    fn from(value: bool) -> Self {
        Param::Int(i64::from(value))
    }
}
impl<T: Into<Param>> From<Option<T>> for Param {
    fn from(value: Option<T>) -> Self {
        value.map_or(Param::Null, Into::into)
    }
}

/// A statement with its positional (`?`) parameters.
#[derive(Debug, Clone)]
pub struct Stmt {
    pub sql: Cow<'static, str>,
    pub params: Vec<Param>,
}

impl Stmt {
    pub fn new(sql: impl Into<Cow<'static, str>>) -> Self {
        Stmt {
            sql: sql.into(),
            params: Vec::new(),
        }
    }

    /// Appends one parameter (builder style).
    pub fn bind(mut self, param: impl Into<Param>) -> Self {
        self.params.push(param.into());
        self
    }
}

/// A result row: column name → JSON value, the shape D1 returns.
pub type Row = Map<String, Json>;

/// What one statement produced.
#[derive(Debug, Default, Clone)]
pub struct StmtResult {
    pub rows: Vec<Row>,
    /// Rows changed by an INSERT/UPDATE/DELETE.
    pub changes: u64,
}

/// Whether a batch may write. Read batches can run on a reader connection and
/// never take the write lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Read,
    Write,
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs a list of statements as one transaction, in one round trip.
pub trait Executor: Send + Sync + 'static {
    fn batch(
        &self,
        mode: Mode,
        stmts: Vec<Stmt>,
    ) -> BoxFuture<'_, Result<Vec<StmtResult>, StoreError>>;

    /// Runs a whole SQL script (a migration) as one transaction, together with
    /// the statements that follow it (the bookkeeping row).
    fn script(&self, sql: String, then: Vec<Stmt>) -> BoxFuture<'_, Result<(), StoreError>>;

    /// A short name for logs and errors ("sqlite", "d1").
    fn kind(&self) -> &'static str;
}
