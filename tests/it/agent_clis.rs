//! The built-in executor profiles against the real agent CLIs pinned in
//! tests/agents/package.json (installed by scripts/test): Claude Code, Codex
//! and Gemini CLI each run a real session through the server, in a real git
//! worktree, against tests/agents/model_apis.mjs — a scripted model on
//! loopback that speaks the Anthropic Messages, OpenAI Responses and Gemini
//! streaming wire formats. The built-in profiles are used as they ship; the
//! configuration only adds environment (PATH, a private HOME, the base URL
//! and a dummy key). Each turn's final message is the scripted sentence read
//! from the CLI's own JSON output, with the usage the stand-in reports, and
//! the file the agent wrote is in the turn's commit. Also: every flag a built-in profile uses is in the
//! pinned CLI's `--help`; Codex's sandbox refuses a write outside the
//! worktree; a missing CLI, one that is too old, missing credentials and (as
//! root) Claude Code's root check each fail the session with a reason that
//! names the fix, leaving nothing running; a CLI's version is asked once
//! until the CLI changes; and Claude Code with approvals "ask" asks this
//! server's permission tool before it writes, and writes only when allowed.

use crate::common;

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

use common::{
    DataDir, Server,
    sessions::{git, git_repo, read_all, wait_finished},
};
use serde_json::{Value, json};
use vibe_kanban_mcp::sessions::profiles;

/// Where `npm ci` in tests/agents puts the pinned CLIs.
fn cli_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agents/node_modules/.bin");
    assert!(
        dir.join("claude").exists() && dir.join("codex").exists() && dir.join("gemini").exists(),
        "the agent CLIs are not installed: run scripts/test (or `npm ci` in tests/agents)"
    );
    dir
}

/// The pinned CLIs first, then the Node.js the harness uses (Gemini CLI and
/// the Codex launcher are Node scripts), then the test's own PATH.
fn agent_path(first: &Path) -> String {
    let mut dirs = vec![first.to_path_buf()];
    if let Some(node_dir) = common::node().parent().filter(|d| d.is_absolute()) {
        dirs.push(node_dir.to_path_buf());
    }
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs)
        .expect("PATH")
        .into_string()
        .expect("utf-8 PATH")
}

