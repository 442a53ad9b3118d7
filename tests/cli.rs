//! The command line: help texts, configuration file errors, workspaces.

mod common;

use common::{BIN, DataDir};

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
