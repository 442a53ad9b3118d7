//! What each command-line subcommand does. `main.rs` parses arguments and
//! calls one of these; they open the store, do the work and print results.
//! Results go to stdout, notes for the operator to stderr.

mod members;

pub use members::{MembersAction, members};
pub mod github;

use std::{
    io::Write,
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::{Context, bail};

mod web;
use chrono::{Duration, SecondsFormat, Utc};
pub use web::{login as web_login, web};

use crate::{
    auth::{self, Authenticator, Principal, Scopes},
    board,
    config::{FileConfig, StoreConfig, StoreKind, database_path},
    enhance::{Enhancer, config::EnhanceSettings},
    logs::LogStore,
    metrics::Metrics,
    server::KanbanServer,
    sessions::{Sessions, runner::RunnerHandle},
    store::{NewApiKey, ProjectId, RunnerScope, Store},
    tools::ToolFilter,
    transport,
    transport::http::{HttpOptions, HttpState},
};

/// Opens the configured store and brings its schema up to date: the SQLite
/// file in the data directory (created if missing) or the D1 database.
pub async fn open_store(config: &StoreConfig) -> anyhow::Result<Store> {
    match config {
        StoreConfig::Sqlite { data_dir } => {
            crate::config::create_data_dir(data_dir)?;
            let path = database_path(data_dir);
            Store::open_sqlite(&path)
                .await
                .with_context(|| format!("cannot open the database {}", path.display()))
        }
        StoreConfig::D1(settings) => {
            let store = Store::d1(settings.clone())?;
            store
                .migrate()
                .await
                .with_context(|| format!("cannot open the {}", config.describe()))?;
            Ok(store)
        }
    }
}

/// The principal a process acts as: the key's when one is given, else the
/// local owner of the SQLite default. A shared D1 store has no local owner.
pub async fn principal(
    config: &StoreConfig,
    store: &Store,
    api_key: Option<&str>,
) -> anyhow::Result<Principal> {
    require_key_on_shared_store(config, api_key)?;
    match api_key.map(str::trim).filter(|k| !k.is_empty()) {
        Some(key) => auth::authenticate_key(store, key)
            .await
            .context("VK_API_KEY was refused; check it with `vibe-kanban-mcp keys list`"),
        None => Ok(auth::local_owner(store).await?),
    }
}

/// A shared D1 store has no local owner: acting on it needs a key. Checked
/// before the store is opened, so the answer needs no network.
fn require_key_on_shared_store(config: &StoreConfig, api_key: Option<&str>) -> anyhow::Result<()> {
    let has_key = api_key.is_some_and(|k| !k.trim().is_empty());
    if config.kind() == StoreKind::D1 && !has_key {
        bail!(
            "a shared D1 store has no local owner: set VK_API_KEY (or --api-key) to a key made with \
             `vibe-kanban-mcp keys create --store d1 --workspace WS --name NAME`"
        );
    }
    Ok(())
}

/// On the local SQLite default, makes sure the default workspace and its
/// owner exist (so `--workspace default` works from the first run). A shared
/// D1 store starts empty: its first workspace comes from `workspaces create`.
async fn ensure_local_default(config: &StoreConfig, store: &Store) -> anyhow::Result<()> {
    if config.kind() == StoreKind::Sqlite {
        auth::local_owner(store).await?;
    }
    Ok(())
}

/// Options of `serve`.
pub struct ServeOptions {
    pub store: StoreConfig,
    /// Where local execution logs and session worktrees live (with either
    /// store).
    pub data_dir: PathBuf,
    /// The TOML configuration file, if any.
    pub config: Option<PathBuf>,
    pub api_key: Option<String>,
    pub tools: ToolFilter,
    /// Only queue sessions; `vibe-kanban-mcp runner` processes run them.
    pub no_runner: bool,
    /// Serve HTTP instead of stdio.
    pub http: Option<HttpSettings>,
}

/// What `serve --http` needs beyond [`HttpOptions`].
pub struct HttpSettings {
    pub options: HttpOptions,
    /// Accept HS256 JWTs signed with this secret.
    pub jwt_secret: Option<String>,
}

/// The session service the configuration describes.
pub fn sessions(store: &Store, config: &FileConfig, data_dir: &Path) -> anyhow::Result<Sessions> {
    let logs = LogStore::from_config(&config.logs, data_dir.to_owned())
        .context("invalid [logs] configuration")?;
    Sessions::new(
        store.clone(),
        logs,
        &config.executors,
        config.sessions.clone(),
        data_dir,
    )
    .map_err(|e| anyhow::anyhow!("invalid session configuration: {e}"))
    .and_then(|sessions| {
        let github =
            crate::github::GitHub::resolve(&config.github, |name| std::env::var(name).ok())
                .context("invalid GitHub settings")?;
        Ok(sessions.with_github(github))
    })
}

/// The runner's periodic check of open pull requests (`[github]
/// sync_interval_secs`), of one workspace or of all; `None` when off.
fn spawn_pull_request_sync(
    sessions: &Sessions,
    workspace: Option<crate::store::WorkspaceId>,
) -> Option<tokio::task::JoinHandle<()>> {
    let github = Arc::clone(sessions.github()?);
    let interval = github.sync_interval?;
    let store = sessions.store().clone();
    Some(tokio::spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            match crate::github::pulls::sync(&github, &store, workspace.as_ref()).await {
                Ok(report) if report.checked > 0 || !report.failed.is_empty() => tracing::info!(
                    checked = report.checked,
                    unchanged = report.unchanged,
                    changed = report.changed.len(),
                    failed = ?report.failed,
                    "pull request sync"
                ),
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "pull request sync failed"),
            }
        }
    }))
}

