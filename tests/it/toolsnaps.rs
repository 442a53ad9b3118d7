//! What the server tells the model, checked in-process (the server on a
//! `tokio::io::duplex` pair with rmcp's client, on a temp SQLite file).
//!
//! Tool schemas are snapshots: `tests/toolsnaps/<tool>.json` holds each tool
//! as `tools/list` gives it with every toolset on (name, title, description,
//! annotations, input and output schema), pretty-printed. A changed tool fails
//! with a diff of the changed lines; a tool without a snapshot and a snapshot
//! without a tool fail too. After a deliberate change, rewrite the snapshots
//! and review the diff in git:
//!
//! ```text
//! UPDATE_TOOLSNAPS=1 cargo test --test it toolsnaps
//! ```
//!
//! Also here: the server's instructions name only tools it lists, for every
//! choice of toolsets and read-only mode.

use std::{collections::BTreeMap, path::Path, sync::Arc};

use rmcp::{ServiceExt, model::Tool};
use vibe_kanban_mcp::{
    auth,
    enhance::{Enhancer, config::EnhanceSettings},
    server::KanbanServer,
    store::Store,
    tools::{ToolFilter, Toolset},
};

const SNAPSHOTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/toolsnaps");

/// What a client of a server with `filter` sees: its instructions and the
/// tools it lists to the local owner (who has every scope).
async fn what_the_model_sees(filter: ToolFilter) -> (String, Vec<Tool>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open_sqlite(&dir.path().join("kanban.db"))
        .await
        .expect("open the store");
    let owner = auth::local_owner(&store).await.expect("local owner");
    let enhancer = Arc::new(Enhancer::new(EnhanceSettings::default()).expect("offline enhancer"));
    let server = KanbanServer::new(store, &filter, enhancer).with_principal(owner);
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let served = tokio::spawn(async move {
        let running = server.serve(server_io).await.expect("server initializes");
        running.waiting().await.expect("server runs")
    });
    let client = ().serve(client_io).await.expect("client initializes");
    let instructions = client
        .peer_info()
        .and_then(|info| info.instructions.clone())
        .unwrap_or_default();
    let tools = client.list_all_tools().await.expect("tools/list");
    client.cancel().await.expect("client closes");
    served.await.expect("server task");
    (instructions, tools)
}

/// The snapshot text of a tool: its `tools/list` entry, pretty, one line end.
fn snapshot(tool: &Tool) -> String {
    let value = serde_json::to_value(tool).expect("tool as JSON");
    format!(
        "{}\n",
        serde_json::to_string_pretty(&value).expect("pretty JSON")
    )
}

/// The snapshots on disk, by tool name.
fn snapshots_on_disk() -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    for entry in std::fs::read_dir(SNAPSHOTS).expect("tests/toolsnaps") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("file name")
                .to_owned();
            found.insert(name, std::fs::read_to_string(&path).expect("read snapshot"));
        }
    }
    found
}

/// The lines that differ between `old` and `new`, `-` for removed and `+` for
/// added, with two lines of context around each change and `…` between
/// hunks (a longest-common-subsequence diff; snapshots are short).
fn line_diff(old: &str, new: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    // common[i][j]: length of the longest common subsequence of a[i..] and b[j..].
    let mut common = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            common[i][j] = if a[i] == b[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let mut lines = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            lines.push((' ', a[i]));
            (i, j) = (i + 1, j + 1);
        } else if i < a.len() && (j == b.len() || common[i + 1][j] >= common[i][j + 1]) {
            lines.push(('-', a[i]));
            i += 1;
        } else {
            lines.push(('+', b[j]));
            j += 1;
        }
    }
    let changed: Vec<usize> = (0..lines.len()).filter(|&k| lines[k].0 != ' ').collect();
    let mut out = String::new();
    let mut skipped = false;
    for (k, (mark, line)) in lines.iter().enumerate() {
        if changed.iter().any(|&c| c.abs_diff(k) <= 2) {
            if skipped {
                out.push_str("  …\n");
            }
            out.push_str(&format!("{mark} {line}\n"));
            skipped = false;
        } else {
            skipped = true;
        }
    }
    out
}

#[tokio::test]
async fn every_tool_matches_its_snapshot() {
    let (_, tools) = what_the_model_sees(ToolFilter::default()).await;
    let listed: BTreeMap<String, String> = tools
        .iter()
        .map(|tool| (tool.name.to_string(), snapshot(tool)))
        .collect();
    assert_eq!(listed.len(), tools.len(), "tool names are unique");
    let dir = Path::new(SNAPSHOTS);
    if std::env::var_os("UPDATE_TOOLSNAPS").is_some() {
        for name in snapshots_on_disk().keys() {
            if !listed.contains_key(name) {
                std::fs::remove_file(dir.join(format!("{name}.json"))).expect("remove snapshot");
            }
        }
        for (name, text) in &listed {
            std::fs::write(dir.join(format!("{name}.json")), text).expect("write snapshot");
        }
        return;
    }
    let on_disk = snapshots_on_disk();
    let mut problems = Vec::new();
    for (name, text) in &listed {
        match on_disk.get(name) {
            None => problems.push(format!(
                "tool {name} has no snapshot tests/toolsnaps/{name}.json"
            )),
            Some(saved) if saved != text => problems.push(format!(
                "tool {name} differs from tests/toolsnaps/{name}.json (- snapshot, + now):\n{}",
                line_diff(saved, text)
            )),
            Some(_) => {}
        }
    }
    for name in on_disk.keys().filter(|name| !listed.contains_key(*name)) {
        problems.push(format!(
            "tests/toolsnaps/{name}.json has no tool {name} in tools/list"
        ));
    }
    assert!(
        problems.is_empty(),
        "{}\n\nIf the change is deliberate, update the snapshots and review them in git:\n    \
         UPDATE_TOOLSNAPS=1 cargo test --test it toolsnaps",
        problems.join("\n\n")
    );
}

