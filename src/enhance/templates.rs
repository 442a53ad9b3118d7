//! Prompt templates: text with named `{{placeholders}}`, published as MCP
//! prompts and used by `enhance_prompt`.
//!
//! Two kinds of placeholder:
//! - **arguments** the caller gives (`{{symptom}}`), declared in the
//!   template's argument list (undeclared ones are added as required);
//! - **task context** filled from the task named by the `task_id` argument:
//!   `{{task}}` (a block with title, status, description and subtasks),
//!   `{{task_title}}`, `{{project}}` and `{{repository}}`. A template that
//!   uses one of them gets a `task_id` argument (required unless declared
//!   otherwise).
//!
//! A line whose placeholders all came out empty (optional arguments not
//! given) is left out, so optional parts vanish cleanly.
//!
//! The four built-in templates live here, in code: every workspace has them
//! without a database row, and their names are reserved so a workspace
//! template can never shadow (and silently change) one.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::store::TaskContext;

/// Longest template name.
pub const MAX_NAME: usize = 64;
/// Longest template text, in characters.
pub const MAX_TEMPLATE: usize = 20_000;
/// Longest value of one argument, in characters.
pub const MAX_ARGUMENT: usize = 50_000;
/// Most arguments a template can declare.
pub const MAX_ARGUMENTS: usize = 20;

/// Placeholders filled from the task, not given by the caller.
pub const CONTEXT_PLACEHOLDERS: [&str; 4] = ["task", "task_title", "project", "repository"];
/// The argument that names the task the context placeholders come from.
pub const TASK_ID: &str = "task_id";

/// One argument of a template (an MCP prompt argument).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateArgument {
    /// As written between `{{` and `}}`.
    pub name: String,
    /// What the value should be.
    #[serde(default)]
    pub description: String,
    /// False: the prompt can be used without it.
    #[serde(default = "yes")]
    pub required: bool,
    /// Values `completion/complete` offers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<String>,
}

fn yes() -> bool {
    true
}

/// Where a template comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TemplateSource {
    /// Shipped with the server; cannot be changed or deleted.
    Builtin,
    /// A row shared by every workspace of the database (read-only here).
    Global,
    /// Belongs to your workspace; you can update or delete it.
    Workspace,
}

/// What kind of work a template asks for; steers the offline enhancer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkKind {
    Feature,
    Bug,
    Tests,
    Review,
    Refactor,
    Docs,
}

/// A template as listed and used.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PromptTemplate {
    /// Name, unique in the workspace; it is also the MCP prompt's name.
    pub name: String,
    /// A short human title, when the template has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What the prompt is for.
    pub description: String,
    /// The text, with `{{placeholder}}`s.
    pub template: String,
    /// The arguments the template takes (its MCP prompt arguments).
    pub arguments: Vec<TemplateArgument>,
    /// builtin, global or workspace.
    pub source: TemplateSource,
    /// Database id (absent for built-ins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

impl PromptTemplate {
    /// The kind of work of a built-in template (`None` for the others).
    pub fn kind(&self) -> Option<WorkKind> {
        if self.source != TemplateSource::Builtin {
            return None;
        }
        BUILTINS
            .iter()
            .find(|b| b.name == self.name)
            .map(|b| b.kind)
    }

    /// Whether completing `argument` should offer task titles (the free-text
    /// argument of a built-in that describes the work).
    pub fn completes_with_titles(&self, argument: &str) -> bool {
        self.source == TemplateSource::Builtin
            && BUILTINS
                .iter()
                .any(|b| b.name == self.name && b.title_argument == Some(argument))
    }
}

/// Why a template cannot be saved or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("{0}")]
    Invalid(String),
    /// Arguments that are required but were not given.
    #[error(
        "prompt '{template}' needs the argument{plural} {names}; {hint}",
        plural = if missing.len() == 1 { "" } else { "s" },
        names = missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", "),
        hint = "list_prompt_templates (or prompts/list) shows what each argument means"
    )]
    MissingArguments {
        template: String,
        missing: Vec<String>,
    },
}