fn running_as_root() -> bool {
    // /proc/self belongs to the process's effective user.
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

/// tests/agents/model_apis.mjs, on an ephemeral loopback port; it exits when
/// this value is dropped (its stdin closes).
struct ModelApis {
    child: Child,
    url: String,
    /// The script's markers, file and sentences, as the stand-in reports them.
    script: Value,
}

impl ModelApis {
    fn start() -> ModelApis {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agents/model_apis.mjs");
        let mut child = Command::new(common::node())
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start node tests/agents/model_apis.mjs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the stand-in's address");
        let script: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the model stand-in did not start ({e}): {line:?}"));
        ModelApis {
            url: script["url"].as_str().expect("url").to_owned(),
            script,
            child,
        }
    }

    fn text(&self, name: &str) -> String {
        self.script[name].as_str().expect(name).to_owned()
    }

    /// Every request the stand-in has seen.
    fn requests(&self) -> Vec<Value> {
        ureq::get(format!("{}/__standin/requests", self.url))
            .call()
            .expect("GET /__standin/requests")
            .body_mut()
            .read_json()
            .expect("requests JSON")
    }
}

impl Drop for ModelApis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The environment that points one CLI at the stand-in with a private HOME
/// (no telemetry, no updates, no network); `credentials` adds the dummy key.
fn agent_env(
    cli: &str,
    home: &Path,
    apis: &ModelApis,
    credentials: bool,
) -> BTreeMap<String, String> {
    std::fs::create_dir_all(home).expect("agent home");
    let mut env: BTreeMap<String, String> = [
        ("PATH", agent_path(&cli_dir())),
        ("HOME", home.display().to_string()),
        (
            "XDG_CONFIG_HOME",
            home.join(".config").display().to_string(),
        ),
        ("NO_PROXY", "127.0.0.1,localhost".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let mut set = |key: &str, value: &str| {
        env.insert(key.to_owned(), value.to_owned());
    };
    match cli {
        "claude-code" => {
            set("ANTHROPIC_BASE_URL", &apis.url);
            set(
                "CLAUDE_CONFIG_DIR",
                &home.join(".claude").display().to_string(),
            );
            set("DISABLE_AUTOUPDATER", "1");
            set("DISABLE_TELEMETRY", "1");
            set("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1");
            // Set to empty so a key in the test's own environment is not used.
            set(
                "ANTHROPIC_API_KEY",
                if credentials { "sk-ant-stand-in" } else { "" },
            );
            set("ANTHROPIC_AUTH_TOKEN", "");
            if running_as_root() {
                set("IS_SANDBOX", "1");
            }
        }
        "codex" => {
            // A custom provider that, like Codex's built-in OpenAI one,
            // authenticates with the user's OpenAI credentials.
            let codex_home = home.join(".codex");
            std::fs::create_dir_all(&codex_home).expect("CODEX_HOME");
            std::fs::write(
                codex_home.join("config.toml"),
                format!(
                    "model = \"gpt-5.5\"\n\
                     model_provider = \"standin\"\n\
                     check_for_update_on_startup = false\n\
                     chatgpt_base_url = \"{url}/backend-api/\"\n\
                     \n\
                     [model_providers.standin]\n\
                     name = \"model stand-in\"\n\
                     base_url = \"{url}/v1\"\n\
                     wire_api = \"responses\"\n\
                     requires_openai_auth = true\n\
                     \n\
                     [analytics]\n\
                     enabled = false\n\
                     \n\
                     [features]\n\
                     plugins = false\n\
                     remote_plugin = false\n\
                     apps = false\n",
                    url = apis.url
                ),
            )
            .expect("write config.toml");
            set("CODEX_HOME", &codex_home.display().to_string());
            set(
                "CODEX_API_KEY",
                if credentials { "sk-stand-in" } else { "" },
            );
            set("OPENAI_API_KEY", "");
        }
        "gemini" => {
            let gemini_dir = home.join(".gemini");
            std::fs::create_dir_all(&gemini_dir).expect(".gemini");
            std::fs::write(
                gemini_dir.join("settings.json"),
                json!({
                    "security": {"auth": {"selectedType": "gemini-api-key"}},
                    "privacy": {"usageStatisticsEnabled": false},
                    "telemetry": {"enabled": false},
                    "general": {"disableAutoUpdate": true, "disableUpdateNag": true}
                })
                .to_string(),
            )
            .expect("write settings.json");
            set("GOOGLE_GEMINI_BASE_URL", &apis.url);
            set(
                "GEMINI_API_KEY",
                if credentials { "stand-in-key" } else { "" },
            );
            set("GOOGLE_API_KEY", "");
        }
        other => panic!("no environment for {other}"),
    }
    env
}

/// A configuration whose `[executors.NAME]` sections only add environment to
/// the built-in profiles (no `command`: the built-in's flags are used).
fn config(data: &DataDir, executors: &[(&str, BTreeMap<String, String>)]) -> PathBuf {
    let mut table = toml::Table::new();
    table.insert(
        "sessions".to_owned(),
        toml::Value::Table(toml::toml! {
            stop_grace_secs = 0.5
            poll_interval_ms = 100
            heartbeat_interval_ms = 200
            max_concurrent = 8
        }),
    );
    let mut sections = toml::Table::new();
    for (name, env) in executors {
        let env: toml::Table = env
            .iter()
            .map(|(k, v)| (k.clone(), toml::Value::String(v.clone())))
            .collect();
        let mut section = toml::Table::new();
        section.insert("env".to_owned(), toml::Value::Table(env));
        sections.insert((*name).to_owned(), toml::Value::Table(section));
    }
    table.insert("executors".to_owned(), toml::Value::Table(sections));
    let path = data.path().join("config.toml");
    std::fs::write(&path, toml::to_string(&table).expect("toml")).expect("write config");
    path
}

async fn start_server(data: &DataDir, config: &Path) -> Server {
    Server::start(
        data,
        &["--config", config.to_str().expect("utf-8 path")],
        &[],
    )
    .await
}

/// A project on a fresh git repository; returns (project id, repo path).
async fn repo_project(server: &Server, data: &DataDir) -> (String, PathBuf) {
    let repo = git_repo(data.path());
    let project = server
        .call(
            "create_project",
            json!({"name": "app", "repo_path": repo.to_str()}),
        )
        .await;
    (common::id(&project), repo)
}

/// Processes whose working directory is inside `dir` (Linux: /proc).
fn processes_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .chars()
                .all(|c| c.is_ascii_digit())
        })
        .filter_map(|e| {
            let cwd = std::fs::read_link(e.path().join("cwd")).ok()?;
            cwd.starts_with(dir).then(|| {
                let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                format!(
                    "pid {}: {}",
                    e.file_name().to_string_lossy(),
                    String::from_utf8_lossy(&cmdline).replace('\0', " ")
                )
            })
        })
        .collect()
}

/// The main-model requests (those that carry the agent's conversation).
fn conversation_requests(requests: &[Value], marker: &str) -> Vec<Value> {
    requests
        .iter()
        .filter(|r| r["body"].to_string().contains(marker))
        .cloned()
        .collect()
}

fn unexpected(requests: &[Value]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| r["unexpected"] == true || r.get("error").is_some())
        .map(|r| format!("{} {}{} {}", r["method"], r["path"], r["query"], r["error"]))
        .collect()
}

