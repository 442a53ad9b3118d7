//! The board as an MCP App (the `io.modelcontextprotocol/ui` extension,
//! SEP-1865): `show_board`, whose result is the data the app at
//! [`crate::board::BOARD_APP_URI`] draws, and [`linked`], which
//! points a tool's `_meta.ui.resourceUri` at that app. Hosts that render MCP
//! Apps show the board inline; others read the markdown copy.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{Effect, Render, ToolContext, ToolDef, ToolError, Toolset, tool};
use crate::{
    board::{self, BOARD_APP_URI},
    store::{Board, ProjectId, TaskId, TaskStatus, UserId},
};

pub(super) fn tools() -> Vec<ToolDef> {
    let mut show = linked(tool(
        "show_board",
        "Show board",
        "A project's board, drawn inline by hosts with MCP Apps.",
        Toolset::Tasks,
        Effect::Read,
        show_board,
    ));
    // The app reads the columns, the model reads the markdown copy: the
    // output schema stops at the columns (the cards' fields would cost
    // every conversation ~300 bytes of tools/list for no reader).
    let schema = json!({
        "type": "object",
        "properties": { "project_id": {}, "name": {}, "columns": { "type": "array" } },
    });
    if let serde_json::Value::Object(schema) = schema {
        show.tool.output_schema = Some(std::sync::Arc::new(schema));
    }
    vec![show]
}

/// `def` with `_meta.ui.resourceUri` naming the board app: a host that
/// renders MCP Apps shows the app with the tool's result.
pub(super) fn linked(mut def: ToolDef) -> ToolDef {
    let meta = json!({ "ui": { "resourceUri": BOARD_APP_URI } });
    if let serde_json::Value::Object(meta) = meta {
        def.tool.meta = Some(rmcp::model::MetaObject(meta));
    }
    def
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShowBoardArgs {
    /// From list_projects.
    pub project_id: Uuid,
}

/// What the app draws: the columns in board order, each with its total and
/// its first tasks (the store's per-column limit).
#[derive(Debug, Serialize, JsonSchema)]
pub struct BoardView {
    pub project_id: ProjectId,
    pub name: String,
    pub columns: Vec<ColumnView>,
    /// The markdown board, the result's text.
    #[serde(skip)]
    #[schemars(skip)]
    text: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ColumnView {
    pub status: TaskStatus,
    pub total: i64,
    pub tasks: Vec<CardView>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct CardView {
    pub id: TaskId,
    pub title: String,
    pub position: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee: Option<UserId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_task_id: Option<TaskId>,
}

impl BoardView {
    fn of(board: &Board) -> BoardView {
        let counts = &board.project.task_counts;
        let total = |status: TaskStatus| match status {
            TaskStatus::Todo => counts.todo,
            TaskStatus::Inprogress => counts.inprogress,
            TaskStatus::Inreview => counts.inreview,
            TaskStatus::Done => counts.done,
            TaskStatus::Cancelled => counts.cancelled,
        };
        BoardView {
            project_id: board.project.id.clone(),
            name: board.project.name.clone(),
            columns: board
                .columns
                .iter()
                .map(|column| ColumnView {
                    status: column.status,
                    total: total(column.status),
                    tasks: column
                        .tasks
                        .iter()
                        .map(|task| CardView {
                            id: task.id.clone(),
                            title: task.title.clone(),
                            position: task.position,
                            assignee: task.assignee.clone(),
                            parent_task_id: task.parent_task_id.clone(),
                        })
                        .collect(),
                })
                .collect(),
            text: board::markdown(board),
        }
    }
}

impl Render for BoardView {
    fn render(&self) -> String {
        self.text.clone()
    }
}

async fn show_board(ctx: ToolContext, args: ShowBoardArgs) -> Result<BoardView, ToolError> {
    let project_id = ProjectId::from(args.project_id);
    let board = ctx.store.board(&ctx.principal.actor, &project_id).await?;
    Ok(BoardView::of(&board))
}