struct Builtin {
    name: &'static str,
    title: &'static str,
    description: &'static str,
    kind: WorkKind,
    /// The argument that describes the work; completion offers task titles.
    title_argument: Option<&'static str>,
    arguments: &'static [(&'static str, &'static str, bool, &'static [&'static str])],
    text: &'static str,
}

const BUILTINS: [Builtin; 4] = [
    Builtin {
        name: "implement-task",
        title: "Implement task",
        description: "Ask an agent to implement a task from the board, with its context, subtasks and a definition of done.",
        kind: WorkKind::Feature,
        title_argument: None,
        arguments: &[
            (
                "task_id",
                "The task to implement (its id; completion suggests your tasks).",
                true,
                &[],
            ),
            (
                "notes",
                "Anything else the agent should know (optional).",
                false,
                &[],
            ),
        ],
        text: "Implement this task from the kanban board.\n\n\
{{task}}\n\n\
Project: {{project}}\n\
Repository: {{repository}}\n\
Notes: {{notes}}\n\n\
Read the relevant code before changing it. Keep the change focused on this task and follow the \
conventions already in the codebase. Add or update tests for the new behaviour, run the test suite, \
and finish with a short summary of what changed and why. When the work is ready for review, move \
the task to inreview with update_task.",
    },
    Builtin {
        name: "write-tests",
        title: "Write tests",
        description: "Ask an agent to write tests for a piece of behaviour, optionally tied to a task.",
        kind: WorkKind::Tests,
        title_argument: Some("subject"),
        arguments: &[
            (
                "subject",
                "What to test: a function, module, endpoint or behaviour.",
                true,
                &[],
            ),
            (
                "task_id",
                "A related task whose context to include (optional).",
                false,
                &[],
            ),
            (
                "framework",
                "Test framework or style to use (optional; default: what the project already uses).",
                false,
                &[],
            ),
        ],
        text: "Write tests for: {{subject}}\n\n\
{{task}}\n\
Repository: {{repository}}\n\
Test framework: {{framework}}\n\n\
Cover the main behaviour, boundary and empty inputs, and the error paths. Test through public \
interfaces rather than private details, keep each test independent of the others, and check that \
every new test fails when the behaviour it covers is broken. Run the whole suite and report the results.",
    },
    Builtin {
        name: "review-change",
        title: "Review change",
        description: "Ask an agent to review a change (a diff, branch or pull request) and report findings.",
        kind: WorkKind::Review,
        title_argument: Some("change"),
        arguments: &[
            (
                "change",
                "The change to review: a diff, a branch or pull request name, or a description.",
                true,
                &[],
            ),
            (
                "focus",
                "What to look at most closely (optional).",
                false,
                &[
                    "correctness",
                    "security",
                    "performance",
                    "error handling",
                    "tests",
                    "readability",
                ],
            ),
            (
                "task_id",
                "The task the change is for (optional).",
                false,
                &[],
            ),
        ],
        text: "Review this change:\n\n{{change}}\n\n\
{{task}}\n\
Focus on: {{focus}}\n\n\
Check that it does what the task asks, handles errors and edge cases, is covered by tests and is \
easy to read. Do not rewrite the change: report each finding with the file and line, why it matters \
and a suggested fix, most important first. End with a verdict: ready to merge, or what must change first.",
    },
    Builtin {
        name: "fix-bug",
        title: "Fix bug",
        description: "Ask an agent to find the root cause of a bug and fix it, with a regression test.",
        kind: WorkKind::Bug,
        title_argument: Some("symptom"),
        arguments: &[
            (
                "symptom",
                "What goes wrong: the error message, wrong output or behaviour seen.",
                true,
                &[],
            ),
            ("steps", "How to reproduce it (optional).", false, &[]),
            (
                "task_id",
                "The bug's task on the board (optional).",
                false,
                &[],
            ),
        ],
        text: "Fix this bug: {{symptom}}\n\n\
Steps to reproduce: {{steps}}\n\
{{task}}\n\
Repository: {{repository}}\n\n\
First reproduce the bug with a failing test. Then find the root cause (not just the place where the \
symptom shows) and fix it there. Keep the fix minimal, make sure the new test passes along with the \
rest of the suite, and explain the cause and the fix in a few sentences.",
    },
];

/// The built-in templates.
pub fn builtins() -> Vec<PromptTemplate> {
    BUILTINS
        .iter()
        .map(|b| PromptTemplate {
            name: b.name.to_owned(),
            title: Some(b.title.to_owned()),
            description: b.description.to_owned(),
            template: b.text.to_owned(),
            arguments: b
                .arguments
                .iter()
                .map(
                    |(name, description, required, suggestions)| TemplateArgument {
                        name: (*name).to_owned(),
                        description: (*description).to_owned(),
                        required: *required,
                        suggestions: suggestions.iter().map(|s| (*s).to_owned()).collect(),
                    },
                )
                .collect(),
            source: TemplateSource::Builtin,
            id: None,
            created_at: None,
            updated_at: None,
        })
        .collect()
}

/// The built-in template called `name`, if any.
pub fn builtin(name: &str) -> Option<PromptTemplate> {
    builtins().into_iter().find(|t| t.name == name)
}

pub fn is_builtin(name: &str) -> bool {
    BUILTINS.iter().any(|b| b.name == name)
}

/// Checks a template name: lowercase letters, digits and dashes, not a
/// built-in's.
pub fn check_name(name: &str) -> Result<(), TemplateError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric());
    if !valid {
        return Err(TemplateError::Invalid(format!(
            "template name '{name}' must be 1-{MAX_NAME} lowercase letters, digits and dashes, \
             starting with a letter or digit (e.g. `release-notes`); it becomes the MCP prompt name"
        )));
    }
    if is_builtin(name) {
        return Err(TemplateError::Invalid(format!(
            "'{name}' is the name of a built-in template and cannot be used by a workspace template; \
             choose another name (built-ins: {})",
            BUILTINS.map(|b| b.name).join(", ")
        )));
    }
    Ok(())
}

