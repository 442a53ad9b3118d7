//! Where data lives and how the server is set up, resolved once at start.

use std::path::{Path, PathBuf};

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