/// Resolves on SIGINT or SIGTERM. The one place signals are handled: the
/// binary passes this to [`serve`] and [`runner`]; the library's servers
/// and runner only take a shutdown future, so tests run them in-process.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down on signal");
}

/// `serve`: MCP over stdio (or HTTP), with a session runner unless
/// `no_runner`, until the client leaves or `shutdown` resolves.
pub async fn serve(
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let (input, output) = transport::stdio::process_stdio();
    serve_on(options, input, output, shutdown).await
}

/// [`serve`] with the stdio transport on `input` and `output` instead of the
/// process's stdin and stdout: the integration tests run the whole server in
/// their own process on a `tokio::io::duplex` pair. `serve --http` does not
/// use them.
pub async fn serve_on(
    options: ServeOptions,
    input: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    output: impl tokio::io::AsyncWrite + Unpin + Send + 'static,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let config = FileConfig::load(options.config.as_deref())?;
    let enhance = EnhanceSettings::resolve(&config.enhance, |name| std::env::var(name).ok())
        .context("invalid [enhance] configuration")?;
    let enhancer = Arc::new(Enhancer::new(enhance)?);
    let ServeOptions {
        store: store_config,
        data_dir,
        config: _,
        api_key,
        tools,
        no_runner,
        http,
    } = options;
    if let Some(http) = http {
        return serve_http(
            &store_config,
            &data_dir,
            &config,
            &tools,
            enhancer,
            no_runner,
            http,
            shutdown,
        )
        .await;
    }
    require_key_on_shared_store(&store_config, api_key.as_deref())?;
    let store = open_store(&store_config).await?;
    let principal = principal(&store_config, &store, api_key.as_deref()).await?;
    let sessions = sessions(&store, &config, &data_dir)?;
    tracing::info!(
        store = %store_config.describe(),
        workspace = %principal.workspace_name,
        scopes = %principal.scopes,
        enhance = ?enhancer.chain(),
        logs = sessions.logs().kind(),
        runner = !no_runner,
        "serving MCP over stdio"
    );
    // This process acts for one caller, so its runner runs only that
    // caller's sessions: on a shared store, an agent runs on the machine of
    // whoever started it.
    let scope = RunnerScope {
        workspace_id: Some(principal.actor.workspace_id.clone()),
        created_by: Some(principal.actor.user_id.clone()),
    };
    let runner = start_runner(&sessions, no_runner, scope).await;
    let sync = (!no_runner)
        .then(|| spawn_pull_request_sync(&sessions, Some(principal.actor.workspace_id.clone())))
        .flatten();
    let server = stdio_server(
        store,
        principal,
        sessions,
        api_key.as_deref(),
        &tools,
        enhancer,
    );
    let served = transport::stdio::serve_on(server, input, output, shutdown).await;
    if let Some(sync) = sync {
        sync.abort();
    }
    if let Some(runner) = runner {
        runner.shutdown().await;
    }
    served
}

