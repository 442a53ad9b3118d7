//! The Cloudflare D1 executor: runs a statement batch through D1's HTTP API,
//! `POST {api_base}/accounts/{account}/d1/database/{database}/query` with the
//! body `{"batch":[{"sql","params"},..]}`. D1 runs a batch as one
//! transaction, so a store method costs exactly one HTTP round trip.
//!
//! Failures that may pass are retried: 429 after its `retry-after`, 5xx, D1's
//! transient errors ("Network connection lost", "overloaded", "reset") and
//! broken connections or timeouts, with capped exponential backoff and
//! jitter. A retried write may have committed the first time; that is safe
//! because every insert carries an id made here and tolerates the conflict
//! (`ON CONFLICT DO NOTHING`), and audit rows do the same.
//!
//! Parameters go as JSON: text as strings, NULL as null, integers as numbers.
//! D1 binds a JSON number as REAL; INTEGER columns and numeric comparisons
//! turn it back into the exact integer for every value up to 2^53. Larger
//! integers go as decimal strings, which INTEGER affinity converts losslessly.
//! (A string-only encoding is not safe: `rn <= '100'` compares a number with
//! text and is always true.)
//!
//! The API token is sent only in the `Authorization` header; it never appears
//! in a log line or an error.

use std::{fmt, time::Duration};

use serde::Deserialize;
use serde_json::{Map, Value as Json, json};

use super::{
    StoreError,
    exec::{BoxFuture, Executor, Mode, Param, Row, Stmt, StmtResult},
};

/// D1's limits per statement.
pub const MAX_PARAMS: usize = 100;
pub const MAX_SQL_BYTES: usize = 100 * 1024;
/// The longest `retry-after` honoured; a longer one is cut to this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// Integers beyond this travel as strings (JSON numbers are doubles in D1).
const MAX_EXACT_NUMBER: i64 = 1 << 53;

/// A Cloudflare API token. Its `Debug` and `Display` never show it.
#[derive(Clone)]
pub struct ApiToken(String);

