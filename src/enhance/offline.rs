//! The offline enhancer, the default provider: a deterministic rewrite of a
//! rough prompt into **Goal**, **Context** (task, project, repository,
//! subtasks, details), **Constraints**, **Acceptance criteria** and, when the
//! prompt asks something, **Open questions**. No model, no network.
//!
//! It splits the rough text (and the task's description) into sentences and
//! list items, drops filler ("pls", "can you"), sorts each piece by what it
//! says ("don't …" is a constraint, "… should return 404" an acceptance
//! criterion, a question an open question) and adds the constraints and
//! criteria that the kind of work (bug fix, feature, tests, refactor, docs,
//! review) calls for.

use super::{
    config::ProviderKind,
    provider::{BoxFuture, Completed, EnhanceRequest, Provider, ProviderError},
    templates::WorkKind,
};
use crate::store::{TaskContext, TaskStatus};

/// The offline enhancer's "model": its rules version, part of the cache key,
/// so a changed rule set never serves an old result.
pub const MODEL: &str = "structured-v1";

pub struct Offline;

impl Provider for Offline {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Offline
    }

    fn enhance<'a>(
        &'a self,
        request: &'a EnhanceRequest,
        _model: &'a str,
    ) -> BoxFuture<'a, Result<Completed, ProviderError>> {
        Box::pin(async move {
            Ok(Completed {
                text: rewrite(request),
                input_tokens: None,
                output_tokens: None,
            })
        })
    }
}

/// What a piece of the rough text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Detail,
    Constraint,
    Acceptance,
    Question,
}

#[derive(Debug, Clone)]
struct Item {
    text: String,
    role: Role,
}

/// Words that open a constraint.
const CONSTRAINT_OPENERS: [&str; 16] = [
    "don't",
    "do not",
    "dont",
    "never",
    "avoid",
    "without",
    "no ",
    "only",
    "keep",
    "must",
    "preserve",
    "stay",
    "leave",
    "shouldn't",
    "should not",
    "not ",
];
/// Phrases that make a sentence a constraint wherever they appear.
const CONSTRAINT_PHRASES: [&str; 12] = [
    " must not ",
    " mustn't ",
    " must ",
    " should not ",
    " shouldn't ",
    " do not ",
    " don't ",
    " never ",
    " without ",
    "backwards compatible",
    "backward compatible",
    " no new ",
];
/// Words that open an acceptance criterion.
const ACCEPTANCE_OPENERS: [&str; 7] = [
    "make sure",
    "ensure",
    "verify",
    "it should",
    "should",
    "done when",
    "expect",
];
const ACCEPTANCE_PHRASES: [&str; 6] = [
    " should ",
    " so that ",
    " expected ",
    " must return",
    " returns ",
    " passes",
];
/// Clause openers after a comma that start a new piece ("fix X, don't touch Y").
const CLAUSE_OPENERS: [&str; 16] = [
    "it ",
    "this ",
    "don't",
    "do not",
    "dont",
    "never",
    "without",
    "make sure",
    "ensure",
    "it should",
    "it must",
    "should",
    "must",
    "but ",
    "no ",
    "keep",
];
/// Leading filler removed from a piece.
const FILLER_PREFIXES: [&str; 22] = [
    "pls ",
    "plz ",
    "please ",
    "can you ",
    "could you ",
    "would you ",
    "can we ",
    "i want you to ",
    "i need you to ",
    "i'd like you to ",
    "i would like you to ",
    "we need to ",
    "we should ",
    "need to ",
    "you need to ",
    "hey ",
    "hi ",
    "ok ",
    "okay ",
    "so ",
    "just ",
    "also ",
];
const FILLER_SUFFIXES: [&str; 7] = [" pls", " plz", " please", " thanks", " thx", " asap", " ty"];