/// The placeholder names a text uses, in order of first use.
pub fn placeholders(text: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for segment in segments(text) {
        if let Segment::Placeholder(name) = segment
            && !seen.iter().any(|s| s == name)
        {
            seen.push(name.to_owned());
        }
    }
    seen
}

enum Segment<'a> {
    Text(&'a str),
    Placeholder(&'a str),
}

/// Splits a line into literal text and `{{name}}` placeholders. Braces that
/// do not enclose a valid name stay literal text.
fn segments(text: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let name = after[..end].trim();
        let valid = !name.is_empty()
            && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if valid {
            if start > 0 {
                out.push(Segment::Text(&rest[..start]));
            }
            out.push(Segment::Placeholder(name));
            rest = &after[end + 2..];
        } else {
            out.push(Segment::Text(&rest[..start + 2]));
            rest = after;
        }
    }
    if !rest.is_empty() {
        out.push(Segment::Text(rest));
    }
    out
}

/// Validates a workspace template's text and declared arguments and returns
/// the full argument list: declared ones first, then undeclared placeholders
/// (required), then `task_id` when context placeholders need it.
pub fn resolve_arguments(
    text: &str,
    declared: Vec<TemplateArgument>,
) -> Result<Vec<TemplateArgument>, TemplateError> {
    check_text(text)?;
    let used = placeholders(text);
    let names = check_declared(&declared, &used)?;
    let mut arguments = declared;
    add_undeclared(&mut arguments, names, &used);
    if arguments.len() > MAX_ARGUMENTS {
        return Err(TemplateError::Invalid(format!(
            "the template has {} arguments; the limit is {MAX_ARGUMENTS}",
            arguments.len()
        )));
    }
    Ok(arguments)
}

/// A template's text must be non-blank and within [`MAX_TEMPLATE`].
fn check_text(text: &str) -> Result<(), TemplateError> {
    if text.trim().is_empty() {
        return Err(TemplateError::Invalid(
            "field `template` must not be empty".to_owned(),
        ));
    }
    let chars = text.chars().count();
    if chars > MAX_TEMPLATE {
        return Err(TemplateError::Invalid(format!(
            "field `template` is {chars} characters long; the limit is {MAX_TEMPLATE}"
        )));
    }
    Ok(())
}

/// Checks each declared argument against the placeholders the text `used`
/// and returns the declared names.
fn check_declared(
    declared: &[TemplateArgument],
    used: &[String],
) -> Result<BTreeSet<String>, TemplateError> {
    let mut names: BTreeSet<String> = BTreeSet::new();
    for argument in declared {
        let name = argument.name.as_str();
        if CONTEXT_PLACEHOLDERS.contains(&name) {
            return Err(TemplateError::Invalid(format!(
                "argument `{name}` is filled from the task and cannot be declared; declare `task_id` instead"
            )));
        }
        if !names.insert(name.to_owned()) {
            return Err(TemplateError::Invalid(format!(
                "argument `{name}` is declared twice"
            )));
        }
        if name != TASK_ID && !used.iter().any(|u| u == name) {
            return Err(TemplateError::Invalid(format!(
                "argument `{name}` is declared but the template never uses {{{{{name}}}}}; \
                 add it to the text or remove it from `arguments`"
            )));
        }
        if argument.description.chars().count() > 500 {
            return Err(TemplateError::Invalid(format!(
                "the description of argument `{name}` is longer than 500 characters"
            )));
        }
    }
    Ok(names)
}