/// One CLI, end to end: its own tool writes the file in the worktree, the
/// log holds its final sentence, and a follow-up resumes the conversation.
async fn a_real_session(cli: &str) {
    let apis = ModelApis::start();
    let data = DataDir::new();
    let env = agent_env(cli, &data.path().join("agent-home"), &apis, true);
    let config = config(&data, &[(cli, env)]);
    let server = start_server(&data, &config).await;
    let (project, repo) = repo_project(&server, &data).await;
    let task = server.task(&project, "Write the file", json!({})).await;
    let write_marker = apis.text("write_marker");
    let follow_up_marker = apis.text("follow_up_marker");
    let file = apis.text("file");
    let prompt = format!("{write_marker}: write {file} in the working directory.");
    let started = server
        .call(
            "start_session",
            json!({"task_id": task, "executor": cli, "prompt": prompt}),
        )
        .await;
    let session_id = common::id(&started);
    let first = wait_finished(&server, &session_id).await;
    let log = read_all(&server, json!({"session_id": session_id}), 1 << 20).await;
    let requests = apis.requests();
    assert_eq!(
        first["status"],
        "completed",
        "{cli}: {first:#}\nlog:\n{log}\nunexpected requests: {:?}",
        unexpected(&requests)
    );
    assert_eq!(first["status_reason"], Value::Null, "{first:#}");
    let worktree = PathBuf::from(first["worktree_path"].as_str().expect("worktree"));
    assert_eq!(
        std::fs::read_to_string(worktree.join(&file)).unwrap_or_else(|e| panic!(
            "{cli} did not write {file} in its worktree ({e})\nlog:\n{log}"
        )),
        apis.text("content"),
    );
    assert!(
        !repo.join(&file).exists(),
        "the project's checkout is untouched"
    );
    assert!(
        log.contains(&apis.text("done_sentence")),
        "{cli} log:\n{log}"
    );
    // The conversation id comes from the CLI's own JSON output.
    let conversation = first["agent_session_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{cli}: no agent session id: {first:#}\n{log}"))
        .to_owned();
    assert!(log.contains(&conversation), "{log}");
    assert!(
        log.contains("agent CLI version: "),
        "the version check ran: {log}"
    );
    // The final message is the scripted sentence, read from the CLI's own
    // JSON output; the stand-in reports usage, so the turn has it.
    assert_eq!(
        first["final_message"].as_str(),
        Some(apis.text("done_sentence").as_str()),
        "{cli}: {first:#}\n{log}"
    );
    assert_eq!(first["final_message_source"], "agent_json", "{cli}");
    let usage = &first["usage"];
    for field in ["input_tokens", "output_tokens", "tool_calls"] {
        assert!(
            usage[field].as_i64().is_some_and(|n| n > 0),
            "{cli}: no {field} in {usage}"
        );
    }
    if cli == "claude-code" {
        assert!(
            usage["cost_usd"].as_f64().is_some_and(|c| c > 0.0),
            "{usage}"
        );
    }
    // The file is in the turn's commit on the session's branch.
    let sha = first["past_turns"][0]["commit"]
        .as_str()
        .unwrap_or_else(|| panic!("{cli}: the turn made no commit: {first:#}\n{log}"))
        .to_owned();
    let stat = git(&worktree, &["show", "--stat", "--format=%s", &sha]);
    assert!(
        stat.starts_with("Write the file (turn 1)\n")
            && stat.contains(&file)
            && stat.contains(" 1 file changed"),
        "{cli}: {stat}"
    );
    assert_eq!(
        git(&worktree, &["show", &format!("{sha}:{file}")]),
        apis.text("content"),
        "{cli}"
    );
    // And get_session_diff shows it: the file, added, with its content.
    let diff = server
        .try_call("get_session_diff", json!({"session_id": session_id}))
        .await
        .unwrap_or_else(|e| panic!("{cli}: get_session_diff was refused: {e:?}"));
    assert_ne!(diff.is_error, Some(true), "{cli}: {diff:?}");
    let page = diff.structured_content.clone().expect("structured");
    let files = page["files"].as_array().expect("files");
    assert!(
        files
            .iter()
            .any(|f| f["path"] == file.as_str() && f["status"] == "added"),
        "{cli}: {page:#}"
    );
    let patch: String = diff
        .content
        .iter()
        .filter_map(|b| b.as_text().map(|t| t.text.clone()))
        .collect();
    for line in apis.text("content").lines() {
        assert!(patch.contains(&format!("+{line}")), "{cli}: {patch}");
    }

    // A prompt that starts with `-` (a markdown list) is still the prompt,
    // not an option of the CLI.
    let follow_up = format!("- {follow_up_marker}: what did you write?");
    server
        .call(
            "send_follow_up",
            json!({"session_id": session_id, "prompt": follow_up}),
        )
        .await;
    let second = wait_finished(&server, &session_id).await;
    let log = read_all(&server, json!({"session_id": session_id}), 1 << 20).await;
    assert_eq!(second["status"], "completed", "{cli}: {second:#}\n{log}");
    assert_eq!(second["turns"], 2);
    assert_eq!(
        second["agent_session_id"].as_str(),
        Some(conversation.as_str())
    );
    assert!(
        log.contains(&apis.text("follow_up_sentence")),
        "{cli} log:\n{log}"
    );
    assert_eq!(
        second["final_message"].as_str(),
        Some(apis.text("follow_up_sentence").as_str()),
        "{cli}: {second:#}"
    );
    assert_eq!(
        second["past_turns"][0]["commit"].as_str(),
        Some(sha.as_str())
    );
    // The follow-up only answered: no change, no commit.
    assert_eq!(
        second["past_turns"][1],
        json!({"turn": 2, "commit": null, "source": "agent_json"}),
        "{cli}: {second:#}"
    );
    // The model saw the earlier turns in the follow-up's request: the first
    // prompt and the answer that ended the first turn.
    let requests = apis.requests();
    let resumed = conversation_requests(&requests, &follow_up_marker);
    assert!(
        !resumed.is_empty(),
        "{cli}: no request carried the follow-up"
    );
    for request in &resumed {
        let body = request["body"].to_string();
        assert!(
            body.contains(&write_marker) && body.contains(&apis.text("done_sentence")),
            "{cli}: the follow-up request does not hold the earlier turns: {body}"
        );
    }
    assert_eq!(unexpected(&requests), Vec::<String>::new(), "{cli}");
    assert_eq!(
        processes_in(&worktree),
        Vec::<String>::new(),
        "{cli} left processes running"
    );
    server.stop().await;
}

