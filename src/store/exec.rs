//! The executor boundary: a store method builds a list of statements and an
//! executor runs the list atomically, in one round trip, and hands back the
//! rows of every statement. SQLite (local file) and D1 (HTTP) both sit behind
//! [`Executor`], so the SQL is written once.

use std::{borrow::Cow, future::Future, pin::Pin, sync::Arc};

use serde::{Serialize, de::DeserializeOwned};
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
impl From<f64> for Param {
    fn from(value: f64) -> Self {
        Param::Real(value)
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

/// A statement with its parameters, bound in order: the first is `?1`. A
/// statement that uses a value twice names it (`?3 … ?3`) and binds it once;
/// SQLite and D1 both take numbered parameters.
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

/// A result row: its values in column order, beside the column names of its
/// statement, which every row of a result shares. No map per row: SQLite
/// hands values by column index, and a row is decoded into its typed struct
/// straight from here ([`StmtResult::all`]), without a JSON tree between.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    columns: Arc<[String]>,
    values: Vec<Json>,
}

static NULL: Json = Json::Null;

impl Row {
    /// A row of `values`, one per name in `columns`, in that order.
    pub fn new(columns: Arc<[String]>, values: Vec<Json>) -> Self {
        Row { columns, values }
    }

    /// Rows from JSON objects (D1 answers a statement's rows as objects).
    /// Rows with the same columns share one list of names, as SQLite's do.
    pub fn from_maps(maps: Vec<Map<String, Json>>) -> Vec<Row> {
        let mut columns: Arc<[String]> = Arc::from(Vec::new());
        maps.into_iter()
            .map(|map| {
                let (names, values): (Vec<String>, Vec<Json>) = map.into_iter().unzip();
                if *columns != *names {
                    columns = names.into();
                }
                Row {
                    columns: Arc::clone(&columns),
                    values,
                }
            })
            .collect()
    }

    /// The value of `column`; `None` when the row has no such column.
    pub fn get(&self, column: &str) -> Option<&Json> {
        self.columns
            .iter()
            .position(|name| name == column)
            .and_then(|at| self.values.get(at))
    }

    /// `(column, value)` pairs in column order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Json)> {
        self.columns.iter().map(String::as_str).zip(&self.values)
    }
}

impl std::ops::Index<&str> for Row {
    type Output = Json;

    /// The value of `column`, `null` when there is no such column (as for
    /// a JSON value).
    fn index(&self, column: &str) -> &Json {
        self.get(column).unwrap_or(&NULL)
    }
}

/// A row reads as a map of column → value, so a typed struct decodes from
/// it directly.
impl<'de> serde::Deserializer<'de> for &'de Row {
    type Error = serde_json::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_map(RowAccess { row: self, at: 0 })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct RowAccess<'de> {
    row: &'de Row,
    at: usize,
}

impl<'de> serde::de::MapAccess<'de> for RowAccess<'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        match self.row.columns.get(self.at) {
            Some(name) => seed
                .deserialize(serde::de::value::BorrowedStrDeserializer::new(name))
                .map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        let value = self.row.values.get(self.at).unwrap_or(&NULL);
        self.at += 1;
        seed.deserialize(value)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.row.values.len().saturating_sub(self.at))
    }
}

/// What one statement produced.
#[derive(Debug, Default, Clone)]
pub struct StmtResult {
    pub rows: Vec<Row>,
    /// Rows changed by an INSERT/UPDATE/DELETE.
    pub changes: u64,
}

impl StmtResult {
    /// Every row, decoded into `T`.
    pub fn all<T: DeserializeOwned>(&self) -> Result<Vec<T>, StoreError> {
        self.rows.iter().map(decode_row).collect()
    }

    /// Every row, decoded into `T` by moving its values: a text column
    /// becomes the struct's `String` without a second copy.
    pub fn into_all<T: DeserializeOwned>(self) -> Result<Vec<T>, StoreError> {
        self.rows
            .into_iter()
            .map(|row| {
                T::deserialize(OwnedRow {
                    columns: row.columns,
                    values: row.values.into_iter(),
                    at: 0,
                })
                .map_err(decode_error)
            })
            .collect()
    }

