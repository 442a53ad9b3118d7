//! `members add|list|set-role|remove|transfer-ownership`: the operator's
//! side of a team. Each names its workspace by id or slug and a member by
//! email or user id; the store writes the audit rows (with no acting user:
//! the operator works on the database directly).

use std::io::Write;

use anyhow::Context;

use super::{ensure_local_default, open_store};
use crate::{
    config::StoreConfig,
    store::{Member, Role, Store, Workspace},
};

/// What a `members` subcommand asks for.
pub enum MembersAction {
    Add {
        email: String,
        name: Option<String>,
        role: String,
    },
    List {
        json: bool,
    },
    SetRole {
        member: String,
        role: String,
    },
    Remove {
        member: String,
    },
    TransferOwnership {
        member: String,
    },
}

async fn workspace(store: &Store, id_or_slug: &str) -> anyhow::Result<Workspace> {
    store.find_workspace(id_or_slug).await.with_context(|| {
        format!("no workspace with id or slug '{id_or_slug}'; see `workspaces list`")
    })
}

fn line(member: &Member) -> String {
    format!(
        "{}  {:<7}  {}  {}",
        member.user_id, member.role, member.email, member.name
    )
}

/// Runs one `members` subcommand in workspace `id_or_slug`.
pub async fn members(
    config: &StoreConfig,
    id_or_slug: &str,
    action: MembersAction,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    ensure_local_default(config, &store).await?;
    let ws = workspace(&store, id_or_slug).await?;
    let context = |verb: &str| format!("could not {verb} in workspace '{}'", ws.name);
    match action {
        MembersAction::Add { email, name, role } => {
            let role = Role::parse(&role).with_context(|| context("add a member"))?;
            let member = store
                .add_member(&ws.id, None, &email, name.as_deref(), role)
                .await
                .with_context(|| context("add a member"))?;
            writeln!(out, "added {}", line(&member))?;
        }
        MembersAction::List { json } => {
            let members = store.list_members(&ws.id).await?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&members)?)?;
            } else {
                for member in &members {
                    writeln!(out, "{}", line(member))?;
                }
            }
        }
        MembersAction::SetRole { member, role } => {
            let role = Role::parse(&role).with_context(|| context("change a role"))?;
            let member = store
                .set_member_role(&ws.id, None, &member, role)
                .await
                .with_context(|| context("change a role"))?;
            writeln!(out, "{}", line(&member))?;
        }
        MembersAction::Remove { member } => {
            let member = store
                .remove_member(&ws.id, None, &member)
                .await
                .with_context(|| context("remove a member"))?;
            writeln!(
                out,
                "removed {}; their tasks are unassigned and their keys revoked",
                line(&member)
            )?;
        }
        MembersAction::TransferOwnership { member } => {
            let member = store
                .transfer_ownership(&ws.id, None, &member)
                .await
                .with_context(|| context("transfer the ownership"))?;
            writeln!(
                out,
                "{} now owns workspace '{}'; the previous owner is an admin",
                member.email, ws.name
            )?;
        }
    }
    Ok(())
}