/// The enhanced prompt for `request`.
pub fn rewrite(request: &EnhanceRequest) -> String {
    let context = request.context.as_ref();
    let urgent = is_urgent(&request.text);
    let mut prompt_items = items(&request.text);
    let description_items = context
        .map(|c| items(&c.task.description))
        .unwrap_or_default();
    let (goal, kind) = goal_and_kind(request, &mut prompt_items, &description_items);

    let mut all_items = prompt_items;
    all_items.extend(description_items);
    let mut pieces = Pieces::by_role(&all_items);
    for default in default_constraints(kind, context, urgent) {
        push_unique(&mut pieces.constraints, default);
    }
    add_acceptance(&mut pieces.acceptance, kind, context);
    render(request, &goal, &pieces)
}

/// The goal, taken out of `prompt_items`, and the kind of work.
fn goal_and_kind(
    request: &EnhanceRequest,
    prompt_items: &mut Vec<Item>,
    description_items: &[Item],
) -> (String, WorkKind) {
    let context = request.context.as_ref();
    // The goal: the first plain statement of the prompt, else the task title,
    // else whatever the prompt starts with.
    let goal = take_goal(prompt_items)
        .or_else(|| context.map(|c| sentence(&c.task.title)))
        .or_else(|| take_any(prompt_items))
        .unwrap_or_else(|| "Describe the work to do.".to_owned());
    let kind = request.kind.unwrap_or_else(|| {
        let all: Vec<&str> = std::iter::once(goal.as_str())
            .chain(prompt_items.iter().map(|i| i.text.as_str()))
            .chain(description_items.iter().map(|i| i.text.as_str()))
            .collect();
        detect_kind(&goal, &all.join(" "))
    });
    // A problem statement ("Export times out") becomes something to do.
    let goal = goal_for_kind(
        goal,
        request
            .kind
            .or((kind == WorkKind::Bug).then_some(WorkKind::Bug)),
    );
    (goal, kind)
}

/// The prompt's and the description's pieces by role, each line once.
struct Pieces {
    details: Vec<String>,
    constraints: Vec<String>,
    acceptance: Vec<String>,
    questions: Vec<String>,
}

impl Pieces {
    fn by_role(items: &[Item]) -> Self {
        let pick = |role: Role| -> Vec<String> {
            let mut out: Vec<String> = Vec::new();
            for item in items.iter().filter(|i| i.role == role) {
                push_unique(&mut out, item.text.clone());
            }
            out
        };
        Self {
            details: pick(Role::Detail),
            constraints: pick(Role::Constraint),
            acceptance: pick(Role::Acceptance),
            questions: pick(Role::Question),
        }
    }
}

/// The prompt's markdown: goal, the template's instructions (unless a kind
/// was asked for), context, constraints, acceptance criteria, open questions.
fn render(request: &EnhanceRequest, goal: &str, pieces: &Pieces) -> String {
    let mut out = format!("## Goal\n{goal}\n");

    if let Some(template) = request
        .template
        .as_deref()
        .filter(|_| request.kind.is_none())
    {
        out.push_str("\n## Instructions\n");
        out.push_str(template.trim());
        out.push('\n');
    }

    out.push_str("\n## Context\n");
    out.push_str(&context_lines(request, &pieces.details).join("\n"));
    out.push('\n');

    out.push_str("\n## Constraints\n");
    out.push_str(&bullets(&pieces.constraints));

    out.push_str("\n## Acceptance criteria\n");
    out.push_str(&bullets(&pieces.acceptance));

    if !pieces.questions.is_empty() {
        out.push_str("\n## Open questions\n");
        out.push_str(&bullets(&pieces.questions));
        out.push_str("- Answer these from the code and the task first; ask only what the code cannot tell you.\n");
    }
    out.trim_end().to_owned()
}

/// The Context section: the task and its project, the template's details
/// and the prompt's, or a note that nothing was given.
fn context_lines(request: &EnhanceRequest, details: &[String]) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(ctx) = &request.context {
        lines.extend(task_lines(ctx));
    }
    for detail in request.details.iter().chain(details) {
        lines.push(format!("- {detail}"));
    }
    if lines.is_empty() {
        lines.push(
            "- No task, project or repository was given: find the relevant code first, and state any assumption you make."
                .to_owned(),
        );
    }
    lines
}

