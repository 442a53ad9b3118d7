//! Any OpenAI-compatible endpoint: `POST {base_url}/chat/completions` with
//! `Authorization: Bearer <key>` (left out when no key is set, for local
//! servers such as Ollama or llama.cpp) and `{"model", "messages",
//! "max_tokens"}`; the text is `choices[0].message.content` and token counts
//! are in `usage`. Errors are `{"error": {"message", "type", "code"}}`; an
//! unknown model is HTTP 404 or code `model_not_found`.

use serde_json::json;

use super::{
    config::{ProviderKind, ProviderSettings},
    messages,
    provider::{
        BoxFuture, Completed, EnhanceRequest, Provider, ProviderError, bad_reply, classify, send,
        tokens,
    },
};

pub struct OpenAi {
    pub settings: ProviderSettings,
    pub http: reqwest::Client,
    pub timeout: std::time::Duration,
    pub max_tokens: u32,
}

impl Provider for OpenAi {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Openai
    }

    fn enhance<'a>(
        &'a self,
        request: &'a EnhanceRequest,
        model: &'a str,
    ) -> BoxFuture<'a, Result<Completed, ProviderError>> {
        Box::pin(async move {
            let kind = self.kind();
            if let Some(missing) = &self.settings.missing {
                return Err(ProviderError::NotConfigured {
                    provider: kind,
                    missing: missing.clone(),
                });
            }
            let body = json!({
                "model": model,
                "messages": [
                    {"role": "system", "content": messages::SYSTEM},
                    {"role": "user", "content": messages::user(request)},
                ],
                "max_tokens": self.max_tokens,
                "temperature": 0.2,
            });
            let mut http = self
                .http
                .post(format!("{}/chat/completions", self.settings.base_url))
                .json(&body);
            if let Some(key) = &self.settings.secret {
                http = http.bearer_auth(key);
            }
            let secret = self.settings.secret.as_deref();
            let reply = send(kind, http, self.timeout, secret).await?;
            if !reply.status.is_success() {
                let error = &reply.body["error"];
                let message = error["message"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| reply.raw.clone());
                let model_missing = error["code"].as_str() == Some("model_not_found");
                return Err(classify(
                    kind,
                    &self.settings,
                    model,
                    &reply,
                    message,
                    model_missing,
                ));
            }
            let Some(text) = reply.body["choices"][0]["message"]["content"]
                .as_str()
                .filter(|t| !t.trim().is_empty())
            else {
                return Err(bad_reply(
                    kind,
                    &reply,
                    "`choices[0].message.content` with text",
                ));
            };
            let usage = &reply.body["usage"];
            Ok(Completed {
                text: text.trim().to_owned(),
                input_tokens: tokens(&usage["prompt_tokens"]),
                output_tokens: tokens(&usage["completion_tokens"]),
            })
        })
    }
}
