//! The `vibe-kanban-mcp` command: parses arguments and calls into the library.
//!
//! Run `vibe-kanban-mcp serve` to serve MCP over stdio on a local SQLite file;
//! `vibe-kanban-mcp --help` lists every subcommand.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};
use vibe_kanban_mcp::{
    commands::{self, HttpSettings, MembersAction, NewKeyOptions, ServeOptions},
    config,
    tools::{ToolFilter, Toolset},
    transport::http::{ConnectionLimits, HttpOptions, RateLimit},
};

/// The help heading of the options every subcommand takes, so a
/// subcommand's `--help` shows its own options apart from them.
const GLOBAL: &str = "Global options";

/// An MCP server that gives AI tools a kanban board: projects, tasks,
/// subtasks, assignment and coding-agent sessions, on a local SQLite file by
/// default.
#[derive(Parser)]
#[command(name = "vibe-kanban-mcp", version, about, long_about = None)]
struct Cli {
    /// Directory for the database and other data [env: VK_DATA_DIR]
    /// [default: the platform data directory, e.g. ~/.local/share/vibe-kanban-mcp]
    #[arg(
        long,
        global = true,
        help_heading = GLOBAL,
        env = "VK_DATA_DIR",
        hide_env = true,
        value_name = "DIR"
    )]
    data_dir: Option<PathBuf>,

    /// Log filter for stderr, e.g. `info` or `vibe_kanban_mcp=debug`
    #[arg(
        long,
        global = true,
        help_heading = GLOBAL,
        env = "VK_LOG",
        default_value = "info,rmcp=error",
        value_name = "FILTER"
    )]
    log: String,

    /// Log line format on stderr: text, or json (one object per line, with the request id)
    #[arg(long, global = true, help_heading = GLOBAL, env = "VK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, value_name = "FORMAT")]
    log_format: LogFormat,

    /// Where the data lives: `sqlite` (a local file in the data directory) or
    /// `d1` (Cloudflare D1; needs CLOUDFLARE_ACCOUNT_ID, VK_D1_DATABASE_ID and
    /// CLOUDFLARE_API_TOKEN in the environment) [env: VK_STORE]
    #[arg(
        long,
        global = true,
        help_heading = GLOBAL,
        env = "VK_STORE",
        hide_env = true,
        default_value = "sqlite",
        value_name = "STORE"
    )]
    store: config::StoreKind,

    /// TOML configuration file [env: VK_CONFIG]
    #[arg(
        long,
        global = true,
        help_heading = GLOBAL,
        env = "VK_CONFIG",
        hide_env = true,
        value_name = "FILE"
    )]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Serve MCP over stdio (stdout carries protocol messages only; logs go to stderr).
    Serve(ServeArgs),
    /// Run queued agent sessions (for `serve --no-runner`, or more machines on one store).
    Runner {
        /// Claim only this workspace's sessions (id or slug) [default: every workspace's]
        #[arg(long, value_name = "WS")]
        workspace: Option<String>,
    },
    /// Apply pending database migrations (also done at every start).
    Migrate,
    /// Manage MCP API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Print a project's board as columns in the terminal.
    Board(BoardArgs),
    /// Manage workspaces (teams).
    #[command(subcommand)]
    Workspaces(WorkspacesCommand),
    /// Manage a workspace's members and their roles.
    #[command(subcommand)]
    Members(MembersCommand),
    /// Connect a workspace to GitHub, link projects to repositories.
    #[command(subcommand)]
    Github(GithubCommand),
    /// Serve the web board (and MCP) on this machine: `serve --http` on a
    /// loopback address, printing a one-time sign-in link.
    Web(WebArgs),
    /// The session's server a session's agent launches (from the MCP
    /// configuration its runner writes): comments, and approvals "ask";
    /// not for direct use.
    #[command(hide = true)]
    AgentMcp,
}

