//! Where data lives and how the server is set up, resolved once at start.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    str::FromStr,
    time::Duration,
};

use serde::Deserialize;

use crate::{
    logs::LogsConfig,
    sessions::{ExecutorProfile, SessionsConfig},
    store::d1::{ApiToken, D1Settings},
};

/// Why the configuration cannot be used. Variants that wrap an I/O or TOML
/// failure keep it as their source (`{:#}` prints both).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot make the data directory {} private (0700)", .dir.display())]
    PrivateDataDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create the data directory {}", .dir.display())]
    CreateDataDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the configuration file {}", .path.display())]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid configuration file {}", .path.display())]
    ParseFile {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("unknown store '{0}'; use `sqlite` or `d1`")]
    UnknownStore(String),
    #[error(
        "the D1 store (--store d1) needs {} in the environment; missing: {}",
        .required.join(", "),
        .missing.join(", ")
    )]
    D1Missing {
        required: Vec<&'static str>,
        missing: Vec<&'static str>,
    },
    #[error("{name}='{value}' must be a number of seconds between 0 and 600")]
    Seconds { name: &'static str, value: String },
    #[error("{ENV_MAX_ATTEMPTS}='{0}' must be a whole number from 1 to 20")]
    MaxAttempts(String),
    #[error("{ENV_API_BASE}='{0}' must be an http(s) URL, e.g. {default}", default = D1Settings::DEFAULT_API_BASE)]
    ApiBase(String),
}

/// File name of the SQLite database inside the data directory.
pub const DATABASE_FILE: &str = "kanban.db";

/// The platform's data directory for this program (e.g.
/// `~/.local/share/vibe-kanban-mcp` on Linux), or `./.vibe-kanban-mcp` when
/// the platform has none.
pub fn default_data_dir() -> PathBuf {
    platform_data_dir().unwrap_or_else(|| PathBuf::from(".vibe-kanban-mcp"))
}

/// Where the platform keeps per-user program data (the rules of the XDG base
/// directory spec, macOS and Windows): an unset, empty or relative variable
/// counts as missing.
fn platform_data_dir() -> Option<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|path| path.is_absolute())
    };
    if cfg!(target_os = "macos") {
        Some(var("HOME")?.join("Library/Application Support/dev.vibe-kanban.vibe-kanban-mcp"))
    } else if cfg!(windows) {
        Some(
            var("APPDATA")?
                .join("vibe-kanban")
                .join("vibe-kanban-mcp")
                .join("data"),
        )
    } else {
        let base = var("XDG_DATA_HOME").or_else(|| Some(var("HOME")?.join(".local/share")))?;
        Some(base.join("vibe-kanban-mcp"))
    }
}

/// Creates the data directory (and missing parents) readable by this OS user
/// only (0700), because it holds the board, key hashes, logs and worktrees.
/// The platform's default directory is ours, so one an older version left
/// open to others is tightened to 0700. Any other directory that already
/// exists keeps its permissions: the user chose it and may share it on
/// purpose; the database files inside are made 0600 whatever the directory
/// allows (see [`crate::store::sqlite`]).
pub fn create_data_dir(dir: &Path) -> Result<(), ConfigError> {
    if dir.is_dir() {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(meta) = std::fs::metadata(dir)
                && meta.permissions().mode() & 0o077 != 0
            {
                if dir == default_data_dir() {
                    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(
                        |source| ConfigError::PrivateDataDir {
                            dir: dir.to_owned(),
                            source,
                        },
                    )?;
                    return Ok(());
                }
                tracing::info!(
                    dir = %dir.display(),
                    mode = format!("{:o}", meta.permissions().mode() & 0o777),
                    "the data directory is open to other users; its database files are private (0600)"
                );
            }
        }
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|source| ConfigError::CreateDataDir {
            dir: dir.to_owned(),
            source,
        })
}

/// The SQLite file inside `data_dir`.
pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DATABASE_FILE)
}

/// The optional TOML configuration file (`--config FILE` / `VK_CONFIG`).
/// Each area owns its section; unknown keys are refused so a typo is an
/// error at start, not a silently ignored setting.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `[executors.NAME]`: coding-agent profiles, added to (or replacing)
    /// the built-in ones.
    #[serde(default)]
    pub executors: BTreeMap<String, ExecutorProfile>,
    /// `[sessions]`: default executor, concurrency, stop grace, runner timing.
    #[serde(default)]
    pub sessions: SessionsConfig,
    /// `[logs]`: where execution logs live (local files or R2).
    #[serde(default)]
    pub logs: LogsConfig,
    /// `[enhance]`: prompt enhancement providers and cache.
    #[serde(default)]
    pub enhance: crate::enhance::config::EnhanceConfig,
    /// `[github]`: API and device-flow URLs, key files, what a closed pull
    /// request does to its task, the sync interval.
    #[serde(default)]
    pub github: crate::github::GitHubConfig,
}

impl FileConfig {
    /// Reads and validates the file; no file means defaults.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let Some(path) = path else {
            return Ok(FileConfig::default());
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::ParseFile {
            path: path.to_owned(),
            source,
        })
    }
}

/// Which store the process uses (`--store` / `VK_STORE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StoreKind {
    /// A local SQLite file in the data directory (the default).
    #[default]
    Sqlite,
    /// A Cloudflare D1 database, shared by every process pointed at it.
    D1,
}

impl FromStr for StoreKind {
    type Err = ConfigError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "sqlite" => Ok(StoreKind::Sqlite),
            "d1" => Ok(StoreKind::D1),
            other => Err(ConfigError::UnknownStore(other.to_owned())),
        }
    }
}

/// The store, fully resolved: a SQLite file or a D1 database with its
/// credentials. Built once at start; a missing setting is an error then.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    Sqlite { data_dir: PathBuf },
    D1(D1Settings),
}

