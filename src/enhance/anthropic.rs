//! Anthropic's Messages API: `POST {base_url}/v1/messages` with `x-api-key`,
//! `anthropic-version: 2023-06-01` and `{"model", "max_tokens", "system",
//! "messages"}`; the text is the `text` blocks of `content` and token counts
//! are `usage.input_tokens` / `usage.output_tokens`. Errors are `{"type":
//! "error", "error": {"type", "message"}}`: `authentication_error` (401),
//! `not_found_error` (404, e.g. an unknown model), `rate_limit_error` (429
//! with `retry-after`), `overloaded_error` (529).

use serde_json::json;

use super::{
    config::{ProviderKind, ProviderSettings},
    messages,
    provider::{
        BoxFuture, Completed, EnhanceRequest, Provider, ProviderError, bad_reply, classify, send,
        tokens,
    },
};

/// The API version this client speaks.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

pub struct Anthropic {
    pub settings: ProviderSettings,
    pub http: reqwest::Client,
    pub timeout: std::time::Duration,
    pub max_tokens: u32,
}

impl Provider for Anthropic {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Anthropic
    }

    fn enhance<'a>(
        &'a self,
        request: &'a EnhanceRequest,
        model: &'a str,
    ) -> BoxFuture<'a, Result<Completed, ProviderError>> {
        Box::pin(async move {
            let kind = self.kind();
            let Some(key) = &self.settings.secret else {
                return Err(ProviderError::NotConfigured {
                    provider: kind,
                    missing: self.settings.missing.clone().unwrap_or_default(),
                });
            };
            let body = json!({
                "model": model,
                "max_tokens": self.max_tokens,
                "system": messages::SYSTEM,
                "messages": [{"role": "user", "content": messages::user(request)}],
            });
            let http = self
                .http
                .post(format!("{}/v1/messages", self.settings.base_url))
                .header("x-api-key", key)
                .header("anthropic-version", ANTHROPIC_VERSION)
                .json(&body);
            let reply = send(kind, http, self.timeout, Some(key)).await?;
            if !reply.status.is_success() {
                let error = &reply.body["error"];
                let message = match (error["type"].as_str(), error["message"].as_str()) {
                    (Some(t), Some(m)) => format!("{t}: {m}"),
                    _ => reply.raw.clone(),
                };
                return Err(classify(
                    kind,
                    &self.settings,
                    model,
                    &reply,
                    message,
                    false,
                ));
            }
            let text: Vec<&str> = reply.body["content"]
                .as_array()
                .map(|blocks| {
                    blocks
                        .iter()
                        .filter(|b| b["type"] == "text")
                        .filter_map(|b| b["text"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            let text = text.join("");
            if text.trim().is_empty() {
                return Err(bad_reply(kind, &reply, "`content` with a text block"));
            }
            let usage = &reply.body["usage"];
            Ok(Completed {
                text: text.trim().to_owned(),
                input_tokens: tokens(&usage["input_tokens"]),
                output_tokens: tokens(&usage["output_tokens"]),
            })
        })
    }
}