    /// The first row, decoded into `T`; `None` when there is none.
    pub fn first<T: DeserializeOwned>(&self) -> Result<Option<T>, StoreError> {
        self.rows.first().map(decode_row).transpose()
    }

    /// An integer column of the first row; 0 when absent (existence checks).
    pub fn int(&self, column: &str) -> i64 {
        self.rows
            .first()
            .and_then(|row| row.get(column))
            .and_then(Json::as_i64)
            .unwrap_or(0)
    }

    /// A text column of the first row.
    pub fn text(&self, column: &str) -> Option<String> {
        self.rows
            .first()
            .and_then(|row| row.get(column))
            .and_then(Json::as_str)
            .map(str::to_owned)
    }
}

fn decode_row<T: DeserializeOwned>(row: &Row) -> Result<T, StoreError> {
    T::deserialize(row).map_err(decode_error)
}

fn decode_error(e: serde_json::Error) -> StoreError {
    StoreError::Decode {
        message: "unexpected data from the database".to_owned(),
        source: Some(e.into()),
    }
}

/// A row taken apart as it is decoded ([`StmtResult::into_all`]): the
/// same map of column → value as `&Row`, its values moved out.
struct OwnedRow {
    columns: Arc<[String]>,
    values: std::vec::IntoIter<Json>,
    at: usize,
}

impl<'de> serde::Deserializer<'de> for OwnedRow {
    type Error = serde_json::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_map(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de> serde::de::MapAccess<'de> for OwnedRow {
    type Error = serde_json::Error;

    fn next_key_seed<K: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        match self.columns.get(self.at) {
            Some(name) => seed
                .deserialize(serde::de::value::StrDeserializer::<serde_json::Error>::new(
                    name,
                ))
                .map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        self.at += 1;
        seed.deserialize(self.values.next().unwrap_or(Json::Null))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.values.len())
    }
}

/// A type decoded from a row by column position: the hot rows (a page of
/// tasks, a board) skip serde's matching of every column name against every
/// field name, row after row. The columns' positions are found once per
/// result ([`StmtResult::into_rows`]), by name, so D1's rows (whose columns
/// come in its own order) decode the same as SQLite's.
pub trait FromRow: Sized {
    /// The columns it reads, in the order [`FromRow::from_cells`] takes them.
    const COLUMNS: &'static [&'static str];

    /// Decodes one row from its cells, one per [`FromRow::COLUMNS`] entry in
    /// that order, moved out of the row; `None` when a cell has the wrong
    /// type.
    fn from_cells(cells: std::vec::IntoIter<Json>) -> Option<Self>;
}

/// A text cell, moved out.
pub fn cell_text(cell: Option<Json>) -> Option<String> {
    match cell? {
        Json::String(text) => Some(text),
        _ => None,
    }
}

/// A text cell that may be NULL: `Some(None)` for NULL, `None` for another
/// type.
pub fn cell_opt_text(cell: Option<Json>) -> Option<Option<String>> {
    match cell? {
        Json::Null => Some(None),
        Json::String(text) => Some(Some(text)),
        _ => None,
    }
}

/// An integer cell.
pub fn cell_int(cell: Option<Json>) -> Option<i64> {
    cell?.as_i64()
}

impl StmtResult {
    /// Every row, decoded into `T` by column position (see [`FromRow`]).
    pub fn into_rows<T: FromRow>(self) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::with_capacity(self.rows.len());
        // The positions of T's columns in the rows' columns, worked out again
        // only when a row's columns differ from the previous row's (rows of
        // one statement share them); `None` when they are T's, in T's order.
        let mut known: Option<(Arc<[String]>, Positions)> = None;
        for row in self.rows {
            let same = known
                .as_ref()
                .is_some_and(|(columns, _)| Arc::ptr_eq(columns, &row.columns));
            if !same {
                known = Some((Arc::clone(&row.columns), positions::<T>(&row.columns)?));
            }
            let positions = known.as_ref().and_then(|(_, positions)| positions.as_ref());
            let cells = match positions {
                None => row.values,
                Some(positions) => {
                    let mut values = row.values;
                    positions
                        .iter()
                        .map(|&at| values.get_mut(at).map(Json::take).unwrap_or(Json::Null))
                        .collect()
                }
            };
            out.push(
                T::from_cells(cells.into_iter())
                    .ok_or_else(|| StoreError::decode("a cell of the wrong type"))?,
            );
        }
        Ok(out)
    }
}

