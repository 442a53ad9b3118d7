//! Executor profiles: how to start a coding agent. Built-in profiles cover
//! Claude Code, Codex and Gemini CLI, each with the oldest CLI version it
//! works with and the fixes for the CLI's known failures; `[executors.NAME]`
//! sections of the configuration file add profiles, replace a built-in one
//! of that name, or (without `command`) extend it.

use std::collections::BTreeMap;

use serde::Deserialize;

pub use super::agent_output::OutputFormat;

/// The profile used when `start_session` names none and the configuration
/// sets no `default_executor`.
pub const DEFAULT_EXECUTOR: &str = "claude-code";

/// Placeholder in `command` replaced by the prompt (with `prompt_via = "arg"`).
const PROMPT_PLACEHOLDER: &str = "{prompt}";
/// Placeholder in `resume_command` replaced by the agent's conversation id.
const SESSION_PLACEHOLDER: &str = "{agent_session_id}";
/// Placeholders of `mcp_args` and `approval_args`.
const MCP_CONFIG_PLACEHOLDER: &str = "{mcp_config}";
const APPROVAL_TOOL_PLACEHOLDER: &str = "{approval_tool}";
const AGENT_NOTE_PLACEHOLDER: &str = "{agent_note}";
/// Ends a CLI's options: what follows is the prompt, even if it starts
/// with `-`.
pub const END_OF_OPTIONS: &str = "--";

/// How the prompt reaches the agent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptVia {
    /// As the last argument (or in place of a `{prompt}` argument).
    #[default]
    Arg,
    /// On standard input, which is then closed.
    Stdin,
}

/// One `[executors.NAME]` section. A section named after a built-in profile
/// that sets no `command` keeps the built-in's command lines and adds to it
/// (`env` is merged; the other fields it sets replace the built-in's).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutorProfile {
    /// Program and arguments, e.g. `["claude", "-p"]`.
    #[serde(default)]
    pub command: Vec<String>,
    #[serde(default)]
    pub prompt_via: PromptVia,
    /// Extra environment variables for the agent.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Stop the agent (SIGINT, SIGTERM, SIGKILL) after this many seconds.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// Command of a follow-up turn that resumes the agent's own conversation;
    /// `{agent_session_id}` is replaced by the id found in its output.
    #[serde(default)]
    pub resume_command: Option<Vec<String>>,
    /// Top-level field of the JSON lines the agent prints on stdout that
    /// carries its conversation id (e.g. `session_id`).
    #[serde(default)]
    pub session_id_field: Option<String>,
    /// Top-level field of the agent's JSON output lines that holds its
    /// final message (the last line with it wins); without it (and without
    /// `output_format`), the last lines it printed are the final message.
    #[serde(default)]
    pub final_message_field: Option<String>,
    /// The agent's structured output format, read for the final message,
    /// token usage, cost and tool calls: `claude-stream-json`,
    /// `codex-json` or `gemini-stream-json` (the built-in profiles set it).
    #[serde(default)]
    pub output_format: Option<OutputFormat>,
    /// Prints the agent CLI's version (e.g. `["codex", "--version"]`); run
    /// before each turn when `min_version` is set.
    #[serde(default)]
    pub version_command: Option<Vec<String>>,
    /// The oldest version of the agent CLI this profile works with; an older
    /// one fails the turn before the agent starts.
    #[serde(default)]
    pub min_version: Option<String>,
    /// How to install the CLI (e.g. `npm i -g @openai/codex@0.171.0`),
    /// named when it is missing or too old.
    #[serde(default)]
    pub install_hint: Option<String>,
    /// Known failure messages of the agent CLI and what to do about them:
    /// when the agent fails and its output holds `output`, `reason` goes
    /// into the session's failure reason.
    #[serde(default)]
    pub failure_hints: Vec<FailureHint>,
    /// How every turn's agent gets the session's own MCP server (the one it
    /// comments on its task with): arguments added before the prompt
    /// (before a `--` argument when there is one), where `{mcp_config}` is
    /// the server's MCP configuration file and `{agent_note}` what the
    /// agent is told about it (e.g. a system prompt flag's value; without
    /// `{agent_note}` the note follows the prompt). Unset: the agent gets no
    /// MCP configuration, except through `approval_args` when it asks.
    #[serde(default)]
    pub mcp_args: Option<Vec<String>>,
    /// How the agent asks for approvals (sessions with `approvals = "ask"`):
    /// arguments added after `mcp_args` (the same placeholders), where
    /// `{approval_tool}` is the permission tool
    /// (`mcp__vk_session__approval_prompt`). Unset: the agent cannot ask.
    #[serde(default)]
    pub approval_args: Option<Vec<String>>,
    /// Arguments left out when the agent asks (e.g. the flag that skips
    /// permissions).
    #[serde(default)]
    pub approval_drop_args: Vec<String>,
    /// Set for the profiles that ship with the server (and sections that
    /// extend one), so messages can say "the built-in codex profile".
    #[serde(skip)]
    pub builtin: bool,
}