#[tokio::test]
async fn claude_code_writes_a_file_and_resumes_its_conversation() {
    a_real_session("claude-code").await;
}

#[tokio::test]
async fn codex_writes_a_file_and_resumes_its_conversation() {
    a_real_session("codex").await;
}

#[tokio::test]
async fn gemini_writes_a_file_and_resumes_its_conversation() {
    a_real_session("gemini").await;
}

/// A directory for a file the sandbox must refuse: not under `/tmp` or
/// `$TMPDIR`, which `workspace-write` leaves writable. The build's temp
/// directory where the checkout is not under /tmp (a clone in /tmp puts it
/// there), else the home directory.
fn outside_temp_dirs() -> PathBuf {
    let temp_roots: Vec<PathBuf> = std::iter::once(PathBuf::from("/tmp"))
        .chain(std::env::var_os("TMPDIR").map(PathBuf::from))
        .collect();
    let writable = |dir: &Path| temp_roots.iter().any(|root| dir.starts_with(root));
    [
        Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR"))),
        std::env::var_os("HOME").map(PathBuf::from),
    ]
    .into_iter()
    .flatten()
    .find(|dir| dir.is_dir() && !writable(dir))
    .unwrap_or_else(|| {
        panic!(
            "no directory outside /tmp and $TMPDIR to test Codex's sandbox with: set HOME to one"
        )
    })
}

/// The built-in codex profile's `--sandbox=workspace-write`: a command the
/// model runs may not write outside the worktree (and temp dirs); on Linux
/// Codex runs it in bubblewrap.
#[tokio::test]
async fn codex_runs_the_models_commands_in_its_sandbox() {
    let apis = ModelApis::start();
    let data = DataDir::new();
    let env = agent_env("codex", &data.path().join("agent-home"), &apis, true);
    let config = config(&data, &[("codex", env)]);
    let server = start_server(&data, &config).await;
    let (project, _repo) = repo_project(&server, &data).await;
    let task = server.task(&project, "Touch a file", json!({})).await;
    let outside_dir = tempfile::tempdir_in(outside_temp_dirs()).expect("dir");
    let outside = outside_dir.path().join("outside-the-worktree.txt");
    let prompt = format!("{}={}", apis.text("touch_marker"), outside.display());
    let session_id = common::id(
        &server
            .call(
                "start_session",
                json!({"task_id": task, "executor": "codex", "prompt": prompt}),
            )
            .await,
    );
    let session = wait_finished(&server, &session_id).await;
    let log = read_all(&server, json!({"session_id": session_id}), 1 << 20).await;
    assert_eq!(session["status"], "completed", "{session:#}\n{log}");
    // The command ran, the sandbox refused the write, and the model was told.
    assert!(
        !outside.exists(),
        "a command of the model wrote outside the worktree: {log}"
    );
    let results: Vec<String> = apis
        .requests()
        .iter()
        .flat_map(|r| r["body"]["input"].as_array().cloned().unwrap_or_default())
        .filter(|item| item["type"] == "function_call_output")
        .map(|item| item["output"].to_string())
        .collect();
    assert!(
        results
            .iter()
            .any(|r| r.contains("touch") && r.contains("Read-only file system")),
        "the model got no refused command back: {results:?}\n{log}"
    );
    server.stop().await;
}

/// Runs `program args... --help` from the pinned CLIs with a private HOME.
fn help(program: &str, words: &[String], home: &Path) -> String {
    let out = Command::new(cli_dir().join(program))
        .args(words)
        .arg("--help")
        .env("PATH", agent_path(&cli_dir()))
        .env("HOME", home)
        .env("CODEX_HOME", home.join(".codex"))
        .env("CLAUDE_CONFIG_DIR", home.join(".claude"))
        .env("DISABLE_AUTOUPDATER", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {program} {words:?} --help: {e}"));
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "`{program} {} --help` failed ({}): {text}",
        words.join(" "),
        out.status
    );
    text
}

/// Whether `help` lists `word` as a whole token (not inside a longer flag).
fn lists(help: &str, word: &str) -> bool {
    let edge =
        |c: Option<char>| c.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    help.match_indices(word).any(|(at, _)| {
        edge(help[..at].chars().next_back()) && edge(help[at + word.len()..].chars().next())
    })
}