/// Environment variables of the D1 store.
pub const ENV_ACCOUNT_ID: &str = "CLOUDFLARE_ACCOUNT_ID";
pub const ENV_DATABASE_ID: &str = "VK_D1_DATABASE_ID";
pub const ENV_API_TOKEN: &str = "CLOUDFLARE_API_TOKEN";
pub const ENV_API_BASE: &str = "CLOUDFLARE_API_BASE";
pub const ENV_TIMEOUT: &str = "VK_D1_TIMEOUT_SECS";
pub const ENV_MAX_ATTEMPTS: &str = "VK_D1_MAX_ATTEMPTS";

impl StoreConfig {
    /// Resolves the store from `--store`, the data directory and the
    /// environment (`env` looks a variable up; empty counts as unset).
    pub fn resolve(
        kind: StoreKind,
        data_dir: PathBuf,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let var = |name: &str| {
            env(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        match kind {
            StoreKind::Sqlite => Ok(StoreConfig::Sqlite { data_dir }),
            StoreKind::D1 => {
                let required = [ENV_ACCOUNT_ID, ENV_DATABASE_ID, ENV_API_TOKEN];
                let missing: Vec<&str> = required
                    .iter()
                    .copied()
                    .filter(|name| var(name).is_none())
                    .collect();
                if !missing.is_empty() {
                    return Err(ConfigError::D1Missing {
                        required: required.to_vec(),
                        missing,
                    });
                }
                let seconds = |name: &'static str, default: Duration| match var(name) {
                    None => Ok(default),
                    Some(text) => match text.parse::<f64>() {
                        Ok(secs) if secs > 0.0 && secs <= 600.0 => {
                            Ok(Duration::from_secs_f64(secs))
                        }
                        _ => Err(ConfigError::Seconds { name, value: text }),
                    },
                };
                let max_attempts = match var(ENV_MAX_ATTEMPTS) {
                    None => D1Settings::DEFAULT_MAX_ATTEMPTS,
                    Some(text) => match text.parse::<u32>() {
                        Ok(n) if (1..=20).contains(&n) => n,
                        _ => return Err(ConfigError::MaxAttempts(text)),
                    },
                };
                let api_base =
                    var(ENV_API_BASE).unwrap_or_else(|| D1Settings::DEFAULT_API_BASE.to_owned());
                if !(api_base.starts_with("https://") || api_base.starts_with("http://")) {
                    return Err(ConfigError::ApiBase(api_base));
                }
                Ok(StoreConfig::D1(D1Settings {
                    api_base,
                    account_id: var(ENV_ACCOUNT_ID).unwrap_or_default(),
                    database_id: var(ENV_DATABASE_ID).unwrap_or_default(),
                    api_token: ApiToken::new(var(ENV_API_TOKEN).unwrap_or_default()),
                    timeout: seconds(ENV_TIMEOUT, D1Settings::DEFAULT_TIMEOUT)?,
                    max_attempts,
                    backoff_base: D1Settings::DEFAULT_BACKOFF_BASE,
                    backoff_max: D1Settings::DEFAULT_BACKOFF_MAX,
                }))
            }
        }
    }

    pub fn kind(&self) -> StoreKind {
        match self {
            StoreConfig::Sqlite { .. } => StoreKind::Sqlite,
            StoreConfig::D1(_) => StoreKind::D1,
        }
    }

    /// Where the data is, for log lines (never the token).
    pub fn describe(&self) -> String {
        match self {
            StoreConfig::Sqlite { data_dir } => {
                format!("SQLite {}", database_path(data_dir).display())
            }
            StoreConfig::D1(d1) => format!(
                "Cloudflare D1 database {} (account {}) at {}",
                d1.database_id, d1.account_id, d1.api_base
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn d1_names_every_missing_setting_at_once() {
        let err = StoreConfig::resolve(
            StoreKind::D1,
            PathBuf::new(),
            env_of(&[(ENV_API_TOKEN, "t0ken")]),
        )
        .expect_err("incomplete");
        let text = err.to_string();
        assert!(
            text.contains("missing: CLOUDFLARE_ACCOUNT_ID, VK_D1_DATABASE_ID"),
            "{text}"
        );
        assert!(!text.contains("t0ken"));
    }

    #[test]
    fn d1_defaults_and_the_token_stays_hidden() {
        let config = StoreConfig::resolve(
            StoreKind::D1,
            PathBuf::new(),
            env_of(&[
                (ENV_ACCOUNT_ID, "acc"),
                (ENV_DATABASE_ID, "db"),
                (ENV_API_TOKEN, "t0ken"),
            ]),
        )
        .expect("complete");
        let StoreConfig::D1(d1) = &config else {
            panic!("not d1")
        };
        assert_eq!(d1.api_base, D1Settings::DEFAULT_API_BASE);
        assert_eq!(d1.timeout, D1Settings::DEFAULT_TIMEOUT);
        assert!(!format!("{config:?} {}", config.describe()).contains("t0ken"));
        let bad = StoreConfig::resolve(
            StoreKind::D1,
            PathBuf::new(),
            env_of(&[
                (ENV_ACCOUNT_ID, "acc"),
                (ENV_DATABASE_ID, "db"),
                (ENV_API_TOKEN, "t"),
                (ENV_TIMEOUT, "soon"),
            ]),
        );
        assert!(
            bad.expect_err("bad timeout")
                .to_string()
                .contains(ENV_TIMEOUT)
        );
    }

    #[test]
    fn store_kinds_parse() {
        assert!(matches!("D1".parse::<StoreKind>(), Ok(StoreKind::D1)));
        assert!("postgres".parse::<StoreKind>().is_err());
    }
}