/// Appends the placeholders not declared (as required arguments), then
/// `task_id` when a context placeholder needs it and it is not there yet.
fn add_undeclared(
    arguments: &mut Vec<TemplateArgument>,
    mut names: BTreeSet<String>,
    used: &[String],
) {
    for name in used {
        if CONTEXT_PLACEHOLDERS.contains(&name.as_str()) || names.contains(name.as_str()) {
            continue;
        }
        names.insert(name.clone());
        arguments.push(TemplateArgument {
            name: name.clone(),
            description: String::new(),
            required: true,
            suggestions: Vec::new(),
        });
    }
    let needs_task = used
        .iter()
        .any(|u| CONTEXT_PLACEHOLDERS.contains(&u.as_str()));
    if needs_task && !arguments.iter().any(|a| a.name == TASK_ID) {
        arguments.push(TemplateArgument {
            name: TASK_ID.to_owned(),
            description: "The task whose context fills the template (its id).".to_owned(),
            required: true,
            suggestions: Vec::new(),
        });
    }
}

/// Checks that every required argument has a non-blank value and that no
/// unknown argument was given.
pub fn check_arguments(
    template: &PromptTemplate,
    values: &BTreeMap<String, String>,
) -> Result<(), TemplateError> {
    if let Some(unknown) = values
        .keys()
        .find(|k| !template.arguments.iter().any(|a| &a.name == *k))
    {
        let known: Vec<&str> = template.arguments.iter().map(|a| a.name.as_str()).collect();
        return Err(TemplateError::Invalid(format!(
            "prompt '{}' has no argument `{unknown}`; its arguments are: {}",
            template.name,
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        )));
    }
    if let Some((name, value)) = values
        .iter()
        .find(|(_, v)| v.chars().count() > MAX_ARGUMENT)
    {
        return Err(TemplateError::Invalid(format!(
            "argument `{name}` is {} characters long; the limit is {MAX_ARGUMENT}",
            value.chars().count()
        )));
    }
    let missing: Vec<String> = template
        .arguments
        .iter()
        .filter(|a| a.required)
        .filter(|a| values.get(&a.name).is_none_or(|v| v.trim().is_empty()))
        .map(|a| a.name.clone())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(TemplateError::MissingArguments {
            template: template.name.clone(),
            missing,
        })
    }
}

/// Renders a template with argument values and the task's context. Call
/// [`check_arguments`] first; missing optional values render empty and a line
/// whose placeholders are all empty is dropped.
pub fn render(
    template: &PromptTemplate,
    values: &BTreeMap<String, String>,
    context: Option<&TaskContext>,
) -> String {
    let mut lines = Vec::new();
    for line in template.template.lines() {
        let mut out = String::new();
        let mut placeholders = 0;
        let mut filled = 0;
        for segment in segments(line) {
            match segment {
                Segment::Text(text) => out.push_str(text),
                Segment::Placeholder(name) => {
                    placeholders += 1;
                    let value = context_value(name, context)
                        .or_else(|| values.get(name).map(|v| v.trim().to_owned()))
                        .unwrap_or_default();
                    if !value.is_empty() {
                        filled += 1;
                    }
                    out.push_str(&value);
                }
            }
        }
        if placeholders > 0 && filled == 0 {
            continue;
        }
        lines.push(out.trim_end().to_owned());
    }
    collapse_blank_lines(&lines.join("\n"))
}

fn context_value(name: &str, context: Option<&TaskContext>) -> Option<String> {
    if !CONTEXT_PLACEHOLDERS.contains(&name) {
        return None;
    }
    let Some(ctx) = context else {
        return Some(String::new());
    };
    Some(match name {
        "task" => task_block(ctx),
        "task_title" => ctx.task.title.clone(),
        "project" => ctx.project_name.clone(),
        "repository" => ctx.repository.clone().unwrap_or_default(),
        _ => String::new(),
    })
}

/// The `{{task}}` block: title, status, id, description and subtasks.
pub fn task_block(ctx: &TaskContext) -> String {
    let task = &ctx.task;
    let mut out = format!(
        "Task: {} (status {}, id {})",
        task.title, task.status, task.id
    );
    let description = task.description.trim();
    if !description.is_empty() {
        out.push_str("\n\n");
        out.push_str(description);
    }
    if !ctx.subtasks.is_empty() {
        out.push_str("\n\nSubtasks:");
        for sub in &ctx.subtasks {
            out.push_str(&format!("\n- [{}] {}", sub.status, sub.title));
        }
    }
    out
}

