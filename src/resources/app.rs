//! The board as an MCP App resource (`io.modelcontextprotocol/ui`,
//! SEP-1865, stable 2026-01-26): one self-contained HTML document
//! (`board_app.html`, inline CSS and script, no network) that a host renders
//! in a sandboxed iframe. It talks to the host only through the extension's
//! postMessage JSON-RPC bridge (`ui/initialize`, the tool-input and
//! tool-result notifications, `tools/call` relayed by the host under the
//! user's credentials), draws `show_board`'s result and moves cards with
//! `update_task`.

use rmcp::model::{MetaObject, ReadResourceResult, ResourceContents};
use serde_json::json;

/// The extension's identifier, under `capabilities.extensions`.
pub const UI_EXTENSION: &str = "io.modelcontextprotocol/ui";
/// The MIME type the extension defines for HTML apps.
pub const APP_MIME_TYPE: &str = "text/html;profile=mcp-app";
pub use crate::board::BOARD_APP_URI;

const BOARD_APP_HTML: &str = include_str!("board_app.html");

/// The extension's settings this server advertises.
pub fn extension_settings() -> serde_json::Map<String, serde_json::Value> {
    let mut settings = serde_json::Map::new();
    settings.insert("mimeTypes".to_owned(), json!([APP_MIME_TYPE]));
    settings
}

/// The `_meta.ui` of the resource: no outside origins at all (the host's
/// restrictive default CSP is all the app needs) and a host border.
fn ui_meta() -> MetaObject {
    let mut meta = serde_json::Map::new();
    meta.insert(
        "ui".to_owned(),
        json!({ "csp": { "connectDomains": [], "resourceDomains": [] }, "prefersBorder": true }),
    );
    MetaObject(meta)
}

/// The app's HTML, for `resources/read` of [`BOARD_APP_URI`].
pub fn read() -> ReadResourceResult {
    ReadResourceResult::new(vec![
        ResourceContents::text(BOARD_APP_HTML, BOARD_APP_URI)
            .with_mime_type(APP_MIME_TYPE)
            .with_meta(ui_meta()),
    ])
}