/// The flags of one command line that its CLI's `--help` does not list.
/// Words that are not flags are subcommands (`codex exec resume`), except the
/// `{prompt}` / `{agent_session_id}` placeholders; `--flag=value` checks the
/// value too.
fn missing_flags(name: &str, line: &[String], home: &Path) -> Vec<String> {
    let Some((program, args)) = line.split_first() else {
        return vec![format!("the built-in {name} profile has an empty command")];
    };
    let mut words: Vec<String> = Vec::new();
    let mut text = help(program, &words, home);
    let mut missing = Vec::new();
    for arg in args {
        if arg == profiles::END_OF_OPTIONS {
            // Every CLI's parser takes `--` (the real sessions prove it:
            // their follow-up prompt starts with `-`).
            continue;
        }
        if arg.starts_with('-') {
            let (flag, value) = match arg.split_once('=') {
                Some((flag, value)) => (flag, Some(value)),
                None => (arg.as_str(), None),
            };
            let shown = format!(
                "{program} {}--help",
                words.iter().map(|w| format!("{w} ")).collect::<String>()
            );
            if !lists(&text, flag) {
                missing.push(format!(
                    "the built-in {name} profile uses `{flag}`, which `{shown}` no longer lists"
                ));
            } else if let Some(value) = value.filter(|v| !v.contains('{'))
                && !lists(&text, value)
            {
                missing.push(format!(
                    "the built-in {name} profile uses `{flag}={value}`, and `{shown}` lists no `{value}`"
                ));
            }
        } else if !arg.contains('{') {
            words.push(arg.clone());
            text = help(program, &words, home);
        }
    }
    missing
}

/// Bumping a pin in tests/agents/package.json tells you which flag of which
/// profile the new CLI dropped.
#[test]
fn every_flag_of_the_built_in_profiles_is_in_the_pinned_clis_help() {
    let home = tempfile::tempdir().expect("home");
    let mut missing = Vec::new();
    for (name, profile) in profiles::builtin() {
        missing.extend(missing_flags(&name, &profile.command, home.path()));
        if let Some(resume) = &profile.resume_command {
            missing.extend(missing_flags(&name, resume, home.path()));
        }
        // The flags of a turn with the session's MCP server, and of one
        // that asks for approvals (placeholders kept, so only the flags are
        // checked).
        for asking in [
            profile.mcp_command_line("{prompt}", None, "{mcp_config}", None, "{agent_note}"),
            profile.mcp_command_line(
                "{prompt}",
                None,
                "{mcp_config}",
                Some("{approval_tool}"),
                "{agent_note}",
            ),
        ]
        .into_iter()
        .flatten()
        {
            let line: Vec<String> = std::iter::once(asking.program).chain(asking.args).collect();
            missing.extend(missing_flags(&name, &line, home.path()));
        }
    }
    missing.dedup();
    assert!(
        missing.is_empty(),
        "flags the pinned agent CLIs no longer take (update src/sessions/profiles.rs):\n{}",
        missing.join("\n")
    );
}

/// The versions the built-in profiles name (install hint) are the pinned
/// ones, and the pinned CLIs pass the profiles' version check.
#[test]
fn the_pinned_clis_are_the_versions_the_profiles_name() {
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agents/package.json"),
        )
        .expect("tests/agents/package.json"),
    )
    .expect("package.json");
    let home = tempfile::tempdir().expect("home");
    for (name, profile) in profiles::builtin() {
        let hint = profile.install_hint.as_deref().expect("install hint");
        let spec = hint.rsplit(' ').next().expect("package@version");
        let (package, version) = spec.rsplit_once('@').expect("package@version");
        assert_eq!(
            manifest["dependencies"][package].as_str(),
            Some(version),
            "the built-in {name} profile says `{hint}`; tests/agents/package.json pins {package} at {}",
            manifest["dependencies"][package]
        );
        let command = profile.version_command.as_deref().expect("version command");
        let out = Command::new(cli_dir().join(&command[0]))
            .args(&command[1..])
            .env("PATH", agent_path(&cli_dir()))
            .env("HOME", home.path())
            .env("CODEX_HOME", home.path().join(".codex"))
            .stdin(Stdio::null())
            .output()
            .expect("version command");
        let text = String::from_utf8_lossy(&out.stdout);
        let found = profile
            .check_version(&name, &text)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            found.contains(version),
            "{name}: {found} is not the pinned {version}"
        );
    }
}

/// Runs one session with the built-in profile `cli` and `env`; it must fail.
/// Returns the session and its log, after checking nothing is left running.
async fn failed_session(cli: &str, env: BTreeMap<String, String>) -> (Value, String) {
    let data = DataDir::new();
    let config = config(&data, &[(cli, env)]);
    let server = start_server(&data, &config).await;
    let (project, _repo) = repo_project(&server, &data).await;
    let task = server
        .task(&project, &format!("Try {cli}"), json!({}))
        .await;
    let session_id = common::id(
        &server
            .call(
                "start_session",
                json!({"task_id": task, "executor": cli, "prompt": "hello"}),
            )
            .await,
    );
    let session = wait_finished(&server, &session_id).await;
    let log = read_all(&server, json!({"session_id": session_id}), 1 << 20).await;
    assert_eq!(session["status"], "failed", "{cli}: {session:#}\n{log}");
    let worktree = PathBuf::from(session["worktree_path"].as_str().expect("worktree"));
    assert_eq!(
        processes_in(&worktree),
        Vec::<String>::new(),
        "{cli} left processes running"
    );
    server.stop().await;
    (session, log)
}

fn reason(session: &Value) -> String {
    session["status_reason"]
        .as_str()
        .expect("status_reason")
        .to_owned()
}