/// A known failure of an agent CLI: a piece of what it prints, and the fix.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailureHint {
    /// Text the CLI prints (stdout or stderr) when this failure happens.
    pub output: String,
    /// What went wrong and what to do, for the session's failure reason.
    pub reason: String,
}

/// A command line ready to spawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    pub program: String,
    pub args: Vec<String>,
    /// Written to standard input, which is then closed.
    pub stdin: Option<String>,
    pub env: BTreeMap<String, String>,
}

impl CommandLine {
    /// The command as people read it, without the prompt (also where it is
    /// part of an argument, as in `--prompt={prompt}`).
    pub fn display(&self, prompt: &str) -> String {
        std::iter::once(self.program.clone())
            .chain(self.args.iter().map(|a| {
                if prompt.is_empty() {
                    a.clone()
                } else {
                    a.replace(prompt, "<prompt>")
                }
            }))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl ExecutorProfile {
    /// The command of one turn. With an agent conversation id and a
    /// `resume_command`, the turn resumes that conversation.
    pub fn command_line(&self, prompt: &str, agent_session_id: Option<&str>) -> CommandLine {
        let base = match (agent_session_id, &self.resume_command) {
            (Some(id), Some(resume)) => resume
                .iter()
                .map(|arg| arg.replace(SESSION_PLACEHOLDER, id))
                .collect(),
            _ => self.command.clone(),
        };
        let mut parts = base.into_iter();
        let program = parts.next().unwrap_or_default();
        let mut args: Vec<String> = parts.collect();
        let stdin = match self.prompt_via {
            PromptVia::Stdin => Some(prompt.to_owned()),
            PromptVia::Arg => {
                if args.iter().any(|a| a.contains(PROMPT_PLACEHOLDER)) {
                    for arg in &mut args {
                        *arg = arg.replace(PROMPT_PLACEHOLDER, prompt);
                    }
                } else {
                    args.push(prompt.to_owned());
                }
                None
            }
        };
        CommandLine {
            program,
            args,
            stdin,
            env: self.env.clone(),
        }
    }

    /// [`Self::command_line`] of a turn whose agent gets the session's MCP
    /// server (`mcp_config`, `mcp_args`) and is told so (`note`). With
    /// `approval_tool` the agent also asks for approvals: `approval_args`
    /// added, `approval_drop_args` left out. `None` when this profile cannot
    /// do that (no `mcp_args`; asking: no `approval_args`).
    pub fn mcp_command_line(
        &self,
        prompt: &str,
        agent_session_id: Option<&str>,
        mcp_config: &str,
        approval_tool: Option<&str>,
        note: &str,
    ) -> Option<CommandLine> {
        let asking = approval_tool.is_some();
        let approval_args = match approval_tool {
            Some(_) => self.approval_args.as_deref()?,
            None => &[],
        };
        let mcp_args = self.mcp_args.as_deref().unwrap_or_default();
        if mcp_args.is_empty() && approval_args.is_empty() {
            return None;
        }
        let fill = |arg: &String| {
            arg.replace(MCP_CONFIG_PLACEHOLDER, mcp_config)
                .replace(APPROVAL_TOOL_PLACEHOLDER, approval_tool.unwrap_or_default())
                .replace(AGENT_NOTE_PLACEHOLDER, note)
        };
        let added: Vec<String> = mcp_args.iter().chain(approval_args).map(fill).collect();
        // A profile with no place for the note gets it after the prompt.
        let noted = mcp_args
            .iter()
            .chain(approval_args)
            .any(|arg| arg.contains(AGENT_NOTE_PLACEHOLDER));
        let prompt = if noted || note.is_empty() {
            prompt.to_owned()
        } else {
            format!("{prompt}\n\n{note}")
        };
        let with_mcp = |line: &[String]| -> Vec<String> {
            let mut line: Vec<String> = line
                .iter()
                .filter(|arg| !asking || !self.approval_drop_args.contains(arg))
                .cloned()
                .collect();
            // After the program; before `--`, or at the end (the prompt follows).
            let at = line
                .iter()
                .skip(1)
                .position(|arg| arg == END_OF_OPTIONS)
                .map_or(line.len(), |i| i + 1);
            line.splice(at..at, added.iter().cloned());
            line
        };
        let profile = ExecutorProfile {
            command: with_mcp(&self.command),
            resume_command: self.resume_command.as_deref().map(with_mcp),
            ..self.clone()
        };
        Some(profile.command_line(&prompt, agent_session_id))
    }

    /// The first failure hint whose text occurs in `output`.
    pub fn failure_hint(&self, output: &str) -> Option<&FailureHint> {
        self.failure_hints
            .iter()
            .find(|hint| !hint.output.is_empty() && output.contains(&hint.output))
    }

    /// How messages name this profile.
    pub fn label(&self, name: &str) -> String {
        if self.builtin {
            format!("the built-in {name} profile")
        } else {
            format!("executor '{name}'")
        }
    }

    /// Checks what `version_command` printed against `min_version`: the
    /// version found, or why the turn cannot start.
    pub fn check_version(&self, name: &str, output: &str) -> Result<String, ProfileError> {
        // The line with the version (CLIs may print warnings around it).
        let mut lines = output.lines().map(str::trim).filter(|l| !l.is_empty());
        let found = lines
            .clone()
            .find(|l| parse_version(l).is_some())
            .or_else(|| lines.next())
            .unwrap_or("");
        let Some(minimum) = self.min_version.as_deref() else {
            return Ok(found.to_owned());
        };
        let install = self
            .install_hint
            .as_deref()
            .map(|hint| format!("; install a newer one: {hint}"))
            .unwrap_or_default();
        let needed = parse_version(minimum).ok_or_else(|| ProfileError::BadMinVersion {
            name: name.to_owned(),
            minimum: minimum.to_owned(),
        })?;
        match parse_version(found) {
            Some(version) if version >= needed => Ok(found.to_owned()),
            Some(_) => Err(ProfileError::TooOld {
                found: found.to_owned(),
                profile: self.label(name),
                minimum: minimum.to_owned(),
                install,
            }),
            None => Err(ProfileError::NoVersion {
                output: found.to_owned(),
                command: self
                    .version_command
                    .as_deref()
                    .unwrap_or_default()
                    .join(" "),
                profile: self.label(name),
                minimum: minimum.to_owned(),
                install,
            }),
        }
    }

    /// The agent's conversation id, if `line` is a JSON object carrying it.
    pub fn agent_session_id(&self, line: &str) -> Option<String> {
        let field = self.session_id_field.as_deref()?;
        let line = line.trim();
        if !line.starts_with('{') {
            return None;
        }
        let value: serde_json::Value = serde_json::from_str(line).ok()?;
        value
            .get(field)?
            .as_str()
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Codex's Linux sandbox (bubblewrap) cannot create user namespaces.
const CODEX_SANDBOX_FIX: &str = "Codex could not start its sandbox (bubblewrap needs to create user \
     namespaces): allow unprivileged user namespaces for the runner's user, or, where the machine is itself a \
     sandbox, give [executors.codex] a command with --dangerously-bypass-approvals-and-sandbox instead of \
     --sandbox=workspace-write";

fn hint(output: &str, reason: &str) -> FailureHint {
    FailureHint {
        output: output.to_owned(),
        reason: reason.to_owned(),
    }
}

/// The profiles that ship with the server, tested with the CLI versions
/// pinned in `tests/agents/package.json` (see tests/it/agent_clis.rs). Flags
/// with a value are written `--flag=value`, so that test can check every
/// flag and value against the CLI's `--help`. Long because it is the table
/// of the four profiles, one field a line; there is no logic to split off.
pub fn builtin() -> BTreeMap<String, ExecutorProfile> {
    let mut profiles = BTreeMap::new();
    // Claude Code in print mode, streaming JSON events (`system`/`init`
    // first); every event carries `session_id`, which `--resume` takes.
    let claude = [
        "claude",
        "--print",
        "--output-format=stream-json",
        "--verbose",
        "--dangerously-skip-permissions",
    ];
    let mut claude_resume = strings(&claude);
    claude_resume.push(format!("--resume={SESSION_PLACEHOLDER}"));
    // `--` ends the options, so a prompt that starts with `-` (a markdown
    // list, "--help me with …") stays the prompt.
    claude_resume.push(END_OF_OPTIONS.to_owned());
    let claude = [claude.as_slice(), &[END_OF_OPTIONS]].concat();
    profiles.insert(
        "claude-code".to_owned(),
        ExecutorProfile {
            command: strings(&claude),
            resume_command: Some(claude_resume),
            session_id_field: Some("session_id".to_owned()),
            output_format: Some(OutputFormat::ClaudeStreamJson),
            version_command: Some(strings(&["claude", "--version"])),
            min_version: Some("2.1.328".to_owned()),
            install_hint: Some("npm i -g @anthropic-ai/claude-code@2.1.332".to_owned()),
            failure_hints: vec![
                hint(
                    "cannot be used with root/sudo privileges",
                    "Claude Code refuses --dangerously-skip-permissions when run as root: run the runner as \
                     a normal user, or, if this machine is itself a sandbox, set IS_SANDBOX = \"1\" in \
                     [executors.claude-code] env",
                ),
                hint(
                    "Not logged in",
                    "Claude Code has no credentials: set ANTHROPIC_API_KEY in the runner's environment (or in \
                     [executors.claude-code] env), or log in once with `claude` as the user the runner runs as",
                ),
                hint(
                    "Invalid API key",
                    "Claude Code's API key was refused: check ANTHROPIC_API_KEY (or log in again with `claude`)",
                ),
            ],
            // Every turn: the session's MCP server (the agent comments on
            // its task with it), and a system prompt line that says so.
            mcp_args: Some(strings(&[
                "--mcp-config={mcp_config}",
                "--append-system-prompt={agent_note}",
            ])),
            // Asking: no skipping of permissions; each request goes to the
            // session server's permission tool.
            approval_args: Some(strings(&["--permission-prompt-tool={approval_tool}"])),
            approval_drop_args: strings(&["--dangerously-skip-permissions"]),
            builtin: true,
            ..ExecutorProfile::default()
        },
    );
    // Codex non-interactive: `--json` prints JSON lines, the first one
    // `thread.started` with `thread_id`, which `codex exec resume` takes
    // (the options before `resume` apply to it). Commands the model runs are
    // confined to the worktree by Codex's own sandbox (on Linux the
    // bubblewrap it ships with).
    let codex = [
        "codex",
        "exec",
        "--json",
        "--sandbox=workspace-write",
        "--skip-git-repo-check",
    ];
    let mut codex_resume = strings(&codex);
    codex_resume.extend(strings(&["resume", SESSION_PLACEHOLDER, END_OF_OPTIONS]));
    let codex = [codex.as_slice(), &[END_OF_OPTIONS]].concat();
    profiles.insert(
        "codex".to_owned(),
        ExecutorProfile {
            command: strings(&codex),
            resume_command: Some(codex_resume),
            session_id_field: Some("thread_id".to_owned()),
            output_format: Some(OutputFormat::CodexJson),
            version_command: Some(strings(&["codex", "--version"])),
            min_version: Some("0.169.0".to_owned()),
            install_hint: Some("npm i -g @openai/codex@0.171.0".to_owned()),
            failure_hints: vec![
                hint(
                    "401 Unauthorized",
                    "Codex has no valid credentials: set CODEX_API_KEY (what `codex exec` reads; OPENAI_API_KEY \
                     is not enough) in the runner's environment or in [executors.codex] env, or log in once as the \
                     user the runner runs as: `printenv OPENAI_API_KEY | codex login --with-api-key`",
                ),
                hint(
                    "needs access to create user namespaces",
                    CODEX_SANDBOX_FIX,
                ),
                hint("No permissions to create a new namespace", CODEX_SANDBOX_FIX),
            ],
            builtin: true,
            ..ExecutorProfile::default()
        },
    );
    // Gemini CLI headless: the prompt is `--prompt`'s value, output is JSON
    // lines (`init` first, with `session_id`, which `--resume` takes). The
    // worktree is a new folder, so it is trusted for the run (`--skip-trust`);
    // without that Gemini CLI turns `--yolo` off and stops.
    let gemini = [
        "gemini",
        "--yolo",
        "--skip-trust",
        "--output-format=stream-json",
    ];
    let mut gemini_command = strings(&gemini);
    gemini_command.push(format!("--prompt={PROMPT_PLACEHOLDER}"));
    let mut gemini_resume = strings(&gemini);
    gemini_resume.push(format!("--resume={SESSION_PLACEHOLDER}"));
    gemini_resume.push(format!("--prompt={PROMPT_PLACEHOLDER}"));
    profiles.insert(
        "gemini".to_owned(),
        ExecutorProfile {
            command: gemini_command,
            resume_command: Some(gemini_resume),
            session_id_field: Some("session_id".to_owned()),
            output_format: Some(OutputFormat::GeminiStreamJson),
            version_command: Some(strings(&["gemini", "--version"])),
            min_version: Some("0.61.0".to_owned()),
            install_hint: Some("npm i -g @google/gemini-cli@0.61.0".to_owned()),
            failure_hints: vec![
                hint(
                    "Please set an Auth method",
                    "Gemini CLI has no credentials: set GEMINI_API_KEY in the runner's environment (or in \
                     [executors.gemini] env), or sign in once with `gemini` as the user the runner runs as",
                ),
                hint(
                    "must specify the GEMINI_API_KEY",
                    "Gemini CLI is set to use an API key but has none: set GEMINI_API_KEY in the runner's \
                     environment or in [executors.gemini] env",
                ),
            ],
            builtin: true,
            ..ExecutorProfile::default()
        },
    );
    profiles
}

/// A version `x.y.z` found in a CLI's `--version` output.
pub fn parse_version(text: &str) -> Option<(u64, u64, u64)> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find_map(|word| {
            let mut parts = word.split('.').filter(|p| !p.is_empty());
            let version = (
                parts.next()?.parse().ok()?,
                parts.next()?.parse().ok()?,
                parts.next().unwrap_or("0").parse().ok()?,
            );
            Some(version)
        })
}

/// Why a profile is refused or an agent CLI cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("[executors.{name}] timeout_secs must be at least 1")]
    ZeroTimeout { name: String },
    #[error("[executors.{name}] min_version {minimum:?} is not a version like \"1.2.3\"")]
    BadMinVersion { name: String, minimum: String },
    #[error(
        "[executors.{name}] command must name a program, e.g. command = [\"my-agent\", \"--flag\"] \
         (only a section named after a built-in profile — {builtins} — may leave it out to keep the \
         built-in's command)"
    )]
    NoCommand { name: String, builtins: String },
    /// The configured `default_executor` is not a profile.
    #[error("default_executor: {0}")]
    Default(Box<ProfileError>),
    #[error("unknown executor '{name}'; the executors are: {known}")]
    Unknown { name: String, known: String },
    #[error("{found} is too old for {profile} (needs >= {minimum}){install}")]
    TooOld {
        found: String,
        profile: String,
        minimum: String,
        install: String,
    },
    #[error(
        "could not read a version from the output of `{command}` ({output:?}); {profile} needs >= {minimum}{install}"
    )]
    NoVersion {
        output: String,
        command: String,
        profile: String,
        minimum: String,
        install: String,
    },
}

