//! What the model providers are asked: one system prompt that describes a
//! good agent prompt, and a user message with the rough text and its context.

use super::{provider::EnhanceRequest, templates::task_block};

/// The instructions every model gets.
pub const SYSTEM: &str = "You improve prompts for AI coding agents. Rewrite the rough prompt you are given \
into a clear, complete prompt that an agent can act on without asking questions. Use these markdown \
sections: `## Goal` (one or two sentences), `## Context` (the task, project, repository and subtasks you \
were given), `## Constraints` and `## Acceptance criteria` (checkable bullet points). Keep every fact, \
name, path, number and requirement of the input. Do not invent requirements, files, APIs or facts that \
are not in the input; where something important is unknown, say what the agent should find out first. \
Reply with the improved prompt only, with no preamble and no closing remarks.";

/// The user message: the rough prompt, then the context it came with.
pub fn user(request: &EnhanceRequest) -> String {
    let text = request.text.trim();
    let mut out = String::from("Rough prompt:\n");
    match &request.template {
        Some(template) => {
            out.push_str(template.trim());
            if !text.is_empty() && !template.contains(text) {
                out.push_str("\n\n");
                out.push_str(text);
            }
        }
        None => out.push_str(text),
    }
    if let Some(ctx) = &request.context {
        out.push_str("\n\nContext from the kanban board:\n");
        out.push_str(&task_block(ctx));
        out.push_str(&format!("\nProject: {}", ctx.project_name));
        let description = ctx.project_description.trim();
        if !description.is_empty() {
            out.push_str(&format!(" ({description})"));
        }
        if let Some(repo) = &ctx.repository {
            out.push_str(&format!("\nRepository: {repo}"));
        }
    }
    out
}