/// A CLI that is not installed, or too old, fails the session before the
/// agent starts, naming the version found, the one needed and how to install.
#[tokio::test]
async fn a_missing_or_too_old_cli_fails_before_the_agent_starts() {
    let apis = ModelApis::start();
    let dir = tempfile::tempdir().expect("dir");
    let empty_bin = dir.path().join("empty-bin");
    std::fs::create_dir_all(&empty_bin).expect("empty bin");
    let mut env = agent_env("codex", &dir.path().join("home"), &apis, true);
    env.insert("PATH".to_owned(), empty_bin.display().to_string());
    let (session, _) = failed_session("codex", env).await;
    let why = reason(&session);
    assert!(
        why.contains("`codex` is not installed") && why.contains("npm i -g @openai/codex@"),
        "{why}"
    );
    assert_eq!(
        session["processes"],
        json!([]),
        "no agent was started: {session:#}"
    );

    // An old Codex: it answers --version, and must not be started otherwise.
    let old_bin = dir.path().join("old-bin");
    std::fs::create_dir_all(&old_bin).expect("old bin");
    let old_codex = old_bin.join("codex");
    std::fs::write(
        &old_codex,
        "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'codex-cli 0.50.0'; exit 0; fi\n\
         echo \"this old codex must not be started: $*\" >&2\nexit 3\n",
    )
    .expect("old codex");
    std::fs::set_permissions(&old_codex, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut env = agent_env("codex", &dir.path().join("home"), &apis, true);
    env.insert("PATH".to_owned(), agent_path(&old_bin));
    let (session, _) = failed_session("codex", env).await;
    let why = reason(&session);
    assert!(
        why.contains(
            "codex-cli 0.50.0 is too old for the built-in codex profile (needs >= 0.169.0)"
        ) && why.contains("npm i -g @openai/codex@"),
        "{why}"
    );
    assert_eq!(
        session["processes"],
        json!([]),
        "the old CLI was not started: {session:#}"
    );
}

/// The version check asks a CLI once per runner, and again once the CLI is
/// replaced. (A stand-in `codex` that counts how often it is asked.)
#[tokio::test]
async fn the_version_is_asked_once_until_the_cli_changes() {
    let dir = tempfile::tempdir().expect("dir");
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let calls = dir.path().join("version-calls.txt");
    let fake = bin.join("codex");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nif [ \"$1\" = --version ]; then echo asked >> '{}'; echo 'codex-cli 0.171.0'; exit 0; fi\n\
             echo '{{\"type\":\"thread.started\",\"thread_id\":\"fake-thread\"}}'\n",
            calls.display()
        ),
    )
    .expect("fake codex");
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let env: BTreeMap<String, String> = [("PATH".to_owned(), agent_path(&bin))].into();
    let data = DataDir::new();
    let config = config(&data, &[("codex", env)]);
    let server = start_server(&data, &config).await;
    let (project, _repo) = repo_project(&server, &data).await;
    let task = server.task(&project, "Count", json!({})).await;
    let session_id = common::id(
        &server
            .call(
                "start_session",
                json!({"task_id": task, "executor": "codex", "prompt": "one"}),
            )
            .await,
    );
    let asked = || {
        std::fs::read_to_string(&calls)
            .unwrap_or_default()
            .lines()
            .count()
    };
    let turn = |prompt: &'static str| {
        let server = &server;
        let session_id = session_id.clone();
        async move {
            if prompt != "one" {
                server
                    .call(
                        "send_follow_up",
                        json!({"session_id": session_id, "prompt": prompt}),
                    )
                    .await;
            }
            let session = wait_finished(server, &session_id).await;
            assert_eq!(session["status"], "completed", "{session:#}");
        }
    };
    turn("one").await;
    turn("two").await;
    assert_eq!(
        asked(),
        1,
        "the second turn used the version already checked"
    );
    // An upgrade replaces the file: the next turn asks again.
    std::fs::File::options()
        .write(true)
        .open(&fake)
        .expect("open")
        .set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
        .expect("touch");
    turn("three").await;
    assert_eq!(asked(), 2, "a replaced CLI is asked again");
    server.stop().await;
}

/// Without credentials each CLI's own complaint is turned into the fix.
#[tokio::test]
async fn a_cli_without_credentials_fails_with_what_to_set() {
    let apis = ModelApis::start();
    let dir = tempfile::tempdir().expect("dir");
    for (cli, fix) in [
        ("claude-code", "ANTHROPIC_API_KEY"),
        ("codex", "CODEX_API_KEY"),
        ("gemini", "GEMINI_API_KEY"),
    ] {
        let env = agent_env(cli, &dir.path().join(cli), &apis, false);
        let (session, log) = failed_session(cli, env).await;
        let why = reason(&session);
        assert!(
            why.starts_with("the coding agent exited with code") && why.contains(fix),
            "{cli}: {why}\n{log}"
        );
    }
}

/// As root, Claude Code refuses --dangerously-skip-permissions unless
/// IS_SANDBOX=1; the reason says so. (Only meaningful when the tests run as
/// root, as in CI containers; elsewhere the root check cannot happen.)
#[tokio::test]
async fn claude_code_as_root_without_is_sandbox_says_what_to_do() {
    if !running_as_root() {
        eprintln!("not running as root: Claude Code's root check does not apply");
        return;
    }
    let apis = ModelApis::start();
    let dir = tempfile::tempdir().expect("dir");
    let mut env = agent_env("claude-code", &dir.path().join("home"), &apis, true);
    env.remove("IS_SANDBOX");
    let (session, log) = failed_session("claude-code", env).await;
    let why = reason(&session);
    assert!(
        why.contains("as root") && why.contains("IS_SANDBOX = \"1\""),
        "{why}\n{log}"
    );
}

