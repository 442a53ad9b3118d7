//! The model providers against loopback stand-ins that speak each API's
//! documented wire format: Workers AI (`/accounts/{a}/ai/run/{model}`,
//! Cloudflare envelope), OpenAI-compatible (`/v1/chat/completions`) and
//! Anthropic (`/v1/messages`, `x-api-key`, `anthropic-version`). The
//! stand-ins check what the server sends and answer with the APIs' success
//! and error replies (401, 404/unknown model, 429 with `retry-after`, 529,
//! slow replies); the real binary is pointed at them through `--config`.

use crate::common;

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use common::{DataDir, Server};
use serde_json::{Value, json};

const ACCOUNT: &str = "acc-0123";
const CF_TOKEN: &str = "cf-token-7f3a9c";
const OPENAI_KEY: &str = "sk-test-51b2c3";
const ANTHROPIC_KEY: &str = "sk-ant-test-9d8e7f";

/// One request as the stand-in saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: HeaderMap,
    body: Value,
}

#[derive(Clone, Default)]
struct StandIn {
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl StandIn {
    fn record(&self, path: String, headers: &HeaderMap, body: &Value) {
        self.seen.lock().expect("lock").push(Seen {
            path,
            headers: headers.clone(),
            body: body.clone(),
        });
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

fn reply(status: u16, headers: &[(&str, &str)], body: Value) -> Response {
    let mut response = (StatusCode::from_u16(status).expect("status"), Json(body)).into_response();
    for (name, value) in headers {
        response.headers_mut().insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            value.parse().expect("header value"),
        );
    }
    response
}

/// The user message the server sent, for the checks.
fn user_text(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned()
}

// Workers AI: POST /client/v4/accounts/{account}/ai/run/{model...}
async fn workers_ai(
    State(stand_in): State<StandIn>,
    Path((account, model)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    stand_in.record(format!("workers-ai {account} {model}"), &headers, &body);
    let cf_error = |status: u16, code: i64, message: &str, extra: &[(&str, &str)]| {
        reply(
            status,
            extra,
            json!({"result": null, "success": false, "errors": [{"code": code, "message": message}], "messages": []}),
        )
    };
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {CF_TOKEN}"))
    {
        return cf_error(401, 10000, "Authentication error", &[]);
    }
    if account != ACCOUNT {
        return cf_error(403, 10000, "Authentication error", &[]);
    }
    let roles: Vec<&str> = body["messages"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["role"].as_str()).collect())
        .unwrap_or_default();
    if roles != ["system", "user"] {
        return cf_error(
            400,
            5006,
            "Error: required properties at '/' are 'messages'",
            &[],
        );
    }
    match model.as_str() {
        "@cf/test/good" => reply(
            200,
            &[],
            json!({
                "result": {
                    "response": format!("## Goal\nWorkers AI enhanced: {}", user_text(&body).lines().nth(1).unwrap_or("")),
                    "usage": {"prompt_tokens": 321, "completion_tokens": 54, "total_tokens": 375}
                },
                "success": true, "errors": [], "messages": []
            }),
        ),
        "@cf/test/chat" => reply(
            200,
            &[],
            json!({
                "result": {
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "## Goal\nChat-shaped reply."}}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
                },
                "success": true, "errors": [], "messages": []
            }),
        ),
        "@cf/test/busy" => cf_error(
            429,
            3040,
            "Capacity temporarily exceeded, please try again.",
            &[("retry-after", "30")],
        ),
        "@cf/test/slow" => {
            tokio::time::sleep(Duration::from_secs(4)).await;
            reply(
                200,
                &[],
                json!({"result": {"response": "late"}, "success": true, "errors": [], "messages": []}),
            )
        }
        other => cf_error(400, 5007, &format!("No such model {other} or task"), &[]),
    }
}

// OpenAI-compatible: POST /v1/chat/completions
async fn openai(
    State(stand_in): State<StandIn>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    stand_in.record("openai".to_owned(), &headers, &body);
    let error = |status: u16, message: &str, kind: &str, code: Value, extra: &[(&str, &str)]| {
        reply(
            status,
            extra,
            json!({"error": {"message": message, "type": kind, "param": null, "code": code}}),
        )
    };
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {OPENAI_KEY}"))
    {
        return error(
            401,
            "Incorrect API key provided: sk-wron****. You can find your API key at https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            json!("invalid_api_key"),
            &[],
        );
    }
    match body["model"].as_str().unwrap_or_default() {
        "gpt-test" => reply(
            200,
            &[],
            json!({
                "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-test",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "## Goal\nOpenAI enhanced."}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 200, "completion_tokens": 40, "total_tokens": 240}
            }),
        ),
        "gpt-busy" => error(
            429,
            "Rate limit reached for requests",
            "requests",
            json!("rate_limit_exceeded"),
            &[("retry-after", "12")],
        ),
        "gpt-empty" => reply(200, &[], json!({"id": "x", "choices": []})),
        other => error(
            404,
            &format!("The model `{other}` does not exist or you do not have access to it."),
            "invalid_request_error",
            json!("model_not_found"),
            &[],
        ),
    }
}

