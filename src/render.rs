//! Readable text copies of structured results: what a person (or a model
//! that prefers prose) reads next to the JSON of a tool result or resource.

use rmcp::model::ContentBlock;

use crate::enhance::{Enhanced, templates::PromptTemplate};
use crate::store::{Deleted, Project, Session, Task, TaskDetail, TaskPage};
use crate::tools::{
    LogPageOut, ProjectList, SessionDetailOut, SessionList, TemplateList, TemplateRemoved,
    WorkspaceList,
};

/// A readable text copy of a tool's structured output.
pub trait Render {
    fn render(&self) -> String;

    /// The content blocks of a tool result: by default, the rendering. An
    /// output whose bulk is text that is not in its structured form (an
    /// execution log page) puts that text here, so it is sent once.
    fn into_content(self) -> Vec<ContentBlock>
    where
        Self: Sized,
    {
        vec![ContentBlock::text(self.render())]
    }
}

impl Render for WorkspaceList {
    fn render(&self) -> String {
        let mut out = String::new();
        for ws in &self.workspaces {
            out.push_str(&format!(
                "Workspace {} ({}), slug {}\nMembers:\n",
                ws.name, ws.id, ws.slug
            ));
            for m in &ws.members {
                out.push_str(&format!(
                    "- {} <{}> [{}] user_id {}\n",
                    m.name, m.email, m.role, m.user_id
                ));
            }
        }
        out
    }
}

impl Render for ProjectList {
    fn render(&self) -> String {
        if self.projects.is_empty() && self.next_cursor.is_none() {
            return "No projects yet; create_project makes one.".to_owned();
        }
        let mut out = self
            .projects
            .iter()
            .map(|p| format!("- {} ({}): {}", p.name, p.id, counts_line(p)))
            .collect::<Vec<_>>()
            .join("\n");
        if let Some(cursor) = &self.next_cursor {
            out.push_str(&format!(
                "\nMore projects follow: call list_projects with cursor {cursor}."
            ));
        }
        out
    }
}

fn counts_line(project: &Project) -> String {
    let c = &project.task_counts;
    format!(
        "{} todo, {} in progress, {} in review, {} done, {} cancelled",
        c.todo, c.inprogress, c.inreview, c.done, c.cancelled
    )
}

impl Render for Project {
    fn render(&self) -> String {
        let mut out = format!("Project {} ({})\n", self.name, self.id);
        if !self.description.is_empty() {
            out.push_str(&format!("{}\n", self.description));
        }
        if let Some(repo) = &self.repo_path {
            out.push_str(&format!("Repository: {repo}\n"));
        }
        if let Some(script) = &self.setup_script {
            out.push_str(&format!("Setup script: {script}\n"));
        }
        if let Some(script) = &self.cleanup_script {
            out.push_str(&format!("Cleanup script: {script}\n"));
        }
        out.push_str(&format!("Tasks: {}", counts_line(self)));
        out
    }
}

fn task_line(task: &Task) -> String {
    let mut line = format!("- [{}] {} ({})", task.status, task.title, task.id);
    if let Some(assignee) = &task.assignee {
        line.push_str(&format!(" assigned to {assignee}"));
    }
    if let Some(parent) = &task.parent_task_id {
        line.push_str(&format!(" subtask of {parent}"));
    }
    line
}

impl Render for Task {
    fn render(&self) -> String {
        let mut out = format!("Task {} [{}] {}\n", self.id, self.status, self.title);
        out.push_str(&format!("Project: {}\n", self.project_id));
        if let Some(parent) = &self.parent_task_id {
            out.push_str(&format!("Subtask of: {parent}\n"));
        }
        if let Some(assignee) = &self.assignee {
            out.push_str(&format!("Assigned to: {assignee}\n"));
        }
        if !self.description.is_empty() {
            out.push_str(&format!("\n{}\n", self.description));
        }
        out
    }
}

impl Render for TaskDetail {
    fn render(&self) -> String {
        let mut out = self.task.render();
        if !self.subtasks.is_empty() {
            if self.subtask_count > self.subtasks.len() as i64 {
                out.push_str(&format!(
                    "\nSubtasks ({} of {}; list_tasks with parent_task_id {} pages through all):\n",
                    self.subtasks.len(),
                    self.subtask_count,
                    self.task.id
                ));
            } else {
                out.push_str("\nSubtasks:\n");
            }
            for sub in &self.subtasks {
                out.push_str(&task_line(sub));
                out.push('\n');
            }
        }
        out
    }
}

impl Render for TaskPage {
    fn render(&self) -> String {
        let mut out = format!("{} of {} matching tasks:\n", self.tasks.len(), self.total);
        for task in &self.tasks {
            out.push_str(&task_line(task));
            out.push('\n');
        }
        if let Some(cursor) = &self.next_cursor {
            out.push_str(&format!(
                "More: call list_tasks again with cursor \"{cursor}\".\n"
            ));
        }
        out
    }
}