/// The task's open subtasks and the kind's default criteria, after the
/// prompt's own.
fn add_acceptance(acceptance: &mut Vec<String>, kind: WorkKind, context: Option<&TaskContext>) {
    if let Some(ctx) = context {
        for sub in ctx
            .subtasks
            .iter()
            .filter(|s| !matches!(s.status, TaskStatus::Done | TaskStatus::Cancelled))
        {
            push_unique(acceptance, format!("Subtask done: {}", sub.title));
        }
    }
    for default in default_acceptance(kind, context) {
        push_unique(acceptance, default);
    }
}

fn bullets(lines: &[String]) -> String {
    lines.iter().map(|l| format!("- {l}\n")).collect()
}

fn push_unique(list: &mut Vec<String>, line: String) {
    let key = line.to_lowercase();
    if !list.iter().any(|l| l.to_lowercase() == key) {
        list.push(line);
    }
}

fn task_lines(ctx: &TaskContext) -> Vec<String> {
    let task = &ctx.task;
    let mut lines = vec![format!(
        "- Task: {} (status {}, id `{}`)",
        task.title, task.status, task.id
    )];
    let project_description = ctx
        .project_description
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty());
    lines.push(match project_description {
        Some(d) => format!("- Project: {} — {}", ctx.project_name, clip(d, 200)),
        None => format!("- Project: {}", ctx.project_name),
    });
    if let Some(repo) = &ctx.repository {
        lines.push(format!("- Repository: `{repo}`"));
    }
    if let Some(parent) = &task.parent_task_id {
        lines.push(format!("- This is a subtask of task `{parent}`."));
    }
    if !ctx.subtasks.is_empty() {
        lines.push("- Subtasks:".to_owned());
        for sub in &ctx.subtasks {
            lines.push(format!("  - [{}] {}", sub.status, sub.title));
        }
    }
    lines
}

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{}…", cut.trim_end())
}

fn take_goal(items: &mut Vec<Item>) -> Option<String> {
    let index = items.iter().position(|i| i.role == Role::Detail)?;
    Some(items.remove(index).text)
}

fn take_any(items: &mut Vec<Item>) -> Option<String> {
    (!items.is_empty()).then(|| items.remove(0).text)
}

/// With a built-in template the goal says the kind of work when it doesn't
/// already ("Write tests for: …").
fn goal_for_kind(goal: String, kind: Option<WorkKind>) -> String {
    let Some(kind) = kind else { return goal };
    let lower = goal.to_lowercase();
    let (verbs, prefix): (&[&str], &str) = match kind {
        WorkKind::Bug => (
            &["fix", "debug", "repair", "resolve", "find"],
            "Fix this bug",
        ),
        WorkKind::Tests => (
            &["test", "write test", "add test", "cover"],
            "Write tests for",
        ),
        WorkKind::Review => (&["review", "check", "audit"], "Review this change"),
        WorkKind::Feature => (&["implement", "add", "build", "create"], "Implement"),
        WorkKind::Refactor => (&["refactor", "clean", "simplify"], "Refactor"),
        WorkKind::Docs => (&["document", "write doc", "update doc"], "Document"),
    };
    if verbs.iter().any(|v| lower.starts_with(v)) {
        return goal;
    }
    let subject = lowercase_first(goal.trim_end_matches('.'));
    format!("{prefix}: {subject}.")
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match (chars.next(), chars.clone().next()) {
        // Keep acronyms and names ("API", "CSV") as written.
        (Some(first), Some(second)) if first.is_uppercase() && !second.is_uppercase() => {
            first.to_lowercase().chain(chars).collect()
        }
        _ => text.to_owned(),
    }
}