// Anthropic: POST /v1/messages
async fn anthropic(
    State(stand_in): State<StandIn>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    stand_in.record("anthropic".to_owned(), &headers, &body);
    let error = |status: u16, kind: &str, message: &str, extra: &[(&str, &str)]| {
        reply(
            status,
            extra,
            json!({"type": "error", "error": {"type": kind, "message": message}}),
        )
    };
    if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(ANTHROPIC_KEY) {
        return error(401, "authentication_error", "invalid x-api-key", &[]);
    }
    if headers
        .get("anthropic-version")
        .and_then(|v| v.to_str().ok())
        != Some("2023-06-01")
    {
        return error(
            400,
            "invalid_request_error",
            "anthropic-version: header is required",
            &[],
        );
    }
    if !body["max_tokens"].is_u64() {
        return error(
            400,
            "invalid_request_error",
            "max_tokens: Field required",
            &[],
        );
    }
    match body["model"].as_str().unwrap_or_default() {
        "claude-test" => reply(
            200,
            &[],
            json!({
                "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-test",
                "content": [{"type": "text", "text": "## Goal\nAnthropic "}, {"type": "text", "text": "enhanced."}],
                "stop_reason": "end_turn", "stop_sequence": null,
                "usage": {"input_tokens": 150, "output_tokens": 30}
            }),
        ),
        "claude-busy" => error(
            429,
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit",
            &[("retry-after", "20")],
        ),
        "claude-overloaded" => error(529, "overloaded_error", "Overloaded", &[]),
        other => error(404, "not_found_error", &format!("model: {other}"), &[]),
    }
}

/// Starts the stand-in on 127.0.0.1; returns it and its base URL.
async fn stand_in() -> (StandIn, String) {
    let state = StandIn::default();
    let app = Router::new()
        .route(
            "/client/v4/accounts/{account}/ai/run/{*model}",
            post(workers_ai),
        )
        .route("/v1/chat/completions", post(openai))
        .route("/v1/messages", post(anthropic))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("stand-in serves");
    });
    (state, format!("http://{addr}"))
}

/// Writes a configuration file pointing every provider at the stand-in.
fn config(data: &DataDir, base: &str, enhance: &str) -> PathBuf {
    let path = data.path().join("config.toml");
    std::fs::write(
        &path,
        format!(
            "[enhance]\ntimeout_secs = 1\n{enhance}\n\
             [enhance.workers_ai]\napi_base = \"{base}/client/v4\"\nmodel = \"@cf/test/good\"\n\
             [enhance.openai]\nbase_url = \"{base}/v1\"\nmodel = \"gpt-test\"\n\
             [enhance.anthropic]\nbase_url = \"{base}\"\nmodel = \"claude-test\"\n"
        ),
    )
    .expect("write config");
    path
}

const ALL_KEYS: [(&str, &str); 4] = [
    ("CLOUDFLARE_ACCOUNT_ID", ACCOUNT),
    ("CLOUDFLARE_API_TOKEN", CF_TOKEN),
    ("OPENAI_API_KEY", OPENAI_KEY),
    ("ANTHROPIC_API_KEY", ANTHROPIC_KEY),
];

async fn start(data: &DataDir, config: &std::path::Path, env: &[(&str, &str)]) -> Server {
    let config = config.to_str().expect("utf-8 path");
    Server::start(data, &["--config", config], env).await
}

fn usage(data: &DataDir, provider: &str) -> Vec<(String, Option<i64>, Option<i64>)> {
    let db = data.sql();
    let mut stmt = db
        .prepare("SELECT model, input_tokens, output_tokens FROM usage_records WHERE provider = ? ORDER BY created_at, id")
        .expect("prepare");
    stmt.query_map([provider], |row| {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
    })
    .expect("query")
    .collect::<Result<_, _>>()
    .expect("rows")
}

fn no_secrets(text: &str) {
    for secret in [CF_TOKEN, OPENAI_KEY, ANTHROPIC_KEY] {
        assert!(!text.contains(secret), "a secret leaked: {text}");
    }
}

