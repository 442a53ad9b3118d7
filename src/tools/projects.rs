//! Workspace and project tools.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    Effect, Render, ToolContext, ToolDef, ToolError, Toolset,
    args::{checked_count, checked_cursor, checked_text, double_option, something_to_update},
    tool,
};
use crate::{
    auth::{Principal, Scope},
    store::{ApprovalMode, NewProject, Project, ProjectChanges, ProjectKey, Workspace, page},
};

/// Longest project name, in characters.
pub const MAX_PROJECT_NAME: usize = 200;
/// Longest description (projects and tasks), in characters.
pub const MAX_DESCRIPTION: usize = 100_000;
/// Longest repository path, in characters.
const MAX_PATH: usize = 4_096;

pub(super) fn tools() -> Vec<ToolDef> {
    vec![
        tool(
            "list_workspaces",
            "List workspaces",
            "Your workspace and its members, whose user ids assign_task takes.",
            Toolset::Projects,
            Effect::Read,
            list_workspaces,
        ),
        tool(
            "list_projects",
            "List projects",
            "The workspace's projects by name, with task counts per status.",
            Toolset::Projects,
            Effect::Read,
            list_projects,
        ),
        // Hosts that render MCP Apps show the project's board with it.
        super::board_app::linked(tool(
            "get_project",
            "Get project",
            "One project with its task counts per status.",
            Toolset::Projects,
            Effect::Read,
            get_project,
        )),
        tool(
            "create_project",
            "Create project",
            "Create a project (a board of tasks). repo_path, the local git repository agent sessions work in, \
             and the scripts need the admin scope.",
            Toolset::Projects,
            Effect::Create,
            create_project,
        ),
        tool(
            "update_project",
            "Update project",
            "Change a project; fields left out stay. repo_path and the scripts need the admin scope.",
            Toolset::Projects,
            Effect::Update,
            update_project,
        ),
    ]
}

/// No arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// The caller's workspaces.
#[derive(Debug, Serialize, JsonSchema)]
pub struct WorkspaceList {
    pub workspaces: Vec<Workspace>,
}

async fn list_workspaces(ctx: ToolContext, _: NoArgs) -> Result<WorkspaceList, ToolError> {
    let workspace = ctx.store.workspace(&ctx.principal.actor).await?;
    Ok(WorkspaceList {
        workspaces: vec![workspace],
    })
}

/// Default and largest page of `list_projects`.
const DEFAULT_PROJECTS: u32 = 100;
const MAX_PROJECTS: u32 = 200;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListProjectsArgs {
    /// Default 100.
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_PROJECTS))]
    pub limit: Option<u32>,
    /// The last page's `next_cursor`.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// A page of the workspace's projects.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ProjectList {
    pub projects: Vec<Project>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

