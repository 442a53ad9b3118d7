//! Member tools: who is in the workspace, and (for admins) adding people,
//! changing roles and removing them. The owner changes only by the
//! operator's `members transfer-ownership`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Effect, Render, ToolContext, ToolDef, ToolError, Toolset, projects::NoArgs, tool};
use crate::{
    auth::Scope,
    store::{Member, Role},
};

pub(super) fn tools() -> Vec<ToolDef> {
    vec![
        tool(
            "list_members",
            "List members",
            "The workspace's members and roles.",
            Toolset::Projects,
            Effect::Read,
            list_members,
        ),
        tool(
            "add_member",
            "Add member",
            "Add a person to the workspace by email (admins).",
            Toolset::Projects,
            Effect::Create,
            add_member,
        )
        .scope(Scope::Admin),
        tool(
            "update_member_role",
            "Update member role",
            "Change a member's role (admins); the owner's changes only by transfer.",
            Toolset::Projects,
            Effect::Update,
            update_member_role,
        )
        .scope(Scope::Admin),
        tool(
            "remove_member",
            "Remove member",
            "Remove a member (admins): unassigns their tasks, revokes their keys.",
            Toolset::Projects,
            Effect::Delete,
            remove_member,
        )
        .scope(Scope::Admin),
    ]
}

/// The workspace's members.
#[derive(Debug, Serialize, JsonSchema)]
pub struct MemberList {
    pub members: Vec<Member>,
}

async fn list_members(ctx: ToolContext, _args: NoArgs) -> Result<MemberList, ToolError> {
    let members = ctx
        .store
        .list_members(&ctx.principal.actor.workspace_id)
        .await?;
    Ok(MemberList { members })
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMemberArgs {
    /// Their email; a new user if unknown.
    pub email: String,
    /// Default: the email's name part.
    #[serde(default)]
    pub name: Option<String>,
    /// viewer, member or admin.
    pub role: String,
}

async fn add_member(ctx: ToolContext, args: AddMemberArgs) -> Result<Member, ToolError> {
    let role = Role::parse(&args.role)?;
    let actor = &ctx.principal.actor;
    Ok(ctx
        .store
        .add_member(
            &actor.workspace_id,
            Some(actor),
            &args.email,
            args.name.as_deref(),
            role,
        )
        .await?)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMemberRoleArgs {
    /// Email or user id.
    pub member: String,
    /// viewer, member or admin.
    pub role: String,
}

async fn update_member_role(
    ctx: ToolContext,
    args: UpdateMemberRoleArgs,
) -> Result<Member, ToolError> {
    let role = Role::parse(&args.role)?;
    let actor = &ctx.principal.actor;
    Ok(ctx
        .store
        .set_member_role(&actor.workspace_id, Some(actor), &args.member, role)
        .await?)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveMemberArgs {
    /// Email or user id.
    pub member: String,
}

async fn remove_member(ctx: ToolContext, args: RemoveMemberArgs) -> Result<Member, ToolError> {
    let actor = &ctx.principal.actor;
    Ok(ctx
        .store
        .remove_member(&actor.workspace_id, Some(actor), &args.member)
        .await?)
}

impl Render for MemberList {
    fn render(&self) -> String {
        self.members
            .iter()
            .map(|m| {
                format!(
                    "- {} <{}> [{}] user_id {}",
                    m.name, m.email, m.role, m.user_id
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Render for Member {
    fn render(&self) -> String {
        format!(
            "{} <{}> [{}] user_id {}",
            self.name, self.email, self.role, self.user_id
        )
    }
}