#[tokio::test]
async fn each_provider_gets_its_wire_format_and_is_cached() {
    let (stand_in, base) = stand_in().await;
    let data = DataDir::new();
    let config = config(&data, &base, "");
    let server = start(&data, &config, &ALL_KEYS).await;
    let project = server.project("Payments").await;
    let task = server
        .task(
            &project,
            "Refund button does nothing",
            json!({"description": "Clicking Refund on a paid order has no effect."}),
        )
        .await;

    // Workers AI
    let result = server
        .call(
            "enhance_prompt",
            json!({"prompt": "fix refunds", "task_id": task, "provider": "workers-ai"}),
        )
        .await;
    assert_eq!(result["provider"], "workers-ai");
    assert_eq!(result["model"], "@cf/test/good");
    assert_eq!(result["cached"], false);
    assert_eq!(
        result["enhanced_prompt"],
        "## Goal\nWorkers AI enhanced: fix refunds"
    );
    assert_eq!(
        (
            result["input_tokens"].as_i64(),
            result["output_tokens"].as_i64()
        ),
        (Some(321), Some(54))
    );
    let seen = stand_in.seen();
    let request = seen.last().expect("a request");
    assert_eq!(request.path, format!("workers-ai {ACCOUNT} @cf/test/good"));
    assert_eq!(request.body["messages"][0]["role"], "system");
    let user = user_text(&request.body);
    assert!(
        user.contains("Refund button does nothing") && user.contains("Project: Payments"),
        "{user}"
    );
    assert!(request.body["max_tokens"].is_u64(), "{}", request.body);

    // Newer Workers AI models answer in the OpenAI shape inside `result`.
    let chat = server
        .call(
            "enhance_prompt",
            json!({"prompt": "fix refunds", "provider": "workers-ai", "model": "@cf/test/chat"}),
        )
        .await;
    assert_eq!(chat["enhanced_prompt"], "## Goal\nChat-shaped reply.");
    assert_eq!(chat["model"], "@cf/test/chat");

    // OpenAI-compatible
    let result = server
        .call(
            "enhance_prompt",
            json!({"prompt": "fix refunds", "task_id": task, "provider": "openai"}),
        )
        .await;
    assert_eq!(
        (result["provider"].as_str(), result["model"].as_str()),
        (Some("openai"), Some("gpt-test"))
    );
    assert_eq!(result["enhanced_prompt"], "## Goal\nOpenAI enhanced.");
    let seen = stand_in.seen();
    let request = seen.last().expect("a request");
    assert_eq!(request.path, "openai");
    assert_eq!(request.body["model"], "gpt-test");
    assert_eq!(request.body["messages"][0]["role"], "system");
    assert!(user_text(&request.body).contains("Rough prompt:\nfix refunds"));

    // Anthropic
    let result = server
        .call(
            "enhance_prompt",
            json!({"prompt": "fix refunds", "task_id": task, "provider": "anthropic"}),
        )
        .await;
    assert_eq!(
        result["enhanced_prompt"], "## Goal\nAnthropic enhanced.",
        "text blocks are joined"
    );
    assert_eq!(
        (
            result["input_tokens"].as_i64(),
            result["output_tokens"].as_i64()
        ),
        (Some(150), Some(30))
    );
    let seen = stand_in.seen();
    let request = seen.last().expect("a request");
    assert_eq!(request.path, "anthropic");
    assert_eq!(request.headers["anthropic-version"], "2023-06-01");
    assert_eq!(request.headers["x-api-key"], ANTHROPIC_KEY);
    assert!(
        request.body["system"]
            .as_str()
            .is_some_and(|s| s.contains("## Goal")),
        "system prompt: {}",
        request.body
    );
    assert_eq!(request.body["messages"].as_array().map(Vec::len), Some(1));
    assert_eq!(request.body["model"], "claude-test");

    // The same calls again cost nothing: served from the cache.
    let before = stand_in.seen().len();
    for provider in ["workers-ai", "openai", "anthropic"] {
        let again = server
            .call(
                "enhance_prompt",
                json!({"prompt": "fix refunds", "task_id": task, "provider": provider}),
            )
            .await;
        assert_eq!(again["cached"], true, "{provider}: {again}");
    }
    assert_eq!(stand_in.seen().len(), before, "no provider was asked again");

    // Usage records: one per real enhancement, with the reported tokens.
    assert_eq!(
        usage(&data, "workers-ai"),
        [
            ("@cf/test/good".to_owned(), Some(321), Some(54)),
            ("@cf/test/chat".to_owned(), Some(10), Some(5))
        ]
    );
    assert_eq!(
        usage(&data, "openai"),
        [("gpt-test".to_owned(), Some(200), Some(40))]
    );
    assert_eq!(
        usage(&data, "anthropic"),
        [("claude-test".to_owned(), Some(150), Some(30))]
    );

    // A model override is sent as given, and is its own cache entry.
    let other_model = server
        .call_fails(
            "enhance_prompt",
            json!({"prompt": "fix refunds", "provider": "openai", "model": "gpt-nope"}),
        )
        .await;
    assert!(
        other_model.contains("does not know the model 'gpt-nope'"),
        "{other_model}"
    );
    assert!(
        other_model.contains("[enhance.openai] model"),
        "{other_model}"
    );
    server.stop().await;
}