#[derive(Args)]
struct ServeArgs {
    /// Offer only these toolsets (comma-separated). Default: all.
    #[arg(long, value_delimiter = ',', env = "VK_TOOLSETS", value_name = "LIST")]
    toolsets: Vec<Toolset>,
    /// Offer only tools that change nothing.
    #[arg(long, env = "VK_READ_ONLY")]
    read_only: bool,
    /// Only queue agent sessions; separate `vibe-kanban-mcp runner` processes run them.
    #[arg(long, env = "VK_NO_RUNNER")]
    no_runner: bool,
    /// Serve MCP over HTTP on this address instead of stdio: Streamable HTTP at
    /// /mcp, legacy SSE at /sse + /messages, /healthz and /metrics
    /// [default address when given without one: 127.0.0.1:8787]
    #[arg(long, env = "VK_HTTP", value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:8787")]
    http: Option<SocketAddr>,
    /// HTTP: extra host names accepted in the Host header (loopback names and
    /// the bound address always are); protects against DNS rebinding
    #[arg(
        long,
        env = "VK_ALLOWED_HOSTS",
        value_delimiter = ',',
        value_name = "LIST"
    )]
    allowed_hosts: Vec<String>,
    /// HTTP: browser origins allowed to call, e.g. https://app.example.com or
    /// http://localhost:* (also enables CORS for them); any other Origin gets 403
    #[arg(
        long,
        env = "VK_ALLOWED_ORIGINS",
        value_delimiter = ',',
        value_name = "LIST"
    )]
    allowed_origins: Vec<String>,
    /// HTTP: largest request body accepted (413 beyond)
    #[arg(long, env = "VK_MAX_BODY_BYTES", default_value_t = 4 * 1024 * 1024, value_name = "BYTES")]
    max_body_bytes: usize,
    /// HTTP: longest time a request may take from its head to its answer,
    /// reading the body included (408 when the body is late, 504 when the answer is)
    #[arg(
        long,
        env = "VK_REQUEST_TIMEOUT_SECS",
        default_value_t = 30,
        value_name = "SECONDS"
    )]
    request_timeout_secs: u64,
    /// HTTP: longest time a client may take to send a request's head (the
    /// request line and headers); a slower or silent connection is closed.
    /// Also closes a kept-alive connection idle this long
    #[arg(
        long,
        env = "VK_HEADER_READ_TIMEOUT_SECS",
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..),
        value_name = "SECONDS"
    )]
    header_read_timeout_secs: u64,
    /// HTTP: most connections open at once [default: 0 = the file
    /// descriptor limit minus 48, at most 1024]. When all are open, the
    /// oldest idle one (no request in flight) is closed for a new client
    #[arg(
        long,
        env = "VK_MAX_CONNECTIONS",
        default_value_t = 0,
        value_name = "COUNT"
    )]
    max_connections: usize,
    /// HTTP: tool calls per second allowed per key and tool (0 turns limiting off)
    #[arg(
        long,
        env = "VK_RATE_LIMIT",
        default_value_t = 100.0,
        value_name = "PER_SECOND"
    )]
    rate_limit: f64,
    /// HTTP: calls allowed at once above the rate (bucket size)
    #[arg(
        long,
        env = "VK_RATE_BURST",
        default_value_t = 200.0,
        value_name = "CALLS"
    )]
    rate_burst: f64,
    /// HTTP: accept HS256 JWTs signed with this secret (claims: sub, workspace, scopes, exp)
    #[arg(
        long,
        env = "JWT_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    jwt_secret: Option<String>,
    /// HTTP: serve WITHOUT authentication, every request acting as the local
    /// owner. Only allowed on a loopback address; for local tools and tests
    #[arg(long)]
    no_auth: bool,
    #[command(flatten)]
    key: ApiKeyArgs,
}

