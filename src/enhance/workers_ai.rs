//! Cloudflare Workers AI: `POST {api_base}/accounts/{account}/ai/run/{model}`
//! with `Authorization: Bearer <token>` and `{"messages": [...]}`; the reply
//! is the Cloudflare envelope with the text in `result.response` and token
//! counts in `result.usage`. Errors come as `{"success": false, "errors":
//! [{"code", "message"}]}`; code 5007 (HTTP 400) and 3042 (HTTP 404) mean an
//! unknown model.

use serde_json::json;

use super::{
    config::{ProviderKind, ProviderSettings},
    messages,
    provider::{
        BoxFuture, Completed, EnhanceRequest, Provider, ProviderError, bad_reply, classify, send,
        tokens,
    },
};

/// Workers AI error codes that mean "no such model".
const UNKNOWN_MODEL_CODES: [i64; 2] = [5007, 3042];

pub struct WorkersAi {
    pub settings: ProviderSettings,
    pub http: reqwest::Client,
    pub timeout: std::time::Duration,
    pub max_tokens: u32,
}

impl Provider for WorkersAi {
    fn kind(&self) -> ProviderKind {
        ProviderKind::WorkersAi
    }

    fn enhance<'a>(
        &'a self,
        request: &'a EnhanceRequest,
        model: &'a str,
    ) -> BoxFuture<'a, Result<Completed, ProviderError>> {
        Box::pin(async move {
            let kind = self.kind();
            let (Some(account), Some(token)) = (&self.settings.account_id, &self.settings.secret)
            else {
                return Err(ProviderError::NotConfigured {
                    provider: kind,
                    missing: self.settings.missing.clone().unwrap_or_default(),
                });
            };
            let url = format!(
                "{}/accounts/{account}/ai/run/{model}",
                self.settings.base_url
            );
            let body = json!({
                "messages": [
                    {"role": "system", "content": messages::SYSTEM},
                    {"role": "user", "content": messages::user(request)},
                ],
                "max_tokens": self.max_tokens,
            });
            let reply = send(
                kind,
                self.http.post(url).bearer_auth(token).json(&body),
                self.timeout,
                Some(token),
            )
            .await?;
            let success = reply.body["success"].as_bool();
            if !reply.status.is_success() || success == Some(false) {
                let errors = reply.body["errors"].as_array().cloned().unwrap_or_default();
                let model_missing = errors.iter().any(|e| {
                    e["code"]
                        .as_i64()
                        .is_some_and(|c| UNKNOWN_MODEL_CODES.contains(&c))
                });
                let message = if errors.is_empty() {
                    reply.raw.clone()
                } else {
                    errors
                        .iter()
                        .map(|e| {
                            format!(
                                "{} (code {})",
                                e["message"].as_str().unwrap_or("error"),
                                e["code"]
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; ")
                };
                return Err(classify(
                    kind,
                    &self.settings,
                    model,
                    &reply,
                    message,
                    model_missing,
                ));
            }
            let result = &reply.body["result"];
            // Most text models answer in `result.response`; some newer ones
            // answer in the OpenAI shape inside `result`.
            let text = result["response"]
                .as_str()
                .or_else(|| result["choices"][0]["message"]["content"].as_str())
                .filter(|t| !t.trim().is_empty());
            let Some(text) = text else {
                return Err(bad_reply(kind, &reply, "`result.response` with text"));
            };
            let usage = &result["usage"];
            Ok(Completed {
                text: text.trim().to_owned(),
                input_tokens: tokens(&usage["prompt_tokens"]),
                output_tokens: tokens(&usage["completion_tokens"]),
            })
        })
    }
}