/// The most `tools/list` may cost a conversation's context, in bytes a tool
/// on average (compact JSON as sent, every toolset on). Tools added later
/// share it: make room by keeping descriptions short.
const BYTES_PER_TOOL: usize = 1_100;

/// The size of each tool as sent (compact JSON), largest first, and of the
/// whole `tools/list` result.
fn sizes_on_the_wire(tools: &[Tool]) -> (Vec<(usize, String)>, usize) {
    let mut sizes: Vec<(usize, String)> = tools
        .iter()
        .map(|tool| {
            let bytes = serde_json::to_vec(tool).expect("tool as JSON").len();
            (bytes, tool.name.to_string())
        })
        .collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let result = rmcp::model::ListToolsResult {
        tools: tools.to_vec(),
        ..Default::default()
    };
    let total = serde_json::to_vec(&result).expect("result as JSON").len();
    (sizes, total)
}

/// Also the figure for BENCHMARKS.md:
/// `cargo test --test toolsnaps tools_list_fits -- --nocapture`.
#[tokio::test]
async fn tools_list_fits_the_context_budget() {
    let (_, tools) = what_the_model_sees(ToolFilter::default()).await;
    let (sizes, total) = sizes_on_the_wire(&tools);
    let average = total / tools.len().max(1);
    let table: Vec<String> = sizes
        .iter()
        .map(|(bytes, name)| format!("  {bytes:>6} B  {name}"))
        .collect();
    eprintln!(
        "tools/list: {total} B for {} tools, {average} B a tool (budget {BYTES_PER_TOOL})\n{}",
        tools.len(),
        table.join("\n")
    );
    assert!(
        average <= BYTES_PER_TOOL,
        "tools/list is {total} B for {} tools, {average} B a tool on average: over the budget of \
         {BYTES_PER_TOOL} B. The five largest:\n{}\nShorten their descriptions (the tool's and its \
         arguments'), or see src/tools/schema.rs for how schemas are compacted.",
        tools.len(),
        table[..table.len().min(5)].join("\n")
    );
}

#[test]
fn the_diff_shows_only_the_changed_lines() {
    let old = "{\n  \"a\": 1,\n  \"b\": 2,\n  \"c\": 3,\n  \"d\": 4,\n  \"e\": 5,\n  \"f\": 6\n}\n";
    let new = old.replace("\"b\": 2", "\"b\": 20");
    assert_eq!(
        line_diff(old, &new),
        "  {\n    \"a\": 1,\n-   \"b\": 2,\n+   \"b\": 20,\n    \"c\": 3,\n    \"d\": 4,\n"
    );
    assert_eq!(line_diff(old, old), "");
}

/// The words of `text` that look like tool names (`snake_case` with an
/// underscore), outside URI template variables such as `{project_id}`.
fn tool_names_in(text: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut start = None;
    for (at, c) in text.char_indices().chain([(text.len(), ' ')]) {
        let part_of_name = c.is_ascii_lowercase() || c == '_';
        match (start, part_of_name) {
            (None, true) => start = Some(at),
            (Some(from), false) => {
                let word = &text[from..at];
                let in_template = text[..from].ends_with('{');
                if word.contains('_') && !in_template {
                    names.push(word);
                }
                start = None;
            }
            _ => {}
        }
    }
    names
}

#[tokio::test]
async fn instructions_name_only_tools_that_are_listed() {
    use Toolset::*;
    let choices = [
        (vec![], false),
        (vec![], true),
        (vec![Tasks], false),
        (vec![Tasks], true),
        (vec![Projects], false),
        (vec![Sessions], false),
        (vec![Sessions], true),
        (vec![Prompts], false),
        (vec![Projects, Tasks], true),
    ];
    for (toolsets, read_only) in choices {
        let filter = ToolFilter {
            toolsets: toolsets.clone(),
            read_only,
        };
        let (instructions, tools) = what_the_model_sees(filter).await;
        let listed: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        let named = tool_names_in(&instructions);
        for name in &named {
            assert!(
                listed.contains(name),
                "--toolsets {toolsets:?} read-only {read_only}: the instructions name {name}, which \
                 tools/list does not have ({listed:?}):\n{instructions}"
            );
        }
        // They still say how to begin with what there is.
        assert!(
            !named.is_empty() || listed.is_empty(),
            "--toolsets {toolsets:?} read-only {read_only}: the instructions name no tool:\n{instructions}"
        );
    }
}

#[test]
fn tool_names_are_found_outside_uri_templates() {
    assert_eq!(
        tool_names_in(
            "Start with list_projects, then kanban://projects/{project_id}/board or get_task."
        ),
        ["list_projects", "get_task"]
    );
}
