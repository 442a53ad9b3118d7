//! Anthropic's Messages API: `POST {base_url}/v1/messages` with `x-api-key`,
//! `anthropic-version: 2023-06-01` and `{"model", "max_tokens", "system",
//! "messages"}`; the text is the `text` blocks of `content` and token counts
//! are `usage.input_tokens` / `usage.output_tokens`. Errors are `{"type":
//! "error", "error": {"type", "message"}}`: `authentication_error` (401),
//! `not_found_error` (404, e.g. an unknown model), `rate_limit_error` (429
//! with `retry-after`), `overloaded_error` (529).

use serde_json::json;

use super::{
    config::ProviderKind,
    messages,
    provider::{
        ApiError, BoxFuture, Completed, EnhanceRequest, HttpProvider, Provider, ProviderError,
        Reply, bad_reply,
    },
};

/// The API version this client speaks.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

pub struct Anthropic(pub HttpProvider);

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
            let (kind, base) = (self.kind(), &self.0);
            let Some(key) = &base.settings.secret else {
                return Err(base.not_configured(kind));
            };
            let body = json!({
                "model": model,
                "max_tokens": base.max_tokens,
                "system": messages::SYSTEM,
                "messages": [{"role": "user", "content": messages::user(request)}],
            });
            let url = format!("{}/v1/messages", base.settings.base_url);
            let headers = |http: reqwest::RequestBuilder| {
                http.header("x-api-key", key)
                    .header("anthropic-version", ANTHROPIC_VERSION)
            };
            let reply = base.post(kind, model, url, &body, headers, failure).await?;
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
            Ok(Completed::from_reply(
                &text,
                &reply.body["usage"],
                "input_tokens",
                "output_tokens",
            ))
        })
    }
}

/// `{"error": {"type", "message"}}` of a non-success reply.
fn failure(reply: &Reply) -> Option<ApiError> {
    if reply.status.is_success() {
        return None;
    }
    let error = &reply.body["error"];
    let message = match (error["type"].as_str(), error["message"].as_str()) {
        (Some(t), Some(m)) => format!("{t}: {m}"),
        _ => reply.raw.clone(),
    };
    Some(ApiError {
        message,
        model_missing: false,
    })
}
