//! Drawing a project's board for people: markdown (the board resource) and
//! side-by-side columns (the `board` command in a terminal); the URI of the
//! board as an MCP App.

use crate::store::{BOARD_COLUMN_LIMIT, Board, BoardColumn, PullRequestBrief, Task, TaskStatus};

/// The board drawn as an MCP App (`resources::app` serves it; tools link to
/// it): here, where both `tools` and `resources` can name it.
pub const BOARD_APP_URI: &str = "ui://kanban/board";

fn column_total(board: &Board, status: TaskStatus) -> i64 {
    let c = &board.project.task_counts;
    match status {
        TaskStatus::Todo => c.todo,
        TaskStatus::Inprogress => c.inprogress,
        TaskStatus::Inreview => c.inreview,
        TaskStatus::Done => c.done,
        TaskStatus::Cancelled => c.cancelled,
    }
}

fn hidden(board: &Board, column: &BoardColumn) -> i64 {
    column_total(board, column.status) - column.tasks.len() as i64
}

/// The board as markdown: one section per status, one line per task.
pub fn markdown(board: &Board) -> String {
    let mut out = format!("# {}\n\n", board.project.name);
    if !board.project.description.is_empty() {
        out.push_str(&format!("{}\n\n", board.project.description));
    }
    for column in &board.columns {
        out.push_str(&format!(
            "## {} ({})\n\n",
            column.status.title(),
            column_total(board, column.status)
        ));
        if column.tasks.is_empty() {
            out.push_str("_none_\n\n");
            continue;
        }
        for task in &column.tasks {
            out.push_str(&markdown_line(
                task,
                board.comment_counts.get(&task.id).copied().unwrap_or(0),
                board.pull_requests.get(&task.id),
            ));
        }
        let more = hidden(board, column);
        if more > 0 {
            out.push_str(&format!(
                "- … and {more} more (the board shows {BOARD_COLUMN_LIMIT} per column; list_tasks pages through all)\n"
            ));
        }
        out.push('\n');
    }
    if !board.latest_comments.is_empty() {
        out.push_str("## Latest comments\n\n");
        for comment in &board.latest_comments {
            out.push_str(&format!(
                "- {} on **{}** `{}` at {}: {}\n",
                comment.author.as_deref().unwrap_or("a former member"),
                comment.title.replace('\n', " "),
                comment.task_id,
                comment.created_at,
                preview(&comment.body)
            ));
        }
        out.push('\n');
    }
    out
}

/// A comment's first line, cut to fit a board line.
pub fn preview(body: &str) -> String {
    let first = body
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let more = first.chars().count() > 120 || body.trim().lines().count() > 1;
    let mut text: String = first.chars().take(120).collect();
    if more {
        text.push('…');
    }
    text
}

fn markdown_line(task: &Task, comments: i64, pull_request: Option<&PullRequestBrief>) -> String {
    let mut line = format!("- **{}** `{}`", task.title.replace('\n', " "), task.id);
    if let Some(parent) = &task.parent_task_id {
        line.push_str(&format!(" (subtask of `{parent}`)"));
    }
    if let Some(assignee) = &task.assignee {
        line.push_str(&format!(" → {assignee}"));
    }
    if comments > 0 {
        line.push_str(&format!(" · {comments} comment(s)"));
    }
    if let Some(pr) = pull_request {
        line.push_str(&format!(" · [#{} {}]({})", pr.number, pr.state, pr.url));
    }
    line.push('\n');
    line
}

/// The board as side-by-side columns of `width` characters each.
pub fn columns(board: &Board, width: usize) -> String {
    let width = width.max(12);
    let cell = |text: &str| -> String {
        let mut s: String = text.chars().take(width).collect();
        if text.chars().count() > width {
            s.pop();
            s.push('…');
        }
        format!("{s:<width$}")
    };
    let mut lines = vec![
        board
            .columns
            .iter()
            .map(|c| {
                cell(&format!(
                    "{} ({})",
                    c.status.title(),
                    column_total(board, c.status)
                ))
            })
            .collect::<Vec<_>>()
            .join(" │ "),
        board
            .columns
            .iter()
            .map(|_| "─".repeat(width))
            .collect::<Vec<_>>()
            .join("─┼─"),
    ];
    let rows = board
        .columns
        .iter()
        .map(|c| c.tasks.len() + usize::from(hidden(board, c) > 0))
        .max()
        .unwrap_or(0);
    for row in 0..rows {
        let cells: Vec<String> = board
            .columns
            .iter()
            .map(|column| match column.tasks.get(row) {
                Some(task) => {
                    let marker = if task.parent_task_id.is_some() {
                        "↳ "
                    } else {
                        ""
                    };
                    let pr = board
                        .pull_requests
                        .get(&task.id)
                        .map(|pr| format!(" #{} {}", pr.number, pr.state))
                        .unwrap_or_default();
                    cell(&format!("{marker}{}{pr}", task.title.replace('\n', " ")))
                }
                None if row == column.tasks.len() && hidden(board, column) > 0 => {
                    cell(&format!("… {} more", hidden(board, column)))
                }
                None => cell(""),
            })
            .collect();
        lines.push(cells.join(" │ ").trim_end().to_owned());
    }
    let mut out = format!("{} — {}\n\n", board.project.name, board.project.id);
    out.push_str(&lines.join("\n"));
    out.push('\n');
    out
}