impl ApiToken {
    pub fn new(token: impl Into<String>) -> Self {
        ApiToken(token.into())
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

/// Where the D1 database is and how to talk to it.
#[derive(Debug, Clone)]
pub struct D1Settings {
    /// e.g. `https://api.cloudflare.com/client/v4` (no trailing slash needed).
    pub api_base: String,
    pub account_id: String,
    pub database_id: String,
    pub api_token: ApiToken,
    /// Longest wait for one HTTP request (D1 itself stops a query at 30 s).
    pub timeout: Duration,
    /// Attempts per batch, the first included.
    pub max_attempts: u32,
    /// First backoff delay; it doubles per attempt up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl D1Settings {
    pub const DEFAULT_API_BASE: &'static str = "https://api.cloudflare.com/client/v4";
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
    pub const DEFAULT_BACKOFF_BASE: Duration = Duration::from_millis(200);
    pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(5);
}

pub struct D1Executor {
    client: reqwest::Client,
    url: String,
    settings: D1Settings,
}

impl D1Executor {
    pub fn new(settings: D1Settings) -> Result<Self, StoreError> {
        // reqwest is built without a default TLS crypto provider; use ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("vibe-kanban-mcp/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| StoreError::unavailable_by("cannot set up the HTTP client", e))?;
        let url = format!(
            "{}/accounts/{}/d1/database/{}/query",
            settings.api_base.trim_end_matches('/'),
            settings.account_id,
            settings.database_id
        );
        Ok(D1Executor {
            client,
            url,
            settings,
        })
    }

    /// Sends one batch, retrying what may pass; returns one result per statement.
    async fn run(&self, stmts: &[Stmt]) -> Result<Vec<StmtResult>, StoreError> {
        if stmts.is_empty() {
            return Ok(Vec::new());
        }
        for stmt in stmts {
            check_limits(stmt)?;
        }
        let body = serde_json::to_vec(&json!({
            "batch": stmts.iter().map(|s| json!({
                "sql": s.sql,
                "params": s.params.iter().map(param_json).collect::<Vec<_>>(),
            })).collect::<Vec<_>>()
        }))
        .map_err(|e| StoreError::decode_by("cannot encode the batch", e))?;

        let attempts = self.settings.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            let outcome = self.attempt(body.clone(), stmts.len()).await;
            let (reason, wait) = match outcome {
                Attempt::Done(result) => return result,
                Attempt::Retry { reason, after } => (reason, after),
            };
            if attempt >= attempts {
                let plural = if attempts == 1 { "" } else { "s" };
                return Err(StoreError::unavailable(format!(
                    "Cloudflare D1 did not answer after {attempts} attempt{plural} (last: {reason}); \
                     check https://www.cloudflarestatus.com and try again"
                )));
            }
            let delay = wait.unwrap_or_else(|| self.backoff(attempt));
            tracing::warn!(attempt, delay_ms = delay.as_millis() as u64, %reason, "D1 request failed; retrying");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn attempt(&self, body: Vec<u8>, expected: usize) -> Attempt {
        let sent = self
            .client
            .post(&self.url)
            .bearer_auth(&self.settings.api_token.0)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(err) => return Attempt::retry(describe_transport(&err), None),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|secs| Duration::from_secs(secs).min(MAX_RETRY_AFTER));
        let text = match response.text().await {
            // Everything below may quote the body in an error message, and
            // a body may repeat the token it was sent.
            Ok(text) => redact(&text, &self.settings.api_token.0),
            Err(err) => return Attempt::retry(describe_transport(&err), None),
        };
        self.judge(status, retry_after, &text, expected)
    }

    /// What one answer of D1 means: results, an error to report, or a
    /// retry (429, a transient error, a server error).
    fn judge(
        &self,
        status: reqwest::StatusCode,
        retry_after: Option<Duration>,
        text: &str,
        expected: usize,
    ) -> Attempt {
        let envelope: Option<Envelope> = serde_json::from_str(text).ok();
        let first_error = envelope
            .as_ref()
            .and_then(|e| e.errors.first())
            .map(|e| (e.code, strip_code(&e.message)));

        if status.as_u16() == 429 {
            return Attempt::retry(
                "HTTP 429 Too Many Requests".to_owned(),
                Some(retry_after.unwrap_or_else(|| self.backoff(1))),
            );
        }
        if let Some((_, message)) = &first_error
            && is_transient(message)
        {
            return Attempt::retry(format!("HTTP {}: {message}", status.as_u16()), None);
        }
        if status.is_server_error() {
            let detail = first_error.map(|(_, m)| m).unwrap_or_default();
            return Attempt::retry(format!("HTTP {} {detail}", status.as_u16()), None);
        }
        if status.as_u16() == 401 || status.as_u16() == 403 {
            return Attempt::Done(Err(StoreError::unavailable(format!(
                "Cloudflare refused the API token (HTTP {}{}): it lacks permission for D1 database {} in account {}. \
                 Give CLOUDFLARE_API_TOKEN the 'D1 Edit' permission on that account, or check the token is current.",
                status.as_u16(),
                first_error
                    .as_ref()
                    .map(|(code, m)| format!(", code {code}: {m}"))
                    .unwrap_or_default(),
                self.settings.database_id,
                self.settings.account_id
            ))));
        }
        match envelope {
            Some(envelope) if envelope.success && status.is_success() => {
                Attempt::Done(decode_results(envelope, expected))
            }
            Some(_) => Attempt::Done(Err(self.api_error(status, first_error))),
            None => Attempt::Done(Err(StoreError::unavailable(format!(
                "Cloudflare D1 answered HTTP {} with a body that is not its API envelope: {}",
                status.as_u16(),
                text.chars().take(200).collect::<String>()
            )))),
        }
    }

    fn api_error(&self, status: reqwest::StatusCode, error: Option<(i64, String)>) -> StoreError {
        let (code, message) = error.unwrap_or((0, "no error details".to_owned()));
        match code {
            7500 if is_constraint(&message) => StoreError::Constraint(message),
            7500 => StoreError::sql(message),
            7400 => StoreError::sql(format!("D1 refused the request as malformed: {message}")),
            7404 => StoreError::unavailable(format!(
                "D1 database {} not found in account {} ({message}); check VK_D1_DATABASE_ID and CLOUDFLARE_ACCOUNT_ID",
                self.settings.database_id, self.settings.account_id
            )),
            _ if status.as_u16() == 404 => StoreError::unavailable(format!(
                "the D1 API path was not found (HTTP 404, code {code}: {message}); check CLOUDFLARE_API_BASE, \
                 CLOUDFLARE_ACCOUNT_ID and VK_D1_DATABASE_ID"
            )),
            _ => StoreError::unavailable(format!(
                "Cloudflare D1 refused the request (HTTP {}, code {code}): {message}",
                status.as_u16()
            )),
        }
    }

    /// Capped exponential backoff with jitter: a random delay in the upper
    /// half of `base * 2^(attempt-1)`, never above `backoff_max`.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .settings
            .backoff_base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.settings.backoff_max);
        let half = exp / 2;
        let mut bytes = [0u8; 4];
        let fraction = match getrandom::fill(&mut bytes) {
            Ok(()) => f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX),
            Err(_) => 0.5,
        };
        half + half.mul_f64(fraction)
    }
}

