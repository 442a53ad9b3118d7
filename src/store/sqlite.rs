//! The SQLite executor: a local database file in WAL mode. Writes go through
//! one connection (SQLite has one writer anyway); reads use a small pool of
//! reader connections so they never wait behind a write. All SQLite calls run
//! on tokio's blocking pool, never on the async runtime's threads.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use rusqlite::{Connection, OpenFlags, TransactionBehavior, types::ValueRef};
use serde_json::Value as Json;

use super::{
    StoreError,
    exec::{BoxFuture, Executor, Mode, Param, Row, Stmt, StmtResult},
};

/// How long a connection waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// The most reader connections: as many reads run at once, each on a kept
/// connection. More concurrent reads wait for one to be free instead of
/// opening (and preparing every statement on) a connection that is closed
/// after one use: with 32 HTTP clients and 16 kept connections, that churn
/// opened a connection for about one read in a hundred.
const MAX_READERS: usize = 16;

pub struct SqliteExecutor {
    path: Arc<PathBuf>,
    writer: Arc<Mutex<Connection>>,
    /// Idle reader connections; at most [`SqliteExecutor::reading`]'s
    /// permits exist, open or idle.
    readers: Arc<Mutex<Vec<Connection>>>,
    /// One permit per reader connection: a read holds one while it runs.
    reading: Arc<tokio::sync::Semaphore>,
    /// Reader connections opened so far (kept ones are opened once).
    opened_readers: Arc<std::sync::atomic::AtomicUsize>,
}

impl SqliteExecutor {
    /// Opens (creating if needed) the database file at `path`.
    /// The file and its `-wal` and `-shm` companions are readable and
    /// writable by this OS user only (0600): they hold the board and the
    /// API keys' hashes.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        make_private(path, true)?;
        let writer = open_connection(path, false)?;
        // SQLite gives the -wal and -shm files the database file's mode;
        // ones left by an older version are tightened too.
        for suffix in ["-wal", "-shm"] {
            let mut companion = path.as_os_str().to_owned();
            companion.push(suffix);
            make_private(Path::new(&companion), false)?;
        }
        // Enough to keep every core busy with reads while some wait for the
        // disk; not more threads than that on SQLite at once.
        let readers = std::thread::available_parallelism()
            .map_or(4, |cores| cores.get() * 4)
            .clamp(4, MAX_READERS);
        Ok(SqliteExecutor {
            path: Arc::new(path.to_owned()),
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(Mutex::new(Vec::with_capacity(readers))),
            reading: Arc::new(tokio::sync::Semaphore::new(readers)),
            opened_readers: Arc::default(),
        })
    }
}

/// Makes `path` private to this OS user (0600): creates it so when `create`
/// and it is missing, tightens it when it is open to others.
fn make_private(path: &Path, create: bool) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let failed = |e: std::io::Error| {
            StoreError::unavailable_by(
                format!(
                    "cannot make SQLite database file {} private to this user",
                    path.display()
                ),
                e,
            )
        };
        match std::fs::metadata(path) {
            Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                    .map_err(failed)?;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                match std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                {
                    Ok(_) => {}
                    // Another process made it first: it made it private too.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(failed(e)),
                }
            }
            // Missing companions, or a path SQLite will report on itself.
            Err(_) => {}
        }
    }
    #[cfg(not(unix))]
    let _ = (path, create);
    Ok(())
}

fn open_connection(path: &Path, read_only: bool) -> Result<Connection, StoreError> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags).map_err(|e| {
        StoreError::unavailable_by(format!("cannot open SQLite database {}", path.display()), e)
    })?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db_error)?;
    // WAL lets readers run beside the writer; synchronous=FULL makes every
    // acknowledged commit durable (fsync of the WAL), not only crash-safe.
    if !read_only {
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db_error)?;
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(db_error)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(db_error)?;
    // Without the query planner's stability guarantee SQLite may plan a
    // statement for the values bound to it, and then compiles it again on
    // the first step after any of those parameters is bound anew: list_tasks'
    // filter (`?N IS NULL OR …`, `LIKE ?6`, the keyset bound) made each call
    // parse and plan its count and page queries again despite the statement
    // cache, a fifth of the server's time under load. With it, one plan per
    // statement, made once.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map_err(db_error)?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves a connection that is still usable:
    // SQLite rolls back the unfinished transaction on the next BEGIN.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn db_error(err: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(code, message) = &err {
        if code.code == rusqlite::ErrorCode::ConstraintViolation {
            return StoreError::Constraint(message.clone().unwrap_or_else(|| err.to_string()));
        }
        if matches!(
            code.code,
            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
        ) {
            return StoreError::unavailable_by("database is busy", err);
        }
    }
    StoreError::Sql {
        message: "SQL error".to_owned(),
        source: Some(err.into()),
    }
}

