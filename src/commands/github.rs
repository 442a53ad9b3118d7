//! `vibe-kanban-mcp github …`: connect a workspace to GitHub (a pasted
//! token, or the OAuth device flow), show and remove the connection, link a
//! project to its repository, and rotate the key that seals tokens. These
//! are an operator's commands on the store, acting as the workspace owner,
//! like `keys`.

use std::{io::Write, path::Path, time::Duration};

use anyhow::{Context, bail};

use super::open_store;
use crate::{
    config::{FileConfig, StoreConfig},
    github::{
        GitHub,
        client::DevicePoll,
        crypto::{CryptoError, Sealed},
        parse_repo, pulls, push, repo_from_remote,
    },
    store::{Actor, NewGitHubConnection, ResealedToken, Store, Workspace},
};

/// How `github connect` gets its token.
pub enum TokenSource {
    /// Read from standard input (a fine-grained or classic PAT).
    Stdin,
    /// GitHub's OAuth device flow with `GITHUB_CLIENT_ID`, asking `scope`.
    DeviceFlow { scope: String },
}

/// GitHub settings of this process: `[github]` and the environment.
pub fn settings(config_file: Option<&Path>) -> anyhow::Result<GitHub> {
    let config = FileConfig::load(config_file)?;
    GitHub::resolve(&config.github, |name| std::env::var(name).ok())
        .context("invalid GitHub settings")
}

/// The store, the workspace and its owner as the actor.
async fn owner_of(
    config: &StoreConfig,
    workspace: &str,
) -> anyhow::Result<(Store, Workspace, Actor)> {
    let store = open_store(config).await?;
    super::ensure_local_default(config, &store).await?;
    let found = store
        .find_workspace(workspace)
        .await
        .with_context(|| format!("no workspace with id or slug '{workspace}'"))?;
    let user_id = store.workspace_owner(&found.id).await?;
    let actor = Actor {
        user_id,
        workspace_id: found.id.clone(),
        api_key_id: None,
        request_id: None,
    };
    Ok((store, found, actor))
}

/// `github connect`: checks the token with `GET /user`, seals it and stores
/// it for the workspace. Nothing is stored without a key or with a token
/// GitHub refuses.
pub async fn connect(
    config: &StoreConfig,
    github: &GitHub,
    workspace: &str,
    source: TokenSource,
    input: &mut impl std::io::BufRead,
    out: &mut impl Write,
    note: &mut impl Write,
) -> anyhow::Result<()> {
    // Refuse before asking anything of the user or of GitHub.
    let key = github.keys.sealing().map_err(anyhow::Error::from)?;
    let token = match source {
        TokenSource::Stdin => {
            let mut line = String::new();
            input.read_line(&mut line)?;
            let token = line.trim().to_owned();
            if token.is_empty() {
                bail!(
                    "no token on standard input; pipe one in, e.g. `gh auth token | vibe-kanban-mcp github connect --workspace {workspace} --token-stdin`"
                );
            }
            token
        }
        TokenSource::DeviceFlow { scope } => device_flow(github, &scope, note).await?,
    };
    let (user, scopes) = github
        .client
        .user(&token)
        .await
        .map_err(|e| anyhow::anyhow!(crate::github::redact(&e.to_string(), &token)))?;
    let (store, found, actor) = owner_of(config, workspace).await?;
    let sealed = key.seal(&token, found.id.as_str())?;
    let connection = store
        .save_github_connection(
            &actor,
            &NewGitHubConnection {
                github_user_id: user.id,
                github_login: user.login.clone(),
                token_ciphertext: sealed.ciphertext,
                token_nonce: sealed.nonce,
                token_key_id: sealed.key_id,
                scopes: scopes.clone(),
            },
        )
        .await?;
    writeln!(
        out,
        "Connected workspace '{}' to GitHub as {} (scopes: {}; token sealed with key {}).",
        found.name,
        connection.github_login,
        if scopes.is_empty() {
            "none listed: a fine-grained token"
        } else {
            &scopes
        },
        connection.token_key_id
    )?;
    Ok(())
}