enum Attempt {
    Done(Result<Vec<StmtResult>, StoreError>),
    Retry {
        reason: String,
        after: Option<Duration>,
    },
}

impl Attempt {
    fn retry(reason: String, after: Option<Duration>) -> Self {
        Attempt::Retry { reason, after }
    }
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    result: Option<Vec<QueryResult>>,
    #[serde(default)]
    success: bool,
    #[serde(default)]
    errors: Vec<ApiMessage>,
}

#[derive(Deserialize)]
struct QueryResult {
    #[serde(default)]
    results: Vec<Map<String, Json>>,
    #[serde(default)]
    meta: Meta,
}

#[derive(Deserialize, Default)]
struct Meta {
    #[serde(default)]
    changes: u64,
}

#[derive(Deserialize)]
struct ApiMessage {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
}

fn decode_results(envelope: Envelope, expected: usize) -> Result<Vec<StmtResult>, StoreError> {
    let results = envelope.result.unwrap_or_default();
    if results.len() != expected {
        return Err(StoreError::decode(format!(
            "D1 answered {} results for a batch of {expected} statements",
            results.len()
        )));
    }
    Ok(results
        .into_iter()
        .map(|r| StmtResult {
            rows: Row::from_maps(r.results),
            changes: r.meta.changes,
        })
        .collect())
}

fn param_json(param: &Param) -> Json {
    match param {
        Param::Null => Json::Null,
        Param::Int(v) if (-MAX_EXACT_NUMBER..=MAX_EXACT_NUMBER).contains(v) => Json::from(*v),
        Param::Int(v) => Json::String(v.to_string()),
        Param::Real(v) => Json::from(*v),
        Param::Text(v) => Json::String(v.clone()),
    }
}

fn check_limits(stmt: &Stmt) -> Result<(), StoreError> {
    if stmt.params.len() > MAX_PARAMS {
        return Err(StoreError::Invalid(format!(
            "a statement binds {} parameters but D1 allows at most {MAX_PARAMS}; split the work into smaller steps",
            stmt.params.len()
        )));
    }
    if stmt.sql.len() > MAX_SQL_BYTES {
        return Err(StoreError::Invalid(format!(
            "a statement is {} bytes of SQL but D1 allows at most {MAX_SQL_BYTES}; split it",
            stmt.sql.len()
        )));
    }
    Ok(())
}

/// D1's messages end in " [code: 7500]"; the code is reported separately.
fn strip_code(message: &str) -> String {
    match message.rfind(" [code: ") {
        Some(at) if message.ends_with(']') => message[..at].to_owned(),
        _ => message.to_owned(),
    }
}