/// Runs of blank lines become one, and the text is trimmed.
fn collapse_blank_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines() {
        if line.trim().is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn custom(text: &str, declared: Vec<TemplateArgument>) -> PromptTemplate {
        PromptTemplate {
            name: "custom".to_owned(),
            title: None,
            description: String::new(),
            template: text.to_owned(),
            arguments: resolve_arguments(text, declared).expect("valid template"),
            source: TemplateSource::Workspace,
            id: None,
            created_at: None,
            updated_at: None,
        }
    }

    #[test]
    fn placeholders_are_found_once_in_order() {
        assert_eq!(
            placeholders("{{b}} and {{ a }} then {{b}}, {{not valid}} {{}} {x}"),
            ["b", "a"]
        );
    }

    #[test]
    fn undeclared_placeholders_become_required_and_context_needs_task_id() {
        let t = custom("Do {{thing}} for {{task_title}}", Vec::new());
        let names: Vec<_> = t.arguments.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["thing", "task_id"]);
        assert!(t.arguments.iter().all(|a| a.required));
    }

    #[test]
    fn declared_but_unused_and_context_arguments_are_refused() {
        let arg = |name: &str| TemplateArgument {
            name: name.to_owned(),
            description: String::new(),
            required: true,
            suggestions: Vec::new(),
        };
        let err = resolve_arguments("Hello {{a}}", vec![arg("b")]).expect_err("unused");
        assert!(err.to_string().contains("never uses {{b}}"), "{err}");
        let err = resolve_arguments("{{task}}", vec![arg("task")]).expect_err("context");
        assert!(err.to_string().contains("task_id"), "{err}");
        let err = resolve_arguments("{{a}}", vec![arg("a"), arg("a")]).expect_err("twice");
        assert!(err.to_string().contains("twice"), "{err}");
        assert!(resolve_arguments("  ", Vec::new()).is_err());
    }

    #[test]
    fn missing_and_unknown_arguments_are_named() {
        let t = custom("Fix {{symptom}} in {{area}}", Vec::new());
        let err = check_arguments(&t, &values(&[("area", "  ")])).expect_err("missing");
        assert_eq!(
            err,
            TemplateError::MissingArguments {
                template: "custom".to_owned(),
                missing: vec!["symptom".to_owned(), "area".to_owned()],
            }
        );
        assert!(err.to_string().contains("`symptom`, `area`"), "{err}");
        let err = check_arguments(
            &t,
            &values(&[("symptom", "x"), ("area", "y"), ("zone", "z")]),
        )
        .expect_err("unknown");
        assert!(err.to_string().contains("`zone`"), "{err}");
    }

    #[test]
    fn lines_with_only_empty_optional_placeholders_are_dropped() {
        let optional = TemplateArgument {
            name: "notes".to_owned(),
            description: String::new(),
            required: false,
            suggestions: Vec::new(),
        };
        let t = custom(
            "Goal: {{goal}}\n\nNotes: {{notes}}\n\nDone.",
            vec![optional],
        );
        assert_eq!(
            render(&t, &values(&[("goal", "ship it")]), None),
            "Goal: ship it\n\nDone."
        );
        assert_eq!(
            render(
                &t,
                &values(&[("goal", "ship it"), ("notes", "carefully")]),
                None
            ),
            "Goal: ship it\n\nNotes: carefully\n\nDone."
        );
    }

    #[test]
    fn builtins_are_reserved_and_render_without_a_task() {
        assert!(check_name("fix-bug").is_err());
        assert!(check_name("Fix_Bug").is_err());
        assert!(check_name("-x").is_err());
        assert!(check_name("release-notes").is_ok());
        let fix = builtin("fix-bug").expect("built-in");
        let text = render(&fix, &values(&[("symptom", "login returns 500")]), None);
        assert!(
            text.starts_with("Fix this bug: login returns 500\n\nFirst reproduce"),
            "{text}"
        );
        assert!(!text.contains("{{"), "{text}");
        for t in builtins() {
            let args = resolve_arguments(&t.template, t.arguments.clone()).expect("valid built-in");
            assert_eq!(
                args, t.arguments,
                "{} declares all its placeholders",
                t.name
            );
        }
    }
}