#[tokio::test]
async fn provider_errors_become_clear_tool_errors() {
    let (stand_in, base) = stand_in().await;
    let data = DataDir::new();
    let config = config(&data, &base, "");
    let server = start(&data, &config, &ALL_KEYS).await;
    let call = |provider: &'static str, model: &'static str| json!({"prompt": "add audit export", "provider": provider, "model": model});

    let text = server
        .call_fails(
            "enhance_prompt",
            call("workers-ai", "@cf/meta/llama-2-7b-chat-int8"),
        )
        .await;
    assert!(
        text.contains("workers-ai does not know the model '@cf/meta/llama-2-7b-chat-int8'"),
        "{text}"
    );
    assert!(text.contains("5007"), "the provider's code is kept: {text}");
    let text = server
        .call_fails("enhance_prompt", call("workers-ai", "@cf/test/busy"))
        .await;
    assert!(
        text.contains("rate limiting") && text.contains("retry after 30 s"),
        "{text}"
    );
    let text = server
        .call_fails("enhance_prompt", call("workers-ai", "@cf/test/slow"))
        .await;
    assert!(
        text.contains("did not answer within 1 s") && text.contains("timeout_secs"),
        "{text}"
    );

    let text = server
        .call_fails("enhance_prompt", call("openai", "gpt-busy"))
        .await;
    assert!(text.contains("retry after 12 s"), "{text}");
    let text = server
        .call_fails("enhance_prompt", call("openai", "gpt-empty"))
        .await;
    assert!(
        text.contains("cannot read") && text.contains("choices[0].message.content"),
        "{text}"
    );

    let text = server
        .call_fails("enhance_prompt", call("anthropic", "claude-busy"))
        .await;
    assert!(
        text.contains("rate_limit_error") && text.contains("retry after 20 s"),
        "{text}"
    );
    let text = server
        .call_fails("enhance_prompt", call("anthropic", "claude-overloaded"))
        .await;
    assert!(
        text.contains("anthropic is unavailable") && text.contains("529"),
        "{text}"
    );
    let text = server
        .call_fails("enhance_prompt", call("anthropic", "claude-2.0"))
        .await;
    assert!(
        text.contains("does not know the model 'claude-2.0'") && text.contains("not_found_error"),
        "{text}"
    );
    server.stop().await;
    assert_eq!(
        data.count("SELECT COUNT(*) FROM usage_records"),
        0,
        "failures record nothing"
    );
    assert_eq!(
        data.count("SELECT COUNT(*) FROM prompt_cache"),
        0,
        "failures are not cached"
    );

    // Wrong keys: the error names the variable to check and never the key.
    let wrong = [
        ("CLOUDFLARE_ACCOUNT_ID", ACCOUNT),
        ("CLOUDFLARE_API_TOKEN", "cf-wrong-token"),
        ("OPENAI_API_KEY", "sk-wrong-key"),
        ("ANTHROPIC_API_KEY", "sk-ant-wrong"),
    ];
    let server = start(&data, &config, &wrong).await;
    for (provider, variable, secret) in [
        ("workers-ai", "CLOUDFLARE_API_TOKEN", "cf-wrong-token"),
        ("openai", "OPENAI_API_KEY", "sk-wrong-key"),
        ("anthropic", "ANTHROPIC_API_KEY", "sk-ant-wrong"),
    ] {
        let text = server
            .call_fails(
                "enhance_prompt",
                json!({"prompt": "x", "provider": provider}),
            )
            .await;
        assert!(
            text.contains("refused the credentials") && text.contains(variable),
            "{text}"
        );
        assert!(!text.contains(secret), "{text}");
        no_secrets(&text);
    }
    server.stop().await;
    assert!(
        stand_in.seen().iter().any(|s| s
            .headers
            .get("authorization")
            .is_some_and(|v| v == "Bearer sk-wrong-key")),
        "the key is sent as a bearer token"
    );
}