/// `web [ADDR] [--open]`, or `web login`.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
struct WebArgs {
    #[command(subcommand)]
    command: Option<WebCommand>,
    /// Loopback address to serve on
    #[arg(value_name = "ADDR", default_value = "127.0.0.1:8787")]
    addr: SocketAddr,
    /// Open the sign-in link in the desktop's browser (xdg-open)
    #[arg(long)]
    open: bool,
    /// Everything `serve` takes (`--http` is ADDR here)
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum WebCommand {
    /// Print a one-time sign-in link (10 minutes) for the local owner, for a
    /// running `web` or `serve --http` on the local store.
    Login {
        /// The server's address as the browser reaches it
        #[arg(long, default_value = "http://127.0.0.1:8787", value_name = "URL")]
        url: String,
    },
}

/// `--api-key`, for every subcommand that acts for a caller.
#[derive(Args)]
struct ApiKeyArgs {
    /// Act as this API key's principal (its workspace and scopes) instead of
    /// the local owner; needed on a shared D1 store
    #[arg(
        long = "api-key",
        env = "VK_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    api_key: Option<String>,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key. The key is printed once, on stdout; only its hash is stored.
    Create {
        /// Workspace id or slug the key is bound to (the local default is `default`).
        #[arg(long, value_name = "WORKSPACE")]
        workspace: String,
        /// A name to recognise the key by, unique among the workspace's live keys.
        #[arg(long)]
        name: String,
        /// Comma-separated scopes: read, write, sessions, admin.
        #[arg(long, default_value = "read,write")]
        scopes: String,
        /// Expire the key after this many days (default: never).
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<u32>,
        /// The member (email or user id) the key acts as; it never carries
        /// more than that member's role allows [default: the owner]
        #[arg(long, value_name = "EMAIL")]
        user: Option<String>,
    },
    /// List keys: name, prefix, scopes, created, last used, expiry, status.
    List {
        /// Only this workspace's keys (id or slug).
        #[arg(long, value_name = "WORKSPACE")]
        workspace: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id or prefix; it stops working at once.
    Revoke {
        /// The key's id or display prefix (from `keys list`).
        key: String,
    },
}

#[derive(Args)]
struct BoardArgs {
    /// Project id or name [default: the workspace's only project; with
    /// several, they are listed]
    project: Option<String>,
    /// Width of each column in characters.
    #[arg(long, default_value_t = 28)]
    width: usize,
    #[command(flatten)]
    key: ApiKeyArgs,
}

#[derive(Subcommand)]
enum WorkspacesCommand {
    /// Create a workspace; prints its id.
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
        /// Short unique identifier (letters, digits, dashes).
        #[arg(long)]
        slug: String,
        /// Email of the owner (created as a user if new).
        #[arg(long, value_name = "EMAIL")]
        owner_email: String,
    },
    /// List every workspace in the database.
    List,
}

/// `--workspace`, for every `members` subcommand.
#[derive(Args)]
struct MembersWorkspace {
    /// Workspace id or slug (the local default is `default`).
    #[arg(long, value_name = "WORKSPACE")]
    workspace: String,
}

#[derive(Subcommand)]
enum MembersCommand {
    /// Add a person (made a user if new) with a role.
    Add {
        #[command(flatten)]
        ws: MembersWorkspace,
        #[arg(long)]
        email: String,
        /// Display name [default: the part of the email before the @]
        #[arg(long)]
        name: Option<String>,
        /// viewer, member or admin (the owner is made by transfer-ownership).
        #[arg(long, default_value = "member")]
        role: String,
    },
    /// List members: user id, role, email, name.
    List {
        #[command(flatten)]
        ws: MembersWorkspace,
        /// Print JSON instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Change a member's role; their keys narrow at once.
    SetRole {
        #[command(flatten)]
        ws: MembersWorkspace,
        /// Email or user id.
        member: String,
        /// viewer, member or admin.
        #[arg(long)]
        role: String,
    },
    /// Remove a member: unassigns their tasks and revokes their keys.
    Remove {
        #[command(flatten)]
        ws: MembersWorkspace,
        /// Email or user id.
        member: String,
    },
    /// Make another member the owner; the previous owner becomes an admin.
    TransferOwnership {
        #[command(flatten)]
        ws: MembersWorkspace,
        /// Email or user id of the new owner.
        member: String,
    },
    /// Set a member's avatar from a PNG, JPEG or WebP file of at most 1 MB
    /// (stored where the logs are: local disk or R2); it is re-encoded as a
    /// 128×128 PNG. Prints the object key.
    SetAvatar {
        #[command(flatten)]
        ws: MembersWorkspace,
        /// The member's email.
        #[arg(long, value_name = "EMAIL")]
        email: String,
        /// The image file.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum GithubCommand {
    /// Store a GitHub token for a workspace (sealed with VK_SECRET_KEY): pasted
    /// with --token-stdin, or through the OAuth device flow (GITHUB_CLIENT_ID).
    Connect {
        /// Workspace id or slug.
        #[arg(long, default_value = "default", value_name = "WORKSPACE")]
        workspace: String,
        /// Read a personal access token (fine-grained or classic) from stdin.
        #[arg(long)]
        token_stdin: bool,
        /// Scopes the device flow asks for.
        #[arg(long, default_value = "repo")]
        scope: String,
    },
    /// Show the connected account and the token's scopes (asks GitHub).
    Status {
        #[arg(long, default_value = "default", value_name = "WORKSPACE")]
        workspace: String,
    },
    /// Remove a workspace's connection and its repository links.
    Disconnect {
        #[arg(long, default_value = "default", value_name = "WORKSPACE")]
        workspace: String,
    },
    /// Link a project to its GitHub repository (read from the origin remote
    /// of the project's repository unless --repo is given).
    Link {
        #[arg(long, default_value = "default", value_name = "WORKSPACE")]
        workspace: String,
        /// Project id or name.
        #[arg(long, value_name = "PROJECT")]
        project: String,
        /// OWNER/REPO.
        #[arg(long, value_name = "OWNER/REPO")]
        repo: Option<String>,
    },
    /// Re-seal every stored token with VK_SECRET_KEY (the previous key in
    /// VK_SECRET_KEY_OLD opens them).
    RotateKey,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log, cli.log_format);
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr (stdout is the stdio transport's), as text or JSON.
/// The filter is `target=level` directives and a default level, as in
/// `info,rmcp=error` (tracing-subscriber's `Targets`: span and field filters,
/// which `EnvFilter` adds, would compile a regex engine for nothing).
fn init_logging(directives: &str, format: LogFormat) {
    use tracing_subscriber::{filter::Targets, layer::SubscriberExt, util::SubscriberInitExt};
    let filter = directives.parse::<Targets>().unwrap_or_else(|error| {
        eprintln!("ignoring the log filter {directives:?} ({error}); logging at info");
        Targets::new().with_default(tracing::Level::INFO)
    });
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::TRACE);
    match format {
        LogFormat::Text => logs.with_ansi(false).finish().with(filter).init(),
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .finish()
            .with(filter)
            .init(),
    }
}

/// Runs the subcommand. Servers and the runner stop on SIGINT/SIGTERM: the
/// binary is the only place that listens for signals.
async fn run(cli: Cli) -> anyhow::Result<()> {
    let data_dir = cli.data_dir.unwrap_or_else(config::default_data_dir);
    let store =
        config::StoreConfig::resolve(cli.store, data_dir.clone(), |name| std::env::var(name).ok())?;
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    match cli.command {
        Command::Serve(args) => {
            let options = serve_options(args, store, data_dir, cli.config);
            commands::serve(options, commands::shutdown_signal()).await
        }
        Command::Runner { workspace } => {
            commands::runner(
                &store,
                &data_dir,
                cli.config.as_deref(),
                workspace.as_deref(),
                commands::shutdown_signal(),
            )
            .await
        }
        Command::Migrate => commands::migrate(&store, &mut out).await,
        Command::Keys(KeysCommand::Create {
            workspace,
            name,
            scopes,
            expires_in_days,
            user,
        }) => {
            let options = NewKeyOptions {
                workspace,
                name,
                scopes,
                expires_in_days,
                user,
            };
            commands::keys_create(&store, options, &mut out, &mut err).await
        }
        Command::Keys(KeysCommand::List { workspace, json }) => {
            commands::keys_list(&store, workspace.as_deref(), json, &mut out).await
        }
        Command::Keys(KeysCommand::Revoke { key }) => {
            commands::keys_revoke(&store, &key, &mut out).await
        }
        Command::Board(args) => {
            commands::board(
                &store,
                args.key.api_key.as_deref(),
                args.project.as_deref(),
                args.width,
                &mut out,
            )
            .await
        }
        Command::Workspaces(WorkspacesCommand::Create {
            name,
            slug,
            owner_email,
        }) => commands::workspaces_create(&store, &name, &slug, &owner_email, &mut out).await,
        Command::Workspaces(WorkspacesCommand::List) => {
            commands::workspaces_list(&store, &mut out).await
        }
        Command::Members(command) => 'members: {
            let (ws, action) = match command {
                MembersCommand::SetAvatar { ws, email, file } => {
                    let options = commands::AvatarOptions {
                        workspace: &ws.workspace,
                        email: &email,
                        file: &file,
                        config: cli.config.as_deref(),
                    };
                    break 'members commands::avatar_set(&store, &data_dir, options, &mut out)
                        .await;
                }
                MembersCommand::Add {
                    ws,
                    email,
                    name,
                    role,
                } => (ws, MembersAction::Add { email, name, role }),
                MembersCommand::List { ws, json } => (ws, MembersAction::List { json }),
                MembersCommand::SetRole { ws, member, role } => {
                    (ws, MembersAction::SetRole { member, role })
                }
                MembersCommand::Remove { ws, member } => (ws, MembersAction::Remove { member }),
                MembersCommand::TransferOwnership { ws, member } => {
                    (ws, MembersAction::TransferOwnership { member })
                }
            };
            commands::members(&store, &ws.workspace, action, &mut out).await
        }
        Command::Github(command) => github(command, &store, cli.config.as_deref()).await,
        Command::Web(WebArgs {
            command: Some(WebCommand::Login { url }),
            ..
        }) => commands::web_login(&data_dir, store.kind(), &url, &mut out),
        Command::Web(mut args) => {
            args.serve.http = Some(args.addr);
            let options = serve_options(args.serve, store, data_dir, cli.config);
            commands::web(options, args.open, commands::shutdown_signal()).await
        }
        Command::AgentMcp => commands::agent_mcp(&store).await,
    }
}

/// Runs a `github` subcommand.
async fn github(
    command: GithubCommand,
    store: &config::StoreConfig,
    config: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    use commands::github::{self as gh, TokenSource};
    let settings = gh::settings(config)?;
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    match command {
        GithubCommand::Connect {
            workspace,
            token_stdin,
            scope,
        } => {
            let source = if token_stdin {
                TokenSource::Stdin
            } else {
                TokenSource::DeviceFlow { scope }
            };
            let mut input = std::io::stdin().lock();
            gh::connect(
                store, &settings, &workspace, source, &mut input, &mut out, &mut err,
            )
            .await
        }
        GithubCommand::Status { workspace } => {
            gh::status(store, &settings, &workspace, &mut out).await
        }
        GithubCommand::Disconnect { workspace } => {
            gh::disconnect(store, &workspace, &mut out).await
        }
        GithubCommand::Link {
            workspace,
            project,
            repo,
        } => {
            gh::link(
                store,
                &settings,
                &workspace,
                &project,
                repo.as_deref(),
                &mut out,
            )
            .await
        }
        GithubCommand::RotateKey => gh::rotate_key(store, &settings, &mut out).await,
    }
}

/// What `serve`'s flags ask for.
fn serve_options(
    args: ServeArgs,
    store: config::StoreConfig,
    data_dir: PathBuf,
    config: Option<PathBuf>,
) -> ServeOptions {
    let http = args.http.map(|addr| HttpSettings {
        options: HttpOptions {
            addr,
            allowed_hosts: args.allowed_hosts,
            allowed_origins: args.allowed_origins,
            max_body_bytes: args.max_body_bytes,
            request_timeout: Duration::from_secs(args.request_timeout_secs),
            connections: ConnectionLimits {
                header_read_timeout: Duration::from_secs(args.header_read_timeout_secs),
                max_connections: args.max_connections,
            },
            rate_limit: Some(RateLimit {
                per_second: args.rate_limit,
                burst: args.rate_burst,
            }),
            no_auth: args.no_auth,
        },
        jwt_secret: args.jwt_secret,
    });
    ServeOptions {
        store,
        data_dir,
        config,
        http,
        api_key: args.key.api_key,
        tools: ToolFilter {
            toolsets: args.toolsets,
            read_only: args.read_only,
        },
        no_runner: args.no_runner,
    }
}