fn default_constraints(kind: WorkKind, context: Option<&TaskContext>, urgent: bool) -> Vec<String> {
    let mut out = Vec::new();
    if kind == WorkKind::Review {
        out.push("Do not change the code under review; report findings instead.".to_owned());
    } else {
        out.push("Keep the change focused on the goal; leave unrelated code as it is.".to_owned());
    }
    match context.and_then(|c| c.repository.as_deref()) {
        Some(repo) => out.push(format!(
            "Work in `{repo}` and follow the conventions already used there (structure, naming, error handling)."
        )),
        None => out.push(
            "Follow the conventions already used in the codebase (structure, naming, error handling).".to_owned(),
        ),
    }
    out.push(
        match kind {
            WorkKind::Bug => "Fix the root cause, not only the place where the symptom shows.",
            WorkKind::Feature => "Add no new dependency unless it is needed, and say why if you do.",
            WorkKind::Tests => "Test behaviour through public interfaces, not private details; keep each test independent.",
            WorkKind::Refactor => "Do not change behaviour: public interfaces and outputs stay the same.",
            WorkKind::Docs => "Describe what the code actually does; check every statement and example against it.",
            WorkKind::Review => "Judge the change against what it is meant to do; note, but do not expand, its scope.",
        }
        .to_owned(),
    );
    if urgent {
        out.push(
            "This is urgent: prefer the smallest safe change and note any follow-up work."
                .to_owned(),
        );
    }
    out
}

fn default_acceptance(kind: WorkKind, context: Option<&TaskContext>) -> Vec<String> {
    let mut out: Vec<String> = match kind {
        WorkKind::Bug => vec![
            "A test reproduces the bug: it fails before the fix and passes after it.".to_owned(),
            "The symptom described above no longer occurs.".to_owned(),
        ],
        WorkKind::Feature => vec!["The new behaviour is covered by tests, including its error cases.".to_owned()],
        WorkKind::Tests => vec![
            "The tests cover the main behaviour, boundary and empty inputs, and the error paths.".to_owned(),
            "Every new test fails when the behaviour it covers is broken.".to_owned(),
        ],
        WorkKind::Refactor => {
            vec!["The existing tests pass without changing what they assert.".to_owned()]
        }
        WorkKind::Docs => vec!["Every example in the documentation works as written.".to_owned()],
        WorkKind::Review => vec![
            "Each finding names the file and line, says why it matters and suggests a fix, most important first."
                .to_owned(),
            "The review ends with a verdict: ready to merge, or what must change first.".to_owned(),
        ],
    };
    if !matches!(kind, WorkKind::Review | WorkKind::Docs) {
        out.push("The build, the linters and the whole test suite pass.".to_owned());
    }
    if let Some(ctx) = context
        && kind != WorkKind::Review
    {
        out.push(format!(
            "Task `{}` is moved to inreview (update_task) with a short summary of what changed and why.",
            ctx.task.id
        ));
    }
    out
}

fn is_urgent(text: &str) -> bool {
    let lower = format!(" {} ", text.to_lowercase());
    [
        " asap",
        " urgent",
        " urgently",
        "right away",
        " immediately",
    ]
    .iter()
    .any(|w| lower.contains(w))
}

/// What kind of work the text asks for: the goal's first verb decides, else
/// the words used anywhere. Long because it is the rules' word table (one
/// word a line); the logic is the few `starts`/`has` checks.
fn detect_kind(goal: &str, all: &str) -> WorkKind {
    let goal = goal.to_lowercase();
    let starts = |words: &[&str]| words.iter().any(|w| goal.starts_with(w));
    if starts(&["fix", "debug", "repair", "resolve"]) {
        return WorkKind::Bug;
    }
    if starts(&["write test", "add test", "test ", "cover "]) {
        return WorkKind::Tests;
    }
    if starts(&["review", "audit"]) {
        return WorkKind::Review;
    }
    if starts(&[
        "refactor",
        "clean up",
        "cleanup",
        "simplify",
        "restructure",
        "rename",
        "extract",
    ]) {
        return WorkKind::Refactor;
    }
    if starts(&[
        "document",
        "write doc",
        "update doc",
        "update the readme",
        "update readme",
    ]) {
        return WorkKind::Docs;
    }
    let words = format!(
        " {} ",
        all.to_lowercase()
            .replace(|c: char| !c.is_alphanumeric() && c != '\'', " ")
    );
    let has = |list: &[&str]| list.iter().any(|w| words.contains(&format!(" {w} ")));
    if starts(&[
        "add",
        "implement",
        "build",
        "create",
        "support",
        "make",
        "allow",
        "let",
        "show",
    ]) {
        return WorkKind::Feature;
    }
    if has(&[
        "bug",
        "broken",
        "crash",
        "crashes",
        "crashing",
        "error",
        "errors",
        "fails",
        "failing",
        "exception",
        "panic",
        "panics",
        "times out",
        "timeout",
        "timeouts",
        "hangs",
        "freezes",
        "leak",
        "leaks",
        "slow",
        "regression",
        "wrong",
        "500",
        "doesn't",
        "fix",
    ]) {
        return WorkKind::Bug;
    }
    if has(&["tests", "test", "coverage"]) {
        return WorkKind::Tests;
    }
    if has(&["refactor", "cleanup", "simplify"]) {
        return WorkKind::Refactor;
    }
    if has(&["docs", "documentation", "readme", "changelog"]) {
        return WorkKind::Docs;
    }
    WorkKind::Feature
}

