//! Where data lives and how the server is set up, resolved once at start.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// File name of the SQLite database inside the data directory.
pub const DATABASE_FILE: &str = "kanban.db";

/// The platform's data directory for this program (e.g.
/// `~/.local/share/vibe-kanban-mcp` on Linux), or `./.vibe-kanban-mcp` when
/// the platform has none.
pub fn default_data_dir() -> PathBuf {
    directories::ProjectDirs::from("dev", "vibe-kanban", "vibe-kanban-mcp")
        .map(|dirs| dirs.data_dir().to_owned())
        .unwrap_or_else(|| PathBuf::from(".vibe-kanban-mcp"))
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
    /// `[enhance]`: prompt enhancement providers and cache.
    #[serde(default)]
    pub enhance: crate::enhance::config::EnhanceConfig,
}

impl FileConfig {
    /// Reads and validates the file; no file means defaults.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(FileConfig::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("invalid configuration file {}", path.display()))
    }
}