/// D1's messages for failures that pass on a retry.
fn is_transient(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    [
        "network connection lost",
        "overloaded",
        "reset",
        "internal error",
        "timed out",
    ]
    .iter()
    .any(|marker| lower.contains(marker))
}

fn is_constraint(message: &str) -> bool {
    message.contains("SQLITE_CONSTRAINT") || message.contains("constraint failed")
}

/// `text` without the token: every occurrence, also in its JSON-escaped form.
fn redact(text: &str, token: &str) -> String {
    if token.len() < 4 {
        return text.to_owned();
    }
    let escaped = serde_json::to_string(token).unwrap_or_default();
    let escaped = escaped.trim_matches('"');
    text.replace(token, "[redacted]")
        .replace(escaped, "[redacted]")
}

/// What went wrong on the wire, without the request (whose headers carry the token).
fn describe_transport(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "the request timed out"
    } else if err.is_connect() {
        "cannot connect"
    } else if err.is_body() || err.is_decode() {
        "the connection broke while reading the reply"
    } else {
        "the connection failed"
    };
    let mut detail = String::new();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        detail = cause.to_string();
        source = cause.source();
    }
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {detail}")
    }
}

/// Splits a migration script into statements, as SQLite itself would: a
/// statement ends at a `;` that is outside quotes, comments and trigger
/// bodies. Comment-only pieces are dropped.
pub fn split_script(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    for (at, _) in sql.match_indices(';') {
        let candidate = &sql[start..=at];
        if is_complete(candidate) {
            push_statement(&mut out, candidate);
            start = at + 1;
        }
    }
    push_statement(&mut out, &sql[start..]);
    out
}

fn push_statement(out: &mut Vec<String>, piece: &str) {
    if !strip_comments(piece)
        .trim()
        .trim_end_matches(';')
        .trim()
        .is_empty()
    {
        out.push(piece.trim().to_owned());
    }
}

fn is_complete(sql: &str) -> bool {
    let Ok(text) = std::ffi::CString::new(sql) else {
        return false;
    };
    // SAFETY: sqlite3_complete only reads the NUL-terminated string, which
    // outlives the call.
    unsafe { rusqlite::ffi::sqlite3_complete(text.as_ptr()) != 0 }
}

/// Removes leading `--` and `/* */` comments (enough to see that a piece is empty).
fn strip_comments(mut text: &str) -> &str {
    loop {
        text = text.trim_start();
        if let Some(rest) = text.strip_prefix("--") {
            text = rest.split_once('\n').map_or("", |(_, after)| after);
        } else if let Some(rest) = text.strip_prefix("/*") {
            text = rest.split_once("*/").map_or("", |(_, after)| after);
        } else {
            return text;
        }
    }
}