#[tokio::test]
async fn the_fallback_chain_answers_when_the_default_provider_fails() {
    let (stand_in, base) = stand_in().await;
    let data = DataDir::new();
    let config = config(
        &data,
        &base,
        "provider = \"workers-ai\"\nfallback = [\"anthropic\", \"offline\"]",
    );
    // Workers AI answers 429 and Anthropic 529 for these models.
    let text = std::fs::read_to_string(&config)
        .expect("config")
        .replace("@cf/test/good", "@cf/test/busy")
        .replace("claude-test", "claude-overloaded");
    std::fs::write(&config, text).expect("write config");
    let server = start(&data, &config, &ALL_KEYS).await;

    let result = server
        .call("enhance_prompt", json!({"prompt": "add a health endpoint"}))
        .await;
    assert_eq!(result["provider"], "offline");
    assert!(
        result["enhanced_prompt"]
            .as_str()
            .expect("text")
            .starts_with("## Goal\nAdd a health endpoint.\n")
    );
    let failed = result["fallback_from"].as_array().expect("fallback_from");
    assert_eq!(failed.len(), 2, "{result}");
    assert_eq!(failed[0]["provider"], "workers-ai");
    assert!(
        failed[0]["error"]
            .as_str()
            .expect("error")
            .contains("retry after 30 s")
    );
    assert_eq!(failed[1]["provider"], "anthropic");
    assert_eq!(stand_in.seen().len(), 2);
    assert_eq!(usage(&data, "offline").len(), 1);

    // Naming a provider turns the fallback off.
    let text = server
        .call_fails(
            "enhance_prompt",
            json!({"prompt": "add a health endpoint", "provider": "workers-ai"}),
        )
        .await;
    assert!(text.contains("retry after 30 s"), "{text}");
    server.stop().await;

    // A chain whose every provider fails names each failure.
    let text = std::fs::read_to_string(&config).expect("config").replace(
        "fallback = [\"anthropic\", \"offline\"]",
        "fallback = [\"anthropic\"]",
    );
    std::fs::write(&config, text).expect("write config");
    let server = start(&data, &config, &ALL_KEYS).await;
    let text = server
        .call_fails("enhance_prompt", json!({"prompt": "add a health endpoint"}))
        .await;
    assert!(
        text.contains("every provider of the fallback chain failed"),
        "{text}"
    );
    assert!(
        text.contains("workers-ai:") && text.contains("anthropic:"),
        "{text}"
    );
    server.stop().await;
}

#[test]
fn misconfiguration_is_refused_at_start() {
    let data = DataDir::new();
    let path = data.path().join("config.toml");
    let serve = |env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(common::BIN);
        cmd.args(["serve", "--data-dir"])
            .arg(data.path())
            .arg("--config")
            .arg(&path)
            .env_remove("VK_API_KEY")
            .env_remove("ANTHROPIC_API_KEY")
            .env_remove("CLOUDFLARE_API_TOKEN")
            .env_remove("CLOUDFLARE_ACCOUNT_ID")
            .env_remove("VK_ENHANCE_PROVIDER")
            .stdin(std::process::Stdio::null());
        for (key, value) in env {
            cmd.env(key, value);
        }
        let out = cmd.output().expect("run");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    std::fs::write(&path, "[enhance]\nprovider = \"anthropic\"\n").expect("write");
    let (ok, stderr) = serve(&[]);
    assert!(!ok && stderr.contains("ANTHROPIC_API_KEY"), "{stderr}");
    std::fs::write(&path, "[enhance]\nprovider = \"workers-ai\"\n").expect("write");
    let (ok, stderr) = serve(&[("CLOUDFLARE_API_TOKEN", CF_TOKEN)]);
    assert!(!ok && stderr.contains("CLOUDFLARE_ACCOUNT_ID"), "{stderr}");
    no_secrets(&stderr);
    std::fs::write(&path, "[enhance]\nprovidr = \"offline\"\n").expect("write");
    let (ok, stderr) = serve(&[]);
    assert!(!ok && stderr.contains("providr"), "{stderr}");
    std::fs::write(&path, "").expect("write");
    let (ok, stderr) = serve(&[("VK_ENHANCE_PROVIDER", "chatgpt")]);
    assert!(!ok && stderr.contains("VK_ENHANCE_PROVIDER"), "{stderr}");
}