impl Render for Deleted {
    fn render(&self) -> String {
        format!(
            "Deleted {} task(s): {}",
            self.deleted_ids.len(),
            self.deleted_ids
                .iter()
                .map(|id| id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

impl Render for Enhanced {
    fn render(&self) -> String {
        let mut out = self.enhanced_prompt.clone();
        out.push_str(&format!(
            "\n\n---\nProvider: {} (model {}){}",
            self.provider,
            self.model,
            if self.cached { ", from the cache" } else { "" }
        ));
        if let (Some(input), Some(output)) = (self.input_tokens, self.output_tokens) {
            out.push_str(&format!(", {input} input + {output} output tokens"));
        }
        for failed in &self.fallback_from {
            out.push_str(&format!(
                "\nFell back from {}: {}",
                failed.provider, failed.error
            ));
        }
        out
    }
}

impl Render for PromptTemplate {
    fn render(&self) -> String {
        let mut out = format!("Prompt template {} [{}]", self.name, source_name(self));
        if !self.description.is_empty() {
            out.push_str(&format!(": {}", self.description));
        }
        out.push('\n');
        for argument in &self.arguments {
            out.push_str(&format!(
                "- argument `{}`{}{}\n",
                argument.name,
                if argument.required {
                    " (required)"
                } else {
                    " (optional)"
                },
                if argument.description.is_empty() {
                    String::new()
                } else {
                    format!(": {}", argument.description)
                }
            ));
        }
        out.push_str(&format!("\n{}", self.template));
        out
    }
}

fn source_name(template: &PromptTemplate) -> &'static str {
    match template.source {
        crate::enhance::templates::TemplateSource::Builtin => "built-in",
        crate::enhance::templates::TemplateSource::Global => "global",
        crate::enhance::templates::TemplateSource::Workspace => "workspace",
    }
}

impl Render for TemplateList {
    fn render(&self) -> String {
        let mut out = format!("{} prompt templates:\n", self.templates.len());
        for template in &self.templates {
            let arguments: Vec<String> = template
                .arguments
                .iter()
                .map(|a| {
                    if a.required {
                        a.name.clone()
                    } else {
                        format!("{}?", a.name)
                    }
                })
                .collect();
            out.push_str(&format!(
                "- {} [{}]({}): {}\n",
                template.name,
                source_name(template),
                arguments.join(", "),
                template.description
            ));
        }
        out
    }
}

impl Render for TemplateRemoved {
    fn render(&self) -> String {
        format!("Deleted prompt template {}", self.name)
    }
}

fn session_line(session: &Session) -> String {
    let mut line = format!(
        "- [{}] session {} on task {} (executor {}, turn {})",
        session.status, session.id, session.task_id, session.executor, session.turns
    );
    if let Some(branch) = &session.branch {
        line.push_str(&format!(", branch {branch}"));
    }
    if let Some(reason) = &session.status_reason {
        line.push_str(&format!(": {reason}"));
    }
    line
}

impl Render for Session {
    fn render(&self) -> String {
        let mut out = format!(
            "Session {} [{}] on task {}\nExecutor: {} (turns so far: {})\n",
            self.id, self.status, self.task_id, self.executor, self.turns
        );
        if let Some(reason) = &self.status_reason {
            out.push_str(&format!("Reason: {reason}\n"));
        }
        if let Some(branch) = &self.branch {
            out.push_str(&format!(
                "Branch: {branch}{}\n",
                self.base_branch
                    .as_deref()
                    .map(|b| format!(" (from {b})"))
                    .unwrap_or_default()
            ));
        }
        if let Some(path) = &self.worktree_path {
            match &self.runner_host {
                Some(host) => out.push_str(&format!("Worktree: {path} (on {host})\n")),
                None => out.push_str(&format!("Worktree: {path}\n")),
            }
        }
        out.push_str(&format!("Created: {}", self.created_at));
        if let Some(at) = &self.started_at {
            out.push_str(&format!(", started: {at}"));
        }
        if let Some(at) = &self.finished_at {
            out.push_str(&format!(", finished: {at}"));
        }
        out.push('\n');
        if self.status.is_active() {
            out.push_str(&format!(
                "Follow it with get_session or read_execution_log (session_id {}), or the resource \
                 kanban://sessions/{}/log.\n",
                self.id, self.id
            ));
        }
        out
    }
}

impl Render for SessionDetailOut {
    fn render(&self) -> String {
        let mut out = self.session.render();
        if !self.processes.is_empty() {
            out.push_str("Processes:\n");
            for p in &self.processes {
                out.push_str(&format!(
                    "- {} {} (turn {}) [{}]{}{} {}\n",
                    p.kind.as_str(),
                    p.id,
                    p.turn,
                    p.status.as_str(),
                    p.exit_code
                        .map(|c| format!(" exit code {c}"))
                        .unwrap_or_default(),
                    p.error
                        .as_deref()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default(),
                    p.command
                ));
            }
        }
        if !self.last_output.is_empty() {
            out.push_str("Last output:\n");
            out.push_str(&self.last_output);
            if !self.last_output.ends_with('\n') {
                out.push('\n');
            }
        }
        out
    }
}

impl Render for SessionList {
    fn render(&self) -> String {
        if self.sessions.is_empty() {
            return "No sessions match; start_session starts one.".to_owned();
        }
        let mut out = format!("{} session(s), newest first:\n", self.sessions.len());
        for session in &self.sessions {
            out.push_str(&session_line(session));
            out.push('\n');
        }
        out
    }
}

impl Render for LogPageOut {
    /// The line that follows a page of log text: where it is and what next.
    fn render(&self) -> String {
        format!(
            "[bytes {}-{} of {}; next_cursor {}; session {}{}]",
            self.start,
            self.next_cursor,
            self.total_bytes,
            self.next_cursor,
            self.session_status,
            if self.running {
                ", still running: read again from next_cursor for more"
            } else {
                ", finished"
            }
        )
    }

    /// The log text as it is (first block), then where it is (second).
    fn into_content(mut self) -> Vec<ContentBlock> {
        let status = self.render();
        vec![
            ContentBlock::text(std::mem::take(&mut self.text)),
            ContentBlock::text(status),
        ]
    }
}