/// The handler of a stdio server, acting for `principal`. A key can be
/// revoked or expire while this process runs: it is checked again on use,
/// as over HTTP.
fn stdio_server(
    store: Store,
    principal: Principal,
    sessions: Sessions,
    api_key: Option<&str>,
    tools: &ToolFilter,
    enhancer: Arc<Enhancer>,
) -> KanbanServer {
    let key_check = api_key
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|key| auth::KeyCheck::new(store.clone(), key, &principal));
    let mut server = KanbanServer::new(store, tools, enhancer)
        .with_principal(principal)
        .with_sessions(sessions);
    if let Some(check) = key_check {
        server = server.with_key_check(check);
    }
    server
}

/// The in-process session runner, unless `no_runner`. Without one, sessions
/// of a runner that died are still marked as interrupted at start.
async fn start_runner(
    sessions: &Sessions,
    no_runner: bool,
    scope: RunnerScope,
) -> Option<RunnerHandle> {
    if no_runner {
        if let Err(e) = sessions.recover_orphans(None).await {
            tracing::warn!(error = %e, "could not check for interrupted sessions");
        }
        None
    } else {
        Some(sessions.spawn_runner(scope))
    }
}

/// `runner`: claims and runs queued sessions (of every workspace, or of
/// `workspace` only) until `shutdown` resolves.
pub async fn runner(
    store_config: &StoreConfig,
    data_dir: &Path,
    config: Option<&Path>,
    workspace: Option<&str>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let config = FileConfig::load(config)?;
    let store = open_store(store_config).await?;
    let sessions = sessions(&store, &config, data_dir)?;
    let mut scope = RunnerScope::default();
    if let Some(workspace) = workspace {
        let found = store
            .find_workspace(workspace)
            .await
            .with_context(|| format!("no workspace with id or slug '{workspace}'"))?;
        scope.workspace_id = Some(found.id);
    }
    tracing::info!(
        store = %store_config.describe(),
        workspace = workspace.unwrap_or("any"),
        logs = sessions.logs().kind(),
        max_concurrent = config.sessions.max_concurrent,
        "runner waiting for queued sessions"
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let run = sessions.run_runner(scope, stop.clone());
    tokio::pin!(run);
    tokio::select! {
        () = &mut run => {}
        () = shutdown => {
            tracing::info!("runner shutting down");
            stop.cancel();
            run.await;
        }
    }
    Ok(())
}

/// `agent-mcp`: the session's server every agent launches (see
/// [`transport::agent_mcp`]), for the session and secret its environment
/// names, until the agent closes stdin.
pub async fn agent_mcp(store_config: &StoreConfig) -> anyhow::Result<()> {
    use crate::sessions::approvals::{APPROVALS_ENV, SESSION_ENV, TIMEOUT_ENV, TOKEN_ENV};
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let (Some(session_id), Some(token)) = (var(SESSION_ENV), var(TOKEN_ENV)) else {
        bail!(
            "agent-mcp is the session server an agent launches from the MCP configuration its runner gives it; \
             it needs {SESSION_ENV} and {TOKEN_ENV} in its environment"
        );
    };
    let timeout = var(TIMEOUT_ENV)
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(30 * 60);
    let store = open_store(store_config).await?;
    tracing::info!(session = %session_id, store = %store_config.describe(), "approval server started");
    let server = transport::agent_mcp::AgentMcp::new(
        store,
        session_id.into(),
        &token,
        std::time::Duration::from_secs(timeout.max(1)),
    );
    let server = match var(APPROVALS_ENV).as_deref() {
        Some("auto") => server.without_approvals(),
        _ => server,
    };
    server.serve_stdio().await
}

/// `serve --http`: Streamable HTTP and legacy SSE with auth, with a session
/// runner unless `no_runner`, until `shutdown` resolves.
// The parts of `ServeOptions` it needs, already taken apart by `serve`.
#[allow(clippy::too_many_arguments)]
async fn serve_http(
    store_config: &StoreConfig,
    data_dir: &Path,
    config: &FileConfig,
    tools: &ToolFilter,
    enhancer: Arc<Enhancer>,
    no_runner: bool,
    settings: HttpSettings,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let options = settings.options;
    check_no_auth(&options, store_config)?;
    let store = open_store(store_config).await?;
    ensure_local_default(store_config, &store).await?;
    let local_owner = no_auth_owner(options.no_auth, &store).await?;
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .with_context(|| format!("cannot listen on {}", options.addr))?;
    let bound = listener.local_addr()?;
    let metrics = Arc::new(Metrics::default());
    let sessions = sessions(&store, config, data_dir)?;
    // One server for many callers: its runner runs every workspace's sessions.
    let runner = start_runner(&sessions, no_runner, RunnerScope::default()).await;
    let github = sessions.github().cloned();
    let sync = (!no_runner).then(|| spawn_pull_request_sync(&sessions, None));
    let server = KanbanServer::new(store.clone(), tools, enhancer)
        .with_metrics(Arc::clone(&metrics))
        .with_sessions(sessions);
    let authenticator = Authenticator::new(
        store.clone(),
        settings.jwt_secret.as_deref().map(str::as_bytes),
    );
    let objects = LogStore::from_config(&config.logs, data_dir.to_owned())
        .context("invalid [logs] configuration")?;
    let state = Arc::new(
        HttpState::new(
            store,
            server,
            authenticator,
            local_owner,
            metrics,
            HttpOptions {
                addr: bound,
                ..options
            },
        )
        .with_github(github)
        .with_objects(objects)
        .with_login_links(data_dir.to_path_buf()),
    );
    tracing::info!(
        store = %store_config.describe(),
        runner = !no_runner,
        "serving MCP on http://{bound}/mcp (Streamable HTTP) and http://{bound}/sse (legacy SSE); the web board on http://{bound}/"
    );
    let served = transport::http::serve(listener, state, shutdown).await;
    if let Some(sync) = sync.flatten() {
        sync.abort();
    }
    if let Some(runner) = runner {
        runner.shutdown().await;
    }
    served
}

/// `--no-auth` only on loopback, and only on the local store (a shared
/// D1 store has no local owner to act as).
fn check_no_auth(options: &HttpOptions, store_config: &StoreConfig) -> anyhow::Result<()> {
    if options.no_auth && !options.addr.ip().is_loopback() {
        bail!(
            "--no-auth serves without credentials and is only allowed on a loopback address (127.0.0.1 or ::1), \
             not {}",
            options.addr
        );
    }
    if options.no_auth && store_config.kind() == StoreKind::D1 {
        bail!("--no-auth needs the local SQLite store: a shared D1 store has no local owner");
    }
    Ok(())
}

/// The local owner every request acts as under `--no-auth`.
async fn no_auth_owner(no_auth: bool, store: &Store) -> anyhow::Result<Option<Principal>> {
    if !no_auth {
        return Ok(None);
    }
    tracing::warn!(
        "NO AUTHENTICATION: every HTTP request acts as the local owner with all scopes (--no-auth, loopback only)"
    );
    Ok(Some(auth::local_owner(store).await?))
}

/// `migrate`: applies pending migrations and says what it did.
pub async fn migrate(config: &StoreConfig, out: &mut impl Write) -> anyhow::Result<()> {
    let store = match config {
        StoreConfig::Sqlite { data_dir } => {
            crate::config::create_data_dir(data_dir)?;
            Store::new(std::sync::Arc::new(
                crate::store::sqlite::SqliteExecutor::open(&database_path(data_dir))?,
            ))
        }
        StoreConfig::D1(settings) => Store::d1(settings.clone())?,
    };
    let applied = store.migrate().await?;
    if applied.is_empty() {
        writeln!(
            out,
            "database is up to date ({} migrations)",
            crate::store::migrate::MIGRATIONS.len()
        )?;
    }
    for name in applied {
        writeln!(out, "applied {name}")?;
    }
    Ok(())
}

/// Options of `keys create`.
pub struct NewKeyOptions {
    pub workspace: String,
    pub name: String,
    pub scopes: String,
    pub expires_in_days: Option<u32>,
    /// The member the key acts as (email or user id); `None`: the owner.
    pub user: Option<String>,
}

/// `keys create`: prints the new key (once) on stdout, details on stderr.
pub async fn keys_create(
    config: &StoreConfig,
    options: NewKeyOptions,
    out: &mut impl Write,
    note: &mut impl Write,
) -> anyhow::Result<()> {
    let scopes = Scopes::parse(&options.scopes)?;
    let name = options.name.trim();
    if name.is_empty() {
        bail!("--name must not be empty");
    }
    let store = open_store(config).await?;
    ensure_local_default(config, &store).await?;
    let workspace = store
        .find_workspace(&options.workspace)
        .await
        .with_context(|| format!("no workspace with id or slug '{}'", options.workspace))?;
    let user_id = match options.user.as_deref() {
        None => store.workspace_owner(&workspace.id).await?,
        Some(who) => {
            let who = who.trim().to_lowercase();
            workspace
                .members
                .iter()
                .find(|m| m.email == who || m.user_id.as_str() == who)
                .map(|m| m.user_id.clone())
                .with_context(|| {
                    format!(
                        "{who} is not a member of workspace '{}'; add them first with `members add --workspace {} --email {who}`",
                        workspace.name, workspace.slug
                    )
                })?
        }
    };
    let generated = auth::generate_key()
        .map_err(|e| anyhow::anyhow!("the system random number generator failed: {e}"))?;
    let expires_at = options.expires_in_days.map(|days| {
        (Utc::now() + Duration::days(i64::from(days))).to_rfc3339_opts(SecondsFormat::Millis, true)
    });
    let record = store
        .create_api_key(NewApiKey {
            workspace_id: workspace.id.clone(),
            user_id,
            name: name.to_owned(),
            key_prefix: generated.prefix,
            key_hash: generated.hash,
            scopes: scopes.to_string(),
            expires_at,
        })
        .await?;
    writeln!(out, "{}", generated.key)?;
    writeln!(
        note,
        "Created API key '{}' ({}) for workspace '{}' with scopes {}{}.\nThis is the only time the key is shown: store it now (e.g. as VK_API_KEY).",
        record.name,
        record.key_prefix,
        workspace.name,
        record.scopes,
        record
            .expires_at
            .as_deref()
            .map(|e| format!(", expiring {e}"))
            .unwrap_or_default()
    )?;
    Ok(())
}

/// `keys list`: a table of keys (never the keys themselves), or JSON.
pub async fn keys_list(
    config: &StoreConfig,
    workspace: Option<&str>,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let workspace_id = match workspace {
        Some(w) => Some(
            store
                .find_workspace(w)
                .await
                .with_context(|| format!("no workspace with id or slug '{w}'"))?
                .id,
        ),
        None => None,
    };
    let keys = store.list_api_keys(workspace_id.as_ref()).await?;
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&keys)?)?;
        return Ok(());
    }
    if keys.is_empty() {
        writeln!(
            out,
            "no API keys; create one with `vibe-kanban-mcp keys create`"
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<36}  {:<20}  {:<11}  {:<22}  {:<24}  {:<24}  {:<24}  status",
        "id", "name", "prefix", "scopes", "created", "last used", "expires"
    )?;
    for key in keys {
        let status = if key.revoked_at.is_some() {
            "revoked"
        } else if key
            .expires_at
            .as_deref()
            .is_some_and(|e| e <= crate::store::now().as_str())
        {
            "expired"
        } else {
            "active"
        };
        writeln!(
            out,
            "{:<36}  {:<20}  {:<11}  {:<22}  {:<24}  {:<24}  {:<24}  {status}",
            key.id,
            key.name,
            key.key_prefix,
            key.scopes,
            key.created_at,
            key.last_used_at.as_deref().unwrap_or("never"),
            key.expires_at.as_deref().unwrap_or("never"),
        )?;
    }
    Ok(())
}