/// Splits text into classified pieces: list items and sentences, with
/// comma-separated clauses split off when they open like a constraint or a
/// criterion. A line ending in ':' that names a section ("Acceptance
/// criteria:", "Constraints:") classifies the list under it.
fn items(text: &str) -> Vec<Item> {
    let mut out = Vec::new();
    let mut section: Option<Role> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            section = None;
            continue;
        }
        let (bullet, body) = strip_bullet(trimmed);
        let heading = body.trim_start_matches('#').trim();
        if !bullet && (trimmed.starts_with('#') || heading.ends_with(':')) {
            let name = heading.trim_end_matches(':').to_lowercase();
            if let Some(role) = heading_role(&name) {
                section = Some(role);
                continue;
            }
            if trimmed.starts_with('#') {
                section = None;
                continue;
            }
        }
        if !bullet {
            section = None;
        }
        let pieces = if bullet {
            vec![body.to_owned()]
        } else {
            sentences(body)
        };
        for piece in pieces {
            for clause in clauses(&piece) {
                let text = clean(&clause);
                if text.is_empty() {
                    continue;
                }
                let role = section.unwrap_or_else(|| classify(&text));
                // "should return 429" reads as a criterion once it has a subject.
                let text = if role == Role::Acceptance && text.to_lowercase().starts_with("should ")
                {
                    format!("It {text}")
                } else {
                    text
                };
                out.push(Item {
                    text: sentence(&text),
                    role,
                });
            }
        }
    }
    out
}

fn heading_role(name: &str) -> Option<Role> {
    let has = |words: &[&str]| words.iter().any(|w| name.contains(w));
    if has(&[
        "acceptance",
        "done when",
        "definition of done",
        "expected",
        "success criteria",
    ]) {
        Some(Role::Acceptance)
    } else if has(&[
        "constraint",
        "requirement",
        "rules",
        "limitations",
        "don't",
        "do not",
    ]) {
        Some(Role::Constraint)
    } else if has(&["question"]) {
        Some(Role::Question)
    } else if has(&["context", "background", "notes", "details"]) {
        Some(Role::Detail)
    } else {
        None
    }
}

fn strip_bullet(line: &str) -> (bool, &str) {
    for marker in ["- [ ] ", "- [x] ", "* [ ] ", "- ", "* ", "• ", "+ "] {
        if let Some(rest) = line.strip_prefix(marker) {
            return (true, rest.trim());
        }
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 && digits <= 3 {
        let rest = &line[digits..];
        if let Some(body) = rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") ")) {
            return (true, body.trim());
        }
    }
    (false, line)
}

/// Splits prose into sentences at '.', '!', '?' or ';' followed by a space,
/// keeping abbreviations such as "e.g." together.
fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        current.push(c);
        let at_break = matches!(c, '.' | '!' | '?' | ';')
            && chars.get(i + 1).is_none_or(|n| n.is_whitespace());
        if at_break {
            let lower = current.to_lowercase();
            let abbreviation = ["e.g.", "i.e.", "etc.", "vs.", "approx.", "incl."]
                .iter()
                .any(|a| lower.ends_with(a));
            if !abbreviation {
                let piece = current.trim().trim_end_matches(';').trim().to_owned();
                if !piece.is_empty() {
                    out.push(piece);
                }
                current.clear();
            }
        }
    }
    let rest = current.trim();
    if !rest.is_empty() {
        out.push(rest.to_owned());
    }
    out
}