fn run_batch(
    conn: &mut Connection,
    mode: Mode,
    stmts: &[Stmt],
) -> Result<Vec<StmtResult>, StoreError> {
    if mode == Mode::Read {
        return run_read(conn, stmts);
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_error)?;
    let mut results = Vec::with_capacity(stmts.len());
    for stmt in stmts {
        results.push(run_stmt(&tx, stmt)?);
    }
    tx.commit().map_err(db_error)?;
    Ok(results)
}

/// A read batch. One statement is atomic on its own (SQLite gives it its
/// own read transaction), so it runs without `BEGIN`/`COMMIT`; several run
/// in one deferred transaction, so they see one snapshot. `BEGIN`, `COMMIT`
/// and `ROLLBACK` are cached statements like the rest: rusqlite's
/// `Transaction` would parse them as text on every batch.
fn run_read(conn: &Connection, stmts: &[Stmt]) -> Result<Vec<StmtResult>, StoreError> {
    if let [stmt] = stmts {
        return Ok(vec![run_stmt(conn, stmt)?]);
    }
    let control = |sql: &str| {
        conn.prepare_cached(sql)
            .and_then(|mut stmt| stmt.raw_execute())
            .map_err(db_error)
    };
    control("BEGIN DEFERRED")?;
    let mut results = Vec::with_capacity(stmts.len());
    for stmt in stmts {
        match run_stmt(conn, stmt) {
            Ok(result) => results.push(result),
            Err(error) => {
                // Nothing was written; the rollback only ends the read.
                let _ = control("ROLLBACK");
                return Err(error);
            }
        }
    }
    if let Err(error) = control("COMMIT") {
        let _ = control("ROLLBACK");
        return Err(error);
    }
    Ok(results)
}

fn run_stmt(conn: &Connection, stmt: &Stmt) -> Result<StmtResult, StoreError> {
    let mut prepared = conn.prepare_cached(&stmt.sql).map_err(db_error)?;
    for (index, param) in stmt.params.iter().enumerate() {
        let at = index + 1;
        match param {
            Param::Null => prepared.raw_bind_parameter(at, rusqlite::types::Null),
            Param::Int(v) => prepared.raw_bind_parameter(at, v),
            Param::Real(v) => prepared.raw_bind_parameter(at, v),
            Param::Text(v) => prepared.raw_bind_parameter(at, v.as_str()),
        }
        .map_err(db_error)?;
    }
    let columns: Arc<[String]> = prepared.column_names().map(str::to_owned).collect();
    let mut rows_out = Vec::new();
    {
        let mut rows = prepared.raw_query();
        while let Some(row) = rows.next().map_err(db_error)? {
            let mut values = Vec::with_capacity(columns.len());
            for index in 0..columns.len() {
                values.push(match row.get_ref(index).map_err(db_error)? {
                    ValueRef::Null => Json::Null,
                    ValueRef::Integer(v) => Json::from(v),
                    ValueRef::Real(v) => Json::from(v),
                    ValueRef::Text(v) => Json::String(text(v)),
                    ValueRef::Blob(v) => Json::String(hex::encode(v)),
                });
            }
            rows_out.push(Row::new(Arc::clone(&columns), values));
        }
    }
    Ok(StmtResult {
        rows: rows_out,
        changes: conn.changes(),
    })
}

/// A text column as a `String`: one copy when it is valid UTF-8 (always, for
/// what this server writes), a lossy one otherwise.
fn text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