/// `keys revoke`: by id or display prefix; effective immediately.
pub async fn keys_revoke(
    config: &StoreConfig,
    key: &str,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let record = store.revoke_api_key(key.trim()).await?;
    writeln!(
        out,
        "revoked API key '{}' ({}) at {}",
        record.name,
        record.key_prefix,
        record.revoked_at.as_deref().unwrap_or("now")
    )?;
    Ok(())
}

/// `board`: a project's board as columns in the terminal. `project` is an id
/// or a name; without one, the workspace's only project (with several, an
/// error lists them and says how to pick one).
pub async fn board(
    config: &StoreConfig,
    api_key: Option<&str>,
    project: Option<&str>,
    width: usize,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    require_key_on_shared_store(config, api_key)?;
    let store = open_store(config).await?;
    let principal = principal(config, &store, api_key).await?;
    let project_id = match project {
        Some(project) => board_project(&store, &principal, project).await?,
        None => only_project(&store, &principal).await?,
    };
    let board = store
        .board(&principal.actor, &project_id)
        .await
        .with_context(|| format!("cannot show the board of project {project_id}"))?;
    write!(out, "{}", board::columns(&board, width))?;
    Ok(())
}

/// The id of the project `project` (an id or a name) names.
async fn board_project(
    store: &Store,
    principal: &Principal,
    project: &str,
) -> anyhow::Result<ProjectId> {
    if let Ok(id) = uuid::Uuid::parse_str(project) {
        return Ok(id.into());
    }
    let projects = store.list_projects(&principal.actor).await?;
    match projects
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(project))
    {
        Some(p) => Ok(p.id.clone()),
        None => {
            let names: Vec<&str> = projects.iter().map(|p| p.name.as_str()).collect();
            bail!(
                "no project named '{project}' in workspace '{}'; projects: {}",
                principal.workspace_name,
                if names.is_empty() {
                    "none yet".to_owned()
                } else {
                    names.join(", ")
                }
            );
        }
    }
}