/// Waits until the session's agent has a pending permission request;
/// returns it.
async fn pending_approval(server: &Server, session_id: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let list = server
            .call("list_approvals", json!({"session_id": session_id}))
            .await;
        if let Some(first) = list["approvals"].as_array().and_then(|a| a.first()) {
            return first.clone();
        }
        let session = server
            .call("get_session", json!({"session_id": session_id}))
            .await;
        assert!(
            session["status"] == "running" || session["status"] == "queued",
            "the session ended without asking: {session:#}\n{}",
            read_all(server, json!({"session_id": session_id}), 1 << 20).await
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "no permission request: {session:#}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Claude Code with approvals "ask": the scripted model asks for its Write
/// tool, Claude Code asks this server's permission tool (through the MCP
/// configuration the runner gave it), and the request waits as an approval.
/// Allowed, the file is written; denied, it is not, and the model reads the
/// denial in its next request's tool result.
#[tokio::test]
async fn claude_code_asks_before_it_writes_and_writes_only_when_allowed() {
    let apis = ModelApis::start();
    let data = DataDir::new();
    let env = agent_env("claude-code", &data.path().join("agent-home"), &apis, true);
    let config = config(&data, &[("claude-code", env)]);
    let server = start_server(&data, &config).await;
    let (project, _repo) = repo_project(&server, &data).await;
    let file = apis.text("file");
    let prompt = format!(
        "{}: write {file} in the working directory.",
        apis.text("write_marker")
    );
    let denial = "VK-DENIED: not in this task";
    for allow in [true, false] {
        let task = server.task(&project, "Write the file", json!({})).await;
        let started = server
            .call(
                "start_session",
                json!({"task_id": task, "executor": "claude-code", "prompt": prompt, "approvals": "ask"}),
            )
            .await;
        let session_id = common::id(&started);
        let approval = pending_approval(&server, &session_id).await;
        assert_eq!(approval["tool_name"], "Write", "{approval:#}");
        assert!(
            approval["input"]["file_path"]
                .as_str()
                .is_some_and(|p| p.ends_with(&file)),
            "{approval:#}"
        );
        let waiting = server
            .call("get_session", json!({"session_id": session_id}))
            .await;
        assert_eq!(
            (&waiting["status"], &waiting["waiting_for_approval"]),
            (&json!("running"), &json!(true)),
            "{waiting:#}"
        );
        let answer = if allow {
            json!({"approval_id": common::id(&approval), "decision": "allow"})
        } else {
            json!({"approval_id": common::id(&approval), "decision": "deny", "message": denial})
        };
        server.call("respond_to_approval", answer).await;
        let done = wait_finished(&server, &session_id).await;
        let log = read_all(&server, json!({"session_id": session_id}), 1 << 20).await;
        assert_eq!(done["status"], "completed", "{done:#}\n{log}");
        let worktree = PathBuf::from(done["worktree_path"].as_str().expect("worktree"));
        let written = std::fs::read_to_string(worktree.join(&file));
        let requests = apis.requests();
        if allow {
            assert_eq!(
                written.unwrap_or_else(|e| panic!("no {file} after allow ({e})\n{log}")),
                apis.text("content")
            );
        } else {
            assert!(written.is_err(), "{file} written although denied\n{log}");
            // The model was told no: the next request's tool result holds it.
            let told = requests.iter().any(|r| {
                r["body"]["messages"].as_array().is_some_and(|messages| {
                    messages.iter().any(|m| {
                        m["content"].as_array().is_some_and(|blocks| {
                            blocks.iter().any(|b| {
                                b["type"] == "tool_result" && b.to_string().contains(denial)
                            })
                        })
                    })
                })
            });
            assert!(told, "no request carried the denial\n{log}");
        }
        assert!(log.contains(&apis.text("done_sentence")), "{log}");
        assert_eq!(unexpected(&requests), Vec::<String>::new());
    }
    server.stop().await;
}

/// The session's server as the agent launched it, from the environment the
/// wrapper in [`claude_code_comments_on_its_own_task_with_approvals_auto`]
/// saved (`KEY=VALUE` lines), with its own stdio.
async fn relaunched_session_server(
    saved_env: &Path,
) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
    use rmcp::{
        ServiceExt,
        transport::{ConfigureCommandExt, TokioChildProcess},
    };
    let env: Vec<(String, String)> = std::fs::read_to_string(saved_env)
        .expect("the saved environment")
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| k.starts_with("VK_"))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let transport =
        TokioChildProcess::new(tokio::process::Command::new(common::BIN).configure(|cmd| {
            cmd.arg("agent-mcp")
                .env_clear()
                .envs(env)
                .stderr(Stdio::null());
        }))
        .expect("spawn agent-mcp");
    ().serve(transport).await.expect("agent-mcp initializes")
}