/// Built-in profiles overlaid with the configured ones.
#[derive(Debug, Clone)]
pub struct Profiles {
    profiles: BTreeMap<String, ExecutorProfile>,
    default: String,
}

impl Profiles {
    /// Validates the configured profiles and the default executor.
    pub fn new(
        configured: &BTreeMap<String, ExecutorProfile>,
        default_executor: Option<&str>,
    ) -> Result<Self, ProfileError> {
        let mut profiles = builtin();
        for (name, profile) in configured {
            if profile.timeout_secs == Some(0) {
                return Err(ProfileError::ZeroTimeout { name: name.clone() });
            }
            if let Some(minimum) = profile.min_version.as_deref()
                && parse_version(minimum).is_none()
            {
                return Err(ProfileError::BadMinVersion {
                    name: name.clone(),
                    minimum: minimum.to_owned(),
                });
            }
            let merged = match profiles.remove(name) {
                Some(base) if profile.command.is_empty() => extend(base, profile),
                _ => profile.clone(),
            };
            if merged.command.first().is_none_or(|p| p.trim().is_empty()) {
                return Err(ProfileError::NoCommand {
                    name: name.clone(),
                    builtins: builtin().keys().cloned().collect::<Vec<_>>().join(", "),
                });
            }
            profiles.insert(name.clone(), merged);
        }
        let default = default_executor.unwrap_or(DEFAULT_EXECUTOR).to_owned();
        let profiles = Profiles { profiles, default };
        profiles
            .get(&profiles.default)
            .map_err(|e| ProfileError::Default(Box::new(e)))?;
        Ok(profiles)
    }