/// The id of the caller's workspace's only project, for `board` without one.
async fn only_project(store: &Store, principal: &Principal) -> anyhow::Result<ProjectId> {
    let mut projects = store.list_projects(&principal.actor).await?;
    let workspace = &principal.workspace_name;
    match projects.len() {
        0 => bail!(
            "workspace '{workspace}' has no projects yet; create one with the create_project tool from \
             an MCP client (e.g. one running `vibe-kanban-mcp serve`), then run `vibe-kanban-mcp board` again"
        ),
        1 => Ok(projects.remove(0).id),
        n => {
            let width = projects.iter().map(|p| p.name.len()).max().unwrap_or(0);
            let list: String = projects
                .iter()
                .map(|p| format!("\n  {:<width$}  {}", p.name, p.id))
                .collect();
            bail!(
                "workspace '{workspace}' has {n} projects; pick one by name or id, e.g. \
                 `vibe-kanban-mcp board '{}'`:{list}",
                projects[0].name
            )
        }
    }
}

/// `workspaces create`: a new workspace (team) owned by `owner_email`.
pub async fn workspaces_create(
    config: &StoreConfig,
    name: &str,
    slug: &str,
    owner_email: &str,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let slug = slug.trim();
    if slug.is_empty()
        || !slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        bail!("--slug '{slug}' must be lowercase letters, digits and dashes, e.g. `platform-team`");
    }
    if name.trim().is_empty() {
        bail!("--name must not be empty");
    }
    if !owner_email.contains('@') {
        bail!("--owner-email '{owner_email}' is not an email address");
    }
    let store = open_store(config).await?;
    ensure_local_default(config, &store).await?;
    let owner_name = owner_email.split('@').next().unwrap_or(owner_email);
    let actor = store
        .create_workspace(name.trim(), slug.trim(), owner_email.trim(), owner_name)
        .await?;
    writeln!(out, "{}", actor.workspace_id)?;
    Ok(())
}

