//! The command line: help texts, configuration file errors, workspaces,
//! `board` without a project.

use crate::common;

use common::{BIN, DataDir, Server};

fn run(args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN)
        .args(args)
        .output()
        .expect("run")
}

#[test]
fn every_subcommand_explains_its_flags() {
    let top = String::from_utf8(run(&["--help"]).stdout).expect("utf-8");
    for word in [
        "serve",
        "migrate",
        "keys",
        "board",
        "workspaces",
        "--data-dir",
        "VK_DATA_DIR",
        "VK_CONFIG",
        "VK_LOG",
    ] {
        assert!(top.contains(word), "--help lacks {word}:\n{top}");
    }
    let serve = String::from_utf8(run(&["serve", "--help"]).stdout).expect("utf-8");
    for word in [
        "--toolsets",
        "VK_TOOLSETS",
        "--read-only",
        "VK_READ_ONLY",
        "--api-key",
        "VK_API_KEY",
    ] {
        assert!(serve.contains(word), "serve --help lacks {word}:\n{serve}");
    }
    let keys = String::from_utf8(run(&["keys", "create", "--help"]).stdout).expect("utf-8");
    for word in ["--workspace", "--name", "--scopes", "--expires-in-days"] {
        assert!(
            keys.contains(word),
            "keys create --help lacks {word}:\n{keys}"
        );
    }
    for args in [
        &["board", "--help"][..],
        &["keys", "list", "--help"],
        &["keys", "revoke", "--help"],
        &["migrate", "--help"],
    ] {
        assert!(run(args).status.success(), "{args:?}");
    }
}

/// The options a `--help` lists under each heading (`Options:`, `Global
/// options:`, ...), by long name.
fn options_by_heading(help: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut sections = std::collections::BTreeMap::<String, Vec<String>>::new();
    let mut heading = String::new();
    for line in help.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            heading = line.trim_end_matches(':').to_owned();
            sections.entry(heading.clone()).or_default();
            continue;
        }
        let flags = line.trim_start();
        if !line.starts_with(' ') || !flags.starts_with('-') {
            continue;
        }
        // `  -h, --help  Print help` or `      --log <FILTER>  Log filter…`
        let long = flags
            .split_whitespace()
            .map(|word| word.trim_end_matches(','))
            .find(|word| word.starts_with("--"));
        if let Some(long) = long {
            sections
                .entry(heading.clone())
                .or_default()
                .push(long.to_owned());
        }
    }
    sections
}

#[test]
fn global_options_have_their_own_heading_in_every_subcommand_help() {
    let globals = ["--data-dir", "--store", "--config", "--log", "--log-format"];
    for (args, own) in [
        (
            &["serve", "--help"][..],
            &["--toolsets", "--read-only", "--http", "--api-key"][..],
        ),
        (&["runner", "--help"], &["--workspace"]),
        (&["board", "--help"], &["--width", "--api-key"]),
        (&["keys", "create", "--help"], &["--workspace", "--name"]),
    ] {
        let out = run(args);
        assert!(out.status.success(), "{args:?}");
        let help = String::from_utf8(out.stdout).expect("utf-8");
        let sections = options_by_heading(&help);
        let global = sections.get("Global options").cloned().unwrap_or_default();
        let options = sections.get("Options").cloned().unwrap_or_default();
        for flag in globals {
            assert!(
                global.iter().any(|f| f == flag),
                "{args:?}: {flag} is not under \"Global options:\" ({sections:?}):\n{help}"
            );
            assert!(
                !options.iter().any(|f| f == flag),
                "{args:?}: {flag} is among the subcommand's own options:\n{help}"
            );
        }
        for flag in own {
            assert!(
                options.iter().any(|f| f == flag),
                "{args:?}: {flag} is not under \"Options:\" ({sections:?}):\n{help}"
            );
            assert!(
                !global.iter().any(|f| f == flag),
                "{args:?}: {flag} is among the global options:\n{help}"
            );
        }
        // Global options come after the subcommand's own.
        let own_at = help.find("\nOptions:").expect("Options heading");
        let global_at = help
            .find("\nGlobal options:")
            .expect("Global options heading");
        assert!(own_at < global_at, "{args:?}:\n{help}");
    }
}

#[tokio::test]
async fn board_without_a_project_shows_the_only_one_or_lists_them() {
    let data = DataDir::new();
    // None yet: says how to make one.
    let none = data.cli(&["board"]);
    assert!(!none.status.success());
    let err = String::from_utf8_lossy(&none.stderr);
    assert!(
        err.contains("workspace 'Default' has no projects yet") && err.contains("create_project"),
        "{err}"
    );

    // One: its board.
    let server = Server::start(&data, &[], &[]).await;
    let first = server.project("Only").await;
    server
        .task(&first, "Write the plan", serde_json::json!({}))
        .await;
    let only = data.cli_ok(&["board", "--width", "20"]);
    assert!(only.starts_with("Only"), "{only}");
    assert!(only.contains("Write the plan"), "{only}");

    // Several: their names and ids, and how to pick one.
    let second = server.project("Second").await;
    server.stop().await;
    let several = data.cli(&["board"]);
    assert!(!several.status.success());
    let err = String::from_utf8_lossy(&several.stderr);
    assert!(
        err.contains("workspace 'Default' has 2 projects")
            && err.contains("vibe-kanban-mcp board 'Only'"),
        "{err}"
    );
    for (name, id) in [("Only", &first), ("Second", &second)] {
        assert!(
            err.lines()
                .any(|line| line.contains(name) && line.contains(id.as_str())),
            "{name} {id} not listed:\n{err}"
        );
    }
}

#[test]
fn a_bad_configuration_file_stops_the_server_with_a_clear_message() {
    let data = DataDir::new();
    let missing = data.path().join("nope.toml");
    let out = data.cli(&["serve", "--config", missing.to_str().expect("path")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read the configuration file"));

    let typo = data.path().join("typo.toml");
    std::fs::write(&typo, "defualt_executor = \"claude\"\n").expect("write");
    let out = data.cli(&["serve", "--config", typo.to_str().expect("path")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid configuration file") && err.contains("defualt_executor"),
        "{err}"
    );
}

#[test]
fn workspaces_are_created_and_listed() {
    let data = DataDir::new();
    let id = data.create_workspace("platform", "lead@example.com");
    assert_eq!(id.len(), 36);
    let list = data.cli_ok(&["workspaces", "list"]);
    assert!(
        list.contains("default") && list.contains("platform") && list.contains(&id),
        "{list}"
    );
    let dup = data.cli(&[
        "workspaces",
        "create",
        "--name",
        "x",
        "--slug",
        "platform",
        "--owner-email",
        "a@b.c",
    ]);
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));
    let bad = data.cli(&[
        "workspaces",
        "create",
        "--name",
        "x",
        "--slug",
        "Bad Slug",
        "--owner-email",
        "a@b.c",
    ]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("lowercase letters"));
}