/// Where each of a [`FromRow`] type's columns is in a result's columns:
/// `None` when they are its own, in its order.
type Positions = Option<Vec<usize>>;

/// Where each of `T`'s columns is in `columns`: `None` when `columns` are
/// exactly `T`'s, in order; an error naming the first one missing.
fn positions<T: FromRow>(columns: &[String]) -> Result<Positions, StoreError> {
    if columns.len() == T::COLUMNS.len()
        && columns
            .iter()
            .zip(T::COLUMNS)
            .all(|(a, b)| a.as_str() == *b)
    {
        return Ok(None);
    }
    T::COLUMNS
        .iter()
        .map(|name| {
            columns
                .iter()
                .position(|column| column == name)
                .ok_or_else(|| StoreError::decode(format_args!("no column {name}")))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Where one statement's result is in its batch's [`Results`]: handed out by
/// [`Batch::push`], so a result is read by the statement that made it, not
/// by counting positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultHandle(usize);

/// The statements of one round trip, in the order they run.
#[derive(Debug, Default)]
pub struct Batch {
    stmts: Vec<Stmt>,
}

impl Batch {
    pub fn new() -> Self {
        Batch::default()
    }

    /// Appends a statement; its result is read back with the handle.
    pub fn push(&mut self, stmt: Stmt) -> ResultHandle {
        self.stmts.push(stmt);
        ResultHandle(self.stmts.len() - 1)
    }

    pub fn into_stmts(self) -> Vec<Stmt> {
        self.stmts
    }
}

/// What a batch produced, read by [`ResultHandle`].
#[derive(Debug, Default)]
pub struct Results {
    results: Vec<StmtResult>,
}

static EMPTY: StmtResult = StmtResult {
    rows: Vec::new(),
    changes: 0,
};

impl Results {
    pub fn new(results: Vec<StmtResult>) -> Self {
        Results { results }
    }

    /// The result of the statement `handle` names (an empty one if the
    /// executor answered fewer results than statements: it checks that).
    pub fn get(&self, handle: ResultHandle) -> &StmtResult {
        self.results.get(handle.0).unwrap_or(&EMPTY)
    }

    /// Takes the result out, leaving an empty one.
    pub fn take(&mut self, handle: ResultHandle) -> StmtResult {
        self.results
            .get_mut(handle.0)
            .map(std::mem::take)
            .unwrap_or_default()
    }

    pub fn rows(&self, handle: ResultHandle) -> &[Row] {
        &self.get(handle).rows
    }

    /// Rows the statement changed.
    pub fn changes(&self, handle: ResultHandle) -> u64 {
        self.get(handle).changes
    }

    pub fn all<T: DeserializeOwned>(&self, handle: ResultHandle) -> Result<Vec<T>, StoreError> {
        self.get(handle).all()
    }

    pub fn first<T: DeserializeOwned>(
        &self,
        handle: ResultHandle,
    ) -> Result<Option<T>, StoreError> {
        self.get(handle).first()
    }

    /// [`Results::all`], moving the rows out ([`StmtResult::into_all`]).
    pub fn take_all<T: DeserializeOwned>(
        &mut self,
        handle: ResultHandle,
    ) -> Result<Vec<T>, StoreError> {
        self.take(handle).into_all()
    }

    /// Takes the result out and decodes its rows by column position.
    pub fn take_rows<T: FromRow>(&mut self, handle: ResultHandle) -> Result<Vec<T>, StoreError> {
        self.take(handle).into_rows()
    }

    pub fn int(&self, handle: ResultHandle, column: &str) -> i64 {
        self.get(handle).int(column)
    }

    pub fn text(&self, handle: ResultHandle, column: &str) -> Option<String> {
        self.get(handle).text(column)
    }
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

    /// Which backend this is.
    fn kind(&self) -> Backend;
}

/// The executor behind a store: decisions that depend on the cost of a
/// round trip (poll intervals) match on this, never on its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A local SQLite file.
    Sqlite,
    /// Cloudflare D1 over its HTTP API.
    D1,
}

impl Backend {
    /// A short name for logs and errors ("sqlite", "d1").
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::D1 => "d1",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