impl Executor for D1Executor {
    fn batch(
        &self,
        _mode: Mode,
        stmts: Vec<Stmt>,
    ) -> BoxFuture<'_, Result<Vec<StmtResult>, StoreError>> {
        Box::pin(async move { self.run(&stmts).await })
    }

    /// The script's statements and the bookkeeping rows go in one batch, so a
    /// migration and its `d1_migrations` row commit together or not at all.
    fn script(&self, sql: String, then: Vec<Stmt>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let mut stmts: Vec<Stmt> = split_script(&sql).into_iter().map(Stmt::new).collect();
            stmts.extend(then);
            self.run(&stmts).await.map(|_| ())
        })
    }

    fn kind(&self) -> super::exec::Backend {
        super::exec::Backend::D1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_split_at_statement_ends_only() {
        let script = "-- a table\nCREATE TABLE a (x TEXT DEFAULT ';');\n\n/* two */ CREATE INDEX i ON a (x);\n\
                      CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE a SET x = 'y;'; END;\n-- trailing\n";
        let parts = split_script(script);
        assert_eq!(parts.len(), 3, "{parts:?}");
        assert!(parts[0].ends_with("DEFAULT ';');"));
        assert!(parts[2].starts_with("CREATE TRIGGER") && parts[2].ends_with("END;"));
    }

    #[test]
    fn every_migration_splits_into_statements() {
        for migration in super::super::migrate::MIGRATIONS {
            let parts = split_script(migration.sql);
            assert!(!parts.is_empty(), "{}", migration.name);
            for part in parts {
                assert!(is_complete(&part), "{}: {part}", migration.name);
            }
        }
    }

    #[test]
    fn integers_beyond_two_to_the_53_travel_as_text() {
        assert_eq!(param_json(&Param::Int(5)), json!(5));
        assert_eq!(
            param_json(&Param::Int(i64::MAX)),
            json!(i64::MAX.to_string())
        );
        assert_eq!(param_json(&Param::Null), Json::Null);
    }

    #[test]
    fn messages_lose_the_code_suffix_and_transients_are_known() {
        assert_eq!(
            strip_code("no such table: t: SQLITE_ERROR [code: 7500]"),
            "no such table: t: SQLITE_ERROR"
        );
        assert!(is_transient(
            "D1 DB is overloaded. Too many requests queued."
        ));
        assert!(is_transient("Network connection lost."));
        assert!(!is_transient("no such table: t: SQLITE_ERROR"));
    }

    fn unreachable_executor() -> D1Executor {
        D1Executor::new(D1Settings {
            // Nothing listens on port 9 (discard); the limits are checked first.
            api_base: "http://127.0.0.1:9/client/v4".to_owned(),
            account_id: "acc".to_owned(),
            database_id: "db".to_owned(),
            api_token: ApiToken::new("t"),
            timeout: Duration::from_secs(1),
            max_attempts: 1,
            backoff_base: Duration::from_millis(1),
            backoff_max: Duration::from_millis(1),
        })
        .expect("client")
    }

    #[tokio::test]
    async fn statements_beyond_d1_limits_are_refused_before_sending() {
        let exec = unreachable_executor();
        let mut many = Stmt::new("SELECT 1");
        many.params = vec![Param::Int(1); MAX_PARAMS + 1];
        let err = exec
            .batch(Mode::Read, vec![many])
            .await
            .expect_err("too many");
        assert!(err.to_string().contains("101 parameters"), "{err}");
        let long = Stmt::new(format!("SELECT '{}'", "x".repeat(MAX_SQL_BYTES)));
        let err = exec
            .batch(Mode::Read, vec![long])
            .await
            .expect_err("too long");
        assert!(err.to_string().contains("bytes of SQL"), "{err}");
        // Exactly at the limit is sent (and here fails to connect instead).
        let mut at_limit = Stmt::new("SELECT 1");
        at_limit.params = vec![Param::Null; MAX_PARAMS];
        let err = exec
            .batch(Mode::Read, vec![at_limit])
            .await
            .expect_err("no server");
        assert!(
            err.to_string().contains("did not answer after 1 attempt ("),
            "{err}"
        );
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_with_jitter() {
        let mut exec = unreachable_executor();
        exec.settings.backoff_base = Duration::from_millis(100);
        exec.settings.backoff_max = Duration::from_millis(1000);
        for (attempt, full) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (30, 1000),
        ] {
            let delay = exec.backoff(attempt).as_millis();
            assert!(
                delay >= full / 2 && delay <= full,
                "attempt {attempt}: {delay} ms"
            );
        }
    }

    #[test]
    fn the_token_is_redacted_from_reply_text() {
        assert_eq!(
            redact(
                r#"{"message":"bad token abc/def\"g for abc/def\"g"}"#,
                "abc/def\"g"
            ),
            r#"{"message":"bad token [redacted] for [redacted]"}"#
        );
        assert_eq!(redact("token t", "t"), "token t", "too short to look for");
    }

    #[test]
    fn the_token_is_never_printed() {
        let token = ApiToken::new("secret-value");
        assert!(!format!("{token:?}").contains("secret-value"));
    }
}