/// Splits "fix the login, don't touch the API" into two pieces.
fn clauses(sentence: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = sentence;
    'outer: loop {
        let mut search = 0;
        while let Some(pos) = rest[search..].find(", ").map(|p| p + search) {
            let after = rest[pos + 2..].to_lowercase();
            let after = after.trim_start_matches("and ").trim_start_matches("but ");
            if CLAUSE_OPENERS.iter().any(|o| after.starts_with(o)) {
                out.push(rest[..pos].to_owned());
                let next = &rest[pos + 2..];
                rest = next
                    .strip_prefix("and ")
                    .or_else(|| next.strip_prefix("but "))
                    .unwrap_or(next);
                continue 'outer;
            }
            search = pos + 2;
        }
        out.push(rest.to_owned());
        break;
    }
    out
}

/// Removes filler and surrounding punctuation.
fn clean(text: &str) -> String {
    let mut text = text
        .trim()
        .trim_end_matches(['.', '!', ','])
        .trim()
        .to_owned();
    loop {
        let lower = text.to_lowercase();
        let before = text.len();
        if let Some(prefix) = FILLER_PREFIXES.iter().find(|p| lower.starts_with(*p)) {
            text = text[prefix.len()..].trim_start().to_owned();
        }
        let lower = text.to_lowercase();
        if let Some(suffix) = FILLER_SUFFIXES
            .iter()
            .find(|s| lower.ends_with(*s) || lower == s.trim())
        {
            let cut = text.len().saturating_sub(suffix.len());
            text = text[..cut]
                .trim_end()
                .trim_end_matches([',', '.', '!'])
                .to_owned();
        }
        if text.len() == before {
            break;
        }
    }
    text
}

fn classify(text: &str) -> Role {
    let lower = text.to_lowercase();
    let padded = format!(" {lower} ");
    if lower.ends_with('?') {
        return Role::Question;
    }
    if CONSTRAINT_OPENERS.iter().any(|o| lower.starts_with(o))
        || CONSTRAINT_PHRASES.iter().any(|p| padded.contains(p))
    {
        return Role::Constraint;
    }
    if ACCEPTANCE_OPENERS.iter().any(|o| lower.starts_with(o))
        || ACCEPTANCE_PHRASES.iter().any(|p| padded.contains(p))
    {
        return Role::Acceptance;
    }
    Role::Detail
}