/// `workspaces list`: every workspace in the database.
pub async fn workspaces_list(config: &StoreConfig, out: &mut impl Write) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    ensure_local_default(config, &store).await?;
    for workspace in store.list_all_workspaces().await? {
        writeln!(
            out,
            "{}  {:<20}  {}",
            workspace.id, workspace.slug, workspace.name
        )?;
    }
    Ok(())
}

/// What `members set-avatar` is told.
pub struct AvatarOptions<'a> {
    pub workspace: &'a str,
    pub email: &'a str,
    pub file: &'a Path,
    /// The TOML configuration file, whose `[logs]` says where objects live.
    pub config: Option<&'a Path>,
}

/// `members set-avatar`: checks and re-encodes the image, stores it where the logs
/// live (local disk or R2) under the member's key, and prints that key.
pub async fn avatar_set(
    store_config: &StoreConfig,
    data_dir: &Path,
    options: AvatarOptions<'_>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let bytes = std::fs::read(options.file)
        .with_context(|| format!("cannot read the avatar {}", options.file.display()))?;
    // Refused before anything is opened: a bad file needs no store.
    crate::avatars::reencode(&bytes, None)
        .with_context(|| format!("{} was refused", options.file.display()))?;
    let store = open_store(store_config).await?;
    ensure_local_default(store_config, &store).await?;
    let workspace = store
        .find_workspace(options.workspace)
        .await
        .with_context(|| format!("no workspace with id or slug '{}'", options.workspace))?;
    let member = workspace
        .members
        .iter()
        .find(|m| m.email.eq_ignore_ascii_case(options.email.trim()))
        .with_context(|| {
            format!(
                "{} is not a member of workspace '{}'; its members are {}",
                options.email,
                workspace.slug,
                workspace
                    .members
                    .iter()
                    .map(|m| m.email.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
    let config = FileConfig::load(options.config)?;
    let objects = LogStore::from_config(&config.logs, data_dir.to_owned())
        .context("invalid [logs] configuration")?;
    let key = crate::avatars::set_avatar(&objects, member.user_id.as_str(), &bytes, None).await?;
    writeln!(out, "{key}")?;
    Ok(())
}
