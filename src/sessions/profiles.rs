//! Executor profiles: how to start a coding agent. Built-in profiles cover
//! Claude Code, Codex and Gemini CLI; `[executors.NAME]` sections of the
//! configuration file add profiles or replace a built-in one of that name.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The profile used when `start_session` names none and the configuration
/// sets no `default_executor`.
pub const DEFAULT_EXECUTOR: &str = "claude-code";

/// Placeholder in `command` replaced by the prompt (with `prompt_via = "arg"`).
const PROMPT_PLACEHOLDER: &str = "{prompt}";
/// Placeholder in `resume_command` replaced by the agent's conversation id.
const SESSION_PLACEHOLDER: &str = "{agent_session_id}";

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

/// One `[executors.NAME]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutorProfile {
    /// Program and arguments, e.g. `["claude", "-p"]`.
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
    /// The command as people read it, without the prompt.
    pub fn display(&self, prompt: &str) -> String {
        std::iter::once(self.program.as_str())
            .chain(
                self.args
                    .iter()
                    .map(|a| if a == prompt { "<prompt>" } else { a.as_str() }),
            )
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

/// The profiles that ship with the server.
pub fn builtin() -> BTreeMap<String, ExecutorProfile> {
    let mut profiles = BTreeMap::new();
    // Claude Code in print mode, streaming JSON events; every event carries
    // `session_id`, which `--resume` takes on a follow-up.
    let claude = [
        "claude",
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--dangerously-skip-permissions",
    ];
    let mut claude_resume = strings(&claude);
    claude_resume.extend(strings(&["--resume", SESSION_PLACEHOLDER]));
    profiles.insert(
        "claude-code".to_owned(),
        ExecutorProfile {
            command: strings(&claude),
            prompt_via: PromptVia::Arg,
            env: BTreeMap::new(),
            timeout_secs: None,
            resume_command: Some(claude_resume),
            session_id_field: Some("session_id".to_owned()),
        },
    );
    // Codex non-interactive; `--json` prints a `thread.started` event with
    // `thread_id`, which `codex exec resume` takes.
    profiles.insert(
        "codex".to_owned(),
        ExecutorProfile {
            command: strings(&["codex", "exec", "--json", "--full-auto"]),
            prompt_via: PromptVia::Arg,
            env: BTreeMap::new(),
            timeout_secs: None,
            resume_command: Some(strings(&[
                "codex",
                "exec",
                "--json",
                "--full-auto",
                "resume",
                SESSION_PLACEHOLDER,
            ])),
            session_id_field: Some("thread_id".to_owned()),
        },
    );
    // Gemini CLI non-interactive with the prompt as `-p`'s value.
    profiles.insert(
        "gemini".to_owned(),
        ExecutorProfile {
            command: strings(&["gemini", "--yolo", "-p"]),
            prompt_via: PromptVia::Arg,
            env: BTreeMap::new(),
            timeout_secs: None,
            resume_command: None,
            session_id_field: None,
        },
    );
    profiles
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
    ) -> Result<Self, String> {
        let mut profiles = builtin();
        for (name, profile) in configured {
            if profile.command.first().is_none_or(|p| p.trim().is_empty()) {
                return Err(format!(
                    "[executors.{name}] command must name a program, e.g. command = [\"my-agent\", \"--flag\"]"
                ));
            }
            if profile.timeout_secs == Some(0) {
                return Err(format!(
                    "[executors.{name}] timeout_secs must be at least 1"
                ));
            }
            profiles.insert(name.clone(), profile.clone());
        }
        let default = default_executor.unwrap_or(DEFAULT_EXECUTOR).to_owned();
        let profiles = Profiles { profiles, default };
        profiles
            .get(&profiles.default)
            .map_err(|e| format!("default_executor: {e}"))?;
        Ok(profiles)
    }

    pub fn default_name(&self) -> &str {
        &self.default
    }

    pub fn names(&self) -> Vec<&str> {
        self.profiles.keys().map(String::as_str).collect()
    }

    pub fn get(&self, name: &str) -> Result<&ExecutorProfile, String> {
        self.profiles.get(name).ok_or_else(|| {
            format!(
                "unknown executor '{name}'; the executors are: {}",
                self.names().join(", ")
            )
        })
    }
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
        assert_eq!(
            profile.command_line("p", None).args,
            strings(&["--prompt=p", "--x"])
        );
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
            },
        );
        assert!(Profiles::new(&configured, None).is_err());
    }
}