/// Claude Code with approvals "auto" (the default): the session's server is
/// in its MCP configuration and its system prompt says it may comment; the
/// scripted model calls the server's add_comment twice, once on the
/// session's task, once naming another task. The first lands, in the name
/// of the member who started the session and marked as the agent's; the
/// second is refused and the model reads why. After the turn, the turn's
/// secret comments no more.
#[tokio::test]
async fn claude_code_comments_on_its_own_task_with_approvals_auto() {
    let apis = ModelApis::start();
    let data = DataDir::new();
    data.cli_ok(&[
        "members",
        "add",
        "--workspace",
        "default",
        "--email",
        "alice@example.com",
        "--role",
        "member",
    ]);
    let alice_key = data
        .cli_ok(&[
            "keys",
            "create",
            "--workspace",
            "default",
            "--name",
            "alice",
            "--scopes",
            "read,write,sessions",
            "--user",
            "alice@example.com",
        ])
        .trim()
        .to_owned();
    let env = agent_env("claude-code", &data.path().join("agent-home"), &apis, true);
    let config = config(&data, &[("claude-code", env)]);
    // The session's server through a wrapper that notes its environment
    // (the turn's secret) before it runs the real agent-mcp.
    let saved_env = data.path().join("session-server.env");
    let wrapper = data.path().join("session-server.sh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nenv > '{saved}'\nexec '{bin}' agent-mcp\n",
            saved = saved_env.display(),
            bin = common::BIN
        ),
    )
    .expect("write the wrapper");
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut table: toml::Table =
        toml::from_str(&std::fs::read_to_string(&config).expect("config")).expect("toml");
    table["sessions"].as_table_mut().expect("sessions").insert(
        "agent_mcp_command".to_owned(),
        toml::Value::Array(vec![toml::Value::String(wrapper.display().to_string())]),
    );
    std::fs::write(&config, toml::to_string(&table).expect("toml")).expect("write config");
    let server = Server::start(
        &data,
        &["--config", config.to_str().expect("utf-8 path")],
        &[("VK_API_KEY", &alice_key)],
    )
    .await;
    // No repository (setting one needs an admin): the agent runs in a
    // folder of its own.
    let project = server.project("Notes").await;
    let task = server.task(&project, "Outline the notes", json!({})).await;
    let other = server
        .task(&project, "Someone else's task", json!({}))
        .await;
    let prompt = format!(
        "{}: say how far you are. {}={other}",
        apis.text("comment_marker"),
        apis.text("elsewhere_marker")
    );
    let started = server
        .call(
            "start_session",
            json!({"task_id": task, "executor": "claude-code", "prompt": prompt}),
        )
        .await;
    let session_id = common::id(&started);
    let done = wait_finished(&server, &session_id).await;
    let log = read_all(&server, json!({"session_id": session_id}), 1 << 20).await;
    let requests = apis.requests();
    assert_eq!(
        done["status"],
        "completed",
        "{done:#}\n{log}\nunexpected requests: {:?}",
        unexpected(&requests)
    );
    assert!(log.contains(&apis.text("done_sentence")), "{log}");

    let page = server.call("list_comments", json!({"task_id": task})).await;
    assert_eq!(page["total"], 1, "{page:#}\n{log}");
    let comment = &page["comments"][0];
    assert_eq!(comment["body"], apis.text("comment_body").as_str());
    assert_eq!(comment["author"], "alice@example.com");
    assert_eq!(comment["by_agent"], true);
    assert_eq!(comment["session_id"], session_id.as_str());
    let none = server
        .call("list_comments", json!({"task_id": other}))
        .await;
    assert_eq!(none["total"], 0, "{none:#}");
    // The model was told about the server in its system prompt, and read
    // why the comment on the other task was refused.
    let conversation = conversation_requests(&requests, &apis.text("comment_marker"));
    assert!(
        conversation
            .iter()
            .any(|r| r["body"]["system"].to_string().contains("add_comment tool")),
        "no request carried the note about add_comment"
    );
    let refusal = format!("task {other} is not the task of session {session_id}");
    let told = conversation.iter().any(|r| {
        r["body"]["messages"].as_array().is_some_and(|messages| {
            messages.iter().any(|m| {
                m["content"].as_array().is_some_and(|blocks| {
                    blocks
                        .iter()
                        .any(|b| b["type"] == "tool_result" && b.to_string().contains(&refusal))
                })
            })
        })
    });
    assert!(told, "no request carried the refusal\n{log}");
    assert_eq!(unexpected(&requests), Vec::<String>::new());

    // The turn is over: its secret comments no more.
    let late = relaunched_session_server(&saved_env).await;
    let names: Vec<String> = late
        .list_all_tools()
        .await
        .expect("tools")
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(names, ["add_comment"], "approvals auto: nothing to ask");
    let refused = late
        .call_tool(
            rmcp::model::CallToolRequestParams::new("add_comment").with_arguments(
                json!({"body": "after the end"})
                    .as_object()
                    .expect("object")
                    .clone(),
            ),
        )
        .await
        .expect("add_comment answers");
    assert_eq!(refused.is_error, Some(true));
    assert!(
        common::text(&refused).contains("is not running this turn"),
        "{}",
        common::text(&refused)
    );
    let page = server.call("list_comments", json!({"task_id": task})).await;
    assert_eq!(page["total"], 1, "{page:#}");
    let _ = late.cancel().await;
    server.stop().await;
}