    pub fn default_name(&self) -> &str {
        &self.default
    }

    pub fn names(&self) -> Vec<&str> {
        self.profiles.keys().map(String::as_str).collect()
    }

    pub fn get(&self, name: &str) -> Result<&ExecutorProfile, ProfileError> {
        self.profiles
            .get(name)
            .ok_or_else(|| ProfileError::Unknown {
                name: name.to_owned(),
                known: self.names().join(", "),
            })
    }
}

fn replace<T: Clone>(into: &mut Option<T>, from: &Option<T>) {
    if from.is_some() {
        into.clone_from(from);
    }
}

/// A built-in profile with a configured section that sets no `command`
/// laid over it: `env` merged, every other field it sets replacing the
/// built-in's.
fn extend(mut base: ExecutorProfile, overlay: &ExecutorProfile) -> ExecutorProfile {
    base.env
        .extend(overlay.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    if overlay.prompt_via != PromptVia::default() {
        base.prompt_via = overlay.prompt_via;
    }
    replace(&mut base.timeout_secs, &overlay.timeout_secs);
    replace(&mut base.resume_command, &overlay.resume_command);
    replace(&mut base.session_id_field, &overlay.session_id_field);
    replace(&mut base.final_message_field, &overlay.final_message_field);
    replace(&mut base.output_format, &overlay.output_format);
    replace(&mut base.version_command, &overlay.version_command);
    replace(&mut base.min_version, &overlay.min_version);
    replace(&mut base.install_hint, &overlay.install_hint);
    replace(&mut base.mcp_args, &overlay.mcp_args);
    replace(&mut base.approval_args, &overlay.approval_args);
    if !overlay.approval_drop_args.is_empty() {
        base.approval_drop_args
            .clone_from(&overlay.approval_drop_args);
    }
    if !overlay.failure_hints.is_empty() {
        base.failure_hints.clone_from(&overlay.failure_hints);
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_goes_last_in_place_or_on_stdin() {
        let mut profile = ExecutorProfile {
            command: strings(&["agent", "--fast"]),
            prompt_via: PromptVia::Arg,
            env: BTreeMap::new(),
            timeout_secs: None,
            resume_command: Some(strings(&["agent", "--resume", "{agent_session_id}"])),
            session_id_field: Some("session_id".to_owned()),
            ..ExecutorProfile::default()
        };
        let line = profile.command_line("do it", None);
        assert_eq!(
            (line.program.as_str(), line.args.clone()),
            ("agent", strings(&["--fast", "do it"]))
        );
        assert_eq!(line.display("do it"), "agent --fast <prompt>");
        let resumed = profile.command_line("more", Some("abc"));
        assert_eq!(resumed.args, strings(&["--resume", "abc", "more"]));
        profile.command = strings(&["agent", "--prompt={prompt}", "--x"]);
        let line = profile.command_line("write it", None);
        assert_eq!(line.args, strings(&["--prompt=write it", "--x"]));
        assert_eq!(line.display("write it"), "agent --prompt=<prompt> --x");
        profile.prompt_via = PromptVia::Stdin;
        let line = profile.command_line("p", None);
        assert_eq!(line.stdin.as_deref(), Some("p"));
        assert_eq!(
            profile
                .agent_session_id(r#"{"type":"x","session_id":"s-1"}"#)
                .as_deref(),
            Some("s-1")
        );
        assert_eq!(profile.agent_session_id("plain text"), None);
    }

    #[test]
    fn configured_profiles_are_checked() {
        let mut configured = BTreeMap::new();
        assert_eq!(
            Profiles::new(&configured, None)
                .expect("built-ins")
                .default_name(),
            "claude-code"
        );
        assert!(
            Profiles::new(&configured, Some("nope"))
                .expect_err("unknown default")
                .to_string()
                .contains("claude-code, codex, gemini")
        );
        configured.insert(
            "empty".to_owned(),
            ExecutorProfile {
                command: Vec::new(),
                prompt_via: PromptVia::Arg,
                env: BTreeMap::new(),
                timeout_secs: None,
                resume_command: None,
                session_id_field: None,
                ..ExecutorProfile::default()
            },
        );
        assert!(Profiles::new(&configured, None).is_err());
    }

    #[test]
    fn a_section_without_command_extends_the_built_in() {
        let mut configured = BTreeMap::new();
        let section: ExecutorProfile =
            toml::from_str("env = { PATH = \"/opt/agents/bin\" }\ntimeout_secs = 60")
                .expect("toml");
        configured.insert("codex".to_owned(), section.clone());
        let profiles = Profiles::new(&configured, None).expect("profiles");
        let codex = profiles.get("codex").expect("codex");
        let builtin = builtin().remove("codex").expect("built-in codex");
        assert_eq!(codex.command, builtin.command);
        assert_eq!(codex.resume_command, builtin.resume_command);
        assert_eq!(
            codex.env.get("PATH").map(String::as_str),
            Some("/opt/agents/bin")
        );
        assert_eq!(codex.timeout_secs, Some(60));
        assert!(codex.builtin);
        // Under a new name, a section without a command is an error that says why.
        configured.insert("mine".to_owned(), section);
        let error = Profiles::new(&configured, None)
            .expect_err("no command")
            .to_string();
        assert!(
            error.contains("[executors.mine] command must name a program"),
            "{error}"
        );
    }

    #[test]
    fn an_asking_claude_code_checks_with_the_approval_tool() {
        let claude = builtin().remove("claude-code").expect("claude");
        let line = claude
            .mcp_command_line(
                "go",
                None,
                "/tmp/c.json",
                Some("mcp__vk_session__approval_prompt"),
                "You may comment.",
            )
            .expect("claude-code can ask");
        assert_eq!(
            line.args,
            strings(&[
                "--print",
                "--output-format=stream-json",
                "--verbose",
                "--mcp-config=/tmp/c.json",
                "--append-system-prompt=You may comment.",
                "--permission-prompt-tool=mcp__vk_session__approval_prompt",
                "--",
                "go"
            ])
        );
        // Without asking, permissions are still skipped; the server is there.
        let auto = claude
            .mcp_command_line("go", None, "/tmp/c.json", None, "You may comment.")
            .expect("claude-code takes an MCP configuration");
        assert_eq!(
            auto.args,
            strings(&[
                "--print",
                "--output-format=stream-json",
                "--verbose",
                "--dangerously-skip-permissions",
                "--mcp-config=/tmp/c.json",
                "--append-system-prompt=You may comment.",
                "--",
                "go"
            ])
        );
        let resumed = claude
            .mcp_command_line("more", Some("abc"), "/c", Some("t"), "n")
            .expect("claude-code can ask");
        assert!(
            !resumed
                .args
                .iter()
                .any(|a| a == "--dangerously-skip-permissions")
        );
        assert_eq!(
            &resumed.args[resumed.args.len() - 5..],
            strings(&[
                "--mcp-config=/c",
                "--append-system-prompt=n",
                "--permission-prompt-tool=t",
                "--",
                "more"
            ])
            .as_slice()
        );
        let codex = builtin().remove("codex").expect("codex");
        assert!(
            codex
                .mcp_command_line("go", None, "/c", Some("t"), "n")
                .is_none()
        );
        assert!(
            codex
                .mcp_command_line("go", None, "/c", None, "n")
                .is_none()
        );
        // A profile with no place for the note gets it after the prompt.
        let custom = ExecutorProfile {
            command: strings(&["agent"]),
            mcp_args: Some(strings(&["--mcp={mcp_config}"])),
            ..ExecutorProfile::default()
        };
        let line = custom
            .mcp_command_line("go", None, "/c", None, "You may comment.")
            .expect("custom takes an MCP configuration");
        assert_eq!(line.args, strings(&["--mcp=/c", "go\n\nYou may comment."]));
    }

    #[test]
    fn versions_are_compared_and_failures_explained() {
        assert_eq!(parse_version("2.1.332 (Claude Code)"), Some((2, 1, 332)));
        assert_eq!(parse_version("codex-cli 0.171.0"), Some((0, 171, 0)));
        assert_eq!(parse_version("v20.1"), Some((20, 1, 0)));
        assert_eq!(parse_version("no version"), None);
        let codex = builtin().remove("codex").expect("codex");
        assert_eq!(
            codex.check_version("codex", "WARNING: no PATH aliases\ncodex-cli 0.171.0\n"),
            Ok("codex-cli 0.171.0".to_owned())
        );
        let old = codex
            .check_version("codex", "codex-cli 0.50.0")
            .expect_err("too old")
            .to_string();
        assert!(
            old.starts_with(
                "codex-cli 0.50.0 is too old for the built-in codex profile (needs >= 0.169.0)"
            ),
            "{old}"
        );
        assert!(old.contains("npm i -g @openai/codex@"), "{old}");
        let claude = builtin().remove("claude-code").expect("claude");
        let hint = claude
            .failure_hint(r#"{"type":"result","result":"Not logged in · Please run /login"}"#)
            .expect("a hint");
        assert!(hint.reason.contains("ANTHROPIC_API_KEY"), "{}", hint.reason);
        assert_eq!(claude.failure_hint("all good"), None);
    }
}