/// Capitalises the first letter and ends the text with a full stop.
fn sentence(text: &str) -> String {
    let text = text.trim();
    let mut chars = text.chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !out.ends_with(['.', '!', '?', ':', '`', ')', '"']) {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Task;

    fn request(text: &str) -> EnhanceRequest {
        EnhanceRequest {
            text: text.to_owned(),
            ..EnhanceRequest::default()
        }
    }

    fn task(title: &str, description: &str, status: TaskStatus) -> Task {
        Task {
            id: "0193aaaa-0000-7000-8000-000000000001".into(),
            project_id: "0193aaaa-0000-7000-8000-0000000000ff".into(),
            parent_task_id: None,
            title: title.to_owned(),
            description: description.to_owned(),
            status,
            position: 1,
            assignee: None,
            assigned_at: None,
            assigned_by: None,
            created_by: None,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    fn section<'a>(text: &'a str, name: &str) -> &'a str {
        let start = text
            .find(&format!("## {name}\n"))
            .unwrap_or_else(|| panic!("no section {name} in:\n{text}"));
        let body = &text[start + name.len() + 4..];
        body.find("\n## ").map_or(body, |end| &body[..end])
    }

    #[test]
    fn a_rough_bug_report_is_sorted_into_sections() {
        let out = rewrite(&request(
            "pls fix the login page, it crashes when the password is empty, don't change the API. \
             should show a validation message instead. is this also broken on mobile?",
        ));
        assert!(out.starts_with("## Goal\nFix the login page.\n"), "{out}");
        let context = section(&out, "Context");
        assert!(
            context.contains("- It crashes when the password is empty."),
            "{out}"
        );
        let constraints = section(&out, "Constraints");
        assert!(constraints.contains("- Don't change the API."), "{out}");
        assert!(constraints.contains("root cause"), "bug constraints: {out}");
        let acceptance = section(&out, "Acceptance criteria");
        assert!(
            acceptance.contains("- It should show a validation message instead."),
            "{out}"
        );
        assert!(acceptance.contains("fails before the fix"), "{out}");
        assert!(
            section(&out, "Open questions").contains("broken on mobile?"),
            "{out}"
        );
        assert!(!out.contains("pls"), "{out}");
    }

    #[test]
    fn it_is_deterministic() {
        let r = request("add csv export to the reports page");
        assert_eq!(rewrite(&r), rewrite(&r));
    }

    #[test]
    fn a_task_gives_goal_context_and_subtask_criteria() {
        let ctx = TaskContext {
            task: task(
                "Add CSV export",
                "Users want their reports as CSV.\n\nAcceptance criteria:\n- Columns match the table\n- Dates are ISO 8601\n\nKeep memory flat for large reports.",
                TaskStatus::Todo,
            ),
            subtasks: vec![
                task("Export button", "", TaskStatus::Done),
                task("Streaming writer", "", TaskStatus::Inprogress),
            ],
            project_name: "Reports".to_owned(),
            project_description: "Reporting dashboard\nmore".to_owned(),
            repository: Some("/srv/reports".to_owned()),
        };
        let out = rewrite(&EnhanceRequest {
            context: Some(ctx),
            ..EnhanceRequest::default()
        });
        assert!(out.starts_with("## Goal\nAdd CSV export.\n"), "{out}");
        let context = section(&out, "Context");
        assert!(
            context.contains("- Project: Reports — Reporting dashboard"),
            "{out}"
        );
        assert!(context.contains("- Repository: `/srv/reports`"), "{out}");
        assert!(context.contains("  - [done] Export button"), "{out}");
        assert!(
            context.contains("- Users want their reports as CSV."),
            "{out}"
        );
        let acceptance = section(&out, "Acceptance criteria");
        assert!(acceptance.contains("- Columns match the table."), "{out}");
        assert!(acceptance.contains("- Dates are ISO 8601."), "{out}");
        assert!(
            acceptance.contains("- Subtask done: Streaming writer"),
            "{out}"
        );
        assert!(
            !acceptance.contains("Export button"),
            "done subtasks are not criteria: {out}"
        );
        assert!(acceptance.contains("moved to inreview"), "{out}");
        assert!(
            section(&out, "Constraints").contains("- Keep memory flat for large reports."),
            "{out}"
        );
    }

    #[test]
    fn kinds_are_detected_and_templates_name_the_work() {
        assert_eq!(detect_kind("Refactor the parser", ""), WorkKind::Refactor);
        assert_eq!(
            detect_kind("Write tests for the cache", ""),
            WorkKind::Tests
        );
        assert_eq!(
            detect_kind("The exporter", "it crashes on empty input"),
            WorkKind::Bug
        );
        assert_eq!(
            detect_kind("Add dark mode", "the toggle is wrong"),
            WorkKind::Feature
        );
        let out = rewrite(&EnhanceRequest {
            text: "the session cache".to_owned(),
            kind: Some(WorkKind::Tests),
            ..EnhanceRequest::default()
        });
        assert!(
            out.starts_with("## Goal\nWrite tests for: the session cache.\n"),
            "{out}"
        );
        assert!(
            out.contains("fails when the behaviour it covers is broken"),
            "{out}"
        );
        let out = rewrite(&request("export times out for big accounts"));
        assert!(
            out.starts_with("## Goal\nFix this bug: export times out for big accounts.\n"),
            "a problem statement becomes something to do: {out}"
        );
    }

    #[test]
    fn abbreviations_and_lists_split_sensibly() {
        assert_eq!(
            sentences("Use a format, e.g. CSV. Then stop; really."),
            ["Use a format, e.g. CSV.", "Then stop", "really."]
        );
        let parsed = items("Steps:\n1. open the page\n2) click save");
        let texts: Vec<&str> = parsed.iter().map(|i| i.text.as_str()).collect();
        assert_eq!(texts, ["Steps:", "Open the page.", "Click save."]);
    }
}