/// GitHub's device flow: print the code, poll at `interval` (+5 s on
/// `slow_down`) until the user approves, denies or the code expires.
async fn device_flow(
    github: &GitHub,
    scope: &str,
    note: &mut impl Write,
) -> anyhow::Result<String> {
    let Some(client_id) = github.client_id.as_deref() else {
        bail!(
            "no token source: pass --token-stdin with a personal access token, or set GITHUB_CLIENT_ID to \
             the client id of an OAuth app with the device flow enabled"
        );
    };
    let web = &github.web_url;
    let code = github.client.device_code(web, client_id, scope).await?;
    writeln!(
        note,
        "To connect, open {} and enter the code {} (it expires in {} min).",
        code.verification_uri,
        code.user_code,
        code.expires_in.div_ceil(60)
    )?;
    note.flush()?;
    let mut interval = code.interval.max(1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(code.expires_in);
    loop {
        tokio::time::sleep(Duration::from_secs(interval)).await;
        match github
            .client
            .poll_device(web, client_id, &code.device_code)
            .await?
        {
            DevicePoll::Token { token, .. } => return Ok(token),
            DevicePoll::Pending => {}
            DevicePoll::SlowDown { interval: asked } => {
                interval = asked.unwrap_or(interval + 5).max(interval + 5);
            }
            DevicePoll::Expired => {
                bail!("the device code expired before it was entered; run `github connect` again")
            }
            DevicePoll::Denied => {
                bail!("the authorization was denied on GitHub; nothing was stored")
            }
            DevicePoll::Failed(message) => bail!("GitHub's device flow failed: {message}"),
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("the device code expired before it was entered; run `github connect` again");
        }
    }
}

/// `github status`: the stored account, and what GitHub says of the token now.
pub async fn status(
    config: &StoreConfig,
    github: &GitHub,
    workspace: &str,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let (store, found, _) = owner_of(config, workspace).await?;
    let Some(connection) = store.github_connection(&found.id).await? else {
        bail!(
            "workspace '{}' is not connected to GitHub; run `vibe-kanban-mcp github connect --workspace {workspace}`",
            found.name
        );
    };
    writeln!(
        out,
        "workspace '{}': connected as {} since {} (key {})",
        found.name, connection.github_login, connection.created_at, connection.token_key_id
    )?;
    let token = pulls::token(github, &connection)?;
    match github.client.user(&token).await {
        Ok((user, scopes)) => writeln!(
            out,
            "GitHub: token valid for {} (id {}); scopes: {}",
            user.login,
            user.id,
            if scopes.is_empty() {
                "none listed (fine-grained token)"
            } else {
                &scopes
            }
        )?,
        Err(error) => writeln!(
            out,
            "GitHub: {}",
            crate::github::redact(&error.to_string(), &token)
        )?,
    }
    Ok(())
}

/// `github disconnect`: removes the workspace's connection (and its links).
pub async fn disconnect(
    config: &StoreConfig,
    workspace: &str,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let (store, found, actor) = owner_of(config, workspace).await?;
    if store.delete_github_connection(&actor).await? {
        writeln!(out, "Disconnected workspace '{}' from GitHub.", found.name)?;
    } else {
        writeln!(
            out,
            "Workspace '{}' was not connected to GitHub.",
            found.name
        )?;
    }
    Ok(())
}

/// `github link`: the project's repository, given or read from the
/// `origin` remote of its `repo_path`, with the default branch GitHub says
/// it has.
pub async fn link(
    config: &StoreConfig,
    github: &GitHub,
    workspace: &str,
    project: &str,
    repo: Option<&str>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let (store, found, actor) = owner_of(config, workspace).await?;
    let projects = store.list_projects(&actor).await?;
    let Some(project) = projects
        .iter()
        .find(|p| p.id.as_str() == project || p.name.eq_ignore_ascii_case(project))
    else {
        bail!(
            "no project '{project}' (id or name) in workspace '{}'",
            found.name
        );
    };
    let (owner, name) = match repo {
        Some(text) => parse_repo(text)
            .with_context(|| format!("'{text}' is not a repository; give it as OWNER/REPO"))?,
        None => {
            let Some(path) = project.repo_path.as_deref() else {
                bail!(
                    "project '{}' has no repository path to read the origin remote from; pass --repo OWNER/REPO",
                    project.name
                );
            };
            let url = push::origin_url(Path::new(path)).await?.with_context(|| {
                format!("the repository {path} has no origin remote; pass --repo OWNER/REPO")
            })?;
            repo_from_remote(&url).with_context(|| {
                format!("the origin remote of {path} does not name a GitHub repository; pass --repo OWNER/REPO")
            })?
        }
    };
    let Some(connection) = store.github_connection(&found.id).await? else {
        bail!(
            "workspace '{}' has no GitHub connection; run `vibe-kanban-mcp github connect --workspace {workspace}` first",
            found.name
        );
    };
    let token = pulls::token(github, &connection)?;
    let repository = github
        .client
        .repository(&token, &owner, &name)
        .await
        .map_err(|e| anyhow::anyhow!(crate::github::redact(&e.to_string(), &token)))
        .with_context(|| format!("cannot link project '{}' to {owner}/{name}", project.name))?;
    let linked = store
        .link_repository(
            &actor,
            &project.id,
            &owner,
            &name,
            &repository.default_branch,
        )
        .await?;
    writeln!(
        out,
        "Linked project '{}' to {}/{} (default branch {}).",
        project.name, linked.owner, linked.name, linked.default_branch
    )?;
    Ok(())
}

/// `github rotate-key`: re-seals every token under VK_SECRET_KEY, opening
/// each with whichever of VK_SECRET_KEY and VK_SECRET_KEY_OLD sealed it. All
/// rows change in one transaction, or none.
pub async fn rotate_key(
    config: &StoreConfig,
    github: &GitHub,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let key = github.keys.sealing()?;
    let store = open_store(config).await?;
    let connections = store.all_github_connections().await?;
    let mut resealed = Vec::new();
    let mut current = 0;
    for connection in &connections {
        if connection.token_key_id == key.id() {
            current += 1;
            continue;
        }
        let token = github
            .keys
            .open(
                &Sealed {
                    ciphertext: connection.token_ciphertext.clone(),
                    nonce: connection.token_nonce.clone(),
                    key_id: connection.token_key_id.clone(),
                },
                connection.workspace_id.as_str(),
            )
            .map_err(|e| match e {
                CryptoError::UnknownKey { wanted } => anyhow::anyhow!(
                    "the token of workspace {} was sealed with key {wanted}; set that key as VK_SECRET_KEY_OLD \
                     and run rotate-key again. Nothing was changed",
                    connection.workspace_id
                ),
                other => anyhow::anyhow!("{other}. Nothing was changed"),
            })?;
        let sealed = key.seal(&token, connection.workspace_id.as_str())?;
        resealed.push(ResealedToken {
            connection_id: connection.id.clone(),
            old_key_id: connection.token_key_id.clone(),
            token_ciphertext: sealed.ciphertext,
            token_nonce: sealed.nonce,
            token_key_id: sealed.key_id,
        });
    }
    let changed = store.reseal_github_tokens(&resealed).await?;
    writeln!(
        out,
        "Re-sealed {changed} token(s) with key {} ({current} already were).",
        key.id()
    )?;
    Ok(())
}