async fn list_projects(ctx: ToolContext, args: ListProjectsArgs) -> Result<ProjectList, ToolError> {
    let limit = checked_count("limit", args.limit, DEFAULT_PROJECTS, MAX_PROJECTS, "")?;
    let after = checked_cursor(
        "list_projects",
        args.cursor.as_deref(),
        page::decode::<ProjectKey>,
    )?;
    let page = ctx
        .store
        .list_projects_page(&ctx.principal.actor, after.as_ref(), limit)
        .await?;
    Ok(ProjectList {
        projects: page.items,
        next_cursor: page.next_cursor,
    })
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetProjectArgs {
    /// From list_projects.
    pub project_id: Uuid,
}

async fn get_project(ctx: ToolContext, args: GetProjectArgs) -> Result<Project, ToolError> {
    Ok(ctx
        .store
        .get_project(&ctx.principal.actor, &args.project_id.into())
        .await?)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProjectArgs {
    /// Unique in the workspace, at most 200 characters.
    pub name: String,
    /// What the project is about.
    #[serde(default)]
    pub description: Option<String>,
    /// Absolute path of its local git repository.
    #[serde(default)]
    pub repo_path: Option<String>,
    /// Shell script run in a session's worktree before the agent.
    #[serde(default)]
    pub setup_script: Option<String>,
    /// Shell script run in the worktree after each agent turn.
    #[serde(default)]
    pub cleanup_script: Option<String>,
    /// ask: agents ask before using tools.
    #[serde(default)]
    pub approvals: Option<ApprovalMode>,
}

async fn create_project(ctx: ToolContext, args: CreateProjectArgs) -> Result<Project, ToolError> {
    let new = NewProject {
        name: checked_text("name", &args.name, MAX_PROJECT_NAME, true)?,
        description: checked_text(
            "description",
            args.description.as_deref().unwrap_or(""),
            MAX_DESCRIPTION,
            false,
        )?,
        repo_path: args
            .repo_path
            .as_deref()
            .map(|p| checked_text("repo_path", p, MAX_PATH, true))
            .transpose()?,
        setup_script: script("setup_script", args.setup_script.as_deref())?,
        cleanup_script: script("cleanup_script", args.cleanup_script.as_deref())?,
        approvals: args.approvals.unwrap_or_default(),
    };
    let privileged: Vec<&str> = [
        ("repo_path", new.repo_path.is_some()),
        ("setup_script", new.setup_script.is_some()),
        ("cleanup_script", new.cleanup_script.is_some()),
    ]
    .into_iter()
    .filter_map(|(field, given)| given.then_some(field))
    .collect();
    check_privileged(&ctx.principal, &privileged, "create the project")?;
    Ok(ctx.store.create_project(&ctx.principal.actor, new).await?)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProjectArgs {
    /// From list_projects.
    pub project_id: Uuid,
    /// Unique in the workspace.
    #[serde(default)]
    pub name: Option<String>,
    /// New description.
    #[serde(default)]
    pub description: Option<String>,
    /// Absolute path; null removes it.
    #[serde(default, deserialize_with = "double_option")]
    #[schemars(transform = super::schema::null_clears)]
    #[schemars(with = "Option<String>")]
    pub repo_path: Option<Option<String>>,
    /// Null removes it.
    #[serde(default, deserialize_with = "double_option")]
    #[schemars(transform = super::schema::null_clears)]
    #[schemars(with = "Option<String>")]
    pub setup_script: Option<Option<String>>,
    /// Null removes it.
    #[serde(default, deserialize_with = "double_option")]
    #[schemars(transform = super::schema::null_clears)]
    #[schemars(with = "Option<String>")]
    pub cleanup_script: Option<Option<String>>,
    /// auto or ask.
    #[serde(default)]
    pub approvals: Option<ApprovalMode>,
}

/// Whether `principal` may set or change a project's privileged fields —
/// `repo_path`, `setup_script`, `cleanup_script` — which decide what a
/// session runs with `sh -c` on the runner's machine, and in which
/// repository. The one place that decides it: today the `admin` scope; when
/// workspace roles are enforced, the admin (or owner) role joins here.
pub fn may_set_privileged_project_fields(principal: &Principal) -> bool {
    principal.allows(Scope::Admin)
}

/// Refuses, before anything is written, a call that sets privileged fields
/// without the right to.
fn check_privileged(principal: &Principal, fields: &[&str], action: &str) -> Result<(), ToolError> {
    if fields.is_empty() || may_set_privileged_project_fields(principal) {
        return Ok(());
    }
    let names: Vec<String> = fields.iter().map(|f| format!("`{f}`")).collect();
    Err(ToolError::Failed(format!(
        "could not {action} in workspace '{}': setting {} needs the `admin` scope, because these fields \
         decide what agent sessions run on the runner's machine and in which repository; this key has `{}`. \
         Nothing was changed. Leave these fields out, or ask a workspace admin to set them with an admin key.",
        principal.workspace_name,
        names.join(", "),
        principal.scopes,
    )))
}

/// Longest setup or cleanup script, in characters.
const MAX_SCRIPT: usize = 20_000;

/// A script argument: blank means none.
fn script(field: &str, text: Option<&str>) -> Result<Option<String>, ToolError> {
    Ok(text
        .map(|t| checked_text(field, t, MAX_SCRIPT, false))
        .transpose()?
        .filter(|t| !t.is_empty()))
}

async fn update_project(ctx: ToolContext, args: UpdateProjectArgs) -> Result<Project, ToolError> {
    let changes = ProjectChanges {
        name: args
            .name
            .as_deref()
            .map(|n| checked_text("name", n, MAX_PROJECT_NAME, true))
            .transpose()?,
        description: args
            .description
            .as_deref()
            .map(|d| checked_text("description", d, MAX_DESCRIPTION, false))
            .transpose()?,
        repo_path: match args.repo_path {
            Some(Some(path)) => Some(Some(checked_text("repo_path", &path, MAX_PATH, true)?)),
            Some(None) => Some(None),
            None => None,
        },
        setup_script: args
            .setup_script
            .map(|s| script("setup_script", s.as_deref()))
            .transpose()?,
        cleanup_script: args
            .cleanup_script
            .map(|s| script("cleanup_script", s.as_deref()))
            .transpose()?,
        approvals: args.approvals,
    };
    something_to_update(&[
        ("name", changes.name.is_some()),
        ("description", changes.description.is_some()),
        ("repo_path", changes.repo_path.is_some()),
        ("setup_script", changes.setup_script.is_some()),
        ("cleanup_script", changes.cleanup_script.is_some()),
        ("approvals", changes.approvals.is_some()),
    ])?;
    // Clearing a script or the path is a change too: it alters what the
    // next session runs, and where.
    let privileged: Vec<&str> = [
        ("repo_path", changes.repo_path.is_some()),
        ("setup_script", changes.setup_script.is_some()),
        ("cleanup_script", changes.cleanup_script.is_some()),
    ]
    .into_iter()
    .filter_map(|(field, given)| given.then_some(field))
    .collect();
    check_privileged(
        &ctx.principal,
        &privileged,
        &format!("update project {}", args.project_id),
    )?;
    Ok(ctx
        .store
        .update_project(&ctx.principal.actor, &args.project_id.into(), changes)
        .await?)
}

// Readable text of this area's outputs (what the tool result's text block says).

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
        if self.approvals == crate::store::ApprovalMode::Ask {
            out.push_str("Approvals: ask (agents ask before using tools)\n");
        }
        if let Some(script) = &self.cleanup_script {
            out.push_str(&format!("Cleanup script: {script}\n"));
        }
        out.push_str(&format!("Tasks: {}", counts_line(self)));
        out
    }
}
