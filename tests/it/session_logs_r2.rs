//! Execution logs in R2 through its S3 API: a real local R2 (miniflare's
//! SigV4-verifying S3 endpoint, started by tests/d1/r2.mjs) holds the logs.
//! While an agent runs its output is readable from numbered chunks; at the
//! end of a turn the chunks are joined into `logs/{id}/execution.log`; a
//! follow-up appends to it; a wrong secret is refused by the signature check.

use crate::common;

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
};

use common::{
    DataDir, Server,
    sessions::{config, log_page, read_all, wait_finished, wait_for, wait_output},
};
use serde_json::{Value, json};
use vibe_kanban_mcp::logs::s3::{S3Client, S3Settings};

/// A running local R2 and its S3 connection details.
pub struct LocalR2 {
    child: Child,
    endpoint: String,
    bucket: String,
    access_key: String,
    pub secret: String,
}

impl LocalR2 {
    pub fn start() -> LocalR2 {
        let dir = format!("{}/tests/d1", env!("CARGO_MANIFEST_DIR"));
        assert!(
            std::path::Path::new(&format!("{dir}/node_modules/miniflare")).exists(),
            "miniflare is not installed: run scripts/test (it runs `npm ci` in tests/d1)"
        );
        let mut child = Command::new(common::node())
            .arg("r2.mjs")
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start node tests/d1/r2.mjs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the harness's address");
        let info: Value = serde_json::from_str(&line).expect("harness prints JSON");
        let text = |key: &str| info[key].as_str().expect(key).to_owned();
        LocalR2 {
            endpoint: text("endpoint"),
            bucket: text("bucket"),
            access_key: text("accessKeyId"),
            secret: text("secretAccessKey"),
            child,
        }
    }

    pub fn logs_section(&self, secret: &str) -> String {
        format!(
            "[logs]\nbackend = \"r2\"\n[logs.r2]\nendpoint = \"{}\"\nbucket = \"{}\"\naccess_key_id = \"{}\"\n\
             secret_access_key = \"{secret}\"\nflush_interval_ms = 250\nchunk_bytes = 2048\n",
            self.endpoint, self.bucket, self.access_key
        )
    }

    /// A direct S3 client, to look at the objects themselves.
    pub fn objects(&self) -> S3Client {
        // reqwest is built without a bundled crypto provider (the server
        // installs ring; so does this test's own client).
        let _ = rustls::crypto::ring::default_provider().install_default();
        S3Client::new(S3Settings {
            endpoint: self.endpoint.clone(),
            bucket: self.bucket.clone(),
            region: "auto".to_owned(),
            access_key_id: self.access_key.clone(),
            secret_access_key: self.secret.clone(),
        })
        .expect("S3 client")
    }
}

impl Drop for LocalR2 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn object_names(store: &S3Client, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = store
        .list(prefix)
        .await
        .expect("list objects")
        .into_iter()
        .map(|object| object.key)
        .collect();
    names.sort();
    names
}

/// The numbers of the `agent: line N` lines of a log, in order.
fn line_numbers(log: &str) -> Vec<u64> {
    log.lines()
        .filter_map(|l| l.strip_prefix("agent: line "))
        .map(|n| n.parse().expect("line number"))
        .collect()
}

#[tokio::test]
async fn logs_live_in_r2_as_chunks_while_running_and_one_object_after() {
    let r2 = LocalR2::start();
    let data = DataDir::new();
    let config = config(&data, "", &r2.logs_section(&r2.secret));
    let server = Server::start(&data, &["--config", config.to_str().expect("utf-8")], &[]).await;
    let project_id = server.project("r2").await;
    let task_id = server.task(&project_id, "Chatty", json!({})).await;
    let session_id = common::id(
        &server
            .call(
                "start_session",
                json!({"task_id": task_id, "executor": "slow"}),
            )
            .await,
    );
    let prefix = format!("logs/{session_id}");

    // While it runs, the output is in chunk objects and readable live.
    wait_output(&server, &session_id, "agent: line 40").await;
    let live = object_names(&r2.objects(), &prefix).await;
    assert!(
        live.iter()
            .any(|n| n.starts_with(&format!("{prefix}/execution.log.chunks/"))),
        "{live:?}"
    );
    let page = log_page(&server, json!({"session_id": session_id, "tail": 3})).await;
    assert_eq!(page["running"], true);
    assert!(page["text"].as_str().expect("text").contains("agent: line"));

    server
        .call("stop_session", json!({"session_id": session_id}))
        .await;
    let session = wait_finished(&server, &session_id).await;
    assert_eq!(session["status"], "stopped");

    // After the turn: one object per log, no chunks left.
    let store = r2.objects();
    let after = object_names(&store, &prefix).await;
    assert!(
        after.contains(&format!("{prefix}/execution.log")),
        "{after:?}"
    );
    assert!(
        after.contains(&format!("{prefix}/agent_output.log")),
        "{after:?}"
    );
    assert!(!after.iter().any(|n| n.contains(".chunks/")), "{after:?}");

    // Every line once, in order, whichever way it is read.
    let whole = read_all(&server, json!({"session_id": session_id}), 1 << 20).await;
    let numbers = line_numbers(&whole);
    assert!(numbers.len() >= 40, "{whole}");
    assert_eq!(numbers, (1..=numbers.len() as u64).collect::<Vec<_>>());
    let paged = read_all(&server, json!({"session_id": session_id}), 1000).await;
    assert_eq!(paged, whole);
    let object = store
        .get(&format!("{prefix}/execution.log"))
        .await
        .expect("get the joined log");
    assert_eq!(String::from_utf8_lossy(&object), whole);

    // A follow-up appends to the joined log.
    server
        .call(
            "send_follow_up",
            json!({"session_id": session_id, "prompt": "and again"}),
        )
        .await;
    wait_for(&server, &session_id, "in its second turn", |s| {
        s["turns"] == 2
            && s["last_output"]
                .as_str()
                .is_some_and(|o| o.contains("agent: line 10"))
    })
    .await;
    server
        .call("stop_session", json!({"session_id": session_id}))
        .await;
    wait_finished(&server, &session_id).await;
    let both = read_all(&server, json!({"session_id": session_id}), 1 << 20).await;
    assert!(
        both.starts_with(&whole),
        "the first turn's log is kept as it was"
    );
    assert!(both.contains("agent: prompt: and again"), "{both}");
    assert_eq!(
        read_all(&server, json!({"session_id": session_id}), 777).await,
        both
    );
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_secret_is_refused_by_the_signature_check() {
    let r2 = LocalR2::start();
    let data = DataDir::new();
    let config = config(&data, "", &r2.logs_section("not-the-secret"));
    let server = Server::start(&data, &["--config", config.to_str().expect("utf-8")], &[]).await;
    let project_id = server.project("r2").await;
    let task_id = server.task(&project_id, "T", json!({})).await;
    let session_id = common::id(
        &server
            .call("start_session", json!({"task_id": task_id}))
            .await,
    );
    let message = server
        .call_fails(
            "read_execution_log",
            json!({"session_id": session_id, "tail": 5}),
        )
        .await;
    assert!(message.contains("R2 log storage failed"), "{message}");
    assert!(message.contains("try again"), "{message}");
    server.stop().await;
}