impl Executor for SqliteExecutor {
    fn batch(
        &self,
        mode: Mode,
        stmts: Vec<Stmt>,
    ) -> BoxFuture<'_, Result<Vec<StmtResult>, StoreError>> {
        Box::pin(async move {
            match mode {
                Mode::Write => {
                    let writer = Arc::clone(&self.writer);
                    blocking(move || run_batch(&mut lock(&writer), mode, &stmts)).await
                }
                Mode::Read => {
                    let permit = Arc::clone(&self.reading)
                        .acquire_owned()
                        .await
                        // Never closed: the executor owns it.
                        .map_err(|_| StoreError::unavailable("database readers closed"))?;
                    let readers = Arc::clone(&self.readers);
                    let path = Arc::clone(&self.path);
                    let opened = Arc::clone(&self.opened_readers);
                    blocking(move || {
                        let pooled = lock(&readers).pop();
                        let mut conn = match pooled {
                            Some(conn) => conn,
                            None => {
                                opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                open_connection(&path, true)?
                            }
                        };
                        let result = run_batch(&mut conn, mode, &stmts);
                        lock(&readers).push(conn);
                        drop(permit);
                        result
                    })
                    .await
                }
            }
        })
    }

    fn script(&self, sql: String, then: Vec<Stmt>) -> BoxFuture<'_, Result<(), StoreError>> {
        let writer = Arc::clone(&self.writer);
        Box::pin(blocking(move || {
            let mut conn = lock(&writer);
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_error)?;
            tx.execute_batch(&sql).map_err(db_error)?;
            for stmt in &then {
                run_stmt(&tx, stmt)?;
            }
            tx.commit().map_err(db_error)
        }))
    }

    fn kind(&self) -> super::exec::Backend {
        super::exec::Backend::Sqlite
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::unavailable_by("database worker stopped", e))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_statement_keeps_the_sqlite_error_as_its_source() {
        let dir = tempfile::tempdir().expect("temp dir");
        let exec = SqliteExecutor::open(&dir.path().join("t.db")).expect("open");
        let err = exec
            .batch(Mode::Read, vec![Stmt::new("SELECT * FROM no_such_table")])
            .await
            .expect_err("an unknown table is refused");
        let source = std::error::Error::source(&err).expect("a source");
        assert!(
            matches!(
                source.downcast_ref::<super::super::Cause>(),
                Some(super::super::Cause::Sqlite(_))
            ),
            "{source:?}"
        );
        assert_eq!(
            err.full_message(),
            "SQL error: no such table: no_such_table"
        );
    }

    /// The shape of list_tasks' filter: optional filters written as
    /// `?N IS NULL OR …`, bound anew on every call, read in a read batch.
    #[tokio::test]
    async fn rebinding_optional_filters_does_not_recompile_the_statement() {
        let dir = tempfile::tempdir().expect("temp dir");
        let exec = SqliteExecutor::open(&dir.path().join("t.db")).expect("open");
        exec.script(
            "CREATE TABLE t (p TEXT, s TEXT, a TEXT, pos INTEGER, title TEXT);
             CREATE INDEX t_p ON t (p, pos);
             CREATE INDEX t_ps ON t (p, s, pos);
             INSERT INTO t VALUES ('x', 'todo', NULL, 1, 'one'), ('x', 'done', 'u', 2, 'two');"
                .to_owned(),
            Vec::new(),
        )
        .await
        .expect("table");
        let sql = "SELECT COUNT(*) AS n FROM t WHERE p = ?1 \
                   AND (?2 IS NULL OR s IN (SELECT value FROM json_each(?2))) \
                   AND (?3 IS NULL OR a = ?3) \
                   AND (?4 IS NULL OR title LIKE ?4 ESCAPE '\\') \
                   AND pos > ?5 LIMIT ?6";
        for round in 0..4 {
            let filter = |value: &str| {
                if round % 2 == 1 {
                    Param::from(value)
                } else {
                    Param::Null
                }
            };
            let stmt = Stmt::new(sql)
                .bind("x")
                .bind(filter("[\"todo\"]"))
                .bind(filter("u"))
                .bind(filter("o%"))
                .bind(-5)
                .bind(51);
            exec.batch(Mode::Read, vec![stmt]).await.expect("count");
        }
        let reader = lock(&exec.readers).pop().expect("a pooled reader");
        let cached = reader.prepare_cached(sql).expect("cached statement");
        assert_eq!(
            cached.get_status(rusqlite::StatementStatus::RePrepare),
            0,
            "the cached statement was compiled again after its parameters were bound anew"
        );
    }

    /// More concurrent reads than kept connections wait for one instead of
    /// opening a connection that is closed after one use (32 HTTP clients
    /// on 16 kept connections opened one every hundred reads or so).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_reads_reuse_a_fixed_set_of_connections() {
        let dir = tempfile::tempdir().expect("temp dir");
        let exec = Arc::new(SqliteExecutor::open(&dir.path().join("t.db")).expect("open"));
        let kept = exec.reading.available_permits();
        // Long enough that the reads of one round overlap.
        let slow = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 20000) \
                    SELECT COUNT(*) AS n FROM c";
        for _ in 0..3 {
            let reads: Vec<_> = (0..4 * MAX_READERS)
                .map(|_| {
                    let exec = Arc::clone(&exec);
                    tokio::spawn(async move { exec.batch(Mode::Read, vec![Stmt::new(slow)]).await })
                })
                .collect();
            for read in reads {
                read.await.expect("joined").expect("read");
            }
        }
        let opened = exec
            .opened_readers
            .load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            opened <= kept,
            "{opened} reader connections opened for {} reads, {kept} kept",
            12 * MAX_READERS
        );
        assert_eq!(
            lock(&exec.readers).len(),
            opened,
            "every opened reader is kept"
        );
    }

    #[test]
    fn a_file_that_cannot_be_opened_keeps_the_io_error_as_its_source() {
        let dir = tempfile::tempdir().expect("temp dir");
        let err = match SqliteExecutor::open(&dir.path().join("missing/dir/t.db")) {
            Ok(_) => panic!("a database in a missing directory cannot be opened"),
            Err(err) => err,
        };
        assert!(
            matches!(
                err,
                StoreError::Unavailable {
                    source: Some(super::super::Cause::Io(_)),
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            err.full_message()
                .starts_with("cannot make SQLite database file "),
            "{}",
            err.full_message()
        );
    }
}
